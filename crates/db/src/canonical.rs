//! `canonical_workflows`: the stable identity of a logical workflow across environments
//! (docs/sync-and-identity.md#canonical-identity), with the version of it last read from Git.
//!
//! Slugs are unique per tenant, soft-deleted rows included (the unique constraint does not
//! exclude them), so a deleted workflow's file name is never handed to another workflow: when
//! its file comes back, a repository sync revives the same identity.

use chrono::{DateTime, Utc};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::sql_types::{Array, Text};
use diesel_async::RunQueryDsl;
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use crate::error::Error;
use crate::schema::canonical_workflows;
use crate::Conn;

/// Rows per bulk statement: bounds the size of one statement (workflow documents are tens of
/// kB each) whatever the number of workflows.
const WRITE_CHUNK: usize = 500;

/// A whole `canonical_workflows` row.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Serialize)]
#[diesel(table_name = canonical_workflows, check_for_backend(Pg))]
pub struct CanonicalWorkflow {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub canonical_slug: String,
    pub name: String,
    pub content_hash: Option<String>,
    pub workflow_definition: Option<Value>,
    pub git_file_path: Option<String>,
    pub provider: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
}

/// A row without its (large) definition: what identity lookups need.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Serialize)]
#[diesel(table_name = canonical_workflows, check_for_backend(Pg))]
pub struct CanonicalSummary {
    pub id: Uuid,
    pub canonical_slug: String,
    pub name: String,
    pub content_hash: Option<String>,
    pub git_file_path: Option<String>,
    pub deleted_at: Option<DateTime<Utc>>,
}

/// A canonical workflow to create. The id is chosen by the caller so that it can be used
/// before the row exists (onboarding names files by it, tests know it).
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = canonical_workflows)]
pub struct NewCanonicalWorkflow<'a> {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub canonical_slug: &'a str,
    pub name: &'a str,
    pub content_hash: Option<&'a str>,
    pub workflow_definition: Option<&'a Value>,
    pub git_file_path: Option<&'a str>,
}

/// The content of a canonical workflow as read from Git.
#[derive(Debug, Clone)]
pub struct CanonicalContent<'a> {
    pub name: &'a str,
    pub content_hash: Option<&'a str>,
    pub workflow_definition: Option<&'a Value>,
    pub git_file_path: Option<&'a str>,
}

/// Creates the row unless its slug is taken in the tenant; `None` when it is (then pick
/// another slug, or use the row that holds it). Never fails on a slug race with a concurrent
/// transaction: it waits for that transaction and reports the slug as taken if it committed.
pub async fn insert_if_slug_free(
    conn: &mut Conn,
    new: &NewCanonicalWorkflow<'_>,
) -> Result<Option<CanonicalWorkflow>, Error> {
    diesel::insert_into(canonical_workflows::table)
        .values(new)
        .on_conflict((
            canonical_workflows::tenant_id,
            canonical_workflows::canonical_slug,
        ))
        .do_nothing()
        .returning(CanonicalWorkflow::as_returning())
        .get_result(conn)
        .await
        .optional()
        .map_err(Error::from)
}

/// [`insert_if_slug_free`] for many rows, a statement per 500: returns the ids that were
/// inserted; the others' slugs were taken (by a row committed meanwhile, or twice in `rows`).
pub async fn insert_many_if_slug_free(
    conn: &mut Conn,
    rows: &[NewCanonicalWorkflow<'_>],
) -> Result<Vec<Uuid>, Error> {
    let mut inserted = Vec::with_capacity(rows.len());
    // each row is 7 bind parameters; PostgreSQL takes at most 65,535 per statement
    for chunk in rows.chunks(WRITE_CHUNK) {
        let ids: Vec<Uuid> = diesel::insert_into(canonical_workflows::table)
            .values(chunk)
            .on_conflict((
                canonical_workflows::tenant_id,
                canonical_workflows::canonical_slug,
            ))
            .do_nothing()
            .returning(canonical_workflows::id)
            .get_results(conn)
            .await?;
        inserted.extend(ids);
    }
    Ok(inserted)
}

pub async fn get(conn: &mut Conn, id: Uuid) -> Result<CanonicalWorkflow, Error> {
    canonical_workflows::table
        .find(id)
        .select(CanonicalWorkflow::as_select())
        .first(conn)
        .await
        .map_err(Error::from)
}

/// The rows holding these slugs, soft-deleted ones included.
pub async fn find_by_slugs(
    conn: &mut Conn,
    slugs: &[String],
) -> Result<Vec<CanonicalSummary>, Error> {
    if slugs.is_empty() {
        return Ok(Vec::new());
    }
    canonical_workflows::table
        .filter(canonical_workflows::canonical_slug.eq_any(slugs))
        .select(CanonicalSummary::as_select())
        .load(conn)
        .await
        .map_err(Error::from)
}

/// Every slug of the tenant (soft-deleted rows included), to choose a free one. A tenant has
/// thousands of workflows at most; one query beats a lookup per candidate.
pub async fn all_slugs(conn: &mut Conn) -> Result<Vec<String>, Error> {
    canonical_workflows::table
        .select(canonical_workflows::canonical_slug)
        .load(conn)
        .await
        .map_err(Error::from)
}

/// Writes the Git content of canonical workflows and revives the soft-deleted ones (their file
/// is back), a statement per 500 rows. Rows that already hold these values are not written, so
/// that `updated_at` keeps meaning "last changed". Returns how many rows changed.
pub async fn set_content_many(
    conn: &mut Conn,
    rows: &[(Uuid, CanonicalContent<'_>)],
) -> Result<usize, Error> {
    let mut changed = 0;
    for chunk in rows.chunks(WRITE_CHUNK) {
        changed += set_content_chunk(conn, chunk).await?;
    }
    Ok(changed)
}

async fn set_content_chunk(
    conn: &mut Conn,
    rows: &[(Uuid, CanonicalContent<'_>)],
) -> Result<usize, Error> {
    let n = rows.len();
    let mut ids = Vec::with_capacity(n);
    let mut names = Vec::with_capacity(n);
    let mut hashes = Vec::with_capacity(n);
    let mut docs = Vec::with_capacity(n);
    let mut paths = Vec::with_capacity(n);
    for (id, c) in rows {
        ids.push(*id);
        names.push(c.name);
        hashes.push(c.content_hash);
        docs.push(c.workflow_definition);
        paths.push(c.git_file_path);
    }
    diesel::sql_query(
        "UPDATE canonical_workflows c
            SET name = u.name, content_hash = u.hash, workflow_definition = u.doc,
                git_file_path = u.path, deleted_at = NULL
           FROM unnest($1::uuid[], $2::text[], $3::text[], $4::jsonb[], $5::text[])
                AS u(id, name, hash, doc, path)
          WHERE c.id = u.id
            AND (c.name <> u.name OR c.content_hash IS DISTINCT FROM u.hash
                 OR c.workflow_definition IS DISTINCT FROM u.doc
                 OR c.git_file_path IS DISTINCT FROM u.path OR c.deleted_at IS NOT NULL)",
    )
    .bind::<Array<diesel::sql_types::Uuid>, _>(ids)
    .bind::<Array<Text>, _>(names)
    .bind::<Array<diesel::sql_types::Nullable<Text>>, _>(hashes)
    .bind::<Array<diesel::sql_types::Nullable<diesel::sql_types::Jsonb>>, _>(docs)
    .bind::<Array<diesel::sql_types::Nullable<Text>>, _>(paths)
    .execute(conn)
    .await
    .map_err(Error::from)
}

/// Soft-deletes those of `ids` that nothing refers to any more: no Git state in any
/// environment and no mapping other than a `deleted` one. Returns the ids it deleted; rows
/// already deleted are left as they are.
pub async fn soft_delete_unreferenced(conn: &mut Conn, ids: &[Uuid]) -> Result<Vec<Uuid>, Error> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    #[derive(QueryableByName)]
    struct Deleted {
        #[diesel(sql_type = diesel::sql_types::Uuid)]
        id: Uuid,
    }
    let rows: Vec<Deleted> = diesel::sql_query(
        "UPDATE canonical_workflows c SET deleted_at = now()
          WHERE c.id = ANY($1::uuid[]) AND c.deleted_at IS NULL
            AND NOT EXISTS (SELECT 1 FROM canonical_workflow_git_state g
                             WHERE g.tenant_id = c.tenant_id AND g.canonical_id = c.id)
            AND NOT EXISTS (SELECT 1 FROM workflow_env_map m
                             WHERE m.tenant_id = c.tenant_id AND m.canonical_id = c.id
                               AND m.status <> 'deleted')
         RETURNING c.id",
    )
    .bind::<Array<diesel::sql_types::Uuid>, _>(ids)
    .load(conn)
    .await?;
    Ok(rows.into_iter().map(|r| r.id).collect())
}

/// Removes those of `ids` that were never used: no Git state, no mapping, no hash registry
/// entry. Onboarding uses it to take back the identities it reserved when its push failed.
pub async fn delete_unused(conn: &mut Conn, ids: &[Uuid]) -> Result<usize, Error> {
    if ids.is_empty() {
        return Ok(0);
    }
    diesel::sql_query(
        "DELETE FROM canonical_workflows c
          WHERE c.id = ANY($1::uuid[])
            AND NOT EXISTS (SELECT 1 FROM canonical_workflow_git_state g
                             WHERE g.tenant_id = c.tenant_id AND g.canonical_id = c.id)
            AND NOT EXISTS (SELECT 1 FROM workflow_env_map m
                             WHERE m.tenant_id = c.tenant_id AND m.canonical_id = c.id)
            AND NOT EXISTS (SELECT 1 FROM workflow_hash_registry r
                             WHERE r.tenant_id = c.tenant_id AND r.canonical_id = c.id)",
    )
    .bind::<Array<diesel::sql_types::Uuid>, _>(ids)
    .execute(conn)
    .await
    .map_err(Error::from)
}

/// Canonical workflows that could take an onboarded workflow instead of a new identity: not
/// deleted, without a mapping in `environment_id`, and holding one of `hashes` (as their
/// content, or in their Git state of that environment's folder). They are left over by an
/// onboarding run that stopped between its push and its database write, or were created by a
/// repository sync from the files such a run pushed; the caller also checks the slug.
#[derive(Debug, Clone, PartialEq, QueryableByName)]
pub struct ReusableCanonical {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    pub id: Uuid,
    #[diesel(sql_type = Text)]
    pub canonical_slug: String,
    #[diesel(sql_type = diesel::sql_types::Nullable<Text>)]
    pub content_hash: Option<String>,
    /// The path and hash of its Git state in the environment's folder, if it has one.
    #[diesel(sql_type = diesel::sql_types::Nullable<Text>)]
    pub git_path: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Nullable<Text>)]
    pub git_content_hash: Option<String>,
}

pub async fn reusable_for_environment(
    conn: &mut Conn,
    environment_id: Uuid,
    hashes: &[String],
) -> Result<Vec<ReusableCanonical>, Error> {
    if hashes.is_empty() {
        return Ok(Vec::new());
    }
    diesel::sql_query(
        "SELECT c.id, c.canonical_slug, c.content_hash, g.git_path, g.git_content_hash
           FROM canonical_workflows c
           LEFT JOIN canonical_workflow_git_state g
                  ON g.tenant_id = c.tenant_id AND g.canonical_id = c.id
                 AND g.environment_id = $1
          WHERE c.deleted_at IS NULL
            AND (c.content_hash = ANY($2::text[]) OR g.git_content_hash = ANY($2::text[]))
            AND NOT EXISTS (SELECT 1 FROM workflow_env_map m
                             WHERE m.tenant_id = c.tenant_id AND m.canonical_id = c.id
                               AND m.environment_id = $1)
          ORDER BY c.canonical_slug",
    )
    .bind::<diesel::sql_types::Uuid, _>(environment_id)
    .bind::<Array<Text>, _>(hashes)
    .load(conn)
    .await
    .map_err(Error::from)
}
