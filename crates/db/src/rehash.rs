//! Stored workflow documents whose content hash depends on more than the document itself:
//! sub-workflow references hash as the canonical workflow they call, which the mappings of
//! `workflow_env_map` decide (docs/content-hash.md, section 6). These queries let the engine
//! resolve references and re-hash what was stored when a mapping, or the hash rules, changed.

use diesel::prelude::*;
use diesel::sql_types::{Array, Jsonb, Nullable, Text, Uuid as SqlUuid};
use diesel_async::RunQueryDsl;
use serde_json::Value;
use uuid::Uuid;

use crate::error::Error;
use crate::Conn;

/// The JSON path that finds a node able to call another workflow by id. Kept equal to
/// `wfops_diff::references::CALLER_TYPES` (a test in the engine checks it) and to the
/// predicates of the partial indexes of migration `000012_hash_rules`, which the queries below
/// can use only because they write it as a literal (a bound parameter would not match).
pub const CALLER_FILTER: &str = "$.nodes[*] ? (@.type == \"n8n-nodes-base.executeWorkflow\" || @.type == \"@n8n/n8n-nodes-langchain.toolWorkflow\")";

/// An instance's workflow id and the canonical workflow it is mapped to.
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct InstanceCanonical {
    #[diesel(sql_type = SqlUuid)]
    pub environment_id: Uuid,
    #[diesel(sql_type = Text)]
    pub n8n_workflow_id: String,
    #[diesel(sql_type = SqlUuid)]
    pub canonical_id: Uuid,
}

/// Every mapping of the tenant (or of one environment) that names a canonical workflow.
pub async fn instance_canonicals(
    conn: &mut Conn,
    environment_id: Option<Uuid>,
) -> Result<Vec<InstanceCanonical>, Error> {
    diesel::sql_query(
        "SELECT environment_id, n8n_workflow_id, canonical_id
           FROM workflow_env_map
          WHERE canonical_id IS NOT NULL AND ($1::uuid IS NULL OR environment_id = $1)",
    )
    .bind::<Nullable<SqlUuid>, _>(environment_id)
    .load(conn)
    .await
    .map_err(Error::from)
}

/// A document synced from an environment, with the hash stored for it.
#[derive(Debug, Clone, PartialEq, QueryableByName)]
pub struct EnvDocument {
    #[diesel(sql_type = SqlUuid)]
    pub mapping_id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    pub environment_id: Uuid,
    #[diesel(sql_type = Nullable<Text>)]
    pub env_content_hash: Option<String>,
    #[diesel(sql_type = Jsonb)]
    pub workflow_data: Value,
}

/// Environment documents to re-hash: those with a caller node (`all = false`), or every
/// parseable one (`all = true`, after a change of the hash rules).
pub async fn env_documents(conn: &mut Conn, all: bool) -> Result<Vec<EnvDocument>, Error> {
    let callers = if all {
        String::new()
    } else {
        format!("AND workflow_data @? '{CALLER_FILTER}'")
    };
    diesel::sql_query(format!(
        "SELECT id AS mapping_id, environment_id, env_content_hash, workflow_data
           FROM workflow_env_map
          WHERE workflow_data IS NOT NULL AND parse_error IS NULL {callers}"
    ))
    .load(conn)
    .await
    .map_err(Error::from)
}

/// Sets `env_content_hash` of these mappings (`(mapping id, hash)`); returns rows written.
pub async fn set_env_hashes(conn: &mut Conn, hashes: &[(Uuid, String)]) -> Result<usize, Error> {
    if hashes.is_empty() {
        return Ok(0);
    }
    let (ids, values): (Vec<Uuid>, Vec<String>) = hashes.iter().cloned().unzip();
    diesel::sql_query(
        "UPDATE workflow_env_map m SET env_content_hash = u.hash, updated_at = now()
           FROM unnest($1::uuid[], $2::text[]) AS u(id, hash)
          WHERE m.id = u.id AND m.env_content_hash IS DISTINCT FROM u.hash",
    )
    .bind::<Array<SqlUuid>, _>(ids)
    .bind::<Array<Text>, _>(values)
    .execute(conn)
    .await
    .map_err(Error::from)
}

/// A document read from an environment's Git folder, with the hash stored for it.
#[derive(Debug, Clone, PartialEq, QueryableByName)]
pub struct GitDocument {
    #[diesel(sql_type = SqlUuid)]
    pub canonical_id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    pub environment_id: Uuid,
    #[diesel(sql_type = Nullable<Text>)]
    pub git_content_hash: Option<String>,
    #[diesel(sql_type = Jsonb)]
    pub git_workflow_data: Value,
}

/// Git documents to re-hash, chosen like [`env_documents`].
pub async fn git_documents(conn: &mut Conn, all: bool) -> Result<Vec<GitDocument>, Error> {
    let callers = if all {
        String::new()
    } else {
        format!("AND git_workflow_data @? '{CALLER_FILTER}'")
    };
    diesel::sql_query(format!(
        "SELECT canonical_id, environment_id, git_content_hash, git_workflow_data
           FROM canonical_workflow_git_state
          WHERE git_workflow_data IS NOT NULL AND parse_error IS NULL {callers}"
    ))
    .load(conn)
    .await
    .map_err(Error::from)
}

/// A new hash for a Git state; the canonical workflow's own hash follows when it held the
/// old one (its columns hold the Git version of the folder synced last).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitRehash {
    pub canonical_id: Uuid,
    pub environment_id: Uuid,
    pub old_hash: Option<String>,
    pub new_hash: String,
}

/// Writes [`GitRehash`]es; returns the Git states written.
pub async fn set_git_hashes(conn: &mut Conn, changes: &[GitRehash]) -> Result<usize, Error> {
    if changes.is_empty() {
        return Ok(0);
    }
    let canon: Vec<Uuid> = changes.iter().map(|c| c.canonical_id).collect();
    let envs: Vec<Uuid> = changes.iter().map(|c| c.environment_id).collect();
    let old: Vec<Option<String>> = changes.iter().map(|c| c.old_hash.clone()).collect();
    let new: Vec<String> = changes.iter().map(|c| c.new_hash.clone()).collect();
    let written = diesel::sql_query(
        "UPDATE canonical_workflow_git_state g SET git_content_hash = u.new, updated_at = now()
           FROM unnest($1::uuid[], $2::uuid[], $3::text[]) AS u(canonical_id, environment_id, new)
          WHERE g.canonical_id = u.canonical_id AND g.environment_id = u.environment_id
            AND g.git_content_hash IS DISTINCT FROM u.new",
    )
    .bind::<Array<SqlUuid>, _>(&canon)
    .bind::<Array<SqlUuid>, _>(&envs)
    .bind::<Array<Text>, _>(&new)
    .execute(conn)
    .await?;
    diesel::sql_query(
        "UPDATE canonical_workflows c SET content_hash = u.new, updated_at = now()
           FROM unnest($1::uuid[], $2::text[], $3::text[]) AS u(canonical_id, old, new)
          WHERE c.id = u.canonical_id AND c.content_hash IS NOT DISTINCT FROM u.old
            AND u.old IS NOT NULL AND c.content_hash IS DISTINCT FROM u.new",
    )
    .bind::<Array<SqlUuid>, _>(&canon)
    .bind::<Array<Nullable<Text>>, _>(&old)
    .bind::<Array<Text>, _>(&new)
    .execute(conn)
    .await?;
    Ok(written)
}

/// The hash-rules version the tenant's stored hashes were computed with (0: none recorded,
/// hashes from before versions were recorded).
pub async fn rules_version(conn: &mut Conn) -> Result<i32, Error> {
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        version: i32,
    }
    let rows = diesel::sql_query("SELECT version FROM hash_rules_state")
        .load::<Row>(conn)
        .await?;
    Ok(rows.into_iter().next().map_or(0, |r| r.version))
}

/// Records that the tenant's stored hashes follow `version`.
pub async fn set_rules_version(
    conn: &mut Conn,
    tenant_id: Uuid,
    version: i32,
) -> Result<(), Error> {
    diesel::sql_query(
        "INSERT INTO hash_rules_state (tenant_id, version, updated_at) VALUES ($1, $2, now())
         ON CONFLICT (tenant_id) DO UPDATE SET version = excluded.version, updated_at = now()",
    )
    .bind::<SqlUuid, _>(tenant_id)
    .bind::<diesel::sql_types::Integer, _>(version)
    .execute(conn)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_partial_indexes_use_the_filter_as_written() {
        let up = include_str!("../../../migrations/2026-11-22-000012_hash_rules/up.sql");
        let predicate = format!("@? '{}'", super::CALLER_FILTER);
        assert_eq!(up.matches(&predicate).count(), 2, "{predicate}");
    }
}
