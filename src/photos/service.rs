//! Photo rules: the one upload pipeline (sniff, limits, hash, stream to the object store, EXIF,
//! verdict), presigned uploads and their registration, re-validation, listings and downloads,
//! all scoped by tenant. Geofence changes and the re-judging they start live in `geofencing`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

mod geofencing;

pub use geofencing::GeofenceView;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait,
    IntoActiveModel, QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::exif::{self, ExifOutcome, ImageType};
use super::model::photo;
use super::rules::{self, Reading, TimeWindow, Verdict};
use crate::audit::{self, Change};
use crate::clock::Clock;
use crate::config::PhotoConfig;
use crate::context::RequestContext;
use crate::error::{AppError, AppResult, FieldViolation};
use crate::identity::model::user;
use crate::pons::PonService;
use crate::storage::Objects;
use crate::storage::objects::SignedOp;
use crate::tasks::TaskService;
use crate::{paging, tasks};

const PAGE_KIND: &str = "photo";
/// Field of every refusal of the bytes themselves.
pub const PHOTO_FIELD: &str = "photo";

fn too_large(limit: u64) -> AppError {
    AppError::PayloadTooLarge(FieldViolation::new(
        PHOTO_FIELD,
        format!("File too large: limit is {limit} bytes"),
    ))
}

fn unsupported_type(what: &str) -> AppError {
    AppError::UnsupportedMediaType(FieldViolation::new(
        PHOTO_FIELD,
        format!("Unsupported Content-Type: {what}"),
    ))
}

/// Whether `err` refuses the uploaded bytes themselves (too large, of a refused type, empty)
/// rather than the request around them.
pub fn refuses_bytes(err: &AppError) -> bool {
    err.violations().iter().any(|v| v.field == PHOTO_FIELD)
}

/// Where the bytes of an upload come from (a gRPC stream, a multipart part, a stored object).
#[async_trait::async_trait]
pub trait ChunkSource: Send {
    /// The next piece, or `None` at the end.
    async fn next_chunk(&mut self) -> AppResult<Option<Bytes>>;
}

/// What an upload is for.
#[derive(Clone, Debug, Default)]
pub struct UploadRequest {
    pub task_id: Uuid,
    pub pole_number: Option<String>,
    pub original_name: String,
}

/// A presigned upload: register `key` under `photo_id` once the bytes are there.
pub struct UploadUrl {
    pub photo_id: Uuid,
    pub key: String,
    pub url: String,
    pub expires_at: DateTime<Utc>,
}

/// What the pipeline learnt from the bytes.
struct Inspected {
    kind: ImageType,
    size: u64,
    sha256: String,
    exif: ExifOutcome,
}

pub struct PhotoService {
    db: DatabaseConnection,
    clock: Arc<dyn Clock>,
    objects: Objects,
    tasks: Arc<TaskService>,
    pons: Arc<PonService>,
    max_bytes: u64,
    allowed: Vec<String>,
    window: TimeWindow,
    url_ttl: Duration,
    /// Held by each re-judging run from reading the fence to its last write, so runs of quick
    /// successive fence changes never interleave: the last to run reads the latest fence and
    /// writes last.
    rejudging: tokio::sync::Mutex<()>,
}

/// Key of a photo's object: tenant, task and photo id, so a key names whose it is.
fn object_key(tenant: Uuid, task: Uuid, photo: Uuid) -> String {
    format!("photos/{tenant}/{task}/{photo}")
}

/// Key a presigned upload URL writes to. Registration copies the bytes to a key of their own
/// (hashing and judging exactly what it copies), so replaying the URL later cannot change a
/// registered photo: the URL never points at evidence.
fn upload_key(tenant: Uuid, task: Uuid, photo: Uuid) -> String {
    format!("uploads/{tenant}/{task}/{photo}")
}

/// Key of the evidence copied from a presigned upload: the photo's key and a nonce, so two
/// registrations racing for one photo never write the same object.
fn registered_key(tenant: Uuid, task: Uuid, photo: Uuid) -> String {
    format!(
        "{}.{}",
        object_key(tenant, task, photo),
        Uuid::now_v7().simple()
    )
}

/// The task and photo ids of one of `tenant`'s upload keys.
fn parse_upload_key(tenant: Uuid, key: &str) -> Option<(Uuid, Uuid)> {
    let rest = key.strip_prefix(&format!("uploads/{tenant}/"))?;
    let (task, photo) = rest.split_once('/')?;
    Some((Uuid::parse_str(task).ok()?, Uuid::parse_str(photo).ok()?))
}

fn photo_not_found() -> AppError {
    AppError::not_found("Photo not found")
}

fn unavailable(err: anyhow::Error) -> AppError {
    AppError::outage("object store", err)
}

fn snapshot(row: &photo::Model) -> Value {
    json!({
        "id": row.id,
        "task_id": row.task_id,
        "pon_id": row.pon_id,
        "pole_number": row.pole_number,
        "object_key": row.object_key,
        "content_type": row.content_type,
        "size_bytes": row.size_bytes,
        "sha256": row.sha256,
        "taken_at": row.taken_at,
        "lat": row.lat,
        "lng": row.lng,
        "verdict": row.verdict,
        "reasons": row.reasons(),
    })
}

/// A reading rebuilt from a stored photo (to judge it again without its bytes).
fn stored_reading(row: &photo::Model) -> Reading {
    Reading {
        taken_at: row.taken_at,
        taken_offset: row.taken_offset.clone(),
        time_source: row.time_source.clone(),
        gps: row.lat.zip(row.lng),
        exif_problem: row
            .reasons()
            .into_iter()
            .find(|reason| reason.starts_with("exif_")),
    }
}

fn apply_verdict(row: &mut photo::Model, verdict: &Verdict, at: DateTime<Utc>) {
    row.exif_ok = verdict.exif_ok;
    row.within_geofence = verdict.within_geofence;
    row.verdict = verdict.label().to_string();
    row.reasons = serde_json::to_string(&verdict.reasons).unwrap_or_else(|_| "[]".into());
    row.validated_at = at;
}

fn optional_text(text: Option<String>) -> Option<String> {
    text.map(|t| t.trim().to_string()).filter(|t| !t.is_empty())
}

/// The text fields of an upload, which arrive in multipart forms and gRPC streams (where the
/// server's input checks do not read them): a NUL byte is refused before any byte is stored.
fn check_texts(pole_number: Option<&str>, original_name: &str) -> AppResult<()> {
    for (field, text) in [
        ("pole_number", pole_number.unwrap_or_default()),
        ("original_name", original_name),
    ] {
        if text.contains('\0') {
            return Err(AppError::invalid(field, "must not contain a NUL byte"));
        }
    }
    Ok(())
}

impl PhotoService {
    pub fn new(
        db: DatabaseConnection,
        clock: Arc<dyn Clock>,
        objects: Objects,
        tasks: Arc<TaskService>,
        pons: Arc<PonService>,
        config: &PhotoConfig,
    ) -> Self {
        PhotoService {
            db,
            clock,
            objects,
            tasks,
            pons,
            max_bytes: config.file_max_bytes,
            allowed: config
                .allowed_content_types
                .iter()
                .map(|t| t.trim().to_ascii_lowercase())
                .filter(|t| !t.is_empty())
                .collect(),
            window: TimeWindow {
                max_age: chrono::Duration::minutes(config.photo_max_age_minutes.into()),
                max_future: chrono::Duration::minutes(config.photo_max_future_minutes.into()),
            },
            url_ttl: Duration::from_secs(config.photo_url_ttl_secs.clamp(1, 7 * 24 * 3600)),
            rejudging: tokio::sync::Mutex::new(()),
        }
    }

    /// Reads `source` to its end: hashes and counts every byte, keeps only the header, and
    /// passes each piece on to `sink` (the object upload) as it comes.
    async fn inspect(
        &self,
        source: &mut dyn ChunkSource,
        mut sink: Option<&mut crate::storage::objects::ObjectWriter>,
    ) -> AppResult<Inspected> {
        let mut hasher = Sha256::new();
        let mut header = Vec::with_capacity(exif::HEADER_BYTES.min(64 * 1024));
        let mut size = 0u64;
        let mut kind = None;
        while let Some(chunk) = source.next_chunk().await? {
            if chunk.is_empty() {
                continue;
            }
            size += chunk.len() as u64;
            if size > self.max_bytes {
                return Err(too_large(self.max_bytes));
            }
            hasher.update(&chunk);
            if header.len() < exif::HEADER_BYTES {
                let room = exif::HEADER_BYTES - header.len();
                header.extend_from_slice(&chunk[..chunk.len().min(room)]);
            }
            if kind.is_none() && header.len() >= 12 {
                kind = Some(self.accepted_type(&header)?);
            }
            if let Some(writer) = sink.as_deref_mut() {
                writer.write(chunk).await.map_err(unavailable)?;
            }
        }
        if size == 0 {
            return Err(AppError::invalid(PHOTO_FIELD, "is empty"));
        }
        let kind = match kind {
            Some(kind) => kind,
            None => self.accepted_type(&header)?,
        };
        Ok(Inspected {
            kind,
            size,
            sha256: hex::encode(hasher.finalize()),
            exif: exif::read(kind, &header),
        })
    }

    /// The sniffed type, if it is allowed.
    fn accepted_type(&self, header: &[u8]) -> AppResult<ImageType> {
        let Some(kind) = ImageType::sniff(header) else {
            return Err(unsupported_type("not a JPEG, PNG or HEIC image"));
        };
        if !self.allowed.is_empty() && !self.allowed.iter().any(|t| t == kind.content_type()) {
            return Err(unsupported_type(kind.content_type()));
        }
        Ok(kind)
    }

    /// Uploads a photo for a task through the one pipeline. The object is complete before the
    /// row is written; a failed row write deletes the object again.
    pub async fn upload(
        &self,
        ctx: &RequestContext,
        request: UploadRequest,
        source: &mut dyn ChunkSource,
    ) -> AppResult<photo::Model> {
        check_texts(request.pole_number.as_deref(), &request.original_name)?;
        let task = self.tasks.get(ctx, request.task_id).await?;
        let id = Uuid::now_v7();
        let key = object_key(ctx.tenant_id, task.id, id);
        let mut writer = self.objects.writer(&key);
        let inspected = match self.inspect(source, Some(&mut writer)).await {
            Ok(inspected) => inspected,
            Err(err) => {
                writer.abort().await;
                return Err(err);
            }
        };
        writer.finish().await.map_err(unavailable)?;
        self.record_new(ctx, &task, id, key, request, inspected)
            .await
    }

    /// Writes the row of a stored object; deletes the object when that fails.
    async fn record_new(
        &self,
        ctx: &RequestContext,
        task: &tasks::model::Model,
        id: Uuid,
        key: String,
        request: UploadRequest,
        inspected: Inspected,
    ) -> AppResult<photo::Model> {
        let result = self.insert(ctx, task, id, &key, request, inspected).await;
        if result.is_err()
            && let Err(error) = self.objects.delete(&key).await
        {
            tracing::error!(key = %key, error = format!("{error:#}"), "photo object left without a row");
        }
        result
    }

    async fn insert(
        &self,
        ctx: &RequestContext,
        task: &tasks::model::Model,
        id: Uuid,
        key: &str,
        request: UploadRequest,
        inspected: Inspected,
    ) -> AppResult<photo::Model> {
        let now = self.clock.now();
        let reading = rules::reading(
            &inspected.exif,
            crate::tasks::due::tenant_zone(&self.db, ctx.tenant_id).await?,
        );
        let fence = self.fence(ctx.tenant_id, task.pon_id).await?;
        let verdict = rules::judge(&reading, &fence, now, self.window);
        let mut row = photo::Model {
            id,
            tenant_id: ctx.tenant_id,
            task_id: Some(task.id),
            pon_id: task.pon_id,
            pole_number: optional_text(request.pole_number),
            object_key: key.to_string(),
            content_type: inspected.kind.content_type().to_string(),
            size_bytes: inspected.size as i64,
            sha256: inspected.sha256,
            original_name: request.original_name.trim().to_string(),
            taken_at: reading.taken_at,
            taken_offset: reading.taken_offset,
            time_source: reading.time_source,
            lat: reading.gps.map(|(lat, _)| lat),
            lng: reading.gps.map(|(_, lng)| lng),
            exif_ok: false,
            within_geofence: false,
            verdict: String::new(),
            reasons: String::new(),
            uploaded_by: ctx.user_id(),
            created_at: now,
            validated_at: now,
        };
        apply_verdict(&mut row, &verdict, now);
        let tx = self.db.begin().await?;
        photo::Entity::insert(row.clone().into_active_model())
            .exec_without_returning(&tx)
            .await?;
        self.audit(&tx, ctx, "create", None, Some(&row), now)
            .await?;
        tx.commit().await?;
        Ok(row)
    }

    async fn audit(
        &self,
        tx: &impl ConnectionTrait,
        ctx: &RequestContext,
        action: &str,
        before: Option<&photo::Model>,
        after: Option<&photo::Model>,
        at: DateTime<Utc>,
    ) -> AppResult<()> {
        let id = before.or(after).map(|row| row.id).unwrap_or_default();
        audit::record(
            tx,
            ctx,
            ctx.tenant_id,
            at,
            Change {
                action,
                resource_type: "photo",
                resource_id: id.to_string(),
                before: before.map(snapshot),
                after: after.map(snapshot),
            },
        )
        .await
    }

    /// A presigned URL for a task's next photo.
    pub async fn upload_url(&self, ctx: &RequestContext, task_id: Uuid) -> AppResult<UploadUrl> {
        let task = self.tasks.get(ctx, task_id).await?;
        let photo_id = Uuid::now_v7();
        let key = upload_key(ctx.tenant_id, task.id, photo_id);
        let now = self.clock.now();
        let url = self
            .objects
            .signed_url(SignedOp::Put, &key, self.url_ttl, now.timestamp())
            .await
            .map_err(unavailable)?;
        Ok(UploadUrl {
            photo_id,
            key,
            url,
            expires_at: now + chrono::Duration::from_std(self.url_ttl).unwrap_or_default(),
        })
    }

    /// Registers the object PUT through an upload URL: its bytes are copied to the photo's own
    /// key while they are hashed and judged, then the upload is deleted. Bytes that are refused
    /// are deleted with the upload, so nothing stays behind without a row. Registering a photo
    /// again answers it as it is: evidence is never re-read from a URL that can be replayed.
    pub async fn register(
        &self,
        ctx: &RequestContext,
        photo_id: Uuid,
        key: &str,
        pole_number: Option<String>,
    ) -> AppResult<photo::Model> {
        if let Some(existing) = self.find(ctx, photo_id).await? {
            let named = existing.object_key == key
                || existing
                    .task_id
                    .is_some_and(|task| upload_key(ctx.tenant_id, task, photo_id) == key);
            return if named {
                self.get(ctx, photo_id).await
            } else {
                Err(photo_not_found())
            };
        }
        check_texts(pole_number.as_deref(), "")?;
        let (task_id, key_photo) = parse_upload_key(ctx.tenant_id, key)
            .filter(|(_, id)| *id == photo_id)
            .ok_or_else(photo_not_found)?;
        let task = match self.tasks.get(ctx, task_id).await {
            Err(AppError::NotFound(_)) => return Err(photo_not_found()),
            other => other?,
        };
        let size = self
            .objects
            .size(key)
            .await
            .map_err(unavailable)?
            .ok_or_else(|| AppError::not_found("S3 object not found"))?;
        let evidence_key = registered_key(ctx.tenant_id, task.id, key_photo);
        let mut writer = self.objects.writer(&evidence_key);
        let inspected = if size > self.max_bytes {
            Err(too_large(self.max_bytes))
        } else {
            let mut source = StoredObject {
                stream: self.objects.stream(key).await.map_err(unavailable)?,
            };
            self.inspect(&mut source, Some(&mut writer)).await
        };
        let inspected = match inspected {
            Ok(inspected) => inspected,
            Err(err) => {
                writer.abort().await;
                if refuses_bytes(&err) {
                    self.objects.delete(key).await.map_err(unavailable)?;
                }
                return Err(err);
            }
        };
        writer.finish().await.map_err(unavailable)?;
        let request = UploadRequest {
            task_id,
            pole_number,
            original_name: String::new(),
        };
        let row = self
            .record_new(ctx, &task, photo_id, evidence_key, request, inspected)
            .await?;
        if let Err(error) = self.objects.delete(key).await {
            tracing::warn!(key = %key, error = format!("{error:#}"), "registered upload left behind");
        }
        Ok(row)
    }

    async fn save(
        &self,
        ctx: &RequestContext,
        before: &photo::Model,
        row: photo::Model,
        now: DateTime<Utc>,
    ) -> AppResult<photo::Model> {
        let tx = self.db.begin().await?;
        let row = row.into_active_model().reset_all().update(&tx).await?;
        self.audit(&tx, ctx, "update", Some(before), Some(&row), now)
            .await?;
        tx.commit().await?;
        Ok(row)
    }

    /// Judges a stored photo again against its PON's current fence, storing the verdict.
    pub async fn validate(&self, ctx: &RequestContext, id: Uuid) -> AppResult<photo::Model> {
        let before = self.get(ctx, id).await?;
        let now = self.clock.now();
        let fence = self.fence(ctx.tenant_id, before.pon_id).await?;
        let verdict = rules::judge(
            &stored_reading(&before),
            &fence,
            before.created_at,
            self.window,
        );
        let mut row = before.clone();
        apply_verdict(&mut row, &verdict, now);
        self.save(ctx, &before, row, now).await
    }

    async fn find(&self, ctx: &RequestContext, id: Uuid) -> AppResult<Option<photo::Model>> {
        Ok(photo::Entity::find_by_id(id)
            .filter(photo::Column::TenantId.eq(ctx.tenant_id))
            .one(&self.db)
            .await?)
    }

    /// A photo of the caller's tenant whose task (or PON) the caller may read.
    pub async fn get(&self, ctx: &RequestContext, id: Uuid) -> AppResult<photo::Model> {
        let row = self.find(ctx, id).await?.ok_or_else(photo_not_found)?;
        let readable = match row.task_id {
            Some(task) => self.tasks.get(ctx, task).await.map(drop),
            None => self.pons.get(ctx, row.pon_id).await.map(drop),
        };
        match readable {
            Err(AppError::NotFound(_)) => Err(photo_not_found()),
            other => other.map(|()| row),
        }
    }

    /// One page of a task's photos (the task must be readable), newest first.
    /// Deletes a PON the caller may delete — its tasks, photo rows and certificates go with it
    /// in the database — and then its photos' objects, so no object outlives its row. An object
    /// the store fails to delete is logged by key (an orphan to sweep), never an error: the PON
    /// is already gone.
    pub async fn delete_pon(&self, ctx: &RequestContext, pon_id: Uuid) -> AppResult<()> {
        let keys: Vec<String> = photo::Entity::find()
            .select_only()
            .column(photo::Column::ObjectKey)
            .filter(photo::Column::TenantId.eq(ctx.tenant_id))
            .filter(photo::Column::PonId.eq(pon_id))
            .into_tuple()
            .all(&self.db)
            .await?;
        self.pons.delete(ctx, pon_id).await?;
        for key in keys {
            if let Err(error) = self.objects.delete(&key).await {
                tracing::error!(key = %key, error = format!("{error:#}"), "object of a deleted PON's photo left behind");
            }
        }
        Ok(())
    }

    pub async fn list_for_task(
        &self,
        ctx: &RequestContext,
        task_id: Uuid,
        page_size: i32,
        page_token: &str,
    ) -> AppResult<(Vec<photo::Model>, Option<String>)> {
        self.tasks.get(ctx, task_id).await?;
        self.page(ctx, photo::Column::TaskId, task_id, page_size, page_token)
            .await
    }

    /// One page of a PON's photos (the PON must be readable), newest first.
    pub async fn list_for_pon(
        &self,
        ctx: &RequestContext,
        pon_id: Uuid,
        page_size: i32,
        page_token: &str,
    ) -> AppResult<(Vec<photo::Model>, Option<String>)> {
        self.pons.get(ctx, pon_id).await?;
        self.page(ctx, photo::Column::PonId, pon_id, page_size, page_token)
            .await
    }

    async fn page(
        &self,
        ctx: &RequestContext,
        column: photo::Column,
        owner: Uuid,
        page_size: i32,
        page_token: &str,
    ) -> AppResult<(Vec<photo::Model>, Option<String>)> {
        let limit = paging::page_limit(page_size)?;
        let before = paging::decode_token(PAGE_KIND, page_token)?;
        let mut query = photo::Entity::find()
            .filter(photo::Column::TenantId.eq(ctx.tenant_id))
            .filter(column.eq(owner));
        if let Some(before) = before {
            query = query.filter(photo::Column::Id.lt(before));
        }
        let rows = query
            .order_by_desc(photo::Column::Id)
            .limit(limit + 1)
            .all(&self.db)
            .await?;
        Ok(paging::into_page(PAGE_KIND, rows, limit, |row| row.id))
    }

    /// A short-lived URL to the photo's bytes (presigned by S3, or signed by us for the local
    /// store, whose route streams the file).
    pub async fn download_url(
        &self,
        ctx: &RequestContext,
        id: Uuid,
    ) -> AppResult<(String, DateTime<Utc>)> {
        let row = self.get(ctx, id).await?;
        let now = self.clock.now();
        let url = self
            .objects
            .signed_url(
                SignedOp::Get,
                &row.object_key,
                self.url_ttl,
                now.timestamp(),
            )
            .await
            .map_err(unavailable)?;
        Ok((
            url,
            now + chrono::Duration::from_std(self.url_ttl).unwrap_or_default(),
        ))
    }

    /// The users (of the caller's tenant) who uploaded these photos, by id.
    pub async fn uploaders(
        &self,
        ctx: &RequestContext,
        rows: &[photo::Model],
    ) -> AppResult<HashMap<Uuid, user::Model>> {
        let ids: Vec<Uuid> = rows.iter().filter_map(|row| row.uploaded_by).collect();
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        Ok(user::Entity::find()
            .filter(user::Column::TenantId.eq(ctx.tenant_id))
            .filter(user::Column::Id.is_in(ids))
            .all(&self.db)
            .await?
            .into_iter()
            .map(|user| (user.id, user))
            .collect())
    }

    /// Whether the task has a valid photo of its own (the evidence gate of completion).
    pub async fn task_has_valid_photo(
        db: &impl ConnectionTrait,
        task: &tasks::model::Model,
    ) -> AppResult<bool> {
        Ok(photo::Entity::find()
            .filter(photo::Column::TenantId.eq(task.tenant_id))
            .filter(photo::Column::TaskId.eq(task.id))
            .filter(photo::Column::Verdict.eq("valid"))
            .one(db)
            .await?
            .is_some())
    }

    /// A valid photo of the PON (of that pole when one is named), for certificates.
    pub async fn valid_photo_of_pon(
        &self,
        ctx: &RequestContext,
        pon_id: Uuid,
        pole_number: Option<&str>,
    ) -> AppResult<Option<photo::Model>> {
        let mut query = photo::Entity::find()
            .filter(photo::Column::TenantId.eq(ctx.tenant_id))
            .filter(photo::Column::PonId.eq(pon_id))
            .filter(photo::Column::Verdict.eq("valid"));
        if let Some(pole) = pole_number {
            query = query.filter(photo::Column::PoleNumber.eq(pole));
        }
        Ok(query.order_by_desc(photo::Column::Id).one(&self.db).await?)
    }
}

/// A stored object read back through the pipeline.
struct StoredObject {
    stream: futures::stream::BoxStream<'static, anyhow::Result<Bytes>>,
}

#[async_trait::async_trait]
impl ChunkSource for StoredObject {
    async fn next_chunk(&mut self) -> AppResult<Option<Bytes>> {
        self.stream.next().await.transpose().map_err(unavailable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_name_tenant_task_and_photo() {
        let (tenant, task, photo) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let key = upload_key(tenant, task, photo);
        assert_eq!(parse_upload_key(tenant, &key), Some((task, photo)));
        assert_eq!(
            parse_upload_key(Uuid::now_v7(), &key),
            None,
            "another tenant's key"
        );
        assert_eq!(parse_upload_key(tenant, "uploads/x/y"), None);
        assert_eq!(
            parse_upload_key(tenant, &object_key(tenant, task, photo)),
            None,
            "evidence keys are not upload keys"
        );
    }

    #[test]
    fn refusals_of_the_bytes_are_told_from_other_errors() {
        assert!(refuses_bytes(&too_large(1)));
        assert_eq!(too_large(1).reason(), crate::error::Reason::PayloadTooLarge);
        assert!(refuses_bytes(&unsupported_type("x")));
        assert!(refuses_bytes(&AppError::invalid(PHOTO_FIELD, "is empty")));
        assert!(!refuses_bytes(&AppError::invalid("task_id", "bad")));
    }
}
