//! The `stringing_runs` row (sea-orm entity).

use sea_orm::entity::prelude::*;

use crate::organizations::store::Scoped;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "stringing_runs")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub pon_id: Uuid,
    pub organization_id: Uuid,
    pub crew: String,
    pub meters: f64,
    pub completed_on: Date,
    pub notes: String,
    pub created_by: Option<Uuid>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

impl Scoped for Entity {
    const ID: Column = Column::Id;
    const TENANT: Column = Column::TenantId;
    const ORGANIZATION: Column = Column::OrganizationId;
}
