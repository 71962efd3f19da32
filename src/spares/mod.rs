//! Spare parts: stores, stock levels per store and SKU that no issue can drive below zero (even
//! under concurrency), and the ledger of every issue and return, optionally linked to an incident.

pub mod grpc;
pub mod model;
pub mod service;

pub use service::SpareService;
