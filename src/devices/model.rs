//! The `devices` row (sea-orm entity) and its vocabularies: device types and statuses.

use sea_orm::entity::prelude::*;

use crate::organizations::store::Scoped;

/// Device types of the Express model (a superset of the core API's roles).
pub const TYPES: [&str; 12] = [
    "OLT",
    "ONU",
    "ONT",
    "SWITCH",
    "ROUTER",
    "SPLITTER",
    "UPS",
    "GENERATOR",
    "BATTERY",
    "PDU",
    "CPE",
    "WIFI",
];

pub const STATUSES: [&str; 4] = ["up", "down", "degraded", "maintenance"];

/// A device type in its stored form (`olt` → `OLT`), if it is one.
pub fn parse_type(text: &str) -> Option<&'static str> {
    TYPES
        .into_iter()
        .find(|kind| kind.eq_ignore_ascii_case(text.trim()))
}

/// A device status in its stored form; the core API's `Active` counts as `up`.
pub fn parse_status(text: &str) -> Option<&'static str> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("active") {
        return Some("up");
    }
    STATUSES
        .into_iter()
        .find(|status| status.eq_ignore_ascii_case(text))
}

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, serde::Serialize)]
#[sea_orm(table_name = "devices")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    /// Unique within the tenant.
    pub name: String,
    /// One of [`TYPES`].
    #[sea_orm(column_name = "type")]
    pub r#type: String,
    pub vendor: String,
    pub model: String,
    pub serial: String,
    pub mgmt_ip: String,
    pub site: String,
    pub ward: String,
    pub pon_id: Option<Uuid>,
    pub olt_chassis: String,
    pub olt_slot: String,
    pub olt_port: String,
    pub onu_id: String,
    /// One of [`STATUSES`].
    pub status: String,
    pub last_seen_at: Option<DateTimeUtc>,
    pub lat: Option<f64>,
    pub lng: Option<f64>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// Devices belong to no organization: the tenant column stands in, and reads never narrow by it.
impl Scoped for Entity {
    const ID: Column = Column::Id;
    const TENANT: Column = Column::TenantId;
    const ORGANIZATION: Column = Column::TenantId;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vocabularies_parse_in_any_case() {
        assert_eq!(parse_type("olt"), Some("OLT"));
        assert_eq!(parse_type("Toaster"), None);
        assert_eq!(parse_status("Active"), Some("up"));
        assert_eq!(parse_status("DOWN"), Some("down"));
        assert_eq!(parse_status("broken"), None);
    }
}
