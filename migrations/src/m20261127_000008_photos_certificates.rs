//! Photo evidence (object key, hash, EXIF time and GPS, verdict with reasons), certificates of
//! acceptance, and PON geofence polygons (GeoJSON, with a PostGIS column on PostgreSQL).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Tenants {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Pons {
    Table,
    Id,
    TenantId,
}

#[derive(DeriveIden)]
enum Tasks {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden, Clone, Copy)]
enum Photos {
    Table,
    Id,
    TenantId,
    TaskId,
    PonId,
    PoleNumber,
    ObjectKey,
    ContentType,
    SizeBytes,
    Sha256,
    OriginalName,
    TakenAt,
    TakenOffset,
    TimeSource,
    Lat,
    Lng,
    ExifOk,
    WithinGeofence,
    Verdict,
    Reasons,
    UploadedBy,
    CreatedAt,
    ValidatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Certificates {
    Table,
    Id,
    TenantId,
    PonId,
    PoleNumber,
    PoleLengthM,
    DepthM,
    TagHeightM,
    HookPosition,
    AlignmentOk,
    Comments,
    Passed,
    PhotoId,
    CheckedBy,
    CheckedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum PonGeofences {
    Table,
    PonId,
    TenantId,
    Geojson,
    UpdatedAt,
}

/// `(tenant_id, pon_id)` → the PON of that tenant, deleted with it.
fn pon_of(
    table: impl IntoIden + Copy,
    tenant: impl IntoIden,
    pon: impl IntoIden,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .from(table, (tenant, pon))
        .to(Pons::Table, (Pons::TenantId, Pons::Id))
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}

fn tenant_of(table: impl IntoIden, tenant: impl IntoIden) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .from(table, tenant)
        .to(Tenants::Table, Tenants::Id)
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}

fn forget_user(table: impl IntoIden, col: impl IntoIden) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .from(table, col)
        .to(Users::Table, Users::Id)
        .on_delete(ForeignKeyAction::SetNull)
        .to_owned()
}

fn measure(col: Certificates, low: f64, high: f64) -> ColumnDef {
    ColumnDef::new(col)
        .double()
        .not_null()
        .check(Expr::col(col).between(low, high))
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Photos::Table)
                    .col(ColumnDef::new(Photos::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(Photos::TenantId).uuid().not_null())
                    .col(ColumnDef::new(Photos::TaskId).uuid().null())
                    .col(ColumnDef::new(Photos::PonId).uuid().not_null())
                    .col(ColumnDef::new(Photos::PoleNumber).text().null())
                    .col(
                        ColumnDef::new(Photos::ObjectKey)
                            .text()
                            .not_null()
                            .unique_key(),
                    )
                    .col(ColumnDef::new(Photos::ContentType).string().not_null())
                    .col(
                        ColumnDef::new(Photos::SizeBytes)
                            .big_integer()
                            .not_null()
                            .check(Expr::col(Photos::SizeBytes).gt(0)),
                    )
                    .col(ColumnDef::new(Photos::Sha256).string().not_null())
                    .col(
                        ColumnDef::new(Photos::OriginalName)
                            .text()
                            .not_null()
                            .default(""),
                    )
                    .col(
                        ColumnDef::new(Photos::TakenAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(ColumnDef::new(Photos::TakenOffset).string().null())
                    .col(ColumnDef::new(Photos::TimeSource).string().null())
                    .col(
                        ColumnDef::new(Photos::Lat)
                            .double()
                            .null()
                            .check(Expr::col(Photos::Lat).between(-90.0, 90.0)),
                    )
                    .col(
                        ColumnDef::new(Photos::Lng)
                            .double()
                            .null()
                            .check(Expr::col(Photos::Lng).between(-180.0, 180.0)),
                    )
                    .col(ColumnDef::new(Photos::ExifOk).boolean().not_null())
                    .col(ColumnDef::new(Photos::WithinGeofence).boolean().not_null())
                    .col(
                        ColumnDef::new(Photos::Verdict)
                            .string()
                            .not_null()
                            .check(Expr::col(Photos::Verdict).is_in(["valid", "invalid"])),
                    )
                    .col(
                        ColumnDef::new(Photos::Reasons)
                            .text()
                            .not_null()
                            .default("[]"),
                    )
                    .col(ColumnDef::new(Photos::UploadedBy).uuid().null())
                    .col(
                        ColumnDef::new(Photos::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Photos::ValidatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .foreign_key(&mut tenant_of(Photos::Table, Photos::TenantId))
                    .foreign_key(&mut pon_of(Photos::Table, Photos::TenantId, Photos::PonId))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Photos::Table, Photos::TaskId)
                            .to(Tasks::Table, Tasks::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .foreign_key(&mut forget_user(Photos::Table, Photos::UploadedBy))
                    .to_owned(),
            )
            .await?;
        for (name, col) in [
            ("ix_photos_tenant_task", Photos::TaskId),
            ("ix_photos_tenant_pon", Photos::PonId),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(Photos::Table)
                        .col(Photos::TenantId)
                        .col(col)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(Certificates::Table)
                    .col(
                        ColumnDef::new(Certificates::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Certificates::TenantId).uuid().not_null())
                    .col(ColumnDef::new(Certificates::PonId).uuid().not_null())
                    .col(ColumnDef::new(Certificates::PoleNumber).text().null())
                    .col(measure(Certificates::PoleLengthM, 7.4, 7.8))
                    .col(measure(Certificates::DepthM, 1.1, 1.2))
                    .col(measure(Certificates::TagHeightM, 2.2, 2.3))
                    .col(ColumnDef::new(Certificates::HookPosition).text().null())
                    .col(
                        ColumnDef::new(Certificates::AlignmentOk)
                            .boolean()
                            .not_null(),
                    )
                    .col(ColumnDef::new(Certificates::Comments).text().null())
                    .col(ColumnDef::new(Certificates::Passed).boolean().not_null())
                    .col(ColumnDef::new(Certificates::PhotoId).uuid().not_null())
                    .col(ColumnDef::new(Certificates::CheckedBy).uuid().null())
                    .col(
                        ColumnDef::new(Certificates::CheckedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .foreign_key(&mut tenant_of(Certificates::Table, Certificates::TenantId))
                    .foreign_key(&mut pon_of(
                        Certificates::Table,
                        Certificates::TenantId,
                        Certificates::PonId,
                    ))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Certificates::Table, Certificates::PhotoId)
                            .to(Photos::Table, Photos::Id)
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .foreign_key(&mut forget_user(
                        Certificates::Table,
                        Certificates::CheckedBy,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_certificates_tenant_pon_checked")
                    .table(Certificates::Table)
                    .col(Certificates::TenantId)
                    .col(Certificates::PonId)
                    .col(Certificates::CheckedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(PonGeofences::Table)
                    .col(
                        ColumnDef::new(PonGeofences::PonId)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(PonGeofences::TenantId).uuid().not_null())
                    .col(ColumnDef::new(PonGeofences::Geojson).text().not_null())
                    .col(
                        ColumnDef::new(PonGeofences::UpdatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .foreign_key(&mut pon_of(
                        PonGeofences::Table,
                        PonGeofences::TenantId,
                        PonGeofences::PonId,
                    ))
                    .to_owned(),
            )
            .await?;
        if manager.get_database_backend() == DatabaseBackend::Postgres {
            // The same polygon for spatial queries; validation itself runs in Rust on every backend.
            let db = manager.get_connection();
            db.execute_unprepared(
                "ALTER TABLE pon_geofences ADD COLUMN geom geometry(MultiPolygon, 4326) \
                 GENERATED ALWAYS AS (ST_Multi(ST_SetSRID(ST_GeomFromGeoJSON(geojson), 4326))) STORED",
            )
            .await?;
            db.execute_unprepared(
                "CREATE INDEX ix_pon_geofences_geom ON pon_geofences USING GIST (geom)",
            )
            .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            Certificates::Table.into_iden(),
            Photos::Table.into_iden(),
            PonGeofences::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
