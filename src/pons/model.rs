//! The `pons` row (sea-orm entity) and the domain values stored in it.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "pons")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub pon_code: String,
    pub name: String,
    pub location: String,
    pub ward: String,
    pub lat: Option<f64>,
    pub lng: Option<f64>,
    pub status: String,
    pub project_manager_id: Option<Uuid>,
    pub site_manager_id: Option<Uuid>,
    pub start_date: Option<Date>,
    pub expected_end_date: Option<Date>,
    pub actual_end_date: Option<Date>,
    pub fiber_count: i32,
    pub splitter_count: i32,
    /// JSON array of [`Equipment`].
    pub equipment: String,
    pub notes: String,
    pub progress: i32,
    pub geofence_center_lat: Option<f64>,
    pub geofence_center_lng: Option<f64>,
    pub geofence_radius_m: i32,
    pub sla_breaches: i64,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// Build state of a PON; stored as the old systems' strings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PonStatus {
    Planned,
    InProgress,
    Testing,
    Completed,
    Maintenance,
}

impl PonStatus {
    pub const ALL: [PonStatus; 5] = [
        PonStatus::Planned,
        PonStatus::InProgress,
        PonStatus::Testing,
        PonStatus::Completed,
        PonStatus::Maintenance,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PonStatus::Planned => "planned",
            PonStatus::InProgress => "in_progress",
            PonStatus::Testing => "testing",
            PonStatus::Completed => "completed",
            PonStatus::Maintenance => "maintenance",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == text)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum EquipmentStatus {
    #[default]
    Pending,
    Installed,
    Faulty,
    Replaced,
}

/// One piece of equipment on a PON (kept as JSON on the row).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Equipment {
    pub name: String,
    #[serde(default)]
    pub model: String,
    #[serde(default)]
    pub serial_number: String,
    #[serde(default)]
    pub status: EquipmentStatus,
}

impl Model {
    pub fn status(&self) -> PonStatus {
        PonStatus::parse(&self.status).unwrap_or(PonStatus::Planned)
    }

    pub fn equipment(&self) -> Vec<Equipment> {
        serde_json::from_str(&self.equipment).unwrap_or_default()
    }
}
