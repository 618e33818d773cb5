//! `canonical_workflow_git_state`: what one environment's Git folder holds for a canonical
//! workflow (docs/sync-and-identity.md#canonical-identity): the file's path, the document and its
//! content hash, and the commit that brought that content.
//!
//! `git_commit_sha`/`git_commit_time` name the first synced commit at which the file had its
//! current content, not the head of every later sync: the three-way status asks whether an
//! environment changed *after* the Git version it should match (`target_hotfix`,
//! docs/sync-and-identity.md#three-way-status).
//! `last_synced_at` is when a sync last wrote the row: a sync that finds the file unchanged
//! writes nothing.

use chrono::{DateTime, Utc};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::sql_types::{Array, Nullable, Text, Timestamptz};
use diesel_async::RunQueryDsl;
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use wfops_canonical::MappingStatus;

use crate::columns::Parsed;
use crate::error::Error;
use crate::schema::canonical_workflow_git_state as gs;
use crate::Conn;

/// Rows per bulk statement: bounds the size of one statement (documents are tens of kB each).
const WRITE_CHUNK: usize = 500;

/// A whole row.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Serialize)]
#[diesel(table_name = gs, check_for_backend(Pg))]
pub struct GitState {
    pub tenant_id: Uuid,
    pub canonical_id: Uuid,
    pub environment_id: Uuid,
    pub git_commit_sha: Option<String>,
    pub git_content_hash: Option<String>,
    pub git_path: String,
    pub last_synced_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub git_workflow_data: Option<Value>,
    pub git_commit_time: Option<DateTime<Utc>>,
    pub parse_error: Option<String>,
    pub git_blob_sha: Option<String>,
}

/// A row without its document: what a repository sync compares to skip unchanged files.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Serialize)]
#[diesel(table_name = gs, check_for_backend(Pg))]
pub struct GitStateSummary {
    pub canonical_id: Uuid,
    pub git_path: String,
    pub git_content_hash: Option<String>,
    pub git_blob_sha: Option<String>,
    pub git_commit_sha: Option<String>,
    pub git_commit_time: Option<DateTime<Utc>>,
    pub parse_error: Option<String>,
}

/// One row to insert or replace. `parse_error` set means the file could not be read as a
/// workflow: then `git_content_hash` and `git_workflow_data` must be `None` (a CHECK holds it).
#[derive(Debug, Clone, PartialEq)]
pub struct GitStateWrite {
    pub canonical_id: Uuid,
    pub git_path: String,
    pub git_commit_sha: Option<String>,
    pub git_commit_time: Option<DateTime<Utc>>,
    pub git_content_hash: Option<String>,
    pub git_blob_sha: Option<String>,
    pub git_workflow_data: Option<Value>,
    pub parse_error: Option<String>,
}

/// Every Git state of one environment, without documents.
pub async fn summaries_for_environment(
    conn: &mut Conn,
    environment_id: Uuid,
) -> Result<Vec<GitStateSummary>, Error> {
    gs::table
        .filter(gs::environment_id.eq(environment_id))
        .select(GitStateSummary::as_select())
        .order(gs::git_path.asc())
        .load(conn)
        .await
        .map_err(Error::from)
}

/// One canonical workflow's Git state in one environment.
pub async fn get(
    conn: &mut Conn,
    canonical_id: Uuid,
    environment_id: Uuid,
) -> Result<Option<GitState>, Error> {
    gs::table
        .filter(gs::canonical_id.eq(canonical_id))
        .filter(gs::environment_id.eq(environment_id))
        .select(GitState::as_select())
        .first(conn)
        .await
        .optional()
        .map_err(Error::from)
}

/// Inserts or replaces the Git states of `rows` in one environment (a statement per 500 rows)
/// and sets their `last_synced_at` to `synced_at`.
pub async fn upsert(
    conn: &mut Conn,
    tenant_id: Uuid,
    environment_id: Uuid,
    synced_at: DateTime<Utc>,
    rows: &[GitStateWrite],
) -> Result<usize, Error> {
    let mut written = 0;
    for chunk in rows.chunks(WRITE_CHUNK) {
        written += upsert_chunk(conn, tenant_id, environment_id, synced_at, chunk).await?;
    }
    Ok(written)
}

async fn upsert_chunk(
    conn: &mut Conn,
    tenant_id: Uuid,
    environment_id: Uuid,
    synced_at: DateTime<Utc>,
    rows: &[GitStateWrite],
) -> Result<usize, Error> {
    let n = rows.len();
    let mut ids = Vec::with_capacity(n);
    let mut paths = Vec::with_capacity(n);
    let mut shas = Vec::with_capacity(n);
    let mut times = Vec::with_capacity(n);
    let mut hashes = Vec::with_capacity(n);
    let mut blobs = Vec::with_capacity(n);
    let mut docs = Vec::with_capacity(n);
    let mut errors = Vec::with_capacity(n);
    for r in rows {
        ids.push(r.canonical_id);
        paths.push(r.git_path.as_str());
        shas.push(r.git_commit_sha.as_deref());
        times.push(r.git_commit_time);
        hashes.push(r.git_content_hash.as_deref());
        blobs.push(r.git_blob_sha.as_deref());
        docs.push(r.git_workflow_data.as_ref());
        errors.push(r.parse_error.as_deref());
    }
    diesel::sql_query(
        "INSERT INTO canonical_workflow_git_state AS g
             (tenant_id, environment_id, canonical_id, git_path, git_commit_sha, git_commit_time,
              git_content_hash, git_blob_sha, git_workflow_data, parse_error, last_synced_at)
         SELECT $1, $2, u.canonical_id, u.path, u.sha, u.time, u.hash, u.blob, u.doc, u.error, $3
           FROM unnest($4::uuid[], $5::text[], $6::text[], $7::timestamptz[], $8::text[],
                       $9::text[], $10::jsonb[], $11::text[])
                AS u(canonical_id, path, sha, time, hash, blob, doc, error)
         ON CONFLICT (tenant_id, canonical_id, environment_id) DO UPDATE SET
             git_path = excluded.git_path,
             git_commit_sha = excluded.git_commit_sha,
             git_commit_time = excluded.git_commit_time,
             git_content_hash = excluded.git_content_hash,
             git_blob_sha = excluded.git_blob_sha,
             git_workflow_data = excluded.git_workflow_data,
             parse_error = excluded.parse_error,
             last_synced_at = excluded.last_synced_at",
    )
    .bind::<diesel::sql_types::Uuid, _>(tenant_id)
    .bind::<diesel::sql_types::Uuid, _>(environment_id)
    .bind::<Timestamptz, _>(synced_at)
    .bind::<Array<diesel::sql_types::Uuid>, _>(ids)
    .bind::<Array<Text>, _>(paths)
    .bind::<Array<Nullable<Text>>, _>(shas)
    .bind::<Array<Nullable<Timestamptz>>, _>(times)
    .bind::<Array<Nullable<Text>>, _>(hashes)
    .bind::<Array<Nullable<Text>>, _>(blobs)
    .bind::<Array<Nullable<diesel::sql_types::Jsonb>>, _>(docs)
    .bind::<Array<Nullable<Text>>, _>(errors)
    .execute(conn)
    .await
    .map_err(Error::from)
}

/// Removes the Git states of these canonical workflows in one environment (their files are
/// gone from its folder). Returns how many rows went.
pub async fn delete(
    conn: &mut Conn,
    environment_id: Uuid,
    canonical_ids: &[Uuid],
) -> Result<usize, Error> {
    if canonical_ids.is_empty() {
        return Ok(0);
    }
    diesel::delete(
        gs::table
            .filter(gs::environment_id.eq(environment_id))
            .filter(gs::canonical_id.eq_any(canonical_ids)),
    )
    .execute(conn)
    .await
    .map_err(Error::from)
}

/// A mapping of an environment joined with its canonical workflow's Git state in the same
/// environment: what onboarding's completion and inventory look at.
#[derive(Debug, Clone, PartialEq, QueryableByName, Serialize)]
pub struct MappingGitRow {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    pub mapping_id: Uuid,
    #[diesel(sql_type = Text)]
    pub n8n_workflow_id: String,
    #[diesel(sql_type = Text, deserialize_as = Parsed<MappingStatus>)]
    pub status: MappingStatus,
    #[diesel(sql_type = Nullable<diesel::sql_types::Uuid>)]
    pub canonical_id: Option<Uuid>,
    #[diesel(sql_type = Nullable<Text>)]
    pub canonical_slug: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub workflow_name: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub env_content_hash: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub parse_error: Option<String>,
    /// The Git state's path, when the canonical workflow has one in this environment.
    #[diesel(sql_type = Nullable<Text>)]
    pub git_path: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub git_commit_sha: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub git_content_hash: Option<String>,
}

/// Every mapping of the environment with the given statuses, with its Git state there.
pub async fn mappings_with_git_state(
    conn: &mut Conn,
    environment_id: Uuid,
    statuses: &[MappingStatus],
) -> Result<Vec<MappingGitRow>, Error> {
    let statuses: Vec<&str> = statuses.iter().map(|s| s.as_str()).collect();
    diesel::sql_query(
        "SELECT m.id AS mapping_id, m.n8n_workflow_id, m.status, m.canonical_id,
                c.canonical_slug, m.workflow_name, m.env_content_hash, m.parse_error,
                g.git_path, g.git_commit_sha, g.git_content_hash
           FROM workflow_env_map m
           LEFT JOIN canonical_workflows c
                  ON c.tenant_id = m.tenant_id AND c.id = m.canonical_id
           LEFT JOIN canonical_workflow_git_state g
                  ON g.tenant_id = m.tenant_id AND g.canonical_id = m.canonical_id
                 AND g.environment_id = m.environment_id
          WHERE m.environment_id = $1 AND m.status = ANY($2::text[])
          ORDER BY m.n8n_workflow_id",
    )
    .bind::<diesel::sql_types::Uuid, _>(environment_id)
    .bind::<Array<Text>, _>(statuses)
    .load(conn)
    .await
    .map_err(Error::from)
}

/// The documents (`workflow_data`) of these mappings, by mapping id: onboarding reads them
/// only for the workflows it writes to Git.
pub async fn mapping_documents(
    conn: &mut Conn,
    mapping_ids: &[Uuid],
) -> Result<Vec<(Uuid, Option<Value>)>, Error> {
    use crate::schema::workflow_env_map as m;
    if mapping_ids.is_empty() {
        return Ok(Vec::new());
    }
    m::table
        .filter(m::id.eq_any(mapping_ids))
        .select((m::id, m::workflow_data))
        .load(conn)
        .await
        .map_err(Error::from)
}
