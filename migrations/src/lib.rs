//! Schema migrations for Kasi Fiber. They run on SQLite (embedded default) and on
//! PostgreSQL, where PostGIS is enabled and spatial columns are added.

pub use sea_orm_migration::prelude::*;

mod m20261127_000001_enable_postgis;
mod m20261127_000002_create_pons;
mod m20261127_000003_identity;
mod m20261127_000004_contracts_assignments;
mod m20261127_000005_tasks;
mod m20261127_000006_sla_notices;
mod m20261127_000007_stringing_runs;
mod m20261127_000008_photos_certificates;
mod m20261127_000009_netops;
mod m20261127_000010_network_extras;
mod m20261127_000011_work_queue_index;
mod m20261205_000012_hardening;
mod m20261208_000013_task_due_at;

/// Every migration, oldest first.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261127_000001_enable_postgis::Migration),
            Box::new(m20261127_000002_create_pons::Migration),
            Box::new(m20261127_000003_identity::Migration),
            Box::new(m20261127_000004_contracts_assignments::Migration),
            Box::new(m20261127_000005_tasks::Migration),
            Box::new(m20261127_000006_sla_notices::Migration),
            Box::new(m20261127_000007_stringing_runs::Migration),
            Box::new(m20261127_000008_photos_certificates::Migration),
            Box::new(m20261127_000009_netops::Migration),
            Box::new(m20261127_000010_network_extras::Migration),
            Box::new(m20261127_000011_work_queue_index::Migration),
            Box::new(m20261205_000012_hardening::Migration),
            Box::new(m20261208_000013_task_due_at::Migration),
        ]
    }
}
