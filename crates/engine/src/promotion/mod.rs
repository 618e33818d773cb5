//! Promotion execution: a deployment of a promotion into its target environment (pre-promotion
//! snapshot, transformation, push, mapping updates, post-promotion snapshot, the Git sidecar
//! commit), the rollback on the first failure with its verification by content hash, and the
//! restore of any snapshot through the same machinery (docs/promotion.md).

mod execute;
mod git_sidecar;
mod restore;
mod retry;
mod snapshot;
mod snapshot_restore;

use serde::{Deserialize, Serialize};
use uuid::Uuid;
use wfops_promotion::{PromotionStatus, WorkflowAction};

pub use execute::execute_deployment;
pub use git_sidecar::{GitRecord, GitStatus};
pub use restore::{Mismatch, RestoreStep, Verification};
pub use snapshot::{take_snapshot, SnapshotEntry, SnapshotTaken};
pub use snapshot_restore::restore_snapshot;

/// What one deployment did, stored as its job's result and as the promotion's
/// `execution_result`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DeploymentReport {
    pub deployment_id: Uuid,
    pub promotion_id: Uuid,
    /// The promotion's status when the run ended.
    pub status: Option<PromotionStatus>,
    pub pre_snapshot_id: Option<Uuid>,
    pub post_snapshot_id: Option<Uuid>,
    /// Every workflow written to the target, in the order written.
    pub workflows: Vec<PromotedWorkflow>,
    /// Credentials kept as placeholders, a post-promotion snapshot that could not be taken, …
    pub warnings: Vec<String>,
    /// Why workflows could not be promoted, found before anything was written (then nothing
    /// was).
    pub problems: Vec<WorkflowProblem>,
    /// The write that failed and started the rollback.
    pub failure: Option<WorkflowProblem>,
    /// A cancel was asked while running: the workflow being written was finished, then the
    /// promotion was rolled back.
    pub cancelled: bool,
    /// This run found an earlier run cut short (worker killed, lease lost) and rolled it back.
    pub recovered: bool,
    pub rollback: Option<RollbackReport>,
    pub git: Option<GitRecord>,
}

/// One workflow written to the target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PromotedWorkflow {
    pub canonical_id: Uuid,
    pub name: String,
    pub source_workflow_id: String,
    pub target_workflow_id: String,
    pub action: WorkflowAction,
    pub source_content_hash: String,
    /// The hash of the document as the target answered the write.
    pub target_content_hash: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// Why one workflow could not be promoted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkflowProblem {
    pub canonical_id: Option<Uuid>,
    pub name: Option<String>,
    pub message: String,
}

/// What the rollback of a deployment did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RollbackReport {
    pub steps: Vec<RestoreStep>,
    pub verification: Verification,
}

/// What one snapshot restore did, stored as its job's result.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RestoreReport {
    pub snapshot_id: Uuid,
    pub environment_id: Uuid,
    /// The snapshot taken just before, which undoes this restore.
    pub pre_restore_snapshot_id: Option<Uuid>,
    pub steps: Vec<RestoreStep>,
    pub verification: Verification,
}
