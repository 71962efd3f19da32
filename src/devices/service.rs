//! Device rules: validation naming every bad field, name unique per tenant, the PON checked
//! against the tenant, filters and escaped-text search, and an audit entry per change.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Func, LikeExpr};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, TransactionTrait,
};
use uuid::Uuid;

use super::model::{self, Column, Entity, Model};
use crate::audit;
use crate::clock::Clock;
use crate::context::RequestContext;
use crate::error::{AppError, AppResult, FieldViolation};
use crate::fieldmask;
use crate::organizations::store;
use crate::paging;

const PAGE_KIND: &str = "device";
const NAME: &str = "device";

pub const UPDATABLE_FIELDS: &[&str] = &[
    "name",
    "type",
    "vendor",
    "model",
    "serial",
    "mgmt_ip",
    "site",
    "ward",
    "pon_id",
    "olt_chassis",
    "olt_slot",
    "olt_port",
    "onu_id",
    "status",
    "last_seen_at",
    "lat",
    "lng",
];

/// A device as a client describes it; the mask says which fields count.
#[derive(Clone, Debug, Default)]
pub struct DeviceDraft {
    pub name: String,
    pub r#type: String,
    pub vendor: String,
    pub model: String,
    pub serial: String,
    pub mgmt_ip: String,
    pub site: String,
    pub ward: String,
    pub pon_id: Option<Uuid>,
    pub olt_chassis: String,
    pub olt_slot: String,
    pub olt_port: String,
    pub onu_id: String,
    /// Empty means `up` on create and "unchanged" on update.
    pub status: String,
    pub last_seen_at: Option<DateTime<Utc>>,
    pub lat: Option<f64>,
    pub lng: Option<f64>,
}

/// Exact-match filters and a free-text search over name, management IP and serial.
#[derive(Clone, Debug, Default)]
pub struct DeviceFilter {
    pub r#type: Option<String>,
    pub status: Option<String>,
    pub pon_id: Option<Uuid>,
    pub ward: Option<String>,
    pub site: Option<String>,
    /// Plain text (matched literally, case-insensitively), never a pattern.
    pub q: Option<String>,
}

pub struct DeviceService {
    db: DatabaseConnection,
    clock: Arc<dyn Clock>,
}

impl DeviceService {
    pub fn new(db: DatabaseConnection, clock: Arc<dyn Clock>) -> Self {
        DeviceService { db, clock }
    }

    pub async fn create(&self, ctx: &RequestContext, draft: DeviceDraft) -> AppResult<Model> {
        let now = self.clock.now();
        let mut row = Model {
            id: Uuid::now_v7(),
            tenant_id: ctx.tenant_id,
            name: String::new(),
            r#type: String::new(),
            vendor: String::new(),
            model: String::new(),
            serial: String::new(),
            mgmt_ip: String::new(),
            site: String::new(),
            ward: String::new(),
            pon_id: None,
            olt_chassis: String::new(),
            olt_slot: String::new(),
            olt_port: String::new(),
            onu_id: String::new(),
            status: "up".into(),
            last_seen_at: None,
            lat: None,
            lng: None,
            created_at: now,
            updated_at: now,
        };
        apply(&mut row, &draft, UPDATABLE_FIELDS)?;
        self.check_pon(ctx, row.pon_id).await?;
        let tx = self.db.begin().await?;
        let row = store::insert::<Entity>(&tx, row)
            .await
            .map_err(duplicate_name)?;
        record(&tx, ctx, "create", None, Some(&row), now).await?;
        tx.commit().await?;
        Ok(row)
    }

    pub async fn get(&self, ctx: &RequestContext, id: Uuid) -> AppResult<Model> {
        store::find::<Entity>(&self.db, ctx.tenant_id, None, id)
            .await?
            .ok_or_else(|| AppError::not_found(format!("device {id} not found")))
    }

    pub async fn list(
        &self,
        ctx: &RequestContext,
        filter: &DeviceFilter,
        page_size: i32,
        page_token: &str,
    ) -> AppResult<(Vec<Model>, Option<String>)> {
        let limit = paging::page_limit(page_size)?;
        let after = paging::decode_token(PAGE_KIND, page_token)?;
        let rows = store::list::<Entity>(
            &self.db,
            ctx.tenant_id,
            None,
            condition(filter)?,
            after,
            limit + 1,
        )
        .await?;
        Ok(paging::into_page(PAGE_KIND, rows, limit, |row| row.id))
    }

    /// Changes the fields named in `mask` (`*` names them all).
    pub async fn update(
        &self,
        ctx: &RequestContext,
        id: Uuid,
        draft: DeviceDraft,
        mask: &[String],
    ) -> AppResult<Model> {
        let fields = fieldmask::resolve(mask, UPDATABLE_FIELDS, "device")?;
        let before = self.get(ctx, id).await?;
        let mut row = before.clone();
        apply(&mut row, &draft, &fields)?;
        if row.pon_id != before.pon_id {
            self.check_pon(ctx, row.pon_id).await?;
        }
        let now = self.clock.now();
        row.updated_at = now;
        let tx = self.db.begin().await?;
        let row = store::update::<Entity>(&tx, &before, row)
            .await
            .map_err(duplicate_name)?;
        record(&tx, ctx, "update", Some(&before), Some(&row), now).await?;
        tx.commit().await?;
        Ok(row)
    }

    pub async fn delete(&self, ctx: &RequestContext, id: Uuid) -> AppResult<()> {
        let before = self.get(ctx, id).await?;
        let tx = self.db.begin().await?;
        if !store::delete::<Entity>(&tx, ctx.tenant_id, id).await? {
            return Err(AppError::not_found(format!("device {id} not found")));
        }
        record(&tx, ctx, "delete", Some(&before), None, self.clock.now()).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn check_pon(&self, ctx: &RequestContext, pon_id: Option<Uuid>) -> AppResult<()> {
        match pon_id {
            Some(pon) if !store::pon_exists(&self.db, ctx.tenant_id, pon).await? => Err(
                AppError::invalid("device.pon_id", format!("PON {pon} does not exist")),
            ),
            _ => Ok(()),
        }
    }
}

/// The first device of the tenant whose name, management IP or serial is `text`, in that order.
pub async fn find_by_identity(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    name: Option<&str>,
    mgmt_ip: Option<&str>,
    serial: Option<&str>,
) -> AppResult<Option<Model>> {
    let lookups: Vec<(Column, &str)> = [
        (Column::Name, name),
        (Column::MgmtIp, mgmt_ip),
        (Column::Serial, serial),
    ]
    .into_iter()
    .filter_map(|(column, value)| {
        let value = value.map(str::trim).filter(|value| !value.is_empty())?;
        Some((column, value))
    })
    .collect();
    if lookups.is_empty() {
        return Ok(None);
    }
    // One query for every identity given (an alert is on the hot path), then the first
    // identity in order of preference that matched.
    let any = lookups
        .iter()
        .fold(Condition::any(), |any, (column, value)| {
            any.add(column.eq(*value))
        });
    let candidates = Entity::find()
        .filter(Column::TenantId.eq(tenant_id))
        .filter(any)
        .order_by_asc(Column::Id)
        .all(db)
        .await?;
    Ok(lookups.iter().find_map(|(column, value)| {
        candidates
            .iter()
            .find(|device| identity_of(device, *column) == Some(*value))
            .cloned()
    }))
}

fn identity_of(device: &Model, column: Column) -> Option<&str> {
    match column {
        Column::Name => Some(device.name.as_str()),
        Column::MgmtIp => Some(device.mgmt_ip.as_str()),
        Column::Serial => Some(device.serial.as_str()),
        _ => None,
    }
}

/// `text` as a LIKE pattern that matches it literally anywhere (escape character `\`).
pub fn contains_pattern(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for ch in text.to_lowercase().chars() {
        if matches!(ch, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(ch);
    }
    pattern.push('%');
    pattern
}

/// Case-insensitive literal search of `text` in any of `columns`.
pub fn search<C: ColumnTrait>(columns: &[C], text: &str) -> Condition {
    let pattern = contains_pattern(text);
    columns.iter().fold(Condition::any(), |any, column| {
        any.add(
            Expr::expr(Func::lower(Expr::col(*column)))
                .like(LikeExpr::new(pattern.clone()).escape('\\')),
        )
    })
}

fn condition(filter: &DeviceFilter) -> AppResult<Condition> {
    let mut all = Condition::all();
    if let Some(kind) = &filter.r#type {
        let kind = model::parse_type(kind)
            .ok_or_else(|| AppError::invalid("type", format!("`{kind}` is not a device type")))?;
        all = all.add(Column::Type.eq(kind));
    }
    if let Some(status) = &filter.status {
        let status = model::parse_status(status).ok_or_else(|| {
            AppError::invalid("status", format!("`{status}` is not a device status"))
        })?;
        all = all.add(Column::Status.eq(status));
    }
    if let Some(pon) = filter.pon_id {
        all = all.add(Column::PonId.eq(pon));
    }
    if let Some(ward) = &filter.ward {
        all = all.add(Column::Ward.eq(ward.as_str()));
    }
    if let Some(site) = &filter.site {
        all = all.add(Column::Site.eq(site.as_str()));
    }
    if let Some(q) = filter.q.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
        if q.chars().count() > 200 {
            return Err(AppError::invalid("q", "must be at most 200 characters"));
        }
        all = all.add(search(&[Column::Name, Column::MgmtIp, Column::Serial], q));
    }
    Ok(all)
}

fn duplicate_name(err: AppError) -> AppError {
    match err {
        AppError::AlreadyExists(_) => {
            AppError::AlreadyExists("a device with this name already exists in this tenant".into())
        }
        other => other,
    }
}

/// Copies the named fields of the draft onto the row and checks them, naming every bad one.
fn apply(row: &mut Model, draft: &DeviceDraft, fields: &[&str]) -> AppResult<()> {
    let mut bad = Vec::new();
    let mut fail = |field: &str, description: String| {
        bad.push(FieldViolation {
            field: format!("device.{field}"),
            description,
        })
    };
    for field in fields {
        match *field {
            "name" => row.name = draft.name.trim().to_string(),
            "type" => match model::parse_type(&draft.r#type) {
                Some(kind) => row.r#type = kind.into(),
                None if draft.r#type.trim().is_empty() => fail("type", "is required".into()),
                None => fail(
                    "type",
                    format!(
                        "`{}` is not one of {}",
                        draft.r#type,
                        model::TYPES.join(", ")
                    ),
                ),
            },
            "vendor" => row.vendor = draft.vendor.trim().to_string(),
            "model" => row.model = draft.model.trim().to_string(),
            "serial" => row.serial = draft.serial.trim().to_string(),
            "mgmt_ip" => {
                let ip = draft.mgmt_ip.trim();
                if !ip.is_empty() && ip.parse::<std::net::IpAddr>().is_err() {
                    fail("mgmt_ip", format!("`{ip}` is not an IP address"));
                }
                row.mgmt_ip = ip.to_string();
            }
            "site" => row.site = draft.site.trim().to_string(),
            "ward" => row.ward = draft.ward.trim().to_string(),
            "pon_id" => row.pon_id = draft.pon_id,
            "olt_chassis" => row.olt_chassis = draft.olt_chassis.trim().to_string(),
            "olt_slot" => row.olt_slot = draft.olt_slot.trim().to_string(),
            "olt_port" => row.olt_port = draft.olt_port.trim().to_string(),
            "onu_id" => row.onu_id = draft.onu_id.trim().to_string(),
            "status" => match model::parse_status(&draft.status) {
                Some(status) => row.status = status.into(),
                None if draft.status.trim().is_empty() => {}
                None => fail(
                    "status",
                    format!(
                        "`{}` is not one of {}",
                        draft.status,
                        model::STATUSES.join(", ")
                    ),
                ),
            },
            "last_seen_at" => row.last_seen_at = draft.last_seen_at,
            "lat" => row.lat = draft.lat,
            "lng" => row.lng = draft.lng,
            other => unreachable!("field {other} is in UPDATABLE_FIELDS but not applied"),
        }
    }
    if row.name.is_empty() {
        fail("name", "is required".into());
    }
    if row.r#type.is_empty() && !fields.contains(&"type") {
        fail("type", "is required".into());
    }
    for (field, value, max) in [
        ("name", &row.name, 200),
        ("vendor", &row.vendor, 200),
        ("model", &row.model, 200),
        ("serial", &row.serial, 200),
        ("site", &row.site, 200),
        ("ward", &row.ward, 100),
        ("olt_chassis", &row.olt_chassis, 100),
        ("olt_slot", &row.olt_slot, 100),
        ("olt_port", &row.olt_port, 100),
        ("onu_id", &row.onu_id, 100),
    ] {
        if value.chars().count() > max {
            fail(field, format!("must be at most {max} characters"));
        }
    }
    check_position(&mut fail, row.lat, row.lng);
    if bad.is_empty() {
        Ok(())
    } else {
        Err(AppError::InvalidArgument(bad))
    }
}

/// Latitude and longitude: both or neither, finite and in range.
pub fn check_position(fail: &mut impl FnMut(&str, String), lat: Option<f64>, lng: Option<f64>) {
    if lat.is_some() != lng.is_some() {
        fail("lat", "lat and lng go together".into());
    }
    if let Some(lat) = lat
        && !(-90.0..=90.0).contains(&lat)
    {
        fail("lat", "must be between -90 and 90".into());
    }
    if let Some(lng) = lng
        && !(-180.0..=180.0).contains(&lng)
    {
        fail("lng", "must be between -180 and 180".into());
    }
}

async fn record(
    tx: &impl ConnectionTrait,
    ctx: &RequestContext,
    action: &str,
    before: Option<&Model>,
    after: Option<&Model>,
    at: DateTime<Utc>,
) -> AppResult<()> {
    let id = before.or(after).map(|row| row.id).unwrap_or_default();
    audit::record_rows(tx, ctx, at, NAME, action, id, (before, after)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_text_is_escaped_not_a_pattern() {
        assert_eq!(contains_pattern("OLT_1"), "%olt\\_1%");
        assert_eq!(contains_pattern("100%"), "%100\\%%");
        assert_eq!(contains_pattern("a\\b"), "%a\\\\b%");
        assert_eq!(contains_pattern(".*("), "%.*(%");
    }
}
