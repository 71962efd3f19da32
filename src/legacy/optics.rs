//! `/api/optics`: ingest (one reading or an array; every rejected reading reported by index
//! instead of dropped silently), the query, and the evaluation, in the Express shapes (legacy §4.8).

use std::collections::HashMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use http::{HeaderMap, StatusCode};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::{LegacyError, LegacyResult, LegacyState, authorize, express_date, field_error};
use crate::error::{AppError, Violations};
use crate::optical::model::{Direction, Source, reading};
use crate::optical::service::{Candidate, ReadingDraft, ReadingFilter};

pub fn routes() -> axum::Router<LegacyState> {
    axum::Router::new()
        .route("/api/optics", get(list))
        .route("/api/optics/ingest", post(ingest))
        .route("/api/optics/evaluate", post(evaluate))
}

const NOT_FOUND: &str = "Not found";

/// The Mongo field name of a service field.
fn legacy_name(field: &str) -> &str {
    match field {
        "pon_id" => "pon",
        "device_id" => "device",
        "onu_id" => "onuId",
        "power_dbm" => "powerDbm",
        "olt_slot" => "oltSlot",
        "olt_port" => "oltPort",
        "taken_at" => "takenAt",
        other => other,
    }
}

/// Collects the problems of one legacy reading under its Mongo field names.
struct Reader<'a> {
    object: &'a Map<String, Value>,
    problems: Violations,
}

impl Reader<'_> {
    fn problem(&mut self, field: &str, description: &str) {
        // Under the service's names, like its own checks; the answer maps them back.
        self.problems.push(service_name(field), description);
    }

    fn text(&mut self, key: &str) -> String {
        match self.object.get(key) {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(text)) => text.trim().to_string(),
            Some(Value::Number(number)) => number.to_string(),
            Some(_) => {
                self.problem(key, "must be a string");
                String::new()
            }
        }
    }

    fn id(&mut self, key: &str) -> Option<Uuid> {
        let text = self.text(key);
        if text.is_empty() {
            return None;
        }
        Uuid::parse_str(&text)
            .map_err(|_| self.problem(key, &format!("`{text}` is not an id")))
            .ok()
    }
}

/// One legacy reading document as a candidate for the service.
fn candidate(value: &Value) -> Candidate {
    let empty = Map::new();
    let object = value.as_object().unwrap_or(&empty);
    let mut reader = Reader {
        object,
        problems: Violations::default(),
    };
    if !value.is_object() {
        reader.problem("reading", "must be an object");
    }
    let direction = match object.get("direction") {
        None | Some(Value::Null) => None,
        Some(given) => {
            let parsed = given.as_str().and_then(Direction::parse);
            if parsed.is_none() {
                reader.problem("direction", "must be to_onu or to_olt");
            }
            parsed
        }
    };
    let power_dbm = match object.get("powerDbm") {
        None | Some(Value::Null) => None,
        Some(given) => {
            let parsed = given
                .as_f64()
                .or_else(|| given.as_str().and_then(|text| text.trim().parse().ok()));
            if parsed.is_none() {
                reader.problem("powerDbm", "must be a number");
            }
            parsed
        }
    };
    let source = match object.get("source") {
        None | Some(Value::Null) => Source::Nms,
        Some(given) => given.as_str().and_then(Source::parse).unwrap_or_else(|| {
            reader.problem("source", "must be NMS, field or import");
            Source::Nms
        }),
    };
    let taken_at = match object.get("takenAt") {
        None | Some(Value::Null) => None,
        Some(given) => {
            let parsed = given.as_str().and_then(|text| {
                DateTime::parse_from_rfc3339(text.trim())
                    .ok()
                    .map(|time| time.with_timezone(&Utc))
            });
            if parsed.is_none() {
                reader.problem("takenAt", "must be an ISO-8601 date");
            }
            parsed
        }
    };
    let draft = ReadingDraft {
        pon_id: reader.id("pon"),
        device_id: reader.id("device"),
        onu_id: reader.text("onuId"),
        port: reader.text("port"),
        direction,
        power_dbm,
        olt_slot: reader.text("oltSlot"),
        olt_port: reader.text("oltPort"),
        vendor: reader.text("vendor"),
        model: reader.text("model"),
        source,
        taken_at,
    };
    Candidate {
        draft,
        problems: reader.problems,
    }
}

/// The service's name of a Mongo field (the inverse of [`legacy_name`]).
fn service_name(field: &str) -> &str {
    match field {
        "pon" => "pon_id",
        "device" => "device_id",
        "onuId" => "onu_id",
        "powerDbm" => "power_dbm",
        "oltSlot" => "olt_slot",
        "oltPort" => "olt_port",
        "takenAt" => "taken_at",
        other => other,
    }
}

/// `POST /api/optics/ingest`: `{inserted, rejected, errors: [{index, errors: [...]}]}`.
async fn ingest(State(state): State<LegacyState>, headers: HeaderMap, body: Bytes) -> LegacyResult {
    let ctx = authorize(&state, super::access::OPTICS_INGEST, &headers).await?;
    let readings = match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Array(items)) => items,
        Ok(item @ Value::Object(_)) => vec![item],
        _ => return Err(super::message(StatusCode::BAD_REQUEST, "Invalid readings")),
    };
    let candidates = readings.iter().map(candidate).collect();
    let report = state
        .optical
        .ingest(&ctx, candidates)
        .await
        .map_err(|err| match err {
            AppError::InvalidArgument(_) => {
                super::message(StatusCode::BAD_REQUEST, "Invalid readings")
            }
            other => LegacyError::from_app(other, NOT_FOUND),
        })?;
    let errors: Vec<Value> = report
        .rejections
        .iter()
        .map(|(index, problems)| {
            let reading = &readings[*index];
            json!({
                "index": index,
                "errors": problems
                    .iter()
                    .map(|p| {
                        let path = legacy_name(&p.field);
                        field_error(path, reading.get(path), &p.description)
                    })
                    .collect::<Vec<_>>(),
            })
        })
        .collect();
    Ok(Json(json!({
        "inserted": report.ids.len(),
        "rejected": report.rejections.len(),
        "errors": errors,
    }))
    .into_response())
}

/// Query-string ids the Express API would have cast: a bad one is named, not a 500.
fn query_filter(
    params: &HashMap<String, String>,
    default_days: i32,
) -> Result<ReadingFilter, LegacyError> {
    let mut errors = Vec::new();
    let mut id = |key: &str| {
        let text = params.get(key).map(|text| text.trim()).unwrap_or("");
        if text.is_empty() {
            return None;
        }
        Uuid::parse_str(text)
            .map_err(|_| {
                errors.push(json!({"type": "field", "value": text, "msg": "is not an id", "path": key, "location": "query"}));
            })
            .ok()
    };
    let pon_id = id("pon");
    let device_id = id("device");
    let direction = match params.get("direction").map(|text| text.trim()) {
        None | Some("") => None,
        Some(text) => match Direction::parse(text) {
            Some(direction) => Some(direction),
            None => {
                errors.push(json!({"type": "field", "value": text, "msg": "must be to_onu or to_olt", "path": "direction", "location": "query"}));
                None
            }
        },
    };
    if !errors.is_empty() {
        return Err(LegacyError::new(
            (StatusCode::BAD_REQUEST, Json(json!({"errors": errors}))).into_response(),
        ));
    }
    Ok(ReadingFilter {
        pon_id,
        device_id,
        onu_id: params
            .get("onuId")
            .map(|text| text.trim().to_string())
            .filter(|text| !text.is_empty()),
        direction,
        days: legacy_days(params.get("days").map(String::as_str), default_days),
    })
}

/// `days` as the old API read it: a non-numeric value is the default; bounded to the service's range.
fn legacy_days(text: Option<&str>, default: i32) -> i32 {
    text.and_then(|text| text.trim().parse::<f64>().ok())
        .filter(|days| days.is_finite() && *days >= 1.0)
        .map_or(default, |days| days.min(365.0) as i32)
}

fn document(row: &reading::Model) -> Value {
    let mut document = json!({
        "_id": row.id.to_string(),
        "direction": row.direction,
        "powerDbm": row.power_dbm,
        "source": row.source,
        "takenAt": express_date(row.taken_at),
        "createdAt": express_date(row.created_at),
        "updatedAt": express_date(row.created_at),
        "__v": 0,
    });
    let optional = [
        (
            "pon",
            row.pon_id.map(|id| id.to_string()).unwrap_or_default(),
        ),
        (
            "device",
            row.device_id.map(|id| id.to_string()).unwrap_or_default(),
        ),
        ("onuId", row.onu_id.clone()),
        ("port", row.port.clone()),
        ("oltSlot", row.olt_slot.clone()),
        ("oltPort", row.olt_port.clone()),
        ("vendor", row.vendor.clone()),
        ("model", row.model.clone()),
    ];
    for (key, value) in optional {
        if !value.is_empty() {
            document[key] = json!(value);
        }
    }
    document
}

/// `GET /api/optics?pon=&onuId=&device=&direction=&days=`: newest first, at most 5000.
async fn list(
    State(state): State<LegacyState>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> LegacyResult {
    let ctx = authorize(&state, super::access::OPTICS_LIST, &headers).await?;
    let filter = query_filter(&params, 7)?;
    let rows = state
        .optical
        .list(&ctx, &filter, 0)
        .await
        .map_err(|err| LegacyError::from_app(err, NOT_FOUND))?;
    Ok(Json(rows.iter().map(document).collect::<Vec<_>>()).into_response())
}

/// `POST /api/optics/evaluate` `{pon?, onuId?, days = 1}` → `{alerts: [...]}`.
async fn evaluate(
    State(state): State<LegacyState>,
    headers: HeaderMap,
    body: Bytes,
) -> LegacyResult {
    let ctx = authorize(&state, super::access::OPTICS_EVALUATE, &headers).await?;
    let body = super::body_object(&body);
    let mut params = HashMap::new();
    for key in ["pon", "onuId", "days"] {
        match body.get(key) {
            Some(Value::String(text)) => {
                params.insert(key.to_string(), text.clone());
            }
            Some(Value::Number(number)) => {
                params.insert(key.to_string(), number.to_string());
            }
            _ => {}
        }
    }
    let filter = query_filter(&params, 1)?;
    let filter = ReadingFilter {
        days: filter.days.min(90),
        ..filter
    };
    let alerts = state
        .optical
        .evaluate(&ctx, &filter, false)
        .await
        .map_err(|err| LegacyError::from_app(err, NOT_FOUND))?;
    let alerts: Vec<Value> = alerts
        .iter()
        .map(|alert| {
            let mut entry = json!({
                "key": alert.key,
                "last": alert.last_dbm,
                "delta": alert.delta_db,
                "severity": alert.severity.as_str(),
                "direction": alert.direction.as_str(),
            });
            if !alert.onu_id.is_empty() {
                entry["onuId"] = json!(alert.onu_id);
            }
            entry
        })
        .collect();
    Ok(Json(json!({ "alerts": alerts })).into_response())
}
