//! A PON's geofence (a centre and radius, or a GeoJSON polygon): reading it for the verdicts,
//! changing it with an audit row, and judging the PON's photos again after each change.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter, TransactionTrait,
};
use serde_json::{Value, json};
use uuid::Uuid;

use super::{PhotoService, apply_verdict, stored_reading};
use crate::audit::{self, Change};
use crate::context::RequestContext;
use crate::error::{AppError, AppResult, Violations};
use crate::photos::geo;
use crate::photos::model::{geofence, photo};
use crate::photos::rules::{self, Fence};
use crate::pons::model as pon;
use crate::pons::service::{DEFAULT_GEOFENCE_RADIUS_M, MAX_GEOFENCE_RADIUS_M};

/// The PON's fence as stored.
pub struct GeofenceView {
    pub pon_id: Uuid,
    pub center: Option<(f64, f64)>,
    pub radius_m: i32,
    pub geojson: Option<String>,
}

impl PhotoService {
    /// The PON's fence: its polygon, else its centre and radius, else none.
    pub(super) async fn fence(&self, tenant_id: Uuid, pon_id: Uuid) -> AppResult<Fence> {
        let polygon = geofence::Entity::find_by_id(pon_id)
            .filter(geofence::Column::TenantId.eq(tenant_id))
            .one(&self.db)
            .await?;
        if let Some(polygon) = polygon {
            let value: Value =
                serde_json::from_str(&polygon.geojson).map_err(AppError::internal)?;
            let polygons = geo::parse_geojson(&value)
                .map_err(|why| AppError::internal(anyhow::anyhow!("stored geofence: {why}")))?;
            return Ok(Fence::Polygons(polygons));
        }
        let pon = pon::Entity::find_by_id(pon_id)
            .filter(pon::Column::TenantId.eq(tenant_id))
            .one(&self.db)
            .await?;
        Ok(match pon {
            Some(pon::Model {
                geofence_center_lat: Some(lat),
                geofence_center_lng: Some(lng),
                geofence_radius_m,
                ..
            }) => Fence::Circle {
                lat,
                lng,
                radius_m: f64::from(geofence_radius_m),
            },
            _ => Fence::Missing,
        })
    }

    /// Sets a PON's centre and radius, then re-judges its photos in the background.
    pub async fn set_circle(
        self: &Arc<Self>,
        ctx: &RequestContext,
        pon_id: Uuid,
        lat: f64,
        lng: f64,
        radius_m: i32,
    ) -> AppResult<GeofenceView> {
        let mut bad = Violations::default();
        let mut check = |ok: bool, field: &str, rule: &str| {
            if !ok {
                bad.push(field, rule);
            }
        };
        check(
            lat.is_finite() && (-90.0..=90.0).contains(&lat),
            "center_lat",
            "must be between -90 and 90",
        );
        check(
            lng.is_finite() && (-180.0..=180.0).contains(&lng),
            "center_lng",
            "must be between -180 and 180",
        );
        let radius_m = if radius_m == 0 {
            DEFAULT_GEOFENCE_RADIUS_M
        } else {
            radius_m
        };
        check(
            (1..=MAX_GEOFENCE_RADIUS_M).contains(&radius_m),
            "geofence_radius_m",
            "must be between 1 and 50000 metres",
        );
        bad.finish(())?;
        let before = self.pons.get(ctx, pon_id).await?;
        let now = self.clock.now();
        let tx = self.db.begin().await?;
        pon::Entity::update_many()
            .col_expr(pon::Column::GeofenceCenterLat, Expr::value(lat))
            .col_expr(pon::Column::GeofenceCenterLng, Expr::value(lng))
            .col_expr(pon::Column::GeofenceRadiusM, Expr::value(radius_m))
            .col_expr(pon::Column::UpdatedAt, Expr::value(now))
            .filter(pon::Column::Id.eq(pon_id))
            .filter(pon::Column::TenantId.eq(ctx.tenant_id))
            .exec(&tx)
            .await?;
        let circle = |lat: Option<f64>, lng: Option<f64>, radius: i32| json!({"center_lat": lat, "center_lng": lng, "geofence_radius_m": radius});
        self.audit_fence(
            &tx,
            ctx,
            pon_id,
            circle(
                before.geofence_center_lat,
                before.geofence_center_lng,
                before.geofence_radius_m,
            ),
            circle(Some(lat), Some(lng), radius_m),
            now,
        )
        .await?;
        tx.commit().await?;
        self.spawn_rejudge(ctx.tenant_id, pon_id);
        self.geofence(ctx, pon_id).await
    }

    /// Sets a PON's polygon from a GeoJSON geometry, then re-judges its photos in the background.
    pub async fn set_polygon(
        self: &Arc<Self>,
        ctx: &RequestContext,
        pon_id: Uuid,
        geometry: &Value,
    ) -> AppResult<GeofenceView> {
        geo::parse_geojson(geometry).map_err(|why| {
            let (path, rule) = why.split_once(": ").unwrap_or(("", &why));
            AppError::invalid(format!("geometry.{path}"), rule)
        })?;
        self.pons.get(ctx, pon_id).await?;
        let now = self.clock.now();
        let before = geofence::Entity::find_by_id(pon_id)
            .filter(geofence::Column::TenantId.eq(ctx.tenant_id))
            .one(&self.db)
            .await?;
        let row = geofence::Model {
            pon_id,
            tenant_id: ctx.tenant_id,
            geojson: geometry.to_string(),
            updated_at: now,
        };
        let tx = self.db.begin().await?;
        geofence::Entity::delete_many()
            .filter(geofence::Column::PonId.eq(pon_id))
            .filter(geofence::Column::TenantId.eq(ctx.tenant_id))
            .exec(&tx)
            .await?;
        geofence::Entity::insert(row.into_active_model())
            .exec_without_returning(&tx)
            .await?;
        let polygon = |geojson: Option<&str>| json!({"polygon": geojson.and_then(|g| serde_json::from_str::<Value>(g).ok())});
        self.audit_fence(
            &tx,
            ctx,
            pon_id,
            polygon(before.as_ref().map(|b| b.geojson.as_str())),
            json!({"polygon": geometry}),
            now,
        )
        .await?;
        tx.commit().await?;
        self.spawn_rejudge(ctx.tenant_id, pon_id);
        self.geofence(ctx, pon_id).await
    }

    async fn audit_fence(
        &self,
        tx: &impl ConnectionTrait,
        ctx: &RequestContext,
        pon_id: Uuid,
        before: Value,
        after: Value,
        at: DateTime<Utc>,
    ) -> AppResult<()> {
        audit::record(
            tx,
            ctx,
            ctx.tenant_id,
            at,
            Change {
                action: "update",
                resource_type: "pon_geofence",
                resource_id: pon_id.to_string(),
                before: Some(before),
                after: Some(after),
            },
        )
        .await
    }

    /// The PON's fence as stored.
    pub async fn geofence(&self, ctx: &RequestContext, pon_id: Uuid) -> AppResult<GeofenceView> {
        let pon = self.pons.get(ctx, pon_id).await?;
        let polygon = geofence::Entity::find_by_id(pon_id)
            .filter(geofence::Column::TenantId.eq(ctx.tenant_id))
            .one(&self.db)
            .await?;
        Ok(GeofenceView {
            pon_id,
            center: pon.geofence_center_lat.zip(pon.geofence_center_lng),
            radius_m: pon.geofence_radius_m,
            geojson: polygon.map(|p| p.geojson),
        })
    }

    /// The re-judging job of a geofence change, started after its commit.
    fn spawn_rejudge(self: &Arc<Self>, tenant_id: Uuid, pon_id: Uuid) {
        let service = self.clone();
        tokio::spawn(async move {
            match service.rejudge_pon(tenant_id, pon_id).await {
                Ok(changed) => {
                    tracing::info!(%pon_id, changed, "photos judged again after a geofence change")
                }
                Err(error) => tracing::error!(%pon_id, %error, "re-judging photos failed"),
            }
        });
    }

    /// Judges every photo of a PON again; the number whose verdict changed.
    pub async fn rejudge_pon(&self, tenant_id: Uuid, pon_id: Uuid) -> AppResult<usize> {
        let _one_at_a_time = self.rejudging.lock().await;
        let fence = self.fence(tenant_id, pon_id).await?;
        let now = self.clock.now();
        let rows = photo::Entity::find()
            .filter(photo::Column::TenantId.eq(tenant_id))
            .filter(photo::Column::PonId.eq(pon_id))
            .all(&self.db)
            .await?;
        let mut changed = 0;
        for row in rows {
            let verdict = rules::judge(&stored_reading(&row), &fence, row.created_at, self.window);
            let mut updated = row.clone();
            apply_verdict(&mut updated, &verdict, now);
            if updated.verdict != row.verdict || updated.reasons != row.reasons {
                changed += 1;
            }
            photo::Entity::update_many()
                .col_expr(photo::Column::ExifOk, Expr::value(updated.exif_ok))
                .col_expr(
                    photo::Column::WithinGeofence,
                    Expr::value(updated.within_geofence),
                )
                .col_expr(photo::Column::Verdict, Expr::value(updated.verdict))
                .col_expr(photo::Column::Reasons, Expr::value(updated.reasons))
                .col_expr(photo::Column::ValidatedAt, Expr::value(now))
                .filter(photo::Column::Id.eq(row.id))
                .filter(photo::Column::TenantId.eq(tenant_id))
                .exec(&self.db)
                .await?;
        }
        Ok(changed)
    }
}
