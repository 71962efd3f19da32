//! gRPC adapter of `kasi.fiber.v1.ReportService`: the report values as messages.

use std::sync::Arc;

use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::service::{PON_CSV_FILENAME, ReportService, Users};
use crate::proto::v1;
use crate::server::wire::{context, date_text, timestamp};

#[derive(Clone)]
pub struct ReportGrpc {
    service: Arc<ReportService>,
}

impl ReportGrpc {
    pub fn new(service: Arc<ReportService>) -> Self {
        ReportGrpc { service }
    }
}

fn user_ref(users: &Users, id: Option<Uuid>) -> Option<v1::UserRef> {
    let user = users.get(&id?)?;
    Some(v1::UserRef {
        id: user.id.to_string(),
        name: user.name.clone(),
        email: user.email.clone(),
    })
}

#[tonic::async_trait]
impl v1::report_service_server::ReportService for ReportGrpc {
    async fn get_dashboard(
        &self,
        request: Request<v1::GetDashboardRequest>,
    ) -> Result<Response<v1::Dashboard>, Status> {
        let ctx = context(&request);
        let dashboard = self.service.dashboard(&ctx).await?;
        Ok(Response::new(v1::Dashboard {
            pons: Some(v1::PonCounts {
                total: dashboard.pons.total,
                completed: dashboard.pons.completed,
                in_progress: dashboard.pons.in_progress,
                planned: dashboard.pons.planned,
            }),
            tasks: Some(v1::TaskCounts {
                total: dashboard.tasks.total,
                completed: dashboard.tasks.completed,
                pending: dashboard.tasks.pending,
                overdue: dashboard.tasks.overdue,
            }),
        }))
    }

    async fn list_pon_reports(
        &self,
        request: Request<v1::ListPonReportsRequest>,
    ) -> Result<Response<v1::ListPonReportsResponse>, Status> {
        let ctx = context(&request);
        let pons = self.service.pons(&ctx).await?;
        let users = self
            .service
            .users(
                &ctx,
                pons.iter()
                    .flat_map(|pon| [pon.project_manager_id, pon.site_manager_id]),
            )
            .await?;
        let pons = pons
            .iter()
            .map(|pon| v1::PonReport {
                id: pon.id.to_string(),
                pon_code: pon.pon_code.clone(),
                name: pon.name.clone(),
                location: pon.location.clone(),
                status: pon.status.clone(),
                progress: pon.progress,
                start_date: date_text(pon.start_date),
                expected_end_date: date_text(pon.expected_end_date),
                actual_end_date: date_text(pon.actual_end_date),
                project_manager: user_ref(&users, pon.project_manager_id),
                site_manager: user_ref(&users, pon.site_manager_id),
            })
            .collect();
        Ok(Response::new(v1::ListPonReportsResponse { pons }))
    }

    async fn list_task_reports(
        &self,
        request: Request<v1::ListTaskReportsRequest>,
    ) -> Result<Response<v1::ListTaskReportsResponse>, Status> {
        let ctx = context(&request);
        let tasks = self.service.tasks(&ctx).await?;
        let pons = self.service.pons_of(&ctx, &tasks).await?;
        let users = self
            .service
            .users(
                &ctx,
                tasks
                    .iter()
                    .flat_map(|task| [task.assignee_id, task.created_by]),
            )
            .await?;
        let tasks = tasks
            .iter()
            .map(|task| {
                let pon = pons.get(&task.pon_id);
                v1::TaskReport {
                    id: task.id.to_string(),
                    title: task.title.clone(),
                    step: task.step.clone(),
                    status: task.status.clone(),
                    priority: task.priority.clone(),
                    due_date: date_text(task.due_date),
                    due_at: task.due_at.map(timestamp),
                    completed_at: task.completed_at.map(timestamp),
                    estimated_hours: task.estimated_hours,
                    actual_hours: task.actual_hours,
                    evidence_required: task.evidence_required,
                    pon_id: task.pon_id.to_string(),
                    pon_code: pon.map(|p| p.pon_code.clone()).unwrap_or_default(),
                    pon_name: pon.map(|p| p.name.clone()).unwrap_or_default(),
                    assignee: user_ref(&users, task.assignee_id),
                    created_by: user_ref(&users, task.created_by),
                    breached: task.breached,
                }
            })
            .collect();
        Ok(Response::new(v1::ListTaskReportsResponse { tasks }))
    }

    async fn export_pons(
        &self,
        request: Request<v1::ExportPonsRequest>,
    ) -> Result<Response<v1::CsvExport>, Status> {
        let ctx = context(&request);
        let content = self.service.pon_csv(&ctx).await?;
        Ok(Response::new(v1::CsvExport {
            filename: PON_CSV_FILENAME.into(),
            content,
        }))
    }
}
