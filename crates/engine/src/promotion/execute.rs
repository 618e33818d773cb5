//! One deployment of a promotion, from start to its end (docs/promotion.md#execution).

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};
use futures::stream::{self, StreamExt};
use serde_json::Value;
use uuid::Uuid;
use wfops_db::promotion_run::{self, NewDeployedWorkflow, TargetWorkflow};
use wfops_db::promotions::{self, DeploymentRow, PromotionRow};
use wfops_db::ScopedFutureExt;
use wfops_n8n::{RemoteWorkflow, WorkflowProvider};
use wfops_promotion::transform::{self, CredentialMapping, TargetContext};
use wfops_promotion::{DeploymentStatus, Gates, PromotionStatus, SnapshotKind, WorkflowAction};

use super::git_sidecar::{self, GitFile, GitStatus};
use super::restore::{self, Plan, Verification};
use super::snapshot::{self, content_hash, SnapshotEntry};
use super::{DeploymentReport, PromotedWorkflow, RollbackReport, WorkflowProblem};
use crate::context::{load_environment, EngineCtx, LoadedEnvironment, Progress};
use crate::error::{EngineError, Result};
use crate::jobs::{self, Reconcile};

/// How often a running deployment looks for a cancel request (between two workflows).
const CANCEL_POLL: std::time::Duration = std::time::Duration::from_millis(250);

/// A selected workflow, ready to be written.
struct Item {
    canonical_id: Uuid,
    slug: String,
    name: String,
    source_id: String,
    source_doc: Value,
    source_hash: String,
    /// The target's id of this canonical workflow, per the target's mapping.
    mapped_target_id: Option<String>,
}

/// What a transform needs that does not change during the run.
struct Context {
    target: TargetContext,
    secrets: Vec<(String, String)>,
}

/// Runs deployment `deployment_id` of the tenant to its end.
///
/// Safe to run again (a job runs at least once): a finished deployment answers its stored
/// report (retrying only the Git record if that failed); one left running by a run that was cut
/// short after its pre-promotion snapshot is rolled back to that snapshot
/// (docs/decisions/promotion-crash-recovery.md).
pub async fn execute_deployment(
    ctx: &EngineCtx,
    tenant_id: Uuid,
    deployment_id: Uuid,
    progress: &dyn Progress,
) -> Result<DeploymentReport> {
    let (promotion, deployment) = load(ctx, tenant_id, deployment_id).await?;
    match deployment.status {
        DeploymentStatus::Completed => {
            return retry_git(ctx, tenant_id, &promotion, deployment_id, progress).await
        }
        DeploymentStatus::Failed | DeploymentStatus::Cancelled => {
            return Ok(stored_report(&promotion, deployment_id));
        }
        DeploymentStatus::Running if promotion.target_pre_snapshot_id.is_some() => {
            return recover(ctx, tenant_id, &promotion, deployment_id, progress).await;
        }
        // cut short before the snapshot: nothing was written, start over
        DeploymentStatus::Running => {}
        DeploymentStatus::Pending | DeploymentStatus::Scheduled => {
            start(ctx, tenant_id, &promotion, &deployment).await?;
        }
    }
    run(ctx, tenant_id, &promotion, deployment_id, progress).await
}

async fn load(
    ctx: &EngineCtx,
    tenant_id: Uuid,
    deployment_id: Uuid,
) -> Result<(PromotionRow, DeploymentRow)> {
    Ok(ctx
        .db
        .tenant_tx(tenant_id, move |conn| {
            async move {
                let deployment = promotions::get_deployment(conn, deployment_id).await?;
                let promotion = promotions::get_promotion(conn, deployment.promotion_id).await?;
                Ok::<_, wfops_db::Error>((promotion, deployment))
            }
            .scope_boxed()
        })
        .await?)
}

fn domain(e: wfops_promotion::Error) -> EngineError {
    EngineError::Internal(e.to_string())
}

/// Marks the deployment and its promotion running.
async fn start(
    ctx: &EngineCtx,
    tenant_id: Uuid,
    promotion: &PromotionRow,
    deployment: &DeploymentRow,
) -> Result<()> {
    let dep_from = deployment.status;
    dep_from
        .transition(DeploymentStatus::Running)
        .map_err(domain)?;
    let promo_from = promotion.status;
    if promo_from != PromotionStatus::Running {
        promo_from
            .transition(PromotionStatus::Running)
            .map_err(|e| {
                EngineError::Internal(format!("promotion {} can not run: {e}", promotion.id))
            })?;
    }
    let (promotion_id, deployment_id) = (promotion.id, deployment.id);
    let moved = ctx
        .db
        .tenant_tx(tenant_id, move |conn| {
            async move {
                let d = promotion_run::set_deployment_status(
                    conn,
                    deployment_id,
                    dep_from,
                    DeploymentStatus::Running,
                    None,
                    None,
                )
                .await?;
                let p = promo_from == PromotionStatus::Running
                    || promotion_run::set_promotion_status(
                        conn,
                        promotion_id,
                        promo_from,
                        PromotionStatus::Running,
                    )
                    .await?;
                Ok::<_, wfops_db::Error>(d && p)
            }
            .scope_boxed()
        })
        .await?;
    if moved {
        Ok(())
    } else {
        Err(EngineError::Internal(format!(
            "deployment {deployment_id} changed status while it was being started"
        )))
    }
}

fn stored_report(promotion: &PromotionRow, deployment_id: Uuid) -> DeploymentReport {
    promotion
        .execution_result
        .clone()
        .and_then(|v| serde_json::from_value::<DeploymentReport>(v).ok())
        .unwrap_or(DeploymentReport {
            deployment_id,
            promotion_id: promotion.id,
            status: Some(promotion.status),
            pre_snapshot_id: promotion.target_pre_snapshot_id,
            post_snapshot_id: promotion.target_post_snapshot_id,
            ..DeploymentReport::default()
        })
}

/// The gates of the promotion's pipeline stage (the defaults without a pipeline).
async fn gates(ctx: &EngineCtx, tenant_id: Uuid, promotion: &PromotionRow) -> Result<Gates> {
    let Some(pipeline_id) = promotion.pipeline_id else {
        return Ok(Gates::default());
    };
    let (source, target) = (
        promotion.source_environment_id,
        promotion.target_environment_id,
    );
    let stages = ctx
        .db
        .tenant_tx(tenant_id, move |conn| {
            async move { wfops_db::pipelines::get(conn, pipeline_id).await?.stages() }.scope_boxed()
        })
        .await?;
    Ok(
        wfops_promotion::pipeline::stage_for(&stages, source, target)
            .map(|s| s.gates)
            .unwrap_or_default(),
    )
}

/// Reads everything the run needs and transforms every workflow once without writing, so that
/// a workflow that can not be promoted stops the promotion before anything is written.
async fn prepare(
    ctx: &EngineCtx,
    tenant_id: Uuid,
    promotion: &PromotionRow,
    source: &LoadedEnvironment,
    target: &LoadedEnvironment,
    source_provider: &dyn WorkflowProvider,
) -> Result<std::result::Result<(Vec<Item>, Context), Vec<WorkflowProblem>>> {
    let selected = promotion.selected_workflows()?;
    let gates = gates(ctx, tenant_id, promotion).await?;
    let (source_id, target_id) = (source.row.id, target.row.id);
    let wanted = selected.clone();
    let (source_maps, target_maps, canonicals, creds, vars) = ctx
        .db
        .tenant_tx(tenant_id, move |conn| {
            async move {
                let s = promotion_run::mappings_of_canonicals(conn, source_id, &wanted).await?;
                let t = promotion_run::mappings_of_canonicals(conn, target_id, &wanted).await?;
                let canonicals: HashMap<Uuid, (String, String)> =
                    promotion_run::canonical_names(conn, &wanted)
                        .await?
                        .into_iter()
                        .map(|(id, slug, name)| (id, (slug, name)))
                        .collect();
                let creds =
                    wfops_db::credential_mappings::for_pair(conn, source_id, target_id).await?;
                let vars = wfops_db::environment_variables::list(conn, target_id).await?;
                Ok::<_, wfops_db::Error>((s, t, canonicals, creds, vars))
            }
            .scope_boxed()
        })
        .await?;

    let mut problems = Vec::new();
    let mut variables = BTreeMap::new();
    let mut secrets = Vec::new();
    for v in vars {
        if v.is_secret {
            match ctx.cipher.decrypt_str(&v.value) {
                Ok(plain) => {
                    secrets.push((v.key.clone(), plain.expose().clone()));
                    variables.insert(v.key, plain.expose().clone());
                }
                Err(_) => problems.push(WorkflowProblem {
                    canonical_id: None,
                    name: None,
                    message: format!(
                        "secret variable {} of environment {} can not be decrypted",
                        v.key, target.row.name
                    ),
                }),
            }
        } else {
            variables.insert(v.key, v.value);
        }
    }

    let source_by_canonical: HashMap<Uuid, _> = source_maps
        .into_iter()
        .filter_map(|m| Some((m.canonical_id?, m)))
        .collect();
    let target_by_canonical: HashMap<Uuid, String> = target_maps
        .into_iter()
        .filter_map(|m| Some((m.canonical_id?, m.n8n_workflow_id)))
        .collect();
    let mut located = Vec::new();
    for canonical_id in &selected {
        let Some((slug, canonical_name)) = canonicals.get(canonical_id) else {
            problems.push(WorkflowProblem {
                canonical_id: Some(*canonical_id),
                name: None,
                message: "no such canonical workflow".into(),
            });
            continue;
        };
        let Some(mapping) = source_by_canonical.get(canonical_id) else {
            problems.push(WorkflowProblem {
                canonical_id: Some(*canonical_id),
                name: Some(canonical_name.clone()),
                message: format!(
                    "environment {} has no workflow of this canonical workflow",
                    source.row.name
                ),
            });
            continue;
        };
        located.push((
            *canonical_id,
            slug.clone(),
            canonical_name.clone(),
            mapping.n8n_workflow_id.clone(),
        ));
    }

    // the source documents from the source instance itself
    let fetched: Vec<_> = stream::iter(located)
        .map(|(canonical_id, slug, name, id)| async move {
            let got = source_provider.get_workflow(&id).await;
            (canonical_id, slug, name, id, got)
        })
        .buffered(ctx.n8n.max_concurrency.max(1))
        .collect()
        .await;
    let mut items = Vec::new();
    for (canonical_id, slug, name, source_wf_id, got) in fetched {
        let doc = match got {
            Ok(w) => w.into_raw(),
            Err(e) => {
                problems.push(WorkflowProblem {
                    canonical_id: Some(canonical_id),
                    name: Some(name),
                    message: format!("could not be read from {}: {e}", source.row.name),
                });
                continue;
            }
        };
        let Some(source_hash) = content_hash(&doc) else {
            problems.push(WorkflowProblem {
                canonical_id: Some(canonical_id),
                name: Some(name),
                message: "the source document can not be hashed".into(),
            });
            continue;
        };
        let name = doc
            .get("name")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .unwrap_or(name);
        items.push(Item {
            canonical_id,
            slug,
            name,
            source_id: source_wf_id,
            source_doc: doc,
            source_hash,
            mapped_target_id: target_by_canonical.get(&canonical_id).cloned(),
        });
    }

    // sub-workflow calls to workflows outside the selection: their target copies by canonical
    let in_run: HashSet<&str> = items.iter().map(|i| i.source_id.as_str()).collect();
    let outside: Vec<String> = items
        .iter()
        .flat_map(|i| wfops_diff::references::references(&i.source_doc))
        .map(|r| r.workflow_id)
        .filter(|id| !in_run.contains(id.as_str()))
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let mut workflow_ids = BTreeMap::new();
    if !outside.is_empty() {
        let pairs = ctx
            .db
            .tenant_tx(tenant_id, move |conn| {
                async move {
                    let states =
                        wfops_db::workflows::sync_states(conn, source_id, &outside).await?;
                    let by_canonical: HashMap<Uuid, String> = states
                        .into_iter()
                        .filter_map(|s| Some((s.canonical_id?, s.n8n_workflow_id)))
                        .collect();
                    let ids: Vec<Uuid> = by_canonical.keys().copied().collect();
                    let t = promotion_run::mappings_of_canonicals(conn, target_id, &ids).await?;
                    Ok::<_, wfops_db::Error>(
                        t.into_iter()
                            .filter_map(|m| {
                                let src = by_canonical.get(&m.canonical_id?)?.clone();
                                Some((src, m.n8n_workflow_id))
                            })
                            .collect::<Vec<_>>(),
                    )
                }
                .scope_boxed()
            })
            .await?;
        workflow_ids.extend(pairs);
    }

    let context = Context {
        target: TargetContext {
            credentials: creds
                .into_iter()
                .map(|c| CredentialMapping {
                    credential_type: c.credential_type,
                    source_id: c.source_credential_id,
                    source_name: c.source_credential_name,
                    target_id: c.target_credential_id,
                    target_name: c.target_credential_name,
                })
                .collect(),
            variables,
            source_base_url: source.row.url.clone(),
            target_base_url: target.row.url.clone(),
            workflow_ids,
            allow_placeholder_credentials: gates.allow_placeholder_credentials,
            // n8n node ids are per workflow: a copy in another instance may keep them
            regenerate_node_ids: false,
        },
        secrets,
    };

    // a dry run: workflows of this promotion are called by an id not known yet
    let mut dry = context.target.clone();
    for i in &items {
        dry.workflow_ids
            .insert(i.source_id.clone(), format!("pending-{}", i.canonical_id));
    }
    for i in &items {
        if let Err(found) = transform::transform(&i.source_doc, &dry, &mut new_node_id) {
            problems.extend(found.into_iter().map(|p| WorkflowProblem {
                canonical_id: Some(i.canonical_id),
                name: Some(i.name.clone()),
                message: p.to_string(),
            }));
        }
    }
    if !problems.is_empty() {
        return Ok(Err(problems));
    }
    Ok(Ok((dependency_order(items), context)))
}

fn new_node_id() -> String {
    Uuid::new_v4().to_string()
}

/// A called workflow before its callers; otherwise the order of the selection. Workflows that
/// call each other in a cycle keep their selection order.
fn dependency_order(items: Vec<Item>) -> Vec<Item> {
    let index: HashMap<String, usize> = items
        .iter()
        .enumerate()
        .map(|(i, it)| (it.source_id.clone(), i))
        .collect();
    let calls: Vec<Vec<usize>> = items
        .iter()
        .map(|it| {
            wfops_diff::references::references(&it.source_doc)
                .into_iter()
                .filter_map(|r| index.get(&r.workflow_id).copied())
                .collect()
        })
        .collect();
    // depth-first, callees first; `state` 1 = on the path (a cycle is cut there), 2 = placed
    let mut state = vec![0u8; items.len()];
    let mut order = Vec::with_capacity(items.len());
    fn visit(i: usize, calls: &[Vec<usize>], state: &mut [u8], order: &mut Vec<usize>) {
        if state[i] != 0 {
            return;
        }
        state[i] = 1;
        for &c in &calls[i] {
            visit(c, calls, state, order);
        }
        state[i] = 2;
        order.push(i);
    }
    for i in 0..items.len() {
        visit(i, &calls, &mut state, &mut order);
    }
    let mut slots: Vec<Option<Item>> = items.into_iter().map(Some).collect();
    order.into_iter().filter_map(|i| slots[i].take()).collect()
}

/// Ends a run: the promotion's and the deployment's status, the report as the promotion's
/// execution result, and a reconciliation of the tenant queued.
async fn finish(
    ctx: &EngineCtx,
    tenant_id: Uuid,
    promotion_id: Uuid,
    deployment_id: Uuid,
    report: &DeploymentReport,
    deployment_to: DeploymentStatus,
    error: Option<String>,
) -> Result<()> {
    let to = report
        .status
        .ok_or_else(|| EngineError::Internal("a run ended without a status".into()))?;
    PromotionStatus::Running.transition(to).map_err(domain)?;
    DeploymentStatus::Running
        .transition(deployment_to)
        .map_err(domain)?;
    let result = serde_json::to_value(report)
        .map_err(|e| EngineError::Internal(format!("the report can not be serialized: {e}")))?;
    let summary = serde_json::json!({
        "status": to.as_str(),
        "workflows": report.workflows.len(),
        "problems": report.problems.len(),
        "rolled_back": report.rollback.is_some(),
    });
    ctx.db
        .tenant_tx(tenant_id, move |conn| {
            async move {
                promotion_run::set_promotion_status(
                    conn,
                    promotion_id,
                    PromotionStatus::Running,
                    to,
                )
                .await?;
                promotion_run::set_deployment_status(
                    conn,
                    deployment_id,
                    DeploymentStatus::Running,
                    deployment_to,
                    Some(&summary),
                    error.as_deref(),
                )
                .await?;
                promotion_run::set_execution_result(conn, promotion_id, &result).await?;
                jobs::enqueue(conn, tenant_id, &Reconcile {}).await?;
                // the people who asked to be told hear of it exactly when the end commits
                if deployment_to == DeploymentStatus::Failed {
                    crate::notify::promotion_ended(
                        conn,
                        tenant_id,
                        promotion_id,
                        deployment_id,
                        to == PromotionStatus::RolledBack,
                        error.as_deref().unwrap_or("the deployment failed"),
                    )
                    .await?;
                }
                Ok::<_, wfops_db::Error>(())
            }
            .scope_boxed()
        })
        .await?;
    Ok(())
}

async fn run(
    ctx: &EngineCtx,
    tenant_id: Uuid,
    promotion: &PromotionRow,
    deployment_id: Uuid,
    progress: &dyn Progress,
) -> Result<DeploymentReport> {
    let mut report = DeploymentReport {
        deployment_id,
        promotion_id: promotion.id,
        ..DeploymentReport::default()
    };
    let source = load_environment(ctx, tenant_id, promotion.source_environment_id).await?;
    let target = load_environment(ctx, tenant_id, promotion.target_environment_id).await?;
    let source_provider = source.provider(&ctx.n8n)?;
    let target_provider = target.provider(&ctx.n8n)?;

    progress
        .report(0, 0, "reading and checking the selected workflows")
        .await?;
    let (items, context) = match prepare(
        ctx,
        tenant_id,
        promotion,
        &source,
        &target,
        source_provider.as_ref(),
    )
    .await?
    {
        Ok(ready) => ready,
        Err(problems) => {
            let first = problems
                .first()
                .map(|p| p.message.clone())
                .unwrap_or_default();
            report.problems = problems;
            report.status = Some(PromotionStatus::Failed);
            let error = format!(
                "{} problem(s) found before anything was written; first: {first}",
                report.problems.len()
            );
            finish(
                ctx,
                tenant_id,
                promotion.id,
                deployment_id,
                &report,
                DeploymentStatus::Failed,
                Some(error),
            )
            .await?;
            progress
                .report(0, 0, "nothing written: the workflows can not be promoted")
                .await?;
            return Ok(report);
        }
    };
    let total = items.len() as i64;

    progress
        .report(
            0,
            total,
            &format!("taking a snapshot of {}", target.row.name),
        )
        .await?;
    let entries = snapshot::capture(ctx, target_provider.as_ref(), &target.row.name).await?;
    let snapshot_id = snapshot::store(
        ctx,
        tenant_id,
        target.row.id,
        SnapshotKind::PrePromotion,
        &entries,
        Some(format!("before promotion {}", promotion.id)),
        promotion.created_by,
    )
    .await?;
    let promotion_id = promotion.id;
    ctx.db
        .tenant_tx(tenant_id, move |conn| {
            async move { promotion_run::set_pre_snapshot(conn, promotion_id, snapshot_id).await }
                .scope_boxed()
        })
        .await?;
    report.pre_snapshot_id = Some(snapshot_id);
    let present: HashSet<&str> = entries.iter().map(|e| e.id.as_str()).collect();
    let snapshot_time = Utc::now();

    let mut target_ctx = context.target.clone();
    let mut failure: Option<WorkflowProblem> = None;
    let mut last_cancel_check = std::time::Instant::now()
        .checked_sub(CANCEL_POLL)
        .unwrap_or_else(std::time::Instant::now);
    for (pos, item) in items.iter().enumerate() {
        // a cancel is looked for between two workflows, at most every CANCEL_POLL
        if pos > 0 && last_cancel_check.elapsed() >= CANCEL_POLL {
            last_cancel_check = std::time::Instant::now();
            if cancel_requested(ctx, tenant_id, deployment_id).await? {
                report.cancelled = true;
                break;
            }
        }
        match promote_one(
            ctx,
            tenant_id,
            &target,
            target_provider.as_ref(),
            &target_ctx,
            &present,
            deployment_id,
            pos,
            item,
        )
        .await
        {
            Ok(done) => {
                target_ctx
                    .workflow_ids
                    .insert(item.source_id.clone(), done.target_workflow_id.clone());
                report.warnings.extend(done.warnings.iter().cloned());
                report.workflows.push(done);
                progress
                    .report(
                        pos as i64 + 1,
                        total,
                        &format!("promoted {} ({}/{total})", item.name, pos + 1),
                    )
                    .await?;
            }
            Err(message) => {
                let problem = WorkflowProblem {
                    canonical_id: Some(item.canonical_id),
                    name: Some(item.name.clone()),
                    message,
                };
                let (c, n, m) = (
                    item.canonical_id,
                    item.name.clone(),
                    problem.message.clone(),
                );
                let s = item.source_id.clone();
                ctx.db
                    .tenant_tx(tenant_id, move |conn| {
                        async move {
                            promotion_run::record_failed_workflow(
                                conn,
                                tenant_id,
                                deployment_id,
                                c,
                                &s,
                                &n,
                                &m,
                            )
                            .await
                        }
                        .scope_boxed()
                    })
                    .await?;
                failure = Some(problem);
                break;
            }
        }
    }

    if failure.is_some() || report.cancelled {
        report.failure = failure;
        let why = match &report.failure {
            Some(f) => format!(
                "workflow {} failed: {}",
                f.name.as_deref().unwrap_or("?"),
                f.message
            ),
            None => "cancelled".to_string(),
        };
        progress
            .report(0, total, &format!("rolling back: {why}"))
            .await?;
        let names: HashSet<String> = items.iter().map(|i| i.name.clone()).collect();
        let mapped: Vec<String> = items
            .iter()
            .filter_map(|i| i.mapped_target_id.clone())
            .collect();
        let rollback = rollback(
            ctx,
            tenant_id,
            &target,
            target_provider.as_ref(),
            deployment_id,
            &entries,
            snapshot_time,
            &names,
            &mapped,
        )
        .await?;
        report.status = Some(if rollback.verification.verified {
            PromotionStatus::RolledBack
        } else {
            PromotionStatus::Failed
        });
        let error = if rollback.verification.verified {
            format!("{why}; rolled back")
        } else {
            format!(
                "{why}; the rollback left {} workflow(s) unlike the snapshot",
                rollback.verification.mismatches.len()
            )
        };
        report.rollback = Some(rollback);
        finish(
            ctx,
            tenant_id,
            promotion.id,
            deployment_id,
            &report,
            DeploymentStatus::Failed,
            Some(error.clone()),
        )
        .await?;
        progress.report(total, total, &error).await?;
        return Ok(report);
    }

    // completed: the snapshot after, the status, then the Git record
    progress
        .report(total, total, "taking the post-promotion snapshot")
        .await?;
    let after = match snapshot::capture(ctx, target_provider.as_ref(), &target.row.name).await {
        Ok(after) => {
            let id = snapshot::store(
                ctx,
                tenant_id,
                target.row.id,
                SnapshotKind::PostPromotion,
                &after,
                Some(format!("after promotion {}", promotion.id)),
                promotion.created_by,
            )
            .await?;
            ctx.db
                .tenant_tx(tenant_id, move |conn| {
                    async move { promotion_run::set_post_snapshot(conn, promotion_id, id).await }
                        .scope_boxed()
                })
                .await?;
            report.post_snapshot_id = Some(id);
            Some(after)
        }
        Err(e) => {
            report.warnings.push(format!(
                "the post-promotion snapshot could not be taken: {e}"
            ));
            None
        }
    };
    report.status = Some(PromotionStatus::Completed);
    finish(
        ctx,
        tenant_id,
        promotion.id,
        deployment_id,
        &report,
        DeploymentStatus::Completed,
        None,
    )
    .await?;
    let docs: HashMap<String, Value> = after
        .unwrap_or_default()
        .into_iter()
        .map(|e| (e.id, e.document))
        .collect();
    let files: Vec<GitFile> = items
        .iter()
        .zip(&report.workflows)
        .filter_map(|(item, w)| {
            Some(GitFile {
                canonical_id: item.canonical_id,
                slug: item.slug.clone(),
                document: docs.get(&w.target_workflow_id)?.clone(),
            })
        })
        .collect();
    git_step(
        ctx,
        tenant_id,
        &target,
        promotion.id,
        &mut report,
        files,
        &context.secrets,
        progress,
    )
    .await
}

/// Writes the Git record, stores it on the promotion, and fails the job (to be retried) when
/// Git failed.
#[allow(clippy::too_many_arguments)]
async fn git_step(
    ctx: &EngineCtx,
    tenant_id: Uuid,
    target: &LoadedEnvironment,
    promotion_id: Uuid,
    report: &mut DeploymentReport,
    files: Vec<GitFile>,
    secrets: &[(String, String)],
    progress: &dyn Progress,
) -> Result<DeploymentReport> {
    let total = report.workflows.len() as i64;
    progress
        .report(total, total, "committing the promoted workflows to Git")
        .await?;
    let message = format!(
        "Promote {} workflow{} to environment {} (promotion {promotion_id})",
        report.workflows.len(),
        if report.workflows.len() == 1 { "" } else { "s" },
        target.row.name
    );
    let (record, git_error) =
        git_sidecar::commit(ctx, tenant_id, target, files, secrets, message).await;
    report.git = Some(record);
    let result = serde_json::to_value(&*report)
        .map_err(|e| EngineError::Internal(format!("the report can not be serialized: {e}")))?;
    ctx.db
        .tenant_tx(tenant_id, move |conn| {
            async move { promotion_run::set_execution_result(conn, promotion_id, &result).await }
                .scope_boxed()
        })
        .await?;
    if let Some(e) = git_error {
        // the promotion stays completed; the job's next attempt retries only this step
        tracing::warn!(%promotion_id, error = %e, "the Git record of a completed promotion failed");
        return Err(e);
    }
    progress.report(total, total, "promotion completed").await?;
    Ok(report.clone())
}

/// A completed deployment whose Git record failed gets that step again; otherwise its stored
/// report.
async fn retry_git(
    ctx: &EngineCtx,
    tenant_id: Uuid,
    promotion: &PromotionRow,
    deployment_id: Uuid,
    progress: &dyn Progress,
) -> Result<DeploymentReport> {
    let mut report = stored_report(promotion, deployment_id);
    if report
        .git
        .as_ref()
        .is_some_and(|g| g.status != GitStatus::Failed)
    {
        // a run cut short between the completion and the Git record has no record yet
        return Ok(report);
    }
    let target = load_environment(ctx, tenant_id, promotion.target_environment_id).await?;
    let (post, secrets) = match promotion.target_post_snapshot_id {
        Some(id) => {
            let target_id = target.row.id;
            let (row, vars) = ctx
                .db
                .tenant_tx(tenant_id, move |conn| {
                    async move {
                        let row = wfops_db::snapshots::get(conn, id).await?;
                        let vars = wfops_db::environment_variables::list(conn, target_id).await?;
                        Ok::<_, wfops_db::Error>((row, vars))
                    }
                    .scope_boxed()
                })
                .await?;
            let secrets = vars
                .into_iter()
                .filter(|v| v.is_secret)
                .filter_map(|v| {
                    let plain = ctx.cipher.decrypt_str(&v.value).ok()?;
                    Some((v.key, plain.expose().clone()))
                })
                .collect::<Vec<_>>();
            (snapshot::entries_of(&row)?, secrets)
        }
        None => (Vec::new(), Vec::new()),
    };
    let docs: HashMap<&str, &SnapshotEntry> = snapshot::by_id(&post);
    let ids: Vec<Uuid> = report.workflows.iter().map(|w| w.canonical_id).collect();
    let slugs: HashMap<Uuid, String> = ctx
        .db
        .tenant_tx(tenant_id, move |conn| {
            async move {
                let mut out = HashMap::new();
                for id in ids {
                    if let Ok(c) = wfops_db::canonical::get(conn, id).await {
                        out.insert(id, c.canonical_slug);
                    }
                }
                Ok::<_, wfops_db::Error>(out)
            }
            .scope_boxed()
        })
        .await?;
    // the documents of the post-promotion snapshot, or the target's own when there is none
    let provider = target.provider(&ctx.n8n)?;
    let mut files = Vec::with_capacity(report.workflows.len());
    for w in &report.workflows {
        let Some(slug) = slugs.get(&w.canonical_id) else {
            continue;
        };
        let document = match docs.get(w.target_workflow_id.as_str()) {
            Some(entry) => entry.document.clone(),
            None => provider
                .get_workflow(&w.target_workflow_id)
                .await
                .map_err(|e| EngineError::provider(&target.row.name, e))?
                .into_raw(),
        };
        files.push(GitFile {
            canonical_id: w.canonical_id,
            slug: slug.clone(),
            document,
        });
    }
    git_step(
        ctx,
        tenant_id,
        &target,
        promotion.id,
        &mut report,
        files,
        &secrets,
        progress,
    )
    .await
}

async fn cancel_requested(ctx: &EngineCtx, tenant_id: Uuid, deployment_id: Uuid) -> Result<bool> {
    Ok(ctx
        .db
        .tenant_tx(tenant_id, move |conn| {
            async move { promotion_run::cancel_requested(conn, deployment_id).await }.scope_boxed()
        })
        .await?)
}

/// Transforms and writes one workflow, then records it and updates the target's mapping in one
/// transaction. An `Err` is the reason it failed (nothing recorded).
#[allow(clippy::too_many_arguments)]
async fn promote_one(
    ctx: &EngineCtx,
    tenant_id: Uuid,
    target: &LoadedEnvironment,
    provider: &dyn WorkflowProvider,
    target_ctx: &TargetContext,
    present: &HashSet<&str>,
    deployment_id: Uuid,
    pos: usize,
    item: &Item,
) -> std::result::Result<PromotedWorkflow, String> {
    let transformed = transform::transform(&item.source_doc, target_ctx, &mut new_node_id)
        .map_err(|problems| {
            problems
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        })?;
    let update_id = item
        .mapped_target_id
        .as_deref()
        .filter(|id| present.contains(id));
    let written: std::result::Result<RemoteWorkflow, _> = match update_id {
        Some(id) => provider.update_workflow(id, &transformed.doc).await,
        None => provider.create_workflow(&transformed.doc).await,
    };
    let written = written.map_err(|e| format!("{}: {e}", target.row.name))?;
    let action = if update_id.is_some() {
        WorkflowAction::Updated
    } else {
        WorkflowAction::Created
    };
    let target_hash = content_hash(written.raw())
        .ok_or_else(|| "the target answered a document that can not be hashed".to_string())?;
    let done = PromotedWorkflow {
        canonical_id: item.canonical_id,
        name: item.name.clone(),
        source_workflow_id: item.source_id.clone(),
        target_workflow_id: written.id().to_owned(),
        action,
        source_content_hash: item.source_hash.clone(),
        target_content_hash: target_hash,
        warnings: transformed.warnings,
    };
    let position = i32::try_from(pos).map_err(|_| "too many workflows".to_string())?;
    let environment_id = target.row.id;
    let record = done.clone();
    let doc = written.raw().clone();
    let name = written.name().map(str::to_owned);
    let active = written.active();
    let updated_at = written.updated_at();
    let version_id = written.version_id().map(str::to_owned);
    ctx.db
        .tenant_tx(tenant_id, move |conn| {
            async move {
                promotion_run::record_workflow(
                    conn,
                    tenant_id,
                    &NewDeployedWorkflow {
                        deployment_id,
                        canonical_id: record.canonical_id,
                        source_workflow_id: &record.source_workflow_id,
                        workflow_name: &record.name,
                        position,
                        action: record.action,
                        target_workflow_id: &record.target_workflow_id,
                        source_content_hash: &record.source_content_hash,
                        target_content_hash: &record.target_content_hash,
                    },
                )
                .await?;
                promotion_run::write_target_mapping(
                    conn,
                    tenant_id,
                    environment_id,
                    &TargetWorkflow {
                        canonical_id: record.canonical_id,
                        n8n_workflow_id: &record.target_workflow_id,
                        content_hash: &record.target_content_hash,
                        name: name.as_deref(),
                        active,
                        updated_at,
                        version_id: version_id.as_deref(),
                        data: &doc,
                    },
                )
                .await
            }
            .scope_boxed()
        })
        .await
        .map_err(|e| format!("written to {} but not recorded: {e}", target.row.name))?;
    Ok(done)
}

/// Brings the target back to the pre-promotion snapshot for everything this deployment may
/// have touched: workflows it recorded as written (newest first), the mapped copies of the
/// selected workflows (a write whose answer was lost), and workflows created since the snapshot
/// under a promoted workflow's name (a create whose answer was lost). Then verifies by hash
/// and makes the target's mappings match.
#[allow(clippy::too_many_arguments)]
async fn rollback(
    ctx: &EngineCtx,
    tenant_id: Uuid,
    target: &LoadedEnvironment,
    provider: &dyn WorkflowProvider,
    deployment_id: Uuid,
    entries: &[SnapshotEntry],
    snapshot_time: DateTime<Utc>,
    names: &HashSet<String>,
    mapped: &[String],
) -> Result<RollbackReport> {
    let rows = ctx
        .db
        .tenant_tx(tenant_id, move |conn| {
            async move { promotion_run::deployed_workflows(conn, deployment_id).await }
                .scope_boxed()
        })
        .await?;
    let snap = snapshot::by_id(entries);
    let current = match snapshot::capture(ctx, provider, &target.row.name).await {
        Ok(c) => c,
        Err(e) => {
            return Ok(RollbackReport {
                steps: Vec::new(),
                verification: Verification {
                    verified: false,
                    checked: 0,
                    mismatches: vec![restore::Mismatch {
                        workflow_id: String::new(),
                        name: None,
                        reason: format!("the target could not be read to roll back: {e}"),
                    }],
                },
            })
        }
    };
    let current_hashes: HashMap<String, Option<String>> = current
        .iter()
        .map(|e| (e.id.clone(), e.content_hash.clone()))
        .collect();

    let mut plan = Plan::default();
    let mut planned: HashSet<String> = HashSet::new();
    for row in rows.iter().rev() {
        let Some(id) = row.target_workflow_id.clone() else {
            continue;
        };
        if !planned.insert(id.clone()) {
            continue;
        }
        match (row.action, snap.get(id.as_str())) {
            (Some(WorkflowAction::Updated), Some(entry)) => plan.restore.push(entry),
            (Some(_), None) => plan.delete.push((id, Some(row.workflow_name.clone()))),
            _ => {}
        }
    }
    for id in mapped {
        if let Some(entry) = snap.get(id.as_str()) {
            if planned.insert(id.clone()) {
                plan.restore.push(entry);
            }
        }
    }
    for e in &current {
        let new_since = !snap.contains_key(e.id.as_str())
            && SnapshotEntry::created_at(&e.document)
                .is_none_or(|t| t >= snapshot_time - chrono::Duration::seconds(5));
        if new_since
            && e.name.as_ref().is_some_and(|n| names.contains(n))
            && planned.insert(e.id.clone())
        {
            plan.delete.push((e.id.clone(), e.name.clone()));
        }
    }

    let steps = restore::apply(ctx, provider, &current_hashes, &plan).await;
    // each recorded workflow gets the outcome of its step
    let outcomes: Vec<(Uuid, wfops_promotion::RollbackOutcome, Option<String>)> = rows
        .iter()
        .filter_map(|row| {
            let id = row.target_workflow_id.as_deref()?;
            let step = steps.iter().find(|s| s.workflow_id == id)?;
            Some((row.id, step.outcome, step.error.clone()))
        })
        .collect();
    ctx.db
        .tenant_tx(tenant_id, move |conn| {
            async move {
                for (id, outcome, error) in &outcomes {
                    promotion_run::set_rollback_outcome(conn, *id, *outcome, error.as_deref())
                        .await?;
                }
                Ok::<_, wfops_db::Error>(())
            }
            .scope_boxed()
        })
        .await?;
    restore::write_mappings(ctx, tenant_id, target.row.id, &steps, &snap).await?;
    let verification = restore::verify(ctx, provider, &target.row.name, &steps, &snap).await;
    Ok(RollbackReport {
        steps,
        verification,
    })
}

/// A run that was cut short after its snapshot: everything it may have written is rolled back
/// to the snapshot (docs/decisions/promotion-crash-recovery.md).
async fn recover(
    ctx: &EngineCtx,
    tenant_id: Uuid,
    promotion: &PromotionRow,
    deployment_id: Uuid,
    progress: &dyn Progress,
) -> Result<DeploymentReport> {
    let snapshot_id = promotion
        .target_pre_snapshot_id
        .ok_or_else(|| EngineError::Internal("recovery without a snapshot".into()))?;
    let target = load_environment(ctx, tenant_id, promotion.target_environment_id).await?;
    let provider = target.provider(&ctx.n8n)?;
    progress
        .report(0, 0, "an earlier run was cut short: rolling it back")
        .await?;
    let selected = promotion.selected_workflows()?;
    let (source_id, target_id) = (promotion.source_environment_id, target.row.id);
    let (row, source_maps, target_maps, deployed) = ctx
        .db
        .tenant_tx(tenant_id, move |conn| {
            async move {
                let row = wfops_db::snapshots::get(conn, snapshot_id).await?;
                let s = promotion_run::mappings_of_canonicals(conn, source_id, &selected).await?;
                let t = promotion_run::mappings_of_canonicals(conn, target_id, &selected).await?;
                let d = promotion_run::deployed_workflows(conn, deployment_id).await?;
                Ok::<_, wfops_db::Error>((row, s, t, d))
            }
            .scope_boxed()
        })
        .await?;
    let entries = snapshot::entries_of(&row)?;
    let mut names: HashSet<String> = source_maps
        .into_iter()
        .filter_map(|m| m.workflow_name)
        .collect();
    names.extend(deployed.iter().map(|d| d.workflow_name.clone()));
    let mapped: Vec<String> = target_maps.into_iter().map(|m| m.n8n_workflow_id).collect();
    let rollback = rollback(
        ctx,
        tenant_id,
        &target,
        provider.as_ref(),
        deployment_id,
        &entries,
        row.created_at,
        &names,
        &mapped,
    )
    .await?;
    let mut report = stored_report(promotion, deployment_id);
    report.recovered = true;
    report.pre_snapshot_id = Some(snapshot_id);
    report.status = Some(if rollback.verification.verified {
        PromotionStatus::RolledBack
    } else {
        PromotionStatus::Failed
    });
    let error = if rollback.verification.verified {
        "the run was cut short; rolled back to the pre-promotion snapshot".to_string()
    } else {
        format!(
            "the run was cut short; the rollback left {} workflow(s) unlike the snapshot",
            rollback.verification.mismatches.len()
        )
    };
    report.rollback = Some(rollback);
    finish(
        ctx,
        tenant_id,
        promotion.id,
        deployment_id,
        &report,
        DeploymentStatus::Failed,
        Some(error.clone()),
    )
    .await?;
    progress.report(0, 0, &error).await?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn item(id: &str, calls: &[&str]) -> Item {
        let nodes: Vec<Value> = calls
            .iter()
            .map(|c| {
                json!({"name": format!("call {c}"), "type": "n8n-nodes-base.executeWorkflow",
                       "parameters": {"workflowId": c}})
            })
            .collect();
        Item {
            canonical_id: Uuid::new_v4(),
            slug: id.into(),
            name: id.into(),
            source_id: id.into(),
            source_doc: json!({"nodes": nodes}),
            source_hash: String::new(),
            mapped_target_id: None,
        }
    }

    fn order(items: Vec<Item>) -> Vec<String> {
        dependency_order(items)
            .into_iter()
            .map(|i| i.source_id)
            .collect()
    }

    #[test]
    fn callees_come_before_callers_and_the_selection_order_is_kept_otherwise() {
        // a calls b and c, c calls b; d calls nothing; e calls a workflow outside the promotion
        let items = vec![
            item("a", &["b", "c"]),
            item("d", &[]),
            item("c", &["b"]),
            item("b", &[]),
            item("e", &["elsewhere"]),
        ];
        assert_eq!(order(items), ["b", "c", "a", "d", "e"]);
    }

    #[test]
    fn a_cycle_is_cut_and_every_workflow_is_written_once() {
        let items = vec![item("a", &["b"]), item("b", &["a"]), item("c", &["c"])];
        assert_eq!(order(items), ["b", "a", "c"]);
    }
}
