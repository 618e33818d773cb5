//! Pre-flight validation of a promotion: every gate of the pipeline stage evaluated against the
//! database's picture of the source and target environments, with the workflows that trip it
//! (docs/promotion.md#pre-flight). Reads only; runs in the caller's tenant transaction, so `POST
//! /promotions` decides in the same transaction that records the promotion.
//!
//! The same reads serve the comparison of a selection (`compare`), the drift check of an
//! environment (`drift_check`, the drift gate alone) and the credential mapping suggestions.

use std::collections::{BTreeSet, HashMap, HashSet};

use chrono::Utc;
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use wfops_db::environments::Environment;
use wfops_db::preflight::{self as reads, LinkedWorkflow};
use wfops_db::Conn;
use wfops_diff::{DiffStatus, WorkflowDiff};
use wfops_drift::EnvironmentDriftStatus;
use wfops_promotion::gates::{
    self, DriftAck, DriftHandlingMode, DriftInputs, DriftPolicy, DriftVerdict, OpenIncident,
    UnmappedCredential, UnresolvedReference, WorkflowCheck,
};
use wfops_promotion::refs::{credential_refs, env_placeholders, CredentialRef};
use wfops_promotion::risk::{self, Risk};
use wfops_promotion::{pipeline::stage_for, GateResult, Gates};

use crate::error::{EngineError, Result};

/// What is to be promoted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreflightRequest {
    /// The pipeline whose stage (source → target) gives the gates; `None`: the default gates.
    pub pipeline_id: Option<Uuid>,
    pub source_environment_id: Uuid,
    pub target_environment_id: Uuid,
    /// Canonical workflow ids.
    pub workflow_ids: Vec<Uuid>,
    /// Why drift in the target is overridden (the target's mode `manual_override`).
    #[serde(default)]
    pub drift_override_reason: Option<String>,
    /// The attestation that drift in the target was reviewed (mode `require_attestation`).
    #[serde(default)]
    pub drift_attestation: Option<String>,
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
    /// Each gate's result with the workflows that trip it, in a fixed order (a JSON array).
    pub gates: Vec<GateResult>,
    /// The drift gate's reasoning in full.
    pub drift: DriftVerdict,
}

/// Why a pre-flight can not be evaluated at all (as opposed to a gate that blocks).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PreflightError {
    #[error("pipeline {0} not found")]
    PipelineNotFound(Uuid),
    #[error("pipeline {pipeline:?} is not active")]
    PipelineInactive { pipeline: String },
    #[error("pipeline {pipeline_id} has no stage from environment {source_id} to environment {target_id}")]
    StageMissing {
        pipeline_id: Uuid,
        source_id: Uuid,
        target_id: Uuid,
    },
    #[error("source and target are the same environment ({0})")]
    SameEnvironment(Uuid),
    /// Unknown ids, other tenants' ids and canonical workflows not linked in the source all
    /// look the same: the source does not hold them.
    #[error("environment {environment:?} does not hold the selected workflow(s) {}", ids_text(.ids))]
    WorkflowsNotInSource { environment: String, ids: Vec<Uuid> },
}

fn ids_text(ids: &[Uuid]) -> String {
    ids.iter()
        .map(Uuid::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The environments and workflows of a selection, as the database holds them.
struct Selection {
    target: Environment,
    /// The selected workflows as the source holds them, in request order.
    source_workflows: Vec<LinkedWorkflow>,
    target_workflows: HashMap<Uuid, LinkedWorkflow>,
    names: HashMap<Uuid, String>,
}

impl Selection {
    fn name(&self, w: &LinkedWorkflow) -> String {
        w.workflow_name
            .clone()
            .or_else(|| self.names.get(&w.canonical_id).cloned())
            .unwrap_or_else(|| w.canonical_id.to_string())
    }
}

async fn environment(conn: &mut Conn, id: Uuid) -> Result<Environment> {
    match wfops_db::environments::get(conn, id).await {
        Ok(env) => Ok(env),
        Err(wfops_db::Error::NotFound) => Err(EngineError::EnvironmentNotFound(id)),
        Err(e) => Err(e.into()),
    }
}

async fn select(
    conn: &mut Conn,
    source_id: Uuid,
    target_id: Uuid,
    workflow_ids: &[Uuid],
) -> Result<Selection> {
    if source_id == target_id {
        return Err(PreflightError::SameEnvironment(source_id).into());
    }
    let source = environment(conn, source_id).await?;
    let target = environment(conn, target_id).await?;
    let mut seen = HashSet::new();
    let ids: Vec<Uuid> = workflow_ids
        .iter()
        .copied()
        .filter(|id| seen.insert(*id))
        .collect();
    let mut held: HashMap<Uuid, LinkedWorkflow> = reads::linked_workflows(conn, source.id, &ids)
        .await?
        .into_iter()
        .map(|w| (w.canonical_id, w))
        .collect();
    let missing: Vec<Uuid> = ids
        .iter()
        .copied()
        .filter(|id| !held.contains_key(id))
        .collect();
    if !missing.is_empty() {
        return Err(PreflightError::WorkflowsNotInSource {
            environment: source.name,
            ids: missing,
        }
        .into());
    }
    let source_workflows = ids.iter().filter_map(|id| held.remove(id)).collect();
    let target_workflows = reads::linked_workflows(conn, target.id, &ids)
        .await?
        .into_iter()
        .map(|w| (w.canonical_id, w))
        .collect();
    let names = reads::canonical_names(conn, &ids).await?;
    Ok(Selection {
        target,
        source_workflows,
        target_workflows,
        names,
    })
}

/// The stage of the request's pipeline, or the default gates.
async fn stage(
    conn: &mut Conn,
    request: &PreflightRequest,
) -> Result<(Option<String>, Gates, bool)> {
    let Some(pipeline_id) = request.pipeline_id else {
        return Ok((None, Gates::default(), false));
    };
    let pipeline = match wfops_db::pipelines::get(conn, pipeline_id).await {
        Ok(p) => p,
        Err(wfops_db::Error::NotFound) => {
            return Err(PreflightError::PipelineNotFound(pipeline_id).into())
        }
        Err(e) => return Err(e.into()),
    };
    if !pipeline.is_active {
        return Err(PreflightError::PipelineInactive {
            pipeline: pipeline.name,
        }
        .into());
    }
    let stages = pipeline.stages()?;
    let stage = stage_for(
        &stages,
        request.source_environment_id,
        request.target_environment_id,
    )
    .ok_or(PreflightError::StageMissing {
        pipeline_id,
        source_id: request.source_environment_id,
        target_id: request.target_environment_id,
    })?;
    Ok((
        Some(stage.name.clone()),
        stage.gates,
        stage.require_approval,
    ))
}

/// What the drift gate reads about `env`.
async fn drift_inputs(conn: &mut Conn, env: &Environment) -> Result<DriftInputs> {
    let mode = DriftHandlingMode::parse(&env.drift_handling_mode).ok_or_else(|| {
        wfops_db::Error::Unreadable(format!(
            "environment {} holds the drift handling mode {:?}",
            env.id, env.drift_handling_mode
        ))
    })?;
    let policy = reads::drift_policy(conn, env.id)
        .await?
        .map(|p| DriftPolicy {
            block_on_active_drift: p.block_on_active_drift,
            enforce_ttl: p.enforce_ttl,
        })
        .unwrap_or_default();
    let incidents = reads::open_incidents(conn, env.id)
        .await?
        .into_iter()
        .map(|i| OpenIncident {
            id: i.id,
            status: i.status,
            severity: i.severity,
            title: i.title,
            detected_at: i.detected_at,
            expires_at: i.expires_at,
        })
        .collect();
    Ok(DriftInputs {
        mode,
        policy,
        drift_detected: matches!(
            env.drift_status,
            EnvironmentDriftStatus::DriftDetected
                | EnvironmentDriftStatus::DriftIncidentActive
                | EnvironmentDriftStatus::DriftIncidentAcknowledged
        ),
        incidents,
    })
}

/// Whether promotions into `environment_id` are blocked by drift now, under `gates` and with
/// the given relief: the drift gate alone, from the same rule as the pre-flight.
pub async fn drift_check(
    conn: &mut Conn,
    environment_id: Uuid,
    gates: &Gates,
    ack: &DriftAck<'_>,
) -> Result<DriftVerdict> {
    let env = environment(conn, environment_id).await?;
    let inputs = drift_inputs(conn, &env).await?;
    Ok(gates::drift_verdict(gates, &inputs, ack, Utc::now()))
}

/// Whether `r` is covered by one of `mappings` (same type, and the same source credential id,
/// or the same name for a reference without id).
fn is_mapped(
    r: &CredentialRef,
    mappings: &[wfops_db::credential_mappings::CredentialMapping],
) -> bool {
    mappings.iter().any(|m| {
        m.credential_type == r.credential_type
            && match (&r.id, &r.name) {
                (Some(id), _) => &m.source_credential_id == id,
                (None, Some(name)) => &m.source_credential_name == name,
                (None, None) => false,
            }
    })
}

/// Evaluates the gates of `request` for the tenant bound to `conn`.
///
/// A request naming a pipeline must match one of its stages (source → target); every selected
/// workflow must be linked in the source.
pub async fn preflight(
    conn: &mut Conn,
    _tenant_id: Uuid,
    request: &PreflightRequest,
) -> Result<Preflight> {
    if request.source_environment_id == request.target_environment_id {
        return Err(PreflightError::SameEnvironment(request.source_environment_id).into());
    }
    // the request's shape (its pipeline and stage) before what it selects
    let (stage_name, gate_flags, requires_approval) = stage(conn, request).await?;
    let sel = select(
        conn,
        request.source_environment_id,
        request.target_environment_id,
        &request.workflow_ids,
    )
    .await?;
    let selected: HashSet<Uuid> = sel
        .source_workflows
        .iter()
        .map(|w| w.canonical_id)
        .collect();
    let ids: Vec<Uuid> = selected.iter().copied().collect();
    let statuses =
        reads::diff_statuses(conn, request.source_environment_id, sel.target.id, &ids).await?;
    let mappings =
        wfops_db::credential_mappings::for_pair(conn, request.source_environment_id, sel.target.id)
            .await?;
    let variables: HashSet<String> = wfops_db::environment_variables::keys(conn, sel.target.id)
        .await?
        .into_iter()
        .collect();
    let source_ids = reads::linked_ids(conn, request.source_environment_id).await?;
    let target_canonicals: HashSet<Uuid> = reads::linked_ids(conn, sel.target.id)
        .await?
        .into_values()
        .collect();

    let checks: Vec<WorkflowCheck> = sel
        .source_workflows
        .iter()
        .map(|w| {
            let null = serde_json::Value::Null;
            let doc = w.workflow_data.as_ref().unwrap_or(&null);
            let mut unmapped: Vec<UnmappedCredential> = credential_refs(doc)
                .into_iter()
                .filter(|r| !is_mapped(r, &mappings))
                .map(|r| UnmappedCredential {
                    node: r.node,
                    credential_type: r.credential_type,
                    id: r.id,
                    name: r.name,
                })
                .collect();
            unmapped.sort();
            unmapped.dedup();
            let unresolved_placeholders: BTreeSet<String> = env_placeholders(doc)
                .into_iter()
                .filter(|n| !variables.contains(n))
                .collect();
            let unresolved_references = wfops_diff::references::references(doc)
                .into_iter()
                .filter_map(|r| {
                    let canonical = source_ids.get(&r.workflow_id).copied();
                    let resolved = canonical
                        .is_some_and(|c| selected.contains(&c) || target_canonicals.contains(&c));
                    (!resolved).then_some(UnresolvedReference {
                        node: r.node,
                        workflow_id: r.workflow_id,
                        canonical_id: canonical,
                    })
                })
                .collect();
            WorkflowCheck {
                canonical_id: w.canonical_id,
                name: sel.name(w),
                diff_status: statuses.get(&w.canonical_id).copied(),
                unmapped_credentials: unmapped,
                unresolved_placeholders,
                unresolved_references,
            }
        })
        .collect();

    let drift_inputs = drift_inputs(conn, &sel.target).await?;
    let ack = DriftAck {
        override_reason: request.drift_override_reason.as_deref(),
        attestation: request.drift_attestation.as_deref(),
    };
    let drift = gates::drift_verdict(&gate_flags, &drift_inputs, &ack, Utc::now());
    let results = gates::evaluate(&gate_flags, &checks, &drift);
    Ok(Preflight {
        allowed: gates::allowed(&results),
        requires_approval,
        stage_name,
        gate_flags,
        gates: results,
        drift,
    })
}

/// One selected workflow compared with the target.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WorkflowComparison {
    pub canonical_id: Uuid,
    pub name: String,
    /// The reconciled status of the pair; `None` when reconciliation has not computed it.
    pub diff_status: Option<DiffStatus>,
    pub in_target: bool,
    /// The node-by-node diff from the target's version to the source's (absent when the
    /// target does not hold the workflow or a side has no readable document).
    pub diff: Option<WorkflowDiff>,
    /// Why there is no diff although the target holds the workflow.
    pub diff_error: Option<String>,
    pub risk: Risk,
}

/// Compares every selected workflow with the target's version: status, diff and risk.
pub async fn compare(
    conn: &mut Conn,
    source_environment_id: Uuid,
    target_environment_id: Uuid,
    workflow_ids: &[Uuid],
) -> Result<Vec<WorkflowComparison>> {
    let sel = select(
        conn,
        source_environment_id,
        target_environment_id,
        workflow_ids,
    )
    .await?;
    let ids: Vec<Uuid> = sel
        .source_workflows
        .iter()
        .map(|w| w.canonical_id)
        .collect();
    let statuses = reads::diff_statuses(conn, source_environment_id, sel.target.id, &ids).await?;
    let out = sel
        .source_workflows
        .iter()
        .map(|w| {
            let target = sel.target_workflows.get(&w.canonical_id);
            let (diff, diff_error, risk) = match (target, &w.workflow_data) {
                (None, _) => (None, None, risk::assess_new()),
                (Some(t), Some(source_doc)) => match &t.workflow_data {
                    Some(target_doc) => match wfops_diff::diff_workflows(target_doc, source_doc) {
                        Ok(d) => {
                            let r = risk::assess(&d);
                            (Some(d), None, r)
                        }
                        Err(e) => (None, Some(e.to_string()), unknown_risk()),
                    },
                    None => (
                        None,
                        Some("the target holds no readable document for it".into()),
                        unknown_risk(),
                    ),
                },
                (Some(_), None) => (
                    None,
                    Some("the source holds no readable document for it".into()),
                    unknown_risk(),
                ),
            };
            WorkflowComparison {
                canonical_id: w.canonical_id,
                name: sel.name(w),
                diff_status: statuses.get(&w.canonical_id).copied(),
                in_target: target.is_some(),
                diff,
                diff_error,
                risk,
            }
        })
        .collect();
    Ok(out)
}

/// A workflow whose change can not be read is not assumed safe.
fn unknown_risk() -> Risk {
    Risk {
        level: risk::RiskLevel::High,
        reasons: vec![risk::RiskReason {
            level: risk::RiskLevel::High,
            reason: "the change could not be read, so its risk is unknown".into(),
        }],
    }
}

/// For each credential the source's workflows use that has no mapping into the target, the
/// target's credentials of the same type, best first (docs/promotion.md#credential-mappings).
pub async fn credential_suggestions(
    conn: &mut Conn,
    source_environment_id: Uuid,
    target_environment_id: Uuid,
) -> Result<Vec<wfops_promotion::refs::MappingSuggestion>> {
    if source_environment_id == target_environment_id {
        return Err(PreflightError::SameEnvironment(source_environment_id).into());
    }
    environment(conn, source_environment_id).await?;
    environment(conn, target_environment_id).await?;
    let mappings =
        wfops_db::credential_mappings::for_pair(conn, source_environment_id, target_environment_id)
            .await?;
    let source_refs: Vec<CredentialRef> = reads::current_documents(conn, source_environment_id)
        .await?
        .iter()
        .flat_map(credential_refs)
        .filter(|r| !is_mapped(r, &mappings))
        .collect();
    let target_refs: Vec<CredentialRef> = reads::current_documents(conn, target_environment_id)
        .await?
        .iter()
        .flat_map(credential_refs)
        .collect();
    Ok(wfops_promotion::refs::suggest_mappings(
        &source_refs,
        &target_refs,
    ))
}
