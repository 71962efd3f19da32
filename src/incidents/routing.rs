//! Routing an incident to an organization (assignments by PON, then by ward, with an active
//! contract of the fault's scope) and its SLA targets from that contract or the legacy table.

use chrono::{Duration, NaiveDate};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use uuid::Uuid;

use super::model::{Category, Model, Severity};
use crate::error::AppResult;
use crate::organizations::model::{OrganizationType, assignment, contract};

/// The organization an incident goes to and the contract that sets its SLA, if any.
#[derive(Clone, Debug, Default)]
pub struct Route {
    pub organization_id: Option<Uuid>,
    pub contract: Option<contract::Model>,
}

/// The first organization assigned to the PON, else to the ward, that holds an active contract
/// for the fault's scope; else the first assigned organization (without a contract).
pub async fn route(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    pon_id: Option<Uuid>,
    ward: &str,
    category: Category,
    today: NaiveDate,
) -> AppResult<Route> {
    let mut candidates = Vec::new();
    if let Some(pon) = pon_id {
        candidates.extend(assignments(db, tenant_id, assignment::Column::PonId.eq(pon)).await?);
    }
    if !ward.is_empty() {
        candidates.extend(assignments(db, tenant_id, assignment::Column::Ward.eq(ward)).await?);
    }
    for organization in &candidates {
        if let Some(found) = active_contract(
            db,
            tenant_id,
            *organization,
            Some(category.scope()),
            ward,
            today,
        )
        .await?
        {
            return Ok(Route {
                organization_id: Some(*organization),
                contract: Some(found),
            });
        }
    }
    Ok(Route {
        organization_id: candidates.first().copied(),
        contract: None,
    })
}

async fn assignments(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    matching: sea_orm::sea_query::SimpleExpr,
) -> AppResult<Vec<Uuid>> {
    Ok(assignment::Entity::find()
        .filter(assignment::Column::TenantId.eq(tenant_id))
        .filter(matching)
        .order_by_asc(assignment::Column::CreatedAt)
        .order_by_asc(assignment::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(|row| row.organization_id)
        .collect())
}

/// The organization's first active contract valid `today` of `scope` (any scope when None)
/// whose wards include `ward` (a contract without wards covers every ward).
pub async fn active_contract(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    organization_id: Uuid,
    scope: Option<OrganizationType>,
    ward: &str,
    today: NaiveDate,
) -> AppResult<Option<contract::Model>> {
    let contracts = contract::Entity::find()
        .filter(contract::Column::TenantId.eq(tenant_id))
        .filter(contract::Column::OrganizationId.eq(organization_id))
        .filter(contract::Column::Active.eq(true))
        .order_by_asc(contract::Column::CreatedAt)
        .order_by_asc(contract::Column::Id)
        .all(db)
        .await?;
    Ok(contracts.into_iter().find(|found| {
        let wards = found.wards();
        scope.is_none_or(|scope| found.scope() == scope)
            && found.valid_from.is_none_or(|from| from <= today)
            && found.valid_to.is_none_or(|to| today <= to)
            && (wards.is_empty() || ward.is_empty() || wards.iter().any(|w| w == ward))
    }))
}

/// The contract's restore minutes for a severity, when it sets one.
fn contract_minutes(found: &contract::Model, severity: Severity) -> Option<i64> {
    let minutes = match severity {
        Severity::P1 => found.sla_p1_min,
        Severity::P2 => found.sla_p2_min,
        Severity::P3 => found.sla_p3_min,
        Severity::P4 => found.sla_p4_min,
    }?;
    (minutes > 0).then_some(i64::from(minutes))
}

/// Sets the organization, the respond/restore targets from `opened_at` and the breach flags of
/// times already recorded. A contract sets the restore target (its P-minutes); the respond
/// target is the legacy one, never later than the restore target.
pub fn apply_sla(row: &mut Model, route: &Route) {
    let severity = row.severity();
    let (respond, mut restore) = severity.default_sla_minutes();
    row.sla_source = "default".into();
    if let Some(minutes) = route
        .contract
        .as_ref()
        .and_then(|found| contract_minutes(found, severity))
    {
        restore = minutes;
        row.sla_source = "contract".into();
    }
    row.assigned_org_id = route.organization_id;
    row.respond_by = row.opened_at + Duration::minutes(respond.min(restore));
    row.restore_by = row.opened_at + Duration::minutes(restore);
    row.breached_respond = row.acknowledged_at.is_some_and(|at| at > row.respond_by);
    row.breached_restore = row.resolved_at.is_some_and(|at| at > row.restore_by);
}
