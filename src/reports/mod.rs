//! Reports over the build-out: dashboard counts, PON and task report lists and the CSV export
//! of PONs, all scoped to what the caller may read.

pub mod csv;
pub mod grpc;
pub mod service;

pub use service::ReportService;
