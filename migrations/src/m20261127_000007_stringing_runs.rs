//! Stringing runs: metres of fibre strung on a PON by an organization (and crew) on a day,
//! the quantity pay sheets are computed from; tenant-bound PON and organization, metres > 0.

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
    TenantId,
}

#[derive(DeriveIden, Clone, Copy)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden, Clone, Copy)]
enum StringingRuns {
    Table,
    Id,
    TenantId,
    PonId,
    OrganizationId,
    Crew,
    Meters,
    CompletedOn,
    Notes,
    CreatedBy,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(StringingRuns::Table)
                    .col(
                        ColumnDef::new(StringingRuns::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(StringingRuns::TenantId).uuid().not_null())
                    .col(ColumnDef::new(StringingRuns::PonId).uuid().not_null())
                    .col(
                        ColumnDef::new(StringingRuns::OrganizationId)
                            .uuid()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(StringingRuns::Crew)
                            .text()
                            .not_null()
                            .default(""),
                    )
                    .col(
                        ColumnDef::new(StringingRuns::Meters)
                            .double()
                            .not_null()
                            .check(Expr::col(StringingRuns::Meters).gt(0)),
                    )
                    .col(ColumnDef::new(StringingRuns::CompletedOn).date().not_null())
                    .col(
                        ColumnDef::new(StringingRuns::Notes)
                            .text()
                            .not_null()
                            .default(""),
                    )
                    .col(ColumnDef::new(StringingRuns::CreatedBy).uuid().null())
                    .col(
                        ColumnDef::new(StringingRuns::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(StringingRuns::Table, StringingRuns::TenantId)
                            .to(Tenants::Table, Tenants::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(
                                StringingRuns::Table,
                                (StringingRuns::TenantId, StringingRuns::PonId),
                            )
                            .to(Pons::Table, (Pons::TenantId, Pons::Id))
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(
                                StringingRuns::Table,
                                (StringingRuns::TenantId, StringingRuns::OrganizationId),
                            )
                            .to(
                                Organizations::Table,
                                (Organizations::TenantId, Organizations::Id),
                            )
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(StringingRuns::Table, StringingRuns::CreatedBy)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, col) in [
            ("ix_stringing_runs_tenant_pon", StringingRuns::PonId),
            (
                "ix_stringing_runs_tenant_org",
                StringingRuns::OrganizationId,
            ),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(StringingRuns::Table)
                        .col(StringingRuns::TenantId)
                        .col(col)
                        .col(StringingRuns::CompletedOn)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(StringingRuns::Table).to_owned())
            .await
    }
}
