//! Certificate rules: measured ranges (naming the field out of range), `passed` computed from
//! ranges and alignment, the photo gate, `checked_by`/`checked_at` from the caller and the
//! clock, the audit record, and tenant-scoped reads.

use std::ops::RangeInclusive;
use std::sync::Arc;

use sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder,
    QuerySelect, TransactionTrait,
};
use serde_json::json;
use uuid::Uuid;

use crate::audit::{self, Change};
use crate::clock::Clock;
use crate::context::RequestContext;
use crate::error::{AppError, AppResult, Violations};
use crate::paging;
use crate::photos::PhotoService;
use crate::photos::model::certificate::{self, Model};
use crate::pons::PonService;

pub const POLE_LENGTH_M: RangeInclusive<f64> = 7.4..=7.8;
pub const DEPTH_M: RangeInclusive<f64> = 1.1..=1.2;
pub const TAG_HEIGHT_M: RangeInclusive<f64> = 2.2..=2.3;
const PAGE_KIND: &str = "certificate";

/// What a caller gives; the rest is set by the server.
#[derive(Clone, Debug)]
pub struct CertificateDraft {
    pub pon_id: Uuid,
    pub pole_number: Option<String>,
    pub pole_length_m: Option<f64>,
    pub depth_m: Option<f64>,
    pub tag_height_m: Option<f64>,
    pub hook_position: Option<String>,
    pub alignment_ok: bool,
    pub comments: Option<String>,
}

pub struct CertificateService {
    db: DatabaseConnection,
    clock: Arc<dyn Clock>,
    pons: Arc<PonService>,
    photos: Arc<PhotoService>,
}

/// A measure that must be present and within `range`.
fn measure(
    bad: &mut Violations,
    field: &str,
    value: Option<f64>,
    range: &RangeInclusive<f64>,
) -> f64 {
    let description = match value {
        None => "is required".to_string(),
        Some(v) if !v.is_finite() || !range.contains(&v) => {
            format!("{v} is outside {}..{} m", range.start(), range.end())
        }
        Some(v) => return v,
    };
    bad.push(field, description);
    0.0
}

fn text(value: Option<String>) -> Option<String> {
    value
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
}

impl CertificateService {
    pub fn new(
        db: DatabaseConnection,
        clock: Arc<dyn Clock>,
        pons: Arc<PonService>,
        photos: Arc<PhotoService>,
    ) -> Self {
        CertificateService {
            db,
            clock,
            pons,
            photos,
        }
    }

    pub async fn create(&self, ctx: &RequestContext, draft: CertificateDraft) -> AppResult<Model> {
        let mut bad = Violations::default();
        let pole_length_m = measure(
            &mut bad,
            "pole_length_m",
            draft.pole_length_m,
            &POLE_LENGTH_M,
        );
        let depth_m = measure(&mut bad, "depth_m", draft.depth_m, &DEPTH_M);
        let tag_height_m = measure(&mut bad, "tag_height_m", draft.tag_height_m, &TAG_HEIGHT_M);
        bad.finish(())?;
        let pon = self.pons.get(ctx, draft.pon_id).await?;
        let pole_number = text(draft.pole_number);
        let photo = self
            .photos
            .valid_photo_of_pon(ctx, pon.id, pole_number.as_deref())
            .await?
            .ok_or_else(|| {
                AppError::FailedPrecondition("Validated photo required (EXIF and geofence)".into())
            })?;
        let now = self.clock.now();
        let row = Model {
            id: Uuid::now_v7(),
            tenant_id: ctx.tenant_id,
            pon_id: pon.id,
            pole_number,
            pole_length_m,
            depth_m,
            tag_height_m,
            hook_position: text(draft.hook_position),
            alignment_ok: draft.alignment_ok,
            comments: text(draft.comments),
            // Every measure is in range by now, so the alignment decides.
            passed: draft.alignment_ok,
            photo_id: photo.id,
            checked_by: ctx.user_id(),
            checked_at: now,
        };
        let tx = self.db.begin().await?;
        certificate::Entity::insert(row.clone().into_active_model())
            .exec_without_returning(&tx)
            .await?;
        audit::record(
            &tx,
            ctx,
            ctx.tenant_id,
            now,
            Change {
                action: "create",
                resource_type: "certificate",
                resource_id: row.id.to_string(),
                before: None,
                after: Some(json!({
                    "pon_id": row.pon_id,
                    "pole_number": row.pole_number,
                    "pole_length_m": row.pole_length_m,
                    "depth_m": row.depth_m,
                    "tag_height_m": row.tag_height_m,
                    "alignment_ok": row.alignment_ok,
                    "passed": row.passed,
                    "photo_id": row.photo_id,
                })),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(row)
    }

    /// A certificate of the caller's tenant on a PON the caller may read.
    pub async fn get(&self, ctx: &RequestContext, id: Uuid) -> AppResult<Model> {
        let not_found = || AppError::not_found(format!("certificate {id} not found"));
        let row = certificate::Entity::find_by_id(id)
            .filter(certificate::Column::TenantId.eq(ctx.tenant_id))
            .one(&self.db)
            .await?
            .ok_or_else(not_found)?;
        match self.pons.get(ctx, row.pon_id).await {
            Err(AppError::NotFound(_)) => Err(not_found()),
            other => other.map(|_| row),
        }
    }

    /// One page of a PON's certificates, most recently checked first.
    pub async fn list(
        &self,
        ctx: &RequestContext,
        pon_id: Uuid,
        page_size: i32,
        page_token: &str,
    ) -> AppResult<(Vec<Model>, Option<String>)> {
        self.pons.get(ctx, pon_id).await?;
        let limit = paging::page_limit(page_size)?;
        let mut query = certificate::Entity::find()
            .filter(certificate::Column::TenantId.eq(ctx.tenant_id))
            .filter(certificate::Column::PonId.eq(pon_id));
        // Ids are v7 (time-ordered) and checked_at is the creation time: one order serves both.
        if let Some(before) = paging::decode_token(PAGE_KIND, page_token)? {
            query = query.filter(certificate::Column::Id.lt(before));
        }
        let rows = query
            .order_by_desc(certificate::Column::CheckedAt)
            .order_by_desc(certificate::Column::Id)
            .limit(limit + 1)
            .all(&self.db)
            .await?;
        Ok(paging::into_page(PAGE_KIND, rows, limit, |row| row.id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_inclusive_and_name_the_field() {
        let mut bad = Violations::default();
        assert_eq!(measure(&mut bad, "depth_m", Some(1.1), &DEPTH_M), 1.1);
        assert_eq!(measure(&mut bad, "depth_m", Some(1.2), &DEPTH_M), 1.2);
        assert!(bad.is_empty());
        measure(&mut bad, "pole_length_m", Some(7.9), &POLE_LENGTH_M);
        measure(&mut bad, "tag_height_m", None, &TAG_HEIGHT_M);
        measure(&mut bad, "depth_m", Some(f64::NAN), &DEPTH_M);
        let bad = bad.into_vec();
        let fields: Vec<&str> = bad.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(fields, ["pole_length_m", "tag_height_m", "depth_m"]);
        assert_eq!(bad[0].description, "7.9 is outside 7.4..7.8 m");
    }
}
