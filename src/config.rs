//! Typed configuration: every setting comes from a command-line flag or its environment
//! variable, and every one has an embedded default so the server runs with none set.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};

/// What a public self-registration gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SelfRegistration {
    Off,
    Approval,
    Open,
}

/// How logs are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Settings of the `serve` command (and the parts `migrate` shares).
#[derive(Args, Clone, Debug)]
pub struct Config {
    /// Address the one listener binds (gRPC, grpc-web, REST, health).
    #[arg(long, env = "LISTEN_ADDR", default_value = "0.0.0.0:8000")]
    pub listen_addr: SocketAddr,

    /// Directory for the embedded backends: SQLite file, object files, mail outbox.
    #[arg(long, env = "DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,

    #[command(flatten)]
    pub database: DatabaseConfig,

    /// Redis for cache, rate limits and locks (e.g. redis://127.0.0.1:6379/0); in-process when unset.
    #[arg(long, env = "REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<String>,

    /// Prefix of every Redis key, so several deployments (or test runs) can share one Redis.
    #[arg(long, env = "REDIS_KEY_PREFIX", default_value = "kasi:")]
    pub redis_key_prefix: String,

    /// Redis command timeout in milliseconds.
    #[arg(long, env = "REDIS_COMMAND_TIMEOUT_MS", default_value_t = 2000)]
    pub redis_command_timeout_ms: u64,

    #[command(flatten)]
    pub s3: S3Config,

    #[command(flatten)]
    pub mail: MailConfig,

    /// Origins allowed by CORS, comma-separated; `*` allows any origin (without credentials); empty allows none.
    #[arg(
        long,
        env = "CORS_ALLOW_ORIGINS",
        default_value = "",
        value_delimiter = ','
    )]
    pub cors_allow_origins: Vec<String>,

    /// Largest request body accepted on any surface, in bytes.
    #[arg(long, env = "MAX_BODY_BYTES", default_value_t = 8 * 1024 * 1024)]
    pub max_body_bytes: usize,

    /// Log filter (`info`, `debug`, `kasi_fiber=debug,info`, ...).
    #[arg(long, env = "LOG_LEVEL", default_value = "info")]
    pub log_level: String,

    /// Log line format.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,

    #[command(flatten)]
    pub readiness: ReadinessConfig,

    #[command(flatten)]
    pub auth: AuthConfig,

    #[command(flatten)]
    pub sla: SlaConfig,

    #[command(flatten)]
    pub photos: PhotoConfig,

    #[command(flatten)]
    pub webhooks: WebhookConfig,

    /// Longest wait for in-flight requests to finish after SIGTERM/SIGINT, in seconds.
    #[arg(long, env = "SHUTDOWN_GRACE_SECS", default_value_t = 30)]
    pub shutdown_grace_secs: u64,

    #[command(flatten)]
    pub connections: ConnectionConfig,
}

/// Connections and requests: timeouts, keep-alive, HTTP/2 windows, load shedding, the drain on shutdown.
#[derive(Args, Clone, Debug)]
pub struct ConnectionConfig {
    /// Longest time a request may take to produce its answer, in seconds, counted from its last
    /// received body bytes (an upload that makes progress is not cut); then 503 / UNAVAILABLE.
    #[arg(long, env = "REQUEST_TIMEOUT_SECS", default_value_t = 30)]
    pub request_timeout_secs: u64,

    /// Requests in flight beyond which new ones are refused at once (503 / UNAVAILABLE with
    /// `Retry-After`) instead of queueing; health probes are exempt.
    #[arg(long, env = "MAX_CONCURRENT_REQUESTS", default_value_t = 1024)]
    pub max_concurrent_requests: usize,

    /// Time a client has to send a complete HTTP/1 request header, in seconds.
    #[arg(long, env = "HEADER_READ_TIMEOUT_SECS", default_value_t = 10)]
    pub header_read_timeout_secs: u64,

    /// A connection with no request in flight for this long is closed, in seconds.
    #[arg(long, env = "IDLE_CONNECTION_TIMEOUT_SECS", default_value_t = 60)]
    pub idle_connection_timeout_secs: u64,

    /// Interval of HTTP/2 keep-alive pings, in seconds (0: none).
    #[arg(long, env = "HTTP2_KEEPALIVE_INTERVAL_SECS", default_value_t = 30)]
    pub http2_keepalive_interval_secs: u64,

    /// How long an HTTP/2 keep-alive ping may go unanswered before the connection is closed, in seconds.
    #[arg(long, env = "HTTP2_KEEPALIVE_TIMEOUT_SECS", default_value_t = 20)]
    pub http2_keepalive_timeout_secs: u64,

    /// HTTP/2 receive window of each stream, in bytes (what a client may send ahead unread).
    #[arg(long, env = "HTTP2_STREAM_WINDOW_BYTES", default_value_t = 1024 * 1024)]
    pub http2_stream_window_bytes: u32,

    /// HTTP/2 receive window of each connection, in bytes.
    #[arg(long, env = "HTTP2_CONNECTION_WINDOW_BYTES", default_value_t = 2 * 1024 * 1024)]
    pub http2_connection_window_bytes: u32,

    /// Size the HTTP/2 windows from the measured bandwidth-delay product instead (ignores the two above).
    #[arg(long, env = "HTTP2_ADAPTIVE_WINDOW", default_value_t = false, action = clap::ArgAction::Set)]
    pub http2_adaptive_window: bool,

    /// After a shutdown signal, how long health says NOT_SERVING while new connections are still
    /// accepted (so load balancers notice first), in seconds.
    #[arg(long, env = "SHUTDOWN_DRAIN_DELAY_SECS", default_value_t = 0)]
    pub shutdown_drain_delay_secs: u64,
}

impl ConnectionConfig {
    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_secs.max(1))
    }

    pub fn header_read_timeout(&self) -> Duration {
        Duration::from_secs(self.header_read_timeout_secs.max(1))
    }

    pub fn idle_connection_timeout(&self) -> Duration {
        Duration::from_secs(self.idle_connection_timeout_secs.max(1))
    }

    pub fn drain_delay(&self) -> Duration {
        Duration::from_secs(self.shutdown_drain_delay_secs)
    }
}

#[derive(Args, Clone, Debug)]
pub struct DatabaseConfig {
    /// PostgreSQL URL (`postgres://`, `postgresql://`, or the old `postgresql+psycopg://`); SQLite in DATA_DIR when unset.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,

    /// Largest number of pooled database connections.
    #[arg(long, env = "DB_POOL_SIZE", default_value_t = 16)]
    pub db_pool_size: u32,

    /// Apply pending migrations when the server starts.
    #[arg(long, env = "MIGRATE_ON_START", default_value_t = true, action = clap::ArgAction::Set)]
    pub migrate_on_start: bool,

    /// Longest a database statement may run (PostgreSQL `statement_timeout`) or wait for a lock
    /// (SQLite busy timeout), in milliseconds.
    #[arg(long, env = "DB_STATEMENT_TIMEOUT_MS", default_value_t = 5000)]
    pub db_statement_timeout_ms: u64,
}

#[derive(Args, Clone, Debug)]
pub struct S3Config {
    /// S3-compatible endpoint (e.g. http://127.0.0.1:9000); objects go to DATA_DIR/objects when unset.
    #[arg(long, env = "S3_ENDPOINT")]
    pub s3_endpoint: Option<String>,

    #[arg(long, env = "S3_REGION", default_value = "us-east-1")]
    pub s3_region: String,

    #[arg(long, env = "S3_BUCKET", default_value = "fiber-photos")]
    pub s3_bucket: String,

    #[arg(long, env = "S3_ACCESS_KEY", hide_env_values = true)]
    pub s3_access_key: Option<String>,

    #[arg(long, env = "S3_SECRET_KEY", hide_env_values = true)]
    pub s3_secret_key: Option<String>,

    /// Create the bucket at start when it does not exist.
    #[arg(long, env = "S3_CREATE_BUCKET", default_value_t = false, action = clap::ArgAction::Set)]
    pub s3_create_bucket: bool,

    /// Longest one object-store request may take, in seconds (connecting: at most 5 s of it).
    #[arg(long, env = "OBJECT_STORE_TIMEOUT_SECS", default_value_t = 10)]
    pub object_store_timeout_secs: u64,

    /// Key of the signed upload/download URLs of the local object store (shared by replicas);
    /// random at start when unset.
    #[arg(long, env = "OBJECT_URL_SECRET", hide_env_values = true)]
    pub object_url_secret: Option<String>,
}

#[derive(Args, Clone, Debug)]
pub struct MailConfig {
    /// SMTP relay host; mail is written as .eml files to DATA_DIR/outbox when unset.
    #[arg(long, env = "SMTP_HOST")]
    pub smtp_host: Option<String>,

    #[arg(long, env = "SMTP_PORT", default_value_t = 25)]
    pub smtp_port: u16,

    #[arg(long, env = "SMTP_USER")]
    pub smtp_user: Option<String>,

    #[arg(long, env = "SMTP_PASS", hide_env_values = true)]
    pub smtp_pass: Option<String>,

    /// Use implicit TLS (SMTPS); otherwise plain SMTP with STARTTLS when the server offers it.
    #[arg(long, env = "SMTP_SECURE", default_value_t = false, action = clap::ArgAction::Set)]
    pub smtp_secure: bool,

    /// Sender of every mail.
    #[arg(
        long,
        env = "MAIL_FROM",
        default_value = "Kasi Fiber <no-reply@kasifiber.local>"
    )]
    pub mail_from: String,
}

#[derive(Args, Clone, Debug)]
pub struct AuthConfig {
    /// HS256 key for our tokens. When unset a random key is made at start (tokens then die with the process).
    #[arg(long, env = "JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,

    /// Token lifetime in seconds.
    #[arg(long, env = "JWT_TTL_SECS", default_value_t = 24 * 3600)]
    pub jwt_ttl_secs: u64,

    /// `iss` of our tokens.
    #[arg(long, env = "JWT_ISSUER", default_value = "kasi-fiber")]
    pub jwt_issuer: String,

    /// HS256 key of an external identity provider whose tokens are accepted too (e.g. Supabase's JWT secret).
    #[arg(long, env = "EXTERNAL_JWT_SECRET", hide_env_values = true)]
    pub external_jwt_secret: Option<String>,

    /// Required `iss` of external tokens.
    #[arg(long, env = "EXTERNAL_JWT_ISSUER")]
    pub external_jwt_issuer: Option<String>,

    /// Required `aud` of external tokens (e.g. `authenticated`).
    #[arg(long, env = "EXTERNAL_JWT_AUDIENCE")]
    pub external_jwt_audience: Option<String>,

    /// DEVELOPMENT ONLY: take the role from an `X-Role` header when a request carries no token.
    #[arg(long, env = "DEV_TRUST_X_ROLE", default_value_t = false, action = clap::ArgAction::Set)]
    pub dev_trust_x_role: bool,

    /// Public Register (PM or SITE only): `off`; `approval` (default: the default tenant or an
    /// invite's, and nothing but the own profile until an admin approves); `open` (any tenant by
    /// slug, active at once — demos only, logged loudly).
    #[arg(
        long,
        env = "SELF_REGISTRATION",
        value_enum,
        default_value = "approval"
    )]
    pub self_registration: SelfRegistration,

    /// Login attempts allowed per account and per client IP in each window.
    #[arg(long, env = "LOGIN_ACCOUNT_LIMIT", default_value_t = 10)]
    pub login_account_limit: u64,

    #[arg(long, env = "LOGIN_IP_LIMIT", default_value_t = 100)]
    pub login_ip_limit: u64,

    /// Length of the login rate-limit window, in seconds.
    #[arg(long, env = "LOGIN_WINDOW_SECS", default_value_t = 300)]
    pub login_window_secs: u64,

    /// Refuse requests (503) when the rate-limit store is down, instead of letting them through.
    #[arg(long, env = "RATE_LIMIT_FAIL_CLOSED", default_value_t = false, action = clap::ArgAction::Set)]
    pub rate_limit_fail_closed: bool,

    /// Heavy writes allowed per organization and window; when set it replaces every route's default.
    #[arg(long, env = "HEAVY_ORG_LIMIT")]
    pub heavy_org_limit: Option<u64>,

    /// Length of the heavy-write window, in seconds.
    #[arg(long, env = "HEAVY_ORG_WINDOW", default_value_t = 60)]
    pub heavy_org_window: u64,

    /// Roles (from the verified token) that heavy-write limits do not apply to.
    #[arg(
        long,
        env = "HEAVY_ORG_BYPASS_ROLES",
        value_delimiter = ',',
        default_value = "NOC"
    )]
    pub heavy_org_bypass_roles: Vec<String>,

    /// Peers whose `X-Forwarded-For` is believed (comma list of IPs or CIDR ranges); it is read
    /// right to left past these, and others count as the client.
    #[arg(long, env = "TRUSTED_PROXIES", value_delimiter = ',', value_parser = crate::client_addr::parse_range)]
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

/// Photo uploads and the evidence rule.
#[derive(Args, Clone, Debug)]
pub struct PhotoConfig {
    /// Largest photo accepted, in bytes.
    #[arg(long, env = "FILE_MAX_BYTES", default_value_t = 6 * 1024 * 1024)]
    pub file_max_bytes: u64,

    /// Photo types accepted (sniffed from the bytes), comma-separated; empty: every supported type.
    #[arg(
        long,
        env = "ALLOWED_CONTENT_TYPES",
        value_delimiter = ',',
        default_value = "image/jpeg,image/png"
    )]
    pub allowed_content_types: Vec<String>,

    /// How long before its upload a photo may have been taken, in minutes.
    #[arg(long, env = "PHOTO_MAX_AGE_MINUTES", default_value_t = 24 * 60)]
    pub photo_max_age_minutes: u32,

    /// How far after its upload a photo's capture time may be (camera clocks drift), in minutes.
    #[arg(long, env = "PHOTO_MAX_FUTURE_MINUTES", default_value_t = 5)]
    pub photo_max_future_minutes: u32,

    /// Lifetime of upload and download URLs, in seconds.
    #[arg(long, env = "PHOTO_URL_TTL_SECS", default_value_t = 900)]
    pub photo_url_ttl_secs: u64,
}

/// The SLA scan job (jobs::sla) and its schedule.
#[derive(Args, Clone, Debug)]
pub struct SlaConfig {
    /// Seconds between SLA scans (1 to 86400); the first runs one interval after start.
    #[arg(long, env = "SLA_SCAN_INTERVAL_SECS", default_value_t = 60)]
    pub sla_scan_interval_secs: u64,

    /// Turns the scheduled SLA scan off (`true`).
    #[arg(long, env = "DISABLE_SLA_SCAN", default_value_t = false, action = clap::ArgAction::Set)]
    pub disable_sla_scan: bool,

    /// How long before a task's SLA target its warning mail goes out, in minutes.
    #[arg(long, env = "SLA_WARN_BEFORE_MINUTES", default_value_t = 60)]
    pub sla_warn_before_minutes: u32,
}

impl SlaConfig {
    pub fn interval(&self) -> Duration {
        Duration::from_secs(self.sla_scan_interval_secs.clamp(1, 86_400))
    }
}

/// The NMS webhooks: secrets, IP allowlist, per-IP limit and the tenant alerts belong to.
#[derive(Args, Clone, Debug)]
pub struct WebhookConfig {
    /// HMAC-SHA256 secret of `/webhooks/librenms` (falls back to `NMS_HMAC_SECRET`).
    #[arg(long, env = "WEBHOOK_HMAC_LIBRENMS", hide_env_values = true)]
    pub webhook_hmac_librenms: Option<String>,

    /// HMAC-SHA256 secret of `/webhooks/zabbix` (falls back to `NMS_HMAC_SECRET`).
    #[arg(long, env = "WEBHOOK_HMAC_ZABBIX", hide_env_values = true)]
    pub webhook_hmac_zabbix: Option<String>,

    #[arg(long, env = "NMS_HMAC_SECRET", hide_env_values = true)]
    pub nms_hmac_secret: Option<String>,

    /// Shared secret of the legacy `/api/nms/hook` (header `x-webhook-secret`).
    #[arg(long, env = "NMS_WEBHOOK_SECRET", hide_env_values = true)]
    pub nms_webhook_secret: Option<String>,

    /// DEVELOPMENT ONLY: accept webhooks without any secret configured (logged loudly).
    #[arg(long, env = "WEBHOOK_ALLOW_UNSIGNED", default_value_t = false, action = clap::ArgAction::Set)]
    pub webhook_allow_unsigned: bool,

    /// Client addresses allowed to call the NMS webhooks (empty: any); proxies per `TRUSTED_PROXIES`.
    #[arg(long, env = "NMS_ALLOW_IPS", value_delimiter = ',')]
    pub nms_allow_ips: Vec<std::net::IpAddr>,

    /// Webhook requests allowed per client IP and route in each window.
    #[arg(long, env = "WEBHOOK_IP_LIMIT", default_value_t = 60)]
    pub webhook_ip_limit: u64,

    /// The webhook limiter's window, in seconds.
    #[arg(long, env = "WEBHOOK_IP_WINDOW", default_value_t = 60)]
    pub webhook_ip_window: u64,

    /// HMAC-SHA256 secret of `/configs/oxidized` (Oxidized config backups).
    #[arg(long, env = "OXIDIZED_HMAC_SECRET", hide_env_values = true)]
    pub oxidized_hmac_secret: Option<String>,

    /// The tenant (UUID) NMS alerts are filed in; the default tenant when unset.
    #[arg(long, env = "NMS_TENANT_ID")]
    pub nms_tenant_id: Option<uuid::Uuid>,
}

#[derive(Args, Clone, Debug)]
pub struct ReadinessConfig {
    /// How often each dependency is checked, in milliseconds.
    #[arg(long, env = "READINESS_INTERVAL_MS", default_value_t = 5000)]
    pub readiness_interval_ms: u64,

    /// Time allowed for one dependency check, in milliseconds.
    #[arg(long, env = "READINESS_TIMEOUT_MS", default_value_t = 2000)]
    pub readiness_timeout_ms: u64,

    /// Consecutive failed checks before a dependency counts as down (one success brings it back).
    #[arg(long, env = "READINESS_FAILURE_THRESHOLD", default_value_t = 3)]
    pub readiness_failure_threshold: u32,
}

impl ReadinessConfig {
    pub fn interval(&self) -> Duration {
        Duration::from_millis(self.readiness_interval_ms.max(10))
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.readiness_timeout_ms.max(10))
    }
}

impl Config {
    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_secs(self.shutdown_grace_secs)
    }

    pub fn redis_command_timeout(&self) -> Duration {
        Duration::from_millis(self.redis_command_timeout_ms.max(1))
    }
}

impl S3Config {
    pub fn object_store_timeout(&self) -> Duration {
        Duration::from_secs(self.object_store_timeout_secs.max(1))
    }
}

impl DatabaseConfig {
    pub fn statement_timeout(&self) -> Duration {
        Duration::from_millis(self.db_statement_timeout_ms.max(1))
    }

    /// The URL sqlx understands, mapping the old Python driver spellings onto `postgres://`.
    pub fn normalized_url(&self) -> Option<String> {
        self.database_url.as_deref().map(normalize_database_url)
    }
}

/// `postgresql+psycopg://…` and `postgresql+psycopg2://…` (the old system's SQLAlchemy URLs) become `postgres://…`.
pub fn normalize_database_url(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) if scheme.starts_with("postgresql+") || scheme == "postgresql" => {
            format!("postgres://{rest}")
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::normalize_database_url;

    #[test]
    fn old_python_driver_urls_are_accepted() {
        assert_eq!(
            normalize_database_url("postgresql+psycopg://app:pw@db:5432/app"),
            "postgres://app:pw@db:5432/app"
        );
        assert_eq!(
            normalize_database_url("postgresql+psycopg2://app@localhost/app"),
            "postgres://app@localhost/app"
        );
        assert_eq!(normalize_database_url("postgresql://h/d"), "postgres://h/d");
        assert_eq!(normalize_database_url("postgres://h/d"), "postgres://h/d");
        assert_eq!(normalize_database_url("sqlite://x.db"), "sqlite://x.db");
    }
}
