//! gRPC adapter of `kasi.fiber.v1.DeviceService`: converts messages to domain values
//! (naming every bad field) and back; the rules live in the service.

use std::sync::Arc;

use prost_types::Timestamp;
use tonic::{Request, Response, Status};

use super::model::Model;
use super::service::{DeviceDraft, DeviceFilter, DeviceService};
use crate::error::AppError;
use crate::error::{Violations, parse_id};
use crate::proto::v1;
use crate::server::wire::{context, id_text, timestamp};

pub struct DeviceGrpc {
    service: Arc<DeviceService>,
}

impl DeviceGrpc {
    pub fn new(service: Arc<DeviceService>) -> Self {
        DeviceGrpc { service }
    }
}

/// Empty text is "no filter".
pub fn non_empty(text: &str) -> Option<String> {
    Some(text.trim().to_string()).filter(|text| !text.is_empty())
}

/// A protobuf time as a UTC time, naming `field` when it is out of range.
pub fn time_from_proto(
    bad: &mut Violations,
    field: &str,
    time: Option<&Timestamp>,
) -> Option<chrono::DateTime<chrono::Utc>> {
    let time = time?;
    chrono::DateTime::from_timestamp(time.seconds, time.nanos.max(0) as u32).or_else(|| {
        bad.push(field, "is not a valid time");
        None
    })
}

#[tonic::async_trait]
impl v1::device_service_server::DeviceService for DeviceGrpc {
    async fn create_device(
        &self,
        request: Request<v1::CreateDeviceRequest>,
    ) -> Result<Response<v1::Device>, Status> {
        let ctx = context(&request);
        let device = request
            .into_inner()
            .device
            .ok_or_else(|| AppError::invalid("device", "is required"))?;
        let created = self
            .service
            .create(&ctx, draft_from_proto(&device)?)
            .await?;
        Ok(Response::new(device_to_proto(&created)))
    }

    async fn get_device(
        &self,
        request: Request<v1::GetDeviceRequest>,
    ) -> Result<Response<v1::Device>, Status> {
        let ctx = context(&request);
        let id = parse_id("id", &request.get_ref().id)?;
        Ok(Response::new(device_to_proto(
            &self.service.get(&ctx, id).await?,
        )))
    }

    async fn list_devices(
        &self,
        request: Request<v1::ListDevicesRequest>,
    ) -> Result<Response<v1::ListDevicesResponse>, Status> {
        let ctx = context(&request);
        let message = request.into_inner();
        let mut bad = Violations::default();
        let filter = DeviceFilter {
            r#type: non_empty(&message.r#type),
            status: non_empty(&message.status),
            pon_id: bad.optional_uuid("pon_id", message.pon_id.trim()),
            ward: non_empty(&message.ward),
            site: non_empty(&message.site),
            q: non_empty(&message.q),
        };
        let filter = bad.finish(filter)?;
        let (devices, next) = self
            .service
            .list(&ctx, &filter, message.page_size, &message.page_token)
            .await?;
        Ok(Response::new(v1::ListDevicesResponse {
            devices: devices.iter().map(device_to_proto).collect(),
            next_page_token: next.unwrap_or_default(),
        }))
    }

    async fn update_device(
        &self,
        request: Request<v1::UpdateDeviceRequest>,
    ) -> Result<Response<v1::Device>, Status> {
        let ctx = context(&request);
        let message = request.into_inner();
        let device = message
            .device
            .ok_or_else(|| AppError::invalid("device", "is required"))?;
        let id = parse_id("device.id", &device.id)?;
        let mask = message
            .update_mask
            .map(|mask| mask.paths)
            .unwrap_or_default();
        let updated = self
            .service
            .update(&ctx, id, draft_from_proto(&device)?, &mask)
            .await?;
        Ok(Response::new(device_to_proto(&updated)))
    }

    async fn delete_device(
        &self,
        request: Request<v1::DeleteDeviceRequest>,
    ) -> Result<Response<()>, Status> {
        let ctx = context(&request);
        let id = parse_id("id", &request.get_ref().id)?;
        self.service.delete(&ctx, id).await?;
        Ok(Response::new(()))
    }
}

fn draft_from_proto(device: &v1::Device) -> Result<DeviceDraft, AppError> {
    let mut bad = Violations::default();
    let draft = DeviceDraft {
        name: device.name.clone(),
        r#type: device.r#type.clone(),
        vendor: device.vendor.clone(),
        model: device.model.clone(),
        serial: device.serial.clone(),
        mgmt_ip: device.mgmt_ip.clone(),
        site: device.site.clone(),
        ward: device.ward.clone(),
        pon_id: bad.optional_uuid("device.pon_id", device.pon_id.trim()),
        olt_chassis: device.olt_chassis.clone(),
        olt_slot: device.olt_slot.clone(),
        olt_port: device.olt_port.clone(),
        onu_id: device.onu_id.clone(),
        status: device.status.clone(),
        last_seen_at: time_from_proto(
            &mut bad,
            "device.last_seen_at",
            device.last_seen_at.as_ref(),
        ),
        lat: bad.finite("device.lat", device.lat),
        lng: bad.finite("device.lng", device.lng),
    };
    bad.finish(draft)
}

pub fn device_to_proto(device: &Model) -> v1::Device {
    v1::Device {
        id: device.id.to_string(),
        name: device.name.clone(),
        r#type: device.r#type.clone(),
        vendor: device.vendor.clone(),
        model: device.model.clone(),
        serial: device.serial.clone(),
        mgmt_ip: device.mgmt_ip.clone(),
        site: device.site.clone(),
        ward: device.ward.clone(),
        pon_id: id_text(device.pon_id),
        olt_chassis: device.olt_chassis.clone(),
        olt_slot: device.olt_slot.clone(),
        olt_port: device.olt_port.clone(),
        onu_id: device.onu_id.clone(),
        status: device.status.clone(),
        last_seen_at: device.last_seen_at.map(timestamp),
        lat: device.lat,
        lng: device.lng,
        created_at: Some(timestamp(device.created_at)),
        updated_at: Some(timestamp(device.updated_at)),
    }
}
