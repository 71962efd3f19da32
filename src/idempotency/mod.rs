//! Idempotent retries: a write sent with an `Idempotency-Key` header (REST, core and legacy
//! paths) or `idempotency-key` metadata (gRPC, grpc-web) runs once per tenant, caller and key.
//! The same key with the same request within 24 h answers the first answer again and writes
//! nothing; with another request it is a 409 (ALREADY_EXISTS). Only successful answers are kept:
//! a failed request gives its key back, so its retry runs. Keys are swept after a day.

pub mod store;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use sea_orm::DatabaseConnection;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::auth::guard::Guard;
use crate::clock::Clock;
use crate::error::{AppError, FieldViolation};
use crate::server::is_grpc;
use store::{Claim, Owner};

/// How long a key and its answer are kept.
pub const KEY_LIFETIME: Duration = Duration::from_secs(24 * 3600);

const HEADER: &str = "idempotency-key";
/// Set on an answer that was replayed from a key.
const REPLAYED: &str = "idempotent-replayed";
const MAX_KEY_CHARS: usize = 255;

/// What the middleware needs.
#[derive(Clone)]
pub struct Idempotency {
    pub db: DatabaseConnection,
    pub guard: Arc<Guard>,
    pub clock: Arc<dyn Clock>,
    pub body_limit: usize,
}

impl Idempotency {
    /// Deletes the keys older than a day; how many.
    pub async fn sweep(&self) -> anyhow::Result<u64> {
        let before = self.clock.now() - chrono::Duration::from_std(KEY_LIFETIME)?;
        Ok(store::sweep(&self.db, before).await?)
    }
}

/// An error in the shape of the request's surface.
fn refusal(headers: &HeaderMap, legacy: bool, err: AppError) -> Response {
    if is_grpc(headers.get(header::CONTENT_TYPE)) {
        return tonic::Status::from(err).into_http();
    }
    err.log();
    let status = err.http_status();
    if legacy {
        return (status, axum::Json(json!({"message": err.client_message()}))).into_response();
    }
    crate::server::transcode::error_response(
        status,
        err.code(),
        &err.client_message(),
        &err.violations(),
    )
}

/// A valid key: 1 to 255 visible ASCII characters.
fn key_of(headers: &HeaderMap) -> Option<Result<String, AppError>> {
    let value = headers.get(HEADER)?;
    let valid = value
        .to_str()
        .ok()
        .map(str::trim)
        .filter(|key| {
            !key.is_empty()
                && key.len() <= MAX_KEY_CHARS
                && key.bytes().all(|b| b.is_ascii_graphic())
        })
        .map(str::to_string);
    Some(valid.ok_or_else(|| {
        AppError::invalid(
            "Idempotency-Key",
            "must be 1 to 255 visible ASCII characters",
        )
    }))
}

/// Whether an answer succeeded (for gRPC: grpc-status 0 or absent from its headers; the
/// trailers are checked once the body is read).
fn succeeded(status: StatusCode, grpc_status: Option<&HeaderValue>) -> bool {
    status.is_success() && grpc_status.is_none_or(|value| value.as_bytes() == b"0")
}

/// Headers that describe the connection, not the answer.
fn kept(name: &HeaderName) -> bool {
    !matches!(
        name.as_str(),
        "content-length" | "transfer-encoding" | "connection" | "date" | "x-request-id"
    )
}

fn pairs(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .filter(|(name, _)| kept(name))
        .filter_map(|(name, value)| Some((name.to_string(), value.to_str().ok()?.to_string())))
        .collect()
}

fn header_map(pairs: &[(String, String)]) -> HeaderMap {
    pairs
        .iter()
        .filter_map(|(name, value)| {
            Some((
                HeaderName::from_bytes(name.as_bytes()).ok()?,
                HeaderValue::from_str(value).ok()?,
            ))
        })
        .collect()
}

/// The stored answer of a key, as it was sent.
fn replay(row: store::idempotency_key::Model) -> Response {
    #[derive(serde::Deserialize, Default)]
    struct Stored {
        headers: Vec<(String, String)>,
        trailers: Vec<(String, String)>,
    }
    let stored: Stored = row
        .response_headers
        .as_deref()
        .and_then(|text| serde_json::from_str(text).ok())
        .unwrap_or_default();
    let body = body_of(
        row.response_body.unwrap_or_default().into(),
        header_map(&stored.trailers),
    );
    let mut response = Response::new(body);
    *response.status_mut() = row
        .response_status
        .and_then(|status| u16::try_from(status).ok())
        .and_then(|status| StatusCode::from_u16(status).ok())
        .unwrap_or(StatusCode::OK);
    *response.headers_mut() = header_map(&stored.headers);
    response
        .headers_mut()
        .insert(REPLAYED, HeaderValue::from_static("true"));
    response
}

/// The middleware: writes with a key run once; everything else passes straight through.
pub async fn idempotent(
    State(idempotency): State<Arc<Idempotency>>,
    request: Request,
    next: Next,
) -> Response {
    let method = request.method().clone();
    if matches!(method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(request).await;
    }
    let legacy = request.uri().path().starts_with("/api/");
    let key = match key_of(request.headers()) {
        None => return next.run(request).await,
        Some(Err(err)) => return refusal(request.headers(), legacy, err),
        Some(Ok(key)) => key,
    };
    // Keys belong to a verified caller; without one the route refuses the request itself.
    let Ok(principal) = idempotency.guard.authenticate(request.headers()).await else {
        return next.run(request).await;
    };
    let owner = Owner {
        tenant_id: principal.tenant_id,
        caller: principal.user_id.map_or_else(
            || format!("role:{}", principal.role.as_str()),
            |id| id.to_string(),
        ),
        key,
    };
    let (parts, body) = request.into_parts();
    let body = match Limited::new(body, idempotency.body_limit).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(error) if error.is::<LengthLimitError>() => {
            let err = AppError::PayloadTooLarge(FieldViolation::new(
                "request",
                format!("body larger than {} bytes", idempotency.body_limit),
            ));
            return refusal(&parts.headers, legacy, err);
        }
        Err(_) => {
            return (StatusCode::BAD_REQUEST, "request body could not be read").into_response();
        }
    };
    let mut hasher = Sha256::new();
    hasher.update(method.as_str());
    hasher.update([0]);
    hasher.update(parts.uri.to_string());
    hasher.update([0]);
    hasher.update(&body);
    let request_hash = hex::encode(hasher.finalize());
    let now = idempotency.clock.now();
    let expired_before = now - chrono::Duration::from_std(KEY_LIFETIME).unwrap_or_default();
    match store::claim(&idempotency.db, &owner, &request_hash, now, expired_before).await {
        Err(err) => return refusal(&parts.headers, legacy, err),
        Ok(Claim::Answered(row)) => return replay(row),
        Ok(Claim::Mismatch) => {
            let err = AppError::AlreadyExists(
                "this Idempotency-Key was already used for another request".into(),
            );
            return refusal(&parts.headers, legacy, err);
        }
        Ok(Claim::InProgress) => {
            let err = AppError::AlreadyExists(
                "a request with this Idempotency-Key is still in progress".into(),
            );
            let mut response = refusal(&parts.headers, legacy, err);
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            return response;
        }
        Ok(Claim::Fresh) => {}
    }
    let response = next.run(Request::from_parts(parts, Body::from(body))).await;
    keep_answer(&idempotency, &owner, response).await
}

/// Stores a successful answer under the key (and sends it); gives the key back otherwise.
async fn keep_answer(idempotency: &Idempotency, owner: &Owner, response: Response) -> Response {
    let (parts, body) = response.into_parts();
    if !succeeded(parts.status, parts.headers.get("grpc-status")) {
        release(idempotency, owner).await;
        return Response::from_parts(parts, body);
    }
    let collected = match body.collect().await {
        Ok(collected) => collected,
        Err(error) => {
            tracing::warn!(error = %error, "an answer could not be read for its idempotency key");
            release(idempotency, owner).await;
            return refusal(
                &parts.headers,
                false,
                AppError::Unavailable("the answer was lost; retry with the same key".into()),
            );
        }
    };
    let trailers = collected.trailers().cloned().unwrap_or_default();
    let data = collected.to_bytes();
    if succeeded(parts.status, trailers.get("grpc-status")) {
        let stored = json!({"headers": pairs(&parts.headers), "trailers": pairs(&trailers)});
        if let Err(error) = store::complete(
            &idempotency.db,
            owner,
            parts.status.as_u16(),
            stored.to_string(),
            data.to_vec(),
        )
        .await
        {
            // The write happened; only its replay is lost. A retry is told it is in progress.
            tracing::warn!(error = %error, "an answer could not be kept for its idempotency key");
        }
    } else {
        release(idempotency, owner).await;
    }
    Response::from_parts(parts, body_of(data, trailers))
}

/// A body of these bytes, then these trailers (gRPC's status travels in them).
fn body_of(data: bytes::Bytes, trailers: HeaderMap) -> Body {
    let mut frames = vec![Ok::<_, std::convert::Infallible>(http_body::Frame::data(
        data,
    ))];
    if !trailers.is_empty() {
        frames.push(Ok(http_body::Frame::trailers(trailers)));
    }
    Body::new(http_body_util::StreamBody::new(futures::stream::iter(
        frames,
    )))
}

async fn release(idempotency: &Idempotency, owner: &Owner) {
    if let Err(error) = store::release(&idempotency.db, owner).await {
        tracing::warn!(error = %error, "an idempotency key could not be given back");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_short_visible_ascii() {
        let mut headers = HeaderMap::new();
        assert!(key_of(&headers).is_none());
        headers.insert(HEADER, HeaderValue::from_static("retry-7f3a"));
        assert_eq!(key_of(&headers).unwrap().unwrap(), "retry-7f3a");
        headers.insert(HEADER, HeaderValue::from_static("has space"));
        assert!(key_of(&headers).unwrap().is_err());
        let long = "k".repeat(256);
        headers.insert(HEADER, HeaderValue::from_str(&long).unwrap());
        assert!(key_of(&headers).unwrap().is_err());
    }

    #[test]
    fn only_successes_are_kept() {
        assert!(succeeded(StatusCode::OK, None));
        assert!(succeeded(
            StatusCode::OK,
            Some(&HeaderValue::from_static("0"))
        ));
        assert!(!succeeded(
            StatusCode::OK,
            Some(&HeaderValue::from_static("14"))
        ));
        assert!(!succeeded(StatusCode::SERVICE_UNAVAILABLE, None));
        assert!(!succeeded(StatusCode::BAD_REQUEST, None));
    }
}
