//! Hardening end to end: self-registration that grants nothing until an admin approves it,
//! invites, a read-only role that can never write, client addresses read right to left, and
//! writes retried with an idempotency key running once.

use kasi_fiber::config::SelfRegistration;
use kasi_fiber::proto::v1::ListUsersRequest;
use kasi_fiber::proto::v1::user_service_client::UserServiceClient;
use prost_reflect::{DescriptorPool, DynamicMessage, Kind, MessageDescriptor, Value as Field};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{
    Bearer, TEST_PASSWORD, TestServer, backend_sets, call, id_of, ok, unique_name,
};

/// Registers over REST; the answer's status and body.
async fn register(server: &TestServer, body: Value) -> (StatusCode, Value) {
    call(
        reqwest::Client::new()
            .post(server.url("/v1/auth/register"))
            .json(&body),
    )
    .await
}

fn sign_up(role: &str) -> Value {
    json!({
        "name": "New Person",
        "email": format!("{}@example.test", unique_name("self")),
        "password": TEST_PASSWORD,
        "role": role,
    })
}

#[tokio::test]
async fn a_self_registered_account_can_do_nothing_until_an_admin_approves_it() {
    for backends in backend_sets() {
        let server = TestServer::start(&backends).await;
        let label = backends.label();
        let admin = server.http_as(&server.admin_token().await);

        let (status, body) = register(&server, sign_up("pm")).await;
        assert_eq!(status, StatusCode::OK, "{label}: {body}");
        assert_eq!(body["user"]["pending_approval"], true, "{body}");
        let token = body["token"].as_str().unwrap().to_string();
        let user_id = body["user"]["id"].as_str().unwrap().to_string();
        let pending = server.http_as(&token);

        // Its own profile, on every surface.
        let me = ok(pending.get(server.url("/v1/auth/me"))).await;
        assert_eq!(me["pending_approval"], true);
        let legacy_me = ok(reqwest::Client::new()
            .get(server.url("/api/auth/user"))
            .header("x-auth-token", &token))
        .await;
        assert_eq!(legacy_me["isActive"], false, "pending shows as not active");

        // Nothing else: a pending PM cannot list users or touch organizations.
        let awaiting = |(status, body): (StatusCode, Value)| {
            assert_eq!(status, StatusCode::FORBIDDEN, "{label}: {body}");
            assert_eq!(body["detail"], "account awaiting approval", "{body}");
        };
        awaiting(call(pending.get(server.url("/v1/users"))).await);
        awaiting(call(pending.get(server.url("/v1/organizations"))).await);
        awaiting(
            call(
                pending
                    .post(server.url("/v1/organizations"))
                    .json(&json!({"name": "Mine", "type": "Civil"})),
            )
            .await,
        );
        let organization = ok(admin
            .post(server.url("/v1/organizations"))
            .json(&json!({"name": unique_name("Org "), "type": "Civil"})))
        .await;
        awaiting(
            call(
                pending.delete(server.url(&format!("/v1/organizations/{}", id_of(&organization)))),
            )
            .await,
        );
        let (status, _) = call(pending.get(server.url("/api/users"))).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "legacy list of users");
        let mut grpc =
            UserServiceClient::with_interceptor(server.channel().await, Bearer::new(&token));
        let refused = grpc
            .list_users(ListUsersRequest::default())
            .await
            .unwrap_err();
        assert_eq!(refused.code(), tonic::Code::PermissionDenied);
        assert_eq!(refused.message(), "account awaiting approval");
        // The organization is still there.
        ok(admin.get(server.url(&format!("/v1/organizations/{}", id_of(&organization))))).await;

        // Only an ADMIN approves; then the same token works as a PM.
        let (status, _) = call(
            pending
                .post(server.url(&format!("/v1/users/{user_id}:approve")))
                .json(&json!({})),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let approved = ok(admin
            .post(server.url(&format!("/v1/users/{user_id}:approve")))
            .json(&json!({})))
        .await;
        assert_eq!(approved["pending_approval"], false);
        assert_eq!(approved["active"], true);
        ok(pending.get(server.url("/v1/users"))).await;
        let (status, body) = call(
            admin
                .post(server.url(&format!("/v1/users/{user_id}:approve")))
                .json(&json!({})),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "approved twice: {body}");

        // The legacy admin screen's `isActive: true` approves too.
        let legacy =
            crate::legacy_buildout::register_pending(&server, "Sam Site", "site_manager").await;
        let legacy_client = server.http_as(&legacy.token);
        let (status, _) = call(legacy_client.get(server.url("/api/pons"))).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let admin_token = server.admin_token().await;
        let document = ok(reqwest::Client::new()
            .put(server.url(&format!("/api/users/{}", legacy.id)))
            .header("x-auth-token", &admin_token)
            .json(&json!({"isActive": true})))
        .await;
        assert_eq!(document["isActive"], true);
        ok(legacy_client.get(server.url("/api/pons"))).await;
        server.stop().await;
    }
}

#[tokio::test]
async fn other_tenants_are_joined_only_through_an_invite() {
    for backends in backend_sets() {
        let server = TestServer::start(&backends).await;
        let slug = unique_name("t");
        let acme_admin = server.http_as(&server.admin_token_in(&slug).await);

        // A slug alone no longer joins a tenant.
        let mut body = sign_up("site");
        body["tenant"] = json!(slug);
        let (status, answer) = register(&server, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
        assert_eq!(answer["field_violations"][0]["field"], "tenant");

        let invite = ok(acme_admin
            .post(server.url("/v1/invites"))
            .json(&json!({"max_uses": 1, "ttl_seconds": 3600})))
        .await;
        let code = invite["code"].as_str().unwrap();
        assert_eq!(code.len(), 32);
        let mut body = sign_up("site");
        body["invite_code"] = json!(code);
        let (status, joined) = register(&server, body).await;
        assert_eq!(status, StatusCode::OK, "{joined}");
        assert_eq!(joined["user"]["tenant_id"], invite["tenant_id"]);
        assert_eq!(joined["user"]["pending_approval"], true);
        // The admin of that tenant sees and approves the newcomer.
        let newcomer = joined["user"]["id"].as_str().unwrap();
        ok(acme_admin
            .post(server.url(&format!("/v1/users/{newcomer}:approve")))
            .json(&json!({})))
        .await;

        // Used up; an unknown code is the same answer; a bad field does not spend a code.
        let mut body = sign_up("site");
        body["invite_code"] = json!(code);
        let (status, answer) = register(&server, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(answer["field_violations"][0]["field"], "invite_code");
        let second = ok(acme_admin
            .post(server.url("/v1/invites"))
            .json(&json!({"max_uses": 1})))
        .await;
        let mut body = sign_up("site");
        body["invite_code"] = second["code"].clone();
        body["password"] = json!("short");
        let (status, _) = register(&server, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let mut body = sign_up("site");
        body["invite_code"] = second["code"].clone();
        let (status, answer) = register(&server, body).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "the code survived the bad try: {answer}"
        );
        // Only an ADMIN makes invites.
        let pm = server.http_as(
            &server
                .user_token(&server.admin_token_in(&slug).await, "ROLE_PM")
                .await,
        );
        let (status, _) = call(pm.post(server.url("/v1/invites")).json(&json!({}))).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        server.stop().await;
    }
}

#[tokio::test]
async fn self_registration_can_be_off_or_open() {
    for backends in backend_sets() {
        let off = TestServer::start_with(&backends, |config| {
            config.auth.self_registration = SelfRegistration::Off;
        })
        .await;
        let (status, _) = register(&off, sign_up("pm")).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        off.stop().await;

        let open = TestServer::start_with(&backends, |config| {
            config.auth.self_registration = SelfRegistration::Open;
        })
        .await;
        let (status, body) = register(&open, sign_up("pm")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["user"]["pending_approval"], false);
        ok(open
            .http_as(body["token"].as_str().unwrap())
            .get(open.url("/v1/users")))
        .await;
        open.stop().await;
    }
}

/// Whether an RPC only reads, by its AIP verb.
fn reads(method: &prost_reflect::MethodDescriptor) -> bool {
    [
        "Get",
        "List",
        "Check",
        "Watch",
        "Export",
        "Me",
        "ServerReflection",
    ]
    .iter()
    .any(|verb| method.name().starts_with(verb))
}

/// A request with every boolean set (ids and other strings are fresh UUIDs, numbers 1).
fn every_flag_set(descriptor: MessageDescriptor, depth: usize) -> DynamicMessage {
    let mut message = DynamicMessage::new(descriptor.clone());
    for field in descriptor.fields() {
        if field.is_list() || field.is_map() || field.containing_oneof().is_some() {
            continue;
        }
        let value = match field.kind() {
            Kind::Bool => Field::Bool(true),
            Kind::String => Field::String(uuid::Uuid::now_v7().to_string()),
            Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => Field::I32(1),
            Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => Field::I64(1),
            Kind::Uint32 | Kind::Fixed32 => Field::U32(1),
            Kind::Uint64 | Kind::Fixed64 => Field::U64(1),
            Kind::Double => Field::F64(1.0),
            Kind::Float => Field::F32(1.0),
            Kind::Enum(_) => Field::EnumNumber(1),
            Kind::Message(inner) if depth < 3 => Field::Message(every_flag_set(inner, depth + 1)),
            _ => continue,
        };
        message.set_field(&field, value);
    }
    message
}

#[tokio::test]
async fn an_auditor_cannot_write_through_any_rpc_whatever_flags_it_sets() {
    for backends in backend_sets() {
        let server = TestServer::start(&backends).await;
        let auditor = server
            .user_token(&server.admin_token().await, "ROLE_AUDITOR")
            .await;
        let pool = DescriptorPool::decode(kasi_fiber::proto::FILE_DESCRIPTOR_SET).unwrap();
        let channel = server.channel().await;
        let mut checked = Vec::new();
        for service in pool.services() {
            for method in service.methods() {
                // Public sign-up and login act for nobody yet; a password is one's own.
                let own_account = ["Register", "Login", "ChangePassword"];
                if (reads(&method) && method.name() != "EvaluateOptical")
                    || own_account.contains(&method.name())
                    || method.is_client_streaming()
                {
                    continue;
                }
                let path = format!("/{}/{}", service.full_name(), method.name());
                let request = every_flag_set(method.input(), 0);
                let mut grpc = tonic::client::Grpc::new(channel.clone());
                grpc.ready().await.unwrap();
                let mut call = tonic::Request::new(request);
                call.metadata_mut().insert(
                    "authorization",
                    format!("Bearer {auditor}").parse().unwrap(),
                );
                let codec = tonic_prost::ProstCodec::<DynamicMessage, ()>::default();
                let status = grpc
                    .unary(call, path.parse().unwrap(), codec)
                    .await
                    .expect_err(&path);
                assert_eq!(
                    status.code(),
                    tonic::Code::PermissionDenied,
                    "{path} as AUDITOR on {}: {status:?}",
                    backends.label()
                );
                checked.push(path);
            }
        }
        assert!(
            checked.len() > 40 && checked.iter().any(|p| p.ends_with("/EvaluateOptical")),
            "{checked:?}"
        );
        // The same reading RPC without the writing flag is the auditor's to call.
        ok(server
            .http_as(&auditor)
            .post(server.url("/v1/optical-readings:evaluate"))
            .json(&json!({"raise_incidents": false})))
        .await;
        server.stop().await;
    }
}

#[tokio::test]
async fn a_spoofed_forwarded_for_does_not_escape_the_per_address_login_limit() {
    for backends in backend_sets() {
        let server = TestServer::start_with(&backends, |config| {
            config.auth.login_ip_limit = 3;
            config.auth.login_account_limit = 100;
            config.auth.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
        })
        .await;
        let attempt = |n: usize| {
            reqwest::Client::new()
                .post(server.url("/v1/auth/login"))
                // Our proxy (127.0.0.1) appended 198.51.100.7; the leftmost part is the client's own.
                .header("x-forwarded-for", format!("10.0.{n}.1, 198.51.100.7"))
                .json(&json!({"email": format!("nobody{n}@example.test"), "password": "wrong-password"}))
        };
        for n in 0..3 {
            let (status, _) = call(attempt(n)).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED);
        }
        let (status, _) = call(attempt(9)).await;
        assert_eq!(
            status,
            StatusCode::TOO_MANY_REQUESTS,
            "a new leftmost address each time is still the same client on {}",
            backends.label()
        );
        server.stop().await;
    }
}

/// The number of PONs the caller can see.
async fn pons_seen(server: &TestServer, http: &reqwest::Client) -> usize {
    ok(http.get(server.url("/v1/pons?page_size=500"))).await["pons"]
        .as_array()
        .map_or(0, Vec::len)
}

#[tokio::test]
async fn a_retried_create_with_the_same_idempotency_key_writes_once() {
    use kasi_fiber::proto::v1::CreatePonRequest;

    for backends in backend_sets() {
        let server = TestServer::start(&backends).await;
        let label = backends.label();
        let token = server.admin_token().await;
        let http = server.http_as(&token);
        let create = |key: &str, code: &str| {
            http.post(server.url("/v1/pons"))
                .header("idempotency-key", key)
                .json(&crate::pons_rest::new_pon(code))
        };

        // REST: the answer again, nothing written again.
        let first = create("key-1", "PON-IDEM-1").send().await.unwrap();
        assert_eq!(first.status(), StatusCode::OK, "{label}");
        let first: Value = first.json().await.unwrap();
        let retried = create("key-1", "PON-IDEM-1").send().await.unwrap();
        assert_eq!(retried.status(), StatusCode::OK);
        assert_eq!(retried.headers()["idempotent-replayed"], "true");
        assert_eq!(retried.json::<Value>().await.unwrap(), first);
        assert_eq!(pons_seen(&server, &http).await, 1, "{label}");
        // The same key with another body is a conflict.
        let (status, body) = call(create("key-1", "PON-IDEM-2")).await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        assert_eq!(body["code"], "ALREADY_EXISTS");
        // A failed request gives its key back.
        let (status, _) = call(
            http.post(server.url("/v1/pons"))
                .header("idempotency-key", "key-2")
                .json(&json!({"pon_code": ""})),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        ok(create("key-2", "PON-IDEM-3")).await;
        // Keys are per caller: another admin's `key-1` is another key.
        let other = server.http_as(&server.admin_token().await);
        ok(other
            .post(server.url("/v1/pons"))
            .header("idempotency-key", "key-1")
            .json(&crate::pons_rest::new_pon("PON-IDEM-4")))
        .await;
        assert_eq!(pons_seen(&server, &http).await, 3);

        // Concurrent retries of one request: one write, the others replay or are told to wait.
        let racing = futures::future::join_all(
            (0..5).map(|_| async { call(create("key-3", "PON-IDEM-5")).await }),
        )
        .await;
        let ids: std::collections::BTreeSet<String> = racing
            .iter()
            .filter(|(status, _)| *status == StatusCode::OK)
            .map(|(_, body)| id_of(body))
            .collect();
        assert_eq!(ids.len(), 1, "{racing:?}");
        assert!(
            racing
                .iter()
                .all(|(status, _)| *status == StatusCode::OK || *status == StatusCode::CONFLICT)
        );
        assert_eq!(pons_seen(&server, &http).await, 4);

        // Legacy path: header; gRPC: metadata.
        let legacy = || {
            reqwest::Client::new()
                .post(server.url("/api/pons"))
                .header("x-auth-token", &token)
                .header("idempotency-key", "key-4")
                .json(&json!({"ponId": "PON-IDEM-6", "name": "Six", "location": "Soweto", "startDate": "2024-01-15", "expectedEndDate": "2024-02-15", "fiberCount": 24}))
        };
        let once = ok(legacy()).await;
        assert_eq!(ok(legacy()).await["_id"], once["_id"]);
        let mut grpc = crate::pons_grpc::client_as(&server, &token).await;
        let request = || {
            let mut request = tonic::Request::new(CreatePonRequest {
                pon: Some(crate::pons_grpc::sample_pon("PON-IDEM-7")),
            });
            request
                .metadata_mut()
                .insert("idempotency-key", "key-5".parse().unwrap());
            request
        };
        let created = grpc.create_pon(request()).await.unwrap();
        let again = grpc.create_pon(request()).await.unwrap();
        assert_eq!(again.get_ref().id, created.get_ref().id, "{label}");
        assert_eq!(again.metadata().get("idempotent-replayed").unwrap(), "true");
        assert_eq!(pons_seen(&server, &http).await, 6);

        // A malformed key is refused.
        let (status, body) = call(create("has space", "PON-IDEM-8")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        server.stop().await;
    }
}
