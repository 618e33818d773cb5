//! The three-way diff status of a workflow between a source environment, a target environment
//! and Git (docs/sync-and-identity.md#three-way-status).
//!
//! Hashes decide whether contents are equal; timestamps only decide *how* a target that
//! differs from Git came to differ. Decisions on the cases a simple table leaves open
//! are listed in `docs/decisions/normalization.md` ("Three-way diff status") and on
//! [`diff_status`].

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::hash::ContentHash;

/// The diff status (docs/sync-and-identity.md#three-way-status), stored as its snake_case name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DiffStatus {
    /// Source, target and Git hold the same content.
    Unchanged,
    /// The target differs from the source, and the difference is not a hotfix in the target.
    Modified,
    /// The workflow is in the source or in Git but not in the target.
    Added,
    /// The workflow is in the target but not in the source.
    TargetOnly,
    /// Source, target and Git all hold different content.
    Conflict,
    /// The target was edited after the Git commit it should match.
    TargetHotfix,
}

impl DiffStatus {
    pub const ALL: [DiffStatus; 6] = [
        DiffStatus::Unchanged,
        DiffStatus::Modified,
        DiffStatus::Added,
        DiffStatus::TargetOnly,
        DiffStatus::Conflict,
        DiffStatus::TargetHotfix,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            DiffStatus::Unchanged => "unchanged",
            DiffStatus::Modified => "modified",
            DiffStatus::Added => "added",
            DiffStatus::TargetOnly => "target_only",
            DiffStatus::Conflict => "conflict",
            DiffStatus::TargetHotfix => "target_hotfix",
        }
    }
}

impl fmt::Display for DiffStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Error for a string that names no [`DiffStatus`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown diff status {0:?}")]
pub struct UnknownDiffStatus(pub String);

impl FromStr for DiffStatus {
    type Err = UnknownDiffStatus;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DiffStatus::ALL
            .into_iter()
            .find(|d| d.as_str() == s)
            .ok_or_else(|| UnknownDiffStatus(crate::json::excerpt(s)))
    }
}

/// The workflow as an environment holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnvState {
    pub hash: ContentHash,
    /// n8n's `updatedAt` for the workflow, when known.
    pub updated_at: Option<DateTime<Utc>>,
}

/// The workflow as Git holds it (for the target environment's branch/folder).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GitState {
    pub hash: ContentHash,
    /// Time of the commit that last changed the workflow file, when known.
    pub committed_at: Option<DateTime<Utc>>,
}

/// What each side holds; `None` means the workflow is absent there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ThreeWay {
    pub source: Option<EnvState>,
    pub target: Option<EnvState>,
    pub git: Option<GitState>,
}

/// The diff status of one workflow, or `None` when it exists nowhere.
///
/// | source | target | git | status |
/// |---|---|---|---|
/// | A | A | A | unchanged |
/// | A | A | absent | unchanged |
/// | A | B | A | `target_hotfix` if the target changed after the Git commit, else modified |
/// | A | B | B | modified (the source moved on) |
/// | A | A | B | `target_hotfix` if the target changed after the Git commit, else modified |
/// | A | B | C | conflict (whatever the timestamps) |
/// | A | B | absent | modified |
/// | present | absent | any | added |
/// | absent | absent | present | added (Git still has it) |
/// | absent | present | any | `target_only` |
/// | absent | absent | absent | `None` |
///
/// "Changed after the Git commit" needs both timestamps and a strictly later target time;
/// without them the status stays `modified`, because calling a change a hotfix (which blocks
/// promotion unless overridden) must rest on evidence.
pub fn diff_status(s: &ThreeWay) -> Option<DiffStatus> {
    let (source, target, git) = (s.source, s.target, s.git);
    let Some(target) = target else {
        return (source.is_some() || git.is_some()).then_some(DiffStatus::Added);
    };
    let Some(source) = source else {
        return Some(DiffStatus::TargetOnly);
    };
    let Some(git) = git else {
        return Some(if source.hash == target.hash {
            DiffStatus::Unchanged
        } else {
            DiffStatus::Modified
        });
    };
    let (s, t, g) = (source.hash, target.hash, git.hash);
    Some(if s == t && t == g {
        DiffStatus::Unchanged
    } else if s != t && t != g && s != g {
        DiffStatus::Conflict
    } else if t != g {
        // The target left Git's content (A B A, or A A B).
        match (target.updated_at, git.committed_at) {
            (Some(updated), Some(committed)) if updated > committed => DiffStatus::TargetHotfix,
            _ => DiffStatus::Modified,
        }
    } else {
        // Target equals Git, the source differs: ordinary pending change.
        DiffStatus::Modified
    })
}
