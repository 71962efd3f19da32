//! The one domain error type, and its single mapping to `tonic::Status` (with
//! `google.rpc` details) and to HTTP status codes.

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
                AppError::AlreadyExists("a record with the same unique key already exists".into())
            }
            Some(sea_orm::SqlErr::ForeignKeyConstraintViolation(_)) => {
                AppError::FailedPrecondition(
                    "a referenced record does not exist or is still in use".into(),
                )
            }
            _ => match err {
                sea_orm::DbErr::ConnectionAcquire(_) | sea_orm::DbErr::Conn(_) => {
                    tracing::error!(error = %err, "database unavailable");
                    AppError::Unavailable("database unavailable".into())
                }
                other => AppError::Internal(other.into()),
            },
        }
    }
}

impl From<AppError> for tonic::Status {
    fn from(err: AppError) -> Self {
        let code = err.code();
        match err {
            AppError::InvalidArgument(violations) => {
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
                message,
                ErrorDetails::with_retry_info(Some(delay)),
            ),
            AppError::Internal(source) => {
                // Internals stay in the log (inside the request's span, so with its request id).
                tracing::error!(error = format!("{source:#}"), "internal error");
                tonic::Status::new(code, "internal error")
            }
            other => tonic::Status::new(code, other.to_string()),
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
