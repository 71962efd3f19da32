//! The photo upload scenarios: one 4 MiB JPEG (EXIF capture time now, GPS inside the fixture
//! PON's circle) built once in memory and sent again and again through the three upload paths.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::{Bytes, BytesMut};
use chrono::{FixedOffset, Utc};
use kasi_fiber::photos::sample::{self, ExifSpec};
use kasi_fiber::proto::v1::photo_service_client::PhotoServiceClient;
use kasi_fiber::proto::v1::pon_service_client::PonServiceClient;
use kasi_fiber::proto::v1::upload_photo_request::Part;
use kasi_fiber::proto::v1::{
    CreateTaskRequest, SetCircleGeofenceRequest, Task, UploadMetadata, UploadPhotoRequest,
};
use serde_json::{Value, json};
use tonic::transport::Channel;

use crate::{Authed, Bearer, Outcome, Scenario, tasks_fixture};

/// Size of the photo every upload sends.
const PHOTO_BYTES: usize = 4 * 1024 * 1024;
/// Bytes per message of the gRPC stream (the server takes up to 1 MiB).
const CHUNK_BYTES: usize = 64 * 1024;
/// Centre of the fixture PON's circle, and where the photo says it was taken.
const SITE: (f64, f64) = (-26.2, 27.9);
const FENCE_RADIUS_M: i32 = 250;
/// Failed uploads whose reason is printed (the rest are only counted).
const FAILURES_SHOWN: u64 = 5;

/// Ratios between the paths, for the report of a run.
pub const RATIOS: [(Scenario, Scenario, &str); 2] = [
    (
        Scenario::UploadMultipart,
        Scenario::UploadGrpc,
        "photo upload multipart / gRPC stream",
    ),
    (
        Scenario::UploadPresigned,
        Scenario::UploadGrpc,
        "photo upload presigned / gRPC stream",
    ),
];

/// What every upload shares: the task, the photo, and the multipart body around it.
pub struct UploadFixture {
    task_id: String,
    photo: Bytes,
    /// `multipart/form-data; boundary=…` of `form`.
    form_type: String,
    /// The `task_id` field and the photo as the `file` part.
    form: Bytes,
    /// `http://host:port` of the server (the local store's signed URLs are relative to it).
    base: String,
    /// Carries the bearer token.
    api: reqwest::Client,
    /// Sends no token: presigned URLs carry their own signature (S3 refuses a second one).
    unauthenticated: reqwest::Client,
    failures: AtomicU64,
}

/// One worker's way to upload the photo.
#[derive(Clone)]
pub enum Upload {
    /// `PhotoService/UploadPhoto`: the metadata, then the photo in chunks.
    Grpc(Box<PhotoServiceClient<Authed>>, Arc<UploadFixture>),
    /// `POST /photos/upload`, multipart.
    Multipart(Arc<UploadFixture>),
    /// `POST /photos/upload-url`, PUT of the bytes to the URL, `POST /photos/register`.
    Presigned(Arc<UploadFixture>),
}

fn uploads_photos(scenario: Scenario) -> bool {
    matches!(
        scenario,
        Scenario::UploadGrpc | Scenario::UploadMultipart | Scenario::UploadPresigned
    )
}

/// The fixture when one of `scenarios` uploads photos: a new PON with a circle around
/// [`SITE`], a task on it, and the photo.
pub async fn fixture_for(
    scenarios: &[Scenario],
    channel: Channel,
    bearer: Bearer,
    base: &str,
    api: reqwest::Client,
    concurrency: usize,
) -> anyhow::Result<Option<Arc<UploadFixture>>> {
    if !scenarios.iter().any(|scenario| uploads_photos(*scenario)) {
        return Ok(None);
    }
    let pon_id = crate::create_pon(PonServiceClient::with_interceptor(
        channel.clone(),
        bearer.clone(),
    ))
    .await?;
    PhotoServiceClient::with_interceptor(channel.clone(), bearer.clone())
        .set_circle_geofence(SetCircleGeofenceRequest {
            pon_id: pon_id.clone(),
            center_lat: SITE.0,
            center_lng: SITE.1,
            geofence_radius_m: FENCE_RADIUS_M,
        })
        .await?;
    let task_id = tasks_fixture::task_client(channel, bearer)
        .create_task(CreateTaskRequest {
            task: Some(Task {
                pon_id,
                title: "Photo upload bench".into(),
                step: "PolePlanting".into(),
                ..Default::default()
            }),
        })
        .await?
        .into_inner()
        .id;
    let photo = photo_taken_now();
    let boundary = format!("loadgen-{}", uuid::Uuid::new_v4().simple());
    let mut form = BytesMut::with_capacity(photo.len() + 512);
    form.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"task_id\"\r\n\r\n{task_id}\r\n\
             --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"bench.jpg\"\r\n\
             Content-Type: image/jpeg\r\n\r\n"
        )
        .as_bytes(),
    );
    form.extend_from_slice(&photo);
    form.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    println!(
        "photo fixture: task {task_id} on a PON with a {FENCE_RADIUS_M} m circle, one {} byte JPEG (EXIF time now, GPS at the centre)",
        photo.len()
    );
    Ok(Some(Arc::new(UploadFixture {
        task_id,
        photo,
        form_type: format!("multipart/form-data; boundary={boundary}"),
        form: form.freeze(),
        base: base.to_string(),
        api,
        unauthenticated: reqwest::Client::builder()
            .http1_only()
            .pool_max_idle_per_host(concurrency)
            .build()?,
        failures: AtomicU64::new(0),
    })))
}

/// A JPEG of exactly [`PHOTO_BYTES`]: EXIF DateTimeOriginal now in SAST with its offset, GPS at
/// [`SITE`], then image data up to the size (the EXIF stays in the header the server reads).
fn photo_taken_now() -> Bytes {
    let sast = FixedOffset::east_opt(2 * 3600).expect("a valid offset");
    let spec = ExifSpec {
        taken: Some(
            Utc::now()
                .with_timezone(&sast)
                .format("%Y:%m:%d %H:%M:%S")
                .to_string(),
        ),
        offset: Some("+02:00".into()),
        gps: Some(SITE),
    };
    let without_image_data = sample::jpeg(Some(&spec), 0).len();
    let photo = sample::jpeg(Some(&spec), PHOTO_BYTES - without_image_data);
    assert_eq!(photo.len(), PHOTO_BYTES, "the sample photo's size");
    photo.into()
}

impl UploadFixture {
    /// How a worker of `scenario` (one of the upload scenarios) uploads.
    pub fn upload(
        self: &Arc<Self>,
        scenario: Scenario,
        channel: Channel,
        bearer: Bearer,
    ) -> Upload {
        match scenario {
            Scenario::UploadGrpc => Upload::Grpc(
                Box::new(PhotoServiceClient::with_interceptor(channel, bearer)),
                self.clone(),
            ),
            Scenario::UploadMultipart => Upload::Multipart(self.clone()),
            Scenario::UploadPresigned => Upload::Presigned(self.clone()),
            other => unreachable!("{other:?} uploads no photos"),
        }
    }

    /// The server's answer as JSON, if it is a success.
    async fn answer(&self, request: reqwest::RequestBuilder) -> anyhow::Result<Value> {
        Ok(serde_json::from_str(&success(request).await?)?)
    }

    async fn multipart(&self) -> anyhow::Result<()> {
        let photo = self
            .answer(
                self.api
                    .post(format!("{}/photos/upload", self.base))
                    .header("content-type", self.form_type.as_str())
                    .body(self.form.clone()),
            )
            .await?;
        judged_valid_json(&photo)
    }

    async fn presigned(&self) -> anyhow::Result<()> {
        let url = self
            .answer(
                self.api
                    .post(format!("{}/photos/upload-url", self.base))
                    .json(&json!({"task_id": self.task_id})),
            )
            .await?;
        let target = url["url"].as_str().unwrap_or_default();
        let target = if target.starts_with('/') {
            format!("{}{target}", self.base)
        } else {
            target.to_string()
        };
        success(self.unauthenticated.put(target).body(self.photo.clone())).await?;
        let photo = self
            .answer(
                self.api
                    .post(format!("{}/photos/register", self.base))
                    .json(&json!({"photo_id": url["photo_id"], "s3_key": url["s3_key"]})),
            )
            .await?;
        judged_valid_json(&photo)
    }

    async fn grpc(&self, client: &mut PhotoServiceClient<Authed>) -> anyhow::Result<()> {
        let metadata = UploadPhotoRequest {
            part: Some(Part::Metadata(UploadMetadata {
                task_id: self.task_id.clone(),
                pole_number: String::new(),
                original_name: "bench.jpg".into(),
            })),
        };
        let bytes = self.photo.clone();
        // The generated chunk field is a Vec<u8>, so each chunk is copied as its message is sent.
        let chunks = (0..bytes.len().div_ceil(CHUNK_BYTES)).map(move |index| {
            let start = index * CHUNK_BYTES;
            let end = (start + CHUNK_BYTES).min(bytes.len());
            UploadPhotoRequest {
                part: Some(Part::Chunk(bytes[start..end].to_vec())),
            }
        });
        let messages = futures::stream::iter(std::iter::once(metadata).chain(chunks));
        let photo = client.upload_photo(messages).await?.into_inner();
        judged_valid(&photo.verdict, u64::try_from(photo.size_bytes).ok())
    }

    /// Counts a failure as an error; prints the reason of the first few.
    fn report(&self, result: anyhow::Result<()>) -> bool {
        match result {
            Ok(()) => true,
            Err(error) => {
                if self.failures.fetch_add(1, Ordering::Relaxed) < FAILURES_SHOWN {
                    eprintln!("photo upload failed: {error:#}");
                }
                false
            }
        }
    }
}

/// The body of a successful answer; an error naming the status otherwise.
async fn success(request: reqwest::RequestBuilder) -> anyhow::Result<String> {
    let response = request.send().await?;
    let status = response.status();
    let path = response.url().path().to_string();
    let body = response.text().await?;
    anyhow::ensure!(status.is_success(), "{path}: HTTP {status}: {body}");
    Ok(body)
}

/// Whether the server stored the whole photo and judged it valid (as the fixture makes it).
fn judged_valid(verdict: &str, size_bytes: Option<u64>) -> anyhow::Result<()> {
    anyhow::ensure!(
        verdict == "valid" && size_bytes == Some(PHOTO_BYTES as u64),
        "stored with verdict {verdict:?} and size {size_bytes:?} (expected valid, {PHOTO_BYTES})"
    );
    Ok(())
}

/// [`judged_valid`] of a photo as the REST paths answer it.
fn judged_valid_json(photo: &Value) -> anyhow::Result<()> {
    judged_valid(
        photo["verdict"].as_str().unwrap_or_default(),
        photo["size_bytes"].as_u64(),
    )
}

impl Upload {
    /// Uploads the photo once; `true` when the server stored and judged it.
    pub async fn send(&mut self) -> bool {
        match self {
            Upload::Grpc(client, fixture) => {
                let result = fixture.grpc(client).await;
                fixture.report(result)
            }
            Upload::Multipart(fixture) => fixture.report(fixture.multipart().await),
            Upload::Presigned(fixture) => fixture.report(fixture.presigned().await),
        }
    }
}

/// The throughput line of an upload scenario (photos that were stored, in MiB/s); nothing for
/// other scenarios.
pub fn print_throughput(outcome: &Outcome) {
    if !uploads_photos(outcome.scenario) {
        return;
    }
    let stored = outcome.requests.saturating_sub(outcome.errors);
    let mebibytes = (stored as usize * PHOTO_BYTES) as f64 / (1024.0 * 1024.0);
    println!(
        "{:<18} {:>9.1} MiB/s  ({stored} photos of {} MiB stored and judged)",
        format!("{:?}", outcome.scenario),
        mebibytes / outcome.elapsed.as_secs_f64(),
        PHOTO_BYTES / (1024 * 1024)
    );
}
