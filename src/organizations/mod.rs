//! Organizations (the contractors and teams doing the work), their contracts (scope, wards,
//! SLA minutes, validity) and their assignments to PONs and wards.

pub mod grpc;
pub mod model;
pub mod service;
mod store;

pub use service::OrganizationsService;
