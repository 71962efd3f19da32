//! Organizations (the contractors and teams doing the work), their contracts (scope, wards,
//! SLA minutes, validity) and their assignments to PONs and wards.

pub mod grpc;
pub mod model;
pub mod service;
pub mod store;

pub use service::OrganizationsService;
