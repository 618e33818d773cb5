//! Sub-workflow references in the engine: resolving an instance's workflow id to the
//! canonical workflow it is mapped to (so that hashes compare the called workflow, not the
//! per-instance id; docs/content-hash.md, section 6), and keeping stored hashes converged
//! when the mappings that resolution depends on change, or when the hash rules change.
//!
//! Every use-case that hashes loads a [`Resolver`] for the environment whose ids the document
//! carries: environment sync (the instance's documents), repository sync and onboarding (a Git
//! folder's files carry the ids of the environment whose folder it is). A callee linked after
//! its caller was hashed is caught by [`converge`], which reconciliation runs before it
//! compares anything: the stored documents with a caller node are hashed again with today's
//! mappings and every hash that moved is written, so the order in which workflows are synced
//! or linked does not matter.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};
use uuid::Uuid;
use wfops_db::rehash::{self, GitRehash};
use wfops_db::{Conn, ScopedFutureExt};
use wfops_diff::{normalized_value_resolving, ContentHasher, HASH_RULES_VERSION};

use crate::context::EngineCtx;
use crate::error::{EngineError, Result};
use crate::git_files::Workflow;
use crate::linking::{self, register_hashes};

/// Instance workflow id → canonical workflow id, per environment.
#[derive(Debug, Clone, Default)]
pub struct Resolver {
    by_env: HashMap<Uuid, HashMap<String, Uuid>>,
}

impl Resolver {
    /// The mappings of one environment, or of every environment of the tenant.
    pub async fn load(conn: &mut Conn, environment_id: Option<Uuid>) -> Result<Self> {
        let rows = rehash::instance_canonicals(conn, environment_id).await?;
        let mut by_env: HashMap<Uuid, HashMap<String, Uuid>> = HashMap::new();
        for r in rows {
            by_env
                .entry(r.environment_id)
                .or_default()
                .insert(r.n8n_workflow_id, r.canonical_id);
        }
        Ok(Self { by_env })
    }

    /// A resolver built from `(environment, instance id, canonical id)` triples.
    pub fn from_mappings(mappings: impl IntoIterator<Item = (Uuid, String, Uuid)>) -> Self {
        let mut by_env: HashMap<Uuid, HashMap<String, Uuid>> = HashMap::new();
        for (env, id, canonical) in mappings {
            by_env.entry(env).or_default().insert(id, canonical);
        }
        Self { by_env }
    }

    /// The token of the workflow that `id` names in `environment_id`: its canonical id.
    pub fn resolve(&self, environment_id: Uuid, id: &str) -> Option<String> {
        self.by_env
            .get(&environment_id)?
            .get(id)
            .map(Uuid::to_string)
    }

    /// [`Resolver::resolve`] bound to one environment, in the form the hash takes.
    pub fn for_env(&self, environment_id: Uuid) -> impl Fn(&str) -> Option<String> + Sync + '_ {
        move |id| self.resolve(environment_id, id)
    }
}

/// The [`Resolver`] of one environment, read in its own transaction.
pub async fn load_resolver(
    ctx: &EngineCtx,
    tenant_id: Uuid,
    environment_id: Uuid,
) -> Result<Resolver> {
    ctx.db
        .tenant_tx(tenant_id, |conn| {
            async move { Resolver::load(conn, Some(environment_id)).await }.scope_boxed()
        })
        .await
}

/// What [`converge`] changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConvergeReport {
    /// The hash rules were behind and every stored document was re-hashed.
    pub rules_migrated_from: Option<i32>,
    /// Environment documents whose stored hash changed.
    pub env_rehashed: usize,
    /// Git documents whose stored hash changed.
    pub git_rehashed: usize,
    /// Untracked workflows auto-linked because their new hash is registered.
    pub linked: usize,
}

/// Re-hashes the tenant's stored documents whose hash depends on resolution (or all of them
/// when the tenant's hash rules version is behind [`HASH_RULES_VERSION`]), writes the hashes
/// that changed (mapping, Git state, canonical workflow, hash registry), auto-links untracked
/// workflows whose new hash is registered, and records the rules version. Runs in the caller's
/// transaction, before reconciliation computes anything from those hashes.
pub async fn converge(conn: &mut Conn, tenant_id: Uuid) -> Result<ConvergeReport> {
    let version = rehash::rules_version(conn).await?;
    let all = version < HASH_RULES_VERSION;
    let resolver = Resolver::load(conn, None).await?;
    let mut report = ConvergeReport {
        rules_migrated_from: all.then_some(version),
        ..Default::default()
    };
    let mut hasher = ContentHasher::new();

    let env_docs = rehash::env_documents(conn, all).await?;
    let mut env_changes = Vec::new();
    let mut touched_envs = HashSet::new();
    for d in &env_docs {
        // a document that no longer hashes keeps its stored state; the next sync records why
        let Ok(hash) =
            hasher.hash_value_resolving(&d.workflow_data, &resolver.for_env(d.environment_id))
        else {
            continue;
        };
        let hex = hash.to_hex();
        if d.env_content_hash.as_deref() != Some(hex.as_str()) {
            env_changes.push((d.mapping_id, hex));
            touched_envs.insert(d.environment_id);
        }
    }
    report.env_rehashed = rehash::set_env_hashes(conn, &env_changes).await?;

    let git_docs = rehash::git_documents(conn, all).await?;
    let mut git_changes = Vec::new();
    let mut registrations = Vec::new();
    for d in &git_docs {
        let resolve = resolver.for_env(d.environment_id);
        let Ok(hash) = hasher.hash_value_resolving(&d.git_workflow_data, &resolve) else {
            continue;
        };
        let hex = hash.to_hex();
        if d.git_content_hash.as_deref() == Some(hex.as_str()) {
            continue;
        }
        let normalized = normalized_value_resolving(&d.git_workflow_data, &resolve)
            .map_err(|e| EngineError::Internal(format!("re-hashing a Git document: {e}")))?;
        let name = d
            .git_workflow_data
            .get("name")
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default()
            .to_owned();
        registrations.push((
            Workflow {
                hash: hex.clone(),
                name,
                document: d.git_workflow_data.clone(),
                normalized,
            },
            d.canonical_id,
        ));
        git_changes.push(GitRehash {
            canonical_id: d.canonical_id,
            environment_id: d.environment_id,
            old_hash: d.git_content_hash.clone(),
            new_hash: hex,
        });
        touched_envs.insert(d.environment_id);
    }
    report.git_rehashed = rehash::set_git_hashes(conn, &git_changes).await?;
    let regs: Vec<(&Workflow, Uuid)> = registrations.iter().map(|(w, id)| (w, *id)).collect();
    let collisions = register_hashes(conn, tenant_id, &regs).await?;
    for c in &collisions {
        tracing::warn!(%tenant_id, content_hash = %c.content_hash, kind = ?c.kind,
            "hash collision while re-hashing a Git document: not registered");
    }
    let mut envs: Vec<Uuid> = touched_envs.into_iter().collect();
    envs.sort();
    for env in envs {
        report.linked += linking::link_untracked(conn, env).await?.linked.len();
    }
    if all {
        rehash::set_rules_version(conn, tenant_id, HASH_RULES_VERSION).await?;
    }
    if report != ConvergeReport::default() {
        tracing::info!(%tenant_id, ?report, "stored hashes converged");
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sql_filter_names_every_caller_type() {
        for t in wfops_diff::references::CALLER_TYPES {
            assert!(
                rehash::CALLER_FILTER.contains(&format!("\"{t}\"")),
                "{t} is missing from the filter"
            );
        }
    }

    #[test]
    fn resolution_is_per_environment() {
        let (dev, prod, c) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let r = Resolver::from_mappings([(dev, "abc".to_owned(), c)]);
        assert_eq!(r.resolve(dev, "abc"), Some(c.to_string()));
        assert_eq!(r.for_env(dev)("abc"), Some(c.to_string()));
        assert_eq!(
            r.resolve(prod, "abc"),
            None,
            "ids mean nothing in another instance"
        );
        assert_eq!(r.resolve(dev, "xyz"), None);
    }
}
