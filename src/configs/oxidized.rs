//! `POST /configs/oxidized` (core-api §3.12): Oxidized's `{name, config}` behind the webhook gate
//! (per-IP limiter, `NMS_ALLOW_IPS`, HMAC-SHA256 of the raw body with `OXIDIZED_HMAC_SECRET`,
//! refused when no secret is set unless `WEBHOOK_ALLOW_UNSIGNED`), filed in the NMS tenant.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use http::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use super::ConfigService;
use crate::context::RequestContext;
use crate::error::AppError;
use crate::webhooks::{Refusal, WebhookGate, verify_signature};

#[derive(Clone)]
pub struct OxidizedState {
    pub gate: WebhookGate,
    pub configs: Arc<ConfigService>,
    /// `OXIDIZED_HMAC_SECRET` (None: unset or empty).
    pub secret: Option<String>,
    pub allow_unsigned: bool,
    /// The tenant configs are filed in (`NMS_TENANT_ID`).
    pub tenant_id: Uuid,
}

pub fn router(state: OxidizedState) -> axum::Router {
    axum::Router::new()
        .route("/configs/oxidized", post(receive))
        .with_state(state)
}

fn detail(status: StatusCode, text: &str) -> Response {
    (status, Json(json!({ "detail": text }))).into_response()
}

async fn receive(State(state): State<OxidizedState>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let ip = state.gate.client(&parts.extensions, &parts.headers);
    match state.gate.limit("oxidized", ip).await {
        Ok(()) => {}
        Err(err) => return Refusal::from_app(err).respond("detail"),
    }
    if !state.gate.allowed(ip) {
        return detail(StatusCode::FORBIDDEN, "IP not allowed");
    }
    let Ok(body) = axum::body::to_bytes(body, usize::MAX).await else {
        return detail(StatusCode::PAYLOAD_TOO_LARGE, "Payload too large");
    };
    match &state.secret {
        Some(secret) => {
            if let Err(err) = verify_signature(secret.as_bytes(), &body, &parts.headers) {
                return detail(StatusCode::UNAUTHORIZED, err.message());
            }
        }
        None if state.allow_unsigned => {
            tracing::warn!("accepting an UNSIGNED Oxidized config (WEBHOOK_ALLOW_UNSIGNED)");
        }
        None => {
            tracing::error!("Oxidized config refused: OXIDIZED_HMAC_SECRET is not configured");
            return detail(
                StatusCode::SERVICE_UNAVAILABLE,
                "Webhook secret not configured",
            );
        }
    }
    let value: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let text = |key: &str| value.get(key).and_then(Value::as_str).map(str::to_string);
    let (Some(name), Some(config)) = (text("name"), text("config")) else {
        return detail(StatusCode::BAD_REQUEST, "name and config required");
    };
    if name.trim().is_empty() {
        return detail(StatusCode::BAD_REQUEST, "name and config required");
    }
    let ctx = RequestContext {
        tenant_id: state.tenant_id,
        principal: None,
    };
    match state.configs.collect(&ctx, &name, &config).await {
        Ok(collected) => Json(json!({
            "ok": true,
            "device_id": collected.device.id,
            "config_id": collected.config.id,
            "violations": collected.config.violations().len(),
            "changed": collected.changed,
            "hash_sha256": collected.config.hash_sha256,
            "incident_id": collected.config.incident_id,
        }))
        .into_response(),
        Err(AppError::NotFound(_)) => detail(StatusCode::NOT_FOUND, "Device not found"),
        Err(other) => Refusal::from_app(other).respond("detail"),
    }
}
