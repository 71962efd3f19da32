//! Every storage port on both backend sets: rate-limit windows (memory | Redis), objects
//! (local files | S3), mail (outbox | SMTP, read back from the sink's HTTP API).

use std::time::Duration;

use bytes::Bytes;
use kasi_fiber::storage::Storage;
use kasi_fiber::storage::mail::Mail;

use crate::harness::{Backends, backend_sets, drop_database, test_config, unique_name};

#[tokio::test]
async fn storage_ports_round_trip() {
    for backends in backend_sets() {
        let dir = tempfile::tempdir().unwrap();
        let config = test_config(&backends, dir.path()).await;
        let storage = Storage::open(&config).await.expect("storage opens");
        let label = backends.label();

        let key = unique_name("ratelimit:test:");
        let window = Duration::from_secs(30);
        for expected in 1..=3 {
            let hit = storage.cache.hit(&key, window).await.unwrap();
            assert_eq!(hit.count, expected, "{label}");
            assert!(
                hit.resets_in <= window && hit.resets_in > Duration::from_secs(25),
                "{label}: {hit:?}"
            );
        }
        storage.cache.ping().await.unwrap();
        if let Backends::Real(real) = &backends {
            // Another deployment's prefix keeps its own counters in the same Redis.
            let other = kasi_fiber::storage::cache::RedisCache::connect(
                &real.redis_url,
                &unique_name("other:"),
                Duration::from_secs(2),
            )
            .unwrap();
            assert_eq!(
                kasi_fiber::storage::Cache::hit(&other, &key, window)
                    .await
                    .unwrap()
                    .count,
                1
            );
        }

        let object_key = format!("photos/{}.jpg", unique_name("p"));
        storage
            .objects
            .put(&object_key, Bytes::from_static(b"\xff\xd8jpeg"))
            .await
            .unwrap();
        assert_eq!(
            storage.objects.get(&object_key).await.unwrap(),
            Bytes::from_static(b"\xff\xd8jpeg")
        );
        storage.objects.ping().await.unwrap();
        storage.objects.delete(&object_key).await.unwrap();
        assert!(
            storage.objects.get(&object_key).await.is_err(),
            "{label}: deleted"
        );

        let subject = format!("SLA warning {}", unique_name(""));
        storage
            .mailer
            .send(&Mail {
                to: vec!["site.manager@example.org".into()],
                subject: subject.clone(),
                body: "Task PON-001/Stringing is due in 30 minutes.".into(),
            })
            .await
            .unwrap();
        storage.mailer.ping().await.unwrap();
        match &backends {
            Backends::Embedded => {
                let files: Vec<_> = std::fs::read_dir(dir.path().join("outbox"))
                    .unwrap()
                    .collect();
                assert_eq!(files.len(), 1);
                let text = std::fs::read_to_string(files[0].as_ref().unwrap().path()).unwrap();
                assert!(text.contains(&subject));
            }
            Backends::Real(real) => {
                let inbox: serde_json::Value = reqwest::get(format!("{}/email", real.smtp_api))
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                let found = inbox
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|mail| mail["subject"] == subject.as_str());
                assert!(found, "mail {subject} reached the SMTP sink");
                storage.db.close_by_ref().await.unwrap();
                drop_database(
                    &real.postgres_admin_url,
                    config.database.database_url.as_deref().unwrap(),
                )
                .await;
            }
        }
    }
}
