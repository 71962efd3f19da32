//! Subcommands other than `serve`.

pub mod healthcheck;
pub mod seed;
