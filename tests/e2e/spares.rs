//! Spares end to end: 100 concurrent issues against a level of 50 (exactly 50 pass, the level
//! ends at 0), the old core bodies and refusals, the ledger, stores, bad input named by field
//! with nothing written, roles, and two-tenant isolation.

use kasi_fiber::proto::v1::MoveSpareRequest;
use kasi_fiber::proto::v1::spare_service_client::SpareServiceClient;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tonic::Code;

use crate::harness::{Bearer, TestServer, backend_sets, call, id_of, ok, unique_name};

async fn new_store(server: &TestServer, http: &reqwest::Client) -> String {
    id_of(
        &ok(http
            .post(server.url("/v1/stores"))
            .json(&json!({"name": unique_name("Store "), "address": "1 Depot Rd"})))
        .await,
    )
}

async fn core_move(
    server: &TestServer,
    http: &reqwest::Client,
    kind: &str,
    body: Value,
) -> (StatusCode, Value) {
    call(
        http.post(server.url(&format!("/spares/{kind}")))
            .json(&body),
    )
    .await
}

async fn levels(server: &TestServer, http: &reqwest::Client, store: &str) -> Vec<Value> {
    ok(http.get(server.url(&format!("/v1/stock-levels?store_id={store}")))).await["levels"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

async fn movements(server: &TestServer, http: &reqwest::Client, query: &str) -> Vec<Value> {
    ok(http.get(server.url(&format!("/v1/spare-movements?page_size=500&{query}"))))
        .await["movements"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// The quantity of the one level of `store`.
async fn quantity(server: &TestServer, http: &reqwest::Client, store: &str) -> i64 {
    let found = levels(server, http, store).await;
    assert_eq!(found.len(), 1, "{found:?}");
    found[0]["quantity"].as_i64().unwrap()
}

#[tokio::test]
async fn spares_concurrent_issues_never_overdraw_a_level() {
    for backends in backend_sets() {
        let server = TestServer::start(&backends).await;
        let token = server.admin_token().await;
        let http = server.http_as(&token);
        let store = new_store(&server, &http).await;
        let (status, body) = core_move(
            &server,
            &http,
            "return",
            json!({"store_id": store, "sku": "ONT-HG8245", "qty": 50, "notes": "delivery"}),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["ok"], true);
        assert_eq!(body["level"], 50);

        // Half of the callers use the old core path, half gRPC, all at once.
        let channel = server.channel().await;
        let mut calls = Vec::new();
        for index in 0..100 {
            let (server_url, http, store) =
                (server.url("/spares/issue"), http.clone(), store.clone());
            let mut grpc =
                SpareServiceClient::with_interceptor(channel.clone(), Bearer::new(&token));
            calls.push(tokio::spawn(async move {
                if index % 2 == 0 {
                    let (status, body) = call(
                        http.post(server_url)
                            .json(&json!({"store_id": store, "sku": "ONT-HG8245", "qty": 1})),
                    )
                    .await;
                    match status {
                        StatusCode::OK => true,
                        StatusCode::BAD_REQUEST => {
                            assert_eq!(body["detail"], "insufficient stock");
                            false
                        }
                        other => panic!("unexpected {other}: {body}"),
                    }
                } else {
                    let answer = grpc
                        .issue_spare(MoveSpareRequest {
                            store_id: store,
                            sku: "ONT-HG8245".into(),
                            quantity: 1,
                            ..Default::default()
                        })
                        .await;
                    match answer {
                        Ok(_) => true,
                        Err(status) => {
                            assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
                            assert_eq!(status.message(), "insufficient stock");
                            false
                        }
                    }
                }
            }));
        }
        let mut issued = 0;
        for handle in calls {
            if handle.await.unwrap() {
                issued += 1;
            }
        }
        assert_eq!(
            issued,
            50,
            "{}: exactly the stock on hand is issued",
            backends.label()
        );
        assert_eq!(quantity(&server, &http, &store).await, 0);
        let ledger = movements(&server, &http, &format!("store_id={store}")).await;
        assert_eq!(ledger.len(), 51, "one return and fifty issues");
        let issues: Vec<&Value> = ledger
            .iter()
            .filter(|movement| movement["delta_quantity"] == -1)
            .collect();
        assert_eq!(issues.len(), 50, "{ledger:?}");
        assert!(
            ledger
                .iter()
                .all(|movement| movement["quantity_after"].as_i64().unwrap() >= 0)
        );
        server.stop().await;
    }
}

#[tokio::test]
async fn spares_ledger_stores_and_refusals() {
    for backends in backend_sets() {
        let server = TestServer::start(&backends).await;
        let admin = server.admin_token().await;
        let http = server.http_as(&admin);
        let store = new_store(&server, &http).await;

        // Receiving creates the level; issuing over it is refused and changes nothing.
        ok(http.post(server.url("/v1/spares:return")).json(
            &json!({"store_id": store, "sku": "SPLITTER-1X8", "quantity": 5, "reason": "delivery"}),
        ))
        .await;
        let (status, body) = core_move(
            &server,
            &http,
            "issue",
            json!({"store_id": store, "sku": "SPLITTER-1X8", "qty": 6}),
        )
        .await;
        assert_eq!(
            (status, body["detail"].as_str()),
            (StatusCode::BAD_REQUEST, Some("insufficient stock"))
        );
        let (status, body) = core_move(
            &server,
            &http,
            "issue",
            json!({"store_id": store, "sku": "NEVER-STOCKED", "qty": 1}),
        )
        .await;
        assert_eq!(
            (status, body["detail"].as_str()),
            (StatusCode::BAD_REQUEST, Some("insufficient stock"))
        );
        let moved = ok(http
            .post(server.url("/v1/spares:issue"))
            .json(&json!({"store_id": store, "sku": "SPLITTER-1X8", "quantity": 2, "reason": "splitter swap at FDH-7"})))
        .await;
        assert_eq!(moved["delta_quantity"], -2);
        assert_eq!(moved["quantity_after"], 3);
        assert_eq!(moved["reason"], "splitter swap at FDH-7");
        assert!(!moved["actor_user_id"].as_str().unwrap().is_empty());
        assert_eq!(quantity(&server, &http, &store).await, 3);

        let ledger = movements(
            &server,
            &http,
            &format!("store_id={store}&sku=SPLITTER-1X8"),
        )
        .await;
        let deltas: Vec<i64> = ledger
            .iter()
            .map(|movement| movement["delta_quantity"].as_i64().unwrap())
            .collect();
        assert_eq!(deltas, [-2, 5], "newest first");

        let audit = ok(http.get(server.url("/v1/audit-entries?resource_type=stock_level"))).await;
        let actions: Vec<&str> = audit["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|entry| entry["action"].as_str().unwrap())
            .collect();
        assert_eq!(actions, ["issue", "return"]);

        // A store holding stock is kept; once empty it can go.
        let (status, body) = call(http.delete(server.url(&format!("/v1/stores/{store}")))).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some("FAILED_PRECONDITION")),
            "{body}"
        );
        ok(http
            .post(server.url("/v1/spares:issue"))
            .json(&json!({"store_id": store, "sku": "SPLITTER-1X8", "quantity": 3})))
        .await;
        ok(http.delete(server.url(&format!("/v1/stores/{store}")))).await;
        let (status, _) = call(http.get(server.url(&format!("/v1/stores/{store}")))).await;
        assert_eq!(status, StatusCode::NOT_FOUND);

        // Store names are unique per tenant; renames keep that.
        let first = ok(http
            .post(server.url("/v1/stores"))
            .json(&json!({"name": "Main depot"})))
        .await;
        let (status, _) = call(
            http.post(server.url("/v1/stores"))
                .json(&json!({"name": " Main depot "})),
        )
        .await;
        assert_eq!(status, StatusCode::CONFLICT);
        let renamed = ok(http
            .patch(server.url(&format!("/v1/stores/{}", id_of(&first))))
            .json(&json!({"address": "5 Fibre Way"})))
        .await;
        assert_eq!(
            (renamed["name"].as_str(), renamed["address"].as_str()),
            (Some("Main depot"), Some("5 Fibre Way"))
        );

        // Roles: SMME staff neither move nor read spares; an auditor reads but does not move.
        let smme = server.http_as(&server.user_token(&admin, "SMME").await);
        let (status, _) = core_move(
            &server,
            &smme,
            "return",
            json!({"store_id": id_of(&first), "sku": "X", "qty": 1}),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, _) = call(smme.get(server.url("/v1/stock-levels"))).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let auditor = server.http_as(&server.user_token(&admin, "AUDITOR").await);
        ok(auditor.get(server.url("/v1/spare-movements"))).await;
        let (status, _) = call(
            auditor
                .post(server.url("/v1/spares:return"))
                .json(&json!({"store_id": id_of(&first), "sku": "X", "quantity": 1})),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let noc = server.http_as(&server.user_token(&admin, "NOC").await);
        let (status, body) = core_move(
            &server,
            &noc,
            "return",
            json!({"store_id": id_of(&first), "sku": "PATCH-LC", "qty": 4}),
        )
        .await;
        assert_eq!((status, body["level"].as_i64()), (StatusCode::OK, Some(4)));
        server.stop().await;
    }
}

#[tokio::test]
async fn spares_bad_input_is_named_and_writes_nothing() {
    for backends in backend_sets() {
        let server = TestServer::start(&backends).await;
        let http = server.http_as(&server.admin_token().await);
        let store = new_store(&server, &http).await;
        let cases = [
            (
                json!({"store_id": store, "sku": "A", "qty": 0}),
                StatusCode::BAD_REQUEST,
                "qty must be positive",
            ),
            (
                json!({"store_id": store, "sku": "A", "qty": -4}),
                StatusCode::BAD_REQUEST,
                "qty must be positive",
            ),
            (
                json!({"sku": "A", "qty": 1}),
                StatusCode::UNPROCESSABLE_ENTITY,
                "store_id: field required",
            ),
            (
                json!({"store_id": "nope", "sku": "A", "qty": 1}),
                StatusCode::UNPROCESSABLE_ENTITY,
                "store_id: `nope` is not a UUID",
            ),
            (
                json!({"store_id": store, "qty": 1}),
                StatusCode::UNPROCESSABLE_ENTITY,
                "sku: field required",
            ),
            (
                json!({"store_id": store, "sku": "A"}),
                StatusCode::UNPROCESSABLE_ENTITY,
                "qty: field required",
            ),
            (
                json!({"store_id": store, "sku": "A", "qty": "many"}),
                StatusCode::UNPROCESSABLE_ENTITY,
                "qty: invalid type",
            ),
            (
                json!({"store_id": store, "sku": "A", "qty": 1, "incident_id": "x"}),
                StatusCode::UNPROCESSABLE_ENTITY,
                "incident_id: `x` is not a UUID",
            ),
            (
                json!({"store_id": store, "sku": "TWO WORDS", "qty": 1}),
                StatusCode::BAD_REQUEST,
                "sku: must not contain spaces",
            ),
            (
                json!({"store_id": store, "sku": "A", "qty": 2_000_000}),
                StatusCode::BAD_REQUEST,
                "qty: must be at most 1000000",
            ),
            (
                json!({"store_id": uuid::Uuid::now_v7(), "sku": "A", "qty": 1}),
                StatusCode::NOT_FOUND,
                "Store not found",
            ),
        ];
        for (body, expected, detail) in cases {
            for kind in ["issue", "return"] {
                let (status, answer) = core_move(&server, &http, kind, body.clone()).await;
                assert_eq!(status, expected, "{kind} {body}: {answer}");
                assert!(
                    answer["detail"].as_str().unwrap().starts_with(detail),
                    "{kind} {body}: {answer}"
                );
            }
        }
        let (status, answer) = call(
            http.post(server.url("/v1/spares:return"))
                .json(&json!({"store_id": "", "sku": "", "quantity": 0})),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let fields: Vec<&str> = answer["field_violations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["field"].as_str().unwrap())
            .collect();
        assert_eq!(
            fields,
            ["store_id"],
            "the missing store is named first: {answer}"
        );
        let (status, answer) = call(
            http.post(server.url("/v1/spares:return"))
                .json(&json!({"store_id": store, "sku": "", "quantity": 0})),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let fields: Vec<&str> = answer["field_violations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["field"].as_str().unwrap())
            .collect();
        assert_eq!(fields, ["sku", "quantity"]);
        let (status, answer) = call(
            http.post(server.url("/v1/stores"))
                .json(&json!({"name": "  "})),
        )
        .await;
        assert_eq!(
            (status, answer["field_violations"][0]["field"].as_str()),
            (StatusCode::BAD_REQUEST, Some("store.name"))
        );
        let (status, answer) = call(http.get(server.url("/v1/stock-levels?store_id=zz"))).await;
        assert_eq!(
            (status, answer["field_violations"][0]["field"].as_str()),
            (StatusCode::BAD_REQUEST, Some("store_id"))
        );

        assert!(
            levels(&server, &http, &store).await.is_empty(),
            "nothing was written"
        );
        assert!(movements(&server, &http, "").await.is_empty());
        server.stop().await;
    }
}

#[tokio::test]
async fn spares_two_tenants_never_see_each_other() {
    for backends in backend_sets() {
        let server = TestServer::start(&backends).await;
        let alpha = server.http_as(&server.admin_token_in("alpha").await);
        let beta = server.http_as(&server.admin_token_in("beta").await);
        let store = new_store(&server, &alpha).await;
        ok(alpha
            .post(server.url("/v1/spares:return"))
            .json(&json!({"store_id": store, "sku": "ONT", "quantity": 10})))
        .await;

        for request in [
            beta.get(server.url(&format!("/v1/stores/{store}"))),
            beta.patch(server.url(&format!("/v1/stores/{store}")))
                .json(&json!({"name": "mine"})),
            beta.delete(server.url(&format!("/v1/stores/{store}"))),
            beta.post(server.url("/v1/spares:issue"))
                .json(&json!({"store_id": store, "sku": "ONT", "quantity": 1})),
            beta.post(server.url("/v1/spares:return"))
                .json(&json!({"store_id": store, "sku": "ONT", "quantity": 1})),
            beta.post(server.url("/spares/issue"))
                .json(&json!({"store_id": store, "sku": "ONT", "qty": 1})),
            beta.post(server.url("/spares/return"))
                .json(&json!({"store_id": store, "sku": "ONT", "qty": 1})),
        ] {
            let (status, body) = call(request).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
        }
        let listed = ok(beta.get(server.url("/v1/stores"))).await;
        assert!(
            listed["stores"].as_array().is_none_or(Vec::is_empty),
            "{listed}"
        );
        assert!(levels(&server, &beta, &store).await.is_empty());
        assert!(
            movements(&server, &beta, &format!("store_id={store}"))
                .await
                .is_empty()
        );
        assert!(movements(&server, &beta, "").await.is_empty());

        // Alpha's records are untouched.
        assert_eq!(quantity(&server, &alpha, &store).await, 10);
        assert_eq!(movements(&server, &alpha, "").await.len(), 1);
        let own = ok(alpha.get(server.url(&format!("/v1/stores/{store}")))).await;
        assert_ne!(own["name"], "mine");
        server.stop().await;
    }
}
