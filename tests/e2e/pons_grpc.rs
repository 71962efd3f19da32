//! PonService over gRPC (tonic client, h2c): CRUD, filters, pagination, field masks, errors.

use kasi_fiber::proto::v1::{
    self, CreatePonRequest, DeletePonRequest, GetPonRequest, ListPonsRequest, Pon, PonStatus,
    UpdatePonRequest, pon_service_client::PonServiceClient,
};
use tonic::Code;
use tonic::codec::CompressionEncoding;
use tonic_types::StatusExt;

use tonic::service::interceptor::InterceptedService;

use crate::harness::{Bearer, TestServer, backend_sets, violated_fields};

pub fn sample_pon(code: &str) -> Pon {
    Pon {
        pon_code: code.into(),
        name: format!("{code} Soweto Zone 3"),
        location: "Soweto, Johannesburg".into(),
        ward: "Ward 12".into(),
        lat: Some(-26.2485),
        lng: Some(27.854),
        fiber_count: 48,
        splitter_count: 4,
        start_date: "2026-01-10".into(),
        expected_end_date: "2026-06-30".into(),
        equipment: vec![v1::Equipment {
            name: "OLT card".into(),
            model: "MA5800".into(),
            serial_number: "SN-1".into(),
            status: v1::EquipmentStatus::Installed as i32,
        }],
        ..Default::default()
    }
}

pub type Client = PonServiceClient<InterceptedService<tonic::transport::Channel, Bearer>>;

/// A gzip-speaking PonService client acting as a new admin of the default tenant.
pub async fn client(server: &TestServer) -> Client {
    let token = server.admin_token().await;
    client_as(server, &token).await
}

pub async fn client_as(server: &TestServer, token: &str) -> Client {
    PonServiceClient::with_interceptor(server.channel().await, Bearer::new(token))
        .send_compressed(CompressionEncoding::Gzip)
        .accept_compressed(CompressionEncoding::Gzip)
}

#[tokio::test]
async fn grpc_crud_round_trip() {
    for backends in backend_sets() {
        let server = TestServer::start(&backends).await;
        let mut pons = client(&server).await;

        let created = pons
            .create_pon(CreatePonRequest {
                pon: Some(sample_pon("PON-001")),
            })
            .await
            .expect("create")
            .into_inner();
        assert!(uuid::Uuid::parse_str(&created.id).is_ok());
        assert_eq!(created.status(), PonStatus::Planned, "{}", backends.label());
        assert_eq!(created.geofence_radius_m, 200);
        assert_eq!(created.progress, 0);
        assert_eq!(created.equipment.len(), 1);
        assert!(created.created_at.is_some());

        let fetched = pons
            .get_pon(GetPonRequest {
                id: created.id.clone(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(fetched, created);

        let duplicate = pons
            .create_pon(CreatePonRequest {
                pon: Some(sample_pon("PON-001")),
            })
            .await
            .unwrap_err();
        assert_eq!(
            duplicate.code(),
            Code::AlreadyExists,
            "{}",
            backends.label()
        );
        assert!(duplicate.message().contains("pon_code"));

        let mut changes = Pon {
            id: created.id.clone(),
            name: "Renamed".into(),
            status: PonStatus::Completed as i32,
            fiber_count: 1,
            ..Default::default()
        };
        let updated = pons
            .update_pon(UpdatePonRequest {
                pon: Some(changes.clone()),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["name".into(), "status".into()],
                }),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(updated.name, "Renamed");
        assert_eq!(updated.status(), PonStatus::Completed);
        assert_eq!(
            updated.fiber_count, 48,
            "fields outside the mask keep their values"
        );
        assert!(
            !updated.actual_end_date.is_empty(),
            "completion sets the actual end date"
        );
        assert_eq!(updated.created_at, created.created_at);

        changes.fiber_count = 0;
        let refused = pons
            .update_pon(UpdatePonRequest {
                pon: Some(changes),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["fiber_count".into()],
                }),
            })
            .await
            .unwrap_err();
        assert_eq!(violated_fields(&refused), ["pon.fiber_count"]);

        pons.delete_pon(DeletePonRequest {
            id: created.id.clone(),
        })
        .await
        .unwrap();
        let gone = pons
            .get_pon(GetPonRequest {
                id: created.id.clone(),
            })
            .await
            .unwrap_err();
        assert_eq!(gone.code(), Code::NotFound);
        let gone_again = pons
            .delete_pon(DeletePonRequest { id: created.id })
            .await
            .unwrap_err();
        assert_eq!(gone_again.code(), Code::NotFound);
        server.stop().await;
    }
}

#[tokio::test]
async fn grpc_list_filters_and_pages() {
    for backends in backend_sets() {
        let server = TestServer::start(&backends).await;
        let mut pons = client(&server).await;
        for index in 0..7 {
            let mut pon = sample_pon(&format!("PON-{index:03}"));
            pon.ward = if index % 2 == 0 {
                "Ward 1".into()
            } else {
                "Ward 2".into()
            };
            pon.status = if index < 3 {
                PonStatus::Testing as i32
            } else {
                PonStatus::Unspecified as i32
            };
            pons.create_pon(CreatePonRequest { pon: Some(pon) })
                .await
                .unwrap();
        }
        let mut seen = Vec::new();
        let mut token = String::new();
        loop {
            let page = pons
                .list_pons(ListPonsRequest {
                    page_size: 3,
                    page_token: token.clone(),
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner();
            assert!(page.pons.len() <= 3);
            seen.extend(page.pons.into_iter().map(|pon| pon.pon_code));
            if page.next_page_token.is_empty() {
                break;
            }
            token = page.next_page_token;
        }
        let expected: Vec<String> = (0..7).map(|index| format!("PON-{index:03}")).collect();
        assert_eq!(
            seen,
            expected,
            "pages cover every PON once, in creation order ({})",
            backends.label()
        );

        let testing_in_ward_1 = pons
            .list_pons(ListPonsRequest {
                status: PonStatus::Testing as i32,
                ward: "Ward 1".into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        let codes: Vec<&str> = testing_in_ward_1
            .pons
            .iter()
            .map(|pon| pon.pon_code.as_str())
            .collect();
        assert_eq!(codes, ["PON-000", "PON-002"]);

        let bad_token = pons
            .list_pons(ListPonsRequest {
                page_token: "garbage".into(),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(bad_token.code(), Code::InvalidArgument);
        assert!(bad_token.message().contains("page_token"));
        server.stop().await;
    }
}

#[tokio::test]
async fn grpc_bad_ids_name_the_field() {
    for backends in backend_sets() {
        let server = TestServer::start(&backends).await;
        let mut pons = client(&server).await;
        let status = pons
            .get_pon(GetPonRequest {
                id: "not-a-uuid".into(),
            })
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(
            status.get_details_bad_request().unwrap().field_violations[0].field,
            "id"
        );

        let mut pon = sample_pon("PON-X");
        pon.project_manager_id = "nope".into();
        pon.start_date = "31/01/2026".into();
        let status = pons
            .create_pon(CreatePonRequest { pon: Some(pon) })
            .await
            .unwrap_err();
        let fields = violated_fields(&status);
        assert_eq!(fields, ["pon.project_manager_id", "pon.start_date"]);
        let listed = pons
            .list_pons(ListPonsRequest::default())
            .await
            .unwrap()
            .into_inner();
        assert!(listed.pons.is_empty(), "nothing was written");
        server.stop().await;
    }
}
