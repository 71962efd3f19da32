//! Object store port (photos, PDFs, imports): the local filesystem under the data
//! directory by default, any S3-compatible server through `object_store` when
//! `S3_ENDPOINT` is set.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use bytes::Bytes;
use futures::TryStreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

use super::s3_bucket;
use crate::config::S3Config;

/// Where readiness probes look; nothing else uses this prefix.
const PROBE_PREFIX: &str = "_readyz";

#[derive(Clone)]
pub struct Objects {
    store: Arc<dyn ObjectStore>,
    backend: &'static str,
}

impl Objects {
    pub async fn open(config: &S3Config, data_dir: &Path) -> anyhow::Result<Self> {
        match &config.s3_endpoint {
            Some(endpoint) => {
                if config.s3_create_bucket {
                    s3_bucket::ensure_bucket(config, endpoint).await?;
                }
                let mut builder = AmazonS3Builder::new()
                    .with_endpoint(endpoint)
                    .with_region(&config.s3_region)
                    .with_bucket_name(&config.s3_bucket)
                    .with_allow_http(true)
                    .with_virtual_hosted_style_request(false);
                if let (Some(key), Some(secret)) = (&config.s3_access_key, &config.s3_secret_key) {
                    builder = builder
                        .with_access_key_id(key)
                        .with_secret_access_key(secret);
                }
                let store = builder.build().context("configuring the S3 object store")?;
                Ok(Objects {
                    store: Arc::new(store),
                    backend: "s3",
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
    }
}
