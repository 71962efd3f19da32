//! The accept loop: every connection is served by hyper-util's HTTP/1 + HTTP/2 builder with a
//! header-read timeout, an idle timeout, HTTP/2 keep-alive and windows, and drained on shutdown.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use bytes::Bytes;
use futures::task::AtomicWaker;
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio::time::{Instant, Sleep};
use tower::ServiceExt;

use crate::config::ConnectionConfig;

/// Serves `router` on `listener` until `stop_accepting` completes; then closes idle connections,
/// lets the busy ones finish for at most `grace`, and drops what is left.
pub async fn serve(
    listener: TcpListener,
    router: axum::Router,
    config: &ConnectionConfig,
    grace: Duration,
    stop_accepting: impl Future<Output = ()>,
) {
    let builder = builder(config);
    let idle_timeout = config.idle_connection_timeout();
    let graceful = GracefulShutdown::new();
    let mut connections = JoinSet::new();
    tokio::pin!(stop_accepting);
    loop {
        tokio::select! {
            () = &mut stop_accepting => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    let activity = Arc::new(Activity::new());
                    let io = TokioIo::new(IdleClose::new(stream, activity.clone(), idle_timeout));
                    let service = connection_service(router.clone(), peer, activity);
                    let connection = graceful.watch(
                        builder.serve_connection_with_upgrades(io, service).into_owned(),
                    );
                    connections.spawn(async move {
                        if let Err(error) = connection.await {
                            tracing::debug!(%peer, error = %error, "connection ended with an error");
                        }
                    });
                }
                Err(error) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tracing::warn!(error = %error, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    tracing::info!(
        connections = connections.len(),
        "no longer accepting; closing idle connections, finishing in-flight requests"
    );
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            grace_secs = grace.as_secs(),
            connections = connections.len(),
            "drain deadline passed; closing the remaining connections"
        );
    }
    connections.shutdown().await;
}

/// The HTTP/1 + HTTP/2 connection builder with our timeouts and windows.
fn builder(config: &ConnectionConfig) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(config.header_read_timeout());
    let mut http2 = builder.http2();
    http2.timer(TokioTimer::new());
    if config.http2_keepalive_interval_secs > 0 {
        http2
            .keep_alive_interval(Duration::from_secs(config.http2_keepalive_interval_secs))
            .keep_alive_timeout(Duration::from_secs(
                config.http2_keepalive_timeout_secs.max(1),
            ));
    }
    if config.http2_adaptive_window {
        http2.adaptive_window(true);
    } else {
        http2
            .initial_stream_window_size(config.http2_stream_window_bytes)
            .initial_connection_window_size(config.http2_connection_window_bytes);
    }
    builder
}

/// The router as one connection's hyper service: the peer address as `ConnectInfo` (handlers
/// read it), and every request counted in flight until its answer's body is done.
fn connection_service(
    router: axum::Router,
    peer: SocketAddr,
    activity: Arc<Activity>,
) -> impl hyper::service::Service<
    http::Request<Incoming>,
    Response = http::Response<Tracked>,
    Error = Infallible,
    Future = impl Future<Output = Result<http::Response<Tracked>, Infallible>> + Send + 'static,
> + Clone {
    hyper::service::service_fn(move |mut request: http::Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        let busy = Busy::new(activity.clone());
        let call = router.clone().oneshot(request);
        async move {
            let response = call.await?;
            Ok(response.map(|body| Tracked { body, _busy: busy }))
        }
    })
}

/// What a connection is doing: requests in flight and when the last one ended.
struct Activity {
    base: Instant,
    in_flight: AtomicUsize,
    /// When the last request ended, since `base`.
    last_end_nanos: AtomicU64,
    /// The connection's reader, woken when the last request in flight ends.
    reader: AtomicWaker,
}

impl Activity {
    fn new() -> Self {
        Activity {
            base: Instant::now(),
            in_flight: AtomicUsize::new(0),
            last_end_nanos: AtomicU64::new(0),
            reader: AtomicWaker::new(),
        }
    }

    /// When the connection counts as idle for `timeout`; `None` while a request is in flight.
    fn idle_deadline(&self, timeout: Duration) -> Option<Instant> {
        (self.in_flight.load(Ordering::Acquire) == 0).then(|| {
            self.base + Duration::from_nanos(self.last_end_nanos.load(Ordering::Acquire)) + timeout
        })
    }
}

/// One request in flight on a connection, until dropped.
struct Busy(Arc<Activity>);

impl Busy {
    fn new(activity: Arc<Activity>) -> Self {
        activity.in_flight.fetch_add(1, Ordering::AcqRel);
        Busy(activity)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        let since = self.0.base.elapsed().as_nanos() as u64;
        self.0.last_end_nanos.store(since, Ordering::Release);
        if self.0.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.reader.wake();
        }
    }
}

/// A response body that keeps its request counted in flight until it is done.
struct Tracked {
    body: Body,
    _busy: Busy,
}

impl http_body::Body for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// The socket of one connection; once no request has been in flight for the idle timeout, its
/// reads end (EOF), which makes hyper close the connection.
struct IdleClose {
    stream: TcpStream,
    activity: Arc<Activity>,
    timeout: Duration,
    timer: Pin<Box<Sleep>>,
    closed: bool,
}

impl IdleClose {
    fn new(stream: TcpStream, activity: Arc<Activity>, timeout: Duration) -> Self {
        let first_deadline = Instant::now() + timeout;
        IdleClose {
            stream,
            activity,
            timeout,
            timer: Box::pin(tokio::time::sleep_until(first_deadline)),
            closed: false,
        }
    }

    /// Ready once the connection has been idle for the timeout; otherwise arranges a wake-up.
    fn poll_idle(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            self.activity.reader.register(cx.waker());
            let Some(deadline) = self.activity.idle_deadline(self.timeout) else {
                return Poll::Pending;
            };
            if deadline <= Instant::now() {
                return Poll::Ready(());
            }
            if self.timer.deadline() != deadline {
                self.timer.as_mut().reset(deadline);
            }
            if self.timer.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
        }
    }
}

impl AsyncRead for IdleClose {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if self.closed {
            return Poll::Ready(Ok(()));
        }
        match Pin::new(&mut self.stream).poll_read(cx, buf) {
            Poll::Pending => {
                if self.poll_idle(cx).is_ready() {
                    tracing::debug!("closing an idle connection");
                    self.closed = true;
                    return Poll::Ready(Ok(()));
                }
                Poll::Pending
            }
            ready => ready,
        }
    }
}

impl AsyncWrite for IdleClose {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
