//! The local object store's signed URLs (`/objects/{key}?expires=&signature=`): PUT stores a
//! photo once (within FILE_MAX_BYTES; a key already written is refused), GET streams it back
//! with its sniffed type.
//! S3 serves its own presigned URLs; these routes answer only for the local store.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::BytesMut;
use futures::StreamExt;
use http::{StatusCode, header};
use serde::Deserialize;

use super::exif::ImageType;
use crate::clock::Clock;
use crate::storage::Objects;
use crate::storage::objects::SignedOp;

#[derive(Clone)]
struct Routes {
    objects: Objects,
    clock: Arc<dyn Clock>,
    max_bytes: u64,
}

#[derive(Deserialize)]
struct Signature {
    expires: i64,
    signature: String,
}

/// The routes under `/objects/`.
pub fn router(objects: Objects, clock: Arc<dyn Clock>, max_bytes: u64) -> axum::Router {
    axum::Router::new()
        .route("/objects/{*key}", get(download).put(upload))
        .with_state(Routes {
            objects,
            clock,
            max_bytes,
        })
}

fn refuse(status: StatusCode, text: &'static str) -> Response {
    (status, text).into_response()
}

impl Routes {
    fn allows(&self, op: SignedOp, key: &str, query: &Signature) -> bool {
        self.objects.backend() == "local"
            && self.objects.verify_local(
                op,
                key,
                query.expires,
                &query.signature,
                self.clock.now().timestamp(),
            )
    }
}

async fn upload(
    State(routes): State<Routes>,
    Path(key): Path<String>,
    Query(query): Query<Signature>,
    body: Body,
) -> Response {
    if !routes.allows(SignedOp::Put, &key, &query) {
        return refuse(StatusCode::FORBIDDEN, "signature invalid or expired");
    }
    // At most one photo's bytes in memory; then one create-only write, so a replayed URL
    // can never replace what the first upload stored.
    let mut stream = body.into_data_stream();
    let mut bytes = BytesMut::new();
    while let Some(chunk) = stream.next().await {
        let Ok(chunk) = chunk else {
            return refuse(StatusCode::BAD_REQUEST, "body could not be read");
        };
        if (bytes.len() + chunk.len()) as u64 > routes.max_bytes {
            return refuse(StatusCode::PAYLOAD_TOO_LARGE, "File too large");
        }
        bytes.extend_from_slice(&chunk);
    }
    match routes.objects.put_new(&key, bytes.freeze()).await {
        Ok(true) => StatusCode::OK.into_response(),
        Ok(false) => refuse(
            StatusCode::CONFLICT,
            "an object was already uploaded through this URL",
        ),
        Err(_) => refuse(StatusCode::SERVICE_UNAVAILABLE, "object store unavailable"),
    }
}

async fn download(
    State(routes): State<Routes>,
    Path(key): Path<String>,
    Query(query): Query<Signature>,
) -> Response {
    if !routes.allows(SignedOp::Get, &key, &query) {
        return refuse(StatusCode::FORBIDDEN, "signature invalid or expired");
    }
    let Ok(mut stream) = routes.objects.stream(&key).await else {
        return refuse(StatusCode::NOT_FOUND, "no such object");
    };
    // The first piece tells the type; it is sent on unchanged.
    let first = match stream.next().await {
        Some(Ok(bytes)) => bytes,
        Some(Err(_)) => return refuse(StatusCode::SERVICE_UNAVAILABLE, "object store unavailable"),
        None => bytes::Bytes::new(),
    };
    let content_type =
        ImageType::sniff(&first).map_or("application/octet-stream", ImageType::content_type);
    let body = futures::stream::once(async move { Ok(first) })
        .chain(stream.map(|piece| piece.map_err(|err| std::io::Error::other(format!("{err:#}")))));
    (
        [(header::CONTENT_TYPE, content_type)],
        Body::from_stream(body),
    )
        .into_response()
}
