//! The PON build-out beyond the PON and task basics: stringing runs, the ReportService, task
//! visibility by role, two tenants kept apart, and a stale task update racing the SLA scan.

use chrono::{Duration, Utc};
use kasi_fiber::jobs::sla::SlaScan;
use kasi_fiber::pons::model as pon;
use kasi_fiber::storage::Storage;
use kasi_fiber::storage::db::update_changed;
use kasi_fiber::tasks::model as task;
use reqwest::StatusCode;
use sea_orm::EntityTrait;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::harness::{
    TEST_PASSWORD, TestServer, backend_sets, call, id_of, ok, unique_name, violated_fields,
};
use crate::legacy_buildout::text_of;
use crate::tasks::fields;

async fn new_pon(server: &TestServer, http: &reqwest::Client, extra: Value) -> String {
    let mut body =
        json!({"pon_code": unique_name("PON"), "name": "Orlando East", "fiber_count": 24});
    for (key, value) in extra.as_object().unwrap() {
        body[key] = value.clone();
    }
    id_of(&ok(http.post(server.url("/v1/pons")).json(&body)).await)
}

async fn new_organization(server: &TestServer, http: &reqwest::Client) -> String {
    id_of(
        &ok(http
            .post(server.url("/v1/organizations"))
            .json(&json!({"name": unique_name("Crew Co"), "type": "ORGANIZATION_TYPE_CIVIL"})))
        .await,
    )
}

async fn new_task(server: &TestServer, http: &reqwest::Client, body: Value) -> String {
    id_of(&ok(http.post(server.url("/v1/tasks")).json(&body)).await)
}

/// A new user of `role` (in `organization`, if given): token and id.
async fn user(
    server: &TestServer,
    admin: &reqwest::Client,
    role: &str,
    organization: Option<&str>,
) -> (reqwest::Client, String) {
    let email = format!("{}@example.test", unique_name("user"));
    let created = ok(admin.post(server.url("/v1/users")).json(&json!({
        "name": "Test User", "email": email, "password": TEST_PASSWORD, "role": role,
        "organization_id": organization.unwrap_or_default()
    })))
    .await;
    let token = server.login(&email, TEST_PASSWORD).await;
    (server.http_as(&token), id_of(&created))
}

fn today() -> String {
    Utc::now().date_naive().to_string()
}

#[tokio::test]
async fn stringing_runs_are_validated_audited_and_scoped() {
    for backends in backend_sets() {
        let server = TestServer::start(&backends).await;
        let admin = server.http_as(&server.admin_token().await);
        let organization = new_organization(&server, &admin).await;
        let (pm, pm_id) = user(&server, &admin, "ROLE_PM", None).await;
        let pon_id = new_pon(&server, &admin, json!({"project_manager_id": pm_id})).await;
        let other_pon = new_pon(&server, &admin, json!({})).await;
        let runs_url = server.url("/v1/stringing-runs");
        let run = |pon: &str, meters: Value, day: &str| {
            json!({"pon_id": pon, "organization_id": organization, "crew": " Crew A ",
                "meters": meters, "completed_on": day, "notes": "Poles 1-12"})
        };

        let created = ok(pm
            .post(&runs_url)
            .json(&run(&pon_id, json!(350.5), &today())))
        .await;
        assert_eq!(created["pon_id"], pon_id.as_str(), "{}", backends.label());
        assert_eq!(created["organization_id"], organization.as_str());
        assert_eq!(created["crew"], "Crew A");
        assert_eq!(created["meters"], 350.5);
        assert_eq!(created["completed_on"], today().as_str());
        assert!(created["created_by"].as_str().is_some_and(|id| id == pm_id));
        ok(admin
            .post(&runs_url)
            .json(&run(&other_pon, json!(20), "2026-01-10")))
        .await;

        // Bad input: named fields, 400, nothing written.
        let future = (Utc::now() + Duration::days(3)).date_naive().to_string();
        let unknown = Uuid::now_v7().to_string();
        for (body, expected) in [
            (
                run(&pon_id, json!(0), &today()),
                vec!["stringing_run.meters"],
            ),
            (
                run(&pon_id, json!(-5), &today()),
                vec!["stringing_run.meters"],
            ),
            (
                run(&pon_id, json!(100_001), &today()),
                vec!["stringing_run.meters"],
            ),
            (
                run(&pon_id, json!(10), &future),
                vec!["stringing_run.completed_on"],
            ),
            (
                run(&pon_id, json!(10), "31/12/2025"),
                vec!["stringing_run.completed_on"],
            ),
            (
                run(&unknown, json!(10), &today()),
                vec!["stringing_run.pon_id"],
            ),
            (
                run("PON-1", json!(10), &today()),
                vec!["stringing_run.pon_id"],
            ),
            (
                json!({"pon_id": pon_id, "organization_id": unknown, "meters": 10, "completed_on": today()}),
                vec!["stringing_run.organization_id"],
            ),
            (
                json!({}),
                vec![
                    "stringing_run.pon_id",
                    "stringing_run.organization_id",
                    "stringing_run.meters",
                    "stringing_run.completed_on",
                ],
            ),
        ] {
            let (status, answer) = call(admin.post(&runs_url).json(&body)).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
            assert_eq!(fields(&answer), expected, "{body}");
        }
        // A PM cannot record runs on a PON they do not manage (it does not exist for them).
        let (status, answer) = call(
            pm.post(&runs_url)
                .json(&run(&other_pon, json!(10), &today())),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(fields(&answer), ["stringing_run.pon_id"]);

        // Lists and filters.
        let count = |body: Value| body["stringing_runs"].as_array().unwrap().len();
        assert_eq!(count(ok(admin.get(&runs_url)).await), 2);
        assert_eq!(
            count(ok(admin.get(format!("{runs_url}?pon_id={pon_id}"))).await),
            1
        );
        assert_eq!(
            count(ok(admin.get(format!("{runs_url}?organization_id={organization}"))).await),
            2
        );
        assert_eq!(
            count(ok(admin.get(format!("{runs_url}?from=2026-01-01&to=2026-01-31"))).await),
            1
        );
        let (status, answer) =
            call(admin.get(format!("{runs_url}?from=2026-02-01&to=2026-01-01"))).await;
        assert_eq!(
            (status, fields(&answer)),
            (StatusCode::BAD_REQUEST, vec!["to"])
        );
        let (status, answer) = call(admin.get(format!("{runs_url}?from=yesterday"))).await;
        assert_eq!(
            (status, fields(&answer)),
            (StatusCode::BAD_REQUEST, vec!["from"])
        );
        let paged = ok(admin.get(format!("{runs_url}?page_size=1"))).await;
        assert_eq!(count(paged.clone()), 1);
        let token = paged["next_page_token"].as_str().unwrap();
        assert_eq!(
            count(ok(admin.get(format!("{runs_url}?page_size=1&page_token={token}"))).await),
            1
        );

        // Role scoping: the PM sees runs of their PON; SMME users their organization's.
        assert_eq!(count(ok(pm.get(&runs_url)).await), 1);
        let (smme, _) = user(&server, &admin, "ROLE_SMME", Some(&organization)).await;
        assert_eq!(count(ok(smme.get(&runs_url)).await), 2);
        let stranger = new_organization(&server, &admin).await;
        let (other_smme, _) = user(&server, &admin, "ROLE_SMME", Some(&stranger)).await;
        assert_eq!(count(ok(other_smme.get(&runs_url)).await), 0);
        let (status, _) = call(
            smme.post(&runs_url)
                .json(&run(&pon_id, json!(10), &today())),
        )
        .await;
        assert_eq!(
            status,
            StatusCode::FORBIDDEN,
            "SMME users do not record runs"
        );

        // Audited.
        let audit = ok(admin.get(server.url(&format!(
            "/v1/audit-entries?resource_type=stringing_run&resource_id={}",
            id_of(&created)
        ))))
        .await;
        let entries = audit["entries"].as_array().unwrap();
        assert_eq!(entries.len(), 1, "{audit}");
        assert_eq!(entries[0]["action"], "create");
        server.stop().await;
    }
}

#[tokio::test]
async fn reports_count_and_list_what_the_caller_may_read() {
    for backends in backend_sets() {
        let server = TestServer::start(&backends).await;
        let admin = server.http_as(&server.admin_token().await);
        let (pm, pm_id) = user(&server, &admin, "ROLE_PM", None).await;
        let mine = new_pon(
            &server,
            &admin,
            json!({"project_manager_id": pm_id, "start_date": "2026-01-05"}),
        )
        .await;
        let other = new_pon(&server, &admin, json!({"status": "testing"})).await;
        let long_ago = "2020-01-01";
        let overdue = new_task(&server, &admin, json!({"pon_id": mine, "title": "Dig", "step": "PolePlanting", "due_date": long_ago, "assignee_id": pm_id})).await;
        let done = new_task(&server, &admin, json!({"pon_id": mine, "title": "Permits", "step": "Permissions", "due_date": long_ago})).await;
        new_task(
            &server,
            &admin,
            json!({"pon_id": other, "title": "Test", "step": "testing"}),
        )
        .await;
        for status in ["in_progress", "completed"] {
            ok(admin
                .post(server.url(&format!("/v1/tasks/{done}/transition")))
                .json(&json!({"status": status})))
            .await;
        }

        let dashboard = ok(admin.get(server.url("/v1/reports/dashboard"))).await;
        assert_eq!(
            dashboard,
            json!({"pons": {"total": 2, "completed": 0, "in_progress": 1, "planned": 1},
                "tasks": {"total": 3, "completed": 1, "pending": 2, "overdue": 1}}),
            "{}",
            backends.label()
        );
        let dashboard = ok(pm.get(server.url("/v1/reports/dashboard"))).await;
        assert_eq!(
            dashboard,
            json!({"pons": {"total": 1, "completed": 0, "in_progress": 1, "planned": 0},
                "tasks": {"total": 2, "completed": 1, "pending": 1, "overdue": 1}})
        );

        let pons = ok(pm.get(server.url("/v1/reports/pons"))).await;
        let pons = pons["pons"].as_array().unwrap();
        assert_eq!(pons.len(), 1);
        assert_eq!(pons[0]["id"], mine.as_str());
        assert_eq!(pons[0]["start_date"], "2026-01-05");
        assert_eq!(pons[0]["project_manager"]["id"], pm_id.as_str());
        assert_eq!(pons[0]["project_manager"]["name"], "Test User");
        let tasks = ok(pm.get(server.url("/v1/reports/tasks"))).await;
        let ids: Vec<&str> = tasks["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids.len(), 2);
        assert!(ids.contains(&overdue.as_str()) && ids.contains(&done.as_str()));
        let first = &tasks["tasks"][0];
        assert_eq!(first["pon_id"], mine.as_str());
        assert!(!first["pon_code"].as_str().unwrap().is_empty());

        let export = ok(admin.get(server.url("/v1/reports/export/pons"))).await;
        assert_eq!(export["filename"], "pons_report.csv");
        let csv = export["content"].as_str().unwrap();
        assert_eq!(csv.lines().count(), 3, "{csv}");
        server.stop().await;
    }
}

#[tokio::test]
async fn task_visibility_follows_the_role() {
    for backends in backend_sets() {
        let server = TestServer::start(&backends).await;
        let admin = server.http_as(&server.admin_token().await);
        let crew = new_organization(&server, &admin).await;
        let (pm, pm_id) = user(&server, &admin, "ROLE_PM", None).await;
        let (other_pm, _) = user(&server, &admin, "ROLE_PM", None).await;
        let (site, site_id) = user(&server, &admin, "ROLE_SITE", None).await;
        let (other_site, other_site_id) = user(&server, &admin, "ROLE_SITE", None).await;
        let (smme, _) = user(&server, &admin, "ROLE_SMME", Some(&crew)).await;
        let stranger = new_organization(&server, &admin).await;
        let (other_smme, _) = user(&server, &admin, "ROLE_SMME", Some(&stranger)).await;
        let (auditor, _) = user(&server, &admin, "ROLE_AUDITOR", None).await;
        let (noc, _) = user(&server, &admin, "ROLE_NOC", None).await;
        let pon_id = new_pon(
            &server,
            &admin,
            json!({"project_manager_id": pm_id, "site_manager_id": site_id}),
        )
        .await;
        let elsewhere = new_pon(&server, &admin, json!({})).await;
        let task = new_task(&server, &admin, json!({"pon_id": pon_id, "title": "String", "step": "Stringing", "organization_id": crew})).await;
        // Assigned to a site manager of another PON: they see this one task of it.
        let assigned = new_task(&server, &admin, json!({"pon_id": elsewhere, "title": "Splice", "step": "other", "assignee_id": other_site_id})).await;

        // The crew's assignment routes `assigned` (no organization yet) to it as well.
        ok(admin
            .post(server.url("/v1/assignments"))
            .json(&json!({"organization_id": crew, "pon_id": elsewhere, "step_type": "other"})))
        .await;

        let url = |id: &str| server.url(&format!("/v1/tasks/{id}"));
        let count = |body: Value| body["tasks"].as_array().unwrap().len();
        for (who, client, listed, reads_task) in [
            ("admin", &admin, 2, true),
            ("pm", &pm, 1, true),
            ("other pm", &other_pm, 0, false),
            ("site", &site, 1, true),
            ("other site", &other_site, 1, false),
            ("smme", &smme, 2, true),
            ("other smme", &other_smme, 0, false),
            ("auditor", &auditor, 2, true),
            ("noc", &noc, 2, true),
        ] {
            let listed_now = count(ok(client.get(server.url("/v1/tasks"))).await);
            assert_eq!(listed_now, listed, "{who} lists, {}", backends.label());
            let (status, _) = call(client.get(url(&task))).await;
            let expected = if reads_task {
                StatusCode::OK
            } else {
                StatusCode::NOT_FOUND
            };
            assert_eq!(status, expected, "{who} reads");
        }
        let (status, _) = call(other_site.get(url(&assigned))).await;
        assert_eq!(status, StatusCode::OK, "the assignee reads their task");
        let (status, _) = call(smme.get(url(&assigned))).await;
        assert_eq!(status, StatusCode::OK, "a task routed to the crew");
        let (status, _) = call(other_smme.get(url(&assigned))).await;
        assert_eq!(status, StatusCode::NOT_FOUND);

        // Updates: the PON's PM and site manager may; other writers get NOT_FOUND; read-only
        // roles are refused by the permission table.
        for (who, client, expected) in [
            ("pm", &pm, StatusCode::OK),
            ("site", &site, StatusCode::OK),
            ("other pm", &other_pm, StatusCode::NOT_FOUND),
            ("other site", &other_site, StatusCode::NOT_FOUND),
            ("auditor", &auditor, StatusCode::FORBIDDEN),
            ("noc", &noc, StatusCode::FORBIDDEN),
            ("smme", &smme, StatusCode::FORBIDDEN),
        ] {
            let (status, body) = call(
                client
                    .patch(url(&task))
                    .json(&json!({"notes": format!("checked by {who}")})),
            )
            .await;
            assert_eq!(status, expected, "{who} updates: {body}");
            let (status, _) = call(
                client
                    .post(server.url(&format!("/v1/tasks/{task}/transition")))
                    .json(&json!({"status": "on_hold"})),
            )
            .await;
            if expected == StatusCode::OK {
                assert_eq!(status, StatusCode::OK, "{who} holds");
                ok(client
                    .post(server.url(&format!("/v1/tasks/{task}/transition")))
                    .json(&json!({"status": "pending"})))
                .await;
            } else {
                assert_eq!(status, expected, "{who} transitions");
            }
        }
        // Creating tasks needs a PON the caller sees.
        let (status, _) = call(
            other_pm
                .post(server.url("/v1/tasks"))
                .json(&json!({"pon_id": pon_id, "title": "Mine now", "step": "other"})),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        // The legacy list follows the same rule.
        let legacy = |token_client: &reqwest::Client| token_client.get(server.url("/api/tasks"));
        let (status, body) = call(legacy(&site)).await;
        assert_eq!(
            (status, body.as_array().unwrap().len()),
            (StatusCode::OK, 1)
        );
        let (status, body) = call(legacy(&other_pm)).await;
        assert_eq!(
            (status, body.as_array().unwrap().len()),
            (StatusCode::OK, 0)
        );
        server.stop().await;
    }
}

#[tokio::test]
async fn two_tenants_never_see_each_others_runs_reports_or_tasks() {
    for backends in backend_sets() {
        let server = TestServer::start(&backends).await;
        let a = server.http_as(&server.admin_token().await);
        let b = server.http_as(&server.admin_token_in(&unique_name("tenant-b")).await);
        let organization = new_organization(&server, &a).await;
        let pon_id = new_pon(&server, &a, json!({"name": "Tenant A PON"})).await;
        let task = new_task(&server, &a, json!({"pon_id": pon_id, "title": "A's task", "step": "other", "due_date": "2020-01-01"})).await;
        ok(a.post(server.url("/v1/stringing-runs")).json(&json!({
            "pon_id": pon_id, "organization_id": organization, "meters": 100, "completed_on": today()
        })))
        .await;
        let b_org = new_organization(&server, &b).await;

        // Stringing runs: B lists none and cannot record on A's PON or for A's organization.
        let runs = ok(b.get(server.url("/v1/stringing-runs"))).await;
        assert_eq!(runs["stringing_runs"], json!([]), "{}", backends.label());
        let (status, answer) = call(b.post(server.url("/v1/stringing-runs")).json(&json!({
            "pon_id": pon_id, "organization_id": organization, "meters": 100, "completed_on": today()
        })))
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(
            fields(&answer),
            ["stringing_run.pon_id", "stringing_run.organization_id"]
        );
        let b_pon = new_pon(&server, &b, json!({})).await;
        let (status, answer) = call(b.post(server.url("/v1/stringing-runs")).json(&json!({
            "pon_id": b_pon, "organization_id": organization, "meters": 100, "completed_on": today()
        })))
        .await;
        assert_eq!(
            (status, fields(&answer)),
            (
                StatusCode::BAD_REQUEST,
                vec!["stringing_run.organization_id"]
            )
        );
        ok(b.post(server.url("/v1/stringing-runs")).json(&json!({
            "pon_id": b_pon, "organization_id": b_org, "meters": 5, "completed_on": today()
        })))
        .await;
        let runs = ok(a.get(server.url("/v1/stringing-runs"))).await;
        assert_eq!(runs["stringing_runs"].as_array().unwrap().len(), 1);

        // Reports: B counts and lists only its own.
        let dashboard = ok(b.get(server.url("/v1/reports/dashboard"))).await;
        assert_eq!(dashboard["pons"]["total"], 1);
        assert_eq!(dashboard["tasks"]["total"], 0);
        let pons = ok(b.get(server.url("/v1/reports/pons"))).await;
        assert_eq!(pons["pons"].as_array().unwrap().len(), 1);
        assert_eq!(pons["pons"][0]["id"], b_pon.as_str());
        let tasks = ok(b.get(server.url("/v1/reports/tasks"))).await;
        assert_eq!(tasks["tasks"], json!([]));
        let export = ok(b.get(server.url("/v1/reports/export/pons"))).await;
        assert!(!export["content"].as_str().unwrap().contains("Tenant A PON"));
        let legacy = text_of(b.get(server.url("/api/reports/export/pons"))).await;
        assert!(!legacy.contains("Tenant A PON"), "{legacy}");
        let (_, legacy_dashboard) = call(b.get(server.url("/api/reports/dashboard"))).await;
        assert_eq!(legacy_dashboard["tasks"]["total"], 0);

        // Tasks and PONs on the legacy paths: B can neither read, list, change nor delete A's.
        let task_url = server.url(&format!("/v1/tasks/{task}"));
        assert_eq!(call(b.get(&task_url)).await.0, StatusCode::NOT_FOUND);
        assert_eq!(
            call(b.patch(&task_url).json(&json!({"title": "Mine"})))
                .await
                .0,
            StatusCode::NOT_FOUND
        );
        assert_eq!(call(b.delete(&task_url)).await.0, StatusCode::NOT_FOUND);
        let (_, listed) = call(b.get(server.url("/api/tasks"))).await;
        assert_eq!(listed, json!([]));
        let legacy_task = server.url(&format!("/api/tasks/{task}"));
        assert_eq!(
            call(
                b.patch(&legacy_task)
                    .json(&json!({"status": "in_progress"}))
            )
            .await,
            (StatusCode::NOT_FOUND, json!({"message": "Task not found"}))
        );
        assert_eq!(
            call(
                b.put(server.url(&format!("/api/tasks/{task}/status")))
                    .json(&json!({"status": "in_progress"}))
            )
            .await
            .0,
            StatusCode::NOT_FOUND
        );
        let legacy_pon = server.url(&format!("/api/pons/{pon_id}"));
        let not_found = (StatusCode::NOT_FOUND, json!({"message": "PON not found"}));
        assert_eq!(call(b.get(&legacy_pon)).await, not_found);
        assert_eq!(
            call(b.put(&legacy_pon).json(&json!({"name": "Mine"}))).await,
            not_found
        );
        assert_eq!(call(b.delete(&legacy_pon)).await, not_found);
        assert_eq!(
            call(b.put(server.url(&format!("/api/pons/{pon_id}/progress")))).await,
            not_found
        );
        let (_, listed) = call(b.get(server.url("/api/pons"))).await;
        assert_eq!(listed.as_array().unwrap().len(), 1);
        // A's records are untouched.
        assert_eq!(ok(a.get(&task_url)).await["title"], "A's task");
        server.stop().await;
    }
}

/// The lost update the SLA scan used to suffer: a task read before the scan marks it breached,
/// then saved with another change, keeps the breach (updates write only changed columns);
/// likewise a stale PON keeps its breach count, and a second scan counts nothing.
#[tokio::test]
async fn a_stale_update_does_not_undo_the_scans_breach() {
    for backends in backend_sets() {
        let server = TestServer::start(&backends).await;
        let storage = Storage::open(&server.config).await.unwrap();
        let admin = server.http_as(&server.admin_token().await);
        let pon_id = new_pon(&server, &admin, json!({})).await;
        let id = new_task(
            &server,
            &admin,
            json!({"pon_id": pon_id, "title": "String", "step": "Stringing", "sla_minutes": 1}),
        )
        .await;
        let started = (Utc::now() - Duration::hours(1)).to_rfc3339();
        ok(admin
            .post(server.url(&format!("/v1/tasks/{id}/transition")))
            .json(&json!({"status": "in_progress", "started_at": started})))
        .await;
        let id = Uuid::parse_str(&id).unwrap();
        let pon_uuid = Uuid::parse_str(&pon_id).unwrap();
        let stale_task = task::Entity::find_by_id(id)
            .one(&storage.db)
            .await
            .unwrap()
            .unwrap();
        let stale_pon = pon::Entity::find_by_id(pon_uuid)
            .one(&storage.db)
            .await
            .unwrap()
            .unwrap();
        assert!(!stale_task.breached && !stale_task.sla_breach_counted);

        let scan = SlaScan::new(&storage, 60);
        assert_eq!(scan.run(Utc::now()).await.unwrap().breached, 1);

        let mut edited = stale_task.clone();
        edited.title = "String the street".into();
        let saved = update_changed::<task::Entity>(&storage.db, stale_task, edited)
            .await
            .unwrap();
        assert!(saved.breached && saved.sla_breach_counted, "{saved:?}");
        let mut renamed = stale_pon.clone();
        renamed.name = "Renamed".into();
        update_changed::<pon::Entity>(&storage.db, stale_pon, renamed)
            .await
            .unwrap();

        let stored = task::Entity::find_by_id(id)
            .one(&storage.db)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.title, "String the street", "{}", backends.label());
        assert!(stored.breached && stored.sla_breach_counted);
        let stored_pon = pon::Entity::find_by_id(pon_uuid)
            .one(&storage.db)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (stored_pon.name.as_str(), stored_pon.sla_breaches),
            ("Renamed", 1)
        );
        assert_eq!(scan.run(Utc::now()).await.unwrap().breached, 0);
        // Through the service too: an update of another field leaves the breach alone.
        let updated = ok(admin
            .patch(server.url(&format!("/v1/tasks/{id}")))
            .json(&json!({"notes": "late"})))
        .await;
        assert_eq!(updated["breached"], true);
        // Nothing changed: nothing written, the row comes back as given.
        let same = task::Entity::find_by_id(id)
            .one(&storage.db)
            .await
            .unwrap()
            .unwrap();
        let again = update_changed::<task::Entity>(&storage.db, same.clone(), same.clone())
            .await
            .unwrap();
        assert_eq!(again, same);
        server.stop().await;
    }
}

#[tokio::test]
async fn stringing_and_reports_over_grpc() {
    use kasi_fiber::proto::v1::report_service_client::ReportServiceClient;
    use kasi_fiber::proto::v1::stringing_service_client::StringingServiceClient;
    use kasi_fiber::proto::v1::{
        CreateStringingRunRequest, ExportPonsRequest, GetDashboardRequest,
        ListStringingRunsRequest, StringingRun,
    };
    use tonic::Code;

    use crate::harness::Bearer;

    for backends in backend_sets() {
        let server = TestServer::start(&backends).await;
        let token = server.admin_token().await;
        let http = server.http_as(&token);
        let pon_id = new_pon(&server, &http, json!({"name": "Over, \"gRPC\""})).await;
        let organization = new_organization(&server, &http).await;
        let mut runs =
            StringingServiceClient::with_interceptor(server.channel().await, Bearer::new(&token));
        let run = StringingRun {
            pon_id: pon_id.clone(),
            organization_id: organization.clone(),
            meters: 1200.0,
            completed_on: today(),
            ..Default::default()
        };
        let created = runs
            .create_stringing_run(CreateStringingRunRequest {
                stringing_run: Some(run.clone()),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(created.meters, 1200.0, "{}", backends.label());
        assert!(created.created_at.is_some());
        let status = runs
            .create_stringing_run(CreateStringingRunRequest {
                stringing_run: Some(StringingRun {
                    meters: f64::INFINITY,
                    completed_on: "2026-13-01".into(),
                    ..run.clone()
                }),
            })
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument);
        let fields = violated_fields(&status);
        assert_eq!(fields, ["stringing_run.completed_on"]);
        let status = runs
            .create_stringing_run(CreateStringingRunRequest {
                stringing_run: None,
            })
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument);
        let listed = runs
            .list_stringing_runs(ListStringingRunsRequest {
                pon_id: pon_id.clone(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(listed.stringing_runs, [created]);

        let mut reports =
            ReportServiceClient::with_interceptor(server.channel().await, Bearer::new(&token));
        let dashboard = reports
            .get_dashboard(GetDashboardRequest {})
            .await
            .unwrap()
            .into_inner();
        assert_eq!(dashboard.pons.unwrap().total, 1);
        let export = reports
            .export_pons(ExportPonsRequest {})
            .await
            .unwrap()
            .into_inner();
        let row = export.content.lines().nth(1).unwrap().to_string();
        assert!(
            row.contains(",\"Over, \"\"gRPC\"\"\","),
            "quotes doubled: {row}"
        );
        server.stop().await;
    }
}
