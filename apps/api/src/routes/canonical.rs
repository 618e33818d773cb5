//! Canonical workflows: sync requests (jobs), the canonical list and detail, the
//! untracked list, and the person's decisions about a workflow (link, ignore, unignore).
//!
//! Every request that starts work enqueues a job in the same transaction as its audit row and
//! answers `202` with it; a request for work that is already pending gets that pending job
//! back instead of a second one (`crates/engine` `jobs`).

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use wfops_canonical::MappingStatus;
use wfops_db::environments::Environment;
use wfops_db::views::{self, MappingFilter};
use wfops_db::{workflows, Conn, ScopedFutureExt};
use wfops_engine::jobs::{self as engine_jobs, Enqueued};
use wfops_engine::jobs::{EnvironmentSync, OnboardingInventory, Reconcile, RepositorySync};
use wfops_tenancy::Role;

use crate::auth::{Auth, RequestMeta};
use crate::envelope::{Envelope, ErrorBody, Paginated};
use crate::error::{ApiError, Code};
use crate::extract::Body;
use crate::routes::common::ensure_environment;
use crate::routes::jobs::{accepted, JobView};
use crate::routes::query;
use crate::routes::record;
use crate::routes::workflows::{
    load_detail, mapping_page, CanonicalView, DiffStateItem, GitStateItem, MappingItem,
};
use crate::AppState;

// ---------------------------------------------------------------------------------------------
// jobs: environment sync, repository sync, reconcile
// ---------------------------------------------------------------------------------------------

/// A request about one environment.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnvironmentRequest {
    pub environment_id: Uuid,
}

/// Which job an environment request starts, and what the environment must have for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EnvironmentJob {
    Sync,
    RepositorySync,
    OnboardingInventory,
}

impl EnvironmentJob {
    fn audit_action(self) -> &'static str {
        match self {
            EnvironmentJob::Sync => "environment.sync_requested",
            EnvironmentJob::RepositorySync => "environment.repository_sync_requested",
            EnvironmentJob::OnboardingInventory => "environment.onboarding_requested",
        }
    }

    /// Refuses up front what the job would fail on at once, so the caller learns it now.
    fn check(self, env: &Environment) -> Result<(), ApiError> {
        let needs_n8n = matches!(
            self,
            EnvironmentJob::Sync | EnvironmentJob::OnboardingInventory
        );
        let needs_git = matches!(
            self,
            EnvironmentJob::RepositorySync | EnvironmentJob::OnboardingInventory
        );
        if needs_n8n && env.api_key_encrypted.is_none() {
            return Err(ApiError::at(
                Code::EnvironmentMissingN8nApiKey,
                "environment_id",
                format!(
                    "environment {} has no n8n API key; set one with PATCH /api/v1/environments/{}",
                    env.name, env.id
                ),
            ));
        }
        if needs_git && (env.git_repo_url.is_none() || env.git_folder.is_none()) {
            return Err(ApiError::at(
                Code::GitNotConfigured,
                "environment_id",
                format!(
                    "environment {} has no Git repository and folder configured \
                     (git_repo_url, git_folder)",
                    env.name
                ),
            ));
        }
        Ok(())
    }

    async fn enqueue(
        self,
        conn: &mut Conn,
        tenant_id: Uuid,
        environment_id: Uuid,
    ) -> Result<Enqueued, wfops_db::Error> {
        match self {
            EnvironmentJob::Sync => {
                engine_jobs::enqueue(conn, tenant_id, &EnvironmentSync { environment_id }).await
            }
            EnvironmentJob::RepositorySync => {
                engine_jobs::enqueue(conn, tenant_id, &RepositorySync { environment_id }).await
            }
            EnvironmentJob::OnboardingInventory => {
                engine_jobs::enqueue(conn, tenant_id, &OnboardingInventory { environment_id }).await
            }
        }
    }
}

/// Checks the environment, enqueues (or finds) the job and records the request, in one
/// transaction; answers `202` with the job.
pub(crate) async fn start_environment_job(
    state: &AppState,
    auth: &Auth,
    meta: &RequestMeta,
    environment_id: Uuid,
    kind: EnvironmentJob,
) -> Result<HttpResponse, ApiError> {
    let tenant_id = auth.caller.tenant_id;
    let enqueued = state
        .db
        .tenant_tx(tenant_id, |conn| {
            async move {
                let env = ensure_environment(conn, environment_id).await?;
                kind.check(&env)?;
                let enqueued = kind.enqueue(conn, tenant_id, environment_id).await?;
                record(
                    conn,
                    auth,
                    meta,
                    kind.audit_action(),
                    "environment",
                    environment_id,
                    json!({ "job_id": enqueued.job.id, "new_job": enqueued.created }),
                )
                .await?;
                Ok::<_, ApiError>(enqueued)
            }
            .scope_boxed()
        })
        .await?;
    Ok(accepted(enqueued.job, !enqueued.created))
}

/// Starts an environment sync (n8n → database, then reconciliation).
#[utoipa::path(
    post, path = "/api/v1/environments/{id}/sync", tag = "environments", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Environment id")),
    responses(
        (status = 202, description = "The sync job (the pending one if a sync is already queued)", body = Envelope<JobView>),
        (status = 400, description = "`id` is not a UUID", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Requires developer", body = ErrorBody),
        (status = 404, description = "No such environment in this tenant", body = ErrorBody),
        (status = 409, description = "The environment has no n8n API key", body = ErrorBody)
    )
)]
pub async fn sync_environment(
    state: web::Data<AppState>,
    auth: Auth,
    meta: RequestMeta,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Role::Developer)?;
    start_environment_job(
        &state,
        &auth,
        &meta,
        path.into_inner(),
        EnvironmentJob::Sync,
    )
    .await
}

/// Starts an environment sync; the same as `POST /environments/{id}/sync`.
#[utoipa::path(
    post, path = "/api/v1/canonical/sync/request", tag = "canonical", security(("bearer" = [])),
    request_body = EnvironmentRequest,
    responses(
        (status = 202, description = "The sync job (the pending one if a sync is already queued)", body = Envelope<JobView>),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Requires developer", body = ErrorBody),
        (status = 404, description = "No such environment in this tenant", body = ErrorBody),
        (status = 409, description = "The environment has no n8n API key", body = ErrorBody),
        (status = 422, description = "The body does not have the expected shape", body = ErrorBody)
    )
)]
pub async fn sync_request(
    state: web::Data<AppState>,
    auth: Auth,
    meta: RequestMeta,
    body: Body<EnvironmentRequest>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Role::Developer)?;
    let env = body.0.environment_id;
    start_environment_job(&state, &auth, &meta, env, EnvironmentJob::Sync).await
}

/// Starts a repository sync (the environment's Git folder → canonical workflows, then
/// reconciliation).
#[utoipa::path(
    post, path = "/api/v1/canonical/sync-repo", tag = "canonical", security(("bearer" = [])),
    request_body = EnvironmentRequest,
    responses(
        (status = 202, description = "The repository sync job (the pending one if already queued)", body = Envelope<JobView>),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Requires developer", body = ErrorBody),
        (status = 404, description = "No such environment in this tenant", body = ErrorBody),
        (status = 409, description = "The environment has no Git repository/folder", body = ErrorBody),
        (status = 422, description = "The body does not have the expected shape", body = ErrorBody)
    )
)]
pub async fn sync_repo(
    state: web::Data<AppState>,
    auth: Auth,
    meta: RequestMeta,
    body: Body<EnvironmentRequest>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Role::Developer)?;
    let env = body.0.environment_id;
    start_environment_job(&state, &auth, &meta, env, EnvironmentJob::RepositorySync).await
}

/// Starts a reconciliation of every canonical workflow of the tenant.
#[utoipa::path(
    post, path = "/api/v1/canonical/reconcile", tag = "canonical", security(("bearer" = [])),
    responses(
        (status = 202, description = "The reconcile job (the pending one if already queued)", body = Envelope<JobView>),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Requires admin", body = ErrorBody)
    )
)]
pub async fn reconcile(
    state: web::Data<AppState>,
    auth: Auth,
    meta: RequestMeta,
) -> Result<HttpResponse, ApiError> {
    auth.require(Role::Admin)?;
    let tenant_id = auth.caller.tenant_id;
    let (auth_ref, meta_ref) = (&auth, &meta);
    let enqueued = state
        .db
        .tenant_tx(tenant_id, |conn| {
            async move {
                let enqueued = engine_jobs::enqueue(conn, tenant_id, &Reconcile {}).await?;
                record(
                    conn,
                    auth_ref,
                    meta_ref,
                    "canonical.reconcile_requested",
                    "tenant",
                    tenant_id,
                    json!({ "job_id": enqueued.job.id, "new_job": enqueued.created }),
                )
                .await?;
                Ok::<_, ApiError>(enqueued)
            }
            .scope_boxed()
        })
        .await?;
    Ok(accepted(enqueued.job, !enqueued.created))
}

// ---------------------------------------------------------------------------------------------
// reads
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CanonicalListQuery {
    /// Case-insensitive part of the name or slug.
    #[param(max_length = 200, pattern = r"^[^\x00-\x1f\x7f-\x9f]*$")]
    pub search: Option<String>,
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1_000_000)]
    pub page: Option<String>,
    #[param(value_type = Option<u32>, minimum = 1, maximum = 200)]
    pub page_size: Option<String>,
}

/// Lists canonical workflows (not deleted) by name.
#[utoipa::path(
    get, path = "/api/v1/canonical/workflows", tag = "canonical", security(("bearer" = [])),
    params(CanonicalListQuery),
    responses(
        (status = 200, description = "A page of canonical workflows", body = Paginated<CanonicalView>),
        (status = 400, description = "A bad search or pagination value", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody)
    )
)]
pub async fn list(
    state: web::Data<AppState>,
    auth: Auth,
    q: web::Query<CanonicalListQuery>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Role::Viewer)?;
    let page = query::page(&q.page, &q.page_size)?;
    let search = query::search(q.search.as_deref())?;
    let search_ref = search.as_deref();
    let (rows, total) = state
        .db
        .tenant_tx(auth.caller.tenant_id, |conn| {
            async move { views::canonical_list(conn, search_ref, page.offset(), page.limit()).await }
                .scope_boxed()
        })
        .await
        .map_err(ApiError::from)?;
    let data = rows.into_iter().map(CanonicalView::from).collect();
    Ok(HttpResponse::Ok().json(Paginated::new(data, page, total)))
}

/// A canonical workflow with its mapping and its Git state in each environment.
#[derive(Debug, Serialize, ToSchema)]
pub struct CanonicalDetailView {
    #[serde(flatten)]
    pub canonical: CanonicalView,
    pub mappings: Vec<MappingItem>,
    pub git_states: Vec<GitStateItem>,
    pub diff_states: Vec<DiffStateItem>,
}

#[utoipa::path(
    get, path = "/api/v1/canonical/workflows/{id}", tag = "canonical", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Canonical workflow id")),
    responses(
        (status = 200, description = "The canonical workflow (also when soft-deleted)", body = Envelope<CanonicalDetailView>),
        (status = 400, description = "`id` is not a UUID", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 404, description = "No such canonical workflow in this tenant", body = ErrorBody)
    )
)]
pub async fn get(
    state: web::Data<AppState>,
    auth: Auth,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Role::Viewer)?;
    let d = load_detail(&state, &auth, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(Envelope::new(CanonicalDetailView {
        canonical: d.canonical.into(),
        mappings: d.mappings.into_iter().map(Into::into).collect(),
        git_states: d.git_states.into_iter().map(Into::into).collect(),
        diff_states: d.diff_states.into_iter().map(Into::into).collect(),
    })))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UntrackedQuery {
    /// Only this environment's untracked workflows.
    #[param(value_type = Option<Uuid>)]
    pub environment_id: Option<String>,
    /// Case-insensitive part of the workflow name, or exactly its n8n id.
    #[param(max_length = 200, pattern = r"^[^\x00-\x1f\x7f-\x9f]*$")]
    pub search: Option<String>,
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1_000_000)]
    pub page: Option<String>,
    #[param(value_type = Option<u32>, minimum = 1, maximum = 200)]
    pub page_size: Option<String>,
}

/// n8n workflows that belong to no canonical workflow yet.
#[utoipa::path(
    get, path = "/api/v1/canonical/untracked", tag = "canonical", security(("bearer" = [])),
    params(UntrackedQuery),
    responses(
        (status = 200, description = "A page of untracked workflows", body = Paginated<MappingItem>),
        (status = 400, description = "A bad filter or pagination value", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 404, description = "`environment_id` is not an environment of this tenant", body = ErrorBody)
    )
)]
pub async fn untracked(
    state: web::Data<AppState>,
    auth: Auth,
    q: web::Query<UntrackedQuery>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Role::Viewer)?;
    let page = query::page(&q.page, &q.page_size)?;
    let filter = MappingFilter {
        environment_id: query::uuid_param("environment_id", q.environment_id.as_deref())?,
        status: Some(MappingStatus::Untracked),
        search: query::search(q.search.as_deref())?,
        canonical_id: None,
    };
    mapping_page(&state, &auth, filter, page).await
}

// ---------------------------------------------------------------------------------------------
// link, ignore, unignore
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkRequest {
    pub environment_id: Uuid,
    /// The workflow's id in that environment's n8n: 1 to 255 characters, not blank, no control
    /// characters.
    #[schema(
        min_length = 1,
        max_length = 255,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub n8n_workflow_id: String,
    pub canonical_id: Uuid,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkflowRequest {
    pub environment_id: Uuid,
    /// The workflow's id in that environment's n8n: 1 to 255 characters, not blank, no control
    /// characters.
    #[schema(
        min_length = 1,
        max_length = 255,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub n8n_workflow_id: String,
}

/// A mapping after a decision, and the reconciliation queued to bring diff statuses up to date.
#[derive(Debug, Serialize, ToSchema)]
pub struct MappingChange {
    pub mapping: MappingItem,
    /// Whether this request changed anything (false when it was already so).
    pub changed: bool,
    /// The reconcile job that recomputes statuses (absent when nothing changed).
    pub reconcile_job_id: Option<Uuid>,
}

fn validate_n8n_id(raw: &str) -> Result<String, ApiError> {
    crate::routes::common::text("n8n_workflow_id", raw, 255)
}

fn unknown_workflow(env: &Environment, n8n_id: &str) -> ApiError {
    ApiError::at(
        Code::WorkflowNotInEnvironment,
        "n8n_workflow_id",
        format!(
            "environment {} has no workflow with n8n id `{n8n_id}` (run a sync first?)",
            env.name
        ),
    )
}

/// Re-reads one mapping for the response.
async fn mapping_view(
    conn: &mut Conn,
    environment_id: Uuid,
    n8n_id: &str,
) -> Result<MappingItem, ApiError> {
    views::mapping_by_n8n_id(conn, environment_id, n8n_id)
        .await?
        .map(MappingItem::from)
        .ok_or_else(|| ApiError::internal("a mapping vanished inside its transaction"))
}

/// Ties an untracked n8n workflow to a canonical workflow.
///
/// The content hash is not registered for auto-linking: the registry maps Git content to
/// canonical workflows, and a hand-made link says nothing about what Git holds.
#[utoipa::path(
    post, path = "/api/v1/canonical/link", tag = "canonical", security(("bearer" = [])),
    request_body = LinkRequest,
    responses(
        (status = 200, description = "Linked (or already linked to that canonical workflow)", body = Envelope<MappingChange>),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Requires developer", body = ErrorBody),
        (status = 404, description = "No such environment in this tenant", body = ErrorBody),
        (status = 409, description = "The canonical workflow is already mapped in that environment, the workflow is not untracked, unknown workflow or canonical workflow, or a deleted canonical workflow", body = ErrorBody),
        (status = 422, description = "The body does not have the expected shape, or a value is invalid", body = ErrorBody)
    )
)]
pub async fn link(
    state: web::Data<AppState>,
    auth: Auth,
    meta: RequestMeta,
    body: Body<LinkRequest>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Role::Developer)?;
    let req = body.0;
    let n8n_id = validate_n8n_id(&req.n8n_workflow_id)?;
    let (environment_id, canonical_id) = (req.environment_id, req.canonical_id);
    let tenant_id = auth.caller.tenant_id;
    let (auth_ref, meta_ref, n8n_ref) = (&auth, &meta, n8n_id.as_str());
    let change = state
        .db
        .tenant_tx(tenant_id, |conn| {
            async move {
                let env = ensure_environment(conn, environment_id).await?;
                let mapping = workflows::get_by_n8n_id(conn, environment_id, n8n_ref)
                    .await?
                    .ok_or_else(|| unknown_workflow(&env, n8n_ref))?;
                let canonical = match views::canonical_get(conn, canonical_id).await {
                    Ok(c) => c,
                    Err(wfops_db::Error::NotFound) => {
                        return Err(ApiError::at(
                            Code::UnknownCanonicalWorkflow,
                            "canonical_id",
                            format!("no canonical workflow {canonical_id} in this tenant"),
                        ))
                    }
                    Err(e) => return Err(e.into()),
                };
                if canonical.deleted_at.is_some() {
                    return Err(ApiError::at(
                        Code::CanonicalWorkflowDeleted,
                        "canonical_id",
                        format!(
                            "canonical workflow {} ({}) is deleted and can not be linked",
                            canonical.canonical_slug, canonical_id
                        ),
                    ));
                }
                if mapping.canonical_id == Some(canonical_id)
                    && mapping.status == MappingStatus::Linked
                {
                    return Ok(MappingChange {
                        mapping: mapping_view(conn, environment_id, n8n_ref).await?,
                        changed: false,
                        reconcile_job_id: None,
                    });
                }
                if mapping.status != MappingStatus::Untracked {
                    let hint = match mapping.status {
                        MappingStatus::Ignored => "; unignore it first",
                        MappingStatus::Linked => "; it is linked to another canonical workflow",
                        _ => "",
                    };
                    return Err(ApiError::at(
                        Code::WorkflowNotUntracked,
                        "n8n_workflow_id",
                        format!(
                            "workflow `{n8n_ref}` in environment {} is {}; only untracked \
                             workflows can be linked{hint}",
                            env.name, mapping.status
                        ),
                    ));
                }
                if let Some(other) =
                    views::mapping_of_canonical(conn, environment_id, canonical_id).await?
                {
                    return Err(already_mapped(&env, &canonical.canonical_slug, &other));
                }
                let linked =
                    match workflows::link_manually(conn, environment_id, n8n_ref, canonical_id)
                        .await
                    {
                        Ok(Some(row)) => row,
                        // changed under us by a sync or another request
                        Ok(None) => {
                            return Err(ApiError::at(
                                Code::ConcurrentChange,
                                "n8n_workflow_id",
                                format!("workflow `{n8n_ref}` changed while linking; retry"),
                            ))
                        }
                        Err(wfops_db::Error::Conflict { .. }) => {
                            return Err(ApiError::at(
                                Code::CanonicalAlreadyMapped,
                                "canonical_id",
                                format!(
                                    "canonical workflow {} is already mapped in environment {}",
                                    canonical.canonical_slug, env.name
                                ),
                            ))
                        }
                        Err(e) => return Err(e.into()),
                    };
                let job = engine_jobs::enqueue(conn, tenant_id, &Reconcile {}).await?;
                record(
                    conn,
                    auth_ref,
                    meta_ref,
                    "workflow.link",
                    "workflow_mapping",
                    linked.id,
                    json!({
                        "environment_id": environment_id,
                        "n8n_workflow_id": n8n_ref,
                        "canonical_id": canonical_id,
                    }),
                )
                .await?;
                Ok(MappingChange {
                    mapping: mapping_view(conn, environment_id, n8n_ref).await?,
                    changed: true,
                    reconcile_job_id: Some(job.job.id),
                })
            }
            .scope_boxed()
        })
        .await?;
    let message = if change.changed {
        "workflow linked"
    } else {
        "workflow was already linked to this canonical workflow"
    };
    Ok(HttpResponse::Ok().json(Envelope::with_message(change, message)))
}

fn already_mapped(env: &Environment, slug: &str, other: &views::MappingView) -> ApiError {
    ApiError::at(
        Code::CanonicalAlreadyMapped,
        "canonical_id",
        format!(
            "canonical workflow {slug} is already mapped in environment {} (n8n workflow `{}`, \
             {})",
            env.name, other.n8n_workflow_id, other.status
        ),
    )
}

/// Marks a workflow as ignored: no sync changes its status until it is unignored.
#[utoipa::path(
    post, path = "/api/v1/canonical/ignore", tag = "canonical", security(("bearer" = [])),
    request_body = WorkflowRequest,
    responses(
        (status = 200, description = "Ignored (or already ignored)", body = Envelope<MappingChange>),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Requires developer", body = ErrorBody),
        (status = 404, description = "No such environment in this tenant", body = ErrorBody),
        (status = 409, description = "The mapping is deleted, or unknown workflow", body = ErrorBody),
        (status = 422, description = "The body does not have the expected shape, or a value is invalid", body = ErrorBody)
    )
)]
pub async fn ignore(
    state: web::Data<AppState>,
    auth: Auth,
    meta: RequestMeta,
    body: Body<WorkflowRequest>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Role::Developer)?;
    set_ignored(&state, &auth, &meta, body.0, true).await
}

/// Lifts an ignore: the workflow becomes linked (with a canonical workflow) or untracked.
#[utoipa::path(
    post, path = "/api/v1/canonical/unignore", tag = "canonical", security(("bearer" = [])),
    request_body = WorkflowRequest,
    responses(
        (status = 200, description = "Unignored (or it was not ignored)", body = Envelope<MappingChange>),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Requires developer", body = ErrorBody),
        (status = 404, description = "No such environment in this tenant", body = ErrorBody),
        (status = 409, description = "Unknown workflow", body = ErrorBody),
        (status = 422, description = "The body does not have the expected shape, or a value is invalid", body = ErrorBody)
    )
)]
pub async fn unignore(
    state: web::Data<AppState>,
    auth: Auth,
    meta: RequestMeta,
    body: Body<WorkflowRequest>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Role::Developer)?;
    set_ignored(&state, &auth, &meta, body.0, false).await
}

async fn set_ignored(
    state: &AppState,
    auth: &Auth,
    meta: &RequestMeta,
    req: WorkflowRequest,
    ignore: bool,
) -> Result<HttpResponse, ApiError> {
    let n8n_id = validate_n8n_id(&req.n8n_workflow_id)?;
    let environment_id = req.environment_id;
    let tenant_id = auth.caller.tenant_id;
    let n8n_ref = n8n_id.as_str();
    let change = state
        .db
        .tenant_tx(tenant_id, |conn| {
            async move {
                let env = ensure_environment(conn, environment_id).await?;
                let mapping = workflows::get_by_n8n_id(conn, environment_id, n8n_ref)
                    .await?
                    .ok_or_else(|| unknown_workflow(&env, n8n_ref))?;
                let is_ignored = mapping.status == MappingStatus::Ignored;
                if is_ignored == ignore {
                    return Ok(MappingChange {
                        mapping: mapping_view(conn, environment_id, n8n_ref).await?,
                        changed: false,
                        reconcile_job_id: None,
                    });
                }
                if mapping.status == MappingStatus::Deleted {
                    return Err(ApiError::at(
                        Code::WorkflowMappingDeleted,
                        "n8n_workflow_id",
                        format!(
                            "workflow `{n8n_ref}` in environment {} is deleted; deleted \
                             mappings stay deleted",
                            env.name
                        ),
                    ));
                }
                let row = if ignore {
                    workflows::ignore(conn, environment_id, n8n_ref).await?
                } else {
                    workflows::unignore(conn, environment_id, n8n_ref).await?
                }
                .ok_or_else(|| unknown_workflow(&env, n8n_ref))?;
                let job = engine_jobs::enqueue(conn, tenant_id, &Reconcile {}).await?;
                record(
                    conn,
                    auth,
                    meta,
                    if ignore {
                        "workflow.ignore"
                    } else {
                        "workflow.unignore"
                    },
                    "workflow_mapping",
                    row.id,
                    json!({
                        "environment_id": environment_id,
                        "n8n_workflow_id": n8n_ref,
                        "from": mapping.status,
                        "to": row.status,
                    }),
                )
                .await?;
                Ok::<_, ApiError>(MappingChange {
                    mapping: mapping_view(conn, environment_id, n8n_ref).await?,
                    changed: true,
                    reconcile_job_id: Some(job.job.id),
                })
            }
            .scope_boxed()
        })
        .await?;
    let message = match (ignore, change.changed) {
        (true, true) => "workflow ignored",
        (true, false) => "workflow was already ignored",
        (false, true) => "workflow unignored",
        (false, false) => "workflow was not ignored; nothing changed",
    };
    Ok(HttpResponse::Ok().json(Envelope::with_message(change, message)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn n8n_ids() {
        assert_eq!(validate_n8n_id(" abc123 ").unwrap(), "abc123");
        for bad in ["", "  ", "a\nb"] {
            let e = validate_n8n_id(bad).unwrap_err().to_string();
            assert!(e.starts_with("n8n_workflow_id:"), "{e}");
        }
        assert!(validate_n8n_id(&"x".repeat(256)).is_err());
    }
}
