//! Golden tests of the legacy `/api/auth` and `/api/users` routes: the exact Express shapes
//! (cases DM-1, DM-2, LA-2 … LA-7 of the external contracts), with the old defects fixed.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{Backends, FetchJson, TestServer, backend_sets, unique_name};

/// Replaces the values that differ per run (ids, times, tokens) with placeholders.
fn redact(value: &Value) -> Value {
    match value {
        Value::String(text) if uuid::Uuid::parse_str(text).is_ok() => json!("<id>"),
        Value::String(text) if chrono::DateTime::parse_from_rfc3339(text).is_ok() => {
            assert!(
                text.ends_with('Z') && text.len() == 24,
                "Express dates have milliseconds: {text}"
            );
            json!("<date>")
        }
        Value::String(text) if text.split('.').count() == 3 && text.len() > 100 => json!("<jwt>"),
        Value::Array(items) => Value::Array(items.iter().map(redact).collect()),
        Value::Object(object) => {
            Value::Object(object.iter().map(|(k, v)| (k.clone(), redact(v))).collect())
        }
        other => other.clone(),
    }
}

async fn call(request: reqwest::RequestBuilder) -> (StatusCode, Value) {
    let response = request.send().await.unwrap();
    let status = response.status();
    (
        status,
        redact(&response.json().await.unwrap_or(Value::Null)),
    )
}

#[tokio::test]
async fn legacy_auth_routes_keep_the_express_shapes() {
    for backends in backend_sets() {
        let server = TestServer::start(&backends).await;
        let http = reqwest::Client::new();
        let email = format!("{}@example.com", unique_name("john"));

        // DM-1
        let dm1 = call(http.get(server.url("/api/auth/user"))).await;
        assert_eq!(
            dm1,
            (
                StatusCode::UNAUTHORIZED,
                json!({"message": "No token, authorization denied"})
            )
        );

        // DM-2: first run, then "already exists".
        let body = json!({"name": "John Doe", "email": email, "password": "password123", "role": "project_manager", "phone": "+1234567890"});
        let dm2 = call(http.post(server.url("/api/auth/register")).json(&body)).await;
        assert_eq!(
            dm2,
            (
                StatusCode::OK,
                json!({"token": "<jwt>", "user": {"id": "<id>", "name": "John Doe", "email": email, "role": "project_manager"}})
            ),
            "{}",
            backends.label()
        );
        let again = call(http.post(server.url("/api/auth/register")).json(&body)).await;
        assert_eq!(
            again,
            (
                StatusCode::BAD_REQUEST,
                json!({"message": "User already exists"})
            )
        );

        // LA-3: admin cannot self-register.
        let la3 = call(http.post(server.url("/api/auth/register")).json(&json!({"name": "Eve", "email": "eve@example.com", "password": "password123", "role": "admin"}))).await;
        assert_eq!(
            la3,
            (
                StatusCode::BAD_REQUEST,
                json!({"errors": [{"type": "field", "value": "admin", "msg": "Role must be specified", "path": "role", "location": "body"}]})
            )
        );

        // LA-5 and LA-4.
        let la5 = call(
            http.post(server.url("/api/auth/login"))
                .json(&json!({"email": "not-an-email", "password": "x"})),
        )
        .await;
        assert_eq!(
            la5,
            (
                StatusCode::BAD_REQUEST,
                json!({"errors": [{"type": "field", "value": "not-an-email", "msg": "Please include a valid email", "path": "email", "location": "body"}]})
            )
        );
        let wrong = call(
            http.post(server.url("/api/auth/login"))
                .json(&json!({"email": email, "password": "wrong-password"})),
        )
        .await;
        let unknown = call(
            http.post(server.url("/api/auth/login"))
                .json(&json!({"email": "nobody@example.com", "password": "wrong-password"})),
        )
        .await;
        assert_eq!(
            wrong,
            (
                StatusCode::BAD_REQUEST,
                json!({"message": "Invalid credentials"})
            )
        );
        assert_eq!(unknown, wrong);

        // LA-1 shape, then LA-2 with both headers.
        let response: Value = http
            .post(server.url("/api/auth/login"))
            .json(&json!({"email": email, "password": "password123"}))
            .fetch_json()
            .await;
        assert_eq!(
            redact(&response),
            json!({"token": "<jwt>", "user": {"id": "<id>", "name": "John Doe", "email": email, "role": "project_manager", "lastLogin": "<date>"}})
        );
        let token = response["token"].as_str().unwrap().to_string();
        // Self-registered: awaiting an admin's approval, which the old client shows as not active.
        let expected_user = json!({
            "_id": "<id>", "name": "John Doe", "email": email, "role": "project_manager", "phone": "+1234567890",
            "isActive": false, "lastLogin": "<date>", "createdAt": "<date>", "updatedAt": "<date>", "__v": 0
        });
        let via_header = call(
            http.get(server.url("/api/auth/user"))
                .header("x-auth-token", &token),
        )
        .await;
        let via_bearer = call(http.get(server.url("/api/auth/user")).bearer_auth(&token)).await;
        assert_eq!(via_header, (StatusCode::OK, expected_user.clone()));
        assert_eq!(via_bearer, via_header);

        // LA-6: tampered token.
        let tampered = format!("{}x", &token[..token.len() - 1]);
        let la6 = call(
            http.get(server.url("/api/auth/user"))
                .header("x-auth-token", tampered),
        )
        .await;
        assert_eq!(
            la6,
            (
                StatusCode::UNAUTHORIZED,
                json!({"message": "Token is not valid"})
            )
        );

        // LA-7, with the defect fixed: the deactivated account is not revealed by login.
        let admin = server.http_as(&server.admin_token().await);
        let id = response["user"]["id"].as_str().unwrap();
        admin
            .post(server.url(&format!("/v1/users/{id}:setActive")))
            .json(&json!({"active": false}))
            .send()
            .await
            .unwrap();
        let la7_token = call(
            http.get(server.url("/api/auth/user"))
                .header("x-auth-token", &token),
        )
        .await;
        assert_eq!(
            la7_token,
            (
                StatusCode::UNAUTHORIZED,
                json!({"message": "Token is not valid"})
            )
        );
        let la7_login = call(
            http.post(server.url("/api/auth/login"))
                .json(&json!({"email": email, "password": "password123"})),
        )
        .await;
        assert_eq!(
            la7_login,
            (
                StatusCode::BAD_REQUEST,
                json!({"message": "Invalid credentials"})
            )
        );
        server.stop().await;
    }
}

#[tokio::test]
async fn legacy_user_routes_keep_the_express_shapes() {
    for backends in backend_sets() {
        let server = TestServer::start(&backends).await;
        let admin_token = server.admin_token().await;
        let site_token = server.user_token(&admin_token, "ROLE_SITE").await;
        let http = reqwest::Client::new();
        let as_site =
            |request: reqwest::RequestBuilder| request.header("x-auth-token", site_token.clone());

        let (status, body) = call(as_site(http.get(server.url("/api/users")))).await;
        assert_eq!(
            (status, body),
            (
                StatusCode::FORBIDDEN,
                json!({"message": "Insufficient permissions"})
            )
        );
        let (status, users) =
            call(http.get(server.url("/api/users")).bearer_auth(&admin_token)).await;
        assert_eq!(status, StatusCode::OK);
        let users = users.as_array().unwrap();
        assert_eq!(
            users.len(),
            2,
            "{} ({})",
            Value::Array(users.clone()),
            backends.label()
        );
        assert!(
            users
                .iter()
                .all(|user| user.get("password").is_none() && user["_id"] == "<id>")
        );

        let me: Value = http
            .get(server.url("/api/auth/user"))
            .header("x-auth-token", &site_token)
            .fetch_json()
            .await;
        let id = me["_id"].as_str().unwrap();
        let (status, body) = call(as_site(http.get(server.url("/api/users/not-an-id")))).await;
        assert_eq!(
            (status, body),
            (StatusCode::NOT_FOUND, json!({"message": "User not found"}))
        );

        // Self-update: password, role, email are dropped; the active flag cannot be switched off by oneself.
        let (status, updated) = call(as_site(http.put(server.url(&format!("/api/users/{id}")))).json(&json!({
            "name": "Sipho", "role": "admin", "email": "x@y.z", "password": "hijack", "isActive": false,
            "profile": {"department": "Civils", "experience": 3}
        })))
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(updated["name"], "Sipho");
        assert_eq!(updated["role"], "site_manager");
        assert_eq!(updated["isActive"], true);
        assert_eq!(
            updated["profile"],
            json!({"avatar": "", "department": "Civils", "location": "", "experience": 3})
        );
        let still_works = http
            .get(server.url("/api/auth/user"))
            .header("x-auth-token", &site_token)
            .send()
            .await
            .unwrap();
        assert_eq!(
            still_works.status(),
            StatusCode::OK,
            "the password was not changed"
        );

        let admin_me: Value = http
            .get(server.url("/api/auth/user"))
            .bearer_auth(&admin_token)
            .fetch_json()
            .await;
        let (status, body) = call(
            as_site(
                http.put(server.url(&format!("/api/users/{}", admin_me["_id"].as_str().unwrap()))),
            )
            .json(&json!({"name": "x"})),
        )
        .await;
        assert_eq!(
            (status, body),
            (StatusCode::FORBIDDEN, json!({"message": "Access denied"}))
        );
        server.stop().await;
    }
}

#[tokio::test]
async fn legacy_register_validates_every_field_in_order() {
    let server = TestServer::start(&Backends::Embedded).await;
    let (status, body) = call(
        reqwest::Client::new()
            .post(server.url("/api/auth/register"))
            .json(&json!({"email": "bad", "password": "123"})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let paths: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, ["name", "email", "password", "role"]);
    assert!(
        body["errors"][0].get("value").is_none(),
        "value is left out when the field was absent"
    );
    assert_eq!(body["errors"][1]["value"], "bad");
    server.stop().await;
}
