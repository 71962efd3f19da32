//! The old paths of network operations: core `/devices`, `/incidents`, `/incidents/{id}/assign`,
//! `/maint-windows`, and legacy `/api/devices`, `/api/incidents` (with close) and
//! `/api/reports/ops`, including the ward uptime aggregated over every device.

use reqwest::StatusCode;
use serde_json::json;

use crate::harness::{TestServer, backend_sets, call, ok};

#[tokio::test]
async fn core_device_incident_and_window_paths() {
    for backends in backend_sets() {
        let server = TestServer::start(&backends).await;
        let http = server.http_as(&server.admin_token().await);
        let (status, body) = call(
            http.post(server.url("/devices"))
                .json(&json!({"name": "OLT-9"})),
        )
        .await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}: {body}",
            backends.label()
        );
        assert_eq!(body["detail"], "role: field required");
        let device = ok(http
            .post(server.url("/devices"))
            .json(&json!({"name": "OLT-9", "role": "OLT", "mgmt_ip": "10.1.0.9"})))
        .await;
        assert_eq!(device["role"], "OLT");
        let id = device["id"].as_str().unwrap().to_string();
        let patched = ok(http
            .patch(server.url(&format!("/devices/{id}")))
            .json(&json!({"site": "Exchange"})))
        .await;
        assert_eq!(
            (patched["site"].as_str(), patched["mgmt_ip"].as_str()),
            (Some("Exchange"), Some("10.1.0.9"))
        );
        let (status, _) = call(
            http.patch(server.url("/devices/not-a-uuid"))
                .json(&json!({"site": "x"})),
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        let (status, body) = call(
            http.patch(server.url(&format!("/devices/{}", uuid::Uuid::now_v7())))
                .json(&json!({"site": "x"})),
        )
        .await;
        assert_eq!(
            (status, body),
            (StatusCode::NOT_FOUND, json!({"detail": "Not found"}))
        );
        let listed = ok(http.get(server.url("/devices?role=OLT"))).await;
        assert_eq!(listed.as_array().unwrap().len(), 1);
        let (status, _) = call(reqwest::Client::new().get(server.url("/devices"))).await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "reads need credentials now"
        );

        let incident = ok(http.post(server.url("/incidents")).json(
            &json!({"title": "OLT down", "severity": "P1", "category": "Device", "device_id": id}),
        ))
        .await;
        assert_eq!(incident["category"], "Device");
        assert_eq!(incident["status"], "Open");
        assert_eq!(incident["severity_sla_minutes"], 120);
        let incident_id = incident["id"].as_str().unwrap().to_string();
        let acked = ok(http
            .patch(server.url(&format!("/incidents/{incident_id}")))
            .json(&json!({"status": "Acknowledged"})))
        .await;
        assert_eq!(acked["status"], "Acknowledged");
        assert!(acked["ack_at"].is_string());
        let (status, body) = call(
            http.patch(server.url(&format!("/incidents/{incident_id}")))
                .json(&json!({"status": "Open"})),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        let (status, _) = call(
            http.patch(server.url(&format!("/incidents/{incident_id}")))
                .json(&json!({"due_at": "2030-01-01T00:00:00Z"})),
        )
        .await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "SLA fields are the server's"
        );
        let organization = ok(http
            .post(server.url("/v1/organizations"))
            .json(&json!({"name": "Assignees", "type": "Technical"})))
        .await;
        let org_id = organization["id"].as_str().unwrap();
        let assigned =
            ok(http.patch(server.url(&format!("/incidents/{incident_id}/assign?org_id={org_id}"))))
                .await;
        assert_eq!(assigned["assigned_org_id"], org_id);
        let listed = ok(http.get(server.url("/incidents?status=Acknowledged"))).await;
        assert_eq!(listed.as_array().unwrap().len(), 1);

        let now = chrono::Utc::now();
        let (status, body) = call(http.post(server.url("/maint-windows")).json(&json!({
            "scope": "Global", "start_at": now.to_rfc3339(), "end_at": (now - chrono::Duration::hours(1)).to_rfc3339(),
        })))
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["detail"], "end_at: must be after start_at");
        let created = ok(http.post(server.url("/maint-windows")).json(&json!({
            "scope": "Device", "target_id": id, "start_at": now.to_rfc3339(),
            "end_at": (now + chrono::Duration::hours(1)).to_rfc3339(), "approved_by": "NOC lead",
        })))
        .await;
        assert_eq!(created["ok"], true);
        server.stop().await;
    }
}

#[tokio::test]
async fn legacy_device_incident_and_report_paths() {
    for backends in backend_sets() {
        let server = TestServer::start(&backends).await;
        let http = server.http_as(&server.admin_token().await);
        let empty = ok(http.get(server.url("/api/reports/ops"))).await;
        assert_eq!(
            empty,
            json!({"uptimeByWard": [], "mttrHours": 0.0, "repeatFaultDevices": 0}),
            "{}",
            backends.label()
        );

        let (status, body) = call(
            http.post(server.url("/api/devices"))
                .json(&json!({"name": "X", "type": "TOASTER"})),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["message"], "Invalid device payload");
        let device_a = ok(http.post(server.url("/api/devices")).json(&json!({
            "name": "ONT-A", "type": "ONT", "ward": "Ward 1", "mgmtIp": "10.2.0.1",
            "location": {"latitude": -26.0, "longitude": 28.0},
        })))
        .await;
        assert_eq!(device_a["mgmtIp"], "10.2.0.1");
        assert_eq!(device_a["location"]["latitude"], -26.0);
        let device_b = ok(http
            .post(server.url("/api/devices"))
            .json(&json!({"name": "ONT-B", "type": "ONT", "ward": "Ward 1"})))
        .await;
        let a = device_a["_id"].as_str().unwrap().to_string();
        let b = device_b["_id"].as_str().unwrap().to_string();
        let found = ok(http.get(server.url("/api/devices?q=ont-a"))).await;
        assert_eq!(found.as_array().unwrap().len(), 1);
        let (status, body) = call(http.get(server.url("/api/devices/nope"))).await;
        assert_eq!(
            (status, body),
            (
                StatusCode::NOT_FOUND,
                json!({"message": "Device not found"})
            )
        );
        let updated = ok(http
            .put(server.url(&format!("/api/devices/{b}")))
            .json(&json!({"status": "down"})))
        .await;
        assert_eq!(updated["status"], "down");

        let (status, body) = call(
            http.post(server.url("/api/incidents"))
                .json(&json!({"title": "No priority"})),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["message"], "Invalid incident payload");
        let ten_hours_ago = (chrono::Utc::now() - chrono::Duration::hours(10)).to_rfc3339();
        let outage = ok(http.post(server.url("/api/incidents")).json(&json!({
            "title": "ONT-A LOS", "priority": "P2", "category": "los", "device": a, "openedAt": ten_hours_ago,
        })))
        .await;
        let outage_id = outage["_id"].as_str().unwrap().to_string();
        assert_eq!(outage["ward"], "Ward 1", "ward from the device");
        for n in 0..3 {
            ok(http
                .post(server.url("/api/incidents"))
                .json(&json!({"title": format!("B flap {n}"), "priority": "P4", "device": b})))
            .await;
        }
        let open =
            ok(http.get(server.url(&format!("/api/incidents?device={a}&status=open")))).await;
        let first = &open[0];
        for key in ["_id", "title", "category", "priority", "status"] {
            assert!(!first[key].is_null(), "{key} in {first}");
        }
        // Populated like the Express list: device{_id,name,type,mgmtIp}.
        assert_eq!(
            first["device"],
            json!({"_id": a, "name": "ONT-A", "type": device_a["type"], "mgmtIp": device_a["mgmtIp"]})
        );

        // Close: 404 first, then the Express messages in order; closing needs a resolved incident.
        let close = |id: String, body: serde_json::Value| {
            call(
                http.post(server.url(&format!("/api/incidents/{id}/close")))
                    .json(&body),
            )
        };
        let (status, body) = close(uuid::Uuid::now_v7().to_string(), json!({})).await;
        assert_eq!(
            (status, body),
            (
                StatusCode::NOT_FOUND,
                json!({"message": "Incident not found"})
            )
        );
        let (_, body) = close(outage_id.clone(), json!({"rootCause": "x"})).await;
        assert_eq!(body["message"], "rootCause and fixCode required");
        let (_, body) = close(
            outage_id.clone(),
            json!({"rootCause": "x", "fixCode": "rebooted", "closureGps": {"latitude": "1"}}),
        )
        .await;
        assert_eq!(body["message"], "GPS coordinates required on closure");
        let gps = json!({"latitude": -26.0, "longitude": 28.0});
        let (_, body) = close(outage_id.clone(), json!({"rootCause": "x", "fixCode": "rebooted", "closureGps": gps, "closurePhotos": []})).await;
        assert_eq!(body["message"], "At least one closure photo required");
        let evidence = json!({
            "rootCause": "Bent patch cord", "fixCode": "replaced_pigtail", "closureGps": gps,
            "closurePhotos": [{"filename": "closure/a.jpg", "url": "https://x/a.jpg"}],
        });
        let (status, body) = close(outage_id.clone(), evidence.clone()).await;
        assert_eq!(
            status,
            StatusCode::BAD_REQUEST,
            "open → closed is illegal: {body}"
        );
        let (status, body) = call(
            http.patch(server.url(&format!("/api/incidents/{outage_id}")))
                .json(&json!({"status": "closed"})),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        let resolved = ok(http
            .patch(server.url(&format!("/api/incidents/{outage_id}")))
            .json(&json!({"status": "resolved", "breachedRestore": false})))
        .await;
        assert_eq!(resolved["status"], "resolved");
        assert_eq!(
            resolved["breachedRestore"], true,
            "P2 restore target is 4 h; the client cannot clear it"
        );
        let closed = ok(http
            .post(server.url(&format!("/api/incidents/{outage_id}/close")))
            .json(&evidence))
        .await;
        assert_eq!(closed["status"], "closed");
        assert_eq!(closed["closurePhotos"][0]["objectKey"], "closure/a.jpg");
        assert_eq!(closed["closureGps"]["latitude"], -26.0);

        // Ward uptime over both devices: 10 h down of 2 × 30 days (the old API reported one device).
        let report = ok(http.get(server.url("/api/reports/ops"))).await;
        let ward = &report["uptimeByWard"][0];
        assert_eq!(ward["ward"], "Ward 1");
        let expected = 100.0 * (1.0 - 10.0 / (2.0 * 720.0));
        let uptime = ward["uptime"].as_f64().unwrap();
        assert!((uptime - expected).abs() < 0.01, "{uptime} vs {expected}");
        let mttr = report["mttrHours"].as_f64().unwrap();
        assert!((mttr - 10.0).abs() < 0.05, "{mttr}");
        assert_eq!(report["repeatFaultDevices"], 1);

        let (status, _) = call(http.delete(server.url(&format!("/api/devices/{a}")))).await;
        assert_eq!(status, StatusCode::OK);
        let (status, body) = call(http.delete(server.url(&format!("/api/devices/{a}")))).await;
        assert_eq!(
            (status, body),
            (
                StatusCode::NOT_FOUND,
                json!({"message": "Device not found"})
            )
        );
        server.stop().await;
    }
}
