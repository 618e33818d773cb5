//! Pre-flight validation of a promotion: every gate of the pipeline stage evaluated against the
//! database's picture of the source and target environments, with the workflows that trip it
//! (docs/promotion.md). Reads only; runs in the caller's tenant transaction, so `POST
//! /promotions` decides in the same transaction that records the promotion.

use serde::{Deserialize, Serialize};
use uuid::Uuid;
use wfops_db::Conn;

use crate::error::{EngineError, Result};

/// What is to be promoted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreflightRequest {
    /// The pipeline whose stage (source → target) gives the gates; `None`: the default gates.
    pub pipeline_id: Option<Uuid>,
    pub source_environment_id: Uuid,
    pub target_environment_id: Uuid,
    /// Canonical workflow ids.
    pub workflow_ids: Vec<Uuid>,
}

/// Every gate's verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Preflight {
    /// No gate blocks.
    pub allowed: bool,
    /// The stage asks for an admin's approval before the deployment runs.
    pub requires_approval: bool,
    pub stage_name: Option<String>,
    /// Each gate's result with the workflows that trip it.
    pub gates: serde_json::Value,
}

/// Evaluates the gates of `request` for the tenant bound to `conn`.
pub async fn preflight(
    _conn: &mut Conn,
    _tenant_id: Uuid,
    _request: &PreflightRequest,
) -> Result<Preflight> {
    Err(EngineError::Internal(
        "promotion pre-flight is not available yet".into(),
    ))
}
