//! Photo evidence end to end with real image bytes: the three upload paths (gRPC stream, REST
//! multipart incl. the legacy route, presigned PUT + register) agreeing, EXIF time/offset/GPS
//! cases as reasons, refused bytes leaving nothing behind, geofences and re-judging, the task
//! evidence gate, the heavy-write limit on register, no orphans, and tenant isolation.

use std::time::Duration;

use chrono::{FixedOffset, Utc};
use futures::TryStreamExt;
use kasi_fiber::photos::sample::{self, ExifSpec};
use kasi_fiber::proto::v1::photo_service_client::PhotoServiceClient;
use kasi_fiber::proto::v1::upload_photo_request::Part;
use kasi_fiber::proto::v1::{RegisterPhotoRequest, UploadMetadata, UploadPhotoRequest};
use object_store::ObjectStore;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tonic::Code;

use crate::harness::{
    Backends, Bearer, TcpProxy, TestServer, backend_sets, call, id_of, ok, real_services,
    redirect_url, socket_addr_of, unique_name,
};

/// The PON's centre; its circle has a 250 m radius.
pub const CENTRE: (f64, f64) = (-26.2, 28.04);
/// About 1.1 km south of the centre: outside the circle.
const OUTSIDE: (f64, f64) = (-26.21, 28.04);

/// An EXIF spec taken `minutes_ago` in SAST with its offset written, at `gps`.
pub fn exif_at(minutes_ago: i64, gps: Option<(f64, f64)>) -> ExifSpec {
    let sast = FixedOffset::east_opt(2 * 3600).unwrap();
    let taken = (Utc::now() - chrono::Duration::minutes(minutes_ago)).with_timezone(&sast);
    ExifSpec {
        taken: Some(taken.format("%Y:%m:%d %H:%M:%S").to_string()),
        offset: Some("+02:00".into()),
        gps,
    }
}

/// A JPEG taken now in the PON's circle.
pub fn good_jpeg() -> Vec<u8> {
    sample::jpeg(Some(&exif_at(10, Some(CENTRE))), 20_000)
}

/// A multipart body with text fields and an optional file part.
pub fn form(fields: &[(&str, &str)], file: Option<(&str, &str, &[u8])>) -> (String, Vec<u8>) {
    let boundary = format!("----kasi{}", uuid::Uuid::new_v4().simple());
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    if let Some((name, filename, bytes)) = file {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{filename}\"\r\nContent-Type: image/jpeg\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// A PON with the test circle and a task on it, made by `http`'s caller.
pub struct Site {
    pub pon: String,
    pub task: String,
}

pub async fn new_task(
    server: &TestServer,
    http: &reqwest::Client,
    pon: &str,
    extra: Value,
) -> String {
    let mut body = json!({"pon_id": pon, "title": unique_name("task"), "step": "PolePlanting"});
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().cloned().unwrap_or_default());
    id_of(&ok(http.post(server.url("/v1/tasks")).json(&body)).await)
}

pub async fn site(server: &TestServer, http: &reqwest::Client) -> Site {
    let code = unique_name("PON");
    let pon = id_of(
        &ok(http
            .post(server.url("/v1/pons"))
            .json(&json!({"pon_code": code, "name": code, "fiber_count": 24})))
        .await,
    );
    ok(http
        .post(server.url(&format!("/pons/{pon}/geofence")))
        .json(&json!({"center_lat": CENTRE.0, "center_lng": CENTRE.1, "geofence_radius_m": 250})))
    .await;
    let task = new_task(server, http, &pon, json!({})).await;
    Site { pon, task }
}

/// `POST /photos/upload` (multipart) of `bytes` for `task`.
pub async fn upload(
    server: &TestServer,
    http: &reqwest::Client,
    task: &str,
    extra: &[(&str, &str)],
    bytes: &[u8],
) -> (StatusCode, Value) {
    let mut fields = vec![("task_id", task)];
    fields.extend_from_slice(extra);
    let (content_type, body) = form(&fields, Some(("file", "photo.jpg", bytes)));
    call(
        http.post(server.url("/photos/upload"))
            .header("content-type", content_type)
            .body(body),
    )
    .await
}

async fn grpc_upload(
    server: &TestServer,
    token: &str,
    task: &str,
    bytes: &[u8],
) -> Result<kasi_fiber::proto::v1::Photo, tonic::Status> {
    let mut client =
        PhotoServiceClient::with_interceptor(server.channel().await, Bearer::new(token));
    let mut messages = vec![UploadPhotoRequest {
        part: Some(Part::Metadata(UploadMetadata {
            task_id: task.into(),
            pole_number: String::new(),
            original_name: "grpc.png".into(),
        })),
    }];
    messages.extend(bytes.chunks(64 * 1024).map(|chunk| UploadPhotoRequest {
        part: Some(Part::Chunk(chunk.to_vec())),
    }));
    client
        .upload_photo(futures::stream::iter(messages))
        .await
        .map(tonic::Response::into_inner)
}

/// A signed URL from the server (relative for the local store).
fn absolute(server: &TestServer, url: &str) -> String {
    if url.starts_with('/') {
        server.url(url)
    } else {
        url.to_string()
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn reasons(photo: &Value) -> Vec<String> {
    photo["reasons"]
        .as_array()
        .unwrap_or_else(|| panic!("no reasons in {photo}"))
        .iter()
        .map(|r| r.as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn three_upload_paths_share_one_pipeline_and_agree() {
    for backends in backend_sets() {
        let server = TestServer::start(&backends).await;
        let admin = server.admin_token().await;
        let http = server.http_as(&admin);
        let Site { pon, task } = site(&server, &http).await;

        // REST multipart.
        let jpeg = good_jpeg();
        let (status, rest) = upload(&server, &http, &task, &[("pole_number", "P-1")], &jpeg).await;
        assert_eq!(status, StatusCode::OK, "{rest}");
        assert_eq!(rest["verdict"], "valid", "{rest}");
        assert_eq!(
            (rest["exif_ok"].as_bool(), rest["within_geofence"].as_bool()),
            (Some(true), Some(true))
        );
        assert_eq!(rest["content_type"], "image/jpeg");
        assert_eq!(rest["size_bytes"], jpeg.len());
        assert_eq!(rest["sha256"], sha256_hex(&jpeg));
        assert_eq!(rest["time_source"], "exif_offset");
        assert_eq!(rest["taken_offset"], "+02:00");
        assert_eq!(rest["pole_number"], "P-1");
        assert_eq!(rest["pon_id"], pon.as_str());
        let key = rest["s3_key"].as_str().unwrap().to_string();
        assert!(key.ends_with(rest["id"].as_str().unwrap()), "{key}");

        // gRPC stream: a PNG whose GPS is outside the circle.
        let png = sample::png(Some(&exif_at(5, Some(OUTSIDE))));
        let photo = grpc_upload(&server, &admin, &task, &png).await.unwrap();
        assert_eq!(photo.content_type, "image/png");
        assert_eq!(photo.verdict, "invalid");
        assert!(photo.exif_ok && !photo.within_geofence);
        assert!(
            photo.reasons[0].starts_with("outside_geofence"),
            "{:?}",
            photo.reasons
        );
        assert!((photo.lat.unwrap() - OUTSIDE.0).abs() < 1e-6);
        assert_eq!(photo.original_name, "grpc.png");

        // Presigned: ask for a URL, PUT the bytes, register.
        let url = ok(http
            .post(server.url("/photos/upload-url"))
            .json(&json!({"task_id": task})))
        .await;
        let put = reqwest::Client::new()
            .put(absolute(&server, url["url"].as_str().unwrap()))
            .body(jpeg.clone())
            .send()
            .await
            .unwrap();
        assert!(put.status().is_success(), "PUT {}", put.status());
        let registered = ok(http
            .post(server.url("/photos/register"))
            .json(&json!({"photo_id": url["photo_id"], "s3_key": url["s3_key"]})))
        .await;
        assert_eq!(registered["ok"], true);
        assert_eq!(registered["exif_ok"], true);
        assert_eq!(registered["within_geofence"], true);
        assert_eq!(registered["sha256"], sha256_hex(&jpeg));
        assert_eq!(registered["id"], url["photo_id"]);

        // Legacy multipart, field `photo`.
        let (content_type, body) = form(&[("exifOk", "false")], Some(("photo", "site.jpg", &jpeg)));
        let legacy = ok(http
            .post(server.url(&format!("/api/photos/upload/{task}")))
            .header("content-type", content_type)
            .body(body))
        .await;
        assert_eq!(legacy["message"], "Photo uploaded successfully");
        assert_eq!(
            legacy["photo"]["exifOk"], true,
            "computed, not client-asserted: {legacy}"
        );
        assert_eq!(legacy["photo"]["withinGeofence"], true);
        assert_eq!(legacy["photo"]["originalName"], "site.jpg");
        assert!((legacy["photo"]["gpsLat"].as_f64().unwrap() - CENTRE.0).abs() < 1e-6);
        let legacy_url = legacy["url"].as_str().unwrap();
        assert!(legacy_url.starts_with("/uploads/") && legacy_url.ends_with(".jpg"));

        // The task's photos, on every surface.
        let listed = ok(http.get(server.url(&format!("/api/photos/task/{task}")))).await;
        let listed = listed.as_array().unwrap();
        assert_eq!(listed.len(), 4);
        assert_eq!(listed[0]["uploadedBy"]["name"], "Test Admin");
        assert!(
            listed.iter().all(
                |p| p["_id"].is_string() && p["url"].as_str().unwrap().starts_with("/uploads/")
            )
        );
        let grpc_listed = ok(http.get(server.url(&format!("/v1/photos?task_id={task}")))).await;
        assert_eq!(grpc_listed["photos"].as_array().unwrap().len(), 4);
        let by_pon = ok(http.get(server.url(&format!("/photos?pon_id={pon}")))).await;
        assert_eq!(by_pon["items"].as_array().unwrap().len(), 4);

        // Download through the short-lived URL gives the same bytes, with their type.
        let id = rest["id"].as_str().unwrap();
        let response = http
            .get(server.url(&format!("/photos/{id}/download")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.bytes().await.unwrap().as_ref(), jpeg.as_slice());
        let link = ok(http.get(server.url(&format!("/v1/photos/{id}/download-url")))).await;
        let fetched = reqwest::get(absolute(&server, link["url"].as_str().unwrap()))
            .await
            .unwrap();
        assert_eq!(fetched.bytes().await.unwrap().as_ref(), jpeg.as_slice());
        let legacy_file = http.get(server.url(legacy_url)).send().await.unwrap();
        assert_eq!(legacy_file.bytes().await.unwrap().as_ref(), jpeg.as_slice());

        // The old re-check routes agree with the stored verdicts.
        let validated = ok(http
            .post(server.url("/photos/validate"))
            .json(&json!({"photo_id": id})))
        .await;
        assert_eq!(
            (
                validated["exif_ok"].as_bool(),
                validated["within_geofence"].as_bool()
            ),
            (Some(true), Some(true))
        );
        let geo = ok(http
            .post(server.url("/photos/register-geo"))
            .json(&json!({"photo_id": photo.id})))
        .await;
        assert_eq!(geo["within_geofence"], false);
        server.stop().await;
    }
}

#[tokio::test]
async fn a_replayed_upload_url_cannot_swap_registered_evidence() {
    for backends in backend_sets() {
        let server = TestServer::start(&backends).await;
        let label = backends.label();
        let http = server.http_as(&server.admin_token().await);
        let Site { task, .. } = site(&server, &http).await;
        let original = good_jpeg();
        let forged = sample::jpeg(Some(&exif_at(10, Some(OUTSIDE))), 30_000);
        let url = ok(http
            .post(server.url("/photos/upload-url"))
            .json(&json!({"task_id": task})))
        .await;
        let put = |bytes: &[u8]| {
            reqwest::Client::new()
                .put(absolute(&server, url["url"].as_str().unwrap()))
                .body(bytes.to_vec())
                .send()
        };
        assert!(put(&original).await.unwrap().status().is_success());
        if server.config.s3.s3_endpoint.is_none() {
            // The local store writes a signed key once.
            let again = put(&forged).await.unwrap();
            assert_eq!(again.status(), StatusCode::CONFLICT, "{label}");
        }
        let register = || {
            http.post(server.url("/photos/register"))
                .json(&json!({"photo_id": url["photo_id"], "s3_key": url["s3_key"]}))
        };
        let registered = ok(register()).await;
        assert_eq!(registered["sha256"], sha256_hex(&original));
        assert_eq!(registered["verdict"], "valid");
        let evidence_key = registered["s3_key"].as_str().unwrap().to_string();
        assert_ne!(evidence_key, url["s3_key"].as_str().unwrap(), "{label}");

        // Replay the URL (it has not expired) with other bytes, then register again.
        let replay = put(&forged).await.unwrap();
        assert!(
            replay.status().is_success() || replay.status() == StatusCode::CONFLICT,
            "{label}: {}",
            replay.status()
        );
        let again = ok(register()).await;
        for field in [
            "sha256",
            "verdict",
            "size_bytes",
            "s3_key",
            "taken_at",
            "reasons",
        ] {
            assert_eq!(again[field], registered[field], "{field} on {label}");
        }
        let id = registered["id"].as_str().unwrap();
        let downloaded = http
            .get(server.url(&format!("/photos/{id}/download")))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert_eq!(
            sha256_hex(&downloaded),
            sha256_hex(&original),
            "the evidence's bytes are the first upload's on {label}"
        );
        assert!(
            object_keys(&server, "photos/")
                .await
                .contains(&evidence_key)
        );
        // A key that is neither the upload's nor the evidence's names nothing.
        let (status, _) = call(
            http.post(server.url("/photos/register"))
                .json(&json!({"photo_id": url["photo_id"], "s3_key": format!("{evidence_key}x")})),
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        server.stop().await;
    }
}

#[tokio::test]
async fn exif_cases_become_reasons_never_errors() {
    for backends in backend_sets() {
        let server = TestServer::start(&backends).await;
        let http = server.http_as(&server.admin_token().await);
        let Site { task, .. } = site(&server, &http).await;
        let verdict = |bytes: Vec<u8>| {
            let (http, server, task) = (&http, &server, &task);
            async move {
                let (status, body) = upload(server, http, task, &[], &bytes).await;
                assert_eq!(status, StatusCode::OK, "{body}");
                body
            }
        };
        let none = verdict(sample::jpeg(None, 100)).await;
        assert_eq!(reasons(&none)[0], "exif_missing");
        assert_eq!(none["verdict"], "invalid");
        let corrupt = verdict(sample::jpeg_with_app1(Some(b"MM\0\x2a\0\0\xff\xff"), 100)).await;
        assert!(
            reasons(&corrupt)[0].starts_with("exif_corrupt"),
            "{corrupt}"
        );

        // No offset: the camera time is read in the tenant's zone (SAST), not as UTC, so a
        // photo taken a minute ago passes; read as UTC it would be two hours in the future.
        let sast = FixedOffset::east_opt(2 * 3600).unwrap();
        let local = (Utc::now() - chrono::Duration::minutes(1)).with_timezone(&sast);
        let zoned = ExifSpec {
            taken: Some(local.format("%Y:%m:%d %H:%M:%S").to_string()),
            offset: None,
            gps: Some(CENTRE),
        };
        let zoned = verdict(sample::jpeg(Some(&zoned), 100)).await;
        assert_eq!(zoned["verdict"], "valid", "{zoned}");
        assert_eq!(zoned["time_source"], "tenant_zone:Africa/Johannesburg");
        assert_eq!(zoned["taken_offset"], "+02:00");

        let old = verdict(sample::jpeg(Some(&exif_at(25 * 60, Some(CENTRE))), 100)).await;
        assert!(reasons(&old)[0].starts_with("time_too_old"), "{old}");
        let future = verdict(sample::jpeg(Some(&exif_at(-10, Some(CENTRE))), 100)).await;
        assert!(
            reasons(&future)[0].starts_with("time_in_future"),
            "{future}"
        );
        let no_gps = verdict(sample::jpeg(Some(&exif_at(1, None)), 100)).await;
        assert!(reasons(&no_gps)[0].starts_with("gps_missing"));
        // North and east of the equator and meridian: far outside, signs kept.
        let north_east = verdict(sample::jpeg(Some(&exif_at(1, Some((26.2, 28.04)))), 100)).await;
        assert_eq!(north_east["gps_lat"], 26.2);
        assert!(reasons(&north_east)[0].starts_with("outside_geofence"));
        let south_west = verdict(sample::jpeg(Some(&exif_at(1, Some((-26.2, -28.04)))), 100)).await;
        assert_eq!(south_west["gps_lng"], -28.04);
        server.stop().await;
    }
}

/// The keys of every object under `prefix` in the server's store.
pub async fn object_keys(server: &TestServer, prefix: &str) -> Vec<String> {
    let store: Box<dyn ObjectStore> = match &server.config.s3.s3_endpoint {
        Some(endpoint) => Box::new(
            object_store::aws::AmazonS3Builder::new()
                .with_endpoint(endpoint)
                .with_region(&server.config.s3.s3_region)
                .with_bucket_name(&server.config.s3.s3_bucket)
                .with_allow_http(true)
                .with_access_key_id(server.config.s3.s3_access_key.clone().unwrap())
                .with_secret_access_key(server.config.s3.s3_secret_key.clone().unwrap())
                .build()
                .unwrap(),
        ),
        None => Box::new(
            object_store::local::LocalFileSystem::new_with_prefix(
                server.config.data_dir.join("objects"),
            )
            .unwrap(),
        ),
    };
    store
        .list(Some(&object_store::path::Path::from(prefix)))
        .map_ok(|meta| meta.location.to_string())
        .try_collect()
        .await
        .unwrap_or_default()
}

#[tokio::test]
async fn refused_bytes_are_named_and_leave_nothing_behind() {
    for backends in backend_sets() {
        let server = TestServer::start_with(&backends, |config| {
            config.photos.file_max_bytes = 100_000;
            config.photos.allowed_content_types = vec!["image/jpeg".into()];
        })
        .await;
        let http = server.http_as(&server.admin_token().await);
        let Site { task, .. } = site(&server, &http).await;
        let gif_named_jpg = b"GIF89a\x01\0\x01\0\x80\0\0\0\0\0\xff\xff\xff!\xf9\x04".to_vec();
        let (status, body) = upload(&server, &http, &task, &[], &gif_named_jpg).await;
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{body}");
        assert!(
            body["detail"]
                .as_str()
                .unwrap()
                .starts_with("Unsupported Content-Type")
        );
        let (status, body) = upload(&server, &http, &task, &[], &sample::png(None)).await;
        assert_eq!(
            status,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "PNG not allowed here: {body}"
        );
        assert_eq!(body["detail"], "Unsupported Content-Type: image/png");
        let (status, body) = upload(
            &server,
            &http,
            &task,
            &[],
            &sample::jpeg(Some(&exif_at(1, Some(CENTRE))), 150_000),
        )
        .await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
        assert_eq!(body["detail"], "File too large");
        let (status, body) = upload(&server, &http, &task, &[], b"").await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(
            body["detail"].as_str().unwrap().starts_with("photo"),
            "{body}"
        );
        let (content_type, form_body) = form(&[], Some(("file", "a.jpg", &good_jpeg())));
        let (status, body) = call(
            http.post(server.url("/photos/upload"))
                .header("content-type", content_type)
                .body(form_body),
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(body["detail"].as_str().unwrap().starts_with("task_id"));
        let unknown = uuid::Uuid::now_v7().to_string();
        let (status, _) = upload(&server, &http, &unknown, &[], &good_jpeg()).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, body) = call(
            http.post(server.url("/photos/upload"))
                .header("content-type", "application/json")
                .body("{}"),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

        // The legacy route: its own messages for the same refusals.
        let (content_type, form_body) = form(&[], Some(("photo", "x.jpg", &gif_named_jpg)));
        let (status, body) = call(
            http.post(server.url(&format!("/api/photos/upload/{task}")))
                .header("content-type", content_type)
                .body(form_body),
        )
        .await;
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert_eq!(body["message"], "Only image files are allowed");
        let (content_type, form_body) = form(&[], Some(("picture", "x.jpg", &good_jpeg())));
        let (status, body) = call(
            http.post(server.url(&format!("/api/photos/upload/{task}")))
                .header("content-type", content_type)
                .body(form_body),
        )
        .await;
        assert_eq!(
            (status, body["message"].as_str()),
            (StatusCode::BAD_REQUEST, Some("Unexpected field"))
        );
        let (content_type, form_body) = form(&[("gpsLat", "1")], None);
        let (status, body) = call(
            http.post(server.url(&format!("/api/photos/upload/{task}")))
                .header("content-type", content_type)
                .body(form_body),
        )
        .await;
        assert_eq!(
            (status, body["message"].as_str()),
            (StatusCode::BAD_REQUEST, Some("No file uploaded"))
        );
        let (content_type, form_body) = form(&[], Some(("photo", "x.jpg", &good_jpeg())));
        let (status, body) = call(
            http.post(server.url(&format!("/api/photos/upload/{unknown}")))
                .header("content-type", content_type)
                .body(form_body),
        )
        .await;
        assert_eq!(
            (status, body["message"].as_str()),
            (StatusCode::NOT_FOUND, Some("Task not found"))
        );

        // Presigned objects that are refused at registration are deleted with it.
        let url = ok(http
            .post(server.url("/photos/upload-url"))
            .json(&json!({"task_id": task})))
        .await;
        let put = reqwest::Client::new()
            .put(absolute(&server, url["url"].as_str().unwrap()))
            .body(gif_named_jpg.clone())
            .send()
            .await
            .unwrap();
        assert!(put.status().is_success());
        let (status, _) = call(
            http.post(server.url("/photos/register"))
                .json(&json!({"photo_id": url["photo_id"], "s3_key": url["s3_key"]})),
        )
        .await;
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        let (status, body) = call(
            http.post(server.url("/photos/register"))
                .json(&json!({"photo_id": url["photo_id"], "s3_key": url["s3_key"]})),
        )
        .await;
        assert_eq!(
            (status, body["detail"].as_str()),
            (StatusCode::NOT_FOUND, Some("S3 object not found")),
            "the object was deleted"
        );
        let (status, body) = call(
            http.post(server.url("/photos/register"))
                .json(&json!({"photo_id": unknown, "s3_key": url["s3_key"]})),
        )
        .await;
        assert_eq!(
            (status, body["detail"].as_str()),
            (StatusCode::NOT_FOUND, Some("Photo not found"))
        );
        let (status, _) = call(
            http.post(server.url("/photos/register"))
                .json(&json!({"photo_id": "nope", "s3_key": "x"})),
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        // A signed URL is bound to its key and refuses oversized bodies.
        let forged =
            absolute(&server, url["url"].as_str().unwrap()).replace("/uploads/", "/uploads/x");
        if server.config.s3.s3_endpoint.is_none() {
            let status = reqwest::Client::new()
                .put(forged)
                .body("x")
                .send()
                .await
                .unwrap()
                .status();
            assert_eq!(status, StatusCode::FORBIDDEN);
            let big = reqwest::Client::new()
                .put(absolute(&server, url["url"].as_str().unwrap()))
                .body(vec![0u8; 150_000])
                .send()
                .await
                .unwrap();
            assert_eq!(big.status(), StatusCode::PAYLOAD_TOO_LARGE);
        }

        let listed = ok(http.get(server.url(&format!("/v1/photos?task_id={task}")))).await;
        assert_eq!(
            listed["photos"].as_array().map(Vec::len).unwrap_or(0),
            0,
            "no rows: {listed}"
        );
        for prefix in ["photos", "uploads"] {
            let left = object_keys(&server, prefix).await;
            assert!(left.is_empty(), "no objects left: {left:?}");
        }
        server.stop().await;
    }
}

/// Polls a photo until `check` holds (re-judging runs in the background).
async fn eventually(
    server: &TestServer,
    http: &reqwest::Client,
    id: &str,
    check: impl Fn(&Value) -> bool,
) -> Value {
    for _ in 0..100 {
        let photo = ok(http.get(server.url(&format!("/v1/photos/{id}")))).await;
        if check(&photo) {
            return photo;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("photo {id} never reached the expected verdict");
}

#[tokio::test]
async fn geofences_are_validated_and_changing_one_rejudges_the_photos() {
    for backends in backend_sets() {
        let server = TestServer::start(&backends).await;
        let http = server.http_as(&server.admin_token().await);
        let Site { pon, task } = site(&server, &http).await;
        let circle = |body: Value| {
            http.post(server.url(&format!("/pons/{pon}/geofence")))
                .json(&body)
        };
        let (status, body) = call(circle(json!({"center_lat": 91.0, "center_lng": 28.0}))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(
            body["detail"].as_str().unwrap().starts_with("center_lat"),
            "{body}"
        );
        let (status, body) = call(circle(
            json!({"center_lat": -26.0, "center_lng": 28.0, "geofence_radius_m": 60000}),
        ))
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(
            body["detail"]
                .as_str()
                .unwrap()
                .starts_with("geofence_radius_m"),
            "{body}"
        );
        let (status, _) = call(circle(json!({"center_lat": -26.0}))).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        let unknown = uuid::Uuid::now_v7();
        let (status, body) = call(
            http.post(server.url(&format!("/pons/{unknown}/geofence")))
                .json(&json!({"center_lat": 1.0, "center_lng": 1.0})),
        )
        .await;
        assert_eq!(
            (status, body["detail"].as_str()),
            (StatusCode::NOT_FOUND, Some("Not found"))
        );

        let polygon = |body: Value| {
            http.post(server.url(&format!("/pons/{pon}/geofence/polygon")))
                .json(&body)
        };
        let (status, body) = call(polygon(
            json!({"geometry": {"type": "Point", "coordinates": [1, 2]}}),
        ))
        .await;
        assert_eq!(
            (status, body["detail"].as_str()),
            (
                StatusCode::BAD_REQUEST,
                Some("geometry must be Polygon or MultiPolygon")
            )
        );
        let (status, body) = call(polygon(json!({"geometry": {"type": "Polygon", "coordinates": [[[28.0, -26.3], [28.1, -26.3], [28.1, -26.2], [28.0, -26.2]]]}}))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(
            body["detail"].as_str().unwrap().contains("closed"),
            "{body}"
        );
        let (status, body) = call(polygon(json!({"geometry": {"type": "Polygon", "coordinates": [[[28.0, -96.3], [28.1, -26.3], [28.1, -26.2], [28.0, -96.3]]]}}))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(
            body["detail"].as_str().unwrap().contains("latitude"),
            "{body}"
        );
        let (status, _) = call(http.post(server.url(&format!("/pons/{unknown}/geofence/polygon"))).json(&json!({"geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]}}))).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "unknown PON");

        // A photo outside the circle turns valid when a polygon around it is set, and invalid
        // again when the polygon moves away.
        let (_, outside) = upload(
            &server,
            &http,
            &task,
            &[],
            &sample::jpeg(Some(&exif_at(1, Some(OUTSIDE))), 100),
        )
        .await;
        assert_eq!(outside["verdict"], "invalid");
        let id = outside["id"].as_str().unwrap();
        let around = json!({"type": "MultiPolygon", "coordinates": [
            [[[28.0, -26.3], [28.1, -26.3], [28.1, -26.205], [28.0, -26.205], [28.0, -26.3]]],
            [[[10.0, 10.0], [11.0, 10.0], [11.0, 11.0], [10.0, 10.0]]]
        ]});
        ok(polygon(json!({"geometry": around}))).await;
        let valid = eventually(&server, &http, id, |p| p["verdict"] == "valid").await;
        assert!(
            valid["reasons"]
                .as_array()
                .map(Vec::is_empty)
                .unwrap_or(true),
            "{valid}"
        );
        let geofence = ok(http.post(server.url(&format!("/v1/pons/{pon}/geofence/polygon"))).json(&json!({"geojson": json!({"type": "Polygon", "coordinates": [[[10.0, 10.0], [11.0, 10.0], [11.0, 11.0], [10.0, 10.0]]]}).to_string()}))).await;
        assert!(geofence["geojson"].as_str().unwrap().contains("Polygon"));
        let moved = eventually(&server, &http, id, |p| p["verdict"] == "invalid").await;
        assert!(
            moved["reasons"][0].as_str().unwrap().contains("polygon"),
            "{moved}"
        );
        let audit = ok(http.get(server.url(&format!(
            "/v1/audit-entries?resource_type=pon_geofence&resource_id={pon}"
        ))))
        .await;
        assert!(audit.to_string().contains("pon_geofence"), "{audit}");
        server.stop().await;
    }
}

#[tokio::test]
async fn completion_needs_a_valid_photo_of_that_very_task() {
    for backends in backend_sets() {
        let server = TestServer::start(&backends).await;
        let http = server.http_as(&server.admin_token().await);
        let Site { pon, task: other } = site(&server, &http).await;
        let gated = new_task(&server, &http, &pon, json!({"evidence_required": true})).await;
        let transition = |status: &str| {
            http.post(server.url(&format!("/v1/tasks/{gated}/transition")))
                .json(&json!({"status": status}))
        };
        ok(transition("in_progress")).await;
        let (status, _) = upload(&server, &http, &other, &[], &good_jpeg()).await;
        assert_eq!(status, StatusCode::OK);
        let (status, body) = call(transition("completed")).await;
        assert_eq!(
            status,
            StatusCode::BAD_REQUEST,
            "a valid photo of another task is not enough: {body}"
        );
        assert!(
            body.to_string()
                .contains("Photo with valid EXIF and within geofence required")
        );
        upload(
            &server,
            &http,
            &gated,
            &[],
            &sample::jpeg(Some(&exif_at(1, Some(OUTSIDE))), 100),
        )
        .await;
        let (status, _) = call(transition("completed")).await;
        assert_eq!(
            status,
            StatusCode::BAD_REQUEST,
            "an invalid photo is not enough"
        );
        upload(&server, &http, &gated, &[], &good_jpeg()).await;
        let done = ok(transition("completed")).await;
        assert_eq!(done["status"], "completed");
        server.stop().await;
    }
}

#[tokio::test]
async fn photo_register_is_a_heavy_write_limited_per_organization() {
    for backends in backend_sets() {
        let server = TestServer::start_with(&backends, |config| {
            config.auth.heavy_org_limit = Some(2);
            config.auth.heavy_org_bypass_roles = vec!["NOC".into(), "ADMIN".into()];
        })
        .await;
        let admin = server.admin_token().await;
        let pm = server.user_token(&admin, "PM").await;
        let body = json!({"photo_id": uuid::Uuid::now_v7(), "s3_key": "photos/none"});
        let register = |token: &str| {
            server
                .http_as(token)
                .post(server.url("/photos/register"))
                .json(&body)
        };
        for _ in 0..2 {
            let (status, _) = call(register(&pm)).await;
            assert_eq!(status, StatusCode::NOT_FOUND);
        }
        let response = register(&pm).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        let retry: u64 = response.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=60).contains(&retry));
        let mut client =
            PhotoServiceClient::with_interceptor(server.channel().await, Bearer::new(&pm));
        let status = client
            .register_photo(RegisterPhotoRequest {
                photo_id: uuid::Uuid::now_v7().to_string(),
                s3_key: "photos/none".into(),
                pole_number: String::new(),
            })
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::ResourceExhausted);
        // A bypass role (from the verified token) is never limited.
        for _ in 0..4 {
            let (status, _) = call(register(&admin)).await;
            assert_eq!(status, StatusCode::NOT_FOUND);
        }
        server.stop().await;
    }
}

#[tokio::test]
async fn photos_of_one_tenant_are_invisible_to_another() {
    for backends in backend_sets() {
        let server = TestServer::start(&backends).await;
        let http_a = server.http_as(&server.admin_token().await);
        let http_b = server.http_as(&server.admin_token_in(&unique_name("tenant")).await);
        let Site { pon, task } = site(&server, &http_a).await;
        let (_, photo) = upload(&server, &http_a, &task, &[], &good_jpeg()).await;
        let id = photo["id"].as_str().unwrap();
        for path in [
            format!("/v1/photos/{id}"),
            format!("/v1/photos?task_id={task}"),
            format!("/v1/photos?pon_id={pon}"),
            format!("/v1/photos/{id}/download-url"),
            format!("/photos/{id}/download"),
            format!("/api/photos/task/{task}"),
            format!("/uploads/{id}.jpg"),
        ] {
            let (status, body) = call(http_b.get(server.url(&path))).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
        }
        for (path, body) in [
            ("/photos/validate", json!({"photo_id": id})),
            ("/photos/register-geo", json!({"photo_id": id})),
            (
                "/photos/register",
                json!({"photo_id": id, "s3_key": photo["s3_key"]}),
            ),
            ("/photos/upload-url", json!({"task_id": task})),
        ] {
            let (status, answer) = call(http_b.post(server.url(path)).json(&body)).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {answer}");
        }
        let (status, _) = upload(&server, &http_b, &task, &[], &good_jpeg()).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _) = call(
            http_b
                .post(server.url(&format!("/pons/{pon}/geofence")))
                .json(&json!({"center_lat": 0.0, "center_lng": 0.0})),
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _) = call(http_b.post(server.url(&format!("/pons/{pon}/geofence/polygon"))).json(&json!({"geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]}}))).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let still = ok(http_a.get(server.url(&format!("/v1/photos/{id}")))).await;
        assert_eq!(still["verdict"], "valid", "tenant B changed nothing");
        server.stop().await;
    }
}

/// A connection of the test's own to the server's database (`database_url`, else the
/// embedded SQLite file), past any proxy the server goes through.
async fn own_connection(
    server: &TestServer,
    database_url: Option<&str>,
) -> sea_orm::DatabaseConnection {
    let mut config = server.config.database.clone();
    config.database_url = database_url.map(str::to_string);
    kasi_fiber::storage::db::connect(&config, &server.config.data_dir)
        .await
        .unwrap()
}

/// The number of photo rows of a task, read straight from the database.
async fn rows_of_task(server: &TestServer, database_url: Option<&str>, task: &str) -> usize {
    use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
    let db = own_connection(server, database_url).await;
    let count = kasi_fiber::photos::model::photo::Entity::find()
        .filter(
            kasi_fiber::photos::model::photo::Column::TaskId
                .eq(uuid::Uuid::parse_str(task).unwrap()),
        )
        .count(&db)
        .await
        .unwrap();
    count as usize
}

/// Real backends, cut by TCP proxies: the object store failing mid-upload leaves no row; the
/// database failing after the upload leaves no object.
#[tokio::test]
async fn failures_leave_no_orphans() {
    let Some(real) = real_services() else {
        return;
    };
    let postgres = TcpProxy::start(socket_addr_of(&real.postgres_admin_url)).await;
    let s3 = TcpProxy::start(socket_addr_of(&real.s3_endpoint)).await;
    let s3_endpoint = redirect_url(&real.s3_endpoint, s3.addr);
    let postgres_addr = postgres.addr;
    let server = TestServer::start_with(&Backends::Real(real), move |config| {
        let url = config.database.database_url.clone().unwrap();
        config.database.database_url = Some(redirect_url(&url, postgres_addr));
        config.s3.s3_endpoint = Some(s3_endpoint);
        config.database.db_pool_size = 2;
    })
    .await;
    let direct_db = server
        .config
        .database
        .database_url
        .clone()
        .unwrap()
        .replace(
            &postgres_addr.to_string(),
            &socket_addr_of(&real_services().unwrap().postgres_admin_url).to_string(),
        );
    let admin = server.admin_token().await;
    let http = server.http_as(&admin);
    let Site { task, .. } = site(&server, &http).await;
    let jpeg = good_jpeg();

    // The object store goes away while the bytes stream in.
    let status = upload_with_cut(&server, &admin, &task, &jpeg, || s3.cut()).await;
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    s3.restore();
    assert_eq!(
        rows_of_task(&server, Some(&direct_db), &task).await,
        0,
        "no row without its object"
    );

    // The database goes away after the object is stored.
    let status = upload_with_cut(&server, &admin, &task, &jpeg, || postgres.cut()).await;
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    postgres.restore();
    assert_eq!(rows_of_task(&server, Some(&direct_db), &task).await, 0);
    let left = object_keys(&server, "photos").await;
    assert!(left.is_empty(), "no object without its row: {left:?}");
    server.stop().await;
}

/// The embedded backends, failed from the file system: the local store's folder replaced by a
/// file mid-upload leaves no row; the SQLite file held locked by another writer (longer than
/// the server's busy timeout) makes the insert after the upload fail and leaves no object.
#[tokio::test]
async fn failures_leave_no_orphans_on_the_embedded_backends() {
    use sea_orm::{ConnectionTrait, TransactionTrait};
    let server = TestServer::start(&Backends::Embedded).await;
    let admin = server.admin_token().await;
    let http = server.http_as(&admin);
    let Site { task, .. } = site(&server, &http).await;
    let jpeg = good_jpeg();
    let objects = server.config.data_dir.join("objects");
    let away = server.config.data_dir.join("objects-away");

    let status = upload_with_cut(&server, &admin, &task, &jpeg, || {
        std::fs::rename(&objects, &away).unwrap();
        std::fs::write(&objects, b"not a folder").unwrap();
    })
    .await;
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    std::fs::remove_file(&objects).unwrap();
    std::fs::create_dir(&objects).unwrap();
    assert_eq!(
        rows_of_task(&server, None, &task).await,
        0,
        "no row without its object"
    );

    let locker = own_connection(&server, None).await;
    let lock = locker.begin().await.unwrap();
    lock.execute_unprepared("UPDATE tasks SET notes = notes")
        .await
        .unwrap();
    let (status, body) = upload(&server, &http, &task, &[], &jpeg).await;
    assert!(status.is_server_error(), "{status}: {body}");
    lock.rollback().await.unwrap();
    assert_eq!(rows_of_task(&server, None, &task).await, 0);
    let left = object_keys(&server, "photos").await;
    assert!(left.is_empty(), "no object without its row: {left:?}");
    server.stop().await;
}

/// Streams `jpeg` as a gRPC upload of `task`, calling `cut` after the first chunk; the refusal.
async fn upload_with_cut(
    server: &TestServer,
    admin: &str,
    task: &str,
    jpeg: &[u8],
    cut: impl FnOnce(),
) -> tonic::Status {
    let (sender, receiver) = tokio::sync::mpsc::channel::<UploadPhotoRequest>(4);
    let mut client =
        PhotoServiceClient::with_interceptor(server.channel().await, Bearer::new(admin));
    let call = tokio::spawn(async move {
        client
            .upload_photo(tokio_stream::wrappers::ReceiverStream::new(receiver))
            .await
    });
    sender
        .send(UploadPhotoRequest {
            part: Some(Part::Metadata(UploadMetadata {
                task_id: task.to_string(),
                ..Default::default()
            })),
        })
        .await
        .unwrap();
    sender
        .send(UploadPhotoRequest {
            part: Some(Part::Chunk(jpeg[..1000].to_vec())),
        })
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    cut();
    sender
        .send(UploadPhotoRequest {
            part: Some(Part::Chunk(jpeg[1000..].to_vec())),
        })
        .await
        .unwrap();
    drop(sender);
    call.await.unwrap().unwrap_err()
}
