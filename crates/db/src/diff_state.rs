//! `workflow_diff_state`: the output of reconciliation (docs/sync-and-identity.md#reconciliation),
//! and the inputs it reads.
//!
//! A row with a target environment is the three-way status of promoting the canonical workflow
//! from the source to the target; a row whose target is NULL compares the source environment
//! with Git (its own folder). See `docs/decisions/reconciliation.md`.

use chrono::{DateTime, Utc};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::sql_types::{Array, Nullable, Text};
use diesel_async::RunQueryDsl;
use serde::Serialize;
use uuid::Uuid;

use wfops_canonical::MappingStatus;
use wfops_diff::DiffStatus;
use wfops_promotion::EnvironmentClass;

use crate::columns::Parsed;
use crate::error::Error;
use crate::schema::{
    canonical_workflow_git_state, canonical_workflows, environments, workflow_diff_state,
    workflow_env_map,
};
use crate::Conn;

/// A whole `workflow_diff_state` row.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Serialize)]
#[diesel(table_name = workflow_diff_state, check_for_backend(Pg))]
pub struct DiffState {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub canonical_id: Uuid,
    pub source_environment_id: Uuid,
    pub target_environment_id: Option<Uuid>,
    #[diesel(deserialize_as = Parsed<DiffStatus>)]
    pub diff_status: DiffStatus,
    pub source_content_hash: Option<String>,
    pub target_content_hash: Option<String>,
    pub git_content_hash: Option<String>,
    pub computed_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = environments, check_for_backend(Pg))]
pub struct ReconcileEnvironment {
    pub id: Uuid,
    pub name: String,
    #[diesel(deserialize_as = Parsed<EnvironmentClass>)]
    pub environment_class: EnvironmentClass,
}

/// A mapping that belongs to a canonical workflow.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = workflow_env_map, check_for_backend(Pg))]
pub struct ReconcileMapping {
    pub canonical_id: Option<Uuid>,
    pub environment_id: Uuid,
    #[diesel(deserialize_as = Parsed<MappingStatus>)]
    pub status: MappingStatus,
    pub env_content_hash: Option<String>,
    pub n8n_updated_at: Option<DateTime<Utc>>,
    pub parse_error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = canonical_workflow_git_state, check_for_backend(Pg))]
pub struct ReconcileGitState {
    pub canonical_id: Uuid,
    pub environment_id: Uuid,
    pub git_content_hash: Option<String>,
    pub git_commit_time: Option<DateTime<Utc>>,
    pub parse_error: Option<String>,
}

/// Everything reconciliation reads for the bound tenant.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReconcileInputs {
    pub environments: Vec<ReconcileEnvironment>,
    /// Canonical workflows that are not soft-deleted.
    pub canonical_ids: Vec<Uuid>,
    pub mappings: Vec<ReconcileMapping>,
    pub git_states: Vec<ReconcileGitState>,
}

/// `(source, target)` environment ids of every stage of the tenant's active pipelines.
pub async fn stage_pairs(conn: &mut Conn) -> Result<Vec<(Uuid, Uuid)>, Error> {
    Ok(crate::views::active_stages(conn)
        .await?
        .into_iter()
        .map(|s| (s.source_environment_id, s.target_environment_id))
        .collect())
}

/// Serializes reconciliations of one tenant until the end of the transaction: two syncs of
/// different environments finishing together would otherwise replace the same rows at once.
pub async fn lock_tenant(conn: &mut Conn, tenant_id: Uuid) -> Result<(), Error> {
    diesel::sql_query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
        .bind::<Text, _>(format!("reconcile:{tenant_id}"))
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn load_inputs(conn: &mut Conn) -> Result<ReconcileInputs, Error> {
    let environments = environments::table
        .filter(environments::deleted_at.is_null())
        .select(ReconcileEnvironment::as_select())
        .order(environments::id)
        .load(conn)
        .await?;
    let canonical_ids = canonical_workflows::table
        .filter(canonical_workflows::deleted_at.is_null())
        .select(canonical_workflows::id)
        .order(canonical_workflows::id)
        .load(conn)
        .await?;
    let mappings = workflow_env_map::table
        .filter(workflow_env_map::canonical_id.is_not_null())
        .select(ReconcileMapping::as_select())
        .load(conn)
        .await?;
    let git_states = canonical_workflow_git_state::table
        .select(ReconcileGitState::as_select())
        .load(conn)
        .await?;
    Ok(ReconcileInputs {
        environments,
        canonical_ids,
        mappings,
        git_states,
    })
}

/// One computed status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewDiffState {
    pub canonical_id: Uuid,
    pub source_environment_id: Uuid,
    /// `None`: the source compared with Git.
    pub target_environment_id: Option<Uuid>,
    pub diff_status: DiffStatus,
    pub source_content_hash: Option<String>,
    pub target_content_hash: Option<String>,
    pub git_content_hash: Option<String>,
}

/// Replaces every row of the bound tenant with `rows` (one DELETE and one INSERT, whatever the
/// number of rows). Call inside the transaction that read the inputs, after [`lock_tenant`].
pub async fn replace_all(
    conn: &mut Conn,
    tenant_id: Uuid,
    rows: &[NewDiffState],
) -> Result<usize, Error> {
    diesel::delete(workflow_diff_state::table)
        .execute(conn)
        .await?;
    if rows.is_empty() {
        return Ok(0);
    }
    let n = rows.len();
    let mut canonical = Vec::with_capacity(n);
    let mut source = Vec::with_capacity(n);
    let mut target = Vec::with_capacity(n);
    let mut status = Vec::with_capacity(n);
    let mut source_hash = Vec::with_capacity(n);
    let mut target_hash = Vec::with_capacity(n);
    let mut git_hash = Vec::with_capacity(n);
    for r in rows {
        canonical.push(r.canonical_id);
        source.push(r.source_environment_id);
        target.push(r.target_environment_id);
        status.push(r.diff_status.as_str());
        source_hash.push(r.source_content_hash.as_deref());
        target_hash.push(r.target_content_hash.as_deref());
        git_hash.push(r.git_content_hash.as_deref());
    }
    diesel::sql_query(
        "INSERT INTO workflow_diff_state
             (tenant_id, canonical_id, source_environment_id, target_environment_id, diff_status,
              source_content_hash, target_content_hash, git_content_hash)
         SELECT $1, u.c, u.s, u.t, u.status, u.sh, u.th, u.gh
           FROM unnest($2::uuid[], $3::uuid[], $4::uuid[], $5::text[], $6::text[], $7::text[],
                       $8::text[]) AS u(c, s, t, status, sh, th, gh)",
    )
    .bind::<diesel::sql_types::Uuid, _>(tenant_id)
    .bind::<Array<diesel::sql_types::Uuid>, _>(canonical)
    .bind::<Array<diesel::sql_types::Uuid>, _>(source)
    .bind::<Array<Nullable<diesel::sql_types::Uuid>>, _>(target)
    .bind::<Array<Text>, _>(status)
    .bind::<Array<Nullable<Text>>, _>(source_hash)
    .bind::<Array<Nullable<Text>>, _>(target_hash)
    .bind::<Array<Nullable<Text>>, _>(git_hash)
    .execute(conn)
    .await
    .map_err(Error::from)
}

/// The rows of one canonical workflow (pairs first, then the comparisons with Git).
pub async fn list_for_canonical(
    conn: &mut Conn,
    canonical_id: Uuid,
) -> Result<Vec<DiffState>, Error> {
    workflow_diff_state::table
        .filter(workflow_diff_state::canonical_id.eq(canonical_id))
        .select(DiffState::as_select())
        .order((
            workflow_diff_state::target_environment_id.is_null(),
            workflow_diff_state::source_environment_id,
            workflow_diff_state::target_environment_id,
        ))
        .load(conn)
        .await
        .map_err(Error::from)
}

/// Every row of the bound tenant.
pub async fn list_all(conn: &mut Conn) -> Result<Vec<DiffState>, Error> {
    workflow_diff_state::table
        .select(DiffState::as_select())
        .order((
            workflow_diff_state::canonical_id,
            workflow_diff_state::source_environment_id,
        ))
        .load(conn)
        .await
        .map_err(Error::from)
}
