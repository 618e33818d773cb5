//! Hash collision detection for the hash registry (docs/sync-and-identity.md#auto-link).
//!
//! The registry maps a content hash to a canonical workflow and keeps the payload it was registered
//! with. When a workflow with the same hash arrives, its normalized payload is compared with the
//! registered one. A difference is a collision: logging it and going on would be silent corruption,
//! so it is returned as a report, and [`crate::decide_auto_link`] refuses to link through that
//! hash.
//!
//! A true SHA-256 collision is not expected to ever happen. The realistic causes are a
//! registry entry written under older normalization rules, or an edited or corrupted payload;
//! [`CollisionKind`] tells these apart so that the report says what to repair.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use wfops_diff::{ContentHash, ContentHasher};

use crate::error::CanonicalError;
use crate::id::CanonicalId;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CollisionKind {
    /// The registered payload no longer hashes to its key (normalization changed since it
    /// was registered, or the stored payload was modified). Re-registering repairs it.
    StaleEntry {
        registered_payload_hash: ContentHash,
    },
    /// The registered payload is not a valid workflow any more.
    InvalidEntry { error: String },
    /// Both payloads hash to the key but differ: a genuine SHA-256 collision.
    Sha256Collision,
}

/// A collision report: what the engine records and shows; auto-linking through this hash is
/// blocked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HashCollision {
    pub content_hash: ContentHash,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registered_canonical_id: Option<CanonicalId>,
    pub kind: CollisionKind,
}

/// Compares a workflow with the registry entry found under `key` (its content hash).
///
/// Returns `Ok(None)` when the normalized payloads are identical, `Ok(Some(report))` on a
/// collision, and an error when `incoming` is not a valid workflow or does not hash to `key`.
pub fn check_registry_entry(
    key: ContentHash,
    registered_canonical_id: Option<CanonicalId>,
    registered_payload: &Value,
    incoming: &Value,
) -> Result<Option<HashCollision>, CanonicalError> {
    let mut h = ContentHasher::new();
    let incoming_bytes = h.canonical_value(incoming)?.to_vec();
    let actual = ContentHash::of_canonical_bytes(&incoming_bytes);
    if actual != key {
        return Err(CanonicalError::HashMismatch {
            expected: key.to_hex(),
            actual: actual.to_hex(),
        });
    }
    let kind = match h.canonical_value(registered_payload) {
        Err(e) => Some(CollisionKind::InvalidEntry {
            error: e.to_string(),
        }),
        Ok(reg) if reg == incoming_bytes.as_slice() => None,
        Ok(reg) => {
            let registered_payload_hash = ContentHash::of_canonical_bytes(reg);
            Some(if registered_payload_hash == key {
                CollisionKind::Sha256Collision
            } else {
                CollisionKind::StaleEntry {
                    registered_payload_hash,
                }
            })
        }
    };
    Ok(kind.map(|kind| HashCollision {
        content_hash: key,
        registered_canonical_id,
        kind,
    }))
}

/// Within one batch (for instance every workflow of a sync), the hashes that occur with more
/// than one distinct canonical payload. `entries` are `(hash, canonical bytes)` as produced by
/// [`ContentHasher::canonical`]; the result is sorted and has no duplicates.
pub fn find_collisions<'a>(
    entries: impl IntoIterator<Item = (ContentHash, &'a [u8])>,
) -> Vec<ContentHash> {
    let mut first: HashMap<ContentHash, &'a [u8]> = HashMap::new();
    let mut out = Vec::new();
    for (hash, bytes) in entries {
        match first.get(&hash) {
            None => {
                first.insert(hash, bytes);
            }
            Some(seen) if *seen != bytes => out.push(hash),
            Some(_) => {}
        }
    }
    out.sort();
    out.dedup();
    out
}
