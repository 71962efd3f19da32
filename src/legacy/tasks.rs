//! `/api/tasks`: the Express task routes (role-scoped list with `ui.breachedBadge`, create,
//! `PUT /:id/status`, `PATCH /:id`) over the task service and its state machine.

use std::collections::HashMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::response::IntoResponse;
use axum::routing::{get, patch, put};
use chrono::{DateTime, NaiveDate, Utc};
use http::{HeaderMap, StatusCode};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::body::{BodyReader, Due};
use super::{
    LegacyError, LegacyResult, LegacyState, Users, authorize, body_object, express_date, legacy_id,
    message, populated_user, renamed, users_named,
};
use crate::context::RequestContext;
use crate::error::AppError;
use crate::pons::model as pon;
use crate::tasks::model::{self, Status, legacy_type};
use crate::tasks::service::{TaskDraft, TaskFilter, Transition};

const NOT_FOUND: &str = "Task not found";

/// Our field names and the Express body's.
const FIELDS: &[(&str, &str)] = &[
    ("pon_id", "pon"),
    ("step", "type"),
    ("assignee_id", "assignedTo"),
    ("organization_id", "organization"),
    ("due_date", "dueDate"),
    ("estimated_hours", "estimatedHours"),
    ("actual_hours", "actualHours"),
    ("evidence_required", "evidenceRequired"),
    ("sla_minutes", "slaMinutes"),
];

pub fn routes() -> axum::Router<LegacyState> {
    axum::Router::new()
        .route("/api/tasks", get(list).post(create))
        .route("/api/tasks/{id}/status", put(set_status))
        .route("/api/tasks/{id}", patch(update))
}

fn failed(err: AppError) -> LegacyError {
    LegacyError::from_app(renamed(err, FIELDS), NOT_FOUND)
}

/// The Mongo task document. With `pons`, the PON and the creator are populated too (list and
/// create); without, they stay ids (inside `GET /api/pons/:id`). `ui` adds the list's badge.
pub fn task_document(
    task: &model::Model,
    users: &Users,
    pons: Option<&HashMap<Uuid, pon::Model>>,
    ui: bool,
) -> Value {
    let mut document = Map::new();
    let mut put = |key: &str, value: Value| {
        document.insert(key.to_string(), value);
    };
    let id = |id: Option<Uuid>| id.map_or(Value::Null, |id| json!(id.to_string()));
    put("_id", json!(task.id.to_string()));
    put("title", json!(task.title));
    if !task.description.is_empty() {
        put("description", json!(task.description));
    }
    put("type", json!(legacy_type(&task.step)));
    put(
        "assignedTo",
        populated_user(users, task.assignee_id, &["name", "email"]),
    );
    match pons {
        Some(pons) => {
            let populated = pons.get(&task.pon_id).map_or(Value::Null, |pon| {
                json!({
                    "_id": pon.id.to_string(),
                    "ponId": pon.pon_code,
                    "name": pon.name,
                    "location": pon.location,
                })
            });
            put("pon", populated);
            put(
                "createdBy",
                populated_user(users, task.created_by, &["name", "email"]),
            );
        }
        None => {
            put("pon", json!(task.pon_id.to_string()));
            put("createdBy", id(task.created_by));
        }
    }
    if task.organization_id.is_some() {
        put("organization", id(task.organization_id));
    }
    put("priority", json!(task.priority));
    put("status", json!(task.status));
    if let Some(started) = task.started_at {
        put("startDate", json!(express_date(started)));
    }
    if let Some(completed) = task.completed_at {
        put("completedDate", json!(express_date(completed)));
    }
    if let Some(due) = task.due_at {
        put("dueDate", json!(express_date(due)));
    }
    if let Some(hours) = task.estimated_hours {
        put("estimatedHours", json!(hours));
    }
    if let Some(hours) = task.actual_hours {
        put("actualHours", json!(hours));
    }
    put("evidenceRequired", json!(task.evidence_required));
    put("evidencePhotos", json!([]));
    let mut sla = json!({"enabled": true});
    let target = task.sla_due_at.or(task.due_at).map(express_date);
    for (key, value) in [
        ("targetAt", target),
        (
            "warningNotifiedAt",
            task.sla_warning_notified_at.map(express_date),
        ),
        (
            "breachNotifiedAt",
            task.sla_breach_notified_at.map(express_date),
        ),
    ] {
        if let Some(value) = value {
            sla[key] = json!(value);
        }
    }
    put("sla", sla);
    if !task.notes.is_empty() {
        put("notes", json!(task.notes));
    }
    let dependencies: Vec<String> = task
        .dependencies()
        .iter()
        .map(ToString::to_string)
        .collect();
    put("dependencies", json!(dependencies));
    if let Some(minutes) = task.sla_minutes {
        put("slaMinutes", json!(minutes));
    }
    if let Some(due) = task.sla_due_at {
        put("slaDueAt", json!(express_date(due)));
    }
    put("breached", json!(task.breached));
    put("createdAt", json!(express_date(task.created_at)));
    put("updatedAt", json!(express_date(task.updated_at)));
    put("__v", json!(0));
    if ui {
        put("ui", json!({"breachedBadge": task.breached}));
    }
    Value::Object(document)
}

/// Task documents with their PON, assignee and creator populated.
pub async fn task_documents(
    state: &LegacyState,
    ctx: &RequestContext,
    tasks: &[model::Model],
    ui: bool,
) -> Result<Vec<Value>, LegacyError> {
    let mut pon_ids: Vec<Uuid> = tasks.iter().map(|task| task.pon_id).collect();
    pon_ids.sort();
    pon_ids.dedup();
    let pons = state.pons.named(ctx, &pon_ids).await.map_err(failed)?;
    let users = users_named(
        state,
        ctx,
        tasks
            .iter()
            .flat_map(|task| [task.assignee_id, task.created_by]),
    )
    .await?;
    Ok(tasks
        .iter()
        .map(|task| task_document(task, &users, Some(&pons), ui))
        .collect())
}

/// Every task matching `filter` that the caller may see.
pub async fn all_tasks(
    state: &LegacyState,
    ctx: &RequestContext,
    filter: &TaskFilter,
) -> Result<Vec<model::Model>, LegacyError> {
    state.tasks.list_all(ctx, filter).await.map_err(failed)
}

/// By due time, unset first (as Mongo sorts), then by id.
pub fn by_due_date(tasks: &mut [model::Model]) {
    tasks.sort_by_key(|task| (task.due_at, task.id));
}

/// Filters `status`, `type`, `pon` and `breached=true`; by due date.
async fn list(
    State(state): State<LegacyState>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> LegacyResult {
    let ctx = authorize(&state, super::access::TASKS_LIST, &headers).await?;
    let status = match query.get("status") {
        Some(text) => Some(
            Status::parse(text)
                .ok_or_else(|| message(StatusCode::BAD_REQUEST, "Invalid status"))?,
        ),
        None => None,
    };
    let pon_id = match query.get("pon") {
        Some(text) => Some(
            Uuid::parse_str(text)
                .map_err(|_| message(StatusCode::BAD_REQUEST, "Invalid PON id"))?,
        ),
        None => None,
    };
    let filter = TaskFilter {
        pon_id,
        status,
        step: query.get("type").cloned(),
        ..TaskFilter::default()
    };
    let mut tasks = all_tasks(&state, &ctx, &filter).await?;
    if query.get("breached").map(String::as_str) == Some("true") {
        tasks.retain(|task| task.breached);
    }
    by_due_date(&mut tasks);
    Ok(Json(task_documents(&state, &ctx, &tasks, true).await?).into_response())
}

async fn populated(state: &LegacyState, ctx: &RequestContext, task: &model::Model) -> LegacyResult {
    let mut documents = task_documents(state, ctx, std::slice::from_ref(task), false).await?;
    Ok(Json(documents.remove(0)).into_response())
}

/// The task fields of an Express body (`status` is left to the state machine).
fn read_draft(body: &Map<String, Value>) -> Result<TaskDraft, LegacyError> {
    let mut reader = BodyReader::new(body);
    let title = reader.text("title", true, "Title is required");
    let step = reader.text("type", true, "Valid task type is required");
    if let Some(step) = &step
        && model::canonical_step(step).is_none()
    {
        reader.reject("type", "Valid task type is required");
    }
    let pon_id = reader.required_id("pon", "Valid PON ID is required");
    let assignee = reader.required_id("assignedTo", "Valid assignee ID is required");
    let (due_date, due_at) = match reader.due("dueDate", true, "Valid due date is required") {
        Due::None => (None, None),
        Due::Day(day) => (Some(day), None),
        Due::At(at) => (None, Some(at)),
    };
    // The old API stored any status sent; here every task starts pending and then moves
    // through the state machine.
    if reader.has("status") && reader.raw("status") != Some(&json!("pending")) {
        reader.reject(
            "status",
            "A task starts pending; change it through PUT /api/tasks/:id/status",
        );
    }
    let organization_id = reader
        .id("organization", "Valid organization ID is required")
        .flatten();
    let mut dependencies = Vec::new();
    match reader.raw("dependencies") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            for item in items {
                match item.as_str().map(Uuid::parse_str) {
                    Some(Ok(id)) => dependencies.push(id),
                    _ => reader.reject("dependencies", "Dependencies must be task IDs"),
                }
            }
        }
        Some(_) => reader.reject("dependencies", "Dependencies must be task IDs"),
    }
    let sla_minutes = reader
        .int("slaMinutes", 1, "SLA minutes must be at least 1")
        .map(|minutes| i32::try_from(minutes).unwrap_or(i32::MAX));
    let draft = TaskDraft {
        pon_id,
        title: title.unwrap_or_default(),
        description: reader
            .text("description", false, "Description must be a string")
            .unwrap_or_default(),
        step: step.unwrap_or_default(),
        priority: reader
            .text("priority", false, "Priority must be a string")
            .unwrap_or_default(),
        assignee_id: assignee,
        organization_id,
        due_date,
        due_at,
        estimated_hours: reader.number("estimatedHours", "Estimated hours must be a number"),
        actual_hours: reader.number("actualHours", "Actual hours must be a number"),
        notes: reader
            .text("notes", false, "Notes must be a string")
            .unwrap_or_default(),
        dependencies,
        evidence_required: reader
            .flag(
                "evidenceRequired",
                "Evidence required must be true or false",
            )
            .unwrap_or(false),
        sla_minutes,
    };
    reader.finish(draft)
}

/// Creates a task on a PON that the caller manages (or any, as an admin).
async fn create(State(state): State<LegacyState>, headers: HeaderMap, body: Bytes) -> LegacyResult {
    let ctx = authorize(&state, super::access::TASKS_CREATE, &headers).await?;
    let draft = read_draft(&body_object(&body))?;
    if let Some(pon_id) = draft.pon_id {
        state
            .pons
            .get_or_denied(&ctx, pon_id)
            .await
            .map_err(|err| LegacyError::from_app(err, "PON not found"))?;
    }
    let task = state.tasks.create(&ctx, draft).await.map_err(failed)?;
    populated(&state, &ctx, &task).await
}

fn status_of(body: &Map<String, Value>) -> Result<Status, LegacyError> {
    body.get("status")
        .and_then(Value::as_str)
        .and_then(Status::parse)
        .ok_or_else(|| message(StatusCode::BAD_REQUEST, "Invalid status"))
}

/// Moves the task to `{status}` through the state machine (times set by the service).
async fn set_status(
    State(state): State<LegacyState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> LegacyResult {
    let ctx = authorize(&state, super::access::TASKS_MOVE, &headers).await?;
    let status = status_of(&body_object(&body))?;
    let id = legacy_id(&id, NOT_FOUND)?;
    let change = Transition {
        status,
        started_at: None,
        completed_at: None,
    };
    let task = state
        .tasks
        .transition(&ctx, id, change)
        .await
        .map_err(failed)?;
    populated(&state, &ctx, &task).await
}

/// A time of work: ISO-8601 with offset, or a day (midnight UTC).
fn moment(body: &Map<String, Value>, key: &str) -> Result<Option<DateTime<Utc>>, LegacyError> {
    let invalid = || message(StatusCode::BAD_REQUEST, &format!("Invalid {key}"));
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => DateTime::parse_from_rfc3339(text.trim())
            .map(|time| time.to_utc())
            .or_else(|_| {
                NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
                    .map(|day| day.and_time(chrono::NaiveTime::MIN).and_utc())
            })
            .map(Some)
            .map_err(|_| invalid()),
        Some(_) => Err(invalid()),
    }
}

/// `{status, started_at?, completed_at?}`: the move with explicit times; SLA due time and
/// breach follow from the service (the legacy quirks of §9 item 2 fixed).
async fn update(
    State(state): State<LegacyState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> LegacyResult {
    let ctx = authorize(&state, super::access::TASKS_MOVE, &headers).await?;
    let body = body_object(&body);
    let status = status_of(&body)?;
    let id = legacy_id(&id, NOT_FOUND)?;
    state.tasks.get(&ctx, id).await.map_err(failed)?;
    let change = Transition {
        status,
        started_at: moment(&body, "started_at")?,
        completed_at: moment(&body, "completed_at")?,
    };
    let task = state
        .tasks
        .transition(&ctx, id, change)
        .await
        .map_err(failed)?;
    populated(&state, &ctx, &task).await
}
