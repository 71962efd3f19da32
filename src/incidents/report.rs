//! The operations report: mean time to repair and to acknowledge, uptime per ward aggregated
//! over every device of the ward (overlapping outages counted once), and repeat-fault devices.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};
use uuid::Uuid;

use super::model::{Column, Entity};
use super::service::IncidentService;
use crate::context::RequestContext;
use crate::devices;
use crate::error::{AppError, AppResult};

/// More incidents than this in the period make a device a repeat-fault device.
const REPEAT_THRESHOLD: usize = 2;

#[derive(Clone, Debug, PartialEq)]
pub struct WardUptime {
    /// `unknown` for devices and incidents without a ward.
    pub ward: String,
    /// Percent, 3 decimals.
    pub uptime: f64,
    pub devices: u64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct OpsReport {
    pub days: u32,
    pub uptime_by_ward: Vec<WardUptime>,
    /// Mean opened → resolved of the resolved incidents, in hours (2 decimals; 0 when none).
    pub mttr_hours: f64,
    /// Mean opened → acknowledged of the acknowledged incidents, in hours.
    pub mtta_hours: f64,
    pub repeat_fault_devices: Vec<Uuid>,
    pub incidents: u64,
}

fn ward_name(ward: &str) -> String {
    if ward.is_empty() {
        "unknown".into()
    } else {
        ward.to_string()
    }
}

fn round(value: f64, decimals: i32) -> f64 {
    let factor = 10f64.powi(decimals);
    (value * factor).round() / factor
}

fn mean_hours(durations: &[Duration]) -> f64 {
    if durations.is_empty() {
        return 0.0;
    }
    let total: i64 = durations.iter().map(Duration::num_seconds).sum();
    round(total as f64 / durations.len() as f64 / 3600.0, 2)
}

/// Length of the union of the intervals (sorted in place).
fn union_length(intervals: &mut [(DateTime<Utc>, DateTime<Utc>)]) -> Duration {
    intervals.sort();
    let mut total = Duration::zero();
    let mut current: Option<(DateTime<Utc>, DateTime<Utc>)> = None;
    for &(start, end) in intervals.iter() {
        current = match current {
            Some((from, to)) if start <= to => Some((from, to.max(end))),
            Some((from, to)) => {
                total += to - from;
                Some((start, end))
            }
            None => Some((start, end)),
        };
    }
    if let Some((from, to)) = current {
        total += to - from;
    }
    total
}

impl IncidentService {
    /// The report over incidents opened in the last `days` (1..366; 0 means 30). Outages of
    /// incidents still active count until now.
    pub async fn ops_report(&self, ctx: &RequestContext, days: i32) -> AppResult<OpsReport> {
        let days = match days {
            0 => 30,
            1..=366 => days,
            _ => return Err(AppError::invalid("days", "must be between 1 and 366")),
        };
        let now = self.clock.now();
        let since = now - Duration::days(i64::from(days));
        let period = Duration::days(i64::from(days));
        let incidents = Entity::find()
            .filter(Column::TenantId.eq(ctx.tenant_id))
            .filter(Column::OpenedAt.gte(since))
            .all(&self.db)
            .await?;
        let device_wards: Vec<(Uuid, String)> = devices::model::Entity::find()
            .select_only()
            .column(devices::model::Column::Id)
            .column(devices::model::Column::Ward)
            .filter(devices::model::Column::TenantId.eq(ctx.tenant_id))
            .into_tuple()
            .all(&self.db)
            .await?;

        // Outage intervals per ward and device (None: incidents without a device).
        let mut outages: BTreeMap<String, BTreeMap<Option<Uuid>, Vec<_>>> = BTreeMap::new();
        let mut per_device: BTreeMap<Uuid, usize> = BTreeMap::new();
        let mut repairs = Vec::new();
        let mut responses = Vec::new();
        for incident in &incidents {
            let end = incident.resolved_at.unwrap_or(now).min(now);
            outages
                .entry(ward_name(&incident.ward))
                .or_default()
                .entry(incident.device_id)
                .or_default()
                .push((incident.opened_at, end.max(incident.opened_at)));
            if let Some(resolved) = incident.resolved_at {
                repairs.push(resolved - incident.opened_at);
            }
            if let Some(acknowledged) = incident.acknowledged_at {
                responses.push(acknowledged - incident.opened_at);
            }
            if let Some(device) = incident.device_id {
                *per_device.entry(device).or_default() += 1;
            }
        }
        let mut devices_per_ward: BTreeMap<String, u64> = BTreeMap::new();
        for (_, ward) in &device_wards {
            *devices_per_ward.entry(ward_name(ward)).or_default() += 1;
        }
        let uptime_by_ward = outages
            .into_iter()
            .map(|(ward, by_device)| {
                // Every device of the ward counts, also those that never failed; a device-less
                // outage counts as one more unit, and so does a failing device not on record.
                let known = devices_per_ward.get(&ward).copied().unwrap_or(0);
                let unlisted = by_device
                    .keys()
                    .filter(|device| {
                        device.is_none_or(|id| {
                            !device_wards.iter().any(|(known_id, known_ward)| {
                                *known_id == id && ward_name(known_ward) == ward
                            })
                        })
                    })
                    .count() as u64;
                let units = (known + unlisted).max(1);
                let down: i64 = by_device
                    .into_values()
                    .map(|mut intervals| union_length(&mut intervals).min(period).num_seconds())
                    .sum();
                let share = down as f64 / (units as f64 * period.num_seconds() as f64);
                WardUptime {
                    ward,
                    uptime: round((100.0 * (1.0 - share)).clamp(0.0, 100.0), 3),
                    devices: units,
                }
            })
            .collect();
        Ok(OpsReport {
            days: days as u32,
            uptime_by_ward,
            mttr_hours: mean_hours(&repairs),
            mtta_hours: mean_hours(&responses),
            repeat_fault_devices: per_device
                .into_iter()
                .filter(|(_, count)| *count > REPEAT_THRESHOLD)
                .map(|(device, _)| device)
                .collect(),
            incidents: incidents.len() as u64,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlapping_outages_count_once() {
        let at = |hours: i64| DateTime::<Utc>::UNIX_EPOCH + Duration::hours(hours);
        let mut intervals = vec![(at(5), at(7)), (at(0), at(2)), (at(1), at(3))];
        assert_eq!(union_length(&mut intervals), Duration::hours(5));
        assert_eq!(
            mean_hours(&[Duration::minutes(90), Duration::minutes(30)]),
            1.0
        );
        assert_eq!(mean_hours(&[]), 0.0);
    }
}
