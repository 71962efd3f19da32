//! The `idempotency_keys` rows: one per (tenant, caller, key), claimed before the request runs
//! and completed with its answer, kept for a day.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter,
};
use uuid::Uuid;

use crate::error::AppResult;

pub mod idempotency_key {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "idempotency_keys")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: Uuid,
        /// The user id, or `role:<ROLE>` for a token without an account here.
        #[sea_orm(primary_key, auto_increment = false)]
        pub caller: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub key: String,
        /// SHA-256 of the method, path and body the key was first used with.
        pub request_hash: String,
        pub completed: bool,
        pub response_status: Option<i32>,
        /// JSON: `{"headers": [[name, value]], "trailers": [[name, value]]}`.
        pub response_headers: Option<String>,
        pub response_body: Option<Vec<u8>>,
        pub created_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

use idempotency_key::{Column, Entity, Model};

/// Who used a key: keys are per tenant and caller.
#[derive(Clone, Debug)]
pub struct Owner {
    pub tenant_id: Uuid,
    pub caller: String,
    pub key: String,
}

/// What a claim found.
pub enum Claim {
    /// The key is ours now: run the request.
    Fresh,
    /// The same request, answered before.
    Answered(Model),
    /// The key was used with another request.
    Mismatch,
    /// The same request is still running (or died without an answer).
    InProgress,
}

/// Claims `owner`'s key for a request hashing to `request_hash`. A key older than `expired_before`
/// counts as unused.
pub async fn claim(
    db: &impl ConnectionTrait,
    owner: &Owner,
    request_hash: &str,
    now: DateTime<Utc>,
    expired_before: DateTime<Utc>,
) -> AppResult<Claim> {
    let fresh = Model {
        tenant_id: owner.tenant_id,
        caller: owner.caller.clone(),
        key: owner.key.clone(),
        request_hash: request_hash.to_string(),
        completed: false,
        response_status: None,
        response_headers: None,
        response_body: None,
        created_at: now,
    };
    let inserted = Entity::insert(fresh.clone().into_active_model())
        .on_conflict(
            OnConflict::columns([Column::TenantId, Column::Caller, Column::Key])
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    if inserted == 1 {
        return Ok(Claim::Fresh);
    }
    // Taken: an expired key is renewed in one conditional update (two renewals cannot both win).
    let renewed = Entity::update_many()
        .set(fresh.into_active_model().reset_all())
        .filter(scope(owner))
        .filter(Column::CreatedAt.lt(expired_before))
        .exec(db)
        .await?;
    if renewed.rows_affected == 1 {
        return Ok(Claim::Fresh);
    }
    let Some(existing) = Entity::find().filter(scope(owner)).one(db).await? else {
        // Swept between our two statements: the next try claims it.
        return Ok(Claim::InProgress);
    };
    Ok(if existing.request_hash != request_hash {
        Claim::Mismatch
    } else if existing.completed {
        Claim::Answered(existing)
    } else {
        Claim::InProgress
    })
}

fn scope(owner: &Owner) -> sea_orm::Condition {
    sea_orm::Condition::all()
        .add(Column::TenantId.eq(owner.tenant_id))
        .add(Column::Caller.eq(owner.caller.clone()))
        .add(Column::Key.eq(owner.key.clone()))
}

/// Keeps the answer of a claimed key.
pub async fn complete(
    db: &impl ConnectionTrait,
    owner: &Owner,
    status: u16,
    headers: String,
    body: Vec<u8>,
) -> AppResult<()> {
    let Some(row) = Entity::find().filter(scope(owner)).one(db).await? else {
        return Ok(());
    };
    let mut active = row.into_active_model();
    active.completed = sea_orm::Set(true);
    active.response_status = sea_orm::Set(Some(i32::from(status)));
    active.response_headers = sea_orm::Set(Some(headers));
    active.response_body = sea_orm::Set(Some(body));
    active.update(db).await?;
    Ok(())
}

/// Gives a claimed key up (its request failed, so a retry must run it again).
pub async fn release(db: &impl ConnectionTrait, owner: &Owner) -> AppResult<()> {
    Entity::delete_many()
        .filter(scope(owner))
        .filter(Column::Completed.eq(false))
        .exec(db)
        .await?;
    Ok(())
}

/// Deletes the keys used before `before`; how many.
pub async fn sweep(db: &impl ConnectionTrait, before: DateTime<Utc>) -> AppResult<u64> {
    Ok(Entity::delete_many()
        .filter(Column::CreatedAt.lt(before))
        .exec(db)
        .await?
        .rows_affected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn keys_are_claimed_once_renewed_after_a_day_and_swept() {
        let dir = tempfile::tempdir().unwrap();
        #[derive(clap::Parser)]
        struct Args {
            #[command(flatten)]
            database: crate::config::DatabaseConfig,
        }
        let config = <Args as clap::Parser>::parse_from(["test"]).database;
        let db = crate::storage::db::connect(&config, dir.path())
            .await
            .unwrap();
        crate::storage::db::migrate(&db).await.unwrap();
        let owner = Owner {
            tenant_id: crate::context::DEFAULT_TENANT,
            caller: "user-1".into(),
            key: "k".into(),
        };
        let day = chrono::Duration::hours(24);
        let then = Utc::now() - chrono::Duration::hours(30);
        assert!(matches!(
            claim(&db, &owner, "h1", then, then - day).await.unwrap(),
            Claim::Fresh
        ));
        assert!(matches!(
            claim(&db, &owner, "h1", then, then - day).await.unwrap(),
            Claim::InProgress
        ));
        complete(&db, &owner, 200, "{}".into(), b"answer".to_vec())
            .await
            .unwrap();
        match claim(&db, &owner, "h1", then, then - day).await.unwrap() {
            Claim::Answered(row) => assert_eq!(row.response_body.unwrap(), b"answer"),
            _ => panic!("the answer is replayed"),
        }
        assert!(matches!(
            claim(&db, &owner, "h2", then, then - day).await.unwrap(),
            Claim::Mismatch
        ));
        // A day later the key is free again, for any request.
        let now = Utc::now();
        assert!(matches!(
            claim(&db, &owner, "h2", now, now - day).await.unwrap(),
            Claim::Fresh
        ));
        let other = Owner {
            key: "old".into(),
            ..owner.clone()
        };
        claim(&db, &other, "h", then, then - day).await.unwrap();
        assert_eq!(sweep(&db, now - day).await.unwrap(), 1, "only the old key");
        release(&db, &owner).await.unwrap();
        assert_eq!(
            sweep(&db, now + day).await.unwrap(),
            0,
            "released keys are gone"
        );
    }
}
