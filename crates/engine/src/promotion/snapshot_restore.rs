//! Restoring an environment to one of its snapshots (docs/promotion.md#snapshot-restore): the
//! environment is snapshotted first (so that the restore can itself be undone), then every
//! workflow of the snapshot is written back (created again when gone) and every workflow created
//! since is deleted, so that the environment is as it was; then verified by content hash.

use std::collections::{HashMap, HashSet};

use uuid::Uuid;
use wfops_db::ScopedFutureExt;
use wfops_promotion::SnapshotKind;

use super::restore::{self, Plan};
use super::snapshot;
use super::RestoreReport;
use crate::context::{load_environment, EngineCtx, Progress};
use crate::error::{EngineError, Result};

/// Restores the environment of snapshot `snapshot_id` to the snapshot's workflows.
///
/// Fails (retryably: running it again converges) when a workflow could not be brought back or
/// the verification finds the environment unlike the snapshot; the report of what was done is in
/// the error's message and the pre-restore snapshot is kept.
pub async fn restore_snapshot(
    ctx: &EngineCtx,
    tenant_id: Uuid,
    snapshot_id: Uuid,
    progress: &dyn Progress,
) -> Result<RestoreReport> {
    let row = ctx
        .db
        .tenant_tx(tenant_id, move |conn| {
            async move { wfops_db::snapshots::get(conn, snapshot_id).await }.scope_boxed()
        })
        .await?;
    let entries = snapshot::entries_of(&row)?;
    let env = load_environment(ctx, tenant_id, row.environment_id).await?;
    let provider = env.provider(&ctx.n8n)?;

    progress
        .report(
            0,
            0,
            &format!("taking a snapshot of {} before the restore", env.row.name),
        )
        .await?;
    let current = snapshot::capture(ctx, provider.as_ref(), &env.row.name).await?;
    let pre_restore = snapshot::store(
        ctx,
        tenant_id,
        env.row.id,
        SnapshotKind::PreRestore,
        &current,
        Some(format!("before restoring snapshot {snapshot_id}")),
        None,
    )
    .await?;

    let snap = snapshot::by_id(&entries);
    let current_hashes: HashMap<String, Option<String>> = current
        .iter()
        .map(|e| (e.id.clone(), e.content_hash.clone()))
        .collect();
    let in_snapshot: HashSet<&str> = entries.iter().map(|e| e.id.as_str()).collect();
    let plan = Plan {
        restore: entries.iter().collect(),
        delete: current
            .iter()
            .filter(|e| !in_snapshot.contains(e.id.as_str()))
            .map(|e| (e.id.clone(), e.name.clone()))
            .collect(),
    };
    let total = (plan.restore.len() + plan.delete.len()) as i64;
    progress
        .report(
            0,
            total,
            &format!(
                "restoring {} workflows and removing {} created since",
                plan.restore.len(),
                plan.delete.len()
            ),
        )
        .await?;
    let steps = restore::apply(ctx, provider.as_ref(), &current_hashes, &plan).await;
    restore::write_mappings(ctx, tenant_id, env.row.id, &steps, &snap).await?;
    progress
        .report(total, total, "verifying the restore")
        .await?;
    let verification = restore::verify(ctx, provider.as_ref(), &env.row.name, &steps, &snap).await;
    let report = RestoreReport {
        snapshot_id,
        environment_id: env.row.id,
        pre_restore_snapshot_id: Some(pre_restore),
        steps,
        verification,
    };
    if !report.verification.verified {
        let detail = serde_json::to_string(&report.verification.mismatches).unwrap_or_default();
        return Err(EngineError::RestoreIncomplete {
            environment: env.row.name.clone(),
            detail,
        });
    }
    progress
        .report(
            total,
            total,
            &format!("{} is as in snapshot {snapshot_id}", env.row.name),
        )
        .await?;
    Ok(report)
}
