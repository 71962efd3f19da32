//! Incident bodies and documents of the two old JSON dialects (core: `severity`, `nms_ref`,
//! `ack_at`, `due_at`; legacy: `_id`, `priority`, camelCase, `closureGps`), one draft and one row.

use serde_json::{Map, Value, json};

use super::model::{Category, ClosurePhoto, Model};
use super::service::{Closure, IncidentDraft};
use crate::devices::json::{Dialect, Reader, absent_is_null, time};
use crate::error::AppResult;

fn key(dialect: Dialect, core: &'static str, legacy: &'static str) -> &'static str {
    match dialect {
        Dialect::Core => core,
        Dialect::Legacy => legacy,
    }
}

/// An incident draft and the fields present in a body.
pub fn draft(
    body: &Map<String, Value>,
    dialect: Dialect,
) -> AppResult<(IncidentDraft, Vec<String>)> {
    let mut read = Reader::new(body);
    let draft = IncidentDraft {
        title: read.text("title", "title").unwrap_or_default(),
        description: read.text("description", "description").unwrap_or_default(),
        severity: read
            .text(key(dialect, "severity", "priority"), "severity")
            .unwrap_or_default(),
        category: read.text("category", "category").unwrap_or_default(),
        device_id: read.uuid(key(dialect, "device_id", "device"), "device_id"),
        pon_id: read.uuid(key(dialect, "pon_id", "pon"), "pon_id"),
        ward: read.text("ward", "ward").unwrap_or_default(),
        site: read.text("site", "site").unwrap_or_default(),
        related_onu_id: read
            .text(
                key(dialect, "related_onu_id", "relatedOnuId"),
                "related_onu_id",
            )
            .unwrap_or_default(),
        opened_at: read.time(key(dialect, "opened_at", "openedAt"), "opened_at"),
    };
    read.finish(draft)
}

/// The legacy close body: `rootCause`, `fixCode`, `closureNotes`, `closureGps{latitude,longitude}`
/// and `closurePhotos[{filename,url,objectKey}]` (the object key defaults to the filename).
pub fn legacy_closure(body: &Map<String, Value>) -> Closure {
    let text = |key: &str| {
        body.get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let gps = |key: &str| {
        body.get("closureGps")
            .and_then(|gps| gps.get(key))
            .and_then(Value::as_f64)
    };
    let photos = body
        .get("closurePhotos")
        .and_then(Value::as_array)
        .map(|photos| {
            photos
                .iter()
                .map(|photo| {
                    let field = |key: &str| {
                        photo
                            .get(key)
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_string()
                    };
                    let filename = field("filename");
                    let object_key = Some(field("objectKey"))
                        .filter(|key| !key.is_empty())
                        .unwrap_or_else(|| filename.clone());
                    ClosurePhoto {
                        object_key,
                        filename,
                        url: field("url"),
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    Closure {
        root_cause: text("rootCause"),
        fix_code: text("fixCode"),
        notes: text("closureNotes"),
        lat: gps("latitude"),
        lng: gps("longitude"),
        photos,
    }
}

/// The incident as the old API returned it.
pub fn document(row: &Model, dialect: Dialect) -> Value {
    match dialect {
        Dialect::Core => json!({
            "id": row.id,
            "title": row.title,
            "severity": row.severity,
            "category": row.category().core_name(),
            "description": absent_is_null(&row.description),
            "pon_id": row.pon_id,
            "device_id": row.device_id,
            "nms_ref": (!row.nms_source.is_empty())
                .then(|| format!("{}:{}", row.nms_source.to_lowercase(), row.nms_event_id)),
            "status": row.status().core_name(),
            "opened_at": time(Some(row.opened_at)),
            "ack_at": time(row.acknowledged_at),
            "resolved_at": time(row.resolved_at),
            "closed_at": time(row.closed_at),
            "root_cause": absent_is_null(&row.root_cause),
            "fix_code": absent_is_null(&row.fix_code),
            "assigned_org_id": row.assigned_org_id,
            "severity_sla_minutes": (row.restore_by - row.opened_at).num_minutes(),
            "due_at": time(Some(row.restore_by)),
            "lat": row.lat,
            "lng": row.lng,
        }),
        Dialect::Legacy => json!({
            "_id": row.id,
            "title": row.title,
            "description": row.description,
            "priority": row.severity,
            "category": Category::parse(&row.category).map_or("other", Category::as_str),
            "status": row.status,
            "ward": row.ward,
            "site": row.site,
            "pon": row.pon_id,
            "device": row.device_id,
            "relatedOnuId": row.related_onu_id,
            "nmsSource": row.nms_source,
            "nmsEventId": row.nms_event_id,
            "assignedOrg": row.assigned_org_id,
            "openedAt": time(Some(row.opened_at)),
            "acknowledgedAt": time(row.acknowledged_at),
            "resolvedAt": time(row.resolved_at),
            "closedAt": time(row.closed_at),
            "respondBy": time(Some(row.respond_by)),
            "restoreBy": time(Some(row.restore_by)),
            "breachedRespond": row.breached_respond,
            "breachedRestore": row.breached_restore,
            "rootCause": row.root_cause,
            "fixCode": row.fix_code,
            "closureNotes": row.closure_notes,
            "closurePhotos": row.closure_photos().iter().map(|photo| json!({
                "filename": photo.filename, "url": photo.url, "objectKey": photo.object_key,
            })).collect::<Vec<_>>(),
            "closureGps": match (row.closure_lat, row.closure_lng) {
                (Some(latitude), Some(longitude)) => json!({
                    "latitude": latitude, "longitude": longitude,
                    "capturedAt": time(row.closure_captured_at),
                }),
                _ => Value::Null,
            },
            "location": match (row.lat, row.lng) {
                (Some(latitude), Some(longitude)) => json!({"latitude": latitude, "longitude": longitude}),
                _ => Value::Null,
            },
            "createdAt": time(Some(row.created_at)),
            "updatedAt": time(Some(row.updated_at)),
            "__v": 0,
        }),
    }
}
