//! The `optical_readings` and `optical_thresholds` rows (sea-orm entities) and their vocabularies.

pub mod reading {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "optical_readings")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub tenant_id: Uuid,
        pub pon_id: Option<Uuid>,
        pub device_id: Option<Uuid>,
        pub onu_id: String,
        pub port: String,
        /// A [`super::Direction`] form.
        pub direction: String,
        pub power_dbm: f64,
        pub olt_slot: String,
        pub olt_port: String,
        pub vendor: String,
        pub model: String,
        /// A [`super::Source`] form.
        pub source: String,
        pub taken_at: DateTimeUtc,
        pub created_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod thresholds {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "optical_thresholds")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: Uuid,
        pub to_onu_warn_dbm: f64,
        pub to_onu_critical_dbm: f64,
        pub to_olt_warn_dbm: f64,
        pub to_olt_critical_dbm: f64,
        pub drift_db: f64,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Which way the light travels (the legacy API's `to_onu` / `to_olt`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Direction {
    ToOnu,
    ToOlt,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::ToOnu => "to_onu",
            Direction::ToOlt => "to_olt",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "to_onu" => Some(Direction::ToOnu),
            "to_olt" => Some(Direction::ToOlt),
            _ => None,
        }
    }
}

/// Where a reading came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Source {
    #[default]
    Nms,
    Field,
    Import,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Nms => "NMS",
            Source::Field => "field",
            Source::Import => "import",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Source::Nms, Source::Field, Source::Import]
            .into_iter()
            .find(|source| source.as_str() == text)
    }
}
