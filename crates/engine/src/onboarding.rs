//! Onboarding an environment into Git (docs/sync-and-identity.md#onboarding): preflight, inventory,
//! completion.
//!
//! The inventory gives every untracked workflow of the environment a canonical identity and a
//! slug, commits its portable JSON to `workflows/<folder>/<slug>.json` in ONE commit, then links
//! the mappings, registers the hashes and writes the Git states with that commit. Linked
//! workflows that have no file in this environment's folder yet (auto-linked to a workflow
//! onboarded elsewhere) are committed in the same commit, so that completion can be reached.
//!
//! It runs in three steps so that a crash can not duplicate anything:
//! 1. one transaction reserves the identities (new canonical workflows, no mapping yet);
//! 2. the commit is pushed (git2, in a blocking thread);
//! 3. one transaction links, registers and writes the Git states.
//!
//! A run that stops after 2 leaves reserved canonical workflows whose file is in Git; the next
//! run finds them again by slug and hash, writes the same bytes to the same paths, which
//! `commit_and_push` recognizes as "nothing to commit", and finishes step 3. A push that fails
//! takes back the identities it reserved.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;
use wfops_canonical::MappingStatus::{Deleted, Ignored, Linked, Missing, Untracked};
use wfops_canonical::{unique_slug, CanonicalId};
use wfops_db::canonical::{self as canonical_db, CanonicalContent, NewCanonicalWorkflow};
use wfops_db::git_state::{self as git_db, GitStateWrite, MappingGitRow};
use wfops_db::workflows::{self, StatusCounts};
use wfops_db::{Conn, ScopedFutureExt};
use wfops_diff::ContentHasher;
use wfops_git::{Author, CommitSha, FileChange};

use crate::context::{load_environment, EngineCtx, Progress};
use crate::error::{EngineError, Result};
use crate::git_files::{parse_files, parse_workflow, Workflow};
use crate::git_targets::GitTarget;
use crate::linking::register_hashes;
use crate::reconcile::{self, ReconcileReport};
use crate::references::load_resolver;

/// How long each preflight check may take. A host that does not answer must not hold the
/// request that asked for the preflight.
pub const PREFLIGHT_CHECK_TIMEOUT: Duration = Duration::from_secs(10);

/// Who commits onboarded workflows.
pub const COMMIT_AUTHOR_NAME: &str = "WorkflowOps";
pub const COMMIT_AUTHOR_EMAIL: &str = "workflowops@localhost";

// ---------------------------------------------------------------------------------------------
// Preflight
// ---------------------------------------------------------------------------------------------

/// Whether an environment can be onboarded, and what there is to onboard.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Preflight {
    pub environment_id: Uuid,
    pub environment_name: String,
    /// Every check that onboarding needs passed.
    pub ready: bool,
    pub n8n: Check,
    pub git_configured: Check,
    pub git_remote: Check,
    pub branch: BranchState,
    pub counts: StatusCounts,
    pub duration_ms: u64,
}

/// One check: passed or not, and what was found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub ok: bool,
    pub message: String,
}

impl Check {
    fn pass(message: impl Into<String>) -> Self {
        Self {
            ok: true,
            message: message.into(),
        }
    }

    fn fail(message: impl Into<String>) -> Self {
        Self {
            ok: false,
            message: message.into(),
        }
    }
}

/// The configured branch as the remote has it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BranchState {
    pub name: String,
    /// `exists`, `missing` (the inventory creates it), or `unknown` (the remote was not read).
    pub state: &'static str,
    pub head: Option<String>,
    /// `*.json` files already in the environment's folder at the head.
    pub files_in_folder: Option<usize>,
}

/// Checks an environment before onboarding, each check bounded by
/// [`PREFLIGHT_CHECK_TIMEOUT`]. An unknown environment is an error; everything else is a
/// failed check in the answer.
pub async fn preflight(
    ctx: &EngineCtx,
    tenant_id: Uuid,
    environment_id: Uuid,
) -> Result<Preflight> {
    preflight_within(ctx, tenant_id, environment_id, PREFLIGHT_CHECK_TIMEOUT).await
}

/// [`preflight`] with another bound per check.
pub async fn preflight_within(
    ctx: &EngineCtx,
    tenant_id: Uuid,
    environment_id: Uuid,
    limit: Duration,
) -> Result<Preflight> {
    let started = Instant::now();
    let env = load_environment(ctx, tenant_id, environment_id).await?;
    let counts = ctx
        .db
        .tenant_tx(tenant_id, move |conn| {
            async move { workflows::status_counts(conn, environment_id).await }.scope_boxed()
        })
        .await?;

    let n8n_check = async {
        let provider = match env.provider(&ctx.n8n) {
            Ok(p) => p,
            Err(e) => return Check::fail(e.to_string()),
        };
        match tokio::time::timeout(limit, provider.health()).await {
            Ok(Ok(_)) => Check::pass(format!("n8n at {} answers", env.row.url)),
            Ok(Err(e)) => Check::fail(EngineError::provider(&env.row.name, e).to_string()),
            Err(_) => Check::fail(format!(
                "n8n at {} did not answer within {} ms",
                env.row.url,
                limit.as_millis()
            )),
        }
    };
    let target = GitTarget::for_environment(ctx, tenant_id, &env);
    let git_check = async {
        let target = match &target {
            Ok(t) => t,
            Err(e) => {
                return (
                    Check::fail(e.to_string()),
                    Check::fail("not checked: Git is not configured"),
                    BranchState {
                        name: env.row.git_branch.clone(),
                        state: "unknown",
                        head: None,
                        files_in_folder: None,
                    },
                )
            }
        };
        let configured = Check::pass(format!(
            "{} branch {} folder {}",
            wfops_git::redact_url(&target.spec.url),
            target.spec.branch,
            target.folder_path()
        ));
        let folder = target.folder.clone();
        let probe = target.with_mirror(move |mirror| match mirror.fetch()? {
            None => Ok(None),
            Some(head) => {
                let files = mirror.read_tree(&head, &folder)?.len();
                Ok(Some((head, files)))
            }
        });
        let mut branch = BranchState {
            name: target.spec.branch.clone(),
            state: "unknown",
            head: None,
            files_in_folder: None,
        };
        let remote = match tokio::time::timeout(limit, probe).await {
            Ok(Ok(Some((head, files)))) => {
                branch.state = "exists";
                branch.head = Some(head.to_string());
                branch.files_in_folder = Some(files);
                Check::pass(format!("branch {} is at {head}", target.spec.branch))
            }
            Ok(Ok(None)) => {
                branch.state = "missing";
                Check::pass(format!(
                    "the repository answers; branch {} does not exist yet and will be created",
                    target.spec.branch
                ))
            }
            Ok(Err(e)) => Check::fail(e.to_string()),
            Err(_) => Check::fail(format!(
                "{} did not answer within {} ms",
                wfops_git::redact_url(&target.spec.url),
                limit.as_millis()
            )),
        };
        (configured, remote, branch)
    };
    let (n8n, (git_configured, git_remote, branch)) = tokio::join!(n8n_check, git_check);
    Ok(Preflight {
        environment_id,
        environment_name: env.row.name.clone(),
        ready: n8n.ok && git_configured.ok && git_remote.ok,
        n8n,
        git_configured,
        git_remote,
        branch,
        counts,
        duration_ms: started.elapsed().as_millis() as u64,
    })
}

// ---------------------------------------------------------------------------------------------
// Completion
// ---------------------------------------------------------------------------------------------

/// How far an environment's onboarding is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Completion {
    pub environment_id: Uuid,
    pub linked: i64,
    pub untracked: i64,
    pub ignored: i64,
    pub missing: i64,
    pub deleted: i64,
    /// Linked workflows whose canonical workflow has a committed file in this environment's
    /// folder.
    pub committed: i64,
    /// Linked workflows without one (the next inventory commits them).
    pub uncommitted: i64,
    /// Untracked workflows that can not be parsed: they can only be fixed in n8n or ignored.
    pub unparseable: i64,
    /// Every workflow that is neither ignored nor gone (missing, deleted) is linked and
    /// committed.
    pub complete: bool,
}

/// Counts an environment's mappings for onboarding.
pub async fn completion(
    ctx: &EngineCtx,
    tenant_id: Uuid,
    environment_id: Uuid,
) -> Result<Completion> {
    // fails with EnvironmentNotFound for an unknown (or another tenant's) environment
    load_environment(ctx, tenant_id, environment_id).await?;
    let (counts, rows) = ctx
        .db
        .tenant_tx(tenant_id, move |conn| {
            async move {
                let counts = workflows::status_counts(conn, environment_id).await?;
                let rows =
                    git_db::mappings_with_git_state(conn, environment_id, &[Linked, Untracked])
                        .await?;
                Ok::<_, wfops_db::Error>((counts, rows))
            }
            .scope_boxed()
        })
        .await?;
    let committed = rows
        .iter()
        .filter(|r| r.status == Linked && r.git_commit_sha.is_some())
        .count() as i64;
    let unparseable = rows
        .iter()
        .filter(|r| r.status == Untracked && r.parse_error.is_some())
        .count() as i64;
    let uncommitted = counts.linked - committed;
    Ok(Completion {
        environment_id,
        linked: counts.linked,
        untracked: counts.untracked,
        ignored: counts.ignored,
        missing: counts.missing,
        deleted: counts.deleted,
        committed,
        uncommitted,
        unparseable,
        complete: counts.untracked == 0 && uncommitted == 0,
    })
}

// ---------------------------------------------------------------------------------------------
// Inventory
// ---------------------------------------------------------------------------------------------

/// What an inventory run did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InventoryReport {
    pub environment_id: Uuid,
    pub folder: String,
    /// The branch head after the run (`None`: nothing to commit into a repository without the
    /// branch).
    pub commit_sha: Option<String>,
    /// A commit was pushed by this run.
    pub committed: bool,
    /// Files written by that commit.
    pub files_written: usize,
    /// Canonical workflows created.
    pub created: usize,
    /// Canonical workflows reused (left over by an interrupted run, or created by a repository
    /// sync from its files).
    pub reused: usize,
    /// Untracked mappings linked.
    pub linked: usize,
    /// Git states written.
    pub git_states: usize,
    pub workflows: Vec<Onboarded>,
    pub skipped: Vec<Skipped>,
    pub collisions: Vec<wfops_canonical::HashCollision>,
    pub reconcile: Option<ReconcileReport>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Onboarded {
    pub n8n_workflow_id: String,
    pub canonical_id: Uuid,
    pub slug: String,
    pub git_path: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    pub n8n_workflow_id: String,
    pub name: Option<String>,
    pub reason: String,
}

/// One workflow to commit.
struct Item {
    mapping: MappingGitRow,
    workflow: Workflow,
    portable: Vec<u8>,
    /// Set once the identity is known.
    canonical_id: Option<Uuid>,
    slug: String,
    path: String,
    /// A canonical workflow was created for it in this run.
    created: bool,
    /// A mapping that was untracked (to link), rather than linked without a file.
    untracked: bool,
}

/// Commits every untracked workflow of the environment (and every linked one without a file in
/// its folder) to Git in one commit, then links and records them. Running it again does
/// nothing: no canonical workflow, no commit.
pub async fn inventory(
    ctx: &EngineCtx,
    tenant_id: Uuid,
    environment_id: Uuid,
    progress: &dyn Progress,
) -> Result<InventoryReport> {
    let env = load_environment(ctx, tenant_id, environment_id).await?;
    let target = GitTarget::for_environment(ctx, tenant_id, &env)?;
    let mut report = InventoryReport {
        environment_id,
        folder: target.folder.clone(),
        commit_sha: None,
        committed: false,
        files_written: 0,
        created: 0,
        reused: 0,
        linked: 0,
        git_states: 0,
        workflows: Vec::new(),
        skipped: Vec::new(),
        collisions: Vec::new(),
        reconcile: None,
    };

    progress
        .report(0, 0, "reading the environment's workflows")
        .await?;
    let mut items = load_items(ctx, tenant_id, environment_id, &target, &mut report).await?;
    let total = items.len() as i64;

    progress
        .report(0, total, "reading the environment's folder in Git")
        .await?;
    let folder = target.folder.clone();
    // the folder's files carry this environment's workflow ids
    let resolver = load_resolver(ctx, tenant_id, environment_id).await?;
    let (head, existing) = target
        .with_mirror(move |mirror| {
            let Some(head) = mirror.fetch()? else {
                return Ok((None, Vec::new()));
            };
            let files = mirror.read_tree(&head, &folder)?;
            Ok((
                Some(head),
                parse_files(files, &resolver.for_env(environment_id)),
            ))
        })
        .await?;
    report.commit_sha = head.as_ref().map(ToString::to_string);
    if items.is_empty() {
        progress.report(0, 0, "nothing to onboard").await?;
        report.reconcile = Some(reconcile::run(ctx, tenant_id).await?);
        return Ok(report);
    }

    // 1. reserve identities
    progress
        .report(
            0,
            total,
            &format!("choosing identities for {total} workflows"),
        )
        .await?;
    let folder_files: Vec<FolderFile> = existing
        .iter()
        .map(|f| FolderFile {
            path: f.path.clone(),
            stem: f.stem.clone(),
            hash: f.parsed.as_ref().ok().map(|w| w.hash.clone()),
        })
        .collect();
    let folder_path = target.folder_path();
    items = {
        let folder_files = &folder_files;
        let folder_path = folder_path.as_str();
        let mut items = items;
        let outcome = ctx
            .db
            .tenant_tx(tenant_id, move |conn| {
                async move {
                    reserve(
                        conn,
                        tenant_id,
                        environment_id,
                        folder_path,
                        folder_files,
                        &mut items,
                    )
                    .await
                    .map(|skipped| (items, skipped))
                }
                .scope_boxed()
            })
            .await?;
        report.skipped.extend(outcome.1);
        outcome.0
    };
    let created_ids: Vec<Uuid> = items
        .iter()
        .filter(|i| i.created)
        .filter_map(|i| i.canonical_id)
        .collect();

    // 2. one commit
    let on_disk: HashMap<&str, Option<&str>> = folder_files
        .iter()
        .map(|f| (f.path.as_str(), f.hash.as_deref()))
        .collect();
    let changes: Vec<FileChange> = items
        .iter()
        .filter(|i| {
            on_disk.get(i.path.as_str()).copied().flatten() != Some(i.workflow.hash.as_str())
        })
        .map(|i| FileChange::write(i.path.clone(), i.portable.clone()))
        .collect();
    report.files_written = changes.len();
    progress
        .report(
            0,
            total,
            &format!("committing {} files to {}", changes.len(), folder_path),
        )
        .await?;
    let message = commit_message(&env.row.name, items.len());
    let written_paths: Vec<String> = items.iter().map(|i| i.path.clone()).collect();
    let folder = target.folder.clone();
    let pushed = target
        .with_mirror(move |mirror| {
            let (commit, changed) = if changes.is_empty() {
                match head {
                    Some(head) => (head, false),
                    None => no_head(mirror)?,
                }
            } else {
                let author = Author::new(COMMIT_AUTHOR_NAME, COMMIT_AUTHOR_EMAIL);
                let outcome = mirror.commit_and_push(&changes, &message, &author)?;
                (outcome.commit, outcome.changed)
            };
            let time = mirror.commit_time(&commit)?;
            let blobs: HashMap<String, String> = mirror
                .read_tree(&commit, &folder)?
                .into_iter()
                .filter(|f| written_paths.contains(&f.path))
                .map(|f| (f.path, f.blob_sha))
                .collect();
            Ok((commit, time, changed, blobs))
        })
        .await;
    let (commit, commit_time, changed, blobs) = match pushed {
        Ok(p) => p,
        Err(e) => {
            release(ctx, tenant_id, &created_ids).await;
            return Err(e);
        }
    };
    report.commit_sha = Some(commit.to_string());
    report.committed = changed;

    // 3. link, register, record
    progress
        .report(
            total,
            total,
            "linking the workflows and recording their Git state",
        )
        .await?;
    let recorded = {
        let items = &items;
        let blobs = &blobs;
        let commit = &commit;
        ctx.db
            .tenant_tx(tenant_id, move |conn| {
                async move {
                    record(
                        conn,
                        tenant_id,
                        environment_id,
                        items,
                        commit,
                        commit_time,
                        blobs,
                    )
                    .await
                }
                .scope_boxed()
            })
            .await?
    };
    report.linked = recorded.linked;
    report.git_states = recorded.git_states;
    report.collisions = recorded.collisions;
    report.created = items.iter().filter(|i| i.created).count();
    report.reused = items.iter().filter(|i| !i.created && i.untracked).count();
    report.workflows = items
        .iter()
        .filter_map(|i| {
            Some(Onboarded {
                n8n_workflow_id: i.mapping.n8n_workflow_id.clone(),
                canonical_id: i.canonical_id?,
                slug: i.slug.clone(),
                git_path: i.path.clone(),
            })
        })
        .collect();
    report.reconcile = Some(reconcile::run(ctx, tenant_id).await?);
    progress
        .report(
            total,
            total,
            &format!(
                "onboarded {} workflows ({} created, {} reused) in commit {}",
                report.workflows.len(),
                report.created,
                report.reused,
                commit
            ),
        )
        .await?;
    Ok(report)
}

/// Without changes there is nothing to push; a repository with no branch then has no head.
fn no_head(
    mirror: &wfops_git::Mirror,
) -> std::result::Result<(CommitSha, bool), wfops_git::GitError> {
    Err(wfops_git::GitError::BranchNotFound {
        url: mirror.url().to_owned(),
        branch: mirror.branch().to_owned(),
    })
}

fn commit_message(environment: &str, n: usize) -> String {
    let noun = if n == 1 { "workflow" } else { "workflows" };
    format!("Onboard {n} {noun} from environment {environment}")
}

/// The untracked workflows (and linked ones without a file) as items to commit; the ones that
/// can not be committed go to `report.skipped`.
async fn load_items(
    ctx: &EngineCtx,
    tenant_id: Uuid,
    environment_id: Uuid,
    target: &GitTarget,
    report: &mut InventoryReport,
) -> Result<Vec<Item>> {
    let (rows, docs) = ctx
        .db
        .tenant_tx(tenant_id, move |conn| {
            async move {
                let rows =
                    git_db::mappings_with_git_state(conn, environment_id, &[Untracked, Linked])
                        .await?;
                let wanted: Vec<Uuid> = rows
                    .iter()
                    .filter(|r| wanted(r))
                    .map(|r| r.mapping_id)
                    .collect();
                let docs = git_db::mapping_documents(conn, &wanted).await?;
                Ok::<_, wfops_db::Error>((rows, docs))
            }
            .scope_boxed()
        })
        .await?;
    let mut docs: HashMap<Uuid, Option<Value>> = docs.into_iter().collect();
    // the portable file keeps the environment's ids; its hash resolves them like the sync's
    let resolver = load_resolver(ctx, tenant_id, environment_id).await?;
    let resolve = resolver.for_env(environment_id);
    let mut hasher = ContentHasher::new();
    let mut items = Vec::new();
    for row in rows {
        if !wanted(&row) {
            continue;
        }
        let skip = |reason: String| Skipped {
            n8n_workflow_id: row.n8n_workflow_id.clone(),
            name: row.workflow_name.clone(),
            reason,
        };
        if let Some(e) = &row.parse_error {
            report
                .skipped
                .push(skip(format!("the workflow can not be parsed: {e}")));
            continue;
        }
        let Some(Some(doc)) = docs.remove(&row.mapping_id) else {
            report
                .skipped
                .push(skip("the environment sync stored no document".into()));
            continue;
        };
        let portable = match hasher.portable_value(&doc) {
            Ok(bytes) => bytes.to_vec(),
            Err(e) => {
                report.skipped.push(skip(format!("no portable form: {e}")));
                continue;
            }
        };
        let fallback = row.n8n_workflow_id.clone();
        let workflow = match parse_workflow(&mut hasher, &portable, &fallback, &resolve) {
            Ok(w) => w,
            Err(e) => {
                report.skipped.push(skip(format!("no portable form: {e}")));
                continue;
            }
        };
        if row.env_content_hash.as_deref() != Some(workflow.hash.as_str()) {
            report.skipped.push(skip(format!(
                "the portable form hashes to {} instead of the environment's {}",
                workflow.hash,
                row.env_content_hash.as_deref().unwrap_or("(none)")
            )));
            continue;
        }
        let untracked = row.status == Untracked;
        let (canonical_id, slug) = if untracked {
            (None, String::new())
        } else {
            (
                row.canonical_id,
                row.canonical_slug.clone().unwrap_or_default(),
            )
        };
        let path = if slug.is_empty() {
            String::new()
        } else {
            format!("{}/{slug}.json", target.folder_path())
        };
        items.push(Item {
            mapping: row,
            workflow,
            portable,
            canonical_id,
            slug,
            path,
            created: false,
            untracked,
        });
    }
    Ok(items)
}

/// An untracked workflow with no identity yet, or a linked one without a file in the folder.
fn wanted(row: &MappingGitRow) -> bool {
    match row.status {
        Untracked => row.canonical_id.is_none(),
        Linked => row.git_path.is_none() && row.canonical_slug.is_some(),
        Missing | Ignored | Deleted => false,
    }
}

struct FolderFile {
    path: String,
    stem: String,
    /// `None`: the file is not a valid workflow.
    hash: Option<String>,
}

/// Step 1: gives every untracked item a canonical workflow (reused, or created now with a free
/// slug) and a path; drops items whose path another workflow of the folder owns. Returns the
/// items it dropped.
async fn reserve(
    conn: &mut Conn,
    tenant_id: Uuid,
    environment_id: Uuid,
    folder_path: &str,
    folder_files: &[FolderFile],
    items: &mut Vec<Item>,
) -> Result<Vec<Skipped>> {
    let mut skipped = Vec::new();
    let hashes: Vec<String> = items
        .iter()
        .filter(|i| i.untracked)
        .map(|i| i.workflow.hash.clone())
        .collect();
    let reusable = canonical_db::reusable_for_environment(conn, environment_id, &hashes).await?;
    let mut chosen: HashSet<Uuid> = items.iter().filter_map(|i| i.canonical_id).collect();
    let mut taken: HashSet<String> = canonical_db::all_slugs(conn)
        .await?
        .into_iter()
        .map(|s| s.to_ascii_lowercase())
        .collect();
    let canonical_slugs = taken.clone();
    taken.extend(folder_files.iter().map(|f| f.stem.to_ascii_lowercase()));
    // paths of this folder's Git states, even if their file is gone since the last sync
    let owners: HashMap<String, Uuid> = git_db::summaries_for_environment(conn, environment_id)
        .await?
        .into_iter()
        .map(|s| (s.git_path, s.canonical_id))
        .collect();
    taken.extend(owners.keys().filter_map(|p| {
        p.rsplit('/')
            .next()
            .and_then(|name| name.strip_suffix(".json"))
            .map(str::to_ascii_lowercase)
    }));

    let mut new_rows: Vec<(usize, Uuid)> = Vec::new();
    for (idx, item) in items.iter_mut().enumerate() {
        if !item.untracked {
            continue;
        }
        let name = item.workflow.name.clone();
        let hash = item.workflow.hash.as_str();
        // a canonical workflow of this name's slug family holding this content
        let reuse = reusable.iter().find(|c| {
            !chosen.contains(&c.id)
                && (c.content_hash.as_deref() == Some(hash)
                    || c.git_content_hash.as_deref() == Some(hash))
                && in_slug_family(&name, &c.canonical_slug)
        });
        if let Some(c) = reuse {
            chosen.insert(c.id);
            item.canonical_id = Some(c.id);
            item.slug = c.canonical_slug.clone();
            item.path = c
                .git_path
                .clone()
                .unwrap_or_else(|| format!("{folder_path}/{}.json", c.canonical_slug));
            continue;
        }
        // a file of this content already in the folder under a slug of the family that no
        // canonical workflow holds (committed by hand, never synced): adopt its name
        let adopt = folder_files.iter().find(|f| {
            f.hash.as_deref() == Some(hash)
                && !canonical_slugs.contains(&f.stem.to_ascii_lowercase())
                && in_slug_family(&name, &f.stem)
        });
        let slug = match adopt {
            Some(f) => f.stem.clone(),
            None => unique_slug(&name, |s| taken.contains(s))?,
        };
        taken.insert(slug.clone());
        let id: Uuid = CanonicalId::new_random().into();
        item.canonical_id = Some(id);
        item.path = format!("{folder_path}/{slug}.json");
        item.slug = slug;
        item.created = true;
        new_rows.push((idx, id));
    }

    // insert; a slug taken meanwhile by a concurrent run gets the next free one
    let rows: Vec<NewCanonicalWorkflow<'_>> = new_rows
        .iter()
        .map(|&(idx, id)| new_row(tenant_id, id, &items[idx]))
        .collect();
    let inserted: HashSet<Uuid> = canonical_db::insert_many_if_slug_free(conn, &rows)
        .await?
        .into_iter()
        .collect();
    drop(rows);
    for (idx, id) in new_rows {
        if inserted.contains(&id) {
            continue;
        }
        let mut done = false;
        for _ in 0..5 {
            taken.insert(items[idx].slug.clone());
            let slug = unique_slug(&items[idx].workflow.name, |s| taken.contains(s))?;
            items[idx].path = format!("{folder_path}/{slug}.json");
            items[idx].slug = slug;
            if canonical_db::insert_if_slug_free(conn, &new_row(tenant_id, id, &items[idx]))
                .await?
                .is_some()
            {
                done = true;
                break;
            }
        }
        if !done {
            return Err(EngineError::Internal(format!(
                "no free slug for workflow {} after 5 attempts",
                items[idx].mapping.n8n_workflow_id
            )));
        }
    }

    // a path owned by another canonical workflow's file in this folder can not be written
    items.retain(|i| match (owners.get(&i.path), i.canonical_id) {
        (Some(owner), Some(id)) if *owner != id => {
            skipped.push(Skipped {
                n8n_workflow_id: i.mapping.n8n_workflow_id.clone(),
                name: i.mapping.workflow_name.clone(),
                reason: format!("{} belongs to another workflow of the folder", i.path),
            });
            false
        }
        _ => true,
    });
    Ok(skipped)
}

/// Whether `slug` is what [`unique_slug`] could give `name`: its base slug or a numbered
/// variant of it.
fn in_slug_family(name: &str, slug: &str) -> bool {
    unique_slug(name, |candidate| candidate != slug).is_ok_and(|s| s == slug)
}

fn new_row(tenant_id: Uuid, id: Uuid, item: &Item) -> NewCanonicalWorkflow<'_> {
    NewCanonicalWorkflow {
        id,
        tenant_id,
        canonical_slug: &item.slug,
        name: &item.workflow.name,
        content_hash: Some(&item.workflow.hash),
        workflow_definition: Some(&item.workflow.document),
        git_file_path: Some(&item.path),
    }
}

/// Takes back the identities reserved by a run whose push failed (those nothing refers to).
async fn release(ctx: &EngineCtx, tenant_id: Uuid, ids: &[Uuid]) {
    if ids.is_empty() {
        return;
    }
    let outcome = ctx
        .db
        .tenant_tx(tenant_id, |conn| {
            async move { canonical_db::delete_unused(conn, ids).await }.scope_boxed()
        })
        .await;
    if let Err(e) = outcome {
        // the next run reuses them by slug and hash; nothing is lost
        tracing::warn!(%tenant_id, error = %e, "could not release reserved canonical workflows");
    }
}

struct Recorded {
    linked: usize,
    git_states: usize,
    collisions: Vec<wfops_canonical::HashCollision>,
}

/// Step 3: links the untracked mappings, registers the hashes, writes the Git states with the
/// commit, and keeps each canonical workflow's content equal to its committed file.
async fn record(
    conn: &mut Conn,
    tenant_id: Uuid,
    environment_id: Uuid,
    items: &[Item],
    commit: &CommitSha,
    commit_time: chrono::DateTime<chrono::Utc>,
    blobs: &HashMap<String, String>,
) -> Result<Recorded> {
    let links: Vec<(Uuid, Uuid)> = items
        .iter()
        .filter(|i| i.untracked)
        .filter_map(|i| Some((i.mapping.mapping_id, i.canonical_id?)))
        .collect();
    let linked = workflows::link_untracked(conn, &links).await?;
    let linked_set: HashSet<Uuid> = linked.iter().copied().collect();
    // an untracked mapping that a person ignored or linked meanwhile keeps that decision; its
    // file stays in Git, but it gets no Git state through this run
    let recorded: Vec<&Item> = items
        .iter()
        .filter(|i| !i.untracked || linked_set.contains(&i.mapping.mapping_id))
        .collect();
    let registrations: Vec<(&Workflow, Uuid)> = recorded
        .iter()
        .filter_map(|i| Some((&i.workflow, i.canonical_id?)))
        .collect();
    let collisions = register_hashes(conn, tenant_id, &registrations).await?;
    let states: Vec<GitStateWrite> = recorded
        .iter()
        .filter_map(|i| {
            Some(GitStateWrite {
                canonical_id: i.canonical_id?,
                git_path: i.path.clone(),
                git_commit_sha: Some(commit.to_string()),
                git_commit_time: Some(commit_time),
                git_content_hash: Some(i.workflow.hash.clone()),
                git_blob_sha: blobs.get(&i.path).cloned(),
                git_workflow_data: Some(i.workflow.document.clone()),
                parse_error: None,
            })
        })
        .collect();
    let git_states =
        git_db::upsert(conn, tenant_id, environment_id, chrono::Utc::now(), &states).await?;
    let contents: Vec<(Uuid, CanonicalContent<'_>)> = recorded
        .iter()
        .filter(|i| !i.created)
        .filter_map(|i| {
            Some((
                i.canonical_id?,
                CanonicalContent {
                    name: &i.workflow.name,
                    content_hash: Some(&i.workflow.hash),
                    workflow_definition: Some(&i.workflow.document),
                    git_file_path: Some(&i.path),
                },
            ))
        })
        .collect();
    canonical_db::set_content_many(conn, &contents).await?;
    Ok(Recorded {
        linked: linked.len(),
        git_states,
        collisions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slug_family_is_the_base_slug_and_its_numbered_variants() {
        assert!(in_slug_family("Order Sync", "order-sync"));
        assert!(in_slug_family("Order Sync", "order-sync-2"));
        assert!(in_slug_family("Order Sync", "order-sync-17"));
        assert!(!in_slug_family("Order Sync", "order-sync-x"));
        assert!(!in_slug_family("Order Sync", "order"));
        assert!(!in_slug_family("Invoice", "order-sync"));
    }

    #[test]
    fn the_commit_message_names_the_count_and_the_environment() {
        assert_eq!(
            commit_message("dev", 1),
            "Onboard 1 workflow from environment dev"
        );
        assert_eq!(
            commit_message("prod", 3),
            "Onboard 3 workflows from environment prod"
        );
    }
}
