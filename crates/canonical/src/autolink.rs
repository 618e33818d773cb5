//! Auto-link decisions (docs/sync-and-identity.md#auto-link).

use serde::{Deserialize, Serialize};

use crate::collision::HashCollision;
use crate::id::CanonicalId;
use crate::mapping::MappingStatus;

/// A canonical workflow registered under the workflow's content hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HashCandidate {
    pub canonical_id: CanonicalId,
    /// The canonical workflow is soft-deleted (`deleted_at` set).
    pub canonical_deleted: bool,
    /// The mapping this canonical already has in the environment, if any.
    pub existing_mapping: Option<ExistingMapping>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExistingMapping {
    pub n8n_workflow_id: String,
    pub status: MappingStatus,
}

/// Everything the decision needs, gathered by the caller from the database.
#[derive(Debug, Clone, Copy)]
pub struct AutoLinkInput<'a> {
    /// Current status of the workflow's own mapping.
    pub status: MappingStatus,
    /// Canonical workflows registered under the workflow's hash (empty: hash unknown).
    pub candidates: &'a [HashCandidate],
    /// The result of [`crate::check_registry_entry`] for this hash, if it found a collision.
    pub collision: Option<&'a HashCollision>,
}

/// Why a workflow was not auto-linked. Every case that is not a link has one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum NoLinkReason {
    /// Only untracked workflows are auto-linked; linked, missing, ignored and deleted ones are
    /// left alone (the last two are a person's decision).
    NotUntracked { status: MappingStatus },
    /// No canonical workflow has this content hash.
    HashNotRegistered,
    /// The registry entry for this hash holds a different payload.
    HashCollision { collision: HashCollision },
    /// Several canonical workflows have this content hash; picking one would be a guess.
    AmbiguousHash { canonical_ids: Vec<CanonicalId> },
    /// The only candidate is soft-deleted.
    CanonicalDeleted { canonical_id: CanonicalId },
    /// The candidate already has a mapping in this environment (a duplicate workflow).
    CanonicalAlreadyMapped {
        canonical_id: CanonicalId,
        existing: ExistingMapping,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum AutoLinkDecision {
    Link { canonical_id: CanonicalId },
    DoNotLink(NoLinkReason),
}

/// Decides whether to auto-link an untracked workflow to the canonical workflow with the same
/// content hash. Links only when the workflow is untracked, the hash is registered without a
/// collision, exactly one canonical id holds it (deleted ones count: a deleted twin makes the
/// choice a guess), that canonical is not deleted, and it has no mapping in the environment.
/// The checks run in that order, so the reason given is the first that fails.
pub fn decide_auto_link(input: &AutoLinkInput<'_>) -> AutoLinkDecision {
    use AutoLinkDecision::DoNotLink;
    if input.status != MappingStatus::Untracked {
        return DoNotLink(NoLinkReason::NotUntracked {
            status: input.status,
        });
    }
    if input.candidates.is_empty() {
        return DoNotLink(NoLinkReason::HashNotRegistered);
    }
    if let Some(c) = input.collision {
        return DoNotLink(NoLinkReason::HashCollision {
            collision: c.clone(),
        });
    }
    let mut ids: Vec<CanonicalId> = input.candidates.iter().map(|c| c.canonical_id).collect();
    ids.sort();
    ids.dedup();
    if ids.len() > 1 {
        return DoNotLink(NoLinkReason::AmbiguousHash { canonical_ids: ids });
    }
    let canonical_id = ids[0];
    if input.candidates.iter().any(|c| c.canonical_deleted) {
        return DoNotLink(NoLinkReason::CanonicalDeleted { canonical_id });
    }
    if let Some(existing) = input
        .candidates
        .iter()
        .find_map(|c| c.existing_mapping.clone())
    {
        return DoNotLink(NoLinkReason::CanonicalAlreadyMapped {
            canonical_id,
            existing,
        });
    }
    AutoLinkDecision::Link { canonical_id }
}
