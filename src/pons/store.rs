//! Queries on the `pons` table, every one scoped by tenant.

use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder, QuerySelect,
};
use uuid::Uuid;

use super::model::{ActiveModel, Column, Entity, Model};
use super::service::PonFilter;
use crate::error::AppResult;

pub async fn insert(db: &DatabaseConnection, pon: Model) -> AppResult<Model> {
    let active: ActiveModel = pon.clone().into_active_model();
    Entity::insert(active.reset_all())
        .exec_without_returning(db)
        .await?;
    Ok(pon)
}

pub async fn find(db: &DatabaseConnection, tenant_id: Uuid, id: Uuid) -> AppResult<Option<Model>> {
    Ok(Entity::find_by_id(id)
        .filter(Column::TenantId.eq(tenant_id))
        .one(db)
        .await?)
}

pub async fn list(
    db: &DatabaseConnection,
    tenant_id: Uuid,
    filter: &PonFilter,
    after: Option<Uuid>,
    limit: u64,
) -> AppResult<Vec<Model>> {
    let mut query = Entity::find().filter(Column::TenantId.eq(tenant_id));
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

pub async fn update(db: &DatabaseConnection, pon: Model) -> AppResult<Model> {
    let active: ActiveModel = pon.into_active_model().reset_all();
    Ok(active.update(db).await?)
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
