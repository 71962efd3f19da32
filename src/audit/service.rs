//! Reading the audit log: the caller's tenant's entries, filtered and paged newest first.

use chrono::{DateTime, Utc};
use sea_orm::entity::prelude::*;
use sea_orm::{DatabaseConnection, QueryOrder, QuerySelect};

use super::entry;
use crate::context::RequestContext;
use crate::error::AppResult;
use crate::paging;

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

/// Reads the audit log; writing happens through [`super::record`], inside each change's own
/// transaction.
pub struct AuditService {
    db: DatabaseConnection,
}

impl AuditService {
    pub fn new(db: DatabaseConnection) -> Self {
        AuditService { db }
    }

    /// The caller's tenant's entries, newest first.
    pub async fn list(
        &self,
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
            .all(&self.db)
            .await?;
        Ok(paging::into_page(PAGE_KIND, rows, limit, |entry| entry.id))
    }
}
