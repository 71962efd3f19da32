//! Bad input stopped at the door, before any service or database sees it: bodies over
//! `MAX_BODY_BYTES` (413 / RESOURCE_EXHAUSTED), NUL bytes in paths, query parameters, JSON
//! bodies and gRPC request messages (400 / INVALID_ARGUMENT naming the field), and gRPC
//! request messages that are not valid protobuf (INVALID_ARGUMENT instead of tonic's INTERNAL).

use std::collections::HashMap;
use std::io::Read;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{StatusCode, header};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use prost_reflect::{DescriptorPool, DynamicMessage, MapKey, MessageDescriptor, Value};
use serde_json::json;

use super::is_grpc;
use super::transcode::error_response;
use crate::error::{AppError, FieldViolation, clip};

const NUL_MESSAGE: &str = "must not contain a NUL byte";

/// The body limit of every surface.
#[derive(Clone, Copy, Debug)]
pub struct BodyLimit(pub usize);

/// Where the offending value was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Location {
    Params,
    Query,
    Body,
}

impl Location {
    fn as_str(self) -> &'static str {
        match self {
            Location::Params => "params",
            Location::Query => "query",
            Location::Body => "body",
        }
    }
}

/// Bodies that may carry JSON text (photos and other binary uploads are not read here).
fn may_be_json(request: &Request) -> bool {
    match request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
    {
        None => true,
        Some(value) => {
            let value = value.to_ascii_lowercase();
            value.contains("json") || value.starts_with("text/")
        }
    }
}

/// The legacy Express surface answers in its own shapes.
fn is_legacy(request: &Request) -> bool {
    request.uri().path().starts_with("/api/")
}

fn nul_refusal(legacy: bool, field: &str, location: Location) -> Response {
    if legacy {
        let error = json!({
            "type": "field",
            "msg": NUL_MESSAGE,
            "path": clip(field),
            "location": location.as_str(),
        });
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({ "errors": [error] })),
        )
            .into_response();
    }
    let violation = FieldViolation {
        field: field.to_string(),
        description: NUL_MESSAGE.into(),
    };
    error_response(
        StatusCode::BAD_REQUEST,
        tonic::Code::InvalidArgument,
        &format!("{}: {NUL_MESSAGE}", clip(field)),
        &[violation],
    )
}

fn too_large(legacy: bool, limit: usize) -> Response {
    let text = format!("request body larger than {limit} bytes");
    if legacy {
        return (
            StatusCode::PAYLOAD_TOO_LARGE,
            axum::Json(json!({ "message": text })),
        )
            .into_response();
    }
    error_response(
        StatusCode::PAYLOAD_TOO_LARGE,
        tonic::Code::ResourceExhausted,
        &text,
        &[],
    )
}

/// The first query parameter holding a NUL byte (in its name or value), by name.
fn nul_in_query(query: &str) -> Option<String> {
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(name, value)| name.contains('\0') || value.contains('\0'))
        .map(|(name, _)| name.replace('\0', "\\u0000"))
}

/// Whether the JSON text can hold a NUL character at all (only as the `\u0000` escape: a raw
/// NUL byte is not valid JSON and the body's own parser refuses it).
fn mentions_nul(body: &[u8]) -> bool {
    body.windows(6).any(|window| window == b"\\u0000")
}

/// The path (`pon.name`, `items[2]`) of the first string or key holding a NUL character.
fn nul_in_json(value: &serde_json::Value, path: &str) -> Option<String> {
    let join = |key: &str| {
        if path.is_empty() {
            key.to_string()
        } else {
            format!("{path}.{key}")
        }
    };
    match value {
        serde_json::Value::String(text) => text.contains('\0').then(|| path.to_string()),
        serde_json::Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(index, item)| nul_in_json(item, &format!("{path}[{index}]"))),
        serde_json::Value::Object(fields) => fields.iter().find_map(|(key, item)| {
            if key.contains('\0') {
                Some(join(&key.replace('\0', "\\u0000")))
            } else {
                nul_in_json(item, &join(key))
            }
        }),
        _ => None,
    }
}

/// Middleware on every HTTP surface except gRPC (whose messages `check_grpc_message` reads):
/// the body limit with a JSON answer, and NUL bytes in the path, the query and JSON bodies.
pub async fn check_http_input(
    State(BodyLimit(limit)): State<BodyLimit>,
    request: Request,
    next: Next,
) -> Response {
    if is_grpc(request.headers().get(header::CONTENT_TYPE)) {
        return next.run(request).await;
    }
    let legacy = is_legacy(&request);
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        return too_large(legacy, limit);
    }
    if request.uri().path().contains("%00") {
        return nul_refusal(legacy, "path", Location::Params);
    }
    if let Some(name) = request.uri().query().and_then(nul_in_query) {
        return nul_refusal(legacy, &name, Location::Query);
    }
    if !may_be_json(&request) {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let bytes = match Limited::new(body, limit).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(error) if error.is::<LengthLimitError>() => return too_large(legacy, limit),
        // The client went away or sent a broken body: nothing to answer it with that helps.
        Err(_) => {
            return (StatusCode::BAD_REQUEST, "request body could not be read").into_response();
        }
    };
    if mentions_nul(&bytes)
        && let Ok(value) = serde_json::from_slice::<serde_json::Value>(&bytes)
        && let Some(field) = nul_in_json(&value, "")
    {
        let field = if field.is_empty() { "body" } else { &field };
        return nul_refusal(legacy, field, Location::Body);
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// The request message of every unary and server-streaming RPC, by gRPC path.
pub struct GrpcMessages {
    inputs: HashMap<String, MessageDescriptor>,
    limit: usize,
}

impl GrpcMessages {
    /// Client-streamed RPCs (photo upload) are left to their services: their messages arrive
    /// over time and are checked as they are read.
    pub fn new(pool: &DescriptorPool, limit: usize) -> Arc<Self> {
        let inputs = pool
            .services()
            .flat_map(|service| service.methods().collect::<Vec<_>>())
            .filter(|method| !method.is_client_streaming())
            .map(|method| {
                (
                    format!("/{}/{}", method.parent_service().full_name(), method.name()),
                    method.input(),
                )
            })
            .collect();
        Arc::new(GrpcMessages { inputs, limit })
    }
}

fn grpc_refusal(err: AppError) -> Response {
    tonic::Status::from(err).into_http()
}

fn undecodable(reason: impl std::fmt::Display) -> AppError {
    AppError::invalid(
        "request",
        format!("is not a valid protobuf message of this RPC: {reason}"),
    )
}

fn message_too_large(limit: usize) -> AppError {
    AppError::PayloadTooLarge(FieldViolation::new(
        "request",
        format!("message larger than {limit} bytes"),
    ))
}

/// Middleware on the gRPC routes (after the guard): decodes each request message against
/// the RPC's descriptor and refuses one that is oversized, not protobuf, or holds a NUL byte.
pub async fn check_grpc_message(
    State(messages): State<Arc<GrpcMessages>>,
    request: Request,
    next: Next,
) -> Response {
    let Some(descriptor) = messages.inputs.get(request.uri().path()).cloned() else {
        return next.run(request).await;
    };
    let gzip = request
        .headers()
        .get("grpc-encoding")
        .is_some_and(|value| value.as_bytes() == b"gzip");
    let (parts, body) = request.into_parts();
    let limit = messages.limit;
    let bytes = match Limited::new(body, limit.saturating_add(5)).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(error) if error.is::<LengthLimitError>() => {
            return grpc_refusal(message_too_large(limit));
        }
        Err(_) => return grpc_refusal(undecodable("the body could not be read")),
    };
    if let Err(err) = check_frames(&descriptor, &bytes, gzip, limit) {
        return grpc_refusal(err);
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// Every length-prefixed message of a gRPC body, decoded and searched for NUL bytes.
fn check_frames(
    descriptor: &MessageDescriptor,
    mut body: &[u8],
    gzip: bool,
    limit: usize,
) -> Result<(), AppError> {
    while !body.is_empty() {
        let Some((&[flag, a, b, c, d], rest)) = body.split_first_chunk::<5>() else {
            return Err(undecodable("truncated message frame"));
        };
        let length = u32::from_be_bytes([a, b, c, d]) as usize;
        if length > limit {
            return Err(message_too_large(limit));
        }
        if rest.len() < length {
            return Err(undecodable("truncated message frame"));
        }
        let (payload, rest) = rest.split_at(length);
        let payload = match flag {
            0 => Bytes::copy_from_slice(payload),
            1 if gzip => gunzip(payload, limit)?,
            _ => return Err(undecodable("unknown compression")),
        };
        let message = DynamicMessage::decode(descriptor.clone(), payload).map_err(undecodable)?;
        if let Some(field) = nul_in_message(&message, "") {
            return Err(AppError::invalid(field, NUL_MESSAGE));
        }
        body = rest;
    }
    Ok(())
}

fn gunzip(payload: &[u8], limit: usize) -> Result<Bytes, AppError> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(payload)
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(undecodable)?;
    if out.len() > limit {
        return Err(message_too_large(limit));
    }
    Ok(out.into())
}

/// The path of the first string (or string map key) holding a NUL byte.
fn nul_in_message(message: &DynamicMessage, path: &str) -> Option<String> {
    message.fields().find_map(|(field, value)| {
        let name = if path.is_empty() {
            field.name().to_string()
        } else {
            format!("{path}.{}", field.name())
        };
        nul_in_value(value, &name)
    })
}

fn nul_in_value(value: &Value, path: &str) -> Option<String> {
    match value {
        Value::String(text) => text.contains('\0').then(|| path.to_string()),
        Value::Message(message) => nul_in_message(message, path),
        Value::List(items) => items
            .iter()
            .enumerate()
            .find_map(|(index, item)| nul_in_value(item, &format!("{path}[{index}]"))),
        Value::Map(entries) => entries.iter().find_map(|(key, item)| match key {
            MapKey::String(text) if text.contains('\0') => Some(path.to_string()),
            MapKey::String(text) => nul_in_value(item, &format!("{path}.{text}")),
            _ => nul_in_value(item, path),
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_characters_are_found_by_their_json_path() {
        let body = br#"{"pon": {"name": "ok", "tags": ["a", "b\u0000"]}, "x": 1}"#;
        assert!(mentions_nul(body));
        let value: serde_json::Value = serde_json::from_slice(body).unwrap();
        assert_eq!(nul_in_json(&value, "").as_deref(), Some("pon.tags[1]"));
        let key: serde_json::Value = serde_json::from_str(r#"{"a\u0000": 1}"#).unwrap();
        assert_eq!(nul_in_json(&key, "").as_deref(), Some("a\\u0000"));
        // An escaped backslash followed by `u0000` is no NUL.
        let escaped: serde_json::Value = serde_json::from_str(r#"{"a": "\\u0000"}"#).unwrap();
        assert_eq!(nul_in_json(&escaped, ""), None);
        assert_eq!(nul_in_query("a=1&name=x%00y").as_deref(), Some("name"));
        assert_eq!(nul_in_query("a=1&b=%2500"), None);
    }

    fn pool() -> DescriptorPool {
        DescriptorPool::decode(crate::proto::FILE_DESCRIPTOR_SET).unwrap()
    }

    fn frame(payload: &[u8]) -> Vec<u8> {
        let mut out = vec![0];
        out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        out.extend_from_slice(payload);
        out
    }

    #[test]
    fn grpc_messages_are_decoded_and_searched() {
        use prost::Message;
        let pool = pool();
        let create = pool
            .get_message_by_name("kasi.fiber.v1.CreatePonRequest")
            .unwrap();
        let pon = crate::proto::v1::Pon {
            name: "Ward\0 7".into(),
            ..Default::default()
        };
        let request = crate::proto::v1::CreatePonRequest { pon: Some(pon) };
        let body = frame(&request.encode_to_vec());
        match check_frames(&create, &body, false, 1024) {
            Err(AppError::InvalidArgument(violations)) => {
                assert_eq!(violations[0].field, "pon.name")
            }
            other => panic!("{other:?}"),
        }
        let garbage = frame(&[0xff, 0xff, 0xff]);
        assert!(matches!(
            check_frames(&create, &garbage, false, 1024),
            Err(AppError::InvalidArgument(_))
        ));
        assert!(matches!(
            check_frames(&create, &[0, 0, 0, 16, 0], false, 8),
            Err(AppError::PayloadTooLarge(_))
        ));
        assert!(matches!(
            check_frames(&create, &[0, 0, 0], false, 8),
            Err(AppError::InvalidArgument(_))
        ));
        let fine = crate::proto::v1::CreatePonRequest::default();
        assert!(check_frames(&create, &frame(&fine.encode_to_vec()), false, 1024).is_ok());
    }
}
