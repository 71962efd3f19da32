//! gRPC adapters of `kasi.fiber.v1.AuthService` and `UserService`.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::model::user;
use super::service::{IdentityService, NewUser, Session, UserChanges};
use crate::auth::Role;
use crate::client_addr::{TrustedProxies, client_ip};
use crate::error::AppError;
use crate::error::parse_id;
use crate::proto::v1;
use crate::server::wire::{context, timestamp};

pub struct AuthGrpc {
    service: Arc<IdentityService>,
    trusted_proxies: TrustedProxies,
}

pub struct UserGrpc {
    service: Arc<IdentityService>,
}

impl AuthGrpc {
    pub fn new(service: Arc<IdentityService>, trusted_proxies: TrustedProxies) -> Self {
        AuthGrpc {
            service,
            trusted_proxies,
        }
    }
}

impl UserGrpc {
    pub fn new(service: Arc<IdentityService>) -> Self {
        UserGrpc { service }
    }
}

pub fn role_from_proto(field: &str, value: i32) -> Result<Option<Role>, AppError> {
    match v1::Role::try_from(value) {
        Ok(v1::Role::Unspecified) => Ok(None),
        Ok(v1::Role::Admin) => Ok(Some(Role::Admin)),
        Ok(v1::Role::Pm) => Ok(Some(Role::Pm)),
        Ok(v1::Role::Site) => Ok(Some(Role::Site)),
        Ok(v1::Role::Smme) => Ok(Some(Role::Smme)),
        Ok(v1::Role::Auditor) => Ok(Some(Role::Auditor)),
        Ok(v1::Role::Noc) => Ok(Some(Role::Noc)),
        Err(_) => Err(AppError::invalid(field, format!("{value} is not a role"))),
    }
}

pub fn role_to_proto(role: Role) -> v1::Role {
    match role {
        Role::Admin => v1::Role::Admin,
        Role::Pm => v1::Role::Pm,
        Role::Site => v1::Role::Site,
        Role::Smme => v1::Role::Smme,
        Role::Auditor => v1::Role::Auditor,
        Role::Noc => v1::Role::Noc,
    }
}

fn optional_id(field: &str, text: &str) -> Result<Option<uuid::Uuid>, AppError> {
    if text.is_empty() {
        Ok(None)
    } else {
        parse_id(field, text).map(Some)
    }
}

pub fn user_to_proto(user: &user::Model) -> v1::User {
    let profile = user.profile();
    v1::User {
        id: user.id.to_string(),
        tenant_id: user.tenant_id.to_string(),
        organization_id: user
            .organization_id
            .map(|id| id.to_string())
            .unwrap_or_default(),
        name: user.name.clone(),
        email: user.email.clone(),
        phone: user.phone.clone(),
        role: role_to_proto(user.role()) as i32,
        active: user.active,
        last_login_at: user.last_login_at.map(timestamp),
        profile: Some(v1::UserProfile {
            avatar: profile.avatar,
            department: profile.department,
            location: profile.location,
            experience: profile.experience,
        }),
        created_at: Some(timestamp(user.created_at)),
        updated_at: Some(timestamp(user.updated_at)),
        pending_approval: user.pending_approval,
    }
}

fn session_to_proto(session: Session) -> v1::AuthResponse {
    v1::AuthResponse {
        token: session.token,
        expires_at: Some(timestamp(session.expires_at)),
        user: Some(user_to_proto(&session.user)),
    }
}

#[tonic::async_trait]
impl v1::auth_service_server::AuthService for AuthGrpc {
    async fn register(
        &self,
        request: Request<v1::RegisterRequest>,
    ) -> Result<Response<v1::AuthResponse>, Status> {
        let message = request.into_inner();
        let new = NewUser {
            name: message.name,
            email: message.email,
            password: message.password,
            role: role_from_proto("role", message.role)?,
            phone: message.phone,
            organization_id: None,
        };
        let session = self
            .service
            .register(new, &message.tenant, &message.invite_code)
            .await?;
        Ok(Response::new(session_to_proto(session)))
    }

    async fn login(
        &self,
        request: Request<v1::LoginRequest>,
    ) -> Result<Response<v1::AuthResponse>, Status> {
        let client = client_ip(
            request.extensions(),
            &request.metadata().clone().into_headers(),
            &self.trusted_proxies,
        );
        let message = request.into_inner();
        let session = self
            .service
            .login(&message.email, &message.password, client)
            .await?;
        Ok(Response::new(session_to_proto(session)))
    }

    async fn me(&self, request: Request<v1::MeRequest>) -> Result<Response<v1::User>, Status> {
        let user = self.service.me(&context(&request)).await?;
        Ok(Response::new(user_to_proto(&user)))
    }

    async fn change_password(
        &self,
        request: Request<v1::ChangePasswordRequest>,
    ) -> Result<Response<()>, Status> {
        let ctx = context(&request);
        let message = request.into_inner();
        self.service
            .change_password(&ctx, &message.current_password, &message.new_password)
            .await?;
        Ok(Response::new(()))
    }
}

#[tonic::async_trait]
impl v1::user_service_server::UserService for UserGrpc {
    async fn create_user(
        &self,
        request: Request<v1::CreateUserRequest>,
    ) -> Result<Response<v1::User>, Status> {
        let ctx = context(&request);
        let message = request.into_inner();
        let new = NewUser {
            name: message.name,
            email: message.email,
            password: message.password,
            role: role_from_proto("role", message.role)?,
            phone: message.phone,
            organization_id: optional_id("organization_id", &message.organization_id)?,
        };
        Ok(Response::new(user_to_proto(
            &self.service.create_user(&ctx, new).await?,
        )))
    }

    async fn get_user(
        &self,
        request: Request<v1::GetUserRequest>,
    ) -> Result<Response<v1::User>, Status> {
        let ctx = context(&request);
        let id = parse_id("id", &request.get_ref().id)?;
        Ok(Response::new(user_to_proto(
            &self.service.get_user(&ctx, id).await?,
        )))
    }

    async fn list_users(
        &self,
        request: Request<v1::ListUsersRequest>,
    ) -> Result<Response<v1::ListUsersResponse>, Status> {
        let ctx = context(&request);
        let message = request.into_inner();
        let role = role_from_proto("role", message.role)?;
        let (users, next) = self
            .service
            .list_users(
                &ctx,
                role,
                message.include_inactive,
                message.page_size,
                &message.page_token,
            )
            .await?;
        Ok(Response::new(v1::ListUsersResponse {
            users: users.iter().map(user_to_proto).collect(),
            next_page_token: next.unwrap_or_default(),
        }))
    }

    async fn update_user(
        &self,
        request: Request<v1::UpdateUserRequest>,
    ) -> Result<Response<v1::User>, Status> {
        let ctx = context(&request);
        let message = request.into_inner();
        let user = message
            .user
            .ok_or_else(|| AppError::invalid("user", "is required"))?;
        let id = parse_id("user.id", &user.id)?;
        let profile = user.profile.unwrap_or_default();
        let changes = UserChanges {
            name: user.name,
            phone: user.phone,
            profile: user::Profile {
                avatar: profile.avatar,
                department: profile.department,
                location: profile.location,
                experience: profile.experience,
            },
            organization_id: optional_id("user.organization_id", &user.organization_id)?,
        };
        let mask = message
            .update_mask
            .map(|mask| mask.paths)
            .unwrap_or_default();
        Ok(Response::new(user_to_proto(
            &self.service.update_user(&ctx, id, changes, &mask).await?,
        )))
    }

    async fn set_user_active(
        &self,
        request: Request<v1::SetUserActiveRequest>,
    ) -> Result<Response<v1::User>, Status> {
        let ctx = context(&request);
        let id = parse_id("id", &request.get_ref().id)?;
        let user = self
            .service
            .set_active(&ctx, id, request.get_ref().active)
            .await?;
        Ok(Response::new(user_to_proto(&user)))
    }

    async fn set_user_role(
        &self,
        request: Request<v1::SetUserRoleRequest>,
    ) -> Result<Response<v1::User>, Status> {
        let ctx = context(&request);
        let id = parse_id("id", &request.get_ref().id)?;
        let role = role_from_proto("role", request.get_ref().role)?
            .ok_or_else(|| AppError::invalid("role", "is required"))?;
        Ok(Response::new(user_to_proto(
            &self.service.set_role(&ctx, id, role).await?,
        )))
    }

    async fn approve_user(
        &self,
        request: Request<v1::ApproveUserRequest>,
    ) -> Result<Response<v1::User>, Status> {
        let ctx = context(&request);
        let id = parse_id("id", &request.get_ref().id)?;
        Ok(Response::new(user_to_proto(
            &self.service.approve_user(&ctx, id).await?,
        )))
    }

    async fn create_invite(
        &self,
        request: Request<v1::CreateInviteRequest>,
    ) -> Result<Response<v1::Invite>, Status> {
        let ctx = context(&request);
        let message = request.get_ref();
        let invite = self
            .service
            .create_invite(&ctx, message.max_uses, message.ttl_seconds)
            .await?;
        Ok(Response::new(v1::Invite {
            id: invite.id.to_string(),
            tenant_id: invite.tenant_id.to_string(),
            code: invite.code,
            expires_at: Some(timestamp(invite.expires_at)),
            max_uses: invite.max_uses,
            uses: invite.uses,
            created_at: Some(timestamp(invite.created_at)),
        }))
    }
}
