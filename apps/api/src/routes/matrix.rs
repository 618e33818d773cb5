//! The cross-environment matrix (`GET /workflows/matrix`): one row per canonical workflow, one
//! cell per environment. Two queries per page whatever the filters (see `wfops_db::views`);
//! its latency is measured by `apps/api/benches/matrix.rs` (docs/BENCHMARKS.md, "Matrix").

use std::collections::HashMap;

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use wfops_db::views::{self, ActiveStage, EnvironmentColumn, MatrixCell, MatrixFilter, MatrixSort};
use wfops_db::ScopedFutureExt;
use wfops_tenancy::Role;

use crate::auth::Auth;
use crate::envelope::{ErrorBody, Paginated, Pagination};
use crate::error::ApiError;
use crate::routes::common::ensure_environment;
use crate::routes::query;
use crate::routes::query::PageRequest;
use crate::AppState;

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct MatrixQuery {
    /// Case-insensitive part of the name or slug.
    #[param(max_length = 200, pattern = r"^[^\x00-\x1f\x7f-\x9f]*$")]
    pub search: Option<String>,
    /// Rows where some environment (or `environment_id`'s) has this mapping status.
    #[param(value_type = Option<query::MappingStatusParam>)]
    pub status: Option<String>,
    /// Rows where some environment (or `environment_id`'s) has this diff status against Git.
    #[param(value_type = Option<query::DiffStatusParam>)]
    pub diff_status: Option<String>,
    /// Restricts `status` and `diff_status` to this environment.
    #[param(value_type = Option<Uuid>)]
    pub environment_id: Option<String>,
    /// `name` (default), `-name`, `updated_at` or `-updated_at`.
    #[param(value_type = Option<SortParam>)]
    pub sort: Option<String>,
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1_000_000)]
    pub page: Option<String>,
    #[param(value_type = Option<u32>, minimum = 1, maximum = 200)]
    pub page_size: Option<String>,
}

/// The values of `sort`, for the document.
#[derive(ToSchema)]
#[allow(dead_code)]
pub enum SortParam {
    #[schema(rename = "name")]
    NameAsc,
    #[schema(rename = "-name")]
    NameDesc,
    #[schema(rename = "updated_at")]
    UpdatedAsc,
    #[schema(rename = "-updated_at")]
    UpdatedDesc,
}

fn sort(raw: Option<&str>) -> Result<MatrixSort, ApiError> {
    match raw {
        None | Some("name") => Ok(MatrixSort::NameAsc),
        Some("-name") => Ok(MatrixSort::NameDesc),
        Some("updated_at") => Ok(MatrixSort::UpdatedAsc),
        Some("-updated_at") => Ok(MatrixSort::UpdatedDesc),
        Some(other) => Err(ApiError::InvalidQueryParameter(format!(
            "`sort` must be one of name, -name, updated_at, -updated_at, got `{}`",
            other.chars().take(64).collect::<String>()
        ))),
    }
}

/// An environment as a column of the matrix.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MatrixEnvironment {
    pub id: Uuid,
    pub name: String,
    pub environment_class: String,
    pub git_folder: Option<String>,
}

impl From<EnvironmentColumn> for MatrixEnvironment {
    fn from(e: EnvironmentColumn) -> Self {
        Self {
            id: e.id,
            name: e.name,
            environment_class: e.environment_class.as_str().to_string(),
            git_folder: e.git_folder,
        }
    }
}

/// One canonical workflow in one environment. Every field but `environment_id` is null when
/// the environment has neither a mapping nor a Git file for the workflow.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MatrixCellView {
    pub environment_id: Uuid,
    /// linked, untracked, missing, ignored or deleted; null without a mapping.
    pub mapping_status: Option<String>,
    pub n8n_workflow_id: Option<String>,
    pub workflow_name: Option<String>,
    /// Hash of the workflow as n8n holds it.
    pub env_content_hash: Option<String>,
    /// Hash of the file in the environment's Git folder.
    pub git_content_hash: Option<String>,
    pub git_commit_sha: Option<String>,
    /// The environment against its Git folder: unchanged, modified, added, target_only,
    /// conflict or target_hotfix (null until reconciled).
    pub diff_status: Option<String>,
    /// n8n's `updatedAt`.
    pub n8n_updated_at: Option<DateTime<Utc>>,
    /// When the mapping or the Git state last changed.
    pub updated_at: Option<DateTime<Utc>>,
    /// What promoting into this environment would change: its status against the source of
    /// the pipeline stage that feeds it. Null when no active pipeline has a stage into it.
    pub stage: Option<MatrixStageStatus>,
}

/// A cell's status against the stage that feeds its environment.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MatrixStageStatus {
    pub pipeline_id: Uuid,
    /// The stage's name in its pipeline.
    pub name: String,
    /// The environment the stage promotes from.
    pub source_environment_id: Uuid,
    /// The workflow from the stage's source to this environment: unchanged, modified, added,
    /// target_only, conflict or target_hotfix; null until reconciled or when neither holds it.
    #[schema(value_type = Option<crate::routes::query::DiffStatusParam>)]
    pub diff_status: Option<String>,
}

impl MatrixCellView {
    fn empty(environment_id: Uuid) -> Self {
        Self {
            environment_id,
            mapping_status: None,
            n8n_workflow_id: None,
            workflow_name: None,
            env_content_hash: None,
            git_content_hash: None,
            git_commit_sha: None,
            diff_status: None,
            n8n_updated_at: None,
            updated_at: None,
            stage: None,
        }
    }
}

impl From<MatrixCell> for MatrixCellView {
    fn from(c: MatrixCell) -> Self {
        Self {
            environment_id: c.environment_id,
            mapping_status: c.mapping_status.map(|s| s.as_str().to_string()),
            n8n_workflow_id: c.n8n_workflow_id,
            workflow_name: c.workflow_name,
            env_content_hash: c.env_content_hash,
            git_content_hash: c.git_content_hash,
            git_commit_sha: c.git_commit_sha,
            diff_status: c.diff_status.map(|s| s.as_str().to_string()),
            n8n_updated_at: c.n8n_updated_at,
            updated_at: c.updated_at,
            stage: None,
        }
    }
}

/// One row: a canonical workflow and its cells, in the order of `environments`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MatrixRow {
    pub canonical_id: Uuid,
    pub canonical_slug: String,
    pub name: String,
    pub content_hash: Option<String>,
    pub updated_at: DateTime<Utc>,
    pub cells: Vec<MatrixCellView>,
}

/// A page of the matrix: the rows, the environment columns, and the pagination.
#[derive(Debug, Serialize, ToSchema)]
pub struct MatrixPage {
    pub data: Vec<MatrixRow>,
    /// The columns, in promotion order (dev, staging, production, then by name).
    pub environments: Vec<MatrixEnvironment>,
    pub pagination: Pagination,
}

fn assemble(
    page: PageRequest,
    environments: Vec<EnvironmentColumn>,
    feeding: &HashMap<Uuid, ActiveStage>,
    found: views::MatrixPage,
) -> MatrixPage {
    let mut cells: HashMap<(Uuid, Uuid), MatrixCell> = found
        .cells
        .into_iter()
        .map(|c| ((c.canonical_id, c.environment_id), c))
        .collect();
    let data = found
        .rows
        .into_iter()
        .map(|row| MatrixRow {
            cells: environments
                .iter()
                .map(|e| {
                    let cell = cells.remove(&(row.id, e.id));
                    let stage = feeding.get(&e.id).map(|s| MatrixStageStatus {
                        pipeline_id: s.pipeline_id,
                        name: s.name.clone(),
                        source_environment_id: s.source_environment_id,
                        diff_status: cell
                            .as_ref()
                            .and_then(|c| c.stage_diff_status)
                            .map(|d| d.as_str().to_string()),
                    });
                    let mut view = match cell {
                        Some(cell) => MatrixCellView::from(cell),
                        None => MatrixCellView::empty(e.id),
                    };
                    view.stage = stage;
                    view
                })
                .collect(),
            canonical_id: row.id,
            canonical_slug: row.canonical_slug,
            name: row.name,
            content_hash: row.content_hash,
            updated_at: row.updated_at,
        })
        .collect();
    let pagination = Paginated::<()>::new(Vec::new(), page, found.total).pagination;
    MatrixPage {
        data,
        environments: environments.into_iter().map(Into::into).collect(),
        pagination,
    }
}

/// The cross-environment matrix.
#[utoipa::path(
    get, path = "/api/v1/workflows/matrix", tag = "workflows", security(("bearer" = [])),
    params(MatrixQuery),
    responses(
        (status = 200, description = "A page of the matrix", body = MatrixPage),
        (status = 400, description = "A bad filter, sort or pagination value", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 404, description = "`environment_id` is not an environment of this tenant", body = ErrorBody)
    )
)]
pub async fn matrix(
    state: web::Data<AppState>,
    auth: Auth,
    q: web::Query<MatrixQuery>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Role::Viewer)?;
    let page = query::page(&q.page, &q.page_size)?;
    let filter = MatrixFilter {
        search: query::search(q.search.as_deref())?,
        status: query::mapping_status(q.status.as_deref())?,
        diff_status: query::diff_status(q.diff_status.as_deref())?,
        environment_id: query::uuid_param("environment_id", q.environment_id.as_deref())?,
        sort: sort(q.sort.as_deref())?,
    };
    let filter_ref = &filter;
    let (environments, feeding, found) = state
        .db
        .tenant_tx(auth.caller.tenant_id, |conn| {
            async move {
                if let Some(env) = filter_ref.environment_id {
                    ensure_environment(conn, env).await?;
                }
                let environments = views::environment_columns(conn).await?;
                let stages = views::active_stages(conn).await?;
                let feeding = views::feeding_stages(stages, &environments);
                let feeds: Vec<(Uuid, Uuid)> = feeding
                    .values()
                    .map(|s| (s.target_environment_id, s.source_environment_id))
                    .collect();
                let found =
                    views::matrix(conn, filter_ref, page.offset(), page.limit(), &feeds).await?;
                Ok::<_, ApiError>((environments, feeding, found))
            }
            .scope_boxed()
        })
        .await?;
    Ok(HttpResponse::Ok().json(assemble(page, environments, &feeding, found)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts() {
        assert_eq!(sort(None).unwrap(), MatrixSort::NameAsc);
        assert_eq!(sort(Some("-name")).unwrap(), MatrixSort::NameDesc);
        assert_eq!(sort(Some("updated_at")).unwrap(), MatrixSort::UpdatedAsc);
        assert_eq!(sort(Some("-updated_at")).unwrap(), MatrixSort::UpdatedDesc);
        let e = sort(Some("size")).unwrap_err().to_string();
        assert!(e.contains("`sort`") && e.contains("size"), "{e}");
    }
}
