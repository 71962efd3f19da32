//! Golden tests of the legacy `/api/pons` and `/api/tasks` routes: the exact Express documents
//! (cases DM-3, CL-6, CL-7, CL-10), validation bodies, and the fixed ownership bug.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{TestServer, backend_sets, unique_name};

/// Ids become `<id>` and times other than midnight (days) `<time>`.
fn redact(value: &Value) -> Value {
    match value {
        Value::String(text) if uuid::Uuid::parse_str(text).is_ok() => json!("<id>"),
        Value::String(text)
            if chrono::DateTime::parse_from_rfc3339(text).is_ok()
                && !text.ends_with("T00:00:00.000Z") =>
        {
            assert!(
                text.ends_with('Z') && text.len() == 24,
                "Express dates have milliseconds: {text}"
            );
            json!("<time>")
        }
        Value::Array(items) => Value::Array(items.iter().map(redact).collect()),
        Value::Object(object) => {
            Value::Object(object.iter().map(|(k, v)| (k.clone(), redact(v))).collect())
        }
        other => other.clone(),
    }
}

/// Status and the redacted JSON body.
async fn call(request: reqwest::RequestBuilder) -> (StatusCode, Value) {
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn golden(request: reqwest::RequestBuilder) -> (StatusCode, Value) {
    let (status, body) = call(request).await;
    (status, redact(&body))
}

/// A client that sends the token as the React app does.
pub fn legacy_client(token: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("x-auth-token", token.parse().unwrap());
    reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .unwrap()
}

/// A registered user: token, id and e-mail.
pub struct Registered {
    pub token: String,
    pub id: String,
    pub email: String,
}

/// A user registered through the legacy route and approved by an admin (as the old admin screen
/// does, with `isActive: true`).
pub async fn register(server: &TestServer, name: &str, role: &str) -> Registered {
    let registered = register_pending(server, name, role).await;
    let admin_token = server.admin_token().await;
    let (status, body) = call(
        reqwest::Client::new()
            .put(server.url(&format!("/api/users/{}", registered.id)))
            .header("x-auth-token", admin_token)
            .json(&json!({"isActive": true})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "approve: {body}");
    registered
}

/// A user registered through the legacy route, awaiting approval.
pub async fn register_pending(server: &TestServer, name: &str, role: &str) -> Registered {
    let email = format!("{}@example.com", unique_name("legacy"));
    let (status, body) = call(reqwest::Client::new().post(server.url("/api/auth/register")).json(
        &json!({"name": name, "email": email, "password": "password123", "role": role, "phone": "+1234567890"}),
    ))
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    Registered {
        token: body["token"].as_str().unwrap().into(),
        id: body["user"]["id"].as_str().unwrap().into(),
        email,
    }
}

/// The body of a response as text.
pub async fn text_of(request: reqwest::RequestBuilder) -> String {
    request.send().await.unwrap().text().await.unwrap()
}

/// John Doe (a project manager), his client, and the id of DM-3's PON he created.
async fn john_with_dm3_pon(server: &TestServer) -> (Registered, reqwest::Client, String) {
    let john = register(server, "John Doe", "project_manager").await;
    let http = legacy_client(&john.token);
    let (status, pon) = call(http.post(server.url("/api/pons")).json(&dm3_body())).await;
    assert_eq!(status, StatusCode::OK, "{pon}");
    let pon_id = pon["_id"].as_str().unwrap().to_string();
    (john, http, pon_id)
}

fn dm3_body() -> Value {
    json!({"ponId": "PON-001", "name": "Test PON Installation", "location": "Cape Town, South Africa",
        "startDate": "2024-01-15", "expectedEndDate": "2024-02-15", "fiberCount": 24,
        "coordinates": {"latitude": -33.9249, "longitude": 18.4241}})
}

fn error(path: &str, value: Option<Value>, msg: &str) -> Value {
    let mut entry = json!({"type": "field", "msg": msg, "path": path, "location": "body"});
    if let Some(value) = value {
        entry["value"] = value;
    }
    entry
}

#[tokio::test]
async fn legacy_pon_routes_keep_the_express_shapes() {
    for backends in backend_sets() {
        let server = TestServer::start(&backends).await;
        let john = register(&server, "John Doe", "project_manager").await;
        let http = legacy_client(&john.token);
        let manager = |fields: Value| {
            let mut populated = json!({"_id": "<id>", "name": "John Doe", "email": john.email});
            if fields == json!("phone") {
                populated["phone"] = json!("+1234567890");
            }
            populated
        };
        let dm3 = json!({
            "_id": "<id>", "ponId": "PON-001", "name": "Test PON Installation",
            "location": "Cape Town, South Africa",
            "coordinates": {"latitude": -33.9249, "longitude": 18.4241},
            "status": "planned", "projectManager": manager(Value::Null),
            "startDate": "2024-01-15T00:00:00.000Z", "expectedEndDate": "2024-02-15T00:00:00.000Z",
            "fiberCount": 24, "splitterCount": 0, "equipment": [], "progress": 0, "slaBreaches": 0,
            "geofenceRadiusM": 200, "createdAt": "<time>", "updatedAt": "<time>", "__v": 0
        });

        // DM-3, then the same PON id again.
        let (status, created) = call(http.post(server.url("/api/pons")).json(&dm3_body())).await;
        assert_eq!(
            (status, redact(&created)),
            (StatusCode::OK, dm3.clone()),
            "{}",
            backends.label()
        );
        let id = created["_id"].as_str().unwrap().to_string();
        let text = serde_json::to_string(&created).unwrap();
        assert!(
            text.find("\"name\"") < text.find("\"projectManager\""),
            "DM-3 prints the first name: the PON's own"
        );
        assert_eq!(
            golden(http.post(server.url("/api/pons")).json(&dm3_body())).await,
            (
                StatusCode::BAD_REQUEST,
                json!({"message": "PON ID already exists"})
            )
        );

        // Validation: every failing field, in order, with its value when one was sent.
        assert_eq!(
            golden(
                http.post(server.url("/api/pons"))
                    .json(&json!({"name": " ", "fiberCount": 0, "startDate": "15/01/2024"}))
            )
            .await,
            (
                StatusCode::BAD_REQUEST,
                json!({"errors": [
                    error("ponId", None, "PON ID is required"),
                    error("name", Some(json!(" ")), "PON name is required"),
                    error("location", None, "Location is required"),
                    error("startDate", Some(json!("15/01/2024")), "Valid start date is required"),
                    error("expectedEndDate", None, "Valid expected end date is required"),
                    error("fiberCount", Some(json!(0)), "Fiber count must be at least 1"),
                ]})
            )
        );
        // Rules of the service come back in the body's names.
        let mut reversed = dm3_body();
        reversed["ponId"] = json!("PON-002");
        reversed["expectedEndDate"] = json!("2024-01-01");
        assert_eq!(
            golden(http.post(server.url("/api/pons")).json(&reversed)).await,
            (
                StatusCode::BAD_REQUEST,
                json!({"errors": [error("expectedEndDate", None, "must not be before start_date")]})
            )
        );

        // CL-6: the list; CL-7: the owner reads `{pon, tasks}` (the legacy 403 bug fixed).
        assert_eq!(
            golden(http.get(server.url("/api/pons"))).await,
            (StatusCode::OK, json!([dm3]))
        );
        let mut detailed = dm3.clone();
        detailed["projectManager"] = manager(json!("phone"));
        assert_eq!(
            golden(http.get(server.url(&format!("/api/pons/{id}")))).await,
            (StatusCode::OK, json!({"pon": detailed, "tasks": []}))
        );
        assert_eq!(
            golden(http.get(server.url("/api/pons/not-an-id"))).await,
            (StatusCode::NOT_FOUND, json!({"message": "PON not found"}))
        );

        // Another project manager neither lists nor reads nor changes it.
        let other = legacy_client(&register(&server, "Jane Roe", "project_manager").await.token);
        assert_eq!(
            golden(other.get(server.url("/api/pons"))).await,
            (StatusCode::OK, json!([]))
        );
        let denied = (StatusCode::FORBIDDEN, json!({"message": "Access denied"}));
        assert_eq!(
            golden(other.get(server.url(&format!("/api/pons/{id}")))).await,
            denied
        );
        assert_eq!(
            golden(
                other
                    .put(server.url(&format!("/api/pons/{id}")))
                    .json(&json!({"name": "Mine"}))
            )
            .await,
            denied
        );
        assert_eq!(
            golden(other.delete(server.url(&format!("/api/pons/{id}")))).await,
            denied
        );
        // A site manager may not create PONs.
        let site = legacy_client(&register(&server, "Sam Site", "site_manager").await.token);
        assert_eq!(
            golden(site.post(server.url("/api/pons")).json(&dm3_body())).await,
            (
                StatusCode::FORBIDDEN,
                json!({"message": "Insufficient permissions"})
            )
        );

        // PUT: `$set` of the fields sent; projectManager cannot change; bad fields named.
        let (status, updated) = golden(
            http.put(server.url(&format!("/api/pons/{id}")))
                .json(&json!({"status": "testing", "notes": "Splice closure at pole 4", "projectManager": other_id(&server).await, "ward": "Ward 7"})),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{updated}");
        let mut expected = dm3.clone();
        expected["status"] = json!("testing");
        expected["notes"] = json!("Splice closure at pole 4");
        expected["ward"] = json!("Ward 7");
        assert_eq!(updated, expected);
        assert_eq!(
            golden(
                http.put(server.url(&format!("/api/pons/{id}")))
                    .json(&json!({"fiberCount": 0, "status": "done"}))
            )
            .await,
            (
                StatusCode::BAD_REQUEST,
                json!({"errors": [
                    error("status", Some(json!("done")), "Invalid status"),
                    error("fiberCount", Some(json!(0)), "Fiber count must be at least 1"),
                ]})
            )
        );

        // DELETE removes the PON with its tasks.
        let task = call(http.post(server.url("/api/tasks")).json(&json!({
            "title": "Survey", "type": "other", "pon": id, "assignedTo": john.id, "dueDate": "2024-02-01"
        })))
        .await;
        assert_eq!(task.0, StatusCode::OK, "{}", task.1);
        assert_eq!(
            golden(http.delete(server.url(&format!("/api/pons/{id}")))).await,
            (
                StatusCode::OK,
                json!({"message": "PON and associated tasks deleted"})
            )
        );
        assert_eq!(
            golden(http.get(server.url(&format!("/api/pons/{id}")))).await,
            (StatusCode::NOT_FOUND, json!({"message": "PON not found"}))
        );
        assert_eq!(
            golden(http.get(server.url("/api/tasks"))).await,
            (StatusCode::OK, json!([]))
        );
        server.stop().await;
    }
}

/// The id of some other user (to try to hand a PON over).
async fn other_id(server: &TestServer) -> String {
    register(server, "Someone Else", "project_manager").await.id
}

#[tokio::test]
async fn legacy_task_routes_keep_the_express_shapes() {
    for backends in backend_sets() {
        let server = TestServer::start(&backends).await;
        let (john, http, pon_id) = john_with_dm3_pon(&server).await;
        let user = json!({"_id": "<id>", "name": "John Doe", "email": john.email});
        let mut task = json!({
            "_id": "<id>", "title": "String the street", "type": "stringing",
            "pon": {"_id": "<id>", "ponId": "PON-001", "name": "Test PON Installation", "location": "Cape Town, South Africa"},
            "assignedTo": user, "createdBy": user, "priority": "high", "status": "pending",
            "dueDate": "2024-02-01T00:00:00.000Z", "estimatedHours": 6.5, "evidenceRequired": false,
            "evidencePhotos": [], "sla": {"enabled": true, "targetAt": "2024-02-01T00:00:00.000Z"},
            "dependencies": [], "breached": false, "createdAt": "<time>", "updatedAt": "<time>", "__v": 0
        });

        // POST: validation first, then the PON, then the task.
        assert_eq!(
            golden(
                http.post(server.url("/api/tasks"))
                    .json(&json!({"type": "plumbing", "pon": "x", "dueDate": "soon"}))
            )
            .await,
            (
                StatusCode::BAD_REQUEST,
                json!({"errors": [
                    error("title", None, "Title is required"),
                    error("type", Some(json!("plumbing")), "Valid task type is required"),
                    error("pon", Some(json!("x")), "Valid PON ID is required"),
                    error("assignedTo", None, "Valid assignee ID is required"),
                    error("dueDate", Some(json!("soon")), "Valid due date is required"),
                ]})
            )
        );
        let body = json!({"title": "String the street", "type": "stringing", "pon": pon_id,
            "assignedTo": john.id, "dueDate": "2024-02-01T00:00:00.000Z", "priority": "high", "estimatedHours": 6.5});
        let mut missing_pon = body.clone();
        missing_pon["pon"] = json!(uuid::Uuid::now_v7().to_string());
        assert_eq!(
            golden(http.post(server.url("/api/tasks")).json(&missing_pon)).await,
            (StatusCode::NOT_FOUND, json!({"message": "PON not found"}))
        );
        let mut finished = body.clone();
        finished["status"] = json!("completed");
        assert_eq!(
            golden(http.post(server.url("/api/tasks")).json(&finished)).await,
            (
                StatusCode::BAD_REQUEST,
                json!({"errors": [error("status", Some(json!("completed")), "A task starts pending; change it through PUT /api/tasks/:id/status")]})
            )
        );
        let mut negative = body.clone();
        negative["estimatedHours"] = json!(-2);
        assert_eq!(
            golden(http.post(server.url("/api/tasks")).json(&negative)).await,
            (
                StatusCode::BAD_REQUEST,
                json!({"errors": [error("estimatedHours", None, "must be a number of at least 0")]})
            )
        );
        let other = legacy_client(&register(&server, "Jane Roe", "project_manager").await.token);
        assert_eq!(
            golden(other.post(server.url("/api/tasks")).json(&body)).await,
            (StatusCode::FORBIDDEN, json!({"message": "Access denied"}))
        );
        let (status, created) = call(http.post(server.url("/api/tasks")).json(&body)).await;
        assert_eq!(
            (status, redact(&created)),
            (StatusCode::OK, task.clone()),
            "{}",
            backends.label()
        );
        let id = created["_id"].as_str().unwrap().to_string();

        // CL-10: the list with the badge; filters.
        let mut listed = task.clone();
        listed["ui"] = json!({"breachedBadge": false});
        assert_eq!(
            golden(http.get(server.url("/api/tasks"))).await,
            (StatusCode::OK, json!([listed]))
        );
        for (query, count) in [
            ("status=pending", 1),
            ("status=completed", 0),
            ("type=stringing", 1),
            ("type=Stringing", 1),
            ("type=installation", 0),
            ("breached=true", 0),
        ] {
            let (status, found) = call(http.get(server.url(&format!("/api/tasks?{query}")))).await;
            assert_eq!(status, StatusCode::OK, "{query}: {found}");
            assert_eq!(found.as_array().unwrap().len(), count, "{query}");
        }
        let (status, found) = call(http.get(server.url(&format!("/api/tasks?pon={pon_id}")))).await;
        assert_eq!(
            (status, found.as_array().unwrap().len()),
            (StatusCode::OK, 1)
        );
        assert_eq!(
            golden(http.get(server.url("/api/tasks?status=done"))).await,
            (
                StatusCode::BAD_REQUEST,
                json!({"message": "Invalid status"})
            )
        );
        assert_eq!(
            golden(http.get(server.url("/api/tasks?pon=12"))).await,
            (
                StatusCode::BAD_REQUEST,
                json!({"message": "Invalid PON id"})
            )
        );
        // The other PM sees none of it.
        assert_eq!(
            golden(other.get(server.url("/api/tasks"))).await,
            (StatusCode::OK, json!([]))
        );

        // PUT /status: the state machine, its times and SLA.
        let status_url = server.url(&format!("/api/tasks/{id}/status"));
        assert_eq!(
            golden(http.put(&status_url).json(&json!({"status": "finished"}))).await,
            (
                StatusCode::BAD_REQUEST,
                json!({"message": "Invalid status"})
            )
        );
        assert_eq!(
            golden(http.put(&status_url).json(&json!({"status": "completed"}))).await,
            (
                StatusCode::BAD_REQUEST,
                json!({"message": "a task cannot move from `pending` to `completed`"})
            )
        );
        assert_eq!(
            golden(
                http.put(server.url("/api/tasks/nope/status"))
                    .json(&json!({"status": "in_progress"}))
            )
            .await,
            (StatusCode::NOT_FOUND, json!({"message": "Task not found"}))
        );
        assert_eq!(
            golden(
                other
                    .put(&status_url)
                    .json(&json!({"status": "in_progress"}))
            )
            .await,
            (StatusCode::NOT_FOUND, json!({"message": "Task not found"}))
        );
        let (status, started) = golden(
            http.put(&status_url)
                .json(&json!({"status": "in_progress"})),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{started}");
        task["status"] = json!("in_progress");
        task["startDate"] = json!("<time>");
        task["slaDueAt"] = json!("<time>");
        task["sla"]["targetAt"] = json!("<time>");
        assert_eq!(started, task);

        // PATCH: explicit times checked, then the move.
        let patch_url = server.url(&format!("/api/tasks/{id}"));
        assert_eq!(
            golden(
                http.patch(&patch_url)
                    .json(&json!({"status": "completed", "completed_at": "yesterday"}))
            )
            .await,
            (
                StatusCode::BAD_REQUEST,
                json!({"message": "Invalid completed_at"})
            )
        );
        let future = (chrono::Utc::now() + chrono::Duration::days(1)).to_rfc3339();
        assert_eq!(
            golden(
                http.patch(&patch_url)
                    .json(&json!({"status": "completed", "completed_at": future}))
            )
            .await,
            (
                StatusCode::BAD_REQUEST,
                json!({"errors": [error("completed_at", None, "must not be in the future")]})
            )
        );
        let (status, done) =
            golden(http.patch(&patch_url).json(&json!({"status": "completed"}))).await;
        assert_eq!(status, StatusCode::OK, "{done}");
        task["status"] = json!("completed");
        task["completedDate"] = json!("<time>");
        assert_eq!(done, task);

        // The PON follows; its detail shows the task with the PON and creator as ids.
        let (status, progressed) =
            call(http.put(server.url(&format!("/api/pons/{pon_id}/progress")))).await;
        assert_eq!(status, StatusCode::OK, "{progressed}");
        assert_eq!(progressed["progress"], 100);
        assert_eq!(progressed["status"], "completed");
        assert!(
            progressed["actualEndDate"]
                .as_str()
                .unwrap()
                .ends_with("T00:00:00.000Z")
        );
        let (_, detail) = golden(http.get(server.url(&format!("/api/pons/{pon_id}")))).await;
        task["pon"] = json!("<id>");
        task["createdBy"] = json!("<id>");
        assert_eq!(detail["tasks"], json!([task]));
        server.stop().await;
    }
}

#[tokio::test]
async fn legacy_report_routes_keep_the_express_shapes() {
    for backends in backend_sets() {
        let server = TestServer::start(&backends).await;
        let (john, http, pon_id) = john_with_dm3_pon(&server).await;
        let (status, task) = call(http.post(server.url("/api/tasks")).json(&json!({
            "title": "CAC", "type": "cac_check", "pon": pon_id, "assignedTo": john.id, "dueDate": "2024-02-01T00:00:00.000Z"
        })))
        .await;
        assert_eq!(status, StatusCode::OK, "{task}");

        // CL-4
        assert_eq!(
            golden(http.get(server.url("/api/reports/dashboard"))).await,
            (
                StatusCode::OK,
                json!({"pons": {"total": 1, "completed": 0, "inProgress": 0, "planned": 1},
                    "tasks": {"total": 1, "completed": 0, "pending": 1, "overdue": 1}})
            ),
            "{}",
            backends.label()
        );
        // CL-11: the projections.
        let user = json!({"_id": "<id>", "name": "John Doe", "email": john.email});
        assert_eq!(
            golden(http.get(server.url("/api/reports/pons"))).await,
            (
                StatusCode::OK,
                json!([{"_id": "<id>", "ponId": "PON-001", "name": "Test PON Installation",
                    "location": "Cape Town, South Africa", "status": "planned", "progress": 0,
                    "startDate": "2024-01-15T00:00:00.000Z", "expectedEndDate": "2024-02-15T00:00:00.000Z",
                    "projectManager": user}])
            )
        );
        assert_eq!(
            golden(http.get(server.url("/api/reports/tasks"))).await,
            (
                StatusCode::OK,
                json!([{"_id": "<id>", "title": "CAC", "type": "cac_check", "status": "pending",
                    "priority": "medium", "dueDate": "2024-02-01T00:00:00.000Z", "evidenceRequired": false,
                    "evidencePhotos": [], "pon": {"_id": "<id>", "ponId": "PON-001", "name": "Test PON Installation"},
                    "assignedTo": user, "createdBy": user}])
            )
        );

        // CL-12 and RFC 4180 quoting of a hostile name, a formula neutralised (OWASP); CL-13.
        let mut hostile = dm3_body();
        hostile["ponId"] = json!("PON,2");
        hostile["name"] = json!("Say \"hi\", then\nleave");
        hostile["location"] = json!("=HYPERLINK(\"http://evil.test\",\"Soweto\")");
        let (status, body) = call(http.post(server.url("/api/pons")).json(&hostile)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let response = http
            .get(server.url("/api/reports/export/pons"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            response.headers()["content-type"],
            "text/csv; charset=utf-8"
        );
        assert_eq!(
            response.headers()["content-disposition"],
            "attachment; filename=pons_report.csv"
        );
        assert_eq!(
            response.text().await.unwrap(),
            "PON ID,Name,Location,Status,Progress,Project Manager,Site Manager,Start Date,Expected End Date,Actual End Date\n\
             PON-001,\"Test PON Installation\",\"Cape Town, South Africa\",planned,0%,\"John Doe\",\"\",2024-01-15,2024-02-15,\n\
             \"PON,2\",\"Say \"\"hi\"\", then\nleave\",\"'=HYPERLINK(\"\"http://evil.test\"\",\"\"Soweto\"\")\",planned,0%,\"John Doe\",\"\",2024-01-15,2024-02-15,"
        );
        assert_eq!(
            golden(http.get(server.url("/api/reports/export/tasks"))).await,
            (
                StatusCode::BAD_REQUEST,
                json!({"message": "Invalid export type"})
            )
        );
        assert_eq!(
            golden(reqwest::Client::new().get(server.url("/api/reports/dashboard"))).await,
            (
                StatusCode::UNAUTHORIZED,
                json!({"message": "No token, authorization denied"})
            )
        );
        // Another project manager's reports are empty.
        let other = legacy_client(&register(&server, "Jane Roe", "project_manager").await.token);
        let (_, dashboard) = call(other.get(server.url("/api/reports/dashboard"))).await;
        assert_eq!(dashboard["pons"]["total"], 0);
        assert_eq!(dashboard["tasks"]["total"], 0);
        let csv = text_of(other.get(server.url("/api/reports/export/pons"))).await;
        assert_eq!(csv.lines().count(), 1, "{csv}");
        server.stop().await;
    }
}
