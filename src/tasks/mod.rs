//! Tasks of a PON: the status state machine, dependencies, SLA due times and breaches, the
//! evidence gate on completion, and the PON's progress derived from its tasks.

pub mod due;
pub mod evidence;
pub mod grpc;
pub mod model;
pub mod progress;
pub mod service;

pub use evidence::EvidenceGate;
pub use service::TaskService;
