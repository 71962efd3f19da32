//! The `tenants`, `users` and `invites` rows (sea-orm entities).

pub mod tenant {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "tenants")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        /// Short unique name used at registration (`default`, `acme`).
        pub slug: String,
        pub name: String,
        /// IANA zone for times shown to people (mails, reports).
        pub time_zone: String,
        pub created_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod user {
    use sea_orm::entity::prelude::*;
    use serde::{Deserialize, Serialize};

    use crate::auth::Role;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "users")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub tenant_id: Uuid,
        pub organization_id: Option<Uuid>,
        pub name: String,
        /// Lower-case, unique over all tenants (login is by e-mail alone).
        pub email: String,
        /// argon2id PHC string.
        pub password_hash: String,
        pub phone: String,
        /// `ADMIN`, `PM`, `SITE`, `SMME`, `AUDITOR` or `NOC`.
        pub role: String,
        pub active: bool,
        /// Self-registered and not yet approved: may only read itself.
        pub pending_approval: bool,
        pub last_login_at: Option<DateTimeUtc>,
        /// Tokens issued before this instant are refused.
        pub password_changed_at: DateTimeUtc,
        /// JSON of [`Profile`].
        pub profile: String,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}

    /// Free-form details a user keeps about themselves.
    #[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Profile {
        #[serde(default)]
        pub avatar: String,
        #[serde(default)]
        pub department: String,
        #[serde(default)]
        pub location: String,
        #[serde(default)]
        pub experience: i32,
    }

    impl Model {
        pub fn role(&self) -> Role {
            // The CHECK constraint keeps the column to the six names.
            Role::parse(&self.role).unwrap_or(Role::Auditor)
        }

        pub fn profile(&self) -> Profile {
            serde_json::from_str(&self.profile).unwrap_or_default()
        }
    }
}

pub mod invite {
    use sea_orm::entity::prelude::*;

    /// A code that lets self-registrations join a tenant, a limited number of times.
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "invites")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub tenant_id: Uuid,
        pub code: String,
        pub expires_at: DateTimeUtc,
        pub max_uses: i32,
        pub uses: i32,
        pub created_by: Option<Uuid>,
        pub created_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
