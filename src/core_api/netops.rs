//! Core paths of network operations (core-api §3.10, §3.15): `GET/POST /devices`,
//! `PATCH /devices/{id}` (partial), `GET/POST /incidents`, `PATCH /incidents/{id}`,
//! `/incidents/{id}/assign` and `POST /maint-windows`, served by the same services.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use http::HeaderMap;
use serde_json::{Map, Value};
use std::collections::HashMap;

use super::{CoreApi, Failure, created, parse_body};
use crate::auth::permissions::Rpc;
use crate::context::RequestContext;
use crate::devices::json::{self as device_json, Dialect, Reader};
use crate::devices::service::DeviceFilter;
use crate::error::AppError;
use crate::error::parse_id;
use crate::incidents::grpc::parse_status;
use crate::incidents::json as incident_json;
use crate::incidents::maintenance::WindowDraft;
use crate::incidents::service::IncidentFilter;
use crate::rpc;

async fn context(
    api: &CoreApi,
    method: Rpc,
    headers: &HeaderMap,
) -> Result<RequestContext, Failure> {
    api.guard
        .context_for(method, headers)
        .await
        .map_err(Failure::service)
}

/// Path and query ids are 422 when malformed (the old API gave a 500).
fn path_id(field: &str, text: &str) -> Result<uuid::Uuid, Failure> {
    parse_id(field, text.trim()).map_err(|err| Failure::invalid_body(err.to_string()))
}

fn not_found_or(err: AppError) -> Failure {
    match err {
        AppError::NotFound(_) => Failure::not_found(),
        other => Failure::service(other),
    }
}

fn query_uuid(query: &HashMap<String, String>, key: &str) -> Result<Option<uuid::Uuid>, Failure> {
    query
        .get(key)
        .filter(|text| !text.trim().is_empty())
        .map(|text| path_id(key, text))
        .transpose()
}

/// Every page of a listing, for the old unpaged answers (capped at 500 rows like the old API).
async fn all_pages<T, F, Fut>(fetch: F) -> Result<Vec<T>, AppError>
where
    F: FnMut(String) -> Fut,
    Fut: std::future::Future<Output = Result<(Vec<T>, Option<String>), AppError>>,
{
    crate::paging::collect_pages_up_to(500, fetch).await
}

pub async fn list_devices(
    State(api): State<CoreApi>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Value>, Failure> {
    let ctx = context(&api, rpc!("DeviceService/ListDevices"), &headers).await?;
    let filter = DeviceFilter {
        r#type: query.get("role").cloned().filter(|role| !role.is_empty()),
        pon_id: query_uuid(&query, "pon_id")?,
        ..DeviceFilter::default()
    };
    let mut devices = all_pages(|token| {
        let (api, ctx, filter) = (&api, &ctx, &filter);
        async move { api.devices.list(ctx, filter, 500, &token).await }
    })
    .await
    .map_err(Failure::service)?;
    devices.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Json(Value::Array(
        devices
            .iter()
            .map(|device| device_json::document(device, Dialect::Core))
            .collect(),
    )))
}

pub async fn create_device(
    State(api): State<CoreApi>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, Failure> {
    let ctx = context(&api, rpc!("DeviceService/CreateDevice"), &headers).await?;
    let body = parse_body::<Map<String, Value>>(body)?;
    for required in ["name", "role"] {
        if !body.contains_key(required) {
            return Err(Failure::invalid_body(format!("{required}: field required")));
        }
    }
    let (draft, _) = device_json::draft(&body, Dialect::Core).map_err(Failure::service)?;
    let device = api
        .devices
        .create(&ctx, draft)
        .await
        .map_err(Failure::service)?;
    Ok(Json(device_json::document(&device, Dialect::Core)))
}

/// A partial update: only the fields sent change (the old route needed the full body).
pub async fn update_device(
    State(api): State<CoreApi>,
    headers: HeaderMap,
    Path(device_id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, Failure> {
    let ctx = context(&api, rpc!("DeviceService/UpdateDevice"), &headers).await?;
    let id = path_id("device_id", &device_id)?;
    let body = parse_body::<Map<String, Value>>(body)?;
    let (draft, present) = device_json::draft(&body, Dialect::Core).map_err(Failure::service)?;
    let device = api
        .devices
        .update(&ctx, id, draft, &present)
        .await
        .map_err(not_found_or)?;
    Ok(Json(device_json::document(&device, Dialect::Core)))
}

pub async fn list_incidents(
    State(api): State<CoreApi>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Value>, Failure> {
    let ctx = context(&api, rpc!("IncidentService/ListIncidents"), &headers).await?;
    let filter = IncidentFilter {
        status: query
            .get("status")
            .cloned()
            .filter(|status| !status.is_empty()),
        device_id: query_uuid(&query, "device_id")?,
        ..IncidentFilter::default()
    };
    let incidents = all_pages(|token| {
        let (api, ctx, filter) = (&api, &ctx, &filter);
        async move { api.incidents.list(ctx, filter, 500, &token).await }
    })
    .await
    .map_err(Failure::service)?;
    Ok(Json(Value::Array(
        incidents
            .iter()
            .map(|incident| incident_json::document(incident, Dialect::Core))
            .collect(),
    )))
}

pub async fn create_incident(
    State(api): State<CoreApi>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, Failure> {
    let ctx = context(&api, rpc!("IncidentService/CreateIncident"), &headers).await?;
    let body = parse_body::<Map<String, Value>>(body)?;
    for required in ["title", "severity", "category"] {
        if !body.contains_key(required) {
            return Err(Failure::invalid_body(format!("{required}: field required")));
        }
    }
    let (draft, _) = incident_json::draft(&body, Dialect::Core).map_err(Failure::service)?;
    let incident = api
        .incidents
        .create(&ctx, draft)
        .await
        .map_err(Failure::service)?;
    Ok(Json(incident_json::document(&incident, Dialect::Core)))
}

/// Descriptive fields, then `assigned_org_id`, then `status` (a legal move; closing needs the
/// evidence of the close route). Times, SLA and breach fields are the server's and refused.
pub async fn update_incident(
    State(api): State<CoreApi>,
    headers: HeaderMap,
    Path(incident_id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, Failure> {
    let ctx = context(&api, rpc!("IncidentService/UpdateIncident"), &headers).await?;
    let id = path_id("incident_id", &incident_id)?;
    let body = parse_body::<Map<String, Value>>(body)?;
    for server_side in [
        "ack_at",
        "resolved_at",
        "closed_at",
        "due_at",
        "severity_sla_minutes",
        "root_cause",
        "fix_code",
    ] {
        if body.contains_key(server_side) {
            return Err(Failure::invalid_body(format!(
                "{server_side}: is set by the server (status moves set times; closing takes the close request)"
            )));
        }
    }
    let mut read = Reader::new(&body);
    let status = read.text("status", "status");
    let organization = read.uuid("assigned_org_id", "assigned_org_id");
    let ((status, organization), _) = read
        .finish((status, organization))
        .map_err(|err| Failure::invalid_body(err.to_string()))?;
    let status = status
        .map(|text| parse_status("status", &text))
        .transpose()
        .map_err(|err| Failure::invalid_body(err.to_string()))?;
    let (draft, present) = incident_json::draft(&body, Dialect::Core).map_err(Failure::service)?;
    let descriptive: Vec<String> = present
        .into_iter()
        .filter(|field| !matches!(field.as_str(), "opened_at"))
        .collect();
    let mut incident = api.incidents.get(&ctx, id).await.map_err(not_found_or)?;
    if let Some(next) = status
        && !incident.status().can_move_to(next)
    {
        return Err(Failure::service(AppError::FailedPrecondition(format!(
            "an incident cannot move from {} to {}",
            incident.status,
            next.as_str()
        ))));
    }
    if !descriptive.is_empty() {
        incident = api
            .incidents
            .update(&ctx, id, draft, &descriptive)
            .await
            .map_err(not_found_or)?;
    }
    if let Some(organization) = organization {
        incident = api
            .incidents
            .assign(&ctx, id, organization)
            .await
            .map_err(not_found_or)?;
    }
    if let Some(next) = status {
        incident = api
            .incidents
            .transition(&ctx, id, next)
            .await
            .map_err(not_found_or)?;
    }
    Ok(Json(incident_json::document(&incident, Dialect::Core)))
}

/// `PATCH|POST /incidents/{id}/assign` with `org_id` in the query or the body.
pub async fn assign_incident(
    State(api): State<CoreApi>,
    headers: HeaderMap,
    Path(incident_id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> Result<Json<Value>, Failure> {
    let ctx = context(&api, rpc!("IncidentService/AssignIncident"), &headers).await?;
    let id = path_id("incident_id", &incident_id)?;
    let from_body = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|body| {
            body.get("org_id")
                .and_then(Value::as_str)
                .map(str::to_string)
        });
    let organization = query
        .get("org_id")
        .cloned()
        .or(from_body)
        .ok_or_else(|| Failure::invalid_body("org_id: field required"))?;
    let organization = path_id("org_id", &organization)?;
    let incident = api
        .incidents
        .assign(&ctx, id, organization)
        .await
        .map_err(not_found_or)?;
    Ok(Json(incident_json::document(&incident, Dialect::Core)))
}

pub async fn create_window(
    State(api): State<CoreApi>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, Failure> {
    let ctx = context(
        &api,
        rpc!("MaintenanceWindowService/CreateMaintenanceWindow"),
        &headers,
    )
    .await?;
    let body = parse_body::<Map<String, Value>>(body)?;
    let mut read = Reader::new(&body);
    let draft = WindowDraft {
        scope: read.text("scope", "scope").unwrap_or_default(),
        target_id: read.uuid("target_id", "target_id"),
        start_at: read.time("start_at", "start_at"),
        end_at: read.time("end_at", "end_at"),
        reason: read.text("reason", "reason").unwrap_or_default(),
        approved_by: read.text("approved_by", "approved_by").unwrap_or_default(),
    };
    let (draft, _) = read
        .finish(draft)
        .map_err(|err| Failure::invalid_body(err.to_string()))?;
    let window = api
        .incidents
        .create_window(&ctx, draft)
        .await
        .map_err(Failure::service)?;
    Ok(created(window.id))
}
