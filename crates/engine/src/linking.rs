//! The hash registry, shared by every use-case that learns workflow content: registering
//! Git content under its hash ([`register_hashes`], by repository sync and onboarding), and
//! auto-linking untracked workflows of an environment to the canonical workflow registered
//! under their hash ([`auto_link`] by environment sync, [`link_untracked`] by repository sync).

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;
use wfops_canonical::{
    check_registry_entry, decide_auto_link, AutoLinkDecision, AutoLinkInput, CanonicalId,
    ExistingMapping, HashCandidate, HashCollision, MappingStatus, NoLinkReason,
};
use wfops_db::hash_registry::{self, NewRegistryEntry};
use wfops_db::{workflows, Conn};
use wfops_diff::{normalized_value_resolving, ContentHash};

use crate::error::{EngineError, Result};
use crate::git_files::Workflow;
use crate::references::Resolver;

/// An untracked workflow that was not auto-linked although its hash is registered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkBlocked {
    pub n8n_workflow_id: String,
    pub name: Option<String>,
    pub content_hash: ContentHash,
    pub reason: NoLinkReason,
}

/// An untracked mapping that may be auto-linked.
#[derive(Debug, Clone, Copy)]
pub struct LinkCandidate<'a> {
    pub mapping_id: Uuid,
    pub n8n_workflow_id: &'a str,
    pub name: Option<&'a str>,
    pub hash: ContentHash,
    /// The workflow document (compared with the registered payload to detect a collision).
    pub document: &'a Value,
}

/// What [`auto_link`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkOutcome {
    /// `(mapping id, canonical id)` of the mappings linked.
    pub linked: Vec<(Uuid, Uuid)>,
    pub blocked: Vec<LinkBlocked>,
}

/// Auto-links untracked mappings of one environment to the canonical workflow registered
/// under their content hash (docs/sync-and-identity.md#auto-link), deciding each with
/// [`wfops_canonical::decide_auto_link`]: a hash collision, a deleted canonical workflow or
/// one already mapped in the environment blocks the link and is reported. Runs in the
/// caller's transaction. Candidates whose hash is not registered are left untracked silently.
pub async fn auto_link(
    conn: &mut Conn,
    environment_id: Uuid,
    candidates: &[LinkCandidate<'_>],
) -> Result<LinkOutcome> {
    if candidates.is_empty() {
        return Ok(LinkOutcome::default());
    }
    let mut hashes: Vec<String> = candidates.iter().map(|c| c.hash.to_hex()).collect();
    hashes.sort();
    hashes.dedup();
    let hits = hash_registry::hits_for_environment(conn, environment_id, &hashes).await?;
    if hits.is_empty() {
        return Ok(LinkOutcome::default());
    }
    let mut by_hash: HashMap<&str, Vec<&hash_registry::RegistryHit>> = HashMap::new();
    for hit in &hits {
        by_hash
            .entry(hit.content_hash.as_str())
            .or_default()
            .push(hit);
    }
    // The registry holds normalized payloads whose references name canonical workflows; the
    // candidate is compared in the same form, its references resolved in this environment.
    let resolver = Resolver::load(conn, Some(environment_id)).await?;
    let resolve = resolver.for_env(environment_id);
    // Links decided in this call, so two twins in one batch do not both take one canonical.
    let mut taken: HashMap<Uuid, String> = HashMap::new();
    let mut links = Vec::new();
    let mut blocked = Vec::new();
    for c in candidates {
        let hex = c.hash.to_hex();
        let Some(entries) = by_hash.get(hex.as_str()) else {
            continue;
        };
        let normalized = normalized_value_resolving(c.document, &resolve).map_err(|e| {
            EngineError::Internal(format!(
                "workflow {} in environment {environment_id}: {e}",
                c.n8n_workflow_id
            ))
        })?;
        let mut collision = None;
        for entry in entries {
            let found = check_registry_entry(
                c.hash,
                Some(CanonicalId::from(entry.canonical_id)),
                &entry.workflow_payload,
                &normalized,
            )
            .map_err(|e| {
                EngineError::Internal(format!(
                    "workflow {} in environment {environment_id}: {e}",
                    c.n8n_workflow_id
                ))
            })?;
            if found.is_some() {
                collision = found;
                break;
            }
        }
        let hash_candidates: Vec<HashCandidate> = entries
            .iter()
            .map(|e| HashCandidate {
                canonical_id: CanonicalId::from(e.canonical_id),
                canonical_deleted: e.canonical_deleted,
                existing_mapping: match (&e.mapped_n8n_workflow_id, e.mapped_status) {
                    (Some(id), Some(status)) => Some(ExistingMapping {
                        n8n_workflow_id: id.clone(),
                        status,
                    }),
                    _ => taken.get(&e.canonical_id).map(|id| ExistingMapping {
                        n8n_workflow_id: id.clone(),
                        status: MappingStatus::Linked,
                    }),
                },
            })
            .collect();
        let decision = decide_auto_link(&AutoLinkInput {
            status: MappingStatus::Untracked,
            candidates: &hash_candidates,
            collision: collision.as_ref(),
        });
        match decision {
            AutoLinkDecision::Link { canonical_id } => {
                let canonical = *canonical_id.as_uuid();
                taken.insert(canonical, c.n8n_workflow_id.to_owned());
                links.push((c.mapping_id, canonical));
            }
            AutoLinkDecision::DoNotLink(
                NoLinkReason::HashNotRegistered | NoLinkReason::NotUntracked { .. },
            ) => {}
            AutoLinkDecision::DoNotLink(reason) => {
                if let NoLinkReason::HashCollision { collision } = &reason {
                    tracing::warn!(%environment_id, n8n_workflow_id = c.n8n_workflow_id,
                        content_hash = %collision.content_hash, kind = ?collision.kind,
                        "hash collision: auto-link blocked");
                }
                blocked.push(LinkBlocked {
                    n8n_workflow_id: c.n8n_workflow_id.to_owned(),
                    name: c.name.map(str::to_owned),
                    content_hash: c.hash,
                    reason,
                });
            }
        }
    }
    let done: HashSet<Uuid> = workflows::link_untracked(conn, &links)
        .await?
        .into_iter()
        .collect();
    links.retain(|(mapping, _)| done.contains(mapping));
    Ok(LinkOutcome {
        linked: links,
        blocked,
    })
}

/// Auto-links the environment's untracked mappings whose hash is registered, from what the
/// database holds (repository sync calls it after registering new hashes). Runs in the
/// caller's transaction.
pub async fn link_untracked(conn: &mut Conn, environment_id: Uuid) -> Result<LinkOutcome> {
    let rows = workflows::untracked_with_registered_hash(conn, environment_id).await?;
    let mut parsed = Vec::with_capacity(rows.len());
    for row in &rows {
        let Some(document) = &row.workflow_data else {
            continue;
        };
        let hash: ContentHash = row.env_content_hash.parse().map_err(|e| {
            EngineError::Internal(format!(
                "mapping {} has an invalid stored hash: {e}",
                row.id
            ))
        })?;
        parsed.push(LinkCandidate {
            mapping_id: row.id,
            n8n_workflow_id: &row.n8n_workflow_id,
            name: row.workflow_name.as_deref(),
            hash,
            document,
        });
    }
    auto_link(conn, environment_id, &parsed).await
}

/// Registers each hash for its canonical workflow unless the registry (or an earlier file of
/// the same batch) holds different content under it: that is a collision, returned and not
/// registered. Equal content under another canonical workflow is not a collision; the first
/// registration stands.
pub(crate) async fn register_hashes(
    conn: &mut Conn,
    tenant_id: Uuid,
    workflows: &[(&Workflow, Uuid)],
) -> Result<Vec<HashCollision>> {
    let mut collisions = Vec::new();
    let mut first: HashMap<&str, (&Workflow, Uuid)> = HashMap::new();
    for &(w, id) in workflows {
        match first.get(w.hash.as_str()) {
            None => {
                first.insert(&w.hash, (w, id));
            }
            Some(&(earlier, earlier_id)) => {
                if let Some(c) = check_collision(&w.hash, earlier_id, &earlier.normalized, w)? {
                    collisions.push(c);
                }
            }
        }
    }
    let hashes: Vec<String> = first.keys().map(|h| (*h).to_owned()).collect();
    let registered = hash_registry::get_many(conn, &hashes).await?;
    let mut blocked: HashSet<&str> = HashSet::new();
    for entry in &registered {
        blocked.insert(entry.content_hash.as_str());
        if let Some(&(w, _)) = first.get(entry.content_hash.as_str()) {
            if let Some(c) = check_collision(
                &entry.content_hash,
                entry.canonical_id,
                &entry.workflow_payload,
                w,
            )? {
                collisions.push(c);
            }
        }
    }
    let mut entries: Vec<NewRegistryEntry> = first
        .iter()
        .filter(|(h, _)| !blocked.contains(**h))
        .map(|(h, (w, id))| NewRegistryEntry {
            content_hash: (*h).to_owned(),
            canonical_id: *id,
            workflow_payload: w.normalized.clone(),
        })
        .collect();
    entries.sort_by(|a, b| a.content_hash.cmp(&b.content_hash));
    hash_registry::register(conn, tenant_id, &entries).await?;
    collisions.sort_by_key(|c| c.content_hash);
    collisions.dedup();
    Ok(collisions)
}

fn check_collision(
    hash: &str,
    registered_canonical: Uuid,
    registered_payload: &Value,
    incoming: &Workflow,
) -> Result<Option<HashCollision>> {
    let key = hash
        .parse()
        .map_err(|e| EngineError::Internal(format!("stored hash {hash:?}: {e}")))?;
    check_registry_entry(
        key,
        Some(registered_canonical.into()),
        registered_payload,
        &incoming.normalized,
    )
    .map_err(EngineError::from)
}
