//! Devices over REST (transcoded gRPC) and gRPC: validation naming fields, unique names,
//! filters, escaped search, paging, partial update, delete, and two-tenant isolation.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{TestServer, backend_sets, call, id_of, ok};

pub async fn new_device(server: &TestServer, http: &reqwest::Client, body: Value) -> Value {
    ok(http.post(server.url("/v1/devices")).json(&body)).await
}

#[tokio::test]
async fn devices_crud_filters_search_and_validation() {
    for backends in backend_sets() {
        let server = TestServer::start(&backends).await;
        let admin = server.admin_token().await;
        let http = server.http_as(&admin);
        let pon = ok(http.post(server.url("/v1/pons")).json(
            &json!({"pon_code": "PON-D1", "name": "PON D1", "ward": "Ward 9", "fiber_count": 24, "lat": -26.2, "lng": 28.04}),
        ))
        .await;
        let pon_id = id_of(&pon);

        let olt = new_device(
            &server,
            &http,
            json!({"name": " OLT-01 ", "type": "olt", "mgmt_ip": "10.0.0.1", "serial": "SN_100%", "ward": "Ward 9", "pon_id": pon_id}),
        )
        .await;
        assert_eq!(olt["name"], "OLT-01", "{}", backends.label());
        assert_eq!(olt["type"], "OLT");
        assert_eq!(olt["status"], "up");
        let olt_id = id_of(&olt);
        for index in 0..3 {
            new_device(
                &server,
                &http,
                json!({"name": format!("ONT-{index}"), "type": "ONT", "serial": format!("X{index}"), "status": "down"}),
            )
            .await;
        }

        // Bad input names the field; nothing is written.
        let (status, body) = call(
            http.post(server.url("/v1/devices"))
                .json(&json!({"name": "", "type": "TOASTER", "mgmt_ip": "not-an-ip", "lat": 95.0, "lng": 1.0})),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        let message = body["detail"].as_str().unwrap_or_default().to_string();
        for field in ["device.name", "device.type", "device.mgmt_ip", "device.lat"] {
            assert!(message.contains(field), "{field} named in {message}");
        }
        let (status, body) = call(http.post(server.url("/v1/devices")).json(
            &json!({"name": "X", "type": "ONT", "pon_id": uuid::Uuid::now_v7().to_string()}),
        ))
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "unknown PON: {body}");
        let (status, _) = call(
            http.post(server.url("/v1/devices"))
                .json(&json!({"name": "OLT-01", "type": "ROUTER"})),
        )
        .await;
        assert_eq!(status, StatusCode::CONFLICT, "names are unique per tenant");

        // Filters, escaped search and paging.
        let down = ok(http.get(server.url("/v1/devices?status=down"))).await;
        assert_eq!(down["devices"].as_array().unwrap().len(), 3);
        let found = ok(http.get(server.url("/v1/devices?q=sn_100%25"))).await;
        assert_eq!(found["devices"].as_array().unwrap().len(), 1, "{found}");
        let literal = ok(http.get(server.url("/v1/devices?q=%25"))).await;
        assert_eq!(
            literal["devices"].as_array().unwrap().len(),
            1,
            "% is text, not a wildcard: {literal}"
        );
        let regex = ok(http.get(server.url("/v1/devices?q=.*"))).await;
        assert!(regex["devices"].as_array().unwrap().is_empty());
        let by_pon = ok(http.get(server.url(&format!("/v1/devices?pon_id={pon_id}")))).await;
        assert_eq!(by_pon["devices"][0]["id"], olt_id.as_str());
        let (status, _) = call(http.get(server.url("/v1/devices?type=toaster"))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let first = ok(http.get(server.url("/v1/devices?page_size=3"))).await;
        let token = first["next_page_token"].as_str().unwrap();
        let second =
            ok(http.get(server.url(&format!("/v1/devices?page_size=3&page_token={token}")))).await;
        assert_eq!(second["devices"].as_array().unwrap().len(), 1);

        // Partial update keeps the other fields.
        let patched = ok(http
            .patch(server.url(&format!("/v1/devices/{olt_id}")))
            .json(&json!({"status": "degraded"})))
        .await;
        assert_eq!(patched["status"], "degraded");
        assert_eq!(patched["mgmt_ip"], "10.0.0.1");
        let (status, body) = call(
            http.patch(server.url(&format!("/v1/devices/{olt_id}")))
                .json(&json!({"status": "melted"})),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

        // Roles: a site manager reads but does not write; delete is ADMIN only.
        let site = server.user_token(&admin, "ROLE_SITE").await;
        let site_http = server.http_as(&site);
        ok(site_http.get(server.url(&format!("/v1/devices/{olt_id}")))).await;
        let (status, _) = call(
            site_http
                .post(server.url("/v1/devices"))
                .json(&json!({"name": "S", "type": "UPS"})),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN);

        ok(http.delete(server.url(&format!("/v1/devices/{olt_id}")))).await;
        let (status, _) = call(http.get(server.url(&format!("/v1/devices/{olt_id}")))).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _) = call(http.delete(server.url(&format!("/v1/devices/{olt_id}")))).await;
        assert_eq!(
            status,
            StatusCode::NOT_FOUND,
            "deleting twice is not a success"
        );
        server.stop().await;
    }
}

#[tokio::test]
async fn devices_of_one_tenant_are_invisible_to_another() {
    for backends in backend_sets() {
        let server = TestServer::start(&backends).await;
        let mine = server.http_as(&server.admin_token().await);
        let theirs = server.http_as(&server.admin_token_in("other-isp").await);
        let device = new_device(&server, &mine, json!({"name": "OLT-A", "type": "OLT"})).await;
        let id = id_of(&device);
        let path = format!("/v1/devices/{id}");
        let (status, _) = call(theirs.get(server.url(&path))).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{}", backends.label());
        let (status, _) = call(
            theirs
                .patch(server.url(&path))
                .json(&json!({"status": "down"})),
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _) = call(theirs.delete(server.url(&path))).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let listed = ok(theirs.get(server.url("/v1/devices"))).await;
        assert!(listed["devices"].as_array().unwrap().is_empty());
        // The same name is free in the other tenant.
        new_device(&server, &theirs, json!({"name": "OLT-A", "type": "OLT"})).await;
        let still = ok(mine.get(server.url(&path))).await;
        assert_eq!(still["status"], "up");
        server.stop().await;
    }
}
