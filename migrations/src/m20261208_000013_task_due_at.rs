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

#[cfg(test)]
mod tests {
    use sea_orm_migration::MigratorTrait;
    use sea_orm_migration::sea_orm::{ConnectionTrait, Database, DbBackend, Statement, Value};

    use crate::Migrator;

    const TASK: &str = "INSERT INTO tasks (id, tenant_id, pon_id, title, step, priority, status, due_date, created_at, updated_at) \
        VALUES (?, ?, ?, ?, 'PolePlanting', 'medium', 'pending', ?, ?, ?)";

    /// Tasks stored with a due date before this migration get the next local midnight of
    /// their tenant's zone; tasks without one stay without.
    #[tokio::test]
    async fn existing_due_dates_become_the_end_of_that_day_in_the_tenants_zone() {
        let db = Database::connect("sqlite::memory:").await.expect("sqlite");
        let before = Migrator::migrations().len() as u32 - 1;
        Migrator::up(&db, Some(before))
            .await
            .expect("earlier migrations");
        let id = |n: u128| uuid::Uuid::from_u128(n);
        let created: chrono::DateTime<chrono::Utc> = "2026-12-01T00:00:00Z".parse().expect("time");
        let day = chrono::NaiveDate::from_ymd_opt(2026, 12, 8);
        let inserts: [(&str, Vec<Value>); 7] = [
            (
                "INSERT INTO tenants (id, slug, name, time_zone, created_at) VALUES (?, ?, ?, ?, ?)",
                vec![
                    id(0xa).into(),
                    "jhb".into(),
                    "Jhb".into(),
                    "Africa/Johannesburg".into(),
                    created.into(),
                ],
            ),
            (
                "INSERT INTO tenants (id, slug, name, time_zone, created_at) VALUES (?, ?, ?, ?, ?)",
                vec![
                    id(0xb).into(),
                    "nyc".into(),
                    "Nyc".into(),
                    "America/New_York".into(),
                    created.into(),
                ],
            ),
            (
                "INSERT INTO pons (id, tenant_id, pon_code, name, fiber_count, created_at, updated_at) VALUES (?, ?, 'P-A', 'A', 12, ?, ?)",
                vec![
                    id(0xa1).into(),
                    id(0xa).into(),
                    created.into(),
                    created.into(),
                ],
            ),
            (
                "INSERT INTO pons (id, tenant_id, pon_code, name, fiber_count, created_at, updated_at) VALUES (?, ?, 'P-B', 'B', 12, ?, ?)",
                vec![
                    id(0xb1).into(),
                    id(0xb).into(),
                    created.into(),
                    created.into(),
                ],
            ),
            (
                TASK,
                vec![
                    id(0xa2).into(),
                    id(0xa).into(),
                    id(0xa1).into(),
                    "jhb".into(),
                    day.into(),
                    created.into(),
                    created.into(),
                ],
            ),
            (
                TASK,
                vec![
                    id(0xb2).into(),
                    id(0xb).into(),
                    id(0xb1).into(),
                    "nyc".into(),
                    day.into(),
                    created.into(),
                    created.into(),
                ],
            ),
            (
                TASK,
                vec![
                    id(0xc2).into(),
                    id(0xa).into(),
                    id(0xa1).into(),
                    "none".into(),
                    None::<chrono::NaiveDate>.into(),
                    created.into(),
                    created.into(),
                ],
            ),
        ];
        for (sql, values) in inserts {
            db.execute_raw(Statement::from_sql_and_values(
                DbBackend::Sqlite,
                sql,
                values,
            ))
            .await
            .expect(sql);
        }
        Migrator::up(&db, None)
            .await
            .expect("the due-time migration");
        let rows = db
            .query_all_raw(Statement::from_string(
                DbBackend::Sqlite,
                "SELECT title, due_at FROM tasks ORDER BY title",
            ))
            .await
            .expect("select");
        let due: Vec<(String, Option<chrono::DateTime<chrono::Utc>>)> = rows
            .iter()
            .map(|row| {
                (
                    row.try_get("", "title").expect("title"),
                    row.try_get("", "due_at").expect("due_at"),
                )
            })
            .collect();
        let at = |text: &str| Some(text.parse().expect("instant"));
        assert_eq!(
            due,
            [
                ("jhb".to_string(), at("2026-12-08T22:00:00Z")),
                ("none".to_string(), None),
                ("nyc".to_string(), at("2026-12-09T05:00:00Z")),
            ]
        );
    }
}
