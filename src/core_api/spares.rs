//! `POST /spares/issue` and `POST /spares/return` (core-api §3.15): the old body
//! (`store_id`, `sku`, `qty`, `incident_id`, `notes`) and `{"ok": true}` answer, served by the
//! spares service with the old 400 `qty must be positive` / `insufficient stock` refusals.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{CoreApi, Failure, parse_body};
use crate::error::AppError;
use crate::error::{Violations, parse_id};
use crate::rpc;
use crate::spares::service::{Direction, Move};

/// The old `StockMoveIn`.
#[derive(Deserialize)]
struct StockMoveIn {
    store_id: Option<String>,
    sku: Option<String>,
    qty: Option<i64>,
    incident_id: Option<String>,
    notes: Option<String>,
}

impl StockMoveIn {
    fn into_move(self) -> Result<Move, Failure> {
        let mut bad = Violations::default();
        let store_id = match self.store_id.as_deref() {
            None => {
                bad.push("store_id", "field required");
                None
            }
            Some(text) => parse_id("store_id", text)
                .map_err(|err| bad.push("store_id", description(err)))
                .ok(),
        };
        if self.sku.is_none() {
            bad.push("sku", "field required");
        }
        if self.qty.is_none() {
            bad.push("qty", "field required");
        }
        let incident_id =
            bad.optional_uuid("incident_id", self.incident_id.as_deref().unwrap_or(""));
        let store_id = bad
            .finish(store_id)
            .map_err(|err| Failure::invalid_body(err.to_string()))?;
        let quantity = self.qty.unwrap_or_default();
        if quantity <= 0 {
            return Err(Failure::new(
                StatusCode::BAD_REQUEST,
                "qty must be positive",
            ));
        }
        Ok(Move {
            store_id: store_id.unwrap_or_default(),
            sku: self.sku.unwrap_or_default(),
            quantity,
            incident_id,
            reason: self.notes.unwrap_or_default(),
        })
    }
}

/// The service's field names as the old body spelled them.
fn old_field(field: &str) -> &str {
    match field {
        "quantity" => "qty",
        "reason" => "notes",
        other => other,
    }
}

fn description(err: AppError) -> String {
    match err {
        AppError::InvalidArgument(violations) => violations
            .into_iter()
            .map(|v| v.description)
            .collect::<Vec<_>>()
            .join("; "),
        other => other.to_string(),
    }
}

pub async fn issue(
    State(api): State<CoreApi>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, Failure> {
    move_stock(api, headers, body, Direction::Issue).await
}

pub async fn return_stock(
    State(api): State<CoreApi>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, Failure> {
    move_stock(api, headers, body, Direction::Return).await
}

async fn move_stock(
    api: CoreApi,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
    direction: Direction,
) -> Result<Json<Value>, Failure> {
    let method = match direction {
        Direction::Issue => rpc!("SpareService/IssueSpare"),
        Direction::Return => rpc!("SpareService/ReturnSpare"),
    };
    let ctx = api
        .guard
        .context_for(method, &headers)
        .await
        .map_err(Failure::service)?;
    let change = parse_body::<StockMoveIn>(body)?.into_move()?;
    let moved = match direction {
        Direction::Issue => api.spares.issue(&ctx, change).await,
        Direction::Return => api.spares.return_stock(&ctx, change).await,
    }
    .map_err(|err| match err {
        AppError::NotFound(_) => Failure::new(StatusCode::NOT_FOUND, "Store not found"),
        AppError::InvalidArgument(violations) => Failure::new(
            StatusCode::BAD_REQUEST,
            violations
                .iter()
                .map(|v| format!("{}: {}", old_field(&v.field), v.description))
                .collect::<Vec<_>>()
                .join("; "),
        ),
        other => Failure::service(other),
    })?;
    Ok(Json(json!({
        "ok": true,
        "movement_id": moved.id,
        "level": moved.quantity_after,
    })))
}
