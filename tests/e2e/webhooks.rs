//! NMS webhooks end to end: the example payloads, signature variants, the legacy shared-secret
//! hook, allowlist behind a proxy, rate limit, dedup, recovery, suppression for every window
//! scope, and an alert storm opening exactly one incident per device.

use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::Sha256;

use crate::devices::new_device;
use crate::harness::{Backends, TestServer, backend_sets, call, id_of, ok};

const LIBRENMS: &str = r#"{"hostname":"OLT-01","severity":"critical","rule":"Device Down","alert_id":12345,"state":"alert","msg":"OLT-01 no response"}"#;
const ZABBIX: &str = r#"{"host":"OLT-01","severity":"High","event_id":"8888","problem":true,"name":"PON1 LOS","message":"ONU flaps on PON1"}"#;
const ZABBIX_CLEAR: &str = r#"{"host":"OLT-01","severity":"High","event_id":"8888","problem":"false","name":"PON1 LOS clear","message":"Recovered"}"#;
pub const SECRET: &str = "nms-test-secret";

fn sign(secret: &str, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

async fn signed_server(backends: &Backends) -> TestServer {
    TestServer::start_with(backends, |config| {
        config.webhooks.nms_hmac_secret = Some(SECRET.into());
        config.webhooks.nms_webhook_secret = Some("legacy-secret".into());
        config.webhooks.webhook_ip_limit = 10_000;
    })
    .await
}

/// POSTs `body` to `path` signed with the NMS secret.
pub async fn post_signed(server: &TestServer, path: &str, body: &str) -> (StatusCode, Value) {
    call(
        reqwest::Client::new()
            .post(server.url(path))
            .header("content-type", "application/json")
            .header("x-signature", sign(SECRET, body))
            .body(body.to_string()),
    )
    .await
}

#[tokio::test]
async fn example_payloads_and_signature_variants() {
    for backends in backend_sets() {
        let server = TestServer::start_with(&backends, |config| {
            config.webhooks.webhook_hmac_librenms = Some("libre-only".into());
            config.webhooks.nms_hmac_secret = Some(SECRET.into());
        })
        .await;
        let http = server.http_as(&server.admin_token().await);
        let olt = new_device(
            &server,
            &http,
            json!({"name": "OLT-01", "type": "OLT", "ward": "Ward 3"}),
        )
        .await;
        let client = reqwest::Client::new();
        let post = |path: &str, signature: Option<String>, body: &str| {
            let mut request = client
                .post(server.url(path))
                .header("content-type", "application/json")
                .body(body.to_string());
            if let Some(signature) = signature {
                request = request.header("x-signature", signature);
            }
            call(request)
        };

        // LibreNMS uses its own secret (bare hex), not the fallback.
        let (status, body) =
            post("/webhooks/librenms", Some(sign(SECRET, LIBRENMS)), LIBRENMS).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{}", backends.label());
        assert_eq!(body["detail"], "Invalid signature");
        let (status, created) = post(
            "/webhooks/librenms",
            Some(sign("libre-only", LIBRENMS)),
            LIBRENMS,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{created}");
        let incident_id = created["incident_id"].as_str().unwrap().to_string();
        let incident = ok(http.get(server.url(&format!("/v1/incidents/{incident_id}")))).await;
        assert_eq!(incident["title"], "OLT-01 Device Down alert");
        assert_eq!(incident["description"], "OLT-01 no response");
        assert_eq!(incident["severity"], "P1");
        assert_eq!(incident["category"], "device_down");
        assert_eq!(incident["nms_source"], "LibreNMS");
        assert_eq!(incident["nms_event_id"], "12345");
        assert_eq!(incident["device_id"], olt["id"], "device found by name");
        assert_eq!(incident["ward"], "Ward 3");

        // The `sha256=` prefix is accepted too; the repeat folds into the incident.
        let (status, repeat) = post(
            "/webhooks/librenms",
            Some(format!("sha256={}", sign("libre-only", LIBRENMS))),
            LIBRENMS,
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(repeat["dedup"], true);
        assert_eq!(repeat["incident_id"], incident_id.as_str());
        let (status, body) = post("/webhooks/librenms", None, LIBRENMS).await;
        assert_eq!(
            (status, body["detail"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("Missing signature"))
        );
        let tampered = LIBRENMS.replace("critical", "info");
        let (status, _) = post(
            "/webhooks/librenms",
            Some(sign("libre-only", LIBRENMS)),
            &tampered,
        )
        .await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "signature covers the raw body"
        );

        // Zabbix falls back to NMS_HMAC_SECRET.
        let (status, created) = post("/webhooks/zabbix", Some(sign(SECRET, ZABBIX)), ZABBIX).await;
        assert_eq!(status, StatusCode::OK, "{created}");
        let zabbix = ok(http.get(server.url(&format!(
            "/v1/incidents/{}",
            created["incident_id"].as_str().unwrap()
        ))))
        .await;
        assert_eq!(zabbix["title"], "OLT-01 PON1 LOS");
        assert_eq!(zabbix["severity"], "P2");
        assert_eq!(zabbix["category"], "los");

        // Wrong media type, malformed JSON and a non-boolean `problem` are client errors.
        let (status, _) = call(
            client
                .post(server.url("/webhooks/zabbix"))
                .header("content-type", "text/plain")
                .header("x-signature", sign(SECRET, ZABBIX))
                .body(ZABBIX),
        )
        .await;
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        let (status, _) = post(
            "/webhooks/zabbix",
            Some(sign(SECRET, "{not json")),
            "{not json",
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let maybe = r#"{"host":"OLT-01","event_id":"1","problem":"maybe"}"#;
        let (status, body) = post("/webhooks/zabbix", Some(sign(SECRET, maybe)), maybe).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(
            body["detail"].as_str().unwrap().starts_with("problem"),
            "{body}"
        );
        server.stop().await;

        // No secret configured: refused, unless the development flag says otherwise.
        let unconfigured = TestServer::start(&backends).await;
        let (status, body) = call(
            client
                .post(unconfigured.url("/webhooks/librenms"))
                .header("content-type", "application/json")
                .body(LIBRENMS),
        )
        .await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        let (status, body) = call(
            client
                .post(unconfigured.url("/api/nms/hook"))
                .header("x-webhook-secret", "anything")
                .json(&json!({"rule": "x"})),
        )
        .await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(body["message"], "Server not configured: NMS_WEBHOOK_SECRET");
        unconfigured.stop().await;
        let development = TestServer::start_with(&backends, |config| {
            config.webhooks.webhook_allow_unsigned = true;
        })
        .await;
        let (status, body) = call(
            client
                .post(development.url("/webhooks/librenms"))
                .header("content-type", "application/json")
                .body(LIBRENMS),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        development.stop().await;
    }
}

#[tokio::test]
async fn dedup_recovery_and_signals() {
    for backends in backend_sets() {
        let server = signed_server(&backends).await;
        let http = server.http_as(&server.admin_token().await);
        new_device(
            &server,
            &http,
            json!({"name": "OLT-01", "type": "OLT", "mgmt_ip": "10.0.0.1"}),
        )
        .await;

        let (_, first) = post_signed(&server, "/webhooks/zabbix", ZABBIX).await;
        let id = first["incident_id"].as_str().unwrap().to_string();
        let (_, again) = post_signed(&server, "/webhooks/zabbix", ZABBIX).await;
        assert_eq!(
            again,
            json!({"ok": true, "incident_id": id, "dedup": true}),
            "{}",
            backends.label()
        );

        // `problem: "false"` is a clear (a boolean, not truthiness).
        let (status, cleared) = post_signed(&server, "/webhooks/zabbix", ZABBIX_CLEAR).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            cleared,
            json!({"ok": true, "incident_id": id, "cleared": true})
        );
        let incident = ok(http.get(server.url(&format!("/v1/incidents/{id}")))).await;
        assert_eq!(incident["status"], "resolved");
        assert!(incident["resolved_at"].is_string());
        let signals = ok(http.get(server.url(&format!("/v1/incidents/{id}/signals")))).await;
        let keys: Vec<&str> = signals["signals"]
            .as_array()
            .unwrap()
            .iter()
            .map(|signal| signal["key"].as_str().unwrap())
            .collect();
        assert_eq!(keys, ["recovery", "update", "raw"]);
        let (_, nothing) = post_signed(&server, "/webhooks/zabbix", ZABBIX_CLEAR).await;
        assert_eq!(nothing, json!({"ok": true, "message": "No open incident"}));

        // After the clear the same event opens a new incident.
        let (_, reopened) = post_signed(&server, "/webhooks/zabbix", ZABBIX).await;
        assert_ne!(reopened["incident_id"], id.as_str());
        assert!(reopened.get("dedup").is_none());

        // LibreNMS recovery states resolve too.
        let (_, libre) = post_signed(&server, "/webhooks/librenms", LIBRENMS).await;
        let recovery = LIBRENMS.replace("\"alert\"", "\"recovery\"");
        let (_, cleared) = post_signed(&server, "/webhooks/librenms", &recovery).await;
        assert_eq!(cleared["cleared"], true, "{cleared}");
        assert_eq!(cleared["incident_id"], libre["incident_id"]);

        // Repeats without an event id fold in by device (found by management IP) and category.
        let no_id = r#"{"ip":"10.0.0.1","rule":"Optical low power"}"#;
        let sign_legacy = |body: &str| {
            reqwest::Client::new()
                .post(server.url("/api/nms/hook"))
                .header("x-webhook-secret", "legacy-secret")
                .header("content-type", "application/json")
                .body(body.to_string())
        };
        let (status, legacy) = call(sign_legacy(no_id)).await;
        assert_eq!(status, StatusCode::OK, "{legacy}");
        let legacy_id = legacy["incidentId"].as_str().unwrap().to_string();
        let (_, repeat) = call(sign_legacy(no_id)).await;
        assert_eq!(repeat["incidentId"], legacy_id.as_str());
        assert_eq!(repeat["updated"], true);
        assert_eq!(repeat["status"], "open");
        let opened = ok(http.get(server.url(&format!("/v1/incidents/{legacy_id}")))).await;
        assert_eq!(opened["severity"], "P2");
        assert_eq!(opened["category"], "optical_low_power");
        assert_eq!(opened["title"], "Optical low power on 10.0.0.1");
        let (status, body) = call(
            reqwest::Client::new()
                .post(server.url("/api/nms/hook"))
                .header("x-webhook-secret", "wrong")
                .json(&json!({"rule": "x"})),
        )
        .await;
        assert_eq!(
            (status, body),
            (StatusCode::UNAUTHORIZED, json!({"message": "Unauthorized"}))
        );
        server.stop().await;
    }
}

#[tokio::test]
async fn maintenance_windows_suppress_each_scope() {
    for backends in backend_sets() {
        let server = signed_server(&backends).await;
        let http = server.http_as(&server.admin_token().await);
        let pon = id_of(
            &ok(http.post(server.url("/v1/pons")).json(
                &json!({"pon_code": "PON-S", "name": "PON S", "ward": "Ward 5", "fiber_count": 8}),
            ))
            .await,
        );
        let organization = id_of(
            &ok(http
                .post(server.url("/v1/organizations"))
                .json(&json!({"name": "Night Shift", "type": "Technical"})))
            .await,
        );
        ok(http.post(server.url("/v1/assignments")).json(
            &json!({"organization_id": organization, "ward": "Ward 6", "step_type": "maintenance"}),
        ))
        .await;
        let now = chrono::Utc::now();
        let window = |scope: &str, target: Option<&str>| {
            let mut body = json!({
                "scope": scope,
                "start_at": (now - chrono::Duration::minutes(1)).to_rfc3339(),
                "end_at": (now + chrono::Duration::hours(1)).to_rfc3339(),
            });
            if let Some(target) = target {
                body["target_id"] = json!(target);
            }
            body
        };
        let cases = [
            ("Device", json!({"name": "DEV-S", "type": "SWITCH"})),
            (
                "PON",
                json!({"name": "PON-DEV", "type": "ONT", "pon_id": pon}),
            ),
            (
                "Org",
                json!({"name": "ORG-DEV", "type": "ROUTER", "ward": "Ward 6"}),
            ),
            ("Global", json!({"name": "ANY-DEV", "type": "UPS"})),
        ];
        for (scope, device) in cases {
            let device = new_device(&server, &http, device).await;
            let target = match scope {
                "Device" => Some(id_of(&device)),
                "PON" => Some(pon.clone()),
                "Org" => Some(organization.clone()),
                _ => None,
            };
            let created = ok(http
                .post(server.url("/v1/maintenance-windows"))
                .json(&window(scope, target.as_deref())))
            .await;
            let alert = json!({
                "host": device["name"], "severity": "Disaster", "event_id": format!("s-{scope}"),
                "problem": true, "name": "Device down",
            })
            .to_string();
            let (status, body) = post_signed(&server, "/webhooks/zabbix", &alert).await;
            assert_eq!(status, StatusCode::OK);
            assert_eq!(
                body,
                json!({"ok": true, "suppressed": true, "reason": "maintenance window"}),
                "{scope} on {}",
                backends.label()
            );
            ok(http.delete(server.url(&format!("/v1/maintenance-windows/{}", id_of(&created)))))
                .await;
            let (_, body) = post_signed(&server, "/webhooks/zabbix", &alert).await;
            assert!(
                body["incident_id"].is_string(),
                "{scope} after the window: {body}"
            );
        }
        // A window of another device does not suppress.
        let other = new_device(&server, &http, json!({"name": "OTHER", "type": "OLT"})).await;
        let unrelated =
            new_device(&server, &http, json!({"name": "UNRELATED", "type": "OLT"})).await;
        ok(http
            .post(server.url("/v1/maintenance-windows"))
            .json(&window("Device", Some(&id_of(&other)))))
        .await;
        let alert = json!({"host": unrelated["name"], "event_id": "u-1", "name": "Device down"})
            .to_string();
        let (_, body) = post_signed(&server, "/webhooks/zabbix", &alert).await;
        assert!(body["incident_id"].is_string(), "{body}");
        server.stop().await;
    }
}

#[tokio::test]
async fn rate_limit_and_allowlist_behind_a_proxy() {
    for backends in backend_sets() {
        let server = TestServer::start_with(&backends, |config| {
            config.webhooks.nms_hmac_secret = Some(SECRET.into());
            config.webhooks.webhook_ip_limit = 3;
            config.webhooks.nms_allow_ips = vec!["10.9.9.9".parse().unwrap()];
            config.auth.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
        })
        .await;
        let send = |from: &str| {
            reqwest::Client::new()
                .post(server.url("/webhooks/zabbix"))
                .header("x-forwarded-for", from.to_string())
                .header("content-type", "application/json")
                .header("x-signature", sign(SECRET, ZABBIX))
                .body(ZABBIX)
        };
        let (status, body) = call(send("10.1.1.1")).await;
        assert_eq!(
            (status, body["detail"].as_str()),
            (StatusCode::FORBIDDEN, Some("IP not allowed")),
            "{}",
            backends.label()
        );
        // The leftmost entry is whatever the client wrote: an allowed address spoofed there
        // does not pass; the hop our trusted proxy appended (the rightmost) decides.
        let (status, body) = call(send("10.9.9.9, 10.1.1.1")).await;
        assert_eq!(
            (status, body["detail"].as_str()),
            (StatusCode::FORBIDDEN, Some("IP not allowed")),
            "spoofed leftmost X-Forwarded-For on {}",
            backends.label()
        );
        let (status, body) = call(send("10.9.9.9")).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "allowed client behind the trusted proxy: {body}"
        );
        call(send("10.9.9.9")).await;
        call(send("10.9.9.9")).await;
        let response = send("10.9.9.9").send().await.unwrap();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        let retry: u64 = response.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=60).contains(&retry));
        // Another client has its own bucket; the legacy route too.
        let (status, _) = call(send("10.1.1.2")).await;
        assert_eq!(
            status,
            StatusCode::FORBIDDEN,
            "not limited, but not allowed"
        );
        server.stop().await;
    }
}

#[tokio::test]
async fn an_alert_storm_opens_one_incident_per_device() {
    for backends in backend_sets() {
        let server = signed_server(&backends).await;
        let http = server.http_as(&server.admin_token().await);
        for index in 0..5 {
            new_device(
                &server,
                &http,
                json!({"name": format!("STORM-{index}"), "type": "OLT"}),
            )
            .await;
        }
        let server = std::sync::Arc::new(server);
        let mut tasks = Vec::new();
        // 60 alerts per device: more than the 50 signals an incident keeps.
        for n in 0..300 {
            let server = server.clone();
            tasks.push(tokio::spawn(async move {
                let device = n % 5;
                let body = json!({
                    "host": format!("STORM-{device}"), "severity": "Disaster",
                    "event_id": format!("storm-{device}"), "problem": true, "name": "OLT card down",
                })
                .to_string();
                post_signed(&server, "/webhooks/zabbix", &body).await
            }));
        }
        let mut opened = 0;
        for task in tasks {
            let (status, body) = task.await.unwrap();
            assert_eq!(status, StatusCode::OK, "{body}");
            if body.get("dedup").is_none() {
                opened += 1;
            }
        }
        assert_eq!(opened, 5, "{}", backends.label());
        let open = ok(http.get(server.url("/v1/incidents?status=open&page_size=500"))).await;
        let open = open["incidents"].as_array().unwrap();
        assert_eq!(open.len(), 5);
        for incident in open {
            let path = format!("/v1/incidents/{}/signals", id_of(incident));
            let signals = ok(http.get(server.url(&path))).await;
            let signals = signals["signals"].as_array().unwrap();
            assert_eq!(signals.len(), 50, "the newest 50 payloads are kept");
            assert!(signals.iter().all(|signal| signal["key"] == "update"));
        }
        match std::sync::Arc::try_unwrap(server) {
            Ok(server) => server.stop().await,
            Err(_) => panic!("tasks still hold the server"),
        }
    }
}
