//! Workflows: the mappings of n8n workflows to canonical workflows, a canonical
//! workflow's versions (per environment and per Git folder) and the node-by-node diff between
//! any two of them. The response types here are shared with the canonical routes.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use wfops_db::views::{
    self, CanonicalSummary, DiffStateView, GitStateView, MappingFilter, MappingView, VersionRef,
};
use wfops_db::ScopedFutureExt;
use wfops_tenancy::Role;

use crate::auth::Auth;
use crate::envelope::{Envelope, ErrorBody, Paginated};
use crate::error::{ApiError, Code};
use crate::routes::common::{canonical_not_found, ensure_environment};
use crate::routes::query;
use crate::AppState;

// ---------------------------------------------------------------------------------------------
// response types
// ---------------------------------------------------------------------------------------------

/// A canonical workflow: the identity of one logical workflow across environments.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CanonicalView {
    pub id: Uuid,
    /// Stable, human-readable id; also the Git file name (`<slug>.json`).
    pub canonical_slug: String,
    pub name: String,
    /// Content hash of the version last read from Git.
    pub content_hash: Option<String>,
    pub git_file_path: Option<String>,
    pub provider: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
}

impl From<CanonicalSummary> for CanonicalView {
    fn from(c: CanonicalSummary) -> Self {
        Self {
            id: c.id,
            canonical_slug: c.canonical_slug,
            name: c.name,
            content_hash: c.content_hash,
            git_file_path: c.git_file_path,
            provider: c.provider,
            created_at: c.created_at,
            updated_at: c.updated_at,
            deleted_at: c.deleted_at,
        }
    }
}

/// One n8n workflow of one environment and its canonical workflow (if linked).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MappingItem {
    pub id: Uuid,
    pub environment_id: Uuid,
    pub environment_name: String,
    pub canonical_id: Option<Uuid>,
    pub canonical_slug: Option<String>,
    pub n8n_workflow_id: String,
    /// linked, untracked, missing, ignored or deleted.
    pub status: String,
    pub workflow_name: Option<String>,
    pub env_content_hash: Option<String>,
    /// Hash of the canonical workflow's Git file in this environment's folder.
    pub git_content_hash: Option<String>,
    pub active: bool,
    pub n8n_version_id: Option<String>,
    /// Why n8n's document could not be normalized (it then has no hash).
    pub parse_error: Option<String>,
    pub n8n_updated_at: Option<DateTime<Utc>>,
    pub linked_at: Option<DateTime<Utc>>,
    pub last_env_sync_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<MappingView> for MappingItem {
    fn from(m: MappingView) -> Self {
        Self {
            id: m.id,
            environment_id: m.environment_id,
            environment_name: m.environment_name,
            canonical_id: m.canonical_id,
            canonical_slug: m.canonical_slug,
            n8n_workflow_id: m.n8n_workflow_id,
            status: m.status.as_str().to_string(),
            workflow_name: m.workflow_name,
            env_content_hash: m.env_content_hash,
            git_content_hash: m.git_content_hash,
            active: m.active,
            n8n_version_id: m.n8n_version_id,
            parse_error: m.parse_error,
            n8n_updated_at: m.n8n_updated_at,
            linked_at: m.linked_at,
            last_env_sync_at: m.last_env_sync_at,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

/// A canonical workflow's committed file in one environment's Git folder.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct GitStateItem {
    pub environment_id: Uuid,
    pub environment_name: String,
    pub git_folder: Option<String>,
    pub git_path: String,
    pub git_commit_sha: Option<String>,
    pub git_commit_time: Option<DateTime<Utc>>,
    pub git_content_hash: Option<String>,
    /// Why the file could not be parsed (it then has no hash).
    pub parse_error: Option<String>,
    pub last_synced_at: DateTime<Utc>,
}

impl From<GitStateView> for GitStateItem {
    fn from(g: GitStateView) -> Self {
        Self {
            environment_id: g.environment_id,
            environment_name: g.environment_name,
            git_folder: g.git_folder,
            git_path: g.git_path,
            git_commit_sha: g.git_commit_sha,
            git_commit_time: g.git_commit_time,
            git_content_hash: g.git_content_hash,
            parse_error: g.parse_error,
            last_synced_at: g.last_synced_at,
        }
    }
}

/// A reconciled diff status: of promoting from the source to the target environment, or of the
/// source environment against its own Git folder when `target_environment_id` is null.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DiffStateItem {
    pub source_environment_id: Uuid,
    pub target_environment_id: Option<Uuid>,
    /// unchanged, modified, added, target_only, conflict or target_hotfix.
    pub diff_status: String,
    pub source_content_hash: Option<String>,
    pub target_content_hash: Option<String>,
    pub git_content_hash: Option<String>,
    pub computed_at: DateTime<Utc>,
}

impl From<DiffStateView> for DiffStateItem {
    fn from(d: DiffStateView) -> Self {
        Self {
            source_environment_id: d.source_environment_id,
            target_environment_id: d.target_environment_id,
            diff_status: d.diff_status.as_str().to_string(),
            source_content_hash: d.source_content_hash,
            target_content_hash: d.target_content_hash,
            git_content_hash: d.git_content_hash,
            computed_at: d.computed_at,
        }
    }
}

/// Where a version lives.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum VersionKind {
    /// As the last sync read it from the environment's n8n.
    Environment,
    /// As committed in the environment's Git folder.
    Git,
}

/// One version of a canonical workflow. `ref` names it for the diff endpoint.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct VersionItem {
    /// `env:<environment_id>` or `git:<environment_id>`.
    #[serde(rename = "ref")]
    pub reference: String,
    pub kind: VersionKind,
    pub environment_id: Uuid,
    pub environment_name: String,
    pub content_hash: Option<String>,
    /// n8n's `updatedAt` (environment) or the commit time (Git).
    pub changed_at: Option<DateTime<Utc>>,
    /// When WorkflowOps last read this version.
    pub synced_at: Option<DateTime<Utc>>,
    pub n8n_workflow_id: Option<String>,
    pub mapping_status: Option<String>,
    pub workflow_name: Option<String>,
    pub git_path: Option<String>,
    pub git_commit_sha: Option<String>,
    pub parse_error: Option<String>,
}

/// A canonical workflow with all its versions and reconciled statuses.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WorkflowDetail {
    pub canonical: CanonicalView,
    /// Environment versions first, then Git versions, each in environment order.
    pub versions: Vec<VersionItem>,
    pub diff_states: Vec<DiffStateItem>,
}

fn versions(mappings: Vec<MappingView>, git_states: Vec<GitStateView>) -> Vec<VersionItem> {
    let env = mappings.into_iter().map(|m| VersionItem {
        reference: format!("env:{}", m.environment_id),
        kind: VersionKind::Environment,
        environment_id: m.environment_id,
        environment_name: m.environment_name,
        content_hash: m.env_content_hash,
        changed_at: m.n8n_updated_at,
        synced_at: m.last_env_sync_at,
        n8n_workflow_id: Some(m.n8n_workflow_id),
        mapping_status: Some(m.status.as_str().to_string()),
        workflow_name: m.workflow_name,
        git_path: None,
        git_commit_sha: None,
        parse_error: m.parse_error,
    });
    let git = git_states.into_iter().map(|g| VersionItem {
        reference: format!("git:{}", g.environment_id),
        kind: VersionKind::Git,
        environment_id: g.environment_id,
        environment_name: g.environment_name,
        content_hash: g.git_content_hash,
        changed_at: g.git_commit_time,
        synced_at: Some(g.last_synced_at),
        n8n_workflow_id: None,
        mapping_status: None,
        workflow_name: None,
        git_path: Some(g.git_path),
        git_commit_sha: g.git_commit_sha,
        parse_error: g.parse_error,
    });
    env.chain(git).collect()
}

// ---------------------------------------------------------------------------------------------
// GET /workflows
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct MappingsQuery {
    /// Only this environment's workflows.
    #[param(value_type = Option<Uuid>)]
    pub environment_id: Option<String>,
    /// linked, untracked, missing, ignored or deleted.
    #[param(value_type = Option<query::MappingStatusParam>)]
    pub status: Option<String>,
    /// Case-insensitive part of the workflow name, or exactly its n8n id.
    #[param(max_length = 200, pattern = r"^[^\x00-\x1f\x7f-\x9f]*$")]
    pub search: Option<String>,
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1_000_000)]
    pub page: Option<String>,
    #[param(value_type = Option<u32>, minimum = 1, maximum = 200)]
    pub page_size: Option<String>,
}

/// Lists mappings by workflow name: one item per n8n workflow per environment.
#[utoipa::path(
    get, path = "/api/v1/workflows", tag = "workflows", security(("bearer" = [])),
    params(MappingsQuery),
    responses(
        (status = 200, description = "A page of workflows", body = Paginated<MappingItem>),
        (status = 400, description = "A bad filter or pagination value", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 404, description = "`environment_id` is not an environment of this tenant", body = ErrorBody)
    )
)]
pub async fn list(
    state: web::Data<AppState>,
    auth: Auth,
    q: web::Query<MappingsQuery>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Role::Viewer)?;
    let page = query::page(&q.page, &q.page_size)?;
    let filter = MappingFilter {
        environment_id: query::uuid_param("environment_id", q.environment_id.as_deref())?,
        status: query::mapping_status(q.status.as_deref())?,
        search: query::search(q.search.as_deref())?,
        canonical_id: None,
    };
    mapping_page(&state, &auth, filter, page).await
}

/// A page of mappings after checking that a filtered environment exists.
pub(crate) async fn mapping_page(
    state: &AppState,
    auth: &Auth,
    filter: MappingFilter,
    page: query::PageRequest,
) -> Result<HttpResponse, ApiError> {
    let filter_ref = &filter;
    let (rows, total) = state
        .db
        .tenant_tx(auth.caller.tenant_id, |conn| {
            async move {
                if let Some(env) = filter_ref.environment_id {
                    ensure_environment(conn, env).await?;
                }
                views::mapping_list(conn, filter_ref, page.offset(), page.limit())
                    .await
                    .map_err(ApiError::from)
            }
            .scope_boxed()
        })
        .await?;
    let data = rows.into_iter().map(MappingItem::from).collect();
    Ok(HttpResponse::Ok().json(Paginated::new(data, page, total)))
}

// ---------------------------------------------------------------------------------------------
// GET /workflows/{canonical_id}
// ---------------------------------------------------------------------------------------------

/// A canonical workflow's versions per environment and per Git folder, with hashes and times,
/// and its reconciled diff statuses.
#[utoipa::path(
    get, path = "/api/v1/workflows/{canonical_id}", tag = "workflows", security(("bearer" = [])),
    params(("canonical_id" = Uuid, Path, description = "Canonical workflow id")),
    responses(
        (status = 200, description = "The workflow and its versions", body = Envelope<WorkflowDetail>),
        (status = 400, description = "`canonical_id` is not a UUID", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 404, description = "No such canonical workflow in this tenant", body = ErrorBody)
    )
)]
pub async fn detail(
    state: web::Data<AppState>,
    auth: Auth,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Role::Viewer)?;
    let id = path.into_inner();
    let d = load_detail(&state, &auth, id).await?;
    Ok(HttpResponse::Ok().json(Envelope::new(WorkflowDetail {
        canonical: d.canonical.into(),
        versions: versions(d.mappings, d.git_states),
        diff_states: d.diff_states.into_iter().map(Into::into).collect(),
    })))
}

pub(crate) async fn load_detail(
    state: &AppState,
    auth: &Auth,
    id: Uuid,
) -> Result<views::CanonicalDetail, ApiError> {
    state
        .db
        .tenant_tx(auth.caller.tenant_id, |conn| {
            async move { views::canonical_detail(conn, id).await }.scope_boxed()
        })
        .await
        .map_err(|e| match e {
            wfops_db::Error::NotFound => canonical_not_found(id),
            other => other.into(),
        })
}

// ---------------------------------------------------------------------------------------------
// GET /workflows/{canonical_id}/diff
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DiffQuery {
    /// The old side: `env:<environment_id>` or `git:<environment_id>`.
    #[param(required = true, value_type = String, pattern = r"^(env|git):[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")]
    pub from: Option<String>,
    /// The new side, same form.
    #[param(required = true, value_type = String, pattern = r"^(env|git):[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")]
    pub to: Option<String>,
}

/// One side of a diff as the response names it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DiffSide {
    #[serde(rename = "ref")]
    pub reference: String,
    pub kind: VersionKind,
    pub environment_id: Uuid,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WorkflowDiffView {
    pub canonical_id: Uuid,
    pub from: DiffSide,
    pub to: DiffSide,
    /// Added, removed, renamed and modified nodes (JSON Pointer paths with old and new
    /// values), connection and settings changes, and non-content changes (positions,
    /// `active`, ids) that never count as drift. `content_changed` is true exactly when the
    /// content hashes differ.
    #[schema(value_type = Object)]
    pub diff: wfops_diff::WorkflowDiff,
}

fn parse_version(name: &str, raw: Option<&str>) -> Result<(VersionRef, DiffSide), ApiError> {
    let bad = |why: &str| {
        ApiError::InvalidQueryParameter(format!(
            "`{name}` must be `env:<environment_id>` or `git:<environment_id>`{why}"
        ))
    };
    let raw = raw.ok_or_else(|| bad(" (it is required)"))?;
    let shown: String = raw.chars().take(64).collect();
    let (kind, id) = raw
        .split_once(':')
        .ok_or_else(|| bad(&format!(", got `{shown}`")))?;
    // the hyphenated form only, as the document's pattern says
    let id = (id.len() == 36)
        .then(|| Uuid::parse_str(id).ok())
        .flatten()
        .ok_or_else(|| bad(&format!(", got `{shown}`")))?;
    let (version, kind, prefix) = match kind {
        "env" => (VersionRef::Environment(id), VersionKind::Environment, "env"),
        "git" => (VersionRef::Git(id), VersionKind::Git, "git"),
        _ => return Err(bad(&format!(", got `{shown}`"))),
    };
    let side = DiffSide {
        reference: format!("{prefix}:{id}"),
        kind,
        environment_id: id,
    };
    Ok((version, side))
}

fn describe(side: &DiffSide) -> String {
    match side.kind {
        VersionKind::Environment => format!("environment {}", side.environment_id),
        VersionKind::Git => format!("the Git folder of environment {}", side.environment_id),
    }
}

/// The node-by-node diff between two versions of a canonical workflow.
#[utoipa::path(
    get, path = "/api/v1/workflows/{canonical_id}/diff", tag = "workflows", security(("bearer" = [])),
    params(("canonical_id" = Uuid, Path, description = "Canonical workflow id"), DiffQuery),
    responses(
        (status = 200, description = "What changed from `from` to `to`", body = Envelope<WorkflowDiffView>),
        (status = 400, description = "`from`/`to` missing or malformed, or `canonical_id` not a UUID", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 404, description = "No such canonical workflow, or it has no version there", body = ErrorBody),
        (status = 409, description = "A stored version can not be compared (it could not be parsed)", body = ErrorBody)
    )
)]
pub async fn diff(
    state: web::Data<AppState>,
    auth: Auth,
    path: web::Path<Uuid>,
    q: web::Query<DiffQuery>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Role::Viewer)?;
    let id = path.into_inner();
    let (from, from_side) = parse_version("from", q.from.as_deref())?;
    let (to, to_side) = parse_version("to", q.to.as_deref())?;
    let (old, new) = state
        .db
        .tenant_tx(auth.caller.tenant_id, |conn| {
            async move {
                views::canonical_get(conn, id).await.map_err(|e| match e {
                    wfops_db::Error::NotFound => canonical_not_found(id),
                    other => other.into(),
                })?;
                let old = views::version_document(conn, id, from).await?;
                let new = views::version_document(conn, id, to).await?;
                Ok::<_, ApiError>((old, new))
            }
            .scope_boxed()
        })
        .await?;
    let missing = |side: &DiffSide| {
        ApiError::new(
            Code::WorkflowVersionNotFound,
            format!(
                "canonical workflow {id} has no stored version in {}",
                describe(side)
            ),
        )
    };
    let old: Value = old.ok_or_else(|| missing(&from_side))?;
    let new: Value = new.ok_or_else(|| missing(&to_side))?;
    let diff = wfops_diff::diff_workflows(&old, &new).map_err(|e| {
        ApiError::new(
            Code::VersionsNotComparable,
            format!(
                "the versions can not be compared ({} → {}): {e}",
                describe(&from_side),
                describe(&to_side)
            ),
        )
    })?;
    Ok(HttpResponse::Ok().json(Envelope::new(WorkflowDiffView {
        canonical_id: id,
        from: from_side,
        to: to_side,
        diff,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_refs() {
        let id = Uuid::new_v4();
        let (v, side) = parse_version("from", Some(&format!("env:{id}"))).unwrap();
        assert_eq!(v, VersionRef::Environment(id));
        assert_eq!(side.reference, format!("env:{id}"));
        let (v, _) = parse_version("to", Some(&format!("git:{id}"))).unwrap();
        assert_eq!(v, VersionRef::Git(id));
        assert!(parse_version("to", Some(&format!(" git:{id} "))).is_err());
        for bad in [
            None,
            Some(""),
            Some("env"),
            Some("env:nope"),
            Some(&*format!("svn:{id}")),
        ] {
            let e = parse_version("from", bad).unwrap_err();
            assert!(matches!(e, ApiError::InvalidQueryParameter(_)), "{bad:?}");
            assert!(e.to_string().contains("`from`"), "{e}");
        }
    }
}
