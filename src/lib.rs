//! Kasi Fiber: a gRPC backend for fibre-to-the-home roll-outs, with grpc-web, REST
//! transcoding, health probes and (later) the legacy `/api` layer on one port.

pub mod audit;
pub mod auth;
pub mod certificates;
pub mod cli;
pub mod client_addr;
pub mod clock;
pub mod config;
pub mod configs;
pub mod context;
pub mod core_api;
pub mod devices;
pub mod error;
pub mod fieldmask;
pub mod idempotency;
pub mod identity;
pub mod incidents;
pub mod jobs;
pub mod legacy;
pub mod optical;
pub mod organizations;
pub mod paging;
pub mod photos;
pub mod pons;
pub mod proto;
pub mod ratelimit;
pub mod reports;
pub mod server;
pub mod spares;
pub mod storage;
pub mod stringing;
pub mod tasks;
pub mod telemetry;
pub mod webhooks;
