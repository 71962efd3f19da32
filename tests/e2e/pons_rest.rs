//! PonService through the transcoded REST surface: proto3 JSON shapes, implied and explicit
//! update masks, query parameters, and every bad-input path (status, body, nothing written).

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{FetchJson, TestServer, backend_sets};

pub fn new_pon(code: &str) -> Value {
    json!({
        "pon_code": code,
        "name": "Orlando East",
        "location": "Soweto",
        "ward": "Ward 7",
        "lat": -26.23,
        "lng": 27.92,
        "fiber_count": 24,
        "status": "planned",
        "start_date": "2026-02-01",
        "equipment": [{"name": "Splitter 1:32", "status": "installed"}]
    })
}

async fn count_pons(http: &reqwest::Client, server: &TestServer) -> usize {
    let body: Value = http.get(server.url("/v1/pons")).fetch_json().await;
    body["pons"].as_array().unwrap().len()
}

#[tokio::test]
async fn rest_crud_with_proto3_json() {
    for backends in backend_sets() {
        let server = TestServer::start(&backends).await;
        let http = server.http_as(&server.admin_token().await);

        let response = http
            .post(server.url("/v1/pons"))
            .json(&new_pon("PON-100"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{}", backends.label());
        assert_eq!(response.headers()["content-type"], "application/json");
        let created: Value = response.json().await.unwrap();
        let id = created["id"].as_str().unwrap().to_string();
        // Proto field names, defaults emitted, enums as names, 64-bit integers as numbers.
        assert_eq!(created["pon_code"], "PON-100");
        assert_eq!(created["status"], "PON_STATUS_PLANNED");
        assert_eq!(created["notes"], "");
        assert_eq!(created["progress"], 0);
        assert_eq!(created["sla_breaches"], json!(0));
        assert!(created["sla_breaches"].is_number());
        assert_eq!(created["geofence_radius_m"], 200);
        assert_eq!(
            created["equipment"][0]["status"],
            "EQUIPMENT_STATUS_INSTALLED"
        );
        assert!(created["created_at"].as_str().unwrap().ends_with('Z'));

        let fetched: Value = http
            .get(server.url(&format!("/v1/pons/{id}")))
            .fetch_json()
            .await;
        assert_eq!(fetched, created);

        // PATCH without update_mask changes exactly the fields in the body.
        let patched: Value = http
            .patch(server.url(&format!("/v1/pons/{id}")))
            .json(&json!({"name": "Orlando West", "progress": 40}))
            .fetch_json()
            .await;
        assert_eq!(patched["name"], "Orlando West");
        assert_eq!(patched["progress"], 40);
        assert_eq!(patched["fiber_count"], 24);
        assert_eq!(patched["ward"], "Ward 7");

        // An explicit mask wins: only `notes` changes although `name` is in the body.
        let masked: Value = http
            .patch(server.url(&format!("/v1/pons/{id}?update_mask=notes")))
            .json(&json!({"name": "ignored", "notes": "trench 40% done"}))
            .fetch_json()
            .await;
        assert_eq!(masked["name"], "Orlando West");
        assert_eq!(masked["notes"], "trench 40% done");

        http.post(server.url("/v1/pons"))
            .json(&{
                let mut other = new_pon("PON-101");
                other["status"] = json!("PON_STATUS_TESTING");
                other
            })
            .send()
            .await
            .unwrap();
        let testing: Value = http
            .get(server.url("/v1/pons?status=testing&ward=Ward%207"))
            .fetch_json()
            .await;
        let codes: Vec<&str> = testing["pons"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["pon_code"].as_str().unwrap())
            .collect();
        assert_eq!(codes, ["PON-101"]);
        let first_page: Value = http
            .get(server.url("/v1/pons?page_size=1"))
            .fetch_json()
            .await;
        assert_eq!(first_page["pons"].as_array().unwrap().len(), 1);
        let token = first_page["next_page_token"].as_str().unwrap();
        assert!(!token.is_empty());
        let second_page: Value = http
            .get(server.url(&format!("/v1/pons?page_size=1&page_token={token}")))
            .fetch_json()
            .await;
        assert_eq!(second_page["pons"][0]["pon_code"], "PON-101");

        let deleted = http
            .delete(server.url(&format!("/v1/pons/{id}")))
            .send()
            .await
            .unwrap();
        assert_eq!(deleted.status(), StatusCode::OK);
        assert_eq!(deleted.json::<Value>().await.unwrap(), json!({}));
        let missing = http
            .get(server.url(&format!("/v1/pons/{id}")))
            .send()
            .await
            .unwrap();
        assert_eq!(missing.status(), StatusCode::NOT_FOUND);
        let body: Value = missing.json().await.unwrap();
        assert_eq!(body["code"], "NOT_FOUND");
        assert!(body["detail"].as_str().unwrap().contains(&id));
        server.stop().await;
    }
}

/// One bad request: what it sends, the status and violated field it must get back.
struct BadCase {
    name: &'static str,
    method: reqwest::Method,
    path: &'static str,
    body: Option<Vec<u8>>,
    status: StatusCode,
    field: &'static str,
}

#[tokio::test]
async fn rest_bad_input_is_rejected_naming_the_field_and_writes_nothing() {
    let with = |change: &dyn Fn(&mut Value)| {
        let mut body = new_pon("PON-BAD");
        change(&mut body);
        Some(serde_json::to_vec(&body).unwrap())
    };
    let cases = vec![
        BadCase {
            name: "malformed JSON",
            method: reqwest::Method::POST,
            path: "/v1/pons",
            body: Some(b"{\"pon_code\": ".to_vec()),
            status: StatusCode::BAD_REQUEST,
            field: "pon",
        },
        BadCase {
            name: "not an object",
            method: reqwest::Method::POST,
            path: "/v1/pons",
            body: Some(b"[1,2]".to_vec()),
            status: StatusCode::BAD_REQUEST,
            field: "pon",
        },
        BadCase {
            name: "wrong type",
            method: reqwest::Method::POST,
            path: "/v1/pons",
            body: with(&|b| b["fiber_count"] = json!("many")),
            status: StatusCode::BAD_REQUEST,
            field: "pon.fiber_count",
        },
        BadCase {
            name: "int32 overflow",
            method: reqwest::Method::POST,
            path: "/v1/pons",
            body: with(&|b| b["fiber_count"] = json!(4_294_967_296u64)),
            status: StatusCode::BAD_REQUEST,
            field: "pon.fiber_count",
        },
        BadCase {
            name: "unknown enum",
            method: reqwest::Method::POST,
            path: "/v1/pons",
            body: with(&|b| b["status"] = json!("exploded")),
            status: StatusCode::BAD_REQUEST,
            field: "pon.status",
        },
        BadCase {
            name: "unknown field",
            method: reqwest::Method::POST,
            path: "/v1/pons",
            body: with(&|b| b["colour"] = json!("red")),
            status: StatusCode::BAD_REQUEST,
            field: "pon",
        },
        BadCase {
            name: "fibre count below 1",
            method: reqwest::Method::POST,
            path: "/v1/pons",
            body: with(&|b| b["fiber_count"] = json!(0)),
            status: StatusCode::BAD_REQUEST,
            field: "pon.fiber_count",
        },
        BadCase {
            name: "latitude out of range",
            method: reqwest::Method::POST,
            path: "/v1/pons",
            body: with(&|b| b["lat"] = json!(91.5)),
            status: StatusCode::BAD_REQUEST,
            field: "pon.lat",
        },
        BadCase {
            name: "progress out of range",
            method: reqwest::Method::POST,
            path: "/v1/pons",
            body: with(&|b| b["progress"] = json!(101)),
            status: StatusCode::BAD_REQUEST,
            field: "pon.progress",
        },
        BadCase {
            name: "radius out of range",
            method: reqwest::Method::POST,
            path: "/v1/pons",
            body: with(&|b| b["geofence_radius_m"] = json!(50_001)),
            status: StatusCode::BAD_REQUEST,
            field: "pon.geofence_radius_m",
        },
        BadCase {
            name: "bad date",
            method: reqwest::Method::POST,
            path: "/v1/pons",
            body: with(&|b| b["start_date"] = json!("2026-13-01")),
            status: StatusCode::BAD_REQUEST,
            field: "pon.start_date",
        },
        BadCase {
            name: "bad manager UUID",
            method: reqwest::Method::POST,
            path: "/v1/pons",
            body: with(&|b| b["site_manager_id"] = json!("bob")),
            status: StatusCode::BAD_REQUEST,
            field: "pon.site_manager_id",
        },
        BadCase {
            name: "end before start",
            method: reqwest::Method::POST,
            path: "/v1/pons",
            body: with(&|b| b["expected_end_date"] = json!("2025-01-01")),
            status: StatusCode::BAD_REQUEST,
            field: "pon.expected_end_date",
        },
        BadCase {
            name: "missing name",
            method: reqwest::Method::POST,
            path: "/v1/pons",
            body: with(&|b| b["name"] = json!("  ")),
            status: StatusCode::BAD_REQUEST,
            field: "pon.name",
        },
        BadCase {
            name: "bad UUID in path",
            method: reqwest::Method::GET,
            path: "/v1/pons/not-a-uuid",
            body: None,
            status: StatusCode::BAD_REQUEST,
            field: "id",
        },
        BadCase {
            name: "bad UUID in PATCH path",
            method: reqwest::Method::PATCH,
            path: "/v1/pons/xyz",
            body: Some(b"{\"name\":\"x\"}".to_vec()),
            status: StatusCode::BAD_REQUEST,
            field: "pon.id",
        },
        BadCase {
            name: "bad query integer",
            method: reqwest::Method::GET,
            path: "/v1/pons?page_size=ten",
            body: None,
            status: StatusCode::BAD_REQUEST,
            field: "page_size",
        },
        BadCase {
            name: "negative page size",
            method: reqwest::Method::GET,
            path: "/v1/pons?page_size=-1",
            body: None,
            status: StatusCode::BAD_REQUEST,
            field: "page_size",
        },
        BadCase {
            name: "unknown query enum",
            method: reqwest::Method::GET,
            path: "/v1/pons?status=sideways",
            body: None,
            status: StatusCode::BAD_REQUEST,
            field: "status",
        },
        BadCase {
            name: "unknown query parameter",
            method: reqwest::Method::GET,
            path: "/v1/pons?colour=red",
            body: None,
            status: StatusCode::BAD_REQUEST,
            field: "colour",
        },
        BadCase {
            name: "body on GET",
            method: reqwest::Method::GET,
            path: "/v1/pons",
            body: Some(b"{}".to_vec()),
            status: StatusCode::BAD_REQUEST,
            field: "body",
        },
        BadCase {
            name: "oversized body",
            method: reqwest::Method::POST,
            path: "/v1/pons",
            body: Some(vec![b' '; 9 * 1024 * 1024]),
            status: StatusCode::PAYLOAD_TOO_LARGE,
            field: "",
        },
    ];
    for backends in backend_sets() {
        let server = TestServer::start(&backends).await;
        let http = server.http_as(&server.admin_token().await);
        for case in &cases {
            let mut request = http.request(case.method.clone(), server.url(case.path));
            if let Some(body) = &case.body {
                request = request
                    .header("content-type", "application/json")
                    .body(body.clone());
            }
            let response = request.send().await.unwrap();
            assert_eq!(
                response.status(),
                case.status,
                "{} ({})",
                case.name,
                backends.label()
            );
            if case.field.is_empty() {
                continue;
            }
            let body: Value = response
                .json()
                .await
                .unwrap_or_else(|_| panic!("{}: JSON error body", case.name));
            assert_eq!(body["code"], "INVALID_ARGUMENT", "{}", case.name);
            let fields: Vec<&str> = body["field_violations"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v["field"].as_str().unwrap())
                .collect();
            assert!(
                fields.contains(&case.field),
                "{}: expected field {} in {body}",
                case.name,
                case.field
            );
            assert!(
                body["detail"].as_str().unwrap().contains(case.field),
                "{}: {body}",
                case.name
            );
        }
        assert_eq!(
            count_pons(&http, &server).await,
            0,
            "no bad request wrote anything ({})",
            backends.label()
        );

        // An existing PON is untouched by a refused update.
        let created: Value = http
            .post(server.url("/v1/pons"))
            .json(&new_pon("PON-OK"))
            .fetch_json()
            .await;
        let id = created["id"].as_str().unwrap();
        let refused = http
            .patch(server.url(&format!("/v1/pons/{id}")))
            .json(&json!({"name": "changed", "fiber_count": -3}))
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
        let after: Value = http
            .get(server.url(&format!("/v1/pons/{id}")))
            .fetch_json()
            .await;
        assert_eq!(after, created, "a refused update leaves the PON as it was");
        let sla_refused = http
            .patch(server.url(&format!("/v1/pons/{id}")))
            .json(&json!({"sla_breaches": 9}))
            .send()
            .await
            .unwrap();
        assert_eq!(sla_refused.status(), StatusCode::BAD_REQUEST);
        let body: Value = sla_refused.json().await.unwrap();
        assert_eq!(body["field_violations"][0]["field"], "update_mask");
        server.stop().await;
    }
}

/// Each role sees its own PONs: ADMIN, AUDITOR and NOC all of the tenant, a PM those they manage,
/// a site manager those they run, an SMME user those its organization is assigned to.
#[tokio::test]
async fn pons_are_scoped_by_role() {
    for backends in backend_sets() {
        let server = TestServer::start(&backends).await;
        let admin_token = server.admin_token().await;
        let admin = server.http_as(&admin_token);
        let user = |role: &'static str| {
            let server = &server;
            let admin_token = admin_token.clone();
            async move {
                let token = server.user_token(&admin_token, role).await;
                let me = server
                    .http_as(&token)
                    .get(server.url("/v1/auth/me"))
                    .fetch_json()
                    .await;
                (
                    server.http_as(&token),
                    me["id"].as_str().unwrap().to_string(),
                )
            }
        };
        let (pm, pm_id) = user("ROLE_PM").await;
        let (other_pm, other_pm_id) = user("ROLE_PM").await;
        let (site, site_id) = user("ROLE_SITE").await;
        let (auditor, _) = user("ROLE_AUDITOR").await;
        let organization = admin
            .post(server.url("/v1/organizations"))
            .json(&json!({"name": "Ward 2 Stringers", "type": "ORGANIZATION_TYPE_TECHNICAL"}))
            .fetch_json()
            .await;
        let organization_id = organization["id"].as_str().unwrap();
        admin
            .post(server.url("/v1/assignments"))
            .json(&json!({"organization_id": organization_id, "ward": "Ward 2", "step_type": "Stringing"}))
            .fetch_json()
            .await;
        let smme_token = server.user_token(&admin_token, "ROLE_SMME").await;
        let smme_me = server
            .http_as(&smme_token)
            .get(server.url("/v1/auth/me"))
            .fetch_json()
            .await;
        admin
            .patch(server.url(&format!("/v1/users/{}", smme_me["id"].as_str().unwrap())))
            .json(&json!({"organization_id": organization_id}))
            .fetch_json()
            .await;
        let smme = server.http_as(&smme_token);

        let mut managed = new_pon("PON-A");
        managed["project_manager_id"] = json!(pm_id);
        managed["site_manager_id"] = json!(site_id);
        managed["ward"] = json!("Ward 1");
        let managed = admin
            .post(server.url("/v1/pons"))
            .json(&managed)
            .fetch_json()
            .await;
        let mut in_ward_2 = new_pon("PON-B");
        in_ward_2["ward"] = json!("Ward 2");
        admin
            .post(server.url("/v1/pons"))
            .json(&in_ward_2)
            .fetch_json()
            .await;

        assert_eq!(codes(&server, &pm).await, ["PON-A"], "{}", backends.label());
        assert!(codes(&server, &other_pm).await.is_empty());
        assert_eq!(codes(&server, &site).await, ["PON-A"]);
        assert_eq!(codes(&server, &auditor).await, ["PON-A", "PON-B"]);
        assert_eq!(codes(&server, &smme).await, ["PON-B"]);

        let managed_id = managed["id"].as_str().unwrap();
        let url = server.url(&format!("/v1/pons/{managed_id}"));
        assert_eq!(
            other_pm.get(&url).send().await.unwrap().status(),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            other_pm
                .patch(&url)
                .json(&json!({"name": "mine now"}))
                .send()
                .await
                .unwrap()
                .status(),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            other_pm.delete(&url).send().await.unwrap().status(),
            StatusCode::NOT_FOUND
        );
        let renamed = pm
            .patch(&url)
            .json(&json!({"name": "Renamed by its PM"}))
            .fetch_json()
            .await;
        assert_eq!(
            renamed["name"], "Renamed by its PM",
            "the owner sees and edits their PON"
        );

        // A PM's new PON is theirs; they cannot create one for someone else.
        let own = other_pm
            .post(server.url("/v1/pons"))
            .json(&new_pon("PON-C"))
            .fetch_json()
            .await;
        assert_eq!(own["project_manager_id"], other_pm_id.as_str());
        let mut for_someone_else = new_pon("PON-D");
        for_someone_else["project_manager_id"] = json!(pm_id);
        let refused = other_pm
            .post(server.url("/v1/pons"))
            .json(&for_someone_else)
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
        server.stop().await;
    }
}

/// The PON codes a client is shown, in order.
async fn codes(server: &TestServer, client: &reqwest::Client) -> Vec<String> {
    let listed = client.get(server.url("/v1/pons")).fetch_json().await;
    listed["pons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|pon| pon["pon_code"].as_str().unwrap().to_string())
        .collect()
}
