//! End-to-end tests: the real server on an ephemeral port, spoken to as clients do
//! (tonic, grpc-web frames over HTTP/1.1, REST/JSON, the health protocol, the binary).

mod bad_input;
mod buildout;
mod certificates;
mod configs;
mod connections;
mod contract_gaps;
mod devices;
mod grpc_web;
mod hardening;
mod harness;
mod health;
mod identity;
mod incidents;
mod legacy_auth;
mod legacy_buildout;
mod netops_paths;
mod optical;
mod organizations;
mod photos;
mod pons_grpc;
mod pons_rest;
mod process;
mod sla;
mod spares;
mod storage_ports;
mod surfaces;
mod tasks;
mod tasks_concurrency;
mod webhooks;
