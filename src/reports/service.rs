//! Report rules: which PONs and tasks a caller's reports cover (the role scoping of the PON
//! and task services), the dashboard counts, the orders, and the CSV export of PONs.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

use super::csv::{field, quoted};
use crate::clock::Clock;
use crate::context::RequestContext;
use crate::error::AppResult;
use crate::identity::IdentityService;
use crate::identity::model::user;
use crate::pons::PonService;
use crate::pons::model::{self as pon, PonStatus};
use crate::pons::service::PonFilter;
use crate::tasks::TaskService;
use crate::tasks::model::{self as task, Status};
use crate::tasks::service::TaskFilter;

/// The header of the PON export, as the old one wrote it.
pub const PON_CSV_HEADER: &str = "PON ID,Name,Location,Status,Progress,Project Manager,Site Manager,Start Date,Expected End Date,Actual End Date";
pub const PON_CSV_FILENAME: &str = "pons_report.csv";

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PonCounts {
    pub total: i64,
    pub completed: i64,
    pub in_progress: i64,
    /// Everything else: planned, testing and maintenance.
    pub planned: i64,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TaskCounts {
    pub total: i64,
    pub completed: i64,
    pub pending: i64,
    /// Not completed and past their due time.
    pub overdue: i64,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Dashboard {
    pub pons: PonCounts,
    pub tasks: TaskCounts,
}

/// Users by id, to name managers, assignees and creators.
pub type Users = HashMap<Uuid, user::Model>;

pub struct ReportService {
    pons: Arc<PonService>,
    tasks: Arc<TaskService>,
    identity: Arc<IdentityService>,
    clock: Arc<dyn Clock>,
}

/// Newest first (ties by id, newest first).
pub fn newest_first(pons: &mut [pon::Model]) {
    pons.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
}

impl ReportService {
    pub fn new(
        pons: Arc<PonService>,
        tasks: Arc<TaskService>,
        identity: Arc<IdentityService>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        ReportService {
            pons,
            tasks,
            identity,
            clock,
        }
    }

    /// The PONs the caller may see, newest first.
    pub async fn pons(&self, ctx: &RequestContext) -> AppResult<Vec<pon::Model>> {
        let mut pons = self.pons.list_all(ctx, &PonFilter::default()).await?;
        newest_first(&mut pons);
        Ok(pons)
    }

    /// The tasks the caller may see, by due date (unset first, as the old API sorted).
    pub async fn tasks(&self, ctx: &RequestContext) -> AppResult<Vec<task::Model>> {
        let mut tasks = self.tasks.list_all(ctx, &TaskFilter::default()).await?;
        tasks.sort_by_key(|task| (task.due_at, task.id));
        Ok(tasks)
    }

    /// The tenant's users named by `ids`.
    pub async fn users(
        &self,
        ctx: &RequestContext,
        ids: impl IntoIterator<Item = Option<Uuid>>,
    ) -> AppResult<Users> {
        let mut ids: Vec<Uuid> = ids.into_iter().flatten().collect();
        ids.sort();
        ids.dedup();
        self.identity.users_named(ctx, &ids).await
    }

    /// The PONs of these tasks, by id.
    pub async fn pons_of(
        &self,
        ctx: &RequestContext,
        tasks: &[task::Model],
    ) -> AppResult<HashMap<Uuid, pon::Model>> {
        let mut ids: Vec<Uuid> = tasks.iter().map(|task| task.pon_id).collect();
        ids.sort();
        ids.dedup();
        self.pons.named(ctx, &ids).await
    }

    pub async fn dashboard(&self, ctx: &RequestContext) -> AppResult<Dashboard> {
        let pons = self.pons.list_all(ctx, &PonFilter::default()).await?;
        let tasks = self.tasks.list_all(ctx, &TaskFilter::default()).await?;
        Ok(Dashboard {
            pons: pon_counts(&pons),
            tasks: task_counts(&tasks, self.clock.now()),
        })
    }

    /// The caller's PONs as CSV: the old header and columns, fields quoted per RFC 4180 (names,
    /// locations and managers always in quotes, as before), lines joined by LF.
    pub async fn pon_csv(&self, ctx: &RequestContext) -> AppResult<String> {
        let mut pons = self.pons.list_all(ctx, &PonFilter::default()).await?;
        pons.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
        let users = self
            .users(
                ctx,
                pons.iter()
                    .flat_map(|pon| [pon.project_manager_id, pon.site_manager_id]),
            )
            .await?;
        Ok(pon_csv(&pons, &users))
    }
}

fn pon_counts(pons: &[pon::Model]) -> PonCounts {
    let count = |status: PonStatus| pons.iter().filter(|p| p.status() == status).count() as i64;
    let total = pons.len() as i64;
    let completed = count(PonStatus::Completed);
    let in_progress = count(PonStatus::InProgress);
    PonCounts {
        total,
        completed,
        in_progress,
        planned: total - completed - in_progress,
    }
}

fn task_counts(tasks: &[task::Model], now: DateTime<Utc>) -> TaskCounts {
    let count = |status: Status| tasks.iter().filter(|t| t.status() == status).count() as i64;
    TaskCounts {
        total: tasks.len() as i64,
        completed: count(Status::Completed),
        pending: count(Status::Pending),
        overdue: tasks
            .iter()
            .filter(|t| t.status() != Status::Completed && t.due_at.is_some_and(|due| due < now))
            .count() as i64,
    }
}

fn pon_csv(pons: &[pon::Model], users: &Users) -> String {
    let name = |id: Option<Uuid>| {
        quoted(
            id.and_then(|id| users.get(&id))
                .map_or("", |user| user.name.as_str()),
        )
    };
    let day = |day: Option<NaiveDate>| day.map(|d| d.format("%Y-%m-%d").to_string());
    let mut lines = vec![PON_CSV_HEADER.to_string()];
    for pon in pons {
        lines.push(
            [
                field(&pon.pon_code),
                quoted(&pon.name),
                quoted(&pon.location),
                field(&pon.status),
                format!("{}%", pon.progress),
                name(pon.project_manager_id),
                name(pon.site_manager_id),
                day(pon.start_date).unwrap_or_default(),
                day(pon.expected_end_date).unwrap_or_default(),
                day(pon.actual_end_date).unwrap_or_default(),
            ]
            .join(","),
        );
    }
    lines.join("\n")
}
