//! Scheduler status, in two views. A tenant's users see each scheduler's timing and how its last
//! pass went for their own tenant (`scheduler_tenant_runs`, row-level security): never another
//! tenant's outcome, never database text. Platform admins also get the installation-wide view,
//! whose last error summarises every tenant (ids and database messages included).

use std::collections::HashMap;

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use wfops_db::scheduler::{self, SchedulerState};
use wfops_db::ScopedFutureExt;
use wfops_tenancy::Role;

use crate::auth::Auth;
use crate::envelope::{Envelope, ErrorBody};
use crate::error::ApiError;
use crate::AppState;

/// One periodic scheduler and how its last pass went for the caller's tenant.
#[derive(Debug, Serialize, ToSchema)]
pub struct SchedulerView {
    pub name: String,
    pub interval_seconds: i32,
    pub enabled: bool,
    pub next_run_at: DateTime<Utc>,
    /// True while a worker holds the scheduler's lease.
    pub running: bool,
    /// When the last pass over this tenant started (`null`: it never ran for this tenant).
    pub last_run_at: Option<DateTime<Utc>>,
    pub last_finished_at: Option<DateTime<Utc>>,
    pub last_success_at: Option<DateTime<Utc>>,
    /// Why the last pass failed for this tenant; `null` after a success.
    pub last_error: Option<String>,
    /// Passes over this tenant.
    pub run_count: i64,
}

/// One periodic scheduler, installation-wide.
#[derive(Debug, Serialize, ToSchema)]
pub struct InstallationSchedulerView {
    pub name: String,
    pub interval_seconds: i32,
    pub enabled: bool,
    pub last_run_at: Option<DateTime<Utc>>,
    pub last_finished_at: Option<DateTime<Utc>>,
    pub next_run_at: DateTime<Utc>,
    /// The last pass's error over all tenants: how many failed and the first errors, with
    /// tenant ids and database messages.
    pub last_error: Option<String>,
    pub last_duration_ms: Option<i64>,
    pub run_count: i64,
    /// True while a worker holds the scheduler's lease.
    pub running: bool,
    /// The worker holding the lease, if any.
    pub locked_by: Option<String>,
}

fn running(s: &SchedulerState, now: DateTime<Utc>) -> bool {
    s.locked_by.is_some() && s.lease_expires_at.is_some_and(|at| at > now)
}

/// Status of the schedulers for the caller's tenant.
#[utoipa::path(
    get, path = "/api/v1/schedulers", tag = "schedulers", security(("bearer" = [])),
    responses(
        (status = 200, description = "Every registered scheduler, with its last pass over the caller's tenant", body = Envelope<Vec<SchedulerView>>),
        (status = 401, description = "Missing or invalid token", body = ErrorBody)
    )
)]
pub async fn list(state: web::Data<AppState>, auth: Auth) -> Result<HttpResponse, ApiError> {
    auth.require(Role::Viewer)?;
    let (states, runs) = state
        .db
        .tenant_tx(auth.caller.tenant_id, |conn| {
            async move {
                let states = scheduler::list_states(conn).await?;
                let runs = scheduler::list_tenant_runs(conn).await?;
                Ok::<_, wfops_db::Error>((states, runs))
            }
            .scope_boxed()
        })
        .await
        .map_err(ApiError::from)?;
    let mut runs: HashMap<String, scheduler::TenantRun> = runs
        .into_iter()
        .map(|r| (r.scheduler_name.clone(), r))
        .collect();
    let now = Utc::now();
    let data: Vec<SchedulerView> = states
        .into_iter()
        .map(|s| {
            let run = runs.remove(&s.name);
            SchedulerView {
                running: running(&s, now),
                name: s.name,
                interval_seconds: s.interval_seconds,
                enabled: s.enabled,
                next_run_at: s.next_run_at,
                last_run_at: run.as_ref().map(|r| r.last_run_at),
                last_finished_at: run.as_ref().map(|r| r.last_finished_at),
                last_success_at: run.as_ref().and_then(|r| r.last_success_at),
                last_error: run.as_ref().and_then(|r| r.last_error.clone()),
                run_count: run.map_or(0, |r| r.run_count),
            }
        })
        .collect();
    Ok(HttpResponse::Ok().json(Envelope::new(data)))
}

/// Status of the schedulers across the installation (platform admins only: the errors name
/// tenants and quote the database).
#[utoipa::path(
    get, path = "/api/v1/platform/schedulers", tag = "schedulers", security(("bearer" = [])),
    responses(
        (status = 200, description = "Every registered scheduler, installation-wide", body = Envelope<Vec<InstallationSchedulerView>>),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "The caller is not a platform admin (API keys never are)", body = ErrorBody)
    )
)]
pub async fn installation(
    state: web::Data<AppState>,
    auth: Auth,
) -> Result<HttpResponse, ApiError> {
    auth.caller
        .require_platform_admin()
        .map_err(ApiError::from)?;
    let rows = state
        .db
        .tenant_tx(auth.caller.tenant_id, |conn| {
            async move { scheduler::list_states(conn).await }.scope_boxed()
        })
        .await
        .map_err(ApiError::from)?;
    let now = Utc::now();
    let data: Vec<InstallationSchedulerView> = rows
        .into_iter()
        .map(|s| InstallationSchedulerView {
            running: running(&s, now),
            name: s.name,
            interval_seconds: s.interval_seconds,
            enabled: s.enabled,
            last_run_at: s.last_run_at,
            last_finished_at: s.last_finished_at,
            next_run_at: s.next_run_at,
            last_error: s.last_error,
            last_duration_ms: s.last_duration_ms,
            run_count: s.run_count,
            locked_by: s.locked_by,
        })
        .collect();
    Ok(HttpResponse::Ok().json(Envelope::new(data)))
}
