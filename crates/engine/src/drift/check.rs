//! One drift check of one environment (docs/drift.md#drift-checks): read what runs in n8n and
//! what the Git folder holds, at the same moment, compare them by canonical identity, and
//! record the outcome (history row, environment status and reason, incident) in one
//! transaction. The status is written on every run, a failed fetch included.

use std::collections::HashMap;
use std::time::Instant;

use chrono::Utc;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;
use wfops_canonical::MappingStatus;
use wfops_db::drift::{self as db, EnvironmentDriftWrite, NewCheck};
use wfops_db::{canonical as canonical_db, git_state, Conn, ScopedFutureExt};
use wfops_diff::ContentHasher;
use wfops_drift::{
    compare, AffectedWorkflow, Comparison, DriftCheckOutcome, EnvironmentDriftStatus, GitWorkflow,
    RuntimeIdentity, RuntimeWorkflow, Unreadable,
};
use wfops_n8n::{list_all_workflows, ListWorkflows, RemoteWorkflow};

use super::incidents::{self, IncidentDecision};
use crate::context::{load_environment, EngineCtx, LoadedEnvironment, Progress};
use crate::error::{EngineError, Result};
use crate::git_files::{parse_files, ParsedFile};
use crate::git_targets::GitTarget;
use crate::references::{load_resolver, Resolver};

/// At most this many affected and unreadable workflows are listed in a report and in the
/// environment's summary; the counts are exact. An incident keeps the full list.
pub const MAX_LISTED: usize = 200;

/// What started a check; stored as the history row's `check_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckTrigger {
    /// The drift scheduler.
    Scheduled,
    /// `POST /incidents/check-drift`.
    Manual,
    /// A push to the repository announced by its webhook.
    Webhook,
    /// The check that follows a reconciliation.
    Reconciliation,
}

impl CheckTrigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Scheduled => "scheduled",
            Self::Manual => "manual",
            Self::Webhook => "webhook",
            Self::Reconciliation => "reconciliation",
        }
    }
}

/// What one check found and did; the job's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DriftCheckReport {
    pub environment_id: Uuid,
    pub check_id: Uuid,
    pub check_type: CheckTrigger,
    /// The environment's drift status after the check.
    pub status: EnvironmentDriftStatus,
    /// What the check alone says, before an open incident outranks it.
    pub check_status: EnvironmentDriftStatus,
    /// Why the status is what it is (the fetch error, "Git is not configured", the partial
    /// failures); `None` when the check saw everything.
    pub reason: Option<String>,
    pub partial: bool,
    pub runtime_workflows: u64,
    pub git_workflows: u64,
    pub tracked: u64,
    pub in_sync: u64,
    pub with_drift: u64,
    pub not_in_git: u64,
    pub missing_in_runtime: u64,
    pub untracked: u64,
    pub ignored: u64,
    pub affected_count: u64,
    /// The first [`MAX_LISTED`] affected workflows.
    pub affected: Vec<AffectedWorkflow>,
    pub unreadable_count: u64,
    pub unreadable: Vec<Unreadable>,
    /// The Git commit compared, when Git was read.
    pub git_commit: Option<String>,
    /// What happened to the environment's incident.
    pub incident: IncidentDecision,
    pub incident_id: Option<Uuid>,
    pub duration_ms: u64,
}

/// What the check saw before it is recorded.
struct Observed {
    outcome: DriftCheckOutcome,
    comparison: Comparison,
    reason: Option<String>,
    git_commit: Option<String>,
}

/// Runs one check of `environment_id` and records it. A failed fetch is not an error of the
/// check: it is recorded as `ERROR` with its reason and returned in the report. Errors are the
/// environment being gone or the database failing.
pub async fn run(
    ctx: &EngineCtx,
    tenant_id: Uuid,
    environment_id: Uuid,
    trigger: CheckTrigger,
    progress: &dyn Progress,
) -> Result<DriftCheckReport> {
    let started = Instant::now();
    let env = load_environment(ctx, tenant_id, environment_id).await;
    let observed = match &env {
        Ok(env) => observe(ctx, tenant_id, env, progress).await?,
        Err(EngineError::EnvironmentNotFound(id)) => {
            return Err(EngineError::EnvironmentNotFound(*id))
        }
        // a stored secret that does not decrypt: the check could not read anything
        Err(e) => failed(format!("the environment can not be used: {e}")),
    };
    let env_name = match &env {
        Ok(e) => e.row.name.clone(),
        Err(_) => environment_id.to_string(),
    };
    let is_production = matches!(
        &env,
        Ok(e) if e.row.environment_class == wfops_promotion::EnvironmentClass::Production
    );
    progress.report(2, 3, "recording the check").await?;
    let duration_ms = started.elapsed().as_millis() as u64;
    let report = {
        let observed = &observed;
        let env_name = env_name.as_str();
        ctx.db
            .tenant_tx(tenant_id, move |conn| {
                async move {
                    record(
                        conn,
                        tenant_id,
                        environment_id,
                        env_name,
                        is_production,
                        trigger,
                        observed,
                        duration_ms,
                    )
                    .await
                }
                .scope_boxed()
            })
            .await?
    };
    tracing::info!(%tenant_id, %environment_id, status = %report.status,
        with_drift = report.with_drift, not_in_git = report.not_in_git,
        incident = ?report.incident, duration_ms, "drift check recorded");
    progress
        .report(3, 3, &format!("drift check: {}", report.status))
        .await?;
    Ok(report)
}

fn failed(reason: String) -> Observed {
    Observed {
        outcome: DriftCheckOutcome::FetchFailed {
            message: reason.clone(),
        },
        comparison: Comparison::default(),
        reason: Some(reason),
        git_commit: None,
    }
}

/// Both sides as a check read them, and their comparison.
pub(crate) struct Sides {
    pub runtime: Vec<RemoteWorkflow>,
    pub files: Vec<ParsedFile>,
    pub commit: String,
    pub comparison: Comparison,
}

/// What reading the two sides gave.
pub(crate) enum Read {
    /// Git is not configured; the reason says what is missing.
    NotConfigured(String),
    /// n8n or Git could not be read; the reason says which.
    Failed(String),
    Both(Box<Sides>),
}

/// Reads both sides and compares them. Only a database failure is an error here; every
/// problem with n8n or Git becomes the `ERROR` (or `UNKNOWN`) outcome with its reason.
async fn observe(
    ctx: &EngineCtx,
    tenant_id: Uuid,
    env: &LoadedEnvironment,
    progress: &dyn Progress,
) -> Result<Observed> {
    let sides = match read_sides(ctx, tenant_id, env, progress).await? {
        Read::NotConfigured(reason) => {
            return Ok(Observed {
                outcome: DriftCheckOutcome::GitNotConfigured,
                comparison: Comparison::default(),
                reason: Some(reason),
                git_commit: None,
            })
        }
        Read::Failed(reason) => return Ok(failed(reason)),
        Read::Both(sides) => sides,
    };
    let Sides {
        comparison, commit, ..
    } = *sides;
    let outcome = DriftCheckOutcome::Checked {
        linked_workflows: comparison.tracked,
        with_drift: comparison.with_drift,
        not_in_git: comparison.not_in_git,
    };
    let reason = comparison.is_partial().then(|| {
        let runtime = comparison
            .unreadable
            .iter()
            .filter(|u| u.side == "runtime")
            .count();
        let git = comparison.unreadable.len() - runtime;
        format!(
            "partial: {runtime} n8n workflow(s) and {git} Git file(s) could not be read and \
             were left out of the comparison"
        )
    });
    Ok(Observed {
        outcome,
        comparison,
        reason,
        git_commit: Some(commit),
    })
}

/// Reads n8n and the Git folder at once and compares them by canonical identity.
pub(crate) async fn read_sides(
    ctx: &EngineCtx,
    tenant_id: Uuid,
    env: &LoadedEnvironment,
    progress: &dyn Progress,
) -> Result<Read> {
    let target = match GitTarget::for_environment(ctx, tenant_id, env) {
        Ok(t) => t,
        Err(EngineError::GitNotConfigured { missing, .. }) => {
            return Ok(Read::NotConfigured(format!(
                "Git is not configured: no {missing} is set"
            )))
        }
        Err(e) => return Ok(Read::Failed(format!("git: {e}"))),
    };
    // both sides' sub-workflow references name this environment's workflow ids
    let resolver = std::sync::Arc::new(load_resolver(ctx, tenant_id, env.row.id).await?);
    progress.report(0, 3, "reading n8n and Git").await?;

    // both sides at once: the check is as slow as the slower one, not the sum
    let runtime = async {
        let provider = env.provider(&ctx.n8n)?;
        let query = ListWorkflows {
            limit: Some(ctx.n8n.page_size),
            exclude_pinned_data: true,
            ..Default::default()
        };
        list_all_workflows(provider.as_ref(), query)
            .await
            .map_err(|e| EngineError::provider(&env.row.name, e))
    };
    let folder = target.folder.clone();
    let (git_resolver, environment_id) = (resolver.clone(), env.row.id);
    let git = target.with_mirror(move |mirror| {
        let head = mirror.fetch_branch()?;
        let files = mirror.read_tree(&head, &folder)?;
        Ok((
            head.as_str().to_owned(),
            parse_files(files, &git_resolver.for_env(environment_id)),
        ))
    });
    let (runtime, git) = tokio::join!(runtime, git);
    let (runtime, git) = match (runtime, git) {
        (Ok(r), Ok(g)) => (r, g),
        (r, g) => {
            let mut why = Vec::new();
            if let Err(e) = &r {
                why.push(format!("n8n could not be read: {e}"));
            }
            if let Err(e) = &g {
                why.push(format!("Git could not be read: {e}"));
            }
            if r.is_ok() != g.is_ok() {
                why.push(format!(
                    "the other side ({}) was read; nothing was compared",
                    if r.is_ok() { "n8n" } else { "Git" }
                ));
            }
            return Ok(Read::Failed(why.join("; ")));
        }
    };
    let (commit, files) = git;
    progress
        .report(
            1,
            3,
            &format!(
                "comparing {} workflows with {} files",
                runtime.len(),
                files.len()
            ),
        )
        .await?;

    let env_id = env.row.id;
    let stems: Vec<String> = files.iter().map(|f| f.stem.clone()).collect();
    let (mappings, states, by_slug) = ctx
        .db
        .tenant_tx(tenant_id, move |conn| {
            async move {
                let mappings = db::check_mappings(conn, env_id).await?;
                let states = git_state::summaries_for_environment(conn, env_id).await?;
                let slugs = canonical_db::find_by_slugs(conn, &stems).await?;
                Ok::<_, wfops_db::Error>((mappings, states, slugs))
            }
            .scope_boxed()
        })
        .await?;

    let identity: HashMap<String, RuntimeIdentity> = mappings
        .into_iter()
        .map(|m| {
            let id = match (m.status, m.canonical_id) {
                (MappingStatus::Ignored, _) => RuntimeIdentity::Ignored,
                (MappingStatus::Linked, Some(c)) => RuntimeIdentity::Linked(c),
                _ => RuntimeIdentity::Untracked,
            };
            (m.n8n_workflow_id, id)
        })
        .collect();
    let by_path: HashMap<String, Uuid> = states
        .into_iter()
        .map(|s| (s.git_path, s.canonical_id))
        .collect();
    let by_slug: HashMap<String, Uuid> = by_slug
        .into_iter()
        .filter(|c| c.deleted_at.is_none())
        .map(|c| (c.canonical_slug, c.id))
        .collect();

    let sides = tokio::task::spawn_blocking(move || {
        let items = runtime_items(&runtime, &identity, &resolver, environment_id);
        let git = git_items(&files, &by_path, &by_slug);
        let comparison = compare(&items, &git);
        Sides {
            runtime,
            files,
            commit,
            comparison,
        }
    })
    .await
    .map_err(|e| EngineError::Internal(format!("the comparison task failed: {e}")))?;
    Ok(Read::Both(Box::new(sides)))
}

/// The runtime's workflows, hashed on all cores.
fn runtime_items(
    workflows: &[RemoteWorkflow],
    identity: &HashMap<String, RuntimeIdentity>,
    resolver: &Resolver,
    environment_id: Uuid,
) -> Vec<RuntimeWorkflow> {
    let resolve = resolver.for_env(environment_id);
    workflows
        .par_iter()
        .map_init(ContentHasher::new, |h, w| RuntimeWorkflow {
            n8n_id: w.id().to_owned(),
            name: w.name().unwrap_or_default().to_owned(),
            identity: identity
                .get(w.id())
                .copied()
                .unwrap_or(RuntimeIdentity::Untracked),
            hash: h
                .hash_value_resolving(w.raw(), &resolve)
                .map(|h| h.to_hex())
                .map_err(|e| e.to_string()),
        })
        .collect()
}

/// The folder's files with the canonical workflow each belongs to: by the path this
/// environment's Git state records, else by slug (the file name), as repository sync decides.
fn git_items(
    files: &[ParsedFile],
    by_path: &HashMap<String, Uuid>,
    by_slug: &HashMap<String, Uuid>,
) -> Vec<GitWorkflow> {
    files
        .iter()
        .map(|f| {
            let canonical_id = by_path
                .get(&f.path)
                .or_else(|| by_slug.get(&f.stem))
                .copied();
            let (name, hash) = match &f.parsed {
                Ok(w) => (w.name.clone(), Ok(w.hash.clone())),
                Err(e) => (f.stem.clone(), Err(e.clone())),
            };
            GitWorkflow {
                path: f.path.clone(),
                name,
                canonical_id,
                hash,
            }
        })
        .collect()
}

/// Records a check in the caller's transaction: the incident decision, the history row and
/// the environment's columns.
#[allow(clippy::too_many_arguments)]
async fn record(
    conn: &mut Conn,
    tenant_id: Uuid,
    environment_id: Uuid,
    env_name: &str,
    is_production: bool,
    trigger: CheckTrigger,
    observed: &Observed,
    duration_ms: u64,
) -> Result<DriftCheckReport> {
    let now = Utc::now();
    let c = &observed.comparison;
    let check_status = observed.outcome.environment_status(None);
    let decided = incidents::decide_after_check(
        conn,
        tenant_id,
        environment_id,
        env_name,
        is_production,
        &observed.outcome,
        c,
        now,
    )
    .await?;
    let status = observed.outcome.environment_status(decided.open_status);
    let affected_count = observed.outcome.affected_count();
    let counts = json!({
        "runtime_workflows": c.runtime_workflows,
        "git_workflows": c.git_workflows,
        "tracked": c.tracked,
        "in_sync": c.in_sync,
        "with_drift": c.with_drift,
        "not_in_git": c.not_in_git,
        "missing_in_runtime": c.missing_in_runtime,
        "untracked": c.untracked,
        "ignored": c.ignored,
        "unreadable": c.unreadable.len(),
    });
    let listed_affected: Vec<AffectedWorkflow> =
        c.affected.iter().take(MAX_LISTED).cloned().collect();
    let listed_unreadable: Vec<Unreadable> =
        c.unreadable.iter().take(MAX_LISTED).cloned().collect();
    let details = json!({
        "counts": counts,
        "affected": listed_affected,
        "unreadable": listed_unreadable,
        "git_commit": observed.git_commit,
        "incident": decided.decision,
    });
    let check = db::insert_check(
        conn,
        &NewCheck {
            tenant_id,
            environment_id,
            check_type: trigger.as_str(),
            status: status.as_str(),
            drift_found: observed.outcome.has_drift(),
            workflows_checked: clamp(c.runtime_workflows),
            workflows_with_drift: clamp(c.with_drift),
            workflows_not_in_git: clamp(c.not_in_git),
            workflows_missing_in_runtime: clamp(c.missing_in_runtime),
            workflows_untracked: clamp(c.untracked),
            partial: c.is_partial(),
            check_duration_ms: i64::try_from(duration_ms).unwrap_or(i64::MAX),
            error_message: match &observed.outcome {
                DriftCheckOutcome::FetchFailed { message } => Some(message.as_str()),
                _ => None,
            },
            incident_id: decided.incident_id,
            details: Some(details),
            checked_at: now,
        },
    )
    .await?;
    let summary = json!({
        "check_id": check.id,
        "check_type": trigger.as_str(),
        "check_status": check_status.as_str(),
        "counts": counts,
        "affected_count": affected_count,
        "partial": c.is_partial(),
        "git_commit": observed.git_commit,
        "duration_ms": duration_ms,
    });
    db::write_environment_status(
        conn,
        environment_id,
        &EnvironmentDriftWrite {
            status,
            reason: observed.reason.clone(),
            summary,
            checked_at: now,
            drift_detected_at: observed.outcome.has_drift().then_some(now),
            active_incident_id: decided.open_incident_id,
        },
    )
    .await
    .map_err(|e| match e {
        wfops_db::Error::NotFound => EngineError::EnvironmentNotFound(environment_id),
        e => EngineError::Db(e),
    })?;
    Ok(DriftCheckReport {
        environment_id,
        check_id: check.id,
        check_type: trigger,
        status,
        check_status,
        reason: observed.reason.clone(),
        partial: c.is_partial(),
        runtime_workflows: c.runtime_workflows,
        git_workflows: c.git_workflows,
        tracked: c.tracked,
        in_sync: c.in_sync,
        with_drift: c.with_drift,
        not_in_git: c.not_in_git,
        missing_in_runtime: c.missing_in_runtime,
        untracked: c.untracked,
        ignored: c.ignored,
        affected_count,
        affected: listed_affected,
        unreadable_count: c.unreadable.len() as u64,
        unreadable: listed_unreadable,
        git_commit: observed.git_commit.clone(),
        incident: decided.decision,
        incident_id: decided.incident_id,
        duration_ms,
    })
}

fn clamp(n: u64) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}
