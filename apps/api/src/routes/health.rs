use std::time::Duration;

use actix_web::{web, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;
use wfops_db::{migrate, ScopedFutureExt};

use crate::envelope::{Envelope, ErrorBody};
use crate::error::{ApiError, Code};
use crate::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct Liveness {
    /// Always `ok` when the process answers.
    pub status: &'static str,
    pub version: &'static str,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    pub status: &'static str,
    pub database: &'static str,
    pub migrations: MigrationsView,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MigrationsView {
    pub current_version: Option<String>,
    pub applied: usize,
    pub pending: Vec<String>,
}

/// Liveness: the process is up. Touches nothing else, so a slow database never gets the API
/// restarted.
#[utoipa::path(
    get, path = "/api/v1/health", tag = "health", security(()),
    responses((status = 200, description = "The process is alive", body = Envelope<Liveness>))
)]
pub async fn live() -> HttpResponse {
    HttpResponse::Ok().json(Envelope::new(Liveness {
        status: "ok",
        version: env!("CARGO_PKG_VERSION"),
    }))
}

/// Readiness: the database answers and every migration of this binary is applied.
#[utoipa::path(
    get, path = "/api/v1/health/ready", tag = "health", security(()),
    responses(
        (status = 200, description = "Ready to serve", body = Envelope<Readiness>),
        (status = 503, description = "Database unreachable or migrations pending", body = ErrorBody)
    )
)]
pub async fn ready(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let check = state
        .db
        .system_tx(|conn| async move { migrate::status(conn).await }.scope_boxed());
    let status = match tokio::time::timeout(Duration::from_secs(5), check).await {
        Ok(Ok(status)) => status,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness: database check failed");
            return Err(ApiError::new(
                Code::NotReady,
                "the database is not reachable",
            ));
        }
        Err(_) => {
            return Err(ApiError::new(
                Code::NotReady,
                "the database did not answer within 5 s",
            ))
        }
    };
    let pending: Vec<String> = status.pending().into_iter().map(String::from).collect();
    if !pending.is_empty() {
        return Err(ApiError::new(
            Code::NotReady,
            format!("migrations not applied: {}", pending.join(", ")),
        ));
    }
    Ok(HttpResponse::Ok().json(Envelope::new(Readiness {
        status: "ready",
        database: "ok",
        migrations: MigrationsView {
            current_version: status.current_version().map(String::from),
            applied: status.applied.len(),
            pending,
        },
    })))
}

/// The OpenAPI 3 document of this API.
#[utoipa::path(
    get, path = "/api/v1/openapi.json", tag = "health", security(()),
    responses((status = 200, description = "OpenAPI 3 document", content_type = "application/json"))
)]
pub async fn openapi() -> HttpResponse {
    HttpResponse::Ok().json(crate::openapi::document())
}
