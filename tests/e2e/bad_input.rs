//! Bad input and lost connections never give a 500: NUL bytes answered 400 naming the field on
//! every surface, malformed and oversized protobuf, huge values never echoed back, JSON 413s,
//! and a database connection cut mid-request answered 503 with Retry-After.

use kasi_fiber::proto::v1::{CreatePonRequest, GetPonRequest};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{
    Backends, TcpProxy, TestServer, backend_sets, call, real_services, redirect_url,
    socket_addr_of, violated_fields,
};
use crate::pons_grpc::{client_as, sample_pon};
use crate::pons_rest::new_pon;

/// The number of PONs the admin can see.
async fn pon_count(http: &reqwest::Client, server: &TestServer) -> usize {
    let (status, body) = call(http.get(server.url("/v1/pons?page_size=500"))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["pons"].as_array().map_or(0, Vec::len)
}

#[tokio::test]
async fn nul_bytes_are_refused_naming_the_field_on_every_surface() {
    for backends in backend_sets() {
        let server = TestServer::start(&backends).await;
        let label = backends.label();
        let token = server.admin_token().await;
        let http = server.http_as(&token);
        let before = pon_count(&http, &server).await;
        assert_eq!(before, 0);

        // Transcoded REST: body, query, path; and the public login.
        let mut pon = new_pon("PON-NUL");
        pon["name"] = json!("Ward\u{0}7");
        let (status, body) = call(http.post(server.url("/v1/pons")).json(&pon)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{label}: {body}");
        assert_eq!(body["code"], "INVALID_ARGUMENT");
        assert_eq!(body["field_violations"][0]["field"], "name", "{body}");
        let (status, body) = call(http.get(server.url("/v1/pons?page_token=a%00b"))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["field_violations"][0]["field"], "page_token");
        let (status, _) = call(http.get(server.url("/v1/pons/%00"))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let (status, body) = call(
            reqwest::Client::new()
                .post(server.url("/v1/auth/login"))
                .json(&json!({"email": "a\u{0}@example.test", "password": "x"})),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "unauthenticated: {body}");
        assert_eq!(body["field_violations"][0]["field"], "email");

        // Legacy Express paths, in their own shape.
        let (status, body) = call(
            reqwest::Client::new()
                .post(server.url("/api/auth/login"))
                .json(&json!({"email": "x@example.test", "password": "\u{0}"})),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["errors"][0]["path"], "password", "{body}");
        let (status, body) = call(
            reqwest::Client::new()
                .post(server.url("/api/pons"))
                .header("x-auth-token", &token)
                .json(&json!({"ponId": "P-1", "name": "\u{0}"})),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(body["errors"][0]["path"], "name");

        // Core paths.
        let (status, body) = call(
            http.post(server.url("/contracts"))
                .json(&json!({"org_id": uuid::Uuid::now_v7(), "rate_card_ref": "x\u{0}"})),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(
            body["detail"]
                .as_str()
                .unwrap()
                .starts_with("rate_card_ref"),
            "{body}"
        );

        // A multipart photo form's text field, before any byte is stored.
        let site = crate::photos::site(&server, &http).await;
        let (status, body) = crate::photos::upload(
            &server,
            &http,
            &site.task,
            &[("pole_number", "P\u{0}1")],
            &crate::photos::good_jpeg(),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(
            body["detail"].as_str().unwrap().contains("pole_number"),
            "{body}"
        );
        let photos = crate::photos::object_keys(&server, "photos").await;
        assert!(photos.is_empty(), "{photos:?}");

        // Native gRPC (gzip-compressed by this client): the field path in the message.
        let mut grpc = client_as(&server, &token).await;
        let mut pon = sample_pon("PON-NUL-G");
        pon.location = "Soweto\u{0}".into();
        let status = grpc
            .create_pon(CreatePonRequest { pon: Some(pon) })
            .await
            .unwrap_err();
        assert_eq!(violated_fields(&status), vec!["pon.location"]);

        assert_eq!(
            pon_count(&http, &server).await,
            before + 1,
            "only the photo's PON"
        );
        server.stop().await;
    }
}

/// A raw gRPC call over h2c: the grpc-status of the answer.
async fn raw_grpc(server: &TestServer, token: &str, path: &str, body: Vec<u8>) -> String {
    let client = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let response = client
        .post(server.url(path))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .bearer_auth(token)
        .body(body)
        .send()
        .await
        .unwrap();
    response.headers()["grpc-status"]
        .to_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn malformed_and_oversized_protobuf_and_huge_values_are_client_errors() {
    let server = TestServer::start_with(&Backends::Embedded, |config| {
        config.max_body_bytes = 1024 * 1024;
    })
    .await;
    let token = server.admin_token().await;
    let path = "/kasi.fiber.v1.PonService/GetPon";
    // Not protobuf at all: INVALID_ARGUMENT (3), not INTERNAL.
    let garbage = vec![0, 0, 0, 0, 3, 0xff, 0xff, 0xff];
    assert_eq!(raw_grpc(&server, &token, path, garbage).await, "3");
    // A frame announcing more than the limit: RESOURCE_EXHAUSTED (8), not OUT_OF_RANGE.
    let announced = vec![0, 0x10, 0, 0, 0, 1, 2, 3];
    assert_eq!(raw_grpc(&server, &token, path, announced).await, "8");
    // A body over the limit on REST and the legacy paths: a JSON 413.
    let big = "x".repeat(1024 * 1024 + 10);
    let http = server.http_as(&token);
    let (status, body) = call(
        http.post(server.url("/v1/pons"))
            .header("content-type", "application/json")
            .body(big.clone()),
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(body["code"], "RESOURCE_EXHAUSTED");
    let (status, body) = call(
        reqwest::Client::new()
            .post(server.url("/api/pons"))
            .header("x-auth-token", &token)
            .header("content-type", "application/json")
            .body(big),
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(body["message"].is_string(), "{body}");

    // A huge id is not echoed back: not in REST bodies, not in gRPC metadata.
    let huge = "f".repeat(700_000);
    let response = http
        .post(server.url("/v1/tasks"))
        .json(&json!({"pon_id": huge, "title": "t"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let text = response.text().await.unwrap();
    assert!(text.len() < 2_000, "{} bytes of error", text.len());
    let mut grpc = client_as(&server, &token).await;
    let status = grpc
        .get_pon(GetPonRequest { id: huge.clone() })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert!(status.message().len() < 300, "{}", status.message().len());
    assert!(status.details().len() < 2_000);
    let (status, body) = call(
        http.post(server.url("/assignments"))
            .json(&json!({"pon_id": huge, "org_id": huge})),
    )
    .await;
    assert!(status.is_client_error(), "{status}");
    assert!(body.to_string().len() < 2_000);
    server.stop().await;
}

#[tokio::test]
async fn a_database_connection_cut_is_503_with_retry_after_on_every_surface() {
    let Some(real) = real_services() else {
        return;
    };
    let postgres = TcpProxy::start(socket_addr_of(&real.postgres_admin_url)).await;
    let postgres_addr = postgres.addr;
    let server = TestServer::start_with(&Backends::Real(real), move |config| {
        let url = config.database.database_url.clone().unwrap();
        config.database.database_url = Some(redirect_url(&url, postgres_addr));
        config.database.db_pool_size = 2;
    })
    .await;
    let token = server.admin_token().await;
    let http = server.http_as(&token);
    // Warm the pool, then cut every connection under it.
    assert_eq!(pon_count(&http, &server).await, 0);
    postgres.cut();
    let retry_after = |response: &reqwest::Response| {
        response
            .headers()
            .get("retry-after")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse::<u64>().ok())
    };
    for (surface, request) in [
        ("REST", http.get(server.url("/v1/pons"))),
        (
            "legacy",
            reqwest::Client::new()
                .get(server.url("/api/pons"))
                .header("x-auth-token", &token),
        ),
        (
            "core",
            http.get(server.url(&format!("/photos?task_id={}", uuid::Uuid::now_v7()))),
        ),
    ] {
        let response = request.send().await.unwrap();
        assert_eq!(
            response.status(),
            StatusCode::SERVICE_UNAVAILABLE,
            "{surface}"
        );
        assert!(retry_after(&response).is_some(), "{surface}: Retry-After");
        let body: Value = response.json().await.unwrap();
        assert!(body.is_object(), "{surface}: a JSON answer, {body}");
    }
    let mut grpc = client_as(&server, &token).await;
    let status = grpc
        .create_pon(CreatePonRequest {
            pon: Some(sample_pon("PON-CUT")),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
    postgres.restore();
    // Back once the database is: the pool reconnects.
    let mut recovered = false;
    for _ in 0..50 {
        let (status, _) = call(http.get(server.url("/v1/pons"))).await;
        if status == StatusCode::OK {
            recovered = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(recovered, "the server recovers when the database is back");
    server.stop().await;
}
