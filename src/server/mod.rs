//! The one listener: assembles gRPC services (with health and reflection), grpc-web on
//! the gRPC routes only, the core-API paths, the REST transcoder as fallback, probes and
//! OpenAPI, wraps them in CORS, request ids, tracing, request limits and a body limit, and runs
//! it with graceful shutdown.

pub mod input;
pub mod limits;
mod listener;
pub mod readiness;
pub mod transcode;
pub mod wire;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::{DefaultBodyLimit, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{HeaderName, HeaderValue, Method, StatusCode};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::codec::CompressionEncoding;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnFailure, DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::audit::AuditService;
use crate::audit::grpc::AuditGrpc;
use crate::auth::{self, guard::Guard};
use crate::certificates::{CertificateService, grpc::CertificateGrpc};
use crate::client_addr::TrustedProxies;
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::configs::{ConfigService, grpc::ConfigGrpc, oxidized};
use crate::core_api::{self, CoreApi};
use crate::devices::{DeviceService, grpc::DeviceGrpc};
use crate::idempotency::Idempotency;
use crate::identity::IdentityService;
use crate::identity::grpc::{AuthGrpc, UserGrpc};
use crate::identity::service::LoginLimits;
use crate::incidents::{IncidentService, grpc::IncidentGrpc};
use crate::jobs::{self, sla::SlaScan};
use crate::legacy::{self, LegacyState};
use crate::optical::{OpticalService, grpc::OpticalGrpc};
use crate::organizations::{OrganizationsService, grpc::OrganizationsGrpc};
use crate::photos::{PhotoEvidenceGate, PhotoService, grpc::PhotoGrpc};
use crate::pons::{PonService, grpc::PonGrpc};
use crate::proto::v1::assignment_service_server::AssignmentServiceServer;
use crate::proto::v1::audit_service_server::AuditServiceServer;
use crate::proto::v1::auth_service_server::AuthServiceServer;
use crate::proto::v1::certificate_service_server::CertificateServiceServer;
use crate::proto::v1::config_service_server::ConfigServiceServer;
use crate::proto::v1::contract_service_server::ContractServiceServer;
use crate::proto::v1::device_service_server::DeviceServiceServer;
use crate::proto::v1::incident_service_server::IncidentServiceServer;
use crate::proto::v1::maintenance_window_service_server::MaintenanceWindowServiceServer;
use crate::proto::v1::optical_service_server::OpticalServiceServer;
use crate::proto::v1::organization_service_server::OrganizationServiceServer;
use crate::proto::v1::photo_service_server::PhotoServiceServer;
use crate::proto::v1::pon_service_server::PonServiceServer;
use crate::proto::v1::report_service_server::ReportServiceServer;
use crate::proto::v1::spare_service_server::SpareServiceServer;
use crate::proto::v1::stringing_service_server::StringingServiceServer;
use crate::proto::v1::task_service_server::TaskServiceServer;
use crate::proto::v1::user_service_server::UserServiceServer;
use crate::proto::{self};
use crate::ratelimit::RateLimiter;
use crate::reports::{ReportService, grpc::ReportGrpc};
use crate::spares::{SpareService, grpc::SpareGrpc};
use crate::storage::Storage;
use crate::stringing::{StringingService, grpc::StringingGrpc};
use crate::tasks::{TaskService, grpc::TaskGrpc};
use crate::webhooks::{self, WebhookGate, WebhookState};
use readiness::Readiness;
use tonic::server::NamedService;
use tonic::service::RoutesBuilder;
use transcode::Transcoder;

const REQUEST_ID: &str = "x-request-id";

/// One of our generated gRPC servers with gzip both ways (when the client asks) and the body limit.
macro_rules! configured {
    ($server:expr, $limit:expr) => {
        $server
            .accept_compressed(CompressionEncoding::Gzip)
            .send_compressed(CompressionEncoding::Gzip)
            .max_decoding_message_size($limit)
    };
}

/// A built server, ready to be bound to a listener.
pub struct App {
    router: axum::Router,
    readiness: Arc<Readiness>,
    /// The scheduled SLA scan, unless `DISABLE_SLA_SCAN` is set.
    sla_scan: Option<SlaSchedule>,
    /// Idempotency keys, swept hourly.
    idempotency: Arc<Idempotency>,
}

/// The SLA scan with its clock and interval.
struct SlaSchedule {
    scan: SlaScan,
    clock: Arc<dyn Clock>,
    interval: Duration,
}

impl SlaSchedule {
    /// Scans every interval (the first one interval after start), logging what each run did.
    async fn run(self) {
        let SlaSchedule {
            scan,
            clock,
            interval,
        } = self;
        jobs::every("sla-scan", interval, move || {
            let scan = scan.clone();
            let now = clock.now();
            async move {
                let report = scan.run(now).await?;
                tracing::debug!(?report, "SLA scan");
                Ok(())
            }
        })
        .await;
    }
}

impl App {
    /// Opens storage and wires every surface.
    pub async fn build(config: &Config) -> anyhow::Result<Self> {
        let storage = Storage::open(config).await?;
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let sla_scan = (!config.sla.disable_sla_scan).then(|| SlaSchedule {
            scan: SlaScan::new(&storage, config.sla.sla_warn_before_minutes),
            clock: clock.clone(),
            interval: config.sla.interval(),
        });
        let pool = prost_reflect::DescriptorPool::decode(proto::FILE_DESCRIPTOR_SET)?;
        let served = served_rpcs()?;
        // A permission or an adapter naming an RPC that is not served stops the server here.
        auth::permissions::check_declared_names(&served, auth::permissions::adapter_rpcs())?;
        let trusted_proxies = TrustedProxies::new(config.auth.trusted_proxies.clone());
        let limiter = RateLimiter::new(storage.cache.clone(), config.auth.rate_limit_fail_closed);
        let webhook_gate =
            WebhookGate::new(limiter.clone(), &config.webhooks, trusted_proxies.clone());
        let guard = Arc::new(Guard::new(
            &config.auth,
            storage.db.clone(),
            served,
            limiter.clone(),
            clock.clone(),
        )?);

        let idempotency = Arc::new(Idempotency {
            db: storage.db.clone(),
            guard: guard.clone(),
            clock: clock.clone(),
            body_limit: config.max_body_bytes,
        });
        let identity = Arc::new(IdentityService::new(
            storage.db.clone(),
            clock.clone(),
            guard.clone(),
            limiter,
            LoginLimits {
                per_account: config.auth.login_account_limit,
                per_ip: config.auth.login_ip_limit,
                window: Duration::from_secs(config.auth.login_window_secs.max(1)),
            },
            config.auth.self_registration,
        ));
        let pons = Arc::new(PonService::new(storage.db.clone(), clock.clone()));
        let devices = Arc::new(DeviceService::new(storage.db.clone(), clock.clone()));
        let incidents = Arc::new(IncidentService::new(storage.db.clone(), clock.clone()));
        let optical = Arc::new(OpticalService::new(
            storage.db.clone(),
            clock.clone(),
            incidents.clone(),
        ));
        let organizations = Arc::new(OrganizationsService::new(storage.db.clone(), clock.clone()));
        let organizations_grpc = OrganizationsGrpc::new(organizations.clone());
        let tasks = Arc::new(TaskService::new(
            storage.db.clone(),
            clock.clone(),
            Arc::new(PhotoEvidenceGate::new(storage.db.clone())),
        ));
        let reports = Arc::new(ReportService::new(
            pons.clone(),
            tasks.clone(),
            identity.clone(),
            clock.clone(),
        ));
        let stringing = Arc::new(StringingService::new(storage.db.clone(), clock.clone()));
        let photos = Arc::new(PhotoService::new(
            storage.db.clone(),
            clock.clone(),
            storage.objects.clone(),
            tasks.clone(),
            pons.clone(),
            &config.photos,
        ));
        let certificates = Arc::new(CertificateService::new(
            storage.db.clone(),
            clock.clone(),
            pons.clone(),
            photos.clone(),
        ));
        let legacy = legacy::router(LegacyState {
            guard: guard.clone(),
            identity: identity.clone(),
            pons: pons.clone(),
            tasks: tasks.clone(),
            reports: reports.clone(),
            trusted_proxies: trusted_proxies.clone(),
            photos: photos.clone(),
            certificates: certificates.clone(),
            optical: optical.clone(),
            devices: devices.clone(),
            incidents: incidents.clone(),
        });
        let spares = Arc::new(SpareService::new(storage.db.clone(), clock.clone()));
        let configs = Arc::new(ConfigService::new(
            storage.db.clone(),
            clock.clone(),
            incidents.clone(),
        ));
        let oxidized = oxidized::router(oxidized::OxidizedState {
            gate: webhook_gate.clone(),
            configs: configs.clone(),
            secret: config
                .webhooks
                .oxidized_hmac_secret
                .clone()
                .filter(|secret| !secret.is_empty()),
            allow_unsigned: config.webhooks.webhook_allow_unsigned,
            tenant_id: config
                .webhooks
                .nms_tenant_id
                .unwrap_or(crate::context::DEFAULT_TENANT),
        });

        let nms_webhooks = webhooks::router(WebhookState::new(
            &config.webhooks,
            webhook_gate,
            incidents.clone(),
        ));

        let (health_reporter, health_service) = tonic_health::server::health_reporter();
        let reflection = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .build_v1()?;
        let limit = config.max_body_bytes;
        let mut services = ServiceSet::default();
        services.add(configured!(
            PonServiceServer::new(PonGrpc::new(pons.clone(), photos.clone())),
            limit
        ));
        services.add(configured!(
            AuthServiceServer::new(AuthGrpc::new(identity.clone(), trusted_proxies.clone())),
            limit
        ));
        services.add(configured!(
            UserServiceServer::new(UserGrpc::new(identity)),
            limit
        ));
        services.add(configured!(
            AuditServiceServer::new(AuditGrpc::new(Arc::new(AuditService::new(
                storage.db.clone()
            )))),
            limit
        ));
        services.add(configured!(
            OrganizationServiceServer::new(organizations_grpc.clone()),
            limit
        ));
        services.add(configured!(
            ContractServiceServer::new(organizations_grpc.clone()),
            limit
        ));
        services.add(configured!(
            AssignmentServiceServer::new(organizations_grpc),
            limit
        ));
        services.add(configured!(
            TaskServiceServer::new(TaskGrpc::new(tasks.clone())),
            limit
        ));
        services.add(configured!(
            StringingServiceServer::new(StringingGrpc::new(stringing)),
            limit
        ));
        services.add(configured!(
            ReportServiceServer::new(ReportGrpc::new(reports)),
            limit
        ));
        services.add(configured!(
            PhotoServiceServer::new(PhotoGrpc::new(photos.clone())),
            limit
        ));
        services.add(configured!(
            CertificateServiceServer::new(CertificateGrpc::new(certificates.clone())),
            limit
        ));
        services.add(configured!(
            SpareServiceServer::new(SpareGrpc::new(spares.clone())),
            limit
        ));
        services.add(configured!(
            OpticalServiceServer::new(OpticalGrpc::new(optical.clone())),
            limit
        ));
        services.add(configured!(
            ConfigServiceServer::new(ConfigGrpc::new(configs)),
            limit
        ));
        services.add(configured!(
            DeviceServiceServer::new(DeviceGrpc::new(devices.clone())),
            limit
        ));
        services.add(configured!(
            IncidentServiceServer::new(IncidentGrpc::new(incidents.clone())),
            limit
        ));
        services.add(configured!(
            MaintenanceWindowServiceServer::new(IncidentGrpc::new(incidents.clone())),
            limit
        ));
        let ServiceSet {
            mut routes,
            names: service_names,
        } = services;
        routes.add_service(health_service).add_service(reflection);
        let readiness = Readiness::new(
            readiness::dependencies(&storage),
            service_names,
            health_reporter,
            config.readiness.clone(),
        )
        .await;

        // The core-API paths check the same permissions through the guard themselves.
        let core = core_api::router(CoreApi {
            guard: guard.clone(),
            organizations,
            tasks,
            photos: photos.clone(),
            certificates: certificates.clone(),
            spares,
            optical,
            devices: devices.clone(),
            incidents: incidents.clone(),
        });
        // Every gRPC route (and so grpc-web and transcoded REST) passes the guard.
        let grpc = routes
            .routes()
            .prepare()
            .into_axum_router()
            .layer(axum::middleware::from_fn_with_state(
                input::GrpcMessages::new(&pool, config.max_body_bytes),
                input::check_grpc_message,
            ))
            .layer(axum::middleware::from_fn_with_state(
                guard,
                auth::guard::grpc_guard,
            ));
        let transcoder = Arc::new(Transcoder::new(&pool, grpc.clone(), config.max_body_bytes)?);
        let openapi = Arc::new(transcode::openapi::document(transcoder.routes()));

        let probes = axum::Router::new()
            .route("/healthz", get(healthz))
            .route("/readyz", get(readyz))
            .with_state(readiness.clone())
            .route(
                "/openapi.json",
                get(move || async move { Json((*openapi).clone()) }),
            );
        let rest = axum::Router::new()
            .fallback(transcode::handle)
            .with_state(transcoder);
        let objects = crate::photos::object_routes::router(
            storage.objects.clone(),
            clock.clone(),
            config.photos.file_max_bytes,
        );
        let router = grpc
            .reset_fallback()
            .layer(tonic_web::GrpcWebLayer::new())
            .merge(probes)
            .merge(objects)
            .merge(legacy)
            .merge(nms_webhooks)
            .merge(oxidized)
            .merge(core)
            .merge(rest);
        let router = router.layer(axum::middleware::from_fn_with_state(
            idempotency.clone(),
            crate::idempotency::idempotent,
        ));
        let router = with_middleware(router, config);
        Ok(App {
            router,
            readiness,
            sla_scan,
            idempotency,
        })
    }
}

/// Whether a request's content type is `application/grpc…` (grpc-web included): such
/// requests are answered with gRPC statuses, never JSON.
pub fn is_grpc(content_type: Option<&HeaderValue>) -> bool {
    content_type.is_some_and(|value| value.as_bytes().starts_with(b"application/grpc"))
}

/// `package.Service/Method` of every RPC on the port: ours, health and reflection.
pub fn served_rpcs() -> anyhow::Result<std::collections::HashSet<String>> {
    let mut pool = prost_reflect::DescriptorPool::decode(proto::FILE_DESCRIPTOR_SET)?;
    pool.decode_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)?;
    pool.decode_file_descriptor_set(tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET)?;
    Ok(pool
        .services()
        .flat_map(|service| {
            service
                .methods()
                .map(|method| format!("{}/{}", service.full_name(), method.name()))
                .collect::<Vec<_>>()
        })
        .collect())
}

/// Our gRPC services and the names they report in `grpc.health.v1`, kept together.
#[derive(Default)]
struct ServiceSet {
    routes: RoutesBuilder,
    names: Vec<&'static str>,
}

impl ServiceSet {
    fn add<S>(&mut self, service: S)
    where
        S: tower::Service<http::Request<tonic::body::Body>, Error = std::convert::Infallible>
            + NamedService
            + Clone
            + Send
            + Sync
            + 'static,
        S::Response: IntoResponse,
        S::Future: Send + 'static,
    {
        self.names.push(S::NAME);
        self.routes.add_service(service);
    }
}

/// Body limit and bad-input checks, request limits (load shedding, timeouts), request ids,
/// tracing, and CORS outermost.
fn with_middleware(router: axum::Router, config: &Config) -> axum::Router {
    let request_id = HeaderName::from_static(REQUEST_ID);
    let trace = TraceLayer::new_for_http().make_span_with(|request: &http::Request<_>| {
        let id = request
            .headers()
            .get(REQUEST_ID)
            .and_then(|value| value.to_str().ok())
            .unwrap_or("");
        tracing::info_span!("request", method = %request.method(), path = %request.uri().path(), request_id = %id)
    })
    .on_response(DefaultOnResponse::new().level(Level::INFO))
    .on_failure(DefaultOnFailure::new().level(Level::WARN));
    let router = router
        // Extractors take bodies up to the one limit (axum's own default is 2 MiB).
        .layer(DefaultBodyLimit::max(config.max_body_bytes))
        .layer(RequestBodyLimitLayer::new(config.max_body_bytes))
        // Outside the limit layer, so an oversized body is refused with a JSON answer.
        .layer(axum::middleware::from_fn_with_state(
            input::BodyLimit(config.max_body_bytes),
            input::check_http_input,
        ))
        .layer(axum::middleware::from_fn_with_state(
            limits::RequestLimits::new(&config.connections),
            limits::enforce,
        ))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(trace)
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid));
    match cors_layer(&config.cors_allow_origins) {
        Some(cors) => router.layer(cors),
        None => router,
    }
}

/// CORS for REST and grpc-web from `CORS_ALLOW_ORIGINS`; none when the list is empty.
pub fn cors_layer(origins: &[String]) -> Option<CorsLayer> {
    let origins: Vec<&str> = origins
        .iter()
        .map(|o| o.trim())
        .filter(|o| !o.is_empty())
        .collect();
    if origins.is_empty() {
        return None;
    }
    let allow_origin = if origins.contains(&"*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(
            origins
                .iter()
                .filter_map(|origin| HeaderValue::from_str(origin).ok()),
        )
    };
    let header = HeaderName::from_static;
    Some(
        CorsLayer::new()
            .allow_origin(allow_origin)
            .allow_methods([
                Method::GET,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
                Method::OPTIONS,
            ])
            .allow_headers([
                header("content-type"),
                header("authorization"),
                header("x-auth-token"),
                header("x-request-id"),
                header("x-grpc-web"),
                header("x-user-agent"),
                header("grpc-timeout"),
                header("grpc-accept-encoding"),
            ])
            .expose_headers([
                header("grpc-status"),
                header("grpc-message"),
                header("grpc-status-details-bin"),
                header("x-request-id"),
                header("retry-after"),
            ])
            .max_age(Duration::from_secs(3600)),
    )
}

async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({"ok": true}))
}

async fn readyz(State(readiness): State<Arc<Readiness>>) -> Response {
    let report = readiness.report();
    let status = if report.ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(report)).into_response()
}

/// A server running in the background (the binary waits for a signal; tests stop it themselves).
pub struct RunningServer {
    pub addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<anyhow::Result<()>>,
}

impl RunningServer {
    /// Starts draining (health NOT_SERVING, no new connections) and waits until done.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        self.task.await?
    }
}

/// Builds the app, binds `config.listen_addr`, and serves in the background.
pub async fn start(config: &Config) -> anyhow::Result<RunningServer> {
    let app = App::build(config).await?;
    let listener = TcpListener::bind(config.listen_addr).await?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, "listening (gRPC, grpc-web, REST, health)");
    let (shutdown_tx, shutdown_rx) = oneshot::channel();
    let task = tokio::spawn(serve(
        listener,
        app,
        config.connections.clone(),
        config.shutdown_grace(),
        shutdown_rx,
    ));
    Ok(RunningServer {
        addr,
        shutdown: Some(shutdown_tx),
        task,
    })
}

/// Serves until `shutdown` fires; then health goes NOT_SERVING, new connections are still
/// accepted for the drain delay, and the connections are drained for at most `grace`.
async fn serve(
    listener: TcpListener,
    app: App,
    connections: crate::config::ConnectionConfig,
    grace: Duration,
    shutdown: oneshot::Receiver<()>,
) -> anyhow::Result<()> {
    let readiness_task = tokio::spawn(app.readiness.clone().run());
    let sla_task = app.sla_scan.map(|schedule| tokio::spawn(schedule.run()));
    let sweep_task = tokio::spawn(sweep_idempotency_keys(app.idempotency.clone()));
    let stop_accepting = {
        let readiness = app.readiness.clone();
        let drain_delay = connections.drain_delay();
        async move {
            let _ = shutdown.await;
            readiness.begin_shutdown().await;
            tracing::info!(
                drain_delay_secs = drain_delay.as_secs(),
                "shutting down: health is NOT_SERVING"
            );
            tokio::time::sleep(drain_delay).await;
        }
    };
    listener::serve(listener, app.router, &connections, grace, stop_accepting).await;
    readiness_task.abort();
    if let Some(sla_task) = sla_task {
        sla_task.abort();
    }
    sweep_task.abort();
    tracing::info!("server stopped");
    Ok(())
}

/// Deletes the idempotency keys older than a day, every hour.
async fn sweep_idempotency_keys(idempotency: Arc<Idempotency>) {
    jobs::every("idempotency-sweep", Duration::from_secs(3600), move || {
        let idempotency = idempotency.clone();
        async move {
            let swept = idempotency.sweep().await?;
            tracing::debug!(swept, "idempotency keys swept");
            Ok(())
        }
    })
    .await;
}

/// Runs until SIGTERM or SIGINT.
pub async fn run(config: &Config) -> anyhow::Result<()> {
    let server = start(config).await?;
    shutdown_signal().await;
    server.stop().await
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .expect("installing the SIGTERM handler");
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
    tracing::info!("shutdown signal received");
}
