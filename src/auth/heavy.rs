//! The heavy-write limiter: RPCs that write in bulk are limited per organization (per user
//! for callers without one) in each window, unless the verified role is a bypass role.

use std::time::Duration;

use super::{Principal, Role};
use crate::error::AppResult;
use crate::ratelimit::RateLimiter;

/// `package.Service/Method` → writes allowed per window by default (the old core API's per-route
/// defaults, core-api §2.4). The photo, plant, test and asset RPCs that these limits were made for
/// add their rows as they arrive.
pub const HEAVY_WRITES: &[(&str, u64)] = &[("kasi.fiber.v1.PhotoService/RegisterPhoto", 240)];

pub struct HeavyWrites {
    limiter: RateLimiter,
    table: &'static [(&'static str, u64)],
    /// `HEAVY_ORG_LIMIT`: replaces every route's default when set.
    override_limit: Option<u64>,
    window: Duration,
    bypass: Vec<Role>,
}

impl HeavyWrites {
    pub fn new(
        limiter: RateLimiter,
        table: &'static [(&'static str, u64)],
        override_limit: Option<u64>,
        window: Duration,
        bypass: Vec<Role>,
    ) -> Self {
        HeavyWrites {
            limiter,
            table,
            override_limit,
            window,
            bypass,
        }
    }

    /// Counts one call of `method` for the principal's organization; refuses once over the limit.
    pub async fn check(&self, method: &str, principal: &Principal) -> AppResult<()> {
        let Some((_, default_limit)) = self.table.iter().find(|(name, _)| *name == method) else {
            return Ok(());
        };
        if self.bypass.contains(&principal.role) {
            return Ok(());
        }
        let owner = match (principal.organization_id, principal.user_id) {
            (Some(organization), _) => format!("org:{organization}"),
            (None, Some(user)) => format!("user:{user}"),
            (None, None) => format!(
                "tenant:{}:role:{}",
                principal.tenant_id,
                principal.role.as_str()
            ),
        };
        let limit = self.override_limit.unwrap_or(*default_limit);
        self.limiter
            .check(&format!("heavy:{method}:{owner}"), limit, self.window)
            .await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use uuid::Uuid;

    use super::*;
    use crate::error::AppError;
    use crate::storage::cache::MemoryCache;

    const TABLE: &[(&str, u64)] = &[("pkg.Plant/CreateSplice", 2)];

    fn principal(role: Role, organization: Option<Uuid>) -> Principal {
        Principal {
            user_id: Some(Uuid::now_v7()),
            tenant_id: Uuid::now_v7(),
            role,
            organization_id: organization,
        }
    }

    fn heavy(override_limit: Option<u64>) -> HeavyWrites {
        let limiter = RateLimiter::new(Arc::new(MemoryCache::default()), false);
        HeavyWrites::new(
            limiter,
            TABLE,
            override_limit,
            Duration::from_secs(60),
            vec![Role::Noc],
        )
    }

    #[tokio::test]
    async fn limits_per_organization_with_bypass_from_the_verified_role() {
        let writes = heavy(None);
        let organization = Some(Uuid::now_v7());
        let (first, second) = (
            principal(Role::Smme, organization),
            principal(Role::Smme, organization),
        );
        writes
            .check("pkg.Plant/CreateSplice", &first)
            .await
            .unwrap();
        writes
            .check("pkg.Plant/CreateSplice", &second)
            .await
            .unwrap();
        assert!(
            matches!(
                writes.check("pkg.Plant/CreateSplice", &first).await,
                Err(AppError::RateLimited { .. })
            ),
            "two users of one organization share its budget"
        );
        writes
            .check(
                "pkg.Plant/CreateSplice",
                &principal(Role::Smme, Some(Uuid::now_v7())),
            )
            .await
            .unwrap();
        let noc = principal(Role::Noc, organization);
        for _ in 0..5 {
            writes.check("pkg.Plant/CreateSplice", &noc).await.unwrap();
        }
        for _ in 0..5 {
            writes.check("pkg.Other/Write", &first).await.unwrap();
        }
    }

    #[tokio::test]
    async fn the_override_replaces_every_default() {
        let writes = heavy(Some(1));
        let caller = principal(Role::Pm, None);
        writes
            .check("pkg.Plant/CreateSplice", &caller)
            .await
            .unwrap();
        assert!(
            writes
                .check("pkg.Plant/CreateSplice", &caller)
                .await
                .is_err()
        );
    }
}
