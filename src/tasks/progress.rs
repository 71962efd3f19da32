//! A PON's progress and status derived from its tasks, recomputed in the transaction of every
//! task change: cancelled tasks leave the denominator, a manual `testing` or `maintenance` stays.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::LockType;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect, Set,
};
use uuid::Uuid;

use super::model::{self, Status};
use crate::error::AppResult;
use crate::pons::model::{self as pon, PonStatus};

/// `round(100 × completed / (all − cancelled))`, 0 when nothing counts.
pub fn percent(statuses: &[Status]) -> i32 {
    let counted = statuses
        .iter()
        .filter(|status| **status != Status::Cancelled)
        .count();
    let completed = statuses
        .iter()
        .filter(|status| **status == Status::Completed)
        .count();
    if counted == 0 {
        0
    } else {
        ((100.0 * completed as f64) / counted as f64).round() as i32
    }
}

/// The status a PON at `progress` percent has, keeping a manually set testing or maintenance.
pub fn derived_status(current: PonStatus, progress: i32) -> PonStatus {
    match (current, progress) {
        (PonStatus::Testing | PonStatus::Maintenance, _) => current,
        (_, 0) => PonStatus::Planned,
        (_, 100) => PonStatus::Completed,
        _ => PonStatus::InProgress,
    }
}

/// Recomputes and stores the progress of PON `pon_id` of `tenant_id`. The PON row is locked
/// first (PostgreSQL), so concurrent task changes of one PON recompute one after the other and
/// the last one sees every committed task. The lock is `FOR NO KEY UPDATE`: it waits for other
/// recomputes but not for the key-share locks that inserting a task takes on its PON, so two
/// transactions that each added a task do not deadlock.
pub async fn recompute(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    pon_id: Uuid,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let Some(row) = pon::Entity::find_by_id(pon_id)
        .filter(pon::Column::TenantId.eq(tenant_id))
        .lock(LockType::NoKeyUpdate)
        .one(db)
        .await?
    else {
        return Ok(());
    };
    let statuses: Vec<Status> = model::Entity::find()
        .filter(model::Column::TenantId.eq(tenant_id))
        .filter(model::Column::PonId.eq(pon_id))
        .all(db)
        .await?
        .iter()
        .map(model::Model::status)
        .collect();
    let progress = percent(&statuses);
    let status = derived_status(row.status(), progress);
    let actual_end_date = match (status, row.actual_end_date) {
        (PonStatus::Completed, None) => Some(now.date_naive()),
        (_, kept) => kept,
    };
    if progress == row.progress && status == row.status() && actual_end_date == row.actual_end_date
    {
        return Ok(());
    }
    let mut active: pon::ActiveModel = row.into();
    active.progress = Set(progress);
    active.status = Set(status.as_str().to_string());
    active.actual_end_date = Set(actual_end_date);
    active.updated_at = Set(now);
    active.update(db).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cancelled_tasks_leave_the_denominator() {
        use Status::*;
        assert_eq!(percent(&[]), 0);
        assert_eq!(percent(&[Cancelled]), 0);
        assert_eq!(percent(&[Completed, Pending, Cancelled]), 50);
        assert_eq!(percent(&[Completed, Pending, Pending]), 33);
        assert_eq!(percent(&[Completed, Completed, Pending]), 67);
    }

    #[test]
    fn manual_testing_and_maintenance_are_kept() {
        assert_eq!(derived_status(PonStatus::Testing, 100), PonStatus::Testing);
        assert_eq!(
            derived_status(PonStatus::Maintenance, 0),
            PonStatus::Maintenance
        );
        assert_eq!(
            derived_status(PonStatus::Completed, 50),
            PonStatus::InProgress
        );
        assert_eq!(derived_status(PonStatus::InProgress, 0), PonStatus::Planned);
        assert_eq!(
            derived_status(PonStatus::Planned, 100),
            PonStatus::Completed
        );
    }
}
