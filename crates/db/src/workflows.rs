//! `workflow_env_map`: one row per n8n workflow per environment, its mapping to a canonical
//! workflow, and what the last environment sync saw of it
//! (docs/sync-and-identity.md#environment-sync).
//!
//! Environment sync writes in bulk: one statement per batch, whatever the batch size, with the
//! batch passed as arrays (`unnest`), never one round trip per workflow.

use chrono::{DateTime, Utc};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::sql_types::{Array, Bool, Jsonb, Nullable, Text, Timestamptz};
use diesel_async::RunQueryDsl;
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use wfops_canonical::MappingStatus;

use crate::columns::{parse_text, Parsed};
use crate::error::Error;
use crate::schema::{env_sync_seen, environments, workflow_env_map};
use crate::Conn;

/// A whole `workflow_env_map` row.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Serialize)]
#[diesel(table_name = workflow_env_map, check_for_backend(Pg))]
pub struct Mapping {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub canonical_id: Option<Uuid>,
    pub environment_id: Uuid,
    pub n8n_workflow_id: String,
    #[diesel(deserialize_as = Parsed<MappingStatus>)]
    pub status: MappingStatus,
    pub env_content_hash: Option<String>,
    pub git_content_hash: Option<String>,
    pub n8n_updated_at: Option<DateTime<Utc>>,
    pub workflow_name: Option<String>,
    pub workflow_data: Option<Value>,
    pub linked_at: Option<DateTime<Utc>>,
    pub last_env_sync_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub n8n_version_id: Option<String>,
    pub active: bool,
    pub parse_error: Option<String>,
}

/// What an environment sync compares to decide that a workflow is unchanged (everything but
/// the document itself, which is large).
#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = workflow_env_map, check_for_backend(Pg))]
pub struct SyncState {
    pub id: Uuid,
    pub n8n_workflow_id: String,
    pub canonical_id: Option<Uuid>,
    #[diesel(deserialize_as = Parsed<MappingStatus>)]
    pub status: MappingStatus,
    pub env_content_hash: Option<String>,
    pub workflow_name: Option<String>,
    pub active: bool,
    pub n8n_updated_at: Option<DateTime<Utc>>,
    pub n8n_version_id: Option<String>,
    pub parse_error: Option<String>,
}

/// The sync state of the given n8n workflows of one environment (those it has a row for).
pub async fn sync_states(
    conn: &mut Conn,
    environment_id: Uuid,
    n8n_workflow_ids: &[String],
) -> Result<Vec<SyncState>, Error> {
    if n8n_workflow_ids.is_empty() {
        return Ok(Vec::new());
    }
    workflow_env_map::table
        .filter(workflow_env_map::environment_id.eq(environment_id))
        .filter(workflow_env_map::n8n_workflow_id.eq_any(n8n_workflow_ids))
        .select(SyncState::as_select())
        .load(conn)
        .await
        .map_err(Error::from)
}

/// One workflow as n8n returned it, to be written by [`upsert_seen`]. Borrows the document:
/// batches are written straight from the fetched page, without copying it.
#[derive(Debug, Clone, PartialEq)]
pub struct SeenWorkflow<'a> {
    pub n8n_workflow_id: &'a str,
    /// The status the row should have now (the caller decides it with the canonical crate's
    /// precedence rules); see [`upsert_seen`] for how concurrent user decisions win.
    pub status: MappingStatus,
    /// `None` exactly when `parse_error` is set.
    pub env_content_hash: Option<String>,
    pub parse_error: Option<String>,
    pub n8n_updated_at: Option<DateTime<Utc>>,
    pub n8n_version_id: Option<&'a str>,
    pub workflow_name: Option<&'a str>,
    pub active: bool,
    pub workflow_data: &'a Value,
}

/// The id a row has after [`upsert_seen`].
#[derive(Debug, Clone, PartialEq, QueryableByName)]
pub struct UpsertedId {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    pub id: Uuid,
    #[diesel(sql_type = Text)]
    pub n8n_workflow_id: String,
    #[diesel(sql_type = Text, deserialize_as = Parsed<MappingStatus>)]
    pub status: MappingStatus,
}

/// Inserts or updates the rows of `workflows` in one statement and returns their ids.
///
/// New rows are created untracked (`canonical_id` NULL); existing rows keep their canonical id
/// (a sync never unlinks: identity survives edits). The status is the one computed by the
/// caller, except when a person changed the row since the caller read it: `ignored` and
/// `deleted` stay, and a row linked meanwhile stays `linked`.
pub async fn upsert_seen(
    conn: &mut Conn,
    tenant_id: Uuid,
    environment_id: Uuid,
    synced_at: DateTime<Utc>,
    workflows: &[SeenWorkflow<'_>],
) -> Result<Vec<UpsertedId>, Error> {
    if workflows.is_empty() {
        return Ok(Vec::new());
    }
    let n = workflows.len();
    let mut ids = Vec::with_capacity(n);
    let mut statuses = Vec::with_capacity(n);
    let mut hashes = Vec::with_capacity(n);
    let mut errors = Vec::with_capacity(n);
    let mut updated = Vec::with_capacity(n);
    let mut versions = Vec::with_capacity(n);
    let mut names = Vec::with_capacity(n);
    let mut active = Vec::with_capacity(n);
    let mut data = Vec::with_capacity(n);
    for w in workflows {
        ids.push(w.n8n_workflow_id);
        statuses.push(w.status.as_str());
        hashes.push(w.env_content_hash.as_deref());
        errors.push(w.parse_error.as_deref());
        updated.push(w.n8n_updated_at);
        versions.push(w.n8n_version_id);
        names.push(w.workflow_name);
        active.push(w.active);
        data.push(w.workflow_data);
    }
    diesel::sql_query(
        "INSERT INTO workflow_env_map AS m
             (tenant_id, environment_id, n8n_workflow_id, status, env_content_hash, parse_error,
              n8n_updated_at, n8n_version_id, workflow_name, active, workflow_data,
              last_env_sync_at)
         SELECT $1, $2, u.n8n_id,
                -- the proposed row is checked before ON CONFLICT applies, and a new row has no
                -- canonical id: propose `untracked`; the update below keeps an existing link
                CASE WHEN u.status = 'linked' THEN 'untracked' ELSE u.status END,
                u.hash, u.parse_error, u.updated_at, u.version_id,
                u.name, u.active, u.data, $3
           FROM unnest($4::text[], $5::text[], $6::text[], $7::text[], $8::timestamptz[],
                       $9::text[], $10::text[], $11::bool[], $12::jsonb[])
                AS u(n8n_id, status, hash, parse_error, updated_at, version_id, name, active, data)
         ON CONFLICT (environment_id, n8n_workflow_id) DO UPDATE SET
             status = CASE
                 WHEN m.status IN ('ignored', 'deleted') THEN m.status
                 WHEN excluded.status = 'untracked' AND m.canonical_id IS NOT NULL THEN 'linked'
                 ELSE excluded.status END,
             env_content_hash = excluded.env_content_hash,
             parse_error = excluded.parse_error,
             n8n_updated_at = excluded.n8n_updated_at,
             n8n_version_id = excluded.n8n_version_id,
             workflow_name = excluded.workflow_name,
             active = excluded.active,
             workflow_data = excluded.workflow_data,
             last_env_sync_at = excluded.last_env_sync_at
         RETURNING m.id, m.n8n_workflow_id, m.status",
    )
    .bind::<diesel::sql_types::Uuid, _>(tenant_id)
    .bind::<diesel::sql_types::Uuid, _>(environment_id)
    .bind::<Timestamptz, _>(synced_at)
    .bind::<Array<Text>, _>(ids)
    .bind::<Array<Text>, _>(statuses)
    .bind::<Array<Nullable<Text>>, _>(hashes)
    .bind::<Array<Nullable<Text>>, _>(errors)
    .bind::<Array<Nullable<Timestamptz>>, _>(updated)
    .bind::<Array<Nullable<Text>>, _>(versions)
    .bind::<Array<Nullable<Text>>, _>(names)
    .bind::<Array<Bool>, _>(active)
    .bind::<Array<Jsonb>, _>(data)
    .load(conn)
    .await
    .map_err(Error::from)
}

/// Lets the current transaction commit without waiting for its WAL to reach disk
/// (`synchronous_commit = off`, for this transaction only). A crash of the database server can
/// then lose the last few hundred milliseconds of such commits, whole and in order, never half
/// of one. Only for writes that can be redone from their source (an environment sync's batch,
/// whose checkpoint commits with it).
pub async fn relax_commit_durability(conn: &mut Conn) -> Result<(), Error> {
    diesel::sql_query("SET LOCAL synchronous_commit = off")
        .execute(conn)
        .await?;
    Ok(())
}

/// Remembers that sync run `run_id` saw these workflows (see `env_sync_seen` in the sync
/// migration). Seeing one twice is harmless.
pub async fn record_seen(
    conn: &mut Conn,
    tenant_id: Uuid,
    environment_id: Uuid,
    run_id: Uuid,
    n8n_workflow_ids: &[&str],
) -> Result<(), Error> {
    if n8n_workflow_ids.is_empty() {
        return Ok(());
    }
    diesel::sql_query(
        "INSERT INTO env_sync_seen (tenant_id, environment_id, sync_run_id, n8n_workflow_id)
         SELECT $1, $2, $3, u.id FROM unnest($4::text[]) AS u(id)
         ON CONFLICT DO NOTHING",
    )
    .bind::<diesel::sql_types::Uuid, _>(tenant_id)
    .bind::<diesel::sql_types::Uuid, _>(environment_id)
    .bind::<diesel::sql_types::Uuid, _>(run_id)
    .bind::<Array<Text>, _>(n8n_workflow_ids)
    .execute(conn)
    .await?;
    Ok(())
}

/// Forgets what earlier runs of this environment saw, keeping `keep_run` (the current run when
/// it resumes). Earlier runs are over: one sync per environment runs at a time.
pub async fn clear_seen(
    conn: &mut Conn,
    environment_id: Uuid,
    keep_run: Option<Uuid>,
) -> Result<usize, Error> {
    let q = env_sync_seen::table.filter(env_sync_seen::environment_id.eq(environment_id));
    let n = match keep_run {
        Some(run) => {
            diesel::delete(q.filter(env_sync_seen::sync_run_id.ne(run)))
                .execute(conn)
                .await?
        }
        None => diesel::delete(q).execute(conn).await?,
    };
    Ok(n)
}

/// A mapping that an environment sync marked missing.
#[derive(Debug, Clone, PartialEq, QueryableByName, Serialize)]
pub struct MarkedMissing {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    pub id: Uuid,
    #[diesel(sql_type = Text)]
    pub n8n_workflow_id: String,
    #[diesel(sql_type = Nullable<diesel::sql_types::Uuid>)]
    pub canonical_id: Option<Uuid>,
}

/// Marks `missing` every linked or untracked mapping of the environment that run `run_id` did
/// not see. Ignored, deleted and already missing rows are left alone (status precedence,
/// docs/sync-and-identity.md#mapping-status).
///
/// The difference is taken here rather than with `NOT EXISTS` in SQL: `env_sync_seen` has just
/// been filled and has no statistics yet, and the planner then picks a nested loop that scans
/// it once per mapping (seconds for 10,000 workflows). Two index reads and an update by
/// primary key cost the same whatever the statistics say.
pub async fn mark_missing(
    conn: &mut Conn,
    environment_id: Uuid,
    run_id: Uuid,
) -> Result<Vec<MarkedMissing>, Error> {
    let seen: std::collections::HashSet<String> = env_sync_seen::table
        .filter(env_sync_seen::environment_id.eq(environment_id))
        .filter(env_sync_seen::sync_run_id.eq(run_id))
        .select(env_sync_seen::n8n_workflow_id)
        .load::<String>(conn)
        .await?
        .into_iter()
        .collect();
    let present: Vec<(Uuid, String)> = workflow_env_map::table
        .filter(workflow_env_map::environment_id.eq(environment_id))
        .filter(workflow_env_map::status.eq_any([
            MappingStatus::Linked.as_str(),
            MappingStatus::Untracked.as_str(),
        ]))
        .select((workflow_env_map::id, workflow_env_map::n8n_workflow_id))
        .load(conn)
        .await?;
    let gone: Vec<Uuid> = present
        .into_iter()
        .filter(|(_, n8n_id)| !seen.contains(n8n_id))
        .map(|(id, _)| id)
        .collect();
    if gone.is_empty() {
        return Ok(Vec::new());
    }
    diesel::sql_query(
        "UPDATE workflow_env_map m SET status = 'missing'
          WHERE m.id = ANY($1::uuid[]) AND m.status IN ('linked', 'untracked')
         RETURNING m.id, m.n8n_workflow_id, m.canonical_id",
    )
    .bind::<Array<diesel::sql_types::Uuid>, _>(gone)
    .load(conn)
    .await
    .map_err(Error::from)
}

/// Sets `environments.last_sync_at`.
pub async fn set_last_sync_at(
    conn: &mut Conn,
    environment_id: Uuid,
    at: DateTime<Utc>,
) -> Result<(), Error> {
    let n = diesel::update(environments::table.find(environment_id))
        .set(environments::last_sync_at.eq(Some(at)))
        .execute(conn)
        .await?;
    if n == 0 {
        return Err(Error::NotFound);
    }
    Ok(())
}

/// Links untracked mappings to canonical workflows: `(mapping id, canonical id)` pairs. A row
/// that is no longer untracked (a person ignored or linked it meanwhile) is skipped; returns
/// the ids that were linked.
pub async fn link_untracked(conn: &mut Conn, links: &[(Uuid, Uuid)]) -> Result<Vec<Uuid>, Error> {
    if links.is_empty() {
        return Ok(Vec::new());
    }
    let (ids, canonicals): (Vec<Uuid>, Vec<Uuid>) = links.iter().copied().unzip();
    #[derive(QueryableByName)]
    struct Linked {
        #[diesel(sql_type = diesel::sql_types::Uuid)]
        id: Uuid,
    }
    let rows: Vec<Linked> = diesel::sql_query(
        "UPDATE workflow_env_map m
            SET canonical_id = u.canonical_id, status = 'linked', linked_at = now()
           FROM unnest($1::uuid[], $2::uuid[]) AS u(id, canonical_id)
          WHERE m.id = u.id AND m.status = 'untracked' AND m.canonical_id IS NULL
         RETURNING m.id",
    )
    .bind::<Array<diesel::sql_types::Uuid>, _>(ids)
    .bind::<Array<diesel::sql_types::Uuid>, _>(canonicals)
    .load(conn)
    .await?;
    Ok(rows.into_iter().map(|r| r.id).collect())
}

/// An untracked mapping whose content hash is registered in `workflow_hash_registry`: a
/// candidate for auto-linking, with its document (for the collision check).
#[derive(Debug, Clone, PartialEq, QueryableByName)]
pub struct RegisteredUntracked {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    pub id: Uuid,
    #[diesel(sql_type = Text)]
    pub n8n_workflow_id: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub workflow_name: Option<String>,
    #[diesel(sql_type = Text)]
    pub env_content_hash: String,
    #[diesel(sql_type = Nullable<Jsonb>)]
    pub workflow_data: Option<Value>,
}

/// The environment's untracked mappings whose hash is registered. Only those can be
/// auto-linked, so only their (large) documents are read.
pub async fn untracked_with_registered_hash(
    conn: &mut Conn,
    environment_id: Uuid,
) -> Result<Vec<RegisteredUntracked>, Error> {
    diesel::sql_query(
        "SELECT m.id, m.n8n_workflow_id, m.workflow_name, m.env_content_hash, m.workflow_data
           FROM workflow_env_map m
          WHERE m.environment_id = $1 AND m.status = 'untracked' AND m.canonical_id IS NULL
            AND m.env_content_hash IS NOT NULL
            AND EXISTS (SELECT 1 FROM workflow_hash_registry r
                         WHERE r.tenant_id = m.tenant_id AND r.content_hash = m.env_content_hash)
          ORDER BY m.n8n_workflow_id",
    )
    .bind::<diesel::sql_types::Uuid, _>(environment_id)
    .load(conn)
    .await
    .map_err(Error::from)
}

/// Mapping counts of one environment by status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct StatusCounts {
    pub linked: i64,
    pub untracked: i64,
    pub missing: i64,
    pub ignored: i64,
    pub deleted: i64,
}

pub async fn status_counts(conn: &mut Conn, environment_id: Uuid) -> Result<StatusCounts, Error> {
    let rows: Vec<(String, i64)> = workflow_env_map::table
        .filter(workflow_env_map::environment_id.eq(environment_id))
        .group_by(workflow_env_map::status)
        .select((workflow_env_map::status, diesel::dsl::count_star()))
        .load(conn)
        .await?;
    let mut c = StatusCounts::default();
    for (status, n) in rows {
        match parse_text::<MappingStatus>(&status)? {
            MappingStatus::Linked => c.linked = n,
            MappingStatus::Untracked => c.untracked = n,
            MappingStatus::Missing => c.missing = n,
            MappingStatus::Ignored => c.ignored = n,
            MappingStatus::Deleted => c.deleted = n,
        }
    }
    Ok(c)
}

/// One mapping by its n8n id in an environment.
pub async fn get_by_n8n_id(
    conn: &mut Conn,
    environment_id: Uuid,
    n8n_workflow_id: &str,
) -> Result<Option<Mapping>, Error> {
    workflow_env_map::table
        .filter(workflow_env_map::environment_id.eq(environment_id))
        .filter(workflow_env_map::n8n_workflow_id.eq(n8n_workflow_id))
        .select(Mapping::as_select())
        .first(conn)
        .await
        .optional()
        .map_err(Error::from)
}

/// Every mapping of an environment, by n8n id.
pub async fn list_for_environment(
    conn: &mut Conn,
    environment_id: Uuid,
) -> Result<Vec<Mapping>, Error> {
    workflow_env_map::table
        .filter(workflow_env_map::environment_id.eq(environment_id))
        .select(Mapping::as_select())
        .order(workflow_env_map::n8n_workflow_id.asc())
        .load(conn)
        .await
        .map_err(Error::from)
}

/// Sets a mapping's status to `ignored` (a person's decision, which no sync overrides).
/// `None` when the environment has no such workflow.
pub async fn ignore(
    conn: &mut Conn,
    environment_id: Uuid,
    n8n_workflow_id: &str,
) -> Result<Option<Mapping>, Error> {
    diesel::update(
        workflow_env_map::table
            .filter(workflow_env_map::environment_id.eq(environment_id))
            .filter(workflow_env_map::n8n_workflow_id.eq(n8n_workflow_id)),
    )
    .set(workflow_env_map::status.eq(MappingStatus::Ignored.as_str()))
    .returning(Mapping::as_returning())
    .get_result(conn)
    .await
    .optional()
    .map_err(Error::from)
}

/// Lifts an ignore: the row becomes `linked` when it has a canonical workflow, else
/// `untracked` (the next sync marks it `missing` if n8n no longer has it). Rows that are not
/// ignored are returned unchanged. `None` when the environment has no such workflow.
pub async fn unignore(
    conn: &mut Conn,
    environment_id: Uuid,
    n8n_workflow_id: &str,
) -> Result<Option<Mapping>, Error> {
    let updated = diesel::update(
        workflow_env_map::table
            .filter(workflow_env_map::environment_id.eq(environment_id))
            .filter(workflow_env_map::n8n_workflow_id.eq(n8n_workflow_id))
            .filter(workflow_env_map::status.eq(MappingStatus::Ignored.as_str())),
    )
    .set(workflow_env_map::status.eq(diesel::dsl::sql::<Text>(
        "CASE WHEN canonical_id IS NULL THEN 'untracked' ELSE 'linked' END",
    )))
    .returning(Mapping::as_returning())
    .get_result(conn)
    .await
    .optional()?;
    match updated {
        Some(row) => Ok(Some(row)),
        None => get_by_n8n_id(conn, environment_id, n8n_workflow_id).await,
    }
}

/// Links one untracked mapping to a canonical workflow by hand; `None` when the environment
/// has no such untracked row. A canonical workflow already mapped in the environment fails
/// with `Conflict { constraint: "workflow_env_map_canonical_id_environment_id_key" }`, an
/// unknown one with `ForeignKey`. Whether the canonical workflow may be linked (not deleted)
/// is the caller's check.
pub async fn link_manually(
    conn: &mut Conn,
    environment_id: Uuid,
    n8n_workflow_id: &str,
    canonical_id: Uuid,
) -> Result<Option<Mapping>, Error> {
    diesel::update(
        workflow_env_map::table
            .filter(workflow_env_map::environment_id.eq(environment_id))
            .filter(workflow_env_map::n8n_workflow_id.eq(n8n_workflow_id))
            .filter(workflow_env_map::status.eq(MappingStatus::Untracked.as_str()))
            .filter(workflow_env_map::canonical_id.is_null()),
    )
    .set((
        workflow_env_map::canonical_id.eq(Some(canonical_id)),
        workflow_env_map::status.eq(MappingStatus::Linked.as_str()),
        workflow_env_map::linked_at.eq(Some(Utc::now())),
    ))
    .returning(Mapping::as_returning())
    .get_result(conn)
    .await
    .optional()
    .map_err(Error::from)
}

/// Keeps `git_content_hash` equal to the hash of the canonical workflow's Git state in the
/// mapping's own environment folder (NULL without one). Writes only rows that differ; returns
/// how many.
pub async fn sync_git_hashes(conn: &mut Conn) -> Result<usize, Error> {
    diesel::sql_query(
        "UPDATE workflow_env_map m SET git_content_hash = g.hash
           FROM (SELECT m2.id, gs.git_content_hash AS hash
                   FROM workflow_env_map m2
                   LEFT JOIN canonical_workflow_git_state gs
                     ON gs.tenant_id = m2.tenant_id AND gs.canonical_id = m2.canonical_id
                    AND gs.environment_id = m2.environment_id) g
          WHERE m.id = g.id AND m.git_content_hash IS DISTINCT FROM g.hash",
    )
    .execute(conn)
    .await
    .map_err(Error::from)
}
