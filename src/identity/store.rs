//! Queries on `tenants`, `users` and `invites`; user queries are scoped by tenant except the
//! two lookups that establish who is calling (login by e-mail, token by user id).

use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder, QuerySelect,
};
use uuid::Uuid;

use super::model::{invite, tenant, user};
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

pub async fn insert_invite(
    db: &impl ConnectionTrait,
    invite: invite::Model,
) -> AppResult<invite::Model> {
    invite::Entity::insert(invite.clone().into_active_model().reset_all())
        .exec_without_returning(db)
        .await?;
    Ok(invite)
}

/// Takes one use of the invite `code` if it is still valid at `now`: its tenant, or None.
/// One conditional UPDATE, so concurrent registrations never use a code more than `max_uses` times.
pub async fn claim_invite(
    db: &impl ConnectionTrait,
    code: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> AppResult<Option<Uuid>> {
    let Some(found) = invite::Entity::find()
        .filter(invite::Column::Code.eq(code))
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    let claimed = invite::Entity::update_many()
        .col_expr(invite::Column::Uses, Expr::col(invite::Column::Uses).add(1))
        .filter(invite::Column::Id.eq(found.id))
        .filter(invite::Column::ExpiresAt.gt(now))
        .filter(Expr::col(invite::Column::Uses).lt(Expr::col(invite::Column::MaxUses)))
        .exec(db)
        .await?;
    Ok((claimed.rows_affected == 1).then_some(found.tenant_id))
}
