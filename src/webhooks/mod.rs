//! NMS webhooks over the raw body: core `POST /webhooks/librenms` and `/webhooks/zabbix`
//! (HMAC per source) and the legacy `POST /api/nms/hook` (shared-secret header). Alerts open,
//! fold into or resolve incidents of the configured tenant through the incident service.

pub mod gate;
pub mod mapping;

use std::sync::Arc;

use axum::Json;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use http::{HeaderValue, StatusCode, header};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::config::WebhookConfig;
use crate::context::DEFAULT_TENANT;
use crate::error::{AppError, AppResult, Reason};
use crate::incidents::model::Model;
use crate::incidents::{AlertOutcome, DeviceIdentity, IncidentService, SystemAlert};
pub use gate::{SignatureError, WebhookGate, verify_signature};
use mapping::{FieldError, Parsed};

/// What the webhook routes share.
#[derive(Clone)]
pub struct WebhookState {
    pub gate: WebhookGate,
    pub incidents: Arc<IncidentService>,
    secrets: Arc<Secrets>,
    tenant_id: Uuid,
}

struct Secrets {
    librenms: Option<String>,
    zabbix: Option<String>,
    legacy: Option<String>,
    allow_unsigned: bool,
}

impl WebhookState {
    pub fn new(config: &WebhookConfig, gate: WebhookGate, incidents: Arc<IncidentService>) -> Self {
        let pick = |own: &Option<String>| {
            own.clone()
                .or_else(|| config.nms_hmac_secret.clone())
                .filter(|secret| !secret.is_empty())
        };
        if config.webhook_allow_unsigned {
            tracing::warn!(
                "WEBHOOK_ALLOW_UNSIGNED is on: NMS webhooks without a configured secret are ACCEPTED UNSIGNED. Never use this outside development."
            );
        }
        WebhookState {
            gate,
            incidents,
            secrets: Arc::new(Secrets {
                librenms: pick(&config.webhook_hmac_librenms),
                zabbix: pick(&config.webhook_hmac_zabbix),
                legacy: config
                    .nms_webhook_secret
                    .clone()
                    .filter(|secret| !secret.is_empty() && secret != "change-me"),
                allow_unsigned: config.webhook_allow_unsigned,
            }),
            tenant_id: config.nms_tenant_id.unwrap_or(DEFAULT_TENANT),
        }
    }
}

/// The webhook routes. Sets no fallback.
pub fn router(state: WebhookState) -> axum::Router {
    axum::Router::new()
        .route("/webhooks/librenms", post(librenms))
        .route("/webhooks/zabbix", post(zabbix))
        .route("/api/nms/hook", post(legacy_hook))
        .with_state(state)
}

/// What became of one delivery.
enum Outcome {
    Alert(AlertOutcome),
    Cleared(Model),
    NothingOpen,
}

/// A refused delivery: status, message, and the retry delay of a rate limit.
pub(crate) struct Refusal {
    status: StatusCode,
    message: String,
    retry_after: Option<u64>,
}

impl Refusal {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Refusal {
            status,
            message: message.into(),
            retry_after: None,
        }
    }

    /// A service error's refusal (logged here): the status of its reason, its message, and
    /// the retry delay of a rate limit or an outage.
    pub(crate) fn from_app(err: AppError) -> Self {
        err.log();
        let message = match err.reason() {
            Reason::RateLimited => "Rate limit exceeded".into(),
            Reason::Internal => "Internal Server Error".into(),
            _ => err.client_message(),
        };
        Refusal {
            status: err.http_status(),
            message,
            retry_after: err.retry_after().map(|delay| delay.as_secs().max(1)),
        }
    }

    /// The answer, with the body under `key` (`detail` for core, `message` for legacy).
    pub(crate) fn respond(self, key: &str) -> Response {
        let mut response = (self.status, Json(json!({ key: self.message }))).into_response();
        if let Some(seconds) = self.retry_after
            && let Ok(value) = HeaderValue::from_str(&seconds.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    }
}

/// Which secret check a route does.
enum Check<'a> {
    /// HMAC-SHA256 of the body in `X-Signature`.
    Hmac(Option<&'a str>),
    /// The legacy `x-webhook-secret` header.
    Shared(Option<&'a str>),
}

/// Limiter, allowlist, secret and content type, in that order; the raw body when all pass.
async fn admit(
    state: &WebhookState,
    route: &str,
    check: Check<'_>,
    request: Request,
) -> Result<axum::body::Bytes, Refusal> {
    let (parts, body) = request.into_parts();
    let ip = state.gate.client(&parts.extensions, &parts.headers);
    state
        .gate
        .limit(route, ip)
        .await
        .map_err(Refusal::from_app)?;
    if !state.gate.allowed(ip) {
        return Err(Refusal::new(StatusCode::FORBIDDEN, "IP not allowed"));
    }
    let body = axum::body::to_bytes(body, usize::MAX)
        .await
        .map_err(|_| Refusal::new(StatusCode::PAYLOAD_TOO_LARGE, "Payload too large"))?;
    let headers = &parts.headers;
    match check {
        Check::Hmac(Some(secret)) => verify_signature(secret.as_bytes(), &body, headers)
            .map_err(|err| Refusal::new(StatusCode::UNAUTHORIZED, err.message()))?,
        Check::Shared(Some(secret)) => {
            let given = headers
                .get("x-webhook-secret")
                .map(HeaderValue::as_bytes)
                .unwrap_or_default();
            if !gate::same_secret(given, secret.as_bytes()) {
                return Err(Refusal::new(StatusCode::UNAUTHORIZED, "Unauthorized"));
            }
        }
        Check::Hmac(None) | Check::Shared(None) if state.secrets.allow_unsigned => {
            tracing::warn!(
                route,
                "accepting an UNSIGNED webhook (WEBHOOK_ALLOW_UNSIGNED)"
            );
        }
        Check::Hmac(None) => {
            tracing::error!(
                route,
                "webhook refused: no HMAC secret is configured for it"
            );
            return Err(Refusal::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "Webhook secret not configured",
            ));
        }
        Check::Shared(None) => {
            tracing::error!(
                route,
                "webhook refused: NMS_WEBHOOK_SECRET is not configured"
            );
            return Err(Refusal::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Server not configured: NMS_WEBHOOK_SECRET",
            ));
        }
    }
    let json_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_none_or(|value| value.to_ascii_lowercase().contains("json"));
    if !json_type {
        return Err(Refusal::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Unsupported Media Type",
        ));
    }
    Ok(body)
}

/// The JSON object of a body, parsed into an alert.
fn parse(body: &[u8], read: fn(&Value) -> Result<Parsed, FieldError>) -> Result<Parsed, Refusal> {
    let value: Value = serde_json::from_slice(body).map_err(|err| {
        Refusal::new(
            StatusCode::BAD_REQUEST,
            format!("body: malformed JSON: {err}"),
        )
    })?;
    if !value.is_object() {
        return Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            "body: must be a JSON object",
        ));
    }
    read(&value).map_err(|(field, problem)| {
        Refusal::new(StatusCode::BAD_REQUEST, format!("{field}: {problem}"))
    })
}

/// Files the alert (or its clear) in the configured tenant.
async fn ingest(state: &WebhookState, parsed: Parsed, raw: &[u8]) -> AppResult<Outcome> {
    let alert = SystemAlert {
        tenant_id: state.tenant_id,
        device_id: None,
        device_identity: Some(DeviceIdentity {
            name: parsed.host,
            mgmt_ip: parsed.ip,
            serial: parsed.serial,
        }),
        pon_id: parsed.pon_id,
        category: parsed.category,
        severity: parsed.severity,
        title: parsed.title,
        description: parsed.description,
        source: parsed.source.into(),
        source_event_id: parsed.event_id,
        payload: Some(String::from_utf8_lossy(raw).into_owned()),
    };
    if parsed.recovery {
        Ok(match state.incidents.recover(alert).await? {
            Some(incident) => Outcome::Cleared(incident),
            None => Outcome::NothingOpen,
        })
    } else {
        Ok(Outcome::Alert(state.incidents.raise(alert).await?))
    }
}

async fn core_route(
    state: WebhookState,
    route: &str,
    secret: Option<String>,
    read: fn(&Value) -> Result<Parsed, FieldError>,
    request: Request,
) -> Response {
    let result = async {
        let body = admit(&state, route, Check::Hmac(secret.as_deref()), request).await?;
        let parsed = parse(&body, read)?;
        ingest(&state, parsed, &body)
            .await
            .map_err(Refusal::from_app)
    }
    .await;
    match result {
        Ok(Outcome::Alert(AlertOutcome::Opened(incident))) => {
            Json(json!({"ok": true, "incident_id": incident.id})).into_response()
        }
        Ok(Outcome::Alert(AlertOutcome::Deduplicated(incident))) => {
            Json(json!({"ok": true, "incident_id": incident.id, "dedup": true})).into_response()
        }
        Ok(Outcome::Alert(AlertOutcome::Suppressed)) => {
            Json(json!({"ok": true, "suppressed": true, "reason": "maintenance window"}))
                .into_response()
        }
        Ok(Outcome::Cleared(incident)) => {
            Json(json!({"ok": true, "incident_id": incident.id, "cleared": true})).into_response()
        }
        Ok(Outcome::NothingOpen) => {
            Json(json!({"ok": true, "message": "No open incident"})).into_response()
        }
        Err(refusal) => refusal.respond("detail"),
    }
}

async fn librenms(State(state): State<WebhookState>, request: Request) -> Response {
    let secret = state.secrets.librenms.clone();
    core_route(state, "librenms", secret, mapping::librenms, request).await
}

async fn zabbix(State(state): State<WebhookState>, request: Request) -> Response {
    let secret = state.secrets.zabbix.clone();
    core_route(state, "zabbix", secret, mapping::zabbix, request).await
}

/// `POST /api/nms/hook`: the Express answers (`incidentId`, `{message}` errors).
async fn legacy_hook(State(state): State<WebhookState>, request: Request) -> Response {
    let secret = state.secrets.legacy.clone();
    let result = async {
        let body = admit(
            &state,
            "nms-hook",
            Check::Shared(secret.as_deref()),
            request,
        )
        .await?;
        let parsed = parse(&body, mapping::legacy)
            .map_err(|_| Refusal::new(StatusCode::BAD_REQUEST, "Invalid webhook"))?;
        ingest(&state, parsed, &body)
            .await
            .map_err(Refusal::from_app)
    }
    .await;
    match result {
        Ok(Outcome::Alert(AlertOutcome::Opened(incident))) => {
            Json(json!({"ok": true, "incidentId": incident.id})).into_response()
        }
        Ok(Outcome::Alert(AlertOutcome::Deduplicated(incident))) => Json(json!({
            "ok": true, "incidentId": incident.id, "status": incident.status, "updated": true,
        }))
        .into_response(),
        Ok(Outcome::Alert(AlertOutcome::Suppressed)) => {
            Json(json!({"ok": true, "suppressed": true, "reason": "maintenance window"}))
                .into_response()
        }
        Ok(Outcome::Cleared(incident)) => Json(json!({
            "ok": true, "incidentId": incident.id, "status": incident.status, "resolved": true,
        }))
        .into_response(),
        Ok(Outcome::NothingOpen) => {
            Json(json!({"ok": true, "message": "No open incident"})).into_response()
        }
        Err(refusal) => refusal.respond("message"),
    }
}
