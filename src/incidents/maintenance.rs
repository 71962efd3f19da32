//! Maintenance windows: planned work during which NMS alerts for the covered scope (the whole
//! tenant, a device, a PON or an organization) are suppressed. Bounds are inclusive.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sea_orm::entity::prelude::*;
use sea_orm::{QueryOrder, QuerySelect, TransactionTrait};

use super::service::IncidentService;
use crate::audit;
use crate::context::RequestContext;
use crate::error::{AppError, AppResult, FieldViolation};
use crate::organizations::model::organization;
use crate::organizations::store::{self, Scoped};
use crate::paging;

const PAGE_KIND: &str = "maintenance_window";
const NAME: &str = "maintenance_window";

/// Scopes a window may cover.
pub const SCOPES: [&str; 4] = ["Global", "Device", "PON", "Org"];

pub mod window {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel, serde::Serialize)]
    #[sea_orm(table_name = "maintenance_windows")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub tenant_id: Uuid,
        /// One of [`super::SCOPES`].
        pub scope: String,
        /// The device, PON or organization covered (none for `Global`).
        pub target_id: Option<Uuid>,
        pub start_at: DateTimeUtc,
        pub end_at: DateTimeUtc,
        pub reason: String,
        pub approved_by: String,
        pub created_by: Option<Uuid>,
        pub created_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Windows belong to no organization: the tenant column stands in.
impl Scoped for window::Entity {
    const ID: window::Column = window::Column::Id;
    const TENANT: window::Column = window::Column::TenantId;
    const ORGANIZATION: window::Column = window::Column::TenantId;
}

/// A window as a client describes it.
#[derive(Clone, Debug, Default)]
pub struct WindowDraft {
    pub scope: String,
    pub target_id: Option<Uuid>,
    pub start_at: Option<DateTime<Utc>>,
    pub end_at: Option<DateTime<Utc>>,
    pub reason: String,
    pub approved_by: String,
}

/// The scope in its stored form (`pon` → `PON`).
fn parse_scope(text: &str) -> Option<&'static str> {
    SCOPES
        .into_iter()
        .find(|scope| scope.eq_ignore_ascii_case(text.trim()))
}

/// How long the windows of a tenant are read from memory before the table is read again.
const WINDOW_CACHE_TTL: Duration = Duration::from_secs(2);

/// The windows of each tenant that had not ended when read, kept for [`WINDOW_CACHE_TTL`] so the
/// alert path (one check per alert) reads no table. A window created or deleted through this
/// process clears its tenant's entry at once; one changed on another replica is seen within
/// the TTL. Starts and ends are judged at the alert's time, so they are exact either way.
#[derive(Default)]
pub struct WindowCache {
    tenants: Mutex<HashMap<Uuid, CachedWindows>>,
    /// Bumped by every [`WindowCache::forget`]: a read that overlapped a change is not kept.
    changes: AtomicU64,
}

struct CachedWindows {
    read_at: Instant,
    /// The clock's time of the read: windows that ended before it are not in `windows`.
    as_of: DateTime<Utc>,
    windows: Arc<Vec<window::Model>>,
}

impl WindowCache {
    /// True when a window of the incident's tenant active at `now` covers the tenant, its
    /// device, its PON or its organization.
    pub async fn covers(
        &self,
        db: &impl ConnectionTrait,
        now: DateTime<Utc>,
        incident: &super::model::Model,
    ) -> AppResult<bool> {
        let windows = self.unended(db, incident.tenant_id, now).await?;
        Ok(windows.iter().any(|window| {
            window.start_at <= now
                && window.end_at >= now
                && match window.scope.as_str() {
                    "Global" => true,
                    "Device" => {
                        window.target_id.is_some() && window.target_id == incident.device_id
                    }
                    "PON" => window.target_id.is_some() && window.target_id == incident.pon_id,
                    "Org" => {
                        window.target_id.is_some() && window.target_id == incident.assigned_org_id
                    }
                    _ => false,
                }
        }))
    }

    /// Forgets the tenant's windows (after a change to them).
    pub fn forget(&self, tenant_id: Uuid) {
        self.changes.fetch_add(1, Ordering::SeqCst);
        self.entries().remove(&tenant_id);
    }

    async fn unended(
        &self,
        db: &impl ConnectionTrait,
        tenant_id: Uuid,
        now: DateTime<Utc>,
    ) -> AppResult<Arc<Vec<window::Model>>> {
        if let Some(cached) = self.entries().get(&tenant_id)
            && cached.read_at.elapsed() < WINDOW_CACHE_TTL
            && cached.as_of <= now
        {
            return Ok(cached.windows.clone());
        }
        let changes_before = self.changes.load(Ordering::SeqCst);
        let windows = Arc::new(
            window::Entity::find()
                .filter(window::Column::TenantId.eq(tenant_id))
                .filter(window::Column::EndAt.gte(now))
                .all(db)
                .await?,
        );
        let mut entries = self.entries();
        if self.changes.load(Ordering::SeqCst) != changes_before {
            return Ok(windows);
        }
        entries.insert(
            tenant_id,
            CachedWindows {
                read_at: Instant::now(),
                as_of: now,
                windows: windows.clone(),
            },
        );
        Ok(windows)
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, CachedWindows>> {
        self.tenants.lock().expect("window cache lock poisoned")
    }
}

impl IncidentService {
    pub async fn create_window(
        &self,
        ctx: &RequestContext,
        draft: WindowDraft,
    ) -> AppResult<window::Model> {
        let mut bad = Vec::new();
        let mut fail = |field: &str, description: String| {
            bad.push(FieldViolation {
                field: format!("window.{field}"),
                description,
            })
        };
        let scope = parse_scope(&draft.scope);
        match scope {
            None if draft.scope.trim().is_empty() => fail("scope", "is required".into()),
            None => fail(
                "scope",
                format!("`{}` is not one of {}", draft.scope, SCOPES.join(", ")),
            ),
            Some("Global") if draft.target_id.is_some() => {
                fail("target_id", "must be empty for a Global window".into())
            }
            Some("Global") => {}
            Some(_) if draft.target_id.is_none() => {
                fail("target_id", "is required unless the scope is Global".into())
            }
            Some(_) => {}
        }
        match (draft.start_at, draft.end_at) {
            (None, _) => fail("start_at", "is required".into()),
            (_, None) => fail("end_at", "is required".into()),
            (Some(start), Some(end)) if end <= start => {
                fail("end_at", "must be after start_at".into())
            }
            _ => {}
        }
        for (field, value) in [
            ("reason", &draft.reason),
            ("approved_by", &draft.approved_by),
        ] {
            if value.chars().count() > 1000 {
                fail(field, "must be at most 1000 characters".into());
            }
        }
        if !bad.is_empty() {
            return Err(AppError::InvalidArgument(bad));
        }
        let scope = scope.unwrap_or("Global");
        if let Some(target) = draft.target_id
            && !self.target_exists(ctx.tenant_id, scope, target).await?
        {
            return Err(AppError::invalid(
                "window.target_id",
                format!("no {scope} {target} in this tenant"),
            ));
        }
        let now = self.clock.now();
        let row = window::Model {
            id: Uuid::now_v7(),
            tenant_id: ctx.tenant_id,
            scope: scope.into(),
            target_id: draft.target_id,
            start_at: draft.start_at.unwrap_or(now),
            end_at: draft.end_at.unwrap_or(now),
            reason: draft.reason.trim().to_string(),
            approved_by: draft.approved_by.trim().to_string(),
            created_by: ctx.user_id(),
            created_at: now,
        };
        let tx = self.db.begin().await?;
        let row = store::insert::<window::Entity>(&tx, row).await?;
        record(&tx, ctx, "create", None, Some(&row), now).await?;
        tx.commit().await?;
        self.windows.forget(ctx.tenant_id);
        Ok(row)
    }

    pub async fn get_window(&self, ctx: &RequestContext, id: Uuid) -> AppResult<window::Model> {
        store::find::<window::Entity>(&self.db, ctx.tenant_id, None, id)
            .await?
            .ok_or_else(|| AppError::not_found(format!("maintenance window {id} not found")))
    }

    /// The tenant's windows (only those active now with `active_now`), newest first.
    pub async fn list_windows(
        &self,
        ctx: &RequestContext,
        active_now: bool,
        page_size: i32,
        page_token: &str,
    ) -> AppResult<(Vec<window::Model>, Option<String>)> {
        use window::Column;
        let limit = paging::page_limit(page_size)?;
        let mut query = window::Entity::find().filter(Column::TenantId.eq(ctx.tenant_id));
        if active_now {
            let now = self.clock.now();
            query = query
                .filter(Column::StartAt.lte(now))
                .filter(Column::EndAt.gte(now));
        }
        if let Some(before) = paging::decode_token(PAGE_KIND, page_token)? {
            query = query.filter(Column::Id.lt(before));
        }
        let rows = query
            .order_by_desc(Column::Id)
            .limit(limit + 1)
            .all(&self.db)
            .await?;
        Ok(paging::into_page(PAGE_KIND, rows, limit, |row| row.id))
    }

    pub async fn delete_window(&self, ctx: &RequestContext, id: Uuid) -> AppResult<()> {
        let before = self.get_window(ctx, id).await?;
        let tx = self.db.begin().await?;
        if !store::delete::<window::Entity>(&tx, ctx.tenant_id, id).await? {
            return Err(AppError::not_found(format!(
                "maintenance window {id} not found"
            )));
        }
        record(&tx, ctx, "delete", Some(&before), None, self.clock.now()).await?;
        tx.commit().await?;
        self.windows.forget(ctx.tenant_id);
        Ok(())
    }

    async fn target_exists(&self, tenant_id: Uuid, scope: &str, target: Uuid) -> AppResult<bool> {
        Ok(match scope {
            "Device" => {
                store::find::<crate::devices::model::Entity>(&self.db, tenant_id, None, target)
                    .await?
                    .is_some()
            }
            "PON" => store::pon_exists(&self.db, tenant_id, target).await?,
            _ => store::find::<organization::Entity>(&self.db, tenant_id, None, target)
                .await?
                .is_some(),
        })
    }
}

async fn record(
    tx: &impl ConnectionTrait,
    ctx: &RequestContext,
    action: &str,
    before: Option<&window::Model>,
    after: Option<&window::Model>,
    at: DateTime<Utc>,
) -> AppResult<()> {
    let id = before.or(after).map(|row| row.id).unwrap_or_default();
    audit::record_rows(tx, ctx, at, NAME, action, id, (before, after)).await
}
