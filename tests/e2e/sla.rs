//! The SLA scan with a chosen "now": a warning and a breach mail once each (read back from the
//! outbox or the SMTP sink), a breach counted once on its PON (also one decided at completion),
//! overdue-at-creation tasks only breached, completed and cancelled tasks not mailed, due times in the tenant's zone, the lock.

use chrono::{DateTime, Duration, TimeZone, Utc};
use kasi_fiber::identity::model::tenant;
use kasi_fiber::jobs::sla::{LOCK_KEY, ScanReport, SlaScan};
use kasi_fiber::pons::model as pon;
use kasi_fiber::storage::Storage;
use kasi_fiber::tasks::model as task;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::harness::{Backends, TEST_PASSWORD, TestServer, backend_sets, unique_name};

/// One received mail: recipients, subject and text with `\n` line ends.
#[derive(Debug, PartialEq)]
struct Received {
    to: Vec<String>,
    subject: String,
    text: String,
}

/// The mails whose subject names `tag`, from the outbox or from the SMTP sink's HTTP API.
async fn received(server: &TestServer, tag: &str) -> Vec<Received> {
    let mut mails = match &server.backends {
        Backends::Embedded => std::fs::read_dir(server.config.data_dir.join("outbox"))
            .unwrap()
            .map(|entry| from_eml(&std::fs::read_to_string(entry.unwrap().path()).unwrap()))
            .collect::<Vec<_>>(),
        Backends::Real(real) => reqwest::get(format!("{}/email", real.smtp_api))
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()
            .as_array()
            .unwrap()
            .iter()
            .map(|mail| Received {
                to: mail["to"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|to| to["address"].as_str().unwrap().to_string())
                    .collect(),
                subject: mail["subject"].as_str().unwrap().to_string(),
                // maildev's parser ends the text part with one newline more than was sent.
                text: mail["text"]
                    .as_str()
                    .unwrap()
                    .replace("\r\n", "\n")
                    .strip_suffix('\n')
                    .unwrap()
                    .to_string(),
            })
            .collect(),
    };
    mails.retain(|mail| mail.subject.contains(tag));
    mails.sort_by(|a, b| a.subject.cmp(&b.subject));
    mails
}

/// Reads the headers and plain 7-bit body of an outbox `.eml` file.
fn from_eml(eml: &str) -> Received {
    let eml = eml.replace("\r\n", "\n");
    let (head, body) = eml.split_once("\n\n").unwrap();
    // Long headers are folded onto indented continuation lines.
    let head = head.replace("\n ", " ");
    let header = |name: &str| {
        head.lines()
            .find_map(|line| line.strip_prefix(name))
            .unwrap_or_default()
            .trim()
            .to_string()
    };
    Received {
        to: header("To:")
            .split(',')
            .map(|to| to.trim().to_string())
            .collect(),
        subject: header("Subject:"),
        text: body.to_string(),
    }
}

async fn created(http: &reqwest::Client, url: String, body: Value) -> Value {
    let response = http.post(url).json(&body).send().await.unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

fn uuid_of(body: &Value) -> Uuid {
    body["id"].as_str().unwrap().parse().unwrap()
}

/// Sets a task's SLA due time and status as if work had gone that way.
async fn set_task(storage: &Storage, id: Uuid, sla_due_at: DateTime<Utc>, status: &str) {
    task::Entity::update_many()
        .col_expr(task::Column::SlaDueAt, Expr::value(sla_due_at))
        .col_expr(task::Column::Status, Expr::value(status))
        .filter(task::Column::Id.eq(id))
        .exec(&storage.db)
        .await
        .unwrap();
}

fn report(breached: usize, warned: usize, breach_notified: usize) -> ScanReport {
    ScanReport {
        ran: true,
        breached,
        warned,
        breach_notified,
    }
}

#[tokio::test]
async fn sla_scan_warns_and_breaches_once_in_the_tenant_zone() {
    for backends in backend_sets() {
        let server = TestServer::start(&backends).await;
        let http = server.http_as(&server.admin_token().await);
        let storage = Storage::open(&server.config).await.unwrap();
        tenant::Entity::update_many()
            .col_expr(tenant::Column::TimeZone, Expr::value("Africa/Johannesburg"))
            .exec(&storage.db)
            .await
            .unwrap();
        let assignee_email = format!("{}@example.test", unique_name("crew"));
        let assignee = created(
            &http,
            server.url("/v1/users"),
            json!({"name": "Crew", "email": assignee_email, "password": TEST_PASSWORD, "role": "ROLE_SITE"}),
        )
        .await;
        let code = unique_name("PON");
        let pon = created(
            &http,
            server.url("/v1/pons"),
            json!({"pon_code": code, "name": "Ward 7 North", "ward": "Ward 7", "fiber_count": 24}),
        )
        .await;
        let tag = unique_name("sla");
        let mut ids = Vec::new();
        for name in ["due", "late", "done", "dropped", "done-late"] {
            let body = created(
                &http,
                server.url("/v1/tasks"),
                json!({"pon_id": pon["id"], "title": format!("{name} {tag}"), "step": "Stringing",
                       "assignee_id": assignee["id"]}),
            )
            .await;
            ids.push(uuid_of(&body));
        }
        let creator_email = tenant_admin_email(&storage, ids[0]).await;
        let target = Utc.with_ymd_and_hms(2030, 1, 15, 8, 30, 0).unwrap();
        set_task(&storage, ids[0], target, "in_progress").await;
        set_task(&storage, ids[1], target - Duration::hours(3), "pending").await;
        set_task(&storage, ids[2], target - Duration::hours(3), "completed").await;
        set_task(&storage, ids[3], target - Duration::hours(3), "cancelled").await;
        // Completed after its SLA: breached by the transition, counted by the scan, not mailed.
        set_task(&storage, ids[4], target - Duration::hours(3), "completed").await;
        task::Entity::update_many()
            .col_expr(task::Column::Breached, Expr::value(true))
            .filter(task::Column::Id.eq(ids[4]))
            .exec(&storage.db)
            .await
            .unwrap();
        let scan = SlaScan::new(&storage, 60);

        assert_eq!(
            scan.run(target - Duration::minutes(61)).await.unwrap(),
            report(2, 0, 1)
        );
        assert_eq!(
            scan.run(target - Duration::minutes(30)).await.unwrap(),
            report(0, 1, 0)
        );
        assert_eq!(
            scan.run(target - Duration::minutes(10)).await.unwrap(),
            report(0, 0, 0)
        );
        assert_eq!(
            scan.run(target).await.unwrap(),
            report(0, 0, 0),
            "not yet past"
        );
        assert_eq!(
            scan.run(target + Duration::minutes(1)).await.unwrap(),
            report(1, 0, 1)
        );
        for hours in 1..4 {
            let later = target + Duration::hours(hours);
            assert_eq!(scan.run(later).await.unwrap(), report(0, 0, 0));
        }

        let pon_row = pon::Entity::find_by_id(uuid_of(&pon))
            .one(&storage.db)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(pon_row.sla_breaches, 3, "each breach counted once");
        let rows = task::Entity::find()
            .filter(task::Column::Id.is_in(ids.clone()))
            .all(&storage.db)
            .await
            .unwrap();
        for row in rows {
            let open = ids[..2].contains(&row.id);
            let breached = open || row.id == ids[4];
            assert_eq!(row.breached, breached, "{}", row.title);
            assert_eq!(row.sla_breach_counted, breached, "{}", row.title);
            assert_eq!(row.sla_breach_notified_at.is_some(), open, "{}", row.title);
            assert_eq!(row.sla_warning_notified_at.is_some(), row.id == ids[0]);
        }

        let to = vec![assignee_email.clone(), creator_email.clone()];
        let lines = |headline: &str, title: &str, status: &str, due: &str| {
            format!(
                "Task \"{title} {tag}\" {headline}\nStatus: {status}\nDue: {due}\nPON: {code} Ward 7 North\n"
            )
        };
        let expected = vec![
            Received {
                to: to.clone(),
                subject: format!("[SLA Breached] Task due {tag} overdue"),
                text: lines(
                    "has BREACHED its SLA.",
                    "due",
                    "in_progress",
                    "2030-01-15 10:30",
                ),
            },
            Received {
                to: to.clone(),
                subject: format!("[SLA Breached] Task late {tag} overdue"),
                text: lines(
                    "has BREACHED its SLA.",
                    "late",
                    "pending",
                    "2030-01-15 07:30",
                ),
            },
            Received {
                to,
                subject: format!("[SLA Warning] Task due {tag} due soon"),
                text: lines(
                    "is approaching its SLA.",
                    "due",
                    "in_progress",
                    "2030-01-15 10:30",
                ),
            },
        ];
        assert_eq!(
            received(&server, &tag).await,
            expected,
            "{}",
            backends.label()
        );
        storage.db.close_by_ref().await.unwrap();
        server.stop().await;
    }
}

/// The e-mail of the user who created the task.
async fn tenant_admin_email(storage: &Storage, task_id: Uuid) -> String {
    let row = task::Entity::find_by_id(task_id)
        .one(&storage.db)
        .await
        .unwrap()
        .unwrap();
    kasi_fiber::identity::model::user::Entity::find_by_id(row.created_by.unwrap())
        .one(&storage.db)
        .await
        .unwrap()
        .unwrap()
        .email
}

#[tokio::test]
async fn a_second_scan_does_nothing_while_the_first_holds_the_lock() {
    for backends in backend_sets() {
        let server = TestServer::start(&backends).await;
        let http = server.http_as(&server.admin_token().await);
        let storage = Storage::open(&server.config).await.unwrap();
        let code = unique_name("PON");
        let pon = created(
            &http,
            server.url("/v1/pons"),
            json!({"pon_code": code, "name": code, "ward": "Ward 1", "fiber_count": 24}),
        )
        .await;
        let title = unique_name("locked ");
        let body = created(
            &http,
            server.url("/v1/tasks"),
            json!({"pon_id": pon["id"], "title": title, "step": "CAC", "due_date": "2030-01-15"}),
        )
        .await;
        let scan = SlaScan::new(&storage, 60);
        // The due date lasts to midnight in Johannesburg: 22:00 UTC.
        let end_of_day = Utc.with_ymd_and_hms(2030, 1, 15, 22, 0, 0).unwrap();
        assert!(
            storage
                .cache
                .try_lock(LOCK_KEY, std::time::Duration::from_secs(30))
                .await
                .unwrap()
        );
        let skipped = scan.run(end_of_day + Duration::minutes(1)).await.unwrap();
        assert_eq!(
            skipped,
            ScanReport::default(),
            "another scan holds the lock"
        );
        storage.cache.unlock(LOCK_KEY).await.unwrap();
        let warn_at = end_of_day - Duration::minutes(1);
        assert_eq!(scan.run(warn_at).await.unwrap(), report(0, 1, 0));
        let after = end_of_day + Duration::minutes(1);
        let reports = match &backends {
            // A second replica shares the database and Redis: the two scans run concurrently.
            Backends::Real(_) => {
                let replica = Storage::open(&server.config).await.unwrap();
                let other = SlaScan::new(&replica, 60);
                let (mine, theirs) = tokio::join!(scan.run(after), other.run(after));
                replica.db.close_by_ref().await.unwrap();
                vec![mine.unwrap(), theirs.unwrap()]
            }
            Backends::Embedded => vec![scan.run(after).await.unwrap()],
        };
        let counted: usize = reports.iter().map(|report| report.breached).sum();
        let mailed: usize = reports.iter().map(|report| report.breach_notified).sum();
        assert_eq!((counted, mailed), (1, 1), "{reports:?}");
        let row = task::Entity::find_by_id(uuid_of(&body))
            .one(&storage.db)
            .await
            .unwrap()
            .unwrap();
        assert!(row.breached);
        let pon_row = pon::Entity::find_by_id(uuid_of(&pon))
            .one(&storage.db)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(pon_row.sla_breaches, 1);
        let subjects: Vec<String> = received(&server, &title)
            .await
            .into_iter()
            .map(|mail| mail.subject)
            .collect();
        assert_eq!(
            subjects,
            [
                format!("[SLA Breached] Task {title} overdue"),
                format!("[SLA Warning] Task {title} due soon"),
            ]
        );
        storage.db.close_by_ref().await.unwrap();
        server.stop().await;
    }
}

#[tokio::test]
async fn the_server_scans_on_its_interval() {
    for backends in backend_sets() {
        let server = TestServer::start_with(&backends, |config| {
            config.sla.disable_sla_scan = false;
            config.sla.sla_scan_interval_secs = 1;
        })
        .await;
        let http = server.http_as(&server.admin_token().await);
        let storage = Storage::open(&server.config).await.unwrap();
        let code = unique_name("PON");
        let pon = created(
            &http,
            server.url("/v1/pons"),
            json!({"pon_code": code, "name": code, "ward": "Ward 1", "fiber_count": 24}),
        )
        .await;
        let body = created(
            &http,
            server.url("/v1/tasks"),
            json!({"pon_id": pon["id"], "title": unique_name("scheduled "), "step": "CAC"}),
        )
        .await;
        set_task(
            &storage,
            uuid_of(&body),
            Utc::now() - Duration::hours(1),
            "in_progress",
        )
        .await;
        let mut breaches = 0;
        for _ in 0..50 {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            breaches = pon::Entity::find_by_id(uuid_of(&pon))
                .one(&storage.db)
                .await
                .unwrap()
                .unwrap()
                .sla_breaches;
            if breaches > 0 {
                break;
            }
        }
        assert_eq!(
            breaches,
            1,
            "{}: the scheduled scan counted the breach",
            backends.label()
        );
        // Later runs never count it again.
        tokio::time::sleep(std::time::Duration::from_millis(2200)).await;
        let row = pon::Entity::find_by_id(uuid_of(&pon))
            .one(&storage.db)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.sla_breaches, 1);
        storage.db.close_by_ref().await.unwrap();
        server.stop().await;
    }
}
