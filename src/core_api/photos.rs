//! The old `/photos/...` and `/pons/{id}/geofence...` paths (core-api §3.4–§3.5) and the new
//! multipart, presigned and download paths beside them, all through the photo service.

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{CoreApi, Failure, parse_body};
use crate::auth::permissions::Rpc;
use crate::context::RequestContext;
use crate::error::AppError;
use crate::photos::model::photo;
use crate::photos::multipart::{self, Multipart};
use crate::photos::service::UploadRequest;
use crate::rpc;

const REGISTER: Rpc = rpc!("PhotoService/RegisterPhoto");
const VALIDATE: Rpc = rpc!("PhotoService/ValidatePhoto");

/// An error answer (boxed: responses are large and travel in `Result`s).
pub struct Refused(Box<Response>);

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        *self.0
    }
}

impl From<Failure> for Refused {
    fn from(failure: Failure) -> Self {
        Refused(Box::new(failure.into_response()))
    }
}

fn detail(status: StatusCode, text: &str) -> Refused {
    Refused(Box::new(
        (status, Json(json!({"detail": text}))).into_response(),
    ))
}

/// An error answer of these routes: the core `{"detail"}` body, 413/415 for refused bytes,
/// 404 with the service's message, and `Retry-After` on 429.
fn failure(err: AppError) -> Refused {
    match err {
        AppError::PayloadTooLarge(_) => detail(err.http_status(), "File too large"),
        AppError::UnsupportedMediaType(violation) => {
            detail(StatusCode::UNSUPPORTED_MEDIA_TYPE, &violation.description)
        }
        AppError::NotFound(text) => detail(StatusCode::NOT_FOUND, &text),
        AppError::RateLimited { retry_after, .. } => {
            let seconds = retry_after.map_or(1, |d| d.as_secs().max(1));
            let mut refused = detail(StatusCode::TOO_MANY_REQUESTS, "Rate limit exceeded");
            if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
                refused.0.headers_mut().insert(header::RETRY_AFTER, value);
            }
            refused
        }
        other => Failure::service(other).into(),
    }
}

async fn context(
    api: &CoreApi,
    method: Rpc,
    headers: &HeaderMap,
) -> Result<RequestContext, Refused> {
    api.guard
        .context_for(method, headers)
        .await
        .map_err(failure)
}

/// A UUID from a body or path, or 422 naming it.
fn uuid(field: &str, text: &str) -> Result<Uuid, Refused> {
    Uuid::parse_str(text.trim())
        .map_err(|_| Failure::invalid_body(format!("{field}: `{text}` is not a UUID")).into())
}

/// The photo as the new core paths show it.
pub fn photo_json(row: &photo::Model) -> Value {
    json!({
        "id": row.id,
        "task_id": row.task_id,
        "pon_id": row.pon_id,
        "pole_number": row.pole_number,
        "s3_key": row.object_key,
        "content_type": row.content_type,
        "size_bytes": row.size_bytes,
        "sha256": row.sha256,
        "taken_at": row.taken_at.map(|t| t.to_rfc3339()),
        "taken_offset": row.taken_offset,
        "time_source": row.time_source,
        "gps_lat": row.lat,
        "gps_lng": row.lng,
        "exif_ok": row.exif_ok,
        "within_geofence": row.within_geofence,
        "verdict": row.verdict,
        "reasons": row.reasons(),
        "uploaded_by": row.uploaded_by,
        "created_at": row.created_at.to_rfc3339(),
    })
}

fn verdict_answer(row: &photo::Model) -> Json<Value> {
    let mut answer = photo_json(row);
    answer["ok"] = json!(true);
    answer["photo_id"] = json!(row.id);
    Json(answer)
}

#[derive(Deserialize)]
struct RegisterIn {
    photo_id: String,
    s3_key: String,
}

/// `POST /photos/register {photo_id, s3_key}`: reads the object PUT through an upload URL.
pub async fn register(
    State(api): State<CoreApi>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, Refused> {
    let ctx = context(&api, REGISTER, &headers).await?;
    let body: RegisterIn = parse_body(body).map_err(Refused::from)?;
    let id = uuid("photo_id", &body.photo_id)?;
    let row = api
        .photos
        .register(&ctx, id, body.s3_key.trim(), None)
        .await
        .map_err(failure)?;
    Ok(verdict_answer(&row))
}

#[derive(Deserialize)]
struct PhotoIdIn {
    photo_id: String,
}

/// `POST /photos/validate {photo_id}`: judges the stored photo again; the old 400s when the
/// PON has no geofence or the photo no capture time.
pub async fn validate(
    State(api): State<CoreApi>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, Refused> {
    let ctx = context(&api, VALIDATE, &headers).await?;
    let body: PhotoIdIn = parse_body(body).map_err(Refused::from)?;
    let id = uuid("photo_id", &body.photo_id)?;
    let row = api
        .photos
        .validate(&ctx, id)
        .await
        .map_err(|err| match err {
            AppError::NotFound(_) => detail(StatusCode::NOT_FOUND, "Not found"),
            other => failure(other),
        })?;
    let reasons = row.reasons();
    if reasons.iter().any(|r| r.starts_with("geofence_missing")) {
        return Err(detail(StatusCode::BAD_REQUEST, "PON geofence missing"));
    }
    if row.taken_at.is_none() {
        return Err(detail(StatusCode::BAD_REQUEST, "Missing EXIF DateTime"));
    }
    Ok(verdict_answer(&row))
}

/// `POST /photos/register-geo {photo_id}`: the same judgement, answered with the geofence part.
pub async fn register_geo(
    State(api): State<CoreApi>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, Refused> {
    let ctx = context(&api, VALIDATE, &headers).await?;
    let body: PhotoIdIn = parse_body(body).map_err(Refused::from)?;
    let id = uuid("photo_id", &body.photo_id)?;
    let row = api.photos.validate(&ctx, id).await.map_err(failure)?;
    Ok(Json(json!({
        "ok": true,
        "within_geofence": row.within_geofence,
        "verdict": row.verdict,
        "reasons": row.reasons(),
    })))
}

/// `POST /photos/upload`, multipart: text fields `task_id` (and `pole_number`) before the file
/// field `file` (or `photo`), streamed through the upload pipeline.
pub async fn upload(
    State(api): State<CoreApi>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, Refused> {
    let ctx = context(&api, rpc!("PhotoService/UploadPhoto"), &headers).await?;
    let boundary = multipart::boundary(&headers).map_err(failure)?;
    let mut form = Multipart::new(body, &boundary);
    let mut task_id = None;
    let mut pole_number = None;
    while let Some(part) = form.next_part().await.map_err(failure)? {
        match part.name.as_str() {
            "task_id" => task_id = Some(form.text().await.map_err(failure)?),
            "pole_number" => pole_number = Some(form.text().await.map_err(failure)?),
            "file" | "photo" => {
                let Some(task_id) = task_id.as_deref() else {
                    return Err(Refused::from(Failure::invalid_body(
                        "task_id: must come before the file",
                    )));
                };
                let request = UploadRequest {
                    task_id: uuid("task_id", task_id)?,
                    pole_number,
                    original_name: part.filename.unwrap_or_default(),
                };
                let row = api
                    .photos
                    .upload(&ctx, request, &mut form)
                    .await
                    .map_err(failure)?;
                return Ok(verdict_answer(&row));
            }
            _ => {}
        }
    }
    Err(Refused::from(Failure::invalid_body("file: field required")))
}

#[derive(Deserialize)]
struct UploadUrlIn {
    task_id: String,
}

/// `POST /photos/upload-url {task_id}`: where to PUT a photo, and the ids to register it with.
pub async fn upload_url(
    State(api): State<CoreApi>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, Refused> {
    let ctx = context(&api, rpc!("PhotoService/CreateUploadUrl"), &headers).await?;
    let body: UploadUrlIn = parse_body(body).map_err(Refused::from)?;
    let task_id = uuid("task_id", &body.task_id)?;
    let url = api
        .photos
        .upload_url(&ctx, task_id)
        .await
        .map_err(failure)?;
    Ok(Json(json!({
        "ok": true,
        "photo_id": url.photo_id,
        "s3_key": url.key,
        "url": url.url,
        "expires_at": url.expires_at.to_rfc3339(),
    })))
}

#[derive(Deserialize)]
pub struct ListQuery {
    task_id: Option<String>,
    pon_id: Option<String>,
    page_token: Option<String>,
}

/// `GET /photos?task_id=` or `?pon_id=`: a page of photos, newest first.
pub async fn list(
    State(api): State<CoreApi>,
    headers: HeaderMap,
    Query(query): Query<ListQuery>,
) -> Result<Json<Value>, Refused> {
    let ctx = context(&api, rpc!("PhotoService/ListPhotos"), &headers).await?;
    let token = query.page_token.unwrap_or_default();
    let (rows, next) = match (query.task_id, query.pon_id) {
        (Some(task), None) => {
            api.photos
                .list_for_task(&ctx, uuid("task_id", &task)?, 0, &token)
                .await
        }
        (None, Some(pon)) => {
            api.photos
                .list_for_pon(&ctx, uuid("pon_id", &pon)?, 0, &token)
                .await
        }
        _ => {
            return Err(Refused::from(Failure::invalid_body(
                "task_id: give exactly one of task_id and pon_id",
            )));
        }
    }
    .map_err(failure)?;
    Ok(Json(json!({
        "items": rows.iter().map(photo_json).collect::<Vec<_>>(),
        "next_page_token": next,
    })))
}

/// `GET /photos/{id}/download`: a redirect to a short-lived URL of the bytes.
pub async fn download(
    State(api): State<CoreApi>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, Refused> {
    let ctx = context(&api, rpc!("PhotoService/GetPhotoDownloadUrl"), &headers).await?;
    let (url, _) = api
        .photos
        .download_url(&ctx, uuid("id", &id)?)
        .await
        .map_err(failure)?;
    Ok(Redirect::temporary(&url).into_response())
}

#[derive(Deserialize)]
struct CircleIn {
    center_lat: Option<f64>,
    center_lng: Option<f64>,
    geofence_radius_m: Option<i32>,
}

/// `POST /pons/{pon_id}/geofence {center_lat, center_lng, geofence_radius_m = 200}`.
pub async fn set_circle(
    State(api): State<CoreApi>,
    headers: HeaderMap,
    Path(pon_id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, Refused> {
    let ctx = context(&api, rpc!("PhotoService/SetCircleGeofence"), &headers).await?;
    let pon_id = uuid("pon_id", &pon_id)?;
    let body: CircleIn = parse_body(body).map_err(Refused::from)?;
    let (Some(lat), Some(lng)) = (body.center_lat, body.center_lng) else {
        let field = if body.center_lat.is_none() {
            "center_lat"
        } else {
            "center_lng"
        };
        return Err(Refused::from(Failure::invalid_body(format!(
            "{field}: field required"
        ))));
    };
    let radius = body.geofence_radius_m.unwrap_or(200);
    if radius == 0 {
        return Err(failure(AppError::invalid(
            "geofence_radius_m",
            "must be between 1 and 50000 metres",
        )));
    }
    api.photos
        .set_circle(&ctx, pon_id, lat, lng, radius)
        .await
        .map_err(not_found_or)?;
    Ok(Json(json!({"ok": true})))
}

fn not_found_or(err: AppError) -> Refused {
    match err {
        AppError::NotFound(_) => detail(StatusCode::NOT_FOUND, "Not found"),
        other => failure(other),
    }
}

#[derive(Deserialize)]
struct PolygonIn {
    geometry: Option<Value>,
}

/// `POST /pons/{pon_id}/geofence/polygon {geometry}`: a GeoJSON Polygon or MultiPolygon.
pub async fn set_polygon(
    State(api): State<CoreApi>,
    headers: HeaderMap,
    Path(pon_id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, Refused> {
    let ctx = context(&api, rpc!("PhotoService/SetPolygonGeofence"), &headers).await?;
    let pon_id = uuid("pon_id", &pon_id)?;
    let body: PolygonIn = parse_body(body).map_err(Refused::from)?;
    let Some(geometry) = body.geometry else {
        return Err(Refused::from(Failure::invalid_body(
            "geometry: field required",
        )));
    };
    api.photos
        .set_polygon(&ctx, pon_id, &geometry)
        .await
        .map_err(|err| match err {
            AppError::InvalidArgument(v) if v[0].field == "geometry.type" => detail(
                StatusCode::BAD_REQUEST,
                "geometry must be Polygon or MultiPolygon",
            ),
            AppError::InvalidArgument(v) => detail(
                StatusCode::BAD_REQUEST,
                &format!("{}: {}", v[0].field, v[0].description),
            ),
            other => not_found_or(other),
        })?;
    Ok(Json(json!({"ok": true})))
}
