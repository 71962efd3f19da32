//! The `kasi-fiber` binary: `serve` (the default), `migrate`, `healthcheck`, `seed`, `sla-scan`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use kasi_fiber::cli::healthcheck::{self, HealthcheckArgs};
use kasi_fiber::cli::seed::{self, SeedArgs};
use kasi_fiber::config::{Config, DatabaseConfig, LogFormat};
use kasi_fiber::jobs::sla::SlaScan;
use kasi_fiber::{server, storage, telemetry};

#[derive(Parser)]
#[command(
    name = "kasi-fiber",
    version,
    about = "Kasi Fiber FTTH roll-out backend"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (gRPC, grpc-web, REST, health on one port). The default command.
    Serve(Box<Config>),
    /// Apply pending database migrations and exit.
    Migrate(MigrateArgs),
    /// Check a running server through grpc.health.v1 (exit 0 only when SERVING).
    Healthcheck(HealthcheckArgs),
    /// Create the demo tenant (or, with --admin-email/--admin-password, the first admin); idempotent.
    Seed(SeedCommand),
    /// Run one SLA scan now (as the scheduler does) with the server's settings, print what it did
    /// and how long it took, and exit.
    SlaScan(Box<Config>),
}

#[derive(clap::Args)]
struct SeedCommand {
    #[command(flatten)]
    migrate: MigrateArgs,
    #[command(flatten)]
    seed: SeedArgs,
}

#[derive(clap::Args)]
struct MigrateArgs {
    #[command(flatten)]
    database: DatabaseConfig,
    /// Directory of the embedded SQLite database.
    #[arg(long, env = "DATA_DIR", default_value = "./data")]
    data_dir: std::path::PathBuf,
    #[arg(long, env = "LOG_LEVEL", default_value = "info")]
    log_level: String,
}

/// `serve` is implied when the first argument is not a subcommand.
fn arguments() -> Vec<String> {
    let mut args: Vec<String> = std::env::args().collect();
    let first = args.get(1).map(String::as_str);
    let is_command = matches!(
        first,
        Some(
            "serve"
                | "migrate"
                | "healthcheck"
                | "seed"
                | "sla-scan"
                | "help"
                | "-h"
                | "--help"
                | "-V"
                | "--version"
        )
    );
    if !is_command {
        args.insert(1, "serve".into());
    }
    args
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse_from(arguments());
    let result = match cli.command {
        Command::Serve(config) => {
            telemetry::init(&config.log_level, config.log_format);
            server::run(&config).await
        }
        Command::Migrate(args) => {
            telemetry::init(&args.log_level, LogFormat::Text);
            migrate(&args).await
        }
        Command::Healthcheck(args) => return healthcheck::run(&args).await,
        Command::Seed(args) => {
            telemetry::init(&args.migrate.log_level, LogFormat::Text);
            seed(&args).await
        }
        Command::SlaScan(config) => {
            telemetry::init(&config.log_level, config.log_format);
            sla_scan(&config).await
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = format!("{err:#}"), "fatal");
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Connects and applies pending migrations.
async fn migrated_database(args: &MigrateArgs) -> anyhow::Result<sea_orm::DatabaseConnection> {
    std::fs::create_dir_all(&args.data_dir)?;
    let db = storage::db::connect_for_migrations(&args.database, &args.data_dir).await?;
    storage::db::migrate(&db).await?;
    tracing::info!("migrations applied");
    Ok(db)
}

async fn migrate(args: &MigrateArgs) -> anyhow::Result<()> {
    migrated_database(args).await.map(drop)
}

async fn seed(args: &SeedCommand) -> anyhow::Result<()> {
    let db = migrated_database(&args.migrate).await?;
    seed::run(&db, &args.seed).await
}

async fn sla_scan(config: &Config) -> anyhow::Result<()> {
    let storage = storage::Storage::open(config).await?;
    let scan = SlaScan::new(&storage, config.sla.sla_warn_before_minutes);
    let started = std::time::Instant::now();
    let report = scan.run(chrono::Utc::now()).await?;
    anyhow::ensure!(report.ran, "another SLA scan holds the lock; nothing done");
    println!(
        "sla-scan: {} breaches counted, {} warnings and {} breach notices sent, in {:.3} s",
        report.breached,
        report.warned,
        report.breach_notified,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
