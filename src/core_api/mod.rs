//! The old FastAPI core API's paths (core-api spec §3), kept for its clients: the same JSON
//! bodies, `{"ok": true, ...}` answers and `{"detail": "..."}` errors, served by the same
//! services and checked against the same permission table as the gRPC methods.

mod certificates;
mod contracts;
mod netops;
mod optical;
mod photos;
mod spares;
mod tasks;

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use http::{StatusCode, header};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::auth::guard::Guard;
use crate::certificates::CertificateService;
use crate::devices::DeviceService;
use crate::error::{AppError, Reason, clip_detail};
use crate::incidents::IncidentService;
use crate::optical::OpticalService;
use crate::organizations::OrganizationsService;
use crate::photos::PhotoService;
use crate::spares::SpareService;
use crate::tasks::TaskService;

/// What the handlers call.
#[derive(Clone)]
pub struct CoreApi {
    pub guard: Arc<Guard>,
    pub organizations: Arc<OrganizationsService>,
    pub tasks: Arc<TaskService>,
    pub photos: Arc<PhotoService>,
    pub certificates: Arc<CertificateService>,
    pub spares: Arc<SpareService>,
    pub optical: Arc<OpticalService>,
    pub devices: Arc<DeviceService>,
    pub incidents: Arc<IncidentService>,
}

/// The core-API routes. Sets no fallback: it is merged in front of the REST transcoder.
pub fn router(state: CoreApi) -> axum::Router {
    axum::Router::new()
        .route(
            "/contracts",
            post(contracts::create_contract).fallback(method_not_allowed),
        )
        .route(
            "/assignments",
            post(contracts::create_assignment).fallback(method_not_allowed),
        )
        .route("/tasks/{task_id}", patch(tasks::update_task))
        .route("/tasks/work-queue", get(tasks::work_queue))
        .route("/work-queue", get(tasks::work_queue))
        .route(
            "/certificate-acceptance",
            post(certificates::create).get(certificates::list),
        )
        .route("/pons/{pon_id}/geofence", post(photos::set_circle))
        .route("/pons/{pon_id}/geofence/polygon", post(photos::set_polygon))
        .route("/photos", get(photos::list))
        .route("/photos/register", post(photos::register))
        .route("/photos/validate", post(photos::validate))
        .route("/photos/register-geo", post(photos::register_geo))
        .route("/photos/upload", post(photos::upload))
        .route("/photos/upload-url", post(photos::upload_url))
        .route("/photos/{id}/download", get(photos::download))
        .route("/spares/issue", post(spares::issue))
        .route("/spares/return", post(spares::return_stock))
        .route("/optical", post(optical::create))
        .route(
            "/devices",
            get(netops::list_devices).post(netops::create_device),
        )
        .route("/devices/{device_id}", patch(netops::update_device))
        .route(
            "/incidents",
            get(netops::list_incidents).post(netops::create_incident),
        )
        .route("/incidents/{incident_id}", patch(netops::update_incident))
        .route(
            "/incidents/{incident_id}/assign",
            patch(netops::assign_incident).post(netops::assign_incident),
        )
        .route(
            "/maint-windows",
            post(netops::create_window).fallback(method_not_allowed),
        )
        .with_state(state)
}

async fn method_not_allowed() -> Response {
    (
        StatusCode::METHOD_NOT_ALLOWED,
        [(header::ALLOW, "POST")],
        Json(json!({"detail": "Method Not Allowed"})),
    )
        .into_response()
}

/// `{"ok": true, "id": ...}`, the answer of the old create endpoints.
fn created(id: uuid::Uuid) -> Json<Value> {
    Json(json!({"ok": true, "id": id}))
}

/// An error answer: `{"detail": "..."}` with its status.
#[derive(Debug)]
pub struct Failure {
    status: StatusCode,
    detail: String,
    retry_after: Option<std::time::Duration>,
}

impl Failure {
    /// A body that does not fit the route's model: 422, like FastAPI's validation. The
    /// violations already carry the old API's field names.
    fn invalid_body(detail: impl Into<String>) -> Self {
        Failure::new(StatusCode::UNPROCESSABLE_ENTITY, detail)
    }

    /// The old `404 {"detail": "Not found"}`.
    fn not_found() -> Self {
        Failure::new(StatusCode::NOT_FOUND, "Not found")
    }

    fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        Failure {
            status,
            detail: detail.into(),
            retry_after: None,
        }
    }

    /// An error of the guard or a service (logged here), with the status of its reason and
    /// the old API's field names.
    fn service(err: AppError) -> Self {
        err.log();
        let violations = err.violations();
        let detail = match err.reason() {
            _ if !violations.is_empty() => violations
                .iter()
                .map(|v| format!("{}: {}", legacy_field(&v.field), v.description))
                .collect::<Vec<_>>()
                .join("; "),
            Reason::PermissionDenied => "Forbidden".into(),
            Reason::Internal => "Internal Server Error".into(),
            _ => err.client_message(),
        };
        Failure {
            status: err.http_status(),
            detail,
            retry_after: err.retry_after(),
        }
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            Json(json!({"detail": clip_detail(&self.detail)})),
        )
            .into_response();
        if let Some(delay) = self.retry_after {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                http::HeaderValue::from(delay.as_secs().max(1)),
            );
        }
        response
    }
}

/// A service's field path (`contract.organization_id`) as the old body named it (`org_id`).
fn legacy_field(field: &str) -> &str {
    match field.split_once('.').map_or(field, |(_, rest)| rest) {
        "organization_id" => "org_id",
        other => other,
    }
}

/// The JSON object body as `T`, or 422 naming the bad field.
fn parse_body<T: DeserializeOwned>(body: Result<Bytes, BytesRejection>) -> Result<T, Failure> {
    let body = body.map_err(|rejection| Failure::new(rejection.status(), rejection.body_text()))?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(Failure::invalid_body("body: is required"));
    }
    let value: Value = serde_json::from_slice(&body)
        .map_err(|err| Failure::invalid_body(format!("body: malformed JSON: {err}")))?;
    if !value.is_object() {
        return Err(Failure::invalid_body("body: must be a JSON object"));
    }
    serde_path_to_error::deserialize(value)
        .map_err(|err| Failure::invalid_body(format!("{}: {}", err.path(), err.inner())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_fields_get_their_old_names() {
        assert_eq!(legacy_field("contract.organization_id"), "org_id");
        assert_eq!(legacy_field("assignment.pon_id"), "pon_id");
        assert_eq!(legacy_field("sla_p1_min"), "sla_p1_min");
    }

    #[test]
    fn bodies_name_the_bad_field() {
        #[derive(serde::Deserialize, Debug)]
        struct Body {
            count: Option<i32>,
        }
        let good = parse_body::<Body>(Ok(Bytes::from_static(br#"{"count": 3, "extra": 1}"#)));
        assert_eq!(
            good.unwrap().count,
            Some(3),
            "unknown keys are ignored, as pydantic does"
        );
        let bad = parse_body::<Body>(Ok(Bytes::from_static(br#"{"count": "many"}"#))).unwrap_err();
        assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            bad.detail.starts_with("count: invalid type"),
            "{}",
            bad.detail
        );
        let bad = parse_body::<Body>(Ok(Bytes::from_static(b"[1]"))).unwrap_err();
        assert_eq!(bad.detail, "body: must be a JSON object");
        let bad = parse_body::<Body>(Ok(Bytes::new())).unwrap_err();
        assert_eq!(bad.detail, "body: is required");
    }
}
