//! Rate limits over the cache port (shared through Redis across replicas, in-process
//! without it). During a store outage the limits are counted in this process (logged) unless
//! configured to fail closed.

use std::sync::Arc;
use std::time::Duration;

use crate::error::{AppError, AppResult};
use crate::storage::Cache;
use crate::storage::cache::MemoryCache;

#[derive(Clone)]
pub struct RateLimiter {
    cache: Arc<dyn Cache>,
    /// Counts hits while the cache is unavailable (per replica, so looser than the shared count).
    fallback: Arc<MemoryCache>,
    fail_closed: bool,
}

impl RateLimiter {
    pub fn new(cache: Arc<dyn Cache>, fail_closed: bool) -> Self {
        RateLimiter {
            cache,
            fallback: Arc::default(),
            fail_closed,
        }
    }

    /// Counts one hit on `key`; refused with the time until the window resets once over `limit`.
    pub async fn check(&self, key: &str, limit: u64, window: Duration) -> AppResult<()> {
        let key = format!("ratelimit:{key}");
        let count = match self.cache.hit(&key, window).await {
            Ok(count) => count,
            Err(err) if self.fail_closed => {
                tracing::error!(
                    error = format!("{err:#}"),
                    key,
                    "rate-limit store unavailable; refusing (fail-closed)"
                );
                return Err(AppError::Unavailable("rate limiting is unavailable".into()));
            }
            Err(err) => {
                tracing::warn!(
                    error = format!("{err:#}"),
                    key,
                    "rate-limit store unavailable; counting in this process"
                );
                self.fallback.hit(&key, window).await?
            }
        };
        if count.count > limit {
            return Err(AppError::RateLimited {
                message: "rate limit exceeded".into(),
                retry_after: Some(count.resets_in.max(Duration::from_secs(1))),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::cache::MemoryCache;

    #[tokio::test]
    async fn over_the_limit_is_refused_with_retry_after() {
        let limiter = RateLimiter::new(Arc::new(MemoryCache::default()), false);
        let window = Duration::from_secs(60);
        for _ in 0..3 {
            limiter.check("login:a", 3, window).await.unwrap();
        }
        match limiter.check("login:a", 3, window).await {
            Err(AppError::RateLimited {
                retry_after: Some(delay),
                ..
            }) => assert!(delay <= window),
            other => panic!("expected a refusal, got {other:?}"),
        }
        limiter.check("login:b", 3, window).await.unwrap();
    }
}
