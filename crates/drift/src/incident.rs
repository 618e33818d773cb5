use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

use crate::status::ParseError;

/// Drift incident lifecycle (docs/drift.md#incidents).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IncidentStatus {
    Detected,
    Acknowledged,
    Stabilized,
    Reconciled,
    Closed,
    Expired,
    Cancelled,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    #[error("an incident in state {from:?} can not move to {to:?}")]
    NotAllowed {
        from: IncidentStatus,
        to: IncidentStatus,
    },
    #[error("the incident is {0:?}, which is final")]
    Final(IncidentStatus),
}

impl fmt::Display for IncidentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for IncidentStatus {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| ParseError(s.to_owned()))
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Severity {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| ParseError(s.to_owned()))
    }
}

impl IncidentStatus {
    pub const ALL: [IncidentStatus; 7] = [
        Self::Detected,
        Self::Acknowledged,
        Self::Stabilized,
        Self::Reconciled,
        Self::Closed,
        Self::Expired,
        Self::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Detected => "detected",
            Self::Acknowledged => "acknowledged",
            Self::Stabilized => "stabilized",
            Self::Reconciled => "reconciled",
            Self::Closed => "closed",
            Self::Expired => "expired",
            Self::Cancelled => "cancelled",
        }
    }

    /// Open incidents still demand action: they hold the environment's drift status and may
    /// block promotions. Closed, expired and cancelled ones are history.
    pub fn is_open(self) -> bool {
        matches!(
            self,
            Self::Detected | Self::Acknowledged | Self::Stabilized | Self::Reconciled
        )
    }

    /// The transitions a user may make (docs/drift.md#incidents).
    pub fn allowed_next(self) -> &'static [IncidentStatus] {
        use IncidentStatus::*;
        match self {
            Detected => &[Acknowledged, Closed],
            Acknowledged => &[Stabilized, Reconciled, Closed],
            Stabilized => &[Reconciled, Closed],
            Reconciled => &[Closed],
            Closed | Expired | Cancelled => &[],
        }
    }

    /// Checks a transition. An admin may force any move out of an open state
    /// (docs/drift.md#incidents, "Admin Override"), but nothing leaves a final state, not even for
    /// an admin.
    pub fn transition(
        self,
        to: IncidentStatus,
        admin_override: bool,
    ) -> Result<Self, TransitionError> {
        if !self.is_open() {
            return Err(TransitionError::Final(self));
        }
        if self.allowed_next().contains(&to) || (admin_override && to != self) {
            Ok(to)
        } else {
            Err(TransitionError::NotAllowed { from: self, to })
        }
    }
}

/// Incident severity, from the number of affected workflows (docs/drift.md#incidents).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 4] = [Self::Low, Self::Medium, Self::High, Self::Critical];

    pub fn for_affected(count: u64) -> Self {
        match count {
            10.. => Self::Critical,
            5..=9 => Self::High,
            2..=4 => Self::Medium,
            _ => Self::Low,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
            Self::Critical => "critical",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::IncidentStatus::*;
    use super::*;

    const ALL: [IncidentStatus; 7] = [
        Detected,
        Acknowledged,
        Stabilized,
        Reconciled,
        Closed,
        Expired,
        Cancelled,
    ];

    #[test]
    fn every_pair_follows_the_spec_table() {
        let allowed = [
            (Detected, Acknowledged),
            (Detected, Closed),
            (Acknowledged, Stabilized),
            (Acknowledged, Reconciled),
            (Acknowledged, Closed),
            (Stabilized, Reconciled),
            (Stabilized, Closed),
            (Reconciled, Closed),
        ];
        for from in ALL {
            for to in ALL {
                let got = from.transition(to, false);
                if allowed.contains(&(from, to)) {
                    assert_eq!(got, Ok(to), "{from:?} -> {to:?}");
                } else {
                    assert!(got.is_err(), "{from:?} -> {to:?} should be refused");
                }
            }
        }
    }

    #[test]
    fn admin_override_never_leaves_a_final_state() {
        assert_eq!(Detected.transition(Reconciled, true), Ok(Reconciled));
        assert_eq!(Reconciled.transition(Acknowledged, true), Ok(Acknowledged));
        assert_eq!(
            Closed.transition(Detected, true),
            Err(TransitionError::Final(Closed))
        );
        assert_eq!(
            Expired.transition(Closed, true),
            Err(TransitionError::Final(Expired))
        );
        assert!(Detected.transition(Detected, true).is_err());
    }

    #[test]
    fn spellings_round_trip() {
        for s in ALL {
            assert_eq!(s.as_str().parse::<IncidentStatus>(), Ok(s));
        }
        for s in Severity::ALL {
            assert_eq!(s.as_str().parse::<Severity>(), Ok(s));
        }
        assert!("Detected".parse::<IncidentStatus>().is_err());
        assert!("urgent".parse::<Severity>().is_err());
    }

    #[test]
    fn severity_thresholds() {
        let cases = [
            (0, Severity::Low),
            (1, Severity::Low),
            (2, Severity::Medium),
            (4, Severity::Medium),
            (5, Severity::High),
            (9, Severity::High),
            (10, Severity::Critical),
            (500, Severity::Critical),
        ];
        for (n, want) in cases {
            assert_eq!(Severity::for_affected(n), want, "{n} affected");
        }
    }
}
