//! Subcommands other than `serve`.

pub mod healthcheck;
