//! The `tasks` row (sea-orm entity) and its vocabularies: steps of both old systems, priorities,
//! statuses and the legal moves between them, and the default SLA of each step.

use sea_orm::entity::prelude::*;

use crate::organizations::store::Scoped;

/// Also `sqlx::FromRow`, for the listings that decode through [`crate::storage::db::fetch_all`].
#[derive(Clone, Debug, PartialEq, DeriveEntityModel, sqlx::FromRow)]
#[sea_orm(table_name = "tasks")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub pon_id: Uuid,
    pub title: String,
    pub description: String,
    /// A stored [`Step`] form.
    pub step: String,
    pub priority: String,
    /// A [`Status`].
    pub status: String,
    /// The status a task on hold came from.
    pub held_from: Option<String>,
    pub assignee_id: Option<Uuid>,
    pub organization_id: Option<Uuid>,
    pub created_by: Option<Uuid>,
    /// The day the task is due by: the date part of `due_at` in the tenant's zone.
    pub due_date: Option<Date>,
    /// The instant the task is due (a day alone: the end of that day in the tenant's zone).
    pub due_at: Option<DateTimeUtc>,
    pub estimated_hours: Option<f64>,
    pub actual_hours: Option<f64>,
    pub notes: String,
    /// JSON array of task ids.
    pub dependencies: String,
    pub evidence_required: bool,
    pub sla_minutes: Option<i32>,
    pub started_at: Option<DateTimeUtc>,
    pub sla_due_at: Option<DateTimeUtc>,
    pub completed_at: Option<DateTimeUtc>,
    pub breached: bool,
    /// When the SLA warning mail went out (or was due with nobody to send it to).
    pub sla_warning_notified_at: Option<DateTimeUtc>,
    /// When the SLA breach mail went out (or was due with nobody to send it to).
    pub sla_breach_notified_at: Option<DateTimeUtc>,
    /// Whether the breach is counted in its PON's `sla_breaches` (by the SLA scan, once).
    pub sla_breach_counted: bool,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

impl Scoped for Entity {
    const ID: Column = Column::Id;
    const TENANT: Column = Column::TenantId;
    const ORGANIZATION: Column = Column::OrganizationId;
}

impl Model {
    pub fn status(&self) -> Status {
        Status::parse(&self.status).unwrap_or(Status::Pending)
    }

    pub fn dependencies(&self) -> Vec<Uuid> {
        serde_json::from_str(&self.dependencies).unwrap_or_default()
    }
}

/// The stored steps: the core API's work steps, then the legacy types with no work step of
/// their own.
pub const STEPS: [&str; 10] = [
    "Permissions",
    "PolePlanting",
    "CAC",
    "Stringing",
    "Invoicing",
    "installation",
    "testing",
    "maintenance",
    "documentation",
    "other",
];

/// The stored form of a step named in either vocabulary: `cac_check` is `CAC` and `stringing`
/// is `Stringing`; the other legacy types are kept as they are. None for an unknown step.
pub fn canonical_step(text: &str) -> Option<&'static str> {
    match text.trim() {
        "cac_check" => Some("CAC"),
        "stringing" => Some("Stringing"),
        other => STEPS.into_iter().find(|step| *step == other),
    }
}

/// A stored step in the legacy vocabulary: `CAC` is `cac_check`, `Stringing` is `stringing`;
/// the core steps without a legacy type keep their names.
pub fn legacy_type(step: &str) -> &str {
    match step {
        "CAC" => "cac_check",
        "Stringing" => "stringing",
        other => other,
    }
}

/// The SLA of a step when neither the task nor a contract sets one (core-api §5.1, legacy §4.4).
pub fn default_sla_minutes(step: &str) -> i32 {
    match step {
        "Permissions" => 4320,
        "PolePlanting" | "Stringing" | "installation" => 2880,
        _ => 1440,
    }
}

pub const PRIORITIES: [&str; 4] = ["low", "medium", "high", "critical"];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Pending,
    InProgress,
    OnHold,
    Completed,
    Cancelled,
}

impl Status {
    pub const ALL: [Status; 5] = [
        Status::Pending,
        Status::InProgress,
        Status::OnHold,
        Status::Completed,
        Status::Cancelled,
    ];

    /// The statuses of work still to do (the work queue's and the SLA scan's).
    pub const OPEN: [Status; 3] = [Status::Pending, Status::InProgress, Status::OnHold];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::InProgress => "in_progress",
            Status::OnHold => "on_hold",
            Status::Completed => "completed",
            Status::Cancelled => "cancelled",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == text)
    }

    /// Whether a task may move from `self` to `to`; `held_from` is where a task on hold came from.
    pub fn may_become(self, to: Status, held_from: Option<Status>) -> bool {
        use Status::*;
        match (self, to) {
            (Pending, InProgress | OnHold | Cancelled) => true,
            (InProgress, Completed | OnHold | Cancelled) => true,
            (OnHold, InProgress | Cancelled) => true,
            (OnHold, Pending) => held_from == Some(Pending),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_vocabularies_map_to_one_step() {
        assert_eq!(canonical_step("cac_check"), Some("CAC"));
        assert_eq!(canonical_step("CAC"), Some("CAC"));
        assert_eq!(canonical_step("stringing"), Some("Stringing"));
        assert_eq!(canonical_step("installation"), Some("installation"));
        assert_eq!(canonical_step("Plumbing"), None);
        assert_eq!(default_sla_minutes("Permissions"), 4320);
        assert_eq!(default_sla_minutes("installation"), 2880);
        assert_eq!(default_sla_minutes("other"), 1440);
    }

    #[test]
    fn the_state_machine() {
        use Status::*;
        assert!(Pending.may_become(InProgress, None));
        assert!(!Pending.may_become(Completed, None));
        assert!(OnHold.may_become(Pending, Some(Pending)));
        assert!(!OnHold.may_become(Pending, Some(InProgress)));
        assert!(OnHold.may_become(InProgress, Some(Pending)));
        assert!(!Completed.may_become(Cancelled, None));
        assert!(!Cancelled.may_become(Pending, None));
    }
}
