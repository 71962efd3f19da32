//! Criterion benchmarks of authentication: the per-request check (token verification, the
//! cached user lookup, the permission table) and one login's password verification.

use std::collections::HashSet;
use std::sync::Arc;

use clap::Parser;
use criterion::{Criterion, criterion_group, criterion_main};
use kasi_fiber::auth::guard::Guard;
use kasi_fiber::auth::passwords;
use kasi_fiber::clock::SystemClock;
use kasi_fiber::config::Config;
use kasi_fiber::identity::service::{NewUser, bootstrap_admin};
use kasi_fiber::identity::store;

#[derive(Parser)]
struct Args {
    #[command(flatten)]
    config: Config,
}

fn per_request_check(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut config = Args::parse_from(["bench"]).config;
    config.data_dir = dir.path().to_path_buf();
    config.database.database_url = None;
    config.auth.jwt_secret = Some("bench-secret".into());
    let (guard, headers) = runtime.block_on(async {
        let db = kasi_fiber::storage::db::connect(&config.database, &config.data_dir)
            .await
            .unwrap();
        kasi_fiber::storage::db::migrate(&db).await.unwrap();
        let admin = NewUser {
            name: "Bench".into(),
            email: "bench@example.test".into(),
            password: "Bench-Password-1".into(),
            ..Default::default()
        };
        let (user, _) = bootstrap_admin(&db, &SystemClock, "default", "default", admin)
            .await
            .unwrap();
        let user = store::user_by_id(&db, user.id).await.unwrap().unwrap();
        let served: HashSet<String> = ["kasi.fiber.v1.PonService/GetPon".to_string()].into();
        let limiter = kasi_fiber::ratelimit::RateLimiter::new(
            Arc::new(kasi_fiber::storage::cache::MemoryCache::default()),
            false,
        );
        let guard = Guard::new(&config.auth, db, served, limiter, Arc::new(SystemClock)).unwrap();
        let (token, _) = guard.issue(&user);
        let mut headers = http::HeaderMap::new();
        headers.insert("authorization", format!("Bearer {token}").parse().unwrap());
        (guard, headers)
    });
    c.bench_function("authenticate + authorize one request (user cached)", |b| {
        b.to_async(&runtime).iter(|| async {
            guard
                .authorize("/kasi.fiber.v1.PonService/GetPon", &headers)
                .await
                .unwrap()
                .unwrap()
        })
    });
}

fn login_password_check(c: &mut Criterion) {
    let stored = passwords::hash("Bench-Password-1").unwrap();
    let mut group = c.benchmark_group("login");
    group.sample_size(10);
    group.bench_function("argon2id verify (19 MiB, 2 passes)", |b| {
        b.iter(|| assert!(passwords::verify("Bench-Password-1", &stored)))
    });
    group.finish();
}

criterion_group!(benches, per_request_check, login_password_check);
criterion_main!(benches);
