//! gRPC adapter of `kasi.fiber.v1.ConfigService`: golden templates and the collected configs.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::model::{config, template};
use super::service::{ConfigService, TemplateDraft};
use crate::error::AppError;
use crate::error::{Violations, parse_id};
use crate::proto::v1;
use crate::server::wire::{context, id_text, timestamp};

pub struct ConfigGrpc {
    service: Arc<ConfigService>,
}

impl ConfigGrpc {
    pub fn new(service: Arc<ConfigService>) -> Self {
        ConfigGrpc { service }
    }
}

#[tonic::async_trait]
impl v1::config_service_server::ConfigService for ConfigGrpc {
    async fn set_golden_template(
        &self,
        request: Request<v1::SetGoldenTemplateRequest>,
    ) -> Result<Response<v1::GoldenTemplate>, Status> {
        let ctx = context(&request);
        let given = request
            .into_inner()
            .template
            .ok_or_else(|| AppError::invalid("template", "is required"))?;
        let stored = self
            .service
            .set_template(
                &ctx,
                TemplateDraft {
                    device_type: given.device_type,
                    vendor: given.vendor,
                    template_text: given.template_text,
                    deny_patterns: given.deny_patterns,
                },
            )
            .await?;
        Ok(Response::new(template_to_proto(&stored)))
    }

    async fn list_golden_templates(
        &self,
        request: Request<v1::ListGoldenTemplatesRequest>,
    ) -> Result<Response<v1::ListGoldenTemplatesResponse>, Status> {
        let ctx = context(&request);
        let templates = self.service.list_templates(&ctx).await?;
        Ok(Response::new(v1::ListGoldenTemplatesResponse {
            templates: templates.iter().map(template_to_proto).collect(),
        }))
    }

    async fn delete_golden_template(
        &self,
        request: Request<v1::DeleteGoldenTemplateRequest>,
    ) -> Result<Response<()>, Status> {
        let ctx = context(&request);
        let id = parse_id("id", &request.get_ref().id)?;
        self.service.delete_template(&ctx, id).await?;
        Ok(Response::new(()))
    }

    async fn list_device_configs(
        &self,
        request: Request<v1::ListDeviceConfigsRequest>,
    ) -> Result<Response<v1::ListDeviceConfigsResponse>, Status> {
        let ctx = context(&request);
        let message = request.into_inner();
        let mut bad = Violations::default();
        let device_id = bad.optional_uuid("device_id", &message.device_id);
        let device_id = bad.finish(device_id)?;
        let (configs, next) = self
            .service
            .list_configs(&ctx, device_id, message.page_size, &message.page_token)
            .await?;
        Ok(Response::new(v1::ListDeviceConfigsResponse {
            configs: configs.iter().map(config_to_proto).collect(),
            next_page_token: next.unwrap_or_default(),
        }))
    }

    async fn get_device_config(
        &self,
        request: Request<v1::GetDeviceConfigRequest>,
    ) -> Result<Response<v1::DeviceConfig>, Status> {
        let ctx = context(&request);
        let id = parse_id("id", &request.get_ref().id)?;
        let row = self.service.get_config(&ctx, id).await?;
        Ok(Response::new(config_to_proto(&row)))
    }
}

fn template_to_proto(row: &template::Model) -> v1::GoldenTemplate {
    v1::GoldenTemplate {
        id: row.id.to_string(),
        device_type: row.device_type.clone(),
        vendor: row.vendor.clone(),
        template_text: row.template_text.clone(),
        deny_patterns: row.deny_patterns(),
        created_at: Some(timestamp(row.created_at)),
        updated_at: Some(timestamp(row.updated_at)),
    }
}

fn config_to_proto(row: &config::Model) -> v1::DeviceConfig {
    v1::DeviceConfig {
        id: row.id.to_string(),
        device_id: row.device_id.to_string(),
        hash_sha256: row.hash_sha256.clone(),
        running_config: row.running_config.clone(),
        previous_id: id_text(row.previous_id),
        diff: row.diff.clone(),
        violations: row
            .violations()
            .into_iter()
            .map(|v| v1::ConfigViolation {
                line: v.line as i32,
                text: v.text,
                pattern: v.pattern,
            })
            .collect(),
        incident_id: id_text(row.incident_id),
        collected_at: Some(timestamp(row.collected_at)),
    }
}
