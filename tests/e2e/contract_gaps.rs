//! The contract gaps the old React client and the FastAPI side-by-side run found (issue 13):
//! every role's dashboard pair, Express messages, due times that keep their time, webhook
//! payload types, the core vocabulary, same-status moves and the registration password rule.

use kasi_fiber::proto::v1::GetTaskRequest;
use kasi_fiber::proto::v1::task_service_client::TaskServiceClient;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{
    Bearer, TEST_PASSWORD, TestServer, backend_sets, call, id_of, ok, unique_name,
};
use crate::legacy_buildout::legacy_client;

const ROLES: [&str; 6] = ["ADMIN", "PM", "SITE", "SMME", "AUDITOR", "NOC"];

async fn new_pon(server: &TestServer, http: &reqwest::Client) -> String {
    let code = unique_name("PON");
    id_of(
        &ok(http
            .post(server.url("/v1/pons"))
            .json(&json!({"pon_code": code, "name": code, "ward": "Ward 13", "fiber_count": 24})))
        .await,
    )
}

/// An SMME user of a new organization (SMME users belong to one).
async fn smme_token(server: &TestServer, admin: &str) -> String {
    let rest = server.http_as(admin);
    let organization = id_of(
        &ok(rest
            .post(server.url("/v1/organizations"))
            .json(&json!({"name": unique_name("Crew"), "type": "Civil"})))
        .await,
    );
    let email = format!("{}@example.test", unique_name("smme"));
    ok(rest.post(server.url("/v1/users")).json(&json!({
        "name": "Crew Lead", "email": email, "password": TEST_PASSWORD, "role": "SMME",
        "organization_id": organization
    })))
    .await;
    server.login(&email, TEST_PASSWORD).await
}

#[tokio::test]
async fn every_role_loads_the_dashboard_pair_and_the_client_screens() {
    for backends in backend_sets() {
        let server = TestServer::start(&backends).await;
        let admin = server.admin_token().await;
        for role in ROLES {
            let token = match role {
                "ADMIN" => admin.clone(),
                "SMME" => smme_token(&server, &admin).await,
                _ => server.user_token(&admin, role).await,
            };
            let http = legacy_client(&token);
            // The screens of legacy-api §7; optical readings stay with the operator's roles.
            for path in [
                "/api/auth/user",
                "/api/reports/dashboard",
                "/api/reports/ops",
                "/api/pons",
                "/api/tasks",
                "/api/incidents?status=open",
                "/api/reports/pons",
                "/api/reports/tasks",
                "/api/reports/export/pons",
                "/api/optics?days=7",
            ] {
                let response = http.get(server.url(path)).send().await.unwrap();
                let expected = if role == "SMME" && path.starts_with("/api/optics") {
                    StatusCode::FORBIDDEN
                } else {
                    StatusCode::OK
                };
                assert_eq!(
                    response.status(),
                    expected,
                    "{role} {path} on {}",
                    backends.label()
                );
            }
            let ops = ok(http.get(server.url("/api/reports/ops"))).await;
            assert!(ops["mttrHours"].is_number(), "{role}: {ops}");
            assert!(ops["uptimeByWard"].is_array(), "{role}: {ops}");
        }
        server.stop().await;
    }
}

#[tokio::test]
async fn completing_without_evidence_answers_the_express_message() {
    for backends in backend_sets() {
        let server = TestServer::start(&backends).await;
        let token = server.admin_token().await;
        let rest = server.http_as(&token);
        let pon = new_pon(&server, &rest).await;
        let task = ok(rest.post(server.url("/v1/tasks")).json(&json!({
            "pon_id": pon, "title": "Splice", "step": "installation", "evidence_required": true
        })))
        .await;
        let id = id_of(&task);
        let legacy = legacy_client(&token);
        let status = |status: &str| {
            legacy
                .put(server.url(&format!("/api/tasks/{id}/status")))
                .json(&json!({ "status": status }))
        };
        ok(status("in_progress")).await;
        for request in [
            status("completed"),
            legacy
                .patch(server.url(&format!("/api/tasks/{id}")))
                .json(&json!({"status": "completed"})),
        ] {
            assert_eq!(
                call(request).await,
                (
                    StatusCode::BAD_REQUEST,
                    json!({"message": "Evidence photos required before marking as completed"})
                ),
                "{}",
                backends.label()
            );
        }
        server.stop().await;
    }
}

#[tokio::test]
async fn due_times_keep_their_time_on_every_surface() {
    for backends in backend_sets() {
        let server = TestServer::start(&backends).await;
        let token = server.admin_token().await;
        let rest = server.http_as(&token);
        let me = ok(rest.get(server.url("/v1/auth/me"))).await;
        let pon = new_pon(&server, &rest).await;
        let legacy = legacy_client(&token);
        let due = "2026-12-08T15:30:00.000Z";

        // Legacy: created and listed with the time.
        let created = ok(legacy.post(server.url("/api/tasks")).json(&json!({
            "title": "Splice box 13", "type": "installation", "pon": pon,
            "assignedTo": id_of(&me), "dueDate": due
        })))
        .await;
        assert_eq!(created["dueDate"], due, "{}: {created}", backends.label());
        let id = created["_id"].as_str().unwrap().to_string();
        let listed = ok(legacy.get(server.url("/api/tasks"))).await;
        let listed = listed
            .as_array()
            .unwrap()
            .iter()
            .find(|task| task["_id"] == id.as_str())
            .unwrap();
        assert_eq!(listed["dueDate"], due);
        let report = ok(legacy.get(server.url("/api/reports/tasks"))).await;
        assert!(
            report
                .as_array()
                .unwrap()
                .iter()
                .any(|task| task["dueDate"] == due),
            "{report}"
        );

        // REST (transcoded): the instant, and the day as its date part.
        let task = ok(rest.get(server.url(&format!("/v1/tasks/{id}")))).await;
        assert_eq!(task["due_at"], "2026-12-08T15:30:00Z", "{task}");
        assert_eq!(task["due_date"], "2026-12-08");
        let posted = ok(rest.post(server.url("/v1/tasks")).json(&json!({
            "pon_id": pon, "title": "Over REST", "step": "installation",
            "due_at": "2026-12-08T15:30:00Z"
        })))
        .await;
        assert_eq!(posted["due_at"], "2026-12-08T15:30:00Z", "{posted}");
        // A day alone: the end of that day in the tenant's zone (Johannesburg, UTC+2).
        let day_only = ok(rest.post(server.url("/v1/tasks")).json(&json!({
            "pon_id": pon, "title": "By the day", "step": "installation",
            "due_date": "2026-12-08"
        })))
        .await;
        assert_eq!(day_only["due_at"], "2026-12-08T22:00:00Z", "{day_only}");
        assert_eq!(day_only["due_date"], "2026-12-08");

        // gRPC: the timestamp.
        let mut grpc =
            TaskServiceClient::with_interceptor(server.channel().await, Bearer::new(&token));
        let task = grpc
            .get_task(GetTaskRequest { id: id.clone() })
            .await
            .unwrap()
            .into_inner();
        let at = task.due_at.expect("due_at");
        assert_eq!(
            chrono::DateTime::from_timestamp(at.seconds, at.nanos as u32)
                .unwrap()
                .to_rfc3339(),
            "2026-12-08T15:30:00+00:00"
        );
        assert_eq!(task.due_date, "2026-12-08");
        server.stop().await;
    }
}

#[tokio::test]
async fn core_paths_keep_the_core_vocabulary_and_same_status_moves_are_no_ops() {
    for backends in backend_sets() {
        let server = TestServer::start(&backends).await;
        let token = server.admin_token().await;
        let rest = server.http_as(&token);
        let pon = new_pon(&server, &rest).await;
        let organization = id_of(
            &ok(rest
                .post(server.url("/v1/organizations"))
                .json(&json!({"name": unique_name("Crew"), "type": "Civil"})))
            .await,
        );
        ok(rest.post(server.url("/v1/assignments")).json(
            &json!({"organization_id": organization, "pon_id": pon, "step_type": "cac_check"}),
        ))
        .await;
        let task = ok(rest.post(server.url("/v1/tasks")).json(&json!({
            "pon_id": pon, "title": "CAC", "step": "CAC"
        })))
        .await;
        let id = id_of(&task);
        for path in ["/tasks/work-queue", "/work-queue"] {
            let queue = ok(rest.get(server.url(path)).header("x-org-id", &organization)).await;
            assert_eq!(queue[0]["status"], "Pending", "{path}: {queue}");
        }

        // The same status again: 200, nothing changes, on the core, REST and legacy paths.
        let patch = |status: &str| {
            rest.patch(server.url(&format!("/tasks/{id}")))
                .json(&json!({ "status": status }))
        };
        let first = ok(patch("In Progress")).await;
        let before = ok(rest.get(server.url(&format!("/v1/tasks/{id}")))).await;
        assert_eq!(
            ok(patch("In Progress")).await,
            first,
            "{}",
            backends.label()
        );
        let moved = ok(rest
            .post(server.url(&format!("/v1/tasks/{id}/transition")))
            .json(&json!({"status": "in_progress"})))
        .await;
        assert_eq!(moved["updated_at"], before["updated_at"]);
        let legacy = legacy_client(&token);
        ok(legacy
            .put(server.url(&format!("/api/tasks/{id}/status")))
            .json(&json!({"status": "in_progress"})))
        .await;
        let after = ok(rest.get(server.url(&format!("/v1/tasks/{id}")))).await;
        assert_eq!(after, before, "a same-status move writes nothing");
        let queue = ok(rest
            .get(server.url("/work-queue"))
            .header("x-org-id", &organization))
        .await;
        assert_eq!(queue[0]["status"], "In Progress");

        // Core devices: absent text is null.
        let device = ok(rest
            .post(server.url("/devices"))
            .json(&json!({"name": unique_name("olt"), "role": "OLT"})))
        .await;
        for key in ["vendor", "model", "serial", "mgmt_ip", "site"] {
            assert_eq!(device[key], Value::Null, "{key}: {device}");
        }
        server.stop().await;
    }
}

#[tokio::test]
async fn a_short_password_is_named_in_the_express_validator_shape() {
    for backends in backend_sets() {
        let server = TestServer::start(&backends).await;
        let email = format!("{}@example.com", unique_name("short"));
        let (status, body) = call(reqwest::Client::new().post(server.url("/api/auth/register")).json(
            &json!({"name": "Sipho", "email": email, "password": "1234567", "role": "site_manager"}),
        ))
        .await;
        assert_eq!(
            (status, body),
            (
                StatusCode::BAD_REQUEST,
                json!({"errors": [{
                    "type": "field", "value": "1234567",
                    "msg": "Please enter a password with 8 or more characters",
                    "path": "password", "location": "body"
                }]})
            ),
            "{}",
            backends.label()
        );
        server.stop().await;
    }
}

mod webhooks {
    use reqwest::StatusCode;

    use crate::harness::{TestServer, backend_sets};
    use crate::webhooks::{SECRET, post_signed};

    #[tokio::test]
    async fn malformed_alerts_are_refused_naming_the_field() {
        for backends in backend_sets() {
            let server = TestServer::start_with(&backends, |config| {
                config.webhooks.nms_hmac_secret = Some(SECRET.into());
                config.webhooks.webhook_ip_limit = 10_000;
            })
            .await;
            for (path, body, field) in [
                (
                    "/webhooks/zabbix",
                    r#"{"host": {"nested": true}, "event_id": 5}"#,
                    "host",
                ),
                (
                    "/webhooks/zabbix",
                    r#"{"host": "OLT-01", "severity": ["High"]}"#,
                    "severity",
                ),
                (
                    "/webhooks/zabbix",
                    r#"{"host": "OLT-01", "name": {"x": 1}}"#,
                    "name",
                ),
                ("/webhooks/zabbix", "{}", "host"),
                (
                    "/webhooks/librenms",
                    r#"{"hostname": {"nested": true}}"#,
                    "hostname",
                ),
                (
                    "/webhooks/librenms",
                    r#"{"hostname": "OLT-01", "alert_id": [1]}"#,
                    "alert_id",
                ),
                ("/webhooks/librenms", r#"{"device": "OLT-01"}"#, "device"),
                ("/webhooks/librenms", "{}", "hostname"),
            ] {
                let (status, answer) = post_signed(&server, path, body).await;
                assert_eq!(status, StatusCode::BAD_REQUEST, "{path} {body}: {answer}");
                let detail = answer["detail"].as_str().unwrap_or_default();
                assert!(
                    detail.starts_with(&format!("{field}:")),
                    "{path} {body} on {}: {answer}",
                    backends.label()
                );
                if body == "{}" {
                    assert!(
                        detail.contains("no host, IP, serial or trigger"),
                        "{answer}"
                    );
                }
            }
            // A clear that names only its event is still taken.
            let (status, answer) = post_signed(
                &server,
                "/webhooks/zabbix",
                r#"{"event_id": "nothing-open", "problem": false}"#,
            )
            .await;
            assert_eq!(status, StatusCode::OK, "{answer}");
            server.stop().await;
        }
    }
}
