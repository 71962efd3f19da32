//! grpc.health.v1 Check and Watch: `""` follows readiness, every service and dependency
//! has its own name, and shutdown turns everything NOT_SERVING.

use std::time::Duration;

use tokio_stream::StreamExt;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::harness::{
    Backends, TcpProxy, TestServer, backend_sets, real_services, redirect_url, socket_addr_of,
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

/// `""` and the dependency's name are NOT_SERVING while Redis is unreachable from the start,
/// the services themselves stay SERVING, and Watch sees the flip once Redis is back.
#[tokio::test]
async fn health_before_and_after_readiness() {
    let Some(real) = real_services() else { return };
    let proxy = TcpProxy::start(socket_addr_of(&real.redis_url)).await;
    proxy.cut();
    let redis_url = redirect_url(&real.redis_url, proxy.addr);
    let server = TestServer::start_with(&Backends::Real(real), |config| {
        config.redis_url = Some(redis_url)
    })
    .await;
    let mut health = HealthClient::new(server.channel().await);
    // The first rounds take as long as the Redis probe's timeout; the database answers meanwhile.
    for _ in 0..100 {
        if check(&mut health, "database").await == Ok(ServingStatus::Serving) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(check(&mut health, "").await, Ok(ServingStatus::NotServing));
    assert_eq!(
        check(&mut health, "cache").await,
        Ok(ServingStatus::NotServing)
    );
    assert_eq!(
        check(&mut health, "database").await,
        Ok(ServingStatus::Serving)
    );
    assert_eq!(
        check(&mut health, "kasi.fiber.v1.PonService").await,
        Ok(ServingStatus::Serving)
    );
    let mut watch = health
        .watch(HealthCheckRequest {
            service: String::new(),
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
        .expect("readiness comes back once Redis answers")
        .unwrap()
        .unwrap();
    assert_eq!(flipped.status(), ServingStatus::Serving);
    assert_eq!(
        check(&mut health, "cache").await,
        Ok(ServingStatus::Serving)
    );
    drop(watch);
    server.stop().await;
}
