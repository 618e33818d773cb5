#![doc = include_str!("../README.md")]

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

mod class;
pub mod execution;
pub mod gates;
pub mod pipeline;
pub mod refs;
pub mod risk;
pub mod transform;

pub use class::EnvironmentClass;
pub use execution::{RollbackOutcome, SnapshotKind, WorkflowAction};
pub use gates::{GateKind, GateResult};
pub use pipeline::{Gates, PipelineError, Stage};
pub use risk::{Risk, RiskLevel};

/// Everything this crate can refuse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A status string that is not one of the known values (for example a corrupted row or a
    /// typo in a request); the list of valid values is part of the message so that the caller
    /// can fix it.
    #[error("unknown {kind} status {value:?} (expected one of: {expected})")]
    UnknownStatus {
        kind: &'static str,
        value: String,
        expected: String,
    },
    /// A move the state machine forbids.
    #[error("a {kind} can not go from {from} to {to}")]
    InvalidTransition {
        kind: &'static str,
        from: &'static str,
        to: &'static str,
    },
    /// An environment class that is not one of the known values.
    #[error("unknown environment class {0:?} (expected one of: dev, staging, production)")]
    UnknownEnvironmentClass(String),
    /// A staleness threshold that would make every running deployment stale at once.
    #[error("the stale-deployment threshold must be a positive number of seconds, got {0}")]
    InvalidThreshold(i64),
}

/// Status of a deployment (docs/promotion.md#deployment-status).
///
/// ```text
/// PENDING → SCHEDULED → RUNNING → COMPLETED
///    ↓          ↓          ↓
/// CANCELLED  CANCELLED  FAILED
/// ```
///
/// A deployment that is not scheduled for later starts at once, so `pending → running` is legal
/// too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeploymentStatus {
    Pending,
    Scheduled,
    Running,
    Completed,
    Failed,
    Cancelled,
}

impl DeploymentStatus {
    pub const ALL: [DeploymentStatus; 6] = [
        Self::Pending,
        Self::Scheduled,
        Self::Running,
        Self::Completed,
        Self::Failed,
        Self::Cancelled,
    ];

    /// The value stored in `deployments.status`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Scheduled => "scheduled",
            Self::Running => "running",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn parse(value: &str) -> Result<Self, Error> {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str() == value)
            .ok_or_else(|| Error::UnknownStatus {
                kind: "deployment",
                value: value.to_owned(),
                expected: Self::ALL.map(Self::as_str).join(", "),
            })
    }

    /// A terminal deployment never changes again: re-running one means a new deployment, so
    /// that the history of what was deployed when stays true.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Completed | Self::Failed | Self::Cancelled)
    }

    pub fn can_transition_to(self, next: Self) -> bool {
        use DeploymentStatus::*;
        matches!(
            (self, next),
            (Pending, Scheduled)
                | (Pending, Running)
                | (Pending, Cancelled)
                | (Scheduled, Running)
                | (Scheduled, Cancelled)
                | (Running, Completed)
                | (Running, Failed)
        )
    }

    /// Checks a move and returns the new status, or an error naming both ends.
    pub fn transition(self, next: Self) -> Result<Self, Error> {
        if self.can_transition_to(next) {
            Ok(next)
        } else {
            Err(Error::InvalidTransition {
                kind: "deployment",
                from: self.as_str(),
                to: next.as_str(),
            })
        }
    }
}

impl fmt::Display for DeploymentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DeploymentStatus {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Self::parse(s)
    }
}

/// Status of a promotion (docs/promotion.md#promotion-status).
///
/// A promotion goes through approval states, then execution states:
///
/// ```text
/// pending ──▶ pending_approval ──▶ approved ──▶ running ──▶ completed
///    │               │                │            ├──▶ completed_with_errors ──▶ failed
///    ▼               ▼                ▼            ├──▶ failed ──▶ rolled_back
///  failed          failed           failed         └──▶ rolled_back
/// ```
///
/// `pending → running` is legal when no gate asks for an approval; a promotion that fails
/// pre-flight validation, or whose approval is refused, goes to `failed` (there is no
/// separate cancelled or rejected state for promotions). A failure during execution
/// triggers the rollback, which ends in `failed` (rollback incomplete) or
/// `rolled_back`; a failed promotion can still be rolled back later.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PromotionStatus {
    Pending,
    PendingApproval,
    Approved,
    /// Also spelled `in_progress`; accepted under that name when parsing.
    Running,
    Completed,
    CompletedWithErrors,
    Failed,
    RolledBack,
}

impl PromotionStatus {
    pub const ALL: [PromotionStatus; 8] = [
        Self::Pending,
        Self::PendingApproval,
        Self::Approved,
        Self::Running,
        Self::Completed,
        Self::CompletedWithErrors,
        Self::Failed,
        Self::RolledBack,
    ];

    /// The value stored in `promotions.status`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::PendingApproval => "pending_approval",
            Self::Approved => "approved",
            Self::Running => "running",
            Self::Completed => "completed",
            Self::CompletedWithErrors => "completed_with_errors",
            Self::Failed => "failed",
            Self::RolledBack => "rolled_back",
        }
    }

    pub fn parse(value: &str) -> Result<Self, Error> {
        if value == "in_progress" {
            return Ok(Self::Running);
        }
        Self::ALL
            .into_iter()
            .find(|s| s.as_str() == value)
            .ok_or_else(|| Error::UnknownStatus {
                kind: "promotion",
                value: value.to_owned(),
                expected: Self::ALL.map(Self::as_str).join(", "),
            })
    }

    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Completed | Self::RolledBack)
    }

    pub fn can_transition_to(self, next: Self) -> bool {
        use PromotionStatus::*;
        matches!(
            (self, next),
            (Pending, PendingApproval)
                | (Pending, Running)
                | (Pending, Failed)
                | (PendingApproval, Approved)
                | (PendingApproval, Failed)
                | (Approved, Running)
                | (Approved, Failed)
                | (Running, Completed)
                | (Running, CompletedWithErrors)
                | (Running, Failed)
                | (Running, RolledBack)
                | (CompletedWithErrors, Failed)
                | (CompletedWithErrors, RolledBack)
                | (Failed, RolledBack)
        )
    }

    pub fn transition(self, next: Self) -> Result<Self, Error> {
        if self.can_transition_to(next) {
            Ok(next)
        } else {
            Err(Error::InvalidTransition {
                kind: "promotion",
                from: self.as_str(),
                to: next.as_str(),
            })
        }
    }
}

impl fmt::Display for PromotionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PromotionStatus {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Self::parse(s)
    }
}

/// The stale-deployment rule (docs/promotion.md#stale-deployments): a deployment left `running` by
/// a process that died would block the scheduler forever, so at start-up every running deployment
/// older than the threshold is marked failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StaleRule {
    max_age: Duration,
}

impl StaleRule {
    /// The default threshold: one hour.
    pub const DEFAULT_SECONDS: i64 = 3600;

    pub fn from_seconds(seconds: i64) -> Result<Self, Error> {
        if seconds <= 0 {
            return Err(Error::InvalidThreshold(seconds));
        }
        Ok(Self {
            max_age: Duration::seconds(seconds),
        })
    }

    pub fn max_age(&self) -> Duration {
        self.max_age
    }

    /// A deployment that never recorded `started_at` is aged from `created_at`, so that a row
    /// written half-way by a crashed process is still cleaned up.
    pub fn is_stale(
        &self,
        status: DeploymentStatus,
        started_at: Option<DateTime<Utc>>,
        created_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> bool {
        status == DeploymentStatus::Running
            && now - started_at.unwrap_or(created_at) >= self.max_age
    }
}

impl Default for StaleRule {
    fn default() -> Self {
        Self {
            max_age: Duration::seconds(Self::DEFAULT_SECONDS),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    /// Checks every ordered pair of states: the allowed set must be exactly `allowed`, and
    /// every other pair must be refused with an error naming both states.
    fn check_all_pairs<S: Copy + Eq + std::hash::Hash + fmt::Debug>(
        all: &[S],
        allowed: &[(S, S)],
        can: impl Fn(S, S) -> bool,
        transition: impl Fn(S, S) -> Result<S, Error>,
        name: impl Fn(S) -> &'static str,
    ) {
        let allowed: HashSet<(S, S)> = allowed.iter().copied().collect();
        for &from in all {
            for &to in all {
                let expected = allowed.contains(&(from, to));
                assert_eq!(can(from, to), expected, "{from:?} -> {to:?}");
                match transition(from, to) {
                    Ok(next) => {
                        assert!(expected, "{from:?} -> {to:?} should be refused");
                        assert_eq!(next, to);
                    }
                    Err(e) => {
                        assert!(!expected, "{from:?} -> {to:?} should be allowed");
                        let msg = e.to_string();
                        assert!(msg.contains(name(from)) && msg.contains(name(to)), "{msg}");
                    }
                }
            }
        }
    }

    #[test]
    fn deployment_transitions_are_exactly_the_state_machine() {
        use DeploymentStatus::*;
        check_all_pairs(
            &DeploymentStatus::ALL,
            &[
                (Pending, Scheduled),
                (Pending, Running),
                (Pending, Cancelled),
                (Scheduled, Running),
                (Scheduled, Cancelled),
                (Running, Completed),
                (Running, Failed),
            ],
            DeploymentStatus::can_transition_to,
            DeploymentStatus::transition,
            DeploymentStatus::as_str,
        );
    }

    #[test]
    fn deployment_forbidden_examples_name_both_states() {
        let err = DeploymentStatus::Completed
            .transition(DeploymentStatus::Running)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "a deployment can not go from completed to running"
        );
        assert!(DeploymentStatus::Running
            .transition(DeploymentStatus::Cancelled)
            .is_err());
        assert!(DeploymentStatus::Failed
            .transition(DeploymentStatus::Pending)
            .is_err());
    }

    #[test]
    fn terminal_deployments_have_no_way_out() {
        for s in DeploymentStatus::ALL {
            let has_exit = DeploymentStatus::ALL
                .into_iter()
                .any(|n| s.can_transition_to(n));
            assert_eq!(s.is_terminal(), !has_exit, "{s}");
        }
    }

    #[test]
    fn promotion_transitions_are_exactly_the_state_machine() {
        use PromotionStatus::*;
        check_all_pairs(
            &PromotionStatus::ALL,
            &[
                (Pending, PendingApproval),
                (Pending, Running),
                (Pending, Failed),
                (PendingApproval, Approved),
                (PendingApproval, Failed),
                (Approved, Running),
                (Approved, Failed),
                (Running, Completed),
                (Running, CompletedWithErrors),
                (Running, Failed),
                (Running, RolledBack),
                (CompletedWithErrors, Failed),
                (CompletedWithErrors, RolledBack),
                (Failed, RolledBack),
            ],
            PromotionStatus::can_transition_to,
            PromotionStatus::transition,
            PromotionStatus::as_str,
        );
    }

    #[test]
    fn promotion_needs_approval_before_running_when_pending_approval() {
        assert!(PromotionStatus::PendingApproval
            .transition(PromotionStatus::Running)
            .is_err());
        assert!(PromotionStatus::RolledBack
            .transition(PromotionStatus::Running)
            .is_err());
        assert!(PromotionStatus::Completed
            .transition(PromotionStatus::RolledBack)
            .is_err());
    }

    #[test]
    fn terminal_promotions_have_no_way_out() {
        for s in PromotionStatus::ALL {
            let has_exit = PromotionStatus::ALL
                .into_iter()
                .any(|n| s.can_transition_to(n));
            assert_eq!(s.is_terminal(), !has_exit, "{s}");
        }
    }

    #[test]
    fn statuses_round_trip_through_text_and_serde() {
        for s in DeploymentStatus::ALL {
            assert_eq!(DeploymentStatus::parse(s.as_str()), Ok(s));
            assert_eq!(s.as_str().parse::<DeploymentStatus>(), Ok(s));
            let json = serde_json::to_string(&s).unwrap();
            assert_eq!(json, format!("\"{}\"", s.as_str()));
            assert_eq!(serde_json::from_str::<DeploymentStatus>(&json).unwrap(), s);
        }
        for s in PromotionStatus::ALL {
            assert_eq!(PromotionStatus::parse(s.as_str()), Ok(s));
            let json = serde_json::to_string(&s).unwrap();
            assert_eq!(json, format!("\"{}\"", s.as_str()));
            assert_eq!(serde_json::from_str::<PromotionStatus>(&json).unwrap(), s);
        }
        assert_eq!(
            PromotionStatus::parse("in_progress"),
            Ok(PromotionStatus::Running)
        );
    }

    #[test]
    fn unknown_status_lists_the_valid_values() {
        let err = DeploymentStatus::parse("RUNNING").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("\"RUNNING\""), "{msg}");
        assert!(msg.contains("pending, scheduled, running"), "{msg}");
        assert!(PromotionStatus::parse("").is_err());
    }

    #[test]
    fn stale_rule_only_catches_old_running_deployments() {
        let rule = StaleRule::default();
        let now = Utc::now();
        let old = now - Duration::seconds(3601);
        let exactly = now - Duration::seconds(3600);
        let young = now - Duration::seconds(3599);
        assert!(rule.is_stale(DeploymentStatus::Running, Some(old), old, now));
        assert!(rule.is_stale(DeploymentStatus::Running, Some(exactly), old, now));
        assert!(!rule.is_stale(DeploymentStatus::Running, Some(young), old, now));
        // started_at missing: aged from created_at
        assert!(rule.is_stale(DeploymentStatus::Running, None, old, now));
        assert!(!rule.is_stale(DeploymentStatus::Running, None, young, now));
        for s in DeploymentStatus::ALL {
            if s != DeploymentStatus::Running {
                assert!(!rule.is_stale(s, Some(old), old, now), "{s}");
            }
        }
    }

    #[test]
    fn stale_rule_threshold_must_be_positive() {
        assert_eq!(StaleRule::from_seconds(0), Err(Error::InvalidThreshold(0)));
        assert!(StaleRule::from_seconds(-5).is_err());
        let rule = StaleRule::from_seconds(60).unwrap();
        assert_eq!(rule.max_age(), Duration::seconds(60));
        let now = Utc::now();
        let t = now - Duration::seconds(61);
        assert!(rule.is_stale(DeploymentStatus::Running, Some(t), t, now));
    }
}
