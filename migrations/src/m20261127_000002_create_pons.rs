//! The `pons` table: one row per PON of a tenant, with CHECK constraints for every
//! range rule, and on PostgreSQL a PostGIS point generated from lat/lng.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Pons {
    Table,
    Id,
    TenantId,
    PonCode,
    Name,
    Location,
    Ward,
    Lat,
    Lng,
    Status,
    ProjectManagerId,
    SiteManagerId,
    StartDate,
    ExpectedEndDate,
    ActualEndDate,
    FiberCount,
    SplitterCount,
    Equipment,
    Notes,
    Progress,
    GeofenceCenterLat,
    GeofenceCenterLng,
    GeofenceRadiusM,
    SlaBreaches,
    CreatedAt,
    UpdatedAt,
}

fn latitude(col: Pons) -> ColumnDef {
    ColumnDef::new(col)
        .double()
        .null()
        .check(Expr::col(col).between(-90.0, 90.0))
        .to_owned()
}

fn longitude(col: Pons) -> ColumnDef {
    ColumnDef::new(col)
        .double()
        .null()
        .check(Expr::col(col).between(-180.0, 180.0))
        .to_owned()
}

fn text(col: Pons) -> ColumnDef {
    ColumnDef::new(col).text().not_null().default("").to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Pons::Table)
                    .col(ColumnDef::new(Pons::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(Pons::TenantId).uuid().not_null())
                    .col(
                        ColumnDef::new(Pons::PonCode)
                            .string()
                            .not_null()
                            .check(Expr::cust("length(trim(pon_code)) > 0")),
                    )
                    .col(
                        ColumnDef::new(Pons::Name)
                            .text()
                            .not_null()
                            .check(Expr::cust("length(trim(name)) > 0")),
                    )
                    .col(text(Pons::Location))
                    .col(text(Pons::Ward))
                    .col(latitude(Pons::Lat))
                    .col(longitude(Pons::Lng))
                    .col(
                        ColumnDef::new(Pons::Status)
                            .string()
                            .not_null()
                            .default("planned")
                            .check(Expr::col(Pons::Status).is_in([
                                "planned",
                                "in_progress",
                                "testing",
                                "completed",
                                "maintenance",
                            ])),
                    )
                    .col(ColumnDef::new(Pons::ProjectManagerId).uuid().null())
                    .col(ColumnDef::new(Pons::SiteManagerId).uuid().null())
                    .col(ColumnDef::new(Pons::StartDate).date().null())
                    .col(ColumnDef::new(Pons::ExpectedEndDate).date().null())
                    .col(ColumnDef::new(Pons::ActualEndDate).date().null())
                    .col(
                        ColumnDef::new(Pons::FiberCount)
                            .integer()
                            .not_null()
                            .check(Expr::col(Pons::FiberCount).gte(1)),
                    )
                    .col(
                        ColumnDef::new(Pons::SplitterCount)
                            .integer()
                            .not_null()
                            .default(0)
                            .check(Expr::col(Pons::SplitterCount).gte(0)),
                    )
                    .col(
                        ColumnDef::new(Pons::Equipment)
                            .text()
                            .not_null()
                            .default("[]"),
                    )
                    .col(text(Pons::Notes))
                    .col(
                        ColumnDef::new(Pons::Progress)
                            .integer()
                            .not_null()
                            .default(0)
                            .check(Expr::col(Pons::Progress).between(0, 100)),
                    )
                    .col(latitude(Pons::GeofenceCenterLat))
                    .col(longitude(Pons::GeofenceCenterLng))
                    .col(
                        ColumnDef::new(Pons::GeofenceRadiusM)
                            .integer()
                            .not_null()
                            .default(200)
                            .check(Expr::col(Pons::GeofenceRadiusM).between(1, 50_000)),
                    )
                    .col(
                        ColumnDef::new(Pons::SlaBreaches)
                            .big_integer()
                            .not_null()
                            .default(0)
                            .check(Expr::col(Pons::SlaBreaches).gte(0)),
                    )
                    .col(
                        ColumnDef::new(Pons::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Pons::UpdatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_pons_tenant_code")
                    .table(Pons::Table)
                    .col(Pons::TenantId)
                    .col(Pons::PonCode)
                    .unique()
                    .to_owned(),
            )
            .await?;
        for (name, col) in [
            ("ix_pons_tenant_status", Pons::Status),
            ("ix_pons_tenant_ward", Pons::Ward),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(Pons::Table)
                        .col(Pons::TenantId)
                        .col(col)
                        .to_owned(),
                )
                .await?;
        }
        if manager.get_database_backend() == DatabaseBackend::Postgres {
            let db = manager.get_connection();
            db.execute_unprepared(
                "ALTER TABLE pons ADD COLUMN geom geometry(Point, 4326) GENERATED ALWAYS AS \
                 (CASE WHEN lat IS NOT NULL AND lng IS NOT NULL \
                  THEN ST_SetSRID(ST_MakePoint(lng, lat), 4326) END) STORED",
            )
            .await?;
            db.execute_unprepared("CREATE INDEX ix_pons_geom ON pons USING GIST (geom)")
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Pons::Table).to_owned())
            .await
    }
}
