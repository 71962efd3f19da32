//! The one domain error type and its reasons: each reason decides, in one place, the gRPC code,
//! the HTTP status and the `google.rpc.ErrorInfo` reason every surface answers with; how database
//! failures are classified (an outage is UNAVAILABLE and retryable, a value the database refuses
//! is the client's); the one collector of field violations; and the clipping that keeps a
//! client's huge value out of every error answer. Errors are logged once, by the surface that
//! answers them ([`AppError::log`]).

use std::borrow::Cow;
use std::collections::HashMap;
use std::time::Duration;

use chrono::NaiveDate;
use http::StatusCode;
use tonic::Code;
use tonic_types::{ErrorDetails, StatusExt};
use uuid::Uuid;

/// One invalid input field: its path (`pon.fiber_count`) and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct FieldViolation {
    pub field: String,
    pub description: String,
}

impl FieldViolation {
    pub fn new(field: impl Into<String>, description: impl Into<String>) -> Self {
        FieldViolation {
            field: field.into(),
            description: description.into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    NotFound(String),
    #[error("{}", describe_violations(.0))]
    InvalidArgument(Vec<FieldViolation>),
    /// A body or file over its size limit; the violation names which.
    #[error("{}", describe_violations(std::slice::from_ref(.0)))]
    PayloadTooLarge(FieldViolation),
    /// A body or file of a type that is not taken; the violation names which.
    #[error("{}", describe_violations(std::slice::from_ref(.0)))]
    UnsupportedMediaType(FieldViolation),
    #[error("{0}")]
    FailedPrecondition(String),
    /// A task that requires evidence cannot be completed without a valid photo.
    #[error("{0}")]
    EvidenceMissing(String),
    #[error("{0}")]
    PermissionDenied(String),
    /// No credentials were sent at all.
    #[error("missing credentials")]
    MissingCredentials,
    /// Credentials were sent but are not valid.
    #[error("{0}")]
    Unauthenticated(String),
    #[error("{0}")]
    AlreadyExists(String),
    #[error("{message}")]
    RateLimited {
        message: String,
        retry_after: Option<Duration>,
    },
    #[error("{0}")]
    Unavailable(String),
    /// A dependency (the database, the object store) broke, timed out or was busy: nothing the
    /// client did. The cause is logged by the surface, never sent.
    #[error("{dependency} unavailable, try again")]
    Outage {
        dependency: &'static str,
        source: anyhow::Error,
    },
    /// The database refused a value the service let by (a NUL byte, text too long, a CHECK).
    #[error(
        "request: holds a value the database cannot store (a NUL byte, text too long, or a value out of range)"
    )]
    DatabaseRefusedValue(sea_orm::DbErr),
    #[error("internal error: {0:#}")]
    Internal(#[from] anyhow::Error),
}

pub type AppResult<T> = Result<T, AppError>;

/// Why a request failed, as clients see it: the gRPC code, the HTTP status and the
/// `ErrorInfo.reason` (AIP-193) of every answer come from here and nowhere else.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    NotFound,
    InvalidArgument,
    PayloadTooLarge,
    UnsupportedMediaType,
    FailedPrecondition,
    EvidenceMissing,
    PermissionDenied,
    MissingCredentials,
    Unauthenticated,
    AlreadyExists,
    RateLimited,
    Unavailable,
    Internal,
}

impl Reason {
    pub const ALL: [Reason; 13] = [
        Reason::NotFound,
        Reason::InvalidArgument,
        Reason::PayloadTooLarge,
        Reason::UnsupportedMediaType,
        Reason::FailedPrecondition,
        Reason::EvidenceMissing,
        Reason::PermissionDenied,
        Reason::MissingCredentials,
        Reason::Unauthenticated,
        Reason::AlreadyExists,
        Reason::RateLimited,
        Reason::Unavailable,
        Reason::Internal,
    ];

    /// The `google.rpc.ErrorInfo` domain of our reasons.
    pub const DOMAIN: &'static str = "kasi.fiber";

    pub fn code(self) -> Code {
        match self {
            Reason::NotFound => Code::NotFound,
            Reason::InvalidArgument | Reason::UnsupportedMediaType => Code::InvalidArgument,
            Reason::PayloadTooLarge | Reason::RateLimited => Code::ResourceExhausted,
            Reason::FailedPrecondition | Reason::EvidenceMissing => Code::FailedPrecondition,
            Reason::PermissionDenied => Code::PermissionDenied,
            Reason::MissingCredentials | Reason::Unauthenticated => Code::Unauthenticated,
            Reason::AlreadyExists => Code::AlreadyExists,
            Reason::Unavailable => Code::Unavailable,
            Reason::Internal => Code::Internal,
        }
    }

    pub fn http_status(self) -> StatusCode {
        match self {
            Reason::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Reason::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            other => http_status_for(other.code()),
        }
    }

    /// The `ErrorInfo.reason` text (UPPER_SNAKE_CASE).
    pub fn name(self) -> &'static str {
        match self {
            Reason::NotFound => "NOT_FOUND",
            Reason::InvalidArgument => "INVALID_ARGUMENT",
            Reason::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            Reason::UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
            Reason::FailedPrecondition => "FAILED_PRECONDITION",
            Reason::EvidenceMissing => "EVIDENCE_MISSING",
            Reason::PermissionDenied => "PERMISSION_DENIED",
            Reason::MissingCredentials => "MISSING_CREDENTIALS",
            Reason::Unauthenticated => "UNAUTHENTICATED",
            Reason::AlreadyExists => "ALREADY_EXISTS",
            Reason::RateLimited => "RATE_LIMITED",
            Reason::Unavailable => "UNAVAILABLE",
            Reason::Internal => "INTERNAL",
        }
    }

    /// The reason a status carries in its `ErrorInfo`, if it is one of ours.
    pub fn of_status(status: &tonic::Status) -> Option<Reason> {
        let info = status.get_details_error_info()?;
        if info.domain != Reason::DOMAIN {
            return None;
        }
        Reason::ALL
            .into_iter()
            .find(|reason| reason.name() == info.reason)
    }
}

/// How long a client should wait before retrying an UNAVAILABLE answer.
pub const RETRY_AFTER_UNAVAILABLE: Duration = Duration::from_secs(1);

/// Longest piece of error text sent back (one message, one field's description): a client's
/// 7 MB id must not come back as a 14 MB error.
const MAX_ERROR_TEXT: usize = 200;
/// Longest whole error detail: the descriptions of every bad field, each clipped, joined.
const MAX_ERROR_DETAIL: usize = 4096;

/// `text` cut to at most 200 bytes (on a character boundary), marked with `…` when cut.
pub fn clip(text: &str) -> Cow<'_, str> {
    clip_to(text, MAX_ERROR_TEXT)
}

/// An error detail that may join several clipped pieces, cut to at most 4 KiB.
pub fn clip_detail(text: &str) -> Cow<'_, str> {
    clip_to(text, MAX_ERROR_DETAIL)
}

fn clip_to(text: &str, max: usize) -> Cow<'_, str> {
    if text.len() <= max {
        return Cow::Borrowed(text);
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    Cow::Owned(format!("{}…", &text[..end]))
}

fn describe_violations(violations: &[FieldViolation]) -> String {
    violations
        .iter()
        .map(|v| format!("{}: {}", v.field, v.description))
        .collect::<Vec<_>>()
        .join("; ")
}

impl AppError {
    /// An invalid-argument error about one field.
    pub fn invalid(field: impl Into<String>, description: impl Into<String>) -> Self {
        AppError::InvalidArgument(vec![FieldViolation::new(field, description)])
    }

    pub fn not_found(what: impl Into<String>) -> Self {
        AppError::NotFound(what.into())
    }

    pub fn internal(err: impl Into<anyhow::Error>) -> Self {
        AppError::Internal(err.into())
    }

    /// `dependency` failed with `source` (logged by the surface; the client is told to retry).
    pub fn outage(dependency: &'static str, source: impl Into<anyhow::Error>) -> Self {
        AppError::Outage {
            dependency,
            source: source.into(),
        }
    }

    pub fn reason(&self) -> Reason {
        match self {
            AppError::NotFound(_) => Reason::NotFound,
            AppError::InvalidArgument(_) | AppError::DatabaseRefusedValue(_) => {
                Reason::InvalidArgument
            }
            AppError::PayloadTooLarge(_) => Reason::PayloadTooLarge,
            AppError::UnsupportedMediaType(_) => Reason::UnsupportedMediaType,
            AppError::FailedPrecondition(_) => Reason::FailedPrecondition,
            AppError::EvidenceMissing(_) => Reason::EvidenceMissing,
            AppError::PermissionDenied(_) => Reason::PermissionDenied,
            AppError::MissingCredentials => Reason::MissingCredentials,
            AppError::Unauthenticated(_) => Reason::Unauthenticated,
            AppError::AlreadyExists(_) => Reason::AlreadyExists,
            AppError::RateLimited { .. } => Reason::RateLimited,
            AppError::Unavailable(_) | AppError::Outage { .. } => Reason::Unavailable,
            AppError::Internal(_) => Reason::Internal,
        }
    }

    pub fn code(&self) -> Code {
        self.reason().code()
    }

    pub fn http_status(&self) -> StatusCode {
        self.reason().http_status()
    }

    /// The bad fields (each clipped), for the answers that list them.
    pub fn violations(&self) -> Vec<FieldViolation> {
        let violations: &[FieldViolation] = match self {
            AppError::InvalidArgument(violations) => violations,
            AppError::PayloadTooLarge(violation) | AppError::UnsupportedMediaType(violation) => {
                std::slice::from_ref(violation)
            }
            AppError::DatabaseRefusedValue(_) => {
                return vec![FieldViolation::new("request", REFUSED_VALUE)];
            }
            _ => &[],
        };
        violations
            .iter()
            .map(|v| FieldViolation::new(clip(&v.field), clip(&v.description)))
            .collect()
    }

    /// The text a client is told: clipped, and never an internal cause.
    pub fn client_message(&self) -> String {
        match self {
            AppError::InvalidArgument(_)
            | AppError::PayloadTooLarge(_)
            | AppError::UnsupportedMediaType(_)
            | AppError::DatabaseRefusedValue(_) => {
                clip_detail(&describe_violations(&self.violations())).into_owned()
            }
            AppError::Internal(_) => "internal error".into(),
            other => clip(&other.to_string()).into_owned(),
        }
    }

    /// How long the client should wait before retrying, for the answers that say so.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            AppError::RateLimited { retry_after, .. } => *retry_after,
            AppError::Unavailable(_) | AppError::Outage { .. } => Some(RETRY_AFTER_UNAVAILABLE),
            _ => None,
        }
    }

    /// Logs the error once, by the surface answering it (inside the request's span, so with
    /// its request id): causes of internal errors and outages in full, client mistakes briefly.
    pub fn log(&self) {
        match self {
            AppError::Internal(source) => {
                tracing::error!(error = format!("{source:#}"), "internal error");
            }
            AppError::Outage { dependency, source } => {
                tracing::error!(
                    error = format!("{source:#}"),
                    dependency,
                    "dependency unavailable"
                );
            }
            AppError::DatabaseRefusedValue(source) => {
                tracing::warn!(error = %source, "the database refused a value");
            }
            AppError::Unavailable(text) => tracing::warn!(error = %text, "dependency unavailable"),
            other => tracing::debug!(reason = other.reason().name(), "request refused"),
        }
    }
}

const REFUSED_VALUE: &str =
    "holds a value the database cannot store (a NUL byte, text too long, or a value out of range)";

/// Collects the problems of several fields so they are reported together: the one collector
/// of field violations every surface and service uses.
#[derive(Clone, Debug, Default)]
pub struct Violations(Vec<FieldViolation>);

impl Violations {
    pub fn push(&mut self, field: impl Into<String>, description: impl Into<String>) {
        self.0.push(FieldViolation::new(field, description));
    }

    /// Adds the bad fields of an invalid-argument error; any other error is passed back.
    pub fn absorb(&mut self, err: AppError) -> AppResult<()> {
        match err {
            AppError::InvalidArgument(found) => {
                self.0.extend(found);
                Ok(())
            }
            other => Err(other),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `field` already has a violation.
    pub fn names(&self, field: &str) -> bool {
        self.0.iter().any(|violation| violation.field == field)
    }

    pub fn optional_uuid(&mut self, field: &str, text: &str) -> Option<Uuid> {
        if text.is_empty() {
            return None;
        }
        Uuid::parse_str(text)
            .map_err(|_| self.push(field, format!("`{text}` is not a UUID")))
            .ok()
    }

    pub fn optional_date(&mut self, field: &str, text: &str) -> Option<NaiveDate> {
        if text.is_empty() {
            return None;
        }
        NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .map_err(|_| self.push(field, format!("`{text}` is not a date (YYYY-MM-DD)")))
            .ok()
    }

    pub fn finite(&mut self, field: &str, value: Option<f64>) -> Option<f64> {
        match value {
            Some(number) if !number.is_finite() => {
                self.push(field, "must be a finite number");
                None
            }
            other => other,
        }
    }

    /// `value` when nothing was wrong, else every violation at once.
    pub fn finish<T>(self, value: T) -> AppResult<T> {
        if self.0.is_empty() {
            Ok(value)
        } else {
            Err(AppError::InvalidArgument(self.0))
        }
    }

    pub fn into_vec(self) -> Vec<FieldViolation> {
        self.0
    }
}

/// A required UUID field.
pub fn parse_id(field: &str, text: &str) -> AppResult<Uuid> {
    if text.is_empty() {
        return Err(AppError::invalid(field, "is required"));
    }
    Uuid::parse_str(text).map_err(|_| AppError::invalid(field, format!("`{text}` is not a UUID")))
}

impl From<sea_orm::DbErr> for AppError {
    fn from(err: sea_orm::DbErr) -> Self {
        match err.sql_err() {
            Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => {
                return AppError::AlreadyExists(
                    "a record with the same unique key already exists".into(),
                );
            }
            Some(sea_orm::SqlErr::ForeignKeyConstraintViolation(_)) => {
                return AppError::FailedPrecondition(
                    "a referenced record does not exist or is still in use".into(),
                );
            }
            _ => {}
        }
        match db_fault(&err) {
            DbFault::Outage => AppError::outage("database", err),
            DbFault::RefusedValue => AppError::DatabaseRefusedValue(err),
            DbFault::Other => AppError::Internal(err.into()),
        }
    }
}

/// What kind of database failure an error is.
#[derive(Debug, PartialEq, Eq)]
enum DbFault {
    /// The connection broke, the pool is exhausted, the statement timed out, the server is
    /// shutting down or busy: nothing the client did; retry later.
    Outage,
    /// A value the database cannot store: the client's mistake.
    RefusedValue,
    Other,
}

fn db_fault(err: &sea_orm::DbErr) -> DbFault {
    use sea_orm::{DbErr, RuntimeErr};
    let sqlx_error = match err {
        DbErr::ConnectionAcquire(_) => return DbFault::Outage,
        DbErr::Conn(RuntimeErr::SqlxError(error))
        | DbErr::Exec(RuntimeErr::SqlxError(error))
        | DbErr::Query(RuntimeErr::SqlxError(error)) => error,
        DbErr::Conn(_) => return DbFault::Outage,
        _ => return DbFault::Other,
    };
    match sqlx_error.as_ref() {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => DbFault::Outage,
        sqlx::Error::Database(database) => {
            let code = database.code();
            let code = code.as_deref().unwrap_or_default();
            if database
                .try_downcast_ref::<sqlx::sqlite::SqliteError>()
                .is_some()
            {
                sqlite_fault(code)
            } else {
                sqlstate_fault(code)
            }
        }
        _ => DbFault::Other,
    }
}

/// SQLite's (extended) result codes, whose primary code is the low byte.
fn sqlite_fault(code: &str) -> DbFault {
    match code.parse::<i32>().map(|code| code & 0xff) {
        // SQLITE_BUSY, SQLITE_LOCKED: another writer held on past the busy timeout.
        Ok(5 | 6) => DbFault::Outage,
        // SQLITE_TOOBIG
        Ok(18) => DbFault::RefusedValue,
        // SQLITE_CONSTRAINT_CHECK (275): a CHECK constraint refused a value the service let by.
        Ok(19) if code == "275" => DbFault::RefusedValue,
        _ => DbFault::Other,
    }
}

/// PostgreSQL SQLSTATEs by what they mean for the client.
fn sqlstate_fault(code: &str) -> DbFault {
    match code {
        // 08: connection exception; 53: insufficient resources; 57: operator intervention
        // (57014 = statement timeout, 57P01 = admin shutdown); 40001/40P01: serialization
        // failure and deadlock, which a retry resolves.
        _ if code.starts_with("08") || code.starts_with("53") || code.starts_with("57") => {
            DbFault::Outage
        }
        "40001" | "40P01" => DbFault::Outage,
        // 22021: invalid byte sequence (a NUL byte); 22001: string too long; 22003: numeric
        // value out of range; 22P05: untranslatable character.
        // 23514: a CHECK constraint refused a value the service let by.
        "22021" | "22001" | "22003" | "22P05" | "23514" => DbFault::RefusedValue,
        _ => DbFault::Other,
    }
}

/// The gRPC surface's answer (the REST transcoder answers from it too): the code and message
/// from the reason, with `ErrorInfo`, the bad fields and the retry delay as `google.rpc`
/// details. The error is logged here, once.
impl From<AppError> for tonic::Status {
    fn from(err: AppError) -> Self {
        err.log();
        let reason = err.reason();
        let mut details = ErrorDetails::new();
        details.set_error_info(reason.name(), Reason::DOMAIN, HashMap::new());
        let violations = err.violations();
        if !violations.is_empty() {
            details.set_bad_request(
                violations
                    .into_iter()
                    .map(|v| tonic_types::FieldViolation::new(v.field, v.description))
                    .collect::<Vec<_>>(),
            );
        }
        if let Some(delay) = err.retry_after() {
            details.set_retry_info(Some(delay));
        }
        tonic::Status::with_error_details(reason.code(), err.client_message(), details)
    }
}

/// The HTTP status for a gRPC code (as grpc-gateway and Google's APIs map them).
pub fn http_status_for(code: Code) -> StatusCode {
    match code {
        Code::Ok => StatusCode::OK,
        Code::Cancelled => StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST),
        Code::InvalidArgument | Code::OutOfRange => StatusCode::BAD_REQUEST,
        Code::FailedPrecondition => StatusCode::BAD_REQUEST,
        Code::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
        Code::NotFound => StatusCode::NOT_FOUND,
        Code::AlreadyExists | Code::Aborted => StatusCode::CONFLICT,
        Code::PermissionDenied => StatusCode::FORBIDDEN,
        Code::Unauthenticated => StatusCode::UNAUTHORIZED,
        Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
        Code::Unimplemented => StatusCode::NOT_IMPLEMENTED,
        Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        Code::Unknown | Code::Internal | Code::DataLoss => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The canonical upper-case name of a gRPC code (`NOT_FOUND`), as used in JSON error bodies.
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_argument_carries_field_violations_to_grpc() {
        let status: tonic::Status =
            AppError::invalid("pon.fiber_count", "must be at least 1").into();
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(status.message(), "pon.fiber_count: must be at least 1");
        let bad_request = status.get_details_bad_request().expect("BadRequest detail");
        assert_eq!(bad_request.field_violations[0].field, "pon.fiber_count");
    }

    #[test]
    fn huge_values_are_clipped_in_every_answer() {
        let huge = "x".repeat(7_000_000);
        let status: tonic::Status =
            AppError::invalid("id", format!("`{huge}` is not a UUID")).into();
        assert!(status.message().len() < 300, "{}", status.message().len());
        let status: tonic::Status = AppError::not_found(format!("pon {huge} not found")).into();
        assert!(status.message().len() < 300);
        assert_eq!(clip("short"), "short");
        let multibyte = "é".repeat(150);
        assert!(clip(&multibyte).ends_with('…'));
    }

    #[test]
    fn database_outages_are_retryable_and_refused_values_are_the_clients() {
        assert_eq!(
            sqlstate_fault("57014"),
            DbFault::Outage,
            "statement timeout"
        );
        assert_eq!(sqlstate_fault("57P01"), DbFault::Outage, "admin shutdown");
        assert_eq!(sqlstate_fault("08006"), DbFault::Outage);
        assert_eq!(sqlstate_fault("40P01"), DbFault::Outage);
        assert_eq!(sqlite_fault("5"), DbFault::Outage, "SQLITE_BUSY");
        assert_eq!(sqlite_fault("517"), DbFault::Outage, "SQLITE_BUSY_SNAPSHOT");
        assert_eq!(sqlite_fault("19"), DbFault::Other, "SQLITE_CONSTRAINT");
        assert_eq!(sqlite_fault("275"), DbFault::RefusedValue, "a CHECK");
        assert_eq!(sqlstate_fault("23514"), DbFault::RefusedValue, "a CHECK");
        assert_eq!(sqlstate_fault("22021"), DbFault::RefusedValue);
        assert_eq!(sqlstate_fault("23505"), DbFault::Other);
        let io = sea_orm::DbErr::Query(sea_orm::RuntimeErr::SqlxError(std::sync::Arc::new(
            sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionReset)),
        )));
        let err = AppError::from(io);
        assert!(matches!(err, AppError::Outage { .. }), "{err:?}");
        let status: tonic::Status = err.into();
        assert_eq!(status.code(), Code::Unavailable);
        assert_eq!(
            status
                .get_details_retry_info()
                .and_then(|info| info.retry_delay),
            Some(RETRY_AFTER_UNAVAILABLE)
        );
    }

    #[test]
    fn internal_errors_hide_their_cause() {
        let status: tonic::Status = AppError::internal(anyhow::anyhow!("password=hunter2")).into();
        assert_eq!(status.code(), Code::Internal);
        assert_eq!(status.message(), "internal error");
    }

    #[test]
    fn http_mapping_covers_client_errors() {
        assert_eq!(
            http_status_for(Code::InvalidArgument),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(http_status_for(Code::NotFound), StatusCode::NOT_FOUND);
        assert_eq!(http_status_for(Code::AlreadyExists), StatusCode::CONFLICT);
        assert_eq!(
            http_status_for(Code::ResourceExhausted),
            StatusCode::TOO_MANY_REQUESTS
        );
        assert_eq!(code_name(Code::FailedPrecondition), "FAILED_PRECONDITION");
    }

    #[test]
    fn every_reason_maps_to_one_grpc_code_one_http_status_and_one_name() {
        let mut names = std::collections::HashSet::new();
        for reason in Reason::ALL {
            assert!(names.insert(reason.name()), "{reason:?} shares its name");
            let code = reason.code();
            assert_ne!(code, Code::Ok, "{reason:?}");
            let status = reason.http_status();
            assert!(
                status.is_client_error() || status.is_server_error(),
                "{reason:?} → {status}"
            );
            // A client mistake is never a 5xx, and an outage never a 4xx.
            let server_side = matches!(reason, Reason::Unavailable | Reason::Internal);
            assert_eq!(
                status.is_server_error(),
                server_side,
                "{reason:?} → {status}"
            );
            // The status a gRPC answer carries names its reason again.
            let status: tonic::Status = sample(reason).into();
            assert_eq!(status.code(), code, "{reason:?}");
            assert_eq!(Reason::of_status(&status), Some(reason));
        }
        assert_eq!(Reason::ALL.len(), names.len());
        assert_eq!(
            Reason::PayloadTooLarge.http_status(),
            StatusCode::PAYLOAD_TOO_LARGE
        );
        assert_eq!(
            Reason::UnsupportedMediaType.http_status(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE
        );
        assert_eq!(Reason::EvidenceMissing.code(), Code::FailedPrecondition);
        assert_eq!(
            Reason::MissingCredentials.http_status(),
            StatusCode::UNAUTHORIZED
        );
    }

    /// An error of each reason (the match fails to compile when a reason is added without one).
    fn sample(reason: Reason) -> AppError {
        let violation = FieldViolation::new("photo", "x");
        match reason {
            Reason::NotFound => AppError::not_found("pon"),
            Reason::InvalidArgument => AppError::invalid("id", "x"),
            Reason::PayloadTooLarge => AppError::PayloadTooLarge(violation),
            Reason::UnsupportedMediaType => AppError::UnsupportedMediaType(violation),
            Reason::FailedPrecondition => AppError::FailedPrecondition("x".into()),
            Reason::EvidenceMissing => AppError::EvidenceMissing("x".into()),
            Reason::PermissionDenied => AppError::PermissionDenied("x".into()),
            Reason::MissingCredentials => AppError::MissingCredentials,
            Reason::Unauthenticated => AppError::Unauthenticated("x".into()),
            Reason::AlreadyExists => AppError::AlreadyExists("x".into()),
            Reason::RateLimited => AppError::RateLimited {
                message: "x".into(),
                retry_after: None,
            },
            Reason::Unavailable => AppError::Unavailable("x".into()),
            Reason::Internal => AppError::internal(anyhow::anyhow!("x")),
        }
    }

    #[test]
    fn the_collector_reports_every_field_at_once() {
        let mut bad = Violations::default();
        assert_eq!(bad.optional_uuid("a", "nope"), None);
        assert_eq!(bad.finite("b", Some(f64::NAN)), None);
        assert!(bad.absorb(AppError::invalid("c", "x")).is_ok());
        assert!(bad.absorb(AppError::not_found("d")).is_err());
        assert!(bad.names("b"));
        let err = bad.finish(()).unwrap_err();
        let fields: Vec<String> = err.violations().into_iter().map(|v| v.field).collect();
        assert_eq!(fields, ["a", "b", "c"]);
        assert!(Violations::default().finish(7).is_ok());
    }
}
