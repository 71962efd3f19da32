//! Test harness: starts the real server on an ephemeral port, once per backend set —
//! the embedded defaults, and real PostgreSQL+PostGIS, Redis, S3 and SMTP when their
//! `KASI_TEST_*` variables are set (CI sets them and `KASI_TEST_REQUIRE_REAL=1`).

use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use clap::Parser;
use kasi_fiber::config::Config;
use kasi_fiber::server::{self, RunningServer};
use sea_orm::{ConnectionTrait, Database};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// Where the real services are, from the environment.
#[derive(Clone, Debug)]
pub struct RealServices {
    pub postgres_admin_url: String,
    pub redis_url: String,
    pub s3_endpoint: String,
    pub s3_region: String,
    pub s3_access_key: String,
    pub s3_secret_key: String,
    pub smtp_host: String,
    pub smtp_port: u16,
    /// maildev's HTTP API, e.g. http://127.0.0.1:1080
    pub smtp_api: String,
}

#[derive(Clone, Debug)]
pub enum Backends {
    Embedded,
    Real(RealServices),
}

impl Backends {
    pub fn label(&self) -> &'static str {
        match self {
            Backends::Embedded => "embedded",
            Backends::Real(_) => "real",
        }
    }
}

const REAL_VARIABLES: [&str; 9] = [
    "KASI_TEST_POSTGRES_URL",
    "KASI_TEST_REDIS_URL",
    "KASI_TEST_S3_ENDPOINT",
    "KASI_TEST_S3_REGION",
    "KASI_TEST_S3_ACCESS_KEY",
    "KASI_TEST_S3_SECRET_KEY",
    "KASI_TEST_SMTP_HOST",
    "KASI_TEST_SMTP_PORT",
    "KASI_TEST_SMTP_API",
];

/// The real services, or None (said loudly) when they are not configured. With
/// `KASI_TEST_REQUIRE_REAL=1` a missing variable fails the test instead.
pub fn real_services() -> Option<RealServices> {
    let missing: Vec<&str> = REAL_VARIABLES
        .iter()
        .copied()
        .filter(|name| std::env::var(name).map(|v| v.is_empty()).unwrap_or(true))
        .collect();
    if !missing.is_empty() {
        assert!(
            std::env::var("KASI_TEST_REQUIRE_REAL").as_deref() != Ok("1"),
            "KASI_TEST_REQUIRE_REAL=1 but {} not set: the real-backend run cannot happen",
            missing.join(", ")
        );
        // Straight to stderr, past the test harness's output capture, so the skip is seen.
        let _ = writeln!(
            std::io::stderr(),
            "!!! SKIPPING the real-backend half of this test: {} not set (run .ci/run, or export them; see README)",
            missing.join(", ")
        );
        return None;
    }
    let var = |name: &str| std::env::var(name).unwrap();
    Some(RealServices {
        postgres_admin_url: var("KASI_TEST_POSTGRES_URL"),
        redis_url: var("KASI_TEST_REDIS_URL"),
        s3_endpoint: var("KASI_TEST_S3_ENDPOINT"),
        s3_region: var("KASI_TEST_S3_REGION"),
        s3_access_key: var("KASI_TEST_S3_ACCESS_KEY"),
        s3_secret_key: var("KASI_TEST_S3_SECRET_KEY"),
        smtp_host: var("KASI_TEST_SMTP_HOST"),
        smtp_port: var("KASI_TEST_SMTP_PORT")
            .parse()
            .expect("KASI_TEST_SMTP_PORT"),
        smtp_api: var("KASI_TEST_SMTP_API"),
    })
}

/// Every backend set a test runs on: always the embedded one, plus the real one when configured.
pub fn backend_sets() -> Vec<Backends> {
    let mut sets = vec![Backends::Embedded];
    sets.extend(real_services().map(Backends::Real));
    sets
}

#[derive(Parser)]
struct ConfigArgs {
    #[command(flatten)]
    config: Config,
}

/// A unique lowercase name for databases, buckets and keys of one test.
pub fn unique_name(prefix: &str) -> String {
    format!("{prefix}{}", uuid::Uuid::now_v7().simple())
}

/// A fresh PostgreSQL database on the admin URL's server; returns its URL.
pub async fn fresh_database(admin_url: &str) -> String {
    let name = unique_name("kasi_t_");
    let admin = Database::connect(admin_url)
        .await
        .expect("connecting to KASI_TEST_POSTGRES_URL");
    admin
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .expect("CREATE DATABASE");
    let mut url = url::Url::parse(admin_url).expect("KASI_TEST_POSTGRES_URL is a URL");
    url.set_path(&name);
    url.to_string()
}

/// Drops the database a test created (best effort: a leftover is only clutter).
pub async fn drop_database(admin_url: &str, database_url: &str) {
    let Some(name) = url::Url::parse(database_url)
        .ok()
        .map(|url| url.path().trim_start_matches('/').to_string())
    else {
        return;
    };
    if let Ok(admin) = Database::connect(admin_url).await {
        let _ = admin
            .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .await;
    }
}

/// Configuration for a test server on `backends`: port 0, a fresh data directory,
/// a fresh database and bucket, and fast readiness checks.
pub async fn test_config(backends: &Backends, data_dir: &std::path::Path) -> Config {
    let mut config = ConfigArgs::parse_from(["kasi-fiber"]).config;
    config.listen_addr = "127.0.0.1:0".parse().unwrap();
    config.data_dir = data_dir.to_path_buf();
    config.log_level = std::env::var("KASI_TEST_LOG").unwrap_or_else(|_| "warn".into());
    config.readiness.readiness_interval_ms = 100;
    config.readiness.readiness_timeout_ms = 1000;
    config.readiness.readiness_failure_threshold = 2;
    config.shutdown_grace_secs = 5;
    // Tests run the SLA scan themselves, with a chosen time.
    config.sla.disable_sla_scan = true;
    config.cors_allow_origins = vec![];
    match backends {
        Backends::Embedded => {
            config.database.database_url = None;
            config.redis_url = None;
            config.s3.s3_endpoint = None;
            config.mail.smtp_host = None;
        }
        Backends::Real(real) => {
            config.database.database_url = Some(fresh_database(&real.postgres_admin_url).await);
            config.redis_url = Some(real.redis_url.clone());
            // Each test server counts its own rate limits in the shared Redis.
            config.redis_key_prefix = unique_name("kasi-test:");
            config.s3.s3_endpoint = Some(real.s3_endpoint.clone());
            config.s3.s3_region = real.s3_region.clone();
            config.s3.s3_bucket = unique_name("kasi-t-");
            config.s3.s3_access_key = Some(real.s3_access_key.clone());
            config.s3.s3_secret_key = Some(real.s3_secret_key.clone());
            config.s3.s3_create_bucket = true;
            config.mail.smtp_host = Some(real.smtp_host.clone());
            config.mail.smtp_port = real.smtp_port;
            config.mail.smtp_secure = false;
        }
    }
    config
}

/// Sends a request and reads its JSON answer (whatever the status).
pub trait FetchJson {
    async fn fetch_json(self) -> serde_json::Value;
}

impl FetchJson for reqwest::RequestBuilder {
    async fn fetch_json(self) -> serde_json::Value {
        self.send().await.unwrap().json().await.unwrap()
    }
}

/// The password of every account the tests create.
pub const TEST_PASSWORD: &str = "Test-Password-1";

/// Adds `authorization: Bearer <token>` to every gRPC call of a tonic client.
#[derive(Clone)]
pub struct Bearer(pub tonic::metadata::MetadataValue<tonic::metadata::Ascii>);

impl Bearer {
    pub fn new(token: &str) -> Self {
        Bearer(format!("Bearer {token}").parse().unwrap())
    }
}

impl tonic::service::Interceptor for Bearer {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        request
            .metadata_mut()
            .insert("authorization", self.0.clone());
        Ok(request)
    }
}

/// A running server and what it needs to live.
pub struct TestServer {
    pub addr: SocketAddr,
    pub backends: Backends,
    pub config: Config,
    server: Option<RunningServer>,
    _data_dir: tempfile::TempDir,
}

impl TestServer {
    pub async fn start(backends: &Backends) -> TestServer {
        Self::start_with(backends, |_| {}).await
    }

    /// Starts a server after `adjust` has changed its configuration.
    pub async fn start_with(backends: &Backends, adjust: impl FnOnce(&mut Config)) -> TestServer {
        let data_dir = tempfile::tempdir().unwrap();
        let mut config = test_config(backends, data_dir.path()).await;
        adjust(&mut config);
        kasi_fiber::telemetry::init(&config.log_level, config.log_format);
        let server = server::start(&config).await.expect("server starts");
        TestServer {
            addr: server.addr,
            backends: backends.clone(),
            config,
            server: Some(server),
            _data_dir: data_dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// A tonic channel over h2c.
    pub async fn channel(&self) -> tonic::transport::Channel {
        tonic::transport::Endpoint::from_shared(self.url(""))
            .unwrap()
            .connect()
            .await
            .expect("gRPC connect")
    }

    /// Waits until `/readyz` says ready (the first checks run right after start).
    pub async fn wait_ready(&self) {
        let client = reqwest::Client::new();
        for _ in 0..100 {
            if let Ok(response) = client.get(self.url("/readyz")).send().await
                && response.status() == 200
            {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("{} server never became ready", self.backends.label());
    }

    /// Stops the server and drops its PostgreSQL database.
    /// A token of a new ADMIN of the tenant `slug` (created with the tenant when missing).
    pub async fn admin_token_in(&self, slug: &str) -> String {
        let db = kasi_fiber::storage::db::connect(&self.config.database, &self.config.data_dir)
            .await
            .unwrap();
        let email = format!("{}@{slug}.test", unique_name("admin"));
        let admin = kasi_fiber::identity::service::NewUser {
            name: "Test Admin".into(),
            email: email.clone(),
            password: TEST_PASSWORD.into(),
            ..Default::default()
        };
        kasi_fiber::identity::service::bootstrap_admin(
            &db,
            &kasi_fiber::clock::SystemClock,
            slug,
            slug,
            admin,
        )
        .await
        .expect("bootstrap admin");
        db.close().await.unwrap();
        self.login(&email, TEST_PASSWORD).await
    }

    /// A token of a new ADMIN of the default tenant.
    pub async fn admin_token(&self) -> String {
        self.admin_token_in("default").await
    }

    /// A token of a new user with `role` (`ROLE_PM`, ...), created by the admin holding `admin_token`.
    pub async fn user_token(&self, admin_token: &str, role: &str) -> String {
        let email = format!("{}@example.test", unique_name("user"));
        let response = self
            .http_as(admin_token)
            .post(self.url("/v1/users"))
            .json(&serde_json::json!({"name": "Test User", "email": email, "password": TEST_PASSWORD, "role": role}))
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            200,
            "create {role} user: {}",
            response.text().await.unwrap()
        );
        self.login(&email, TEST_PASSWORD).await
    }

    /// Logs in over REST and returns the token.
    pub async fn login(&self, email: &str, password: &str) -> String {
        let response: serde_json::Value = reqwest::Client::new()
            .post(self.url("/v1/auth/login"))
            .json(&serde_json::json!({"email": email, "password": password}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        response["token"]
            .as_str()
            .unwrap_or_else(|| panic!("login failed: {response}"))
            .to_string()
    }

    /// An HTTP client that sends `authorization: Bearer <token>` on every request.
    pub fn http_as(&self, token: &str) -> reqwest::Client {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("authorization", format!("Bearer {token}").parse().unwrap());
        reqwest::Client::builder()
            .default_headers(headers)
            .build()
            .unwrap()
    }

    pub async fn stop(mut self) {
        if let Some(server) = self.server.take() {
            server.stop().await.expect("server stops cleanly");
        }
        if let (Backends::Real(real), Some(url)) =
            (&self.backends, &self.config.database.database_url)
        {
            drop_database(&real.postgres_admin_url, url).await;
        }
    }
}

/// The status and JSON body of a response (null when the body is not JSON).
pub async fn status_and_body(
    response: reqwest::Response,
) -> (reqwest::StatusCode, serde_json::Value) {
    let status = response.status();
    (
        status,
        response.json().await.unwrap_or(serde_json::Value::Null),
    )
}

/// A TCP proxy a test can cut and restore, to make a dependency unreachable, or stall, to
/// make it hang (sockets stay open, nothing is forwarded).
pub struct TcpProxy {
    pub addr: SocketAddr,
    open: Arc<AtomicBool>,
    /// True while forwarding is stalled.
    stalled: tokio::sync::watch::Sender<bool>,
    connections: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accept_task: JoinHandle<()>,
}

/// Copies `from` to `to`, holding each chunk while the proxy is stalled.
async fn forward(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut stalled: tokio::sync::watch::Receiver<bool>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let read = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(read) => read,
        };
        if stalled.wait_for(|stalled| !*stalled).await.is_err()
            || to.write_all(&buffer[..read]).await.is_err()
        {
            break;
        }
    }
    let _ = to.shutdown().await;
}

impl TcpProxy {
    pub async fn start(target: SocketAddr) -> TcpProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let open = Arc::new(AtomicBool::new(true));
        let (stalled, _) = tokio::sync::watch::channel(false);
        let connections: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let accept_task = {
            let open = open.clone();
            let connections = connections.clone();
            let stalled = stalled.clone();
            tokio::spawn(async move {
                while let Ok((inbound, _)) = listener.accept().await {
                    if !open.load(Ordering::SeqCst) {
                        drop(inbound);
                        continue;
                    }
                    let stalled = stalled.subscribe();
                    let task = tokio::spawn(async move {
                        if let Ok(outbound) = TcpStream::connect(target).await {
                            let (in_read, in_write) = inbound.into_split();
                            let (out_read, out_write) = outbound.into_split();
                            tokio::join!(
                                forward(in_read, out_write, stalled.clone()),
                                forward(out_read, in_write, stalled),
                            );
                        }
                    });
                    connections.lock().unwrap().push(task);
                }
            })
        };
        TcpProxy {
            addr,
            open,
            stalled,
            connections,
            accept_task,
        }
    }

    /// Drops every connection and refuses new ones until `restore`.
    pub fn cut(&self) {
        self.open.store(false, Ordering::SeqCst);
        for task in self.connections.lock().unwrap().drain(..) {
            task.abort();
        }
    }

    /// Keeps every connection open (and accepts new ones) but forwards nothing until `restore`.
    pub fn stall(&self) {
        self.stalled.send_replace(true);
    }

    /// Accepts and forwards again.
    pub fn restore(&self) {
        self.open.store(true, Ordering::SeqCst);
        self.stalled.send_replace(false);
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.cut();
        self.accept_task.abort();
    }
}

/// The host:port of a URL, resolved.
pub fn socket_addr_of(url: &str) -> SocketAddr {
    let parsed = url::Url::parse(url).expect("a URL");
    let host = parsed.host_str().expect("a host");
    let port = parsed.port_or_known_default().expect("a port");
    std::net::ToSocketAddrs::to_socket_addrs(&(host, port))
        .unwrap()
        .next()
        .unwrap()
}

/// The same URL pointing at `addr` instead.
pub fn redirect_url(url: &str, addr: SocketAddr) -> String {
    let mut parsed = url::Url::parse(url).expect("a URL");
    parsed.set_ip_host(addr.ip()).unwrap();
    parsed.set_port(Some(addr.port())).unwrap();
    let text = parsed.to_string();
    if url.ends_with('/') {
        text
    } else {
        text.trim_end_matches('/').to_string()
    }
}

/// Sends a request: its status and JSON body (`null` when there is none).
pub async fn call(request: reqwest::RequestBuilder) -> (reqwest::StatusCode, serde_json::Value) {
    status_and_body(request.send().await.unwrap()).await
}

/// A successful call's JSON body.
pub async fn ok(request: reqwest::RequestBuilder) -> serde_json::Value {
    let (status, body) = call(request).await;
    assert_eq!(status, reqwest::StatusCode::OK, "{body}");
    body
}

/// The `id` of a JSON record.
pub fn id_of(body: &serde_json::Value) -> String {
    body["id"].as_str().unwrap().to_string()
}

/// The fields an INVALID_ARGUMENT gRPC status names in its `BadRequest` details, in order.
pub fn violated_fields(status: &tonic::Status) -> Vec<String> {
    use tonic_types::StatusExt;
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    status
        .get_details_bad_request()
        .expect("BadRequest details")
        .field_violations
        .into_iter()
        .map(|violation| violation.field)
        .collect()
}
