//! Config drift end to end: Oxidized signature variants (valid, prefixed, wrong, missing, no
//! secret, development flag), the per-IP limiter, bad bodies, storing with SHA-256 and diff,
//! golden-template deny rules raising one Config incident per device, and tenant isolation.

use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::harness::{TestServer, backend_sets, call, id_of, ok};

const SECRET: &str = "oxidized-test-secret";

fn sign(body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

async fn push(server: &TestServer, body: &Value, signature: Option<String>) -> (StatusCode, Value) {
    let text = body.to_string();
    let mut request = reqwest::Client::new()
        .post(server.url("/configs/oxidized"))
        .header("content-type", "application/json");
    if let Some(signature) = signature {
        request = request.header("x-signature", signature);
    }
    call(request.body(text)).await
}

async fn signed(server: &TestServer, body: Value) -> Value {
    let signature = sign(&body.to_string());
    let (status, answer) = push(server, &body, Some(signature)).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    answer
}

async fn new_device(
    server: &TestServer,
    http: &reqwest::Client,
    name: &str,
    kind: &str,
    vendor: &str,
) -> String {
    id_of(
        &ok(http
            .post(server.url("/v1/devices"))
            .json(&json!({"name": name, "type": kind, "vendor": vendor})))
        .await,
    )
}

#[tokio::test]
async fn configs_oxidized_signature_variants_and_bad_input() {
    for backends in backend_sets() {
        let server = TestServer::start_with(&backends, |config| {
            config.webhooks.oxidized_hmac_secret = Some(SECRET.into());
        })
        .await;
        let http = server.http_as(&server.admin_token().await);
        let device = new_device(&server, &http, "OLT-01", "OLT", "Huawei").await;
        let body = json!({"name": "OLT-01", "config": "hostname OLT-01\nend\n"});
        let answer = signed(&server, body.clone()).await;
        assert_eq!(
            (answer["ok"].as_bool(), answer["device_id"].as_str()),
            (Some(true), Some(device.as_str()))
        );
        assert_eq!(
            answer["hash_sha256"],
            hex::encode(Sha256::digest(b"hostname OLT-01\nend\n"))
        );
        let prefixed = format!("sha256={}", sign(&body.to_string()));
        let (status, again) = push(&server, &body, Some(prefixed)).await;
        assert_eq!(
            (status, again["changed"].as_bool()),
            (StatusCode::OK, Some(false)),
            "{again}"
        );
        assert_eq!(
            again["config_id"], answer["config_id"],
            "an unchanged config is not stored twice"
        );
        for (signature, detail) in [
            (Some(sign("something else")), "Invalid signature"),
            (Some("sha256=zz".to_string()), "Invalid signature"),
            (None, "Missing signature"),
        ] {
            let (status, answer) = push(&server, &body, signature).await;
            assert_eq!(
                (status, answer["detail"].as_str()),
                (StatusCode::UNAUTHORIZED, Some(detail))
            );
        }
        for bad in [
            json!({"name": "OLT-01"}),
            json!({"config": "x"}),
            json!({"name": 5, "config": "x"}),
            json!([1]),
        ] {
            let signature = sign(&bad.to_string());
            let (status, answer) = push(&server, &bad, Some(signature)).await;
            assert_eq!(
                (status, answer["detail"].as_str()),
                (StatusCode::BAD_REQUEST, Some("name and config required")),
                "{bad}"
            );
        }
        let unknown = json!({"name": "NO-SUCH-DEVICE", "config": "x"});
        let (status, answer) = push(&server, &unknown, Some(sign(&unknown.to_string()))).await;
        assert_eq!(
            (status, answer["detail"].as_str()),
            (StatusCode::NOT_FOUND, Some("Device not found"))
        );
        let stored = ok(http.get(server.url("/v1/device-configs"))).await;
        assert_eq!(
            stored["configs"].as_array().unwrap().len(),
            1,
            "refused pushes stored nothing"
        );
        server.stop().await;

        // No secret configured: refused, until the development flag says otherwise; limited per IP.
        let server = TestServer::start_with(&backends, |config| {
            config.webhooks.webhook_ip_limit = 3;
        })
        .await;
        for _ in 0..3 {
            let (status, answer) = push(&server, &body, Some(sign(&body.to_string()))).await;
            assert_eq!(
                (status, answer["detail"].as_str()),
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    Some("Webhook secret not configured")
                )
            );
        }
        let (status, _) = push(&server, &body, None).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        server.stop().await;
        let server = TestServer::start_with(&backends, |config| {
            config.webhooks.webhook_allow_unsigned = true;
        })
        .await;
        let http = server.http_as(&server.admin_token().await);
        new_device(&server, &http, "OLT-01", "OLT", "").await;
        let (status, answer) = push(&server, &body, None).await;
        assert_eq!(
            (status, answer["ok"].as_bool()),
            (StatusCode::OK, Some(true)),
            "{answer}"
        );
        server.stop().await;
    }
}

#[tokio::test]
async fn configs_drift_is_diffed_and_raises_one_incident_per_device() {
    for backends in backend_sets() {
        let server = TestServer::start_with(&backends, |config| {
            config.webhooks.oxidized_hmac_secret = Some(SECRET.into());
        })
        .await;
        let admin = server.admin_token().await;
        let http = server.http_as(&admin);
        let device = new_device(&server, &http, "OLT-02", "OLT", "Huawei").await;
        let generic = ok(http
            .put(server.url("/v1/golden-templates"))
            .json(&json!({"device_type": "olt", "deny_patterns": ["^never-matches$"]})))
        .await;
        assert_eq!(generic["device_type"], "OLT");
        let template = json!({"device_type": "OLT", "vendor": "HUAWEI", "template_text": "hostname {{name}}\n", "deny_patterns": [r"^snmp-server community (public|private)\b", r"^no service password-encryption"]});
        ok(http.put(server.url("/v1/golden-templates")).json(&template)).await;
        let listed = ok(http.get(server.url("/v1/golden-templates"))).await;
        assert_eq!(listed["templates"].as_array().unwrap().len(), 2);

        let clean = "hostname OLT-02\nsnmp-server community s3cret ro\nend\n";
        let first = signed(&server, json!({"name": "OLT-02", "config": clean})).await;
        assert_eq!(
            (first["violations"].as_u64(), first["incident_id"].is_null()),
            (Some(0), true),
            "{first}"
        );
        let drifted = "hostname OLT-02\nsnmp-server community public ro\nno service password-encryption\nend\n";
        let second = signed(&server, json!({"name": "OLT-02", "config": drifted})).await;
        assert_eq!(second["violations"], 2, "{second}");
        let incident = second["incident_id"].as_str().unwrap().to_string();

        let stored = ok(http.get(server.url(&format!(
            "/v1/device-configs/{}",
            second["config_id"].as_str().unwrap()
        ))))
        .await;
        assert_eq!(stored["previous_id"], first["config_id"]);
        assert_eq!(stored["running_config"], drifted);
        assert_eq!(
            stored["diff"],
            "@@ -2 +2 @@\n-snmp-server community s3cret ro\n+snmp-server community public ro\n+no service password-encryption\n"
        );
        assert_eq!(
            stored["violations"][0],
            json!({"line": 2, "text": "snmp-server community public ro", "pattern": r"^snmp-server community (public|private)\b"})
        );
        assert_eq!(stored["violations"][1]["line"], 3);
        let opened = ok(http.get(server.url(&format!("/v1/incidents/{incident}")))).await;
        assert_eq!(
            (opened["category"].as_str(), opened["severity"].as_str()),
            (Some("config_drift"), Some("P3"))
        );
        assert_eq!(opened["title"], "Out-of-policy config on OLT-02");
        assert_eq!(
            opened["description"],
            "snmp-server community public ro\nno service password-encryption"
        );
        assert_eq!(opened["device_id"], device.as_str());

        // More drift while that incident is open folds into it.
        let worse = "hostname OLT-02\nsnmp-server community private rw\nno service password-encryption\nend\n";
        let third = signed(&server, json!({"name": "OLT-02", "config": worse})).await;
        assert_eq!(third["incident_id"], incident.as_str());
        let incidents = ok(http.get(server.url("/v1/incidents"))).await;
        assert_eq!(incidents["incidents"].as_array().unwrap().len(), 1);
        let history =
            ok(http.get(server.url(&format!("/v1/device-configs?device_id={device}")))).await;
        let history = history["configs"].as_array().unwrap();
        assert_eq!(history.len(), 3);
        assert_eq!(history[0]["id"], third["config_id"], "newest first");
        assert_eq!(
            history[0]["running_config"], "",
            "listings leave the text out"
        );

        // Templates are validated and only ADMIN/NOC set them.
        let (status, body) = call(
            http.put(server.url("/v1/golden-templates"))
                .json(&json!({"device_type": "TOASTER", "deny_patterns": ["ok", "(broken"]})),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let fields: Vec<&str> = body["field_violations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["field"].as_str().unwrap())
            .collect();
        assert_eq!(
            fields,
            ["template.device_type", "template.deny_patterns[1]"]
        );
        let site = server.http_as(&server.user_token(&admin, "SITE").await);
        let (status, _) = call(site.put(server.url("/v1/golden-templates")).json(&template)).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        ok(site.get(server.url("/v1/device-configs"))).await;
        let (status, _) =
            call(http.delete(server.url(&format!("/v1/golden-templates/{}", id_of(&generic)))))
                .await;
        assert_eq!(status, StatusCode::OK);
        server.stop().await;
    }
}

#[tokio::test]
async fn configs_two_tenants_never_see_each_other() {
    for backends in backend_sets() {
        let server = TestServer::start_with(&backends, |config| {
            config.webhooks.oxidized_hmac_secret = Some(SECRET.into());
        })
        .await;
        // Oxidized files into the NMS tenant (the default one here).
        let home = server.http_as(&server.admin_token().await);
        let beta = server.http_as(&server.admin_token_in("beta").await);
        let device = new_device(&server, &home, "SW-9", "SWITCH", "").await;
        new_device(&server, &beta, "SW-9", "SWITCH", "").await;
        ok(beta
            .put(server.url("/v1/golden-templates"))
            .json(&json!({"device_type": "SWITCH", "deny_patterns": ["hostname"]})))
        .await;
        let answer = signed(
            &server,
            json!({"name": "SW-9", "config": "hostname SW-9\n"}),
        )
        .await;
        assert_eq!(answer["device_id"], device.as_str());
        assert_eq!(
            answer["violations"], 0,
            "another tenant's template does not apply"
        );
        let config_id = answer["config_id"].as_str().unwrap();

        let listed = ok(beta.get(server.url("/v1/device-configs"))).await;
        assert!(
            listed["configs"].as_array().is_none_or(Vec::is_empty),
            "{listed}"
        );
        let (status, _) =
            call(beta.get(server.url(&format!("/v1/device-configs/{config_id}")))).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let templates = ok(home.get(server.url("/v1/golden-templates"))).await;
        assert!(
            templates["templates"].as_array().is_none_or(Vec::is_empty),
            "{templates}"
        );
        let beta_template = ok(beta.get(server.url("/v1/golden-templates"))).await;
        let (status, _) = call(home.delete(server.url(&format!(
            "/v1/golden-templates/{}",
            beta_template["templates"][0]["id"].as_str().unwrap()
        ))))
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        ok(home.get(server.url(&format!("/v1/device-configs/{config_id}")))).await;
        server.stop().await;
    }
}
