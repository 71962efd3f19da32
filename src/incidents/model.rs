//! The `incidents` and `incident_signals` rows and the incident vocabularies: severities with
//! their default SLA, one category set for both old vocabularies, statuses with their legal
//! moves, and fix codes.

use sea_orm::entity::prelude::*;

use crate::organizations::model::OrganizationType;
use crate::organizations::store::Scoped;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    P1,
    P2,
    P3,
    P4,
}

impl Severity {
    pub const ALL: [Severity; 4] = [Severity::P1, Severity::P2, Severity::P3, Severity::P4];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::P1 => "P1",
            Severity::P2 => "P2",
            Severity::P3 => "P3",
            Severity::P4 => "P4",
        }
    }

    pub fn parse(text: &str) -> Option<Severity> {
        Self::ALL
            .into_iter()
            .find(|severity| severity.as_str().eq_ignore_ascii_case(text.trim()))
    }

    /// The legacy respond and restore targets in minutes (P1 15 min/2 h ... P4 24 h/72 h).
    pub fn default_sla_minutes(self) -> (i64, i64) {
        match self {
            Severity::P1 => (15, 120),
            Severity::P2 => (30, 240),
            Severity::P3 => (240, 1440),
            Severity::P4 => (1440, 4320),
        }
    }
}

/// One category set: the Express names are stored; the core API's names map onto them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Category {
    DeviceDown,
    Los,
    UplinkDown,
    OpticalLowPower,
    InterfaceFlaps,
    HighCpu,
    Capacity,
    PowerLoss,
    Environmental,
    ConfigDrift,
    Maintenance,
    Other,
}

impl Category {
    pub const ALL: [Category; 12] = [
        Category::DeviceDown,
        Category::Los,
        Category::UplinkDown,
        Category::OpticalLowPower,
        Category::InterfaceFlaps,
        Category::HighCpu,
        Category::Capacity,
        Category::PowerLoss,
        Category::Environmental,
        Category::ConfigDrift,
        Category::Maintenance,
        Category::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Category::DeviceDown => "device_down",
            Category::Los => "los",
            Category::UplinkDown => "uplink_down",
            Category::OpticalLowPower => "optical_low_power",
            Category::InterfaceFlaps => "interface_flaps",
            Category::HighCpu => "high_cpu",
            Category::Capacity => "capacity",
            Category::PowerLoss => "power_loss",
            Category::Environmental => "environmental",
            Category::ConfigDrift => "config_drift",
            Category::Maintenance => "maintenance",
            Category::Other => "other",
        }
    }

    /// The core API's name of the category's family (`Power`, `Optical`, `Link`, `Device`,
    /// `Capacity`, `Config`; `Other` for the rest).
    pub fn core_name(self) -> &'static str {
        match self {
            Category::DeviceDown => "Device",
            Category::Los | Category::OpticalLowPower => "Optical",
            Category::UplinkDown | Category::InterfaceFlaps => "Link",
            Category::HighCpu | Category::Capacity => "Capacity",
            Category::PowerLoss | Category::Environmental => "Power",
            Category::ConfigDrift => "Config",
            Category::Maintenance | Category::Other => "Other",
        }
    }

    /// Either vocabulary, any case: `los`, `Optical`, `config_drift`, `Config`.
    pub fn parse(text: &str) -> Option<Category> {
        let text = text.trim();
        if let Some(found) = Self::ALL
            .into_iter()
            .find(|category| category.as_str().eq_ignore_ascii_case(text))
        {
            return Some(found);
        }
        match text.to_ascii_lowercase().as_str() {
            "power" => Some(Category::PowerLoss),
            "optical" => Some(Category::OpticalLowPower),
            "link" => Some(Category::UplinkDown),
            "device" => Some(Category::DeviceDown),
            "capacity" => Some(Category::Capacity),
            "config" => Some(Category::ConfigDrift),
            _ => None,
        }
    }

    /// The contract scope that fixes this kind of fault: power work is maintenance,
    /// optical, link and device faults are technical, anything else maintenance.
    pub fn scope(self) -> OrganizationType {
        match self.core_name() {
            "Optical" | "Link" | "Device" => OrganizationType::Technical,
            _ => OrganizationType::Maintenance,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Open,
    Acknowledged,
    InProgress,
    Monitoring,
    Resolved,
    Closed,
}

impl Status {
    pub const ALL: [Status; 6] = [
        Status::Open,
        Status::Acknowledged,
        Status::InProgress,
        Status::Monitoring,
        Status::Resolved,
        Status::Closed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Open => "open",
            Status::Acknowledged => "acknowledged",
            Status::InProgress => "in_progress",
            Status::Monitoring => "monitoring",
            Status::Resolved => "resolved",
            Status::Closed => "closed",
        }
    }

    /// Ours, or the core API's (`Open`, `Acknowledged`, `Resolved`, `Closed`), any case.
    pub fn parse(text: &str) -> Option<Status> {
        let text = text.trim().replace(' ', "_");
        Self::ALL
            .into_iter()
            .find(|status| status.as_str().eq_ignore_ascii_case(&text))
    }

    /// The core API's spelling (`In Progress`).
    pub fn core_name(self) -> &'static str {
        match self {
            Status::Open => "Open",
            Status::Acknowledged => "Acknowledged",
            Status::InProgress => "In Progress",
            Status::Monitoring => "Monitoring",
            Status::Resolved => "Resolved",
            Status::Closed => "Closed",
        }
    }

    /// Still being worked on (repeats of its alert fold into it).
    pub fn is_active(self) -> bool {
        !matches!(self, Status::Resolved | Status::Closed)
    }

    /// The legal moves: open → acknowledged → in_progress → monitoring → resolved → closed, a
    /// recovery may resolve from any active state, monitoring may fall back to in_progress,
    /// and a resolved incident may be reopened (in_progress) until it is closed.
    pub fn can_move_to(self, next: Status) -> bool {
        use Status::*;
        matches!(
            (self, next),
            (Open, Acknowledged | InProgress | Resolved)
                | (Acknowledged, InProgress | Monitoring | Resolved)
                | (InProgress, Monitoring | Resolved)
                | (Monitoring, InProgress | Resolved)
                | (Resolved, InProgress | Closed)
        )
    }
}

/// Fix codes of the Express model.
pub const FIX_CODES: [&str; 10] = [
    "cleaned_connector",
    "reterminated",
    "replaced_pigtail",
    "replaced_sfp",
    "rebooted",
    "failover",
    "config_fix",
    "firmware_upgrade",
    "power_restored",
    "other",
];

/// How many signals an incident keeps (the newest).
pub const MAX_SIGNALS: u64 = 50;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, serde::Serialize)]
#[sea_orm(table_name = "incidents")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub title: String,
    pub description: String,
    /// A [`Severity`].
    pub severity: String,
    /// A stored [`Category`].
    pub category: String,
    /// A [`Status`].
    pub status: String,
    pub device_id: Option<Uuid>,
    pub pon_id: Option<Uuid>,
    pub ward: String,
    pub site: String,
    pub related_onu_id: String,
    /// `LibreNMS`, `Zabbix`, `Oxidized`, ... (empty for incidents opened by people).
    pub nms_source: String,
    pub nms_event_id: String,
    /// Set while repeats of the alert fold into this incident (unique per tenant).
    pub dedup_key: Option<String>,
    pub opened_at: DateTimeUtc,
    pub acknowledged_at: Option<DateTimeUtc>,
    pub resolved_at: Option<DateTimeUtc>,
    pub closed_at: Option<DateTimeUtc>,
    pub respond_by: DateTimeUtc,
    pub restore_by: DateTimeUtc,
    pub breached_respond: bool,
    pub breached_restore: bool,
    pub assigned_org_id: Option<Uuid>,
    /// `contract` when the targets come from the assigned organization's contract, else `default`.
    pub sla_source: String,
    pub root_cause: String,
    pub fix_code: String,
    pub closure_notes: String,
    /// JSON array of [`ClosurePhoto`].
    pub closure_photos: String,
    pub closure_lat: Option<f64>,
    pub closure_lng: Option<f64>,
    pub closure_captured_at: Option<DateTimeUtc>,
    /// Position on the map, from the device or else the PON.
    pub lat: Option<f64>,
    pub lng: Option<f64>,
    pub created_by: Option<Uuid>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// Incidents belong to the organization they are assigned to.
impl Scoped for Entity {
    const ID: Column = Column::Id;
    const TENANT: Column = Column::TenantId;
    const ORGANIZATION: Column = Column::AssignedOrgId;
}

/// A closure photo: the object key of an uploaded photo, with the legacy filename/url.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ClosurePhoto {
    pub object_key: String,
    #[serde(default)]
    pub filename: String,
    #[serde(default)]
    pub url: String,
}

impl Model {
    pub fn status(&self) -> Status {
        Status::parse(&self.status).unwrap_or(Status::Open)
    }

    pub fn severity(&self) -> Severity {
        Severity::parse(&self.severity).unwrap_or(Severity::P3)
    }

    pub fn category(&self) -> Category {
        Category::parse(&self.category).unwrap_or(Category::Other)
    }

    pub fn closure_photos(&self) -> Vec<ClosurePhoto> {
        serde_json::from_str(&self.closure_photos).unwrap_or_default()
    }
}

pub mod signal {
    use sea_orm::entity::prelude::*;

    /// One payload received for an incident (`raw` when it opened it, `update` for a repeat,
    /// `recovery` for the clear).
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "incident_signals")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub tenant_id: Uuid,
        pub incident_id: Uuid,
        pub key: String,
        pub value: String,
        pub received_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_category_vocabularies_map_onto_one_set() {
        assert_eq!(Category::parse("Optical"), Some(Category::OpticalLowPower));
        assert_eq!(Category::parse("los"), Some(Category::Los));
        assert_eq!(Category::parse("Config"), Some(Category::ConfigDrift));
        assert_eq!(Category::Los.core_name(), "Optical");
        assert_eq!(Category::PowerLoss.scope(), OrganizationType::Maintenance);
        assert_eq!(Category::DeviceDown.scope(), OrganizationType::Technical);
        assert_eq!(Category::parse("plumbing"), None);
    }

    #[test]
    fn only_legal_moves_are_allowed() {
        assert!(Status::Open.can_move_to(Status::Acknowledged));
        assert!(Status::Open.can_move_to(Status::Resolved));
        assert!(!Status::Open.can_move_to(Status::Closed));
        assert!(!Status::Closed.can_move_to(Status::Open));
        assert!(Status::Resolved.can_move_to(Status::Closed));
        assert_eq!(Status::parse("In Progress"), Some(Status::InProgress));
        assert_eq!(Status::parse("Resolved"), Some(Status::Resolved));
    }
}
