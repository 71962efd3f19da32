//! gRPC adapter of `kasi.fiber.v1.IncidentService` and `MaintenanceWindowService`: converts
//! messages to domain values (naming every bad field) and back.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::maintenance::{WindowDraft, window};
use super::model::{ClosurePhoto, Model, Status as IncidentStatus, signal};
use super::report::OpsReport;
use super::service::{Closure, IncidentDraft, IncidentFilter, IncidentService};
use crate::devices::grpc::{non_empty, time_from_proto};
use crate::error::AppError;
use crate::error::{Violations, parse_id};
use crate::proto::v1;
use crate::server::wire::{context, id_text, timestamp};

#[derive(Clone)]
pub struct IncidentGrpc {
    service: Arc<IncidentService>,
}

impl IncidentGrpc {
    pub fn new(service: Arc<IncidentService>) -> Self {
        IncidentGrpc { service }
    }
}

/// A status name from a request, or the error naming the field.
pub fn parse_status(field: &str, text: &str) -> Result<IncidentStatus, AppError> {
    IncidentStatus::parse(text).ok_or_else(|| {
        AppError::invalid(
            field,
            format!(
                "`{text}` is not one of open, acknowledged, in_progress, monitoring, resolved, closed"
            ),
        )
    })
}

#[tonic::async_trait]
impl v1::incident_service_server::IncidentService for IncidentGrpc {
    async fn create_incident(
        &self,
        request: Request<v1::CreateIncidentRequest>,
    ) -> Result<Response<v1::Incident>, Status> {
        let ctx = context(&request);
        let incident = request
            .into_inner()
            .incident
            .ok_or_else(|| AppError::invalid("incident", "is required"))?;
        let created = self
            .service
            .create(&ctx, draft_from_proto(&incident)?)
            .await?;
        Ok(Response::new(incident_to_proto(&created)))
    }

    async fn get_incident(
        &self,
        request: Request<v1::GetIncidentRequest>,
    ) -> Result<Response<v1::Incident>, Status> {
        let ctx = context(&request);
        let id = parse_id("id", &request.get_ref().id)?;
        Ok(Response::new(incident_to_proto(
            &self.service.get(&ctx, id).await?,
        )))
    }

    async fn list_incidents(
        &self,
        request: Request<v1::ListIncidentsRequest>,
    ) -> Result<Response<v1::ListIncidentsResponse>, Status> {
        let ctx = context(&request);
        let message = request.into_inner();
        let mut bad = Violations::default();
        let filter = IncidentFilter {
            status: non_empty(&message.status),
            severity: non_empty(&message.severity),
            category: non_empty(&message.category),
            device_id: bad.optional_uuid("device_id", message.device_id.trim()),
            pon_id: bad.optional_uuid("pon_id", message.pon_id.trim()),
            ward: non_empty(&message.ward),
            site: non_empty(&message.site),
            assigned_org_id: bad.optional_uuid("assigned_org_id", message.assigned_org_id.trim()),
            q: non_empty(&message.q),
        };
        let filter = bad.finish(filter)?;
        let (incidents, next) = self
            .service
            .list(&ctx, &filter, message.page_size, &message.page_token)
            .await?;
        Ok(Response::new(v1::ListIncidentsResponse {
            incidents: incidents.iter().map(incident_to_proto).collect(),
            next_page_token: next.unwrap_or_default(),
        }))
    }

    async fn update_incident(
        &self,
        request: Request<v1::UpdateIncidentRequest>,
    ) -> Result<Response<v1::Incident>, Status> {
        let ctx = context(&request);
        let message = request.into_inner();
        let incident = message
            .incident
            .ok_or_else(|| AppError::invalid("incident", "is required"))?;
        let id = parse_id("incident.id", &incident.id)?;
        let mask = message
            .update_mask
            .map(|mask| mask.paths)
            .unwrap_or_default();
        let updated = self
            .service
            .update(&ctx, id, draft_from_proto(&incident)?, &mask)
            .await?;
        Ok(Response::new(incident_to_proto(&updated)))
    }

    async fn transition_incident(
        &self,
        request: Request<v1::TransitionIncidentRequest>,
    ) -> Result<Response<v1::Incident>, Status> {
        let ctx = context(&request);
        let message = request.into_inner();
        let id = parse_id("id", &message.id)?;
        let status = parse_status("status", &message.status)?;
        let moved = self.service.transition(&ctx, id, status).await?;
        Ok(Response::new(incident_to_proto(&moved)))
    }

    async fn assign_incident(
        &self,
        request: Request<v1::AssignIncidentRequest>,
    ) -> Result<Response<v1::Incident>, Status> {
        let ctx = context(&request);
        let message = request.into_inner();
        let id = parse_id("id", &message.id)?;
        let organization = parse_id("organization_id", message.organization_id.trim())?;
        let assigned = self.service.assign(&ctx, id, organization).await?;
        Ok(Response::new(incident_to_proto(&assigned)))
    }

    async fn close_incident(
        &self,
        request: Request<v1::CloseIncidentRequest>,
    ) -> Result<Response<v1::Incident>, Status> {
        let ctx = context(&request);
        let message = request.into_inner();
        let id = parse_id("id", &message.id)?;
        let mut bad = Violations::default();
        let closure = Closure {
            root_cause: message.root_cause,
            fix_code: message.fix_code,
            notes: message.closure_notes,
            lat: bad.finite("lat", message.lat),
            lng: bad.finite("lng", message.lng),
            photos: message
                .photos
                .into_iter()
                .map(|photo| ClosurePhoto {
                    object_key: photo.object_key,
                    filename: photo.filename,
                    url: photo.url,
                })
                .collect(),
        };
        let closure = bad.finish(closure)?;
        let closed = self.service.close(&ctx, id, closure).await?;
        Ok(Response::new(incident_to_proto(&closed)))
    }

    async fn list_incident_signals(
        &self,
        request: Request<v1::ListIncidentSignalsRequest>,
    ) -> Result<Response<v1::ListIncidentSignalsResponse>, Status> {
        let ctx = context(&request);
        let id = parse_id("id", &request.get_ref().id)?;
        let signals = self.service.signals(&ctx, id).await?;
        Ok(Response::new(v1::ListIncidentSignalsResponse {
            signals: signals.iter().map(signal_to_proto).collect(),
        }))
    }

    async fn get_ops_report(
        &self,
        request: Request<v1::GetOpsReportRequest>,
    ) -> Result<Response<v1::OpsReport>, Status> {
        let ctx = context(&request);
        let report = self
            .service
            .ops_report(&ctx, request.get_ref().days)
            .await?;
        Ok(Response::new(report_to_proto(&report)))
    }
}

#[tonic::async_trait]
impl v1::maintenance_window_service_server::MaintenanceWindowService for IncidentGrpc {
    async fn create_maintenance_window(
        &self,
        request: Request<v1::CreateMaintenanceWindowRequest>,
    ) -> Result<Response<v1::MaintenanceWindow>, Status> {
        let ctx = context(&request);
        let given = request
            .into_inner()
            .window
            .ok_or_else(|| AppError::invalid("window", "is required"))?;
        let mut bad = Violations::default();
        let draft = WindowDraft {
            scope: given.scope,
            target_id: bad.optional_uuid("window.target_id", given.target_id.trim()),
            start_at: time_from_proto(&mut bad, "window.start_at", given.start_at.as_ref()),
            end_at: time_from_proto(&mut bad, "window.end_at", given.end_at.as_ref()),
            reason: given.reason,
            approved_by: given.approved_by,
        };
        let draft = bad.finish(draft)?;
        let created = self.service.create_window(&ctx, draft).await?;
        Ok(Response::new(window_to_proto(&created)))
    }

    async fn get_maintenance_window(
        &self,
        request: Request<v1::GetMaintenanceWindowRequest>,
    ) -> Result<Response<v1::MaintenanceWindow>, Status> {
        let ctx = context(&request);
        let id = parse_id("id", &request.get_ref().id)?;
        Ok(Response::new(window_to_proto(
            &self.service.get_window(&ctx, id).await?,
        )))
    }

    async fn list_maintenance_windows(
        &self,
        request: Request<v1::ListMaintenanceWindowsRequest>,
    ) -> Result<Response<v1::ListMaintenanceWindowsResponse>, Status> {
        let ctx = context(&request);
        let message = request.into_inner();
        let (windows, next) = self
            .service
            .list_windows(
                &ctx,
                message.active_now,
                message.page_size,
                &message.page_token,
            )
            .await?;
        Ok(Response::new(v1::ListMaintenanceWindowsResponse {
            windows: windows.iter().map(window_to_proto).collect(),
            next_page_token: next.unwrap_or_default(),
        }))
    }

    async fn delete_maintenance_window(
        &self,
        request: Request<v1::DeleteMaintenanceWindowRequest>,
    ) -> Result<Response<()>, Status> {
        let ctx = context(&request);
        let id = parse_id("id", &request.get_ref().id)?;
        self.service.delete_window(&ctx, id).await?;
        Ok(Response::new(()))
    }
}

fn draft_from_proto(incident: &v1::Incident) -> Result<IncidentDraft, AppError> {
    let mut bad = Violations::default();
    let draft = IncidentDraft {
        title: incident.title.clone(),
        description: incident.description.clone(),
        severity: incident.severity.clone(),
        category: incident.category.clone(),
        device_id: bad.optional_uuid("incident.device_id", incident.device_id.trim()),
        pon_id: bad.optional_uuid("incident.pon_id", incident.pon_id.trim()),
        ward: incident.ward.clone(),
        site: incident.site.clone(),
        related_onu_id: incident.related_onu_id.clone(),
        opened_at: time_from_proto(&mut bad, "incident.opened_at", incident.opened_at.as_ref()),
    };
    bad.finish(draft)
}

pub fn incident_to_proto(row: &Model) -> v1::Incident {
    v1::Incident {
        id: row.id.to_string(),
        title: row.title.clone(),
        description: row.description.clone(),
        severity: row.severity.clone(),
        category: row.category.clone(),
        status: row.status.clone(),
        device_id: id_text(row.device_id),
        pon_id: id_text(row.pon_id),
        ward: row.ward.clone(),
        site: row.site.clone(),
        related_onu_id: row.related_onu_id.clone(),
        nms_source: row.nms_source.clone(),
        nms_event_id: row.nms_event_id.clone(),
        opened_at: Some(timestamp(row.opened_at)),
        acknowledged_at: row.acknowledged_at.map(timestamp),
        resolved_at: row.resolved_at.map(timestamp),
        closed_at: row.closed_at.map(timestamp),
        respond_by: Some(timestamp(row.respond_by)),
        restore_by: Some(timestamp(row.restore_by)),
        breached_respond: row.breached_respond,
        breached_restore: row.breached_restore,
        assigned_org_id: id_text(row.assigned_org_id),
        sla_source: row.sla_source.clone(),
        root_cause: row.root_cause.clone(),
        fix_code: row.fix_code.clone(),
        closure_notes: row.closure_notes.clone(),
        closure_photos: row
            .closure_photos()
            .into_iter()
            .map(|photo| v1::ClosurePhoto {
                object_key: photo.object_key,
                filename: photo.filename,
                url: photo.url,
            })
            .collect(),
        closure_lat: row.closure_lat,
        closure_lng: row.closure_lng,
        closure_captured_at: row.closure_captured_at.map(timestamp),
        lat: row.lat,
        lng: row.lng,
        created_at: Some(timestamp(row.created_at)),
        updated_at: Some(timestamp(row.updated_at)),
    }
}

fn signal_to_proto(row: &signal::Model) -> v1::IncidentSignal {
    v1::IncidentSignal {
        id: row.id.to_string(),
        key: row.key.clone(),
        value: row.value.clone(),
        received_at: Some(timestamp(row.received_at)),
    }
}

fn report_to_proto(report: &OpsReport) -> v1::OpsReport {
    v1::OpsReport {
        days: report.days as i32,
        uptime_by_ward: report
            .uptime_by_ward
            .iter()
            .map(|ward| v1::WardUptime {
                ward: ward.ward.clone(),
                uptime: ward.uptime,
                devices: ward.devices,
            })
            .collect(),
        mttr_hours: report.mttr_hours,
        mtta_hours: report.mtta_hours,
        repeat_fault_device_ids: report
            .repeat_fault_devices
            .iter()
            .map(ToString::to_string)
            .collect(),
        incidents: report.incidents,
    }
}

pub fn window_to_proto(row: &window::Model) -> v1::MaintenanceWindow {
    v1::MaintenanceWindow {
        id: row.id.to_string(),
        scope: row.scope.clone(),
        target_id: id_text(row.target_id),
        start_at: Some(timestamp(row.start_at)),
        end_at: Some(timestamp(row.end_at)),
        reason: row.reason.clone(),
        approved_by: row.approved_by.clone(),
        created_at: Some(timestamp(row.created_at)),
    }
}
