//! Background jobs: the list and one job with its progress, result and error.
//! Jobs are started by the routes that need them (sync, onboarding, reconcile), which answer
//! `202` with the [`JobView`]; these routes let a client follow them without SSE.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use wfops_db::jobs::{self, JobFilter, JobRow, JobStatus};
use wfops_db::ScopedFutureExt;
use wfops_tenancy::Role;

use crate::auth::Auth;
use crate::envelope::{Envelope, ErrorBody, Paginated};
use crate::error::{ApiError, Code};
use crate::routes::query;
use crate::AppState;

/// A job as the API shows it. The lease bookkeeping (`locked_by`, lease times) stays internal.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct JobView {
    pub id: Uuid,
    pub job_type: String,
    /// pending, running, completed, failed or cancelled.
    pub status: String,
    pub environment_id: Option<Uuid>,
    #[schema(value_type = Object)]
    pub payload: Value,
    /// `{current, total, percentage, message}` while it runs.
    #[schema(value_type = Option<Object>)]
    pub progress: Option<Value>,
    /// The report of a completed job.
    #[schema(value_type = Option<Object>)]
    pub result: Option<Value>,
    /// Why the last run failed.
    pub error: Option<String>,
    pub attempts: i32,
    pub max_attempts: i32,
    pub run_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<JobRow> for JobView {
    fn from(j: JobRow) -> Self {
        Self {
            id: j.id,
            job_type: j.job_type,
            status: j.status.as_str().to_string(),
            environment_id: j.environment_id,
            payload: j.payload,
            progress: j.progress,
            result: j.result,
            error: j.error,
            attempts: j.attempts,
            max_attempts: j.max_attempts,
            run_at: j.run_at,
            started_at: j.started_at,
            completed_at: j.completed_at,
            created_at: j.created_at,
            updated_at: j.updated_at,
        }
    }
}

/// `202 Accepted` with the job: a new one, or the one already pending for the same work.
pub fn accepted(job: JobRow, reused: bool) -> HttpResponse {
    let message = if reused {
        "an identical job is already pending; not queued again"
    } else {
        "job queued"
    };
    HttpResponse::Accepted().json(Envelope::with_message(JobView::from(job), message))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct JobsQuery {
    /// pending, running, completed, failed or cancelled.
    #[param(value_type = Option<JobStatusParam>)]
    pub status: Option<String>,
    /// e.g. `environment_sync`.
    #[param(pattern = r"^[a-z][a-z0-9_.:-]{0,63}$")]
    pub job_type: Option<String>,
    #[param(value_type = Option<Uuid>)]
    pub environment_id: Option<String>,
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1_000_000)]
    pub page: Option<String>,
    #[param(value_type = Option<u32>, minimum = 1, maximum = 200)]
    pub page_size: Option<String>,
}

/// The values of the `status` filter, for the document.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum JobStatusParam {
    Pending,
    Running,
    Completed,
    Failed,
    Cancelled,
}

fn job_status(raw: Option<&str>) -> Result<Option<JobStatus>, ApiError> {
    match raw {
        None => Ok(None),
        Some(v) => JobStatus::parse(v).map(Some).ok_or_else(|| {
            let allowed: Vec<&str> = JobStatus::ALL.iter().map(|s| s.as_str()).collect();
            ApiError::InvalidQueryParameter(format!(
                "`status` must be one of {}, got `{}`",
                allowed.join(", "),
                v.chars().take(64).collect::<String>()
            ))
        }),
    }
}

/// The same rule as the `background_jobs.job_type` check constraint.
fn job_type(raw: Option<&str>) -> Result<Option<String>, ApiError> {
    let Some(v) = raw else {
        return Ok(None);
    };
    let ok = v.len() <= 64
        && v.starts_with(|c: char| c.is_ascii_lowercase())
        && v.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'.' | b':' | b'-')
        });
    if !ok {
        return Err(ApiError::InvalidQueryParameter(format!(
            "`job_type` must be a job type name such as `environment_sync`, got `{}`",
            v.chars().take(64).collect::<String>()
        )));
    }
    Ok(Some(v.to_string()))
}

/// The tenant's jobs, newest first.
#[utoipa::path(
    get, path = "/api/v1/jobs", tag = "jobs", security(("bearer" = [])),
    params(JobsQuery),
    responses(
        (status = 200, description = "A page of jobs", body = Paginated<JobView>),
        (status = 400, description = "A bad filter or pagination value", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody)
    )
)]
pub async fn list(
    state: web::Data<AppState>,
    auth: Auth,
    q: web::Query<JobsQuery>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Role::Viewer)?;
    let page = query::page(&q.page, &q.page_size)?;
    let filter = JobFilter {
        status: job_status(q.status.as_deref())?,
        job_type: job_type(q.job_type.as_deref())?,
        environment_id: query::uuid_param("environment_id", q.environment_id.as_deref())?,
        ..JobFilter::default()
    };
    let request = jobs::PageRequest {
        page: i64::from(page.page),
        page_size: i64::from(page.page_size),
    };
    let filter_ref = &filter;
    let found = state
        .db
        .tenant_tx(auth.caller.tenant_id, |conn| {
            async move { jobs::list(conn, filter_ref, request).await }.scope_boxed()
        })
        .await
        .map_err(ApiError::from)?;
    let data = found.items.into_iter().map(JobView::from).collect();
    Ok(HttpResponse::Ok().json(Paginated::new(data, page, found.total)))
}

/// One job with its progress, result and error.
#[utoipa::path(
    get, path = "/api/v1/jobs/{id}", tag = "jobs", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Job id")),
    responses(
        (status = 200, description = "The job", body = Envelope<JobView>),
        (status = 400, description = "`id` is not a UUID", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 404, description = "No such job in this tenant", body = ErrorBody)
    )
)]
pub async fn get(
    state: web::Data<AppState>,
    auth: Auth,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Role::Viewer)?;
    let id = path.into_inner();
    let job = find(&state, &auth, id).await?;
    Ok(HttpResponse::Ok().json(Envelope::new(JobView::from(job))))
}

/// The caller's job `id`, or 404 (another tenant's job is invisible through RLS).
pub async fn find(state: &AppState, auth: &Auth, id: Uuid) -> Result<JobRow, ApiError> {
    state
        .db
        .tenant_tx(auth.caller.tenant_id, |conn| {
            async move { jobs::get(conn, id).await }.scope_boxed()
        })
        .await
        .map_err(ApiError::from)?
        .ok_or_else(|| ApiError::new(Code::JobNotFound, format!("job {id} not found")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_name_the_parameter() {
        assert_eq!(
            job_status(Some("running")).unwrap(),
            Some(JobStatus::Running)
        );
        assert!(job_status(Some("")).is_err());
        let e = job_status(Some("done")).unwrap_err().to_string();
        assert!(e.contains("`status`") && e.contains("completed"), "{e}");
        assert_eq!(
            job_type(Some("environment_sync")).unwrap().as_deref(),
            Some("environment_sync")
        );
        for bad in ["Sync", "9x", "a b", "x;drop", &"a".repeat(65)] {
            let e = job_type(Some(bad)).unwrap_err().to_string();
            assert!(e.contains("`job_type`"), "{bad}: {e}");
        }
    }
}
