//! Connections and request limits: idle and half-sent connections are closed, a request that
//! stops making progress (or waits on a stalled database) is answered 503 / UNAVAILABLE with
//! `Retry-After`, load beyond the limit is shed at once while health answers, and shutdown
//! closes idle connections at once, finishes in-flight requests and honours the drain delay.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use sea_orm::ConnectionTrait;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use kasi_fiber::proto::v1::ListPonsRequest;
use kasi_fiber::proto::v1::pon_service_client::PonServiceClient;

use crate::harness::{
    Backends, Bearer, TcpProxy, TestServer, backend_sets, real_services, redirect_url,
    socket_addr_of,
};

/// A login body (for an account that does not exist: any answer but 503 will do).
const LOGIN_BODY: &str = r#"{"email":"nobody@example.test","password":"not-the-password"}"#;

/// The head of a login request announcing `LOGIN_BODY`.
fn login_head() -> String {
    format!(
        "POST /v1/auth/login HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        LOGIN_BODY.len()
    )
}

async fn connect(server: &TestServer) -> TcpStream {
    TcpStream::connect(server.addr).await.unwrap()
}

/// Reads one HTTP/1.1 response (head and a `Content-Length` body): its status and text.
async fn read_response(stream: &mut TcpStream) -> (u16, String) {
    let mut received = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let read = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut chunk))
            .await
            .expect("a response within 10 s")
            .unwrap();
        assert!(read > 0, "closed before a whole response: {received:?}");
        received.extend_from_slice(&chunk[..read]);
        let text = String::from_utf8_lossy(&received).to_string();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|line| {
                    let (name, value) = line.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            if body.len() >= length {
                let status = head.split(' ').nth(1).unwrap().parse().unwrap();
                return (status, text);
            }
        }
    }
}

/// How long until the server closes `stream` (reads end), at most `limit`.
async fn closed_after(stream: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut chunk = [0u8; 1024];
    tokio::time::timeout(limit, async {
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return started.elapsed(),
                Ok(_) => {}
            }
        }
    })
    .await
    .ok()
}

/// An HTTP/1.1 keep-alive connection that has had one answered request.
async fn idle_connection(server: &TestServer) -> TcpStream {
    let mut stream = connect(server).await;
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(read_response(&mut stream).await.0, 200);
    stream
}

/// A login request whose head and half its body are sent: in flight until the rest comes.
async fn half_sent_login(server: &TestServer) -> TcpStream {
    let mut stream = connect(server).await;
    let half = &LOGIN_BODY[..LOGIN_BODY.len() / 2];
    stream
        .write_all(format!("{}{half}", login_head()).as_bytes())
        .await
        .unwrap();
    stream
}

async fn finish_login(stream: &mut TcpStream) -> (u16, String) {
    stream
        .write_all(&LOGIN_BODY.as_bytes()[LOGIN_BODY.len() / 2..])
        .await
        .unwrap();
    read_response(stream).await
}

fn assert_unavailable_json(status: u16, text: &str) {
    assert_eq!(status, 503, "{text}");
    assert!(
        text.to_ascii_lowercase().contains("\r\nretry-after: 1\r\n"),
        "{text}"
    );
    assert!(text.contains(r#""code":"UNAVAILABLE""#), "{text}");
}

/// HTTP/1 keep-alive connections idle for IDLE_CONNECTION_TIMEOUT_SECS are closed, a half-sent
/// request head after HEADER_READ_TIMEOUT_SECS; a request whose body keeps arriving outlives both
/// and the request timeout, and one whose body stops is answered 503 after REQUEST_TIMEOUT_SECS.
#[tokio::test]
async fn idle_half_sent_and_stalled_requests_are_ended() {
    for backends in backend_sets() {
        let server = TestServer::start_with(&backends, |config| {
            config.connections.idle_connection_timeout_secs = 1;
            config.connections.header_read_timeout_secs = 1;
            config.connections.request_timeout_secs = 1;
        })
        .await;
        let label = backends.label();

        let mut idle = idle_connection(&server).await;
        let mut half_head = connect(&server).await;
        half_head
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: test\r\n")
            .await
            .unwrap();
        let idle_closed = closed_after(&mut idle, Duration::from_secs(5)).await;
        let idle_closed = idle_closed.unwrap_or_else(|| panic!("{label}: idle connection open"));
        assert!(idle_closed >= Duration::from_millis(500), "{idle_closed:?}");
        assert!(
            closed_after(&mut half_head, Duration::from_secs(3))
                .await
                .is_some(),
            "{label}: a half-sent head is dropped"
        );

        // A body sent a few bytes every 200 ms for 2.4 s: slow, but never still for a second.
        let mut slow = connect(&server).await;
        slow.write_all(login_head().as_bytes()).await.unwrap();
        for piece in LOGIN_BODY.as_bytes().chunks(LOGIN_BODY.len().div_ceil(12)) {
            tokio::time::sleep(Duration::from_millis(200)).await;
            slow.write_all(piece).await.unwrap();
        }
        let (status, text) = read_response(&mut slow).await;
        assert_ne!(
            status, 503,
            "{label}: a progressing upload is not cut: {text}"
        );

        let started = Instant::now();
        let mut stalled = half_sent_login(&server).await;
        let (status, text) = read_response(&mut stalled).await;
        assert_unavailable_json(status, &text);
        let took = started.elapsed();
        assert!(
            took >= Duration::from_millis(900) && took < Duration::from_secs(3),
            "{label}: {took:?}"
        );
        server.stop().await;
    }
}

/// Shutdown with 24 idle connections (20 HTTP/1, 4 HTTP/2) and one request in flight: the idle
/// ones are closed at once, the request is answered, and the whole takes far less than the grace.
#[tokio::test]
async fn shutdown_closes_idle_connections_at_once_and_finishes_in_flight_requests() {
    for backends in backend_sets() {
        let server = TestServer::start_with(&backends, |config| {
            config.shutdown_grace_secs = 20;
        })
        .await;
        server.wait_ready().await;
        let mut idle = Vec::new();
        for _ in 0..20 {
            idle.push(idle_connection(&server).await);
        }
        let mut channels = Vec::new();
        for _ in 0..4 {
            let channel = server.channel().await;
            let mut health = HealthClient::new(channel.clone());
            health
                .check(HealthCheckRequest {
                    service: String::new(),
                })
                .await
                .unwrap();
            channels.push(channel);
        }
        let mut in_flight = half_sent_login(&server).await;
        tokio::time::sleep(Duration::from_millis(200)).await;

        let started = Instant::now();
        let stopping = tokio::spawn(server.stop());
        for connection in &mut idle {
            assert!(
                closed_after(connection, Duration::from_secs(2))
                    .await
                    .is_some(),
                "{}: idle connection closed at once",
                backends.label()
            );
        }
        let (status, text) = finish_login(&mut in_flight).await;
        assert!(
            status != 503 && status < 500,
            "{}: the in-flight request finishes: {text}",
            backends.label()
        );
        tokio::time::timeout(Duration::from_secs(5), stopping)
            .await
            .expect("shutdown finishes well within the grace period")
            .unwrap();
        let took = started.elapsed();
        assert!(took < Duration::from_secs(5), "{took:?}");
    }
}

/// Requests on a stalled PostgreSQL (connections open, nothing forwarded) are released after
/// the request timeout as 503 / UNAVAILABLE with `Retry-After` on REST, gRPC and the legacy
/// paths, not held for as long as it stalls; the server works again once it is restored.
#[tokio::test]
async fn a_stalled_database_releases_requests_with_unavailable() {
    let Some(real) = real_services() else { return };
    let proxy = TcpProxy::start(socket_addr_of(&real.postgres_admin_url)).await;
    let proxy_addr = proxy.addr;
    let server = TestServer::start_with(&Backends::Real(real), move |config| {
        let url = config.database.database_url.clone().unwrap();
        config.database.database_url = Some(redirect_url(&url, proxy_addr));
        config.database.db_statement_timeout_ms = 1000;
        config.connections.request_timeout_secs = 2;
    })
    .await;
    server.wait_ready().await;
    // Every pooled connection carries the statement timeout.
    let db = kasi_fiber::storage::db::connect(&server.config.database, &server.config.data_dir)
        .await
        .unwrap();
    let row = db
        .query_one_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SHOW statement_timeout",
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        row.try_get::<String>("", "statement_timeout").unwrap(),
        "1s"
    );
    db.close().await.unwrap();
    let token = server.admin_token().await;
    let http = server.http_as(&token);
    let mut pons = PonServiceClient::with_interceptor(server.channel().await, Bearer::new(&token));
    assert_eq!(
        http.get(server.url("/v1/pons"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    proxy.stall();
    let started = Instant::now();
    let (rest, legacy, grpc) = tokio::join!(
        http.get(server.url("/v1/pons")).send(),
        http.get(server.url("/api/pons"))
            .header("x-auth-token", &token)
            .send(),
        pons.list_pons(ListPonsRequest::default()),
    );
    let took = started.elapsed();
    assert!(took < Duration::from_secs(4), "released after {took:?}");
    for response in [rest.unwrap(), legacy.unwrap()] {
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(response.headers().contains_key("retry-after"));
    }
    let status = grpc.expect_err("UNAVAILABLE");
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
    assert!(status.metadata().contains_key("retry-after"));

    proxy.restore();
    let mut recovered = false;
    for _ in 0..100 {
        if http
            .get(server.url("/v1/pons"))
            .send()
            .await
            .unwrap()
            .status()
            == 200
        {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        recovered,
        "the server works again once the database answers"
    );
    server.stop().await;
}

/// Beyond MAX_CONCURRENT_REQUESTS in flight, REST, legacy and gRPC requests are refused at once
/// with 503 / UNAVAILABLE and `Retry-After`, while the health probes still answer.
#[tokio::test]
async fn load_beyond_the_limit_is_shed_at_once_and_health_still_answers() {
    for backends in backend_sets() {
        let server = TestServer::start_with(&backends, |config| {
            config.connections.max_concurrent_requests = 2;
        })
        .await;
        server.wait_ready().await;
        let label = backends.label();
        let mut holding = vec![
            half_sent_login(&server).await,
            half_sent_login(&server).await,
        ];
        tokio::time::sleep(Duration::from_millis(200)).await;

        let http = reqwest::Client::new();
        let mut pons = PonServiceClient::new(server.channel().await);
        let started = Instant::now();
        let burst = futures::future::join_all((0..16).map(|i| {
            let request = if i % 2 == 0 {
                http.get(server.url("/v1/pons"))
            } else {
                http.get(server.url("/api/pons"))
            };
            request.send()
        }))
        .await;
        let grpc = pons.list_pons(ListPonsRequest::default()).await;
        let took = started.elapsed();
        assert!(
            took < Duration::from_secs(2),
            "{label}: shed at once, took {took:?}"
        );
        for response in burst {
            let response = response.unwrap();
            assert_eq!(
                response.status(),
                StatusCode::SERVICE_UNAVAILABLE,
                "{label}"
            );
            assert_eq!(response.headers()["retry-after"], "1");
            let body: serde_json::Value = response.json().await.unwrap();
            assert_eq!(body["code"], "UNAVAILABLE", "{body}");
        }
        let status = grpc.expect_err("shed");
        assert_eq!(
            status.code(),
            tonic::Code::Unavailable,
            "{label}: {status:?}"
        );
        assert_eq!(status.metadata().get("retry-after").unwrap(), "1");

        for probe in ["/healthz", "/readyz"] {
            let response = http.get(server.url(probe)).send().await.unwrap();
            assert_eq!(response.status(), 200, "{label}: {probe}");
        }
        let mut health = HealthClient::new(server.channel().await);
        let serving = health
            .check(HealthCheckRequest {
                service: String::new(),
            })
            .await
            .unwrap()
            .into_inner()
            .status();
        assert_eq!(serving, ServingStatus::Serving);

        for stream in &mut holding {
            let (status, text) = finish_login(stream).await;
            assert_ne!(status, 503, "{text}");
        }
        let response = http.get(server.url("/v1/pons")).send().await.unwrap();
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "{label}: no longer shed"
        );
        server.stop().await;
    }
}

/// During SHUTDOWN_DRAIN_DELAY_SECS health says NOT_SERVING and `/readyz` 503, yet new
/// connections are still accepted and served; afterwards none are.
#[tokio::test]
async fn the_drain_delay_keeps_serving_while_health_says_not_serving() {
    for backends in backend_sets() {
        let server = TestServer::start_with(&backends, |config| {
            config.connections.shutdown_drain_delay_secs = 2;
        })
        .await;
        server.wait_ready().await;
        let label = backends.label();
        let url = server.url("");
        let mut health = HealthClient::new(server.channel().await);
        let started = Instant::now();
        let stopping = tokio::spawn(server.stop());
        let mut not_serving = false;
        for _ in 0..50 {
            let status = health
                .check(HealthCheckRequest {
                    service: String::new(),
                })
                .await
                .unwrap()
                .into_inner()
                .status();
            if status == ServingStatus::NotServing {
                not_serving = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(not_serving, "{label}: NOT_SERVING at once");
        // A new client (so a new connection) is served meanwhile.
        let fresh = reqwest::Client::new();
        let readyz = fresh.get(format!("{url}/readyz")).send().await.unwrap();
        assert_eq!(readyz.status(), StatusCode::SERVICE_UNAVAILABLE);
        let body: serde_json::Value = readyz.json().await.unwrap();
        assert_eq!(body["status"], "shutting_down", "{body}");
        let served = reqwest::Client::new()
            .get(format!("{url}/v1/pons"))
            .send()
            .await
            .unwrap();
        assert_eq!(
            served.status(),
            StatusCode::UNAUTHORIZED,
            "{label}: still served"
        );
        assert!(started.elapsed() < Duration::from_millis(1500));
        drop(health);
        stopping.await.unwrap();
        assert!(started.elapsed() >= Duration::from_secs(2), "{label}");
        assert!(
            reqwest::Client::new()
                .get(format!("{url}/healthz"))
                .send()
                .await
                .is_err(),
            "{label}: no longer accepting"
        );
    }
}
