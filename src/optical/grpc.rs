//! gRPC adapter of `kasi.fiber.v1.OpticalService`: converts messages to domain values (a bad
//! field of one reading rejects that reading only) and back; the rules live in the service.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tonic::{Request, Response, Status};

use super::model::{Direction, Source, reading};
use super::service::{Alert, Candidate, OpticalService, ReadingDraft, ReadingFilter, Thresholds};
use crate::error::AppError;
use crate::error::Violations;
use crate::proto::v1;
use crate::server::wire::{context, id_text, timestamp};

pub struct OpticalGrpc {
    service: Arc<OpticalService>,
}

impl OpticalGrpc {
    pub fn new(service: Arc<OpticalService>) -> Self {
        OpticalGrpc { service }
    }
}

#[tonic::async_trait]
impl v1::optical_service_server::OpticalService for OpticalGrpc {
    async fn ingest_optical_readings(
        &self,
        request: Request<v1::IngestOpticalReadingsRequest>,
    ) -> Result<Response<v1::IngestOpticalReadingsResponse>, Status> {
        let ctx = context(&request);
        let candidates = request
            .into_inner()
            .readings
            .iter()
            .map(candidate)
            .collect();
        let report = self.service.ingest(&ctx, candidates).await?;
        Ok(Response::new(v1::IngestOpticalReadingsResponse {
            inserted: report.ids.len() as i32,
            rejected: report.rejections.len() as i32,
            rejections: report
                .rejections
                .into_iter()
                .map(|(index, problems)| v1::RejectedReading {
                    index: index as i32,
                    problems: problems
                        .into_iter()
                        .map(|p| v1::ReadingProblem {
                            field: p.field,
                            description: p.description,
                        })
                        .collect(),
                })
                .collect(),
            ids: report.ids.iter().map(ToString::to_string).collect(),
        }))
    }

    async fn list_optical_readings(
        &self,
        request: Request<v1::ListOpticalReadingsRequest>,
    ) -> Result<Response<v1::ListOpticalReadingsResponse>, Status> {
        let ctx = context(&request);
        let message = request.into_inner();
        let mut bad = Violations::default();
        let filter = ReadingFilter {
            pon_id: bad.optional_uuid("pon_id", &message.pon_id),
            device_id: bad.optional_uuid("device_id", &message.device_id),
            onu_id: Some(message.onu_id.trim().to_string()).filter(|onu| !onu.is_empty()),
            direction: direction_from_proto(&mut bad, "direction", message.direction),
            days: message.days,
        };
        let filter = bad.finish(filter)?;
        let rows = self.service.list(&ctx, &filter, message.limit).await?;
        Ok(Response::new(v1::ListOpticalReadingsResponse {
            readings: rows.iter().map(reading_to_proto).collect(),
        }))
    }

    async fn evaluate_optical(
        &self,
        request: Request<v1::EvaluateOpticalRequest>,
    ) -> Result<Response<v1::EvaluateOpticalResponse>, Status> {
        let ctx = context(&request);
        let message = request.into_inner();
        let mut bad = Violations::default();
        let filter = ReadingFilter {
            pon_id: bad.optional_uuid("pon_id", &message.pon_id),
            device_id: bad.optional_uuid("device_id", &message.device_id),
            onu_id: Some(message.onu_id.trim().to_string()).filter(|onu| !onu.is_empty()),
            direction: None,
            days: message.days,
        };
        let filter = bad.finish(filter)?;
        let alerts = self
            .service
            .evaluate(&ctx, &filter, message.raise_incidents)
            .await?;
        Ok(Response::new(v1::EvaluateOpticalResponse {
            alerts: alerts.iter().map(alert_to_proto).collect(),
        }))
    }

    async fn get_optical_thresholds(
        &self,
        request: Request<v1::GetOpticalThresholdsRequest>,
    ) -> Result<Response<v1::OpticalThresholds>, Status> {
        let ctx = context(&request);
        let limits = self.service.thresholds(&ctx).await?;
        Ok(Response::new(thresholds_to_proto(&limits)))
    }

    async fn update_optical_thresholds(
        &self,
        request: Request<v1::UpdateOpticalThresholdsRequest>,
    ) -> Result<Response<v1::OpticalThresholds>, Status> {
        let ctx = context(&request);
        let given = request
            .into_inner()
            .thresholds
            .ok_or_else(|| AppError::invalid("thresholds", "is required"))?;
        let limits = self
            .service
            .set_thresholds(
                &ctx,
                Thresholds {
                    to_onu_warn_dbm: given.to_onu_warn_dbm,
                    to_onu_critical_dbm: given.to_onu_critical_dbm,
                    to_olt_warn_dbm: given.to_olt_warn_dbm,
                    to_olt_critical_dbm: given.to_olt_critical_dbm,
                    drift_db: given.drift_db,
                },
            )
            .await?;
        Ok(Response::new(thresholds_to_proto(&limits)))
    }
}

fn direction_from_proto(bad: &mut Violations, field: &str, value: i32) -> Option<Direction> {
    match v1::OpticalDirection::try_from(value) {
        Ok(v1::OpticalDirection::Unspecified) => None,
        Ok(v1::OpticalDirection::ToOnu) => Some(Direction::ToOnu),
        Ok(v1::OpticalDirection::ToOlt) => Some(Direction::ToOlt),
        Err(_) => {
            bad.push(field, format!("{value} is not an optical direction"));
            None
        }
    }
}

fn direction_to_proto(direction: Option<Direction>) -> v1::OpticalDirection {
    match direction {
        Some(Direction::ToOnu) => v1::OpticalDirection::ToOnu,
        Some(Direction::ToOlt) => v1::OpticalDirection::ToOlt,
        None => v1::OpticalDirection::Unspecified,
    }
}

fn time(value: Option<&prost_types::Timestamp>) -> Option<Option<DateTime<Utc>>> {
    match value {
        None => Some(None),
        Some(stamp) => DateTime::from_timestamp(stamp.seconds, stamp.nanos.max(0) as u32).map(Some),
    }
}

/// One reading of the request; what cannot be parsed is its own problem, not the batch's.
fn candidate(message: &v1::OpticalReading) -> Candidate {
    let mut bad = Violations::default();
    let source = match v1::OpticalSource::try_from(message.source) {
        Ok(v1::OpticalSource::Unspecified | v1::OpticalSource::Nms) => Source::Nms,
        Ok(v1::OpticalSource::Field) => Source::Field,
        Ok(v1::OpticalSource::Import) => Source::Import,
        Err(_) => {
            bad.push(
                "source",
                format!("{} is not a reading source", message.source),
            );
            Source::Nms
        }
    };
    let taken_at = time(message.taken_at.as_ref()).unwrap_or_else(|| {
        bad.push("taken_at", "is not a valid time");
        None
    });
    let draft = ReadingDraft {
        pon_id: bad.optional_uuid("pon_id", &message.pon_id),
        device_id: bad.optional_uuid("device_id", &message.device_id),
        onu_id: message.onu_id.trim().to_string(),
        port: message.port.trim().to_string(),
        direction: direction_from_proto(&mut bad, "direction", message.direction),
        power_dbm: message.power_dbm,
        olt_slot: message.olt_slot.trim().to_string(),
        olt_port: message.olt_port.trim().to_string(),
        vendor: message.vendor.trim().to_string(),
        model: message.model.trim().to_string(),
        source,
        taken_at,
    };
    Candidate {
        draft,
        problems: bad,
    }
}

fn reading_to_proto(row: &reading::Model) -> v1::OpticalReading {
    v1::OpticalReading {
        id: row.id.to_string(),
        pon_id: id_text(row.pon_id),
        device_id: id_text(row.device_id),
        onu_id: row.onu_id.clone(),
        port: row.port.clone(),
        direction: direction_to_proto(Direction::parse(&row.direction)) as i32,
        power_dbm: Some(row.power_dbm),
        olt_slot: row.olt_slot.clone(),
        olt_port: row.olt_port.clone(),
        vendor: row.vendor.clone(),
        model: row.model.clone(),
        source: match Source::parse(&row.source) {
            Some(Source::Field) => v1::OpticalSource::Field,
            Some(Source::Import) => v1::OpticalSource::Import,
            _ => v1::OpticalSource::Nms,
        } as i32,
        taken_at: Some(timestamp(row.taken_at)),
        created_at: Some(timestamp(row.created_at)),
    }
}

fn alert_to_proto(alert: &Alert) -> v1::OpticalAlert {
    v1::OpticalAlert {
        key: alert.key.clone(),
        last_dbm: alert.last_dbm,
        delta_db: alert.delta_db,
        severity: alert.severity.as_str().into(),
        direction: direction_to_proto(Some(alert.direction)) as i32,
        onu_id: alert.onu_id.clone(),
        port: alert.port.clone(),
        pon_id: id_text(alert.pon_id),
        device_id: id_text(alert.device_id),
        incident_id: id_text(alert.incident_id),
    }
}

fn thresholds_to_proto(limits: &Thresholds) -> v1::OpticalThresholds {
    v1::OpticalThresholds {
        to_onu_warn_dbm: limits.to_onu_warn_dbm,
        to_onu_critical_dbm: limits.to_onu_critical_dbm,
        to_olt_warn_dbm: limits.to_olt_warn_dbm,
        to_olt_critical_dbm: limits.to_olt_critical_dbm,
        drift_db: limits.drift_db,
    }
}
