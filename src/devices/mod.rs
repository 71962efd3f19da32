//! Network devices (OLTs, ONTs, switches, power gear...) of a tenant: the one model merging
//! the old core and Express devices, with CRUD, filters and escaped-text search.

pub mod grpc;
pub mod json;
pub mod model;
pub mod service;

pub use service::DeviceService;
