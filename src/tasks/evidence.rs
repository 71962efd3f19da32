//! The evidence gate port: whether a task that requires evidence may be completed. Validated
//! photos arrive with the photo module; until then production refuses every such completion.

use crate::context::RequestContext;
use crate::error::{AppError, AppResult};

use super::model;

#[async_trait::async_trait]
pub trait EvidenceGate: Send + Sync {
    /// `Ok` when `task` has the evidence its completion needs.
    async fn check(&self, ctx: &RequestContext, task: &model::Model) -> AppResult<()>;
}

/// The production gate: no photo store yet, so no task has validated evidence.
pub struct PhotoEvidenceGate;

#[async_trait::async_trait]
impl EvidenceGate for PhotoEvidenceGate {
    async fn check(&self, _: &RequestContext, _: &model::Model) -> AppResult<()> {
        Err(AppError::FailedPrecondition(
            "evidence required: no validated photo for this task".into(),
        ))
    }
}
