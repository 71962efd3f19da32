//! The build-out fixture the task benchmarks read: PONs with tasks of every step, due dates
//! spread so a small share is overdue, and one crew organization assigned to some of the PONs'
//! stringing — all created through the public gRPC API, as a client would, once per database:
//! a later run finds it (by the crew's name and the PON code prefix) and reuses it.

use futures::{StreamExt, TryStreamExt, stream};
use kasi_fiber::proto::v1::assignment_service_client::AssignmentServiceClient;
use kasi_fiber::proto::v1::organization_service_client::OrganizationServiceClient;
use kasi_fiber::proto::v1::pon_service_client::PonServiceClient;
use kasi_fiber::proto::v1::task_service_client::TaskServiceClient;
use kasi_fiber::proto::v1::{
    Assignment, CreateAssignmentRequest, CreateOrganizationRequest, CreatePonRequest,
    CreateTaskRequest, ListOrganizationsRequest, ListPonsRequest, Organization, OrganizationType,
    Pon, Task,
};
use tonic::transport::Channel;

use crate::{Authed, Bearer};

/// The crew organization's name, and the code prefix of the fixture's PONs.
const CREW_NAME: &str = "Bench stringing crew";
const PON_CODE_PREFIX: &str = "BENCHT-";

/// Steps a PON's tasks cycle through.
const STEPS: [&str; 5] = [
    "Permissions",
    "PolePlanting",
    "CAC",
    "Stringing",
    "Invoicing",
];

/// How big the fixture is.
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    pub pons: usize,
    pub tasks_per_pon: usize,
    /// PONs whose stringing the crew organization is assigned to.
    pub queue_pons: usize,
    /// Requests in flight while creating.
    pub concurrency: usize,
}

/// What the benchmarks query.
pub struct Fixture {
    pub pon_ids: Vec<String>,
    pub organization_id: String,
}

/// The fixture already in the database, if an earlier run created it.
pub async fn existing(channel: Channel, bearer: Bearer) -> anyhow::Result<Option<Fixture>> {
    let mut organizations =
        OrganizationServiceClient::with_interceptor(channel.clone(), bearer.clone());
    let mut token = String::new();
    let organization_id = loop {
        let page = organizations
            .list_organizations(ListOrganizationsRequest {
                page_size: 500,
                page_token: token,
                ..Default::default()
            })
            .await?
            .into_inner();
        if let Some(crew) = page
            .organizations
            .into_iter()
            .find(|org| org.name == CREW_NAME)
        {
            break crew.id;
        }
        if page.next_page_token.is_empty() {
            return Ok(None);
        }
        token = page.next_page_token;
    };
    let mut pons = PonServiceClient::with_interceptor(channel, bearer);
    let mut found = Vec::new();
    let mut token = String::new();
    loop {
        let page = pons
            .list_pons(ListPonsRequest {
                page_size: 500,
                page_token: token,
                ..Default::default()
            })
            .await?
            .into_inner();
        found.extend(
            page.pons
                .into_iter()
                .filter(|pon| pon.pon_code.starts_with(PON_CODE_PREFIX))
                .map(|pon| (pon.pon_code, pon.id)),
        );
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    found.sort();
    anyhow::ensure!(
        !found.is_empty(),
        "the crew organization {CREW_NAME:?} exists but no {PON_CODE_PREFIX}* PONs do; use a fresh database"
    );
    Ok(Some(Fixture {
        pon_ids: found.into_iter().map(|(_, id)| id).collect(),
        organization_id,
    }))
}

/// Creates the fixture; the i-th task of a PON is due i−1 days from today, so one task per PON
/// is overdue and the rest fall due over the following months.
pub async fn create(channel: Channel, bearer: Bearer, shape: Shape) -> anyhow::Result<Fixture> {
    let organization_id =
        OrganizationServiceClient::with_interceptor(channel.clone(), bearer.clone())
            .create_organization(CreateOrganizationRequest {
                organization: Some(Organization {
                    name: CREW_NAME.into(),
                    r#type: OrganizationType::Technical.into(),
                    ..Default::default()
                }),
            })
            .await?
            .into_inner()
            .id;

    let pons = PonServiceClient::with_interceptor(channel.clone(), bearer.clone());
    let pon_ids: Vec<String> = stream::iter(0..shape.pons)
        .map(|index| {
            let mut client = pons.clone();
            let code = format!("{PON_CODE_PREFIX}{index:05}");
            async move {
                let pon = Pon {
                    pon_code: code,
                    name: format!("Bench PON {index}"),
                    location: "Loopback".into(),
                    ward: format!("Ward {}", index % 20),
                    fiber_count: 48,
                    ..Default::default()
                };
                let created = client
                    .create_pon(CreatePonRequest { pon: Some(pon) })
                    .await?;
                anyhow::Ok(created.into_inner().id)
            }
        })
        .buffered(shape.concurrency.max(1))
        .try_collect()
        .await?;

    let tasks = task_client(channel.clone(), bearer.clone());
    let today = chrono::Utc::now().date_naive();
    // Index-major, so the requests in flight add to different PONs (each insert recomputes and
    // locks its PON's progress: PON-major order queues them all behind one PON).
    let drafts = (0..shape.tasks_per_pon)
        .flat_map(|index| pon_ids.iter().map(move |pon_id| (pon_id.clone(), index)));
    stream::iter(drafts)
        .map(|(pon_id, index)| {
            let mut client = tasks.clone();
            let due = today + chrono::Days::new(index as u64) - chrono::Days::new(1);
            async move {
                let task = Task {
                    pon_id,
                    title: format!("Bench task {index}"),
                    step: STEPS[index % STEPS.len()].into(),
                    due_date: due.to_string(),
                    ..Default::default()
                };
                client
                    .create_task(CreateTaskRequest { task: Some(task) })
                    .await?;
                anyhow::Ok(())
            }
        })
        .buffer_unordered(shape.concurrency.max(1))
        .try_collect::<()>()
        .await?;

    let mut assignments = AssignmentServiceClient::with_interceptor(channel, bearer);
    for pon_id in pon_ids.iter().take(shape.queue_pons) {
        assignments
            .create_assignment(CreateAssignmentRequest {
                assignment: Some(Assignment {
                    organization_id: organization_id.clone(),
                    pon_id: pon_id.clone(),
                    step_type: "Stringing".into(),
                    ..Default::default()
                }),
            })
            .await?;
    }
    Ok(Fixture {
        pon_ids,
        organization_id,
    })
}

/// A client of the task service carrying the token.
pub fn task_client(channel: Channel, bearer: Bearer) -> TaskServiceClient<Authed> {
    TaskServiceClient::with_interceptor(channel, bearer)
}
