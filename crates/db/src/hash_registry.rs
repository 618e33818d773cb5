//! `workflow_hash_registry`: content hash → canonical workflow, with the normalized payload it
//! was registered with, so that a hit can be checked for a collision
//! (docs/sync-and-identity.md#auto-link).

use chrono::{DateTime, Utc};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::sql_types::{Array, Jsonb, Nullable, Text};
use diesel_async::RunQueryDsl;
use serde_json::Value;
use uuid::Uuid;

use wfops_canonical::MappingStatus;

use crate::columns::ParsedOption;
use crate::error::Error;
use crate::schema::workflow_hash_registry;
use crate::Conn;

#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = workflow_hash_registry, check_for_backend(Pg))]
pub struct RegistryEntry {
    pub tenant_id: Uuid,
    pub content_hash: String,
    pub canonical_id: Uuid,
    pub workflow_payload: Value,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A registry entry as an auto-link decision in one environment needs it: the canonical
/// workflow's deletion and the mapping it already has in that environment.
#[derive(Debug, Clone, PartialEq, QueryableByName)]
pub struct RegistryHit {
    #[diesel(sql_type = Text)]
    pub content_hash: String,
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    pub canonical_id: Uuid,
    #[diesel(sql_type = Jsonb)]
    pub workflow_payload: Value,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    pub canonical_deleted: bool,
    /// The canonical workflow's mapping in the environment, if it has one.
    #[diesel(sql_type = Nullable<Text>)]
    pub mapped_n8n_workflow_id: Option<String>,
    #[diesel(sql_type = Nullable<Text>, deserialize_as = ParsedOption<MappingStatus>)]
    pub mapped_status: Option<MappingStatus>,
}

/// Registry entries for `hashes`, each with what auto-linking into `environment_id` needs.
pub async fn hits_for_environment(
    conn: &mut Conn,
    environment_id: Uuid,
    hashes: &[String],
) -> Result<Vec<RegistryHit>, Error> {
    if hashes.is_empty() {
        return Ok(Vec::new());
    }
    diesel::sql_query(
        "SELECT r.content_hash, r.canonical_id, r.workflow_payload,
                (c.deleted_at IS NOT NULL) AS canonical_deleted,
                m.n8n_workflow_id AS mapped_n8n_workflow_id, m.status AS mapped_status
           FROM workflow_hash_registry r
           JOIN canonical_workflows c ON c.tenant_id = r.tenant_id AND c.id = r.canonical_id
           LEFT JOIN workflow_env_map m
                  ON m.environment_id = $1 AND m.canonical_id = r.canonical_id
          WHERE r.content_hash = ANY($2::text[])",
    )
    .bind::<diesel::sql_types::Uuid, _>(environment_id)
    .bind::<Array<Text>, _>(hashes)
    .load(conn)
    .await
    .map_err(Error::from)
}

/// Which of `hashes` are registered (a cheap check before reading whole entries).
pub async fn registered(conn: &mut Conn, hashes: &[String]) -> Result<Vec<String>, Error> {
    if hashes.is_empty() {
        return Ok(Vec::new());
    }
    workflow_hash_registry::table
        .filter(workflow_hash_registry::content_hash.eq_any(hashes))
        .select(workflow_hash_registry::content_hash)
        .load(conn)
        .await
        .map_err(Error::from)
}

pub async fn get(conn: &mut Conn, content_hash: &str) -> Result<Option<RegistryEntry>, Error> {
    workflow_hash_registry::table
        .filter(workflow_hash_registry::content_hash.eq(content_hash))
        .select(RegistryEntry::as_select())
        .first(conn)
        .await
        .optional()
        .map_err(Error::from)
}

pub async fn get_many(conn: &mut Conn, hashes: &[String]) -> Result<Vec<RegistryEntry>, Error> {
    if hashes.is_empty() {
        return Ok(Vec::new());
    }
    workflow_hash_registry::table
        .filter(workflow_hash_registry::content_hash.eq_any(hashes))
        .select(RegistryEntry::as_select())
        .load(conn)
        .await
        .map_err(Error::from)
}

/// An entry to register: the normalized payload is what later hits are compared with.
#[derive(Debug, Clone, PartialEq)]
pub struct NewRegistryEntry {
    pub content_hash: String,
    pub canonical_id: Uuid,
    pub workflow_payload: Value,
}

/// Registers the entries whose hash is not registered yet, in one statement; returns the hashes
/// that were inserted. An existing entry is never overwritten: whether a second workflow with
/// the same hash is a collision is the caller's check (`wfops_canonical::check_registry_entry`).
pub async fn register(
    conn: &mut Conn,
    tenant_id: Uuid,
    entries: &[NewRegistryEntry],
) -> Result<Vec<String>, Error> {
    if entries.is_empty() {
        return Ok(Vec::new());
    }
    let hashes: Vec<&str> = entries.iter().map(|e| e.content_hash.as_str()).collect();
    let canonicals: Vec<Uuid> = entries.iter().map(|e| e.canonical_id).collect();
    let payloads: Vec<&Value> = entries.iter().map(|e| &e.workflow_payload).collect();
    #[derive(QueryableByName)]
    struct Inserted {
        #[diesel(sql_type = Text)]
        content_hash: String,
    }
    let rows: Vec<Inserted> = diesel::sql_query(
        "INSERT INTO workflow_hash_registry (tenant_id, content_hash, canonical_id, workflow_payload)
         SELECT $1, u.content_hash, u.canonical_id, u.payload
           FROM unnest($2::text[], $3::uuid[], $4::jsonb[]) AS u(content_hash, canonical_id, payload)
         ON CONFLICT (tenant_id, content_hash) DO NOTHING
         RETURNING content_hash",
    )
    .bind::<diesel::sql_types::Uuid, _>(tenant_id)
    .bind::<Array<Text>, _>(hashes)
    .bind::<Array<diesel::sql_types::Uuid>, _>(canonicals)
    .bind::<Array<Jsonb>, _>(payloads)
    .load(conn)
    .await?;
    Ok(rows.into_iter().map(|r| r.content_hash).collect())
}

/// Removes every entry of a canonical workflow (it was deleted, or is re-registered).
pub async fn delete_for_canonical(conn: &mut Conn, canonical_id: Uuid) -> Result<usize, Error> {
    diesel::delete(
        workflow_hash_registry::table.filter(workflow_hash_registry::canonical_id.eq(canonical_id)),
    )
    .execute(conn)
    .await
    .map_err(Error::from)
}
