//! gRPC adapter of `kasi.fiber.v1.PhotoService`: the streamed upload, presigned uploads and
//! registration, listings, downloads and geofences, converted to and from domain values.

use std::sync::Arc;

use bytes::Bytes;
use tonic::{Request, Response, Status, Streaming};

use super::model::photo;
use super::service::{ChunkSource, GeofenceView, PhotoService, UploadRequest};
use crate::error::parse_id;
use crate::error::{AppError, AppResult};
use crate::proto::v1;
use crate::proto::v1::upload_photo_request::Part;
use crate::server::wire::{context, id_text, timestamp};

#[derive(Clone)]
pub struct PhotoGrpc {
    service: Arc<PhotoService>,
}

impl PhotoGrpc {
    pub fn new(service: Arc<PhotoService>) -> Self {
        PhotoGrpc { service }
    }
}

pub fn photo_to_proto(row: &photo::Model) -> v1::Photo {
    v1::Photo {
        id: row.id.to_string(),
        task_id: id_text(row.task_id),
        pon_id: row.pon_id.to_string(),
        pole_number: row.pole_number.clone().unwrap_or_default(),
        object_key: row.object_key.clone(),
        content_type: row.content_type.clone(),
        size_bytes: row.size_bytes,
        sha256: row.sha256.clone(),
        original_name: row.original_name.clone(),
        taken_at: row.taken_at.map(timestamp),
        taken_offset: row.taken_offset.clone().unwrap_or_default(),
        time_source: row.time_source.clone().unwrap_or_default(),
        lat: row.lat,
        lng: row.lng,
        exif_ok: row.exif_ok,
        within_geofence: row.within_geofence,
        verdict: row.verdict.clone(),
        reasons: row.reasons(),
        uploaded_by: id_text(row.uploaded_by),
        created_at: Some(timestamp(row.created_at)),
        validated_at: Some(timestamp(row.validated_at)),
    }
}

fn geofence_to_proto(view: GeofenceView) -> v1::Geofence {
    v1::Geofence {
        pon_id: view.pon_id.to_string(),
        center_lat: view.center.map(|(lat, _)| lat),
        center_lng: view.center.map(|(_, lng)| lng),
        geofence_radius_m: view.radius_m,
        geojson: view.geojson.unwrap_or_default(),
    }
}

/// The chunks after the metadata message.
struct Chunks(Streaming<v1::UploadPhotoRequest>);

#[async_trait::async_trait]
impl ChunkSource for Chunks {
    async fn next_chunk(&mut self) -> AppResult<Option<Bytes>> {
        match self.0.message().await {
            Ok(None) => Ok(None),
            Ok(Some(v1::UploadPhotoRequest {
                part: Some(Part::Chunk(bytes)),
            })) => Ok(Some(bytes.into())),
            Ok(Some(_)) => Err(AppError::invalid(
                "chunk",
                "only the first message carries metadata",
            )),
            Err(status) => Err(AppError::Unavailable(format!(
                "upload stream broke: {}",
                status.message()
            ))),
        }
    }
}

fn optional(text: String) -> Option<String> {
    Some(text).filter(|t| !t.trim().is_empty())
}

#[tonic::async_trait]
impl v1::photo_service_server::PhotoService for PhotoGrpc {
    async fn upload_photo(
        &self,
        request: Request<Streaming<v1::UploadPhotoRequest>>,
    ) -> Result<Response<v1::Photo>, Status> {
        let ctx = context(&request);
        let mut stream = request.into_inner();
        let metadata = match stream.message().await? {
            Some(v1::UploadPhotoRequest {
                part: Some(Part::Metadata(metadata)),
            }) => metadata,
            _ => {
                return Err(AppError::invalid(
                    "metadata",
                    "the first message must carry the metadata",
                )
                .into());
            }
        };
        let upload = UploadRequest {
            task_id: parse_id("metadata.task_id", &metadata.task_id)?,
            pole_number: optional(metadata.pole_number),
            original_name: metadata.original_name,
        };
        let row = self
            .service
            .upload(&ctx, upload, &mut Chunks(stream))
            .await?;
        Ok(Response::new(photo_to_proto(&row)))
    }

    async fn create_upload_url(
        &self,
        request: Request<v1::CreateUploadUrlRequest>,
    ) -> Result<Response<v1::UploadUrl>, Status> {
        let ctx = context(&request);
        let task_id = parse_id("task_id", &request.get_ref().task_id)?;
        let url = self.service.upload_url(&ctx, task_id).await?;
        Ok(Response::new(v1::UploadUrl {
            photo_id: url.photo_id.to_string(),
            s3_key: url.key,
            url: url.url,
            expires_at: Some(timestamp(url.expires_at)),
        }))
    }

    async fn register_photo(
        &self,
        request: Request<v1::RegisterPhotoRequest>,
    ) -> Result<Response<v1::Photo>, Status> {
        let ctx = context(&request);
        let body = request.into_inner();
        let photo_id = parse_id("photo_id", &body.photo_id)?;
        if body.s3_key.trim().is_empty() {
            return Err(AppError::invalid("s3_key", "is required").into());
        }
        let row = self
            .service
            .register(
                &ctx,
                photo_id,
                body.s3_key.trim(),
                optional(body.pole_number),
            )
            .await?;
        Ok(Response::new(photo_to_proto(&row)))
    }

    async fn validate_photo(
        &self,
        request: Request<v1::ValidatePhotoRequest>,
    ) -> Result<Response<v1::Photo>, Status> {
        let ctx = context(&request);
        let id = parse_id("id", &request.get_ref().id)?;
        Ok(Response::new(photo_to_proto(
            &self.service.validate(&ctx, id).await?,
        )))
    }

    async fn get_photo(
        &self,
        request: Request<v1::GetPhotoRequest>,
    ) -> Result<Response<v1::Photo>, Status> {
        let ctx = context(&request);
        let id = parse_id("id", &request.get_ref().id)?;
        Ok(Response::new(photo_to_proto(
            &self.service.get(&ctx, id).await?,
        )))
    }

    async fn list_photos(
        &self,
        request: Request<v1::ListPhotosRequest>,
    ) -> Result<Response<v1::ListPhotosResponse>, Status> {
        let ctx = context(&request);
        let body = request.into_inner();
        let (rows, next) = match (body.task_id.trim(), body.pon_id.trim()) {
            (task, "") if !task.is_empty() => {
                let task = parse_id("task_id", task)?;
                self.service
                    .list_for_task(&ctx, task, body.page_size, &body.page_token)
                    .await?
            }
            ("", pon) if !pon.is_empty() => {
                let pon = parse_id("pon_id", pon)?;
                self.service
                    .list_for_pon(&ctx, pon, body.page_size, &body.page_token)
                    .await?
            }
            _ => {
                return Err(
                    AppError::invalid("task_id", "give exactly one of task_id and pon_id").into(),
                );
            }
        };
        Ok(Response::new(v1::ListPhotosResponse {
            photos: rows.iter().map(photo_to_proto).collect(),
            next_page_token: next.unwrap_or_default(),
        }))
    }

    async fn get_photo_download_url(
        &self,
        request: Request<v1::GetPhotoDownloadUrlRequest>,
    ) -> Result<Response<v1::DownloadUrl>, Status> {
        let ctx = context(&request);
        let id = parse_id("id", &request.get_ref().id)?;
        let (url, expires_at) = self.service.download_url(&ctx, id).await?;
        Ok(Response::new(v1::DownloadUrl {
            url,
            expires_at: Some(timestamp(expires_at)),
        }))
    }

    async fn set_circle_geofence(
        &self,
        request: Request<v1::SetCircleGeofenceRequest>,
    ) -> Result<Response<v1::Geofence>, Status> {
        let ctx = context(&request);
        let body = request.into_inner();
        let pon_id = parse_id("pon_id", &body.pon_id)?;
        let view = self
            .service
            .set_circle(
                &ctx,
                pon_id,
                body.center_lat,
                body.center_lng,
                body.geofence_radius_m,
            )
            .await?;
        Ok(Response::new(geofence_to_proto(view)))
    }

    async fn set_polygon_geofence(
        &self,
        request: Request<v1::SetPolygonGeofenceRequest>,
    ) -> Result<Response<v1::Geofence>, Status> {
        let ctx = context(&request);
        let body = request.into_inner();
        let pon_id = parse_id("pon_id", &body.pon_id)?;
        let geometry: serde_json::Value = serde_json::from_str(&body.geojson)
            .map_err(|err| AppError::invalid("geojson", format!("is not JSON: {err}")))?;
        let view = self.service.set_polygon(&ctx, pon_id, &geometry).await?;
        Ok(Response::new(geofence_to_proto(view)))
    }
}
