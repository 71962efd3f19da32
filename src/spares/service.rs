//! Spare-part rules: store CRUD, issue and return as one conditional write plus its ledger row
//! and audit entry in one transaction (so no level ever goes negative, whatever runs at the same
//! time), and keyset listings of levels and movements — all scoped by the caller's tenant.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    IntoActiveModel, QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
};
use serde_json::{Value, json};
use uuid::Uuid;

use super::model::{level, movement, store};
use crate::audit::{self, Change};
use crate::clock::Clock;
use crate::context::RequestContext;
use crate::error::{AppError, AppResult, Violations};
use crate::{
    fieldmask, incidents,
    paging::{self, Page},
};

pub const MAX_MOVE_QUANTITY: i64 = 1_000_000;
pub const STORE_FIELDS: &[&str] = &["name", "address"];
/// The answer to an issue that would overdraw a level (the old API's wording).
pub const INSUFFICIENT_STOCK: &str = "insufficient stock";
/// How often a move is retried when SQLite reports its write lock busy.
const BUSY_RETRIES: u32 = 20;

#[derive(Clone, Debug, Default)]
pub struct StoreDraft {
    pub name: String,
    pub address: String,
}

/// One issue or return, as asked.
#[derive(Clone, Debug)]
pub struct Move {
    pub store_id: Uuid,
    pub sku: String,
    pub quantity: i64,
    pub incident_id: Option<Uuid>,
    pub reason: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    Issue,
    Return,
}

impl Direction {
    fn action(self) -> &'static str {
        match self {
            Direction::Issue => "issue",
            Direction::Return => "return",
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct LevelFilter {
    pub store_id: Option<Uuid>,
    pub sku: Option<String>,
}

#[derive(Clone, Debug, Default)]
pub struct MovementFilter {
    pub store_id: Option<Uuid>,
    pub sku: Option<String>,
    pub incident_id: Option<Uuid>,
}

pub struct SpareService {
    db: DatabaseConnection,
    clock: Arc<dyn Clock>,
}

impl SpareService {
    pub fn new(db: DatabaseConnection, clock: Arc<dyn Clock>) -> Self {
        SpareService { db, clock }
    }

    pub async fn create_store(
        &self,
        ctx: &RequestContext,
        draft: StoreDraft,
    ) -> AppResult<store::Model> {
        let now = self.clock.now();
        let mut row = store::Model {
            id: Uuid::now_v7(),
            tenant_id: ctx.tenant_id,
            name: String::new(),
            address: String::new(),
            created_at: now,
            updated_at: now,
        };
        apply_store(&mut row, &draft, STORE_FIELDS);
        validate_store(&row)?;
        let tx = self.db.begin().await?;
        store::Entity::insert(row.clone().into_active_model())
            .exec_without_returning(&tx)
            .await
            .map_err(|err| duplicate_name(err.into(), &row.name))?;
        record(
            &tx,
            ctx,
            now,
            "create",
            row.id,
            None,
            Some(store_snapshot(&row)),
        )
        .await?;
        tx.commit().await?;
        Ok(row)
    }

    /// A store of the caller's tenant, or NOT_FOUND.
    pub async fn get_store(&self, ctx: &RequestContext, id: Uuid) -> AppResult<store::Model> {
        store::Entity::find_by_id(id)
            .filter(store::Column::TenantId.eq(ctx.tenant_id))
            .one(&self.db)
            .await?
            .ok_or_else(|| AppError::not_found(format!("store {id} not found")))
    }

    pub async fn list_stores(
        &self,
        ctx: &RequestContext,
        page_size: i32,
        page_token: &str,
    ) -> AppResult<Page<store::Model>> {
        const KIND: &str = "store";
        let limit = paging::page_limit(page_size)?;
        let mut query = store::Entity::find().filter(store::Column::TenantId.eq(ctx.tenant_id));
        if let Some(after) = paging::decode_token(KIND, page_token)? {
            query = query.filter(store::Column::Id.gt(after));
        }
        let rows = query
            .order_by_asc(store::Column::Id)
            .limit(limit + 1)
            .all(&self.db)
            .await?;
        Ok(paging::into_page(KIND, rows, limit, |row| row.id))
    }

    pub async fn update_store(
        &self,
        ctx: &RequestContext,
        id: Uuid,
        draft: StoreDraft,
        mask: &[String],
    ) -> AppResult<store::Model> {
        let fields = fieldmask::resolve(mask, STORE_FIELDS, "store")?;
        let before = self.get_store(ctx, id).await?;
        let mut row = before.clone();
        apply_store(&mut row, &draft, &fields);
        validate_store(&row)?;
        let now = self.clock.now();
        row.updated_at = now;
        let tx = self.db.begin().await?;
        let row = match row
            .clone()
            .into_active_model()
            .reset_all()
            .update(&tx)
            .await
        {
            Ok(row) => row,
            Err(DbErr::RecordNotUpdated) => {
                return Err(AppError::not_found(format!("store {id} not found")));
            }
            Err(err) => return Err(duplicate_name(err.into(), &row.name)),
        };
        record(
            &tx,
            ctx,
            now,
            "update",
            id,
            Some(store_snapshot(&before)),
            Some(store_snapshot(&row)),
        )
        .await?;
        tx.commit().await?;
        Ok(row)
    }

    /// Deletes an empty store with its (zero) levels and its ledger; one holding stock is kept.
    pub async fn delete_store(&self, ctx: &RequestContext, id: Uuid) -> AppResult<()> {
        let before = self.get_store(ctx, id).await?;
        let tx = self.db.begin().await?;
        // The emptiness check is part of the delete itself, so a return racing with it cannot
        // slip stock into a store that is being removed.
        let stocked = Query::select()
            .column(level::Column::StoreId)
            .from(level::Entity)
            .and_where(level::Column::TenantId.eq(ctx.tenant_id))
            .and_where(level::Column::Quantity.gt(0))
            .to_owned();
        let deleted = store::Entity::delete_many()
            .filter(store::Column::Id.eq(id))
            .filter(store::Column::TenantId.eq(ctx.tenant_id))
            .filter(store::Column::Id.not_in_subquery(stocked))
            .exec(&tx)
            .await?;
        if deleted.rows_affected == 0 {
            return Err(AppError::FailedPrecondition(format!(
                "store {id} still holds stock; issue or return it to zero first"
            )));
        }
        record(
            &tx,
            ctx,
            self.clock.now(),
            "delete",
            id,
            Some(store_snapshot(&before)),
            None,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Takes stock out; FAILED_PRECONDITION `insufficient stock` when the level is too low.
    pub async fn issue(&self, ctx: &RequestContext, change: Move) -> AppResult<movement::Model> {
        self.move_stock(ctx, change, Direction::Issue).await
    }

    /// Puts stock back (or receives it), creating the level when the SKU is new to the store.
    pub async fn return_stock(
        &self,
        ctx: &RequestContext,
        change: Move,
    ) -> AppResult<movement::Model> {
        self.move_stock(ctx, change, Direction::Return).await
    }

    async fn move_stock(
        &self,
        ctx: &RequestContext,
        mut change: Move,
        direction: Direction,
    ) -> AppResult<movement::Model> {
        change.sku = change.sku.trim().to_string();
        change.reason = change.reason.trim().to_string();
        validate_move(&change)?;
        self.get_store(ctx, change.store_id).await?;
        if let Some(incident_id) = change.incident_id {
            let known = incidents::model::Entity::find_by_id(incident_id)
                .filter(incidents::model::Column::TenantId.eq(ctx.tenant_id))
                .one(&self.db)
                .await?
                .is_some();
            if !known {
                return Err(AppError::invalid(
                    "incident_id",
                    "no such incident in this tenant",
                ));
            }
        }
        let mut attempt = 0;
        loop {
            match self.try_move(ctx, &change, direction).await {
                Err(err) if is_busy(&err) && attempt < BUSY_RETRIES => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(5 * u64::from(attempt))).await;
                }
                Err(err) => return Err(err.into()),
                Ok(Some(moved)) => return Ok(moved),
                Ok(None) => return Err(AppError::FailedPrecondition(INSUFFICIENT_STOCK.into())),
            }
        }
    }

    /// One attempt: the conditional level write first (so SQLite takes its write lock at once and
    /// PostgreSQL locks the row), then the ledger row and the audit entry. `None`: too little stock.
    async fn try_move(
        &self,
        ctx: &RequestContext,
        change: &Move,
        direction: Direction,
    ) -> Result<Option<movement::Model>, DbErr> {
        let now = self.clock.now();
        let tx = self.db.begin().await?;
        let same_level = || {
            sea_orm::Condition::all()
                .add(level::Column::TenantId.eq(ctx.tenant_id))
                .add(level::Column::StoreId.eq(change.store_id))
                .add(level::Column::Sku.eq(change.sku.as_str()))
        };
        let delta = match direction {
            Direction::Issue => {
                let updated = level::Entity::update_many()
                    .col_expr(
                        level::Column::Quantity,
                        Expr::col(level::Column::Quantity).sub(change.quantity),
                    )
                    .col_expr(level::Column::UpdatedAt, Expr::value(now))
                    .filter(same_level())
                    .filter(level::Column::Quantity.gte(change.quantity))
                    .exec(&tx)
                    .await?;
                if updated.rows_affected != 1 {
                    tx.rollback().await?;
                    return Ok(None);
                }
                -change.quantity
            }
            Direction::Return => {
                let fresh = level::Model {
                    id: Uuid::now_v7(),
                    tenant_id: ctx.tenant_id,
                    store_id: change.store_id,
                    sku: change.sku.clone(),
                    quantity: change.quantity,
                    updated_at: now,
                };
                level::Entity::insert(fresh.into_active_model())
                    .on_conflict(
                        OnConflict::columns([
                            level::Column::TenantId,
                            level::Column::StoreId,
                            level::Column::Sku,
                        ])
                        .value(
                            level::Column::Quantity,
                            Expr::col((level::Entity, level::Column::Quantity))
                                .add(change.quantity),
                        )
                        .value(level::Column::UpdatedAt, Expr::value(now))
                        .to_owned(),
                    )
                    .exec_without_returning(&tx)
                    .await?;
                change.quantity
            }
        };
        let level = level::Entity::find()
            .filter(same_level())
            .one(&tx)
            .await?
            .ok_or_else(|| DbErr::RecordNotFound("stock level just written".into()))?;
        let row = movement::Model {
            id: Uuid::now_v7(),
            tenant_id: ctx.tenant_id,
            store_id: change.store_id,
            sku: change.sku.clone(),
            delta_qty: delta,
            quantity_after: level.quantity,
            reason: change.reason.clone(),
            incident_id: change.incident_id,
            actor_user_id: ctx.user_id(),
            created_at: now,
        };
        movement::Entity::insert(row.clone().into_active_model())
            .exec_without_returning(&tx)
            .await?;
        let level_snapshot = |quantity: i64| json!({"store_id": level.store_id, "sku": level.sku, "quantity": quantity});
        audit::record(
            &tx,
            ctx,
            ctx.tenant_id,
            now,
            Change {
                action: direction.action(),
                resource_type: "stock_level",
                resource_id: level.id.to_string(),
                before: Some(level_snapshot(level.quantity - delta)),
                after: Some(json!({
                    "store_id": level.store_id,
                    "sku": level.sku,
                    "quantity": level.quantity,
                    "movement_id": row.id,
                    "incident_id": row.incident_id,
                })),
            },
        )
        .await
        .map_err(|err| DbErr::Custom(err.to_string()))?;
        tx.commit().await?;
        Ok(Some(row))
    }

    pub async fn list_levels(
        &self,
        ctx: &RequestContext,
        filter: &LevelFilter,
        page_size: i32,
        page_token: &str,
    ) -> AppResult<Page<level::Model>> {
        const KIND: &str = "stock-level";
        let limit = paging::page_limit(page_size)?;
        let mut query = level::Entity::find().filter(level::Column::TenantId.eq(ctx.tenant_id));
        if let Some(store_id) = filter.store_id {
            query = query.filter(level::Column::StoreId.eq(store_id));
        }
        if let Some(sku) = &filter.sku {
            query = query.filter(level::Column::Sku.eq(sku.as_str()));
        }
        if let Some(after) = paging::decode_token(KIND, page_token)? {
            query = query.filter(level::Column::Id.gt(after));
        }
        let rows = query
            .order_by_asc(level::Column::Id)
            .limit(limit + 1)
            .all(&self.db)
            .await?;
        Ok(paging::into_page(KIND, rows, limit, |row| row.id))
    }

    /// Newest first.
    pub async fn list_movements(
        &self,
        ctx: &RequestContext,
        filter: &MovementFilter,
        page_size: i32,
        page_token: &str,
    ) -> AppResult<Page<movement::Model>> {
        const KIND: &str = "spare-movement";
        let limit = paging::page_limit(page_size)?;
        let mut query =
            movement::Entity::find().filter(movement::Column::TenantId.eq(ctx.tenant_id));
        if let Some(store_id) = filter.store_id {
            query = query.filter(movement::Column::StoreId.eq(store_id));
        }
        if let Some(sku) = &filter.sku {
            query = query.filter(movement::Column::Sku.eq(sku.as_str()));
        }
        if let Some(incident_id) = filter.incident_id {
            query = query.filter(movement::Column::IncidentId.eq(incident_id));
        }
        if let Some(before) = paging::decode_token(KIND, page_token)? {
            query = query.filter(movement::Column::Id.lt(before));
        }
        let rows = query
            .order_by_desc(movement::Column::Id)
            .limit(limit + 1)
            .all(&self.db)
            .await?;
        Ok(paging::into_page(KIND, rows, limit, |row| row.id))
    }
}

/// SQLite's "database is locked": another writer held the lock past the busy timeout.
fn is_busy(err: &DbErr) -> bool {
    let text = err.to_string();
    text.contains("database is locked") || text.contains("database table is locked")
}

fn duplicate_name(err: AppError, name: &str) -> AppError {
    match err {
        AppError::AlreadyExists(_) => {
            AppError::AlreadyExists(format!("a store named `{name}` already exists"))
        }
        other => other,
    }
}

fn apply_store(row: &mut store::Model, draft: &StoreDraft, fields: &[&str]) {
    for field in fields {
        match *field {
            "name" => row.name = draft.name.trim().to_string(),
            "address" => row.address = draft.address.trim().to_string(),
            other => unreachable!("field {other} is in STORE_FIELDS but not applied"),
        }
    }
}

fn validate_store(row: &store::Model) -> AppResult<()> {
    let mut violations = Violations::default();
    let name = row.name.chars().count();
    if name == 0 {
        violations.push("store.name", "is required");
    } else if name > 200 {
        violations.push("store.name", "must be at most 200 characters");
    }
    if row.address.chars().count() > 500 {
        violations.push("store.address", "must be at most 500 characters");
    }
    violations.finish(())
}

/// Every rule of a move; all violations at once.
pub fn validate_move(change: &Move) -> AppResult<()> {
    let mut violations = Violations::default();
    let sku = change.sku.chars().count();
    if sku == 0 {
        violations.push("sku", "is required");
    } else if sku > 64 {
        violations.push("sku", "must be at most 64 characters");
    } else if change.sku.chars().any(char::is_whitespace) {
        violations.push("sku", "must not contain spaces");
    }
    if change.quantity <= 0 {
        violations.push("quantity", "must be positive");
    } else if change.quantity > MAX_MOVE_QUANTITY {
        violations.push("quantity", "must be at most 1000000");
    }
    if change.reason.chars().count() > 2000 {
        violations.push("reason", "must be at most 2000 characters");
    }
    violations.finish(())
}

fn store_snapshot(row: &store::Model) -> Value {
    json!({"id": row.id, "name": row.name, "address": row.address})
}

async fn record(
    tx: &impl ConnectionTrait,
    ctx: &RequestContext,
    at: DateTime<Utc>,
    action: &str,
    id: Uuid,
    before: Option<Value>,
    after: Option<Value>,
) -> AppResult<()> {
    audit::record(
        tx,
        ctx,
        ctx.tenant_id,
        at,
        Change {
            action,
            resource_type: "store",
            resource_id: id.to_string(),
            before,
            after,
        },
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(sku: &str, quantity: i64) -> Move {
        Move {
            store_id: Uuid::now_v7(),
            sku: sku.into(),
            quantity,
            incident_id: None,
            reason: String::new(),
        }
    }

    fn fields(result: AppResult<()>) -> Vec<String> {
        match result {
            Err(AppError::InvalidArgument(violations)) => {
                violations.into_iter().map(|v| v.field).collect()
            }
            other => panic!("expected violations, got {other:?}"),
        }
    }

    #[test]
    fn moves_name_every_bad_field() {
        assert!(validate_move(&change("ONT-HG8245", 1)).is_ok());
        assert_eq!(fields(validate_move(&change("", 0))), ["sku", "quantity"]);
        assert_eq!(
            fields(validate_move(&change("A B", -3))),
            ["sku", "quantity"]
        );
        assert_eq!(
            fields(validate_move(&change("X", MAX_MOVE_QUANTITY + 1))),
            ["quantity"]
        );
    }

    #[test]
    fn only_sqlite_lock_errors_are_retried() {
        assert!(is_busy(&DbErr::Custom(
            "error returned from database: (code: 5) database is locked".into()
        )));
        assert!(!is_busy(&DbErr::Custom("syntax error".into())));
    }
}
