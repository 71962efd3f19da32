//! SLA scan: marks overdue open tasks breached, counts every breach (also one decided at
//! completion) once on its PON, and sends the legacy warning and breach mails (legacy-api §5)
//! at most once each per task.
//!
//! A task's SLA target is its `sla_due_at`; a task without one (work not started) falls back
//! to its due date, which lasts until the end of that day in the tenant's time zone.

use std::collections::{HashMap, HashSet};
use std::hash::Hash;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, Condition, DatabaseConnection, EntityTrait, QueryFilter, TransactionTrait,
};
use uuid::Uuid;

use crate::identity::model::{tenant, user};
use crate::pons::model as pon;
use crate::storage::Storage;
use crate::storage::cache::Cache;
use crate::storage::mail::{Mail, Mailer};
use crate::tasks::due::end_of_day;
use crate::tasks::model::{self as task, Status};

/// The cache lock that lets one replica scan at a time.
pub const LOCK_KEY: &str = "jobs:sla-scan";
/// Longest a crashed scan can keep the others out.
const LOCK_TTL: Duration = Duration::from_secs(300);
pub use crate::tasks::due::DEFAULT_TIME_ZONE;

/// What one scan did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ScanReport {
    /// False when another scan held the lock and this one did nothing.
    pub ran: bool,
    /// Breaches newly counted on their PONs.
    pub breached: usize,
    /// Warning notices recorded (mailed, or due with nobody to mail).
    pub warned: usize,
    /// Breach notices recorded (mailed, or due with nobody to mail).
    pub breach_notified: usize,
}

/// The SLA scan and the ports it works through.
#[derive(Clone)]
pub struct SlaScan {
    db: DatabaseConnection,
    cache: Arc<dyn Cache>,
    mailer: Arc<dyn Mailer>,
    warn_before: chrono::Duration,
}

#[derive(Clone, Copy)]
enum Notice {
    Warning,
    Breach,
}

/// What a mail says about a task's PON and its people.
struct Lookups {
    zones: HashMap<Uuid, Tz>,
    pons: HashMap<Uuid, (String, String)>,
    emails: HashMap<Uuid, String>,
}

impl SlaScan {
    pub fn new(storage: &Storage, warn_before_minutes: u32) -> Self {
        SlaScan {
            db: storage.db.clone(),
            cache: storage.cache.clone(),
            mailer: storage.mailer.clone(),
            warn_before: chrono::Duration::minutes(warn_before_minutes.into()),
        }
    }

    /// One scan as of `now`, unless another is running (then `ran` is false).
    pub async fn run(&self, now: DateTime<Utc>) -> anyhow::Result<ScanReport> {
        if !self.cache.try_lock(LOCK_KEY, LOCK_TTL).await? {
            return Ok(ScanReport::default());
        }
        let result = self.scan(now).await;
        if let Err(error) = self.cache.unlock(LOCK_KEY).await {
            tracing::warn!(error = format!("{error:#}"), "SLA scan lock not released");
        }
        result
    }

    async fn scan(&self, now: DateTime<Utc>) -> anyhow::Result<ScanReport> {
        let open = Status::OPEN.map(Status::as_str);
        // Only targets inside the warning window or past.
        let horizon = now + self.warn_before;
        let near = Condition::any()
            .add(task::Column::SlaDueAt.lte(horizon))
            .add(
                Condition::all()
                    .add(task::Column::SlaDueAt.is_null())
                    .add(task::Column::DueAt.lte(horizon)),
            );
        let open_with_work_left = Condition::all()
            .add(task::Column::Status.is_in(open))
            .add(near)
            .add(
                Condition::any()
                    .add(task::Column::SlaBreachCounted.eq(false))
                    .add(task::Column::SlaBreachNotifiedAt.is_null()),
            );
        let breach_not_counted = Condition::all()
            .add(task::Column::Breached.eq(true))
            .add(task::Column::SlaBreachCounted.eq(false));
        let tasks = task::Entity::find()
            .filter(
                Condition::any()
                    .add(open_with_work_left)
                    .add(breach_not_counted),
            )
            .all(&self.db)
            .await?;
        let lookups = self.lookups(&tasks).await?;
        let mut report = ScanReport {
            ran: true,
            ..ScanReport::default()
        };
        for task in &tasks {
            if !open.contains(&task.status.as_str()) {
                // Breached at completion: counted, never mailed.
                if self.count_breach(task).await? {
                    report.breached += 1;
                }
                continue;
            }
            let zone = lookups
                .zones
                .get(&task.tenant_id)
                .copied()
                .unwrap_or(DEFAULT_TIME_ZONE);
            let Some(target) = target_of(task, zone) else {
                continue;
            };
            if now > target {
                if !task.sla_breach_counted && self.count_breach(task).await? {
                    report.breached += 1;
                }
                if task.sla_breach_notified_at.is_none()
                    && self
                        .notify(Notice::Breach, task, target, zone, &lookups, now)
                        .await?
                {
                    report.breach_notified += 1;
                }
            } else if now < target
                && now >= target - self.warn_before
                && task.sla_warning_notified_at.is_none()
                && task.sla_breach_notified_at.is_none()
                && self
                    .notify(Notice::Warning, task, target, zone, &lookups, now)
                    .await?
            {
                report.warned += 1;
            }
        }
        Ok(report)
    }

    async fn lookups(&self, tasks: &[task::Model]) -> anyhow::Result<Lookups> {
        let tenant_ids: Vec<Uuid> = tasks.iter().map(|task| task.tenant_id).collect();
        let pon_ids: Vec<Uuid> = tasks.iter().map(|task| task.pon_id).collect();
        let user_ids: Vec<Uuid> = tasks
            .iter()
            .flat_map(|task| [task.assignee_id, task.created_by])
            .flatten()
            .collect();
        let zones = tenant::Entity::find()
            .filter(tenant::Column::Id.is_in(dedup(tenant_ids)))
            .all(&self.db)
            .await?
            .into_iter()
            .map(|tenant| {
                let zone = tenant.time_zone.parse().unwrap_or(DEFAULT_TIME_ZONE);
                (tenant.id, zone)
            })
            .collect();
        let pons = pon::Entity::find()
            .filter(pon::Column::Id.is_in(dedup(pon_ids)))
            .all(&self.db)
            .await?
            .into_iter()
            .map(|pon| (pon.id, (pon.pon_code, pon.name)))
            .collect();
        let emails = user::Entity::find()
            .filter(user::Column::Id.is_in(dedup(user_ids)))
            .all(&self.db)
            .await?
            .into_iter()
            .map(|user| (user.id, user.email))
            .collect();
        Ok(Lookups {
            zones,
            pons,
            emails,
        })
    }

    /// Marks the task breached and counts it on its PON in one transaction; only the run that
    /// flips `sla_breach_counted` counts, so a breach is counted once however often scans run.
    async fn count_breach(&self, task: &task::Model) -> anyhow::Result<bool> {
        let tx = self.db.begin().await?;
        let flipped = task::Entity::update_many()
            .col_expr(task::Column::Breached, Expr::value(true))
            .col_expr(task::Column::SlaBreachCounted, Expr::value(true))
            .filter(task::Column::Id.eq(task.id))
            .filter(task::Column::SlaBreachCounted.eq(false))
            .exec(&tx)
            .await?
            .rows_affected
            == 1;
        if flipped {
            pon::Entity::update_many()
                .col_expr(
                    pon::Column::SlaBreaches,
                    Expr::col(pon::Column::SlaBreaches).add(1),
                )
                .filter(pon::Column::Id.eq(task.pon_id))
                .exec(&tx)
                .await?;
        }
        tx.commit().await?;
        Ok(flipped)
    }

    /// Mails the notice to the assignee and the creator, then records it (also when there is
    /// nobody to mail). A failed send is logged and left unrecorded, so the next scan retries.
    async fn notify(
        &self,
        notice: Notice,
        task: &task::Model,
        target: DateTime<Utc>,
        zone: Tz,
        lookups: &Lookups,
        now: DateTime<Utc>,
    ) -> anyhow::Result<bool> {
        let mail = compose(notice, task, target, zone, lookups);
        if !mail.to.is_empty()
            && let Err(error) = self.mailer.send(&mail).await
        {
            tracing::warn!(task = %task.id, error = format!("{error:#}"), "SLA mail not sent");
            return Ok(false);
        }
        let column = match notice {
            Notice::Warning => task::Column::SlaWarningNotifiedAt,
            Notice::Breach => task::Column::SlaBreachNotifiedAt,
        };
        task::Entity::update_many()
            .col_expr(column, Expr::value(now))
            .filter(task::Column::Id.eq(task.id))
            .filter(column.is_null())
            .exec(&self.db)
            .await?;
        Ok(true)
    }
}

/// When the task's SLA runs out: its SLA due time, else its due time (a row stored before due
/// times were kept: the end of its due date in `zone`).
fn target_of(task: &task::Model, zone: Tz) -> Option<DateTime<Utc>> {
    task.sla_due_at
        .or(task.due_at)
        .or_else(|| end_of_day(task.due_date?, zone))
}

/// The legacy mail: subject, four lines and a trailing newline, the due time in `zone`.
fn compose(
    notice: Notice,
    task: &task::Model,
    target: DateTime<Utc>,
    zone: Tz,
    lookups: &Lookups,
) -> Mail {
    let title = &task.title;
    let (subject, headline) = match notice {
        Notice::Warning => (
            format!("[SLA Warning] Task {title} due soon"),
            format!("Task \"{title}\" is approaching its SLA."),
        ),
        Notice::Breach => (
            format!("[SLA Breached] Task {title} overdue"),
            format!("Task \"{title}\" has BREACHED its SLA."),
        ),
    };
    let (code, name) = lookups
        .pons
        .get(&task.pon_id)
        .map(|(code, name)| (code.as_str(), name.as_str()))
        .unwrap_or_default();
    let due = target.with_timezone(&zone).format("%Y-%m-%d %H:%M");
    let to = [task.assignee_id, task.created_by]
        .into_iter()
        .flatten()
        .filter_map(|id| lookups.emails.get(&id))
        .filter(|email| !email.trim().is_empty())
        .cloned();
    Mail {
        to: dedup(to.collect()),
        subject,
        body: format!(
            "{headline}\nStatus: {}\nDue: {due}\nPON: {code} {name}\n",
            task.status
        ),
    }
}

/// The values in first-seen order, each once.
fn dedup<T: Eq + Hash + Clone>(values: Vec<T>) -> Vec<T> {
    let mut seen = HashSet::with_capacity(values.len());
    values
        .into_iter()
        .filter(|value| seen.insert(value.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use chrono::{NaiveDate, TimeZone};

    use super::*;

    fn task(sla_due_at: Option<DateTime<Utc>>, due_date: Option<NaiveDate>) -> task::Model {
        let now = Utc::now();
        let creator = Uuid::now_v7();
        task::Model {
            id: Uuid::now_v7(),
            tenant_id: Uuid::now_v7(),
            pon_id: Uuid::now_v7(),
            title: "Splice box 7".into(),
            description: String::new(),
            step: "Stringing".into(),
            priority: "high".into(),
            status: "in_progress".into(),
            held_from: None,
            assignee_id: Some(creator),
            organization_id: None,
            created_by: Some(creator),
            due_date,
            due_at: due_date.and_then(|day| end_of_day(day, DEFAULT_TIME_ZONE)),
            estimated_hours: None,
            actual_hours: None,
            notes: String::new(),
            dependencies: "[]".into(),
            evidence_required: false,
            sla_minutes: None,
            started_at: None,
            sla_due_at,
            completed_at: None,
            breached: false,
            sla_warning_notified_at: None,
            sla_breach_notified_at: None,
            sla_breach_counted: false,
            created_at: now,
            updated_at: now,
        }
    }

    #[test]
    fn due_date_lasts_to_the_end_of_the_day_in_the_tenant_zone() {
        let day = NaiveDate::from_ymd_opt(2026, 11, 27).unwrap();
        let target = target_of(&task(None, Some(day)), DEFAULT_TIME_ZONE).unwrap();
        assert_eq!(target.to_rfc3339(), "2026-11-27T22:00:00+00:00");
        let sla = Utc.with_ymd_and_hms(2026, 11, 27, 8, 30, 0).unwrap();
        assert_eq!(
            target_of(&task(Some(sla), Some(day)), DEFAULT_TIME_ZONE),
            Some(sla)
        );
        assert_eq!(target_of(&task(None, None), DEFAULT_TIME_ZONE), None);
    }

    #[test]
    fn mail_has_the_legacy_lines_in_the_tenant_zone_once_per_recipient() {
        let target = Utc.with_ymd_and_hms(2026, 11, 27, 8, 30, 0).unwrap();
        let task = task(Some(target), None);
        let lookups = Lookups {
            zones: HashMap::new(),
            pons: HashMap::from([(task.pon_id, ("PON-7".into(), "Ward 7 North".into()))]),
            emails: HashMap::from([(task.created_by.unwrap(), "pm@example.org".into())]),
        };
        let mail = compose(Notice::Warning, &task, target, DEFAULT_TIME_ZONE, &lookups);
        assert_eq!(mail.to, ["pm@example.org"]);
        assert_eq!(mail.subject, "[SLA Warning] Task Splice box 7 due soon");
        assert_eq!(
            mail.body,
            "Task \"Splice box 7\" is approaching its SLA.\nStatus: in_progress\n\
             Due: 2026-11-27 10:30\nPON: PON-7 Ward 7 North\n"
        );
        let utc: Tz = "UTC".parse().unwrap();
        let mail = compose(Notice::Breach, &task, target, utc, &lookups);
        assert_eq!(mail.subject, "[SLA Breached] Task Splice box 7 overdue");
        assert!(
            mail.body
                .starts_with("Task \"Splice box 7\" has BREACHED its SLA.\n")
        );
        assert!(mail.body.contains("\nDue: 2026-11-27 08:30\n"));
    }
}
