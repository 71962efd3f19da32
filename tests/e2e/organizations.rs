//! Organizations, contracts and assignments end to end: CRUD over REST and gRPC, bad input
//! named by field with nothing written, roles and SMME scoping, the old core-API paths, the
//! audit trail, tenant isolation, and the demo seed.

use kasi_fiber::proto::v1::organization_service_client::OrganizationServiceClient;
use kasi_fiber::proto::v1::{
    CreateOrganizationRequest, DeleteOrganizationRequest, GetOrganizationRequest,
    ListOrganizationsRequest, Organization, OrganizationType, UpdateOrganizationRequest,
};
use reqwest::StatusCode;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::{Value, json};
use tonic::Code;

use crate::harness::{
    Bearer, TEST_PASSWORD, TestServer, backend_sets, call, id_of, ok, unique_name, violated_fields,
};

/// The ids in a list response's `key` array.
fn ids(body: &Value, key: &str) -> Vec<String> {
    body[key]
        .as_array()
        .unwrap_or_else(|| panic!("no {key} in {body}"))
        .iter()
        .map(id_of)
        .collect()
}

/// The field of the first violation of a 400 answer.
fn first_field(body: &Value) -> &str {
    body["field_violations"][0]["field"].as_str().unwrap_or("")
}

async fn new_organization(
    server: &TestServer,
    http: &reqwest::Client,
    name: &str,
    kind: &str,
) -> String {
    id_of(
        &ok(http
            .post(server.url("/v1/organizations"))
            .json(&json!({"name": name, "type": kind})))
        .await,
    )
}

async fn new_pon(server: &TestServer, http: &reqwest::Client, code: &str) -> String {
    id_of(
        &ok(http
            .post(server.url("/v1/pons"))
            .json(&json!({"pon_code": code, "name": code, "ward": "Ward 7", "fiber_count": 24})))
        .await,
    )
}

async fn new_contract(
    server: &TestServer,
    http: &reqwest::Client,
    organization_id: &str,
) -> String {
    id_of(
        &ok(http.post(server.url("/v1/contracts")).json(&json!({
            "organization_id": organization_id,
            "scope_type": "Maintenance",
            "wards": ["Ward 7"],
            "sla_p1_min": 120,
        })))
        .await,
    )
}

async fn new_assignment(server: &TestServer, http: &reqwest::Client, body: Value) -> String {
    id_of(&ok(http.post(server.url("/v1/assignments")).json(&body)).await)
}

/// The audit entries about organizations, contracts and assignments, oldest first.
async fn audit_entries(server: &TestServer) -> Vec<kasi_fiber::audit::entry::Model> {
    use kasi_fiber::audit::entry;
    let db = kasi_fiber::storage::db::connect(&server.config.database, &server.config.data_dir)
        .await
        .unwrap();
    let entries = entry::Entity::find()
        .filter(entry::Column::ResourceType.is_in(["organization", "contract", "assignment"]))
        .order_by_asc(entry::Column::Id)
        .all(&db)
        .await
        .unwrap();
    db.close().await.unwrap();
    entries
}

#[tokio::test]
async fn organizations_crud_over_rest_and_grpc() {
    for backends in backend_sets() {
        let server = TestServer::start(&backends).await;
        let token = server.admin_token().await;
        let http = server.http_as(&token);

        let created = ok(http
            .post(server.url("/v1/organizations"))
            .json(&json!({"name": " Ubuntu Civils ", "type": "Civil"})))
        .await;
        let id = id_of(&created);
        assert!(uuid::Uuid::parse_str(&id).is_ok());
        assert_eq!(created["name"], "Ubuntu Civils", "{}", backends.label());
        assert_eq!(created["type"], "ORGANIZATION_TYPE_CIVIL");
        assert!(created["created_at"].as_str().unwrap().ends_with('Z'));
        let fetched = ok(http.get(server.url(&format!("/v1/organizations/{id}")))).await;
        assert_eq!(fetched, created);

        let (status, body) = call(
            http.post(server.url("/v1/organizations"))
                .json(&json!({"name": "Ubuntu Civils", "type": "ORGANIZATION_TYPE_SALES"})),
        )
        .await;
        assert_eq!(status, StatusCode::CONFLICT, "names are unique: {body}");

        let technical = new_organization(&server, &http, "Sizwe Technical", "technical").await;
        let only_technical = ok(http.get(server.url("/v1/organizations?type=technical"))).await;
        assert_eq!(ids(&only_technical, "organizations"), [technical.as_str()]);
        let first = ok(http.get(server.url("/v1/organizations?page_size=1"))).await;
        let token_2 = first["next_page_token"].as_str().unwrap();
        let second = ok(http.get(server.url(&format!(
            "/v1/organizations?page_size=1&page_token={token_2}"
        ))))
        .await;
        assert_eq!(
            [ids(&first, "organizations"), ids(&second, "organizations")].concat(),
            [id.clone(), technical.clone()]
        );
        assert_eq!(second["next_page_token"], "");

        let patched = ok(http
            .patch(server.url(&format!("/v1/organizations/{id}")))
            .json(&json!({"name": "Ubuntu Civil Works"})))
        .await;
        assert_eq!(patched["name"], "Ubuntu Civil Works");
        assert_eq!(
            patched["type"], "ORGANIZATION_TYPE_CIVIL",
            "not in the mask"
        );
        assert_eq!(patched["created_at"], created["created_at"]);

        assert_eq!(
            ok(http.delete(server.url(&format!("/v1/organizations/{id}")))).await,
            json!({})
        );
        let (status, _) = call(http.get(server.url(&format!("/v1/organizations/{id}")))).await;
        assert_eq!(status, StatusCode::NOT_FOUND);

        // The same over a tonic client.
        let mut grpc = OrganizationServiceClient::with_interceptor(
            server.channel().await,
            Bearer::new(&token),
        );
        let created = grpc
            .create_organization(CreateOrganizationRequest {
                organization: Some(Organization {
                    name: "Thabo Maintenance".into(),
                    r#type: OrganizationType::Maintenance as i32,
                    ..Default::default()
                }),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(created.r#type(), OrganizationType::Maintenance);
        let fetched = grpc
            .get_organization(GetOrganizationRequest {
                id: created.id.clone(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(fetched, created);
        let listed = grpc
            .list_organizations(ListOrganizationsRequest {
                r#type: OrganizationType::Maintenance as i32,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(listed.organizations, std::slice::from_ref(&created));
        let renamed = grpc
            .update_organization(UpdateOrganizationRequest {
                organization: Some(Organization {
                    id: created.id.clone(),
                    name: "Thabo Maintenance (Pty) Ltd".into(),
                    r#type: OrganizationType::Sales as i32,
                    ..Default::default()
                }),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["name".into()],
                }),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(renamed.name, "Thabo Maintenance (Pty) Ltd");
        assert_eq!(
            renamed.r#type(),
            OrganizationType::Maintenance,
            "the mask decides"
        );
        let status = grpc
            .create_organization(CreateOrganizationRequest {
                organization: Some(Organization {
                    name: "  ".into(),
                    ..Default::default()
                }),
            })
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument);
        let fields = violated_fields(&status);
        assert_eq!(fields, ["organization.name", "organization.type"]);
        grpc.delete_organization(DeleteOrganizationRequest {
            id: created.id.clone(),
        })
        .await
        .unwrap();
        let status = grpc
            .get_organization(GetOrganizationRequest { id: created.id })
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::NotFound);
        server.stop().await;
    }
}

#[tokio::test]
async fn contracts_crud_over_rest() {
    for backends in backend_sets() {
        let server = TestServer::start(&backends).await;
        let http = server.http_as(&server.admin_token().await);
        let organization = new_organization(&server, &http, "Maintain Co", "Maintenance").await;

        let created = ok(http.post(server.url("/v1/contracts")).json(&json!({
            "organization_id": organization,
            "scope_type": "ORGANIZATION_TYPE_MAINTENANCE",
            "wards": [" Ward 7 ", "Ward 12"],
            "sla_p1_min": 120,
            "sla_p4_min": 1440,
            "rate_card_ref": "RC-2026",
            "valid_from": "2026-01-01",
            "valid_to": "2026-12-31",
        })))
        .await;
        let id = id_of(&created);
        assert_eq!(created["organization_id"], organization.as_str());
        assert_eq!(
            created["scope_type"],
            "ORGANIZATION_TYPE_MAINTENANCE",
            "{}",
            backends.label()
        );
        assert_eq!(created["wards"], json!(["Ward 7", "Ward 12"]));
        assert_eq!(created["sla_p1_min"], 120);
        assert!(created["sla_p2_min"].is_null(), "unset SLAs stay unset");
        assert_eq!(created["sla_p4_min"], 1440);
        assert_eq!(created["active"], true, "contracts start active");
        assert_eq!(created["valid_to"], "2026-12-31");
        assert_eq!(
            ok(http.get(server.url(&format!("/v1/contracts/{id}")))).await,
            created
        );

        let other = new_contract(&server, &http, &organization).await;
        let listed = ok(http.get(server.url(&format!(
            "/v1/contracts?organization_id={organization}&scope_type=maintenance&active=true"
        ))))
        .await;
        assert_eq!(ids(&listed, "contracts"), [id.clone(), other.clone()]);

        let patched = ok(http
            .patch(server.url(&format!("/v1/contracts/{id}")))
            .json(&json!({"active": false, "sla_p1_min": null, "wards": []})))
        .await;
        assert_eq!(patched["active"], false);
        assert!(patched["sla_p1_min"].is_null(), "null clears an SLA");
        assert_eq!(patched["wards"], json!([]));
        assert_eq!(patched["sla_p4_min"], 1440, "not in the mask");
        let inactive = ok(http.get(server.url("/v1/contracts?active=false"))).await;
        assert_eq!(ids(&inactive, "contracts"), [id.as_str()]);

        ok(http.delete(server.url(&format!("/v1/contracts/{id}")))).await;
        let (status, _) = call(http.get(server.url(&format!("/v1/contracts/{id}")))).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _) = call(http.delete(server.url(&format!("/v1/contracts/{id}")))).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "deleting twice");
        server.stop().await;
    }
}

#[tokio::test]
async fn assignments_crud_and_cascades() {
    for backends in backend_sets() {
        let server = TestServer::start(&backends).await;
        let http = server.http_as(&server.admin_token().await);
        let organization = new_organization(&server, &http, "Pole Planters", "Civil").await;
        let pon = new_pon(&server, &http, "PON-A1").await;

        let on_pon = ok(http.post(server.url("/v1/assignments")).json(&json!({
            "organization_id": organization,
            "pon_id": pon,
            "step_type": "PolePlanting",
        })))
        .await;
        assert_eq!(on_pon["pon_id"], pon.as_str(), "{}", backends.label());
        assert_eq!(on_pon["ward"], "");
        assert_eq!(on_pon["step_type"], "PolePlanting");
        let on_pon = id_of(&on_pon);
        let on_ward = new_assignment(
            &server,
            &http,
            json!({"organization_id": organization, "ward": "Ward 7", "step_type": "cac_check"}),
        )
        .await;

        for (query, expected) in [
            (format!("pon_id={pon}"), vec![on_pon.clone()]),
            ("step_type=cac_check".into(), vec![on_ward.clone()]),
            ("ward=Ward%207".into(), vec![on_ward.clone()]),
            (
                format!("organization_id={organization}"),
                vec![on_pon.clone(), on_ward.clone()],
            ),
        ] {
            let listed = ok(http.get(server.url(&format!("/v1/assignments?{query}")))).await;
            assert_eq!(ids(&listed, "assignments"), expected, "{query}");
        }

        let patched = ok(http
            .patch(server.url(&format!("/v1/assignments/{on_ward}")))
            .json(&json!({"ward": "Ward 12", "step_type": "Stringing"})))
        .await;
        assert_eq!(patched["ward"], "Ward 12");
        assert_eq!(patched["step_type"], "Stringing");
        let (status, body) = call(
            http.patch(server.url(&format!("/v1/assignments/{on_ward}")))
                .json(&json!({"ward": ""})),
        )
        .await;
        assert_eq!(
            (status, first_field(&body)),
            (StatusCode::BAD_REQUEST, "assignment.pon_id"),
            "removing the only target: {body}"
        );

        ok(http.delete(server.url(&format!("/v1/assignments/{on_ward}")))).await;
        let (status, _) = call(http.get(server.url(&format!("/v1/assignments/{on_ward}")))).await;
        assert_eq!(status, StatusCode::NOT_FOUND);

        // Deleting a PON deletes its assignments; deleting an organization its contracts
        // and assignments.
        ok(http.delete(server.url(&format!("/v1/pons/{pon}")))).await;
        let (status, _) = call(http.get(server.url(&format!("/v1/assignments/{on_pon}")))).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let contract = new_contract(&server, &http, &organization).await;
        let assignment = new_assignment(
            &server,
            &http,
            json!({"organization_id": organization, "ward": "Ward 31", "step_type": "Permissions"}),
        )
        .await;
        ok(http.delete(server.url(&format!("/v1/organizations/{organization}")))).await;
        for path in [
            format!("/v1/contracts/{contract}"),
            format!("/v1/assignments/{assignment}"),
        ] {
            let (status, _) = call(http.get(server.url(&path))).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        }
        server.stop().await;
    }
}

#[tokio::test]
async fn bad_input_names_the_field_and_writes_nothing() {
    for backends in backend_sets() {
        let server = TestServer::start(&backends).await;
        let http = server.http_as(&server.admin_token().await);
        let organization = new_organization(&server, &http, "Valid Org", "Civil").await;
        let pon = new_pon(&server, &http, "PON-V1").await;
        let unknown = uuid::Uuid::now_v7().to_string();
        let contract = |extra: Value| {
            let mut body = json!({"organization_id": organization, "scope_type": "Civil"});
            body.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            body
        };
        let assignment = |extra: Value| {
            let mut body = json!({"organization_id": organization, "step_type": "CAC"});
            body.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            body
        };
        let cases = [
            (
                "/v1/contracts",
                contract(json!({"valid_from": "2026-05-01", "valid_to": "2026-04-30"})),
                "contract.valid_to",
            ),
            (
                "/v1/contracts",
                contract(json!({"sla_p3_min": 0})),
                "contract.sla_p3_min",
            ),
            (
                "/v1/contracts",
                contract(json!({"organization_id": "not-a-uuid"})),
                "contract.organization_id",
            ),
            (
                "/v1/contracts",
                contract(json!({"organization_id": ""})),
                "contract.organization_id",
            ),
            (
                "/v1/contracts",
                contract(json!({"organization_id": unknown})),
                "contract.organization_id",
            ),
            (
                "/v1/contracts",
                contract(json!({"scope_type": "Plumbing"})),
                "contract.scope_type",
            ),
            (
                "/v1/contracts",
                contract(json!({"valid_from": "2026-02-30"})),
                "contract.valid_from",
            ),
            (
                "/v1/contracts",
                contract(json!({"sla_p1_min": "soon"})),
                "contract.sla_p1_min",
            ),
            (
                "/v1/assignments",
                assignment(json!({})),
                "assignment.pon_id",
            ),
            (
                "/v1/assignments",
                assignment(json!({"pon_id": "PON-V1"})),
                "assignment.pon_id",
            ),
            (
                "/v1/assignments",
                assignment(json!({"pon_id": unknown})),
                "assignment.pon_id",
            ),
            (
                "/v1/assignments",
                assignment(json!({"pon_id": pon, "step_type": "Civil"})),
                "assignment.step_type",
            ),
            (
                "/v1/organizations",
                json!({"name": "Plumbers", "type": "ORGANIZATION_TYPE_PLUMBING"}),
                "organization.type",
            ),
            (
                "/v1/organizations",
                json!({"name": "No Type"}),
                "organization.type",
            ),
            (
                "/v1/organizations",
                json!({"name": " ", "type": "Sales"}),
                "organization.name",
            ),
        ];
        for (path, body, field) in cases {
            let (status, answer) = call(http.post(server.url(path)).json(&body)).await;
            assert_eq!(
                (status, first_field(&answer)),
                (StatusCode::BAD_REQUEST, field),
                "{path} {body}: {answer} ({})",
                backends.label()
            );
        }
        for (path, field) in [
            ("/v1/contracts/not-a-uuid", "id"),
            ("/v1/contracts?organization_id=nope", "organization_id"),
            ("/v1/assignments?pon_id=nope", "pon_id"),
            ("/v1/organizations?page_size=-1", "page_size"),
            ("/v1/contracts?page_token=bogus", "page_token"),
        ] {
            let (status, answer) = call(http.get(server.url(path))).await;
            assert_eq!(
                (status, first_field(&answer)),
                (StatusCode::BAD_REQUEST, field),
                "{path}: {answer}"
            );
        }
        let (status, answer) = call(
            http.patch(server.url(&format!(
                "/v1/organizations/{organization}?update_mask=created_at"
            )))
            .json(&json!({})),
        )
        .await;
        assert_eq!(
            (status, first_field(&answer)),
            (StatusCode::BAD_REQUEST, "update_mask")
        );
        let (status, answer) = call(
            http.patch(server.url(&format!("/v1/organizations/{organization}")))
                .json(&json!({"type": "ORGANIZATION_TYPE_UNSPECIFIED"})),
        )
        .await;
        assert_eq!(
            (status, first_field(&answer)),
            (StatusCode::BAD_REQUEST, "organization.type")
        );

        // Nothing was written: only the organization exists, and only its creation is audited.
        let contracts = ok(http.get(server.url("/v1/contracts"))).await;
        assert_eq!(contracts["contracts"], json!([]));
        let assignments = ok(http.get(server.url("/v1/assignments"))).await;
        assert_eq!(assignments["assignments"], json!([]));
        let organizations = ok(http.get(server.url("/v1/organizations"))).await;
        assert_eq!(
            ids(&organizations, "organizations"),
            [organization.as_str()]
        );
        let actions: Vec<String> = audit_entries(&server)
            .await
            .into_iter()
            .map(|entry| format!("{} {}", entry.action, entry.resource_type))
            .collect();
        assert_eq!(actions, ["create organization"]);
        server.stop().await;
    }
}

#[tokio::test]
async fn roles_are_checked_and_smme_users_read_only_their_organization() {
    for backends in backend_sets() {
        let server = TestServer::start(&backends).await;
        let admin_token = server.admin_token().await;
        let admin = server.http_as(&admin_token);
        let own = new_organization(&server, &admin, "Own Org", "Civil").await;
        let other = new_organization(&server, &admin, "Other Org", "Technical").await;
        let own_contract = new_contract(&server, &admin, &own).await;
        let other_contract = new_contract(&server, &admin, &other).await;
        let own_assignment = new_assignment(
            &server,
            &admin,
            json!({"organization_id": own, "ward": "Ward 7", "step_type": "CAC"}),
        )
        .await;
        let other_assignment = new_assignment(
            &server,
            &admin,
            json!({"organization_id": other, "ward": "Ward 7", "step_type": "CAC"}),
        )
        .await;

        for role in ["ROLE_SITE", "ROLE_AUDITOR", "ROLE_NOC"] {
            let http = server.http_as(&server.user_token(&admin_token, role).await);
            let writes = [
                http.post(server.url("/v1/organizations"))
                    .json(&json!({"name": "Nope", "type": "Civil"})),
                http.post(server.url("/v1/contracts"))
                    .json(&json!({"organization_id": own, "scope_type": "Civil"})),
                http.post(server.url("/v1/assignments"))
                    .json(&json!({"organization_id": own, "ward": "W", "step_type": "CAC"})),
                http.patch(server.url(&format!("/v1/contracts/{own_contract}")))
                    .json(&json!({"active": false})),
                http.delete(server.url(&format!("/v1/assignments/{own_assignment}"))),
                http.delete(server.url(&format!("/v1/organizations/{own}"))),
            ];
            for request in writes {
                let (status, body) = call(request).await;
                assert_eq!(status, StatusCode::FORBIDDEN, "{role}: {body}");
            }
            let listed = ok(http.get(server.url("/v1/contracts"))).await;
            assert_eq!(
                ids(&listed, "contracts"),
                [own_contract.clone(), other_contract.clone()],
                "{role} reads the whole tenant"
            );
        }
        let pm = server.http_as(&server.user_token(&admin_token, "ROLE_PM").await);
        let made_by_pm = new_organization(&server, &pm, "PM Org", "Sales").await;
        ok(pm.delete(server.url(&format!("/v1/organizations/{made_by_pm}")))).await;

        // An SMME user of `own` sees only `own` and its records.
        let email = format!("{}@smme.test", unique_name("smme"));
        ok(admin.post(server.url("/v1/users")).json(&json!({
            "name": "Own SMME", "email": email, "password": TEST_PASSWORD,
            "role": "ROLE_SMME", "organization_id": own,
        })))
        .await;
        let smme = server.http_as(&server.login(&email, TEST_PASSWORD).await);
        let visible = [
            ("/v1/organizations", "organizations", own.clone()),
            ("/v1/contracts", "contracts", own_contract.clone()),
            ("/v1/assignments", "assignments", own_assignment.clone()),
        ];
        for (path, key, expected) in visible {
            let listed = ok(smme.get(server.url(path))).await;
            assert_eq!(ids(&listed, key), [expected.as_str()], "{path}");
            ok(smme.get(server.url(&format!("{path}/{expected}")))).await;
        }
        for path in [
            format!("/v1/organizations/{other}"),
            format!("/v1/contracts/{other_contract}"),
            format!("/v1/assignments/{other_assignment}"),
        ] {
            let (status, _) = call(smme.get(server.url(&path))).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        }
        let filtered =
            ok(smme.get(server.url(&format!("/v1/contracts?organization_id={other}")))).await;
        assert_eq!(filtered["contracts"], json!([]));
        let (status, _) = call(
            smme.post(server.url("/v1/contracts"))
                .json(&json!({"organization_id": own, "scope_type": "Civil"})),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN);

        // An SMME user without an organization sees nothing.
        let loner = server.http_as(&server.user_token(&admin_token, "ROLE_SMME").await);
        let listed = ok(loner.get(server.url("/v1/organizations"))).await;
        assert_eq!(listed["organizations"], json!([]), "{}", backends.label());
        let (status, _) = call(loner.get(server.url(&format!("/v1/organizations/{own}")))).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        server.stop().await;
    }
}

#[tokio::test]
async fn core_paths_keep_the_old_shapes() {
    for backends in backend_sets() {
        let server = TestServer::start(&backends).await;
        let admin_token = server.admin_token().await;
        let http = server.http_as(&admin_token);
        let organization = new_organization(&server, &http, "Core Org", "Maintenance").await;
        let pon = new_pon(&server, &http, "PON-C1").await;

        let answer = ok(http.post(server.url("/contracts")).json(&json!({
            "org_id": organization,
            "scope_type": "Maintenance",
            "wards": ["Ward 7"],
            "sla_p1_min": 120,
            "sla_p2_min": 240,
            "rate_card_ref": "RC-1",
            "active": null,
            "valid_from": "2026-01-01",
        })))
        .await;
        assert_eq!(answer.as_object().unwrap().len(), 2, "{answer}");
        assert_eq!(answer["ok"], true);
        let contract = id_of(&answer);
        let stored = ok(http.get(server.url(&format!("/v1/contracts/{contract}")))).await;
        assert_eq!(stored["organization_id"], organization.as_str());
        assert_eq!(stored["scope_type"], "ORGANIZATION_TYPE_MAINTENANCE");
        assert_eq!(stored["wards"], json!(["Ward 7"]));
        assert_eq!(stored["sla_p2_min"], 240);
        assert_eq!(stored["rate_card_ref"], "RC-1");
        assert_eq!(stored["active"], true, "null and absent mean true");
        assert_eq!(stored["valid_from"], "2026-01-01");
        let minimal = ok(http
            .post(server.url("/contracts"))
            .json(&json!({"org_id": organization, "scope_type": "Civil", "unknown": 1})))
        .await;
        assert_eq!(minimal["ok"], true);

        let on_pon = ok(http.post(server.url("/assignments")).json(&json!({
            "org_id": organization, "pon_id": pon, "step_type": "PolePlanting",
        })))
        .await;
        let mut keys: Vec<&String> = on_pon.as_object().unwrap().keys().collect();
        keys.sort();
        assert_eq!(keys, ["id", "ok"]);
        let stored = ok(http.get(server.url(&format!("/v1/assignments/{}", id_of(&on_pon))))).await;
        assert_eq!(stored["pon_id"], pon.as_str());
        ok(http.post(server.url("/assignments")).json(&json!({
            "org_id": organization, "ward": "Ward 7", "step_type": "CAC",
        })))
        .await;

        let site = server.http_as(&server.user_token(&admin_token, "ROLE_SITE").await);
        let unknown = uuid::Uuid::now_v7().to_string();
        let cases = [
            (
                http.post(server.url("/assignments"))
                    .json(&json!({"org_id": organization, "step_type": "CAC"})),
                StatusCode::BAD_REQUEST,
                "Provide pon_id or ward",
            ),
            (
                http.post(server.url("/assignments")).json(
                    &json!({"org_id": organization, "pon_id": "", "ward": " ", "step_type": "CAC"}),
                ),
                StatusCode::BAD_REQUEST,
                "Provide pon_id or ward",
            ),
            (
                http.post(server.url("/contracts"))
                    .json(&json!({"org_id": "not-a-uuid", "scope_type": "Civil"})),
                StatusCode::UNPROCESSABLE_ENTITY,
                "org_id: `not-a-uuid` is not a UUID",
            ),
            (
                http.post(server.url("/assignments")).json(
                    &json!({"org_id": organization, "pon_id": "PON-C1", "step_type": "CAC"}),
                ),
                StatusCode::UNPROCESSABLE_ENTITY,
                "pon_id: `PON-C1` is not a UUID",
            ),
            (
                http.post(server.url("/contracts"))
                    .json(&json!({"scope_type": "Civil"})),
                StatusCode::UNPROCESSABLE_ENTITY,
                "org_id: field required",
            ),
            (
                http.post(server.url("/assignments"))
                    .json(&json!({"org_id": organization, "ward": "W"})),
                StatusCode::UNPROCESSABLE_ENTITY,
                "step_type: field required",
            ),
            (
                http.post(server.url("/contracts"))
                    .json(&json!({"org_id": organization, "scope_type": "Plumbing"})),
                StatusCode::UNPROCESSABLE_ENTITY,
                "scope_type: `Plumbing` is not one of Civil, Technical, Maintenance, Sales",
            ),
            (
                http.post(server.url("/contracts"))
                    .json(&json!({"org_id": organization, "scope_type": "Civil", "valid_to": "31/12/2026"})),
                StatusCode::UNPROCESSABLE_ENTITY,
                "valid_to: `31/12/2026` is not a date (YYYY-MM-DD)",
            ),
            (
                http.post(server.url("/contracts"))
                    .json(&json!({"org_id": organization, "scope_type": "Civil", "sla_p1_min": 0})),
                StatusCode::BAD_REQUEST,
                "sla_p1_min: must be at least 1",
            ),
            (
                http.post(server.url("/contracts")).json(&json!({
                    "org_id": organization, "scope_type": "Civil",
                    "valid_from": "2026-05-01", "valid_to": "2026-04-01",
                })),
                StatusCode::BAD_REQUEST,
                "valid_to: must not be before valid_from",
            ),
            (
                http.post(server.url("/contracts"))
                    .json(&json!({"org_id": unknown, "scope_type": "Civil"})),
                StatusCode::BAD_REQUEST,
                "org_id: no such organization in this tenant",
            ),
            (
                http.post(server.url("/assignments"))
                    .json(&json!({"org_id": organization, "pon_id": unknown, "step_type": "CAC"})),
                StatusCode::BAD_REQUEST,
                "pon_id: no such PON in this tenant",
            ),
            (
                http.post(server.url("/contracts")).body("{not json"),
                StatusCode::UNPROCESSABLE_ENTITY,
                "",
            ),
            (
                http.post(server.url("/contracts")).json(
                    &json!({"org_id": organization, "scope_type": "Civil", "sla_p2_min": "soon"}),
                ),
                StatusCode::UNPROCESSABLE_ENTITY,
                "",
            ),
            (
                reqwest::Client::new()
                    .post(server.url("/contracts"))
                    .json(&json!({"org_id": organization, "scope_type": "Civil"})),
                StatusCode::UNAUTHORIZED,
                "missing credentials",
            ),
            (
                site.post(server.url("/contracts"))
                    .json(&json!({"org_id": organization, "scope_type": "Civil"})),
                StatusCode::FORBIDDEN,
                "Forbidden",
            ),
            (
                site.post(server.url("/assignments"))
                    .json(&json!({"org_id": organization, "ward": "W", "step_type": "CAC"})),
                StatusCode::FORBIDDEN,
                "Forbidden",
            ),
            (
                http.get(server.url("/contracts")),
                StatusCode::METHOD_NOT_ALLOWED,
                "Method Not Allowed",
            ),
        ];
        for (request, status, detail) in cases {
            let (got, body) = call(request).await;
            assert_eq!(got, status, "{body} ({})", backends.label());
            assert_eq!(
                body.as_object().unwrap().keys().collect::<Vec<_>>(),
                ["detail"],
                "{body}"
            );
            let text = body["detail"].as_str().unwrap();
            if detail.is_empty() {
                assert!(!text.is_empty());
            } else {
                assert_eq!(text, detail);
            }
        }
        let (_, body) = call(
            http.post(server.url("/assignments"))
                .json(&json!({"org_id": organization, "ward": "W", "step_type": "Civil"})),
        )
        .await;
        assert!(
            body["detail"]
                .as_str()
                .unwrap()
                .starts_with("step_type: must be one of Permissions, PolePlanting, CAC"),
            "{body}"
        );

        // Only the four good calls wrote anything.
        let contracts = ok(http.get(server.url("/v1/contracts"))).await;
        assert_eq!(contracts["contracts"].as_array().unwrap().len(), 2);
        let assignments = ok(http.get(server.url("/v1/assignments"))).await;
        assert_eq!(assignments["assignments"].as_array().unwrap().len(), 2);
        server.stop().await;
    }
}

#[tokio::test]
async fn every_change_is_audited_with_before_and_after() {
    for backends in backend_sets() {
        let server = TestServer::start(&backends).await;
        let http = server.http_as(&server.admin_token().await);
        let me = ok(http.get(server.url("/v1/auth/me"))).await;
        let organization = new_organization(&server, &http, "Audited", "Civil").await;
        let contract = new_contract(&server, &http, &organization).await;
        let assignment = new_assignment(
            &server,
            &http,
            json!({"organization_id": organization, "ward": "Ward 7", "step_type": "CAC"}),
        )
        .await;
        let changes = [
            (
                "organizations",
                &organization,
                json!({"name": "Audited Ltd"}),
            ),
            ("contracts", &contract, json!({"active": false})),
            (
                "assignments",
                &assignment,
                json!({"step_type": "Stringing"}),
            ),
        ];
        for (collection, id, patch) in &changes {
            ok(http
                .patch(server.url(&format!("/v1/{collection}/{id}")))
                .json(patch))
            .await;
        }
        for (collection, id, _) in changes.iter().rev() {
            ok(http.delete(server.url(&format!("/v1/{collection}/{id}")))).await;
        }

        let entries = audit_entries(&server).await;
        let snapshot = |text: &Option<String>| -> Value {
            text.as_deref()
                .map_or(Value::Null, |text| serde_json::from_str(text).unwrap())
        };
        for (kind, id, field, before, after) in [
            (
                "organization",
                &organization,
                "name",
                json!("Audited"),
                json!("Audited Ltd"),
            ),
            ("contract", &contract, "active", json!(true), json!(false)),
            (
                "assignment",
                &assignment,
                "step_type",
                json!("CAC"),
                json!("Stringing"),
            ),
        ] {
            let mine: Vec<_> = entries.iter().filter(|e| &e.resource_id == id).collect();
            let actions: Vec<&str> = mine.iter().map(|e| e.action.as_str()).collect();
            assert_eq!(
                actions,
                ["create", "update", "delete"],
                "{kind} ({})",
                backends.label()
            );
            assert!(mine.iter().all(|e| e.resource_type == kind));
            assert!(
                mine.iter().all(|e| e.actor_user_id.map(|u| u.to_string())
                    == me["id"].as_str().map(String::from))
            );
            let (create, update, delete) = (mine[0], mine[1], mine[2]);
            assert!(create.before.is_none());
            assert_eq!(snapshot(&create.after)[field], before, "{kind}");
            assert_eq!(snapshot(&update.before)[field], before, "{kind}");
            assert_eq!(snapshot(&update.after)[field], after, "{kind}");
            assert_eq!(snapshot(&delete.before)[field], after, "{kind}");
            assert!(delete.after.is_none());
        }
        let created_contract = entries
            .iter()
            .find(|e| e.resource_id == contract && e.action == "create")
            .unwrap();
        let after = snapshot(&created_contract.after);
        assert_eq!(after["organization_id"], organization.as_str());
        assert_eq!(after["wards"], json!(["Ward 7"]));
        assert_eq!(after["sla_p1_min"], 120);
        server.stop().await;
    }
}

/// Two tenants: beta can neither see nor change alpha's organizations, contracts and
/// assignments, nor point its own records at alpha's organization or PON.
#[tokio::test]
async fn tenants_are_isolated_for_organizations_contracts_and_assignments() {
    for backends in backend_sets() {
        let server = TestServer::start(&backends).await;
        let alpha = server.http_as(&server.admin_token_in("alpha").await);
        let beta = server.http_as(&server.admin_token_in("beta").await);

        let alpha_org = new_organization(&server, &alpha, "Shared Name", "Civil").await;
        let alpha_pon = new_pon(&server, &alpha, "PON-001").await;
        let alpha_contract = new_contract(&server, &alpha, &alpha_org).await;
        let alpha_assignment = new_assignment(
            &server,
            &alpha,
            json!({"organization_id": alpha_org, "pon_id": alpha_pon, "step_type": "CAC"}),
        )
        .await;
        // Names are unique per tenant only.
        let beta_org = new_organization(&server, &beta, "Shared Name", "Technical").await;
        let beta_contract = new_contract(&server, &beta, &beta_org).await;

        for (collection, id, patch) in [
            ("organizations", &alpha_org, json!({"name": "stolen"})),
            ("contracts", &alpha_contract, json!({"active": false})),
            ("assignments", &alpha_assignment, json!({"ward": "stolen"})),
        ] {
            let path = server.url(&format!("/v1/{collection}/{id}"));
            for request in [
                beta.get(&path),
                beta.patch(&path).json(&patch),
                beta.delete(&path),
            ] {
                let (status, body) = call(request).await;
                assert_eq!(
                    status,
                    StatusCode::NOT_FOUND,
                    "{path}: {body} ({})",
                    backends.label()
                );
            }
            let listed = ok(beta.get(server.url(&format!("/v1/{collection}")))).await;
            assert!(!ids(&listed, collection).contains(id), "{collection}");
        }
        let filtered =
            ok(beta.get(server.url(&format!("/v1/contracts?organization_id={alpha_org}")))).await;
        assert_eq!(filtered["contracts"], json!([]));
        let filtered =
            ok(beta.get(server.url(&format!("/v1/assignments?pon_id={alpha_pon}")))).await;
        assert_eq!(filtered["assignments"], json!([]));

        // Pointing at alpha's records is a bad argument, reported like a missing record.
        let references = [
            (
                beta.post(server.url("/v1/contracts"))
                    .json(&json!({"organization_id": alpha_org, "scope_type": "Civil"})),
                "contract.organization_id",
            ),
            (
                beta.post(server.url("/v1/assignments")).json(
                    &json!({"organization_id": beta_org, "pon_id": alpha_pon, "step_type": "CAC"}),
                ),
                "assignment.pon_id",
            ),
            (
                beta.post(server.url("/v1/assignments"))
                    .json(&json!({"organization_id": alpha_org, "ward": "W", "step_type": "CAC"})),
                "assignment.organization_id",
            ),
            (
                beta.patch(server.url(&format!("/v1/contracts/{beta_contract}")))
                    .json(&json!({"organization_id": alpha_org})),
                "contract.organization_id",
            ),
        ];
        for (request, field) in references {
            let (status, body) = call(request).await;
            assert_eq!(
                (status, first_field(&body)),
                (StatusCode::BAD_REQUEST, field),
                "{body}"
            );
            assert!(
                body["detail"].as_str().unwrap().contains("no such"),
                "{body}"
            );
        }
        let (status, body) = call(
            beta.post(server.url("/contracts"))
                .json(&json!({"org_id": alpha_org, "scope_type": "Civil"})),
        )
        .await;
        assert_eq!(
            (status, body),
            (
                StatusCode::BAD_REQUEST,
                json!({"detail": "org_id: no such organization in this tenant"})
            )
        );
        let (status, body) = call(
            beta.post(server.url("/assignments"))
                .json(&json!({"org_id": beta_org, "pon_id": alpha_pon, "step_type": "CAC"})),
        )
        .await;
        assert_eq!(
            (status, body),
            (
                StatusCode::BAD_REQUEST,
                json!({"detail": "pon_id: no such PON in this tenant"})
            )
        );

        // Alpha's records are untouched, and alpha does not see beta's.
        let organization =
            ok(alpha.get(server.url(&format!("/v1/organizations/{alpha_org}")))).await;
        assert_eq!(organization["type"], "ORGANIZATION_TYPE_CIVIL");
        let contract = ok(alpha.get(server.url(&format!("/v1/contracts/{alpha_contract}")))).await;
        assert_eq!(contract["active"], true);
        let assignment =
            ok(alpha.get(server.url(&format!("/v1/assignments/{alpha_assignment}")))).await;
        assert_eq!(assignment["pon_id"], alpha_pon.as_str());
        let listed = ok(alpha.get(server.url("/v1/contracts"))).await;
        assert_eq!(ids(&listed, "contracts"), [alpha_contract.as_str()]);
        let listed = ok(alpha.get(server.url("/v1/organizations"))).await;
        assert_eq!(ids(&listed, "organizations"), [alpha_org.as_str()]);
        server.stop().await;
    }
}

#[tokio::test]
async fn demo_seed_creates_organizations_and_a_maintenance_contract_once() {
    for backends in backend_sets() {
        let server = TestServer::start(&backends).await;
        let db = kasi_fiber::storage::db::connect(&server.config.database, &server.config.data_dir)
            .await
            .unwrap();
        let args = kasi_fiber::cli::seed::SeedArgs {
            admin_email: None,
            admin_password: None,
            tenant: "default".into(),
        };
        for _ in 0..2 {
            kasi_fiber::cli::seed::run(&db, &args).await.unwrap();
        }
        db.close().await.unwrap();
        let http = server.http_as(
            &server
                .login("admin@demo.kasifiber.test", "Kasi-Demo-2026")
                .await,
        );
        let organizations = ok(http.get(server.url("/v1/organizations"))).await;
        let mut kinds: Vec<&str> = organizations["organizations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|org| org["type"].as_str().unwrap())
            .collect();
        kinds.sort();
        assert_eq!(
            kinds,
            [
                "ORGANIZATION_TYPE_CIVIL",
                "ORGANIZATION_TYPE_MAINTENANCE",
                "ORGANIZATION_TYPE_TECHNICAL"
            ],
            "{}",
            backends.label()
        );
        let contracts = ok(http.get(server.url("/v1/contracts"))).await;
        let contracts = contracts["contracts"].as_array().unwrap();
        assert_eq!(contracts.len(), 1, "seeding twice adds nothing");
        let contract = &contracts[0];
        assert_eq!(contract["scope_type"], "ORGANIZATION_TYPE_MAINTENANCE");
        let sla: Vec<&Value> = ["sla_p1_min", "sla_p2_min", "sla_p3_min", "sla_p4_min"]
            .iter()
            .map(|key| &contract[*key])
            .collect();
        assert_eq!(sla, [&json!(120), &json!(240), &json!(480), &json!(1440)]);
        server.stop().await;
    }
}
