//! Cache port (rate-limit counters, locks): in-process by default, Redis through `fred`
//! when `REDIS_URL` is set. The Redis client never fails fast, times every command out
//! and reconnects forever, so an outage shows in readiness instead of breaking start-up;
//! after a failed command it skips Redis (failing at once) until Redis answers a ping again.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use fred::prelude::{Builder, ClientLike, Config as RedisConfig, LuaInterface, ReconnectPolicy};

/// The state of one fixed rate-limit window after a hit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WindowCount {
    /// Hits in the current window, this one included.
    pub count: u64,
    /// Time until the window starts over.
    pub resets_in: Duration,
}

#[async_trait::async_trait]
pub trait Cache: Send + Sync + 'static {
    /// Which backend this is, for logs and readiness (`memory` or `redis`).
    fn backend(&self) -> &'static str;

    /// Counts one hit on `key` in a fixed window of `window` that starts at the first hit.
    async fn hit(&self, key: &str, window: Duration) -> anyhow::Result<WindowCount>;

    /// Takes the lock `key` for at most `ttl` unless someone holds it; true when taken.
    async fn try_lock(&self, key: &str, ttl: Duration) -> anyhow::Result<bool>;

    /// Releases a lock this process took (a lock taken elsewhere, or expired, is left alone).
    async fn unlock(&self, key: &str) -> anyhow::Result<()>;

    /// Readiness probe.
    async fn ping(&self) -> anyhow::Result<()>;
}

/// Opens Redis when a URL is given, otherwise the in-process cache.
pub async fn open(
    redis_url: Option<&str>,
    key_prefix: &str,
    command_timeout: Duration,
) -> anyhow::Result<std::sync::Arc<dyn Cache>> {
    Ok(match redis_url {
        Some(url) => std::sync::Arc::new(RedisCache::connect(url, key_prefix, command_timeout)?),
        None => std::sync::Arc::new(MemoryCache::default()),
    })
}

/// Counters kept in this process (one replica only).
#[derive(Default)]
pub struct MemoryCache {
    windows: Mutex<HashMap<String, (u64, Instant)>>,
    /// Held locks and when they expire.
    locks: Mutex<HashMap<String, Instant>>,
}

#[async_trait::async_trait]
impl Cache for MemoryCache {
    fn backend(&self) -> &'static str {
        "memory"
    }

    async fn hit(&self, key: &str, window: Duration) -> anyhow::Result<WindowCount> {
        let now = Instant::now();
        let mut windows = self
            .windows
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if windows.len() > 100_000 {
            windows.retain(|_, (_, ends)| *ends > now);
        }
        let entry = windows.entry(key.to_string()).or_insert((0, now + window));
        if entry.1 <= now {
            *entry = (0, now + window);
        }
        entry.0 += 1;
        Ok(WindowCount {
            count: entry.0,
            resets_in: entry.1 - now,
        })
    }

    async fn try_lock(&self, key: &str, ttl: Duration) -> anyhow::Result<bool> {
        let now = Instant::now();
        let mut locks = self
            .locks
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        locks.retain(|_, expires| *expires > now);
        if locks.contains_key(key) {
            return Ok(false);
        }
        locks.insert(key.to_string(), now + ttl);
        Ok(true)
    }

    async fn unlock(&self, key: &str) -> anyhow::Result<()> {
        self.locks
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .remove(key);
        Ok(())
    }

    async fn ping(&self) -> anyhow::Result<()> {
        Ok(())
    }
}

/// Counters shared by every replica through Redis.
pub struct RedisCache {
    client: fred::clients::Client,
    key_prefix: String,
    /// The value this process writes into the locks it takes, so it releases only its own.
    lock_token: String,
    /// Set when a command failed (a timeout, a lost connection): commands then fail at once, so
    /// a hung Redis costs one request its command timeout, not every request. Cleared when Redis
    /// answers a ping (the readiness loop probes it every `READINESS_INTERVAL_MS`).
    skipping: AtomicBool,
}

/// INCR the key; start its expiry on the first hit; answer the count and the time left.
const HIT_SCRIPT: &str = r"
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
return {count, ttl}
";

/// SET NX PX: take the lock when it is free.
const LOCK_SCRIPT: &str = r"
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
return 0
";

/// DEL the lock only while it still holds our token.
const UNLOCK_SCRIPT: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
";

impl RedisCache {
    pub fn connect(url: &str, key_prefix: &str, command_timeout: Duration) -> anyhow::Result<Self> {
        let mut config = RedisConfig::from_url(url).context("REDIS_URL")?;
        config.fail_fast = false;
        let client = Builder::from_config(config)
            .with_performance_config(|perf| perf.default_command_timeout = command_timeout)
            .with_connection_config(|conn| {
                conn.connection_timeout = command_timeout;
                conn.internal_command_timeout = command_timeout;
            })
            // max_attempts 0: retry forever, backing off from 100 ms to 5 s.
            .set_policy(ReconnectPolicy::new_exponential(0, 100, 5_000, 2))
            .build()
            .context("building the Redis client")?;
        // Runs in the background; commands wait (up to their timeout) while it (re)connects.
        let _connection_task = client.connect();
        Ok(RedisCache {
            client,
            key_prefix: key_prefix.to_string(),
            lock_token: uuid::Uuid::now_v7().to_string(),
            skipping: AtomicBool::new(false),
        })
    }

    /// Runs one command unless Redis is being skipped; a failure starts skipping it.
    async fn command<T>(
        &self,
        what: &'static str,
        command: impl Future<Output = Result<T, fred::error::Error>>,
    ) -> anyhow::Result<T> {
        if self.skipping.load(Ordering::Relaxed) {
            anyhow::bail!("{what}: Redis is skipped after a failure, until it answers a ping");
        }
        command.await.map_err(|error| {
            if !self.skipping.swap(true, Ordering::Relaxed) {
                tracing::warn!(error = %error, "Redis failed; skipping it until it answers a ping");
            }
            anyhow::Error::from(error).context(what)
        })
    }
}

#[async_trait::async_trait]
impl Cache for RedisCache {
    fn backend(&self) -> &'static str {
        "redis"
    }

    async fn hit(&self, key: &str, window: Duration) -> anyhow::Result<WindowCount> {
        let window_ms = window.as_millis().max(1) as i64;
        let (count, ttl_ms): (i64, i64) = self
            .command(
                "redis rate-limit window",
                self.client.eval(
                    HIT_SCRIPT,
                    vec![format!("{}{key}", self.key_prefix)],
                    vec![window_ms],
                ),
            )
            .await?;
        Ok(WindowCount {
            count: count.max(0) as u64,
            resets_in: Duration::from_millis(ttl_ms.max(0) as u64),
        })
    }

    async fn try_lock(&self, key: &str, ttl: Duration) -> anyhow::Result<bool> {
        let taken: i64 = self
            .command(
                "redis lock",
                self.client.eval(
                    LOCK_SCRIPT,
                    vec![format!("{}{key}", self.key_prefix)],
                    vec![self.lock_token.clone(), ttl.as_millis().max(1).to_string()],
                ),
            )
            .await?;
        Ok(taken == 1)
    }

    async fn unlock(&self, key: &str) -> anyhow::Result<()> {
        let _: i64 = self
            .command(
                "redis unlock",
                self.client.eval(
                    UNLOCK_SCRIPT,
                    vec![format!("{}{key}", self.key_prefix)],
                    vec![self.lock_token.clone()],
                ),
            )
            .await?;
        Ok(())
    }

    /// Always asks Redis (skipping or not); an answer ends the skipping.
    async fn ping(&self) -> anyhow::Result<()> {
        let _: String = self.client.ping(None).await.context("redis PING")?;
        if self.skipping.swap(false, Ordering::Relaxed) {
            tracing::info!("Redis answers again; no longer skipped");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn memory_window_counts_and_resets() {
        let cache = MemoryCache::default();
        let window = Duration::from_millis(50);
        assert_eq!(cache.hit("k", window).await.unwrap().count, 1);
        assert_eq!(cache.hit("k", window).await.unwrap().count, 2);
        assert_eq!(cache.hit("other", window).await.unwrap().count, 1);
        tokio::time::sleep(Duration::from_millis(60)).await;
        let after = cache.hit("k", window).await.unwrap();
        assert_eq!(after.count, 1);
        assert!(after.resets_in <= window);
    }

    #[tokio::test]
    async fn memory_lock_is_exclusive_until_released_or_expired() {
        let cache = MemoryCache::default();
        let ttl = Duration::from_millis(50);
        assert!(cache.try_lock("job", ttl).await.unwrap());
        assert!(!cache.try_lock("job", ttl).await.unwrap());
        assert!(cache.try_lock("other", ttl).await.unwrap());
        cache.unlock("job").await.unwrap();
        assert!(cache.try_lock("job", ttl).await.unwrap());
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert!(cache.try_lock("job", ttl).await.unwrap(), "expired");
    }
}
