//! The evidence gate of task completion: a task that requires evidence may be completed only
//! with a valid photo linked to that very task.

use sea_orm::DatabaseConnection;

use super::PhotoService;
use crate::context::RequestContext;
use crate::error::{AppError, AppResult};
use crate::tasks::{EvidenceGate, model};

pub struct PhotoEvidenceGate {
    db: DatabaseConnection,
}

impl PhotoEvidenceGate {
    pub fn new(db: DatabaseConnection) -> Self {
        PhotoEvidenceGate { db }
    }
}

#[async_trait::async_trait]
impl EvidenceGate for PhotoEvidenceGate {
    async fn check(&self, _: &RequestContext, task: &model::Model) -> AppResult<()> {
        if PhotoService::task_has_valid_photo(&self.db, task).await? {
            Ok(())
        } else {
            Err(AppError::EvidenceMissing(
                "Photo with valid EXIF and within geofence required".into(),
            ))
        }
    }
}
