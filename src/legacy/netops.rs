//! `/api/devices`, `/api/incidents` (with `POST /:id/close`) and `GET /api/reports/ops` of the
//! Express server: its documents and `{message}` answers, over the device and incident services.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use http::{HeaderMap, StatusCode};
use serde_json::{Value, json};
use std::collections::HashMap;

use super::{LegacyError, LegacyResult, LegacyState, authorize, body_object, message};
use crate::devices::json::{self as device_json, Dialect};
use crate::devices::service::DeviceFilter;
use crate::error::AppError;
use crate::incidents::json as incident_json;
use crate::incidents::model::Status;
use crate::incidents::service::IncidentFilter;

pub fn routes() -> axum::Router<LegacyState> {
    axum::Router::new()
        .route("/api/devices", get(list_devices).post(create_device))
        .route(
            "/api/devices/{id}",
            get(read_device).put(update_device).delete(delete_device),
        )
        .route("/api/incidents", get(list_incidents).post(create_incident))
        .route(
            "/api/incidents/{id}",
            get(read_incident).patch(update_incident),
        )
        .route("/api/incidents/{id}/close", post(close_incident))
        .route("/api/reports/ops", get(ops_report))
}

const DEVICE_NOT_FOUND: &str = "Device not found";
const INCIDENT_NOT_FOUND: &str = "Incident not found";

/// Malformed ids are "not found", as in the Express API.
fn id(text: &str, not_found: &str) -> Result<uuid::Uuid, LegacyError> {
    uuid::Uuid::parse_str(text).map_err(|_| message(StatusCode::NOT_FOUND, not_found))
}

/// A bad body: the Express message plus what exactly was wrong.
fn invalid(err: AppError, text: &str, not_found: &str) -> LegacyError {
    match err {
        AppError::InvalidArgument(violations) => LegacyError::new(
            (
                StatusCode::BAD_REQUEST,
                Json(json!({
                    "message": text,
                    "errors": violations
                        .iter()
                        .map(|v| super::field_error(&v.field, None, &v.description))
                        .collect::<Vec<_>>(),
                })),
            )
                .into_response(),
        ),
        AppError::AlreadyExists(detail) | AppError::FailedPrecondition(detail) => {
            message(StatusCode::BAD_REQUEST, &detail)
        }
        other => LegacyError::from_app(other, not_found),
    }
}

fn query_text(query: &HashMap<String, String>, key: &str) -> Option<String> {
    query
        .get(key)
        .map(|text| text.trim().to_string())
        .filter(|text| !text.is_empty())
}

/// An id filter: a malformed one matches nothing (the old API answered 500).
fn query_id(query: &HashMap<String, String>, key: &str) -> Result<Option<uuid::Uuid>, ()> {
    match query_text(query, key) {
        None => Ok(None),
        Some(text) => uuid::Uuid::parse_str(&text).map(Some).map_err(|_| ()),
    }
}

async fn list_devices(
    State(state): State<LegacyState>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> LegacyResult {
    let ctx = authorize(&state, super::access::DEVICES_LIST, &headers).await?;
    let Ok(pon_id) = query_id(&query, "pon") else {
        return Ok(Json(json!([])).into_response());
    };
    let filter = DeviceFilter {
        r#type: query_text(&query, "type"),
        status: query_text(&query, "status"),
        pon_id,
        ward: query_text(&query, "ward"),
        site: query_text(&query, "site"),
        q: query_text(&query, "q"),
    };
    let (mut devices, _) = state
        .devices
        .list(&ctx, &filter, 500, "")
        .await
        .map_err(|err| invalid(err, "Invalid filter", DEVICE_NOT_FOUND))?;
    devices.sort_by_key(|device| std::cmp::Reverse(device.updated_at));
    Ok(Json(
        devices
            .iter()
            .map(|device| device_json::document(device, Dialect::Legacy))
            .collect::<Vec<_>>(),
    )
    .into_response())
}

async fn create_device(
    State(state): State<LegacyState>,
    headers: HeaderMap,
    body: Bytes,
) -> LegacyResult {
    let ctx = authorize(&state, super::access::DEVICES_CREATE, &headers).await?;
    let fail = |err| invalid(err, "Invalid device payload", DEVICE_NOT_FOUND);
    let (draft, _) = device_json::draft(&body_object(&body), Dialect::Legacy).map_err(fail)?;
    let device = state.devices.create(&ctx, draft).await.map_err(fail)?;
    Ok(Json(device_json::document(&device, Dialect::Legacy)).into_response())
}

async fn read_device(
    State(state): State<LegacyState>,
    headers: HeaderMap,
    Path(device): Path<String>,
) -> LegacyResult {
    let ctx = authorize(&state, super::access::DEVICES_READ, &headers).await?;
    let device = state
        .devices
        .get(&ctx, id(&device, DEVICE_NOT_FOUND)?)
        .await
        .map_err(|err| LegacyError::from_app(err, DEVICE_NOT_FOUND))?;
    Ok(Json(device_json::document(&device, Dialect::Legacy)).into_response())
}

async fn update_device(
    State(state): State<LegacyState>,
    headers: HeaderMap,
    Path(device): Path<String>,
    body: Bytes,
) -> LegacyResult {
    let ctx = authorize(&state, super::access::DEVICES_UPDATE, &headers).await?;
    let device_id = id(&device, DEVICE_NOT_FOUND)?;
    let fail = |err| invalid(err, "Invalid update payload", DEVICE_NOT_FOUND);
    let (draft, present) =
        device_json::draft(&body_object(&body), Dialect::Legacy).map_err(fail)?;
    let device = if present.is_empty() {
        state.devices.get(&ctx, device_id).await
    } else {
        state.devices.update(&ctx, device_id, draft, &present).await
    }
    .map_err(fail)?;
    Ok(Json(device_json::document(&device, Dialect::Legacy)).into_response())
}

/// 404 for a device that does not exist (the old API said "Deleted" regardless).
async fn delete_device(
    State(state): State<LegacyState>,
    headers: HeaderMap,
    Path(device): Path<String>,
) -> LegacyResult {
    let ctx = authorize(&state, super::access::DEVICES_DELETE, &headers).await?;
    state
        .devices
        .delete(&ctx, id(&device, DEVICE_NOT_FOUND)?)
        .await
        .map_err(|err| LegacyError::from_app(err, DEVICE_NOT_FOUND))?;
    Ok(Json(json!({"message": "Deleted"})).into_response())
}

async fn list_incidents(
    State(state): State<LegacyState>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> LegacyResult {
    let ctx = authorize(&state, super::access::INCIDENTS_LIST, &headers).await?;
    let (Ok(pon_id), Ok(device_id)) = (query_id(&query, "pon"), query_id(&query, "device")) else {
        return Ok(Json(json!([])).into_response());
    };
    let filter = IncidentFilter {
        status: query_text(&query, "status"),
        severity: query_text(&query, "priority"),
        device_id,
        pon_id,
        ward: query_text(&query, "ward"),
        site: query_text(&query, "site"),
        q: query_text(&query, "q"),
        ..IncidentFilter::default()
    };
    let (incidents, _) = state
        .incidents
        .list(&ctx, &filter, 500, "")
        .await
        .map_err(|err| invalid(err, "Invalid filter", INCIDENT_NOT_FOUND))?;
    // Like the Express `populate`: pon{_id,ponId,name} and device{_id,name,type,mgmtIp}, null
    // when the row is gone.
    let (pons, devices) = state
        .incidents
        .referenced(&ctx, &incidents)
        .await
        .map_err(|err| LegacyError::from_app(err, INCIDENT_NOT_FOUND))?;
    let documents = incidents.iter().map(|incident| {
        let mut document = incident_json::document(incident, Dialect::Legacy);
        if let Some(pon_id) = incident.pon_id {
            document["pon"] = pons.get(&pon_id).map_or(Value::Null, |pon| {
                json!({"_id": pon.id, "ponId": pon.pon_code, "name": pon.name})
            });
        }
        if let Some(device_id) = incident.device_id {
            document["device"] = devices.get(&device_id).map_or(Value::Null, |device| {
                json!({"_id": device.id, "name": device.name, "type": device.r#type, "mgmtIp": device.mgmt_ip})
            });
        }
        document
    });
    Ok(Json(documents.collect::<Vec<_>>()).into_response())
}

async fn create_incident(
    State(state): State<LegacyState>,
    headers: HeaderMap,
    body: Bytes,
) -> LegacyResult {
    let ctx = authorize(&state, super::access::INCIDENTS_CREATE, &headers).await?;
    let fail = |err| invalid(err, "Invalid incident payload", INCIDENT_NOT_FOUND);
    let (draft, _) = incident_json::draft(&body_object(&body), Dialect::Legacy).map_err(fail)?;
    let incident = state.incidents.create(&ctx, draft).await.map_err(fail)?;
    Ok(Json(incident_json::document(&incident, Dialect::Legacy)).into_response())
}

async fn read_incident(
    State(state): State<LegacyState>,
    headers: HeaderMap,
    Path(incident): Path<String>,
) -> LegacyResult {
    let ctx = authorize(&state, super::access::INCIDENTS_READ, &headers).await?;
    let incident = state
        .incidents
        .get(&ctx, id(&incident, INCIDENT_NOT_FOUND)?)
        .await
        .map_err(|err| LegacyError::from_app(err, INCIDENT_NOT_FOUND))?;
    Ok(Json(incident_json::document(&incident, Dialect::Legacy)).into_response())
}

/// Descriptive fields and a legal `status` move; server-kept fields (times, SLA, breach flags)
/// are ignored, and `closed` goes through `POST /:id/close`.
async fn update_incident(
    State(state): State<LegacyState>,
    headers: HeaderMap,
    Path(incident): Path<String>,
    body: Bytes,
) -> LegacyResult {
    let ctx = authorize(&state, super::access::INCIDENTS_MOVE, &headers).await?;
    let incident_id = id(&incident, INCIDENT_NOT_FOUND)?;
    let body = body_object(&body);
    let fail = |err| invalid(err, "Invalid update", INCIDENT_NOT_FOUND);
    let mut current = state.incidents.get(&ctx, incident_id).await.map_err(fail)?;
    let status = match body.get("status") {
        None => None,
        Some(value) => match value.as_str().and_then(Status::parse) {
            Some(Status::Closed) => {
                return Err(message(
                    StatusCode::BAD_REQUEST,
                    "Use POST /api/incidents/:id/close to close an incident",
                ));
            }
            Some(next) if current.status().can_move_to(next) => Some(next),
            Some(next) => {
                return Err(message(
                    StatusCode::BAD_REQUEST,
                    &format!(
                        "an incident cannot move from {} to {}",
                        current.status,
                        next.as_str()
                    ),
                ));
            }
            None => return Err(message(StatusCode::BAD_REQUEST, "Invalid update")),
        },
    };
    let (draft, present) = incident_json::draft(&body, Dialect::Legacy).map_err(fail)?;
    let descriptive: Vec<String> = present
        .into_iter()
        .filter(|field| field != "opened_at")
        .collect();
    if !descriptive.is_empty() {
        authorize(&state, super::access::INCIDENTS_UPDATE, &headers).await?;
        current = state
            .incidents
            .update(&ctx, incident_id, draft, &descriptive)
            .await
            .map_err(fail)?;
    }
    if let Some(next) = status {
        current = state
            .incidents
            .transition(&ctx, incident_id, next)
            .await
            .map_err(fail)?;
    }
    Ok(Json(incident_json::document(&current, Dialect::Legacy)).into_response())
}

/// The Express checks and messages in their order: 404, root cause and fix code, GPS, photos,
/// then the fix-code vocabulary and photo keys ("Invalid closure").
async fn close_incident(
    State(state): State<LegacyState>,
    headers: HeaderMap,
    Path(incident): Path<String>,
    body: Bytes,
) -> LegacyResult {
    let ctx = authorize(&state, super::access::INCIDENTS_CLOSE, &headers).await?;
    let incident_id = id(&incident, INCIDENT_NOT_FOUND)?;
    state
        .incidents
        .get(&ctx, incident_id)
        .await
        .map_err(|err| LegacyError::from_app(err, INCIDENT_NOT_FOUND))?;
    let closure = incident_json::legacy_closure(&body_object(&body));
    if closure.root_cause.trim().is_empty() || closure.fix_code.trim().is_empty() {
        return Err(message(
            StatusCode::BAD_REQUEST,
            "rootCause and fixCode required",
        ));
    }
    if closure.lat.is_none() || closure.lng.is_none() {
        return Err(message(
            StatusCode::BAD_REQUEST,
            "GPS coordinates required on closure",
        ));
    }
    if closure.photos.is_empty() {
        return Err(message(
            StatusCode::BAD_REQUEST,
            "At least one closure photo required",
        ));
    }
    let closed = state
        .incidents
        .close(&ctx, incident_id, closure)
        .await
        .map_err(|err| invalid(err, "Invalid closure", INCIDENT_NOT_FOUND))?;
    Ok(Json(incident_json::document(&closed, Dialect::Legacy)).into_response())
}

/// `{uptimeByWard:[{ward, uptime}], mttrHours, repeatFaultDevices}` over the last 30 days.
async fn ops_report(State(state): State<LegacyState>, headers: HeaderMap) -> LegacyResult {
    let ctx = authorize(&state, super::access::REPORTS_OPS, &headers).await?;
    let report = state
        .incidents
        .ops_report(&ctx, 30)
        .await
        .map_err(|err| LegacyError::from_app(err, "Not found"))?;
    Ok(Json(json!({
        "uptimeByWard": report
            .uptime_by_ward
            .iter()
            .map(|ward| json!({"ward": ward.ward, "uptime": ward.uptime}))
            .collect::<Vec<_>>(),
        "mttrHours": report.mttr_hours,
        "repeatFaultDevices": report.repeat_fault_devices.len(),
    }))
    .into_response())
}
