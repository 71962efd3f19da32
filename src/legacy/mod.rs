//! The legacy `/api/...` surface of the old Express server: thin adapters over the same
//! services that reproduce its JSON (`_id`, camelCase, `{message}` and `{errors:[...]}`
//! bodies). No business logic lives here.

mod access;
mod auth;
mod body;
mod cac;
mod netops;
mod optics;
mod photos;
mod pons;
mod reports;
mod tasks;
mod users;

use std::sync::Arc;

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde_json::{Value, json};

use crate::auth::Role;
use crate::auth::guard::Guard;
use crate::auth::permissions::Rpc;
use crate::certificates::CertificateService;
use crate::context::RequestContext;
use crate::devices::DeviceService;
use crate::error::{AppError, Reason, clip};
use crate::identity::IdentityService;
use crate::identity::model::user;
use crate::incidents::IncidentService;
use crate::optical::OpticalService;
use crate::photos::PhotoService;

/// What the legacy handlers share.
#[derive(Clone)]
pub struct LegacyState {
    pub guard: Arc<Guard>,
    pub identity: Arc<IdentityService>,
    pub pons: Arc<crate::pons::PonService>,
    pub tasks: Arc<crate::tasks::TaskService>,
    pub reports: Arc<crate::reports::ReportService>,
    pub trusted_proxies: crate::client_addr::TrustedProxies,
    pub photos: Arc<PhotoService>,
    pub certificates: Arc<CertificateService>,
    pub optical: Arc<OpticalService>,
    pub devices: Arc<DeviceService>,
    pub incidents: Arc<IncidentService>,
}

/// Every `/api` route.
pub fn router(state: LegacyState) -> axum::Router {
    axum::Router::new()
        .merge(auth::routes())
        .merge(users::routes())
        .merge(pons::routes())
        .merge(tasks::routes())
        .merge(reports::routes())
        .merge(photos::routes())
        .merge(cac::routes())
        .merge(optics::routes())
        .merge(netops::routes())
        .with_state(state)
}

/// An Express-style error answer (boxed: responses are large and errors travel in `Result`s).
pub struct LegacyError(Box<Response>);

impl LegacyError {
    fn new(response: Response) -> Self {
        LegacyError(Box::new(response))
    }
}

impl IntoResponse for LegacyError {
    fn into_response(self) -> Response {
        *self.0
    }
}

pub type LegacyResult = Result<Response, LegacyError>;

fn message(status: StatusCode, text: &str) -> LegacyError {
    LegacyError::new((status, Json(json!({ "message": clip(text) }))).into_response())
}

/// One express-validator entry; `value` is left out when the field was absent. A long string
/// value is clipped, and other long values are left out: an error never echoes a huge value.
pub fn field_error(path: &str, value: Option<&Value>, msg: &str) -> Value {
    let mut entry =
        json!({"type": "field", "msg": clip(msg), "path": clip(path), "location": "body"});
    match value {
        Some(Value::String(text)) => entry["value"] = json!(clip(text)),
        Some(other) if other.to_string().len() <= 200 => entry["value"] = other.clone(),
        _ => {}
    }
    entry
}

fn validation(errors: Vec<Value>) -> LegacyError {
    LegacyError::new((StatusCode::BAD_REQUEST, Json(json!({ "errors": errors }))).into_response())
}

impl LegacyError {
    /// Maps a service error onto the Express answers (logging it, once); `not_found` is the
    /// route's 404 message.
    fn from_app(err: AppError, not_found: &str) -> LegacyError {
        err.log();
        let status = err.http_status();
        let mut response = match err.reason() {
            Reason::NotFound => message(status, not_found),
            Reason::InvalidArgument | Reason::PayloadTooLarge | Reason::UnsupportedMediaType => {
                let errors: Vec<Value> = err
                    .violations()
                    .iter()
                    .map(|v| field_error(&v.field, None, &v.description))
                    .collect();
                LegacyError::new((status, Json(json!({ "errors": errors }))).into_response())
            }
            Reason::PermissionDenied => message(status, "Access denied"),
            Reason::MissingCredentials => message(status, "No token, authorization denied"),
            Reason::Unauthenticated => message(status, "Token is not valid"),
            // The Express app answered duplicates with 400.
            Reason::AlreadyExists => message(StatusCode::BAD_REQUEST, "User already exists"),
            Reason::RateLimited => message(status, "Too many requests, please try again later"),
            // Express's words for completing an evidence-required task without photos.
            Reason::EvidenceMissing => message(
                StatusCode::BAD_REQUEST,
                "Evidence photos required before marking as completed",
            ),
            // Rules Express did not have (task moves, dependencies): our own words.
            Reason::FailedPrecondition => message(StatusCode::BAD_REQUEST, &err.client_message()),
            Reason::Unavailable => {
                message(status, "Service temporarily unavailable, please try again")
            }
            Reason::Internal => LegacyError::new(
                (
                    status,
                    [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                    "Server Error",
                )
                    .into_response(),
            ),
        };
        if let Some(delay) = err.retry_after()
            && let Ok(value) = HeaderValue::from_str(&delay.as_secs().max(1).to_string())
        {
            response.0.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    }
}

/// The `auth` + `authorize(...)` middleware of the Express app, through the one permission table:
/// the caller's context for `method`, or the Express 401/403 answers.
pub async fn authorize(
    state: &LegacyState,
    method: Rpc,
    headers: &HeaderMap,
) -> Result<RequestContext, LegacyError> {
    state
        .guard
        .context_for(method, headers)
        .await
        .map_err(|err| match err {
            AppError::PermissionDenied(_) => {
                message(StatusCode::FORBIDDEN, "Insufficient permissions")
            }
            other => LegacyError::from_app(other, "Not found"),
        })
}

/// A JSON body as the Express body parser would give it: a non-object or unparsable body is `{}`.
pub fn body_object(body: &[u8]) -> serde_json::Map<String, Value> {
    match serde_json::from_slice(body) {
        Ok(Value::Object(object)) => object,
        _ => serde_json::Map::new(),
    }
}

/// Express dates: ISO-8601 UTC with milliseconds.
pub fn express_date(time: chrono::DateTime<chrono::Utc>) -> String {
    time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The Mongo user document without its password.
pub fn user_document(user: &user::Model) -> Value {
    let mut document = json!({
        "_id": user.id.to_string(),
        "name": user.name,
        "email": user.email,
        "role": user.role().legacy_name(),
        "phone": user.phone,
        "isActive": user.active && !user.pending_approval,
        "createdAt": express_date(user.created_at),
        "updatedAt": express_date(user.updated_at),
        "__v": 0,
    });
    if let Some(last) = user.last_login_at {
        document["lastLogin"] = json!(express_date(last));
    }
    let profile = user.profile();
    if profile != user::Profile::default() {
        document["profile"] = json!({
            "avatar": profile.avatar,
            "department": profile.department,
            "location": profile.location,
            "experience": profile.experience,
        });
    }
    document
}

/// A legacy role name (or a new one) from a request body.
pub fn role_from_body(value: Option<&Value>) -> Option<Role> {
    value.and_then(Value::as_str).and_then(Role::parse)
}

/// A Mongo `Date` holding a day: midnight UTC.
pub fn express_day(day: chrono::NaiveDate) -> String {
    format!("{}T00:00:00.000Z", day.format("%Y-%m-%d"))
}

/// Malformed ids are "not found", as in the Express API.
pub fn legacy_id(text: &str, not_found: &str) -> Result<uuid::Uuid, LegacyError> {
    uuid::Uuid::parse_str(text).map_err(|_| message(StatusCode::NOT_FOUND, not_found))
}

/// Users by id, to populate references.
pub type Users = std::collections::HashMap<uuid::Uuid, user::Model>;

/// The tenant's users named by `ids`.
pub async fn users_named(
    state: &LegacyState,
    ctx: &RequestContext,
    ids: impl IntoIterator<Item = Option<uuid::Uuid>>,
) -> Result<Users, LegacyError> {
    let mut ids: Vec<uuid::Uuid> = ids.into_iter().flatten().collect();
    ids.sort();
    ids.dedup();
    state
        .identity
        .users_named(ctx, &ids)
        .await
        .map_err(|err| LegacyError::from_app(err, "User not found"))
}

/// A populated user reference `{_id, <fields>}`, or null when it names nobody (any more).
pub fn populated_user(users: &Users, id: Option<uuid::Uuid>, fields: &[&str]) -> Value {
    let Some(user) = id.and_then(|id| users.get(&id)) else {
        return Value::Null;
    };
    let mut document = json!({ "_id": user.id.to_string() });
    for field in fields {
        document[*field] = match *field {
            "name" => json!(user.name),
            "email" => json!(user.email),
            _ => json!(user.phone),
        };
    }
    document
}

/// A service error with its field names put into the legacy body's vocabulary.
pub fn renamed(err: AppError, names: &[(&str, &str)]) -> AppError {
    match err {
        AppError::InvalidArgument(violations) => AppError::InvalidArgument(
            violations
                .into_iter()
                .map(|mut violation| {
                    let field = violation
                        .field
                        .split_once('.')
                        .map_or(violation.field.as_str(), |(_, rest)| rest);
                    if let Some((_, theirs)) = names.iter().find(|(ours, _)| *ours == field) {
                        violation.field = theirs.to_string();
                    }
                    violation
                })
                .collect(),
        ),
        other => other,
    }
}
