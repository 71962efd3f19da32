//! PON rules: validation of every field, field-mask updates, tenant scoping, the
//! completion date, and keyset pagination. Surfaces (gRPC, REST, legacy) call this.

use std::sync::Arc;

use chrono::NaiveDate;
use sea_orm::DatabaseConnection;
use uuid::Uuid;

use super::model::{Equipment, Model, PonStatus};
use super::store::{self, Visibility};
use crate::auth::Role;
use crate::clock::Clock;
use crate::context::RequestContext;
use crate::error::{AppError, AppResult, FieldViolation};
use crate::{fieldmask, paging};

/// Default radius of a PON's geofence, as in both old systems.
pub const DEFAULT_GEOFENCE_RADIUS_M: i32 = 200;
pub const MAX_GEOFENCE_RADIUS_M: i32 = 50_000;
/// Page tokens of PON listings.
const PAGE_KIND: &str = "pon";

/// Every field a caller may set, already parsed into domain types.
#[derive(Clone, Debug, Default)]
pub struct PonDraft {
    pub pon_code: String,
    pub name: String,
    pub location: String,
    pub ward: String,
    pub lat: Option<f64>,
    pub lng: Option<f64>,
    /// `None`: planned on create, unchanged on update.
    pub status: Option<PonStatus>,
    pub project_manager_id: Option<Uuid>,
    pub site_manager_id: Option<Uuid>,
    pub start_date: Option<NaiveDate>,
    pub expected_end_date: Option<NaiveDate>,
    pub fiber_count: i32,
    pub splitter_count: i32,
    pub equipment: Vec<Equipment>,
    pub notes: String,
    pub progress: i32,
    pub geofence_center_lat: Option<f64>,
    pub geofence_center_lng: Option<f64>,
    /// 0: the default radius.
    pub geofence_radius_m: i32,
}

/// The field-mask paths an update may name (the rest are set by the server).
pub const UPDATABLE_FIELDS: &[&str] = &[
    "pon_code",
    "name",
    "location",
    "ward",
    "lat",
    "lng",
    "status",
    "project_manager_id",
    "site_manager_id",
    "start_date",
    "expected_end_date",
    "fiber_count",
    "splitter_count",
    "equipment",
    "notes",
    "progress",
    "geofence_center_lat",
    "geofence_center_lng",
    "geofence_radius_m",
];

/// Filters and position of one page of a listing.
#[derive(Clone, Debug, Default)]
pub struct PonFilter {
    pub status: Option<PonStatus>,
    pub ward: Option<String>,
}

pub struct Page<T> {
    pub items: Vec<T>,
    pub next_page_token: Option<String>,
}

pub struct PonService {
    db: DatabaseConnection,
    clock: Arc<dyn Clock>,
}

impl PonService {
    pub fn new(db: DatabaseConnection, clock: Arc<dyn Clock>) -> Self {
        PonService { db, clock }
    }

    pub async fn create(&self, ctx: &RequestContext, draft: PonDraft) -> AppResult<Model> {
        let now = self.clock.now();
        let mut pon = Model {
            id: Uuid::now_v7(),
            tenant_id: ctx.tenant_id,
            pon_code: String::new(),
            name: String::new(),
            location: String::new(),
            ward: String::new(),
            lat: None,
            lng: None,
            status: PonStatus::Planned.as_str().into(),
            project_manager_id: None,
            site_manager_id: None,
            start_date: None,
            expected_end_date: None,
            actual_end_date: None,
            fiber_count: 0,
            splitter_count: 0,
            equipment: "[]".into(),
            notes: String::new(),
            progress: 0,
            geofence_center_lat: None,
            geofence_center_lng: None,
            geofence_radius_m: DEFAULT_GEOFENCE_RADIUS_M,
            sla_breaches: 0,
            created_at: now,
            updated_at: now,
        };
        apply(&mut pon, &draft, UPDATABLE_FIELDS)?;
        if ctx.role() == Some(Role::Pm) {
            // A project manager creates the PONs they manage (and so can see).
            let me = ctx.user_id();
            if pon.project_manager_id.is_some() && pon.project_manager_id != me {
                return Err(AppError::invalid(
                    "pon.project_manager_id",
                    "a project manager creates PONs that they manage",
                ));
            }
            pon.project_manager_id = me;
        }
        self.finish_status_change(&mut pon, PonStatus::Planned);
        validate(&pon)?;
        store::insert(&self.db, pon).await.map_err(duplicate_code)
    }

    pub async fn get(&self, ctx: &RequestContext, id: Uuid) -> AppResult<Model> {
        store::find(&self.db, ctx.tenant_id, visibility(ctx), id)
            .await?
            .ok_or_else(|| AppError::not_found(format!("PON {id} not found")))
    }

    /// Like [`get`](Self::get), but a PON of the tenant that the caller may not see is
    /// PERMISSION_DENIED rather than NOT_FOUND (the legacy API's 403).
    pub async fn get_or_denied(&self, ctx: &RequestContext, id: Uuid) -> AppResult<Model> {
        match self.get(ctx, id).await {
            Err(AppError::NotFound(text)) => {
                match store::find(&self.db, ctx.tenant_id, Visibility::All, id).await? {
                    Some(_) => Err(AppError::PermissionDenied("Access denied".into())),
                    None => Err(AppError::NotFound(text)),
                }
            }
            other => other,
        }
    }

    /// The tenant's PONs with these ids (to name them next to records the caller may read).
    pub async fn named(
        &self,
        ctx: &RequestContext,
        ids: &[Uuid],
    ) -> AppResult<std::collections::HashMap<Uuid, Model>> {
        Ok(store::find_many(&self.db, ctx.tenant_id, ids)
            .await?
            .into_iter()
            .map(|pon| (pon.id, pon))
            .collect())
    }

    pub async fn list(
        &self,
        ctx: &RequestContext,
        filter: &PonFilter,
        page_size: i32,
        page_token: &str,
    ) -> AppResult<Page<Model>> {
        let limit = paging::page_limit(page_size)?;
        let after = paging::decode_token(PAGE_KIND, page_token)?;
        let rows = store::list(
            &self.db,
            ctx.tenant_id,
            visibility(ctx),
            filter,
            after,
            limit + 1,
        )
        .await?;
        let (items, next_page_token) = paging::into_page(PAGE_KIND, rows, limit, |pon| pon.id);
        Ok(Page {
            items,
            next_page_token,
        })
    }

    /// Every PON matching `filter` that the caller may see, page by page.
    pub async fn list_all(
        &self,
        ctx: &RequestContext,
        filter: &PonFilter,
    ) -> AppResult<Vec<Model>> {
        paging::collect_pages(|token| async move {
            let page = self
                .list(ctx, filter, paging::MAX_PAGE_SIZE as i32, &token)
                .await?;
            Ok((page.items, page.next_page_token))
        })
        .await
    }

    /// Changes the fields named in `mask` (`*` names them all) to their values in `draft`.
    pub async fn update(
        &self,
        ctx: &RequestContext,
        id: Uuid,
        draft: PonDraft,
        mask: &[String],
    ) -> AppResult<Model> {
        let fields = fieldmask::resolve(mask, UPDATABLE_FIELDS, "PON")?;
        let stored = self.get(ctx, id).await?;
        let mut pon = stored.clone();
        apply(&mut pon, &draft, &fields)?;
        self.finish_status_change(&mut pon, stored.status());
        validate(&pon)?;
        pon.updated_at = self.clock.now();
        store::update(&self.db, stored, pon)
            .await
            .map_err(duplicate_code)
    }

    pub async fn delete(&self, ctx: &RequestContext, id: Uuid) -> AppResult<()> {
        // Only a PON the caller can see can be deleted.
        self.get(ctx, id).await?;
        if store::delete(&self.db, ctx.tenant_id, id).await? {
            Ok(())
        } else {
            Err(AppError::not_found(format!("PON {id} not found")))
        }
    }

    /// A PON that becomes completed gets its actual end date, once.
    fn finish_status_change(&self, pon: &mut Model, before: PonStatus) {
        if pon.status() == PonStatus::Completed
            && before != PonStatus::Completed
            && pon.actual_end_date.is_none()
        {
            pon.actual_end_date = Some(self.clock.now().date_naive());
        }
    }
}

/// Whether the caller may see PON `id` of its tenant.
pub async fn visible_to(
    db: &DatabaseConnection,
    ctx: &RequestContext,
    id: Uuid,
) -> AppResult<bool> {
    Ok(store::find(db, ctx.tenant_id, visibility(ctx), id)
        .await?
        .is_some())
}

/// The ids of the PONs the caller may see, as a subquery.
pub fn visible_pon_ids(ctx: &RequestContext) -> sea_orm::sea_query::SelectStatement {
    store::visible_ids(ctx.tenant_id, visibility(ctx))
}

/// ADMIN, AUDITOR and NOC see every PON of the tenant; a PM those they manage; a site manager
/// those they run; an SMME user those its organization is assigned to.
fn visibility(ctx: &RequestContext) -> Visibility {
    let Some(principal) = &ctx.principal else {
        return Visibility::Nothing;
    };
    match (principal.role, principal.user_id, principal.organization_id) {
        (Role::Admin | Role::Auditor | Role::Noc, _, _) => Visibility::All,
        (Role::Pm, Some(user), _) => Visibility::ManagedBy(user),
        (Role::Site, Some(user), _) => Visibility::SiteManagedBy(user),
        (Role::Smme, _, Some(organization)) => Visibility::AssignedTo(organization),
        _ => Visibility::Nothing,
    }
}

fn duplicate_code(err: AppError) -> AppError {
    match err {
        AppError::AlreadyExists(_) => {
            AppError::AlreadyExists("pon_code already exists in this tenant".into())
        }
        other => other,
    }
}

/// Copies the named fields of the draft onto the row.
fn apply(pon: &mut Model, draft: &PonDraft, fields: &[&str]) -> AppResult<()> {
    for field in fields {
        match *field {
            "pon_code" => pon.pon_code = draft.pon_code.trim().to_string(),
            "name" => pon.name = draft.name.trim().to_string(),
            "location" => pon.location = draft.location.trim().to_string(),
            "ward" => pon.ward = draft.ward.trim().to_string(),
            "lat" => pon.lat = draft.lat,
            "lng" => pon.lng = draft.lng,
            "status" => {
                if let Some(status) = draft.status {
                    pon.status = status.as_str().into();
                }
            }
            "project_manager_id" => pon.project_manager_id = draft.project_manager_id,
            "site_manager_id" => pon.site_manager_id = draft.site_manager_id,
            "start_date" => pon.start_date = draft.start_date,
            "expected_end_date" => pon.expected_end_date = draft.expected_end_date,
            "fiber_count" => pon.fiber_count = draft.fiber_count,
            "splitter_count" => pon.splitter_count = draft.splitter_count,
            "equipment" => {
                pon.equipment =
                    serde_json::to_string(&draft.equipment).map_err(AppError::internal)?;
            }
            "notes" => pon.notes = draft.notes.clone(),
            "progress" => pon.progress = draft.progress,
            "geofence_center_lat" => pon.geofence_center_lat = draft.geofence_center_lat,
            "geofence_center_lng" => pon.geofence_center_lng = draft.geofence_center_lng,
            "geofence_radius_m" => {
                pon.geofence_radius_m = match draft.geofence_radius_m {
                    0 => DEFAULT_GEOFENCE_RADIUS_M,
                    radius => radius,
                }
            }
            other => unreachable!("field {other} is in UPDATABLE_FIELDS but not applied"),
        }
    }
    Ok(())
}

/// Every rule a stored PON satisfies; all violations are reported at once.
pub fn validate(pon: &Model) -> AppResult<()> {
    let mut violations = Vec::new();
    let mut check = |ok: bool, field: &str, description: &str| {
        if !ok {
            violations.push(FieldViolation {
                field: format!("pon.{field}"),
                description: description.to_string(),
            });
        }
    };
    check(!pon.pon_code.is_empty(), "pon_code", "is required");
    check(
        pon.pon_code.chars().count() <= 64,
        "pon_code",
        "must be at most 64 characters",
    );
    check(
        !pon.pon_code.chars().any(char::is_whitespace),
        "pon_code",
        "must not contain spaces",
    );
    check(!pon.name.is_empty(), "name", "is required");
    check(
        pon.name.chars().count() <= 200,
        "name",
        "must be at most 200 characters",
    );
    check(
        pon.location.chars().count() <= 500,
        "location",
        "must be at most 500 characters",
    );
    check(
        pon.ward.chars().count() <= 100,
        "ward",
        "must be at most 100 characters",
    );
    check(
        pon.notes.chars().count() <= 10_000,
        "notes",
        "must be at most 10000 characters",
    );
    check_position(&mut check, pon.lat, pon.lng, "lat", "lng");
    check_position(
        &mut check,
        pon.geofence_center_lat,
        pon.geofence_center_lng,
        "geofence_center_lat",
        "geofence_center_lng",
    );
    check(pon.fiber_count >= 1, "fiber_count", "must be at least 1");
    check(
        pon.fiber_count <= 100_000,
        "fiber_count",
        "must be at most 100000",
    );
    check(
        pon.splitter_count >= 0,
        "splitter_count",
        "must not be negative",
    );
    check(
        pon.splitter_count <= 100_000,
        "splitter_count",
        "must be at most 100000",
    );
    check(
        (0..=100).contains(&pon.progress),
        "progress",
        "must be between 0 and 100",
    );
    check(
        (1..=MAX_GEOFENCE_RADIUS_M).contains(&pon.geofence_radius_m),
        "geofence_radius_m",
        "must be between 1 and 50000 metres",
    );
    if let (Some(start), Some(end)) = (pon.start_date, pon.expected_end_date) {
        check(
            end >= start,
            "expected_end_date",
            "must not be before start_date",
        );
    }
    let equipment = pon.equipment();
    check(
        equipment.len() <= 500,
        "equipment",
        "must have at most 500 items",
    );
    for (index, item) in equipment.iter().enumerate() {
        check(
            !item.name.trim().is_empty(),
            &format!("equipment[{index}].name"),
            "is required",
        );
    }
    if violations.is_empty() {
        Ok(())
    } else {
        Err(AppError::InvalidArgument(violations))
    }
}

fn check_position(
    check: &mut impl FnMut(bool, &str, &str),
    lat: Option<f64>,
    lng: Option<f64>,
    lat_field: &str,
    lng_field: &str,
) {
    check(
        lat.is_some() == lng.is_some(),
        lat_field,
        &format!("{lat_field} and {lng_field} go together"),
    );
    if let Some(lat) = lat {
        check(
            (-90.0..=90.0).contains(&lat),
            lat_field,
            "must be between -90 and 90",
        );
    }
    if let Some(lng) = lng {
        check(
            (-180.0..=180.0).contains(&lng),
            lng_field,
            "must be between -180 and 180",
        );
    }
}
