//! Tasks end to end: CRUD over REST, the state machine with its times, dependencies, SLA due
//! times and breaches, the evidence gate, PON progress, bad input named by field with nothing
//! written, and tenant isolation.

use std::sync::Arc;

use chrono::{DateTime, Duration, SubsecRound, Utc};
use kasi_fiber::auth::{Principal, Role};
use kasi_fiber::clock::SystemClock;
use kasi_fiber::context::RequestContext;
use kasi_fiber::error::{AppError, AppResult};
use kasi_fiber::tasks::service::Transition;
use kasi_fiber::tasks::{EvidenceGate, TaskService, model};
use reqwest::StatusCode;
use sea_orm::EntityTrait;
use serde_json::{Value, json};

use kasi_fiber::proto::v1::task_service_client::TaskServiceClient;
use kasi_fiber::proto::v1::{CreateTaskRequest, Task, TransitionTaskRequest};
use tonic::Code;

use crate::harness::{
    Bearer, TEST_PASSWORD, TestServer, backend_sets, call, id_of, ok, unique_name, violated_fields,
};

/// The fields named by a REST error's violations.
pub fn fields(body: &Value) -> Vec<&str> {
    body["field_violations"]
        .as_array()
        .unwrap_or_else(|| panic!("no violations in {body}"))
        .iter()
        .map(|v| v["field"].as_str().unwrap())
        .collect()
}

fn rfc3339(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn time_of(body: &Value, key: &str) -> DateTime<Utc> {
    body[key]
        .as_str()
        .unwrap_or_else(|| panic!("no {key} in {body}"))
        .parse()
        .unwrap()
}

async fn new_pon(server: &TestServer, http: &reqwest::Client, ward: &str) -> String {
    let code = unique_name("PON");
    id_of(
        &ok(http
            .post(server.url("/v1/pons"))
            .json(&json!({"pon_code": code, "name": code, "ward": ward, "fiber_count": 24})))
        .await,
    )
}

async fn new_task(server: &TestServer, http: &reqwest::Client, body: Value) -> Value {
    ok(http.post(server.url("/v1/tasks")).json(&body)).await
}

/// Moves a task to `status` (with extra body keys) and returns the status and body.
async fn transition(
    server: &TestServer,
    http: &reqwest::Client,
    id: &str,
    body: Value,
) -> (StatusCode, Value) {
    call(
        http.post(server.url(&format!("/v1/tasks/{id}/transition")))
            .json(&body),
    )
    .await
}

async fn moved(server: &TestServer, http: &reqwest::Client, id: &str, status: &str) -> Value {
    let (code, body) = transition(server, http, id, json!({"status": status})).await;
    assert_eq!(code, StatusCode::OK, "to {status}: {body}");
    assert_eq!(body["status"], status);
    body
}

async fn pon(server: &TestServer, http: &reqwest::Client, id: &str) -> Value {
    ok(http.get(server.url(&format!("/v1/pons/{id}")))).await
}

async fn task_count(server: &TestServer, http: &reqwest::Client) -> usize {
    ok(http.get(server.url("/v1/tasks?page_size=500"))).await["tasks"]
        .as_array()
        .map_or(0, Vec::len)
}

#[tokio::test]
async fn tasks_crud_over_rest() {
    for backends in backend_sets() {
        let server = TestServer::start(&backends).await;
        let http = server.http_as(&server.admin_token().await);
        let pon_id = new_pon(&server, &http, "Ward 1").await;
        let created = new_task(
            &server,
            &http,
            json!({"pon_id": pon_id, "title": " Check CAC ", "step": "cac_check",
                   "due_date": "2026-12-31", "estimated_hours": 4.5}),
        )
        .await;
        let id = id_of(&created);
        assert_eq!(created["title"], "Check CAC");
        assert_eq!(created["step"], "CAC", "legacy cac_check is the CAC step");
        assert_eq!(created["priority"], "medium");
        assert_eq!(created["status"], "pending");
        assert_eq!(created["due_date"], "2026-12-31");
        assert!(!created["created_by"].as_str().unwrap().is_empty());

        let other = new_task(
            &server,
            &http,
            json!({"pon_id": pon_id, "title": "String it", "step": "Stringing", "priority": "high"}),
        )
        .await;
        let found = ok(http.get(server.url(&format!("/v1/tasks/{id}")))).await;
        assert_eq!(found, created);

        let by_step =
            ok(http.get(server.url(&format!("/v1/tasks?pon_id={pon_id}&step=stringing")))).await;
        assert_eq!(by_step["tasks"].as_array().unwrap().len(), 1);
        assert_eq!(by_step["tasks"][0]["id"], other["id"]);
        let page =
            ok(http.get(server.url(&format!("/v1/tasks?pon_id={pon_id}&page_size=1")))).await;
        assert_eq!(page["tasks"].as_array().unwrap().len(), 1);
        assert!(!page["next_page_token"].as_str().unwrap().is_empty());

        let updated = ok(http
            .patch(server.url(&format!("/v1/tasks/{id}")))
            .json(&json!({"title": "Check CAC again", "actual_hours": 2.0})))
        .await;
        assert_eq!(updated["title"], "Check CAC again");
        assert_eq!(updated["actual_hours"], 2.0);
        assert_eq!(updated["estimated_hours"], 4.5, "unnamed fields are kept");
        let (status, body) = call(
            http.patch(server.url(&format!("/v1/tasks/{id}?update_mask=status")))
                .json(&json!({"status": "completed"})),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(fields(&body), ["update_mask"]);
        assert!(
            body["detail"].as_str().unwrap().contains("TransitionTask"),
            "{body}"
        );

        let (status, _) = call(http.delete(server.url(&format!("/v1/tasks/{id}")))).await;
        assert_eq!(status, StatusCode::OK);
        let audit = ok(http.get(server.url(&format!(
            "/v1/audit-entries?resource_type=task&resource_id={id}"
        ))))
        .await;
        let mut actions: Vec<&str> = audit["entries"]
            .as_array()
            .unwrap_or_else(|| panic!("no entries in {audit}"))
            .iter()
            .map(|entry| entry["action"].as_str().unwrap())
            .collect();
        actions.sort();
        assert_eq!(actions, ["create", "delete", "update"]);
        let (status, _) = call(http.get(server.url(&format!("/v1/tasks/{id}")))).await;
        assert_eq!(status, StatusCode::NOT_FOUND);

        let site = server.http_as(
            &server
                .user_token(&server.admin_token().await, "ROLE_SITE")
                .await,
        );
        // A site manager adds tasks to the PONs they run (tasks are visible by role).
        let site_id = id_of(&ok(site.get(server.url("/v1/auth/me"))).await);
        ok(http
            .patch(server.url(&format!("/v1/pons/{pon_id}")))
            .json(&json!({"site_manager_id": site_id})))
        .await;
        new_task(
            &server,
            &site,
            json!({"pon_id": pon_id, "title": "By site", "step": "other"}),
        )
        .await;
        let auditor = server.http_as(
            &server
                .user_token(&server.admin_token().await, "ROLE_AUDITOR")
                .await,
        );
        let (status, _) = call(
            auditor
                .post(server.url("/v1/tasks"))
                .json(&json!({"pon_id": pon_id, "title": "No", "step": "other"})),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert!(task_count(&server, &auditor).await >= 2, "every role reads");
        server.stop().await;
    }
}

#[tokio::test]
async fn the_state_machine_allows_only_legal_moves() {
    for backends in backend_sets() {
        let server = TestServer::start(&backends).await;
        let http = server.http_as(&server.admin_token().await);
        let pon_id = new_pon(&server, &http, "Ward 2").await;
        let task = |title: &str| json!({"pon_id": pon_id, "title": title, "step": "Permissions"});

        let id = id_of(&new_task(&server, &http, task("Walk")).await);
        moved(&server, &http, &id, "on_hold").await;
        moved(&server, &http, &id, "pending").await;
        let started = moved(&server, &http, &id, "in_progress").await;
        assert!(started["started_at"].is_string());
        moved(&server, &http, &id, "on_hold").await;
        let (status, body) = transition(&server, &http, &id, json!({"status": "pending"})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["code"], "FAILED_PRECONDITION");
        assert!(
            body["detail"]
                .as_str()
                .unwrap()
                .contains("`on_hold` to `pending`"),
            "{body}"
        );
        let resumed = moved(&server, &http, &id, "in_progress").await;
        assert_eq!(resumed["started_at"], started["started_at"]);
        assert_eq!(
            resumed["sla_due_at"], started["sla_due_at"],
            "fixed at the first start"
        );
        let done = moved(&server, &http, &id, "completed").await;
        assert!(done["completed_at"].is_string());
        for illegal in ["cancelled", "in_progress", "pending", "on_hold"] {
            let (status, body) = transition(&server, &http, &id, json!({"status": illegal})).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
            assert_eq!(body["code"], "FAILED_PRECONDITION");
            let detail = body["detail"].as_str().unwrap();
            assert!(
                detail.contains("`completed`") && detail.contains(&format!("`{illegal}`")),
                "{detail}"
            );
        }

        for from in ["pending", "in_progress", "on_hold"] {
            let id = id_of(&new_task(&server, &http, task(from)).await);
            if from != "pending" {
                moved(&server, &http, &id, "in_progress").await;
            }
            if from == "on_hold" {
                moved(&server, &http, &id, "on_hold").await;
            }
            moved(&server, &http, &id, "cancelled").await;
            let (status, body) =
                transition(&server, &http, &id, json!({"status": "in_progress"})).await;
            assert_eq!(body["code"], "FAILED_PRECONDITION", "{status} {body}");
        }
        let fresh = id_of(&new_task(&server, &http, task("Skip")).await);
        let (_, body) = transition(&server, &http, &fresh, json!({"status": "completed"})).await;
        assert!(
            body["detail"]
                .as_str()
                .unwrap()
                .contains("`pending` to `completed`"),
            "{body}"
        );
        let (status, body) = transition(&server, &http, &fresh, json!({"status": "done"})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(fields(&body), ["status"]);
        server.stop().await;
    }
}

#[tokio::test]
async fn dependencies_gate_the_start_and_never_form_a_cycle() {
    for backends in backend_sets() {
        let server = TestServer::start(&backends).await;
        let http = server.http_as(&server.admin_token().await);
        let pon_id = new_pon(&server, &http, "Ward 3").await;
        let first = id_of(
            &new_task(
                &server,
                &http,
                json!({"pon_id": pon_id, "title": "Plant", "step": "PolePlanting"}),
            )
            .await,
        );
        let second = id_of(
            &new_task(&server, &http, json!({"pon_id": pon_id, "title": "String", "step": "Stringing", "dependencies": [first]}))
                .await,
        );
        let (status, body) =
            transition(&server, &http, &second, json!({"status": "in_progress"})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["code"], "FAILED_PRECONDITION");
        assert!(body["detail"].as_str().unwrap().contains(&first), "{body}");

        let (status, body) = call(
            http.patch(server.url(&format!("/v1/tasks/{first}")))
                .json(&json!({"dependencies": [second]})),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(fields(&body), ["task.dependencies"]);
        assert!(body["detail"].as_str().unwrap().contains("cycle"));

        let elsewhere = new_pon(&server, &http, "Ward 3").await;
        let (status, body) = call(http.post(server.url("/v1/tasks")).json(
            &json!({"pon_id": elsewhere, "title": "Far", "step": "other", "dependencies": [first]}),
        ))
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(fields(&body), ["task.dependencies"]);

        let (status, body) = call(http.delete(server.url(&format!("/v1/tasks/{first}")))).await;
        assert_eq!(body["code"], "FAILED_PRECONDITION", "{status} {body}");

        moved(&server, &http, &first, "in_progress").await;
        moved(&server, &http, &first, "completed").await;
        moved(&server, &http, &second, "in_progress").await;
        server.stop().await;
    }
}

#[tokio::test]
async fn sla_due_time_is_fixed_at_the_start_and_breach_decided_at_completion() {
    for backends in backend_sets() {
        let server = TestServer::start(&backends).await;
        let http = server.http_as(&server.admin_token().await);
        let pon_id = new_pon(&server, &http, "Ward 4").await;
        let now = Utc::now().trunc_subsecs(0);
        let started = now - Duration::hours(3);

        for (completed_after, breached) in [
            (Duration::minutes(90), true),
            (Duration::minutes(30), false),
        ] {
            let id = id_of(
                &new_task(
                    &server,
                    &http,
                    json!({"pon_id": pon_id, "title": "Quick", "step": "CAC", "sla_minutes": 60}),
                )
                .await,
            );
            let (status, body) = transition(
                &server,
                &http,
                &id,
                json!({"status": "in_progress", "started_at": rfc3339(started)}),
            )
            .await;
            assert_eq!(status, StatusCode::OK, "{body}");
            assert_eq!(time_of(&body, "started_at"), started);
            assert_eq!(
                time_of(&body, "sla_due_at"),
                started + Duration::minutes(60)
            );
            let (status, body) = transition(
                &server,
                &http,
                &id,
                json!({"status": "completed", "completed_at": rfc3339(started + completed_after)}),
            )
            .await;
            assert_eq!(status, StatusCode::OK, "{body}");
            assert_eq!(body["breached"], breached, "{body}");
        }

        // The step default when neither the task nor a contract sets one.
        let id = id_of(
            &new_task(
                &server,
                &http,
                json!({"pon_id": pon_id, "title": "Wayleave", "step": "Permissions"}),
            )
            .await,
        );
        let body = moved(&server, &http, &id, "in_progress").await;
        assert_eq!(
            time_of(&body, "sla_due_at") - time_of(&body, "started_at"),
            Duration::minutes(4320)
        );

        // The organization's active contract, by the task's priority (medium is P3).
        let organization = id_of(
            &ok(http
                .post(server.url("/v1/organizations"))
                .json(&json!({"name": "Contracted", "type": "Civil"})))
            .await,
        );
        ok(http.post(server.url("/v1/contracts")).json(&json!({
            "organization_id": organization, "scope_type": "Civil", "sla_p3_min": 90
        })))
        .await;
        let id = id_of(
            &new_task(
                &server,
                &http,
                json!({"pon_id": pon_id, "title": "Contracted", "step": "Permissions",
                       "organization_id": organization}),
            )
            .await,
        );
        let body = moved(&server, &http, &id, "in_progress").await;
        assert_eq!(
            time_of(&body, "sla_due_at") - time_of(&body, "started_at"),
            Duration::minutes(90)
        );

        // Explicit times are validated.
        let id = id_of(
            &new_task(
                &server,
                &http,
                json!({"pon_id": pon_id, "title": "Late", "step": "CAC"}),
            )
            .await,
        );
        let (status, body) = transition(
            &server,
            &http,
            &id,
            json!({"status": "in_progress", "started_at": rfc3339(now + Duration::hours(2))}),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(fields(&body), ["started_at"]);
        transition(
            &server,
            &http,
            &id,
            json!({"status": "in_progress", "started_at": rfc3339(started)}),
        )
        .await;
        let (status, body) = transition(
            &server,
            &http,
            &id,
            json!({"status": "completed", "completed_at": rfc3339(started - Duration::hours(1))}),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(fields(&body), ["completed_at"]);
        server.stop().await;
    }
}

/// A gate that passes or refuses as told.
struct FixedGate(bool);

#[async_trait::async_trait]
impl EvidenceGate for FixedGate {
    async fn check(&self, _: &RequestContext, _: &model::Model) -> AppResult<()> {
        if self.0 {
            Ok(())
        } else {
            Err(AppError::FailedPrecondition("no evidence".into()))
        }
    }
}

#[tokio::test]
async fn completion_with_required_evidence_goes_through_the_gate() {
    for backends in backend_sets() {
        let server = TestServer::start(&backends).await;
        let http = server.http_as(&server.admin_token().await);
        let pon_id = new_pon(&server, &http, "Ward 5").await;
        let body =
            json!({"pon_id": pon_id, "title": "Photo", "step": "CAC", "evidence_required": true});
        let id = id_of(&new_task(&server, &http, body.clone()).await);
        moved(&server, &http, &id, "in_progress").await;
        let (status, answer) =
            transition(&server, &http, &id, json!({"status": "completed"})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(answer["code"], "FAILED_PRECONDITION");
        assert_eq!(
            answer["detail"],
            "Photo with valid EXIF and within geofence required"
        );

        let db = kasi_fiber::storage::db::connect(&server.config.database, &server.config.data_dir)
            .await
            .unwrap();
        let row = model::Entity::find_by_id(id.parse::<uuid::Uuid>().unwrap())
            .one(&db)
            .await
            .unwrap()
            .unwrap();
        let ctx = RequestContext::for_principal(Principal {
            user_id: None,
            tenant_id: row.tenant_id,
            role: Role::Admin,
            organization_id: None,
        });
        let complete = Transition {
            status: model::Status::Completed,
            started_at: None,
            completed_at: None,
        };
        let refusing = TaskService::new(
            db.clone(),
            Arc::new(SystemClock),
            Arc::new(FixedGate(false)),
        );
        let err = refusing
            .transition(&ctx, row.id, complete.clone())
            .await
            .unwrap_err();
        assert!(matches!(err, AppError::FailedPrecondition(_)), "{err:?}");
        let passing =
            TaskService::new(db.clone(), Arc::new(SystemClock), Arc::new(FixedGate(true)));
        let done = passing.transition(&ctx, row.id, complete).await.unwrap();
        assert_eq!(done.status(), model::Status::Completed);
        db.close().await.unwrap();

        // Without required evidence the gate is not asked.
        let id = id_of(
            &new_task(
                &server,
                &http,
                json!({"pon_id": pon_id, "title": "Plain", "step": "CAC"}),
            )
            .await,
        );
        moved(&server, &http, &id, "in_progress").await;
        moved(&server, &http, &id, "completed").await;
        server.stop().await;
    }
}

#[tokio::test]
async fn pon_progress_follows_its_tasks() {
    for backends in backend_sets() {
        let server = TestServer::start(&backends).await;
        let http = server.http_as(&server.admin_token().await);
        let pon_id = new_pon(&server, &http, "Ward 6").await;
        let mut ids = Vec::new();
        for title in ["A", "B", "C"] {
            ids.push(id_of(
                &new_task(
                    &server,
                    &http,
                    json!({"pon_id": pon_id, "title": title, "step": "other"}),
                )
                .await,
            ));
        }
        let state = |body: Value| {
            (
                body["progress"].as_i64().unwrap_or(0),
                body["status"].as_str().unwrap().to_string(),
            )
        };
        assert_eq!(
            state(pon(&server, &http, &pon_id).await),
            (0, "PON_STATUS_PLANNED".into())
        );
        moved(&server, &http, &ids[0], "in_progress").await;
        moved(&server, &http, &ids[0], "completed").await;
        assert_eq!(
            state(pon(&server, &http, &pon_id).await),
            (33, "PON_STATUS_IN_PROGRESS".into())
        );
        moved(&server, &http, &ids[1], "cancelled").await;
        assert_eq!(
            state(pon(&server, &http, &pon_id).await),
            (50, "PON_STATUS_IN_PROGRESS".into())
        );
        moved(&server, &http, &ids[2], "in_progress").await;
        moved(&server, &http, &ids[2], "completed").await;
        let done = pon(&server, &http, &pon_id).await;
        assert_eq!(state(done.clone()), (100, "PON_STATUS_COMPLETED".into()));
        assert_eq!(
            done["actual_end_date"],
            Utc::now().date_naive().format("%Y-%m-%d").to_string()
        );

        // A manual testing status is kept.
        let manual = new_pon(&server, &http, "Ward 6").await;
        ok(http
            .patch(server.url(&format!("/v1/pons/{manual}")))
            .json(&json!({"status": "PON_STATUS_TESTING"})))
        .await;
        let id = id_of(
            &new_task(
                &server,
                &http,
                json!({"pon_id": manual, "title": "T", "step": "testing"}),
            )
            .await,
        );
        moved(&server, &http, &id, "in_progress").await;
        moved(&server, &http, &id, "completed").await;
        assert_eq!(
            state(pon(&server, &http, &manual).await),
            (100, "PON_STATUS_TESTING".into())
        );
        server.stop().await;
    }
}

#[tokio::test]
async fn bad_task_input_names_the_field_and_writes_nothing() {
    for backends in backend_sets() {
        let server = TestServer::start(&backends).await;
        let http = server.http_as(&server.admin_token().await);
        let pon_id = new_pon(&server, &http, "Ward 7").await;
        let unknown = uuid::Uuid::now_v7().to_string();
        let with = |extra: Value| {
            let mut body = json!({"pon_id": pon_id, "title": "Bad", "step": "CAC"});
            body.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            body
        };
        let cases = [
            (with(json!({"pon_id": "not-a-uuid"})), vec!["task.pon_id"]),
            (with(json!({"pon_id": unknown})), vec!["task.pon_id"]),
            (
                with(json!({"assignee_id": unknown})),
                vec!["task.assignee_id"],
            ),
            (
                with(json!({"organization_id": unknown})),
                vec!["task.organization_id"],
            ),
            (
                with(json!({"estimated_hours": -1})),
                vec!["task.estimated_hours"],
            ),
            (
                with(json!({"actual_hours": -0.5, "sla_minutes": 0})),
                vec!["task.actual_hours", "task.sla_minutes"],
            ),
            (
                with(json!({"due_date": "31/12/2026"})),
                vec!["task.due_date"],
            ),
            (with(json!({"step": "Plumbing"})), vec!["task.step"]),
            (
                with(json!({"priority": "urgent", "title": " "})),
                vec!["task.title", "task.priority"],
            ),
            (
                with(json!({"dependencies": ["nope"]})),
                vec!["task.dependencies[0]"],
            ),
            (
                with(json!({"dependencies": [unknown]})),
                vec!["task.dependencies"],
            ),
        ];
        for (body, expected) in cases {
            let (status, answer) = call(http.post(server.url("/v1/tasks")).json(&body)).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{body} → {answer}");
            assert_eq!(fields(&answer), expected, "{body}");
        }
        assert_eq!(task_count(&server, &http).await, 0, "nothing was written");
        for path in [
            "/v1/tasks/not-a-uuid",
            "/v1/tasks?pon_id=nope",
            "/v1/tasks?status=done",
        ] {
            let (status, body) = call(http.get(server.url(path))).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
        }
        server.stop().await;
    }
}

#[tokio::test]
async fn tenants_are_isolated_for_tasks() {
    for backends in backend_sets() {
        let server = TestServer::start(&backends).await;
        let alpha = server.http_as(&server.admin_token_in("alpha").await);
        let beta = server.http_as(&server.admin_token_in("beta").await);
        let alpha_pon = new_pon(&server, &alpha, "Ward A").await;
        let beta_pon = new_pon(&server, &beta, "Ward B").await;
        let alpha_org = id_of(
            &ok(alpha
                .post(server.url("/v1/organizations"))
                .json(&json!({"name": "Alpha Civil", "type": "Civil"})))
            .await,
        );
        let alpha_user = id_of(&ok(alpha.get(server.url("/v1/auth/me"))).await);
        let task = id_of(
            &new_task(
                &server,
                &alpha,
                json!({"pon_id": alpha_pon, "title": "Mine", "step": "CAC",
                "organization_id": alpha_org, "assignee_id": alpha_user}),
            )
            .await,
        );
        let path = format!("/v1/tasks/{task}");
        assert_eq!(
            call(beta.get(server.url(&path))).await.0,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            call(
                beta.patch(server.url(&path))
                    .json(&json!({"title": "Theirs"}))
            )
            .await
            .0,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            transition(&server, &beta, &task, json!({"status": "cancelled"}))
                .await
                .0,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            call(beta.delete(server.url(&path))).await.0,
            StatusCode::NOT_FOUND
        );
        assert_eq!(task_count(&server, &beta).await, 0);

        let (status, body) = call(beta.post(server.url("/v1/tasks")).json(&json!({
            "pon_id": alpha_pon, "title": "Steal", "step": "CAC"
        })))
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(fields(&body), ["task.pon_id"]);
        let (status, body) = call(beta.post(server.url("/v1/tasks")).json(&json!({
            "pon_id": beta_pon, "title": "Borrow", "step": "CAC",
            "organization_id": alpha_org, "assignee_id": alpha_user
        })))
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(fields(&body), ["task.assignee_id", "task.organization_id"]);
        assert_eq!(ok(alpha.get(server.url(&path))).await["title"], "Mine");
        server.stop().await;
    }
}

#[tokio::test]
async fn core_patch_path_moves_tasks_and_keeps_its_keys() {
    for backends in backend_sets() {
        let server = TestServer::start(&backends).await;
        let http = server.http_as(&server.admin_token().await);
        let pon_id = new_pon(&server, &http, "Ward 8").await;
        let id = id_of(
            &new_task(
                &server,
                &http,
                json!({"pon_id": pon_id, "title": "Core", "step": "CAC", "sla_minutes": 30}),
            )
            .await,
        );
        let path = server.url(&format!("/tasks/{id}"));
        let started = Utc::now().trunc_subsecs(0) - Duration::hours(2);
        let body = ok(http
            .patch(&path)
            .json(&json!({"status": "In Progress", "started_at": rfc3339(started)})))
        .await;
        assert_eq!(body["ok"], true);
        assert_eq!(body["breached"], false);
        assert_eq!(
            time_of(&body, "sla_due_at"),
            started + Duration::minutes(30)
        );
        assert_eq!(body.as_object().unwrap().len(), 3, "{body}");

        let (status, body) = call(http.patch(&path).json(&json!({"status": "Pending"}))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(
            body["detail"]
                .as_str()
                .unwrap()
                .contains("`in_progress` to `pending`"),
            "{body}"
        );
        let (status, body) = call(
            http.patch(&path)
                .json(&json!({"status": "Done", "completed_at": "yesterday"})),
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            body["detail"].as_str().unwrap().starts_with("completed_at"),
            "{body}"
        );

        let body = ok(http.patch(&path).json(&json!({"status": "Done"}))).await;
        assert_eq!(
            body["breached"], true,
            "completed 90 minutes after its due time"
        );
        let task = ok(http.get(server.url(&format!("/v1/tasks/{id}")))).await;
        assert_eq!(task["status"], "completed");

        let missing = uuid::Uuid::now_v7();
        let (status, body) = call(
            http.patch(server.url(&format!("/tasks/{missing}")))
                .json(&json!({"status": "Done"})),
        )
        .await;
        assert_eq!(
            (status, body),
            (StatusCode::NOT_FOUND, json!({"detail": "Not found"}))
        );
        let (status, body) = call(
            http.patch(server.url("/tasks/not-a-uuid"))
                .json(&json!({"status": "Done"})),
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let (status, _) = call(
            reqwest::Client::new()
                .patch(&path)
                .json(&json!({"status": "Done"})),
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        server.stop().await;
    }
}

#[tokio::test]
async fn work_queue_routes_by_pon_and_ward_and_step() {
    for backends in backend_sets() {
        let server = TestServer::start(&backends).await;
        let http = server.http_as(&server.admin_token().await);
        let (ward_one, ward_two) = (unique_name("Ward"), unique_name("Ward"));
        let p1 = new_pon(&server, &http, &ward_one).await;
        let p2 = new_pon(&server, &http, &ward_two).await;
        let p3 = new_pon(&server, &http, &ward_one).await;
        let organization = |name: &str| {
            http.post(server.url("/v1/organizations"))
                .json(&json!({"name": name, "type": "Civil"}))
        };
        let routed = id_of(&ok(organization("Routed")).await);
        let idle = id_of(&ok(organization("Idle")).await);
        for assignment in [
            json!({"organization_id": routed, "pon_id": p1, "step_type": "cac_check"}),
            json!({"organization_id": routed, "ward": ward_two, "step_type": "stringing"}),
        ] {
            ok(http.post(server.url("/v1/assignments")).json(&assignment)).await;
        }
        let task = |pon: &str, step: &str, extra: Value| {
            let mut body = json!({"pon_id": pon, "title": step, "step": step});
            body.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            body
        };
        let plain = id_of(&new_task(&server, &http, task(&p1, "CAC", json!({}))).await);
        let plain_too = id_of(&new_task(&server, &http, task(&p1, "CAC", json!({}))).await);
        let dated = id_of(
            &new_task(
                &server,
                &http,
                task(&p1, "CAC", json!({"due_date": "2026-01-15"})),
            )
            .await,
        );
        let by_ward = id_of(&new_task(&server, &http, task(&p2, "Stringing", json!({}))).await);
        moved(&server, &http, &by_ward, "in_progress").await;
        new_task(&server, &http, task(&p1, "Stringing", json!({}))).await;
        new_task(&server, &http, task(&p3, "CAC", json!({}))).await;
        let closed = id_of(&new_task(&server, &http, task(&p1, "CAC", json!({}))).await);
        moved(&server, &http, &closed, "cancelled").await;

        let queue = |body: &Value, key: Option<&str>| -> Vec<String> {
            let list = key.map_or(body, |key| &body[key]);
            list.as_array().unwrap().iter().map(id_of).collect()
        };
        let expected = vec![by_ward.clone(), dated, plain, plain_too];
        let routed_queue = format!("/v1/work-queue?organization_id={routed}");
        let body = ok(http.get(server.url(&routed_queue))).await;
        assert_eq!(queue(&body, Some("tasks")), expected);
        // One task per page: the tokens walk the queue through set and unset due times and ties.
        let mut paged = Vec::new();
        let mut token = String::new();
        loop {
            let url = format!("{routed_queue}&page_size=1&page_token={token}");
            let body = ok(http.get(server.url(&url))).await;
            paged.extend(queue(&body, Some("tasks")));
            token = body["next_page_token"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            if token.is_empty() {
                break;
            }
            assert!(paged.len() < expected.len(), "paging overran: {paged:?}");
        }
        assert_eq!(paged, expected);
        let (status, body) = call(http.get(server.url(&format!(
            "{routed_queue}&page_token=bm90LWEtcXVldWUtdG9rZW4"
        ))))
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(fields(&body), ["page_token"]);
        let body =
            ok(http.get(server.url(&format!("/v1/work-queue?organization_id={idle}")))).await;
        assert!(
            queue(&body, Some("tasks")).is_empty(),
            "no assignments, no tasks: {body}"
        );

        for path in ["/tasks/work-queue", "/work-queue"] {
            let body = ok(http.get(server.url(path)).header("x-org-id", &routed)).await;
            assert_eq!(queue(&body, None), expected, "{path}");
            assert_eq!(body[0]["step"], "Stringing");
            assert!(body[0]["sla_due_at"].is_string());
            assert_eq!(body[0].as_object().unwrap().len(), 5);
            let (status, body) = call(http.get(server.url(path))).await;
            assert_eq!(
                (status, body),
                (
                    StatusCode::BAD_REQUEST,
                    json!({"detail": "X-Org-Id required"})
                )
            );
            let (status, body) = call(http.get(server.url(path)).header("x-org-id", "nope")).await;
            assert_eq!(
                (status, body),
                (
                    StatusCode::BAD_REQUEST,
                    json!({"detail": "Invalid X-Org-Id"})
                )
            );
            let body = ok(http
                .get(server.url(path))
                .header("x-org-id", &routed)
                .header("x-role", "SalesAgent"))
            .await;
            assert_eq!(body, json!([]));
        }
        let beta = server.http_as(&server.admin_token_in("beta").await);
        let (status, _) = call(
            beta.get(server.url("/work-queue"))
                .header("x-org-id", &routed),
        )
        .await;
        assert_eq!(
            status,
            StatusCode::NOT_FOUND,
            "another tenant's organization"
        );
        server.stop().await;
    }
}

#[tokio::test]
async fn smme_users_see_only_their_organization_tasks_and_queue() {
    for backends in backend_sets() {
        let server = TestServer::start(&backends).await;
        let admin_token = server.admin_token().await;
        let http = server.http_as(&admin_token);
        let ward = unique_name("Ward");
        let pon_id = new_pon(&server, &http, &ward).await;
        let organization = |name: &str| {
            http.post(server.url("/v1/organizations"))
                .json(&json!({"name": name, "type": "Civil"}))
        };
        let own = id_of(&ok(organization("Own")).await);
        let other = id_of(&ok(organization("Other")).await);
        ok(http
            .post(server.url("/v1/assignments"))
            .json(&json!({"organization_id": own, "ward": ward, "step_type": "CAC"})))
        .await;
        let mine = id_of(
            &new_task(
                &server,
                &http,
                json!({"pon_id": pon_id, "title": "Mine", "step": "CAC", "organization_id": own}),
            )
            .await,
        );
        let theirs = id_of(&new_task(&server, &http, json!({"pon_id": pon_id, "title": "Theirs", "step": "CAC", "organization_id": other})).await);
        let email = format!("{}@smme.test", unique_name("smme"));
        ok(http.post(server.url("/v1/users")).json(&json!({
            "name": "Own SMME", "email": email, "password": TEST_PASSWORD,
            "role": "ROLE_SMME", "organization_id": own,
        })))
        .await;
        let smme = server.http_as(&server.login(&email, TEST_PASSWORD).await);
        let listed = ok(smme.get(server.url("/v1/tasks"))).await;
        let listed: Vec<String> = listed["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .map(id_of)
            .collect();
        assert_eq!(listed, [mine.as_str()]);
        ok(smme.get(server.url(&format!("/v1/tasks/{mine}")))).await;
        let (status, _) = call(smme.get(server.url(&format!("/v1/tasks/{theirs}")))).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _) = call(
            smme.post(server.url(&format!("/v1/tasks/{mine}/transition")))
                .json(&json!({"status": "cancelled"})),
        )
        .await;
        assert_eq!(
            status,
            StatusCode::FORBIDDEN,
            "SMME users do not change tasks"
        );

        let queue = ok(smme.get(server.url("/work-queue")).header("x-org-id", &own)).await;
        let queued: Vec<String> = queue.as_array().unwrap().iter().map(id_of).collect();
        assert_eq!(
            queued,
            [mine.as_str()],
            "routed by ward and step, not another organization's"
        );
        let (status, _) = call(
            smme.get(server.url("/work-queue"))
                .header("x-org-id", &other),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "not its own organization");
        let (status, _) =
            call(smme.get(server.url(&format!("/v1/work-queue?organization_id={other}")))).await;
        assert_eq!(status, StatusCode::FORBIDDEN);

        // A deleted organization is forgotten by its tasks.
        ok(http.delete(server.url(&format!("/v1/organizations/{other}")))).await;
        let task = ok(http.get(server.url(&format!("/v1/tasks/{theirs}")))).await;
        assert_eq!(task["organization_id"], "");
        server.stop().await;
    }
}

#[tokio::test]
async fn grpc_clients_get_the_status_codes_and_field_details() {
    for backends in backend_sets() {
        let server = TestServer::start(&backends).await;
        let token = server.admin_token().await;
        let pon_id = new_pon(&server, &server.http_as(&token), "Ward 9").await;
        let mut grpc =
            TaskServiceClient::with_interceptor(server.channel().await, Bearer::new(&token));
        let created = grpc
            .create_task(CreateTaskRequest {
                task: Some(Task {
                    pon_id: pon_id.clone(),
                    title: "Over gRPC".into(),
                    step: "installation".into(),
                    ..Default::default()
                }),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(created.status, "pending");
        let status = grpc
            .transition_task(TransitionTaskRequest {
                id: created.id.clone(),
                status: "completed".into(),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::FailedPrecondition);
        assert!(
            status.message().contains("`pending` to `completed`"),
            "{status:?}"
        );
        let status = grpc
            .create_task(CreateTaskRequest {
                task: Some(Task {
                    pon_id: "nope".into(),
                    title: "Bad".into(),
                    step: "digging".into(),
                    estimated_hours: Some(-2.0),
                    ..Default::default()
                }),
            })
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument);
        let fields = violated_fields(&status);
        assert_eq!(fields, ["task.pon_id"], "conversion problems come first");
        server.stop().await;
    }
}
