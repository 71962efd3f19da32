//! Identity and tenancy: tenants (with the default tenant of single-tenant installs),
//! organizations, users, the append-only audit log, and `pons.tenant_id` tied to tenants.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Tenants {
    Table,
    Id,
    Slug,
    Name,
    TimeZone,
    CreatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Organizations {
    Table,
    Id,
    TenantId,
    Name,
    Type,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Users {
    Table,
    Id,
    TenantId,
    OrganizationId,
    Name,
    Email,
    PasswordHash,
    Phone,
    Role,
    Active,
    LastLoginAt,
    PasswordChangedAt,
    Profile,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum AuditLog {
    Table,
    Id,
    TenantId,
    ActorUserId,
    Action,
    ResourceType,
    ResourceId,
    Before,
    After,
    CreatedAt,
}

/// The tenant every install starts with (the same id as `context::DEFAULT_TENANT`).
const DEFAULT_TENANT_ID: &str = "00000000-0000-7000-8000-000000000001";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Tenants::Table)
                    .col(ColumnDef::new(Tenants::Id).uuid().not_null().primary_key())
                    .col(
                        ColumnDef::new(Tenants::Slug)
                            .string()
                            .not_null()
                            .unique_key(),
                    )
                    .col(ColumnDef::new(Tenants::Name).text().not_null())
                    .col(
                        ColumnDef::new(Tenants::TimeZone)
                            .string()
                            .not_null()
                            .default("Africa/Johannesburg"),
                    )
                    .col(
                        ColumnDef::new(Tenants::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        let (default_tenant_id, now) = match manager.get_database_backend() {
            DatabaseBackend::Postgres => {
                (format!("'{DEFAULT_TENANT_ID}'::uuid"), "now()".to_string())
            }
            // sea-orm stores UUIDs as 16-byte blobs and times as RFC 3339 text on SQLite.
            _ => (
                format!("X'{}'", DEFAULT_TENANT_ID.replace('-', "")),
                "strftime('%Y-%m-%dT%H:%M:%S+00:00', 'now')".to_string(),
            ),
        };
        manager
            .get_connection()
            .execute_unprepared(&format!(
                "INSERT INTO tenants (id, slug, name, time_zone, created_at) \
                 VALUES ({default_tenant_id}, 'default', 'Default tenant', 'Africa/Johannesburg', {now})"
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Organizations::Table)
                    .col(
                        ColumnDef::new(Organizations::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Organizations::TenantId).uuid().not_null())
                    .col(
                        ColumnDef::new(Organizations::Name)
                            .text()
                            .not_null()
                            .check(Expr::cust("length(trim(name)) > 0")),
                    )
                    .col(
                        ColumnDef::new(Organizations::Type)
                            .string()
                            .not_null()
                            .check(Expr::col(Organizations::Type).is_in([
                                "Civil",
                                "Technical",
                                "Maintenance",
                                "Sales",
                            ])),
                    )
                    .col(
                        ColumnDef::new(Organizations::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Organizations::UpdatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Organizations::Table, Organizations::TenantId)
                            .to(Tenants::Table, Tenants::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_organizations_tenant_name")
                    .table(Organizations::Table)
                    .col(Organizations::TenantId)
                    .col(Organizations::Name)
                    .unique()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Users::Table)
                    .col(ColumnDef::new(Users::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(Users::TenantId).uuid().not_null())
                    .col(ColumnDef::new(Users::OrganizationId).uuid().null())
                    .col(
                        ColumnDef::new(Users::Name)
                            .text()
                            .not_null()
                            .check(Expr::cust("length(trim(name)) > 0")),
                    )
                    .col(
                        ColumnDef::new(Users::Email)
                            .string()
                            .not_null()
                            .unique_key(),
                    )
                    .col(ColumnDef::new(Users::PasswordHash).text().not_null())
                    .col(ColumnDef::new(Users::Phone).string().not_null().default(""))
                    .col(
                        ColumnDef::new(Users::Role).string().not_null().check(
                            Expr::col(Users::Role)
                                .is_in(["ADMIN", "PM", "SITE", "SMME", "AUDITOR", "NOC"]),
                        ),
                    )
                    .col(
                        ColumnDef::new(Users::Active)
                            .boolean()
                            .not_null()
                            .default(true),
                    )
                    .col(
                        ColumnDef::new(Users::LastLoginAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(
                        ColumnDef::new(Users::PasswordChangedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Users::Profile)
                            .text()
                            .not_null()
                            .default("{}"),
                    )
                    .col(
                        ColumnDef::new(Users::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Users::UpdatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Users::Table, Users::TenantId)
                            .to(Tenants::Table, Tenants::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Users::Table, Users::OrganizationId)
                            .to(Organizations::Table, Organizations::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_users_tenant")
                    .table(Users::Table)
                    .col(Users::TenantId)
                    .col(Users::Name)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(AuditLog::Table)
                    .col(ColumnDef::new(AuditLog::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(AuditLog::TenantId).uuid().not_null())
                    .col(ColumnDef::new(AuditLog::ActorUserId).uuid().null())
                    .col(ColumnDef::new(AuditLog::Action).string().not_null())
                    .col(ColumnDef::new(AuditLog::ResourceType).string().not_null())
                    .col(ColumnDef::new(AuditLog::ResourceId).string().not_null())
                    .col(ColumnDef::new(AuditLog::Before).text().null())
                    .col(ColumnDef::new(AuditLog::After).text().null())
                    .col(
                        ColumnDef::new(AuditLog::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(AuditLog::Table, AuditLog::TenantId)
                            .to(Tenants::Table, Tenants::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_audit_tenant_time")
                    .table(AuditLog::Table)
                    .col(AuditLog::TenantId)
                    .col(AuditLog::CreatedAt)
                    .to_owned(),
            )
            .await?;
        if manager.get_database_backend() == DatabaseBackend::Postgres {
            // Append-only: the database itself refuses to change or remove audit records.
            manager
                .get_connection()
                .execute_unprepared(
                    "CREATE RULE audit_log_no_update AS ON UPDATE TO audit_log DO INSTEAD NOTHING; \
                     CREATE RULE audit_log_no_delete AS ON DELETE TO audit_log DO INSTEAD NOTHING; \
                     ALTER TABLE pons ADD CONSTRAINT fk_pons_tenant FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE CASCADE",
                )
                .await?;
        } else {
            manager
                .get_connection()
                .execute_unprepared(
                    "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log \
                     BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END; \
                     CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log \
                     BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;",
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["audit_log", "users", "organizations"] {
            manager
                .drop_table(Table::drop().table(Alias::new(table)).to_owned())
                .await?;
        }
        if manager.get_database_backend() == DatabaseBackend::Postgres {
            manager
                .get_connection()
                .execute_unprepared("ALTER TABLE pons DROP CONSTRAINT IF EXISTS fk_pons_tenant")
                .await?;
        }
        manager
            .drop_table(Table::drop().table(Tenants::Table).to_owned())
            .await
    }
}
