//! The one domain error type, and its single mapping to `tonic::Status` (with
//! `google.rpc` details) and to HTTP status codes; how database failures are classified (an
//! outage is UNAVAILABLE and retryable, a value the database refuses is the client's); and the
//! clipping that keeps a client's huge value out of every error answer.

use std::borrow::Cow;
use std::time::Duration;

use http::StatusCode;
use tonic::Code;
use tonic_types::{ErrorDetails, StatusExt};

/// One invalid input field: its path (`pon.fiber_count`) and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct FieldViolation {
    pub field: String,
    pub description: String,
}

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    NotFound(String),
    #[error("{}", describe_violations(.0))]
    InvalidArgument(Vec<FieldViolation>),
    #[error("{0}")]
    FailedPrecondition(String),
    #[error("{0}")]
    PermissionDenied(String),
    #[error("{0}")]
    Unauthenticated(String),
    #[error("{0}")]
    AlreadyExists(String),
    #[error("{message}")]
    ResourceExhausted {
        message: String,
        retry_after: Option<Duration>,
    },
    #[error("{0}")]
    Unavailable(String),
    #[error("internal error: {0:#}")]
    Internal(#[from] anyhow::Error),
}

pub type AppResult<T> = Result<T, AppError>;

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
        AppError::InvalidArgument(vec![FieldViolation {
            field: field.into(),
            description: description.into(),
        }])
    }

    pub fn not_found(what: impl Into<String>) -> Self {
        AppError::NotFound(what.into())
    }

    pub fn internal(err: impl Into<anyhow::Error>) -> Self {
        AppError::Internal(err.into())
    }

    pub fn code(&self) -> Code {
        match self {
            AppError::NotFound(_) => Code::NotFound,
            AppError::InvalidArgument(_) => Code::InvalidArgument,
            AppError::FailedPrecondition(_) => Code::FailedPrecondition,
            AppError::PermissionDenied(_) => Code::PermissionDenied,
            AppError::Unauthenticated(_) => Code::Unauthenticated,
            AppError::AlreadyExists(_) => Code::AlreadyExists,
            AppError::ResourceExhausted { .. } => Code::ResourceExhausted,
            AppError::Unavailable(_) => Code::Unavailable,
            AppError::Internal(_) => Code::Internal,
        }
    }
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
            DbFault::Outage => {
                tracing::error!(error = %err, "database unavailable");
                AppError::Unavailable("database unavailable, try again".into())
            }
            DbFault::RefusedValue => {
                tracing::warn!(error = %err, "the database refused a value");
                AppError::invalid(
                    "request",
                    "holds a value the database cannot store (a NUL byte, text too long, or a value out of range)",
                )
            }
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

impl From<AppError> for tonic::Status {
    fn from(err: AppError) -> Self {
        let code = err.code();
        match err {
            AppError::InvalidArgument(violations) => {
                let violations: Vec<FieldViolation> = violations
                    .into_iter()
                    .map(|v| FieldViolation {
                        field: clip(&v.field).into_owned(),
                        description: clip(&v.description).into_owned(),
                    })
                    .collect();
                let message = describe_violations(&violations);
                let details = ErrorDetails::with_bad_request(
                    violations
                        .into_iter()
                        .map(|v| tonic_types::FieldViolation::new(v.field, v.description))
                        .collect::<Vec<_>>(),
                );
                tonic::Status::with_error_details(code, message, details)
            }
            AppError::ResourceExhausted {
                message,
                retry_after: Some(delay),
            } => tonic::Status::with_error_details(
                code,
                clip(&message),
                ErrorDetails::with_retry_info(Some(delay)),
            ),
            AppError::Unavailable(message) => tonic::Status::with_error_details(
                code,
                clip(&message),
                ErrorDetails::with_retry_info(Some(RETRY_AFTER_UNAVAILABLE)),
            ),
            AppError::Internal(source) => {
                // Internals stay in the log (inside the request's span, so with its request id).
                tracing::error!(error = format!("{source:#}"), "internal error");
                tonic::Status::new(code, "internal error")
            }
            other => tonic::Status::new(code, clip(&other.to_string())),
        }
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
        assert!(matches!(err, AppError::Unavailable(_)), "{err:?}");
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
}
