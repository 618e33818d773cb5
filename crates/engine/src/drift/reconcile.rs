//! Resolving an incident by reconciliation (docs/drift.md#reconciliation).
//!
//! `revert` makes the runtime match Git again: every workflow the drift touches is written
//! back from its Git file (modified ones updated, ones gone from the runtime created again,
//! ones Git does not have deleted). Before any write, the runtime's copy of each of them is
//! kept as the pre-revert snapshot; if a write fails, what was already written is put back from
//! it. The whole revert is [`revert`], one function, so that it can later run through the
//! promotion machinery's snapshot and rollback without its callers changing.
//!
//! Afterwards a drift check runs (`check_type = reconciliation`): the check closes the
//! incident only if the drift is gone. Either way the incident records the reconciliation
//! artifact (the actions taken, the snapshot, the check).

use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use uuid::Uuid;
use wfops_db::drift::{self as db, IncidentChanges};
use wfops_db::ScopedFutureExt;
use wfops_drift::{DriftKind, IncidentStatus};
use wfops_n8n::WorkflowProvider;

use super::check::{self, read_sides, CheckTrigger, DriftCheckReport, Read, Sides};
use crate::context::{load_environment, EngineCtx, Progress};
use crate::error::{EngineError, Result};

/// How an incident is resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Resolution {
    /// The runtime is restored from Git.
    Revert,
}

impl Resolution {
    pub fn as_str(self) -> &'static str {
        match self {
            Resolution::Revert => "revert",
        }
    }
}

/// One write of a revert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RevertAction {
    pub kind: DriftKind,
    /// `update`, `create` or `delete`.
    pub action: String,
    pub n8n_workflow_id: Option<String>,
    pub git_path: Option<String>,
    pub name: String,
}

/// What a reconciliation did; the job's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReconciliationReport {
    pub incident_id: Uuid,
    pub environment_id: Uuid,
    pub resolution: Resolution,
    pub actions: Vec<RevertAction>,
    /// The follow-up check.
    pub check: Option<DriftCheckReport>,
    /// The incident's status after the follow-up check.
    pub incident_status: IncidentStatus,
}

/// Reconciles incident `incident_id` of the tenant: reverts, then checks.
pub async fn run(
    ctx: &EngineCtx,
    tenant_id: Uuid,
    incident_id: Uuid,
    resolution: Resolution,
    actor: Option<Uuid>,
    progress: &dyn Progress,
) -> Result<ReconciliationReport> {
    let incident = ctx
        .db
        .tenant_tx(tenant_id, move |conn| {
            async move { db::get_incident(conn, incident_id).await }.scope_boxed()
        })
        .await?;
    if !incident.status.is_open() {
        // done already (a retried run), or closed by someone: nothing to write
        return Ok(ReconciliationReport {
            incident_id,
            environment_id: incident.environment_id,
            resolution,
            actions: Vec::new(),
            check: None,
            incident_status: incident.status,
        });
    }
    let env_id = incident.environment_id;
    let (actions, snapshot) = match resolution {
        Resolution::Revert => revert(ctx, tenant_id, env_id, progress).await?,
    };
    let report = check::run(
        ctx,
        tenant_id,
        env_id,
        CheckTrigger::Reconciliation,
        progress,
    )
    .await?;
    let drift_gone = matches!(
        report.check_status,
        wfops_drift::EnvironmentDriftStatus::InSync
            | wfops_drift::EnvironmentDriftStatus::Untracked
    );
    let artifact = json!({
        "resolution": resolution.as_str(),
        "at": Utc::now(),
        "by": actor,
        "actions": actions,
        "pre_revert_snapshot": snapshot,
        "check_id": report.check_id,
        "drift_gone": drift_gone,
    });
    let status = ctx
        .db
        .tenant_tx(tenant_id, move |conn| {
            async move {
                let current = db::get_incident_for_update(conn, incident_id).await?;
                let mut details = current
                    .resolution_details
                    .clone()
                    .unwrap_or_else(|| json!({}));
                if let Some(obj) = details.as_object_mut() {
                    obj.insert("reconciliation".into(), artifact);
                }
                let updated = db::update_incident(
                    conn,
                    incident_id,
                    &IncidentChanges {
                        resolution_type: Some(Some(resolution.as_str().into())),
                        resolution_details: Some(Some(details)),
                        // only a reconciliation that removed the drift counts as one
                        reconciled_at: drift_gone.then(|| Some(Utc::now())),
                        reconciled_by: drift_gone.then_some(actor),
                        ..Default::default()
                    },
                )
                .await?;
                Ok::<_, wfops_db::Error>(updated.status)
            }
            .scope_boxed()
        })
        .await?;
    Ok(ReconciliationReport {
        incident_id,
        environment_id: env_id,
        resolution,
        actions,
        check: Some(report),
        incident_status: status,
    })
}

/// What one write changed, to undo it.
enum Undo {
    /// Put this document back on this id.
    Restore { id: String, doc: Value },
    /// Delete what was created.
    Delete { id: String },
    /// Create this deleted document again.
    Recreate { doc: Value },
}

/// Writes the Git version of every workflow the drift touches to the runtime, after keeping
/// the runtime's copy of each (the pre-revert snapshot, returned). On the first failed write
/// the writes already done are undone from the snapshot and the error is returned.
pub async fn revert(
    ctx: &EngineCtx,
    tenant_id: Uuid,
    environment_id: Uuid,
    progress: &dyn Progress,
) -> Result<(Vec<RevertAction>, Value)> {
    let env = load_environment(ctx, tenant_id, environment_id).await?;
    let sides: Sides = match read_sides(ctx, tenant_id, &env, progress).await? {
        Read::Both(s) => *s,
        Read::NotConfigured(reason) | Read::Failed(reason) => {
            return Err(EngineError::EnvironmentConfig {
                environment: env.row.name.clone(),
                reason: format!("can not revert: {reason}"),
            })
        }
    };
    let provider = env.provider(&ctx.n8n)?;
    let runtime_doc = |id: &str| {
        sides
            .runtime
            .iter()
            .find(|w| w.id() == id)
            .map(|w| w.raw().clone())
    };
    let git_doc = |path: &str| {
        sides
            .files
            .iter()
            .find(|f| f.path == path)
            .and_then(|f| f.parsed.as_ref().ok())
            .map(|w| w.document.clone())
    };
    let snapshot: Vec<Value> = sides
        .comparison
        .affected
        .iter()
        .filter_map(|a| a.n8n_workflow_id.as_deref())
        .filter_map(|id| runtime_doc(id).map(|d| json!({"n8n_workflow_id": id, "document": d})))
        .collect();

    let mut actions = Vec::new();
    let mut undo: Vec<Undo> = Vec::new();
    let total = sides.comparison.affected.len() as i64;
    for (i, a) in sides.comparison.affected.iter().enumerate() {
        progress
            .report(i as i64, total, &format!("reverting {}", a.name))
            .await?;
        let step = async {
            match (a.kind, a.n8n_workflow_id.as_deref(), a.git_path.as_deref()) {
                (DriftKind::Modified, Some(id), Some(path)) => {
                    let doc = git_doc(path).ok_or_else(|| missing_file(path))?;
                    let before = runtime_doc(id).unwrap_or(Value::Null);
                    provider.update_workflow(id, &doc).await?;
                    Ok::<_, wfops_n8n::ProviderError>(Some((
                        "update",
                        Undo::Restore {
                            id: id.to_owned(),
                            doc: before,
                        },
                    )))
                }
                (DriftKind::AddedInRuntime, Some(id), _) => {
                    let before = runtime_doc(id).unwrap_or(Value::Null);
                    provider.delete_workflow(id).await?;
                    Ok(Some(("delete", Undo::Recreate { doc: before })))
                }
                (DriftKind::MissingInRuntime, _, Some(path)) => {
                    let doc = git_doc(path).ok_or_else(|| missing_file(path))?;
                    let created = provider.create_workflow(&doc).await?;
                    Ok(Some((
                        "create",
                        Undo::Delete {
                            id: created.id().to_owned(),
                        },
                    )))
                }
                _ => Ok(None),
            }
        };
        match step.await {
            Ok(Some((action, u))) => {
                undo.push(u);
                actions.push(RevertAction {
                    kind: a.kind,
                    action: action.into(),
                    n8n_workflow_id: a.n8n_workflow_id.clone(),
                    git_path: a.git_path.clone(),
                    name: a.name.clone(),
                });
            }
            Ok(None) => {}
            Err(e) => {
                let rolled_back = rollback(provider.as_ref(), undo).await;
                tracing::warn!(%tenant_id, %environment_id, error = %e, rolled_back,
                    "revert failed; writes undone from the pre-revert snapshot");
                return Err(EngineError::provider(&env.row.name, e));
            }
        }
    }
    Ok((actions, Value::Array(snapshot)))
}

fn missing_file(path: &str) -> wfops_n8n::ProviderError {
    wfops_n8n::ProviderError::Decode {
        message: format!("the Git file {path} is not a readable workflow"),
    }
}

/// Undoes writes newest first; returns how many were undone. Best effort: an undo that fails
/// is logged and the others still run.
async fn rollback(provider: &dyn WorkflowProvider, undo: Vec<Undo>) -> usize {
    let mut done = 0;
    for u in undo.into_iter().rev() {
        let r = match &u {
            Undo::Restore { id, doc } => provider.update_workflow(id, doc).await.map(drop),
            Undo::Delete { id } => provider.delete_workflow(id).await,
            Undo::Recreate { doc } => provider.create_workflow(doc).await.map(drop),
        };
        match r {
            Ok(()) => done += 1,
            Err(e) => tracing::error!(error = %e, "undoing a revert write failed"),
        }
    }
    done
}
