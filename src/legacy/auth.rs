//! `/api/auth`: register, login and the caller's own user, in the Express shapes.

use axum::extract::{ConnectInfo, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, body::Bytes};
use http::{HeaderMap, StatusCode};
use serde_json::{Value, json};

use super::{
    LegacyError, LegacyResult, LegacyState, authorize, body_object, express_date, field_error,
    role_from_body, user_document,
};
use crate::auth::Role;
use crate::error::AppError;
use crate::identity::service::{NewUser, Session, normalize_email};

pub fn routes() -> axum::Router<LegacyState> {
    axum::Router::new()
        .route("/api/auth/register", post(register))
        .route("/api/auth/login", post(login))
        .route("/api/auth/user", get(me))
}

fn text<'a>(body: &'a serde_json::Map<String, Value>, key: &str) -> &'a str {
    body.get(key).and_then(Value::as_str).unwrap_or("")
}

async fn register(State(state): State<LegacyState>, body: Bytes) -> LegacyResult {
    let body = body_object(&body);
    let mut errors = Vec::new();
    if text(&body, "name").trim().is_empty() {
        errors.push(field_error("name", body.get("name"), "Name is required"));
    }
    if normalize_email("email", text(&body, "email")).is_err() {
        errors.push(field_error(
            "email",
            body.get("email"),
            "Please include a valid email",
        ));
    }
    if text(&body, "password").chars().count() < crate::auth::passwords::MIN_PASSWORD_CHARS {
        errors.push(field_error(
            "password",
            body.get("password"),
            &format!(
                "Please enter a password with {} or more characters",
                crate::auth::passwords::MIN_PASSWORD_CHARS
            ),
        ));
    }
    let role =
        role_from_body(body.get("role")).filter(|role| matches!(role, Role::Pm | Role::Site));
    if role.is_none() {
        errors.push(field_error(
            "role",
            body.get("role"),
            "Role must be specified",
        ));
    }
    if !errors.is_empty() {
        return Err(super::validation(errors));
    }
    let new = NewUser {
        name: text(&body, "name").into(),
        email: text(&body, "email").into(),
        password: text(&body, "password").into(),
        role,
        phone: text(&body, "phone").into(),
        organization_id: None,
    };
    let session = state
        .identity
        .register(new, "", text(&body, "inviteCode"))
        .await
        .map_err(|err| LegacyError::from_app(err, "Not found"))?;
    Ok(Json(json!({
        "token": session.token,
        "user": {
            "id": session.user.id.to_string(),
            "name": session.user.name,
            "email": session.user.email,
            "role": session.user.role().legacy_name(),
        }
    }))
    .into_response())
}

async fn login(
    State(state): State<LegacyState>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> LegacyResult {
    let body = body_object(&body);
    let mut errors = Vec::new();
    if normalize_email("email", text(&body, "email")).is_err() {
        errors.push(field_error(
            "email",
            body.get("email"),
            "Please include a valid email",
        ));
    }
    if !body.contains_key("password") {
        errors.push(field_error("password", None, "Password is required"));
    }
    if !errors.is_empty() {
        return Err(super::validation(errors));
    }
    let mut extensions = http::Extensions::new();
    extensions.insert(ConnectInfo(peer));
    let client = crate::client_addr::client_ip(&extensions, &headers, &state.trusted_proxies);
    let session: Session = state
        .identity
        .login(text(&body, "email"), text(&body, "password"), client)
        .await
        .map_err(|err| match err {
            // One answer for unknown e-mail, wrong password and deactivated account.
            AppError::Unauthenticated(_) | AppError::InvalidArgument(_) => LegacyError::new(
                (
                    StatusCode::BAD_REQUEST,
                    Json(json!({"message": "Invalid credentials"})),
                )
                    .into_response(),
            ),
            other => LegacyError::from_app(other, "Not found"),
        })?;
    Ok(Json(json!({
        "token": session.token,
        "user": {
            "id": session.user.id.to_string(),
            "name": session.user.name,
            "email": session.user.email,
            "role": session.user.role().legacy_name(),
            "lastLogin": session.user.last_login_at.map(express_date),
        }
    }))
    .into_response())
}

async fn me(State(state): State<LegacyState>, headers: HeaderMap) -> Result<Response, LegacyError> {
    let ctx = authorize(&state, super::access::AUTH_USER, &headers).await?;
    let user = state
        .identity
        .me(&ctx)
        .await
        .map_err(|err| LegacyError::from_app(err, "User not found"))?;
    Ok(Json(user_document(&user)).into_response())
}
