//! Queries on `tenants` and `users`; user queries are scoped by tenant except the two
//! lookups that establish who is calling (login by e-mail, token by user id).

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder, QuerySelect,
};
use uuid::Uuid;

use super::model::{tenant, user};
use crate::auth::Role;
use crate::error::AppResult;

pub async fn tenant_by_slug(
    db: &impl ConnectionTrait,
    slug: &str,
) -> AppResult<Option<tenant::Model>> {
    Ok(tenant::Entity::find()
        .filter(tenant::Column::Slug.eq(slug))
        .one(db)
        .await?)
}

pub async fn insert_tenant(
    db: &impl ConnectionTrait,
    tenant: tenant::Model,
) -> AppResult<tenant::Model> {
    tenant::Entity::insert(tenant.clone().into_active_model().reset_all())
        .exec_without_returning(db)
        .await?;
    Ok(tenant)
}

/// The user a token names, whatever its tenant (the caller checks the tenant claim).
pub async fn user_by_id(db: &impl ConnectionTrait, id: Uuid) -> AppResult<Option<user::Model>> {
    Ok(user::Entity::find_by_id(id).one(db).await?)
}

pub async fn user_in_tenant(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    id: Uuid,
) -> AppResult<Option<user::Model>> {
    Ok(user::Entity::find_by_id(id)
        .filter(user::Column::TenantId.eq(tenant_id))
        .one(db)
        .await?)
}

pub async fn users_in_tenant(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    ids: &[Uuid],
) -> AppResult<Vec<user::Model>> {
    Ok(user::Entity::find()
        .filter(user::Column::TenantId.eq(tenant_id))
        .filter(user::Column::Id.is_in(ids.iter().copied()))
        .all(db)
        .await?)
}

/// Login lookup: e-mails are unique over all tenants.
pub async fn user_by_email(
    db: &impl ConnectionTrait,
    email: &str,
) -> AppResult<Option<user::Model>> {
    Ok(user::Entity::find()
        .filter(user::Column::Email.eq(email))
        .one(db)
        .await?)
}

pub async fn insert_user(db: &impl ConnectionTrait, user: user::Model) -> AppResult<user::Model> {
    user::Entity::insert(user.clone().into_active_model().reset_all())
        .exec_without_returning(db)
        .await?;
    Ok(user)
}

/// Stores the columns of `user` that differ from `before`, the same row read earlier (so a
/// login's `last_login_at` cannot undo a concurrent deactivation, for one).
pub async fn update_user(
    db: &impl ConnectionTrait,
    before: user::Model,
    user: user::Model,
) -> AppResult<user::Model> {
    crate::storage::db::update_changed::<user::Entity>(db, before, user).await
}

/// Users of a tenant by name (ties by id), after the `after` id when paging.
pub async fn list_users(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    role: Option<Role>,
    include_inactive: bool,
    after: Option<Uuid>,
    limit: u64,
) -> AppResult<Vec<user::Model>> {
    let mut query = user::Entity::find().filter(user::Column::TenantId.eq(tenant_id));
    if let Some(role) = role {
        query = query.filter(user::Column::Role.eq(role.as_str()));
    }
    if !include_inactive {
        query = query.filter(user::Column::Active.eq(true));
    }
    if let Some(after) = after {
        query = query.filter(user::Column::Id.gt(after));
    }
    Ok(query
        .order_by_asc(user::Column::Id)
        .limit(limit)
        .all(db)
        .await?)
}
