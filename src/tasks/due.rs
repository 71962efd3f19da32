//! A task's due time: the instant it is due (`due_at`) and the day it is due by (`due_date`,
//! the date part of `due_at` in the tenant's zone); a date alone means the end of that day there.

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use sea_orm::{ConnectionTrait, EntityTrait};
use uuid::Uuid;

use crate::error::AppResult;
use crate::identity::model::tenant;

/// The zone of a tenant whose `time_zone` is not a known IANA name.
pub const DEFAULT_TIME_ZONE: Tz = chrono_tz::Africa::Johannesburg;

/// The end of `day` in `zone`: the next local midnight (the first instant of the next day).
pub fn end_of_day(day: NaiveDate, zone: Tz) -> Option<DateTime<Utc>> {
    let next_midnight = day.succ_opt()?.and_hms_opt(0, 0, 0)?;
    let local = zone.from_local_datetime(&next_midnight).earliest()?;
    Some(local.with_timezone(&Utc))
}

/// The day a task due at `at` is due by, in `zone` (a due time at local midnight belongs to
/// the day that ends there, so `end_of_day` and `day_of` undo each other).
pub fn day_of(at: DateTime<Utc>, zone: Tz) -> NaiveDate {
    (at - Duration::nanoseconds(1))
        .with_timezone(&zone)
        .date_naive()
}

/// The tenant's time zone (the default when its name is unknown).
pub async fn tenant_zone(db: &impl ConnectionTrait, tenant_id: Uuid) -> AppResult<Tz> {
    let zone = tenant::Entity::find_by_id(tenant_id)
        .one(db)
        .await?
        .and_then(|tenant| tenant.time_zone.parse().ok());
    Ok(zone.unwrap_or(DEFAULT_TIME_ZONE))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_day_ends_at_the_next_local_midnight_and_comes_back() {
        let day = NaiveDate::from_ymd_opt(2026, 12, 8).unwrap();
        let end = end_of_day(day, DEFAULT_TIME_ZONE).unwrap();
        assert_eq!(end.to_rfc3339(), "2026-12-08T22:00:00+00:00");
        assert_eq!(day_of(end, DEFAULT_TIME_ZONE), day);
        let afternoon = "2026-12-08T15:30:00Z".parse::<DateTime<Utc>>().unwrap();
        assert_eq!(day_of(afternoon, DEFAULT_TIME_ZONE), day);
        assert_eq!(
            day_of(afternoon, chrono_tz::Pacific::Auckland),
            day.succ_opt().unwrap()
        );
    }
}
