//! Organization, contract and assignment rules: validation naming every field, field-mask
//! updates, references checked within the caller's tenant, SMME read scoping, keyset
//! pagination, and an audit record of every change in the same transaction.

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, TransactionTrait};
use serde_json::{Value, json};
use uuid::Uuid;

use super::model::{OrganizationType, STEP_TYPES, assignment, contract, organization};
use super::store::{self, Scoped};
use crate::audit::{self, Change};
use crate::auth::Role;
use crate::clock::Clock;
use crate::context::RequestContext;
use crate::error::{AppError, AppResult, FieldViolation};
use crate::{
    fieldmask,
    paging::{self, Page},
};

/// An organization as a caller sets it.
#[derive(Clone, Debug, Default)]
pub struct OrganizationDraft {
    pub name: String,
    /// Required.
    pub kind: Option<OrganizationType>,
}

/// A contract as a caller sets it, already parsed into domain types.
#[derive(Clone, Debug, Default)]
pub struct ContractDraft {
    /// Required.
    pub organization_id: Option<Uuid>,
    /// Required.
    pub scope_type: Option<OrganizationType>,
    pub wards: Vec<String>,
    pub sla_p1_min: Option<i32>,
    pub sla_p2_min: Option<i32>,
    pub sla_p3_min: Option<i32>,
    pub sla_p4_min: Option<i32>,
    /// Empty: none.
    pub rate_card_ref: String,
    /// None: true.
    pub active: Option<bool>,
    pub valid_from: Option<NaiveDate>,
    pub valid_to: Option<NaiveDate>,
}

/// An assignment as a caller sets it.
#[derive(Clone, Debug, Default)]
pub struct AssignmentDraft {
    /// Required.
    pub organization_id: Option<Uuid>,
    /// A PON, a ward (empty: none), or both.
    pub pon_id: Option<Uuid>,
    pub ward: String,
    /// One of [`STEP_TYPES`].
    pub step_type: String,
}

/// The field-mask paths an organization update may name.
pub const ORGANIZATION_FIELDS: &[&str] = &["name", "type"];
/// The field-mask paths a contract update may name.
pub const CONTRACT_FIELDS: &[&str] = &[
    "organization_id",
    "scope_type",
    "wards",
    "sla_p1_min",
    "sla_p2_min",
    "sla_p3_min",
    "sla_p4_min",
    "rate_card_ref",
    "active",
    "valid_from",
    "valid_to",
];
/// The field-mask paths an assignment update may name.
pub const ASSIGNMENT_FIELDS: &[&str] = &["organization_id", "pon_id", "ward", "step_type"];

#[derive(Clone, Debug, Default)]
pub struct OrganizationFilter {
    pub kind: Option<OrganizationType>,
}

#[derive(Clone, Debug, Default)]
pub struct ContractFilter {
    pub organization_id: Option<Uuid>,
    pub scope_type: Option<OrganizationType>,
    pub active: Option<bool>,
}

#[derive(Clone, Debug, Default)]
pub struct AssignmentFilter {
    pub organization_id: Option<Uuid>,
    pub pon_id: Option<Uuid>,
    pub ward: Option<String>,
    pub step_type: Option<String>,
}

/// A row of another table that a record points at.
enum Target {
    Organization(Uuid),
    Pon(Uuid),
}

/// What the shared operations need to know about each of the three tables.
trait Resource: Scoped {
    /// The audit resource type, page-token kind, field prefix, and name in messages.
    const NAME: &'static str;
    fn id(row: &Self::Model) -> Uuid;
    /// What the audit log keeps of a row.
    fn snapshot(row: &Self::Model) -> Value;
    /// The rows a row points at, each with the field that names it.
    fn references(row: &Self::Model) -> Vec<(Target, &'static str)>;
}

impl Resource for organization::Entity {
    const NAME: &'static str = "organization";

    fn id(row: &organization::Model) -> Uuid {
        row.id
    }

    fn snapshot(row: &organization::Model) -> Value {
        json!({"id": row.id, "name": row.name, "type": row.r#type})
    }

    fn references(_: &organization::Model) -> Vec<(Target, &'static str)> {
        Vec::new()
    }
}

impl Resource for contract::Entity {
    const NAME: &'static str = "contract";

    fn id(row: &contract::Model) -> Uuid {
        row.id
    }

    fn snapshot(row: &contract::Model) -> Value {
        json!({
            "id": row.id,
            "organization_id": row.organization_id,
            "scope_type": row.scope_type,
            "wards": row.wards(),
            "sla_p1_min": row.sla_p1_min,
            "sla_p2_min": row.sla_p2_min,
            "sla_p3_min": row.sla_p3_min,
            "sla_p4_min": row.sla_p4_min,
            "rate_card_ref": row.rate_card_ref,
            "active": row.active,
            "valid_from": row.valid_from,
            "valid_to": row.valid_to,
        })
    }

    fn references(row: &contract::Model) -> Vec<(Target, &'static str)> {
        vec![(
            Target::Organization(row.organization_id),
            "contract.organization_id",
        )]
    }
}

impl Resource for assignment::Entity {
    const NAME: &'static str = "assignment";

    fn id(row: &assignment::Model) -> Uuid {
        row.id
    }

    fn snapshot(row: &assignment::Model) -> Value {
        json!({
            "id": row.id,
            "organization_id": row.organization_id,
            "pon_id": row.pon_id,
            "ward": row.ward,
            "step_type": row.step_type,
        })
    }

    fn references(row: &assignment::Model) -> Vec<(Target, &'static str)> {
        let mut targets = vec![(
            Target::Organization(row.organization_id),
            "assignment.organization_id",
        )];
        targets.extend(row.pon_id.map(|id| (Target::Pon(id), "assignment.pon_id")));
        targets
    }
}

/// Whose records a caller may read.
enum Readable {
    /// The whole tenant's.
    Tenant,
    /// One organization's: SMME users see their own organization only.
    Organization(Uuid),
    /// None: an SMME user who belongs to no organization.
    Nothing,
}

fn readable(ctx: &RequestContext) -> Readable {
    match &ctx.principal {
        Some(principal) if principal.role == Role::Smme => principal
            .organization_id
            .map_or(Readable::Nothing, Readable::Organization),
        _ => Readable::Tenant,
    }
}

pub struct OrganizationsService {
    db: DatabaseConnection,
    clock: Arc<dyn Clock>,
}

impl OrganizationsService {
    pub fn new(db: DatabaseConnection, clock: Arc<dyn Clock>) -> Self {
        OrganizationsService { db, clock }
    }

    pub async fn create_organization(
        &self,
        ctx: &RequestContext,
        draft: OrganizationDraft,
    ) -> AppResult<organization::Model> {
        let now = self.clock.now();
        let mut row = organization::Model {
            id: Uuid::now_v7(),
            tenant_id: ctx.tenant_id,
            name: String::new(),
            r#type: String::new(),
            created_at: now,
            updated_at: now,
        };
        apply_organization(&mut row, &draft, ORGANIZATION_FIELDS);
        validate_organization(&row)?;
        let name = row.name.clone();
        self.insert::<organization::Entity>(ctx, row)
            .await
            .map_err(|err| duplicate_name(err, &name))
    }

    pub async fn get_organization(
        &self,
        ctx: &RequestContext,
        id: Uuid,
    ) -> AppResult<organization::Model> {
        self.fetch::<organization::Entity>(ctx, id).await
    }

    pub async fn list_organizations(
        &self,
        ctx: &RequestContext,
        filter: &OrganizationFilter,
        page_size: i32,
        page_token: &str,
    ) -> AppResult<Page<organization::Model>> {
        let mut condition = Condition::all();
        if let Some(kind) = filter.kind {
            condition = condition.add(organization::Column::Type.eq(kind.as_str()));
        }
        self.page::<organization::Entity>(ctx, condition, page_size, page_token)
            .await
    }

    /// Changes the fields named in `mask` (`*` names them all) to their values in `draft`.
    pub async fn update_organization(
        &self,
        ctx: &RequestContext,
        id: Uuid,
        draft: OrganizationDraft,
        mask: &[String],
    ) -> AppResult<organization::Model> {
        let fields = fieldmask::resolve(mask, ORGANIZATION_FIELDS, "organization")?;
        let before = self.fetch::<organization::Entity>(ctx, id).await?;
        let mut row = before.clone();
        apply_organization(&mut row, &draft, &fields);
        validate_organization(&row)?;
        row.updated_at = self.clock.now();
        let name = row.name.clone();
        self.replace::<organization::Entity>(ctx, &before, row)
            .await
            .map_err(|err| duplicate_name(err, &name))
    }

    /// Deletes the organization with its contracts and assignments (the database cascades).
    pub async fn delete_organization(&self, ctx: &RequestContext, id: Uuid) -> AppResult<()> {
        self.remove::<organization::Entity>(ctx, id).await
    }

    pub async fn create_contract(
        &self,
        ctx: &RequestContext,
        draft: ContractDraft,
    ) -> AppResult<contract::Model> {
        let now = self.clock.now();
        let mut row = contract::Model {
            id: Uuid::now_v7(),
            tenant_id: ctx.tenant_id,
            organization_id: Uuid::nil(),
            scope_type: String::new(),
            wards: "[]".into(),
            sla_p1_min: None,
            sla_p2_min: None,
            sla_p3_min: None,
            sla_p4_min: None,
            rate_card_ref: None,
            active: true,
            valid_from: None,
            valid_to: None,
            created_at: now,
            updated_at: now,
        };
        apply_contract(&mut row, &draft, CONTRACT_FIELDS)?;
        validate_contract(&row)?;
        self.insert::<contract::Entity>(ctx, row).await
    }

    pub async fn get_contract(&self, ctx: &RequestContext, id: Uuid) -> AppResult<contract::Model> {
        self.fetch::<contract::Entity>(ctx, id).await
    }

    pub async fn list_contracts(
        &self,
        ctx: &RequestContext,
        filter: &ContractFilter,
        page_size: i32,
        page_token: &str,
    ) -> AppResult<Page<contract::Model>> {
        let mut condition = Condition::all();
        if let Some(organization_id) = filter.organization_id {
            condition = condition.add(contract::Column::OrganizationId.eq(organization_id));
        }
        if let Some(scope) = filter.scope_type {
            condition = condition.add(contract::Column::ScopeType.eq(scope.as_str()));
        }
        if let Some(active) = filter.active {
            condition = condition.add(contract::Column::Active.eq(active));
        }
        self.page::<contract::Entity>(ctx, condition, page_size, page_token)
            .await
    }

    /// Changes the fields named in `mask` (`*` names them all) to their values in `draft`.
    pub async fn update_contract(
        &self,
        ctx: &RequestContext,
        id: Uuid,
        draft: ContractDraft,
        mask: &[String],
    ) -> AppResult<contract::Model> {
        let fields = fieldmask::resolve(mask, CONTRACT_FIELDS, "contract")?;
        let before = self.fetch::<contract::Entity>(ctx, id).await?;
        let mut row = before.clone();
        apply_contract(&mut row, &draft, &fields)?;
        validate_contract(&row)?;
        row.updated_at = self.clock.now();
        self.replace::<contract::Entity>(ctx, &before, row).await
    }

    pub async fn delete_contract(&self, ctx: &RequestContext, id: Uuid) -> AppResult<()> {
        self.remove::<contract::Entity>(ctx, id).await
    }

    pub async fn create_assignment(
        &self,
        ctx: &RequestContext,
        draft: AssignmentDraft,
    ) -> AppResult<assignment::Model> {
        let now = self.clock.now();
        let mut row = assignment::Model {
            id: Uuid::now_v7(),
            tenant_id: ctx.tenant_id,
            organization_id: Uuid::nil(),
            pon_id: None,
            ward: None,
            step_type: String::new(),
            created_at: now,
            updated_at: now,
        };
        apply_assignment(&mut row, &draft, ASSIGNMENT_FIELDS);
        validate_assignment(&row)?;
        self.insert::<assignment::Entity>(ctx, row).await
    }

    pub async fn get_assignment(
        &self,
        ctx: &RequestContext,
        id: Uuid,
    ) -> AppResult<assignment::Model> {
        self.fetch::<assignment::Entity>(ctx, id).await
    }

    pub async fn list_assignments(
        &self,
        ctx: &RequestContext,
        filter: &AssignmentFilter,
        page_size: i32,
        page_token: &str,
    ) -> AppResult<Page<assignment::Model>> {
        let mut condition = Condition::all();
        if let Some(organization_id) = filter.organization_id {
            condition = condition.add(assignment::Column::OrganizationId.eq(organization_id));
        }
        if let Some(pon_id) = filter.pon_id {
            condition = condition.add(assignment::Column::PonId.eq(pon_id));
        }
        if let Some(ward) = &filter.ward {
            condition = condition.add(assignment::Column::Ward.eq(ward.as_str()));
        }
        if let Some(step_type) = &filter.step_type {
            condition = condition.add(assignment::Column::StepType.eq(step_type.as_str()));
        }
        self.page::<assignment::Entity>(ctx, condition, page_size, page_token)
            .await
    }

    /// Changes the fields named in `mask` (`*` names them all) to their values in `draft`.
    pub async fn update_assignment(
        &self,
        ctx: &RequestContext,
        id: Uuid,
        draft: AssignmentDraft,
        mask: &[String],
    ) -> AppResult<assignment::Model> {
        let fields = fieldmask::resolve(mask, ASSIGNMENT_FIELDS, "assignment")?;
        let before = self.fetch::<assignment::Entity>(ctx, id).await?;
        let mut row = before.clone();
        apply_assignment(&mut row, &draft, &fields);
        validate_assignment(&row)?;
        row.updated_at = self.clock.now();
        self.replace::<assignment::Entity>(ctx, &before, row).await
    }

    pub async fn delete_assignment(&self, ctx: &RequestContext, id: Uuid) -> AppResult<()> {
        self.remove::<assignment::Entity>(ctx, id).await
    }

    /// A record the caller may read, or NOT_FOUND (also for other tenants' records).
    async fn fetch<R: Resource>(&self, ctx: &RequestContext, id: Uuid) -> AppResult<R::Model> {
        let found = match readable(ctx) {
            Readable::Tenant => store::find::<R>(&self.db, ctx.tenant_id, None, id).await?,
            Readable::Organization(own) => {
                store::find::<R>(&self.db, ctx.tenant_id, Some(own), id).await?
            }
            Readable::Nothing => None,
        };
        found.ok_or_else(|| AppError::not_found(format!("{} {id} not found", R::NAME)))
    }

    async fn page<R: Resource>(
        &self,
        ctx: &RequestContext,
        filter: Condition,
        page_size: i32,
        page_token: &str,
    ) -> AppResult<Page<R::Model>> {
        let limit = paging::page_limit(page_size)?;
        let after = paging::decode_token(R::NAME, page_token)?;
        let organization = match readable(ctx) {
            Readable::Tenant => None,
            Readable::Organization(own) => Some(own),
            Readable::Nothing => return Ok((Vec::new(), None)),
        };
        let rows = store::list::<R>(
            &self.db,
            ctx.tenant_id,
            organization,
            filter,
            after,
            limit + 1,
        )
        .await?;
        Ok(paging::into_page(R::NAME, rows, limit, R::id))
    }

    /// Stores a new record and its audit entry together, after checking what it points at.
    async fn insert<R: Resource>(
        &self,
        ctx: &RequestContext,
        row: R::Model,
    ) -> AppResult<R::Model> {
        let fields = check_references::<R>(&self.db, ctx, &row).await?;
        let tx = self.db.begin().await?;
        let row = store::insert::<R>(&tx, row)
            .await
            .map_err(|err| vanished(err, &fields))?;
        record::<R>(&tx, ctx, "create", None, Some(&row), self.clock.now()).await?;
        tx.commit().await?;
        Ok(row)
    }

    /// Stores a changed record and its audit entry together, after checking what it points at.
    async fn replace<R: Resource>(
        &self,
        ctx: &RequestContext,
        before: &R::Model,
        row: R::Model,
    ) -> AppResult<R::Model> {
        let fields = check_references::<R>(&self.db, ctx, &row).await?;
        let tx = self.db.begin().await?;
        let row = store::update::<R>(&tx, before, row)
            .await
            .map_err(|err| vanished(err, &fields))?;
        record::<R>(
            &tx,
            ctx,
            "update",
            Some(before),
            Some(&row),
            self.clock.now(),
        )
        .await?;
        tx.commit().await?;
        Ok(row)
    }

    /// Deletes a record of the caller's tenant and records what it was.
    async fn remove<R: Resource>(&self, ctx: &RequestContext, id: Uuid) -> AppResult<()> {
        let before = self.fetch::<R>(ctx, id).await?;
        let tx = self.db.begin().await?;
        if !store::delete::<R>(&tx, ctx.tenant_id, id).await? {
            return Err(AppError::not_found(format!("{} {id} not found", R::NAME)));
        }
        record::<R>(&tx, ctx, "delete", Some(&before), None, self.clock.now()).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// Checks that every row `row` points at exists in the caller's tenant; another tenant's
/// row is reported exactly like a missing one. Returns the fields checked. (Outside the
/// write's transaction, so SQLite never upgrades a read to a write lock; the tenant-bound
/// foreign keys catch a row deleted in between.)
async fn check_references<R: Resource>(
    db: &impl ConnectionTrait,
    ctx: &RequestContext,
    row: &R::Model,
) -> AppResult<Vec<&'static str>> {
    let mut violations = Vec::new();
    let mut fields = Vec::new();
    for (target, field) in R::references(row) {
        let (found, what) = match target {
            Target::Organization(id) => (
                store::find::<organization::Entity>(db, ctx.tenant_id, None, id)
                    .await?
                    .is_some(),
                "organization",
            ),
            Target::Pon(id) => (store::pon_exists(db, ctx.tenant_id, id).await?, "PON"),
        };
        if !found {
            violations.push(FieldViolation {
                field: field.to_string(),
                description: format!("no such {what} in this tenant"),
            });
        }
        fields.push(field);
    }
    if violations.is_empty() {
        Ok(fields)
    } else {
        Err(AppError::InvalidArgument(violations))
    }
}

/// A foreign-key failure after the check: a referenced row was deleted in the meantime.
fn vanished(err: AppError, fields: &[&str]) -> AppError {
    match err {
        AppError::FailedPrecondition(_) => AppError::InvalidArgument(
            fields
                .iter()
                .map(|field| FieldViolation {
                    field: field.to_string(),
                    description: "may name a record that was just deleted".into(),
                })
                .collect(),
        ),
        other => other,
    }
}

async fn record<R: Resource>(
    tx: &impl ConnectionTrait,
    ctx: &RequestContext,
    action: &str,
    before: Option<&R::Model>,
    after: Option<&R::Model>,
    at: DateTime<Utc>,
) -> AppResult<()> {
    let id = before.or(after).map(R::id).unwrap_or_default();
    audit::record(
        tx,
        ctx,
        ctx.tenant_id,
        at,
        Change {
            action,
            resource_type: R::NAME,
            resource_id: id.to_string(),
            before: before.map(R::snapshot),
            after: after.map(R::snapshot),
        },
    )
    .await
}

fn duplicate_name(err: AppError, name: &str) -> AppError {
    match err {
        AppError::AlreadyExists(_) => AppError::AlreadyExists(format!(
            "an organization named `{name}` already exists in this tenant"
        )),
        other => other,
    }
}

/// `Ok` when every rule holds, else a violation `<resource>.<field>` for each broken one.
fn rules(resource: &str, rules: &[(bool, &str, &str)]) -> AppResult<()> {
    let violations: Vec<FieldViolation> = rules
        .iter()
        .filter(|(holds, _, _)| !holds)
        .map(|(_, field, description)| FieldViolation {
            field: format!("{resource}.{field}"),
            description: description.to_string(),
        })
        .collect();
    if violations.is_empty() {
        Ok(())
    } else {
        Err(AppError::InvalidArgument(violations))
    }
}

fn at_most(text: &str, limit: usize) -> bool {
    text.chars().count() <= limit
}

/// Copies the named fields of the draft onto the row (an unset type becomes empty, and fails validation).
fn apply_organization(row: &mut organization::Model, draft: &OrganizationDraft, fields: &[&str]) {
    for field in fields {
        match *field {
            "name" => row.name = draft.name.trim().to_string(),
            "type" => row.r#type = draft.kind.map_or("", OrganizationType::as_str).into(),
            other => unreachable!("field {other} is in ORGANIZATION_FIELDS but not applied"),
        }
    }
}

fn validate_organization(row: &organization::Model) -> AppResult<()> {
    rules(
        "organization",
        &[
            (!row.name.is_empty(), "name", "is required"),
            (
                at_most(&row.name, 200),
                "name",
                "must be at most 200 characters",
            ),
            (
                OrganizationType::parse(&row.r#type).is_some(),
                "type",
                "is required",
            ),
        ],
    )
}

/// Copies the named fields of the draft onto the row (unset required fields become empty or
/// the nil id, and fail validation).
fn apply_contract(
    row: &mut contract::Model,
    draft: &ContractDraft,
    fields: &[&str],
) -> AppResult<()> {
    for field in fields {
        match *field {
            "organization_id" => row.organization_id = draft.organization_id.unwrap_or_default(),
            "scope_type" => {
                row.scope_type = draft.scope_type.map_or("", OrganizationType::as_str).into()
            }
            "wards" => {
                let wards: Vec<&str> = draft.wards.iter().map(|ward| ward.trim()).collect();
                row.wards = serde_json::to_string(&wards).map_err(AppError::internal)?;
            }
            "sla_p1_min" => row.sla_p1_min = draft.sla_p1_min,
            "sla_p2_min" => row.sla_p2_min = draft.sla_p2_min,
            "sla_p3_min" => row.sla_p3_min = draft.sla_p3_min,
            "sla_p4_min" => row.sla_p4_min = draft.sla_p4_min,
            "rate_card_ref" => {
                let reference = draft.rate_card_ref.trim();
                row.rate_card_ref = (!reference.is_empty()).then(|| reference.to_string());
            }
            "active" => row.active = draft.active.unwrap_or(true),
            "valid_from" => row.valid_from = draft.valid_from,
            "valid_to" => row.valid_to = draft.valid_to,
            other => unreachable!("field {other} is in CONTRACT_FIELDS but not applied"),
        }
    }
    Ok(())
}

fn validate_contract(row: &contract::Model) -> AppResult<()> {
    let wards = row.wards();
    let sla = |minutes: Option<i32>| minutes.is_none_or(|minutes| minutes >= 1);
    rules(
        "contract",
        &[
            (
                !row.organization_id.is_nil(),
                "organization_id",
                "is required",
            ),
            (
                OrganizationType::parse(&row.scope_type).is_some(),
                "scope_type",
                "is required",
            ),
            (wards.len() <= 500, "wards", "must have at most 500 items"),
            (
                wards
                    .iter()
                    .all(|ward| !ward.is_empty() && at_most(ward, 100)),
                "wards",
                "every ward must have 1 to 100 characters",
            ),
            (sla(row.sla_p1_min), "sla_p1_min", "must be at least 1"),
            (sla(row.sla_p2_min), "sla_p2_min", "must be at least 1"),
            (sla(row.sla_p3_min), "sla_p3_min", "must be at least 1"),
            (sla(row.sla_p4_min), "sla_p4_min", "must be at least 1"),
            (
                row.rate_card_ref
                    .as_deref()
                    .is_none_or(|reference| at_most(reference, 200)),
                "rate_card_ref",
                "must be at most 200 characters",
            ),
            (
                match (row.valid_from, row.valid_to) {
                    (Some(from), Some(to)) => to >= from,
                    _ => true,
                },
                "valid_to",
                "must not be before valid_from",
            ),
        ],
    )
}

/// Copies the named fields of the draft onto the row (an unset organization becomes the nil
/// id, and fails validation).
fn apply_assignment(row: &mut assignment::Model, draft: &AssignmentDraft, fields: &[&str]) {
    for field in fields {
        match *field {
            "organization_id" => row.organization_id = draft.organization_id.unwrap_or_default(),
            "pon_id" => row.pon_id = draft.pon_id,
            "ward" => {
                let ward = draft.ward.trim();
                row.ward = (!ward.is_empty()).then(|| ward.to_string());
            }
            "step_type" => row.step_type = draft.step_type.trim().to_string(),
            other => unreachable!("field {other} is in ASSIGNMENT_FIELDS but not applied"),
        }
    }
}

fn validate_assignment(row: &assignment::Model) -> AppResult<()> {
    let steps = format!("must be one of {}", STEP_TYPES.join(", "));
    rules(
        "assignment",
        &[
            (
                !row.organization_id.is_nil(),
                "organization_id",
                "is required",
            ),
            (
                row.pon_id.is_some() || row.ward.is_some(),
                "pon_id",
                "or ward is required: provide pon_id or ward",
            ),
            (
                row.ward.as_deref().is_none_or(|ward| at_most(ward, 100)),
                "ward",
                "must be at most 100 characters",
            ),
            (
                STEP_TYPES.contains(&row.step_type.as_str()),
                "step_type",
                &steps,
            ),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contract_with(draft: ContractDraft) -> AppResult<contract::Model> {
        let now = Utc::now();
        let mut row = contract::Model {
            id: Uuid::now_v7(),
            tenant_id: Uuid::now_v7(),
            organization_id: Uuid::nil(),
            scope_type: String::new(),
            wards: "[]".into(),
            sla_p1_min: None,
            sla_p2_min: None,
            sla_p3_min: None,
            sla_p4_min: None,
            rate_card_ref: None,
            active: false,
            valid_from: None,
            valid_to: None,
            created_at: now,
            updated_at: now,
        };
        apply_contract(&mut row, &draft, CONTRACT_FIELDS)?;
        validate_contract(&row)?;
        Ok(row)
    }

    fn fields_of(err: AppError) -> Vec<String> {
        match err {
            AppError::InvalidArgument(violations) => {
                violations.into_iter().map(|v| v.field).collect()
            }
            other => panic!("expected INVALID_ARGUMENT, got {other:?}"),
        }
    }

    #[test]
    fn contracts_default_to_active_and_name_every_broken_rule() {
        let date = |text| NaiveDate::parse_from_str(text, "%Y-%m-%d").ok();
        let row = contract_with(ContractDraft {
            organization_id: Some(Uuid::now_v7()),
            scope_type: Some(OrganizationType::Maintenance),
            wards: vec![" Ward 7 ".into()],
            rate_card_ref: "  ".into(),
            ..Default::default()
        })
        .unwrap();
        assert!(row.active);
        assert_eq!(row.wards(), ["Ward 7"]);
        assert_eq!(row.rate_card_ref, None);

        let err = contract_with(ContractDraft {
            sla_p2_min: Some(0),
            valid_from: date("2026-05-01"),
            valid_to: date("2026-04-30"),
            ..Default::default()
        })
        .unwrap_err();
        assert_eq!(
            fields_of(err),
            [
                "contract.organization_id",
                "contract.scope_type",
                "contract.sla_p2_min",
                "contract.valid_to"
            ]
        );
    }

    #[test]
    fn assignments_need_a_target_and_a_known_step() {
        let now = Utc::now();
        let mut row = assignment::Model {
            id: Uuid::now_v7(),
            tenant_id: Uuid::now_v7(),
            organization_id: Uuid::nil(),
            pon_id: None,
            ward: None,
            step_type: String::new(),
            created_at: now,
            updated_at: now,
        };
        let draft = AssignmentDraft {
            organization_id: Some(Uuid::now_v7()),
            ward: "   ".into(),
            step_type: "Civil".into(),
            ..Default::default()
        };
        apply_assignment(&mut row, &draft, ASSIGNMENT_FIELDS);
        assert_eq!(
            fields_of(validate_assignment(&row).unwrap_err()),
            ["assignment.pon_id", "assignment.step_type"]
        );
        for step in ["PolePlanting", "cac_check"] {
            row.ward = Some("Ward 12".into());
            row.step_type = step.into();
            assert!(validate_assignment(&row).is_ok(), "{step}");
        }
    }
}
