#![doc = include_str!("../README.md")]

mod incident;
mod status;

pub use incident::{IncidentStatus, Severity, TransitionError};
pub use status::{DriftCheckOutcome, EnvironmentDriftStatus, ParseError};
