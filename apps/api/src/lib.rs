#![doc = include_str!("../README.md")]

pub mod auth;
pub mod bootstrap;
pub mod envelope;
pub mod error;
pub mod extract;
pub mod middleware;
pub mod openapi;
pub mod ratelimit;
pub mod routes;
pub mod state;
pub mod telemetry;

use std::net::TcpListener;

use actix_web::http::Method;
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer, Route};
use wfops_config::{Config, DatabaseSource};
use wfops_db::{embedded, migrate, Db};

pub use error::ApiError;
pub use state::AppState;

type MakeRoute = fn() -> Route;

macro_rules! route {
    ($method:ident, $handler:path) => {
        (
            Method::$method,
            (|| web::route().method(Method::$method).to($handler)) as MakeRoute,
        )
    };
}

/// Every route of the API: one entry per path, with its methods. `configure` registers
/// exactly this table and the OpenAPI test checks every entry against the document.
pub fn route_table() -> Vec<(&'static str, Vec<(Method, MakeRoute)>)> {
    use routes::*;
    vec![
        ("/api/v1/health", vec![route!(GET, health::live)]),
        ("/api/v1/health/ready", vec![route!(GET, health::ready)]),
        ("/api/v1/openapi.json", vec![route!(GET, health::openapi)]),
        ("/api/v1/auth/login", vec![route!(POST, auth::login)]),
        ("/api/v1/auth/logout", vec![route!(POST, auth::logout)]),
        ("/api/v1/auth/me", vec![route!(GET, auth::me)]),
        (
            "/api/v1/api-keys",
            vec![route!(GET, api_keys::list), route!(POST, api_keys::create)],
        ),
        (
            "/api/v1/api-keys/{id}",
            vec![route!(DELETE, api_keys::revoke)],
        ),
        (
            "/api/v1/environments",
            vec![
                route!(GET, environments::list),
                route!(POST, environments::create),
            ],
        ),
        (
            "/api/v1/environments/{id}",
            vec![
                route!(GET, environments::get),
                route!(PATCH, environments::update),
                route!(DELETE, environments::delete),
            ],
        ),
        (
            "/api/v1/environments/{id}/variables",
            vec![route!(GET, variables::list)],
        ),
        (
            "/api/v1/environments/{id}/variables/{key}",
            vec![
                route!(PUT, variables::put),
                route!(DELETE, variables::delete),
            ],
        ),
        (
            "/api/v1/pipelines",
            vec![
                route!(GET, pipelines::list),
                route!(POST, pipelines::create),
            ],
        ),
        (
            "/api/v1/pipelines/{id}",
            vec![
                route!(GET, pipelines::get),
                route!(PATCH, pipelines::update),
                route!(DELETE, pipelines::delete),
            ],
        ),
        // the fixed paths before any `/credential-mappings/{id}` or `/promotions/{id}`, which
        // would otherwise match them first
        (
            "/api/v1/credential-mappings",
            vec![
                route!(GET, credential_mappings::list),
                route!(PUT, credential_mappings::put),
            ],
        ),
        (
            "/api/v1/credential-mappings/suggestions",
            vec![route!(GET, credential_mappings::suggestions)],
        ),
        (
            "/api/v1/credential-mappings/{id}",
            vec![route!(DELETE, credential_mappings::delete)],
        ),
        (
            "/api/v1/promotions/validate",
            vec![route!(POST, preflight::validate)],
        ),
        (
            "/api/v1/promotions/compare",
            vec![route!(POST, preflight::compare)],
        ),
        (
            "/api/v1/promotions/drift-check/{env_id}",
            vec![route!(GET, preflight::drift_check)],
        ),
        (
            "/api/v1/notification-channels",
            vec![
                route!(GET, notifications::list),
                route!(POST, notifications::create),
            ],
        ),
        (
            "/api/v1/notification-channels/{id}",
            vec![
                route!(GET, notifications::get),
                route!(PATCH, notifications::update),
                route!(DELETE, notifications::delete),
            ],
        ),
        (
            "/api/v1/notification-channels/{id}/rotate-secret",
            vec![route!(POST, notifications::rotate_secret)],
        ),
        (
            "/api/v1/notification-channels/{id}/test",
            vec![route!(POST, notifications::test_send)],
        ),
        (
            "/api/v1/notification-deliveries",
            vec![route!(GET, notifications::deliveries)],
        ),
        ("/api/v1/schedulers", vec![route!(GET, schedulers::list)]),
        (
            "/api/v1/platform/schedulers",
            vec![route!(GET, schedulers::installation)],
        ),
        (
            "/api/v1/environments/{id}/sync",
            vec![route!(POST, canonical::sync_environment)],
        ),
        (
            "/api/v1/canonical/sync/request",
            vec![route!(POST, canonical::sync_request)],
        ),
        (
            "/api/v1/canonical/sync-repo",
            vec![route!(POST, canonical::sync_repo)],
        ),
        (
            "/api/v1/canonical/workflows",
            vec![route!(GET, canonical::list)],
        ),
        (
            "/api/v1/canonical/workflows/{id}",
            vec![route!(GET, canonical::get)],
        ),
        (
            "/api/v1/canonical/untracked",
            vec![route!(GET, canonical::untracked)],
        ),
        (
            "/api/v1/canonical/link",
            vec![route!(POST, canonical::link)],
        ),
        (
            "/api/v1/canonical/ignore",
            vec![route!(POST, canonical::ignore)],
        ),
        (
            "/api/v1/canonical/unignore",
            vec![route!(POST, canonical::unignore)],
        ),
        (
            "/api/v1/canonical/reconcile",
            vec![route!(POST, canonical::reconcile)],
        ),
        (
            "/api/v1/canonical/onboard/preflight",
            vec![route!(GET, onboarding::preflight)],
        ),
        (
            "/api/v1/canonical/onboard/inventory",
            vec![route!(POST, onboarding::inventory)],
        ),
        (
            "/api/v1/canonical/onboard/completion",
            vec![route!(GET, onboarding::completion)],
        ),
        ("/api/v1/workflows", vec![route!(GET, workflows::list)]),
        // before `/workflows/{canonical_id}`, which would take "matrix" for an id
        (
            "/api/v1/workflows/matrix",
            vec![route!(GET, matrix::matrix)],
        ),
        (
            "/api/v1/workflows/{canonical_id}",
            vec![route!(GET, workflows::detail)],
        ),
        (
            "/api/v1/workflows/{canonical_id}/diff",
            vec![route!(GET, workflows::diff)],
        ),
        (
            "/api/v1/promotions",
            vec![
                route!(GET, promotions::list),
                route!(POST, promotions::create),
            ],
        ),
        (
            "/api/v1/promotions/{id}",
            vec![route!(GET, promotions::get)],
        ),
        (
            "/api/v1/promotions/{id}/approve",
            vec![route!(POST, promotions::approve)],
        ),
        (
            "/api/v1/promotions/{id}/reject",
            vec![route!(POST, promotions::reject)],
        ),
        (
            "/api/v1/deployments",
            vec![
                route!(GET, deployments::list),
                route!(POST, deployments::create),
            ],
        ),
        (
            "/api/v1/deployments/{id}",
            vec![route!(GET, deployments::get)],
        ),
        (
            "/api/v1/deployments/{id}/cancel",
            vec![route!(POST, deployments::cancel)],
        ),
        ("/api/v1/snapshots", vec![route!(GET, snapshots::list)]),
        ("/api/v1/snapshots/{id}", vec![route!(GET, snapshots::get)]),
        (
            "/api/v1/snapshots/{id}/restore",
            vec![route!(POST, snapshots::restore)],
        ),
        (
            "/api/v1/snapshot-restores/{id}",
            vec![route!(GET, snapshots::get_restore)],
        ),
        (
            "/api/v1/snapshot-restores/{id}/approve",
            vec![route!(POST, snapshots::approve_restore)],
        ),
        (
            "/api/v1/snapshot-restores/{id}/reject",
            vec![route!(POST, snapshots::reject_restore)],
        ),
        (
            "/api/v1/sse/deployments",
            vec![route!(GET, sse::deployments_stream)],
        ),
        (
            "/api/v1/sse/deployments/{deployment_id}",
            vec![route!(GET, sse::deployment_stream)],
        ),
        (
            "/api/v1/incidents/check-drift",
            vec![route!(POST, incidents::check_drift)],
        ),
        (
            "/api/v1/incidents/checks",
            vec![route!(GET, incidents::checks)],
        ),
        ("/api/v1/incidents", vec![route!(GET, incidents::list)]),
        ("/api/v1/incidents/{id}", vec![route!(GET, incidents::get)]),
        (
            "/api/v1/incidents/{id}/acknowledge",
            vec![route!(POST, incidents::acknowledge)],
        ),
        (
            "/api/v1/incidents/{id}/stabilize",
            vec![route!(POST, incidents::stabilize)],
        ),
        (
            "/api/v1/incidents/{id}/close",
            vec![route!(POST, incidents::close)],
        ),
        (
            "/api/v1/incidents/{id}/reconcile",
            vec![route!(POST, incidents::reconcile)],
        ),
        (
            "/api/v1/incidents/{id}/extend-ttl",
            vec![route!(POST, incidents::extend_ttl)],
        ),
        (
            "/api/v1/incidents/{id}/severity",
            vec![route!(POST, incidents::set_severity)],
        ),
        (
            "/api/v1/environments/{id}/git-webhook/secret",
            vec![route!(POST, git_webhook::rotate_secret)],
        ),
        (
            "/api/v1/webhooks/git/{tenant_id}/{environment_id}",
            vec![route!(POST, git_webhook::receive)],
        ),
        (
            "/api/v1/drift-policies",
            vec![
                route!(GET, incidents::policies),
                route!(PUT, incidents::put_policy),
            ],
        ),
        ("/api/v1/jobs", vec![route!(GET, jobs::list)]),
        ("/api/v1/jobs/{id}", vec![route!(GET, jobs::get)]),
        (
            "/api/v1/sse/background-jobs",
            vec![route!(GET, sse::background_jobs)],
        ),
        (
            "/api/v1/sse/background-jobs/{job_id}",
            vec![route!(GET, sse::background_job)],
        ),
    ]
}

/// `(method, path)` of every registered route.
pub fn registered_routes() -> Vec<(Method, &'static str)> {
    route_table()
        .into_iter()
        .flat_map(|(path, methods)| methods.into_iter().map(move |(m, _)| (m, path)))
        .collect()
}

/// Registers the state, the extractor error handlers and every route (with an enveloped 405
/// per path).
pub fn configure(state: &web::Data<AppState>, cfg: &mut web::ServiceConfig) {
    let limit = state.config.max_body_bytes;
    cfg.app_data(state.clone())
        .app_data(extract::json_config(limit))
        .app_data(extract::payload_config(limit))
        .app_data(extract::path_config())
        .app_data(extract::query_config());
    for (path, methods) in route_table() {
        let allowed = methods
            .iter()
            .map(|(m, _)| m.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        let mut resource =
            web::resource(path).default_service(web::to(middleware::method_not_allowed(allowed)));
        for (_, make) in methods {
            resource = resource.route(make());
        }
        cfg.service(resource);
    }
}

/// Builds the HTTP server on `listener`. `workers = 0` uses actix's default (one per core).
pub fn server(
    state: web::Data<AppState>,
    listener: TcpListener,
    workers: usize,
) -> std::io::Result<actix_web::dev::Server> {
    let mut http = HttpServer::new(move || {
        let config = state.config.clone();
        App::new()
            .configure(|cfg| configure(&state, cfg))
            .default_service(web::to(middleware::not_found))
            .wrap(middleware::cors(&config))
            .wrap(from_fn(middleware::ip_rate_limit))
            .wrap(middleware::security_headers(&config))
            .wrap(from_fn(middleware::request_log))
    });
    if workers > 0 {
        http = http.workers(workers);
    }
    Ok(http.listen(listener)?.run())
}

/// Resolves the database (embedded when `DATABASE_URL` is unset), fills local secrets, applies
/// the migrations and connects the pool as the application role.
pub async fn prepare(config: Config) -> Result<(Config, Db), ApiError> {
    prepare_with_url(config)
        .await
        .map(|(config, db, _)| (config, db))
}

/// [`prepare`], also returning the owner's database URL (for the LISTEN connection of the
/// Server-Sent Events, which a pooled connection can not hold).
pub async fn prepare_with_url(mut config: Config) -> Result<(Config, Db, String), ApiError> {
    let startup = |what: &str, e: &dyn std::fmt::Display| ApiError::Startup(format!("{what}: {e}"));
    config
        .ensure_local_secrets()
        .map_err(|e| startup("configuration", &e))?;
    let admin_url = match config
        .database()
        .map_err(|e| startup("configuration", &e))?
    {
        DatabaseSource::Url(url) => url.into_inner(),
        DatabaseSource::Embedded(home) => {
            let cluster = tokio::task::spawn_blocking(move || embedded::ensure(&home))
                .await
                .map_err(|e| startup("embedded PostgreSQL", &e))?
                .map_err(|e| startup("embedded PostgreSQL", &e))?;
            cluster.database_url()
        }
    };
    let applied = migrate::run(&admin_url)
        .await
        .map_err(|e| startup("migrations", &e))?;
    if !applied.is_empty() {
        tracing::info!(migrations = ?applied, "applied migrations");
    }
    let db = Db::connect(&admin_url, config.db_pool_size)
        .await
        .map_err(|e| startup("database", &e))?;
    Ok((config, db, admin_url))
}

/// `serve`: prepare, then answer HTTP on `API_BIND` until SIGINT/SIGTERM.
pub async fn run(config: Config) -> std::io::Result<()> {
    let (config, db, database_url) = prepare_with_url(config)
        .await
        .map_err(std::io::Error::other)?;
    let state = web::Data::new(AppState::new(config, db).map_err(std::io::Error::other)?);
    auth::spawn_cache_listener(
        state.auth_cache.clone(),
        state.db.clone(),
        database_url.clone(),
    );
    routes::sse::spawn_listener(state.sse.clone(), database_url);
    let listener = TcpListener::bind(state.config.api_bind)?;
    tracing::info!(
        bind = %state.config.api_bind,
        public_url = %state.config.public_url,
        "WorkflowOps API listening"
    );
    server(state, listener, 0)?.await
}
