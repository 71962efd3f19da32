//! gRPC adapter of `kasi.fiber.v1.PonService`: converts messages to domain values
//! (naming every bad field) and back; the rules live in the service.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::model::{Equipment, EquipmentStatus, Model, PonStatus};
use super::service::{PonDraft, PonFilter, PonService};
use crate::error::{AppError, Violations, parse_id};
use crate::photos::PhotoService;
use crate::proto::v1;
use crate::server::wire::{context, date_text, id_text, timestamp};

pub struct PonGrpc {
    service: Arc<PonService>,
    /// Deletes a PON together with its photos' objects.
    photos: Arc<PhotoService>,
}

impl PonGrpc {
    pub fn new(service: Arc<PonService>, photos: Arc<PhotoService>) -> Self {
        PonGrpc { service, photos }
    }
}

#[tonic::async_trait]
impl v1::pon_service_server::PonService for PonGrpc {
    async fn create_pon(
        &self,
        request: Request<v1::CreatePonRequest>,
    ) -> Result<Response<v1::Pon>, Status> {
        let ctx = context(&request);
        let pon = request
            .into_inner()
            .pon
            .ok_or_else(|| AppError::invalid("pon", "is required"))?;
        let draft = draft_from_proto(&pon)?;
        let created = self.service.create(&ctx, draft).await?;
        Ok(Response::new(pon_to_proto(&created)))
    }

    async fn get_pon(
        &self,
        request: Request<v1::GetPonRequest>,
    ) -> Result<Response<v1::Pon>, Status> {
        let ctx = context(&request);
        let id = parse_id("id", &request.get_ref().id)?;
        Ok(Response::new(pon_to_proto(
            &self.service.get(&ctx, id).await?,
        )))
    }

    async fn list_pons(
        &self,
        request: Request<v1::ListPonsRequest>,
    ) -> Result<Response<v1::ListPonsResponse>, Status> {
        let ctx = context(&request);
        let message = request.into_inner();
        let filter = PonFilter {
            status: status_from_proto("status", message.status)?,
            ward: Some(message.ward.trim().to_string()).filter(|ward| !ward.is_empty()),
        };
        let page = self
            .service
            .list(&ctx, &filter, message.page_size, &message.page_token)
            .await?;
        Ok(Response::new(v1::ListPonsResponse {
            pons: page.items.iter().map(pon_to_proto).collect(),
            next_page_token: page.next_page_token.unwrap_or_default(),
        }))
    }

    async fn update_pon(
        &self,
        request: Request<v1::UpdatePonRequest>,
    ) -> Result<Response<v1::Pon>, Status> {
        let ctx = context(&request);
        let message = request.into_inner();
        let pon = message
            .pon
            .ok_or_else(|| AppError::invalid("pon", "is required"))?;
        let id = parse_id("pon.id", &pon.id)?;
        let mask = message
            .update_mask
            .map(|mask| mask.paths)
            .unwrap_or_default();
        let draft = draft_from_proto(&pon)?;
        let updated = self.service.update(&ctx, id, draft, &mask).await?;
        Ok(Response::new(pon_to_proto(&updated)))
    }

    async fn delete_pon(
        &self,
        request: Request<v1::DeletePonRequest>,
    ) -> Result<Response<()>, Status> {
        let ctx = context(&request);
        let id = parse_id("id", &request.get_ref().id)?;
        self.photos.delete_pon(&ctx, id).await?;
        Ok(Response::new(()))
    }
}

fn status_from_proto(field: &str, value: i32) -> Result<Option<PonStatus>, AppError> {
    match v1::PonStatus::try_from(value) {
        Ok(v1::PonStatus::Unspecified) => Ok(None),
        Ok(v1::PonStatus::Planned) => Ok(Some(PonStatus::Planned)),
        Ok(v1::PonStatus::InProgress) => Ok(Some(PonStatus::InProgress)),
        Ok(v1::PonStatus::Testing) => Ok(Some(PonStatus::Testing)),
        Ok(v1::PonStatus::Completed) => Ok(Some(PonStatus::Completed)),
        Ok(v1::PonStatus::Maintenance) => Ok(Some(PonStatus::Maintenance)),
        Err(_) => Err(AppError::invalid(
            field,
            format!("{value} is not a PON status"),
        )),
    }
}

fn status_to_proto(status: PonStatus) -> v1::PonStatus {
    match status {
        PonStatus::Planned => v1::PonStatus::Planned,
        PonStatus::InProgress => v1::PonStatus::InProgress,
        PonStatus::Testing => v1::PonStatus::Testing,
        PonStatus::Completed => v1::PonStatus::Completed,
        PonStatus::Maintenance => v1::PonStatus::Maintenance,
    }
}

fn equipment_status_from_proto(value: i32) -> Option<EquipmentStatus> {
    match v1::EquipmentStatus::try_from(value).ok()? {
        v1::EquipmentStatus::Unspecified | v1::EquipmentStatus::Pending => {
            Some(EquipmentStatus::Pending)
        }
        v1::EquipmentStatus::Installed => Some(EquipmentStatus::Installed),
        v1::EquipmentStatus::Faulty => Some(EquipmentStatus::Faulty),
        v1::EquipmentStatus::Replaced => Some(EquipmentStatus::Replaced),
    }
}

fn equipment_status_to_proto(status: EquipmentStatus) -> v1::EquipmentStatus {
    match status {
        EquipmentStatus::Pending => v1::EquipmentStatus::Pending,
        EquipmentStatus::Installed => v1::EquipmentStatus::Installed,
        EquipmentStatus::Faulty => v1::EquipmentStatus::Faulty,
        EquipmentStatus::Replaced => v1::EquipmentStatus::Replaced,
    }
}

fn draft_from_proto(pon: &v1::Pon) -> Result<PonDraft, AppError> {
    let mut bad = Violations::default();
    let status = match status_from_proto("pon.status", pon.status) {
        Ok(status) => status,
        Err(err) => {
            bad.absorb(err)?;
            None
        }
    };
    let equipment = pon
        .equipment
        .iter()
        .enumerate()
        .map(|(index, item)| Equipment {
            name: item.name.trim().to_string(),
            model: item.model.trim().to_string(),
            serial_number: item.serial_number.trim().to_string(),
            status: equipment_status_from_proto(item.status).unwrap_or_else(|| {
                bad.push(
                    format!("pon.equipment[{index}].status"),
                    format!("{} is not an equipment status", item.status),
                );
                EquipmentStatus::Pending
            }),
        })
        .collect();
    let draft = PonDraft {
        pon_code: pon.pon_code.clone(),
        name: pon.name.clone(),
        location: pon.location.clone(),
        ward: pon.ward.clone(),
        lat: bad.finite("pon.lat", pon.lat),
        lng: bad.finite("pon.lng", pon.lng),
        status,
        project_manager_id: bad.optional_uuid("pon.project_manager_id", &pon.project_manager_id),
        site_manager_id: bad.optional_uuid("pon.site_manager_id", &pon.site_manager_id),
        start_date: bad.optional_date("pon.start_date", &pon.start_date),
        expected_end_date: bad.optional_date("pon.expected_end_date", &pon.expected_end_date),
        fiber_count: pon.fiber_count,
        splitter_count: pon.splitter_count,
        equipment,
        notes: pon.notes.clone(),
        progress: pon.progress,
        geofence_center_lat: bad.finite("pon.geofence_center_lat", pon.geofence_center_lat),
        geofence_center_lng: bad.finite("pon.geofence_center_lng", pon.geofence_center_lng),
        geofence_radius_m: pon.geofence_radius_m,
    };
    bad.finish(draft)
}

pub fn pon_to_proto(pon: &Model) -> v1::Pon {
    v1::Pon {
        id: pon.id.to_string(),
        pon_code: pon.pon_code.clone(),
        name: pon.name.clone(),
        location: pon.location.clone(),
        ward: pon.ward.clone(),
        lat: pon.lat,
        lng: pon.lng,
        status: status_to_proto(pon.status()) as i32,
        project_manager_id: id_text(pon.project_manager_id),
        site_manager_id: id_text(pon.site_manager_id),
        start_date: date_text(pon.start_date),
        expected_end_date: date_text(pon.expected_end_date),
        actual_end_date: date_text(pon.actual_end_date),
        fiber_count: pon.fiber_count,
        splitter_count: pon.splitter_count,
        equipment: pon
            .equipment()
            .into_iter()
            .map(|item| v1::Equipment {
                name: item.name,
                model: item.model,
                serial_number: item.serial_number,
                status: equipment_status_to_proto(item.status) as i32,
            })
            .collect(),
        notes: pon.notes.clone(),
        progress: pon.progress,
        geofence_center_lat: pon.geofence_center_lat,
        geofence_center_lng: pon.geofence_center_lng,
        geofence_radius_m: pon.geofence_radius_m,
        sla_breaches: pon.sla_breaches,
        created_at: Some(timestamp(pon.created_at)),
        updated_at: Some(timestamp(pon.updated_at)),
    }
}
