//! Network incidents: severities, one category set, the status machine, routing and SLA from
//! contracts, alert ingestion (dedup, suppression, recovery), maintenance windows, ops report.

pub mod grpc;
pub mod json;
pub mod maintenance;
pub mod model;
pub mod report;
pub mod routing;
pub mod service;
pub mod signals;

pub use service::{AlertOutcome, DeviceIdentity, IncidentService, SystemAlert};
