//! PONs: the passive optical networks being built, and the unit every task, photo,
//! test and incident hangs off.

pub mod grpc;
pub mod model;
pub mod service;
mod store;

pub use service::PonService;
