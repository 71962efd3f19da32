//! `PATCH /tasks/{task_id}` and the work queue at `GET /tasks/work-queue` and `GET /work-queue`
//! (core-api §3.2): the old bodies, headers and answers, served by the tasks service.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use chrono::{DateTime, Utc};
use http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{CoreApi, Failure, parse_body};
use crate::error::AppError;
use crate::error::{Violations, parse_id};
use crate::rpc;
use crate::tasks::model::Status;
use crate::tasks::service::Transition;

/// The old `TaskUpdateIn`; the status is required here, as no other change is possible.
#[derive(Deserialize)]
struct TaskUpdateIn {
    status: Option<String>,
    started_at: Option<String>,
    completed_at: Option<String>,
}

/// The core API's status names: `Pending`, `In Progress` and `Done` as the FastAPI rows
/// carried them, and the two statuses it never had in the same spelling.
const CORE_STATUSES: [(Status, &str); 5] = [
    (Status::Pending, "Pending"),
    (Status::InProgress, "In Progress"),
    (Status::Completed, "Done"),
    (Status::OnHold, "On Hold"),
    (Status::Cancelled, "Cancelled"),
];

/// A status in the core vocabulary.
fn core_status(status: Status) -> &'static str {
    CORE_STATUSES
        .iter()
        .find(|(known, _)| *known == status)
        .map_or(status.as_str(), |(_, name)| name)
}

/// The old status names and ours.
fn old_status(text: &str) -> Option<Status> {
    let text = text.trim();
    CORE_STATUSES
        .iter()
        .find(|(_, name)| *name == text)
        .map(|(status, _)| *status)
        .or_else(|| Status::parse(text))
}

fn time(bad: &mut Violations, field: &str, text: Option<&str>) -> Option<DateTime<Utc>> {
    let text = text?;
    DateTime::parse_from_rfc3339(text)
        .map(|time| time.with_timezone(&Utc))
        .map_err(|_| {
            bad.push(
                field,
                format!("`{text}` is not an ISO-8601 time with offset"),
            )
        })
        .ok()
}

impl TaskUpdateIn {
    fn into_transition(self) -> Result<Transition, AppError> {
        let mut bad = Violations::default();
        let status = match self.status.as_deref() {
            None => {
                bad.push("status", "field required");
                None
            }
            Some(text) => old_status(text).or_else(|| {
                bad.push(
                    "status",
                    format!("`{text}` is not one of Pending, In Progress, Done"),
                );
                None
            }),
        };
        let started_at = time(&mut bad, "started_at", self.started_at.as_deref());
        let completed_at = time(&mut bad, "completed_at", self.completed_at.as_deref());
        let (status, started_at, completed_at) = bad.finish((status, started_at, completed_at))?;
        Ok(Transition {
            status: status.unwrap_or(Status::Pending),
            started_at,
            completed_at,
        })
    }
}

pub async fn update_task(
    State(api): State<CoreApi>,
    Path(task_id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, Failure> {
    let ctx = api
        .guard
        .context_for(rpc!("TaskService/TransitionTask"), &headers)
        .await
        .map_err(Failure::service)?;
    let id = parse_id("task_id", &task_id).map_err(|err| Failure::invalid_body(err.to_string()))?;
    let change = parse_body::<TaskUpdateIn>(body)?
        .into_transition()
        .map_err(|err| Failure::invalid_body(err.to_string()))?;
    let task = api
        .tasks
        .transition(&ctx, id, change)
        .await
        .map_err(|err| match err {
            AppError::NotFound(_) => Failure::not_found(),
            other => Failure::service(other),
        })?;
    Ok(Json(json!({
        "ok": true,
        "breached": task.breached,
        "sla_due_at": task.sla_due_at.map(|due| due.to_rfc3339()),
    })))
}

/// `GET /tasks/work-queue` and `GET /work-queue`: the queue of the organization in `X-Org-Id`
/// (of the caller's tenant; SMME callers only their own), `[]` for `X-Role: SalesAgent`.
pub async fn work_queue(
    State(api): State<CoreApi>,
    headers: HeaderMap,
) -> Result<Json<Value>, Failure> {
    let ctx = api
        .guard
        .context_for(rpc!("TaskService/ListWorkQueue"), &headers)
        .await
        .map_err(Failure::service)?;
    let bad_request = |detail: &str| Failure::new(StatusCode::BAD_REQUEST, detail);
    let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    let org_id = header("x-org-id").ok_or_else(|| bad_request("X-Org-Id required"))?;
    if header("x-role") == Some("SalesAgent") {
        return Ok(Json(json!([])));
    }
    let organization_id =
        uuid::Uuid::parse_str(org_id.trim()).map_err(|_| bad_request("Invalid X-Org-Id"))?;
    let tasks = api
        .tasks
        .whole_work_queue(&ctx, organization_id)
        .await
        .map_err(Failure::service)?;
    Ok(Json(Value::Array(
        tasks
            .iter()
            .map(|task| {
                json!({
                    "id": task.id,
                    "pon_id": task.pon_id,
                    "step": task.step,
                    "status": core_status(task.status()),
                    "sla_due_at": task.sla_due_at.map(|due| due.to_rfc3339()),
                })
            })
            .collect(),
    )))
}
