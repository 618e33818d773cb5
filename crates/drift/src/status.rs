use crate::IncidentStatus;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The drift status of one environment, as stored in `environments.drift_status`.
///
/// Spelled in capitals (docs/drift.md#environment-drift-status) because operators search logs
/// and tickets for these exact words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EnvironmentDriftStatus {
    /// Git is not configured for the environment, or no check has run yet.
    Unknown,
    /// The last check could not read n8n or Git. Kept apart from `Unknown` so that
    /// "not configured" and "temporarily failing" never look the same.
    Error,
    /// No workflow of the environment is linked to a canonical workflow.
    Untracked,
    InSync,
    DriftDetected,
    DriftIncidentActive,
    DriftIncidentAcknowledged,
}

impl EnvironmentDriftStatus {
    pub const ALL: [EnvironmentDriftStatus; 7] = [
        Self::Unknown,
        Self::Error,
        Self::Untracked,
        Self::InSync,
        Self::DriftDetected,
        Self::DriftIncidentActive,
        Self::DriftIncidentAcknowledged,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unknown => "UNKNOWN",
            Self::Error => "ERROR",
            Self::Untracked => "UNTRACKED",
            Self::InSync => "IN_SYNC",
            Self::DriftDetected => "DRIFT_DETECTED",
            Self::DriftIncidentActive => "DRIFT_INCIDENT_ACTIVE",
            Self::DriftIncidentAcknowledged => "DRIFT_INCIDENT_ACKNOWLEDGED",
        }
    }
}

impl fmt::Display for EnvironmentDriftStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown drift status {0:?}")]
pub struct ParseError(pub String);

impl FromStr for EnvironmentDriftStatus {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| ParseError(s.to_owned()))
    }
}

/// What one drift check of an environment saw (docs/drift.md#environment-drift-status).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum DriftCheckOutcome {
    /// No Git repository or credentials configured.
    GitNotConfigured,
    /// n8n or Git could not be read; the message says which and why.
    FetchFailed { message: String },
    Checked {
        /// Workflows of the environment linked to a canonical workflow.
        linked_workflows: u64,
        /// Runtime workflows whose content differs from Git.
        with_drift: u64,
        /// Runtime workflows that Git does not have.
        not_in_git: u64,
    },
}

impl DriftCheckOutcome {
    /// The environment's status after this check, given the incident state
    /// (docs/drift.md#environment-drift-status).
    ///
    /// An open incident outranks the check: while it is open the environment shows the
    /// incident, acknowledged or not, because that is what operators act on. A failed or
    /// unconfigured check never claims the environment is in sync.
    pub fn environment_status(
        &self,
        active_incident: Option<IncidentStatus>,
    ) -> EnvironmentDriftStatus {
        if let Some(incident) = active_incident.filter(|s| s.is_open()) {
            return if incident == IncidentStatus::Detected {
                EnvironmentDriftStatus::DriftIncidentActive
            } else {
                EnvironmentDriftStatus::DriftIncidentAcknowledged
            };
        }
        match *self {
            Self::GitNotConfigured => EnvironmentDriftStatus::Unknown,
            Self::FetchFailed { .. } => EnvironmentDriftStatus::Error,
            Self::Checked {
                linked_workflows: 0,
                ..
            } => EnvironmentDriftStatus::Untracked,
            Self::Checked {
                with_drift,
                not_in_git,
                ..
            } if with_drift > 0 || not_in_git > 0 => EnvironmentDriftStatus::DriftDetected,
            Self::Checked { .. } => EnvironmentDriftStatus::InSync,
        }
    }

    /// Whether the check found drift that may open an incident (docs/drift.md#incidents).
    pub fn has_drift(&self) -> bool {
        matches!(*self, Self::Checked { linked_workflows, with_drift, not_in_git }
            if linked_workflows > 0 && (with_drift > 0 || not_in_git > 0))
    }

    /// How many workflows the drift touches, for the incident's severity.
    pub fn affected_count(&self) -> u64 {
        match *self {
            Self::Checked {
                with_drift,
                not_in_git,
                ..
            } => with_drift + not_in_git,
            _ => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use EnvironmentDriftStatus as S;

    fn checked(linked: u64, drift: u64, not_in_git: u64) -> DriftCheckOutcome {
        DriftCheckOutcome::Checked {
            linked_workflows: linked,
            with_drift: drift,
            not_in_git,
        }
    }

    /// Every row of the table in docs/drift.md#environment-drift-status.
    #[test]
    fn spec_table_rows() {
        let failed = DriftCheckOutcome::FetchFailed {
            message: "git: auth".into(),
        };
        let rows: Vec<(DriftCheckOutcome, Option<IncidentStatus>, S)> = vec![
            (DriftCheckOutcome::GitNotConfigured, None, S::Unknown),
            (failed.clone(), None, S::Error),
            (checked(0, 3, 2), None, S::Untracked),
            (checked(4, 0, 0), None, S::InSync),
            (checked(4, 2, 0), None, S::DriftDetected),
            (checked(4, 2, 5), None, S::DriftDetected),
            (checked(4, 0, 1), None, S::DriftDetected),
            (
                checked(4, 1, 0),
                Some(IncidentStatus::Detected),
                S::DriftIncidentActive,
            ),
            (
                checked(4, 1, 0),
                Some(IncidentStatus::Acknowledged),
                S::DriftIncidentAcknowledged,
            ),
            (
                checked(4, 1, 0),
                Some(IncidentStatus::Stabilized),
                S::DriftIncidentAcknowledged,
            ),
            // a closed incident is history, not an active one
            (
                checked(4, 1, 0),
                Some(IncidentStatus::Closed),
                S::DriftDetected,
            ),
            (checked(4, 0, 0), Some(IncidentStatus::Closed), S::InSync),
            // an open incident outranks even a failed check
            (
                failed,
                Some(IncidentStatus::Detected),
                S::DriftIncidentActive,
            ),
        ];
        for (outcome, incident, want) in rows {
            assert_eq!(
                outcome.environment_status(incident),
                want,
                "{outcome:?} with {incident:?}"
            );
        }
    }

    #[test]
    fn drift_needs_linked_workflows() {
        assert!(checked(1, 1, 0).has_drift());
        assert!(checked(1, 0, 1).has_drift());
        assert!(!checked(0, 1, 1).has_drift());
        assert!(!checked(3, 0, 0).has_drift());
        assert!(!DriftCheckOutcome::GitNotConfigured.has_drift());
        assert_eq!(checked(3, 2, 4).affected_count(), 6);
    }

    #[test]
    fn spellings_round_trip() {
        for s in S::ALL {
            assert_eq!(s.as_str().parse::<S>(), Ok(s));
            assert_eq!(
                serde_json::to_string(&s).unwrap(),
                format!("\"{}\"", s.as_str())
            );
        }
        assert_eq!(
            "in_sync".parse::<S>(),
            Err(ParseError("in_sync".to_owned()))
        );
    }
}
