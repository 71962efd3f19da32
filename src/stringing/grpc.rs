//! gRPC adapter of `kasi.fiber.v1.StringingService`: converts messages to domain values
//! (naming every bad field) and back.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::model;
use super::service::{RunDraft, RunFilter, StringingService};
use crate::error::AppError;
use crate::error::Violations;
use crate::proto::v1;
use crate::server::wire::{context, date_text, id_text, timestamp};

#[derive(Clone)]
pub struct StringingGrpc {
    service: Arc<StringingService>,
}

impl StringingGrpc {
    pub fn new(service: Arc<StringingService>) -> Self {
        StringingGrpc { service }
    }
}

fn run_to_proto(row: &model::Model) -> v1::StringingRun {
    v1::StringingRun {
        id: row.id.to_string(),
        pon_id: row.pon_id.to_string(),
        organization_id: row.organization_id.to_string(),
        crew: row.crew.clone(),
        meters: row.meters,
        completed_on: date_text(Some(row.completed_on)),
        notes: row.notes.clone(),
        created_by: id_text(row.created_by),
        created_at: Some(timestamp(row.created_at)),
    }
}

#[tonic::async_trait]
impl v1::stringing_service_server::StringingService for StringingGrpc {
    async fn create_stringing_run(
        &self,
        request: Request<v1::CreateStringingRunRequest>,
    ) -> Result<Response<v1::StringingRun>, Status> {
        let ctx = context(&request);
        let run = request
            .into_inner()
            .stringing_run
            .ok_or_else(|| AppError::invalid("stringing_run", "is required"))?;
        let mut bad = Violations::default();
        let draft = RunDraft {
            pon_id: bad.optional_uuid("stringing_run.pon_id", &run.pon_id),
            organization_id: bad
                .optional_uuid("stringing_run.organization_id", &run.organization_id),
            crew: run.crew,
            meters: run.meters,
            completed_on: bad.optional_date("stringing_run.completed_on", &run.completed_on),
            notes: run.notes,
        };
        let created = self.service.create(&ctx, bad.finish(draft)?).await?;
        Ok(Response::new(run_to_proto(&created)))
    }

    async fn list_stringing_runs(
        &self,
        request: Request<v1::ListStringingRunsRequest>,
    ) -> Result<Response<v1::ListStringingRunsResponse>, Status> {
        let ctx = context(&request);
        let message = request.into_inner();
        let mut bad = Violations::default();
        let filter = RunFilter {
            pon_id: bad.optional_uuid("pon_id", &message.pon_id),
            organization_id: bad.optional_uuid("organization_id", &message.organization_id),
            from: bad.optional_date("from", &message.from),
            to: bad.optional_date("to", &message.to),
        };
        let filter = bad.finish(filter)?;
        let (rows, next) = self
            .service
            .list(&ctx, &filter, message.page_size, &message.page_token)
            .await?;
        Ok(Response::new(v1::ListStringingRunsResponse {
            stringing_runs: rows.iter().map(run_to_proto).collect(),
            next_page_token: next.unwrap_or_default(),
        }))
    }
}
