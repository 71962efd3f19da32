//! Database port: SQLite in the data directory (WAL, pooled) by default, PostgreSQL +
//! PostGIS when `DATABASE_URL` is set; migrations from the `migrations/` crate.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use kasi_migrations::{Migrator, MigratorTrait};
use sea_orm::sqlx::postgres::PgRow;
use sea_orm::sqlx::sqlite::SqliteRow;
use sea_orm::{
    ActiveModelBehavior, ActiveModelTrait, ConnectOptions, ConnectionTrait, Database,
    DatabaseConnection, DbErr, EntityTrait, IntoActiveModel, Iterable, ModelTrait, QueryTrait,
    Select,
};

use crate::config::DatabaseConfig;
use crate::error::{AppError, AppResult};

pub async fn connect(
    config: &DatabaseConfig,
    data_dir: &Path,
) -> anyhow::Result<DatabaseConnection> {
    let (url, is_sqlite) = match config.normalized_url() {
        Some(url) => {
            let is_sqlite = url.starts_with("sqlite:");
            (url, is_sqlite)
        }
        None => {
            let file = data_dir.join("kasi.db");
            (format!("sqlite://{}?mode=rwc", file.display()), true)
        }
    };
    let mut options = ConnectOptions::new(url);
    options
        .max_connections(config.db_pool_size.max(2))
        .min_connections(1)
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(5))
        .sqlx_logging(false);
    let statement_timeout = config.statement_timeout();
    if is_sqlite {
        options.map_sqlx_sqlite_opts(move |opts| {
            opts.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
                .busy_timeout(statement_timeout)
                .foreign_keys(true)
        });
    } else {
        // Sent in the startup packet, so every pooled connection has it from its first query.
        let millis = statement_timeout.as_millis().to_string();
        options.map_sqlx_postgres_opts(move |opts| {
            opts.options([("statement_timeout", millis.as_str())])
        });
    }
    let db = Database::connect(options)
        .await
        .context("connecting to the database")?;
    Ok(db)
}

/// The rows of `query`, decoded by sqlx itself (`sqlx::FromRow`) instead of sea-orm: sea-orm
/// formats an error message for every NULL column it reads and then drops it, which on wide rows
/// with many unset columns was half the server's CPU in a 200-task answer. sea-orm decodes
/// through the same sqlx decoders, so the values are the same.
pub async fn fetch_all<E, M>(db: &impl ConnectionTrait, query: Select<E>) -> Result<Vec<M>, DbErr>
where
    E: EntityTrait,
    M: for<'r> sqlx::FromRow<'r, PgRow> + for<'r> sqlx::FromRow<'r, SqliteRow>,
{
    let rows = db
        .query_all_raw(query.build(db.get_database_backend()))
        .await?;
    rows.iter()
        .map(|row| {
            let decoded = if let Some(row) = row.try_as_pg_row() {
                M::from_row(row)
            } else if let Some(row) = row.try_as_sqlite_row() {
                M::from_row(row)
            } else {
                return Err(DbErr::Type("a row of neither PostgreSQL nor SQLite".into()));
            };
            decoded.map_err(|error| DbErr::Type(error.to_string()))
        })
        .collect()
}

/// Longest statement of a migration (building an index over a large table takes minutes).
const MIGRATION_STATEMENT_TIMEOUT: Duration = Duration::from_secs(3600);

/// A connection for applying migrations: like [`connect`], but with the statement timeout
/// lifted to [`MIGRATION_STATEMENT_TIMEOUT`].
pub async fn connect_for_migrations(
    config: &DatabaseConfig,
    data_dir: &Path,
) -> anyhow::Result<DatabaseConnection> {
    let config = DatabaseConfig {
        db_statement_timeout_ms: MIGRATION_STATEMENT_TIMEOUT.as_millis() as u64,
        ..config.clone()
    };
    connect(&config, data_dir).await
}

/// Applies every pending migration (PostGIS is enabled by the first one on PostgreSQL).
pub async fn migrate(db: &DatabaseConnection) -> anyhow::Result<()> {
    Migrator::up(db, None)
        .await
        .context("applying migrations")?;
    Ok(())
}

/// Readiness probe: one round trip.
pub async fn ping(db: &DatabaseConnection) -> anyhow::Result<()> {
    db.execute_unprepared("SELECT 1")
        .await
        .context("SELECT 1")?;
    Ok(())
}

/// Stores `after`, a changed copy of the row `before` read earlier, writing only the columns
/// that differ: a concurrent writer's changes to the other columns (the SLA scan's breach flags,
/// a PON's breach count) survive. Answers the row as stored; NOT_FOUND when it is gone.
pub async fn update_changed<E>(
    db: &impl ConnectionTrait,
    before: E::Model,
    after: E::Model,
) -> AppResult<E::Model>
where
    E: EntityTrait,
    E::Model: IntoActiveModel<E::ActiveModel> + Clone,
    E::ActiveModel: ActiveModelBehavior + Send,
{
    let mut active = before.clone().into_active_model();
    let mut changed = false;
    for column in E::Column::iter() {
        let value = after.get(column);
        if before.get(column) != value {
            active.set(column, value);
            changed = true;
        }
    }
    if !changed {
        return Ok(after);
    }
    match active.update(db).await {
        Ok(row) => Ok(row),
        Err(DbErr::RecordNotUpdated) => Err(AppError::not_found("the record no longer exists")),
        Err(err) => Err(err.into()),
    }
}
