//! Optical power readings of PON links: batch ingest that names every rejected reading's
//! problems, queries, and evaluation against per-tenant thresholds and the drift rule; and the
//! reader of OTDR trace files (`sor`).

pub mod grpc;
pub mod model;
pub mod service;
pub mod sor;

pub use service::OpticalService;
