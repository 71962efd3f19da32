//! Calls a unary gRPC method in-process through the same tonic router that serves
//! network clients, so REST requests pass the same services, interceptors and limits.

use axum::body::Body;
use bytes::{BufMut, Bytes, BytesMut};
use http::{HeaderMap, HeaderValue, Request};
use http_body_util::BodyExt;
use tower::ServiceExt;

/// Request headers that travel on as gRPC metadata.
const FORWARDED_HEADERS: &[&str] = &[
    "authorization",
    "x-auth-token",
    "x-request-id",
    "x-role",
    "x-forwarded-for",
    "traceparent",
    "user-agent",
];

/// Sends `payload` (an encoded request message) to `path` (`/pkg.Service/Method`) and returns the
/// encoded response message, or the status the method ended with.
pub async fn call_unary(
    router: axum::Router,
    path: &str,
    headers: &HeaderMap,
    extensions: http::Extensions,
    payload: Vec<u8>,
) -> Result<Bytes, tonic::Status> {
    let mut frame = BytesMut::with_capacity(payload.len() + 5);
    frame.put_u8(0);
    frame.put_u32(payload.len() as u32);
    frame.put_slice(&payload);
    let mut request = Request::post(path)
        .header(http::header::CONTENT_TYPE, "application/grpc")
        .header("te", "trailers")
        .body(Body::from(frame.freeze()))
        .map_err(|err| tonic::Status::internal(format!("building the gRPC request: {err}")))?;
    for name in FORWARDED_HEADERS {
        for value in headers.get_all(*name) {
            request.headers_mut().append(*name, value.clone());
        }
    }
    *request.extensions_mut() = extensions;
    let response = router
        .oneshot(request)
        .await
        .map_err(|err| tonic::Status::internal(format!("dispatch failed: {err}")))?;
    let (parts, body) = response.into_parts();
    // A "trailers-only" answer puts the status in the headers.
    if let Some(status) = status_from(&parts.headers) {
        return Err(status);
    }
    let collected = body
        .collect()
        .await
        .map_err(|err| tonic::Status::internal(format!("reading the gRPC response: {err}")))?;
    let trailers = collected.trailers().cloned().unwrap_or_default();
    if let Some(status) = status_from(&trailers) {
        return Err(status);
    }
    let data = collected.to_bytes();
    if data.len() < 5 {
        return Err(tonic::Status::internal("gRPC response had no message"));
    }
    if data[0] != 0 {
        return Err(tonic::Status::internal(
            "unexpected compressed gRPC response",
        ));
    }
    let length = u32::from_be_bytes([data[1], data[2], data[3], data[4]]) as usize;
    if data.len() < 5 + length {
        return Err(tonic::Status::internal("truncated gRPC response"));
    }
    Ok(data.slice(5..5 + length))
}

/// The status in these headers, unless it is OK or absent.
fn status_from(headers: &HeaderMap) -> Option<tonic::Status> {
    let code = headers.get("grpc-status")?;
    if code == HeaderValue::from_static("0") {
        return None;
    }
    tonic::Status::from_header_map(headers)
}
