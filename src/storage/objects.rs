//! Object store port (photos, PDFs, imports): the local filesystem under the data
//! directory by default, any S3-compatible server through `object_store` when
//! `S3_ENDPOINT` is set.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use hmac::{Hmac, Mac};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::buffered::BufWriter;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::signer::Signer;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use sha2::Sha256;

use super::s3_bucket;
use crate::config::S3Config;

/// Where readiness probes look; nothing else uses this prefix.
const PROBE_PREFIX: &str = "_readyz";

/// Where a local store's signed URLs are served (by `storage::signed_urls`).
pub const LOCAL_URL_PREFIX: &str = "/objects/";
const S3_MAX_RETRIES: usize = 2;
/// Longest wait for a TCP connection to the store (within the request timeout).
const S3_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Parts of a streamed upload; S3 takes multipart parts of at least 5 MiB.
const UPLOAD_PART_BYTES: usize = 5 * 1024 * 1024;

#[derive(Clone)]
pub struct Objects {
    store: Arc<dyn ObjectStore>,
    backend: &'static str,
    /// The S3 client again, for presigned URLs.
    s3: Option<Arc<AmazonS3>>,
    /// Key of the local store's signed URLs.
    url_key: Arc<[u8]>,
}

/// The HTTP operation a signed URL allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignedOp {
    Get,
    Put,
}

impl SignedOp {
    fn as_str(self) -> &'static str {
        match self {
            SignedOp::Get => "GET",
            SignedOp::Put => "PUT",
        }
    }
}

/// An upload in progress: bytes go out as they come (in parts for large objects); nothing is
/// visible under the key until `finish`.
pub struct ObjectWriter {
    inner: BufWriter,
    key: String,
}

impl ObjectWriter {
    pub async fn write(&mut self, bytes: Bytes) -> anyhow::Result<()> {
        self.inner
            .put(bytes)
            .await
            .with_context(|| format!("uploading object {}", self.key))
    }

    pub async fn finish(mut self) -> anyhow::Result<()> {
        tokio::io::AsyncWriteExt::shutdown(&mut self.inner)
            .await
            .with_context(|| format!("completing object {}", self.key))
    }

    /// Drops what was sent so far (a multipart upload is aborted).
    pub async fn abort(mut self) {
        if let Err(error) = self.inner.abort().await {
            tracing::warn!(key = %self.key, error = %error, "aborting an upload failed");
        }
    }
}

impl Objects {
    pub async fn open(config: &S3Config, data_dir: &Path) -> anyhow::Result<Self> {
        match &config.s3_endpoint {
            Some(endpoint) => {
                if config.s3_create_bucket {
                    s3_bucket::ensure_bucket(config, endpoint).await?;
                }
                let mut builder = AmazonS3Builder::new()
                    // First: these options replace every client option set before them.
                    .with_client_options(
                        object_store::ClientOptions::new()
                            .with_timeout(config.object_store_timeout())
                            .with_connect_timeout(
                                config.object_store_timeout().min(S3_CONNECT_TIMEOUT),
                            ),
                    )
                    .with_endpoint(endpoint)
                    .with_region(&config.s3_region)
                    .with_bucket_name(&config.s3_bucket)
                    .with_allow_http(true)
                    .with_virtual_hosted_style_request(false)
                    // An upload waits on the store: no retry starts after OBJECT_STORE_TIMEOUT_SECS
                    // have passed since the first try (each try is bounded by it, above).
                    .with_retry(object_store::RetryConfig {
                        backoff: object_store::BackoffConfig::default(),
                        max_retries: S3_MAX_RETRIES,
                        retry_timeout: config.object_store_timeout(),
                    });
                if let (Some(key), Some(secret)) = (&config.s3_access_key, &config.s3_secret_key) {
                    builder = builder
                        .with_access_key_id(key)
                        .with_secret_access_key(secret);
                }
                let store = Arc::new(builder.build().context("configuring the S3 object store")?);
                Ok(Objects {
                    store: store.clone(),
                    backend: "s3",
                    s3: Some(store),
                    url_key: url_key(config),
                })
            }
            None => {
                let root = data_dir.join("objects");
                std::fs::create_dir_all(&root)
                    .with_context(|| format!("creating {}", root.display()))?;
                let store = LocalFileSystem::new_with_prefix(&root)?;
                Ok(Objects {
                    store: Arc::new(store),
                    backend: "local",
                    s3: None,
                    url_key: url_key(config),
                })
            }
        }
    }

    /// `local` or `s3`.
    pub fn backend(&self) -> &'static str {
        self.backend
    }

    pub async fn put(&self, key: &str, bytes: Bytes) -> anyhow::Result<()> {
        self.store
            .put(&ObjectPath::from(key), PutPayload::from_bytes(bytes))
            .await
            .with_context(|| format!("storing object {key}"))?;
        Ok(())
    }

    /// Stores `bytes` under `key` only if nothing is there yet (one atomic step): false when
    /// the key was taken. Signed upload URLs write through this, so a replayed URL cannot
    /// replace what was uploaded.
    pub async fn put_new(&self, key: &str, bytes: Bytes) -> anyhow::Result<bool> {
        let options = PutOptions {
            mode: PutMode::Create,
            ..PutOptions::default()
        };
        match self
            .store
            .put_opts(
                &ObjectPath::from(key),
                PutPayload::from_bytes(bytes),
                options,
            )
            .await
        {
            Ok(_) => Ok(true),
            Err(object_store::Error::AlreadyExists { .. }) => Ok(false),
            Err(other) => Err(other).with_context(|| format!("storing object {key}")),
        }
    }

    pub async fn get(&self, key: &str) -> anyhow::Result<Bytes> {
        let result = self
            .store
            .get(&ObjectPath::from(key))
            .await
            .with_context(|| format!("reading object {key}"))?;
        Ok(result.bytes().await?)
    }

    pub async fn delete(&self, key: &str) -> anyhow::Result<()> {
        self.store
            .delete(&ObjectPath::from(key))
            .await
            .with_context(|| format!("deleting object {key}"))?;
        Ok(())
    }

    /// A streamed upload to `key`.
    pub fn writer(&self, key: &str) -> ObjectWriter {
        ObjectWriter {
            inner: BufWriter::with_capacity(
                self.store.clone(),
                ObjectPath::from(key),
                UPLOAD_PART_BYTES,
            ),
            key: key.to_string(),
        }
    }

    /// The size of the object at `key`, or `None` when there is none.
    pub async fn size(&self, key: &str) -> anyhow::Result<Option<u64>> {
        match self.store.head(&ObjectPath::from(key)).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(other) => Err(other).with_context(|| format!("looking up object {key}")),
        }
    }

    /// The bytes of `key` as they arrive.
    pub async fn stream(
        &self,
        key: &str,
    ) -> anyhow::Result<BoxStream<'static, anyhow::Result<Bytes>>> {
        let result = self
            .store
            .get(&ObjectPath::from(key))
            .await
            .with_context(|| format!("reading object {key}"))?;
        Ok(result.into_stream().map_err(anyhow::Error::from).boxed())
    }

    /// A URL allowing `op` on `key` until `ttl` has passed: presigned by S3 itself, or for the
    /// local store a path under [`LOCAL_URL_PREFIX`] signed with our key (`now` is Unix seconds).
    pub async fn signed_url(
        &self,
        op: SignedOp,
        key: &str,
        ttl: Duration,
        now: i64,
    ) -> anyhow::Result<String> {
        if let Some(s3) = &self.s3 {
            let method = match op {
                SignedOp::Get => http::Method::GET,
                SignedOp::Put => http::Method::PUT,
            };
            let url = s3
                .signed_url(method, &ObjectPath::from(key), ttl)
                .await
                .context("presigning an S3 URL")?;
            return Ok(url.to_string());
        }
        let expires = now + ttl.as_secs() as i64;
        let signature = self.local_signature(op, key, expires);
        Ok(format!(
            "{LOCAL_URL_PREFIX}{key}?expires={expires}&signature={signature}"
        ))
    }

    /// Whether a local signed URL for `op` on `key` is genuine and unexpired at `now`.
    pub fn verify_local(
        &self,
        op: SignedOp,
        key: &str,
        expires: i64,
        signature: &str,
        now: i64,
    ) -> bool {
        let Ok(given) = hex::decode(signature) else {
            return false;
        };
        now <= expires
            && self
                .local_mac(op, key, expires)
                .verify_slice(&given)
                .is_ok()
    }

    fn local_mac(&self, op: SignedOp, key: &str, expires: i64) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.url_key).expect("HMAC takes any key");
        mac.update(format!("{}\n{key}\n{expires}", op.as_str()).as_bytes());
        mac
    }

    fn local_signature(&self, op: SignedOp, key: &str, expires: i64) -> String {
        hex::encode(self.local_mac(op, key, expires).finalize().into_bytes())
    }

    /// Readiness probe: a listing under a reserved prefix (proves the bucket exists and answers).
    pub async fn ping(&self) -> anyhow::Result<()> {
        let prefix = ObjectPath::from(PROBE_PREFIX);
        let _: Vec<_> = self
            .store
            .list(Some(&prefix))
            .try_collect()
            .await
            .context("listing the object store")?;
        Ok(())
    }
}

/// `OBJECT_URL_SECRET`, or a random key (signed URLs then die with the process).
fn url_key(config: &S3Config) -> Arc<[u8]> {
    match &config.object_url_secret {
        Some(secret) if !secret.is_empty() => secret.as_bytes().into(),
        _ => {
            let mut key = uuid::Uuid::new_v4().as_bytes().to_vec();
            key.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
            key.into()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn local_store_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let config = S3Config {
            s3_endpoint: None,
            s3_region: "us-east-1".into(),
            s3_bucket: "b".into(),
            s3_access_key: None,
            s3_secret_key: None,
            s3_create_bucket: false,
            object_store_timeout_secs: 10,
            object_url_secret: Some("k".into()),
        };
        let objects = Objects::open(&config, dir.path()).await.unwrap();
        assert_eq!(objects.backend(), "local");
        objects
            .put("photos/a.jpg", Bytes::from_static(b"abc"))
            .await
            .unwrap();
        assert_eq!(
            objects.get("photos/a.jpg").await.unwrap(),
            Bytes::from_static(b"abc")
        );
        assert!(dir.path().join("objects/photos/a.jpg").exists());
        objects.ping().await.unwrap();
        objects.delete("photos/a.jpg").await.unwrap();
        assert!(objects.get("photos/a.jpg").await.is_err());
        assert_eq!(objects.size("photos/a.jpg").await.unwrap(), None);

        let mut writer = objects.writer("photos/b.jpg");
        writer.write(Bytes::from_static(b"ab")).await.unwrap();
        writer.write(Bytes::from_static(b"cd")).await.unwrap();
        writer.finish().await.unwrap();
        assert_eq!(objects.size("photos/b.jpg").await.unwrap(), Some(4));
        let streamed: Vec<Bytes> = objects
            .stream("photos/b.jpg")
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        assert_eq!(streamed.concat(), b"abcd");
        let mut aborted = objects.writer("photos/c.jpg");
        aborted.write(Bytes::from_static(b"x")).await.unwrap();
        aborted.abort().await;
        assert_eq!(objects.size("photos/c.jpg").await.unwrap(), None);
    }

    #[tokio::test]
    async fn local_signed_urls_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let config = S3Config {
            s3_endpoint: None,
            s3_region: "us-east-1".into(),
            s3_bucket: "b".into(),
            s3_access_key: None,
            s3_secret_key: None,
            s3_create_bucket: false,
            object_store_timeout_secs: 10,
            object_url_secret: Some("k".into()),
        };
        let objects = Objects::open(&config, dir.path()).await.unwrap();
        let url = objects
            .signed_url(SignedOp::Put, "photos/a", Duration::from_secs(60), 1000)
            .await
            .unwrap();
        let signature = url.rsplit_once("signature=").unwrap().1;
        assert!(url.starts_with("/objects/photos/a?expires=1060&"));
        assert!(objects.verify_local(SignedOp::Put, "photos/a", 1060, signature, 1060));
        assert!(
            !objects.verify_local(SignedOp::Put, "photos/a", 1060, signature, 1061),
            "expired"
        );
        assert!(
            !objects.verify_local(SignedOp::Get, "photos/a", 1060, signature, 1000),
            "other op"
        );
        assert!(
            !objects.verify_local(SignedOp::Put, "photos/b", 1060, signature, 1000),
            "other key"
        );
        assert!(
            !objects.verify_local(SignedOp::Put, "photos/a", 2000, signature, 1000),
            "other expiry"
        );
    }
}
