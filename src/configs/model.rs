//! The `device_configs` and `golden_templates` rows (sea-orm entities) and a stored violation.

use serde::{Deserialize, Serialize};

pub mod config {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "device_configs")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub tenant_id: Uuid,
        pub device_id: Uuid,
        pub running_config: String,
        pub hash_sha256: String,
        pub previous_id: Option<Uuid>,
        pub diff: String,
        /// JSON array of [`super::Violation`].
        pub violations: String,
        pub incident_id: Option<Uuid>,
        pub collected_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}

    impl Model {
        pub fn violations(&self) -> Vec<super::Violation> {
            serde_json::from_str(&self.violations).unwrap_or_default()
        }
    }
}

pub mod template {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "golden_templates")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub tenant_id: Uuid,
        /// A device type in its stored form (`OLT`).
        pub device_type: String,
        /// Lower case; empty for every vendor.
        pub vendor: String,
        pub template_text: String,
        /// JSON array of regular expressions.
        pub deny_patterns: String,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}

    impl Model {
        pub fn deny_patterns(&self) -> Vec<String> {
            serde_json::from_str(&self.deny_patterns).unwrap_or_default()
        }
    }
}

/// One config line that broke a deny rule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violation {
    /// 1-based.
    pub line: usize,
    pub text: String,
    pub pattern: String,
}
