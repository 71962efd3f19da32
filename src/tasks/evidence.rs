//! The evidence gate port: whether a task that requires evidence may be completed. The
//! production gate (a valid photo of that task) lives with the photos, in `photos::gate`.

use crate::context::RequestContext;
use crate::error::AppResult;

use super::model;

#[async_trait::async_trait]
pub trait EvidenceGate: Send + Sync {
    /// `Ok` when `task` has the evidence its completion needs.
    async fn check(&self, ctx: &RequestContext, task: &model::Model) -> AppResult<()>;
}
