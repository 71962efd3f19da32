//! Optical rules: every reading of a batch validated on its own (range, link, time, that its PON
//! belongs to the caller's tenant), the valid ones stored together, the rest reported by index;
//! queries by PON/ONU/device/direction/days; evaluation with the tenant's thresholds.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder,
    QuerySelect, TransactionTrait,
};
use serde_json::json;
use uuid::Uuid;

use super::model::{Direction, Source, reading, thresholds};
use crate::audit::{self, Change};
use crate::auth::permissions;
use crate::clock::Clock;
use crate::context::RequestContext;
use crate::error::{AppError, AppResult, FieldViolation, Violations};
use crate::incidents::model::{Category, Severity as IncidentSeverity};
use crate::incidents::{AlertOutcome, IncidentService, SystemAlert};
use crate::{devices, pons};

pub const MAX_BATCH: usize = 5000;
pub const MIN_DBM: f64 = -60.0;
pub const MAX_DBM: f64 = 10.0;
const MAX_TEXT: usize = 100;
/// How far ahead of the server's clock a reading's time may be (clock skew of field devices).
const FUTURE_SLACK_MINUTES: i64 = 5;
/// Rows per INSERT statement (well inside SQLite's bound-parameter limit).
const INSERT_CHUNK: usize = 500;

/// The legacy API's thresholds (legacy §4.8) and the 3 dB drift rule.
pub const DEFAULT_THRESHOLDS: Thresholds = Thresholds {
    to_onu_warn_dbm: -26.0,
    to_onu_critical_dbm: -27.0,
    to_olt_warn_dbm: -28.0,
    to_olt_critical_dbm: -29.0,
    drift_db: 3.0,
};

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Thresholds {
    pub to_onu_warn_dbm: f64,
    pub to_onu_critical_dbm: f64,
    pub to_olt_warn_dbm: f64,
    pub to_olt_critical_dbm: f64,
    pub drift_db: f64,
}

impl Thresholds {
    /// (warn, critical) of a direction.
    fn levels(&self, direction: Direction) -> (f64, f64) {
        match direction {
            Direction::ToOnu => (self.to_onu_warn_dbm, self.to_onu_critical_dbm),
            Direction::ToOlt => (self.to_olt_warn_dbm, self.to_olt_critical_dbm),
        }
    }
}

/// One reading as an adapter parsed it.
#[derive(Clone, Debug, Default)]
pub struct ReadingDraft {
    pub pon_id: Option<Uuid>,
    pub device_id: Option<Uuid>,
    pub onu_id: String,
    pub port: String,
    pub direction: Option<Direction>,
    pub power_dbm: Option<f64>,
    pub olt_slot: String,
    pub olt_port: String,
    pub vendor: String,
    pub model: String,
    pub source: Source,
    pub taken_at: Option<DateTime<Utc>>,
}

/// A parsed reading and what its adapter already found wrong with it (unparsable ids, times...).
#[derive(Clone, Debug, Default)]
pub struct Candidate {
    pub draft: ReadingDraft,
    pub problems: Violations,
}

/// What an ingest did.
#[derive(Clone, Debug, Default)]
pub struct IngestReport {
    /// Ids of the stored readings, in request order.
    pub ids: Vec<Uuid>,
    /// Index in the request → why that reading was rejected.
    pub rejections: Vec<(usize, Vec<FieldViolation>)>,
}

#[derive(Clone, Debug, Default)]
pub struct ReadingFilter {
    pub pon_id: Option<Uuid>,
    pub device_id: Option<Uuid>,
    pub onu_id: Option<String>,
    pub direction: Option<Direction>,
    /// 0: the listing's default.
    pub days: i32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    Major,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Major => "major",
            Severity::Critical => "critical",
        }
    }
}

/// One link that needs attention.
#[derive(Clone, Debug, PartialEq)]
pub struct Alert {
    pub key: String,
    pub last_dbm: f64,
    pub delta_db: f64,
    pub severity: Severity,
    pub direction: Direction,
    pub onu_id: String,
    pub port: String,
    pub pon_id: Option<Uuid>,
    pub device_id: Option<Uuid>,
    pub incident_id: Option<Uuid>,
}

pub struct OpticalService {
    db: DatabaseConnection,
    clock: Arc<dyn Clock>,
    incidents: Arc<IncidentService>,
}

impl OpticalService {
    pub fn new(
        db: DatabaseConnection,
        clock: Arc<dyn Clock>,
        incidents: Arc<IncidentService>,
    ) -> Self {
        OpticalService {
            db,
            clock,
            incidents,
        }
    }

    /// The direction of a reading the core API labelled `RX` or `TX` at a device of the tenant:
    /// what an OLT receives travels to the OLT, what anything else receives travels to the ONU.
    /// `None` when the device is not the tenant's.
    pub async fn direction_at(
        &self,
        ctx: &RequestContext,
        device_id: Uuid,
        received: bool,
    ) -> AppResult<Option<Direction>> {
        let device = devices::model::Entity::find_by_id(device_id)
            .filter(devices::model::Column::TenantId.eq(ctx.tenant_id))
            .one(&self.db)
            .await?;
        Ok(
            device.map(|device| match (device.r#type == "OLT", received) {
                (true, true) | (false, false) => Direction::ToOlt,
                (true, false) | (false, true) => Direction::ToOnu,
            }),
        )
    }

    /// Stores the valid readings in one transaction and reports the others by index.
    pub async fn ingest(
        &self,
        ctx: &RequestContext,
        candidates: Vec<Candidate>,
    ) -> AppResult<IngestReport> {
        if candidates.len() > MAX_BATCH {
            return Err(AppError::invalid(
                "readings",
                format!("at most {MAX_BATCH} readings per batch"),
            ));
        }
        let now = self.clock.now();
        let pons = self.known_pons(ctx, &candidates).await?;
        let devices = self.known_devices(ctx, &candidates).await?;
        let mut report = IngestReport::default();
        let mut rows = Vec::new();
        for (index, candidate) in candidates.into_iter().enumerate() {
            let Candidate {
                draft,
                mut problems,
            } = candidate;
            check(&draft, now, &mut problems);
            if let Some(pon) = draft.pon_id
                && !pons.contains(&pon)
            {
                problems.push("pon_id", "no such PON in this tenant");
            }
            if let Some(device) = draft.device_id
                && !devices.contains(&device)
            {
                problems.push("device_id", "no such device in this tenant");
            }
            if !problems.is_empty() {
                report.rejections.push((index, problems.into_vec()));
                continue;
            }
            let row = reading::Model {
                id: Uuid::now_v7(),
                tenant_id: ctx.tenant_id,
                pon_id: draft.pon_id,
                device_id: draft.device_id,
                onu_id: draft.onu_id,
                port: draft.port,
                direction: draft.direction.unwrap_or(Direction::ToOnu).as_str().into(),
                power_dbm: draft.power_dbm.unwrap_or_default(),
                olt_slot: draft.olt_slot,
                olt_port: draft.olt_port,
                vendor: draft.vendor,
                model: draft.model,
                source: draft.source.as_str().into(),
                taken_at: draft.taken_at.unwrap_or(now),
                created_at: now,
            };
            report.ids.push(row.id);
            rows.push(row);
        }
        if rows.is_empty() {
            return Ok(report);
        }
        let tx = self.db.begin().await?;
        for chunk in rows.chunks(INSERT_CHUNK) {
            reading::Entity::insert_many(
                chunk
                    .iter()
                    .cloned()
                    .map(IntoActiveModel::into_active_model),
            )
            .exec_without_returning(&tx)
            .await?;
        }
        audit::record(
            &tx,
            ctx,
            ctx.tenant_id,
            now,
            Change {
                action: "ingest",
                resource_type: "optical_readings",
                resource_id: report.ids[0].to_string(),
                before: None,
                after: Some(json!({
                    "inserted": report.ids.len(),
                    "rejected": report.rejections.len(),
                })),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(report)
    }

    /// The PONs of the caller's tenant among those the batch names.
    async fn known_pons(
        &self,
        ctx: &RequestContext,
        candidates: &[Candidate],
    ) -> AppResult<HashSet<Uuid>> {
        let named: HashSet<Uuid> = candidates.iter().filter_map(|c| c.draft.pon_id).collect();
        if named.is_empty() {
            return Ok(HashSet::new());
        }
        let found: Vec<Uuid> = pons::model::Entity::find()
            .select_only()
            .column(pons::model::Column::Id)
            .filter(pons::model::Column::TenantId.eq(ctx.tenant_id))
            .filter(pons::model::Column::Id.is_in(named))
            .into_tuple()
            .all(&self.db)
            .await?;
        Ok(found.into_iter().collect())
    }

    /// The devices of the caller's tenant among those the batch names.
    async fn known_devices(
        &self,
        ctx: &RequestContext,
        candidates: &[Candidate],
    ) -> AppResult<HashSet<Uuid>> {
        let named: HashSet<Uuid> = candidates
            .iter()
            .filter_map(|c| c.draft.device_id)
            .collect();
        if named.is_empty() {
            return Ok(HashSet::new());
        }
        let found: Vec<Uuid> = devices::model::Entity::find()
            .select_only()
            .column(devices::model::Column::Id)
            .filter(devices::model::Column::TenantId.eq(ctx.tenant_id))
            .filter(devices::model::Column::Id.is_in(named))
            .into_tuple()
            .all(&self.db)
            .await?;
        Ok(found.into_iter().collect())
    }

    /// Readings of the last `days` (default 7, at most 365), newest first, at most `limit`.
    pub async fn list(
        &self,
        ctx: &RequestContext,
        filter: &ReadingFilter,
        limit: i32,
    ) -> AppResult<Vec<reading::Model>> {
        let days = window_days(filter.days, 7, 365)?;
        let limit = match limit {
            0 => MAX_BATCH as u64,
            1..=5000 => limit as u64,
            _ => return Err(AppError::invalid("limit", "must be between 1 and 5000")),
        };
        Ok(self
            .query(ctx, filter, days)
            .order_by_desc(reading::Column::TakenAt)
            .order_by_desc(reading::Column::Id)
            .limit(limit)
            .all(&self.db)
            .await?)
    }

    fn query(
        &self,
        ctx: &RequestContext,
        filter: &ReadingFilter,
        days: i64,
    ) -> sea_orm::Select<reading::Entity> {
        use reading::Column;
        let since = self.clock.now() - Duration::days(days);
        let mut query = reading::Entity::find()
            .filter(Column::TenantId.eq(ctx.tenant_id))
            .filter(Column::TakenAt.gte(since));
        if let Some(pon_id) = filter.pon_id {
            query = query.filter(Column::PonId.eq(pon_id));
        }
        if let Some(device_id) = filter.device_id {
            query = query.filter(Column::DeviceId.eq(device_id));
        }
        if let Some(onu_id) = &filter.onu_id {
            query = query.filter(Column::OnuId.eq(onu_id.as_str()));
        }
        if let Some(direction) = filter.direction {
            query = query.filter(Column::Direction.eq(direction.as_str()));
        }
        query
    }

    /// The links of the window (default 1 day, at most 90) that need attention, by key. With
    /// `raise_incidents`, every critical link gets an `optical_low_power` incident: one per link
    /// while it is active (later evaluations fold into it), none during a covering maintenance window.
    pub async fn evaluate(
        &self,
        ctx: &RequestContext,
        filter: &ReadingFilter,
        raise_incidents: bool,
    ) -> AppResult<Vec<Alert>> {
        if raise_incidents {
            permissions::check_writing_part(
                ctx,
                "kasi.fiber.v1.OpticalService/EvaluateOptical",
                "raise_incidents",
            )?;
        }
        let days = window_days(filter.days, 1, 90)?;
        let limits = self.thresholds(ctx).await?;
        let rows = self
            .query(ctx, filter, days)
            .order_by_asc(reading::Column::TakenAt)
            .order_by_asc(reading::Column::Id)
            .all(&self.db)
            .await?;
        let mut alerts = evaluate(&rows, &limits);
        if raise_incidents {
            for alert in alerts
                .iter_mut()
                .filter(|alert| alert.severity == Severity::Critical)
            {
                alert.incident_id = self.raise(ctx, alert, &limits).await?;
            }
        }
        Ok(alerts)
    }

    async fn raise(
        &self,
        ctx: &RequestContext,
        alert: &Alert,
        limits: &Thresholds,
    ) -> AppResult<Option<Uuid>> {
        let (_, critical) = limits.levels(alert.direction);
        let link = format!(
            "{}|pon:{}|device:{}",
            alert.key,
            alert.pon_id.map(|id| id.to_string()).unwrap_or_default(),
            alert.device_id.map(|id| id.to_string()).unwrap_or_default(),
        );
        let outcome = self
            .incidents
            .raise(SystemAlert {
                tenant_id: ctx.tenant_id,
                device_id: alert.device_id,
                device_identity: None,
                pon_id: alert.pon_id,
                category: Category::OpticalLowPower,
                severity: IncidentSeverity::P2,
                title: format!("Optical power critical on {}", alert.key),
                description: format!(
                    "Last reading {:.2} dBm is at or below the critical level {critical:.2} dBm \
                     (change over the window {:+.2} dB).",
                    alert.last_dbm, alert.delta_db
                ),
                source: "Optical".into(),
                source_event_id: Some(link),
                payload: Some(
                    json!({
                        "key": alert.key,
                        "last_dbm": alert.last_dbm,
                        "delta_db": alert.delta_db,
                        "onu_id": alert.onu_id,
                        "port": alert.port,
                    })
                    .to_string(),
                ),
            })
            .await?;
        Ok(match outcome {
            AlertOutcome::Opened(incident) | AlertOutcome::Deduplicated(incident) => {
                Some(incident.id)
            }
            AlertOutcome::Suppressed => None,
        })
    }

    /// The tenant's thresholds, or the defaults when none were set.
    pub async fn thresholds(&self, ctx: &RequestContext) -> AppResult<Thresholds> {
        Ok(thresholds::Entity::find_by_id(ctx.tenant_id)
            .one(&self.db)
            .await?
            .map_or(DEFAULT_THRESHOLDS, |row| Thresholds {
                to_onu_warn_dbm: row.to_onu_warn_dbm,
                to_onu_critical_dbm: row.to_onu_critical_dbm,
                to_olt_warn_dbm: row.to_olt_warn_dbm,
                to_olt_critical_dbm: row.to_olt_critical_dbm,
                drift_db: row.drift_db,
            }))
    }

    pub async fn set_thresholds(
        &self,
        ctx: &RequestContext,
        limits: Thresholds,
    ) -> AppResult<Thresholds> {
        validate_thresholds(&limits)?;
        let before = self.thresholds(ctx).await?;
        let now = self.clock.now();
        let row = thresholds::Model {
            tenant_id: ctx.tenant_id,
            to_onu_warn_dbm: limits.to_onu_warn_dbm,
            to_onu_critical_dbm: limits.to_onu_critical_dbm,
            to_olt_warn_dbm: limits.to_olt_warn_dbm,
            to_olt_critical_dbm: limits.to_olt_critical_dbm,
            drift_db: limits.drift_db,
            updated_at: now,
        };
        let tx = self.db.begin().await?;
        thresholds::Entity::insert(row.into_active_model())
            .on_conflict(
                sea_orm::sea_query::OnConflict::column(thresholds::Column::TenantId)
                    .update_columns([
                        thresholds::Column::ToOnuWarnDbm,
                        thresholds::Column::ToOnuCriticalDbm,
                        thresholds::Column::ToOltWarnDbm,
                        thresholds::Column::ToOltCriticalDbm,
                        thresholds::Column::DriftDb,
                        thresholds::Column::UpdatedAt,
                    ])
                    .to_owned(),
            )
            .exec_without_returning(&tx)
            .await?;
        audit::record(
            &tx,
            ctx,
            ctx.tenant_id,
            now,
            Change {
                action: "update",
                resource_type: "optical_thresholds",
                resource_id: ctx.tenant_id.to_string(),
                before: Some(thresholds_snapshot(&before)),
                after: Some(thresholds_snapshot(&limits)),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(limits)
    }
}

fn thresholds_snapshot(limits: &Thresholds) -> serde_json::Value {
    json!({
        "to_onu_warn_dbm": limits.to_onu_warn_dbm,
        "to_onu_critical_dbm": limits.to_onu_critical_dbm,
        "to_olt_warn_dbm": limits.to_olt_warn_dbm,
        "to_olt_critical_dbm": limits.to_olt_critical_dbm,
        "drift_db": limits.drift_db,
    })
}

fn window_days(days: i32, default: i64, max: i64) -> AppResult<i64> {
    match i64::from(days) {
        0 => Ok(default),
        days if (1..=max).contains(&days) => Ok(days),
        _ => Err(AppError::invalid(
            "days",
            format!("must be between 1 and {max}"),
        )),
    }
}

/// The rules of one reading, added to `problems`.
fn check(draft: &ReadingDraft, now: DateTime<Utc>, problems: &mut Violations) {
    if draft.direction.is_none() && !problems.names("direction") {
        problems.push("direction", "is required (to_onu or to_olt)");
    }
    match draft.power_dbm {
        None if !problems.names("power_dbm") => {
            problems.push("power_dbm", "is required");
        }
        Some(power) if !power.is_finite() || !(MIN_DBM..=MAX_DBM).contains(&power) => {
            problems.push("power_dbm", "must be between -60 and 10 dBm");
        }
        _ => {}
    }
    if draft.onu_id.is_empty() && draft.port.is_empty() {
        problems.push("onu_id", "an ONU id or a port names the link");
    }
    for (field, text) in [
        ("onu_id", &draft.onu_id),
        ("port", &draft.port),
        ("olt_slot", &draft.olt_slot),
        ("olt_port", &draft.olt_port),
        ("vendor", &draft.vendor),
        ("model", &draft.model),
    ] {
        if text.chars().count() > MAX_TEXT {
            problems.push(field, "must be at most 100 characters");
        }
    }
    if let Some(taken_at) = draft.taken_at
        && taken_at > now + Duration::minutes(FUTURE_SLACK_MINUTES)
    {
        problems.push("taken_at", "must not be in the future");
    }
}

pub fn validate_thresholds(limits: &Thresholds) -> AppResult<()> {
    let mut violations = Violations::default();
    let levels = [
        ("to_onu_warn_dbm", limits.to_onu_warn_dbm),
        ("to_onu_critical_dbm", limits.to_onu_critical_dbm),
        ("to_olt_warn_dbm", limits.to_olt_warn_dbm),
        ("to_olt_critical_dbm", limits.to_olt_critical_dbm),
    ];
    for (field, value) in levels {
        if !value.is_finite() || !(MIN_DBM..=MAX_DBM).contains(&value) {
            violations.push(
                format!("thresholds.{field}"),
                "must be between -60 and 10 dBm",
            );
        }
    }
    if limits.to_onu_critical_dbm >= limits.to_onu_warn_dbm {
        violations.push(
            "thresholds.to_onu_critical_dbm",
            "must be below to_onu_warn_dbm",
        );
    }
    if limits.to_olt_critical_dbm >= limits.to_olt_warn_dbm {
        violations.push(
            "thresholds.to_olt_critical_dbm",
            "must be below to_olt_warn_dbm",
        );
    }
    if !limits.drift_db.is_finite() || limits.drift_db <= 0.0 || limits.drift_db > 30.0 {
        violations.push("thresholds.drift_db", "must be above 0 and at most 30 dB");
    }
    violations.finish(())
}

/// The legacy evaluation over readings in time order: per link, `critical` when the last reading
/// is at or below the critical level, else `major` at or below warn, else `major` when it moved
/// by the drift limit or more since the first reading of the window.
pub fn evaluate(rows: &[reading::Model], limits: &Thresholds) -> Vec<Alert> {
    type Link = (String, Option<Uuid>, Option<Uuid>, String, String);
    let mut links: BTreeMap<Link, (f64, f64, Direction)> = BTreeMap::new();
    for row in rows {
        let Some(direction) = Direction::parse(&row.direction) else {
            continue;
        };
        let name = if row.onu_id.is_empty() {
            &row.port
        } else {
            &row.onu_id
        };
        let key = format!("{}:{name}", direction.as_str());
        let link = (
            key,
            row.pon_id,
            row.device_id,
            row.onu_id.clone(),
            row.port.clone(),
        );
        links
            .entry(link)
            .and_modify(|(_, last, _)| *last = row.power_dbm)
            .or_insert((row.power_dbm, row.power_dbm, direction));
    }
    links
        .into_iter()
        .filter_map(
            |((key, pon_id, device_id, onu_id, port), (first, last, direction))| {
                let (warn, critical) = limits.levels(direction);
                let delta = last - first;
                let severity = if last <= critical {
                    Severity::Critical
                } else if last <= warn || delta.abs() >= limits.drift_db {
                    Severity::Major
                } else {
                    return None;
                };
                Some(Alert {
                    key,
                    last_dbm: last,
                    delta_db: delta,
                    severity,
                    direction,
                    onu_id,
                    port,
                    pon_id,
                    device_id,
                    incident_id: None,
                })
            },
        )
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(direction: &str, onu: &str, dbm: f64) -> reading::Model {
        let now = Utc::now();
        reading::Model {
            id: Uuid::now_v7(),
            tenant_id: Uuid::nil(),
            pon_id: None,
            device_id: None,
            onu_id: onu.into(),
            port: String::new(),
            direction: direction.into(),
            power_dbm: dbm,
            olt_slot: String::new(),
            olt_port: String::new(),
            vendor: String::new(),
            model: String::new(),
            source: "NMS".into(),
            taken_at: now,
            created_at: now,
        }
    }

    #[test]
    fn thresholds_and_drift_per_direction() {
        let rows = [
            row("to_onu", "a", -20.0),
            row("to_onu", "a", -27.0), // critical at -27
            row("to_onu", "b", -26.0), // major at warn
            row("to_olt", "c", -20.0),
            row("to_olt", "c", -23.5), // drift of 3.5 dB
            row("to_olt", "d", -28.5), // major (warn -28), not critical (-29)
            row("to_olt", "e", -20.0),
            row("to_olt", "e", -21.0), // healthy
        ];
        let alerts = evaluate(&rows, &DEFAULT_THRESHOLDS);
        let found: Vec<(&str, Severity)> = alerts
            .iter()
            .map(|alert| (alert.key.as_str(), alert.severity))
            .collect();
        assert_eq!(
            found,
            [
                ("to_olt:c", Severity::Major),
                ("to_olt:d", Severity::Major),
                ("to_onu:a", Severity::Critical),
                ("to_onu:b", Severity::Major),
            ]
        );
        assert_eq!(alerts[0].delta_db, -3.5);
        assert_eq!(alerts[2].delta_db, -7.0);
    }

    #[test]
    fn readings_name_every_problem() {
        let now = Utc::now();
        let mut problems = Violations::default();
        check(
            &ReadingDraft {
                power_dbm: Some(-80.0),
                taken_at: Some(now + Duration::hours(1)),
                ..Default::default()
            },
            now,
            &mut problems,
        );
        let problems = problems.into_vec();
        let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(fields, ["direction", "power_dbm", "onu_id", "taken_at"]);
        assert!(validate_thresholds(&DEFAULT_THRESHOLDS).is_ok());
        let swapped = Thresholds {
            to_onu_warn_dbm: -30.0,
            ..DEFAULT_THRESHOLDS
        };
        assert!(validate_thresholds(&swapped).is_err());
    }
}
