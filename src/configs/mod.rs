//! Config drift: running configs collected by Oxidized with their SHA-256 and a line diff against
//! the previous one, checked against the golden template's deny rules; violations raise one
//! `config_drift` incident per device while it is open.

pub mod diff;
pub mod grpc;
pub mod model;
pub mod oxidized;
pub mod service;

pub use service::ConfigService;
