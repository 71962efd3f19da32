//! Identity: tenants, users and their accounts — registration, login, profiles and the
//! admin operations on users.

pub mod grpc;
pub mod model;
pub mod service;
pub mod store;

pub use service::IdentityService;
