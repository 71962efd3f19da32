//! Contracts and assignments of organizations, with CHECK constraints for every rule and
//! tenant-bound foreign keys: a row can only point at an organization or PON of its own tenant.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Tenants {
    Table,
    Id,
}

#[derive(DeriveIden, Clone, Copy)]
enum Organizations {
    Table,
    Id,
    TenantId,
}

#[derive(DeriveIden, Clone, Copy)]
enum Pons {
    Table,
    Id,
    TenantId,
}

#[derive(DeriveIden, Clone, Copy)]
enum Contracts {
    Table,
    Id,
    TenantId,
    OrganizationId,
    ScopeType,
    Wards,
    SlaP1Min,
    SlaP2Min,
    SlaP3Min,
    SlaP4Min,
    RateCardRef,
    Active,
    ValidFrom,
    ValidTo,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Assignments {
    Table,
    Id,
    TenantId,
    OrganizationId,
    PonId,
    Ward,
    StepType,
    CreatedAt,
    UpdatedAt,
}

const ORGANIZATION_KEY: (Organizations, (Organizations, Organizations)) = (
    Organizations::Table,
    (Organizations::TenantId, Organizations::Id),
);

/// Organization types and contract scopes.
const SCOPE_TYPES: [&str; 4] = ["Civil", "Technical", "Maintenance", "Sales"];

/// The work steps, then the legacy Express step names.
const STEP_TYPES: [&str; 12] = [
    "Permissions",
    "PolePlanting",
    "CAC",
    "Stringing",
    "Invoicing",
    "cac_check",
    "stringing",
    "installation",
    "testing",
    "maintenance",
    "documentation",
    "other",
];

fn sla_minutes(col: Contracts) -> ColumnDef {
    ColumnDef::new(col)
        .integer()
        .null()
        .check(Expr::col(col).gte(1))
        .to_owned()
}

fn timestamp(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col)
        .timestamp_with_time_zone()
        .not_null()
        .to_owned()
}

/// `(tenant_id, <column>)` → `<table> (tenant_id, id)`, so a reference never crosses tenants.
fn same_tenant(
    from: (impl IntoTableRef, impl IdenList),
    to: (impl IntoTableRef, impl IdenList),
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .from(from.0, from.1)
        .to(to.0, to.1)
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // The targets of the tenant-bound foreign keys.
        manager
            .create_index(
                Index::create()
                    .name("ux_organizations_tenant_id")
                    .table(Organizations::Table)
                    .col(Organizations::TenantId)
                    .col(Organizations::Id)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_pons_tenant_id")
                    .table(Pons::Table)
                    .col(Pons::TenantId)
                    .col(Pons::Id)
                    .unique()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Contracts::Table)
                    .col(
                        ColumnDef::new(Contracts::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Contracts::TenantId).uuid().not_null())
                    .col(ColumnDef::new(Contracts::OrganizationId).uuid().not_null())
                    .col(
                        ColumnDef::new(Contracts::ScopeType)
                            .string()
                            .not_null()
                            .check(Expr::col(Contracts::ScopeType).is_in(SCOPE_TYPES)),
                    )
                    // A JSON array of ward names (portable: no array type on SQLite).
                    .col(
                        ColumnDef::new(Contracts::Wards)
                            .text()
                            .not_null()
                            .default("[]"),
                    )
                    .col(sla_minutes(Contracts::SlaP1Min))
                    .col(sla_minutes(Contracts::SlaP2Min))
                    .col(sla_minutes(Contracts::SlaP3Min))
                    .col(sla_minutes(Contracts::SlaP4Min))
                    .col(ColumnDef::new(Contracts::RateCardRef).text().null())
                    .col(
                        ColumnDef::new(Contracts::Active)
                            .boolean()
                            .not_null()
                            .default(true),
                    )
                    .col(ColumnDef::new(Contracts::ValidFrom).date().null())
                    .col(ColumnDef::new(Contracts::ValidTo).date().null())
                    .col(timestamp(Contracts::CreatedAt))
                    .col(timestamp(Contracts::UpdatedAt))
                    .check(Check::named(
                        "ck_contracts_validity",
                        Expr::col(Contracts::ValidTo).gte(Expr::col(Contracts::ValidFrom)),
                    ))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Contracts::Table, Contracts::TenantId)
                            .to(Tenants::Table, Tenants::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(&mut same_tenant(
                        (
                            Contracts::Table,
                            (Contracts::TenantId, Contracts::OrganizationId),
                        ),
                        ORGANIZATION_KEY,
                    ))
                    .to_owned(),
            )
            .await?;
        for (name, col) in [
            ("ix_contracts_tenant_org", Contracts::OrganizationId),
            ("ix_contracts_tenant_scope", Contracts::ScopeType),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(Contracts::Table)
                        .col(Contracts::TenantId)
                        .col(col)
                        .to_owned(),
                )
                .await?;
        }

        manager
            .create_table(
                Table::create()
                    .table(Assignments::Table)
                    .col(
                        ColumnDef::new(Assignments::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Assignments::TenantId).uuid().not_null())
                    .col(
                        ColumnDef::new(Assignments::OrganizationId)
                            .uuid()
                            .not_null(),
                    )
                    .col(ColumnDef::new(Assignments::PonId).uuid().null())
                    .col(
                        ColumnDef::new(Assignments::Ward)
                            .text()
                            .null()
                            .check(Expr::cust("length(trim(ward)) > 0")),
                    )
                    .col(
                        ColumnDef::new(Assignments::StepType)
                            .string()
                            .not_null()
                            .check(Expr::col(Assignments::StepType).is_in(STEP_TYPES)),
                    )
                    .col(timestamp(Assignments::CreatedAt))
                    .col(timestamp(Assignments::UpdatedAt))
                    .check(Check::named(
                        "ck_assignments_target",
                        Expr::col(Assignments::PonId)
                            .is_not_null()
                            .or(Expr::col(Assignments::Ward).is_not_null()),
                    ))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Assignments::Table, Assignments::TenantId)
                            .to(Tenants::Table, Tenants::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(&mut same_tenant(
                        (
                            Assignments::Table,
                            (Assignments::TenantId, Assignments::OrganizationId),
                        ),
                        ORGANIZATION_KEY,
                    ))
                    .foreign_key(&mut same_tenant(
                        (
                            Assignments::Table,
                            (Assignments::TenantId, Assignments::PonId),
                        ),
                        (Pons::Table, (Pons::TenantId, Pons::Id)),
                    ))
                    .to_owned(),
            )
            .await?;
        for (name, col) in [
            ("ix_assignments_tenant_org", Assignments::OrganizationId),
            ("ix_assignments_tenant_pon", Assignments::PonId),
            ("ix_assignments_tenant_step", Assignments::StepType),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(Assignments::Table)
                        .col(Assignments::TenantId)
                        .col(col)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Assignments::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Contracts::Table).to_owned())
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("ux_pons_tenant_id")
                    .table(Pons::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("ux_organizations_tenant_id")
                    .table(Organizations::Table)
                    .to_owned(),
            )
            .await
    }
}
