//! gRPC adapter of `kasi.fiber.v1.TaskService`: converts messages to domain values (naming
//! every bad field) and back.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tonic::{Request, Response, Status};

use super::model::{self, Status as TaskStatus};
use super::service::{TaskDraft, TaskFilter, TaskService, Transition};
use crate::error::AppError;
use crate::error::{Violations, parse_id};
use crate::proto::v1;
use crate::server::wire::{context, date_text, id_text, timestamp};

#[derive(Clone)]
pub struct TaskGrpc {
    service: Arc<TaskService>,
}

impl TaskGrpc {
    pub fn new(service: Arc<TaskService>) -> Self {
        TaskGrpc { service }
    }
}

/// A status name; empty is None.
fn parse_status(bad: &mut Violations, field: &str, text: &str) -> Option<TaskStatus> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    let status = TaskStatus::parse(text);
    if status.is_none() {
        bad.push(
            field,
            format!(
                "`{text}` is not a status: use pending, in_progress, on_hold, completed or cancelled"
            ),
        );
    }
    status
}

/// An optional protobuf timestamp as a time.
fn moment(
    bad: &mut Violations,
    field: &str,
    value: Option<prost_types::Timestamp>,
) -> Option<DateTime<Utc>> {
    let value = value?;
    let time = u32::try_from(value.nanos)
        .ok()
        .and_then(|nanos| DateTime::from_timestamp(value.seconds, nanos));
    if time.is_none() {
        bad.push(field, "is not a valid time");
    }
    time
}

fn task_draft(message: &v1::Task) -> Result<TaskDraft, AppError> {
    let mut bad = Violations::default();
    let dependencies = message
        .dependencies
        .iter()
        .enumerate()
        .filter_map(|(index, id)| bad.optional_uuid(&format!("task.dependencies[{index}]"), id))
        .collect();
    let draft = TaskDraft {
        pon_id: bad.optional_uuid("task.pon_id", &message.pon_id),
        title: message.title.clone(),
        description: message.description.clone(),
        step: message.step.clone(),
        priority: message.priority.clone(),
        assignee_id: bad.optional_uuid("task.assignee_id", &message.assignee_id),
        organization_id: bad.optional_uuid("task.organization_id", &message.organization_id),
        due_date: bad.optional_date("task.due_date", &message.due_date),
        due_at: moment(&mut bad, "task.due_at", message.due_at),
        estimated_hours: bad.finite("task.estimated_hours", message.estimated_hours),
        actual_hours: bad.finite("task.actual_hours", message.actual_hours),
        notes: message.notes.clone(),
        dependencies,
        evidence_required: message.evidence_required,
        sla_minutes: message.sla_minutes,
    };
    bad.finish(draft)
}

fn task_to_proto(row: &model::Model) -> v1::Task {
    v1::Task {
        id: row.id.to_string(),
        pon_id: row.pon_id.to_string(),
        title: row.title.clone(),
        description: row.description.clone(),
        step: row.step.clone(),
        priority: row.priority.clone(),
        status: row.status.clone(),
        assignee_id: id_text(row.assignee_id),
        organization_id: id_text(row.organization_id),
        due_date: date_text(row.due_date),
        due_at: row.due_at.map(timestamp),
        estimated_hours: row.estimated_hours,
        actual_hours: row.actual_hours,
        notes: row.notes.clone(),
        dependencies: row.dependencies().iter().map(ToString::to_string).collect(),
        evidence_required: row.evidence_required,
        sla_minutes: row.sla_minutes,
        started_at: row.started_at.map(timestamp),
        sla_due_at: row.sla_due_at.map(timestamp),
        completed_at: row.completed_at.map(timestamp),
        breached: row.breached,
        created_by: id_text(row.created_by),
        created_at: Some(timestamp(row.created_at)),
        updated_at: Some(timestamp(row.updated_at)),
    }
}

#[tonic::async_trait]
impl v1::task_service_server::TaskService for TaskGrpc {
    async fn create_task(
        &self,
        request: Request<v1::CreateTaskRequest>,
    ) -> Result<Response<v1::Task>, Status> {
        let ctx = context(&request);
        let message = request
            .into_inner()
            .task
            .ok_or_else(|| AppError::invalid("task", "is required"))?;
        let created = self.service.create(&ctx, task_draft(&message)?).await?;
        Ok(Response::new(task_to_proto(&created)))
    }

    async fn get_task(
        &self,
        request: Request<v1::GetTaskRequest>,
    ) -> Result<Response<v1::Task>, Status> {
        let ctx = context(&request);
        let id = parse_id("id", &request.get_ref().id)?;
        let found = self.service.get(&ctx, id).await?;
        Ok(Response::new(task_to_proto(&found)))
    }

    async fn list_tasks(
        &self,
        request: Request<v1::ListTasksRequest>,
    ) -> Result<Response<v1::ListTasksResponse>, Status> {
        let ctx = context(&request);
        let message = request.into_inner();
        let mut bad = Violations::default();
        let step = message.step.trim();
        let filter = TaskFilter {
            pon_id: bad.optional_uuid("pon_id", &message.pon_id),
            status: parse_status(&mut bad, "status", &message.status),
            assignee_id: bad.optional_uuid("assignee_id", &message.assignee_id),
            organization_id: bad.optional_uuid("organization_id", &message.organization_id),
            step: (!step.is_empty()).then(|| step.to_string()),
        };
        let filter = bad.finish(filter)?;
        let (rows, next) = self
            .service
            .list(&ctx, &filter, message.page_size, &message.page_token)
            .await?;
        Ok(Response::new(v1::ListTasksResponse {
            tasks: rows.iter().map(task_to_proto).collect(),
            next_page_token: next.unwrap_or_default(),
        }))
    }

    async fn update_task(
        &self,
        request: Request<v1::UpdateTaskRequest>,
    ) -> Result<Response<v1::Task>, Status> {
        let ctx = context(&request);
        let message = request.into_inner();
        let task = message
            .task
            .ok_or_else(|| AppError::invalid("task", "is required"))?;
        let id = parse_id("task.id", &task.id)?;
        let draft = task_draft(&task)?;
        let mask = message
            .update_mask
            .map(|mask| mask.paths)
            .unwrap_or_default();
        let updated = self.service.update(&ctx, id, draft, &mask).await?;
        Ok(Response::new(task_to_proto(&updated)))
    }

    async fn delete_task(
        &self,
        request: Request<v1::DeleteTaskRequest>,
    ) -> Result<Response<()>, Status> {
        let ctx = context(&request);
        let id = parse_id("id", &request.get_ref().id)?;
        self.service.delete(&ctx, id).await?;
        Ok(Response::new(()))
    }

    async fn transition_task(
        &self,
        request: Request<v1::TransitionTaskRequest>,
    ) -> Result<Response<v1::Task>, Status> {
        let ctx = context(&request);
        let message = request.into_inner();
        let id = parse_id("id", &message.id)?;
        let mut bad = Violations::default();
        let status = parse_status(&mut bad, "status", &message.status);
        let started_at = moment(&mut bad, "started_at", message.started_at);
        let completed_at = moment(&mut bad, "completed_at", message.completed_at);
        let (status, started_at, completed_at) = bad.finish((status, started_at, completed_at))?;
        let change = Transition {
            status: status.ok_or_else(|| AppError::invalid("status", "is required"))?,
            started_at,
            completed_at,
        };
        let updated = self.service.transition(&ctx, id, change).await?;
        Ok(Response::new(task_to_proto(&updated)))
    }

    async fn list_work_queue(
        &self,
        request: Request<v1::ListWorkQueueRequest>,
    ) -> Result<Response<v1::ListWorkQueueResponse>, Status> {
        let ctx = context(&request);
        let message = request.into_inner();
        let organization_id = parse_id("organization_id", &message.organization_id)?;
        let (tasks, next) = self
            .service
            .work_queue(
                &ctx,
                organization_id,
                message.page_size,
                &message.page_token,
            )
            .await?;
        Ok(Response::new(v1::ListWorkQueueResponse {
            tasks: tasks.iter().map(task_to_proto).collect(),
            next_page_token: next.unwrap_or_default(),
        }))
    }
}
