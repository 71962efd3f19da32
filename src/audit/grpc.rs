//! gRPC adapter of `kasi.fiber.v1.AuditService`: filters in, entries with JSON snapshots
//! (as `google.protobuf.Struct`) out.

use chrono::{DateTime, Utc};
use prost_types::value::Kind;
use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::{AuditFilter, AuditService, entry};
use crate::error::{AppError, parse_id};
use crate::proto::v1;
use crate::server::wire::{context, timestamp};

pub struct AuditGrpc {
    audit: Arc<AuditService>,
}

impl AuditGrpc {
    pub fn new(audit: Arc<AuditService>) -> Self {
        AuditGrpc { audit }
    }
}

fn time(
    field: &str,
    value: Option<prost_types::Timestamp>,
) -> Result<Option<DateTime<Utc>>, AppError> {
    value
        .map(|ts| {
            DateTime::from_timestamp(ts.seconds, ts.nanos.max(0) as u32)
                .ok_or_else(|| AppError::invalid(field, "is out of range"))
        })
        .transpose()
}

/// A JSON value as a protobuf `Value`.
fn to_proto_value(value: serde_json::Value) -> prost_types::Value {
    let kind = match value {
        serde_json::Value::Null => Kind::NullValue(0),
        serde_json::Value::Bool(flag) => Kind::BoolValue(flag),
        serde_json::Value::Number(number) => Kind::NumberValue(number.as_f64().unwrap_or_default()),
        serde_json::Value::String(text) => Kind::StringValue(text),
        serde_json::Value::Array(items) => Kind::ListValue(prost_types::ListValue {
            values: items.into_iter().map(to_proto_value).collect(),
        }),
        serde_json::Value::Object(object) => Kind::StructValue(to_struct(object)),
    };
    prost_types::Value { kind: Some(kind) }
}

fn to_struct(object: serde_json::Map<String, serde_json::Value>) -> prost_types::Struct {
    prost_types::Struct {
        fields: object
            .into_iter()
            .map(|(key, value)| (key, to_proto_value(value)))
            .collect(),
    }
}

fn snapshot(text: Option<&str>) -> Option<prost_types::Struct> {
    match serde_json::from_str(text?) {
        Ok(serde_json::Value::Object(object)) => Some(to_struct(object)),
        _ => None,
    }
}

fn entry_to_proto(entry: &entry::Model) -> v1::AuditEntry {
    v1::AuditEntry {
        id: entry.id.to_string(),
        actor_user_id: entry
            .actor_user_id
            .map(|id| id.to_string())
            .unwrap_or_default(),
        action: entry.action.clone(),
        resource_type: entry.resource_type.clone(),
        resource_id: entry.resource_id.clone(),
        before: snapshot(entry.before.as_deref()),
        after: snapshot(entry.after.as_deref()),
        created_at: Some(timestamp(entry.created_at)),
    }
}

#[tonic::async_trait]
impl v1::audit_service_server::AuditService for AuditGrpc {
    async fn list_audit_entries(
        &self,
        request: Request<v1::ListAuditEntriesRequest>,
    ) -> Result<Response<v1::ListAuditEntriesResponse>, Status> {
        let ctx = context(&request);
        let message = request.into_inner();
        let filter = AuditFilter {
            resource_type: Some(message.resource_type).filter(|text| !text.is_empty()),
            resource_id: Some(message.resource_id).filter(|text| !text.is_empty()),
            actor_user_id: match message.actor_user_id.as_str() {
                "" => None,
                text => Some(parse_id("actor_user_id", text)?),
            },
            action: Some(message.action).filter(|text| !text.is_empty()),
            since: time("since", message.since)?,
            until: time("until", message.until)?,
        };
        let (entries, next) = self
            .audit
            .list(&ctx, &filter, message.page_size, &message.page_token)
            .await?;
        Ok(Response::new(v1::ListAuditEntriesResponse {
            entries: entries.iter().map(entry_to_proto).collect(),
            next_page_token: next.unwrap_or_default(),
        }))
    }
}
