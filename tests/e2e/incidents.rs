//! Incidents over REST: SLA from the legacy table and from a routed contract, location from the
//! device or PON, the status machine (illegal moves refused), assignment, closure evidence,
//! SMME scoping, maintenance windows, and two-tenant isolation.

use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::devices::new_device;
use crate::harness::{TestServer, backend_sets, call, id_of, ok};

fn time(value: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(value.as_str().unwrap())
        .unwrap()
        .with_timezone(&Utc)
}

fn minutes_between(from: &Value, to: &Value) -> i64 {
    (time(to) - time(from)).num_minutes()
}

pub async fn new_incident(server: &TestServer, http: &reqwest::Client, body: Value) -> Value {
    ok(http.post(server.url("/v1/incidents")).json(&body)).await
}

async fn transition(
    server: &TestServer,
    http: &reqwest::Client,
    id: &str,
    status: &str,
) -> (StatusCode, Value) {
    call(
        http.post(server.url(&format!("/v1/incidents/{id}/transition")))
            .json(&json!({ "status": status })),
    )
    .await
}

#[tokio::test]
async fn incidents_get_sla_routing_and_location() {
    for backends in backend_sets() {
        let server = TestServer::start(&backends).await;
        let http = server.http_as(&server.admin_token().await);
        let pon = ok(http.post(server.url("/v1/pons")).json(
            &json!({"pon_code": "PON-I1", "name": "PON I1", "ward": "Ward 7", "fiber_count": 24, "lat": -26.1, "lng": 28.1}),
        ))
        .await;
        let pon_id = id_of(&pon);
        let device = new_device(
            &server,
            &http,
            json!({"name": "OLT-R", "type": "OLT", "pon_id": pon_id, "lat": -26.2, "lng": 28.2}),
        )
        .await;

        // No routing: the legacy table (P1 15 min / 2 h), position from the device.
        let plain = new_incident(
            &server,
            &http,
            json!({"title": "Card down", "severity": "P1", "category": "Device", "device_id": id_of(&device)}),
        )
        .await;
        assert_eq!(plain["status"], "open", "{}", backends.label());
        assert_eq!(plain["category"], "device_down");
        assert_eq!(plain["sla_source"], "default");
        assert_eq!(
            minutes_between(&plain["opened_at"], &plain["respond_by"]),
            15
        );
        assert_eq!(
            minutes_between(&plain["opened_at"], &plain["restore_by"]),
            120
        );
        assert_eq!(plain["pon_id"], pon_id.as_str());
        assert_eq!(plain["ward"], "Ward 7");
        assert_eq!(plain["lat"], -26.2);

        // A technical organization assigned to the PON with a contract: routed, contract SLA.
        let organization = id_of(
            &ok(http
                .post(server.url("/v1/organizations"))
                .json(&json!({"name": "Fibre Fixers", "type": "Technical"})))
            .await,
        );
        ok(http.post(server.url("/v1/contracts")).json(&json!({
            "organization_id": organization, "scope_type": "Technical", "sla_p2_min": 180,
        })))
        .await;
        ok(http.post(server.url("/v1/assignments")).json(
            &json!({"organization_id": organization, "pon_id": pon_id, "step_type": "maintenance"}),
        ))
        .await;
        let routed = new_incident(
            &server,
            &http,
            json!({"title": "LOS on PON", "severity": "P2", "category": "los", "pon_id": pon_id}),
        )
        .await;
        assert_eq!(routed["assigned_org_id"], organization.as_str());
        assert_eq!(routed["sla_source"], "contract");
        assert_eq!(
            minutes_between(&routed["opened_at"], &routed["restore_by"]),
            180
        );
        assert_eq!(
            minutes_between(&routed["opened_at"], &routed["respond_by"]),
            30
        );
        assert_eq!(routed["lat"], -26.1, "position from the PON");

        // Power faults are maintenance work: no technical contract applies.
        let power = new_incident(
            &server,
            &http,
            json!({"title": "Mains off", "severity": "P2", "category": "Power", "pon_id": pon_id}),
        )
        .await;
        assert_eq!(power["sla_source"], "default");

        // Bad input names the field.
        let (status, body) = call(
            http.post(server.url("/v1/incidents"))
                .json(&json!({"title": " ", "severity": "P9", "category": "plumbing"})),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let detail = body["detail"].as_str().unwrap();
        for field in ["incident.title", "incident.severity", "incident.category"] {
            assert!(detail.contains(field), "{field} in {detail}");
        }
        let (status, _) = call(http.post(server.url("/v1/incidents")).json(
            &json!({"title": "x", "severity": "P1", "device_id": uuid::Uuid::now_v7().to_string()}),
        ))
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);

        // Filters and literal search.
        let p1 = ok(http.get(server.url("/v1/incidents?severity=P1"))).await;
        assert_eq!(p1["incidents"].as_array().unwrap().len(), 1);
        let searched = ok(http.get(server.url("/v1/incidents?q=los%20ON"))).await;
        assert_eq!(searched["incidents"][0]["id"], routed["id"]);
        let (status, _) = call(http.get(server.url("/v1/incidents?status=bogus"))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);

        // Assign the plain one: SLA from the organization's contract.
        let assigned = ok(http
            .post(server.url(&format!("/v1/incidents/{}/assign", id_of(&plain))))
            .json(&json!({"organization_id": organization})))
        .await;
        assert_eq!(assigned["assigned_org_id"], organization.as_str());
        let (status, _) = call(
            http.post(server.url(&format!("/v1/incidents/{}/assign", id_of(&plain))))
                .json(&json!({"organization_id": uuid::Uuid::now_v7().to_string()})),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        server.stop().await;
    }
}

#[tokio::test]
async fn status_machine_and_closure_evidence() {
    for backends in backend_sets() {
        let server = TestServer::start(&backends).await;
        let http = server.http_as(&server.admin_token().await);
        let incident = new_incident(
            &server,
            &http,
            json!({"title": "Flapping", "severity": "P3"}),
        )
        .await;
        let id = id_of(&incident);

        let (status, body) = transition(&server, &http, &id, "monitoring").await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{}", backends.label());
        assert_eq!(body["code"], "FAILED_PRECONDITION");
        let detail = body["detail"].as_str().unwrap();
        assert!(
            detail.contains("open") && detail.contains("monitoring"),
            "{detail}"
        );
        let (status, body) = transition(&server, &http, &id, "sideways").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["code"], "INVALID_ARGUMENT");

        let (status, acked) = transition(&server, &http, &id, "acknowledged").await;
        assert_eq!(status, StatusCode::OK);
        assert!(acked["acknowledged_at"].is_string());
        assert_eq!(acked["breached_respond"], false);
        let (_, working) = transition(&server, &http, &id, "in_progress").await;
        assert_eq!(working["status"], "in_progress");

        // Closing before resolution is an illegal move; closing needs every piece of evidence.
        let close = |body: Value| {
            call(
                http.post(server.url(&format!("/v1/incidents/{id}/close")))
                    .json(&body),
            )
        };
        let evidence = json!({
            "root_cause": "Dirty connector", "fix_code": "cleaned_connector",
            "lat": -26.2, "lng": 28.0, "photos": [{"object_key": "photos/closure/1.jpg"}],
        });
        let (status, body) = close(evidence.clone()).await;
        assert_eq!(body["code"], "FAILED_PRECONDITION", "{body}");
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let (_, resolved) = transition(&server, &http, &id, "resolved").await;
        assert!(resolved["resolved_at"].is_string());

        let (status, body) = close(json!({})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let fields: Vec<&str> = body["field_violations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["field"].as_str().unwrap())
            .collect();
        for field in ["root_cause", "fix_code", "lat", "photos"] {
            assert!(fields.contains(&field), "{field} in {body}");
        }
        let (status, body) = close(json!({
            "root_cause": "x", "fix_code": "duct_tape", "lat": -26.2, "lng": 28.0,
            "photos": [{"object_key": "../etc/passwd"}],
        }))
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let detail = body["detail"].as_str().unwrap();
        assert!(
            detail.contains("fix_code") && detail.contains("photos[0].object_key"),
            "{detail}"
        );
        let still = ok(http.get(server.url(&format!("/v1/incidents/{id}")))).await;
        assert_eq!(still["status"], "resolved", "nothing half-written");

        let (status, closed) = close(evidence).await;
        assert_eq!(status, StatusCode::OK, "{closed}");
        assert_eq!(closed["status"], "closed");
        assert_eq!(closed["fix_code"], "cleaned_connector");
        assert_eq!(
            closed["closure_photos"][0]["object_key"],
            "photos/closure/1.jpg"
        );
        assert!(closed["closed_at"].is_string());
        let (status, _) = transition(&server, &http, &id, "in_progress").await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "closed is final");

        // Every change is audited.
        let audit = ok(http.get(server.url(&format!(
            "/v1/audit-entries?resource_type=incident&resource_id={id}"
        ))))
        .await;
        assert_eq!(
            audit["entries"].as_array().unwrap().len(),
            5,
            "create, 3 transitions, close: {audit}"
        );
        server.stop().await;
    }
}

#[tokio::test]
async fn maintenance_windows_validate_and_list_active_ones() {
    for backends in backend_sets() {
        let server = TestServer::start(&backends).await;
        let http = server.http_as(&server.admin_token().await);
        let now = Utc::now();
        let at = |minutes: i64| (now + chrono::Duration::minutes(minutes)).to_rfc3339();
        let active = ok(http.post(server.url("/v1/maintenance-windows")).json(
            &json!({"scope": "global", "start_at": at(-5), "end_at": at(60), "reason": "splicing"}),
        ))
        .await;
        assert_eq!(active["scope"], "Global", "{}", backends.label());
        ok(http
            .post(server.url("/v1/maintenance-windows"))
            .json(&json!({"scope": "Global", "start_at": at(120), "end_at": at(180)})))
        .await;
        let (status, body) = call(
            http.post(server.url("/v1/maintenance-windows"))
                .json(&json!({"scope": "Global", "start_at": at(10), "end_at": at(5)})),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(
            body["detail"].as_str().unwrap().contains("window.end_at"),
            "{body}"
        );
        let (status, body) = call(
            http.post(server.url("/v1/maintenance-windows"))
                .json(&json!({"scope": "Device", "start_at": at(0), "end_at": at(5)})),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(
            body["detail"]
                .as_str()
                .unwrap()
                .contains("window.target_id")
        );
        let (status, _) = call(http.post(server.url("/v1/maintenance-windows")).json(&json!({
            "scope": "PON", "target_id": uuid::Uuid::now_v7().to_string(), "start_at": at(0), "end_at": at(5),
        })))
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "unknown target");

        let all = ok(http.get(server.url("/v1/maintenance-windows"))).await;
        assert_eq!(all["windows"].as_array().unwrap().len(), 2);
        let now_active = ok(http.get(server.url("/v1/maintenance-windows?active_now=true"))).await;
        assert_eq!(now_active["windows"].as_array().unwrap().len(), 1);
        assert_eq!(now_active["windows"][0]["id"], active["id"]);
        let path = format!("/v1/maintenance-windows/{}", id_of(&active));
        ok(http.delete(server.url(&path))).await;
        let (status, _) = call(http.get(server.url(&path))).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        server.stop().await;
    }
}

#[tokio::test]
async fn incidents_and_windows_of_one_tenant_are_invisible_to_another() {
    for backends in backend_sets() {
        let server = TestServer::start(&backends).await;
        let mine = server.http_as(&server.admin_token().await);
        let theirs = server.http_as(&server.admin_token_in("rival-isp").await);
        let incident =
            new_incident(&server, &mine, json!({"title": "Mine", "severity": "P2"})).await;
        let id = id_of(&incident);
        let path = format!("/v1/incidents/{id}");
        let (status, _) = call(theirs.get(server.url(&path))).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{}", backends.label());
        let (status, _) = call(
            theirs
                .patch(server.url(&path))
                .json(&json!({"title": "Theirs"})),
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _) = call(
            theirs
                .post(server.url(&format!("{path}/transition")))
                .json(&json!({"status": "acknowledged"})),
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _) = call(theirs.get(server.url(&format!("{path}/signals")))).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let listed = ok(theirs.get(server.url("/v1/incidents"))).await;
        assert!(listed["incidents"].as_array().unwrap().is_empty());

        let now = Utc::now();
        let window = ok(mine.post(server.url("/v1/maintenance-windows")).json(&json!({
            "scope": "Global", "start_at": now.to_rfc3339(), "end_at": (now + chrono::Duration::hours(1)).to_rfc3339(),
        })))
        .await;
        let window_path = format!("/v1/maintenance-windows/{}", id_of(&window));
        let (status, _) = call(theirs.get(server.url(&window_path))).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _) = call(theirs.delete(server.url(&window_path))).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let listed = ok(theirs.get(server.url("/v1/maintenance-windows"))).await;
        assert!(listed["windows"].as_array().unwrap().is_empty());
        ok(mine.get(server.url(&window_path))).await;
        let unchanged = ok(mine.get(server.url(&path))).await;
        assert_eq!(unchanged["title"], "Mine");
        server.stop().await;
    }
}
