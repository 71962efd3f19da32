//! Due times keep their time: `tasks.due_at`, the instant a task is due. Existing due dates
//! become the end of that day in the tenant's zone (the next local midnight), as the SLA rules
//! already read them; `due_date` stays as the day part.

use chrono::{NaiveDate, TimeZone, Utc};
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, TransactionTrait};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Tasks {
    Table,
    Id,
    TenantId,
    DueDate,
    DueAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Tenants {
    Table,
    Id,
    TimeZone,
}

/// The zone of a tenant whose `time_zone` is not a known IANA name (as the server's default).
const DEFAULT_TIME_ZONE: chrono_tz::Tz = chrono_tz::Africa::Johannesburg;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Tasks::Table)
                    .add_column(
                        ColumnDef::new(Tasks::DueAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        let zones: std::collections::HashMap<uuid::Uuid, chrono_tz::Tz> = db
            .query_all(
                &Query::select()
                    .columns([Tenants::Id, Tenants::TimeZone])
                    .from(Tenants::Table)
                    .to_owned(),
            )
            .await?
            .into_iter()
            .map(|row| {
                let id: uuid::Uuid = row.try_get("", "id")?;
                let zone: String = row.try_get("", "time_zone")?;
                Ok((id, zone.parse().unwrap_or(DEFAULT_TIME_ZONE)))
            })
            .collect::<Result<_, DbErr>>()?;
        let tasks = db
            .query_all(
                &Query::select()
                    .columns([Tasks::Id, Tasks::TenantId, Tasks::DueDate])
                    .from(Tasks::Table)
                    .and_where(Expr::col(Tasks::DueDate).is_not_null())
                    .to_owned(),
            )
            .await?;
        let tx = db.begin().await?;
        for row in tasks {
            let id: uuid::Uuid = row.try_get("", "id")?;
            let tenant: uuid::Uuid = row.try_get("", "tenant_id")?;
            let day: NaiveDate = row.try_get("", "due_date")?;
            let zone = zones.get(&tenant).copied().unwrap_or(DEFAULT_TIME_ZONE);
            let Some(due_at) = day
                .succ_opt()
                .and_then(|next| next.and_hms_opt(0, 0, 0))
                .and_then(|midnight| zone.from_local_datetime(&midnight).earliest())
                .map(|local| local.with_timezone(&Utc))
            else {
                continue;
            };
            tx.execute(
                &Query::update()
                    .table(Tasks::Table)
                    .value(Tasks::DueAt, due_at)
                    .and_where(Expr::col(Tasks::Id).eq(id))
                    .to_owned(),
            )
            .await?;
        }
        tx.commit().await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Tasks::Table)
                    .drop_column(Tasks::DueAt)
                    .to_owned(),
            )
            .await
    }
}
