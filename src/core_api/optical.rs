//! `POST /optical` (core-api §3.10): one reading in the old `OpticalIn` body (`device_id`,
//! `pon_id`, `port`, `direction` `RX`/`TX` at the device, `dbm`, `read_at`) → `{"ok": true}`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use chrono::{DateTime, Utc};
use http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{CoreApi, Failure, parse_body};
use crate::error::{Violations, parse_id};
use crate::optical::model::{Direction, Source};
use crate::optical::service::{Candidate, ReadingDraft};
use crate::rpc;

/// The old `OpticalIn`.
#[derive(Deserialize)]
struct OpticalIn {
    device_id: Option<String>,
    pon_id: Option<String>,
    port: Option<String>,
    direction: Option<String>,
    dbm: Option<f64>,
    read_at: Option<String>,
}

pub async fn create(
    State(api): State<CoreApi>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, Failure> {
    let ctx = api
        .guard
        .context_for(rpc!("OpticalService/IngestOpticalReadings"), &headers)
        .await
        .map_err(Failure::service)?;
    let input = parse_body::<OpticalIn>(body)?;
    let mut bad = Violations::default();
    let device_id = match input.device_id.as_deref() {
        None => {
            bad.push("device_id", "field required");
            None
        }
        Some(text) => parse_id("device_id", text)
            .map_err(|err| bad.push("device_id", err.to_string()))
            .ok(),
    };
    let pon_id = bad.optional_uuid("pon_id", input.pon_id.as_deref().unwrap_or(""));
    for (field, missing) in [
        ("port", input.port.is_none()),
        ("direction", input.direction.is_none()),
        ("dbm", input.dbm.is_none()),
    ] {
        if missing {
            bad.push(field, "field required");
        }
    }
    let read_at = input.read_at.as_deref().and_then(|text| {
        DateTime::parse_from_rfc3339(text)
            .map(|time| time.with_timezone(&Utc))
            .map_err(|_| {
                bad.push(
                    "read_at",
                    format!("`{text}` is not an ISO-8601 time with offset"),
                )
            })
            .ok()
    });
    let (device_id, pon_id, read_at) = bad
        .finish((device_id, pon_id, read_at))
        .map_err(|err| Failure::invalid_body(err.to_string()))?;
    let device_id = device_id.unwrap_or_default();
    let text = input.direction.unwrap_or_default();
    let direction = match text.trim().to_ascii_uppercase().as_str() {
        "RX" => api.optical.direction_at(&ctx, device_id, true).await,
        "TX" => api.optical.direction_at(&ctx, device_id, false).await,
        other => Ok(Direction::parse(&other.to_ascii_lowercase())),
    }
    .map_err(Failure::service)?;
    let bad_request = |detail: String| Failure::new(StatusCode::BAD_REQUEST, detail);
    let Some(direction) = direction else {
        return Err(
            if matches!(text.trim().to_ascii_uppercase().as_str(), "RX" | "TX") {
                Failure::new(StatusCode::NOT_FOUND, "Device not found")
            } else {
                bad_request(format!(
                    "direction: `{text}` is not RX, TX, to_onu or to_olt"
                ))
            },
        );
    };
    let candidate = Candidate {
        draft: ReadingDraft {
            pon_id,
            device_id: Some(device_id),
            port: input.port.unwrap_or_default().trim().to_string(),
            direction: Some(direction),
            power_dbm: input.dbm,
            source: Source::Nms,
            taken_at: read_at,
            ..Default::default()
        },
        problems: Violations::default(),
    };
    let report = api
        .optical
        .ingest(&ctx, vec![candidate])
        .await
        .map_err(Failure::service)?;
    if let Some((_, problems)) = report.rejections.first() {
        let unknown_device = problems.iter().any(|p| p.field == "device_id");
        if unknown_device {
            return Err(Failure::new(StatusCode::NOT_FOUND, "Device not found"));
        }
        return Err(bad_request(
            problems
                .iter()
                .map(|p| {
                    let field = match p.field.as_str() {
                        "power_dbm" => "dbm",
                        "taken_at" => "read_at",
                        "onu_id" => "port",
                        other => other,
                    };
                    format!("{field}: {}", p.description)
                })
                .collect::<Vec<_>>()
                .join("; "),
        ));
    }
    Ok(Json(json!({"ok": true, "id": report.ids.first()})))
}
