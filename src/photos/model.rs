//! The `photos`, `certificates` and `pon_geofences` rows (sea-orm entities).

pub mod photo {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "photos")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub tenant_id: Uuid,
        pub task_id: Option<Uuid>,
        pub pon_id: Uuid,
        pub pole_number: Option<String>,
        pub object_key: String,
        pub content_type: String,
        pub size_bytes: i64,
        pub sha256: String,
        pub original_name: String,
        /// The capture instant (EXIF time at its offset, or in the tenant's zone).
        pub taken_at: Option<DateTimeUtc>,
        /// The offset the capture time was read at (`+02:00`).
        pub taken_offset: Option<String>,
        /// `exif_offset`, or `tenant_zone:<IANA name>` when the camera wrote no offset.
        pub time_source: Option<String>,
        pub lat: Option<f64>,
        pub lng: Option<f64>,
        pub exif_ok: bool,
        pub within_geofence: bool,
        /// `valid` or `invalid`.
        pub verdict: String,
        /// JSON array of reason strings (empty when valid).
        pub reasons: String,
        pub uploaded_by: Option<Uuid>,
        pub created_at: DateTimeUtc,
        pub validated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}

    impl Model {
        pub fn reasons(&self) -> Vec<String> {
            serde_json::from_str(&self.reasons).unwrap_or_default()
        }

        pub fn is_valid(&self) -> bool {
            self.verdict == "valid"
        }
    }
}

pub mod certificate {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "certificates")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub tenant_id: Uuid,
        pub pon_id: Uuid,
        pub pole_number: Option<String>,
        pub pole_length_m: f64,
        pub depth_m: f64,
        pub tag_height_m: f64,
        pub hook_position: Option<String>,
        pub alignment_ok: bool,
        pub comments: Option<String>,
        pub passed: bool,
        /// The valid photo that allowed the certificate.
        pub photo_id: Uuid,
        pub checked_by: Option<Uuid>,
        pub checked_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod geofence {
    use sea_orm::entity::prelude::*;

    /// A PON's polygon geofence (GeoJSON Polygon or MultiPolygon).
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "pon_geofences")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub pon_id: Uuid,
        pub tenant_id: Uuid,
        pub geojson: String,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
