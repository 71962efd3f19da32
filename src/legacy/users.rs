//! `/api/users`: list (admin, project manager), read, and update (self, or anyone as admin).

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::IntoResponse;
use axum::routing::get;
use http::HeaderMap;
use serde_json::Value;

use super::{LegacyError, LegacyResult, LegacyState, authorize, body_object, user_document};
use crate::identity::model::user::Profile;
use crate::identity::service::UserChanges;

pub fn routes() -> axum::Router<LegacyState> {
    axum::Router::new()
        .route("/api/users", get(list))
        .route("/api/users/{id}", get(read).put(update))
}

const NOT_FOUND: &str = "User not found";

async fn list(State(state): State<LegacyState>, headers: HeaderMap) -> LegacyResult {
    let ctx = authorize(&state, super::access::USERS_LIST, &headers).await?;
    let mut users = crate::paging::collect_pages(|token| {
        let (ctx, state) = (&ctx, &state);
        async move {
            state
                .identity
                .list_users(ctx, None, false, 500, &token)
                .await
        }
    })
    .await
    .map_err(|err| LegacyError::from_app(err, NOT_FOUND))?;
    users.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Json(users.iter().map(user_document).collect::<Vec<_>>()).into_response())
}

/// Malformed ids are "not found", as in the Express API.
fn user_id(text: &str) -> Result<uuid::Uuid, LegacyError> {
    uuid::Uuid::parse_str(text).map_err(|_| super::message(http::StatusCode::NOT_FOUND, NOT_FOUND))
}

async fn read(
    State(state): State<LegacyState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> LegacyResult {
    let ctx = authorize(&state, super::access::USERS_READ, &headers).await?;
    let user = state
        .identity
        .get_user(&ctx, user_id(&id)?)
        .await
        .map_err(|err| LegacyError::from_app(err, NOT_FOUND))?;
    Ok(Json(user_document(&user)).into_response())
}

/// `$set` of the body minus password, role and e-mail (silently dropped, as before); `isActive`
/// only by an admin for someone else (the old API let users deactivate themselves).
async fn update(
    State(state): State<LegacyState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> LegacyResult {
    let ctx = authorize(&state, super::access::USERS_UPDATE, &headers).await?;
    let id = user_id(&id)?;
    let body = body_object(&body);
    let current = state
        .identity
        .get_user(&ctx, id)
        .await
        .map_err(|err| LegacyError::from_app(err, NOT_FOUND))?;
    let mut profile = current.profile();
    if let Some(Value::Object(given)) = body.get("profile") {
        let text = |key: &str, old: &str| {
            given
                .get(key)
                .and_then(Value::as_str)
                .unwrap_or(old)
                .to_string()
        };
        profile = Profile {
            avatar: text("avatar", &profile.avatar),
            department: text("department", &profile.department),
            location: text("location", &profile.location),
            experience: given
                .get("experience")
                .and_then(Value::as_i64)
                .map_or(profile.experience, |years| years.clamp(0, 100) as i32),
        };
    }
    let changes = UserChanges {
        name: body
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or(&current.name)
            .to_string(),
        phone: body
            .get("phone")
            .and_then(Value::as_str)
            .unwrap_or(&current.phone)
            .to_string(),
        profile,
        organization_id: current.organization_id,
    };
    let mask: Vec<String> = ["name", "phone", "profile"]
        .into_iter()
        .filter(|key| body.contains_key(*key))
        .map(str::to_string)
        .collect();
    let mut user = if mask.is_empty() {
        if !ctx.is_admin() && ctx.user_id() != Some(id) {
            return Err(super::message(http::StatusCode::FORBIDDEN, "Access denied"));
        }
        current
    } else {
        state
            .identity
            .update_user(&ctx, id, changes, &mask)
            .await
            .map_err(|err| LegacyError::from_app(err, NOT_FOUND))?
    };
    if let Some(active) = body.get("isActive").and_then(Value::as_bool)
        && ctx.is_admin()
        && ctx.user_id() != Some(id)
        && active != (user.active && !user.pending_approval)
    {
        // `isActive: true` is how the old admin screen switches an account on: for an account
        // awaiting approval, that is the approval.
        let changed = if active && user.pending_approval {
            state.identity.approve_user(&ctx, id).await
        } else {
            state.identity.set_active(&ctx, id, active).await
        };
        user = changed.map_err(|err| LegacyError::from_app(err, NOT_FOUND))?;
    }
    Ok(Json(user_document(&user)).into_response())
}
