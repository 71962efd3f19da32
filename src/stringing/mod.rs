//! Stringing runs: metres of fibre strung per PON by an organization's crew on a day, recorded
//! and listed (validated, audited, tenant- and role-scoped); pay sheets are computed from them.

pub mod grpc;
pub mod model;
pub mod service;

pub use service::StringingService;
