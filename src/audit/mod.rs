//! The audit log: an append-only record of who changed what and when, with before/after
//! snapshots, written in the same transaction as the change it describes.

pub mod grpc;
mod service;

pub use service::{AuditFilter, AuditService};

use chrono::{DateTime, Utc};
use sea_orm::IntoActiveModel;
use sea_orm::entity::prelude::*;
use serde_json::Value;

use crate::context::RequestContext;
use crate::error::AppResult;

pub mod entry {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "audit_log")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub tenant_id: Uuid,
        pub actor_user_id: Option<Uuid>,
        /// `create`, `update`, `delete`, `login`, ...
        pub action: String,
        pub resource_type: String,
        pub resource_id: String,
        /// JSON snapshots (secrets left out).
        pub before: Option<String>,
        pub after: Option<String>,
        pub created_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// One change to record.
pub struct Change<'a> {
    pub action: &'a str,
    pub resource_type: &'a str,
    pub resource_id: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

/// Appends `change`, made by the caller of `ctx` in `tenant_id` at `at`, on `db` (pass the
/// change's own transaction, so either both are stored or neither).
pub async fn record(
    db: &impl ConnectionTrait,
    ctx: &RequestContext,
    tenant_id: Uuid,
    at: DateTime<Utc>,
    change: Change<'_>,
) -> AppResult<()> {
    let row = entry::Model {
        id: Uuid::now_v7(),
        tenant_id,
        actor_user_id: ctx.user_id(),
        action: change.action.to_string(),
        resource_type: change.resource_type.to_string(),
        resource_id: change.resource_id,
        before: change.before.map(|value| value.to_string()),
        after: change.after.map(|value| value.to_string()),
        created_at: at,
    };
    entry::Entity::insert(row.into_active_model())
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// Records a change of a serializable row identified by `id`: its JSON before and after.
pub async fn record_rows<T: serde::Serialize>(
    db: &impl ConnectionTrait,
    ctx: &RequestContext,
    at: DateTime<Utc>,
    resource_type: &str,
    action: &str,
    id: Uuid,
    (before, after): (Option<&T>, Option<&T>),
) -> AppResult<()> {
    let snapshot = |row: &T| serde_json::to_value(row).unwrap_or_default();
    record(
        db,
        ctx,
        ctx.tenant_id,
        at,
        Change {
            action,
            resource_type,
            resource_id: id.to_string(),
            before: before.map(snapshot),
            after: after.map(snapshot),
        },
    )
    .await
}
