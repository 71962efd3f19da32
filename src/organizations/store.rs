//! Queries on `organizations`, `contracts` and `assignments`, written once for the three
//! tables: every one is filtered by tenant, and reads optionally by owning organization.

use sea_orm::{
    ActiveModelBehavior, ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait,
    IntoActiveModel, QueryFilter, QueryOrder, QuerySelect, Select,
};
use uuid::Uuid;

use super::model::{assignment, contract, organization};
use crate::error::AppResult;
use crate::pons;

/// A table whose rows belong to a tenant and to an organization, keyed by a UUID `id`.
pub trait Scoped:
    EntityTrait<
        Model: IntoActiveModel<Self::ActiveModel> + Clone,
        ActiveModel: ActiveModelBehavior + Send,
    >
{
    const ID: Self::Column;
    const TENANT: Self::Column;
    /// The organization a row belongs to (an organization belongs to itself).
    const ORGANIZATION: Self::Column;
}

impl Scoped for organization::Entity {
    const ID: organization::Column = organization::Column::Id;
    const TENANT: organization::Column = organization::Column::TenantId;
    const ORGANIZATION: organization::Column = organization::Column::Id;
}

impl Scoped for contract::Entity {
    const ID: contract::Column = contract::Column::Id;
    const TENANT: contract::Column = contract::Column::TenantId;
    const ORGANIZATION: contract::Column = contract::Column::OrganizationId;
}

impl Scoped for assignment::Entity {
    const ID: assignment::Column = assignment::Column::Id;
    const TENANT: assignment::Column = assignment::Column::TenantId;
    const ORGANIZATION: assignment::Column = assignment::Column::OrganizationId;
}

/// The rows of `tenant_id`, and of `organization` only when one is given.
fn scoped<E: Scoped>(tenant_id: Uuid, organization: Option<Uuid>) -> Select<E> {
    let query = E::find().filter(E::TENANT.eq(tenant_id));
    match organization {
        Some(organization) => query.filter(E::ORGANIZATION.eq(organization)),
        None => query,
    }
}

pub async fn find<E: Scoped>(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    organization: Option<Uuid>,
    id: Uuid,
) -> AppResult<Option<E::Model>> {
    Ok(scoped::<E>(tenant_id, organization)
        .filter(E::ID.eq(id))
        .one(db)
        .await?)
}

/// One page of rows matching `filter`, in id order after the `after` id.
pub async fn list<E: Scoped>(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    organization: Option<Uuid>,
    filter: Condition,
    after: Option<Uuid>,
    limit: u64,
) -> AppResult<Vec<E::Model>> {
    Ok(
        page_query::<E>(tenant_id, organization, filter, after, limit)
            .all(db)
            .await?,
    )
}

/// The query [`list`] runs, for callers that decode its rows themselves.
pub fn page_query<E: Scoped>(
    tenant_id: Uuid,
    organization: Option<Uuid>,
    filter: Condition,
    after: Option<Uuid>,
    limit: u64,
) -> Select<E> {
    let mut query = scoped::<E>(tenant_id, organization).filter(filter);
    if let Some(after) = after {
        query = query.filter(E::ID.gt(after));
    }
    query.order_by_asc(E::ID).limit(limit)
}

pub async fn insert<E: Scoped>(db: &impl ConnectionTrait, row: E::Model) -> AppResult<E::Model> {
    E::insert(row.clone().into_active_model().reset_all())
        .exec_without_returning(db)
        .await?;
    Ok(row)
}

/// Stores the columns of `row` that differ from `before`, the same row read from this tenant.
pub async fn update<E: Scoped>(
    db: &impl ConnectionTrait,
    before: &E::Model,
    row: E::Model,
) -> AppResult<E::Model> {
    crate::storage::db::update_changed::<E>(db, before.clone(), row).await
}

/// True when a row of this tenant was deleted.
pub async fn delete<E: Scoped>(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    id: Uuid,
) -> AppResult<bool> {
    let result = E::delete_many()
        .filter(E::ID.eq(id))
        .filter(E::TENANT.eq(tenant_id))
        .exec(db)
        .await?;
    Ok(result.rows_affected > 0)
}

pub async fn pon_exists(db: &impl ConnectionTrait, tenant_id: Uuid, id: Uuid) -> AppResult<bool> {
    Ok(pons::model::Entity::find_by_id(id)
        .filter(pons::model::Column::TenantId.eq(tenant_id))
        .one(db)
        .await?
        .is_some())
}
