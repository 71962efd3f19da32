//! Readiness: a loop checks every configured dependency with a timeout, dampens flapping
//! (several failures to go down, one success to come back), and drives both the
//! `grpc.health.v1` statuses (`""` and one name per dependency) and `GET /readyz`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use futures::future::BoxFuture;
use serde::Serialize;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

use crate::config::ReadinessConfig;
use crate::storage::Storage;

/// One dependency the server needs, and how to probe it.
pub struct Dependency {
    /// Also its name in `grpc.health.v1` and in `/readyz` (`database`, `cache`, `object_store`, `mail`).
    pub name: &'static str,
    /// Which backend is configured (`sqlite`, `postgres`, `redis`, ...).
    pub backend: &'static str,
    /// Whether the server is unready while this dependency is down (mail is reported, not gating).
    pub gates_readiness: bool,
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
            gates_readiness: true,
            probe: Box::new(move || {
                let db = db.clone();
                Box::pin(async move { crate::storage::db::ping(&db).await })
            }),
        },
        Dependency {
            name: "cache",
            backend: cache.backend(),
            gates_readiness: true,
            probe: Box::new(move || {
                let cache = cache.clone();
                Box::pin(async move { cache.ping().await })
            }),
        },
        Dependency {
            name: "object_store",
            backend: objects.backend(),
            gates_readiness: true,
            probe: Box::new(move || {
                let objects = objects.clone();
                Box::pin(async move { objects.ping().await })
            }),
        },
        Dependency {
            name: "mail",
            backend: mailer.backend(),
            gates_readiness: false,
            probe: Box::new(move || {
                let mailer = mailer.clone();
                Box::pin(async move { mailer.ping().await })
            }),
        },
    ]
}

/// What `/readyz` reports about one dependency.
#[derive(Clone, Debug, Serialize)]
pub struct CheckReport {
    pub ok: bool,
    pub backend: &'static str,
    pub gates_readiness: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The body of `/readyz`.
#[derive(Clone, Debug, Serialize)]
pub struct ReadinessReport {
    pub ok: bool,
    pub checks: BTreeMap<&'static str, CheckReport>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub failing: Vec<String>,
}

#[derive(Clone, Default)]
struct DependencyState {
    /// False until the first successful check.
    up: bool,
    consecutive_failures: u32,
    last_error: Option<String>,
}

pub struct Readiness {
    dependencies: Vec<Dependency>,
    states: RwLock<Vec<DependencyState>>,
    reporter: HealthReporter,
    /// What each health name was last set to: Watch streams hear only of changes.
    published: tokio::sync::Mutex<BTreeMap<String, ServingStatus>>,
    config: ReadinessConfig,
    shutting_down: AtomicBool,
}

impl Readiness {
    /// Starts with `""` NOT_SERVING (tonic-health registers it as SERVING) until the first checks pass.
    pub async fn new(
        dependencies: Vec<Dependency>,
        reporter: HealthReporter,
        config: ReadinessConfig,
    ) -> Arc<Self> {
        let states = RwLock::new(vec![DependencyState::default(); dependencies.len()]);
        let readiness = Arc::new(Readiness {
            dependencies,
            states,
            reporter,
            published: Default::default(),
            config,
            shutting_down: AtomicBool::new(false),
        });
        readiness.set_status("", ServingStatus::NotServing).await;
        for dependency in &readiness.dependencies {
            readiness
                .set_status(dependency.name, ServingStatus::NotServing)
                .await;
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

    /// One round: probe all dependencies concurrently, update the dampened states and the health statuses.
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
        let changes: Vec<(&'static str, bool, Option<String>)> = {
            let mut states = self
                .states
                .write()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            let mut changes = Vec::new();
            for ((dependency, state), result) in
                self.dependencies.iter().zip(states.iter_mut()).zip(results)
            {
                let was_up = state.up;
                match result {
                    Ok(()) => {
                        state.up = true;
                        state.consecutive_failures = 0;
                        state.last_error = None;
                    }
                    Err(error) => {
                        state.consecutive_failures += 1;
                        state.last_error = Some(error);
                        if state.consecutive_failures >= threshold {
                            state.up = false;
                        }
                    }
                }
                if was_up != state.up || (!state.up && state.consecutive_failures == threshold) {
                    changes.push((dependency.name, state.up, state.last_error.clone()));
                }
            }
            changes
        };
        for (name, up, error) in changes {
            if up {
                tracing::info!(dependency = name, "dependency is up");
            } else {
                tracing::warn!(
                    dependency = name,
                    error = error.as_deref().unwrap_or(""),
                    "dependency is down"
                );
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
        for (dependency, state) in self.dependencies.iter().zip(states.iter()) {
            if dependency.gates_readiness && !state.up {
                failing.push(dependency.name.to_string());
            }
            checks.insert(
                dependency.name,
                CheckReport {
                    ok: state.up,
                    backend: dependency.backend,
                    gates_readiness: dependency.gates_readiness,
                    error: if state.up {
                        None
                    } else {
                        Some(
                            state
                                .last_error
                                .clone()
                                .unwrap_or_else(|| "not checked yet".into()),
                        )
                    },
                },
            );
        }
        if self.shutting_down.load(Ordering::SeqCst) {
            failing.push("shutting_down".into());
        }
        ReadinessReport {
            ok: failing.is_empty(),
            checks,
            failing,
        }
    }

    async fn publish(&self) {
        let report = self.report();
        let overall = if report.ok {
            ServingStatus::Serving
        } else {
            ServingStatus::NotServing
        };
        // Dependencies first, so whoever sees `""` change finds them already up to date.
        for (name, check) in &report.checks {
            let status = if check.ok && !self.shutting_down.load(Ordering::SeqCst) {
                ServingStatus::Serving
            } else {
                ServingStatus::NotServing
            };
            self.set_status(name, status).await;
        }
        self.set_status("", overall).await;
    }

    /// From now on every health status is NOT_SERVING and `/readyz` is 503.
    pub async fn begin_shutdown(&self, service_names: &[&str]) {
        self.shutting_down.store(true, Ordering::SeqCst);
        self.publish().await;
        for name in service_names {
            self.set_status(name, ServingStatus::NotServing).await;
        }
    }
}
