//! The machinery that brings workflows of an environment back to a snapshot, shared by the
//! rollback of a failed promotion and by snapshot restore (docs/promotion.md#rollback): each
//! step retried on transient failures and recorded, never stopping at the first error; then a
//! verification that reads the instance again and compares content hashes; then the
//! environment's mappings made to match.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};
use uuid::Uuid;
use wfops_db::promotion_run;
use wfops_db::ScopedFutureExt;
use wfops_n8n::{ListWorkflows, ProviderError, WorkflowProvider};
use wfops_promotion::RollbackOutcome;

use super::retry::{is_transient, transient_retry, ATTEMPTS};
use super::snapshot::{capture, content_hash, SnapshotEntry};
use crate::context::EngineCtx;
use crate::error::Result;

/// What one restore step did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RestoreStep {
    /// The workflow's id in the instance before the step.
    pub workflow_id: String,
    pub name: Option<String>,
    pub outcome: RollbackOutcome,
    /// The id of a workflow created again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_workflow_id: Option<String>,
    /// Already as in the snapshot: nothing was written.
    #[serde(default)]
    pub unchanged: bool,
    /// Calls made (0 when unchanged).
    pub attempts: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Something that did not stop the step (a workflow created again could not be activated).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

/// A workflow that is not as the snapshot has it after the restore.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mismatch {
    pub workflow_id: String,
    pub name: Option<String>,
    pub reason: String,
}

/// The check after a restore.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Verification {
    /// Every restored workflow hashes as in the snapshot and every deleted one is gone.
    pub verified: bool,
    pub checked: usize,
    pub mismatches: Vec<Mismatch>,
}

/// What to bring back and what to remove.
#[derive(Debug, Default)]
pub(crate) struct Plan<'a> {
    /// Snapshot entries to write back, in order.
    pub restore: Vec<&'a SnapshotEntry>,
    /// Workflows to delete (id, name), in order.
    pub delete: Vec<(String, Option<String>)>,
}

/// Runs the plan against the instance. `current` is what the instance holds now (id → hash).
pub(crate) async fn apply(
    ctx: &EngineCtx,
    provider: &dyn WorkflowProvider,
    current: &HashMap<String, Option<String>>,
    plan: &Plan<'_>,
) -> Vec<RestoreStep> {
    let mut known: HashSet<String> = current.keys().cloned().collect();
    let mut steps = Vec::with_capacity(plan.restore.len() + plan.delete.len());
    for entry in &plan.restore {
        let step = restore_one(ctx, provider, current, &mut known, entry).await;
        steps.push(step);
    }
    for (id, name) in &plan.delete {
        steps.push(delete_one(ctx, provider, id, name.clone()).await);
    }
    steps
}

async fn restore_one(
    ctx: &EngineCtx,
    provider: &dyn WorkflowProvider,
    current: &HashMap<String, Option<String>>,
    known: &mut HashSet<String>,
    entry: &SnapshotEntry,
) -> RestoreStep {
    let mut step = RestoreStep {
        workflow_id: entry.id.clone(),
        name: entry.name.clone(),
        outcome: RollbackOutcome::Restored,
        new_workflow_id: None,
        unchanged: false,
        attempts: 0,
        error: None,
        warning: None,
    };
    match current.get(&entry.id) {
        Some(Some(hash)) if Some(hash) == entry.content_hash.as_ref() => {
            step.unchanged = true;
            return step;
        }
        Some(_) => {
            let mut attempts = 0;
            let updated = transient_retry(ctx, || {
                attempts += 1;
                provider.update_workflow(&entry.id, &entry.document)
            })
            .await;
            step.attempts = attempts;
            match updated {
                Ok(_) => return step,
                // deleted meanwhile: created again below
                Err(ProviderError::NotFound { .. }) => {}
                Err(e) => {
                    step.outcome = RollbackOutcome::Failed;
                    step.error = Some(e.to_string());
                    return step;
                }
            }
        }
        None => {}
    }
    recreate(ctx, provider, known, entry, &mut step).await;
    step
}

/// Creates the entry's workflow again. A create is not idempotent, so before another attempt
/// the instance is searched for a copy that an attempt whose answer was lost did create.
async fn recreate(
    ctx: &EngineCtx,
    provider: &dyn WorkflowProvider,
    known: &mut HashSet<String>,
    entry: &SnapshotEntry,
    step: &mut RestoreStep,
) {
    let mut wait = ctx.n8n.restore_backoff;
    let mut last_error = String::new();
    for attempt in 1..=ATTEMPTS {
        step.attempts += 1;
        if attempt > 1 {
            if let Some(id) = find_new_copy(provider, known, entry).await {
                known.insert(id.clone());
                finish_recreate(provider, entry, step, id).await;
                return;
            }
        }
        match provider.create_workflow(&entry.document).await {
            Ok(created) => {
                let id = created.id().to_owned();
                known.insert(id.clone());
                finish_recreate(provider, entry, step, id).await;
                return;
            }
            Err(e) if is_transient(&e) && attempt < ATTEMPTS => {
                last_error = e.to_string();
                tokio::time::sleep(wait).await;
                wait = wait.saturating_mul(2);
            }
            Err(e) => {
                last_error = e.to_string();
                break;
            }
        }
    }
    step.outcome = RollbackOutcome::Failed;
    step.error = Some(format!("could not create it again: {last_error}"));
}

async fn finish_recreate(
    provider: &dyn WorkflowProvider,
    entry: &SnapshotEntry,
    step: &mut RestoreStep,
    id: String,
) {
    step.outcome = RollbackOutcome::Recreated;
    if entry.active {
        if let Err(e) = provider.activate_workflow(&id).await {
            step.warning = Some(format!(
                "created again as {id} but could not be activated: {e}"
            ));
        }
    }
    step.new_workflow_id = Some(id);
}

/// A workflow named like the entry, hashing like it, that is not one of `known`.
pub(crate) async fn find_new_copy(
    provider: &dyn WorkflowProvider,
    known: &HashSet<String>,
    entry: &SnapshotEntry,
) -> Option<String> {
    let name = entry.name.clone()?;
    let query = ListWorkflows {
        name: Some(name.clone()),
        ..ListWorkflows::default()
    };
    let found = wfops_n8n::list_all_workflows(provider, query).await.ok()?;
    found
        .into_iter()
        .find(|w| {
            !known.contains(w.id())
                && w.name() == Some(name.as_str())
                && content_hash(w.raw()) == entry.content_hash
        })
        .map(|w| w.id().to_owned())
}

async fn delete_one(
    ctx: &EngineCtx,
    provider: &dyn WorkflowProvider,
    id: &str,
    name: Option<String>,
) -> RestoreStep {
    let mut attempts = 0;
    let deleted = transient_retry(ctx, || {
        attempts += 1;
        provider.delete_workflow(id)
    })
    .await;
    let (outcome, error) = match deleted {
        Ok(()) => (RollbackOutcome::Deleted, None),
        Err(ProviderError::NotFound { .. }) => (RollbackOutcome::AlreadyGone, None),
        Err(e) => (RollbackOutcome::Failed, Some(e.to_string())),
    };
    RestoreStep {
        workflow_id: id.to_owned(),
        name,
        outcome,
        new_workflow_id: None,
        unchanged: false,
        attempts,
        error,
        warning: None,
    }
}

/// Reads the instance again and checks every step against the snapshot.
pub(crate) async fn verify(
    ctx: &EngineCtx,
    provider: &dyn WorkflowProvider,
    environment: &str,
    steps: &[RestoreStep],
    snapshot: &HashMap<&str, &SnapshotEntry>,
) -> Verification {
    let now = match capture(ctx, provider, environment).await {
        Ok(entries) => entries,
        Err(e) => {
            return Verification {
                verified: false,
                checked: 0,
                mismatches: vec![Mismatch {
                    workflow_id: String::new(),
                    name: None,
                    reason: format!("the environment could not be read to verify: {e}"),
                }],
            }
        }
    };
    let now: HashMap<&str, &SnapshotEntry> = now.iter().map(|e| (e.id.as_str(), e)).collect();
    let mut mismatches = Vec::new();
    for step in steps {
        let miss = |reason: String| Mismatch {
            workflow_id: step.workflow_id.clone(),
            name: step.name.clone(),
            reason,
        };
        match step.outcome {
            RollbackOutcome::Failed => mismatches.push(miss(format!(
                "not restored: {}",
                step.error.as_deref().unwrap_or("unknown error")
            ))),
            RollbackOutcome::Deleted | RollbackOutcome::AlreadyGone => {
                if now.contains_key(step.workflow_id.as_str()) {
                    mismatches.push(miss("still present after its deletion".into()));
                }
            }
            RollbackOutcome::Restored | RollbackOutcome::Recreated => {
                let id = step.new_workflow_id.as_deref().unwrap_or(&step.workflow_id);
                let expected = snapshot
                    .get(step.workflow_id.as_str())
                    .and_then(|e| e.content_hash.clone());
                match now.get(id) {
                    None => mismatches.push(miss(format!("workflow {id} is missing"))),
                    Some(found) if expected.is_some() && found.content_hash != expected => {
                        mismatches.push(miss(format!(
                            "hashes to {} instead of the snapshot's {}",
                            found.content_hash.as_deref().unwrap_or("(nothing)"),
                            expected.as_deref().unwrap_or_default()
                        )))
                    }
                    Some(_) => {}
                }
            }
        }
    }
    Verification {
        verified: mismatches.is_empty(),
        checked: steps.len(),
        mismatches,
    }
}

/// Makes the environment's mappings say what the steps did: restored workflows get the
/// snapshot's hash and document, recreated ones their new id, deleted ones lose their row.
pub(crate) async fn write_mappings(
    ctx: &EngineCtx,
    tenant_id: Uuid,
    environment_id: Uuid,
    steps: &[RestoreStep],
    snapshot: &HashMap<&str, &SnapshotEntry>,
) -> Result<()> {
    let work: Vec<(RestoreStep, Option<SnapshotEntry>)> = steps
        .iter()
        .filter(|s| s.outcome != RollbackOutcome::Failed)
        .map(|s| {
            (
                s.clone(),
                snapshot.get(s.workflow_id.as_str()).map(|e| (*e).clone()),
            )
        })
        .collect();
    ctx.db
        .tenant_tx(tenant_id, move |conn| {
            async move {
                for (step, entry) in &work {
                    match (step.outcome, entry) {
                        (RollbackOutcome::Deleted | RollbackOutcome::AlreadyGone, _) => {
                            promotion_run::delete_target_mapping(
                                conn,
                                environment_id,
                                &step.workflow_id,
                            )
                            .await?;
                        }
                        (RollbackOutcome::Restored, Some(e)) => {
                            if let Some(hash) = &e.content_hash {
                                promotion_run::restore_target_mapping(
                                    conn,
                                    environment_id,
                                    &e.id,
                                    hash,
                                    e.name.as_deref(),
                                    &e.document,
                                )
                                .await?;
                            }
                        }
                        (RollbackOutcome::Recreated, Some(e)) => {
                            if let (Some(hash), Some(new_id)) =
                                (&e.content_hash, &step.new_workflow_id)
                            {
                                promotion_run::move_target_mapping(
                                    conn,
                                    environment_id,
                                    &e.id,
                                    new_id,
                                    hash,
                                    &e.document,
                                )
                                .await?;
                            }
                        }
                        _ => {}
                    }
                }
                Ok::<_, wfops_db::Error>(())
            }
            .scope_boxed()
        })
        .await?;
    Ok(())
}
