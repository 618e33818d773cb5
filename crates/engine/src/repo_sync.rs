//! Repository sync (docs/sync-and-identity.md#repository-sync): Git → database for one environment.
//!
//! Reads `workflows/<git_folder>/*.json` at the head of the environment's branch, and for each
//! file finds its canonical workflow (by its path in this environment's Git state, else by
//! slug = file stem, else a new canonical workflow), then writes the canonical workflow, the
//! Git state (document, hash, commit) and the hash registry in one transaction. Files gone from
//! the folder lose their Git state; a canonical workflow left with no Git state and no mapping
//! is soft-deleted. In the same transaction, untracked mappings of the environment whose hash
//! is now registered are auto-linked with the environment sync's decision
//! ([`linking::link_untracked`]); then the tenant is reconciled.
//!
//! A canonical workflow's own columns (name, content hash, definition, file path) hold the Git
//! version of the folder synced last; each folder's version is in its Git state, which is what
//! reconciliation compares.
//!
//! A file that is not a valid workflow is reported (and recorded on its Git state when it has
//! one) and the rest is synced: one broken commit must not hide every other change.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;
use wfops_canonical::{unique_slug, validate_slug, CanonicalId, HashCollision};
use wfops_db::canonical::{self as canonical_db, CanonicalContent, NewCanonicalWorkflow};
use wfops_db::git_state::{self as git_db, GitStateSummary, GitStateWrite};
use wfops_db::{Conn, ScopedFutureExt};
use wfops_git::CommitSha;

use crate::context::{load_environment, EngineCtx, Progress};
use crate::error::{EngineError, Result};
use crate::git_files::{parse_files, ParsedFile, Workflow};
use crate::git_targets::GitTarget;
use crate::linking::{self, register_hashes, LinkBlocked, LinkOutcome};
use crate::reconcile::{self, ReconcileReport};
use crate::references::load_resolver;

/// What a repository sync did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RepoSyncReport {
    pub environment_id: Uuid,
    /// The folder under `workflows/` that was read.
    pub folder: String,
    /// The head of the branch that was read.
    pub commit_sha: String,
    pub commit_time: DateTime<Utc>,
    /// `*.json` files in the folder.
    pub files: usize,
    /// Canonical workflows created for files seen for the first time.
    pub created: usize,
    /// Git states written because a file is new here, changed, or moved.
    pub updated: usize,
    /// Files whose bytes and path were already recorded.
    pub unchanged: usize,
    /// Files gone from the folder: their Git state was removed.
    pub deleted: Vec<DeletedFile>,
    /// Canonical workflows soft-deleted because nothing refers to them any more.
    pub soft_deleted: Vec<Uuid>,
    /// Untracked mappings of the environment auto-linked after the sync.
    pub linked: usize,
    /// Untracked mappings whose hash is registered but that were not linked, with the reason.
    pub link_blocked: Vec<LinkBlocked>,
    /// Files that are not valid workflows; the rest was synced.
    pub errors: Vec<FileError>,
    /// Hashes whose registration was refused because the registry holds different content.
    pub collisions: Vec<HashCollision>,
    pub reconcile: Option<ReconcileReport>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeletedFile {
    pub canonical_id: Uuid,
    pub git_path: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileError {
    pub path: String,
    pub error: String,
}

/// Runs a repository sync of one environment. Fails (with the Git adapter's message, which
/// carries no credentials) when the repository can not be reached, the token is refused or the
/// branch does not exist; a malformed file only shows up in the report.
pub async fn run(
    ctx: &EngineCtx,
    tenant_id: Uuid,
    environment_id: Uuid,
    progress: &dyn Progress,
) -> Result<RepoSyncReport> {
    let env = load_environment(ctx, tenant_id, environment_id).await?;
    let target = GitTarget::for_environment(ctx, tenant_id, &env)?;
    progress
        .report(
            0,
            0,
            &format!(
                "fetching branch {} of {}",
                target.spec.branch,
                wfops_git::redact_url(&target.spec.url)
            ),
        )
        .await?;
    let folder = target.folder.clone();
    // the folder's files carry this environment's workflow ids
    let resolver = load_resolver(ctx, tenant_id, environment_id).await?;
    let snapshot = target
        .with_mirror(move |mirror| {
            let head = mirror.fetch_branch()?;
            let time = mirror.commit_time(&head)?;
            let files = mirror.read_tree(&head, &folder)?;
            Ok((
                head,
                time,
                parse_files(files, &resolver.for_env(environment_id)),
            ))
        })
        .await?;
    let (head, commit_time, files) = snapshot;
    let total = files.len() as i64;
    progress
        .report(
            0,
            total,
            &format!("read {total} files at commit {}", short(&head)),
        )
        .await?;

    let applied = {
        let files = &files;
        let head = head.as_str().to_owned();
        ctx.db
            .tenant_tx(tenant_id, move |conn| {
                async move {
                    apply(conn, tenant_id, environment_id, &head, commit_time, files).await
                }
                .scope_boxed()
            })
            .await?
    };
    progress
        .report(total, total, "reconciling the tenant")
        .await?;
    let reconciled = reconcile::run(ctx, tenant_id).await?;

    let report = RepoSyncReport {
        environment_id,
        folder: target.folder,
        commit_sha: head.to_string(),
        commit_time,
        files: files.len(),
        created: applied.created,
        updated: applied.updated,
        unchanged: applied.unchanged,
        deleted: applied.deleted,
        soft_deleted: applied.soft_deleted,
        linked: applied.links.linked.len(),
        link_blocked: applied.links.blocked,
        errors: files
            .iter()
            .filter_map(|f| {
                f.parsed.as_ref().err().map(|e| FileError {
                    path: f.path.clone(),
                    error: e.clone(),
                })
            })
            .collect(),
        collisions: applied.collisions,
        reconcile: Some(reconciled),
    };
    progress
        .report(
            total,
            total,
            &format!(
                "repository synced: {} created, {} updated, {} unchanged, {} deleted, {} invalid",
                report.created,
                report.updated,
                report.unchanged,
                report.deleted.len(),
                report.errors.len()
            ),
        )
        .await?;
    Ok(report)
}

fn short(sha: &CommitSha) -> &str {
    &sha.as_str()[..12]
}

// ---------------------------------------------------------------------------------------------
// Applying one snapshot of the folder
// ---------------------------------------------------------------------------------------------

struct Applied {
    created: usize,
    updated: usize,
    unchanged: usize,
    deleted: Vec<DeletedFile>,
    soft_deleted: Vec<Uuid>,
    collisions: Vec<HashCollision>,
    links: LinkOutcome,
}

/// How many times a new canonical workflow's slug is re-chosen when concurrent syncs of other
/// environments keep taking it.
const SLUG_RACE_RETRIES: usize = 5;

async fn apply(
    conn: &mut Conn,
    tenant_id: Uuid,
    environment_id: Uuid,
    head: &str,
    commit_time: DateTime<Utc>,
    files: &[ParsedFile],
) -> Result<Applied> {
    let synced_at = Utc::now();
    let states = git_db::summaries_for_environment(conn, environment_id).await?;
    let by_path: HashMap<&str, &GitStateSummary> =
        states.iter().map(|s| (s.git_path.as_str(), s)).collect();
    let by_canonical: HashMap<Uuid, &GitStateSummary> =
        states.iter().map(|s| (s.canonical_id, s)).collect();

    // file index -> canonical id; a canonical workflow takes at most one file per folder
    let mut owner: Vec<Option<Uuid>> = vec![None; files.len()];
    let mut claimed: HashSet<Uuid> = HashSet::new();

    // 1. by path: the file this environment already knows
    for (i, f) in files.iter().enumerate() {
        if let Some(state) = by_path.get(f.path.as_str()) {
            owner[i] = Some(state.canonical_id);
            claimed.insert(state.canonical_id);
        }
    }

    // 2. by slug = file stem: the same workflow in another environment's folder (or one whose
    //    file was deleted and came back)
    let stems: Vec<String> = files
        .iter()
        .enumerate()
        .filter(|(i, f)| owner[*i].is_none() && f.parsed.is_ok() && validate_slug(&f.stem).is_ok())
        .map(|(_, f)| f.stem.clone())
        .collect();
    let by_slug: HashMap<String, Uuid> = canonical_db::find_by_slugs(conn, &stems)
        .await?
        .into_iter()
        .map(|c| (c.canonical_slug, c.id))
        .collect();
    for (i, f) in files.iter().enumerate() {
        if owner[i].is_some() || f.parsed.is_err() {
            continue;
        }
        if let Some(&id) = by_slug.get(&f.stem) {
            if claimed.insert(id) {
                owner[i] = Some(id);
            }
        }
    }

    // 3. a new canonical workflow for every other valid file
    let created = create_canonicals(conn, tenant_id, files, &mut owner, &mut claimed).await?;

    // 4. what changed
    let mut state_writes = Vec::new();
    let mut unchanged = 0;
    let mut contents = Vec::new();
    let mut registrations: Vec<(&Workflow, Uuid)> = Vec::new();
    for (i, f) in files.iter().enumerate() {
        let Some(canonical_id) = owner[i] else {
            continue; // an invalid file nobody owns: reported only
        };
        let prev = by_canonical.get(&canonical_id).copied();
        let hash = f.parsed.as_ref().ok().map(|w| w.hash.as_str());
        let same_file = prev.is_some_and(|p| {
            p.git_path == f.path
                && p.git_blob_sha.as_deref() == Some(f.blob_sha.as_str())
                && p.git_content_hash.as_deref() == hash
                && p.parse_error.as_deref() == f.parsed.as_ref().err().map(String::as_str)
        });
        if same_file {
            // nothing to write: an unchanged repository costs no writes at all
            unchanged += 1;
            continue;
        }
        // the commit is the one that brought this content; a change that leaves the hash
        // alone (canvas positions, formatting) keeps it
        let (sha, time) = match prev {
            Some(p) if p.git_content_hash.as_deref() == hash && hash.is_some() => {
                (p.git_commit_sha.clone(), p.git_commit_time)
            }
            _ => (Some(head.to_owned()), Some(commit_time)),
        };
        let write = GitStateWrite {
            canonical_id,
            git_path: f.path.clone(),
            git_commit_sha: sha,
            git_commit_time: time,
            git_content_hash: hash.map(str::to_owned),
            git_blob_sha: Some(f.blob_sha.clone()),
            git_workflow_data: f.parsed.as_ref().ok().map(|w| w.document.clone()),
            parse_error: f.parsed.as_ref().err().cloned(),
        };
        state_writes.push(write);
        if let Ok(w) = &f.parsed {
            if !created.ids.contains(&canonical_id) {
                contents.push((
                    canonical_id,
                    CanonicalContent {
                        name: &w.name,
                        content_hash: Some(&w.hash),
                        workflow_definition: Some(&w.document),
                        git_file_path: Some(&f.path),
                    },
                ));
            }
            registrations.push((w, canonical_id));
        }
    }
    canonical_db::set_content_many(conn, &contents).await?;
    let collisions = register_hashes(conn, tenant_id, &registrations).await?;
    git_db::upsert(conn, tenant_id, environment_id, synced_at, &state_writes).await?;

    // 5. deletions: a Git state whose file is gone
    let gone: Vec<&GitStateSummary> = states
        .iter()
        .filter(|s| !claimed.contains(&s.canonical_id))
        .collect();
    let gone_ids: Vec<Uuid> = gone.iter().map(|s| s.canonical_id).collect();
    git_db::delete(conn, environment_id, &gone_ids).await?;
    let soft_deleted = canonical_db::soft_delete_unreferenced(conn, &gone_ids).await?;

    // 6. untracked workflows of the environment whose hash is now registered
    let links = linking::link_untracked(conn, environment_id).await?;

    Ok(Applied {
        created: created.ids.len(),
        updated: state_writes.len(),
        unchanged,
        deleted: gone
            .into_iter()
            .map(|s| DeletedFile {
                canonical_id: s.canonical_id,
                git_path: s.git_path.clone(),
            })
            .collect(),
        soft_deleted,
        collisions,
        links,
    })
}

struct Created {
    ids: HashSet<Uuid>,
}

/// Creates a canonical workflow for every valid file that has no owner yet, with a slug from
/// its file stem (the stem itself when it is a valid, free slug, so that the file and the slug
/// agree). A slug taken meanwhile by a concurrent sync of another environment is either the
/// same workflow (its stem: use it) or gets the next free variant.
async fn create_canonicals(
    conn: &mut Conn,
    tenant_id: Uuid,
    files: &[ParsedFile],
    owner: &mut [Option<Uuid>],
    claimed: &mut HashSet<Uuid>,
) -> Result<Created> {
    let pending: Vec<usize> = (0..files.len())
        .filter(|&i| owner[i].is_none() && files[i].parsed.is_ok())
        .collect();
    let mut created = Created {
        ids: HashSet::new(),
    };
    if pending.is_empty() {
        return Ok(created);
    }
    let mut taken: HashSet<String> = canonical_db::all_slugs(conn)
        .await?
        .into_iter()
        .map(|s| s.to_ascii_lowercase())
        .collect();
    let mut planned: Vec<(usize, Uuid, String)> = Vec::with_capacity(pending.len());
    for &i in &pending {
        let slug = unique_slug(&files[i].stem, |s| taken.contains(s))?;
        taken.insert(slug.clone());
        planned.push((i, CanonicalId::new_random().into(), slug));
    }
    let rows: Vec<NewCanonicalWorkflow<'_>> = planned
        .iter()
        .map(|(i, id, slug)| new_row(tenant_id, *id, slug, &files[*i]))
        .collect();
    let inserted: HashSet<Uuid> = canonical_db::insert_many_if_slug_free(conn, &rows)
        .await?
        .into_iter()
        .collect();
    for (i, id, slug) in planned {
        if inserted.contains(&id) {
            owner[i] = Some(id);
            claimed.insert(id);
            created.ids.insert(id);
            continue;
        }
        // lost a race for `slug`
        let mut slug = slug;
        let mut done = false;
        for _ in 0..SLUG_RACE_RETRIES {
            if slug == files[i].stem {
                let holder = canonical_db::find_by_slugs(conn, std::slice::from_ref(&slug)).await?;
                if let Some(c) = holder.into_iter().next() {
                    if claimed.insert(c.id) {
                        owner[i] = Some(c.id);
                        done = true;
                        break;
                    }
                }
            }
            taken.insert(slug.clone());
            slug = unique_slug(&files[i].stem, |s| taken.contains(s))?;
            let row = new_row(tenant_id, id, &slug, &files[i]);
            if canonical_db::insert_if_slug_free(conn, &row)
                .await?
                .is_some()
            {
                owner[i] = Some(id);
                claimed.insert(id);
                created.ids.insert(id);
                done = true;
                break;
            }
        }
        if !done {
            return Err(EngineError::Internal(format!(
                "no free slug for {} after {SLUG_RACE_RETRIES} attempts",
                files[i].path
            )));
        }
    }
    Ok(created)
}

fn new_row<'a>(
    tenant_id: Uuid,
    id: Uuid,
    slug: &'a str,
    file: &'a ParsedFile,
) -> NewCanonicalWorkflow<'a> {
    let w = file.parsed.as_ref().ok();
    NewCanonicalWorkflow {
        id,
        tenant_id,
        canonical_slug: slug,
        name: w.map_or(file.stem.as_str(), |w| w.name.as_str()),
        content_hash: w.map(|w| w.hash.as_str()),
        workflow_definition: w.map(|w| &w.document),
        git_file_path: Some(&file.path),
    }
}
