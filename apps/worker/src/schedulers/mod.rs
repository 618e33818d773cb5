//! The schedulers that have work today. More come with the engine code they drive (drift detection,
//! TTL expiry, health checks, rollups, …); each is added here together with the engine code it
//! drives, so the status view never shows a scheduler that ticks without doing anything.

mod canonical_sync;
mod deployments;
mod drift;
mod retention;

pub use canonical_sync::{CanonicalSync, CanonicalSyncReport};
pub use deployments::{DeploymentScheduler, DeploymentSchedulerReport};
pub use drift::{scheduled_for, DriftDetection, DriftDetectionReport, DriftTtl, DriftTtlReport};
pub use retention::RetentionCleanup;
