//! Snapshots: an environment's workflows read from its n8n instance (never from the database's
//! cache, which is only as fresh as the last sync), stored whole so that any of them can be
//! written back (docs/promotion.md#snapshots).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;
use wfops_db::snapshots::{self, NewSnapshot};
use wfops_db::ScopedFutureExt;
use wfops_n8n::{list_all_workflows, ListWorkflows, RemoteWorkflow, WorkflowProvider};
use wfops_promotion::SnapshotKind;

use super::retry::transient_retry;
use crate::context::{load_environment, EngineCtx};
use crate::error::{EngineError, Result};

/// One workflow of a snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SnapshotEntry {
    /// The workflow's id in the environment's instance when the snapshot was taken.
    pub id: String,
    pub name: Option<String>,
    pub active: bool,
    /// `None` when the document could not be hashed (it is restored all the same).
    pub content_hash: Option<String>,
    /// The document as n8n returned it.
    pub document: Value,
}

impl SnapshotEntry {
    pub(crate) fn from_remote(w: RemoteWorkflow) -> Self {
        let content_hash = content_hash(w.raw());
        Self {
            id: w.id().to_owned(),
            name: w.name().map(str::to_owned),
            active: w.active(),
            content_hash,
            document: w.into_raw(),
        }
    }

    /// When n8n created the workflow, if the document says.
    pub(crate) fn created_at(doc: &Value) -> Option<DateTime<Utc>> {
        doc.get("createdAt")
            .and_then(Value::as_str)
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            .map(|d| d.with_timezone(&Utc))
    }
}

/// The content hash of a document, `None` when it can not be hashed.
pub(crate) fn content_hash(doc: &Value) -> Option<String> {
    wfops_diff::content_hash_value(doc).ok().map(|h| h.to_hex())
}

/// Every workflow of the instance now, by id (listing retried on transient errors).
pub(crate) async fn capture(
    ctx: &EngineCtx,
    provider: &dyn WorkflowProvider,
    environment: &str,
) -> Result<Vec<SnapshotEntry>> {
    let listed = transient_retry(ctx, || async {
        list_all_workflows(provider, ListWorkflows::default()).await
    })
    .await
    .map_err(|e| EngineError::provider(environment, e))?;
    Ok(listed.into_iter().map(SnapshotEntry::from_remote).collect())
}

/// Entries by id.
pub(crate) fn by_id(entries: &[SnapshotEntry]) -> HashMap<&str, &SnapshotEntry> {
    entries.iter().map(|e| (e.id.as_str(), e)).collect()
}

/// Stores `entries` as a snapshot of the environment and returns its id.
pub(crate) async fn store(
    ctx: &EngineCtx,
    tenant_id: Uuid,
    environment_id: Uuid,
    kind: SnapshotKind,
    entries: &[SnapshotEntry],
    notes: Option<String>,
    actor: Option<Uuid>,
) -> Result<Uuid> {
    let workflows = serde_json::to_value(entries)
        .map_err(|e| EngineError::Internal(format!("a snapshot can not be serialized: {e}")))?;
    let count = entries.len();
    let id = ctx
        .db
        .tenant_tx(tenant_id, move |conn| {
            async move {
                snapshots::insert(
                    conn,
                    tenant_id,
                    &NewSnapshot {
                        environment_id,
                        kind,
                        workflows: &workflows,
                        workflow_count: count,
                        notes: notes.as_deref(),
                        created_by: actor,
                    },
                )
                .await
            }
            .scope_boxed()
        })
        .await?;
    Ok(id)
}

/// Reads the entries of a stored snapshot.
pub(crate) fn entries_of(row: &snapshots::SnapshotRow) -> Result<Vec<SnapshotEntry>> {
    serde_json::from_value(row.workflows.clone()).map_err(|e| {
        EngineError::Db(wfops_db::Error::Unreadable(format!(
            "snapshot {} holds workflows in an unknown shape: {e}",
            row.id
        )))
    })
}

/// What [`take_snapshot`] stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SnapshotTaken {
    pub snapshot_id: Uuid,
    pub environment_id: Uuid,
    pub kind: SnapshotKind,
    pub workflow_count: usize,
}

/// Snapshots every workflow of environment `environment_id` as its n8n instance holds it now
/// (for a manual backup, `kind` is `SnapshotKind::ManualBackup`), recorded as made by `actor`.
pub async fn take_snapshot(
    ctx: &EngineCtx,
    tenant_id: Uuid,
    environment_id: Uuid,
    kind: SnapshotKind,
    actor: Option<Uuid>,
) -> Result<SnapshotTaken> {
    let env = load_environment(ctx, tenant_id, environment_id).await?;
    let provider = env.provider(&ctx.n8n)?;
    let entries = capture(ctx, provider.as_ref(), &env.row.name).await?;
    let snapshot_id = store(ctx, tenant_id, environment_id, kind, &entries, None, actor).await?;
    Ok(SnapshotTaken {
        snapshot_id,
        environment_id,
        kind,
        workflow_count: entries.len(),
    })
}
