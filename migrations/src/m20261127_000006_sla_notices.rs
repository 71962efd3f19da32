//! When each task's SLA warning and breach mails went out, so each is sent at most once, and
//! whether its breach is counted on its PON, so it is counted once.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Tasks {
    Table,
    SlaWarningNotifiedAt,
    SlaBreachNotifiedAt,
    SlaBreachCounted,
}

const COLUMNS: [Tasks; 3] = [
    Tasks::SlaWarningNotifiedAt,
    Tasks::SlaBreachNotifiedAt,
    Tasks::SlaBreachCounted,
];

fn definition(column: Tasks) -> ColumnDef {
    let mut definition = ColumnDef::new(column);
    match column {
        Tasks::SlaBreachCounted => definition.boolean().not_null().default(false),
        _ => definition.timestamp_with_time_zone().null(),
    };
    definition
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite adds a single column per ALTER TABLE.
        for column in COLUMNS {
            manager
                .alter_table(
                    Table::alter()
                        .table(Tasks::Table)
                        .add_column(definition(column))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in COLUMNS {
            manager
                .alter_table(
                    Table::alter()
                        .table(Tasks::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
