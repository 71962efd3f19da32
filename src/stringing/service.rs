//! Stringing-run rules: validation naming every field, the PON and organization checked in the
//! caller's tenant (and the PON visible to the caller), the audit record, and read scoping.

use std::sync::Arc;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use sea_orm::{ColumnTrait, Condition, DatabaseConnection, TransactionTrait};
use serde_json::{Value, json};
use uuid::Uuid;

use super::model::{self, Column, Entity};
use crate::audit::{self, Change};
use crate::auth::Role;
use crate::clock::Clock;
use crate::context::RequestContext;
use crate::error::{AppError, AppResult, FieldViolation};
use crate::organizations::model::organization;
use crate::organizations::store;
use crate::paging;

/// The most metres one run may record (100 km): more is a typing mistake.
pub const MAX_METERS: f64 = 100_000.0;
const NAME: &str = "stringing_run";

/// A run as a caller records it, already parsed into domain types.
#[derive(Clone, Debug, Default)]
pub struct RunDraft {
    pub pon_id: Option<Uuid>,
    pub organization_id: Option<Uuid>,
    pub crew: String,
    pub meters: f64,
    pub completed_on: Option<NaiveDate>,
    pub notes: String,
}

#[derive(Clone, Debug, Default)]
pub struct RunFilter {
    pub pon_id: Option<Uuid>,
    pub organization_id: Option<Uuid>,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
}

pub struct StringingService {
    db: DatabaseConnection,
    clock: Arc<dyn Clock>,
}

impl StringingService {
    pub fn new(db: DatabaseConnection, clock: Arc<dyn Clock>) -> Self {
        StringingService { db, clock }
    }

    pub async fn create(&self, ctx: &RequestContext, draft: RunDraft) -> AppResult<model::Model> {
        let now = self.clock.now();
        let (pon_id, organization_id, completed_on) = validate(&draft, now)?;
        let mut missing = Vec::new();
        if !crate::pons::service::visible_to(&self.db, ctx, pon_id).await? {
            missing.push(FieldViolation {
                field: format!("{NAME}.pon_id"),
                description: "no such PON in this tenant".into(),
            });
        }
        if store::find::<organization::Entity>(&self.db, ctx.tenant_id, None, organization_id)
            .await?
            .is_none()
        {
            missing.push(FieldViolation {
                field: format!("{NAME}.organization_id"),
                description: "no such organization in this tenant".into(),
            });
        }
        if !missing.is_empty() {
            return Err(AppError::InvalidArgument(missing));
        }
        let row = model::Model {
            id: Uuid::now_v7(),
            tenant_id: ctx.tenant_id,
            pon_id,
            organization_id,
            crew: draft.crew.trim().to_string(),
            meters: draft.meters,
            completed_on,
            notes: draft.notes.trim().to_string(),
            created_by: ctx.user_id(),
            created_at: now,
        };
        let tx = self.db.begin().await?;
        let row = store::insert::<Entity>(&tx, row).await?;
        audit::record(
            &tx,
            ctx,
            ctx.tenant_id,
            now,
            Change {
                action: "create",
                resource_type: NAME,
                resource_id: row.id.to_string(),
                before: None,
                after: Some(snapshot(&row)),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(row)
    }

    /// One page of the runs the caller may see, in the order they were recorded.
    pub async fn list(
        &self,
        ctx: &RequestContext,
        filter: &RunFilter,
        page_size: i32,
        page_token: &str,
    ) -> AppResult<(Vec<model::Model>, Option<String>)> {
        let limit = paging::page_limit(page_size)?;
        let after = paging::decode_token(NAME, page_token)?;
        if let (Some(from), Some(to)) = (filter.from, filter.to)
            && to < from
        {
            return Err(AppError::invalid("to", "must not be before from"));
        }
        let Some(principal) = &ctx.principal else {
            return Ok((Vec::new(), None));
        };
        let mut condition = Condition::all();
        let mut organization = None;
        match (principal.role, principal.organization_id) {
            (Role::Admin | Role::Auditor | Role::Noc, _) => {}
            (Role::Smme, Some(own)) => organization = Some(own),
            (Role::Smme, None) => return Ok((Vec::new(), None)),
            (Role::Pm | Role::Site, _) => {
                condition = condition
                    .add(Column::PonId.in_subquery(crate::pons::service::visible_pon_ids(ctx)));
            }
        }
        if let Some(pon_id) = filter.pon_id {
            condition = condition.add(Column::PonId.eq(pon_id));
        }
        if let Some(organization_id) = filter.organization_id {
            condition = condition.add(Column::OrganizationId.eq(organization_id));
        }
        if let Some(from) = filter.from {
            condition = condition.add(Column::CompletedOn.gte(from));
        }
        if let Some(to) = filter.to {
            condition = condition.add(Column::CompletedOn.lte(to));
        }
        let rows = store::list::<Entity>(
            &self.db,
            ctx.tenant_id,
            organization,
            condition,
            after,
            limit + 1,
        )
        .await?;
        Ok(paging::into_page(NAME, rows, limit, |row| row.id))
    }
}

/// Every field rule at once; answers the required values. The day may not lie after today in
/// any time zone (UTC+14), so a crew anywhere can record today's run.
fn validate(draft: &RunDraft, now: DateTime<Utc>) -> AppResult<(Uuid, Uuid, NaiveDate)> {
    let mut violations = Vec::new();
    let mut check = |ok: bool, field: &str, description: &str| {
        if !ok {
            violations.push(FieldViolation {
                field: format!("{NAME}.{field}"),
                description: description.into(),
            });
        }
    };
    check(draft.pon_id.is_some(), "pon_id", "is required");
    check(
        draft.organization_id.is_some(),
        "organization_id",
        "is required",
    );
    check(
        draft.meters.is_finite() && draft.meters > 0.0,
        "meters",
        "must be more than 0",
    );
    check(
        draft.meters.is_nan() || draft.meters <= MAX_METERS,
        "meters",
        "must be at most 100000 (one run)",
    );
    let latest = (now + Duration::hours(14)).date_naive();
    match draft.completed_on {
        None => check(false, "completed_on", "is required"),
        Some(day) => check(day <= latest, "completed_on", "must not be in the future"),
    }
    check(
        draft.crew.trim().chars().count() <= 200,
        "crew",
        "must be at most 200 characters",
    );
    check(
        draft.notes.trim().chars().count() <= 10_000,
        "notes",
        "must be at most 10000 characters",
    );
    match (draft.pon_id, draft.organization_id, draft.completed_on) {
        (Some(pon), Some(organization), Some(day)) if violations.is_empty() => {
            Ok((pon, organization, day))
        }
        _ => Err(AppError::InvalidArgument(violations)),
    }
}

fn snapshot(row: &model::Model) -> Value {
    json!({
        "id": row.id,
        "pon_id": row.pon_id,
        "organization_id": row.organization_id,
        "crew": row.crew,
        "meters": row.meters,
        "completed_on": row.completed_on,
        "notes": row.notes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(draft: &RunDraft, now: DateTime<Utc>) -> Vec<String> {
        match validate(draft, now) {
            Ok(_) => Vec::new(),
            Err(AppError::InvalidArgument(found)) => found.into_iter().map(|v| v.field).collect(),
            Err(other) => panic!("{other:?}"),
        }
    }

    #[test]
    fn metres_days_and_references_are_checked() {
        let now = Utc::now();
        let good = RunDraft {
            pon_id: Some(Uuid::now_v7()),
            organization_id: Some(Uuid::now_v7()),
            meters: 250.5,
            completed_on: Some(now.date_naive()),
            ..RunDraft::default()
        };
        assert!(fields(&good, now).is_empty());
        for meters in [0.0, -1.0, f64::NAN, 100_000.5] {
            let draft = RunDraft {
                meters,
                ..good.clone()
            };
            assert_eq!(fields(&draft, now), ["stringing_run.meters"], "{meters}");
        }
        let tomorrow_everywhere = RunDraft {
            completed_on: Some((now + Duration::days(2)).date_naive()),
            ..good.clone()
        };
        assert_eq!(
            fields(&tomorrow_everywhere, now),
            ["stringing_run.completed_on"]
        );
        assert_eq!(
            fields(&RunDraft::default(), now),
            [
                "stringing_run.pon_id",
                "stringing_run.organization_id",
                "stringing_run.meters",
                "stringing_run.completed_on"
            ]
        );
    }
}
