//! `/api/photos` of the Express app: the multipart upload to a task (field `photo`) and the
//! task's photo list, now through the photo pipeline (flags computed, never client-asserted),
//! and `/uploads/<filename>`, answered with a redirect to a short-lived URL of the bytes.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect};
use axum::routing::{get, post};
use http::{HeaderMap, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use super::{LegacyError, LegacyResult, LegacyState, authorize, express_date, message};
use crate::error::{AppError, Reason};
use crate::photos::model::photo;
use crate::photos::multipart::{self, Multipart};
use crate::photos::service::{UploadRequest, refuses_bytes};

pub fn routes() -> axum::Router<LegacyState> {
    axum::Router::new()
        .route("/api/photos/upload/{task_id}", post(upload))
        .route("/api/photos/task/{task_id}", get(list))
        .route("/uploads/{filename}", get(file))
}

const TASK_NOT_FOUND: &str = "Task not found";

/// The Express answers of refused uploads.
fn upload_error(err: AppError) -> LegacyError {
    match err.reason() {
        Reason::PayloadTooLarge => message(err.http_status(), "File too large"),
        Reason::UnsupportedMediaType => message(err.http_status(), "Only image files are allowed"),
        Reason::InvalidArgument if refuses_bytes(&err) => {
            message(StatusCode::BAD_REQUEST, "No file uploaded")
        }
        _ => LegacyError::from_app(err, TASK_NOT_FOUND),
    }
}

/// Malformed ids are "not found" (the Express app answered 500).
fn task_id(text: &str) -> Result<Uuid, LegacyError> {
    Uuid::parse_str(text).map_err(|_| message(StatusCode::NOT_FOUND, TASK_NOT_FOUND))
}

/// The stored file name of a photo: its id and the extension of its type.
fn filename(row: &photo::Model) -> String {
    let extension = match row.content_type.as_str() {
        "image/png" => "png",
        "image/heic" => "heic",
        _ => "jpg",
    };
    format!("{}.{extension}", row.id)
}

/// The evidence-photo fields both answers share; GPS only when known, as in Mongo.
fn photo_fields(row: &photo::Model, uploaded_by: Value) -> Value {
    let mut document = json!({
        "filename": filename(row),
        "originalName": row.original_name,
        "uploadedBy": uploaded_by,
        "uploadDate": express_date(row.created_at),
        "exifOk": row.exif_ok,
        "withinGeofence": row.within_geofence,
        "verdict": row.verdict,
        "reasons": row.reasons(),
    });
    if let (Some(lat), Some(lng)) = (row.lat, row.lng) {
        document["gpsLat"] = json!(lat);
        document["gpsLng"] = json!(lng);
    }
    document
}

async fn upload(
    State(state): State<LegacyState>,
    headers: HeaderMap,
    Path(task): Path<String>,
    body: Body,
) -> LegacyResult {
    let ctx = authorize(&state, super::access::PHOTOS_UPLOAD, &headers).await?;
    let task_id = task_id(&task)?;
    let Ok(boundary) = multipart::boundary(&headers) else {
        return Err(message(StatusCode::BAD_REQUEST, "No file uploaded"));
    };
    let mut form = Multipart::new(body, &boundary);
    while let Some(part) = form.next_part().await.map_err(upload_error)? {
        match (part.name.as_str(), part.filename) {
            ("photo", Some(original_name)) => {
                let request = UploadRequest {
                    task_id,
                    pole_number: None,
                    original_name,
                };
                let row = state
                    .photos
                    .upload(&ctx, request, &mut form)
                    .await
                    .map_err(upload_error)?;
                let uploaded_by = json!(row.uploaded_by.map(|id| id.to_string()));
                return Ok(Json(json!({
                    "message": "Photo uploaded successfully",
                    "photo": photo_fields(&row, uploaded_by),
                    "url": format!("/uploads/{}", filename(&row)),
                }))
                .into_response());
            }
            (_, Some(_)) => return Err(message(StatusCode::BAD_REQUEST, "Unexpected field")),
            _ => {}
        }
    }
    Err(message(StatusCode::BAD_REQUEST, "No file uploaded"))
}

async fn list(
    State(state): State<LegacyState>,
    headers: HeaderMap,
    Path(task): Path<String>,
) -> LegacyResult {
    let ctx = authorize(&state, super::access::PHOTOS_LIST, &headers).await?;
    let task_id = task_id(&task)?;
    let mut documents = Vec::new();
    let mut token = String::new();
    loop {
        let (rows, next) = state
            .photos
            .list_for_task(&ctx, task_id, 500, &token)
            .await
            .map_err(|err| LegacyError::from_app(err, TASK_NOT_FOUND))?;
        let uploaders = state
            .photos
            .uploaders(&ctx, &rows)
            .await
            .map_err(|err| LegacyError::from_app(err, TASK_NOT_FOUND))?;
        for row in &rows {
            let uploader = row.uploaded_by.and_then(|id| uploaders.get(&id));
            let uploaded_by = uploader.map_or(
                Value::Null,
                |u| json!({"_id": u.id.to_string(), "name": u.name, "email": u.email}),
            );
            let mut document = photo_fields(row, uploaded_by);
            document["_id"] = json!(row.id.to_string());
            document["url"] = json!(format!("/uploads/{}", filename(row)));
            documents.push(document);
        }
        match next {
            Some(next) => token = next,
            None => break,
        }
    }
    // Oldest first, the order they were pushed onto the task.
    documents.sort_by(|a, b| a["uploadDate"].as_str().cmp(&b["uploadDate"].as_str()));
    Ok(Json(documents).into_response())
}

/// `/uploads/<photo id>.<ext>`: a redirect to a short-lived URL of the photo's bytes.
async fn file(
    State(state): State<LegacyState>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> LegacyResult {
    let ctx = authorize(&state, super::access::PHOTOS_FILE, &headers).await?;
    let stem = name.split_once('.').map_or(name.as_str(), |(stem, _)| stem);
    let id = Uuid::parse_str(stem).map_err(|_| message(StatusCode::NOT_FOUND, "File not found"))?;
    let (url, _) = state
        .photos
        .download_url(&ctx, id)
        .await
        .map_err(|err| LegacyError::from_app(err, "File not found"))?;
    Ok(Redirect::temporary(&url).into_response())
}
