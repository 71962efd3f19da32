//! gRPC adapter of `kasi.fiber.v1.CertificateService`.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::service::{CertificateDraft, CertificateService};
use crate::error::AppError;
use crate::error::parse_id;
use crate::photos::model::certificate::Model;
use crate::proto::v1;
use crate::server::wire::{context, id_text, timestamp};

#[derive(Clone)]
pub struct CertificateGrpc {
    service: Arc<CertificateService>,
}

impl CertificateGrpc {
    pub fn new(service: Arc<CertificateService>) -> Self {
        CertificateGrpc { service }
    }
}

fn to_proto(row: &Model) -> v1::Certificate {
    v1::Certificate {
        id: row.id.to_string(),
        pon_id: row.pon_id.to_string(),
        pole_number: row.pole_number.clone().unwrap_or_default(),
        pole_length_m: row.pole_length_m,
        depth_m: row.depth_m,
        tag_height_m: row.tag_height_m,
        hook_position: row.hook_position.clone().unwrap_or_default(),
        alignment_ok: Some(row.alignment_ok),
        comments: row.comments.clone().unwrap_or_default(),
        passed: row.passed,
        photo_id: row.photo_id.to_string(),
        checked_by: id_text(row.checked_by),
        checked_at: Some(timestamp(row.checked_at)),
    }
}

/// Zero is "not given" in proto3, which the range check reports as required.
fn given(value: f64) -> Option<f64> {
    (value != 0.0).then_some(value)
}

#[tonic::async_trait]
impl v1::certificate_service_server::CertificateService for CertificateGrpc {
    async fn create_certificate(
        &self,
        request: Request<v1::CreateCertificateRequest>,
    ) -> Result<Response<v1::Certificate>, Status> {
        let ctx = context(&request);
        let body = request
            .into_inner()
            .certificate
            .ok_or_else(|| AppError::invalid("certificate", "is required"))?;
        let draft = CertificateDraft {
            pon_id: parse_id("certificate.pon_id", &body.pon_id)?,
            pole_number: Some(body.pole_number),
            pole_length_m: given(body.pole_length_m),
            depth_m: given(body.depth_m),
            tag_height_m: given(body.tag_height_m),
            hook_position: Some(body.hook_position),
            alignment_ok: body.alignment_ok.unwrap_or(true),
            comments: Some(body.comments),
        };
        let row = self.service.create(&ctx, draft).await?;
        Ok(Response::new(to_proto(&row)))
    }

    async fn get_certificate(
        &self,
        request: Request<v1::GetCertificateRequest>,
    ) -> Result<Response<v1::Certificate>, Status> {
        let ctx = context(&request);
        let id = parse_id("id", &request.get_ref().id)?;
        Ok(Response::new(to_proto(&self.service.get(&ctx, id).await?)))
    }

    async fn list_certificates(
        &self,
        request: Request<v1::ListCertificatesRequest>,
    ) -> Result<Response<v1::ListCertificatesResponse>, Status> {
        let ctx = context(&request);
        let body = request.into_inner();
        let pon_id = parse_id("pon_id", &body.pon_id)?;
        let (rows, next) = self
            .service
            .list(&ctx, pon_id, body.page_size, &body.page_token)
            .await?;
        Ok(Response::new(v1::ListCertificatesResponse {
            certificates: rows.iter().map(to_proto).collect(),
            next_page_token: next.unwrap_or_default(),
        }))
    }
}
