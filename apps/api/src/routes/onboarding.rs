//! Onboarding an environment into Git: the preflight checks (answered in
//! the request, each check bounded in time by the engine), the inventory (a job), and the
//! completion counts.

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use wfops_engine::onboarding::{self, BranchState, Check, Completion, Preflight};
use wfops_tenancy::Role;

use crate::auth::{Auth, RequestMeta};
use crate::envelope::{Envelope, ErrorBody};
use crate::error::ApiError;
use crate::extract::Body;
use crate::routes::canonical::{start_environment_job, EnvironmentJob, EnvironmentRequest};
use crate::routes::jobs::JobView;
use crate::routes::query;
use crate::AppState;

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EnvironmentQuery {
    /// The environment to onboard.
    #[param(required = true, value_type = Uuid)]
    pub environment_id: Option<String>,
}

/// A check: passed or not, and what was found.
#[derive(Debug, Serialize, ToSchema)]
pub struct CheckView {
    pub ok: bool,
    pub message: String,
}

impl From<Check> for CheckView {
    fn from(c: Check) -> Self {
        Self {
            ok: c.ok,
            message: c.message,
        }
    }
}

/// The configured branch as the remote has it.
#[derive(Debug, Serialize, ToSchema)]
pub struct BranchView {
    pub name: String,
    /// `exists`, `missing` (the inventory creates it) or `unknown` (the remote was not read).
    pub state: String,
    pub head: Option<String>,
    /// `*.json` files already in the environment's folder.
    pub files_in_folder: Option<usize>,
}

impl From<BranchState> for BranchView {
    fn from(b: BranchState) -> Self {
        Self {
            name: b.name,
            state: b.state.to_string(),
            head: b.head,
            files_in_folder: b.files_in_folder,
        }
    }
}

/// Mapping counts of the environment by status.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatusCountsView {
    pub linked: i64,
    pub untracked: i64,
    pub missing: i64,
    pub ignored: i64,
    pub deleted: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PreflightView {
    pub environment_id: Uuid,
    pub environment_name: String,
    /// Every check onboarding needs passed.
    pub ready: bool,
    pub n8n: CheckView,
    pub git_configured: CheckView,
    pub git_remote: CheckView,
    pub branch: BranchView,
    pub counts: StatusCountsView,
    pub duration_ms: u64,
}

impl From<Preflight> for PreflightView {
    fn from(p: Preflight) -> Self {
        Self {
            environment_id: p.environment_id,
            environment_name: p.environment_name,
            ready: p.ready,
            n8n: p.n8n.into(),
            git_configured: p.git_configured.into(),
            git_remote: p.git_remote.into(),
            branch: p.branch.into(),
            counts: StatusCountsView {
                linked: p.counts.linked,
                untracked: p.counts.untracked,
                missing: p.counts.missing,
                ignored: p.counts.ignored,
                deleted: p.counts.deleted,
            },
            duration_ms: p.duration_ms,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CompletionView {
    pub environment_id: Uuid,
    pub linked: i64,
    pub untracked: i64,
    pub ignored: i64,
    pub missing: i64,
    pub deleted: i64,
    /// Linked workflows with a committed file in the environment's folder.
    pub committed: i64,
    /// Linked workflows without one (the next inventory commits them).
    pub uncommitted: i64,
    /// Untracked workflows n8n returned but that can not be parsed.
    pub unparseable: i64,
    /// Every workflow that is neither ignored nor gone is linked and committed.
    pub complete: bool,
}

impl From<Completion> for CompletionView {
    fn from(c: Completion) -> Self {
        Self {
            environment_id: c.environment_id,
            linked: c.linked,
            untracked: c.untracked,
            ignored: c.ignored,
            missing: c.missing,
            deleted: c.deleted,
            committed: c.committed,
            uncommitted: c.uncommitted,
            unparseable: c.unparseable,
            complete: c.complete,
        }
    }
}

/// Checks that an environment can be onboarded: n8n answers, Git is configured and reachable,
/// the branch state, and what there is to onboard. Each check is bounded in time.
#[utoipa::path(
    get, path = "/api/v1/canonical/onboard/preflight", tag = "canonical", security(("bearer" = [])),
    params(EnvironmentQuery),
    responses(
        (status = 200, description = "The checks (a failed check is `ok: false`, not an error)", body = Envelope<PreflightView>),
        (status = 400, description = "`environment_id` missing or not a UUID", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Requires admin", body = ErrorBody),
        (status = 404, description = "No such environment in this tenant", body = ErrorBody),
        (status = 409, description = "The environment can not be used as configured", body = ErrorBody)
    )
)]
pub async fn preflight(
    state: web::Data<AppState>,
    auth: Auth,
    q: web::Query<EnvironmentQuery>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Role::Admin)?;
    let env = query::required_uuid("environment_id", q.environment_id.as_deref())?;
    let p = onboarding::preflight(&state.engine, auth.caller.tenant_id, env)
        .await
        .map_err(ApiError::from)?;
    Ok(HttpResponse::Ok().json(Envelope::new(PreflightView::from(p))))
}

/// Starts onboarding: every untracked workflow gets a canonical identity and its portable JSON
/// is committed to the environment's Git folder (one commit per run).
#[utoipa::path(
    post, path = "/api/v1/canonical/onboard/inventory", tag = "canonical", security(("bearer" = [])),
    request_body = EnvironmentRequest,
    responses(
        (status = 202, description = "The inventory job (the pending one if already queued)", body = Envelope<JobView>),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Requires admin", body = ErrorBody),
        (status = 404, description = "No such environment in this tenant", body = ErrorBody),
        (status = 409, description = "The environment lacks an n8n API key or a Git repository/folder", body = ErrorBody),
        (status = 422, description = "The body does not have the expected shape", body = ErrorBody)
    )
)]
pub async fn inventory(
    state: web::Data<AppState>,
    auth: Auth,
    meta: RequestMeta,
    body: Body<EnvironmentRequest>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Role::Admin)?;
    let env = body.0.environment_id;
    start_environment_job(
        &state,
        &auth,
        &meta,
        env,
        EnvironmentJob::OnboardingInventory,
    )
    .await
}

/// How far an environment's onboarding is.
#[utoipa::path(
    get, path = "/api/v1/canonical/onboard/completion", tag = "canonical", security(("bearer" = [])),
    params(EnvironmentQuery),
    responses(
        (status = 200, description = "Counts, and whether every workflow is linked and committed", body = Envelope<CompletionView>),
        (status = 400, description = "`environment_id` missing or not a UUID", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 404, description = "No such environment in this tenant", body = ErrorBody)
    )
)]
pub async fn completion(
    state: web::Data<AppState>,
    auth: Auth,
    q: web::Query<EnvironmentQuery>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Role::Viewer)?;
    let env = query::required_uuid("environment_id", q.environment_id.as_deref())?;
    let c = onboarding::completion(&state.engine, auth.caller.tenant_id, env)
        .await
        .map_err(ApiError::from)?;
    Ok(HttpResponse::Ok().json(Envelope::new(CompletionView::from(c))))
}
