//! Workflow mapping status (docs/sync-and-identity.md#mapping-status).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::CanonicalError;
use crate::id::CanonicalId;

/// The status of one n8n workflow's mapping in one environment (`workflow_env_map.status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MappingStatus {
    /// Has a canonical id and the workflow is in n8n: normal operation.
    Linked,
    /// In n8n, but not (yet) tied to a canonical workflow.
    Untracked,
    /// The last sync did not find the workflow in n8n.
    Missing,
    /// A person chose to ignore this workflow.
    Ignored,
    /// The mapping was soft-deleted.
    Deleted,
}

impl MappingStatus {
    /// Highest precedence first.
    pub const BY_PRECEDENCE: [MappingStatus; 5] = [
        MappingStatus::Deleted,
        MappingStatus::Ignored,
        MappingStatus::Missing,
        MappingStatus::Untracked,
        MappingStatus::Linked,
    ];

    /// 5 for `deleted` down to 1 for `linked`: when the conditions of several statuses hold,
    /// the one with the highest precedence is the status.
    pub const fn precedence(self) -> u8 {
        match self {
            MappingStatus::Deleted => 5,
            MappingStatus::Ignored => 4,
            MappingStatus::Missing => 3,
            MappingStatus::Untracked => 2,
            MappingStatus::Linked => 1,
        }
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            MappingStatus::Linked => "linked",
            MappingStatus::Untracked => "untracked",
            MappingStatus::Missing => "missing",
            MappingStatus::Ignored => "ignored",
            MappingStatus::Deleted => "deleted",
        }
    }

    /// Whether the status was set by a person (and so a sync must not override it).
    pub const fn is_user_decision(self) -> bool {
        matches!(self, MappingStatus::Ignored | MappingStatus::Deleted)
    }
}

impl fmt::Display for MappingStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for MappingStatus {
    type Err = CanonicalError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        MappingStatus::BY_PRECEDENCE
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| CanonicalError::UnknownMappingStatus(s.chars().take(60).collect()))
    }
}

/// What is known about one mapping row and what the last environment sync saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MappingFacts {
    pub canonical_id: Option<CanonicalId>,
    /// `deleted_at` is set.
    pub deleted: bool,
    /// A person marked the workflow as ignored.
    pub ignored: bool,
    /// The last environment sync found the workflow in n8n.
    pub seen_in_last_sync: bool,
}

/// The status a mapping has, given its facts: the highest-precedence status whose condition
/// holds (deleted > ignored > missing > untracked > linked).
///
/// A vanished untracked workflow is `missing`, not `untracked`: a workflow that is gone is
/// reported as gone, whether or not it was linked (see `docs/decisions/normalization.md`).
pub fn mapping_status(f: &MappingFacts) -> MappingStatus {
    if f.deleted {
        MappingStatus::Deleted
    } else if f.ignored {
        MappingStatus::Ignored
    } else if !f.seen_in_last_sync {
        MappingStatus::Missing
    } else if f.canonical_id.is_none() {
        MappingStatus::Untracked
    } else {
        MappingStatus::Linked
    }
}
