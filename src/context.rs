//! Who is calling: the verified principal (when the RPC needs one) and the tenant that
//! every query is scoped by. Public RPCs run in the default tenant.

use uuid::Uuid;

use crate::auth::{Principal, Role};

/// The tenant every install starts with (created by the migrations).
pub const DEFAULT_TENANT: Uuid = Uuid::from_u128(0x0000_0000_0000_7000_8000_0000_0000_0001);

#[derive(Clone, Debug)]
pub struct RequestContext {
    pub tenant_id: Uuid,
    pub principal: Option<Principal>,
}

impl RequestContext {
    /// The context of a request the guard let through (its principal, if any, is in the extensions).
    pub fn from_extensions(extensions: &http::Extensions) -> Self {
        match extensions.get::<Principal>() {
            Some(principal) => Self::for_principal(principal.clone()),
            None => Self::anonymous(),
        }
    }

    pub fn for_principal(principal: Principal) -> Self {
        RequestContext {
            tenant_id: principal.tenant_id,
            principal: Some(principal),
        }
    }

    /// A caller without credentials (public RPCs) in the default tenant.
    pub fn anonymous() -> Self {
        RequestContext {
            tenant_id: DEFAULT_TENANT,
            principal: None,
        }
    }

    pub fn role(&self) -> Option<Role> {
        self.principal.as_ref().map(|principal| principal.role)
    }

    pub fn user_id(&self) -> Option<Uuid> {
        self.principal
            .as_ref()
            .and_then(|principal| principal.user_id)
    }

    pub fn is_admin(&self) -> bool {
        self.role() == Some(Role::Admin)
    }
}
