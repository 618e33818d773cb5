//! Environment sync (docs/sync-and-identity.md#environment-sync): n8n → `workflow_env_map`, then reconciliation.
//!
//! The listing is read page by page (the next page is fetched while the current one is
//! processed) and written in batches of `SYNC_BATCH_SIZE`. Each batch is one transaction that
//! records which workflows this run saw, writes the new and changed mappings in one statement,
//! auto-links untracked workflows whose hash is registered, and saves the job's checkpoint, so
//! a retried job resumes after the last finished batch. A workflow whose hash, name, active
//! flag, `updatedAt` and `versionId` are all unchanged is not written at all
//! (`docs/decisions/sync-short-circuit.md`). At the end, mappings this run did not see become
//! `missing`, `environments.last_sync_at` is set, and the tenant is reconciled.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use chrono::{DateTime, SubsecRound, Utc};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;
use wfops_canonical::{mapping_status, CanonicalId, MappingFacts, MappingStatus};
use wfops_db::environments::Environment;
use wfops_db::workflows::{self, SeenWorkflow, SyncState};
use wfops_db::{hash_registry, ScopedFutureExt};
use wfops_diff::{ContentHash, ContentHasher};
use wfops_n8n::{ListWorkflows, Page, ProviderError, RemoteWorkflow, WorkflowProvider};

use crate::context::{load_environment, Checkpoint, EngineCtx, Progress};
use crate::error::{EngineError, Result};
use crate::linking::{auto_link, LinkBlocked, LinkCandidate};
use crate::reconcile::{self, ReconcileReport};
use crate::references::{load_resolver, Resolver};

/// At most this many entries are listed in `errors` and `link_blocked`; the counts are exact.
pub const MAX_LISTED: usize = 100;

/// Progress is written at most this often (each write is a job event streamed to clients).
const PROGRESS_EVERY: Duration = Duration::from_millis(250);

/// The result of one environment sync (the job's result document).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EnvSyncReport {
    pub environment_id: Uuid,
    /// Workflows n8n listed (each id once).
    pub fetched: u64,
    /// Mappings created for workflows seen for the first time.
    pub created: u64,
    /// Existing mappings rewritten because something changed.
    pub updated: u64,
    /// Workflows with nothing to write (the short-circuit).
    pub unchanged: u64,
    /// Untracked workflows auto-linked to a canonical workflow by hash in this run.
    pub linked: u64,
    /// The environment's untracked workflows after the run.
    pub untracked: u64,
    /// Mappings this run marked missing (n8n no longer lists them).
    pub missing: u64,
    /// Workflows n8n returned that can not be parsed (recorded with their error; the sync went
    /// on). At most [`MAX_LISTED`] are listed; `error_count` is exact.
    pub errors: Vec<WorkflowError>,
    pub error_count: u64,
    /// Untracked workflows whose hash is registered but that were not linked, with the reason
    /// (hash collision, canonical workflow deleted or already mapped here, ambiguous hash).
    pub link_blocked: Vec<LinkBlocked>,
    pub link_blocked_count: u64,
    /// Pages of the listing processed (over all attempts).
    pub pages: u64,
    /// Attempts that resumed from a checkpoint.
    pub resumed: u64,
    pub reconcile: Option<ReconcileReport>,
}

impl EnvSyncReport {
    fn push_error(&mut self, e: WorkflowError) {
        self.error_count += 1;
        if self.errors.len() < MAX_LISTED {
            self.errors.push(e);
        }
    }

    fn push_blocked(&mut self, b: LinkBlocked) {
        self.link_blocked_count += 1;
        if self.link_blocked.len() < MAX_LISTED {
            self.link_blocked.push(b);
        }
    }
}

/// A workflow that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkflowError {
    pub n8n_workflow_id: String,
    pub name: Option<String>,
    pub error: String,
}

/// Where a sync is, saved in the job's checkpoint after every batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct SyncCheckpoint {
    /// Layout version; another version is not resumed.
    v: u32,
    /// Identifies this sync's rows in `env_sync_seen` across attempts.
    run_id: Uuid,
    /// The cursor of the page being processed (`None`: the first page).
    cursor: Option<String>,
    /// Items of that page already processed.
    offset: usize,
    /// Every page has been processed.
    listing_done: bool,
    /// Missing workflows are marked and `last_sync_at` is set; only reconciliation is left.
    finished: bool,
    report: EnvSyncReport,
}

const CHECKPOINT_VERSION: u32 = 1;

impl SyncCheckpoint {
    fn fresh(environment_id: Uuid) -> Self {
        Self {
            v: CHECKPOINT_VERSION,
            run_id: Uuid::new_v4(),
            cursor: None,
            offset: 0,
            listing_done: false,
            finished: false,
            report: EnvSyncReport {
                environment_id,
                ..Default::default()
            },
        }
    }

    /// The stored checkpoint of a previous attempt, when it is one of ours for this
    /// environment; anything else starts over (safe: every write is an idempotent upsert).
    fn resume(stored: Option<&Value>, environment_id: Uuid) -> Option<Self> {
        let value = stored?;
        match serde_json::from_value::<SyncCheckpoint>(value.clone()) {
            Ok(c) if c.v == CHECKPOINT_VERSION && c.report.environment_id == environment_id => {
                Some(c)
            }
            Ok(_) => {
                tracing::warn!(%environment_id, "ignoring a checkpoint of another version or environment");
                None
            }
            Err(e) => {
                tracing::warn!(%environment_id, error = %e, "ignoring an unreadable checkpoint");
                None
            }
        }
    }

    fn to_value(&self) -> Result<Value> {
        serde_json::to_value(self).map_err(|e| EngineError::Internal(format!("checkpoint: {e}")))
    }
}

/// Syncs one environment of the tenant from its n8n instance, then reconciles the tenant.
pub async fn run(
    ctx: &EngineCtx,
    tenant_id: Uuid,
    environment_id: Uuid,
    progress: &dyn Progress,
    checkpoint: &Checkpoint,
) -> Result<EnvSyncReport> {
    let env = load_environment(ctx, tenant_id, environment_id).await?;
    let provider = env.provider(&ctx.n8n)?;
    run_with_provider(ctx, &env.row, provider.as_ref(), progress, checkpoint).await
}

/// [`run`] with a provider of the caller's choice (another provider, or a test double).
pub async fn run_with_provider(
    ctx: &EngineCtx,
    env: &Environment,
    provider: &dyn WorkflowProvider,
    progress: &dyn Progress,
    checkpoint: &Checkpoint,
) -> Result<EnvSyncReport> {
    let started = Instant::now();
    let mut sync = Sync {
        ctx,
        env,
        provider,
        progress,
        checkpoint,
        state: SyncCheckpoint::fresh(env.id),
        seen_this_attempt: HashSet::new(),
        last_progress: None,
        estimate: 0,
    };
    // n8n's listing has no total: the workflows the environment had last time are the
    // estimate until the listing is done.
    let env_id = env.id;
    let counts = ctx
        .db
        .tenant_tx(env.tenant_id, |conn| {
            async move { workflows::status_counts(conn, env_id).await }.scope_boxed()
        })
        .await?;
    sync.estimate =
        (counts.linked + counts.untracked + counts.ignored + counts.deleted).max(0) as u64;
    match SyncCheckpoint::resume(checkpoint.stored(), env.id) {
        Some(state) => {
            sync.state = state;
            sync.state.report.resumed += 1;
            tracing::info!(environment = %env.name, run_id = %sync.state.run_id,
                processed = sync.state.report.fetched, "resuming environment sync");
        }
        None => sync.start().await?,
    }
    if !sync.state.listing_done {
        sync.list_and_process().await?;
    }
    if !sync.state.finished {
        sync.finish().await?;
    }
    progress
        .report(
            sync.state.report.fetched as i64,
            sync.state.report.fetched as i64,
            "reconciling",
        )
        .await?;
    let reconciled = reconcile::run(ctx, env.tenant_id).await?;
    let mut report = sync.state.report;
    report.reconcile = Some(reconciled);
    tracing::info!(
        environment = %env.name,
        fetched = report.fetched,
        created = report.created,
        updated = report.updated,
        unchanged = report.unchanged,
        linked = report.linked,
        missing = report.missing,
        errors = report.error_count,
        duration_ms = started.elapsed().as_millis() as u64,
        "environment sync finished"
    );
    Ok(report)
}

/// One workflow of a page, hashed.
struct Prepared<'a> {
    workflow: &'a RemoteWorkflow,
    hash: std::result::Result<ContentHash, String>,
}

/// The write plan of one batch (or of several carried together).
#[derive(Default)]
struct BatchPlan<'a> {
    ids: Vec<&'a str>,
    writes: Vec<SeenWorkflow<'a>>,
    candidates: Vec<PendingCandidate<'a>>,
    created: u64,
    updated: u64,
    unchanged: u64,
    errors: Vec<WorkflowError>,
}

impl<'a> BatchPlan<'a> {
    fn absorb(&mut self, other: BatchPlan<'a>) {
        self.ids.extend(other.ids);
        self.writes.extend(other.writes);
        self.candidates.extend(other.candidates);
        self.created += other.created;
        self.updated += other.updated;
        self.unchanged += other.unchanged;
        self.errors.extend(other.errors);
    }
}

/// A link candidate whose mapping id may only be known after the batch's upsert.
struct PendingCandidate<'a> {
    mapping_id: Option<Uuid>,
    workflow: &'a RemoteWorkflow,
    hash: ContentHash,
}

struct Sync<'s> {
    ctx: &'s EngineCtx,
    env: &'s Environment,
    provider: &'s dyn WorkflowProvider,
    progress: &'s dyn Progress,
    checkpoint: &'s Checkpoint,
    state: SyncCheckpoint,
    /// n8n's listing is unordered offset pagination: a workflow saved during the listing can
    /// show up on two pages. The first copy wins.
    seen_this_attempt: HashSet<String>,
    last_progress: Option<Instant>,
    /// Workflows the listing is expected to return (for progress only).
    estimate: u64,
}

impl<'s> Sync<'s> {
    fn tenant_id(&self) -> Uuid {
        self.env.tenant_id
    }

    /// A fresh run: forget what earlier (finished or abandoned) runs saw, and save the run id
    /// so that a retry continues this run.
    async fn start(&mut self) -> Result<()> {
        let env_id = self.env.id;
        let value = self.state.to_value()?;
        let checkpoint = self.checkpoint;
        self.ctx
            .db
            .tenant_tx(self.tenant_id(), |conn| {
                async move {
                    workflows::clear_seen(conn, env_id, None).await?;
                    checkpoint.save(conn, &value).await
                }
                .scope_boxed()
            })
            .await?;
        self.last_progress = Some(Instant::now());
        self.progress
            .report(0, self.estimate.max(1) as i64, "listing workflows")
            .await
    }

    async fn list_and_process(&mut self) -> Result<()> {
        let (ctx, env, provider) = (self.ctx, self.env, self.provider);
        let mut page = fetch_page(ctx, env, provider, self.state.cursor.clone()).await?;
        loop {
            let next = page.next_cursor.clone();
            if next.is_some() && next == self.state.cursor {
                return Err(EngineError::provider(
                    &env.name,
                    ProviderError::Decode {
                        message:
                            "n8n returned the cursor it was given; the listing would never end"
                                .into(),
                    },
                ));
            }
            // The next page is fetched while this one is hashed and written.
            let prefetch = async {
                match &next {
                    Some(cursor) => {
                        Some(fetch_page(ctx, env, provider, Some(cursor.clone())).await)
                    }
                    None => None,
                }
            };
            let parts = PageParts {
                ctx,
                env,
                progress: self.progress,
                checkpoint: self.checkpoint,
                state: self.state.clone(),
                seen: std::mem::take(&mut self.seen_this_attempt),
                last_progress: self.last_progress,
                estimate: self.estimate,
            };
            let (processed, prefetched) =
                futures::join!(process_page(parts, page.items, next.clone()), prefetch);
            let (state, last_progress, seen) = processed?;
            self.state = state;
            self.last_progress = last_progress;
            self.seen_this_attempt = seen;
            match prefetched {
                None => return Ok(()),
                Some(next_page) => page = next_page?,
            }
        }
    }

    async fn finish(&mut self) -> Result<()> {
        let env_id = self.env.id;
        let run_id = self.state.run_id;
        let mut state = self.state.clone();
        let checkpoint = self.checkpoint;
        let now = Utc::now();
        let state = self
            .ctx
            .db
            .tenant_tx(self.tenant_id(), |conn| {
                async move {
                    let missing = workflows::mark_missing(conn, env_id, run_id).await?;
                    workflows::clear_seen(conn, env_id, None).await?;
                    workflows::set_last_sync_at(conn, env_id, now).await?;
                    let counts = workflows::status_counts(conn, env_id).await?;
                    state.report.missing += missing.len() as u64;
                    state.report.untracked = counts.untracked.max(0) as u64;
                    state.finished = true;
                    checkpoint.save(conn, &state.to_value()?).await?;
                    Ok::<_, EngineError>(state)
                }
                .scope_boxed()
            })
            .await?;
        self.state = state;
        Ok(())
    }
}

async fn fetch_page(
    ctx: &EngineCtx,
    env: &Environment,
    provider: &dyn WorkflowProvider,
    cursor: Option<String>,
) -> Result<Page<RemoteWorkflow>> {
    let query = ListWorkflows {
        limit: Some(ctx.n8n.page_size),
        cursor,
        exclude_pinned_data: true,
        ..Default::default()
    };
    provider
        .list_workflows(&query)
        .await
        .map_err(|e| EngineError::provider(&env.name, e))
}

/// What page processing needs from the sync, moved out so that the next page can be fetched
/// through the sync's shared references at the same time.
struct PageParts<'s> {
    ctx: &'s EngineCtx,
    env: &'s Environment,
    progress: &'s dyn Progress,
    checkpoint: &'s Checkpoint,
    state: SyncCheckpoint,
    seen: HashSet<String>,
    last_progress: Option<Instant>,
    estimate: u64,
}

type PageOutcome = (SyncCheckpoint, Option<Instant>, HashSet<String>);

/// Hashes one page and writes it batch by batch, starting at the checkpoint's offset.
async fn process_page(
    mut p: PageParts<'_>,
    items: Vec<RemoteWorkflow>,
    next_cursor: Option<String>,
) -> Result<PageOutcome> {
    let offset = p.state.offset.min(items.len());
    let page_end = p.state.report.fetched + (items.len() - offset) as u64;
    let env_id = p.env.id;
    let tenant_id = p.env.tenant_id;
    let ids: Vec<String> = items[offset..].iter().map(|w| w.id().to_owned()).collect();
    // Hashing (CPU, on the blocking pool) and reading what the database holds for the page
    // are independent: do both at once.
    let read = p.ctx.db.tenant_tx(tenant_id, |conn| {
        async move { workflows::sync_states(conn, env_id, &ids).await }.scope_boxed()
    });
    // Sub-workflow references hash as the canonical workflow their id is mapped to here; a
    // callee linked later in this run is caught up by reconciliation (`references::converge`).
    let resolver = load_resolver(p.ctx, tenant_id, env_id).await?;
    let (hashed, existing) = futures::join!(hash_all(items, offset, resolver, env_id), read);
    let (items, hashes) = hashed?;
    let existing = existing?;
    let prepared: Vec<Prepared<'_>> = items[offset..]
        .iter()
        .zip(hashes)
        .map(|(workflow, hash)| Prepared { workflow, hash })
        .collect();
    let mut hashes: Vec<String> = prepared
        .iter()
        .filter_map(|w| w.hash.as_ref().ok().map(ContentHash::to_hex))
        .collect();
    hashes.sort();
    hashes.dedup();
    let registered = p
        .ctx
        .db
        .tenant_tx(tenant_id, |conn| {
            async move { hash_registry::registered(conn, &hashes).await }.scope_boxed()
        })
        .await?;
    let existing: HashMap<String, SyncState> = existing
        .into_iter()
        .map(|s| (s.n8n_workflow_id.clone(), s))
        .collect();
    let registered: HashSet<ContentHash> =
        registered.iter().filter_map(|h| h.parse().ok()).collect();

    // Batches with nothing to write (unchanged workflows, no registered hash) are carried into
    // the next batch that writes, or the end of the page: redoing them after a crash costs
    // nothing, and an unchanged re-sync then needs one transaction per page, not per batch.
    let batch_size = p.ctx.config.sync_batch_size.max(1);
    let mut chunks = prepared.chunks(batch_size).peekable();
    let mut carried = BatchPlan::default();
    let mut carried_items = 0;
    loop {
        let chunk: &[Prepared<'_>] = chunks.next().unwrap_or(&[]);
        let last_of_page = chunks.peek().is_none();
        carried.absorb(plan_batch(chunk, &existing, &registered, &mut p.seen));
        carried_items += chunk.len();
        if !last_of_page && carried.writes.is_empty() && carried.candidates.is_empty() {
            continue;
        }
        let plan = std::mem::take(&mut carried);

        let mut next_state = p.state.clone();
        if last_of_page {
            next_state.cursor = next_cursor.clone();
            next_state.offset = 0;
            next_state.listing_done = next_cursor.is_none();
            next_state.report.pages += 1;
        } else {
            next_state.offset += carried_items;
        }
        carried_items = 0;
        next_state.report.fetched += plan.ids.len() as u64;
        next_state.report.created += plan.created;
        next_state.report.updated += plan.updated;
        next_state.report.unchanged += plan.unchanged;
        for e in plan.errors.iter().cloned() {
            next_state.report.push_error(e);
        }

        let checkpoint = p.checkpoint;
        let synced_at = Utc::now();
        let run_id = p.state.run_id;
        let plan_ref = &plan;
        next_state = p
            .ctx
            .db
            .tenant_tx(tenant_id, |conn| {
                async move {
                    // n8n is the source of these rows and the checkpoint commits with them, so
                    // a batch lost in a database crash is simply synced again by the retry;
                    // not waiting for each commit to be flushed saves a WAL flush per batch.
                    workflows::relax_commit_durability(conn).await?;
                    workflows::record_seen(conn, tenant_id, env_id, run_id, &plan_ref.ids).await?;
                    let upserted = workflows::upsert_seen(
                        conn,
                        tenant_id,
                        env_id,
                        synced_at,
                        &plan_ref.writes,
                    )
                    .await?;
                    let new_ids: HashMap<&str, Uuid> = upserted
                        .iter()
                        .map(|u| (u.n8n_workflow_id.as_str(), u.id))
                        .collect();
                    let candidates: Vec<LinkCandidate<'_>> = plan_ref
                        .candidates
                        .iter()
                        .filter_map(|c| {
                            let id = c
                                .mapping_id
                                .or_else(|| new_ids.get(c.workflow.id()).copied())?;
                            Some(LinkCandidate {
                                mapping_id: id,
                                n8n_workflow_id: c.workflow.id(),
                                name: c.workflow.name(),
                                hash: c.hash,
                                document: c.workflow.raw(),
                            })
                        })
                        .collect();
                    let outcome = auto_link(conn, env_id, &candidates).await?;
                    next_state.report.linked += outcome.linked.len() as u64;
                    for b in outcome.blocked {
                        next_state.report.push_blocked(b);
                    }
                    checkpoint.save(conn, &next_state.to_value()?).await?;
                    Ok::<_, EngineError>(next_state)
                }
                .scope_boxed()
            })
            .await?;
        p.state = next_state;

        let force = last_of_page && p.state.listing_done;
        if force
            || p.last_progress
                .is_none_or(|t| t.elapsed() >= PROGRESS_EVERY)
        {
            p.last_progress = Some(Instant::now());
            let done = p.state.report.fetched;
            let total = if p.state.listing_done {
                done
            } else if next_cursor.is_some() {
                (page_end + u64::from(p.ctx.n8n.page_size)).max(p.estimate)
            } else {
                page_end
            }
            .max(done);
            let message = format!(
                "{done} workflows processed ({} pages){}",
                p.state.report.pages + u64::from(!last_of_page),
                if p.state.listing_done {
                    ""
                } else {
                    ", listing continues"
                }
            );
            p.progress
                .report(done as i64, total as i64, &message)
                .await?;
        }
        if last_of_page {
            break;
        }
    }
    Ok((p.state, p.last_progress, p.seen))
}

/// Content hashes of `items[offset..]` on all cores (hashing is CPU work: it must not block
/// the async runtime).
async fn hash_all(
    items: Vec<RemoteWorkflow>,
    offset: usize,
    resolver: Resolver,
    environment_id: Uuid,
) -> Result<(
    Vec<RemoteWorkflow>,
    Vec<std::result::Result<ContentHash, String>>,
)> {
    tokio::task::spawn_blocking(move || {
        let resolve = resolver.for_env(environment_id);
        let hashes = items[offset..]
            .par_iter()
            .map_init(ContentHasher::new, |h, w| {
                h.hash_value_resolving(w.raw(), &resolve)
                    .map_err(|e| e.to_string())
            })
            .collect();
        (items, hashes)
    })
    .await
    .map_err(|e| EngineError::Internal(format!("hashing task failed: {e}")))
}

/// n8n sends milliseconds; Postgres keeps microseconds. Comparing at Postgres' precision keeps
/// a finer timestamp from looking changed on every sync.
fn db_time(t: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    t.map(|t| t.trunc_subsecs(6))
}

/// Decides, for each workflow of a batch, whether to write it and with which status, and
/// which untracked workflows to try to auto-link.
fn plan_batch<'a>(
    chunk: &'a [Prepared<'a>],
    existing: &HashMap<String, SyncState>,
    registered: &HashSet<ContentHash>,
    seen: &mut HashSet<String>,
) -> BatchPlan<'a> {
    let mut plan = BatchPlan {
        ids: Vec::with_capacity(chunk.len()),
        ..Default::default()
    };
    for item in chunk {
        let w = item.workflow;
        if !seen.insert(w.id().to_owned()) {
            continue;
        }
        plan.ids.push(w.id());
        let old = existing.get(w.id());
        let status = mapping_status(&MappingFacts {
            canonical_id: old.and_then(|o| o.canonical_id).map(CanonicalId::from),
            deleted: old.is_some_and(|o| o.status == MappingStatus::Deleted),
            ignored: old.is_some_and(|o| o.status == MappingStatus::Ignored),
            seen_in_last_sync: true,
        });
        let (hash, parse_error) = match &item.hash {
            Ok(h) => (Some(*h), None),
            Err(e) => (None, Some(e.clone())),
        };
        if let Some(error) = &parse_error {
            plan.errors.push(WorkflowError {
                n8n_workflow_id: w.id().to_owned(),
                name: w.name().map(str::to_owned),
                error: error.clone(),
            });
        }
        let hash_hex = hash.map(|h| h.to_hex());
        let updated_at = db_time(w.updated_at());
        let unchanged = old.is_some_and(|o| {
            o.status == status
                && o.env_content_hash == hash_hex
                && o.parse_error == parse_error
                && o.workflow_name.as_deref() == w.name()
                && o.active == w.active()
                && o.n8n_updated_at == updated_at
                && o.n8n_version_id.as_deref() == w.version_id()
        });
        if let (MappingStatus::Untracked, Some(hash)) = (status, hash) {
            if registered.contains(&hash) {
                plan.candidates.push(PendingCandidate {
                    mapping_id: old.map(|o| o.id),
                    workflow: w,
                    hash,
                });
            }
        }
        if unchanged {
            plan.unchanged += 1;
            continue;
        }
        if old.is_some() {
            plan.updated += 1;
        } else {
            plan.created += 1;
        }
        plan.writes.push(SeenWorkflow {
            n8n_workflow_id: w.id(),
            status,
            env_content_hash: hash_hex,
            parse_error,
            n8n_updated_at: updated_at,
            n8n_version_id: w.version_id(),
            workflow_name: w.name(),
            active: w.active(),
            workflow_data: w.raw(),
        });
    }
    plan
}
