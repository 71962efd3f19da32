//! Storage ports. Each port has an embedded default backend (no configuration) and a
//! production backend chosen by environment: database, cache, object store, mail.

pub mod cache;
pub mod db;
pub mod mail;
pub mod objects;
mod s3_bucket;

use std::sync::Arc;

use crate::config::Config;

pub use cache::Cache;
pub use mail::Mailer;
pub use objects::Objects;

/// The opened backends of every port, shared by the services.
#[derive(Clone)]
pub struct Storage {
    pub db: sea_orm::DatabaseConnection,
    pub cache: Arc<dyn Cache>,
    pub objects: Objects,
    pub mailer: Arc<dyn Mailer>,
}

impl Storage {
    /// Opens every port. The database must be reachable; Redis is connected lazily
    /// (its outages show in readiness, never as a failed start).
    pub async fn open(config: &Config) -> anyhow::Result<Self> {
        std::fs::create_dir_all(&config.data_dir)?;
        if config.database.migrate_on_start {
            let migrating = db::connect_for_migrations(&config.database, &config.data_dir).await?;
            db::migrate(&migrating).await?;
            // A SQLite connection opened while the migrations ran keeps the schema it loaded, and
            // SQLite does not re-read it for every error (an upsert whose unique index came later
            // failed with "ON CONFLICT clause does not match" once in CI): serve from a pool
            // opened after the schema is final (and with the statement timeout of serving).
            migrating.close().await?;
        }
        let db = db::connect(&config.database, &config.data_dir).await?;
        let cache = cache::open(
            config.redis_url.as_deref(),
            &config.redis_key_prefix,
            config.redis_command_timeout(),
        )
        .await?;
        let objects = Objects::open(&config.s3, &config.data_dir).await?;
        let mailer = mail::open(&config.mail, &config.data_dir)?;
        Ok(Storage {
            db,
            cache,
            objects,
            mailer,
        })
    }
}
