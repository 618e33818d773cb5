//! Drift detection and incidents (docs/drift.md): the check of one environment
//! ([`check::run`]), the incident it may open or close and the steps people take on it
//! ([`incidents`]). The rules themselves are pure, in `wfops_drift`.

pub mod check;
pub mod incidents;
pub mod reconcile;

pub use check::{CheckTrigger, DriftCheckReport};
pub use incidents::{Action, EffectivePolicy, IncidentDecision, LifecycleError};
pub use reconcile::{ReconciliationReport, Resolution};
