//! The work queue's index: only open tasks, by (PON, step) and then in queue order (SLA due
//! time, due date, id), so the queue reads the open tasks of its routes, not every task of
//! their PONs.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const NAME: &str = "ix_tasks_open_queue";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Plain SQL: the same partial-index statement on SQLite and PostgreSQL, with the
        // predicate spelled exactly as the queue query states it.
        manager
            .get_connection()
            .execute_unprepared(&format!(
                "CREATE INDEX {NAME} ON tasks (tenant_id, pon_id, step, sla_due_at, due_date, id) \
                 WHERE status IN ('pending', 'in_progress', 'on_hold')"
            ))
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name(NAME)
                    .table(Alias::new("tasks"))
                    .to_owned(),
            )
            .await
    }
}
