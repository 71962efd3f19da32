//! Optical readings end to end: batch ingest that names every rejected reading (legacy and
//! REST), queries by PON/ONU/direction/days, evaluation with default and tenant thresholds and
//! the drift rule, roles, and two-tenant isolation.

use chrono::{Duration, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{TestServer, backend_sets, call, id_of, ok, unique_name};

async fn new_pon(server: &TestServer, http: &reqwest::Client) -> String {
    let code = unique_name("PON");
    id_of(
        &ok(http
            .post(server.url("/v1/pons"))
            .json(&json!({"pon_code": code, "name": code, "fiber_count": 24})))
        .await,
    )
}

fn ago(minutes: i64) -> String {
    (Utc::now() - Duration::minutes(minutes)).to_rfc3339()
}

/// A legacy reading of `onu` on `pon`, `minutes` ago.
fn reading(pon: &str, onu: &str, direction: &str, dbm: f64, minutes: i64) -> Value {
    json!({"pon": pon, "onuId": onu, "direction": direction, "powerDbm": dbm, "takenAt": ago(minutes)})
}

fn keys(alerts: &Value) -> Vec<(String, String)> {
    alerts
        .as_array()
        .unwrap()
        .iter()
        .map(|alert| {
            (
                alert["key"].as_str().unwrap().to_string(),
                alert["severity"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn optical_ingest_names_every_rejected_reading() {
    for backends in backend_sets() {
        let server = TestServer::start(&backends).await;
        let http = server.http_as(&server.admin_token().await);
        let pon = new_pon(&server, &http).await;
        let batch = json!([
            {"pon": pon, "onuId": "ONU-1", "port": "1/1/1", "direction": "to_onu", "powerDbm": -21.5, "vendor": "Huawei", "source": "field"},
            {"pon": pon, "onuId": "ONU-2", "powerDbm": -20},
            {"pon": pon, "onuId": "ONU-3", "direction": "to_olt", "powerDbm": "strong"},
            {"pon": uuid::Uuid::now_v7(), "onuId": "ONU-4", "direction": "to_olt", "powerDbm": -22},
            {"pon": pon, "onuId": "ONU-5", "direction": "to_olt", "powerDbm": -95},
            {"pon": pon, "direction": "to_onu", "powerDbm": -20, "takenAt": (Utc::now() + Duration::hours(2)).to_rfc3339()},
            {"pon": "not-an-id", "onuId": "ONU-7", "direction": "sideways", "powerDbm": -20},
        ]);
        let answer = ok(http.post(server.url("/api/optics/ingest")).json(&batch)).await;
        assert_eq!(answer["inserted"], 1, "{answer}");
        assert_eq!(answer["rejected"], 6, "{answer}");
        let rejected: Vec<(u64, Vec<&str>)> = answer["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|entry| {
                (
                    entry["index"].as_u64().unwrap(),
                    entry["errors"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|e| e["path"].as_str().unwrap())
                        .collect(),
                )
            })
            .collect();
        assert_eq!(
            rejected,
            [
                (1, vec!["direction"]),
                (2, vec!["powerDbm"]),
                (3, vec!["pon"]),
                (4, vec!["powerDbm"]),
                (5, vec!["onuId", "takenAt"]),
                (6, vec!["direction", "pon"]),
            ]
        );
        assert_eq!(
            answer["errors"][2]["errors"][0]["msg"],
            "no such PON in this tenant"
        );
        assert_eq!(answer["errors"][1]["errors"][0]["value"], "strong");

        // A single object is one reading; a body that is neither is refused.
        let single = ok(http
            .post(server.url("/api/optics/ingest"))
            .json(&reading(&pon, "ONU-8", "to_olt", -19.0, 5)))
        .await;
        assert_eq!(
            (single["inserted"].as_u64(), single["rejected"].as_u64()),
            (Some(1), Some(0))
        );
        let (status, body) =
            call(http.post(server.url("/api/optics/ingest")).body("nonsense")).await;
        assert_eq!(
            (status, body["message"].as_str()),
            (StatusCode::BAD_REQUEST, Some("Invalid readings"))
        );

        let stored = ok(http.get(server.url(&format!("/api/optics?pon={pon}")))).await;
        let stored = stored.as_array().unwrap();
        assert_eq!(stored.len(), 2, "{stored:?}");
        assert_eq!(
            stored[1]["onuId"], "ONU-8",
            "newest first: ONU-8 was taken 5 minutes ago"
        );
        assert_eq!(stored[0]["powerDbm"], -21.5);
        assert_eq!(stored[0]["source"], "field");
        assert_eq!(stored[0]["pon"], pon.as_str());
        assert!(stored[0]["_id"].is_string() && stored[0]["takenAt"].is_string());

        // REST ingest reports the same way, under the proto names.
        let answer = ok(http.post(server.url("/v1/optical-readings:ingest")).json(&json!({"readings": [
            {"pon_id": pon, "onu_id": "ONU-9", "direction": "to_onu", "power_dbm": -18},
            {"pon_id": pon, "onu_id": "ONU-9", "direction": "OPTICAL_DIRECTION_TO_ONU", "power_dbm": 40},
            {"onu_id": "ONU-9", "direction": "to_onu"},
        ]}))).await;
        assert_eq!(
            (answer["inserted"].as_i64(), answer["rejected"].as_i64()),
            (Some(1), Some(2)),
            "{answer}"
        );
        assert_eq!(answer["rejections"][0]["index"], 1);
        assert_eq!(answer["rejections"][0]["problems"][0]["field"], "power_dbm");
        assert_eq!(answer["rejections"][1]["problems"][0]["field"], "power_dbm");
        assert_eq!(
            answer["rejections"][1]["problems"][0]["description"],
            "is required"
        );
        assert_eq!(answer["ids"].as_array().unwrap().len(), 1);

        // Bad query input is named, not a 500.
        let (status, body) = call(http.get(server.url("/api/optics?pon=xyz"))).await;
        assert_eq!(
            (status, body["errors"][0]["path"].as_str()),
            (StatusCode::BAD_REQUEST, Some("pon"))
        );
        let (status, body) = call(http.get(server.url("/v1/optical-readings?days=9999"))).await;
        assert_eq!(
            (status, body["field_violations"][0]["field"].as_str()),
            (StatusCode::BAD_REQUEST, Some("days"))
        );

        // An auditor reads but does not record; SMME staff do neither.
        let admin = server.admin_token().await;
        let auditor = server.http_as(&server.user_token(&admin, "AUDITOR").await);
        ok(auditor.get(server.url("/api/optics"))).await;
        let (status, _) = call(auditor.post(server.url("/api/optics/ingest")).json(&batch)).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let smme = server.http_as(&server.user_token(&admin, "SMME").await);
        let (status, _) = call(smme.get(server.url("/api/optics"))).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        server.stop().await;
    }
}

#[tokio::test]
async fn optical_queries_and_evaluation_with_thresholds() {
    for backends in backend_sets() {
        let server = TestServer::start(&backends).await;
        let admin = server.admin_token().await;
        let http = server.http_as(&admin);
        let pon = new_pon(&server, &http).await;
        let other_pon = new_pon(&server, &http).await;
        let batch = json!([
            reading(&pon, "A", "to_onu", -20.0, 120),
            reading(&pon, "A", "to_onu", -27.5, 60), // critical (-27)
            reading(&pon, "B", "to_onu", -24.0, 120),
            reading(&pon, "B", "to_onu", -26.2, 60), // major (-26)
            reading(&pon, "C", "to_olt", -20.0, 120),
            reading(&pon, "C", "to_olt", -23.2, 60), // drift 3.2 dB
            reading(&pon, "D", "to_olt", -21.0, 120),
            reading(&pon, "D", "to_olt", -22.0, 60), // healthy
            reading(&pon, "E", "to_onu", -30.0, 60 * 24 * 3), // outside one day
            reading(&other_pon, "F", "to_onu", -35.0, 30),
        ]);
        let answer = ok(http.post(server.url("/api/optics/ingest")).json(&batch)).await;
        assert_eq!(answer["inserted"], 10, "{answer}");

        let listed = ok(http.get(server.url(&format!("/api/optics?pon={pon}&onuId=A")))).await;
        assert_eq!(listed.as_array().unwrap().len(), 2);
        let listed =
            ok(http.get(server.url(&format!("/api/optics?pon={pon}&direction=to_olt&days=abc"))))
                .await;
        assert_eq!(
            listed.as_array().unwrap().len(),
            4,
            "non-numeric days means 7"
        );
        let listed = ok(http.get(server.url(&format!("/api/optics?pon={pon}&days=1")))).await;
        assert_eq!(listed.as_array().unwrap().len(), 8, "E is three days old");
        let listed =
            ok(http.get(server.url(&format!("/v1/optical-readings?pon_id={pon}&onu_id=E")))).await;
        assert_eq!(listed["readings"].as_array().unwrap().len(), 1);

        let evaluated = ok(http
            .post(server.url("/api/optics/evaluate"))
            .json(&json!({"pon": pon})))
        .await;
        assert_eq!(
            keys(&evaluated["alerts"]),
            [
                ("to_olt:C".to_string(), "major".to_string()),
                ("to_onu:A".to_string(), "critical".to_string()),
                ("to_onu:B".to_string(), "major".to_string()),
            ]
        );
        let first = &evaluated["alerts"][1];
        assert_eq!(
            (first["last"].as_f64(), first["delta"].as_f64()),
            (Some(-27.5), Some(-7.5))
        );
        assert_eq!(
            (first["direction"].as_str(), first["onuId"].as_str()),
            (Some("to_onu"), Some("A"))
        );
        let evaluated = ok(http
            .post(server.url("/api/optics/evaluate"))
            .json(&json!({"pon": pon, "days": 5})))
        .await;
        assert_eq!(
            keys(&evaluated["alerts"]).len(),
            4,
            "E counts over five days"
        );

        // Tenant thresholds: stricter drift and levels change the outcome.
        let defaults = ok(http.get(server.url("/v1/optical-thresholds"))).await;
        assert_eq!(
            defaults,
            json!({"to_onu_warn_dbm": -26.0, "to_onu_critical_dbm": -27.0, "to_olt_warn_dbm": -28.0, "to_olt_critical_dbm": -29.0, "drift_db": 3.0})
        );
        let (status, body) = call(http.put(server.url("/v1/optical-thresholds")).json(&json!({"to_onu_warn_dbm": -27, "to_onu_critical_dbm": -26, "to_olt_warn_dbm": -28, "to_olt_critical_dbm": -29, "drift_db": 0}))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let fields: Vec<&str> = body["field_violations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["field"].as_str().unwrap())
            .collect();
        assert_eq!(
            fields,
            ["thresholds.to_onu_critical_dbm", "thresholds.drift_db"]
        );
        let noc = server.http_as(&server.user_token(&admin, "NOC").await);
        ok(noc.put(server.url("/v1/optical-thresholds")).json(&json!({"to_onu_warn_dbm": -24, "to_onu_critical_dbm": -26, "to_olt_warn_dbm": -28, "to_olt_critical_dbm": -29, "drift_db": 1}))).await;
        let site = server.http_as(&server.user_token(&admin, "SITE").await);
        let (status, _) = call(
            site.put(server.url("/v1/optical-thresholds"))
                .json(&defaults),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let evaluated = ok(http
            .post(server.url("/v1/optical-readings:evaluate"))
            .json(&json!({"pon_id": pon})))
        .await;
        let found: Vec<(String, String)> = keys(&evaluated["alerts"]);
        assert_eq!(
            found,
            [
                ("to_olt:C".to_string(), "major".to_string()),
                ("to_olt:D".to_string(), "major".to_string()),
                ("to_onu:A".to_string(), "critical".to_string()),
                ("to_onu:B".to_string(), "critical".to_string()),
            ]
        );
        assert_eq!(evaluated["alerts"][0]["pon_id"], pon.as_str());
        let (status, body) = call(
            http.post(server.url("/v1/optical-readings:evaluate"))
                .json(&json!({"days": 91})),
        )
        .await;
        assert_eq!(
            (status, body["field_violations"][0]["field"].as_str()),
            (StatusCode::BAD_REQUEST, Some("days"))
        );
        server.stop().await;
    }
}

#[tokio::test]
async fn optical_two_tenants_never_see_each_other() {
    for backends in backend_sets() {
        let server = TestServer::start(&backends).await;
        let alpha = server.http_as(&server.admin_token_in("alpha").await);
        let beta = server.http_as(&server.admin_token_in("beta").await);
        let pon = new_pon(&server, &alpha).await;
        ok(alpha
            .post(server.url("/api/optics/ingest"))
            .json(&json!([reading(&pon, "A", "to_onu", -28.0, 10)])))
        .await;
        ok(alpha.put(server.url("/v1/optical-thresholds")).json(&json!({"to_onu_warn_dbm": -20, "to_onu_critical_dbm": -22, "to_olt_warn_dbm": -28, "to_olt_critical_dbm": -29, "drift_db": 2}))).await;

        let answer = ok(beta
            .post(server.url("/api/optics/ingest"))
            .json(&json!([reading(&pon, "A", "to_onu", -10.0, 5)])))
        .await;
        assert_eq!(
            (
                answer["inserted"].as_u64(),
                answer["errors"][0]["errors"][0]["path"].as_str()
            ),
            (Some(0), Some("pon"))
        );
        assert!(
            ok(beta.get(server.url("/api/optics")))
                .await
                .as_array()
                .unwrap()
                .is_empty()
        );
        assert!(
            ok(beta.get(server.url(&format!("/api/optics?pon={pon}"))))
                .await
                .as_array()
                .unwrap()
                .is_empty()
        );
        let listed = ok(beta.get(server.url("/v1/optical-readings"))).await;
        assert!(
            listed["readings"].as_array().is_none_or(Vec::is_empty),
            "{listed}"
        );
        let evaluated = ok(beta
            .post(server.url("/api/optics/evaluate"))
            .json(&json!({"pon": pon})))
        .await;
        assert_eq!(evaluated["alerts"], json!([]));
        let thresholds = ok(beta.get(server.url("/v1/optical-thresholds"))).await;
        assert_eq!(
            thresholds["to_onu_warn_dbm"], -26.0,
            "beta keeps the defaults"
        );

        let own = ok(alpha.get(server.url(&format!("/api/optics?pon={pon}")))).await;
        assert_eq!(own.as_array().unwrap().len(), 1);
        assert_eq!(own[0]["powerDbm"], -28.0);
        server.stop().await;
    }
}

async fn new_device(server: &TestServer, http: &reqwest::Client, kind: &str) -> String {
    id_of(
        &ok(http
            .post(server.url("/v1/devices"))
            .json(&json!({"name": unique_name(kind), "type": kind})))
        .await,
    )
}

#[tokio::test]
async fn optical_core_post_and_critical_links_raise_one_incident() {
    for backends in backend_sets() {
        let server = TestServer::start(&backends).await;
        let http = server.http_as(&server.admin_token().await);
        let pon = new_pon(&server, &http).await;
        let ont = new_device(&server, &http, "ONT").await;
        let olt = new_device(&server, &http, "OLT").await;

        // The old core body: RX/TX are relative to the device.
        let answer = ok(http.post(server.url("/optical")).json(&json!({"device_id": ont, "pon_id": pon, "port": "ONU-7", "direction": "RX", "dbm": -28.5}))).await;
        assert_eq!(answer["ok"], true);
        ok(http.post(server.url("/optical")).json(&json!({"device_id": olt, "pon_id": pon, "port": "1/1/3", "direction": "rx", "dbm": -19.0, "read_at": ago(3)}))).await;
        let at_ont =
            ok(http.get(server.url(&format!("/v1/optical-readings?device_id={ont}")))).await;
        assert_eq!(
            at_ont["readings"][0]["direction"],
            "OPTICAL_DIRECTION_TO_ONU"
        );
        assert_eq!(at_ont["readings"][0]["port"], "ONU-7");
        let at_olt =
            ok(http.get(server.url(&format!("/v1/optical-readings?device_id={olt}")))).await;
        assert_eq!(
            at_olt["readings"][0]["direction"],
            "OPTICAL_DIRECTION_TO_OLT"
        );

        let cases = [
            (
                json!({"pon_id": pon, "port": "1", "direction": "RX", "dbm": -20}),
                StatusCode::UNPROCESSABLE_ENTITY,
                "device_id: field required",
            ),
            (
                json!({"device_id": ont, "port": "1", "direction": "RX"}),
                StatusCode::UNPROCESSABLE_ENTITY,
                "dbm: field required",
            ),
            (
                json!({"device_id": ont, "port": "1", "direction": "RX", "dbm": "low"}),
                StatusCode::UNPROCESSABLE_ENTITY,
                "dbm: invalid type",
            ),
            (
                json!({"device_id": ont, "port": "1", "direction": "RX", "dbm": -20, "read_at": "yesterday"}),
                StatusCode::UNPROCESSABLE_ENTITY,
                "read_at: `yesterday`",
            ),
            (
                json!({"device_id": ont, "port": "1", "direction": "UP", "dbm": -20}),
                StatusCode::BAD_REQUEST,
                "direction: `UP` is not",
            ),
            (
                json!({"device_id": ont, "port": "1", "direction": "RX", "dbm": -99}),
                StatusCode::BAD_REQUEST,
                "dbm: must be between -60 and 10 dBm",
            ),
            (
                json!({"device_id": uuid::Uuid::now_v7(), "port": "1", "direction": "RX", "dbm": -20}),
                StatusCode::NOT_FOUND,
                "Device not found",
            ),
            (
                json!({"device_id": uuid::Uuid::now_v7(), "port": "1", "direction": "to_onu", "dbm": -20}),
                StatusCode::NOT_FOUND,
                "Device not found",
            ),
        ];
        for (body, expected, detail) in cases {
            let (status, answer) = call(http.post(server.url("/optical")).json(&body)).await;
            assert_eq!(status, expected, "{body}: {answer}");
            assert!(
                answer["detail"].as_str().unwrap().starts_with(detail),
                "{body}: {answer}"
            );
        }
        let all = ok(http.get(server.url("/v1/optical-readings"))).await;
        assert_eq!(
            all["readings"].as_array().unwrap().len(),
            2,
            "refused readings wrote nothing"
        );

        // A critical link raises one incident, however often it is evaluated.
        let evaluate = json!({"pon_id": pon, "raise_incidents": true});
        let first = ok(http
            .post(server.url("/v1/optical-readings:evaluate"))
            .json(&evaluate))
        .await;
        let alerts = first["alerts"].as_array().unwrap();
        assert_eq!(alerts.len(), 1, "{first}");
        let incident = alerts[0]["incident_id"].as_str().unwrap().to_string();
        assert!(!incident.is_empty());
        ok(http.post(server.url("/optical")).json(&json!({"device_id": ont, "pon_id": pon, "port": "ONU-7", "direction": "RX", "dbm": -29.0}))).await;
        let again = ok(http
            .post(server.url("/v1/optical-readings:evaluate"))
            .json(&evaluate))
        .await;
        assert_eq!(again["alerts"][0]["incident_id"], incident.as_str());
        let opened = ok(http.get(server.url(&format!("/v1/incidents/{incident}")))).await;
        assert_eq!(
            (opened["category"].as_str(), opened["severity"].as_str()),
            (Some("optical_low_power"), Some("P2")),
            "{opened}"
        );
        assert_eq!(opened["device_id"], ont.as_str());
        let listed = ok(http.get(server.url("/v1/incidents"))).await;
        assert_eq!(listed["incidents"].as_array().unwrap().len(), 1, "{listed}");
        let quiet = ok(http
            .post(server.url("/v1/optical-readings:evaluate"))
            .json(&json!({"pon_id": pon})))
        .await;
        assert_eq!(
            quiet["alerts"][0]["incident_id"], "",
            "no incident without asking"
        );

        // Spares issued for the incident are found by it; another tenant's or a made-up incident is refused.
        let store = id_of(
            &ok(http
                .post(server.url("/v1/stores"))
                .json(&json!({"name": unique_name("Store ")})))
            .await,
        );
        ok(http
            .post(server.url("/spares/return"))
            .json(&json!({"store_id": store, "sku": "ONT-HG8245", "qty": 2})))
        .await;
        ok(http.post(server.url("/spares/issue")).json(&json!({"store_id": store, "sku": "ONT-HG8245", "qty": 1, "incident_id": incident, "notes": "replaced ONT"}))).await;
        let linked =
            ok(http.get(server.url(&format!("/v1/spare-movements?incident_id={incident}")))).await;
        assert_eq!(linked["movements"].as_array().unwrap().len(), 1);
        assert_eq!(linked["movements"][0]["reason"], "replaced ONT");
        let (status, body) = call(http.post(server.url("/spares/issue")).json(&json!({"store_id": store, "sku": "ONT-HG8245", "qty": 1, "incident_id": uuid::Uuid::now_v7()}))).await;
        assert_eq!(
            (status, body["detail"].as_str()),
            (
                StatusCode::BAD_REQUEST,
                Some("incident_id: no such incident in this tenant")
            )
        );
        let beta = server.http_as(&server.admin_token_in("beta").await);
        let beta_store = id_of(
            &ok(beta
                .post(server.url("/v1/stores"))
                .json(&json!({"name": "B"})))
            .await,
        );
        let (status, body) =
            call(beta.post(server.url("/spares/return")).json(
                &json!({"store_id": beta_store, "sku": "X", "qty": 1, "incident_id": incident}),
            ))
            .await;
        assert_eq!(
            (status, body["detail"].as_str()),
            (
                StatusCode::BAD_REQUEST,
                Some("incident_id: no such incident in this tenant")
            )
        );
        let (status, _) = call(
            beta.post(server.url("/optical"))
                .json(&json!({"device_id": ont, "port": "1", "direction": "RX", "dbm": -20})),
        )
        .await;
        assert_eq!(
            status,
            StatusCode::NOT_FOUND,
            "another tenant's device is not found"
        );
        server.stop().await;
    }
}
