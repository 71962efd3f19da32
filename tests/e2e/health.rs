//! grpc.health.v1 Check and Watch: `""` follows readiness (the database), every service and
//! dependency has its own name (PhotoService follows the object store), a hung cache degrades
//! without slowing logins, and shutdown turns everything NOT_SERVING.

use std::time::{Duration, Instant};

use tokio_stream::StreamExt;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::harness::{
    Backends, TEST_PASSWORD, TcpProxy, TestServer, backend_sets, real_services, redirect_url,
    socket_addr_of, unique_name,
};

async fn check(
    client: &mut HealthClient<tonic::transport::Channel>,
    service: &str,
) -> Result<ServingStatus, tonic::Code> {
    client
        .check(HealthCheckRequest {
            service: service.into(),
        })
        .await
        .map(|response| ServingStatus::try_from(response.into_inner().status).unwrap())
        .map_err(|status| status.code())
}

#[tokio::test]
async fn check_and_watch_report_readiness_services_dependencies_and_shutdown() {
    for backends in backend_sets() {
        let server = TestServer::start(&backends).await;
        server.wait_ready().await;
        let mut health = HealthClient::new(server.channel().await);
        assert_eq!(
            check(&mut health, "").await,
            Ok(ServingStatus::Serving),
            "{}",
            backends.label()
        );
        assert_eq!(
            check(&mut health, "kasi.fiber.v1.PonService").await,
            Ok(ServingStatus::Serving)
        );
        for dependency in ["database", "cache", "object_store", "mail"] {
            assert_eq!(
                check(&mut health, dependency).await,
                Ok(ServingStatus::Serving),
                "{dependency}"
            );
        }
        assert_eq!(
            check(&mut health, "no.such.Service").await,
            Err(tonic::Code::NotFound)
        );

        let mut watch = health
            .watch(HealthCheckRequest {
                service: String::new(),
            })
            .await
            .unwrap()
            .into_inner();
        let first = watch.next().await.unwrap().unwrap();
        assert_eq!(first.status(), ServingStatus::Serving);

        let stopping = tokio::spawn(server.stop());
        let next = tokio::time::timeout(Duration::from_secs(5), watch.next())
            .await
            .expect("Watch reports the shutdown")
            .unwrap()
            .unwrap();
        assert_eq!(
            next.status(),
            ServingStatus::NotServing,
            "{}",
            backends.label()
        );
        drop(watch);
        drop(health);
        stopping.await.unwrap();
    }
}

/// Waits until the health name `service` reports `status`.
async fn wait_for(
    client: &mut HealthClient<tonic::transport::Channel>,
    service: &str,
    status: ServingStatus,
) {
    for _ in 0..150 {
        if check(client, service).await == Ok(status) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{service:?} never became {status:?}");
}

/// With Redis unreachable from the start, `""` and every service are SERVING (the cache has
/// fallbacks) while `cache` is NOT_SERVING, and Watch on `cache` sees it come back.
#[tokio::test]
async fn an_unreachable_cache_degrades_without_taking_the_server_out() {
    let Some(real) = real_services() else { return };
    let proxy = TcpProxy::start(socket_addr_of(&real.redis_url)).await;
    proxy.cut();
    let redis_url = redirect_url(&real.redis_url, proxy.addr);
    let server = TestServer::start_with(&Backends::Real(real), |config| {
        config.redis_url = Some(redis_url)
    })
    .await;
    let mut health = HealthClient::new(server.channel().await);
    wait_for(&mut health, "", ServingStatus::Serving).await;
    wait_for(&mut health, "cache", ServingStatus::NotServing).await;
    for service in [
        "database",
        "object_store",
        "kasi.fiber.v1.PonService",
        "kasi.fiber.v1.PhotoService",
        "kasi.fiber.v1.AuthService",
    ] {
        assert_eq!(
            check(&mut health, service).await,
            Ok(ServingStatus::Serving),
            "{service}"
        );
    }
    let mut watch = health
        .watch(HealthCheckRequest {
            service: "cache".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        watch.next().await.unwrap().unwrap().status(),
        ServingStatus::NotServing
    );
    proxy.restore();
    let flipped = tokio::time::timeout(Duration::from_secs(15), watch.next())
        .await
        .expect("cache comes back once Redis answers")
        .unwrap()
        .unwrap();
    assert_eq!(flipped.status(), ServingStatus::Serving);
    assert_eq!(check(&mut health, "").await, Ok(ServingStatus::Serving));
    drop(watch);
    server.stop().await;
}

/// While the object store is cut, PhotoService is NOT_SERVING and the rest SERVING.
#[tokio::test]
async fn the_photo_service_follows_the_object_store() {
    let Some(real) = real_services() else { return };
    let proxy = TcpProxy::start(socket_addr_of(&real.s3_endpoint)).await;
    let s3_endpoint = redirect_url(&real.s3_endpoint, proxy.addr);
    let server = TestServer::start_with(&Backends::Real(real), |config| {
        config.s3.s3_endpoint = Some(s3_endpoint)
    })
    .await;
    server.wait_ready().await;
    let mut health = HealthClient::new(server.channel().await);
    wait_for(
        &mut health,
        "kasi.fiber.v1.PhotoService",
        ServingStatus::Serving,
    )
    .await;
    proxy.cut();
    wait_for(&mut health, "object_store", ServingStatus::NotServing).await;
    for (service, status) in [
        ("kasi.fiber.v1.PhotoService", ServingStatus::NotServing),
        ("kasi.fiber.v1.PonService", ServingStatus::Serving),
        ("kasi.fiber.v1.CertificateService", ServingStatus::Serving),
        ("", ServingStatus::Serving),
    ] {
        assert_eq!(check(&mut health, service).await, Ok(status), "{service}");
    }
    proxy.restore();
    wait_for(
        &mut health,
        "kasi.fiber.v1.PhotoService",
        ServingStatus::Serving,
    )
    .await;
    server.stop().await;
}

/// A hung Redis (sockets open, no answers) costs one request its command timeout; the logins
/// after it skip Redis and answer at once, `/readyz` is 200 with `degraded: ["cache"]`, and once
/// Redis answers again `cache` is back.
#[tokio::test]
async fn a_hung_cache_costs_one_slow_request_not_every_login() {
    let Some(real) = real_services() else { return };
    let proxy = TcpProxy::start(socket_addr_of(&real.redis_url)).await;
    let redis_url = redirect_url(&real.redis_url, proxy.addr);
    let server = TestServer::start_with(&Backends::Real(real), |config| {
        config.redis_url = Some(redis_url);
        config.redis_command_timeout_ms = 1500;
    })
    .await;
    server.wait_ready().await;
    let admin = server.admin_token().await;
    let email = format!("{}@example.test", unique_name("login"));
    let created = server
        .http_as(&admin)
        .post(server.url("/v1/users"))
        .json(&serde_json::json!({"name": "Login", "email": email, "password": TEST_PASSWORD, "role": "ROLE_PM"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 200);

    proxy.stall();
    let timed_login = || async {
        let started = Instant::now();
        server.login(&email, TEST_PASSWORD).await;
        started.elapsed()
    };
    let first = timed_login().await;
    assert!(first < Duration::from_secs(5), "first login took {first:?}");
    for _ in 0..5 {
        let took = timed_login().await;
        assert!(
            took < Duration::from_millis(700),
            "a login after the first slow one took {took:?} (first {first:?})"
        );
    }
    let http = reqwest::Client::new();
    let mut body = serde_json::Value::Null;
    for _ in 0..100 {
        let response = http.get(server.url("/readyz")).send().await.unwrap();
        assert_eq!(
            response.status(),
            200,
            "a hung cache never makes the server unready"
        );
        body = response.json().await.unwrap();
        if body["degraded"] == serde_json::json!(["cache"]) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(body["degraded"], serde_json::json!(["cache"]), "{body}");
    assert_eq!(body["status"], "degraded");
    assert_eq!(
        body["checks"]["cache"],
        serde_json::json!({"ok": false, "backend": "redis"})
    );

    proxy.restore();
    for _ in 0..100 {
        body = http
            .get(server.url("/readyz"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if body["status"] == "ready" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(body["checks"]["cache"]["ok"], true, "{body}");
    let took = timed_login().await;
    assert!(
        took < Duration::from_secs(1),
        "login with Redis back took {took:?}"
    );
    server.stop().await;
}
