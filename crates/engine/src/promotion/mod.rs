//! Promotion execution: a deployment of a promotion into its target environment (pre-promotion
//! snapshot, transformation, push, mapping updates, post-promotion snapshot, the Git sidecar
//! commit), the rollback on the first failure with its verification by content hash, and the
//! restore of any snapshot through the same machinery (docs/promotion.md).

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::context::{EngineCtx, Progress};
use crate::error::{EngineError, Result};

/// What one deployment did, stored as its job's result.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DeploymentReport {
    pub deployment_id: Uuid,
}

/// What one snapshot restore did, stored as its job's result.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RestoreReport {
    pub snapshot_id: Uuid,
}

/// Runs deployment `deployment_id` of the tenant to its end.
pub async fn execute_deployment(
    _ctx: &EngineCtx,
    _tenant_id: Uuid,
    deployment_id: Uuid,
    _progress: &dyn Progress,
) -> Result<DeploymentReport> {
    Err(EngineError::Internal(format!(
        "deployment {deployment_id}: promotion execution is not available yet"
    )))
}

/// Restores the environment of snapshot `snapshot_id` to the snapshot's workflows.
pub async fn restore_snapshot(
    _ctx: &EngineCtx,
    _tenant_id: Uuid,
    snapshot_id: Uuid,
    _progress: &dyn Progress,
) -> Result<RestoreReport> {
    Err(EngineError::Internal(format!(
        "snapshot {snapshot_id}: snapshot restore is not available yet"
    )))
}
