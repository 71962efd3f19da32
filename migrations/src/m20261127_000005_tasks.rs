//! Tasks of a PON: step, priority, status, assignee and organization, dependencies, SLA
//! fields, with CHECK constraints for the vocabularies and a tenant-bound PON reference.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Tenants {
    Table,
    Id,
}

#[derive(DeriveIden, Clone, Copy)]
enum Pons {
    Table,
    Id,
    TenantId,
}

#[derive(DeriveIden, Clone, Copy)]
enum Organizations {
    Table,
    Id,
}

#[derive(DeriveIden, Clone, Copy)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden, Clone, Copy)]
enum Tasks {
    Table,
    Id,
    TenantId,
    PonId,
    Title,
    Description,
    Step,
    Priority,
    Status,
    HeldFrom,
    AssigneeId,
    OrganizationId,
    CreatedBy,
    DueDate,
    EstimatedHours,
    ActualHours,
    Notes,
    Dependencies,
    EvidenceRequired,
    SlaMinutes,
    StartedAt,
    SlaDueAt,
    CompletedAt,
    Breached,
    CreatedAt,
    UpdatedAt,
}

/// The stored steps: the work steps and the legacy types that have no work step of their own.
const STEPS: [&str; 10] = [
    "Permissions",
    "PolePlanting",
    "CAC",
    "Stringing",
    "Invoicing",
    "installation",
    "testing",
    "maintenance",
    "documentation",
    "other",
];
const PRIORITIES: [&str; 4] = ["low", "medium", "high", "critical"];
const STATUSES: [&str; 5] = [
    "pending",
    "in_progress",
    "on_hold",
    "completed",
    "cancelled",
];

fn hours(col: Tasks) -> ColumnDef {
    ColumnDef::new(col)
        .double()
        .null()
        .check(Expr::col(col).gte(0))
        .to_owned()
}

fn moment(col: Tasks) -> ColumnDef {
    ColumnDef::new(col)
        .timestamp_with_time_zone()
        .null()
        .to_owned()
}

/// `tasks.<col>` → `<table>.<id>`, set to NULL when that row is deleted.
fn forget_deleted(
    col: Tasks,
    table: impl IntoTableRef,
    id: impl IntoIden,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .from(Tasks::Table, col)
        .to(table, id)
        .on_delete(ForeignKeyAction::SetNull)
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Tasks::Table)
                    .col(ColumnDef::new(Tasks::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(Tasks::TenantId).uuid().not_null())
                    .col(ColumnDef::new(Tasks::PonId).uuid().not_null())
                    .col(ColumnDef::new(Tasks::Title).text().not_null())
                    .col(
                        ColumnDef::new(Tasks::Description)
                            .text()
                            .not_null()
                            .default(""),
                    )
                    .col(
                        ColumnDef::new(Tasks::Step)
                            .string()
                            .not_null()
                            .check(Expr::col(Tasks::Step).is_in(STEPS)),
                    )
                    .col(
                        ColumnDef::new(Tasks::Priority)
                            .string()
                            .not_null()
                            .check(Expr::col(Tasks::Priority).is_in(PRIORITIES)),
                    )
                    .col(
                        ColumnDef::new(Tasks::Status)
                            .string()
                            .not_null()
                            .check(Expr::col(Tasks::Status).is_in(STATUSES)),
                    )
                    // The status a task on hold came from.
                    .col(ColumnDef::new(Tasks::HeldFrom).string().null())
                    // Checked against the tenant's users and organizations by the service; the
                    // keys below only forget a deleted one.
                    .col(ColumnDef::new(Tasks::AssigneeId).uuid().null())
                    .col(ColumnDef::new(Tasks::OrganizationId).uuid().null())
                    .col(ColumnDef::new(Tasks::CreatedBy).uuid().null())
                    .col(ColumnDef::new(Tasks::DueDate).date().null())
                    .col(hours(Tasks::EstimatedHours))
                    .col(hours(Tasks::ActualHours))
                    .col(ColumnDef::new(Tasks::Notes).text().not_null().default(""))
                    // A JSON array of task ids of the same PON.
                    .col(
                        ColumnDef::new(Tasks::Dependencies)
                            .text()
                            .not_null()
                            .default("[]"),
                    )
                    .col(
                        ColumnDef::new(Tasks::EvidenceRequired)
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .col(
                        ColumnDef::new(Tasks::SlaMinutes)
                            .integer()
                            .null()
                            .check(Expr::col(Tasks::SlaMinutes).gte(1)),
                    )
                    .col(moment(Tasks::StartedAt))
                    .col(moment(Tasks::SlaDueAt))
                    .col(moment(Tasks::CompletedAt))
                    .col(
                        ColumnDef::new(Tasks::Breached)
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .col(
                        ColumnDef::new(Tasks::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Tasks::UpdatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .check(Check::named(
                        "ck_tasks_completed_after_start",
                        Expr::col(Tasks::CompletedAt).gte(Expr::col(Tasks::StartedAt)),
                    ))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Tasks::Table, Tasks::TenantId)
                            .to(Tenants::Table, Tenants::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Tasks::Table, (Tasks::TenantId, Tasks::PonId))
                            .to(Pons::Table, (Pons::TenantId, Pons::Id))
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(&mut forget_deleted(
                        Tasks::AssigneeId,
                        Users::Table,
                        Users::Id,
                    ))
                    .foreign_key(&mut forget_deleted(
                        Tasks::OrganizationId,
                        Organizations::Table,
                        Organizations::Id,
                    ))
                    .foreign_key(&mut forget_deleted(
                        Tasks::CreatedBy,
                        Users::Table,
                        Users::Id,
                    ))
                    .to_owned(),
            )
            .await?;
        for (name, col) in [
            ("ix_tasks_tenant_pon", Tasks::PonId),
            ("ix_tasks_tenant_org", Tasks::OrganizationId),
            ("ix_tasks_tenant_assignee", Tasks::AssigneeId),
            ("ix_tasks_tenant_status", Tasks::Status),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(Tasks::Table)
                        .col(Tasks::TenantId)
                        .col(col)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Tasks::Table).to_owned())
            .await
    }
}
