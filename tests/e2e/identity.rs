//! Identity end to end: registration and login, where tokens are read from, every kind of bad
//! token, rate-limited logins, immediate revocation, role checks, self-service limits, the
//! audit trail, and tenant isolation.

use std::time::Duration;

use kasi_fiber::auth::jwt::JwtKey;
use kasi_fiber::proto::v1::MeRequest;
use kasi_fiber::proto::v1::auth_service_client::AuthServiceClient;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{
    Backends, Bearer, FetchJson, TEST_PASSWORD, TestServer, backend_sets, status_and_body,
    unique_name,
};

const SECRET: &str = "identity-test-secret";

async fn start(backends: &Backends) -> TestServer {
    TestServer::start_with(backends, |config| {
        config.auth.jwt_secret = Some(SECRET.into());
        config.auth.login_account_limit = 4;
    })
    .await
}

#[tokio::test]
async fn register_login_and_me_over_rest_and_grpc() {
    for backends in backend_sets() {
        let server = start(&backends).await;
        let http = reqwest::Client::new();
        let email = format!("{}@Example.TEST", unique_name("pm"));
        let register = json!({"name": "Thandi PM", "email": email, "password": TEST_PASSWORD, "role": "pm", "phone": "+27 11 000 0000"});
        let (status, body) = status_and_body(
            http.post(server.url("/v1/auth/register"))
                .json(&register)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{}: {body}", backends.label());
        assert_eq!(body["user"]["role"], "ROLE_PM");
        assert_eq!(body["user"]["pending_approval"], true);
        assert_eq!(
            body["user"]["email"],
            email.to_lowercase(),
            "e-mails are stored lower-case"
        );
        assert!(body["token"].as_str().unwrap().split('.').count() == 3);

        let (status, body) = status_and_body(
            http.post(server.url("/v1/auth/register"))
                .json(&register)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        let admin = json!({"name": "Sneaky", "email": "sneaky@example.test", "password": TEST_PASSWORD, "role": "ROLE_ADMIN"});
        let (status, body) = status_and_body(
            http.post(server.url("/v1/auth/register"))
                .json(&admin)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["field_violations"][0]["field"], "role");

        let token = server.login(&email.to_uppercase(), TEST_PASSWORD).await;
        let me_bearer: Value = server
            .http_as(&token)
            .get(server.url("/v1/auth/me"))
            .fetch_json()
            .await;
        assert_eq!(me_bearer["name"], "Thandi PM");
        assert!(me_bearer["last_login_at"].is_string());
        let me_legacy: Value = http
            .get(server.url("/v1/auth/me"))
            .header("x-auth-token", &token)
            .fetch_json()
            .await;
        assert_eq!(me_legacy["id"], me_bearer["id"]);
        let mut grpc =
            AuthServiceClient::with_interceptor(server.channel().await, Bearer::new(&token));
        let me_grpc = grpc.me(MeRequest {}).await.unwrap().into_inner();
        assert_eq!(me_grpc.id, me_bearer["id"].as_str().unwrap());
        server.stop().await;
    }
}

fn forged(key: &str, claims: Value) -> String {
    JwtKey::new(key.as_bytes().to_vec(), Some("kasi-fiber".into()), None)
        .sign(claims.as_object().unwrap().clone())
}

#[tokio::test]
async fn bad_tokens_get_401_without_detail_and_x_role_is_ignored() {
    for backends in backend_sets() {
        let server = start(&backends).await;
        let admin_token = server.admin_token().await;
        let me: Value = server
            .http_as(&admin_token)
            .get(server.url("/v1/auth/me"))
            .fetch_json()
            .await;
        let now = chrono::Utc::now().timestamp();
        let claims = |exp: i64| json!({"sub": me["id"], "tenant": me["tenant_id"], "role": "ADMIN", "iat": now, "exp": exp});
        let good = forged(SECRET, claims(now + 600));
        let (header, rest) = good.split_once('.').unwrap();
        let _ = header;
        let none_header = base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            r#"{"alg":"none","typ":"JWT"}"#,
        );
        let alg_none = format!("{none_header}.{}.", rest.split_once('.').unwrap().0);
        let cases = [
            ("malformed", "not.a.token".to_string()),
            ("wrong key", forged("some-other-secret", claims(now + 600))),
            ("expired", forged(SECRET, claims(now - 3600))),
            ("alg none", alg_none),
            ("oversized", format!("{good}{}", "A".repeat(9000))),
        ];
        let http = reqwest::Client::new();
        let (status, _) = status_and_body(
            http.get(server.url("/v1/pons"))
                .bearer_auth(&good)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(
            status,
            StatusCode::OK,
            "a well-formed token of ours works ({})",
            backends.label()
        );
        for (name, token) in cases {
            let (status, body) = status_and_body(
                http.get(server.url("/v1/pons"))
                    .bearer_auth(&token)
                    .send()
                    .await
                    .unwrap(),
            )
            .await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{name}");
            assert_eq!(
                body["detail"], "invalid token",
                "{name}: nothing that helps an attacker"
            );
        }
        let (status, body) = status_and_body(
            http.get(server.url("/v1/pons"))
                .header("x-role", "ADMIN")
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "X-Role alone is not a credential"
        );
        assert_eq!(body["code"], "UNAUTHENTICATED");
        server.stop().await;
    }
}

#[tokio::test]
async fn x_role_is_trusted_only_behind_the_development_flag() {
    let server = TestServer::start_with(&Backends::Embedded, |config| {
        config.auth.dev_trust_x_role = true
    })
    .await;
    let http = reqwest::Client::new();
    let response = http
        .get(server.url("/v1/pons"))
        .header("x-role", "PM")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let response = http
        .post(server.url("/v1/pons"))
        .header("x-role", "SITE")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::FORBIDDEN,
        "the role still has to be allowed"
    );
    server.stop().await;
}

#[tokio::test]
async fn failed_logins_look_alike_and_are_rate_limited() {
    for backends in backend_sets() {
        let server = start(&backends).await;
        let admin = server.admin_token().await;
        let me: Value = server
            .http_as(&admin)
            .get(server.url("/v1/auth/me"))
            .fetch_json()
            .await;
        let email = me["email"].as_str().unwrap();
        let http = reqwest::Client::new();
        let attempt = |email: String, password: &'static str| {
            http.post(server.url("/v1/auth/login"))
                .json(&json!({"email": email, "password": password}))
                .send()
        };
        let wrong_password = status_and_body(
            attempt(email.to_string(), "not-the-password")
                .await
                .unwrap(),
        )
        .await;
        let unknown_email = status_and_body(
            attempt("nobody@example.test".into(), "not-the-password")
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(wrong_password.0, StatusCode::UNAUTHORIZED);
        assert_eq!(
            wrong_password,
            unknown_email,
            "the same answer for both ({})",
            backends.label()
        );
        let (status, body) =
            status_and_body(attempt("not-an-email".into(), "x").await.unwrap()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["field_violations"][0]["field"], "email");

        // The account limit is 4 per window; the admin's own successful login used one.
        for _ in 0..2 {
            attempt(email.to_string(), "not-the-password")
                .await
                .unwrap();
        }
        let limited = attempt(email.to_string(), TEST_PASSWORD).await.unwrap();
        assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
        let retry_after: u64 = limited.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=300).contains(&retry_after), "{retry_after}");
        let (_, body) = status_and_body(limited).await;
        assert_eq!(body["code"], "RESOURCE_EXHAUSTED");
        server.stop().await;
    }
}

#[tokio::test]
async fn deactivation_and_password_changes_revoke_tokens_at_once() {
    for backends in backend_sets() {
        let server = start(&backends).await;
        let admin_token = server.admin_token().await;
        let admin = server.http_as(&admin_token);
        let site_token = server.user_token(&admin_token, "ROLE_SITE").await;
        let site = server.http_as(&site_token);
        let me: Value = site.get(server.url("/v1/auth/me")).fetch_json().await;
        let id = me["id"].as_str().unwrap();
        let email = me["email"].as_str().unwrap();

        let off = admin
            .post(server.url(&format!("/v1/users/{id}:setActive")))
            .json(&json!({"active": false}))
            .send()
            .await
            .unwrap();
        assert_eq!(off.status(), StatusCode::OK);
        let (status, _) =
            status_and_body(site.get(server.url("/v1/auth/me")).send().await.unwrap()).await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "the deactivated user's token stops at once ({})",
            backends.label()
        );
        let login = reqwest::Client::new()
            .post(server.url("/v1/auth/login"))
            .json(&json!({"email": email, "password": TEST_PASSWORD}))
            .send()
            .await
            .unwrap();
        let (status, body) = status_and_body(login).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(
            body["detail"], "invalid credentials",
            "a deactivated account is not revealed"
        );

        admin
            .post(server.url(&format!("/v1/users/{id}:setActive")))
            .json(&json!({"active": true}))
            .send()
            .await
            .unwrap();
        let token = server.login(email, TEST_PASSWORD).await;
        let user = server.http_as(&token);
        // Tokens carry whole seconds: make sure the change happens in a later second than the token.
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let changed = user
            .post(server.url("/v1/auth/password"))
            .json(&json!({"current_password": TEST_PASSWORD, "new_password": "Another-Password-2"}))
            .send()
            .await
            .unwrap();
        assert_eq!(changed.status(), StatusCode::OK);
        let (status, _) =
            status_and_body(user.get(server.url("/v1/auth/me")).send().await.unwrap()).await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "tokens from before the change stop working"
        );
        let fresh = server.login(email, "Another-Password-2").await;
        let (status, _) = status_and_body(
            server
                .http_as(&fresh)
                .get(server.url("/v1/auth/me"))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        server.stop().await;
    }
}

#[tokio::test]
async fn every_rpc_checks_roles() {
    for backends in backend_sets() {
        let server = start(&backends).await;
        let admin_token = server.admin_token().await;
        let tokens = [
            ("ROLE_PM", server.user_token(&admin_token, "ROLE_PM").await),
            (
                "ROLE_SITE",
                server.user_token(&admin_token, "ROLE_SITE").await,
            ),
            (
                "ROLE_AUDITOR",
                server.user_token(&admin_token, "ROLE_AUDITOR").await,
            ),
        ];
        let pon = json!({"pon_code": unique_name("PON-"), "name": "Role test", "fiber_count": 4});
        for (role, token) in &tokens {
            let http = server.http_as(token);
            let create = http
                .post(server.url("/v1/pons"))
                .json(&pon)
                .send()
                .await
                .unwrap()
                .status();
            let read = http
                .get(server.url("/v1/pons"))
                .send()
                .await
                .unwrap()
                .status();
            let users = http
                .get(server.url("/v1/users"))
                .send()
                .await
                .unwrap()
                .status();
            let new_user = http
                .post(server.url("/v1/users"))
                .json(&json!({"name": "X", "email": format!("{}@x.test", unique_name("u")), "password": TEST_PASSWORD, "role": "ROLE_ADMIN"}))
                .send()
                .await
                .unwrap()
                .status();
            // (create PON, list PONs, list users, create user)
            let expected = match *role {
                "ROLE_PM" => (
                    StatusCode::OK,
                    StatusCode::OK,
                    StatusCode::OK,
                    StatusCode::FORBIDDEN,
                ),
                _ => (
                    StatusCode::FORBIDDEN,
                    StatusCode::OK,
                    StatusCode::FORBIDDEN,
                    StatusCode::FORBIDDEN,
                ),
            };
            assert_eq!(
                (create, read, users, new_user),
                expected,
                "{role} ({})",
                backends.label()
            );
        }
        server.stop().await;
    }
}

#[tokio::test]
async fn users_cannot_raise_themselves_or_edit_others() {
    for backends in backend_sets() {
        let server = start(&backends).await;
        let admin_token = server.admin_token().await;
        let site = server.http_as(&server.user_token(&admin_token, "ROLE_SITE").await);
        let me: Value = site.get(server.url("/v1/auth/me")).fetch_json().await;
        let id = me["id"].as_str().unwrap();
        for body in [
            json!({"role": "ROLE_ADMIN"}),
            json!({"email": "new@example.test"}),
            json!({"active": false}),
        ] {
            let response = site
                .patch(server.url(&format!("/v1/users/{id}")))
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::FORBIDDEN, "{body}");
        }
        let renamed: Value = site
            .patch(server.url(&format!("/v1/users/{id}")))
            .json(&json!({"name": "Sipho Site", "profile": {"department": "Civils", "experience": 4}}))
            .fetch_json()
            .await;
        assert_eq!(renamed["name"], "Sipho Site");
        assert_eq!(renamed["profile"]["department"], "Civils");
        assert_eq!(renamed["role"], "ROLE_SITE");

        let admin: Value = server
            .http_as(&admin_token)
            .get(server.url("/v1/auth/me"))
            .fetch_json()
            .await;
        let other = site
            .patch(server.url(&format!("/v1/users/{}", admin["id"].as_str().unwrap())))
            .json(&json!({"name": "Hacked"}))
            .send()
            .await
            .unwrap();
        assert_eq!(other.status(), StatusCode::FORBIDDEN);

        // Every change above is in the audit log, with before and after.
        let db = kasi_fiber::storage::db::connect(&server.config.database, &server.config.data_dir)
            .await
            .unwrap();
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
        let entries = kasi_fiber::audit::entry::Entity::find()
            .filter(kasi_fiber::audit::entry::Column::ResourceId.eq(id))
            .all(&db)
            .await
            .unwrap();
        let actions: Vec<&str> = entries.iter().map(|entry| entry.action.as_str()).collect();
        assert_eq!(actions, ["create", "update"], "{}", backends.label());
        let after: Value = serde_json::from_str(entries[1].after.as_deref().unwrap()).unwrap();
        assert_eq!(after["name"], "Sipho Site");
        assert!(
            !entries[1].before.as_deref().unwrap().contains("argon2"),
            "no password hashes in the log"
        );
        db.close().await.unwrap();
        server.stop().await;
    }
}

/// Two tenants: neither can read, list, update or delete the other's PONs or users.
#[tokio::test]
async fn tenants_are_isolated() {
    for backends in backend_sets() {
        let server = start(&backends).await;
        let alpha = server.http_as(&server.admin_token_in("alpha").await);
        let beta = server.http_as(&server.admin_token_in("beta").await);

        let pon: Value = alpha
            .post(server.url("/v1/pons"))
            .json(&json!({"pon_code": "PON-001", "name": "Alpha PON", "fiber_count": 12}))
            .fetch_json()
            .await;
        let pon_id = pon["id"].as_str().unwrap().to_string();
        // The same business code is free in the other tenant.
        let beta_pon = beta
            .post(server.url("/v1/pons"))
            .json(&json!({"pon_code": "PON-001", "name": "Beta PON", "fiber_count": 12}))
            .send()
            .await
            .unwrap();
        assert_eq!(
            beta_pon.status(),
            StatusCode::OK,
            "pon_code is unique per tenant only"
        );
        let user: Value = alpha
            .post(server.url("/v1/users"))
            .json(&json!({"name": "Alpha PM", "email": format!("{}@alpha.test", unique_name("pm")), "password": TEST_PASSWORD, "role": "ROLE_PM"}))
            .fetch_json()
            .await;
        let user_id = user["id"].as_str().unwrap().to_string();

        let attempts = [
            beta.get(server.url(&format!("/v1/pons/{pon_id}")))
                .send()
                .await
                .unwrap()
                .status(),
            beta.patch(server.url(&format!("/v1/pons/{pon_id}")))
                .json(&json!({"name": "stolen"}))
                .send()
                .await
                .unwrap()
                .status(),
            beta.delete(server.url(&format!("/v1/pons/{pon_id}")))
                .send()
                .await
                .unwrap()
                .status(),
            beta.get(server.url(&format!("/v1/users/{user_id}")))
                .send()
                .await
                .unwrap()
                .status(),
            beta.patch(server.url(&format!("/v1/users/{user_id}")))
                .json(&json!({"name": "stolen"}))
                .send()
                .await
                .unwrap()
                .status(),
            beta.post(server.url(&format!("/v1/users/{user_id}:setActive")))
                .json(&json!({"active": false}))
                .send()
                .await
                .unwrap()
                .status(),
            beta.post(server.url(&format!("/v1/users/{user_id}:setRole")))
                .json(&json!({"role": "ROLE_AUDITOR"}))
                .send()
                .await
                .unwrap()
                .status(),
        ];
        assert!(
            attempts
                .iter()
                .all(|status| *status == StatusCode::NOT_FOUND),
            "{attempts:?} ({})",
            backends.label()
        );
        let beta_pons: Value = beta.get(server.url("/v1/pons")).fetch_json().await;
        assert!(
            beta_pons["pons"]
                .as_array()
                .unwrap()
                .iter()
                .all(|p| p["name"] == "Beta PON")
        );
        let beta_users: Value = beta.get(server.url("/v1/users")).fetch_json().await;
        assert!(
            beta_users["users"]
                .as_array()
                .unwrap()
                .iter()
                .all(|u| u["id"] != user_id.as_str())
        );

        // Beta cannot put its users into alpha's organization.
        let alpha_org: Value = alpha
            .post(server.url("/v1/organizations"))
            .json(&json!({"name": "Alpha Civils", "type": "ORGANIZATION_TYPE_CIVIL"}))
            .fetch_json()
            .await;
        let org_id = alpha_org["id"].as_str().unwrap();
        let (status, body) = status_and_body(
            beta.post(server.url("/v1/users"))
                .json(&json!({"name": "Beta SMME", "email": format!("{}@beta.test", unique_name("smme")), "password": TEST_PASSWORD, "role": "ROLE_SMME", "organization_id": org_id}))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(body["field_violations"][0]["field"], "organization_id");

        // Alpha's records are untouched.
        let still: Value = alpha
            .get(server.url(&format!("/v1/pons/{pon_id}")))
            .fetch_json()
            .await;
        assert_eq!(still["name"], "Alpha PON");
        let still_user: Value = alpha
            .get(server.url(&format!("/v1/users/{user_id}")))
            .fetch_json()
            .await;
        assert_eq!(still_user["active"], true);
        assert_eq!(still_user["role"], "ROLE_PM");
        server.stop().await;
    }
}

/// The audit log is readable by ADMIN and AUDITOR only, filtered, newest first, within the tenant.
#[tokio::test]
async fn audit_entries_are_listed_for_admins_and_auditors() {
    for backends in backend_sets() {
        let server = start(&backends).await;
        let admin_token = server.admin_token().await;
        let admin = server.http_as(&admin_token);
        let auditor = server.http_as(&server.user_token(&admin_token, "ROLE_AUDITOR").await);
        let pm_token = server.user_token(&admin_token, "ROLE_PM").await;
        let pm: Value = server
            .http_as(&pm_token)
            .get(server.url("/v1/auth/me"))
            .fetch_json()
            .await;
        let pm_id = pm["id"].as_str().unwrap();
        admin
            .post(server.url(&format!("/v1/users/{pm_id}:setRole")))
            .json(&json!({"role": "ROLE_NOC"}))
            .send()
            .await
            .unwrap();

        let listed: Value = auditor
            .get(server.url(&format!(
                "/v1/audit-entries?resource_type=user&resource_id={pm_id}"
            )))
            .fetch_json()
            .await;
        let entries = listed["entries"].as_array().unwrap();
        let actions: Vec<&str> = entries
            .iter()
            .map(|e| e["action"].as_str().unwrap())
            .collect();
        assert_eq!(
            actions,
            ["set_role", "create"],
            "newest first ({})",
            backends.label()
        );
        assert_eq!(entries[0]["before"]["role"], "PM");
        assert_eq!(entries[0]["after"]["role"], "NOC");
        assert!(
            entries[0]["actor_user_id"]
                .as_str()
                .is_some_and(|id| !id.is_empty())
        );

        let page: Value = admin
            .get(server.url("/v1/audit-entries?page_size=1&action=create"))
            .fetch_json()
            .await;
        assert_eq!(page["entries"].as_array().unwrap().len(), 1);
        assert!(!page["next_page_token"].as_str().unwrap().is_empty());

        let pm_now = server
            .login(pm["email"].as_str().unwrap(), TEST_PASSWORD)
            .await;
        let refused = server
            .http_as(&pm_now)
            .get(server.url("/v1/audit-entries"))
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), StatusCode::FORBIDDEN);
        let other_tenant = server.http_as(&server.admin_token_in("gamma").await);
        let theirs: Value = other_tenant
            .get(server.url(&format!("/v1/audit-entries?resource_id={pm_id}")))
            .fetch_json()
            .await;
        assert!(
            theirs["entries"].as_array().unwrap().is_empty(),
            "another tenant sees nothing"
        );
        server.stop().await;
    }
}

/// Tokens of an external identity provider (e.g. Supabase: HS256, `aud: authenticated`, role in
/// `app_metadata.role`) are accepted when configured, with issuer and audience checked.
#[tokio::test]
async fn external_identity_provider_tokens() {
    let server = TestServer::start_with(&Backends::Embedded, |config| {
        config.auth.external_jwt_secret = Some("idp-secret".into());
        config.auth.external_jwt_issuer = Some("https://idp.example.test".into());
        config.auth.external_jwt_audience = Some("authenticated".into());
    })
    .await;
    let exp = chrono::Utc::now().timestamp() + 600;
    let claims = json!({"sub": uuid::Uuid::new_v4().to_string(), "role": "authenticated", "app_metadata": {"role": "PM"}, "exp": exp});
    let sign = |issuer: &str, audience: &str| {
        JwtKey::new(
            b"idp-secret".to_vec(),
            Some(issuer.into()),
            Some(audience.into()),
        )
        .sign(claims.as_object().unwrap().clone())
    };
    let http = reqwest::Client::new();
    let accepted = http
        .get(server.url("/v1/pons"))
        .bearer_auth(sign("https://idp.example.test", "authenticated"))
        .send()
        .await
        .unwrap();
    assert_eq!(accepted.status(), StatusCode::OK);
    let created = http
        .post(server.url("/v1/pons"))
        .bearer_auth(sign("https://idp.example.test", "authenticated"))
        .json(&json!({"pon_code": "PON-IDP", "name": "From the IdP", "fiber_count": 2}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        created.status(),
        StatusCode::OK,
        "the PM role from app_metadata applies"
    );
    for (issuer, audience) in [
        ("https://evil.example", "authenticated"),
        ("https://idp.example.test", "anon"),
    ] {
        let refused = http
            .get(server.url("/v1/pons"))
            .bearer_auth(sign(issuer, audience))
            .send()
            .await
            .unwrap();
        assert_eq!(
            refused.status(),
            StatusCode::UNAUTHORIZED,
            "{issuer} {audience}"
        );
    }
    server.stop().await;
}
