#![doc = include_str!("../README.md")]

mod compare;
mod escalation;
mod incident;
mod status;
pub mod webhook;

pub use compare::{
    compare, AffectedWorkflow, Comparison, DriftKind, GitWorkflow, RuntimeIdentity,
    RuntimeWorkflow, Unreadable,
};
pub use escalation::{EscalationLevel, SeverityTtls};
pub use incident::{IncidentStatus, Severity, TransitionError};
pub use status::{DriftCheckOutcome, EnvironmentDriftStatus, ParseError};
