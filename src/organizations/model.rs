//! The `organizations`, `contracts` and `assignments` rows (sea-orm entities) and the
//! vocabularies stored in them.

/// The kind of work an organization does, which is also the scope of a contract.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OrganizationType {
    Civil,
    Technical,
    Maintenance,
    Sales,
}

impl OrganizationType {
    pub const ALL: [OrganizationType; 4] = [
        OrganizationType::Civil,
        OrganizationType::Technical,
        OrganizationType::Maintenance,
        OrganizationType::Sales,
    ];

    /// The stored form, as in the old core API.
    pub fn as_str(self) -> &'static str {
        match self {
            OrganizationType::Civil => "Civil",
            OrganizationType::Technical => "Technical",
            OrganizationType::Maintenance => "Maintenance",
            OrganizationType::Sales => "Sales",
        }
    }

    /// The stored form in any case (`Civil`, `civil`).
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|kind| kind.as_str().eq_ignore_ascii_case(text.trim()))
    }
}

/// The steps an assignment may name: the work steps, then the legacy Express step names.
pub const STEP_TYPES: [&str; 12] = [
    "Permissions",
    "PolePlanting",
    "CAC",
    "Stringing",
    "Invoicing",
    "cac_check",
    "stringing",
    "installation",
    "testing",
    "maintenance",
    "documentation",
    "other",
];

pub mod organization {
    use sea_orm::entity::prelude::*;

    use super::OrganizationType;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "organizations")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub tenant_id: Uuid,
        /// Unique within the tenant.
        pub name: String,
        /// An [`OrganizationType`] (CHECK constraint).
        #[sea_orm(column_name = "type")]
        pub r#type: String,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}

    impl Model {
        pub fn kind(&self) -> OrganizationType {
            OrganizationType::parse(&self.r#type).unwrap_or(OrganizationType::Civil)
        }
    }
}

pub mod contract {
    use sea_orm::entity::prelude::*;

    use super::OrganizationType;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "contracts")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub tenant_id: Uuid,
        pub organization_id: Uuid,
        /// An [`OrganizationType`] (CHECK constraint).
        pub scope_type: String,
        /// JSON array of ward names.
        pub wards: String,
        pub sla_p1_min: Option<i32>,
        pub sla_p2_min: Option<i32>,
        pub sla_p3_min: Option<i32>,
        pub sla_p4_min: Option<i32>,
        pub rate_card_ref: Option<String>,
        pub active: bool,
        pub valid_from: Option<Date>,
        pub valid_to: Option<Date>,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}

    impl Model {
        pub fn scope(&self) -> OrganizationType {
            OrganizationType::parse(&self.scope_type).unwrap_or(OrganizationType::Civil)
        }

        pub fn wards(&self) -> Vec<String> {
            serde_json::from_str(&self.wards).unwrap_or_default()
        }
    }
}

pub mod assignment {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "assignments")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub tenant_id: Uuid,
        pub organization_id: Uuid,
        /// A PON of the same tenant; at least one of `pon_id` and `ward` is set.
        pub pon_id: Option<Uuid>,
        pub ward: Option<String>,
        /// One of [`super::STEP_TYPES`] (CHECK constraint).
        pub step_type: String,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

#[cfg(test)]
mod tests {
    use super::OrganizationType;

    #[test]
    fn types_parse_in_any_case() {
        assert_eq!(
            OrganizationType::parse("maintenance"),
            Some(OrganizationType::Maintenance)
        );
        assert_eq!(
            OrganizationType::parse("Civil"),
            Some(OrganizationType::Civil)
        );
        assert_eq!(OrganizationType::parse("Plumbing"), None);
    }
}
