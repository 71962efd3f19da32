//! `/api/cac`, once a placeholder of the Express app, now the certificates of acceptance in
//! its style: camelCase documents with `_id`, `{errors:[...]}` for bad fields.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::response::IntoResponse;
use axum::routing::get;
use http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{
    LegacyError, LegacyResult, LegacyState, authorize, body_object, express_date, field_error,
    validation,
};
use crate::certificates::service::CertificateDraft;
use crate::error::AppError;
use crate::photos::model::certificate;

pub fn routes() -> axum::Router<LegacyState> {
    axum::Router::new().route("/api/cac", get(list).post(create))
}

const NOT_FOUND: &str = "PON not found";

/// The certificate as a Mongo-style document.
fn document(row: &certificate::Model) -> Value {
    json!({
        "_id": row.id.to_string(),
        "pon": row.pon_id.to_string(),
        "poleNumber": row.pole_number,
        "poleLengthM": row.pole_length_m,
        "depthM": row.depth_m,
        "tagHeightM": row.tag_height_m,
        "hookPosition": row.hook_position,
        "alignmentOk": row.alignment_ok,
        "comments": row.comments,
        "passed": row.passed,
        "photo": row.photo_id.to_string(),
        "checkedBy": row.checked_by.map(|id| id.to_string()),
        "checkedAt": express_date(row.checked_at),
    })
}

/// A service field (`pole_length_m`) as the Express body names it (`poleLengthM`).
fn camel(field: &str) -> String {
    let mut out = String::new();
    let mut upper = false;
    for c in field.chars() {
        match (c, upper) {
            ('_', _) => upper = true,
            (c, true) => {
                out.extend(c.to_uppercase());
                upper = false;
            }
            (c, false) => out.push(c),
        }
    }
    out
}

fn app_error(err: AppError) -> LegacyError {
    match err {
        AppError::InvalidArgument(violations) => validation(
            violations
                .iter()
                .map(|v| field_error(&camel(&v.field), None, &v.description))
                .collect(),
        ),
        other => LegacyError::from_app(other, NOT_FOUND),
    }
}

fn pon_id(value: Option<&Value>) -> Result<uuid::Uuid, LegacyError> {
    value
        .and_then(Value::as_str)
        .and_then(|text| uuid::Uuid::parse_str(text.trim()).ok())
        .ok_or_else(|| {
            validation(vec![field_error(
                "ponId",
                value,
                "A valid PON id is required",
            )])
        })
}

async fn create(State(state): State<LegacyState>, headers: HeaderMap, body: Bytes) -> LegacyResult {
    let ctx = authorize(&state, super::access::CAC_CREATE, &headers).await?;
    let body = body_object(&body);
    let text = |key: &str| body.get(key).and_then(Value::as_str).map(str::to_string);
    let number = |key: &str| body.get(key).and_then(Value::as_f64);
    let draft = CertificateDraft {
        pon_id: pon_id(body.get("ponId"))?,
        pole_number: text("poleNumber"),
        pole_length_m: number("poleLengthM"),
        depth_m: number("depthM"),
        tag_height_m: number("tagHeightM"),
        hook_position: text("hookPosition"),
        alignment_ok: body
            .get("alignmentOk")
            .and_then(Value::as_bool)
            .unwrap_or(true),
        comments: text("comments"),
    };
    let row = state
        .certificates
        .create(&ctx, draft)
        .await
        .map_err(app_error)?;
    Ok((StatusCode::CREATED, Json(document(&row))).into_response())
}

#[derive(Deserialize)]
struct ListQuery {
    #[serde(rename = "ponId")]
    pon_id: Option<String>,
}

async fn list(
    State(state): State<LegacyState>,
    headers: HeaderMap,
    Query(query): Query<ListQuery>,
) -> LegacyResult {
    let ctx = authorize(&state, super::access::CAC_LIST, &headers).await?;
    let pon_id = pon_id(query.pon_id.map(Value::String).as_ref())?;
    let certificates = crate::paging::collect_pages(|token| {
        let (ctx, state) = (&ctx, &state);
        async move { state.certificates.list(ctx, pon_id, 500, &token).await }
    })
    .await
    .map_err(app_error)?;
    Ok(Json(certificates.iter().map(document).collect::<Vec<_>>()).into_response())
}
