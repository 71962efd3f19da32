//! Task rules: validation naming every field, references checked within the caller's tenant,
//! dependencies without cycles, the status state machine with its times and SLA, the evidence
//! gate, read scoping by role, and the audit record and PON progress in the change's transaction.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use sea_orm::sea_query::{Expr, NullOrdering, Query};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait, Order, QueryFilter,
    QueryOrder, QuerySelect, TransactionTrait,
};
use serde_json::{Value, json};
use uuid::Uuid;

use super::due;
use super::evidence::EvidenceGate;
use super::model::{self, PRIORITIES, STEPS, Status, canonical_step, default_sla_minutes};
use super::progress;
use crate::audit::{self, Change};
use crate::auth::Role;
use crate::clock::Clock;
use crate::context::RequestContext;
use crate::error::{AppError, AppResult, FieldViolation};
use crate::fieldmask;
use crate::identity::model::user;
use crate::organizations::model::{assignment, contract, organization};
use crate::organizations::store;
use crate::paging::{self, Page};
use crate::pons::model as pon;
use crate::storage::db;

/// A task as a caller sets it, already parsed into domain types.
#[derive(Clone, Debug, Default)]
pub struct TaskDraft {
    /// Required on create; a task never moves to another PON.
    pub pon_id: Option<Uuid>,
    pub title: String,
    pub description: String,
    /// Either vocabulary; see [`canonical_step`].
    pub step: String,
    /// Empty: medium.
    pub priority: String,
    pub assignee_id: Option<Uuid>,
    pub organization_id: Option<Uuid>,
    /// A day alone: due by the end of that day in the tenant's zone.
    pub due_date: Option<NaiveDate>,
    /// The instant the task is due; when set it wins over `due_date`.
    pub due_at: Option<DateTime<Utc>>,
    pub estimated_hours: Option<f64>,
    pub actual_hours: Option<f64>,
    pub notes: String,
    pub dependencies: Vec<Uuid>,
    pub evidence_required: bool,
    pub sla_minutes: Option<i32>,
}

/// The field-mask paths a task update may name (the status moves by [`TaskService::transition`]).
pub const TASK_FIELDS: &[&str] = &[
    "title",
    "description",
    "step",
    "priority",
    "assignee_id",
    "organization_id",
    "due_date",
    "due_at",
    "estimated_hours",
    "actual_hours",
    "notes",
    "dependencies",
    "evidence_required",
    "sla_minutes",
];

#[derive(Clone, Debug, Default)]
pub struct TaskFilter {
    pub pon_id: Option<Uuid>,
    pub status: Option<Status>,
    pub assignee_id: Option<Uuid>,
    pub organization_id: Option<Uuid>,
    pub step: Option<String>,
}

/// A requested status change, with the times of work when they were not "now".
#[derive(Clone, Debug)]
pub struct Transition {
    pub status: Status,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
}

const NAME: &str = "task";
const QUEUE: &str = "work-queue";

pub struct TaskService {
    db: DatabaseConnection,
    clock: Arc<dyn Clock>,
    evidence: Arc<dyn EvidenceGate>,
}

/// What [`TaskService::visibility`] answers for every role but SMME (which needs the
/// organization's assignments).
fn visibility(ctx: &RequestContext) -> Option<Condition> {
    let principal = ctx.principal.as_ref()?;
    let pons_where = |column: pon::Column, user: Uuid| {
        Query::select()
            .column(pon::Column::Id)
            .from(pon::Entity)
            .and_where(pon::Column::TenantId.eq(ctx.tenant_id))
            .and_where(column.eq(user))
            .to_owned()
    };
    match (principal.role, principal.user_id, principal.organization_id) {
        (Role::Admin | Role::Auditor | Role::Noc, _, _) => Some(Condition::all()),
        (Role::Pm, Some(user), _) => Some(
            Condition::any()
                .add(
                    model::Column::PonId
                        .in_subquery(pons_where(pon::Column::ProjectManagerId, user)),
                )
                .add(model::Column::CreatedBy.eq(user))
                .add(model::Column::AssigneeId.eq(user)),
        ),
        (Role::Site, Some(user), _) => Some(
            Condition::any()
                .add(model::Column::PonId.in_subquery(pons_where(pon::Column::SiteManagerId, user)))
                .add(model::Column::AssigneeId.eq(user)),
        ),
        _ => None,
    }
}

/// The organization an SMME caller is limited to: `Some(None)` when it has none (sees nothing).
fn smme_scope(ctx: &RequestContext) -> Option<Option<Uuid>> {
    match &ctx.principal {
        Some(principal) if principal.role == Role::Smme => Some(principal.organization_id),
        _ => None,
    }
}

impl TaskService {
    pub fn new(
        db: DatabaseConnection,
        clock: Arc<dyn Clock>,
        evidence: Arc<dyn EvidenceGate>,
    ) -> Self {
        TaskService {
            db,
            clock,
            evidence,
        }
    }

    pub async fn create(&self, ctx: &RequestContext, draft: TaskDraft) -> AppResult<model::Model> {
        let now = self.clock.now();
        let mut row = model::Model {
            id: Uuid::now_v7(),
            tenant_id: ctx.tenant_id,
            pon_id: draft.pon_id.unwrap_or_default(),
            title: String::new(),
            description: String::new(),
            step: String::new(),
            priority: String::new(),
            status: Status::Pending.as_str().into(),
            held_from: None,
            assignee_id: None,
            organization_id: None,
            created_by: ctx.user_id(),
            due_date: None,
            due_at: None,
            estimated_hours: None,
            actual_hours: None,
            notes: String::new(),
            dependencies: "[]".into(),
            evidence_required: false,
            sla_minutes: None,
            started_at: None,
            sla_due_at: None,
            completed_at: None,
            breached: false,
            sla_warning_notified_at: None,
            sla_breach_notified_at: None,
            sla_breach_counted: false,
            created_at: now,
            updated_at: now,
        };
        apply(&mut row, &draft, TASK_FIELDS)?;
        settle_due(
            &mut row,
            TASK_FIELDS,
            due::tenant_zone(&self.db, ctx.tenant_id).await?,
        );
        validate(&row)?;
        self.check_references(ctx, &row).await?;
        if !crate::pons::service::visible_to(&self.db, ctx, row.pon_id).await? {
            return Err(AppError::PermissionDenied(
                "tasks are added only to PONs the caller may see".into(),
            ));
        }
        let tx = self.db.begin().await?;
        let row = store::insert::<model::Entity>(&tx, row).await?;
        record(&tx, ctx, "create", None, Some(&row), now).await?;
        progress::recompute(&tx, ctx.tenant_id, row.pon_id, now).await?;
        tx.commit().await?;
        Ok(row)
    }

    /// A task the caller may read, or NOT_FOUND (also for other tenants' tasks).
    pub async fn get(&self, ctx: &RequestContext, id: Uuid) -> AppResult<model::Model> {
        let found = match self.visibility(ctx).await? {
            Some(visible) => {
                model::Entity::find_by_id(id)
                    .filter(model::Column::TenantId.eq(ctx.tenant_id))
                    .filter(visible)
                    .one(&self.db)
                    .await?
            }
            None => None,
        };
        found.ok_or_else(|| AppError::not_found(format!("task {id} not found")))
    }

    pub async fn list(
        &self,
        ctx: &RequestContext,
        filter: &TaskFilter,
        page_size: i32,
        page_token: &str,
    ) -> AppResult<Page<model::Model>> {
        let limit = paging::page_limit(page_size)?;
        let after = paging::decode_token(NAME, page_token)?;
        let Some(visible) = self.visibility(ctx).await? else {
            return Ok((Vec::new(), None));
        };
        let mut condition = Condition::all().add(visible);
        if let Some(pon_id) = filter.pon_id {
            condition = condition.add(model::Column::PonId.eq(pon_id));
        }
        if let Some(status) = filter.status {
            condition = condition.add(model::Column::Status.eq(status.as_str()));
        }
        if let Some(assignee_id) = filter.assignee_id {
            condition = condition.add(model::Column::AssigneeId.eq(assignee_id));
        }
        if let Some(organization_id) = filter.organization_id {
            condition = condition.add(model::Column::OrganizationId.eq(organization_id));
        }
        if let Some(step) = &filter.step {
            let step = canonical_step(step)
                .ok_or_else(|| AppError::invalid("step", format!("`{step}` {}", steps_rule())))?;
            condition = condition.add(model::Column::Step.eq(step));
        }
        let query =
            store::page_query::<model::Entity>(ctx.tenant_id, None, condition, after, limit + 1);
        let rows = db::fetch_all(&self.db, query).await?;
        Ok(paging::into_page(NAME, rows, limit, |row| row.id))
    }

    /// Every task matching `filter` that the caller may see, page by page.
    pub async fn list_all(
        &self,
        ctx: &RequestContext,
        filter: &TaskFilter,
    ) -> AppResult<Vec<model::Model>> {
        paging::collect_pages(|token| async move {
            self.list(ctx, filter, paging::MAX_PAGE_SIZE as i32, &token)
                .await
        })
        .await
    }

    /// Changes the fields named in `mask` (`*` names them all) to their values in `draft`.
    pub async fn update(
        &self,
        ctx: &RequestContext,
        id: Uuid,
        draft: TaskDraft,
        mask: &[String],
    ) -> AppResult<model::Model> {
        if mask.iter().any(|path| path == "status") {
            return Err(AppError::invalid(
                "update_mask",
                "the status changes through TransitionTask (POST /v1/tasks/{id}/transition)",
            ));
        }
        let fields = fieldmask::resolve(mask, TASK_FIELDS, NAME)?;
        let before = self.get(ctx, id).await?;
        let mut row = before.clone();
        apply(&mut row, &draft, &fields)?;
        if fields.iter().any(|field| field.starts_with("due_")) {
            settle_due(
                &mut row,
                &fields,
                due::tenant_zone(&self.db, ctx.tenant_id).await?,
            );
        }
        validate(&row)?;
        self.check_references(ctx, &row).await?;
        self.replace(ctx, "update", &before, row).await
    }

    pub async fn delete(&self, ctx: &RequestContext, id: Uuid) -> AppResult<()> {
        let before = self.get(ctx, id).await?;
        if let Some(dependent) = self
            .pon_tasks(ctx, before.pon_id)
            .await?
            .into_iter()
            .find(|task| task.dependencies().contains(&id))
        {
            return Err(AppError::FailedPrecondition(format!(
                "task {id} is a dependency of task {}; change that task first",
                dependent.id
            )));
        }
        let now = self.clock.now();
        let tx = self.db.begin().await?;
        if !store::delete::<model::Entity>(&tx, ctx.tenant_id, id).await? {
            return Err(AppError::not_found(format!("task {id} not found")));
        }
        record(&tx, ctx, "delete", Some(&before), None, now).await?;
        progress::recompute(&tx, ctx.tenant_id, before.pon_id, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Moves a task through the state machine, setting its times, SLA due time and breach.
    pub async fn transition(
        &self,
        ctx: &RequestContext,
        id: Uuid,
        change: Transition,
    ) -> AppResult<model::Model> {
        let before = self.get(ctx, id).await?;
        let now = self.clock.now();
        let from = before.status();
        let to = change.status;
        // A move to the status the task already has changes nothing (the old apps took it).
        if from == to {
            return Ok(before);
        }
        let held_from = before.held_from.as_deref().and_then(Status::parse);
        if !from.may_become(to, held_from) {
            return Err(AppError::FailedPrecondition(format!(
                "a task cannot move from `{}` to `{}`",
                from.as_str(),
                to.as_str()
            )));
        }
        check_times(&change, now)?;
        let mut row = before.clone();
        row.status = to.as_str().into();
        row.held_from = (to == Status::OnHold).then(|| from.as_str().to_string());
        if let Some(started_at) = change.started_at {
            row.started_at = Some(started_at);
        }
        match to {
            Status::InProgress => {
                self.check_dependencies(ctx, &row).await?;
                let started_at = *row.started_at.get_or_insert(now);
                if row.sla_due_at.is_none() {
                    let minutes = self.sla_minutes(ctx, &row, now).await?;
                    row.sla_due_at = Some(started_at + Duration::minutes(minutes.into()));
                }
            }
            Status::Completed => {
                if row.evidence_required {
                    self.evidence.check(ctx, &row).await?;
                }
                let completed_at = change.completed_at.unwrap_or(now);
                if row.started_at.is_some_and(|started| completed_at < started) {
                    return Err(AppError::invalid(
                        "completed_at",
                        "must not be before started_at",
                    ));
                }
                row.completed_at = Some(completed_at);
                row.breached = row.sla_due_at.is_some_and(|due| completed_at > due);
            }
            Status::Pending | Status::OnHold | Status::Cancelled => {}
        }
        self.replace(ctx, "transition", &before, row).await
    }

    /// The open tasks routed to `organization_id` through its assignments (same PON, or a PON in
    /// the assignment's ward, and the same step) and not given to another organization, by SLA
    /// due time then due date, unset last, then id; page by page.
    pub async fn work_queue(
        &self,
        ctx: &RequestContext,
        organization_id: Uuid,
        page_size: i32,
        page_token: &str,
    ) -> AppResult<Page<model::Model>> {
        let limit = paging::page_limit(page_size)?;
        let after = paging::decode_key(QUEUE, page_token)?
            .map(|key| QueueKey::parse(&key))
            .transpose()?;
        if let Some(own) = smme_scope(ctx)
            && own != Some(organization_id)
        {
            return Err(AppError::PermissionDenied(
                "SMME users see only their own organization's work queue".into(),
            ));
        }
        let tenant = ctx.tenant_id;
        let Some(routes) = self.routes(tenant, organization_id).await? else {
            // No routes: an empty queue, if the organization exists at all.
            return match store::find::<organization::Entity>(
                &self.db,
                tenant,
                None,
                organization_id,
            )
            .await?
            {
                Some(_) => Ok((Vec::new(), None)),
                None => Err(AppError::not_found(format!(
                    "organization {organization_id} not found"
                ))),
            };
        };
        let mut query = model::Entity::find()
            .filter(model::Column::TenantId.eq(tenant))
            .filter(Expr::cust(OPEN_TASKS))
            .filter(routes)
            .filter(
                Condition::any()
                    .add(model::Column::OrganizationId.is_null())
                    .add(model::Column::OrganizationId.eq(organization_id)),
            );
        if let Some(after) = after {
            query = query.filter(after.rows_after());
        }
        // `NULLS LAST` rather than `x IS NULL` keys: PostgreSQL then sorts on plain columns
        // (half the query's time at 200 routed tasks).
        let query = query
            .order_by_with_nulls(model::Column::SlaDueAt, Order::Asc, NullOrdering::Last)
            .order_by_with_nulls(model::Column::DueDate, Order::Asc, NullOrdering::Last)
            .order_by_asc(model::Column::Id)
            .limit(limit + 1);
        let rows = db::fetch_all(&self.db, query).await?;
        Ok(paging::into_keyed_page(QUEUE, rows, limit, |task| {
            QueueKey::of(task).to_string()
        }))
    }

    /// The whole work queue (every page), for the core paths that answer one array.
    pub async fn whole_work_queue(
        &self,
        ctx: &RequestContext,
        organization_id: Uuid,
    ) -> AppResult<Vec<model::Model>> {
        paging::collect_pages(|token| async move {
            self.work_queue(ctx, organization_id, paging::MAX_PAGE_SIZE as i32, &token)
                .await
        })
        .await
    }

    /// The tasks routed to an organization through its assignments: same PON, or a PON in the
    /// assignment's ward, and the same step. None when it has no assignment with a known step.
    async fn routes(&self, tenant: Uuid, organization_id: Uuid) -> AppResult<Option<Condition>> {
        let assignments = assignment::Entity::find()
            .filter(assignment::Column::TenantId.eq(tenant))
            .filter(assignment::Column::OrganizationId.eq(organization_id))
            .all(&self.db)
            .await?;
        let mut routes = Condition::any();
        let mut routed = false;
        for assignment in &assignments {
            let Some(step) = canonical_step(&assignment.step_type) else {
                continue;
            };
            let mut places = Condition::any();
            if let Some(pon_id) = assignment.pon_id {
                places = places.add(model::Column::PonId.eq(pon_id));
            }
            if let Some(ward) = &assignment.ward {
                let ward_pons = Query::select()
                    .column(pon::Column::Id)
                    .from(pon::Entity)
                    .and_where(pon::Column::TenantId.eq(tenant))
                    .and_where(pon::Column::Ward.eq(ward.as_str()))
                    .to_owned();
                places = places.add(model::Column::PonId.in_subquery(ward_pons));
            }
            routed = true;
            routes = routes.add(
                Condition::all()
                    .add(model::Column::Step.eq(step))
                    .add(places),
            );
        }
        Ok(routed.then_some(routes))
    }

    /// The tasks of its tenant a caller may see (None: none). ADMIN, AUDITOR and NOC (who watch
    /// the build-out read-only) see all; a PM those of the PONs they manage and those they
    /// created or are assigned; a site manager those of the PONs they run and those assigned to
    /// them; an SMME user those of its organization and those routed to it and to nobody else.
    async fn visibility(&self, ctx: &RequestContext) -> AppResult<Option<Condition>> {
        if let Some(Some(organization)) = smme_scope(ctx) {
            let own = model::Column::OrganizationId.eq(organization);
            let visible = match self.routes(ctx.tenant_id, organization).await? {
                Some(routes) => Condition::any().add(own).add(
                    Condition::all()
                        .add(model::Column::OrganizationId.is_null())
                        .add(routes),
                ),
                None => Condition::all().add(own),
            };
            return Ok(Some(visible));
        }
        Ok(visibility(ctx))
    }

    /// Recomputes the progress of a PON the caller may see (the legacy `PUT /pons/:id/progress`);
    /// task changes do it by themselves.
    pub async fn recompute_progress(&self, ctx: &RequestContext, pon_id: Uuid) -> AppResult<()> {
        if !crate::pons::service::visible_to(&self.db, ctx, pon_id).await? {
            return Err(AppError::not_found(format!("PON {pon_id} not found")));
        }
        let tx = self.db.begin().await?;
        progress::recompute(&tx, ctx.tenant_id, pon_id, self.clock.now()).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Stores a changed task, its audit entry and its PON's progress together.
    async fn replace(
        &self,
        ctx: &RequestContext,
        action: &str,
        before: &model::Model,
        mut row: model::Model,
    ) -> AppResult<model::Model> {
        let now = self.clock.now();
        row.updated_at = now;
        let tx = self.db.begin().await?;
        let row = store::update::<model::Entity>(&tx, before, row).await?;
        record(&tx, ctx, action, Some(before), Some(&row), now).await?;
        progress::recompute(&tx, ctx.tenant_id, row.pon_id, now).await?;
        tx.commit().await?;
        Ok(row)
    }

    async fn pon_tasks(&self, ctx: &RequestContext, pon_id: Uuid) -> AppResult<Vec<model::Model>> {
        Ok(model::Entity::find()
            .filter(model::Column::TenantId.eq(ctx.tenant_id))
            .filter(model::Column::PonId.eq(pon_id))
            .all(&self.db)
            .await?)
    }

    /// Refuses to start a task whose dependencies are not all completed.
    async fn check_dependencies(&self, ctx: &RequestContext, row: &model::Model) -> AppResult<()> {
        let dependencies = row.dependencies();
        if dependencies.is_empty() {
            return Ok(());
        }
        let open: Vec<String> = self
            .pon_tasks(ctx, row.pon_id)
            .await?
            .into_iter()
            .filter(|task| dependencies.contains(&task.id) && task.status() != Status::Completed)
            .map(|task| format!("{} ({})", task.id, task.status))
            .collect();
        if open.is_empty() {
            Ok(())
        } else {
            Err(AppError::FailedPrecondition(format!(
                "the task cannot start before its dependencies are completed: {}",
                open.join(", ")
            )))
        }
    }

    /// The task's own SLA, else its organization's active contract for its priority, else the
    /// step's default.
    async fn sla_minutes(
        &self,
        ctx: &RequestContext,
        row: &model::Model,
        now: DateTime<Utc>,
    ) -> AppResult<i32> {
        if let Some(minutes) = row.sla_minutes {
            return Ok(minutes);
        }
        if let Some(organization_id) = row.organization_id {
            let today = now.date_naive();
            let contracts = contract::Entity::find()
                .filter(contract::Column::TenantId.eq(ctx.tenant_id))
                .filter(contract::Column::OrganizationId.eq(organization_id))
                .filter(contract::Column::Active.eq(true))
                .order_by_asc(contract::Column::Id)
                .all(&self.db)
                .await?;
            let minutes = contracts
                .iter()
                .filter(|c| c.valid_from.is_none_or(|from| from <= today))
                .filter(|c| c.valid_to.is_none_or(|to| today <= to))
                .find_map(|c| match row.priority.as_str() {
                    "critical" => c.sla_p1_min,
                    "high" => c.sla_p2_min,
                    "medium" => c.sla_p3_min,
                    _ => c.sla_p4_min,
                });
            if let Some(minutes) = minutes {
                return Ok(minutes);
            }
        }
        Ok(default_sla_minutes(&row.step))
    }

    /// Checks that the PON, assignee, organization and dependencies exist in the caller's
    /// tenant (another tenant's row is reported exactly like a missing one), that dependencies
    /// are tasks of the same PON, and that they form no cycle.
    async fn check_references(&self, ctx: &RequestContext, row: &model::Model) -> AppResult<()> {
        let tenant = ctx.tenant_id;
        let mut violations = Vec::new();
        let mut missing = |field: &str, what: &str| {
            violations.push(FieldViolation {
                field: format!("task.{field}"),
                description: format!("no such {what} in this tenant"),
            })
        };
        if !store::pon_exists(&self.db, tenant, row.pon_id).await? {
            missing("pon_id", "PON");
        }
        if let Some(assignee) = row.assignee_id {
            let found = user::Entity::find_by_id(assignee)
                .filter(user::Column::TenantId.eq(tenant))
                .one(&self.db)
                .await?;
            if found.is_none() {
                missing("assignee_id", "user");
            }
        }
        if let Some(organization_id) = row.organization_id
            && store::find::<organization::Entity>(&self.db, tenant, None, organization_id)
                .await?
                .is_none()
        {
            missing("organization_id", "organization");
        }
        if !violations.is_empty() {
            return Err(AppError::InvalidArgument(violations));
        }
        let dependencies = row.dependencies();
        if dependencies.is_empty() {
            return Ok(());
        }
        let siblings: HashMap<Uuid, Vec<Uuid>> = self
            .pon_tasks(ctx, row.pon_id)
            .await?
            .into_iter()
            .map(|task| (task.id, task.dependencies()))
            .collect();
        if let Some(stranger) = dependencies.iter().find(|id| !siblings.contains_key(id)) {
            return Err(AppError::invalid(
                "task.dependencies",
                format!("{stranger} is not a task of the same PON"),
            ));
        }
        if reaches(&siblings, &dependencies, row.id) {
            return Err(AppError::invalid(
                "task.dependencies",
                "would make a cycle: the task would depend on itself",
            ));
        }
        Ok(())
    }
}

/// The work queue's statuses, spelled as the predicate of its partial index
/// `ix_tasks_open_queue` (literals, not bound values, so PostgreSQL matches the index in the
/// generic plans of prepared statements too).
const OPEN_TASKS: &str = "status IN ('pending', 'in_progress', 'on_hold')";

/// Where a work-queue page ends: the sort key of its last task (`sla_due_at|due_date|id`, `-`
/// for unset), so the next page starts after it however the queue changed meanwhile.
struct QueueKey {
    sla_due_at: Option<DateTime<Utc>>,
    due_date: Option<NaiveDate>,
    id: Uuid,
}

impl QueueKey {
    fn of(task: &model::Model) -> Self {
        QueueKey {
            sla_due_at: task.sla_due_at,
            due_date: task.due_date,
            id: task.id,
        }
    }

    fn parse(text: &str) -> AppResult<Self> {
        let mut parts = text.split('|');
        let (Some(sla_due_at), Some(due_date), Some(id), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(paging::invalid_token());
        };
        let unset_or = |part: &str| (part != "-").then_some(part.to_string());
        Ok(QueueKey {
            sla_due_at: unset_or(sla_due_at)
                .map(|at| DateTime::parse_from_rfc3339(&at).map(|at| at.to_utc()))
                .transpose()
                .map_err(|_| paging::invalid_token())?,
            due_date: unset_or(due_date)
                .map(|date| date.parse::<NaiveDate>())
                .transpose()
                .map_err(|_| paging::invalid_token())?,
            id: Uuid::parse_str(id).map_err(|_| paging::invalid_token())?,
        })
    }

    /// The tasks after this key in queue order (each column ascending, unset last).
    fn rows_after(&self) -> Condition {
        let after_id = Condition::all().add(model::Column::Id.gt(self.id));
        let after_due = after_nullable(model::Column::DueDate, self.due_date, after_id);
        after_nullable(model::Column::SlaDueAt, self.sla_due_at, after_due)
    }
}

impl std::fmt::Display for QueueKey {
    fn fmt(&self, out: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sla_due_at = self.sla_due_at.map_or("-".into(), |at| {
            at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
        });
        let due_date = self.due_date.map_or("-".into(), |date| date.to_string());
        write!(out, "{sla_due_at}|{due_date}|{}", self.id)
    }
}

/// Rows after `value` of `column` in ascending order with unset values last; `tie` decides among
/// rows with the same value.
fn after_nullable<V>(column: model::Column, value: Option<V>, tie: Condition) -> Condition
where
    V: Into<sea_orm::Value> + Clone,
{
    match value {
        Some(value) => Condition::any()
            .add(column.gt(value.clone()))
            .add(column.is_null())
            .add(Condition::all().add(column.eq(value)).add(tie)),
        None => Condition::all().add(column.is_null()).add(tie),
    }
}

/// Whether following dependencies from `start` in `graph` reaches `target`.
fn reaches(graph: &HashMap<Uuid, Vec<Uuid>>, start: &[Uuid], target: Uuid) -> bool {
    let mut seen = HashSet::new();
    let mut stack = start.to_vec();
    while let Some(id) = stack.pop() {
        if id == target {
            return true;
        }
        if seen.insert(id) {
            stack.extend(graph.get(&id).into_iter().flatten());
        }
    }
    false
}

/// Explicit work times: not in the future, and only with the status they belong to.
fn check_times(change: &Transition, now: DateTime<Utc>) -> AppResult<()> {
    let mut violations = Vec::new();
    let mut bad = |field: &str, description: &str| {
        violations.push(FieldViolation {
            field: field.into(),
            description: description.into(),
        })
    };
    let starting = matches!(change.status, Status::InProgress | Status::Completed);
    if let Some(started_at) = change.started_at {
        if !starting {
            bad("started_at", "only with status in_progress or completed");
        } else if started_at > now {
            bad("started_at", "must not be in the future");
        }
    }
    if let Some(completed_at) = change.completed_at {
        if change.status != Status::Completed {
            bad("completed_at", "only with status completed");
        } else if completed_at > now {
            bad("completed_at", "must not be in the future");
        }
    }
    if let (Some(started), Some(completed)) = (change.started_at, change.completed_at)
        && completed < started
    {
        bad("completed_at", "must not be before started_at");
    }
    if violations.is_empty() {
        Ok(())
    } else {
        Err(AppError::InvalidArgument(violations))
    }
}

fn snapshot(row: &model::Model) -> Value {
    json!({
        "id": row.id,
        "pon_id": row.pon_id,
        "title": row.title,
        "step": row.step,
        "priority": row.priority,
        "status": row.status,
        "assignee_id": row.assignee_id,
        "organization_id": row.organization_id,
        "due_date": row.due_date,
        "due_at": row.due_at,
        "estimated_hours": row.estimated_hours,
        "actual_hours": row.actual_hours,
        "dependencies": row.dependencies(),
        "evidence_required": row.evidence_required,
        "sla_minutes": row.sla_minutes,
        "started_at": row.started_at,
        "sla_due_at": row.sla_due_at,
        "completed_at": row.completed_at,
        "breached": row.breached,
    })
}

async fn record(
    tx: &impl ConnectionTrait,
    ctx: &RequestContext,
    action: &str,
    before: Option<&model::Model>,
    after: Option<&model::Model>,
    at: DateTime<Utc>,
) -> AppResult<()> {
    let id = before.or(after).map(|row| row.id).unwrap_or_default();
    audit::record(
        tx,
        ctx,
        ctx.tenant_id,
        at,
        Change {
            action,
            resource_type: NAME,
            resource_id: id.to_string(),
            before: before.map(snapshot),
            after: after.map(snapshot),
        },
    )
    .await
}

fn steps_rule() -> String {
    format!(
        "is not a step: use one of {}, cac_check, stringing",
        STEPS.join(", ")
    )
}

/// Copies the named fields of the draft onto the row (an unknown step stays as given, and
/// fails validation).
fn apply(row: &mut model::Model, draft: &TaskDraft, fields: &[&str]) -> AppResult<()> {
    for field in fields {
        match *field {
            "title" => row.title = draft.title.trim().to_string(),
            "description" => row.description = draft.description.trim().to_string(),
            "step" => {
                row.step = canonical_step(&draft.step)
                    .map_or_else(|| draft.step.trim().to_string(), str::to_string)
            }
            "priority" => {
                let priority = draft.priority.trim();
                row.priority = if priority.is_empty() {
                    "medium"
                } else {
                    priority
                }
                .into();
            }
            "assignee_id" => row.assignee_id = draft.assignee_id,
            "organization_id" => row.organization_id = draft.organization_id,
            "due_date" => row.due_date = draft.due_date,
            "due_at" => row.due_at = draft.due_at,
            "estimated_hours" => row.estimated_hours = draft.estimated_hours,
            "actual_hours" => row.actual_hours = draft.actual_hours,
            "notes" => row.notes = draft.notes.trim().to_string(),
            "dependencies" => {
                row.dependencies =
                    serde_json::to_string(&draft.dependencies).map_err(AppError::internal)?
            }
            "evidence_required" => row.evidence_required = draft.evidence_required,
            "sla_minutes" => row.sla_minutes = draft.sla_minutes,
            other => unreachable!("field {other} is in TASK_FIELDS but not applied"),
        }
    }
    Ok(())
}

/// Makes the two forms of the due time agree after `fields` were applied: a due instant sets
/// the day, a day alone sets the instant to the end of that day in `zone`.
fn settle_due(row: &mut model::Model, fields: &[&str], zone: chrono_tz::Tz) {
    let names = |name: &str| fields.contains(&name);
    if names("due_at") && (row.due_at.is_some() || !names("due_date")) {
        row.due_date = row.due_at.map(|at| due::day_of(at, zone));
    } else if names("due_date") {
        row.due_at = row.due_date.and_then(|day| due::end_of_day(day, zone));
    }
}

fn validate(row: &model::Model) -> AppResult<()> {
    let hours = |value: Option<f64>| value.is_none_or(|hours| hours.is_finite() && hours >= 0.0);
    let dependencies = row.dependencies();
    let distinct: HashSet<&Uuid> = dependencies.iter().collect();
    let rules: [(bool, &str, String); 9] = [
        (!row.pon_id.is_nil(), "pon_id", "is required".into()),
        (!row.title.is_empty(), "title", "is required".into()),
        (
            row.title.chars().count() <= 200,
            "title",
            "must be at most 200 characters".into(),
        ),
        (
            STEPS.contains(&row.step.as_str()),
            "step",
            format!("`{}` {}", row.step, steps_rule()),
        ),
        (
            PRIORITIES.contains(&row.priority.as_str()),
            "priority",
            format!("must be one of {}", PRIORITIES.join(", ")),
        ),
        (
            hours(row.estimated_hours),
            "estimated_hours",
            "must be a number of at least 0".into(),
        ),
        (
            hours(row.actual_hours),
            "actual_hours",
            "must be a number of at least 0".into(),
        ),
        (
            row.sla_minutes.is_none_or(|minutes| minutes >= 1),
            "sla_minutes",
            "must be at least 1".into(),
        ),
        (
            distinct.len() == dependencies.len() && !distinct.contains(&row.id),
            "dependencies",
            "must not repeat a task or name the task itself".into(),
        ),
    ];
    let violations: Vec<FieldViolation> = rules
        .into_iter()
        .filter(|(holds, _, _)| !holds)
        .map(|(_, field, description)| FieldViolation {
            field: format!("task.{field}"),
            description,
        })
        .collect();
    if violations.is_empty() {
        Ok(())
    } else {
        Err(AppError::InvalidArgument(violations))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_queue_predicate_names_exactly_the_open_statuses() {
        let named: Vec<&str> = OPEN_TASKS.split('\'').skip(1).step_by(2).collect();
        assert_eq!(named, Status::OPEN.map(Status::as_str));
    }

    #[test]
    fn cycles_are_found_through_the_chain() {
        let [a, b, c] = [Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7()];
        let graph = HashMap::from([(a, vec![]), (b, vec![a]), (c, vec![b])]);
        assert!(reaches(&graph, &[c], a), "a → c → b → a");
        assert!(!reaches(&graph, &[a], c));
    }

    #[test]
    fn explicit_times_are_checked() {
        let now = Utc::now();
        let change = |status, started_at, completed_at| Transition {
            status,
            started_at,
            completed_at,
        };
        assert!(check_times(&change(Status::InProgress, Some(now), None), now).is_ok());
        let fields = |result: AppResult<()>| match result.unwrap_err() {
            AppError::InvalidArgument(v) => v.into_iter().map(|v| v.field).collect::<Vec<_>>(),
            other => panic!("{other:?}"),
        };
        let later = now + Duration::hours(1);
        assert_eq!(
            fields(check_times(
                &change(Status::InProgress, Some(later), None),
                now
            )),
            ["started_at"]
        );
        assert_eq!(
            fields(check_times(
                &change(Status::Completed, Some(now), Some(now - Duration::hours(1))),
                now
            )),
            ["completed_at"]
        );
        assert_eq!(
            fields(check_times(
                &change(Status::Cancelled, None, Some(now)),
                now
            )),
            ["completed_at"]
        );
    }
}
