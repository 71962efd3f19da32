//! Who is calling: the tenant that every query is scoped by. Until authentication
//! (tokens, roles) lands, every caller acts in the default tenant.

use uuid::Uuid;

/// The tenant of a deployment that has not configured tenants yet.
pub const DEFAULT_TENANT: Uuid = Uuid::from_u128(0x0000_0000_0000_7000_8000_0000_0000_0001);

#[derive(Clone, Debug)]
pub struct RequestContext {
    pub tenant_id: Uuid,
}

impl RequestContext {
    pub fn for_tenant(tenant_id: Uuid) -> Self {
        RequestContext { tenant_id }
    }

    /// The caller of a request that carries no credentials (single-tenant deployments).
    pub fn anonymous() -> Self {
        Self::for_tenant(DEFAULT_TENANT)
    }
}
