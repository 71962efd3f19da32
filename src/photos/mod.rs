//! Photo evidence: uploads through one pipeline, EXIF time and GPS, geofences of PONs, the
//! verdict rule, and the evidence gate that task completion and certificates rely on.

pub mod exif;
pub mod gate;
pub mod geo;
pub mod grpc;
pub mod model;
pub mod multipart;
pub mod object_routes;
pub mod rules;
pub mod sample;
pub mod service;

pub use gate::PhotoEvidenceGate;
pub use service::PhotoService;
