//! `/api/reports`: dashboard counts, PON and task report lists and the PON CSV export with
//! the Express shapes, over the report service (`/api/reports/ops` lives elsewhere).

use axum::Json;
use axum::extract::{Path, State};
use axum::response::IntoResponse;
use axum::routing::get;
use http::{HeaderMap, StatusCode, header};
use serde_json::{Value, json};

use super::pons::pon_documents;
use super::tasks::task_documents;
use super::{LegacyError, LegacyResult, LegacyState, authorize, message};
use crate::reports::service::PON_CSV_FILENAME;

/// The fields of the old `/reports/pons` projection (managers are populated).
const PON_FIELDS: &[&str] = &[
    "_id",
    "ponId",
    "name",
    "location",
    "status",
    "progress",
    "startDate",
    "expectedEndDate",
    "actualEndDate",
    "projectManager",
    "siteManager",
];

/// The fields of the old `/reports/tasks` projection (PON and users are populated).
const TASK_FIELDS: &[&str] = &[
    "_id",
    "title",
    "type",
    "status",
    "priority",
    "dueDate",
    "completedDate",
    "estimatedHours",
    "actualHours",
    "evidenceRequired",
    "evidencePhotos",
    "pon",
    "assignedTo",
    "createdBy",
];

pub fn routes() -> axum::Router<LegacyState> {
    axum::Router::new()
        .route("/api/reports/dashboard", get(dashboard))
        .route("/api/reports/pons", get(pons))
        .route("/api/reports/tasks", get(tasks))
        .route("/api/reports/export/{kind}", get(export))
}

fn failed(err: crate::error::AppError) -> LegacyError {
    LegacyError::from_app(err, "Not found")
}

/// Keeps only the projected fields of a document.
fn projected(mut document: Value, fields: &[&str]) -> Value {
    if let Value::Object(object) = &mut document {
        object.retain(|key, _| fields.contains(&key.as_str()));
    }
    document
}

async fn dashboard(State(state): State<LegacyState>, headers: HeaderMap) -> LegacyResult {
    let ctx = authorize(&state, super::access::REPORTS_DASHBOARD, &headers).await?;
    let counts = state.reports.dashboard(&ctx).await.map_err(failed)?;
    Ok(Json(json!({
        "pons": {
            "total": counts.pons.total,
            "completed": counts.pons.completed,
            "inProgress": counts.pons.in_progress,
            "planned": counts.pons.planned,
        },
        "tasks": {
            "total": counts.tasks.total,
            "completed": counts.tasks.completed,
            "pending": counts.tasks.pending,
            "overdue": counts.tasks.overdue,
        },
    }))
    .into_response())
}

async fn pons(State(state): State<LegacyState>, headers: HeaderMap) -> LegacyResult {
    let ctx = authorize(&state, super::access::REPORTS_PONS, &headers).await?;
    let pons = state.reports.pons(&ctx).await.map_err(failed)?;
    let documents = pon_documents(&state, &ctx, &pons, &["name", "email"]).await?;
    Ok(Json(
        documents
            .into_iter()
            .map(|document| projected(document, PON_FIELDS))
            .collect::<Vec<_>>(),
    )
    .into_response())
}

async fn tasks(State(state): State<LegacyState>, headers: HeaderMap) -> LegacyResult {
    let ctx = authorize(&state, super::access::REPORTS_TASKS, &headers).await?;
    let tasks = state.reports.tasks(&ctx).await.map_err(failed)?;
    let documents = task_documents(&state, &ctx, &tasks, false).await?;
    Ok(Json(
        documents
            .into_iter()
            .map(|document| {
                let mut document = projected(document, TASK_FIELDS);
                if let Some(pon) = document["pon"].as_object_mut() {
                    pon.remove("location");
                }
                document
            })
            .collect::<Vec<_>>(),
    )
    .into_response())
}

/// Only `pons` can be exported.
async fn export(
    State(state): State<LegacyState>,
    headers: HeaderMap,
    Path(kind): Path<String>,
) -> LegacyResult {
    let ctx = authorize(&state, super::access::REPORTS_EXPORT, &headers).await?;
    if kind != "pons" {
        return Err(message(StatusCode::BAD_REQUEST, "Invalid export type"));
    }
    let csv = state.reports.pon_csv(&ctx).await.map_err(failed)?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename={PON_CSV_FILENAME}"),
            ),
        ],
        csv,
    )
        .into_response())
}
