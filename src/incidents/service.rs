//! Incident rules: creation with placement (device → PON → map position), routing and SLA;
//! partial updates; the status machine with its times and breach flags; assignment; closure
//! evidence; SMME callers see only their organization's incidents; an audit entry per change.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait,
    IntoActiveModel, QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
};
use uuid::Uuid;

use super::maintenance::WindowCache;
use super::model::{
    self, Category, ClosurePhoto, Column, Entity, FIX_CODES, Model, Severity, Status, signal,
};
use super::routing::{self, Route};
use super::signals::{self, SignalBatcher, signal_row};
use crate::audit;
use crate::auth::Role;
use crate::clock::Clock;
use crate::context::RequestContext;
use crate::devices;
use crate::error::{AppError, AppResult, FieldViolation};
use crate::fieldmask;
use crate::organizations::model::organization;
use crate::organizations::store;
use crate::paging;
use crate::pons;

const PAGE_KIND: &str = "incident";
const NAME: &str = "incident";

pub const UPDATABLE_FIELDS: &[&str] = &[
    "title",
    "description",
    "severity",
    "category",
    "device_id",
    "pon_id",
    "ward",
    "site",
    "related_onu_id",
];

/// An incident as a person describes it.
#[derive(Clone, Debug, Default)]
pub struct IncidentDraft {
    pub title: String,
    pub description: String,
    pub severity: String,
    /// Empty means `other`.
    pub category: String,
    pub device_id: Option<Uuid>,
    pub pon_id: Option<Uuid>,
    pub ward: String,
    pub site: String,
    pub related_onu_id: String,
    /// When the fault began (default now; not in the future).
    pub opened_at: Option<DateTime<Utc>>,
}

/// What closing an incident takes: root cause, fix code, where it was closed and photo evidence.
#[derive(Clone, Debug, Default)]
pub struct Closure {
    pub root_cause: String,
    pub fix_code: String,
    pub notes: String,
    pub lat: Option<f64>,
    pub lng: Option<f64>,
    pub photos: Vec<ClosurePhoto>,
}

#[derive(Clone, Debug, Default)]
pub struct IncidentFilter {
    pub status: Option<String>,
    pub severity: Option<String>,
    pub category: Option<String>,
    pub device_id: Option<Uuid>,
    pub pon_id: Option<Uuid>,
    pub ward: Option<String>,
    pub site: Option<String>,
    pub assigned_org_id: Option<Uuid>,
    /// Plain text searched literally in the title.
    pub q: Option<String>,
}

/// A fault reported by a system (NMS webhook, optical evaluation, config check).
#[derive(Clone, Debug)]
pub struct SystemAlert {
    pub tenant_id: Uuid,
    pub device_id: Option<Uuid>,
    /// How the source names the device, when `device_id` is not known: looked up only when
    /// the alert needs it (not for a repeat of an event id the source numbers).
    pub device_identity: Option<DeviceIdentity>,
    pub pon_id: Option<Uuid>,
    pub category: Category,
    pub severity: Severity,
    pub title: String,
    pub description: String,
    /// `LibreNMS`, `Zabbix`, `Oxidized`, `Optical`, ...
    pub source: String,
    /// The source's id of the event: repeats with it fold into the incident while it is
    /// active. Without one, repeats for the same device (or title) and category fold in
    /// for 30 minutes after opening.
    pub source_event_id: Option<String>,
    /// The payload as received, kept as a signal on the incident.
    pub payload: Option<String>,
}

/// A device as an NMS names it: host name, management IP, serial (tried in that order).
#[derive(Clone, Debug, Default)]
pub struct DeviceIdentity {
    pub name: Option<String>,
    pub mgmt_ip: Option<String>,
    pub serial: Option<String>,
}

/// What became of a [`SystemAlert`].
#[derive(Clone, Debug)]
pub enum AlertOutcome {
    Opened(Model),
    /// A repeat, folded into this incident.
    Deduplicated(Model),
    /// Dropped: an active maintenance window covers it.
    Suppressed,
}

/// How long repeats without an event id fold into the incident they opened.
const DEDUP_WINDOW_MINUTES: i64 = 30;

pub struct IncidentService {
    pub(super) db: DatabaseConnection,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) windows: WindowCache,
    signals: SignalBatcher,
}

impl IncidentService {
    pub fn new(db: DatabaseConnection, clock: Arc<dyn Clock>) -> Self {
        IncidentService {
            db,
            clock,
            windows: WindowCache::default(),
            signals: SignalBatcher::default(),
        }
    }

    pub async fn create(&self, ctx: &RequestContext, draft: IncidentDraft) -> AppResult<Model> {
        let now = self.clock.now();
        let mut row = blank(ctx.tenant_id, now);
        row.created_by = ctx.user_id();
        apply(&mut row, &draft, UPDATABLE_FIELDS)?;
        if let Some(opened) = draft.opened_at {
            if opened > now {
                return Err(AppError::invalid(
                    "incident.opened_at",
                    "must not be in the future",
                ));
            }
            row.opened_at = opened;
        }
        self.place(&mut row, true).await?;
        let route = routing::route(
            &self.db,
            row.tenant_id,
            row.pon_id,
            &row.ward,
            row.category(),
            now.date_naive(),
        )
        .await?;
        routing::apply_sla(&mut row, &route);
        let tx = self.db.begin().await?;
        let row = store::insert::<Entity>(&tx, row).await?;
        record(&tx, ctx, "create", None, Some(&row), now).await?;
        tx.commit().await?;
        Ok(row)
    }

    pub async fn get(&self, ctx: &RequestContext, id: Uuid) -> AppResult<Model> {
        store::find::<Entity>(&self.db, ctx.tenant_id, own_organization(ctx)?, id)
            .await?
            .ok_or_else(|| AppError::not_found(format!("incident {id} not found")))
    }

    /// Newest first.
    pub async fn list(
        &self,
        ctx: &RequestContext,
        filter: &IncidentFilter,
        page_size: i32,
        page_token: &str,
    ) -> AppResult<(Vec<Model>, Option<String>)> {
        let limit = paging::page_limit(page_size)?;
        let before = paging::decode_token(PAGE_KIND, page_token)?;
        let mut query = Entity::find()
            .filter(Column::TenantId.eq(ctx.tenant_id))
            .filter(condition(filter)?);
        if let Some(organization) = own_organization(ctx)? {
            query = query.filter(Column::AssignedOrgId.eq(organization));
        }
        if let Some(before) = before {
            query = query.filter(Column::Id.lt(before));
        }
        let rows = query
            .order_by_desc(Column::Id)
            .limit(limit + 1)
            .all(&self.db)
            .await?;
        Ok(paging::into_page(PAGE_KIND, rows, limit, |row| row.id))
    }

    /// Changes the descriptive fields named in `mask`; a new severity, PON or ward re-routes
    /// and recomputes the SLA targets.
    pub async fn update(
        &self,
        ctx: &RequestContext,
        id: Uuid,
        draft: IncidentDraft,
        mask: &[String],
    ) -> AppResult<Model> {
        let fields = fieldmask::resolve(mask, UPDATABLE_FIELDS, "incident")?;
        let before = self.get(ctx, id).await?;
        if before.status() == Status::Closed {
            return Err(AppError::FailedPrecondition(
                "a closed incident cannot be changed".into(),
            ));
        }
        let mut row = before.clone();
        apply(&mut row, &draft, &fields)?;
        if row.device_id != before.device_id || row.pon_id != before.pon_id {
            self.place(&mut row, true).await?;
        }
        if row.severity != before.severity
            || row.pon_id != before.pon_id
            || row.ward != before.ward
            || row.category != before.category
        {
            let route = match row.assigned_org_id {
                Some(organization) => {
                    self.route_to(row.tenant_id, organization, &row, self.clock.now())
                        .await?
                }
                None => {
                    routing::route(
                        &self.db,
                        row.tenant_id,
                        row.pon_id,
                        &row.ward,
                        row.category(),
                        self.clock.now().date_naive(),
                    )
                    .await?
                }
            };
            routing::apply_sla(&mut row, &route);
        }
        self.save(ctx, "update", &before, row).await
    }

    /// Moves the incident to `next` if that is a legal move, setting its times and breach flags.
    pub async fn transition(
        &self,
        ctx: &RequestContext,
        id: Uuid,
        next: Status,
    ) -> AppResult<Model> {
        let before = self.get(ctx, id).await?;
        if next == Status::Closed {
            return Err(AppError::FailedPrecondition(
                "an incident is closed through its close request, with root cause, fix code, GPS and photos".into(),
            ));
        }
        let mut row = before.clone();
        move_to(&mut row, next, self.clock.now())?;
        self.save(ctx, "transition", &before, row).await
    }

    /// Assigns the incident to an organization of the tenant; the SLA comes from its active
    /// contract for the fault's scope (else any active contract, else the legacy table).
    pub async fn assign(
        &self,
        ctx: &RequestContext,
        id: Uuid,
        organization_id: Uuid,
    ) -> AppResult<Model> {
        let before = self.get(ctx, id).await?;
        if before.status() == Status::Closed {
            return Err(AppError::FailedPrecondition(
                "a closed incident cannot be reassigned".into(),
            ));
        }
        if store::find::<organization::Entity>(&self.db, ctx.tenant_id, None, organization_id)
            .await?
            .is_none()
        {
            return Err(AppError::invalid(
                "organization_id",
                format!("organization {organization_id} does not exist"),
            ));
        }
        let mut row = before.clone();
        let route = self
            .route_to(ctx.tenant_id, organization_id, &row, self.clock.now())
            .await?;
        routing::apply_sla(&mut row, &route);
        self.save(ctx, "assign", &before, row).await
    }

    /// Closes a resolved (or monitoring) incident with its evidence; every missing piece is named.
    pub async fn close(
        &self,
        ctx: &RequestContext,
        id: Uuid,
        closure: Closure,
    ) -> AppResult<Model> {
        let before = self.get(ctx, id).await?;
        let mut bad = Vec::new();
        let mut fail = |field: &str, description: String| {
            bad.push(FieldViolation {
                field: field.to_string(),
                description,
            })
        };
        let root_cause = closure.root_cause.trim();
        if root_cause.is_empty() {
            fail("root_cause", "is required".into());
        } else if root_cause.chars().count() > 2000 {
            fail("root_cause", "must be at most 2000 characters".into());
        }
        let fix_code = closure.fix_code.trim();
        if fix_code.is_empty() {
            fail("fix_code", "is required".into());
        } else if !FIX_CODES.contains(&fix_code) {
            fail(
                "fix_code",
                format!("`{fix_code}` is not one of {}", FIX_CODES.join(", ")),
            );
        }
        match (closure.lat, closure.lng) {
            (Some(_), Some(_)) => {
                devices::service::check_position(&mut fail, closure.lat, closure.lng)
            }
            _ => fail(
                "lat",
                "GPS coordinates (lat and lng) are required on closure".into(),
            ),
        }
        if closure.photos.is_empty() {
            fail("photos", "at least one closure photo is required".into());
        }
        for (index, photo) in closure.photos.iter().enumerate() {
            if let Err(problem) = check_object_key(&photo.object_key) {
                fail(&format!("photos[{index}].object_key"), problem.into());
            }
        }
        if closure.notes.chars().count() > 10_000 {
            fail("closure_notes", "must be at most 10000 characters".into());
        }
        if !bad.is_empty() {
            return Err(AppError::InvalidArgument(bad));
        }
        let now = self.clock.now();
        let mut row = before.clone();
        if row.status() == Status::Monitoring {
            move_to(&mut row, Status::Resolved, now)?;
        }
        move_to(&mut row, Status::Closed, now)?;
        row.root_cause = root_cause.to_string();
        row.fix_code = fix_code.to_string();
        row.closure_notes = closure.notes.trim().to_string();
        row.closure_photos = serde_json::to_string(&closure.photos).map_err(AppError::internal)?;
        row.closure_lat = closure.lat;
        row.closure_lng = closure.lng;
        row.closure_captured_at = Some(now);
        self.save(ctx, "close", &before, row).await
    }

    /// The newest signals of an incident the caller can see.
    pub async fn signals(&self, ctx: &RequestContext, id: Uuid) -> AppResult<Vec<signal::Model>> {
        self.get(ctx, id).await?;
        Ok(signal::Entity::find()
            .filter(signal::Column::IncidentId.eq(id))
            .filter(signal::Column::TenantId.eq(ctx.tenant_id))
            .order_by_desc(signal::Column::Id)
            .limit(model::MAX_SIGNALS)
            .all(&self.db)
            .await?)
    }

    /// Opens an incident for a system's alert, applying placement, routing and SLA like a manual
    /// one; suppressed during a covering maintenance window; repeats fold into the incident
    /// they opened (race-free: the dedup key is unique per tenant).
    pub async fn raise(&self, mut alert: SystemAlert) -> AppResult<AlertOutcome> {
        let now = self.clock.now();
        // The hot path of a storm: a repeat of a numbered event folds in before anything else
        // (device, placement, routing) is looked up.
        let numbered = event_key(&alert);
        if let Some(key) = &numbered
            && let Some(existing) = self.by_key(alert.tenant_id, key).await?
        {
            return self.fold_in(existing, alert.payload.as_deref(), now).await;
        }
        self.identify_device(&mut alert).await?;
        let ctx = system_context(alert.tenant_id);
        let mut row = blank(alert.tenant_id, now);
        row.title = alert.title.trim().chars().take(500).collect();
        if row.title.is_empty() {
            row.title = format!("{} alert", alert.source);
        }
        row.description = alert.description.chars().take(10_000).collect();
        row.severity = alert.severity.as_str().into();
        row.category = alert.category.as_str().into();
        row.device_id = alert.device_id;
        row.pon_id = alert.pon_id;
        row.nms_source = alert.source.clone();
        row.nms_event_id = alert.source_event_id.clone().unwrap_or_default();
        let key = dedup_key(&alert, &row);
        let payload = alert.payload.as_deref();
        if numbered.is_none()
            && let Some(existing) = self.by_key(row.tenant_id, &key).await?
            && absorbs(&alert, &existing, now)
        {
            return self.fold_in(existing, payload, now).await;
        }
        self.place(&mut row, false).await?;
        let route = routing::route(
            &self.db,
            row.tenant_id,
            row.pon_id,
            &row.ward,
            row.category(),
            now.date_naive(),
        )
        .await?;
        routing::apply_sla(&mut row, &route);
        if self.windows.covers(&self.db, now, &row).await? {
            return Ok(AlertOutcome::Suppressed);
        }
        for _ in 0..5 {
            if let Some(existing) = self.by_key(row.tenant_id, &key).await? {
                if absorbs(&alert, &existing, now) {
                    return self.fold_in(existing, payload, now).await;
                }
                // The repeat window is over: the old incident stops absorbing repeats.
                release_key(&self.db, existing.id, &key).await?;
            }
            row.id = Uuid::now_v7();
            row.dedup_key = Some(key.clone());
            let tx = self.db.begin().await?;
            match store::insert::<Entity>(&tx, row.clone()).await {
                Ok(_) => {}
                Err(AppError::AlreadyExists(_)) => {
                    tx.rollback().await?;
                    continue;
                }
                Err(other) => return Err(other),
            }
            if let Some(payload) = payload {
                signals::store(&tx, vec![signal_row(&row, "raw", payload, now)]).await?;
            }
            record(&tx, &ctx, "create", None, Some(&row), now).await?;
            tx.commit().await?;
            return Ok(AlertOutcome::Opened(row));
        }
        Err(AppError::Unavailable(
            "too many concurrent alerts for one incident; retry".into(),
        ))
    }

    /// A repeat folds into `existing` (kept as a signal), unless a maintenance window covers it.
    async fn fold_in(
        &self,
        existing: Model,
        payload: Option<&str>,
        now: DateTime<Utc>,
    ) -> AppResult<AlertOutcome> {
        if self.windows.covers(&self.db, now, &existing).await? {
            return Ok(AlertOutcome::Suppressed);
        }
        if let Some(payload) = payload {
            self.signals
                .add(&self.db, signal_row(&existing, "update", payload, now))
                .await?;
        }
        Ok(AlertOutcome::Deduplicated(existing))
    }

    /// Resolves the active incident the alert opened (its clear or recovery), if there is one.
    pub async fn recover(&self, mut alert: SystemAlert) -> AppResult<Option<Model>> {
        let now = self.clock.now();
        if event_key(&alert).is_none() {
            self.identify_device(&mut alert).await?;
        }
        let ctx = system_context(alert.tenant_id);
        let mut probe = blank(alert.tenant_id, now);
        probe.device_id = alert.device_id;
        probe.title = alert.title.clone();
        let key = dedup_key(&alert, &probe);
        let Some(before) = self.by_key(alert.tenant_id, &key).await? else {
            return Ok(None);
        };
        let mut row = before.clone();
        move_to(&mut row, Status::Resolved, now)?;
        let tx = self.db.begin().await?;
        let row = match update_if_status(&tx, row, before.status()).await {
            Ok(row) => row,
            // Someone else moved it meanwhile: nothing left for this clear to resolve.
            Err(AppError::NotFound(_)) => return Ok(None),
            Err(other) => return Err(other),
        };
        if let Some(payload) = alert.payload.as_deref() {
            signals::store(&tx, vec![signal_row(&row, "recovery", payload, now)]).await?;
        }
        record(&tx, &ctx, "transition", Some(&before), Some(&row), now).await?;
        tx.commit().await?;
        Ok(Some(row))
    }

    /// The PONs and devices of the caller's tenant that `incidents` name, by id (for answers
    /// that embed them, like the legacy list).
    pub async fn referenced(
        &self,
        ctx: &RequestContext,
        incidents: &[Model],
    ) -> AppResult<(
        HashMap<Uuid, pons::model::Model>,
        HashMap<Uuid, devices::model::Model>,
    )> {
        let pon_ids: HashSet<Uuid> = incidents.iter().filter_map(|row| row.pon_id).collect();
        let device_ids: HashSet<Uuid> = incidents.iter().filter_map(|row| row.device_id).collect();
        let pons = pons::model::Entity::find()
            .filter(pons::model::Column::TenantId.eq(ctx.tenant_id))
            .filter(pons::model::Column::Id.is_in(pon_ids))
            .all(&self.db)
            .await?;
        let devices = devices::model::Entity::find()
            .filter(devices::model::Column::TenantId.eq(ctx.tenant_id))
            .filter(devices::model::Column::Id.is_in(device_ids))
            .all(&self.db)
            .await?;
        Ok((
            pons.into_iter().map(|pon| (pon.id, pon)).collect(),
            devices
                .into_iter()
                .map(|device| (device.id, device))
                .collect(),
        ))
    }

    /// Sets the alert's device from its identity, if it names one of the tenant's devices.
    async fn identify_device(&self, alert: &mut SystemAlert) -> AppResult<()> {
        if alert.device_id.is_none()
            && let Some(identity) = alert.device_identity.take()
        {
            let device = devices::service::find_by_identity(
                &self.db,
                alert.tenant_id,
                identity.name.as_deref(),
                identity.mgmt_ip.as_deref(),
                identity.serial.as_deref(),
            )
            .await?;
            alert.device_id = device.map(|device| device.id);
        }
        Ok(())
    }

    async fn by_key(&self, tenant_id: Uuid, key: &str) -> AppResult<Option<Model>> {
        Ok(Entity::find()
            .filter(Column::TenantId.eq(tenant_id))
            .filter(Column::DedupKey.eq(key))
            .one(&self.db)
            .await?)
    }

    /// Stores a change made from `before` (refused if the incident moved meanwhile) with its audit entry.
    async fn save(
        &self,
        ctx: &RequestContext,
        action: &str,
        before: &Model,
        mut row: Model,
    ) -> AppResult<Model> {
        let now = self.clock.now();
        row.updated_at = now;
        let tx = self.db.begin().await?;
        let row = update_if_status(&tx, row, before.status())
            .await
            .map_err(|err| match err {
                AppError::NotFound(_) => AppError::FailedPrecondition(
                    "the incident changed meanwhile; reload and retry".into(),
                ),
                other => other,
            })?;
        record(&tx, ctx, action, Some(before), Some(&row), now).await?;
        tx.commit().await?;
        Ok(row)
    }

    /// The route to a chosen organization: its contract for the fault's scope, else any active one.
    async fn route_to(
        &self,
        tenant_id: Uuid,
        organization_id: Uuid,
        row: &Model,
        now: DateTime<Utc>,
    ) -> AppResult<Route> {
        let today = now.date_naive();
        let mut contract = routing::active_contract(
            &self.db,
            tenant_id,
            organization_id,
            Some(row.category().scope()),
            &row.ward,
            today,
        )
        .await?;
        if contract.is_none() {
            contract = routing::active_contract(
                &self.db,
                tenant_id,
                organization_id,
                None,
                &row.ward,
                today,
            )
            .await?;
        }
        Ok(Route {
            organization_id: Some(organization_id),
            contract,
        })
    }

    /// Fills PON, ward, site and map position from the device, then from the PON. With
    /// `strict`, a device or PON not of the tenant is a bad field; otherwise it is dropped.
    async fn place(&self, row: &mut Model, strict: bool) -> AppResult<()> {
        if let Some(device_id) = row.device_id {
            match store::find::<devices::model::Entity>(&self.db, row.tenant_id, None, device_id)
                .await?
            {
                Some(device) => {
                    if row.pon_id.is_none() {
                        row.pon_id = device.pon_id;
                    }
                    if row.ward.is_empty() {
                        row.ward = device.ward.clone();
                    }
                    if row.site.is_empty() {
                        row.site = device.site.clone();
                    }
                    if row.related_onu_id.is_empty() {
                        row.related_onu_id = device.onu_id.clone();
                    }
                    if device.lat.is_some() {
                        row.lat = device.lat;
                        row.lng = device.lng;
                    }
                }
                None if strict => {
                    return Err(AppError::invalid(
                        "incident.device_id",
                        format!("device {device_id} does not exist"),
                    ));
                }
                None => row.device_id = None,
            }
        }
        if let Some(pon_id) = row.pon_id {
            let pon = pons::model::Entity::find_by_id(pon_id)
                .filter(pons::model::Column::TenantId.eq(row.tenant_id))
                .one(&self.db)
                .await?;
            match pon {
                Some(pon) => {
                    if row.ward.is_empty() {
                        row.ward = pon.ward.clone();
                    }
                    if row.lat.is_none() {
                        row.lat = pon.lat;
                        row.lng = pon.lng;
                    }
                }
                None if strict => {
                    return Err(AppError::invalid(
                        "incident.pon_id",
                        format!("PON {pon_id} does not exist"),
                    ));
                }
                None => row.pon_id = None,
            }
        }
        Ok(())
    }
}

/// SMME callers see only the incidents assigned to their organization.
fn own_organization(ctx: &RequestContext) -> AppResult<Option<Uuid>> {
    match ctx.principal.as_ref() {
        Some(principal) if principal.role == Role::Smme => principal
            .organization_id
            .map(Some)
            .ok_or_else(|| AppError::PermissionDenied("an SMME user needs an organization".into())),
        _ => Ok(None),
    }
}

/// The context of changes made by the system itself (audited without an actor).
fn system_context(tenant_id: Uuid) -> RequestContext {
    RequestContext {
        tenant_id,
        principal: None,
    }
}

fn blank(tenant_id: Uuid, now: DateTime<Utc>) -> Model {
    Model {
        id: Uuid::now_v7(),
        tenant_id,
        title: String::new(),
        description: String::new(),
        severity: Severity::P3.as_str().into(),
        category: Category::Other.as_str().into(),
        status: Status::Open.as_str().into(),
        device_id: None,
        pon_id: None,
        ward: String::new(),
        site: String::new(),
        related_onu_id: String::new(),
        nms_source: String::new(),
        nms_event_id: String::new(),
        dedup_key: None,
        opened_at: now,
        acknowledged_at: None,
        resolved_at: None,
        closed_at: None,
        respond_by: now,
        restore_by: now,
        breached_respond: false,
        breached_restore: false,
        assigned_org_id: None,
        sla_source: "default".into(),
        root_cause: String::new(),
        fix_code: String::new(),
        closure_notes: String::new(),
        closure_photos: "[]".into(),
        closure_lat: None,
        closure_lng: None,
        closure_captured_at: None,
        lat: None,
        lng: None,
        created_by: None,
        created_at: now,
        updated_at: now,
    }
}

/// The key repeats of an alert share: its source and event id, or without one its source,
/// device (else title) and category.
fn dedup_key(alert: &SystemAlert, row: &Model) -> String {
    event_key(alert).unwrap_or_else(|| {
        let subject = row.device_id.map_or_else(
            || format!("title:{}", row.title),
            |id| format!("device:{id}"),
        );
        format!("{}|{subject}|{}", alert.source, alert.category.as_str())
    })
}

/// The dedup key of an alert whose source numbers its events.
fn event_key(alert: &SystemAlert) -> Option<String> {
    let event = alert.source_event_id.as_deref().map(str::trim)?;
    (!event.is_empty()).then(|| format!("{}|id|{event}", alert.source))
}

/// Whether a repeat of `alert` folds into `existing`: always with an event id, else within the
/// 30 minutes after it opened.
fn absorbs(alert: &SystemAlert, existing: &Model, now: DateTime<Utc>) -> bool {
    alert.source_event_id.is_some()
        || existing.opened_at >= now - chrono::Duration::minutes(DEDUP_WINDOW_MINUTES)
}

/// Moves the row to `next` (legal moves only) and sets the times and breach flags it implies.
fn move_to(row: &mut Model, next: Status, now: DateTime<Utc>) -> AppResult<()> {
    let current = row.status();
    if !current.can_move_to(next) {
        return Err(AppError::FailedPrecondition(format!(
            "an incident cannot move from {} to {}",
            current.as_str(),
            next.as_str()
        )));
    }
    match next {
        Status::Acknowledged | Status::InProgress => {
            if row.acknowledged_at.is_none() {
                row.acknowledged_at = Some(now);
                row.breached_respond = now > row.respond_by;
            }
            if next == Status::InProgress {
                // Reopened or relapsed: the service is down again.
                row.resolved_at = None;
            }
        }
        Status::Monitoring | Status::Resolved => {
            if row.resolved_at.is_none() {
                row.resolved_at = Some(now);
                row.breached_restore = now > row.restore_by;
            }
            if row.acknowledged_at.is_none() {
                row.breached_respond = now > row.respond_by;
            }
        }
        Status::Closed => row.closed_at = Some(now),
        Status::Open => {}
    }
    if !next.is_active() {
        row.dedup_key = None;
    }
    row.status = next.as_str().into();
    Ok(())
}

/// A photo's object key: a relative storage path without `..`.
fn check_object_key(key: &str) -> Result<(), &'static str> {
    let key = key.trim();
    if key.is_empty() {
        return Err("is required");
    }
    if key.len() > 1024 {
        return Err("must be at most 1024 bytes");
    }
    if key.starts_with('/') || key.split('/').any(|part| part == ".." || part.is_empty()) {
        return Err("must be a relative object key without empty or `..` segments");
    }
    if key.chars().any(char::is_control) {
        return Err("must not contain control characters");
    }
    Ok(())
}

/// Stores the row only if its status is still `expected` (NotFound otherwise).
async fn update_if_status(
    db: &impl ConnectionTrait,
    row: Model,
    expected: Status,
) -> AppResult<Model> {
    let result = Entity::update_many()
        .set(row.clone().into_active_model().reset_all())
        .filter(Column::Id.eq(row.id))
        .filter(Column::TenantId.eq(row.tenant_id))
        .filter(Column::Status.eq(expected.as_str()))
        .exec(db)
        .await?;
    if result.rows_affected == 1 {
        Ok(row)
    } else {
        Err(AppError::not_found("the incident moved meanwhile"))
    }
}

/// Stops an incident absorbing repeats of `key` (no-op if someone else already did).
async fn release_key(db: &impl ConnectionTrait, id: Uuid, key: &str) -> AppResult<()> {
    Entity::update_many()
        .col_expr(
            Column::DedupKey,
            sea_orm::sea_query::Expr::value(Option::<String>::None),
        )
        .filter(Column::Id.eq(id))
        .filter(Column::DedupKey.eq(key))
        .exec(db)
        .await?;
    Ok(())
}

fn condition(filter: &IncidentFilter) -> AppResult<Condition> {
    let mut all = Condition::all();
    if let Some(status) = &filter.status {
        let status = Status::parse(status).ok_or_else(|| {
            AppError::invalid("status", format!("`{status}` is not an incident status"))
        })?;
        all = all.add(Column::Status.eq(status.as_str()));
    }
    if let Some(severity) = &filter.severity {
        let severity = Severity::parse(severity).ok_or_else(|| {
            AppError::invalid(
                "severity",
                format!("`{severity}` is not one of P1, P2, P3, P4"),
            )
        })?;
        all = all.add(Column::Severity.eq(severity.as_str()));
    }
    if let Some(category) = &filter.category {
        let category = Category::parse(category).ok_or_else(|| {
            AppError::invalid(
                "category",
                format!("`{category}` is not an incident category"),
            )
        })?;
        all = all.add(Column::Category.eq(category.as_str()));
    }
    if let Some(device) = filter.device_id {
        all = all.add(Column::DeviceId.eq(device));
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
    if let Some(organization) = filter.assigned_org_id {
        all = all.add(Column::AssignedOrgId.eq(organization));
    }
    if let Some(q) = filter.q.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
        if q.chars().count() > 200 {
            return Err(AppError::invalid("q", "must be at most 200 characters"));
        }
        all = all.add(devices::service::search(&[Column::Title], q));
    }
    Ok(all)
}

/// Copies the named fields of the draft onto the row and checks them, naming every bad one.
fn apply(row: &mut Model, draft: &IncidentDraft, fields: &[&str]) -> AppResult<()> {
    let mut bad = Vec::new();
    let mut fail = |field: &str, description: String| {
        bad.push(FieldViolation {
            field: format!("incident.{field}"),
            description,
        })
    };
    for field in fields {
        match *field {
            "title" => row.title = draft.title.trim().to_string(),
            "description" => row.description = draft.description.trim().to_string(),
            "severity" => match Severity::parse(&draft.severity) {
                Some(severity) => row.severity = severity.as_str().into(),
                None if draft.severity.trim().is_empty() => fail("severity", "is required".into()),
                None => fail(
                    "severity",
                    format!("`{}` is not one of P1, P2, P3, P4", draft.severity),
                ),
            },
            "category" => match Category::parse(&draft.category) {
                Some(category) => row.category = category.as_str().into(),
                None if draft.category.trim().is_empty() => {
                    row.category = Category::Other.as_str().into()
                }
                None => fail(
                    "category",
                    format!(
                        "`{}` is not a category: use one of {} (or Power, Optical, Link, Device, Capacity, Config)",
                        draft.category,
                        Category::ALL.map(Category::as_str).join(", ")
                    ),
                ),
            },
            "device_id" => row.device_id = draft.device_id,
            "pon_id" => row.pon_id = draft.pon_id,
            "ward" => row.ward = draft.ward.trim().to_string(),
            "site" => row.site = draft.site.trim().to_string(),
            "related_onu_id" => row.related_onu_id = draft.related_onu_id.trim().to_string(),
            other => unreachable!("field {other} is in UPDATABLE_FIELDS but not applied"),
        }
    }
    if row.title.is_empty() {
        fail("title", "is required".into());
    }
    for (field, value, max) in [
        ("title", &row.title, 500),
        ("description", &row.description, 10_000),
        ("ward", &row.ward, 100),
        ("site", &row.site, 200),
        ("related_onu_id", &row.related_onu_id, 100),
    ] {
        if value.chars().count() > max {
            fail(field, format!("must be at most {max} characters"));
        }
    }
    if bad.is_empty() {
        Ok(())
    } else {
        Err(AppError::InvalidArgument(bad))
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
    fn object_keys_are_relative_paths() {
        assert!(check_object_key("photos/2026/a.jpg").is_ok());
        assert!(check_object_key("").is_err());
        assert!(check_object_key("/etc/passwd").is_err());
        assert!(check_object_key("a/../b").is_err());
    }

    #[test]
    fn moves_set_times_and_breaches() {
        let opened = Utc::now() - chrono::Duration::hours(3);
        let mut row = blank(Uuid::nil(), opened);
        routing::apply_sla(&mut row, &Route::default());
        row.dedup_key = Some("k".into());
        let err = move_to(&mut row, Status::Closed, Utc::now()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "an incident cannot move from open to closed"
        );
        move_to(&mut row, Status::Acknowledged, Utc::now()).unwrap();
        assert!(row.acknowledged_at.is_some());
        assert!(!row.breached_respond, "P3 respond target is 4 h");
        move_to(&mut row, Status::Resolved, Utc::now()).unwrap();
        assert!(!row.breached_restore);
        assert_eq!(row.dedup_key, None);
    }
}
