//! The audit log: an append-only record of who changed what and when, with before/after
//! snapshots, written in the same transaction as the change it describes.

pub mod grpc;

use chrono::{DateTime, Utc};
use sea_orm::entity::prelude::*;
use sea_orm::{IntoActiveModel, QueryOrder, QuerySelect};
use serde_json::Value;

use crate::context::RequestContext;
use crate::error::AppResult;
use crate::paging;

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

/// What a listing of the audit log narrows to.
#[derive(Clone, Debug, Default)]
pub struct AuditFilter {
    pub resource_type: Option<String>,
    pub resource_id: Option<String>,
    pub actor_user_id: Option<Uuid>,
    pub action: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

const PAGE_KIND: &str = "audit";

/// The caller's tenant's entries, newest first.
pub async fn list(
    db: &impl ConnectionTrait,
    ctx: &RequestContext,
    filter: &AuditFilter,
    page_size: i32,
    page_token: &str,
) -> AppResult<(Vec<entry::Model>, Option<String>)> {
    use entry::Column;
    let limit = paging::page_limit(page_size)?;
    let mut query = entry::Entity::find().filter(Column::TenantId.eq(ctx.tenant_id));
    if let Some(kind) = &filter.resource_type {
        query = query.filter(Column::ResourceType.eq(kind.as_str()));
    }
    if let Some(id) = &filter.resource_id {
        query = query.filter(Column::ResourceId.eq(id.as_str()));
    }
    if let Some(actor) = filter.actor_user_id {
        query = query.filter(Column::ActorUserId.eq(actor));
    }
    if let Some(action) = &filter.action {
        query = query.filter(Column::Action.eq(action.as_str()));
    }
    if let Some(since) = filter.since {
        query = query.filter(Column::CreatedAt.gte(since));
    }
    if let Some(until) = filter.until {
        query = query.filter(Column::CreatedAt.lt(until));
    }
    if let Some(before) = paging::decode_token(PAGE_KIND, page_token)? {
        query = query.filter(Column::Id.lt(before));
    }
    let rows = query
        .order_by_desc(Column::Id)
        .limit(limit + 1)
        .all(db)
        .await?;
    Ok(paging::into_page(PAGE_KIND, rows, limit, |entry| entry.id))
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
