//! `/api/pons`: the Express PON routes (role-scoped list, `{pon, tasks}` detail that the PON's
//! managers now see too, create, update, delete with its tasks, progress) over the services.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::IntoResponse;
use axum::routing::{get, put};
use http::{HeaderMap, StatusCode};
use serde_json::{Map, Value, json};

use super::body::BodyReader;
use super::{
    LegacyError, LegacyResult, LegacyState, Users, authorize, body_object, express_date,
    express_day, legacy_id, message, populated_user, renamed, users_named,
};
use crate::context::RequestContext;
use crate::error::AppError;
use crate::pons::model::{Equipment, EquipmentStatus, Model, PonStatus};
use crate::pons::service::{PonDraft, PonFilter};
use crate::tasks::service::TaskFilter;

const NOT_FOUND: &str = "PON not found";

/// Our field names and the Express body's.
const FIELDS: &[(&str, &str)] = &[
    ("pon_code", "ponId"),
    ("name", "name"),
    ("location", "location"),
    ("ward", "ward"),
    ("lat", "coordinates"),
    ("lng", "coordinates"),
    ("status", "status"),
    ("site_manager_id", "siteManager"),
    ("start_date", "startDate"),
    ("expected_end_date", "expectedEndDate"),
    ("fiber_count", "fiberCount"),
    ("splitter_count", "splitterCount"),
    ("equipment", "equipment"),
    ("notes", "notes"),
    ("progress", "progress"),
    ("geofence_center_lat", "centerLat"),
    ("geofence_center_lng", "centerLng"),
    ("geofence_radius_m", "geofenceRadiusM"),
];

pub fn routes() -> axum::Router<LegacyState> {
    axum::Router::new()
        .route("/api/pons", get(list).post(create))
        .route("/api/pons/{id}", get(read).put(update).delete(remove))
        .route("/api/pons/{id}/progress", put(progress))
}

fn failed(err: AppError) -> LegacyError {
    match renamed(err, FIELDS) {
        AppError::AlreadyExists(_) => message(StatusCode::BAD_REQUEST, "PON ID already exists"),
        other => LegacyError::from_app(other, NOT_FOUND),
    }
}

/// The Mongo PON document, its managers populated with `manager_fields`.
pub fn pon_document(pon: &Model, users: &Users, manager_fields: &[&str]) -> Value {
    let mut document = Map::new();
    let mut put = |key: &str, value: Value| {
        document.insert(key.to_string(), value);
    };
    put("_id", json!(pon.id.to_string()));
    put("ponId", json!(pon.pon_code));
    put("name", json!(pon.name));
    put("location", json!(pon.location));
    if !pon.ward.is_empty() {
        put("ward", json!(pon.ward));
    }
    if let (Some(latitude), Some(longitude)) = (pon.lat, pon.lng) {
        put(
            "coordinates",
            json!({"latitude": latitude, "longitude": longitude}),
        );
    }
    put("status", json!(pon.status));
    put(
        "projectManager",
        populated_user(users, pon.project_manager_id, manager_fields),
    );
    if pon.site_manager_id.is_some() {
        put(
            "siteManager",
            populated_user(users, pon.site_manager_id, manager_fields),
        );
    }
    for (key, day) in [
        ("startDate", pon.start_date),
        ("expectedEndDate", pon.expected_end_date),
        ("actualEndDate", pon.actual_end_date),
    ] {
        if let Some(day) = day {
            put(key, json!(express_day(day)));
        }
    }
    put("fiberCount", json!(pon.fiber_count));
    put("splitterCount", json!(pon.splitter_count));
    let equipment: Vec<Value> = pon
        .equipment()
        .iter()
        .map(|item| {
            json!({
                "name": item.name,
                "model": item.model,
                "serialNumber": item.serial_number,
                "status": equipment_status(item.status),
            })
        })
        .collect();
    put("equipment", json!(equipment));
    if !pon.notes.is_empty() {
        put("notes", json!(pon.notes));
    }
    put("progress", json!(pon.progress));
    put("slaBreaches", json!(pon.sla_breaches));
    if let (Some(lat), Some(lng)) = (pon.geofence_center_lat, pon.geofence_center_lng) {
        put("centerLat", json!(lat));
        put("centerLng", json!(lng));
    }
    put("geofenceRadiusM", json!(pon.geofence_radius_m));
    put("createdAt", json!(express_date(pon.created_at)));
    put("updatedAt", json!(express_date(pon.updated_at)));
    put("__v", json!(0));
    Value::Object(document)
}

fn equipment_status(status: EquipmentStatus) -> &'static str {
    match status {
        EquipmentStatus::Pending => "pending",
        EquipmentStatus::Installed => "installed",
        EquipmentStatus::Faulty => "faulty",
        EquipmentStatus::Replaced => "replaced",
    }
}

/// PON documents with their managers populated.
pub async fn pon_documents(
    state: &LegacyState,
    ctx: &RequestContext,
    pons: &[Model],
    manager_fields: &[&str],
) -> Result<Vec<Value>, LegacyError> {
    let users = users_named(
        state,
        ctx,
        pons.iter()
            .flat_map(|pon| [pon.project_manager_id, pon.site_manager_id]),
    )
    .await?;
    Ok(pons
        .iter()
        .map(|pon| pon_document(pon, &users, manager_fields))
        .collect())
}

/// Every PON the caller may see, newest first.
pub async fn visible_pons(
    state: &LegacyState,
    ctx: &RequestContext,
) -> Result<Vec<Model>, LegacyError> {
    let mut pons = state
        .pons
        .list_all(ctx, &PonFilter::default())
        .await
        .map_err(failed)?;
    crate::reports::service::newest_first(&mut pons);
    Ok(pons)
}

async fn list(State(state): State<LegacyState>, headers: HeaderMap) -> LegacyResult {
    let ctx = authorize(&state, super::access::PONS_LIST, &headers).await?;
    let pons = visible_pons(&state, &ctx).await?;
    Ok(Json(pon_documents(&state, &ctx, &pons, &["name", "email"]).await?).into_response())
}

/// `{pon, tasks}`: managers with their phone, the PON's tasks newest first with the assignee
/// populated. Admins and the PON's own managers (the legacy 403 bug fixed) read it.
async fn read(
    State(state): State<LegacyState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> LegacyResult {
    let ctx = authorize(&state, super::access::PONS_READ, &headers).await?;
    let pon = state
        .pons
        .get_or_denied(&ctx, legacy_id(&id, NOT_FOUND)?)
        .await
        .map_err(failed)?;
    let filter = TaskFilter {
        pon_id: Some(pon.id),
        ..TaskFilter::default()
    };
    let mut tasks = super::tasks::all_tasks(&state, &ctx, &filter).await?;
    tasks.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
    let users = users_named(
        &state,
        &ctx,
        [pon.project_manager_id, pon.site_manager_id]
            .into_iter()
            .chain(tasks.iter().map(|task| task.assignee_id)),
    )
    .await?;
    let tasks: Vec<Value> = tasks
        .iter()
        .map(|task| super::tasks::task_document(task, &users, None, false))
        .collect();
    Ok(Json(json!({
        "pon": pon_document(&pon, &users, &["name", "email", "phone"]),
        "tasks": tasks,
    }))
    .into_response())
}

/// The PON fields of an Express body: the draft and the fields it names.
fn read_draft(
    body: &Map<String, Value>,
    creating: bool,
) -> Result<(PonDraft, Vec<String>), LegacyError> {
    let mut reader = BodyReader::new(body);
    let mut draft = PonDraft::default();
    let mut named = Vec::new();
    let mut name = |field: &str| named.push(field.to_string());
    if let Some(code) = reader.text("ponId", creating, "PON ID is required") {
        draft.pon_code = code;
        name("pon_code");
    }
    if let Some(text) = reader.text("name", creating, "PON name is required") {
        draft.name = text;
        name("name");
    }
    if let Some(text) = reader.text("location", creating, "Location is required") {
        draft.location = text;
        name("location");
    }
    if let Some(text) = reader.text("ward", false, "Ward must be a string") {
        draft.ward = text;
        name("ward");
    }
    if reader.has("coordinates") {
        match reader.raw("coordinates") {
            Some(Value::Null) => {}
            Some(Value::Object(position)) => {
                draft.lat = position.get("latitude").and_then(Value::as_f64);
                draft.lng = position.get("longitude").and_then(Value::as_f64);
                if draft.lat.is_none() || draft.lng.is_none() {
                    reader.reject("coordinates", "Latitude and longitude must be numbers");
                }
            }
            _ => reader.reject("coordinates", "Latitude and longitude must be numbers"),
        }
        name("lat");
        name("lng");
    }
    if reader.has("status") {
        let status = reader.text("status", true, "Invalid status");
        match status.as_deref().map(PonStatus::parse) {
            Some(Some(status)) => draft.status = Some(status),
            Some(None) => reader.reject("status", "Invalid status"),
            None => {}
        }
        name("status");
    }
    if let Some(site_manager) = reader.id("siteManager", "Invalid site manager") {
        draft.site_manager_id = site_manager;
        name("site_manager_id");
    }
    if let Some(day) = reader.day("startDate", creating, "Valid start date is required") {
        draft.start_date = Some(day);
        name("start_date");
    }
    if let Some(day) = reader.day(
        "expectedEndDate",
        creating,
        "Valid expected end date is required",
    ) {
        draft.expected_end_date = Some(day);
        name("expected_end_date");
    }
    if creating && !reader.has("fiberCount") {
        reader.reject("fiberCount", "Fiber count must be at least 1");
    }
    let count = |value: i64| i32::try_from(value).unwrap_or(i32::MAX);
    if let Some(fibers) = reader.int("fiberCount", 1, "Fiber count must be at least 1") {
        draft.fiber_count = count(fibers);
        name("fiber_count");
    }
    if let Some(splitters) = reader.int("splitterCount", 0, "Splitter count must not be negative") {
        draft.splitter_count = count(splitters);
        name("splitter_count");
    }
    if let Some(given) = reader.raw("equipment") {
        match equipment(given) {
            Some(items) => draft.equipment = items,
            None => reader.reject(
                "equipment",
                "Equipment must be a list of {name, model, serialNumber, status}",
            ),
        }
        name("equipment");
    }
    if let Some(notes) = reader.text("notes", false, "Notes must be a string") {
        draft.notes = notes;
        name("notes");
    }
    if let Some(progress) = reader.int("progress", 0, "Progress must be between 0 and 100") {
        draft.progress = count(progress);
        name("progress");
    }
    if reader.has("centerLat") || reader.has("centerLng") {
        draft.geofence_center_lat = reader.number("centerLat", "Latitude must be a number");
        draft.geofence_center_lng = reader.number("centerLng", "Longitude must be a number");
        name("geofence_center_lat");
        name("geofence_center_lng");
    }
    if let Some(radius) = reader.int("geofenceRadiusM", 1, "Geofence radius must be at least 1") {
        draft.geofence_radius_m = count(radius);
        name("geofence_radius_m");
    }
    reader.finish((draft, named))
}

fn equipment(value: &Value) -> Option<Vec<Equipment>> {
    let text = |item: &Map<String, Value>, key: &str| -> Option<String> {
        match item.get(key) {
            None | Some(Value::Null) => Some(String::new()),
            Some(Value::String(text)) => Some(text.trim().to_string()),
            Some(_) => None,
        }
    };
    value
        .as_array()?
        .iter()
        .map(|item| {
            let item = item.as_object()?;
            let status = match text(item, "status")?.as_str() {
                "" | "pending" => EquipmentStatus::Pending,
                "installed" => EquipmentStatus::Installed,
                "faulty" => EquipmentStatus::Faulty,
                "replaced" => EquipmentStatus::Replaced,
                _ => return None,
            };
            Some(Equipment {
                name: text(item, "name")?,
                model: text(item, "model")?,
                serial_number: text(item, "serialNumber")?,
                status,
            })
        })
        .collect()
}

async fn populated(state: &LegacyState, ctx: &RequestContext, pon: &Model) -> LegacyResult {
    let mut documents =
        pon_documents(state, ctx, std::slice::from_ref(pon), &["name", "email"]).await?;
    Ok(Json(documents.remove(0)).into_response())
}

/// The caller becomes the project manager, as in the Express API.
async fn create(State(state): State<LegacyState>, headers: HeaderMap, body: Bytes) -> LegacyResult {
    let ctx = authorize(&state, super::access::PONS_CREATE, &headers).await?;
    let (mut draft, _) = read_draft(&body_object(&body), true)?;
    // Only PUT sets the status, progress and geofence centre.
    draft.project_manager_id = ctx.user_id();
    draft.status = None;
    draft.progress = 0;
    draft.geofence_center_lat = None;
    draft.geofence_center_lng = None;
    let pon = state.pons.create(&ctx, draft).await.map_err(failed)?;
    populated(&state, &ctx, &pon).await
}

/// `$set` of the PON fields sent (`projectManager` cannot change here); the PON's project
/// manager or an admin.
async fn update(
    State(state): State<LegacyState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> LegacyResult {
    let ctx = authorize(&state, super::access::PONS_UPDATE, &headers).await?;
    let id = legacy_id(&id, NOT_FOUND)?;
    let current = state.pons.get_or_denied(&ctx, id).await.map_err(failed)?;
    let (draft, named) = read_draft(&body_object(&body), false)?;
    let pon = if named.is_empty() {
        current
    } else {
        state
            .pons
            .update(&ctx, id, draft, &named)
            .await
            .map_err(failed)?
    };
    populated(&state, &ctx, &pon).await
}

/// Deletes the PON and (by cascade) its tasks, photos and certificates, then the photos'
/// objects; the PON's project manager or an admin.
async fn remove(
    State(state): State<LegacyState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> LegacyResult {
    let ctx = authorize(&state, super::access::PONS_DELETE, &headers).await?;
    let id = legacy_id(&id, NOT_FOUND)?;
    state.pons.get_or_denied(&ctx, id).await.map_err(failed)?;
    state.photos.delete_pon(&ctx, id).await.map_err(failed)?;
    Ok(Json(json!({"message": "PON and associated tasks deleted"})).into_response())
}

/// Recomputes the progress from the tasks; any role, for a PON the caller may see.
async fn progress(
    State(state): State<LegacyState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> LegacyResult {
    let ctx = authorize(&state, super::access::PONS_READ, &headers).await?;
    let id = legacy_id(&id, NOT_FOUND)?;
    state
        .tasks
        .recompute_progress(&ctx, id)
        .await
        .map_err(failed)?;
    let pon = state.pons.get(&ctx, id).await.map_err(failed)?;
    populated(&state, &ctx, &pon).await
}

#[cfg(test)]
mod tests {
    /// Every field a legacy PUT may name is one the PON service updates.
    #[test]
    fn every_mapped_field_is_updatable() {
        for (ours, _) in super::FIELDS {
            assert!(
                crate::pons::service::UPDATABLE_FIELDS.contains(ours),
                "{ours}"
            );
        }
    }
}
