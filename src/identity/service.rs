//! Account rules: registration, login (rate limited, one answer for every failure),
//! password changes, and user administration within the caller's tenant — every change
//! audited in the same transaction.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::{DatabaseConnection, TransactionTrait};
use serde_json::{Value, json};
use uuid::Uuid;

use super::model::{invite, tenant, user};
use super::store;
use crate::audit::{self, Change};
use crate::auth::guard::Guard;
use crate::auth::{Role, passwords};
use crate::clock::Clock;
use crate::config::SelfRegistration;
use crate::context::{DEFAULT_TENANT, RequestContext};
use crate::error::{AppError, AppResult};
use crate::organizations::{self, model::organization};
use crate::paging;
use crate::ratelimit::RateLimiter;

const PAGE_KIND: &str = "user";

/// Login attempt limits (per account and per client address).
#[derive(Clone, Debug)]
pub struct LoginLimits {
    pub per_account: u64,
    pub per_ip: u64,
    pub window: Duration,
}

/// A new account's details.
#[derive(Clone, Debug, Default)]
pub struct NewUser {
    pub name: String,
    pub email: String,
    pub password: String,
    pub role: Option<Role>,
    pub phone: String,
    pub organization_id: Option<Uuid>,
}

/// Fields of a user that `update_user` may change (the mask names which).
#[derive(Clone, Debug, Default)]
pub struct UserChanges {
    pub name: String,
    pub phone: String,
    pub profile: user::Profile,
    pub organization_id: Option<Uuid>,
}

/// A signed-in session.
pub struct Session {
    pub token: String,
    pub expires_at: chrono::DateTime<chrono::Utc>,
    pub user: user::Model,
}

pub struct IdentityService {
    db: DatabaseConnection,
    clock: Arc<dyn Clock>,
    guard: Arc<Guard>,
    limiter: RateLimiter,
    limits: LoginLimits,
    self_registration: SelfRegistration,
}

/// What the audit log keeps of a user (never the password hash).
pub fn snapshot(user: &user::Model) -> Value {
    json!({
        "id": user.id,
        "name": user.name,
        "email": user.email,
        "phone": user.phone,
        "role": user.role,
        "active": user.active,
        "pending_approval": user.pending_approval,
        "organization_id": user.organization_id,
        "profile": user.profile(),
    })
}

/// Lower-cased, trimmed, and plausibly an address (one `@`, a dot in the domain, no spaces).
pub fn normalize_email(field: &str, email: &str) -> AppResult<String> {
    let email = email.trim().to_lowercase();
    let valid = email.len() <= 254
        && !email.contains(char::is_whitespace)
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        });
    if valid {
        Ok(email)
    } else {
        Err(AppError::invalid(field, "is not a valid e-mail address"))
    }
}

fn check_name(name: &str) -> AppResult<String> {
    let name = name.trim();
    if name.is_empty() {
        return Err(AppError::invalid("name", "is required"));
    }
    if name.chars().count() > 200 {
        return Err(AppError::invalid("name", "must be at most 200 characters"));
    }
    Ok(name.to_string())
}

fn check_phone(phone: &str) -> AppResult<String> {
    let phone = phone.trim();
    if phone.chars().count() > 40 {
        return Err(AppError::invalid("phone", "must be at most 40 characters"));
    }
    Ok(phone.to_string())
}

fn invalid_credentials() -> AppError {
    AppError::Unauthenticated("invalid credentials".into())
}

impl IdentityService {
    pub fn new(
        db: DatabaseConnection,
        clock: Arc<dyn Clock>,
        guard: Arc<Guard>,
        limiter: RateLimiter,
        limits: LoginLimits,
        self_registration: SelfRegistration,
    ) -> Self {
        if self_registration == SelfRegistration::Open {
            tracing::warn!(
                "!!! SELF_REGISTRATION=open: anyone may register as PM or SITE in any tenant and act at once. Demos only. !!!"
            );
        }
        IdentityService {
            db,
            clock,
            guard,
            limiter,
            limits,
            self_registration,
        }
    }

    /// Public sign-up as PM or SITE. With `approval`: in the default tenant, or the tenant of
    /// `invite_code`, awaiting an admin's approval. With `open`: in the tenant named by
    /// `tenant_slug` (default tenant when empty), active at once.
    pub async fn register(
        &self,
        new: NewUser,
        tenant_slug: &str,
        invite_code: &str,
    ) -> AppResult<Session> {
        let pending_approval = match self.self_registration {
            SelfRegistration::Off => {
                return Err(AppError::PermissionDenied(
                    "self-registration is disabled".into(),
                ));
            }
            SelfRegistration::Approval => true,
            SelfRegistration::Open => false,
        };
        let role = match new.role {
            Some(role @ (Role::Pm | Role::Site)) => role,
            _ => {
                return Err(AppError::invalid(
                    "role",
                    "must be PM or SITE (project_manager or site_manager)",
                ));
            }
        };
        let (tenant_slug, invite_code) = (tenant_slug.trim(), invite_code.trim());
        let joining = if !invite_code.is_empty() {
            Joining::Invite(invite_code)
        } else if tenant_slug.is_empty() || tenant_slug == DEFAULT_TENANT_SLUG {
            Joining::Tenant(DEFAULT_TENANT)
        } else if self.self_registration == SelfRegistration::Open {
            Joining::Tenant(
                store::tenant_by_slug(&self.db, tenant_slug)
                    .await?
                    .ok_or_else(|| AppError::invalid("tenant", "no such tenant"))?
                    .id,
            )
        } else {
            return Err(AppError::invalid(
                "tenant",
                "joining a tenant other than the default one needs an invite code",
            ));
        };
        let ctx = RequestContext::anonymous();
        let user = self
            .insert_user(
                &ctx,
                joining,
                NewUser {
                    role: Some(role),
                    organization_id: None,
                    ..new
                },
                pending_approval,
            )
            .await?;
        self.start_session(user).await
    }

    /// ADMIN: an invite code for the caller's tenant.
    pub async fn create_invite(
        &self,
        ctx: &RequestContext,
        max_uses: i32,
        ttl_seconds: i64,
    ) -> AppResult<invite::Model> {
        let max_uses = match max_uses {
            0 => 1,
            1..=1000 => max_uses,
            _ => return Err(AppError::invalid("max_uses", "must be 1..1000")),
        };
        let ttl_seconds = match ttl_seconds {
            0 => 7 * 24 * 3600,
            60..=2_592_000 => ttl_seconds,
            _ => {
                return Err(AppError::invalid(
                    "ttl_seconds",
                    "must be 60..2592000 (30 days)",
                ));
            }
        };
        let now = self.clock.now();
        // 128 random bits, as 32 hex digits: not guessable, easy to paste.
        let code =
            format!("{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple())[..32].to_string();
        let invite = invite::Model {
            id: Uuid::now_v7(),
            tenant_id: ctx.tenant_id,
            code,
            expires_at: now + chrono::Duration::seconds(ttl_seconds),
            max_uses,
            uses: 0,
            created_by: ctx.user_id(),
            created_at: now,
        };
        let tx = self.db.begin().await?;
        let invite = store::insert_invite(&tx, invite).await?;
        audit::record(
            &tx,
            ctx,
            ctx.tenant_id,
            now,
            Change {
                action: "create",
                resource_type: "invite",
                resource_id: invite.id.to_string(),
                before: None,
                after: Some(json!({
                    "expires_at": invite.expires_at,
                    "max_uses": invite.max_uses,
                })),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(invite)
    }

    /// ADMIN: a self-registered account awaiting approval becomes active.
    pub async fn approve_user(&self, ctx: &RequestContext, id: Uuid) -> AppResult<user::Model> {
        self.change_user(ctx, id, "approve", |user| {
            if !user.pending_approval {
                return Err(AppError::FailedPrecondition(
                    "this user is not awaiting approval".into(),
                ));
            }
            user.pending_approval = false;
            user.active = true;
            Ok(())
        })
        .await
    }

    /// Checks the password; unknown e-mail, wrong password and deactivated account all get the same answer.
    pub async fn login(
        &self,
        email: &str,
        password: &str,
        client: Option<std::net::IpAddr>,
    ) -> AppResult<Session> {
        let email = normalize_email("email", email)?;
        if password.is_empty() {
            return Err(AppError::invalid("password", "is required"));
        }
        self.limiter
            .check(
                &format!("login:account:{email}"),
                self.limits.per_account,
                self.limits.window,
            )
            .await?;
        if let Some(ip) = client {
            self.limiter
                .check(
                    &format!("login:ip:{ip}"),
                    self.limits.per_ip,
                    self.limits.window,
                )
                .await?;
        }
        let found = store::user_by_email(&self.db, &email).await?;
        let stored_hash = found.as_ref().map_or_else(
            || passwords::decoy_hash().to_string(),
            |user| user.password_hash.clone(),
        );
        let password = password.to_string();
        let matches =
            tokio::task::spawn_blocking(move || passwords::verify(&password, &stored_hash))
                .await
                .map_err(AppError::internal)?;
        match found {
            Some(user) if matches && user.active => self.start_session(user).await,
            _ => Err(invalid_credentials()),
        }
    }

    async fn start_session(&self, before: user::Model) -> AppResult<Session> {
        let mut user = before.clone();
        user.last_login_at = Some(self.clock.now());
        let user = store::update_user(&self.db, before, user).await?;
        let (token, expires_at) = self.guard.issue(&user);
        Ok(Session {
            token,
            expires_at,
            user,
        })
    }

    pub async fn me(&self, ctx: &RequestContext) -> AppResult<user::Model> {
        let id = ctx.user_id().ok_or_else(|| {
            AppError::FailedPrecondition("this caller has no user account here".into())
        })?;
        self.get_user(ctx, id).await
    }

    /// Changes the caller's password after checking the current one; older tokens stop working.
    pub async fn change_password(
        &self,
        ctx: &RequestContext,
        current: &str,
        new: &str,
    ) -> AppResult<()> {
        let before = self.me(ctx).await?;
        let mut user = before.clone();
        passwords::check_new("new_password", new)?;
        let (current, stored) = (current.to_string(), user.password_hash.clone());
        let matches = tokio::task::spawn_blocking(move || passwords::verify(&current, &stored))
            .await
            .map_err(AppError::internal)?;
        if !matches {
            return Err(AppError::invalid("current_password", "does not match"));
        }
        let new = new.to_string();
        user.password_hash = tokio::task::spawn_blocking(move || passwords::hash(&new))
            .await
            .map_err(AppError::internal)??;
        let now = self.clock.now();
        user.password_changed_at = now;
        user.updated_at = now;
        let tx = self.db.begin().await?;
        let tenant_id = user.tenant_id;
        let id = user.id.to_string();
        store::update_user(&tx, before, user).await?;
        audit::record(
            &tx,
            ctx,
            tenant_id,
            now,
            Change {
                action: "change_password",
                resource_type: "user",
                resource_id: id,
                before: None,
                after: None,
            },
        )
        .await?;
        tx.commit().await?;
        self.guard.forget(ctx.user_id().unwrap_or_default());
        Ok(())
    }

    /// ADMIN: a new user of any role in the caller's tenant.
    pub async fn create_user(&self, ctx: &RequestContext, new: NewUser) -> AppResult<user::Model> {
        if new.role.is_none() {
            return Err(AppError::invalid("role", "is required"));
        }
        self.insert_user(ctx, Joining::Tenant(ctx.tenant_id), new, false)
            .await
    }

    /// Stores a new account (and takes a use of its invite) with its audit record, in one transaction.
    async fn insert_user(
        &self,
        ctx: &RequestContext,
        joining: Joining<'_>,
        new: NewUser,
        pending_approval: bool,
    ) -> AppResult<user::Model> {
        let now = self.clock.now();
        // Checked before the invite is spent: a bad field must not use up a code.
        let mut user = new_account(DEFAULT_TENANT, new, now).await?;
        user.pending_approval = pending_approval;
        let tx = self.db.begin().await?;
        user.tenant_id = match joining {
            Joining::Tenant(tenant_id) => tenant_id,
            Joining::Invite(code) => {
                store::claim_invite(&tx, code, now).await?.ok_or_else(|| {
                    AppError::invalid("invite_code", "is unknown, expired or used up")
                })?
            }
        };
        self.check_organization(user.tenant_id, user.organization_id)
            .await?;
        let tenant_id = user.tenant_id;
        let user = store::insert_user(&tx, user)
            .await
            .map_err(|err| match err {
                AppError::AlreadyExists(_) => {
                    AppError::AlreadyExists("a user with this e-mail already exists".into())
                }
                AppError::FailedPrecondition(_) => {
                    AppError::invalid("organization_id", "no such organization")
                }
                other => other,
            })?;
        audit::record(
            &tx,
            ctx,
            tenant_id,
            now,
            Change {
                action: "create",
                resource_type: "user",
                resource_id: user.id.to_string(),
                before: None,
                after: Some(snapshot(&user)),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(user)
    }

    pub async fn get_user(&self, ctx: &RequestContext, id: Uuid) -> AppResult<user::Model> {
        store::user_in_tenant(&self.db, ctx.tenant_id, id)
            .await?
            .ok_or_else(|| AppError::not_found(format!("user {id} not found")))
    }

    /// The tenant's users with these ids (to name them next to records the caller may read).
    pub async fn users_named(
        &self,
        ctx: &RequestContext,
        ids: &[Uuid],
    ) -> AppResult<std::collections::HashMap<Uuid, user::Model>> {
        Ok(store::users_in_tenant(&self.db, ctx.tenant_id, ids)
            .await?
            .into_iter()
            .map(|user| (user.id, user))
            .collect())
    }

    pub async fn list_users(
        &self,
        ctx: &RequestContext,
        role: Option<Role>,
        include_inactive: bool,
        page_size: i32,
        page_token: &str,
    ) -> AppResult<(Vec<user::Model>, Option<String>)> {
        let limit = paging::page_limit(page_size)?;
        let after = paging::decode_token(PAGE_KIND, page_token)?;
        let rows = store::list_users(
            &self.db,
            ctx.tenant_id,
            role,
            include_inactive,
            after,
            limit + 1,
        )
        .await?;
        Ok(paging::into_page(PAGE_KIND, rows, limit, |user| user.id))
    }

    /// Yourself, or anyone as ADMIN; only ADMIN may move a user between organizations.
    pub async fn update_user(
        &self,
        ctx: &RequestContext,
        id: Uuid,
        changes: UserChanges,
        mask: &[String],
    ) -> AppResult<user::Model> {
        if !ctx.is_admin() && ctx.user_id() != Some(id) {
            return Err(AppError::PermissionDenied(
                "only an admin may change another user".into(),
            ));
        }
        if mask.is_empty() {
            return Err(AppError::invalid(
                "update_mask",
                "must name at least one field",
            ));
        }
        self.change_user(ctx, id, "update", |user| {
            for path in mask {
                match path.as_str() {
                    "name" => user.name = check_name(&changes.name)?,
                    "phone" => user.phone = check_phone(&changes.phone)?,
                    "profile" => {
                        user.profile =
                            serde_json::to_string(&changes.profile).map_err(AppError::internal)?
                    }
                    "organization_id" if ctx.is_admin() => {
                        user.organization_id = changes.organization_id
                    }
                    "role" | "email" | "active" | "organization_id" => {
                        return Err(AppError::PermissionDenied(format!(
                            "`{path}` cannot be changed here"
                        )));
                    }
                    other => {
                        return Err(AppError::invalid(
                            "update_mask",
                            format!("`{other}` is not an updatable user field"),
                        ));
                    }
                }
            }
            Ok(())
        })
        .await
    }

    /// ADMIN: (de)activates a user; a deactivated user's tokens stop working at once.
    pub async fn set_active(
        &self,
        ctx: &RequestContext,
        id: Uuid,
        active: bool,
    ) -> AppResult<user::Model> {
        if ctx.user_id() == Some(id) && !active {
            return Err(AppError::FailedPrecondition(
                "you cannot deactivate yourself".into(),
            ));
        }
        self.change_user(
            ctx,
            id,
            if active { "activate" } else { "deactivate" },
            |user| {
                user.active = active;
                Ok(())
            },
        )
        .await
    }

    /// ADMIN: gives a user another role.
    pub async fn set_role(
        &self,
        ctx: &RequestContext,
        id: Uuid,
        role: Role,
    ) -> AppResult<user::Model> {
        if ctx.user_id() == Some(id) && role != Role::Admin {
            return Err(AppError::FailedPrecondition(
                "you cannot remove your own admin role".into(),
            ));
        }
        self.change_user(ctx, id, "set_role", |user| {
            user.role = role.as_str().into();
            Ok(())
        })
        .await
    }

    /// A user may only belong to an organization of its own tenant.
    async fn check_organization(
        &self,
        tenant_id: Uuid,
        organization_id: Option<Uuid>,
    ) -> AppResult<()> {
        let Some(id) = organization_id else {
            return Ok(());
        };
        let found =
            organizations::store::find::<organization::Entity>(&self.db, tenant_id, None, id)
                .await?;
        if found.is_none() {
            return Err(AppError::invalid(
                "organization_id",
                "no such organization in this tenant",
            ));
        }
        Ok(())
    }

    /// Loads a user of the caller's tenant, applies `change`, stores it and the audit record together.
    async fn change_user(
        &self,
        ctx: &RequestContext,
        id: Uuid,
        action: &str,
        change: impl FnOnce(&mut user::Model) -> AppResult<()>,
    ) -> AppResult<user::Model> {
        let before = self.get_user(ctx, id).await?;
        let mut user = before.clone();
        change(&mut user)?;
        if user.organization_id != before.organization_id {
            self.check_organization(user.tenant_id, user.organization_id)
                .await?;
        }
        let now = self.clock.now();
        user.updated_at = now;
        let tx = self.db.begin().await?;
        let user = store::update_user(&tx, before.clone(), user)
            .await
            .map_err(|err| match err {
                AppError::FailedPrecondition(_) => {
                    AppError::invalid("organization_id", "no such organization")
                }
                other => other,
            })?;
        audit::record(
            &tx,
            ctx,
            user.tenant_id,
            now,
            Change {
                action,
                resource_type: "user",
                resource_id: user.id.to_string(),
                before: Some(snapshot(&before)),
                after: Some(snapshot(&user)),
            },
        )
        .await?;
        tx.commit().await?;
        self.guard.forget(user.id);
        Ok(user)
    }
}

/// Creates the tenant `slug` (when missing) and an ADMIN with this e-mail (when missing); for
/// `seed` and first installs. Returns the admin and whether it was created now.
pub async fn bootstrap_admin(
    db: &DatabaseConnection,
    clock: &dyn Clock,
    tenant_slug: &str,
    tenant_name: &str,
    admin: NewUser,
) -> AppResult<(user::Model, bool)> {
    let email = normalize_email("email", &admin.email)?;
    if let Some(existing) = store::user_by_email(db, &email).await? {
        return Ok((existing, false));
    }
    let now = clock.now();
    let tenant = match store::tenant_by_slug(db, tenant_slug).await? {
        Some(tenant) => tenant,
        None => {
            store::insert_tenant(
                db,
                tenant::Model {
                    id: Uuid::now_v7(),
                    slug: tenant_slug.to_string(),
                    name: tenant_name.to_string(),
                    time_zone: "Africa/Johannesburg".into(),
                    created_at: now,
                },
            )
            .await?
        }
    };
    let account = new_account(
        tenant.id,
        NewUser {
            role: Some(Role::Admin),
            organization_id: None,
            ..admin
        },
        now,
    )
    .await?;
    let user = store::insert_user(db, account).await?;
    Ok((user, true))
}

/// Which tenant a new account joins.
enum Joining<'a> {
    Tenant(Uuid),
    /// The tenant of this invite code, if it can still be used.
    Invite(&'a str),
}

/// The slug of the tenant every install starts with.
const DEFAULT_TENANT_SLUG: &str = "default";

/// A new, active account: every field checked, the password hashed (off the async threads).
pub async fn new_account(
    tenant_id: Uuid,
    new: NewUser,
    now: DateTime<Utc>,
) -> AppResult<user::Model> {
    let name = check_name(&new.name)?;
    let email = normalize_email("email", &new.email)?;
    let phone = check_phone(&new.phone)?;
    passwords::check_new("password", &new.password)?;
    let role = new
        .role
        .ok_or_else(|| AppError::invalid("role", "is required"))?;
    let password = new.password;
    let password_hash = tokio::task::spawn_blocking(move || passwords::hash(&password))
        .await
        .map_err(AppError::internal)??;
    Ok(user::Model {
        id: Uuid::now_v7(),
        tenant_id,
        organization_id: new.organization_id,
        name,
        email,
        password_hash,
        phone,
        role: role.as_str().into(),
        active: true,
        pending_approval: false,
        last_login_at: None,
        password_changed_at: now,
        profile: "{}".into(),
        created_at: now,
        updated_at: now,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalized_and_checked() {
        assert_eq!(
            normalize_email("email", "  John@Example.COM ").unwrap(),
            "john@example.com"
        );
        for bad in [
            "",
            "not-an-email",
            "a@b",
            "a b@c.de",
            "@x.org",
            "a@@x.org",
            "a@.org",
        ] {
            assert!(normalize_email("email", bad).is_err(), "{bad}");
        }
    }
}
