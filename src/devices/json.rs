//! Device bodies and documents of the two old JSON dialects (core snake_case with `role`,
//! legacy camelCase with `_id` and `location`), read into one draft and written from one row.

use serde_json::{Map, Value, json};

use super::model::Model;
use super::service::DeviceDraft;
use crate::error::{AppResult, Violations};

/// Which old API a body or document belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    Core,
    Legacy,
}

/// Reads typed values out of a JSON object, collecting a violation per bad key.
pub struct Reader<'a> {
    pub body: &'a Map<String, Value>,
    pub bad: Violations,
    /// The draft fields whose keys were present (the update mask).
    pub present: Vec<String>,
}

impl<'a> Reader<'a> {
    pub fn new(body: &'a Map<String, Value>) -> Self {
        Reader {
            body,
            bad: Violations::default(),
            present: Vec::new(),
        }
    }

    fn fail(&mut self, key: &str, description: &str) {
        self.bad.push(key, description);
    }

    /// Text of `key` (numbers become text; null is empty), noting `field` as present.
    pub fn text(&mut self, key: &str, field: &str) -> Option<String> {
        let value = self.body.get(key)?;
        self.present.push(field.to_string());
        match value {
            Value::Null => Some(String::new()),
            Value::String(text) => Some(text.clone()),
            Value::Number(number) => Some(number.to_string()),
            _ => {
                self.fail(key, "must be a string");
                None
            }
        }
    }

    /// A UUID of `key` (null or empty: none), noting `field` as present.
    pub fn uuid(&mut self, key: &str, field: &str) -> Option<uuid::Uuid> {
        let text = self.text(key, field)?;
        if text.trim().is_empty() {
            return None;
        }
        uuid::Uuid::parse_str(text.trim())
            .map_err(|_| self.fail(key, &format!("`{text}` is not a UUID")))
            .ok()
    }

    /// An ISO-8601 time with offset of `key`, noting `field` as present.
    pub fn time(&mut self, key: &str, field: &str) -> Option<chrono::DateTime<chrono::Utc>> {
        let text = self.text(key, field)?;
        if text.trim().is_empty() {
            return None;
        }
        chrono::DateTime::parse_from_rfc3339(text.trim())
            .map(|time| time.with_timezone(&chrono::Utc))
            .map_err(|_| {
                self.fail(
                    key,
                    &format!("`{text}` is not an ISO-8601 time with offset"),
                )
            })
            .ok()
    }

    /// A number at `path` (object keys), noting `field` as present when the key exists.
    pub fn number(&mut self, path: &[&str], field: &str) -> Option<f64> {
        let value = path
            .iter()
            .try_fold(Value::Object(self.body.clone()), |value, key| {
                value.get(key).cloned()
            })?;
        self.present.push(field.to_string());
        match value {
            Value::Null => None,
            Value::Number(number) => number.as_f64(),
            _ => {
                self.fail(&path.join("."), "must be a number");
                None
            }
        }
    }

    /// The value, or every violation at once.
    pub fn finish<T>(self, value: T) -> AppResult<(T, Vec<String>)> {
        let value = self.bad.finish(value)?;
        let mut present = self.present;
        present.dedup();
        Ok((value, present))
    }
}

/// A device draft and the fields present in a body.
pub fn draft(body: &Map<String, Value>, dialect: Dialect) -> AppResult<(DeviceDraft, Vec<String>)> {
    let mut read = Reader::new(body);
    let key = |core: &'static str, legacy: &'static str| match dialect {
        Dialect::Core => core,
        Dialect::Legacy => legacy,
    };
    let kind = match dialect {
        Dialect::Core if body.contains_key("role") => read.text("role", "type"),
        _ => read.text("type", "type"),
    };
    let (lat, lng) = match dialect {
        Dialect::Core => (read.number(&["lat"], "lat"), read.number(&["lng"], "lng")),
        Dialect::Legacy => (
            read.number(&["location", "latitude"], "lat"),
            read.number(&["location", "longitude"], "lng"),
        ),
    };
    let draft = DeviceDraft {
        name: read.text("name", "name").unwrap_or_default(),
        r#type: kind.unwrap_or_default(),
        vendor: read.text("vendor", "vendor").unwrap_or_default(),
        model: read.text("model", "model").unwrap_or_default(),
        serial: read.text("serial", "serial").unwrap_or_default(),
        mgmt_ip: read
            .text(key("mgmt_ip", "mgmtIp"), "mgmt_ip")
            .unwrap_or_default(),
        site: read.text("site", "site").unwrap_or_default(),
        ward: read.text("ward", "ward").unwrap_or_default(),
        pon_id: read.uuid(key("pon_id", "pon"), "pon_id"),
        olt_chassis: read
            .text(key("olt_chassis", "oltChassis"), "olt_chassis")
            .unwrap_or_default(),
        olt_slot: read
            .text(key("olt_slot", "oltSlot"), "olt_slot")
            .unwrap_or_default(),
        olt_port: read
            .text(key("olt_port", "oltPort"), "olt_port")
            .unwrap_or_default(),
        onu_id: read
            .text(key("onu_id", "onuId"), "onu_id")
            .unwrap_or_default(),
        status: read.text("status", "status").unwrap_or_default(),
        last_seen_at: read.time(key("last_seen_at", "lastSeenAt"), "last_seen_at"),
        lat,
        lng,
    };
    read.finish(draft)
}

/// An optional time as the old APIs wrote it (ISO-8601 UTC with milliseconds), else null.
pub fn time(value: Option<chrono::DateTime<chrono::Utc>>) -> Value {
    value.map_or(Value::Null, |time| {
        json!(time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
    })
}

/// An optional text of the core API (FastAPI's `Optional[str]`): null when absent, not `""`.
pub fn absent_is_null(text: &str) -> Value {
    if text.is_empty() {
        Value::Null
    } else {
        json!(text)
    }
}

/// The device as the old API returned it.
pub fn document(device: &Model, dialect: Dialect) -> Value {
    match dialect {
        Dialect::Core => json!({
            "id": device.id,
            "name": device.name,
            "role": device.r#type,
            "vendor": absent_is_null(&device.vendor),
            "model": absent_is_null(&device.model),
            "serial": absent_is_null(&device.serial),
            "mgmt_ip": absent_is_null(&device.mgmt_ip),
            "site": absent_is_null(&device.site),
            "ward": absent_is_null(&device.ward),
            "pon_id": device.pon_id,
            "status": device.status,
            "lat": device.lat,
            "lng": device.lng,
        }),
        Dialect::Legacy => json!({
            "_id": device.id,
            "name": device.name,
            "type": device.r#type,
            "vendor": device.vendor,
            "model": device.model,
            "serial": device.serial,
            "mgmtIp": device.mgmt_ip,
            "site": device.site,
            "ward": device.ward,
            "pon": device.pon_id,
            "oltChassis": device.olt_chassis,
            "oltSlot": device.olt_slot,
            "oltPort": device.olt_port,
            "onuId": device.onu_id,
            "status": device.status,
            "lastSeenAt": time(device.last_seen_at),
            "location": match (device.lat, device.lng) {
                (Some(latitude), Some(longitude)) => json!({"latitude": latitude, "longitude": longitude}),
                _ => Value::Null,
            },
            "createdAt": time(Some(device.created_at)),
            "updatedAt": time(Some(device.updated_at)),
            "__v": 0,
        }),
    }
}
