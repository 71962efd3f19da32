//! The guard every request passes: it finds the RPC's declared access, verifies the token
//! (ours, or an external identity provider's), reloads the user so deactivation and
//! password changes take effect at once, and checks the role. gRPC, grpc-web and REST
//! meet it as middleware on the gRPC routes; the legacy adapters call `authorize` directly.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use chrono::{DateTime, Utc};
use http::HeaderMap;
use sea_orm::DatabaseConnection;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::heavy::{HEAVY_WRITES, HeavyWrites};
use super::jwt::JwtKey;
use super::permissions::{Access, Rpc, access_for, open_to_pending_accounts};
use super::{Principal, Role};
use crate::clock::Clock;
use crate::config::AuthConfig;
use crate::context::{DEFAULT_TENANT, RequestContext};
use crate::error::{AppError, AppResult};
use crate::identity::model::user;
use crate::identity::store;
use crate::ratelimit::RateLimiter;

/// How long a replica trusts what it last read about a user. Changes made through this
/// replica take effect at once (it forgets the user); other replicas see them within this time.
const USER_CACHE_TTL: Duration = Duration::from_secs(2);

/// What the guard needs to know about a token's user.
#[derive(Clone, Debug)]
struct UserState {
    tenant_id: Uuid,
    role: Role,
    organization_id: Option<Uuid>,
    active: bool,
    /// Self-registered and not yet approved by an admin.
    pending_approval: bool,
    password_changed_at: i64,
}

pub struct Guard {
    db: DatabaseConnection,
    users: RwLock<HashMap<Uuid, (UserState, Instant)>>,
    own: JwtKey,
    ttl: Duration,
    external: Option<JwtKey>,
    dev_trust_x_role: bool,
    /// `package.Service/Method` of every RPC served; other paths go on to the router, which
    /// answers UNIMPLEMENTED.
    served: HashSet<String>,
    heavy: HeavyWrites,
    clock: Arc<dyn Clock>,
}

fn invalid_token() -> AppError {
    AppError::Unauthenticated("invalid token".into())
}

fn awaiting_approval() -> AppError {
    AppError::PermissionDenied("account awaiting approval".into())
}

impl Guard {
    pub fn new(
        config: &AuthConfig,
        db: DatabaseConnection,
        served: HashSet<String>,
        limiter: RateLimiter,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Self> {
        let bypass = config
            .heavy_org_bypass_roles
            .iter()
            .filter(|name| !name.trim().is_empty())
            .map(|name| {
                Role::parse(name)
                    .ok_or_else(|| anyhow::anyhow!("HEAVY_ORG_BYPASS_ROLES: unknown role {name}"))
            })
            .collect::<anyhow::Result<Vec<Role>>>()?;
        let heavy = HeavyWrites::new(
            limiter,
            HEAVY_WRITES,
            config.heavy_org_limit,
            Duration::from_secs(config.heavy_org_window.max(1)),
            bypass,
        );
        let secret = match &config.jwt_secret {
            Some(secret) if !secret.is_empty() => secret.clone().into_bytes(),
            _ => {
                tracing::warn!(
                    "JWT_SECRET is not set: using a random key; tokens will not survive a restart or work across replicas"
                );
                let mut key = Uuid::new_v4().as_bytes().to_vec();
                key.extend_from_slice(Uuid::new_v4().as_bytes());
                key
            }
        };
        if config.dev_trust_x_role {
            tracing::warn!(
                "!!! DEV_TRUST_X_ROLE is on: requests without a token act with the role in their X-Role header. Never use this in production. !!!"
            );
        }
        Ok(Guard {
            db,
            users: RwLock::default(),
            own: JwtKey::new(secret, Some(config.jwt_issuer.clone()), None),
            ttl: Duration::from_secs(config.jwt_ttl_secs.max(60)),
            external: config.external_jwt_secret.as_ref().map(|secret| {
                JwtKey::new(
                    secret.clone().into_bytes(),
                    config.external_jwt_issuer.clone(),
                    config.external_jwt_audience.clone(),
                )
            }),
            dev_trust_x_role: config.dev_trust_x_role,
            served,
            heavy,
            clock,
        })
    }

    /// A token for `user` and when it expires.
    pub fn issue(&self, user: &user::Model) -> (String, DateTime<Utc>) {
        let now = self.clock.now();
        let expires = now
            + chrono::Duration::from_std(self.ttl).unwrap_or_else(|_| chrono::Duration::days(1));
        let claims = json!({
            "sub": user.id.to_string(),
            "tenant": user.tenant_id.to_string(),
            "role": user.role,
            "org": user.organization_id.map(|id| id.to_string()),
            "iat": now.timestamp(),
            "exp": expires.timestamp(),
        });
        let Value::Object(claims) = claims else {
            unreachable!("json! object")
        };
        (self.own.sign(claims), expires)
    }

    /// Checks a call of `method` (`/package.Service/Method`): the principal for RPCs that need one,
    /// None for public ones. A method the permission table does not name is refused.
    pub async fn authorize(
        &self,
        method: &str,
        headers: &HeaderMap,
    ) -> AppResult<Option<Principal>> {
        let name = method.strip_prefix('/').unwrap_or(method);
        let allowed = match access_for(name) {
            Some(Access::Public) => return Ok(None),
            Some(Access::Roles(roles)) => roles,
            None => {
                return Err(AppError::PermissionDenied(format!(
                    "{name} has no declared permission"
                )));
            }
        };
        let (principal, pending_approval) = self.verified(headers).await?;
        if pending_approval && !open_to_pending_accounts(name) {
            return Err(awaiting_approval());
        }
        if !allowed.contains(&principal.role) {
            return Err(AppError::PermissionDenied(format!(
                "role {} may not call {name}",
                principal.role.as_str()
            )));
        }
        self.heavy.check(name, &principal).await?;
        Ok(Some(principal))
    }

    /// The same check as `authorize`, for HTTP adapters outside the gRPC routes (core-API and
    /// legacy paths), answered as the context the services take.
    pub async fn context_for(&self, rpc: Rpc, headers: &HeaderMap) -> AppResult<RequestContext> {
        Ok(match self.authorize(rpc.name(), headers).await? {
            Some(principal) => RequestContext::for_principal(principal),
            None => RequestContext::anonymous(),
        })
    }

    /// Who sent these headers: `authorization: Bearer …` or `x-auth-token`. An account awaiting
    /// approval is refused.
    pub async fn authenticate(&self, headers: &HeaderMap) -> AppResult<Principal> {
        match self.verified(headers).await? {
            (_, true) => Err(awaiting_approval()),
            (principal, false) => Ok(principal),
        }
    }

    /// The verified caller, and whether its account still awaits approval.
    async fn verified(&self, headers: &HeaderMap) -> AppResult<(Principal, bool)> {
        let Some(token) = bearer_token(headers) else {
            if self.dev_trust_x_role
                && let Some(role) = headers
                    .get("x-role")
                    .and_then(|v| v.to_str().ok())
                    .and_then(Role::parse)
            {
                return Ok((
                    Principal {
                        user_id: None,
                        tenant_id: DEFAULT_TENANT,
                        role,
                        organization_id: None,
                    },
                    false,
                ));
            }
            return Err(AppError::MissingCredentials);
        };
        let now = self.clock.now().timestamp();
        match self.own.verify(token, now) {
            Ok(claims) => self.local_principal(&claims).await,
            Err(own_error) => match &self.external {
                Some(external) => match external.verify(token, now) {
                    Ok(claims) => external_principal(&claims).map(|principal| (principal, false)),
                    Err(error) => {
                        tracing::debug!(%own_error, %error, "token refused");
                        Err(invalid_token())
                    }
                },
                None => {
                    tracing::debug!(error = %own_error, "token refused");
                    Err(invalid_token())
                }
            },
        }
    }

    /// Our token's user as stored now: active, same tenant, no password change since the token.
    async fn local_principal(&self, claims: &Map<String, Value>) -> AppResult<(Principal, bool)> {
        let claim_uuid = |name: &str| {
            claims
                .get(name)
                .and_then(Value::as_str)
                .and_then(|text| Uuid::parse_str(text).ok())
        };
        let (Some(user_id), Some(tenant_id)) = (claim_uuid("sub"), claim_uuid("tenant")) else {
            return Err(invalid_token());
        };
        let issued_at = claims
            .get("iat")
            .and_then(Value::as_i64)
            .ok_or_else(invalid_token)?;
        let user = self.user_state(user_id).await?.ok_or_else(invalid_token)?;
        if user.tenant_id != tenant_id || !user.active || issued_at < user.password_changed_at {
            return Err(invalid_token());
        }
        Ok((
            Principal {
                user_id: Some(user_id),
                tenant_id: user.tenant_id,
                role: user.role,
                organization_id: user.organization_id,
            },
            user.pending_approval,
        ))
    }

    /// The user's current state, from the short-lived cache or the database.
    async fn user_state(&self, user_id: Uuid) -> AppResult<Option<UserState>> {
        let cached = self
            .users
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(&user_id)
            .filter(|(_, read_at)| read_at.elapsed() < USER_CACHE_TTL)
            .map(|(state, _)| state.clone());
        if cached.is_some() {
            return Ok(cached);
        }
        let Some(user) = store::user_by_id(&self.db, user_id).await? else {
            return Ok(None);
        };
        let state = UserState {
            tenant_id: user.tenant_id,
            role: user.role(),
            organization_id: user.organization_id,
            active: user.active,
            pending_approval: user.pending_approval,
            password_changed_at: user.password_changed_at.timestamp(),
        };
        let mut users = self
            .users
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if users.len() > 100_000 {
            users.retain(|_, (_, read_at)| read_at.elapsed() < USER_CACHE_TTL);
        }
        users.insert(user_id, (state.clone(), Instant::now()));
        Ok(Some(state))
    }

    /// Drops what the guard knows of a user whose role, status or password just changed.
    pub fn forget(&self, user_id: Uuid) {
        self.users
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .remove(&user_id);
    }
}

/// An external provider's caller: role from `role`, `user_role` or `app_metadata.role`;
/// tenant from `tenant`/`tenant_id` (default tenant otherwise).
fn external_principal(claims: &Map<String, Value>) -> AppResult<Principal> {
    let role = ["role", "user_role"]
        .iter()
        .filter_map(|name| claims.get(*name).and_then(Value::as_str))
        .chain(
            claims
                .get("app_metadata")
                .and_then(|meta| meta.get("role"))
                .and_then(Value::as_str),
        )
        .find_map(Role::parse)
        .ok_or_else(|| AppError::PermissionDenied("the token carries no known role".into()))?;
    let uuid_claim = |name: &str| {
        claims
            .get(name)
            .and_then(Value::as_str)
            .and_then(|v| Uuid::parse_str(v).ok())
    };
    Ok(Principal {
        user_id: uuid_claim("sub"),
        tenant_id: uuid_claim("tenant")
            .or_else(|| uuid_claim("tenant_id"))
            .unwrap_or(DEFAULT_TENANT),
        role,
        organization_id: uuid_claim("org"),
    })
}

/// The token of a request: `x-auth-token`, else `authorization: Bearer <token>` (scheme in any case).
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    if let Some(token) = headers.get("x-auth-token").and_then(|v| v.to_str().ok()) {
        return Some(token.trim()).filter(|t| !t.is_empty());
    }
    let value = headers
        .get(http::header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .trim();
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// Middleware on the gRPC routes: refuses with a gRPC status, or passes the principal on.
pub async fn grpc_guard(
    State(guard): State<Arc<Guard>>,
    mut request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path();
    if !guard
        .served
        .contains(path.strip_prefix('/').unwrap_or(path))
    {
        // Not an RPC of ours: the router answers UNIMPLEMENTED, with nobody's authority.
        return next.run(request).await;
    }
    match guard.authorize(path, request.headers()).await {
        Ok(principal) => {
            if let Some(principal) = principal {
                request.extensions_mut().insert(principal);
            }
            next.run(request).await
        }
        Err(err) => tonic::Status::from(err).into_http(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A guard over an empty in-memory database (enough for refusals that need no user).
    async fn guard() -> Guard {
        #[derive(clap::Parser)]
        struct Args {
            #[command(flatten)]
            auth: AuthConfig,
        }
        let auth = <Args as clap::Parser>::parse_from(["test"]).auth;
        let db = sea_orm::Database::connect("sqlite::memory:").await.unwrap();
        let limiter = RateLimiter::new(
            Arc::new(crate::storage::cache::MemoryCache::default()),
            false,
        );
        let served = crate::server::served_rpcs().unwrap();
        Guard::new(
            &auth,
            db,
            served,
            limiter,
            Arc::new(crate::clock::SystemClock),
        )
        .unwrap()
    }

    #[tokio::test]
    async fn a_method_missing_from_the_table_is_refused_not_public() {
        let guard = guard().await;
        let headers = HeaderMap::new();
        for undeclared in [
            "kasi.fiber.v1.PonService/ListPon",
            "/kasi.fiber.v1.NoSuchService/Get",
            "",
        ] {
            match guard.authorize(undeclared, &headers).await {
                Err(AppError::PermissionDenied(message)) => {
                    assert!(message.contains("no declared permission"), "{message}")
                }
                other => panic!("{undeclared:?} was not refused: {other:?}"),
            }
        }
        // Declared public RPCs stay public; declared role RPCs need credentials.
        assert!(matches!(
            guard
                .authorize("/kasi.fiber.v1.AuthService/Login", &headers)
                .await,
            Ok(None)
        ));
        assert!(matches!(
            guard
                .authorize("/kasi.fiber.v1.PonService/ListPons", &headers)
                .await,
            Err(AppError::MissingCredentials)
        ));
    }

    #[test]
    fn tokens_come_from_either_header() {
        let mut headers = HeaderMap::new();
        headers.insert("authorization", "bearer abc".parse().unwrap());
        assert_eq!(bearer_token(&headers), Some("abc"));
        headers.insert("x-auth-token", "legacy".parse().unwrap());
        assert_eq!(bearer_token(&headers), Some("legacy"));
        let mut basic = HeaderMap::new();
        basic.insert("authorization", "Basic dXNlcg==".parse().unwrap());
        assert_eq!(bearer_token(&basic), None);
    }

    #[test]
    fn external_roles_come_from_any_of_three_claims() {
        let claims = |value: Value| value.as_object().unwrap().clone();
        assert_eq!(
            external_principal(&claims(json!({"role": "noc"})))
                .unwrap()
                .role,
            Role::Noc
        );
        assert_eq!(
            external_principal(&claims(json!({"user_role": "PM"})))
                .unwrap()
                .role,
            Role::Pm
        );
        let nested = external_principal(&claims(
            json!({"role": "authenticated", "app_metadata": {"role": "ADMIN"}}),
        ))
        .unwrap();
        assert_eq!(nested.role, Role::Admin);
        assert_eq!(nested.tenant_id, DEFAULT_TENANT);
        assert!(external_principal(&claims(json!({"role": "authenticated"}))).is_err());
    }
}
