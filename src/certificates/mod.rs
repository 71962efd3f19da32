//! Certificates of acceptance: a pole's measured length, planting depth and tag height in
//! range, checked by the caller, and allowed only with a valid photo of the PON.

pub mod grpc;
pub mod service;

pub use service::CertificateService;
