//! Queries on the `pons` table, every one scoped by tenant and by what the caller's role
//! may see.

use sea_orm::sea_query::{Expr, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, DatabaseConnection, EntityTrait, IntoActiveModel,
    QueryFilter, QueryOrder, QuerySelect, QueryTrait, Select,
};
use uuid::Uuid;

use super::model::{ActiveModel, Column, Entity, Model};
use super::service::PonFilter;
use crate::error::AppResult;
use crate::organizations::model::assignment;

/// Which of a tenant's PONs a caller may see.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Visibility {
    All,
    /// The PONs this user is project manager of.
    ManagedBy(Uuid),
    /// The PONs this user is site manager of.
    SiteManagedBy(Uuid),
    /// The PONs this organization is assigned to, by PON or by ward.
    AssignedTo(Uuid),
    Nothing,
}

/// The tenant's PONs that `visibility` lets through.
fn visible(tenant_id: Uuid, visibility: Visibility) -> Select<Entity> {
    let query = Entity::find().filter(Column::TenantId.eq(tenant_id));
    match visibility {
        Visibility::All => query,
        Visibility::ManagedBy(user) => query.filter(Column::ProjectManagerId.eq(user)),
        Visibility::SiteManagedBy(user) => query.filter(Column::SiteManagerId.eq(user)),
        Visibility::AssignedTo(organization) => {
            let assignments = |column: assignment::Column| {
                Query::select()
                    .column(column)
                    .from(assignment::Entity)
                    .and_where(assignment::Column::TenantId.eq(tenant_id))
                    .and_where(assignment::Column::OrganizationId.eq(organization))
                    .and_where(column.is_not_null())
                    .to_owned()
            };
            query.filter(
                Condition::any()
                    .add(Column::Id.in_subquery(assignments(assignment::Column::PonId)))
                    .add(Column::Ward.in_subquery(assignments(assignment::Column::Ward))),
            )
        }
        Visibility::Nothing => query.filter(Expr::val(false)),
    }
}

/// The ids of the tenant's PONs that `visibility` lets through, as a subquery.
pub fn visible_ids(tenant_id: Uuid, visibility: Visibility) -> sea_orm::sea_query::SelectStatement {
    visible(tenant_id, visibility)
        .select_only()
        .column(Column::Id)
        .into_query()
}

pub async fn insert(db: &DatabaseConnection, pon: Model) -> AppResult<Model> {
    let active: ActiveModel = pon.clone().into_active_model();
    Entity::insert(active.reset_all())
        .exec_without_returning(db)
        .await?;
    Ok(pon)
}

pub async fn find(
    db: &DatabaseConnection,
    tenant_id: Uuid,
    visibility: Visibility,
    id: Uuid,
) -> AppResult<Option<Model>> {
    Ok(visible(tenant_id, visibility)
        .filter(Column::Id.eq(id))
        .one(db)
        .await?)
}

pub async fn find_many(
    db: &DatabaseConnection,
    tenant_id: Uuid,
    ids: &[Uuid],
) -> AppResult<Vec<Model>> {
    Ok(Entity::find()
        .filter(Column::TenantId.eq(tenant_id))
        .filter(Column::Id.is_in(ids.iter().copied()))
        .all(db)
        .await?)
}

pub async fn list(
    db: &DatabaseConnection,
    tenant_id: Uuid,
    visibility: Visibility,
    filter: &PonFilter,
    after: Option<Uuid>,
    limit: u64,
) -> AppResult<Vec<Model>> {
    let mut query = visible(tenant_id, visibility);
    if let Some(status) = filter.status {
        query = query.filter(Column::Status.eq(status.as_str()));
    }
    if let Some(ward) = &filter.ward {
        query = query.filter(Column::Ward.eq(ward.as_str()));
    }
    if let Some(after) = after {
        query = query.filter(Column::Id.gt(after));
    }
    Ok(query.order_by_asc(Column::Id).limit(limit).all(db).await?)
}

/// Stores the columns of `pon` that differ from `before`, the same row read earlier.
pub async fn update(db: &DatabaseConnection, before: Model, pon: Model) -> AppResult<Model> {
    crate::storage::db::update_changed::<Entity>(db, before, pon).await
}

/// True when a row of this tenant was deleted.
pub async fn delete(db: &DatabaseConnection, tenant_id: Uuid, id: Uuid) -> AppResult<bool> {
    let result = Entity::delete_many()
        .filter(Column::Id.eq(id))
        .filter(Column::TenantId.eq(tenant_id))
        .exec(db)
        .await?;
    Ok(result.rows_affected > 0)
}
