//! Certificates of acceptance end to end: the photo gate (of the PON, of the named pole),
//! measured ranges named by field, `passed` computed, `checked_by`/`checked_at` from the
//! caller, the core, gRPC and legacy `/api/cac` surfaces, and tenant isolation.

use kasi_fiber::photos::sample;
use kasi_fiber::proto::v1::certificate_service_client::CertificateServiceClient;
use kasi_fiber::proto::v1::{
    Certificate, CreateCertificateRequest, GetCertificateRequest, ListCertificatesRequest,
};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tonic::Code;

use crate::harness::{Bearer, TestServer, backend_sets, call, ok, unique_name};
use crate::photos::{CENTRE, Site, exif_at, good_jpeg, object_keys, site, upload};

fn measured(pon: &str) -> Value {
    json!({"pon_id": pon, "depth_m": 1.2, "tag_height_m": 2.25, "pole_length_m": 7.6})
}

fn with(mut body: Value, key: &str, value: Value) -> Value {
    body[key] = value;
    body
}

#[tokio::test]
async fn certificates_need_a_valid_photo_and_measures_in_range() {
    for backends in backend_sets() {
        let server = TestServer::start(&backends).await;
        let token = server.admin_token().await;
        let http = server.http_as(&token);
        let Site { pon, task } = site(&server, &http).await;
        let create = |body: Value| http.post(server.url("/certificate-acceptance")).json(&body);

        let (status, body) = call(create(measured(&pon))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(
            body["detail"],
            "Validated photo required (EXIF and geofence)"
        );
        // An invalid photo (no EXIF) does not open the gate either.
        upload(&server, &http, &task, &[], &sample::jpeg(None, 100)).await;
        let (status, _) = call(create(measured(&pon))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);

        let (_, photo) = upload(
            &server,
            &http,
            &task,
            &[("pole_number", "P-7")],
            &good_jpeg(),
        )
        .await;
        assert_eq!(photo["verdict"], "valid");
        for (field, bad) in [
            ("pole_length_m", json!(7.39)),
            ("pole_length_m", json!(7.81)),
            ("depth_m", json!(1.0)),
            ("tag_height_m", json!(2.31)),
        ] {
            let (status, body) = call(create(with(measured(&pon), field, bad.clone()))).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{field}={bad}: {body}");
            assert!(
                body["detail"].as_str().unwrap().starts_with(field),
                "{body}"
            );
        }
        let (status, body) = call(create(json!({"pon_id": pon, "depth_m": 1.15}))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(
            body["detail"]
                .as_str()
                .unwrap()
                .contains("pole_length_m: is required"),
            "{body}"
        );
        let (status, _) = call(create(json!({"depth_m": 1.15}))).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "pon_id is required"
        );
        let unknown = uuid::Uuid::now_v7().to_string();
        let (status, body) = call(create(measured(&unknown))).await;
        assert_eq!(
            (status, body["detail"].as_str()),
            (StatusCode::NOT_FOUND, Some("Not found"))
        );
        // A named pole needs a valid photo of that pole.
        let (status, _) = call(create(with(measured(&pon), "pole_number", json!("P-8")))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);

        // Inclusive bounds; `passed` and `checked_by` from the client are ignored.
        let edge = json!({"pon_id": pon, "pole_number": "P-7", "pole_length_m": 7.4, "depth_m": 1.1,
            "tag_height_m": 2.3, "passed": false, "checked_by": unknown, "hook_position": "left"});
        let first = ok(create(edge)).await;
        assert_eq!(first["ok"], true);
        let misaligned = ok(create(with(
            with(measured(&pon), "alignment_ok", json!(false)),
            "passed",
            json!(true),
        )))
        .await;
        let me = ok(http.get(server.url("/v1/auth/me"))).await;
        let listed =
            ok(http.get(server.url(&format!("/certificate-acceptance?pon_id={pon}")))).await;
        let listed = listed.as_array().unwrap();
        assert_eq!(listed.len(), 2);
        assert_eq!(
            listed[0]["id"], misaligned["id"],
            "most recently checked first"
        );
        assert_eq!(listed[0]["passed"], false, "misaligned");
        assert_eq!(listed[1]["passed"], true);
        assert_eq!(listed[1]["pole_length_m"], 7.4);
        assert_eq!(listed[1]["hook_position"], "left");
        assert_eq!(listed[1]["photo_id"], photo["id"]);
        let my_id = me["user"]["id"].as_str().or(me["id"].as_str()).unwrap();
        assert_eq!(listed[1]["checked_by"], my_id);
        let checked_at: chrono::DateTime<chrono::Utc> =
            listed[1]["checked_at"].as_str().unwrap().parse().unwrap();
        assert!((chrono::Utc::now() - checked_at).num_seconds().abs() < 60);
        let (status, _) = call(http.get(server.url("/certificate-acceptance"))).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

        // gRPC.
        let mut client =
            CertificateServiceClient::with_interceptor(server.channel().await, Bearer::new(&token));
        let made = client
            .create_certificate(CreateCertificateRequest {
                certificate: Some(Certificate {
                    pon_id: pon.clone(),
                    pole_length_m: 7.8,
                    depth_m: 1.2,
                    tag_height_m: 2.2,
                    ..Default::default()
                }),
            })
            .await
            .unwrap()
            .into_inner();
        assert!(made.passed && made.alignment_ok == Some(true));
        let got = client
            .get_certificate(GetCertificateRequest {
                id: made.id.clone(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(got.checked_by, my_id);
        let page = client
            .list_certificates(ListCertificatesRequest {
                pon_id: pon.clone(),
                page_size: 2,
                page_token: String::new(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(page.certificates.len(), 2);
        assert!(!page.next_page_token.is_empty());
        let err = client
            .create_certificate(CreateCertificateRequest {
                certificate: Some(Certificate {
                    pon_id: pon.clone(),
                    pole_length_m: 9.0,
                    depth_m: 1.2,
                    tag_height_m: 2.2,
                    ..Default::default()
                }),
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument);
        assert!(
            err.message().starts_with("pole_length_m"),
            "{}",
            err.message()
        );

        // An auditor reads but may not create.
        let auditor = server.http_as(&server.user_token(&token, "AUDITOR").await);
        ok(auditor.get(server.url(&format!("/certificate-acceptance?pon_id={pon}")))).await;
        let (status, _) = call(
            auditor
                .post(server.url("/certificate-acceptance"))
                .json(&measured(&pon)),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        server.stop().await;
    }
}

#[tokio::test]
async fn legacy_cac_is_real_now() {
    for backends in backend_sets() {
        let server = TestServer::start(&backends).await;
        let http = server.http_as(&server.admin_token().await);
        let Site { pon, task } = site(&server, &http).await;
        let body = json!({"ponId": pon, "poleNumber": "P-1", "poleLengthM": 7.5, "depthM": 1.15, "tagHeightM": 2.25});
        let (status, answer) = call(http.post(server.url("/api/cac")).json(&body)).await;
        assert_eq!(
            (status, answer["message"].as_str()),
            (
                StatusCode::BAD_REQUEST,
                Some("Validated photo required (EXIF and geofence)")
            )
        );
        let exif = exif_at(1, Some(CENTRE));
        upload(
            &server,
            &http,
            &task,
            &[("pole_number", "P-1")],
            &sample::jpeg(Some(&exif), 100),
        )
        .await;
        let (status, created) = call(http.post(server.url("/api/cac")).json(&body)).await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        assert_eq!(created["poleNumber"], "P-1");
        assert_eq!(created["passed"], true);
        assert!(created["_id"].is_string() && created["checkedAt"].is_string());
        let (status, bad) = call(http.post(server.url("/api/cac")).json(&with(
            body.clone(),
            "depthM",
            json!(1.3),
        )))
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(bad["errors"][0]["path"], "depthM", "{bad}");
        let (status, bad) = call(
            http.post(server.url("/api/cac"))
                .json(&json!({"ponId": "x"})),
        )
        .await;
        assert_eq!(
            (status, bad["errors"][0]["path"].as_str()),
            (StatusCode::BAD_REQUEST, Some("ponId"))
        );
        let listed = ok(http.get(server.url(&format!("/api/cac?ponId={pon}")))).await;
        assert_eq!(listed.as_array().unwrap().len(), 1);
        assert_eq!(listed[0]["_id"], created["_id"]);
        server.stop().await;
    }
}

#[tokio::test]
async fn certificates_of_one_tenant_are_invisible_to_another() {
    for backends in backend_sets() {
        let server = TestServer::start(&backends).await;
        let token_a = server.admin_token().await;
        let http_a = server.http_as(&token_a);
        let token_b = server.admin_token_in(&unique_name("tenant")).await;
        let http_b = server.http_as(&token_b);
        let Site { pon, task } = site(&server, &http_a).await;
        upload(&server, &http_a, &task, &[], &good_jpeg()).await;
        let made = ok(http_a
            .post(server.url("/certificate-acceptance"))
            .json(&measured(&pon)))
        .await;
        let id = made["id"].as_str().unwrap();

        // Tenant B's own PON with a valid photo does not let it certify A's PON, and it sees
        // none of A's certificates on any surface.
        let Site { task: task_b, .. } = site(&server, &http_b).await;
        upload(&server, &http_b, &task_b, &[], &good_jpeg()).await;
        let (status, _) = call(
            http_b
                .post(server.url("/certificate-acceptance"))
                .json(&measured(&pon)),
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        for path in [
            format!("/certificate-acceptance?pon_id={pon}"),
            format!("/v1/certificates/{id}"),
            format!("/v1/certificates?pon_id={pon}"),
            format!("/api/cac?ponId={pon}"),
        ] {
            let (status, body) = call(http_b.get(server.url(&path))).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
        }
        let (status, _) =
            call(http_b.post(server.url("/api/cac")).json(
                &json!({"ponId": pon, "poleLengthM": 7.5, "depthM": 1.15, "tagHeightM": 2.25}),
            ))
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let mut client = CertificateServiceClient::with_interceptor(
            server.channel().await,
            Bearer::new(&token_b),
        );
        let err = client
            .get_certificate(GetCertificateRequest { id: id.into() })
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::NotFound);
        let listed =
            ok(http_a.get(server.url(&format!("/certificate-acceptance?pon_id={pon}")))).await;
        assert_eq!(
            listed.as_array().unwrap().len(),
            1,
            "A's records are untouched"
        );
        server.stop().await;
    }
}

#[tokio::test]
async fn deleting_a_pon_takes_its_photos_objects_and_certificates_with_it() {
    for backends in backend_sets() {
        let server = TestServer::start(&backends).await;
        let http = server.http_as(&server.admin_token().await);
        let Site { pon, task } = site(&server, &http).await;
        let (_, photo) = upload(&server, &http, &task, &[], &good_jpeg()).await;
        assert_eq!(photo["verdict"], "valid", "{photo}");
        let certificate = ok(http
            .post(server.url("/certificate-acceptance"))
            .json(&measured(&pon)))
        .await;
        let key = photo["s3_key"].as_str().unwrap().to_string();
        let folder = key.rsplit_once('/').unwrap().0.to_string();
        assert!(folder.ends_with(&task), "{key}");
        assert_eq!(
            object_keys(&server, &folder).await,
            std::slice::from_ref(&key)
        );

        let (status, body) = call(http.delete(server.url(&format!("/v1/pons/{pon}")))).await;
        assert_eq!(status, StatusCode::OK, "{}: {body}", backends.label());
        let (status, _) = call(http.get(server.url(&format!("/v1/pons/{pon}")))).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        for gone in [
            format!("/v1/certificates/{}", certificate["id"].as_str().unwrap()),
            format!("/v1/photos/{}", photo["id"].as_str().unwrap()),
        ] {
            let (status, _) = call(http.get(server.url(&gone))).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{gone}");
        }
        assert!(
            object_keys(&server, &folder).await.is_empty(),
            "the photo's object goes with its row ({})",
            backends.label()
        );
        server.stop().await;
    }
}
