//! Per-request limits on every surface: a cap on requests in flight that refuses the excess at
//! once, and a request timeout (on gRPC also the client's `grpc-timeout`), both answered as
//! UNAVAILABLE / 503 with `Retry-After` in the caller's protocol.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use http_body::{Frame, SizeHint};
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tonic_types::{ErrorDetails, StatusExt};

use crate::config::ConnectionConfig;
use crate::server::{is_grpc, transcode};

/// What a refused client is told to wait before trying again.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// The shared state of [`enforce`].
pub struct RequestLimits {
    permits: Arc<Semaphore>,
    timeout: Duration,
}

impl RequestLimits {
    pub fn new(config: &ConnectionConfig) -> Arc<Self> {
        Arc::new(RequestLimits {
            permits: Arc::new(Semaphore::new(config.max_concurrent_requests.max(1))),
            timeout: config.request_timeout(),
        })
    }
}

/// Health probes are answered however loaded the server is.
fn is_probe(path: &str) -> bool {
    path == "/healthz" || path == "/readyz" || path.starts_with("/grpc.health.v1.Health/")
}

/// Why a request was refused.
#[derive(Clone, Copy)]
enum Refusal {
    Overloaded,
    TimedOut,
    /// The gRPC client's own `grpc-timeout` passed.
    ClientDeadline,
}

/// The middleware: sheds load beyond the permits, and answers for a request that has neither
/// answered nor received body bytes within the timeout (an upload that makes progress is not cut).
/// The permit is held until the answer's head is ready (a long response stream does not count).
pub async fn enforce(
    State(limits): State<Arc<RequestLimits>>,
    request: Request,
    next: Next,
) -> Response {
    let _permit = if is_probe(request.uri().path()) {
        None
    } else {
        match limits.permits.clone().try_acquire_owned() {
            Ok(permit) => Some(permit),
            Err(_) => {
                tracing::debug!(path = request.uri().path(), "overloaded: request refused");
                return refusal(
                    request.headers().get(header::CONTENT_TYPE),
                    Refusal::Overloaded,
                );
            }
        }
    };
    let start = Instant::now();
    let content_type = request.headers().get(header::CONTENT_TYPE).cloned();
    let client_deadline = is_grpc(content_type.as_ref())
        .then(|| grpc_timeout(request.headers()))
        .flatten()
        .map(|timeout| start + timeout);
    let progress = Arc::new(Progress {
        start,
        last_nanos: AtomicU64::new(0),
    });
    let request = request.map(|body| {
        Body::new(ProgressBody {
            inner: body,
            progress: progress.clone(),
        })
    });
    let call = next.run(request);
    tokio::pin!(call);
    loop {
        let server_deadline = progress.last() + limits.timeout;
        let deadline =
            client_deadline.map_or(server_deadline, |client| client.min(server_deadline));
        tokio::select! {
            response = &mut call => return response,
            () = tokio::time::sleep_until(deadline) => {
                let now = Instant::now();
                if client_deadline.is_some_and(|client| client <= now) {
                    return refusal(content_type.as_ref(), Refusal::ClientDeadline);
                }
                if progress.last() + limits.timeout <= now {
                    tracing::warn!(timeout_secs = limits.timeout.as_secs(), "request timed out");
                    return refusal(content_type.as_ref(), Refusal::TimedOut);
                }
            }
        }
    }
}

/// The `grpc-timeout` header: at most 8 digits and a unit (H, M, S, m, u, n).
fn grpc_timeout(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get("grpc-timeout")?.to_str().ok()?;
    let (digits, unit) = value.split_at_checked(value.len().checked_sub(1)?)?;
    if digits.is_empty() || digits.len() > 8 {
        return None;
    }
    let amount: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(amount * 3600),
        "M" => Duration::from_secs(amount * 60),
        "S" => Duration::from_secs(amount),
        "m" => Duration::from_millis(amount),
        "u" => Duration::from_micros(amount),
        "n" => Duration::from_nanos(amount),
        _ => return None,
    })
}

/// The refusal in the caller's protocol: a gRPC status (grpc-web keeps its content type), or
/// the JSON error body of the REST surface; `Retry-After` on both.
fn refusal(content_type: Option<&HeaderValue>, why: Refusal) -> Response {
    let (code, message) = match why {
        Refusal::Overloaded => (
            tonic::Code::Unavailable,
            "the server is overloaded; retry later",
        ),
        Refusal::TimedOut => (
            tonic::Code::Unavailable,
            "the request took too long; retry later",
        ),
        Refusal::ClientDeadline => (tonic::Code::DeadlineExceeded, "deadline exceeded"),
    };
    let mut response = if let Some(content_type) = content_type.filter(|_| is_grpc(content_type)) {
        let status = tonic::Status::with_error_details(
            code,
            message,
            ErrorDetails::with_retry_info(Some(RETRY_AFTER)),
        );
        let mut response = status.into_http::<Body>().into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, content_type.clone());
        response
    } else {
        transcode::error_response(StatusCode::SERVICE_UNAVAILABLE, code, message, &[])
    };
    response.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from(RETRY_AFTER.as_secs()),
    );
    response
}

/// When a request last received body bytes.
struct Progress {
    start: Instant,
    /// Since `start`.
    last_nanos: AtomicU64,
}

impl Progress {
    fn last(&self) -> Instant {
        self.start + Duration::from_nanos(self.last_nanos.load(Ordering::Relaxed))
    }
}

/// A request body that records its progress.
struct ProgressBody {
    inner: Body,
    progress: Arc<Progress>,
}

impl http_body::Body for ProgressBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(_))) = &polled {
            let since = self.progress.start.elapsed().as_nanos() as u64;
            self.progress.last_nanos.store(since, Ordering::Relaxed);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_timeout(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("grpc-timeout", HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn grpc_timeouts_are_read_in_every_unit() {
        let read = |value| grpc_timeout(&with_timeout(value));
        assert_eq!(read("2H"), Some(Duration::from_secs(7200)));
        assert_eq!(read("3M"), Some(Duration::from_secs(180)));
        assert_eq!(read("5S"), Some(Duration::from_secs(5)));
        assert_eq!(read("250m"), Some(Duration::from_millis(250)));
        assert_eq!(read("7u"), Some(Duration::from_micros(7)));
        assert_eq!(read("9n"), Some(Duration::from_nanos(9)));
        assert_eq!(read("S"), None);
        assert_eq!(read("123456789S"), None, "more than 8 digits");
        assert_eq!(read("5x"), None);
        assert_eq!(read(""), None);
        assert_eq!(grpc_timeout(&HeaderMap::new()), None);
    }

    #[test]
    fn probes_are_exempt_from_shedding() {
        assert!(is_probe("/readyz"));
        assert!(is_probe("/grpc.health.v1.Health/Check"));
        assert!(!is_probe("/kasi.fiber.v1.PonService/GetPon"));
        assert!(!is_probe("/v1/pons"));
    }
}
