//! Authentication and authorization: passwords (argon2), tokens (HS256 JWT), roles, the
//! one permission table every RPC is declared in, and the guard all surfaces go through.

pub mod guard;
pub mod heavy;
pub mod jwt;
pub mod passwords;
pub mod permissions;
pub mod roles;

use uuid::Uuid;

pub use roles::Role;

/// The verified caller of a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// None for callers of an external identity provider with no account here, or the dev X-Role switch.
    pub user_id: Option<Uuid>,
    pub tenant_id: Uuid,
    pub role: Role,
    pub organization_id: Option<Uuid>,
}
