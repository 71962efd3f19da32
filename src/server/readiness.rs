//! Readiness: a loop checks every configured dependency with a timeout, dampens flapping
//! (several failures to go down, one success to come back), and drives both the
//! `grpc.health.v1` statuses (`""`, one name per dependency and per service) and `GET /readyz`.
//! Only the database gates readiness; the others are reported as degraded by name.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use futures::future::BoxFuture;
use serde::Serialize;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

use crate::config::ReadinessConfig;
use crate::proto::v1::photo_service_server;
use crate::storage::Storage;

/// One dependency the server needs, and how to probe it.
pub struct Dependency {
    /// Also its name in `grpc.health.v1` and in `/readyz` (`database`, `cache`, `object_store`, `mail`).
    pub name: &'static str,
    /// Which backend is configured (`sqlite`, `postgres`, `redis`, ...).
    pub backend: &'static str,
    /// Whether the server is unready while this dependency is down (the database); the others
    /// have fallbacks or serve only some calls, so the server is merely degraded without them.
    pub required: bool,
    probe: Box<dyn Fn() -> BoxFuture<'static, anyhow::Result<()>> + Send + Sync>,
}

/// The dependencies of a server opened on `storage`.
pub fn dependencies(storage: &Storage) -> Vec<Dependency> {
    let db = storage.db.clone();
    let cache = storage.cache.clone();
    let objects = storage.objects.clone();
    let mailer = storage.mailer.clone();
    let db_backend = match db.get_database_backend() {
        sea_orm::DatabaseBackend::Postgres => "postgres",
        sea_orm::DatabaseBackend::Sqlite => "sqlite",
        _ => "other",
    };
    vec![
        Dependency {
            name: "database",
            backend: db_backend,
            required: true,
            probe: Box::new(move || {
                let db = db.clone();
                Box::pin(async move { crate::storage::db::ping(&db).await })
            }),
        },
        Dependency {
            name: "cache",
            backend: cache.backend(),
            required: false,
            probe: Box::new(move || {
                let cache = cache.clone();
                Box::pin(async move { cache.ping().await })
            }),
        },
        Dependency {
            name: "object_store",
            backend: objects.backend(),
            required: false,
            probe: Box::new(move || {
                let objects = objects.clone();
                Box::pin(async move { objects.ping().await })
            }),
        },
        Dependency {
            name: "mail",
            backend: mailer.backend(),
            required: false,
            probe: Box::new(move || {
                let mailer = mailer.clone();
                Box::pin(async move { mailer.ping().await })
            }),
        },
    ]
}

/// The dependencies a gRPC service of ours needs: every one the database; PhotoService also the
/// object store (the others never touch it, or only to delete, which is retried later).
fn needs(service: &str) -> &'static [&'static str] {
    if service == photo_service_server::SERVICE_NAME {
        &["database", "object_store"]
    } else {
        &["database"]
    }
}

/// What `/readyz` reports about one dependency: its state, never an error text (those are logged).
#[derive(Clone, Debug, Serialize)]
pub struct CheckReport {
    pub ok: bool,
    pub backend: &'static str,
}

/// The body of `/readyz`.
#[derive(Clone, Debug, Serialize)]
pub struct ReadinessReport {
    /// Whether the server takes traffic (the database is up and no shutdown has begun).
    pub ok: bool,
    /// `ready`, `degraded` (ready, some optional dependency down), `unready` or `shutting_down`.
    pub status: &'static str,
    /// Optional dependencies that are down.
    pub degraded: Vec<&'static str>,
    /// Why the server is unready: required dependencies that are down, or `shutting_down`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub failing: Vec<&'static str>,
    pub checks: BTreeMap<&'static str, CheckReport>,
}

#[derive(Clone, Default)]
struct DependencyState {
    /// False until the first successful check.
    up: bool,
    consecutive_failures: u32,
}

pub struct Readiness {
    dependencies: Vec<Dependency>,
    states: RwLock<Vec<DependencyState>>,
    /// Our gRPC services, each with its own health name.
    services: Vec<&'static str>,
    reporter: HealthReporter,
    /// What each health name was last set to: Watch streams hear only of changes.
    published: tokio::sync::Mutex<BTreeMap<String, ServingStatus>>,
    config: ReadinessConfig,
    shutting_down: AtomicBool,
}

impl Readiness {
    /// Starts with every name NOT_SERVING (tonic-health registers `""` as SERVING) until the
    /// first checks pass.
    pub async fn new(
        dependencies: Vec<Dependency>,
        services: Vec<&'static str>,
        reporter: HealthReporter,
        config: ReadinessConfig,
    ) -> Arc<Self> {
        let states = RwLock::new(vec![DependencyState::default(); dependencies.len()]);
        let readiness = Arc::new(Readiness {
            dependencies,
            states,
            services,
            reporter,
            published: Default::default(),
            config,
            shutting_down: AtomicBool::new(false),
        });
        let names = readiness
            .dependencies
            .iter()
            .map(|dependency| dependency.name)
            .chain(readiness.services.iter().copied());
        for name in std::iter::once("").chain(names) {
            readiness.set_status(name, ServingStatus::NotServing).await;
        }
        readiness
    }

    /// Sets one health name, unless it already has that status.
    async fn set_status(&self, name: &str, status: ServingStatus) {
        let mut published = self.published.lock().await;
        if published.get(name) != Some(&status) {
            published.insert(name.to_string(), status);
            self.reporter.set_service_status(name, status).await;
        }
    }

    /// Checks every dependency forever, one round per interval.
    pub async fn run(self: Arc<Self>) {
        let mut ticker = tokio::time::interval(self.config.interval());
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            if self.shutting_down.load(Ordering::SeqCst) {
                return;
            }
            self.check_once().await;
        }
    }

    /// One round: probe all dependencies concurrently, update the dampened states and the health
    /// statuses. A dependency going down is logged with its error; `/readyz` never shows it.
    pub async fn check_once(&self) {
        let timeout = self.config.timeout();
        let results =
            futures::future::join_all(self.dependencies.iter().map(|dependency| async move {
                match tokio::time::timeout(timeout, (dependency.probe)()).await {
                    Ok(Ok(())) => Ok(()),
                    Ok(Err(err)) => Err(format!("{err:#}")),
                    Err(_) => Err(format!("no answer within {} ms", timeout.as_millis())),
                }
            }))
            .await;
        let threshold = self.config.readiness_failure_threshold.max(1);
        let changes: Vec<(&'static str, Result<(), String>)> = {
            let mut states = self
                .states
                .write()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            let mut changes = Vec::new();
            for ((dependency, state), result) in
                self.dependencies.iter().zip(states.iter_mut()).zip(results)
            {
                let was_up = state.up;
                match &result {
                    Ok(()) => {
                        state.up = true;
                        state.consecutive_failures = 0;
                    }
                    Err(_) => {
                        state.consecutive_failures += 1;
                        if state.consecutive_failures >= threshold {
                            state.up = false;
                        }
                    }
                }
                if was_up != state.up || (!state.up && state.consecutive_failures == threshold) {
                    changes.push((dependency.name, result));
                }
            }
            changes
        };
        for (name, result) in changes {
            match result {
                Ok(()) => tracing::info!(dependency = name, "dependency is up"),
                Err(error) => tracing::warn!(dependency = name, error, "dependency is down"),
            }
        }
        self.publish().await;
    }

    /// The current verdict, as `/readyz` reports it.
    pub fn report(&self) -> ReadinessReport {
        let states = self
            .states
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut checks = BTreeMap::new();
        let mut failing = Vec::new();
        let mut degraded = Vec::new();
        for (dependency, state) in self.dependencies.iter().zip(states.iter()) {
            if !state.up {
                if dependency.required {
                    failing.push(dependency.name);
                } else {
                    degraded.push(dependency.name);
                }
            }
            checks.insert(
                dependency.name,
                CheckReport {
                    ok: state.up,
                    backend: dependency.backend,
                },
            );
        }
        let shutting_down = self.shutting_down.load(Ordering::SeqCst);
        if shutting_down {
            failing.push("shutting_down");
        }
        let status = if shutting_down {
            "shutting_down"
        } else if !failing.is_empty() {
            "unready"
        } else if !degraded.is_empty() {
            "degraded"
        } else {
            "ready"
        };
        ReadinessReport {
            ok: failing.is_empty(),
            status,
            degraded,
            failing,
            checks,
        }
    }

    async fn publish(&self) {
        let report = self.report();
        let serving = |up: bool| {
            if up && !self.shutting_down.load(Ordering::SeqCst) {
                ServingStatus::Serving
            } else {
                ServingStatus::NotServing
            }
        };
        // Dependencies and services first, so whoever sees `""` change finds them up to date.
        for (name, check) in &report.checks {
            self.set_status(name, serving(check.ok)).await;
        }
        for service in &self.services {
            let up = needs(service)
                .iter()
                .all(|dependency| report.checks.get(dependency).is_some_and(|check| check.ok));
            self.set_status(service, serving(up)).await;
        }
        self.set_status("", serving(report.ok)).await;
    }

    /// From now on every health status is NOT_SERVING and `/readyz` is 503.
    pub async fn begin_shutdown(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
        self.publish().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_photo_service_needs_the_object_store() {
        assert_eq!(
            needs("kasi.fiber.v1.PhotoService"),
            ["database", "object_store"]
        );
        assert_eq!(needs("kasi.fiber.v1.PonService"), ["database"]);
        assert_eq!(needs("kasi.fiber.v1.CertificateService"), ["database"]);
    }
}
