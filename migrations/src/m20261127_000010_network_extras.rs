//! Spare-part stores, stock levels that can never go negative and their movement ledger;
//! optical power readings with per-tenant thresholds; collected device configs with their diff
//! and policy violations, and golden templates with deny rules.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Tenants {
    Table,
    Id,
}

#[derive(DeriveIden, Clone, Copy)]
enum Stores {
    Table,
    Id,
    TenantId,
    Name,
    Address,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum StockLevels {
    Table,
    Id,
    TenantId,
    StoreId,
    Sku,
    Quantity,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum StockMovements {
    Table,
    Id,
    TenantId,
    StoreId,
    Sku,
    DeltaQty,
    QuantityAfter,
    Reason,
    IncidentId,
    ActorUserId,
    CreatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Devices {
    Table,
    Id,
}

#[derive(DeriveIden, Clone, Copy)]
enum Incidents {
    Table,
    Id,
}

#[derive(DeriveIden, Clone, Copy)]
enum DeviceConfigs {
    Table,
    Id,
    TenantId,
    DeviceId,
    RunningConfig,
    HashSha256,
    PreviousId,
    Diff,
    Violations,
    IncidentId,
    CollectedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum GoldenTemplates {
    Table,
    Id,
    TenantId,
    DeviceType,
    Vendor,
    TemplateText,
    DenyPatterns,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Pons {
    Table,
    Id,
    TenantId,
}

#[derive(DeriveIden, Clone, Copy)]
enum OpticalReadings {
    Table,
    Id,
    TenantId,
    PonId,
    DeviceId,
    OnuId,
    Port,
    Direction,
    PowerDbm,
    OltSlot,
    OltPort,
    Vendor,
    Model,
    Source,
    TakenAt,
    CreatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum OpticalThresholds {
    Table,
    TenantId,
    ToOnuWarnDbm,
    ToOnuCriticalDbm,
    ToOltWarnDbm,
    ToOltCriticalDbm,
    DriftDb,
    UpdatedAt,
}

fn moment(col: impl IntoIden) -> ColumnDef {
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

/// `<table>.<col>` → `<target>.id`, set to NULL when that row is deleted (the service checks
/// that the target is of the row's tenant).
fn forget_deleted(
    table: impl IntoTableRef,
    col: impl IntoIden,
    target: impl IntoTableRef,
    id: impl IntoIden,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .from(table, col)
        .to(target, id)
        .on_delete(ForeignKeyAction::SetNull)
        .to_owned()
}

fn tenant_key(table: impl IntoTableRef, col: impl IntoIden) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .from(table, col)
        .to(Tenants::Table, Tenants::Id)
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}

async fn index(
    manager: &SchemaManager<'_>,
    name: &str,
    table: impl IntoTableRef,
    cols: impl IntoIterator<Item = DynIden>,
    unique: bool,
) -> Result<(), DbErr> {
    let mut statement = Index::create();
    statement.name(name).table(table);
    for col in cols {
        statement.col(col);
    }
    if unique {
        statement.unique();
    }
    manager.create_index(statement.to_owned()).await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Stores::Table)
                    .col(ColumnDef::new(Stores::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(Stores::TenantId).uuid().not_null())
                    .col(
                        ColumnDef::new(Stores::Name)
                            .string()
                            .not_null()
                            .check(Expr::cust("length(trim(name)) > 0")),
                    )
                    .col(
                        ColumnDef::new(Stores::Address)
                            .text()
                            .not_null()
                            .default(""),
                    )
                    .col(moment(Stores::CreatedAt))
                    .col(moment(Stores::UpdatedAt))
                    .foreign_key(&mut tenant_key(Stores::Table, Stores::TenantId))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "ux_stores_tenant_id",
            Stores::Table,
            [Stores::TenantId.into_iden(), Stores::Id.into_iden()],
            true,
        )
        .await?;
        index(
            manager,
            "ux_stores_tenant_name",
            Stores::Table,
            [Stores::TenantId.into_iden(), Stores::Name.into_iden()],
            true,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(StockLevels::Table)
                    .col(
                        ColumnDef::new(StockLevels::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(StockLevels::TenantId).uuid().not_null())
                    .col(ColumnDef::new(StockLevels::StoreId).uuid().not_null())
                    .col(ColumnDef::new(StockLevels::Sku).string().not_null())
                    // The last line of defence: no write may ever leave a level below zero.
                    .col(
                        ColumnDef::new(StockLevels::Quantity)
                            .big_integer()
                            .not_null()
                            .default(0)
                            .check(Expr::col(StockLevels::Quantity).gte(0)),
                    )
                    .col(moment(StockLevels::UpdatedAt))
                    .foreign_key(&mut same_tenant(
                        (
                            StockLevels::Table,
                            (StockLevels::TenantId, StockLevels::StoreId),
                        ),
                        (Stores::Table, (Stores::TenantId, Stores::Id)),
                    ))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "ux_stock_levels_store_sku",
            StockLevels::Table,
            [
                StockLevels::TenantId.into_iden(),
                StockLevels::StoreId.into_iden(),
                StockLevels::Sku.into_iden(),
            ],
            true,
        )
        .await?;
        index(
            manager,
            "ix_stock_levels_tenant_sku",
            StockLevels::Table,
            [
                StockLevels::TenantId.into_iden(),
                StockLevels::Sku.into_iden(),
            ],
            false,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(StockMovements::Table)
                    .col(
                        ColumnDef::new(StockMovements::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(StockMovements::TenantId).uuid().not_null())
                    .col(ColumnDef::new(StockMovements::StoreId).uuid().not_null())
                    .col(ColumnDef::new(StockMovements::Sku).string().not_null())
                    .col(
                        ColumnDef::new(StockMovements::DeltaQty)
                            .big_integer()
                            .not_null()
                            .check(Expr::col(StockMovements::DeltaQty).ne(0)),
                    )
                    .col(
                        ColumnDef::new(StockMovements::QuantityAfter)
                            .big_integer()
                            .not_null()
                            .check(Expr::col(StockMovements::QuantityAfter).gte(0)),
                    )
                    .col(
                        ColumnDef::new(StockMovements::Reason)
                            .text()
                            .not_null()
                            .default(""),
                    )
                    .col(ColumnDef::new(StockMovements::IncidentId).uuid().null())
                    .col(ColumnDef::new(StockMovements::ActorUserId).uuid().null())
                    .col(moment(StockMovements::CreatedAt))
                    .foreign_key(&mut same_tenant(
                        (
                            StockMovements::Table,
                            (StockMovements::TenantId, StockMovements::StoreId),
                        ),
                        (Stores::Table, (Stores::TenantId, Stores::Id)),
                    ))
                    .foreign_key(&mut forget_deleted(
                        StockMovements::Table,
                        StockMovements::IncidentId,
                        Incidents::Table,
                        Incidents::Id,
                    ))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "ix_stock_movements_store_time",
            StockMovements::Table,
            [
                StockMovements::TenantId.into_iden(),
                StockMovements::StoreId.into_iden(),
                StockMovements::CreatedAt.into_iden(),
            ],
            false,
        )
        .await?;
        index(
            manager,
            "ix_stock_movements_incident",
            StockMovements::Table,
            [
                StockMovements::TenantId.into_iden(),
                StockMovements::IncidentId.into_iden(),
            ],
            false,
        )
        .await?;

        let text = |col: OpticalReadings| {
            ColumnDef::new(col)
                .string()
                .not_null()
                .default("")
                .to_owned()
        };
        manager
            .create_table(
                Table::create()
                    .table(OpticalReadings::Table)
                    .col(
                        ColumnDef::new(OpticalReadings::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(OpticalReadings::TenantId).uuid().not_null())
                    .col(ColumnDef::new(OpticalReadings::PonId).uuid().null())
                    .col(ColumnDef::new(OpticalReadings::DeviceId).uuid().null())
                    .col(text(OpticalReadings::OnuId))
                    .col(text(OpticalReadings::Port))
                    .col(
                        ColumnDef::new(OpticalReadings::Direction)
                            .string()
                            .not_null()
                            .check(
                                Expr::col(OpticalReadings::Direction).is_in(["to_onu", "to_olt"]),
                            ),
                    )
                    .col(
                        ColumnDef::new(OpticalReadings::PowerDbm)
                            .double()
                            .not_null()
                            .check(Expr::col(OpticalReadings::PowerDbm).between(-60.0, 10.0)),
                    )
                    .col(text(OpticalReadings::OltSlot))
                    .col(text(OpticalReadings::OltPort))
                    .col(text(OpticalReadings::Vendor))
                    .col(text(OpticalReadings::Model))
                    .col(
                        ColumnDef::new(OpticalReadings::Source)
                            .string()
                            .not_null()
                            .check(
                                Expr::col(OpticalReadings::Source)
                                    .is_in(["NMS", "field", "import"]),
                            ),
                    )
                    .col(moment(OpticalReadings::TakenAt))
                    .col(moment(OpticalReadings::CreatedAt))
                    .foreign_key(&mut tenant_key(
                        OpticalReadings::Table,
                        OpticalReadings::TenantId,
                    ))
                    .foreign_key(
                        ForeignKey::create()
                            .from(
                                OpticalReadings::Table,
                                (OpticalReadings::TenantId, OpticalReadings::PonId),
                            )
                            .to(Pons::Table, (Pons::TenantId, Pons::Id))
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(&mut forget_deleted(
                        OpticalReadings::Table,
                        OpticalReadings::DeviceId,
                        Devices::Table,
                        Devices::Id,
                    ))
                    .to_owned(),
            )
            .await?;
        for (name, col) in [
            ("ix_optical_readings_pon_time", OpticalReadings::PonId),
            ("ix_optical_readings_onu_time", OpticalReadings::OnuId),
            ("ix_optical_readings_device_time", OpticalReadings::DeviceId),
        ] {
            index(
                manager,
                name,
                OpticalReadings::Table,
                [
                    OpticalReadings::TenantId.into_iden(),
                    col.into_iden(),
                    OpticalReadings::TakenAt.into_iden(),
                ],
                false,
            )
            .await?;
        }
        index(
            manager,
            "ix_optical_readings_time",
            OpticalReadings::Table,
            [
                OpticalReadings::TenantId.into_iden(),
                OpticalReadings::TakenAt.into_iden(),
            ],
            false,
        )
        .await?;

        let level = |col: OpticalThresholds| ColumnDef::new(col).double().not_null().to_owned();
        manager
            .create_table(
                Table::create()
                    .table(OpticalThresholds::Table)
                    .col(
                        ColumnDef::new(OpticalThresholds::TenantId)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(level(OpticalThresholds::ToOnuWarnDbm))
                    .col(level(OpticalThresholds::ToOnuCriticalDbm))
                    .col(level(OpticalThresholds::ToOltWarnDbm))
                    .col(level(OpticalThresholds::ToOltCriticalDbm))
                    .col(level(OpticalThresholds::DriftDb))
                    .col(moment(OpticalThresholds::UpdatedAt))
                    .foreign_key(&mut tenant_key(
                        OpticalThresholds::Table,
                        OpticalThresholds::TenantId,
                    ))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(DeviceConfigs::Table)
                    .col(
                        ColumnDef::new(DeviceConfigs::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(DeviceConfigs::TenantId).uuid().not_null())
                    .col(ColumnDef::new(DeviceConfigs::DeviceId).uuid().not_null())
                    .col(
                        ColumnDef::new(DeviceConfigs::RunningConfig)
                            .text()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(DeviceConfigs::HashSha256)
                            .string()
                            .not_null(),
                    )
                    .col(ColumnDef::new(DeviceConfigs::PreviousId).uuid().null())
                    .col(
                        ColumnDef::new(DeviceConfigs::Diff)
                            .text()
                            .not_null()
                            .default(""),
                    )
                    // JSON array of the lines that broke a deny rule.
                    .col(
                        ColumnDef::new(DeviceConfigs::Violations)
                            .text()
                            .not_null()
                            .default("[]"),
                    )
                    .col(ColumnDef::new(DeviceConfigs::IncidentId).uuid().null())
                    .col(moment(DeviceConfigs::CollectedAt))
                    .foreign_key(&mut tenant_key(
                        DeviceConfigs::Table,
                        DeviceConfigs::TenantId,
                    ))
                    .foreign_key(
                        ForeignKey::create()
                            .from(DeviceConfigs::Table, DeviceConfigs::DeviceId)
                            .to(Devices::Table, Devices::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(&mut forget_deleted(
                        DeviceConfigs::Table,
                        DeviceConfigs::IncidentId,
                        Incidents::Table,
                        Incidents::Id,
                    ))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "ix_device_configs_device_time",
            DeviceConfigs::Table,
            [
                DeviceConfigs::TenantId.into_iden(),
                DeviceConfigs::DeviceId.into_iden(),
                DeviceConfigs::CollectedAt.into_iden(),
            ],
            false,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(GoldenTemplates::Table)
                    .col(
                        ColumnDef::new(GoldenTemplates::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(GoldenTemplates::TenantId).uuid().not_null())
                    .col(
                        ColumnDef::new(GoldenTemplates::DeviceType)
                            .string()
                            .not_null(),
                    )
                    // Empty: every vendor of the type.
                    .col(
                        ColumnDef::new(GoldenTemplates::Vendor)
                            .string()
                            .not_null()
                            .default(""),
                    )
                    .col(
                        ColumnDef::new(GoldenTemplates::TemplateText)
                            .text()
                            .not_null()
                            .default(""),
                    )
                    // JSON array of regular expressions no config line may match.
                    .col(
                        ColumnDef::new(GoldenTemplates::DenyPatterns)
                            .text()
                            .not_null()
                            .default("[]"),
                    )
                    .col(moment(GoldenTemplates::CreatedAt))
                    .col(moment(GoldenTemplates::UpdatedAt))
                    .foreign_key(&mut tenant_key(
                        GoldenTemplates::Table,
                        GoldenTemplates::TenantId,
                    ))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "ux_golden_templates_type_vendor",
            GoldenTemplates::Table,
            [
                GoldenTemplates::TenantId.into_iden(),
                GoldenTemplates::DeviceType.into_iden(),
                GoldenTemplates::Vendor.into_iden(),
            ],
            true,
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            GoldenTemplates::Table.into_iden(),
            DeviceConfigs::Table.into_iden(),
            OpticalThresholds::Table.into_iden(),
            OpticalReadings::Table.into_iden(),
            StockMovements::Table.into_iden(),
            StockLevels::Table.into_iden(),
            Stores::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
