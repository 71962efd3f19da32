//! Scheduled background jobs: each is a plain async function that tests call with a chosen
//! time, run by the server on an interval and guarded by a per-run lock.

pub mod sla;

use std::future::Future;
use std::time::Duration;

use tokio::time::{Instant, MissedTickBehavior, interval_at};

/// Runs `job` every `interval`, the first time one interval from now, until the task running
/// this future is dropped or aborted. A failed run is logged and the schedule goes on.
pub async fn every<F, Fut>(name: &'static str, interval: Duration, mut job: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let mut ticker = interval_at(Instant::now() + interval, interval);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        if let Err(error) = job().await {
            tracing::warn!(
                job = name,
                error = format!("{error:#}"),
                "scheduled job failed"
            );
        }
    }
}
