//! `kasi-fiber healthcheck`: a `grpc_health_probe` work-alike for container
//! HEALTHCHECKs. Exit 0 only when the service is SERVING.

use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

#[derive(Args, Clone, Debug)]
pub struct HealthcheckArgs {
    /// Server address: host:port or a URL.
    #[arg(long, default_value = "127.0.0.1:8000")]
    pub addr: String,
    /// Service to check; empty means the whole server (readiness).
    #[arg(long, default_value = "")]
    pub service: String,
    /// Time allowed for connecting and for the check, in seconds.
    #[arg(long, default_value_t = 5.0)]
    pub timeout: f64,
}

/// Exit codes as grpc_health_probe uses them.
pub const EXIT_CONNECTION_FAILED: u8 = 2;
pub const EXIT_RPC_FAILED: u8 = 3;
pub const EXIT_NOT_SERVING: u8 = 4;

pub async fn run(args: &HealthcheckArgs) -> ExitCode {
    let timeout = Duration::from_secs_f64(args.timeout.clamp(0.01, 3600.0));
    let uri = if args.addr.contains("://") {
        args.addr.clone()
    } else {
        format!("http://{}", args.addr)
    };
    let endpoint = match tonic::transport::Endpoint::from_shared(uri) {
        Ok(endpoint) => endpoint.connect_timeout(timeout).timeout(timeout),
        Err(err) => {
            eprintln!("error: bad --addr {}: {err}", args.addr);
            return ExitCode::from(EXIT_CONNECTION_FAILED);
        }
    };
    let channel = match endpoint.connect().await {
        Ok(channel) => channel,
        Err(err) => {
            eprintln!("error: cannot connect to {}: {err}", args.addr);
            return ExitCode::from(EXIT_CONNECTION_FAILED);
        }
    };
    let request = HealthCheckRequest {
        service: args.service.clone(),
    };
    match HealthClient::new(channel).check(request).await {
        Ok(response) => {
            let status = ServingStatus::try_from(response.into_inner().status)
                .unwrap_or(ServingStatus::Unknown);
            println!("status: {}", status.as_str_name());
            if status == ServingStatus::Serving {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(EXIT_NOT_SERVING)
            }
        }
        Err(status) => {
            eprintln!(
                "error: health check failed: {:?}: {}",
                status.code(),
                status.message()
            );
            ExitCode::from(EXIT_RPC_FAILED)
        }
    }
}
