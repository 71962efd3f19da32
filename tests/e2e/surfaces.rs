//! The shared surfaces of the one port: reflection, CORS for REST and grpc-web, unknown
//! routes and methods, request ids, OpenAPI, and `/readyz` following dependency outages.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;
use tokio_stream::StreamExt;
use tonic_reflection::pb::v1::ServerReflectionRequest;
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

use crate::harness::{
    Backends, FetchJson, TcpProxy, TestServer, real_services, redirect_url, socket_addr_of,
};

#[tokio::test]
async fn reflection_lists_every_service() {
    let server = TestServer::start(&Backends::Embedded).await;
    let mut reflection = ServerReflectionClient::new(server.channel().await);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = reflection
        .server_reflection_info(tokio_stream::iter(vec![request]))
        .await
        .unwrap()
        .into_inner();
    let response = responses.next().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
        panic!("expected a service list, got {response:?}");
    };
    let mut names: Vec<String> = list
        .service
        .into_iter()
        .map(|service| service.name)
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "grpc.health.v1.Health",
            "grpc.reflection.v1.ServerReflection",
            "kasi.fiber.v1.AssignmentService",
            "kasi.fiber.v1.AuditService",
            "kasi.fiber.v1.AuthService",
            "kasi.fiber.v1.CertificateService",
            "kasi.fiber.v1.ConfigService",
            "kasi.fiber.v1.ContractService",
            "kasi.fiber.v1.DeviceService",
            "kasi.fiber.v1.IncidentService",
            "kasi.fiber.v1.MaintenanceWindowService",
            "kasi.fiber.v1.OpticalService",
            "kasi.fiber.v1.OrganizationService",
            "kasi.fiber.v1.PhotoService",
            "kasi.fiber.v1.PonService",
            "kasi.fiber.v1.ReportService",
            "kasi.fiber.v1.SpareService",
            "kasi.fiber.v1.StringingService",
            "kasi.fiber.v1.TaskService",
            "kasi.fiber.v1.UserService",
        ]
    );

    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::FileContainingSymbol(
            "kasi.fiber.v1.PonService".into(),
        )),
    };
    let mut responses = reflection
        .server_reflection_info(tokio_stream::iter(vec![request]))
        .await
        .unwrap()
        .into_inner();
    let response = responses.next().await.unwrap().unwrap();
    assert!(
        matches!(response.message_response, Some(MessageResponse::FileDescriptorResponse(ref files)) if !files.file_descriptor_proto.is_empty()),
        "{response:?}"
    );
    server.stop().await;
}

#[tokio::test]
async fn cors_preflight_for_rest_and_grpc_web() {
    let server = TestServer::start_with(&Backends::Embedded, |config| {
        config.cors_allow_origins = vec![
            "https://app.kasi.test".into(),
            "http://localhost:3000".into(),
        ];
    })
    .await;
    let http = reqwest::Client::new();
    let preflight =
        |origin: &'static str, path: &'static str, method: &'static str, headers: &'static str| {
            http.request(reqwest::Method::OPTIONS, server.url(path))
                .header("origin", origin)
                .header("access-control-request-method", method)
                .header("access-control-request-headers", headers)
                .send()
        };

    let rest = preflight(
        "https://app.kasi.test",
        "/v1/pons",
        "POST",
        "content-type,authorization",
    )
    .await
    .unwrap();
    assert!(rest.status().is_success(), "{}", rest.status());
    assert_eq!(
        rest.headers()["access-control-allow-origin"],
        "https://app.kasi.test"
    );
    let methods = rest.headers()["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        methods.contains("POST") && methods.contains("PATCH"),
        "{methods}"
    );

    let grpc_web = preflight(
        "http://localhost:3000",
        "/kasi.fiber.v1.PonService/GetPon",
        "POST",
        "content-type,x-grpc-web,x-user-agent,grpc-timeout",
    )
    .await
    .unwrap();
    assert!(grpc_web.status().is_success());
    assert_eq!(
        grpc_web.headers()["access-control-allow-origin"],
        "http://localhost:3000"
    );
    let allowed = grpc_web.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(allowed.contains("x-grpc-web"), "{allowed}");

    let denied = preflight("https://evil.example", "/v1/pons", "POST", "content-type")
        .await
        .unwrap();
    assert!(
        denied
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );

    // Real requests expose the gRPC status headers to browser code.
    let actual = http
        .get(server.url("/v1/pons"))
        .header("origin", "https://app.kasi.test")
        .send()
        .await
        .unwrap();
    assert_eq!(
        actual.headers()["access-control-allow-origin"],
        "https://app.kasi.test"
    );
    let exposed = actual.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .to_string();
    for header in ["grpc-status", "grpc-message", "grpc-status-details-bin"] {
        assert!(exposed.contains(header), "{header} not in {exposed}");
    }
    let not_allowed = http
        .get(server.url("/v1/pons"))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert!(
        not_allowed
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    server.stop().await;
}

#[tokio::test]
async fn unknown_paths_and_methods() {
    let server = TestServer::start(&Backends::Embedded).await;
    let http = reqwest::Client::new();
    let response = http
        .get(server.url("/v2/nothing/here"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "NOT_FOUND");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("/v2/nothing/here")
    );

    let response = http
        .put(server.url("/v1/pons"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert!(
        response.headers()["allow"]
            .to_str()
            .unwrap()
            .contains("POST")
    );

    let channel = server.channel().await;
    for path in [
        "/kasi.fiber.v1.NoSuchService/Get",
        "/kasi.fiber.v1.PonService/NoSuchMethod",
    ] {
        let mut grpc = tonic::client::Grpc::new(channel.clone());
        grpc.ready().await.unwrap();
        let codec = tonic_prost::ProstCodec::<(), ()>::default();
        let status = grpc
            .unary(tonic::Request::new(()), path.parse().unwrap(), codec)
            .await
            .unwrap_err();
        assert_eq!(status.code(), tonic::Code::Unimplemented, "{path}");
    }
    server.stop().await;
}

#[tokio::test]
async fn request_ids_are_assigned_and_echoed() {
    let server = TestServer::start(&Backends::Embedded).await;
    let http = reqwest::Client::new();
    let response = http.get(server.url("/v1/pons")).send().await.unwrap();
    let assigned = response.headers()["x-request-id"].to_str().unwrap();
    assert!(uuid::Uuid::parse_str(assigned).is_ok(), "{assigned}");
    let response = http
        .get(server.url("/healthz"))
        .header("x-request-id", "trace-me-42")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "trace-me-42");
    server.stop().await;
}

#[tokio::test]
async fn openapi_is_generated_from_the_annotations() {
    let server = TestServer::start(&Backends::Embedded).await;
    let document: Value = reqwest::get(server.url("/openapi.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(document["openapi"], "3.0.3");
    let paths = &document["paths"];
    assert_eq!(
        paths["/v1/pons"]["post"]["operationId"],
        "PonService_CreatePon"
    );
    assert_eq!(
        paths["/v1/pons"]["get"]["operationId"],
        "PonService_ListPons"
    );
    assert_eq!(
        paths["/v1/pons/{id}"]["get"]["operationId"],
        "PonService_GetPon"
    );
    assert_eq!(
        paths["/v1/pons/{id}"]["delete"]["operationId"],
        "PonService_DeletePon"
    );
    assert_eq!(
        paths["/v1/pons/{id}"]["patch"]["operationId"],
        "PonService_UpdatePon"
    );
    let list_params: Vec<&str> = paths["/v1/pons"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(list_params, ["page_size", "page_token", "status", "ward"]);
    for (path, method, operation) in [
        (
            "/v1/organizations",
            "post",
            "OrganizationService_CreateOrganization",
        ),
        (
            "/v1/organizations/{id}",
            "patch",
            "OrganizationService_UpdateOrganization",
        ),
        ("/v1/contracts", "get", "ContractService_ListContracts"),
        (
            "/v1/assignments/{id}",
            "delete",
            "AssignmentService_DeleteAssignment",
        ),
        ("/v1/tasks", "post", "TaskService_CreateTask"),
        ("/v1/tasks/{id}", "patch", "TaskService_UpdateTask"),
        (
            "/v1/tasks/{id}/transition",
            "post",
            "TaskService_TransitionTask",
        ),
        ("/v1/work-queue", "get", "TaskService_ListWorkQueue"),
    ] {
        assert_eq!(
            paths[path][method]["operationId"], operation,
            "{method} {path}"
        );
    }
    let pon = &document["components"]["schemas"]["kasi.fiber.v1.Pon"]["properties"];
    assert_eq!(pon["sla_breaches"]["format"], "int64");
    assert_eq!(pon["created_at"]["format"], "date-time");
    assert!(
        pon["status"]["enum"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v == "PON_STATUS_TESTING")
    );
    server.stop().await;
}

/// The OpenAPI validator: `KASI_TEST_OPENAPI_VALIDATOR` (the path of PyPI's
/// `openapi-spec-validator`, which .ci/run installs), else that command on the PATH.
fn openapi_validator() -> Option<String> {
    if let Ok(path) = std::env::var("KASI_TEST_OPENAPI_VALIDATOR") {
        return Some(path);
    }
    let on_path = std::process::Command::new("openapi-spec-validator")
        .arg("--help")
        .output()
        .is_ok_and(|output| output.status.success());
    on_path.then(|| "openapi-spec-validator".to_string())
}

#[tokio::test]
async fn openapi_document_passes_a_validator() {
    let Some(validator) = openapi_validator() else {
        assert!(
            std::env::var("KASI_TEST_REQUIRE_REAL").as_deref() != Ok("1"),
            "KASI_TEST_REQUIRE_REAL=1 but openapi-spec-validator is neither in KASI_TEST_OPENAPI_VALIDATOR nor on the PATH"
        );
        // Straight to stderr, past the test harness's output capture, so the skip is seen.
        let _ = std::io::Write::write_all(
            &mut std::io::stderr(),
            b"!!! SKIPPING the OpenAPI validation: openapi-spec-validator not found (pip install openapi-spec-validator, or set KASI_TEST_OPENAPI_VALIDATOR)\n",
        );
        return;
    };
    let server = TestServer::start(&Backends::Embedded).await;
    let document = reqwest::get(server.url("/openapi.json"))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    server.stop().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("openapi.json");
    std::fs::write(&file, &document).unwrap();
    let output = tokio::process::Command::new(&validator)
        .arg(&file)
        .output()
        .await
        .unwrap_or_else(|err| panic!("running {validator}: {err}"));
    assert!(
        output.status.success(),
        "{validator} rejected /openapi.json:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

async fn readyz(http: &reqwest::Client, server: &TestServer) -> (StatusCode, Value) {
    let response = http.get(server.url("/readyz")).send().await.unwrap();
    (response.status(), response.json().await.unwrap())
}

/// Polls `/readyz` until its status and body satisfy `wanted` (dampening needs a few failed rounds).
async fn wait_for_readyz(
    http: &reqwest::Client,
    server: &TestServer,
    wanted: impl Fn(StatusCode, &Value) -> bool,
) -> Value {
    let mut last = Value::Null;
    for _ in 0..150 {
        let (status, body) = readyz(http, server).await;
        if wanted(status, &body) {
            return body;
        }
        last = body;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("/readyz never answered as wanted; last body {last}");
}

/// Every dependency up.
fn all_up(status: StatusCode, body: &Value) -> bool {
    status == StatusCode::OK && body["status"] == "ready"
}

#[tokio::test]
async fn readyz_reports_every_dependency_on_embedded_backends() {
    let server = TestServer::start(&Backends::Embedded).await;
    let http = reqwest::Client::new();
    let body = wait_for_readyz(&http, &server, all_up).await;
    assert_eq!(body["ok"], true);
    assert_eq!(body["degraded"], serde_json::json!([]));
    assert_eq!(body["checks"]["database"]["backend"], "sqlite");
    assert_eq!(body["checks"]["cache"]["backend"], "memory");
    assert_eq!(body["checks"]["object_store"]["backend"], "local");
    assert_eq!(body["checks"]["mail"]["backend"], "outbox");
    let healthz: Value = http.get(server.url("/healthz")).fetch_json().await;
    assert_eq!(healthz, serde_json::json!({"ok": true}));
    server.stop().await;
}

/// Cutting PostgreSQL turns `/readyz` into a 503 naming it; cutting Redis or S3 leaves it 200,
/// `degraded` naming that dependency. No error text is ever shown; restoring brings `ready` back.
#[tokio::test]
async fn readyz_follows_outages_of_postgres_redis_and_s3() {
    let Some(real) = real_services() else { return };
    let postgres = TcpProxy::start(socket_addr_of(&real.postgres_admin_url)).await;
    let redis = TcpProxy::start(socket_addr_of(&real.redis_url)).await;
    let s3 = TcpProxy::start(socket_addr_of(&real.s3_endpoint)).await;
    let (redis_url, s3_endpoint) = (
        redirect_url(&real.redis_url, redis.addr),
        redirect_url(&real.s3_endpoint, s3.addr),
    );
    let postgres_addr = postgres.addr;
    let server = TestServer::start_with(&Backends::Real(real), move |config| {
        let url = config.database.database_url.clone().unwrap();
        config.database.database_url = Some(redirect_url(&url, postgres_addr));
        config.redis_url = Some(redis_url);
        config.s3.s3_endpoint = Some(s3_endpoint);
    })
    .await;
    let http = reqwest::Client::new();
    let body = wait_for_readyz(&http, &server, all_up).await;
    assert_eq!(body["checks"]["database"]["backend"], "postgres");
    assert_eq!(body["checks"]["cache"]["backend"], "redis");
    assert_eq!(body["checks"]["object_store"]["backend"], "s3");
    assert_eq!(body["checks"]["mail"]["backend"], "smtp");

    for (name, proxy) in [
        ("database", &postgres),
        ("cache", &redis),
        ("object_store", &s3),
    ] {
        proxy.cut();
        wait_for_readyz(&http, &server, |_, body| {
            body["checks"][name]["ok"] == false
        })
        .await;
        let (status, body) = readyz(&http, &server).await;
        if name == "database" {
            assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
            assert_eq!(body["ok"], false, "{body}");
            assert_eq!(body["status"], "unready", "{body}");
            assert_eq!(body["failing"], serde_json::json!([name]), "{body}");
        } else {
            assert_eq!(status, StatusCode::OK, "{body}");
            assert_eq!(body["ok"], true, "{body}");
            assert_eq!(body["status"], "degraded", "{body}");
            assert_eq!(body["degraded"], serde_json::json!([name]), "{body}");
        }
        assert_eq!(
            body["checks"][name],
            serde_json::json!({"ok": false, "backend": body["checks"][name]["backend"]}),
            "states only, no error text: {body}"
        );
        if name == "cache" {
            // Rate limits count in this process: logging in still works while Redis is away.
            let token = server.admin_token().await;
            let me = http
                .get(server.url("/v1/auth/me"))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap();
            assert_eq!(me.status(), StatusCode::OK);
        }
        proxy.restore();
        let body = wait_for_readyz(&http, &server, all_up).await;
        assert_eq!(body["checks"][name]["ok"], true, "{name} is back");
    }
    server.stop().await;
}
