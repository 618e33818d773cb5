//! The state every handler shares: the database, the configuration, the secrets and the
//! process-wide services (rate limiters, the Server-Sent Events hub, the engine context).
//!
//! A new shared service is one field here and one line in [`AppState::new`].

use std::sync::Arc;

use wfops_config::{Cipher, Config};
use wfops_db::Db;
use wfops_tenancy::JwtKeys;

use crate::error::ApiError;
use crate::{auth, ratelimit, routes};

/// Everything a handler needs, shared by all workers.
#[derive(Debug)]
pub struct AppState {
    pub db: Db,
    pub config: Arc<Config>,
    pub cipher: Cipher,
    pub jwt: JwtKeys,
    /// Requests per minute per tenant (checked after authentication).
    pub tenant_limiter: ratelimit::RateLimiter,
    /// Requests per minute per client IP (checked before anything else).
    pub ip_limiter: ratelimit::RateLimiter,
    /// Wakes the Server-Sent Events streams; fed by [`routes::sse::spawn_listener`].
    pub sse: Arc<routes::sse::Hub>,
    /// For the use-cases answered within a request (onboarding preflight and completion).
    pub engine: wfops_engine::EngineCtx,
    /// Resolved API keys and tokens; kept true by [`auth::spawn_cache_listener`].
    pub auth_cache: Arc<auth::AuthCache>,
}

impl AppState {
    /// Fails when a secret is missing: call [`Config::ensure_local_secrets`] first for the
    /// embedded default.
    pub fn new(config: Config, db: Db) -> Result<Self, ApiError> {
        let secrets = config
            .secrets()
            .map_err(|e| ApiError::Startup(e.to_string()))?;
        let config = Arc::new(config);
        let engine = wfops_engine::EngineCtx::new(
            db.clone(),
            config.clone(),
            secrets.cipher.clone(),
            config.home.join("git-cache"),
        );
        Ok(Self {
            db,
            engine,
            cipher: secrets.cipher,
            jwt: JwtKeys::new(secrets.jwt_secret.expose().as_bytes()),
            tenant_limiter: ratelimit::RateLimiter::new(config.rate_limit_per_minute),
            ip_limiter: ratelimit::RateLimiter::new(config.rate_limit_per_minute),
            sse: Arc::new(routes::sse::Hub::new()),
            auth_cache: Arc::new(auth::AuthCache::default()),
            config,
        })
    }
}
