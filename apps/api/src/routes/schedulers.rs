use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use wfops_db::{scheduler, ScopedFutureExt};
use wfops_tenancy::Role;

use crate::auth::Auth;
use crate::envelope::{Envelope, ErrorBody};
use crate::error::ApiError;
use crate::AppState;

/// One periodic scheduler of spec §9 and how its last run went.
#[derive(Debug, Serialize, ToSchema)]
pub struct SchedulerView {
    pub name: String,
    pub interval_seconds: i32,
    pub enabled: bool,
    pub last_run_at: Option<DateTime<Utc>>,
    pub last_finished_at: Option<DateTime<Utc>>,
    pub next_run_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub last_duration_ms: Option<i64>,
    pub run_count: i64,
    /// True while a worker holds the scheduler's lease.
    pub running: bool,
}

/// Status of the schedulers (installation-wide, not tenant data).
#[utoipa::path(
    get, path = "/api/v1/schedulers", tag = "schedulers", security(("bearer" = [])),
    responses(
        (status = 200, description = "Every registered scheduler", body = Envelope<Vec<SchedulerView>>),
        (status = 401, description = "Missing or invalid token", body = ErrorBody)
    )
)]
pub async fn list(state: web::Data<AppState>, auth: Auth) -> Result<HttpResponse, ApiError> {
    auth.require(Role::Viewer)?;
    let rows = state
        .db
        .tenant_tx(auth.caller.tenant_id, |conn| {
            async move { scheduler::list_states(conn).await }.scope_boxed()
        })
        .await
        .map_err(ApiError::from)?;
    let now = Utc::now();
    let data: Vec<SchedulerView> = rows
        .into_iter()
        .map(|s| SchedulerView {
            running: s.locked_by.is_some() && s.lease_expires_at.is_some_and(|at| at > now),
            name: s.name,
            interval_seconds: s.interval_seconds,
            enabled: s.enabled,
            last_run_at: s.last_run_at,
            last_finished_at: s.last_finished_at,
            next_run_at: s.next_run_at,
            last_error: s.last_error,
            last_duration_ms: s.last_duration_ms,
            run_count: s.run_count,
        })
        .collect();
    Ok(HttpResponse::Ok().json(Envelope::new(data)))
}
