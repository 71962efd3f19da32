//! `POST /certificate-acceptance` and `GET /certificate-acceptance?pon_id=` (core-api §3.3),
//! served by the certificate service.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Query, State};
use http::HeaderMap;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{CoreApi, Failure, created, parse_body};
use crate::certificates::service::CertificateDraft;
use crate::error::AppError;
use crate::photos::model::certificate;
use crate::rpc;

/// The old body; `passed` and `checked_by` are accepted and ignored (computed by the server).
#[derive(Deserialize)]
struct CertificateIn {
    pon_id: Option<String>,
    pole_number: Option<String>,
    pole_length_m: Option<f64>,
    depth_m: Option<f64>,
    tag_height_m: Option<f64>,
    hook_position: Option<String>,
    alignment_ok: Option<bool>,
    comments: Option<String>,
}

fn not_found_or(err: AppError) -> Failure {
    match err {
        AppError::NotFound(_) => Failure::not_found(),
        other => Failure::service(other),
    }
}

fn pon_id(text: Option<&str>) -> Result<uuid::Uuid, Failure> {
    let text = text.ok_or_else(|| Failure::invalid_body("pon_id: field required"))?;
    uuid::Uuid::parse_str(text.trim())
        .map_err(|_| Failure::invalid_body(format!("pon_id: `{text}` is not a UUID")))
}

pub async fn create(
    State(api): State<CoreApi>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, Failure> {
    let ctx = api
        .guard
        .context_for(rpc!("CertificateService/CreateCertificate"), &headers)
        .await
        .map_err(Failure::service)?;
    let body: CertificateIn = parse_body(body)?;
    let draft = CertificateDraft {
        pon_id: pon_id(body.pon_id.as_deref())?,
        pole_number: body.pole_number,
        pole_length_m: body.pole_length_m,
        depth_m: body.depth_m,
        tag_height_m: body.tag_height_m,
        hook_position: body.hook_position,
        alignment_ok: body.alignment_ok.unwrap_or(true),
        comments: body.comments,
    };
    let row = api
        .certificates
        .create(&ctx, draft)
        .await
        .map_err(not_found_or)?;
    Ok(created(row.id))
}

#[derive(Deserialize)]
pub struct ListQuery {
    pon_id: Option<String>,
}

pub fn certificate_json(row: &certificate::Model) -> Value {
    json!({
        "id": row.id,
        "pon_id": row.pon_id,
        "pole_number": row.pole_number,
        "pole_length_m": row.pole_length_m,
        "depth_m": row.depth_m,
        "tag_height_m": row.tag_height_m,
        "hook_position": row.hook_position,
        "alignment_ok": row.alignment_ok,
        "comments": row.comments,
        "passed": row.passed,
        "photo_id": row.photo_id,
        "checked_by": row.checked_by,
        "checked_at": row.checked_at.to_rfc3339(),
    })
}

/// Every certificate of the PON, most recently checked first.
pub async fn list(
    State(api): State<CoreApi>,
    headers: HeaderMap,
    Query(query): Query<ListQuery>,
) -> Result<Json<Value>, Failure> {
    let ctx = api
        .guard
        .context_for(rpc!("CertificateService/ListCertificates"), &headers)
        .await
        .map_err(Failure::service)?;
    let pon_id = pon_id(query.pon_id.as_deref())?;
    let certificates = crate::paging::collect_pages(|token| {
        let ctx = &ctx;
        let api = &api;
        async move {
            api.certificates
                .list(ctx, pon_id, crate::paging::MAX_PAGE_SIZE as i32, &token)
                .await
        }
    })
    .await
    .map_err(not_found_or)?;
    Ok(Json(Value::Array(
        certificates.iter().map(certificate_json).collect(),
    )))
}
