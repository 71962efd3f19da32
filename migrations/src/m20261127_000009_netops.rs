//! Network operations: devices, incidents (with a unique per-tenant dedup key that makes
//! alert ingestion race-free), the signals kept on each incident, and maintenance windows.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

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
}

#[derive(DeriveIden, Clone, Copy)]
enum Organizations {
    Table,
    Id,
}

#[derive(DeriveIden, Clone, Copy)]
enum Devices {
    Table,
    Id,
    TenantId,
    Name,
    Type,
    Vendor,
    Model,
    Serial,
    MgmtIp,
    Site,
    Ward,
    PonId,
    OltChassis,
    OltSlot,
    OltPort,
    OnuId,
    Status,
    LastSeenAt,
    Lat,
    Lng,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Incidents {
    Table,
    Id,
    TenantId,
    Title,
    Description,
    Severity,
    Category,
    Status,
    DeviceId,
    PonId,
    Ward,
    Site,
    RelatedOnuId,
    NmsSource,
    NmsEventId,
    DedupKey,
    OpenedAt,
    AcknowledgedAt,
    ResolvedAt,
    ClosedAt,
    RespondBy,
    RestoreBy,
    BreachedRespond,
    BreachedRestore,
    AssignedOrgId,
    SlaSource,
    RootCause,
    FixCode,
    ClosureNotes,
    ClosurePhotos,
    ClosureLat,
    ClosureLng,
    ClosureCapturedAt,
    Lat,
    Lng,
    CreatedBy,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum IncidentSignals {
    Table,
    Id,
    TenantId,
    IncidentId,
    Key,
    Value,
    ReceivedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum MaintenanceWindows {
    Table,
    Id,
    TenantId,
    Scope,
    TargetId,
    StartAt,
    EndAt,
    Reason,
    ApprovedBy,
    CreatedBy,
    CreatedAt,
}

pub const DEVICE_TYPES: [&str; 12] = [
    "OLT",
    "ONU",
    "ONT",
    "SWITCH",
    "ROUTER",
    "SPLITTER",
    "UPS",
    "GENERATOR",
    "BATTERY",
    "PDU",
    "CPE",
    "WIFI",
];
const DEVICE_STATUSES: [&str; 4] = ["up", "down", "degraded", "maintenance"];
const SEVERITIES: [&str; 4] = ["P1", "P2", "P3", "P4"];
const CATEGORIES: [&str; 12] = [
    "device_down",
    "los",
    "uplink_down",
    "optical_low_power",
    "interface_flaps",
    "high_cpu",
    "capacity",
    "power_loss",
    "environmental",
    "config_drift",
    "maintenance",
    "other",
];
const STATUSES: [&str; 6] = [
    "open",
    "acknowledged",
    "in_progress",
    "monitoring",
    "resolved",
    "closed",
];
const SCOPES: [&str; 4] = ["Global", "Device", "PON", "Org"];

fn text(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col).text().not_null().default("").to_owned()
}

fn moment(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col)
        .timestamp_with_time_zone()
        .null()
        .to_owned()
}

fn required_moment(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col)
        .timestamp_with_time_zone()
        .not_null()
        .to_owned()
}

fn latitude(col: impl IntoIden + Copy) -> ColumnDef {
    ColumnDef::new(col)
        .double()
        .null()
        .check(Expr::col(col).between(-90.0, 90.0))
        .to_owned()
}

fn longitude(col: impl IntoIden + Copy) -> ColumnDef {
    ColumnDef::new(col)
        .double()
        .null()
        .check(Expr::col(col).between(-180.0, 180.0))
        .to_owned()
}

fn flag(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col)
        .boolean()
        .not_null()
        .default(false)
        .to_owned()
}

fn tenant_key(table: impl IntoIden, col: impl IntoIden) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .from_tbl(table)
        .from_col(col)
        .to(Tenants::Table, Tenants::Id)
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}

/// `<table>.<col>` → `<target>.id`, set to NULL when that row is deleted.
fn forget_deleted(
    table: impl IntoIden,
    col: impl IntoIden,
    target: impl IntoIden,
    target_id: impl IntoIden,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .from_tbl(table)
        .from_col(col)
        .to_tbl(target)
        .to_col(target_id)
        .on_delete(ForeignKeyAction::SetNull)
        .to_owned()
}

/// A two-column index.
async fn index(
    manager: &SchemaManager<'_>,
    name: &str,
    table: impl IntoIden,
    (first, second): (impl IntoIden, impl IntoIden),
    unique: bool,
) -> Result<(), DbErr> {
    let mut statement = Index::create()
        .name(name)
        .table(table)
        .col(first)
        .col(second)
        .to_owned();
    if unique {
        statement.unique();
    }
    manager.create_index(statement).await
}

async fn create_devices(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    use Devices as D;
    manager
        .create_table(
            Table::create()
                .table(D::Table)
                .col(ColumnDef::new(D::Id).uuid().not_null().primary_key())
                .col(ColumnDef::new(D::TenantId).uuid().not_null())
                .col(
                    ColumnDef::new(D::Name)
                        .string()
                        .not_null()
                        .check(Expr::cust("length(trim(name)) > 0")),
                )
                .col(
                    ColumnDef::new(D::Type)
                        .string()
                        .not_null()
                        .check(Expr::col(D::Type).is_in(DEVICE_TYPES)),
                )
                .col(text(D::Vendor))
                .col(text(D::Model))
                .col(text(D::Serial))
                .col(text(D::MgmtIp))
                .col(text(D::Site))
                .col(text(D::Ward))
                .col(ColumnDef::new(D::PonId).uuid().null())
                .col(text(D::OltChassis))
                .col(text(D::OltSlot))
                .col(text(D::OltPort))
                .col(text(D::OnuId))
                .col(
                    ColumnDef::new(D::Status)
                        .string()
                        .not_null()
                        .default("up")
                        .check(Expr::col(D::Status).is_in(DEVICE_STATUSES)),
                )
                .col(moment(D::LastSeenAt))
                .col(latitude(D::Lat))
                .col(longitude(D::Lng))
                .col(required_moment(D::CreatedAt))
                .col(required_moment(D::UpdatedAt))
                .foreign_key(&mut tenant_key(D::Table, D::TenantId))
                .foreign_key(&mut forget_deleted(
                    D::Table,
                    D::PonId,
                    Pons::Table,
                    Pons::Id,
                ))
                .to_owned(),
        )
        .await?;
    index(
        manager,
        "ux_devices_tenant_name",
        D::Table,
        (D::TenantId, D::Name),
        true,
    )
    .await?;
    index(
        manager,
        "ix_devices_tenant_ip",
        D::Table,
        (D::TenantId, D::MgmtIp),
        false,
    )
    .await?;
    index(
        manager,
        "ix_devices_tenant_serial",
        D::Table,
        (D::TenantId, D::Serial),
        false,
    )
    .await?;
    index(
        manager,
        "ix_devices_tenant_pon",
        D::Table,
        (D::TenantId, D::PonId),
        false,
    )
    .await
}

async fn create_incidents(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    use Incidents as I;
    manager
        .create_table(
            Table::create()
                .table(I::Table)
                .col(ColumnDef::new(I::Id).uuid().not_null().primary_key())
                .col(ColumnDef::new(I::TenantId).uuid().not_null())
                .col(
                    ColumnDef::new(I::Title)
                        .text()
                        .not_null()
                        .check(Expr::cust("length(trim(title)) > 0")),
                )
                .col(text(I::Description))
                .col(
                    ColumnDef::new(I::Severity)
                        .string()
                        .not_null()
                        .check(Expr::col(I::Severity).is_in(SEVERITIES)),
                )
                .col(
                    ColumnDef::new(I::Category)
                        .string()
                        .not_null()
                        .check(Expr::col(I::Category).is_in(CATEGORIES)),
                )
                .col(
                    ColumnDef::new(I::Status)
                        .string()
                        .not_null()
                        .check(Expr::col(I::Status).is_in(STATUSES)),
                )
                .col(ColumnDef::new(I::DeviceId).uuid().null())
                .col(ColumnDef::new(I::PonId).uuid().null())
                .col(text(I::Ward))
                .col(text(I::Site))
                .col(text(I::RelatedOnuId))
                .col(text(I::NmsSource))
                .col(text(I::NmsEventId))
                // Set while the incident absorbs repeats of its alert; unique per tenant, so
                // concurrent alerts for one fault can open only one incident.
                .col(ColumnDef::new(I::DedupKey).text().null())
                .col(required_moment(I::OpenedAt))
                .col(moment(I::AcknowledgedAt))
                .col(moment(I::ResolvedAt))
                .col(moment(I::ClosedAt))
                .col(required_moment(I::RespondBy))
                .col(required_moment(I::RestoreBy))
                .col(flag(I::BreachedRespond))
                .col(flag(I::BreachedRestore))
                .col(ColumnDef::new(I::AssignedOrgId).uuid().null())
                .col(
                    ColumnDef::new(I::SlaSource)
                        .string()
                        .not_null()
                        .default("default")
                        .check(Expr::col(I::SlaSource).is_in(["default", "contract"])),
                )
                .col(text(I::RootCause))
                .col(text(I::FixCode))
                .col(text(I::ClosureNotes))
                .col(
                    ColumnDef::new(I::ClosurePhotos)
                        .text()
                        .not_null()
                        .default("[]"),
                )
                .col(latitude(I::ClosureLat))
                .col(longitude(I::ClosureLng))
                .col(moment(I::ClosureCapturedAt))
                .col(latitude(I::Lat))
                .col(longitude(I::Lng))
                .col(ColumnDef::new(I::CreatedBy).uuid().null())
                .col(required_moment(I::CreatedAt))
                .col(required_moment(I::UpdatedAt))
                .foreign_key(&mut tenant_key(I::Table, I::TenantId))
                .foreign_key(&mut forget_deleted(
                    I::Table,
                    I::DeviceId,
                    Devices::Table,
                    Devices::Id,
                ))
                .foreign_key(&mut forget_deleted(
                    I::Table,
                    I::PonId,
                    Pons::Table,
                    Pons::Id,
                ))
                .foreign_key(&mut forget_deleted(
                    I::Table,
                    I::AssignedOrgId,
                    Organizations::Table,
                    Organizations::Id,
                ))
                .to_owned(),
        )
        .await?;
    index(
        manager,
        "ux_incidents_tenant_dedup",
        I::Table,
        (I::TenantId, I::DedupKey),
        true,
    )
    .await?;
    index(
        manager,
        "ix_incidents_tenant_status",
        I::Table,
        (I::TenantId, I::Status),
        false,
    )
    .await?;
    index(
        manager,
        "ix_incidents_tenant_opened",
        I::Table,
        (I::TenantId, I::OpenedAt),
        false,
    )
    .await?;
    index(
        manager,
        "ix_incidents_tenant_device",
        I::Table,
        (I::TenantId, I::DeviceId),
        false,
    )
    .await?;
    index(
        manager,
        "ix_incidents_tenant_pon",
        I::Table,
        (I::TenantId, I::PonId),
        false,
    )
    .await?;
    if manager.get_database_backend() == DatabaseBackend::Postgres {
        let db = manager.get_connection();
        db.execute_unprepared(
            "ALTER TABLE incidents ADD COLUMN geom geometry(Point, 4326) GENERATED ALWAYS AS \
             (CASE WHEN lat IS NOT NULL AND lng IS NOT NULL \
              THEN ST_SetSRID(ST_MakePoint(lng, lat), 4326) END) STORED",
        )
        .await?;
        db.execute_unprepared("CREATE INDEX ix_incidents_geom ON incidents USING GIST (geom)")
            .await?;
    }
    Ok(())
}

async fn create_signals(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    use IncidentSignals as S;
    manager
        .create_table(
            Table::create()
                .table(S::Table)
                .col(ColumnDef::new(S::Id).uuid().not_null().primary_key())
                .col(ColumnDef::new(S::TenantId).uuid().not_null())
                .col(ColumnDef::new(S::IncidentId).uuid().not_null())
                .col(ColumnDef::new(S::Key).string().not_null())
                .col(ColumnDef::new(S::Value).text().not_null())
                .col(required_moment(S::ReceivedAt))
                .foreign_key(&mut tenant_key(S::Table, S::TenantId))
                .foreign_key(
                    ForeignKey::create()
                        .from(S::Table, S::IncidentId)
                        .to(Incidents::Table, Incidents::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
    index(
        manager,
        "ix_incident_signals_incident",
        S::Table,
        (S::IncidentId, S::Id),
        false,
    )
    .await
}

async fn create_windows(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    use MaintenanceWindows as M;
    manager
        .create_table(
            Table::create()
                .table(M::Table)
                .col(ColumnDef::new(M::Id).uuid().not_null().primary_key())
                .col(ColumnDef::new(M::TenantId).uuid().not_null())
                .col(
                    ColumnDef::new(M::Scope)
                        .string()
                        .not_null()
                        .check(Expr::col(M::Scope).is_in(SCOPES)),
                )
                .col(ColumnDef::new(M::TargetId).uuid().null())
                .col(required_moment(M::StartAt))
                .col(required_moment(M::EndAt))
                .col(text(M::Reason))
                .col(text(M::ApprovedBy))
                .col(ColumnDef::new(M::CreatedBy).uuid().null())
                .col(required_moment(M::CreatedAt))
                .check(Check::named(
                    "ck_maintenance_windows_end_after_start",
                    Expr::col(M::EndAt).gt(Expr::col(M::StartAt)),
                ))
                .check(Check::named(
                    "ck_maintenance_windows_target",
                    Expr::cust("(scope = 'Global') = (target_id IS NULL)"),
                ))
                .foreign_key(&mut tenant_key(M::Table, M::TenantId))
                .to_owned(),
        )
        .await?;
    index(
        manager,
        "ix_maintenance_windows_tenant_end",
        M::Table,
        (M::TenantId, M::EndAt),
        false,
    )
    .await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create_devices(manager).await?;
        create_incidents(manager).await?;
        create_signals(manager).await?;
        create_windows(manager).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            MaintenanceWindows::Table.into_iden(),
            IncidentSignals::Table.into_iden(),
            Incidents::Table.into_iden(),
            Devices::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
