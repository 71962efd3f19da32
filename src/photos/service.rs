//! Photo rules: the one upload pipeline (sniff, limits, hash, stream to the object store, EXIF,
//! verdict), presigned uploads and their registration, re-validation, geofence changes with
//! their background re-judging, listings and downloads, all scoped by tenant.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use futures::StreamExt;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait,
    IntoActiveModel, QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::exif::{self, ExifOutcome, ImageType};
use super::geo;
use super::model::{geofence, photo};
use super::rules::{self, Fence, Reading, TimeWindow, Verdict};
use crate::audit::{self, Change};
use crate::clock::Clock;
use crate::config::PhotoConfig;
use crate::context::RequestContext;
use crate::error::{AppError, AppResult, FieldViolation};
use crate::identity::model::{tenant, user};
use crate::pons::PonService;
use crate::pons::model as pon;
use crate::pons::service::{DEFAULT_GEOFENCE_RADIUS_M, MAX_GEOFENCE_RADIUS_M};
use crate::storage::Objects;
use crate::storage::objects::SignedOp;
use crate::tasks::TaskService;
use crate::{paging, tasks};

/// The zone of a tenant whose `time_zone` is unknown.
const DEFAULT_ZONE: Tz = chrono_tz::Africa::Johannesburg;
const PAGE_KIND: &str = "photo";
/// Field of every rejection of the bytes themselves; see [`Rejection`].
const PHOTO_FIELD: &str = "photo";

/// Why a photo's bytes are refused (surfaces map these to 413 and 415).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rejection {
    TooLarge,
    UnsupportedType,
    Empty,
}

impl Rejection {
    const TOO_LARGE: &'static str = "File too large";
    const UNSUPPORTED: &'static str = "Unsupported Content-Type";

    fn error(self, detail: &str) -> AppError {
        let description = match self {
            Rejection::TooLarge => format!("{}: {detail}", Self::TOO_LARGE),
            Rejection::UnsupportedType => format!("{}: {detail}", Self::UNSUPPORTED),
            Rejection::Empty => "is empty".to_string(),
        };
        AppError::invalid(PHOTO_FIELD, description)
    }

    /// The rejection an error carries, if it is one.
    pub fn of(err: &AppError) -> Option<Rejection> {
        let AppError::InvalidArgument(violations) = err else {
            return None;
        };
        let [FieldViolation { field, description }] = violations.as_slice() else {
            return None;
        };
        if field != PHOTO_FIELD {
            return None;
        }
        if description.starts_with(Self::TOO_LARGE) {
            Some(Rejection::TooLarge)
        } else if description.starts_with(Self::UNSUPPORTED) {
            Some(Rejection::UnsupportedType)
        } else {
            Some(Rejection::Empty)
        }
    }
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

/// The PON's fence as stored.
pub struct GeofenceView {
    pub pon_id: Uuid,
    pub center: Option<(f64, f64)>,
    pub radius_m: i32,
    pub geojson: Option<String>,
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
    tracing::error!(error = format!("{err:#}"), "object store failure");
    AppError::Unavailable("object store unavailable".into())
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
                return Err(
                    Rejection::TooLarge.error(&format!("limit is {} bytes", self.max_bytes))
                );
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
            return Err(Rejection::Empty.error(""));
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
            return Err(Rejection::UnsupportedType.error("not a JPEG, PNG or HEIC image"));
        };
        if !self.allowed.is_empty() && !self.allowed.iter().any(|t| t == kind.content_type()) {
            return Err(Rejection::UnsupportedType.error(kind.content_type()));
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
        let reading = rules::reading(&inspected.exif, self.zone(ctx.tenant_id).await?);
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
            Err(Rejection::TooLarge.error(&format!("limit is {} bytes", self.max_bytes)))
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
                if Rejection::of(&err).is_some() {
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

    /// The tenant's zone for camera times without an offset.
    async fn zone(&self, tenant_id: Uuid) -> AppResult<Tz> {
        let zone = tenant::Entity::find_by_id(tenant_id)
            .one(&self.db)
            .await?
            .and_then(|tenant| tenant.time_zone.parse().ok());
        Ok(zone.unwrap_or(DEFAULT_ZONE))
    }

    /// The PON's fence: its polygon, else its centre and radius, else none.
    async fn fence(&self, tenant_id: Uuid, pon_id: Uuid) -> AppResult<Fence> {
        let polygon = geofence::Entity::find_by_id(pon_id)
            .filter(geofence::Column::TenantId.eq(tenant_id))
            .one(&self.db)
            .await?;
        if let Some(polygon) = polygon {
            let value: Value =
                serde_json::from_str(&polygon.geojson).map_err(AppError::internal)?;
            let polygons = geo::parse_geojson(&value)
                .map_err(|why| AppError::internal(anyhow::anyhow!("stored geofence: {why}")))?;
            return Ok(Fence::Polygons(polygons));
        }
        let pon = pon::Entity::find_by_id(pon_id)
            .filter(pon::Column::TenantId.eq(tenant_id))
            .one(&self.db)
            .await?;
        Ok(match pon {
            Some(pon::Model {
                geofence_center_lat: Some(lat),
                geofence_center_lng: Some(lng),
                geofence_radius_m,
                ..
            }) => Fence::Circle {
                lat,
                lng,
                radius_m: f64::from(geofence_radius_m),
            },
            _ => Fence::Missing,
        })
    }

    /// Sets a PON's centre and radius, then re-judges its photos in the background.
    pub async fn set_circle(
        self: &Arc<Self>,
        ctx: &RequestContext,
        pon_id: Uuid,
        lat: f64,
        lng: f64,
        radius_m: i32,
    ) -> AppResult<GeofenceView> {
        let mut bad = Vec::new();
        let mut check = |ok: bool, field: &str, rule: &str| {
            if !ok {
                bad.push(FieldViolation {
                    field: field.into(),
                    description: rule.into(),
                });
            }
        };
        check(
            lat.is_finite() && (-90.0..=90.0).contains(&lat),
            "center_lat",
            "must be between -90 and 90",
        );
        check(
            lng.is_finite() && (-180.0..=180.0).contains(&lng),
            "center_lng",
            "must be between -180 and 180",
        );
        let radius_m = if radius_m == 0 {
            DEFAULT_GEOFENCE_RADIUS_M
        } else {
            radius_m
        };
        check(
            (1..=MAX_GEOFENCE_RADIUS_M).contains(&radius_m),
            "geofence_radius_m",
            "must be between 1 and 50000 metres",
        );
        if !bad.is_empty() {
            return Err(AppError::InvalidArgument(bad));
        }
        let before = self.pons.get(ctx, pon_id).await?;
        let now = self.clock.now();
        let tx = self.db.begin().await?;
        pon::Entity::update_many()
            .col_expr(pon::Column::GeofenceCenterLat, Expr::value(lat))
            .col_expr(pon::Column::GeofenceCenterLng, Expr::value(lng))
            .col_expr(pon::Column::GeofenceRadiusM, Expr::value(radius_m))
            .col_expr(pon::Column::UpdatedAt, Expr::value(now))
            .filter(pon::Column::Id.eq(pon_id))
            .filter(pon::Column::TenantId.eq(ctx.tenant_id))
            .exec(&tx)
            .await?;
        let circle = |lat: Option<f64>, lng: Option<f64>, radius: i32| json!({"center_lat": lat, "center_lng": lng, "geofence_radius_m": radius});
        self.audit_fence(
            &tx,
            ctx,
            pon_id,
            circle(
                before.geofence_center_lat,
                before.geofence_center_lng,
                before.geofence_radius_m,
            ),
            circle(Some(lat), Some(lng), radius_m),
            now,
        )
        .await?;
        tx.commit().await?;
        self.spawn_rejudge(ctx.tenant_id, pon_id);
        self.geofence(ctx, pon_id).await
    }

    /// Sets a PON's polygon from a GeoJSON geometry, then re-judges its photos in the background.
    pub async fn set_polygon(
        self: &Arc<Self>,
        ctx: &RequestContext,
        pon_id: Uuid,
        geometry: &Value,
    ) -> AppResult<GeofenceView> {
        geo::parse_geojson(geometry).map_err(|why| {
            let (path, rule) = why.split_once(": ").unwrap_or(("", &why));
            AppError::invalid(format!("geometry.{path}"), rule)
        })?;
        self.pons.get(ctx, pon_id).await?;
        let now = self.clock.now();
        let before = geofence::Entity::find_by_id(pon_id)
            .filter(geofence::Column::TenantId.eq(ctx.tenant_id))
            .one(&self.db)
            .await?;
        let row = geofence::Model {
            pon_id,
            tenant_id: ctx.tenant_id,
            geojson: geometry.to_string(),
            updated_at: now,
        };
        let tx = self.db.begin().await?;
        geofence::Entity::delete_many()
            .filter(geofence::Column::PonId.eq(pon_id))
            .filter(geofence::Column::TenantId.eq(ctx.tenant_id))
            .exec(&tx)
            .await?;
        geofence::Entity::insert(row.into_active_model())
            .exec_without_returning(&tx)
            .await?;
        let polygon = |geojson: Option<&str>| json!({"polygon": geojson.and_then(|g| serde_json::from_str::<Value>(g).ok())});
        self.audit_fence(
            &tx,
            ctx,
            pon_id,
            polygon(before.as_ref().map(|b| b.geojson.as_str())),
            json!({"polygon": geometry}),
            now,
        )
        .await?;
        tx.commit().await?;
        self.spawn_rejudge(ctx.tenant_id, pon_id);
        self.geofence(ctx, pon_id).await
    }

    async fn audit_fence(
        &self,
        tx: &impl ConnectionTrait,
        ctx: &RequestContext,
        pon_id: Uuid,
        before: Value,
        after: Value,
        at: DateTime<Utc>,
    ) -> AppResult<()> {
        audit::record(
            tx,
            ctx,
            ctx.tenant_id,
            at,
            Change {
                action: "update",
                resource_type: "pon_geofence",
                resource_id: pon_id.to_string(),
                before: Some(before),
                after: Some(after),
            },
        )
        .await
    }

    /// The PON's fence as stored.
    pub async fn geofence(&self, ctx: &RequestContext, pon_id: Uuid) -> AppResult<GeofenceView> {
        let pon = self.pons.get(ctx, pon_id).await?;
        let polygon = geofence::Entity::find_by_id(pon_id)
            .filter(geofence::Column::TenantId.eq(ctx.tenant_id))
            .one(&self.db)
            .await?;
        Ok(GeofenceView {
            pon_id,
            center: pon.geofence_center_lat.zip(pon.geofence_center_lng),
            radius_m: pon.geofence_radius_m,
            geojson: polygon.map(|p| p.geojson),
        })
    }

    /// The re-judging job of a geofence change, started after its commit.
    fn spawn_rejudge(self: &Arc<Self>, tenant_id: Uuid, pon_id: Uuid) {
        let service = self.clone();
        tokio::spawn(async move {
            match service.rejudge_pon(tenant_id, pon_id).await {
                Ok(changed) => {
                    tracing::info!(%pon_id, changed, "photos judged again after a geofence change")
                }
                Err(error) => tracing::error!(%pon_id, %error, "re-judging photos failed"),
            }
        });
    }

    /// Judges every photo of a PON again; the number whose verdict changed.
    pub async fn rejudge_pon(&self, tenant_id: Uuid, pon_id: Uuid) -> AppResult<usize> {
        let _one_at_a_time = self.rejudging.lock().await;
        let fence = self.fence(tenant_id, pon_id).await?;
        let now = self.clock.now();
        let rows = photo::Entity::find()
            .filter(photo::Column::TenantId.eq(tenant_id))
            .filter(photo::Column::PonId.eq(pon_id))
            .all(&self.db)
            .await?;
        let mut changed = 0;
        for row in rows {
            let verdict = rules::judge(&stored_reading(&row), &fence, row.created_at, self.window);
            let mut updated = row.clone();
            apply_verdict(&mut updated, &verdict, now);
            if updated.verdict != row.verdict || updated.reasons != row.reasons {
                changed += 1;
            }
            photo::Entity::update_many()
                .col_expr(photo::Column::ExifOk, Expr::value(updated.exif_ok))
                .col_expr(
                    photo::Column::WithinGeofence,
                    Expr::value(updated.within_geofence),
                )
                .col_expr(photo::Column::Verdict, Expr::value(updated.verdict))
                .col_expr(photo::Column::Reasons, Expr::value(updated.reasons))
                .col_expr(photo::Column::ValidatedAt, Expr::value(now))
                .filter(photo::Column::Id.eq(row.id))
                .filter(photo::Column::TenantId.eq(tenant_id))
                .exec(&self.db)
                .await?;
        }
        Ok(changed)
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
    fn rejections_are_recognised_from_their_errors() {
        assert_eq!(
            Rejection::of(&Rejection::TooLarge.error("x")),
            Some(Rejection::TooLarge)
        );
        assert_eq!(
            Rejection::of(&Rejection::UnsupportedType.error("x")),
            Some(Rejection::UnsupportedType)
        );
        assert_eq!(Rejection::of(&AppError::invalid("task_id", "bad")), None);
    }
}
