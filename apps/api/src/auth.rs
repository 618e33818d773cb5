//! The `Auth` extractor: turns `Authorization: Bearer …` into a [`Caller`].
//!
//! Two kinds of bearer token are accepted. A JWT (people, after login) is checked for
//! signature, expiry, revocation of its `jti`, and that its user is still active; the role is
//! re-read from the database so a demotion takes effect at once. An API key (`wfo_…`,
//! automation) is resolved by prefix through a definer function, its secret hash compared in
//! constant time, and its expiry and revocation checked.
//!
//! Both resolutions are cached in process ([`AuthCache`]): a request whose key or token was
//! resolved before costs one statement (the authentication generation) instead of a
//! transaction, and a revocation anywhere still takes effect on the next request of every
//! process (see the cache's documentation for why).

mod cache;
mod generation;

pub use cache::{AuthCache, CachedKey, CachedSubject};

use std::future::Future;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use chrono::{DateTime, Utc};
use uuid::Uuid;
use wfops_db::notify::{self, AuthNote};
use wfops_db::{api_keys, tenants, users, Db, ScopedFutureExt};
use wfops_tenancy::{api_key, Actor, Caller, Role};

use crate::error::ApiError;
use crate::AppState;

/// The login session behind a JWT caller (absent for API keys); logout revokes it.
#[derive(Debug, Clone)]
pub struct Session {
    pub jti: Uuid,
    pub expires_at: DateTime<Utc>,
}

/// An authenticated caller. Handlers check their minimum role with `auth.require(role)`.
#[derive(Debug, Clone)]
pub struct Auth {
    pub caller: Caller,
    pub session: Option<Session>,
}

impl Auth {
    pub fn require(&self, min_role: Role) -> Result<(), ApiError> {
        self.caller.require(min_role).map_err(ApiError::from)
    }
}

impl std::ops::Deref for Auth {
    type Target = Caller;
    fn deref(&self) -> &Caller {
        &self.caller
    }
}

impl FromRequest for Auth {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let state = req
                .app_data::<web::Data<AppState>>()
                .cloned()
                .ok_or_else(|| ApiError::internal("AppState is not registered"))?;
            let token = bearer_token(&req)?;
            let auth = if api_key::looks_like_api_key(&token) {
                authenticate_api_key(&state, &token).await?
            } else {
                authenticate_jwt(&state, &token).await?
            };
            // Logged by the request middleware, whatever the handler answers.
            req.extensions_mut().insert(auth.caller.clone());
            state
                .tenant_limiter
                .check(&auth.caller.tenant_id.to_string())
                .map_err(|retry_after_secs| ApiError::RateLimited { retry_after_secs })?;
            Ok(auth)
        })
    }
}

fn bearer_token(req: &HttpRequest) -> Result<String, ApiError> {
    let value = req
        .headers()
        .get(header::AUTHORIZATION)
        .ok_or_else(|| ApiError::unauthorized("missing Authorization header"))?;
    let value = value
        .to_str()
        .map_err(|_| ApiError::invalid_token("Authorization header is not valid text"))?;
    let value = value.trim();
    let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(ApiError::invalid_token(
            "Authorization must be `Bearer <token>`",
        ));
    }
    let token = token.trim();
    if token.is_empty() {
        return Err(ApiError::invalid_token("the bearer token is empty"));
    }
    Ok(token.to_string())
}

async fn authenticate_api_key(state: &AppState, token: &str) -> Result<Auth, ApiError> {
    let parsed = api_key::parse(token)?;
    let cache = &state.auth_cache;
    // Read before anything is resolved, so that an entry stored with it is never newer than
    // what it describes.
    let generation = cache.generation(&state.db).await.map_err(ApiError::from)?;
    let (key, touch_due) = match cache.api_key(&parsed.prefix, generation) {
        Some(hit) => hit,
        None => {
            let prefix = parsed.prefix.clone();
            let resolved = state
                .db
                .system_tx(|conn| {
                    async move { api_keys::resolve(conn, &prefix).await }.scope_boxed()
                })
                .await
                .map_err(ApiError::from)?;
            // Unknown prefix and wrong secret get the same answer: no oracle for valid prefixes.
            let key = match resolved {
                Some(key) if parsed.verify(&key.secret_hash) => key,
                _ => return Err(ApiError::invalid_token("API key is not valid")),
            };
            if key.revoked_at.is_some() {
                return Err(ApiError::invalid_token("API key has been revoked"));
            }
            let key = CachedKey {
                id: key.id,
                tenant_id: key.tenant_id,
                secret_hash: key.secret_hash,
                role: key.role,
                expires_at: key.expires_at,
            };
            cache.insert_api_key(&parsed.prefix, key.clone(), generation);
            (key, true)
        }
    };
    if !parsed.verify(&key.secret_hash) {
        return Err(ApiError::invalid_token("API key is not valid"));
    }
    // Expiry is a matter of the clock, not of a change: checked on every request.
    if key.expires_at.is_some_and(|at| at <= Utc::now()) {
        return Err(ApiError::invalid_token("API key has expired"));
    }
    let role = Role::from_str(&key.role).map_err(ApiError::internal)?;
    if touch_due {
        let key_id = key.id;
        state
            .db
            .tenant_tx(key.tenant_id, |conn| {
                async move { api_keys::touch_last_used(conn, key_id).await }.scope_boxed()
            })
            .await
            .map_err(ApiError::from)?;
        cache.touched(&parsed.prefix);
    }
    Ok(Auth {
        caller: Caller {
            tenant_id: key.tenant_id,
            actor: Actor::ApiKey(key.id),
            role,
            is_platform_admin: false,
        },
        session: None,
    })
}

async fn authenticate_jwt(state: &AppState, token: &str) -> Result<Auth, ApiError> {
    let claims = state.jwt.decode(token)?;
    let cache = &state.auth_cache;
    let generation = cache.generation(&state.db).await.map_err(ApiError::from)?;
    let subject = match cache.subject(claims.jti, generation) {
        Some(subject) => subject,
        None => {
            let subject = resolve_subject(&state.db, &claims).await?;
            cache.insert_subject(claims.jti, subject.clone(), generation);
            subject
        }
    };
    // The token is signed, so its claims match what was cached for its id; checked anyway.
    if subject.user_id != claims.sub || subject.tenant_id != claims.tenant_id {
        return Err(ApiError::invalid_token("token is not valid"));
    }
    let role = Role::from_str(&subject.role).map_err(ApiError::internal)?;
    Ok(Auth {
        caller: Caller {
            tenant_id: subject.tenant_id,
            actor: Actor::User(subject.user_id),
            role,
            is_platform_admin: subject.is_platform_admin,
        },
        session: Some(Session {
            jti: claims.jti,
            expires_at: claims.expires_at(),
        }),
    })
}

/// The active user behind an unrevoked token, read in the token's tenant.
async fn resolve_subject(
    db: &Db,
    claims: &wfops_tenancy::Claims,
) -> Result<CachedSubject, ApiError> {
    let jti = claims.jti.to_string();
    let (tenant_id, user_id) = (claims.tenant_id, claims.sub);
    let found = db
        .tenant_tx(tenant_id, |conn| {
            async move {
                if users::is_token_revoked(conn, &jti).await? {
                    return Ok::<_, wfops_db::Error>(JwtSubject::Revoked);
                }
                let tenant = match tenants::get(conn, tenant_id).await {
                    Ok(t) => t,
                    Err(wfops_db::Error::NotFound) => return Ok(JwtSubject::Gone),
                    Err(e) => return Err(e),
                };
                match users::get(conn, user_id).await {
                    Ok(user) => Ok(JwtSubject::Found(Box::new((tenant, user)))),
                    Err(wfops_db::Error::NotFound) => Ok(JwtSubject::Gone),
                    Err(e) => Err(e),
                }
            }
            .scope_boxed()
        })
        .await
        .map_err(ApiError::from)?;
    let (tenant, user) = match found {
        JwtSubject::Revoked => return Err(ApiError::invalid_token("token has been revoked")),
        JwtSubject::Gone => {
            return Err(ApiError::invalid_token("the token's user no longer exists"))
        }
        JwtSubject::Found(pair) => *pair,
    };
    if !user.is_active || !tenant.is_active {
        return Err(ApiError::invalid_token("the account is deactivated"));
    }
    Ok(CachedSubject {
        tenant_id: tenant.id,
        user_id: user.id,
        role: user.role,
        is_platform_admin: user.is_platform_admin,
    })
}

/// Follows `wfops_auth` for `cache` until the process ends: reconnects with a growing delay
/// when the connection drops, and meanwhile the cache trusts entries at their own generation
/// only.
pub fn spawn_cache_listener(
    cache: Arc<AuthCache>,
    db: Db,
    database_url: String,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut delay = Duration::from_millis(500);
        loop {
            if let Err(e) = follow_auth_changes(&cache, &db, &database_url).await {
                tracing::warn!(error = %e, "authentication change listener failed");
            }
            cache.not_listening();
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(30));
        }
    })
}

async fn follow_auth_changes(
    cache: &AuthCache,
    db: &Db,
    database_url: &str,
) -> Result<(), wfops_db::Error> {
    let mut listener = notify::listen_auth(database_url).await?;
    // LISTEN is active: every change after this generation will be announced.
    cache.listening_from(db.auth_generation().await?);
    while let Some(note) = listener.recv().await {
        match AuthNote::parse(&note.payload) {
            Some(note) => cache.apply(&note),
            None => cache.flush(),
        }
    }
    Ok(())
}

enum JwtSubject {
    Revoked,
    Gone,
    Found(Box<(tenants::Tenant, users::User)>),
}

/// Request facts that go into audit rows.
#[derive(Debug, Clone, Default)]
pub struct RequestMeta {
    pub request_id: Option<String>,
    pub ip: Option<String>,
}

impl FromRequest for RequestMeta {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let request_id = req
            .extensions()
            .get::<crate::middleware::RequestId>()
            .map(|r| r.0.clone());
        let ip = req.peer_addr().map(|a| a.ip().to_string());
        std::future::ready(Ok(RequestMeta { request_id, ip }))
    }
}
