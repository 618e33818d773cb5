use std::str::FromStr;

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;
use wfops_db::{tenants, users, ScopedFutureExt};
use wfops_tenancy::{normalize_email, password, Actor, Claims, Role};

use crate::auth::Auth;
use crate::envelope::{Envelope, ErrorBody};
use crate::error::{ApiError, Code};
use crate::extract::Body;
use crate::routes::RoleName;
use crate::AppState;

/// No `Debug`: the password must not be printable.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    #[schema(example = "ada@example.com")]
    pub email: String,
    #[schema(format = Password)]
    pub password: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LoginResponse {
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the token expires.
    pub expires_in: u64,
    pub expires_at: DateTime<Utc>,
    pub user: UserView,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub email: String,
    pub display_name: Option<String>,
    #[schema(value_type = RoleName)]
    pub role: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TenantView {
    pub id: Uuid,
    pub name: String,
    pub slug: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ActorView {
    /// `user` or `api_key`.
    pub r#type: &'static str,
    pub id: Uuid,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MeView {
    pub tenant: TenantView,
    pub actor: ActorView,
    #[schema(value_type = RoleName)]
    pub role: Role,
    pub is_platform_admin: bool,
    /// Present when the caller is a person (JWT), absent for an API key.
    pub user: Option<UserView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LogoutView {
    pub revoked: bool,
}

fn bad_credentials() -> ApiError {
    ApiError::Unauthorized {
        code: Code::InvalidCredentials,
        message: "invalid email or password".into(),
        challenge: r#"Bearer realm="workflowops""#,
    }
}

/// Exchanges email and password for a JWT. Unknown accounts, wrong passwords and deactivated
/// accounts get the same answer in the same time.
#[utoipa::path(
    post, path = "/api/v1/auth/login", tag = "auth", security(()),
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Logged in", body = Envelope<LoginResponse>),
        (status = 401, description = "Invalid email or password", body = ErrorBody),
        (status = 422, description = "The body does not have the expected shape", body = ErrorBody),
        (status = 429, description = "Too many attempts from this address", body = ErrorBody)
    )
)]
pub async fn login(
    state: web::Data<AppState>,
    body: Body<LoginRequest>,
) -> Result<HttpResponse, ApiError> {
    let LoginRequest { email, password } = body.0;
    // Any string is a well-formed login attempt; one that is not an email address matches no
    // account and gets the same answer as an unknown one.
    let Ok(email) = normalize_email(&email) else {
        return Err(bad_credentials());
    };
    let lookup = email.clone();
    let row = state
        .db
        .system_tx(|conn| async move { users::find_login(conn, &lookup).await }.scope_boxed())
        .await
        .map_err(ApiError::from)?;

    let candidate = row.filter(|r| r.is_active && r.password_hash.is_some());
    let stored = candidate.as_ref().and_then(|r| r.password_hash.clone());
    let ok = web::block(move || match stored {
        Some(hash) => password::verify_password(&password, &hash).unwrap_or(false),
        None => {
            password::burn_verify(&password);
            false
        }
    })
    .await
    .map_err(ApiError::internal)?;
    let login = match candidate {
        Some(row) if ok => row,
        _ => return Err(bad_credentials()),
    };

    let role = Role::from_str(&login.role).map_err(ApiError::internal)?;
    let ttl = state.config.jwt_ttl_seconds;
    let claims = Claims::new(login.id, login.tenant_id, role, Utc::now(), ttl);
    let token = state.jwt.encode(&claims)?;
    let user_id = login.id;
    let user = state
        .db
        .tenant_tx(login.tenant_id, |conn| {
            async move {
                users::touch_last_login(conn, user_id).await?;
                users::get(conn, user_id).await
            }
            .scope_boxed()
        })
        .await
        .map_err(ApiError::from)?;
    Ok(HttpResponse::Ok().json(Envelope::new(LoginResponse {
        access_token: token,
        token_type: "Bearer",
        expires_in: ttl,
        expires_at: claims.expires_at(),
        user: UserView {
            id: user.id,
            tenant_id: user.tenant_id,
            email: user.email,
            display_name: user.display_name,
            role: user.role,
        },
    })))
}

/// Revokes the caller's token: it stops working at once, before its expiry.
#[utoipa::path(
    post, path = "/api/v1/auth/logout", tag = "auth", security(("bearer" = [])),
    responses(
        (status = 200, description = "Token revoked", body = Envelope<LogoutView>),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "The caller is an API key (revoke it with DELETE /api/v1/api-keys/{id})", body = ErrorBody)
    )
)]
pub async fn logout(state: web::Data<AppState>, auth: Auth) -> Result<HttpResponse, ApiError> {
    auth.require(Role::Viewer)?;
    let Some(session) = auth.session.clone() else {
        return Err(ApiError::new(
            Code::SessionRequired,
            "an API key has no session; revoke it with DELETE /api/v1/api-keys/{id}",
        ));
    };
    let tenant_id = auth.caller.tenant_id;
    let jti = session.jti.to_string();
    state
        .db
        .tenant_tx(tenant_id, |conn| {
            async move { users::revoke_token(conn, tenant_id, &jti, session.expires_at).await }
                .scope_boxed()
        })
        .await
        .map_err(ApiError::from)?;
    Ok(HttpResponse::Ok().json(Envelope::with_message(
        LogoutView { revoked: true },
        "logged out; the token is revoked",
    )))
}

/// Who the caller is: tenant, actor, role.
#[utoipa::path(
    get, path = "/api/v1/auth/me", tag = "auth", security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller", body = Envelope<MeView>),
        (status = 401, description = "Missing or invalid token", body = ErrorBody)
    )
)]
pub async fn me(state: web::Data<AppState>, auth: Auth) -> Result<HttpResponse, ApiError> {
    auth.require(Role::Viewer)?;
    let caller = auth.caller.clone();
    let (tenant, user) = state
        .db
        .tenant_tx(caller.tenant_id, |conn| {
            async move {
                let tenant = tenants::get(conn, caller.tenant_id).await?;
                let user = match caller.actor {
                    Actor::User(id) => Some(users::get(conn, id).await?),
                    Actor::ApiKey(_) => None,
                };
                Ok::<_, wfops_db::Error>((tenant, user))
            }
            .scope_boxed()
        })
        .await
        .map_err(ApiError::from)?;
    Ok(HttpResponse::Ok().json(Envelope::new(MeView {
        tenant: TenantView {
            id: tenant.id,
            name: tenant.name,
            slug: tenant.slug,
        },
        actor: ActorView {
            r#type: auth.caller.actor.kind(),
            id: auth.caller.actor.id(),
        },
        role: auth.caller.role,
        is_platform_admin: auth.caller.is_platform_admin,
        user: user.map(|u| UserView {
            id: u.id,
            tenant_id: u.tenant_id,
            email: u.email,
            display_name: u.display_name,
            role: u.role,
        }),
    })))
}
