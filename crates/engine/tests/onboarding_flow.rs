//! Onboarding against a fake n8n, real bare repositories on disk (checked with the git CLI) and
//! a test database: preflight, inventory (one commit, idempotent, crash-safe), completion, and
//! what a repository sync and a second environment make of the onboarded files.

// Test code: a failed unwrap or expect is the test's failure message (clippy.toml allows them
// in tests, but not yet in the helpers of integration tests).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod repo_git;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use common::{fake_with_fixtures, harness, Harness, Recorded};
use repo_git::{bare_remote, commit_count, file_url, files_in_head_commit, ls_folder, show};
use uuid::Uuid;
use wfops_canonical::MappingStatus;
use wfops_engine::onboarding::{self, InventoryReport};
use wfops_engine::{env_sync, repo_sync, Checkpoint, EngineError, NoProgress};
use wfops_fake_n8n::FakeN8n;

async fn env_sync(h: &Harness, env: Uuid) -> env_sync::EnvSyncReport {
    env_sync::run(&h.ctx, h.tenant, env, &NoProgress, &Checkpoint::none())
        .await
        .expect("environment sync")
}

async fn inventory(h: &Harness, env: Uuid) -> InventoryReport {
    onboarding::inventory(&h.ctx, h.tenant, env, &NoProgress)
        .await
        .expect("inventory")
}

/// Environment "dev" (folder `dev`) on a fake n8n with `n` fixtures, synced, on a fresh bare
/// repository.
async fn synced_dev(
    n: usize,
) -> (
    Harness,
    FakeN8n,
    Vec<String>,
    Uuid,
    tempfile::TempDir,
    std::path::PathBuf,
) {
    let h = harness().await;
    let (fake, ids) = fake_with_fixtures(n);
    let env = h.environment("dev", "dev", &fake).await;
    let dir = tempfile::tempdir().unwrap();
    let remote = bare_remote(dir.path());
    h.set_git(env, &file_url(&remote), "main", None).await;
    env_sync(&h, env).await;
    (h, fake, ids, env, dir, remote)
}

#[tokio::test]
async fn inventory_commits_every_untracked_workflow_in_one_commit_and_links_them() {
    let (h, fake, ids, env, _dir, remote) = synced_dev(6).await;
    let progress = Recorded::default();
    let report = onboarding::inventory(&h.ctx, h.tenant, env, &progress)
        .await
        .expect("inventory");

    assert!(report.committed);
    assert_eq!(report.created, 6);
    assert_eq!(report.linked, 6);
    assert_eq!(report.files_written, 6);
    assert_eq!(report.git_states, 6);
    assert!(report.skipped.is_empty(), "{:?}", report.skipped);
    assert!(report.reconcile.is_some());

    // one commit, one file per workflow, made by WorkflowOps
    assert_eq!(commit_count(&remote), 1);
    assert_eq!(
        report.commit_sha.as_deref(),
        Some(repo_git::head(&remote).as_str())
    );
    let files = ls_folder(&remote, "dev");
    assert_eq!(files.len(), 6);
    assert_eq!(files_in_head_commit(&remote), files);
    let author = repo_git::git(&remote, &["log", "-1", "--format=%an <%ae>|%s", "main"]);
    assert_eq!(
        author,
        "WorkflowOps <workflowops@localhost>|Onboard 6 workflows from environment dev"
    );

    // each file is the portable form of its workflow, named by its canonical slug
    let rows = h.mapping_map(env).await;
    let by_path: BTreeMap<&str, _> = report
        .workflows
        .iter()
        .map(|w| (w.git_path.as_str(), w))
        .collect();
    for id in &ids {
        let row = &rows[id];
        assert_eq!(row.status, MappingStatus::Linked, "{id}");
        let canonical = h.canonical(row.canonical_id.unwrap()).await;
        let path = format!("workflows/dev/{}.json", canonical.canonical_slug);
        assert_eq!(by_path[path.as_str()].canonical_id, canonical.id);
        let committed = show(&remote, &path);
        let doc = fake.workflow(id).unwrap().unwrap();
        let expected = String::from_utf8(wfops_diff::portable_value(&doc).unwrap()).unwrap();
        assert_eq!(format!("{committed}\n"), expected, "{path}");
        assert_eq!(canonical.content_hash, row.env_content_hash);
        assert_eq!(
            canonical.canonical_slug,
            wfops_canonical::base_slug(doc["name"].as_str().unwrap())
        );
        assert_eq!(
            h.registered(row.env_content_hash.as_deref().unwrap()).await,
            Some(canonical.id)
        );
    }
    let states = h.git_states(env).await;
    assert_eq!(states.len(), 6);
    for s in &states {
        assert_eq!(s.git_commit_sha, report.commit_sha);
        let blob = repo_git::git(&remote, &["rev-parse", &format!("main:{}", s.git_path)]);
        assert_eq!(s.git_blob_sha.as_deref(), Some(blob.as_str()));
    }

    let completion = onboarding::completion(&h.ctx, h.tenant, env).await.unwrap();
    assert_eq!((completion.linked, completion.untracked), (6, 0));
    assert_eq!((completion.committed, completion.uncommitted), (6, 0));
    assert!(completion.complete);

    let reports = progress.0.lock().unwrap();
    assert!(
        reports
            .iter()
            .any(|(_, _, m)| m.contains("committing 6 files")),
        "{reports:?}"
    );
}

#[tokio::test]
async fn a_second_inventory_creates_nothing_and_commits_nothing() {
    let (h, _fake, _ids, env, _dir, remote) = synced_dev(4).await;
    let first = inventory(&h, env).await;
    let canonicals = h.canonicals().await;
    let head = repo_git::head(&remote);

    let second = inventory(&h, env).await;
    assert!(!second.committed);
    assert_eq!((second.created, second.reused, second.linked), (0, 0, 0));
    assert_eq!(second.files_written, 0);
    assert!(second.workflows.is_empty());
    assert_eq!(second.commit_sha, first.commit_sha);
    assert_eq!(commit_count(&remote), 1);
    assert_eq!(repo_git::head(&remote), head);
    let after = h.canonicals().await;
    assert_eq!(after, canonicals);
}

#[tokio::test]
async fn a_repository_sync_of_the_onboarded_files_keeps_the_same_identities() {
    let (h, _fake, _ids, env, _dir, _remote) = synced_dev(5).await;
    inventory(&h, env).await;
    let linked: BTreeMap<String, Option<Uuid>> = h
        .mappings(env)
        .await
        .into_iter()
        .map(|m| (m.n8n_workflow_id, m.canonical_id))
        .collect();
    let canonicals = h.canonicals().await;

    let report = repo_sync::run(&h.ctx, h.tenant, env, &NoProgress)
        .await
        .unwrap();
    assert_eq!(report.files, 5);
    assert_eq!(
        (report.created, report.updated, report.unchanged),
        (0, 0, 5)
    );
    assert!(report.deleted.is_empty() && report.errors.is_empty());
    let after: BTreeMap<String, Option<Uuid>> = h
        .mappings(env)
        .await
        .into_iter()
        .map(|m| (m.n8n_workflow_id, m.canonical_id))
        .collect();
    assert_eq!(after, linked);
    assert_eq!(h.canonicals().await, canonicals);
}

#[tokio::test]
async fn a_second_environment_auto_links_by_hash_and_onboards_into_its_own_folder() {
    let (h, dev_fake, dev_ids, dev, _dir, remote) = synced_dev(5).await;
    inventory(&h, dev).await;
    let dev_rows = h.mapping_map(dev).await;

    // prod holds three of dev's workflows and one of its own
    let prod_fake = FakeN8n::start().unwrap();
    let mut shared = BTreeMap::new();
    for id in &dev_ids[..3] {
        let doc = dev_fake.workflow(id).unwrap().unwrap();
        shared.insert(prod_fake.seed_workflow(&doc).unwrap(), id.clone());
    }
    let own = prod_fake
        .seed_workflow(&wfops_fake_n8n::generated_workflow(7))
        .unwrap();
    let prod = h.environment("prod", "production", &prod_fake).await;
    h.set_git(prod, &file_url(&remote), "main", None).await;
    let report = env_sync(&h, prod).await;
    assert_eq!(report.linked, 3);

    let prod_rows = h.mapping_map(prod).await;
    for (prod_id, dev_id) in &shared {
        assert_eq!(prod_rows[prod_id].status, MappingStatus::Linked);
        assert_eq!(
            prod_rows[prod_id].canonical_id,
            dev_rows[dev_id].canonical_id
        );
    }
    assert_eq!(prod_rows[&own].status, MappingStatus::Untracked);
    let completion = onboarding::completion(&h.ctx, h.tenant, prod)
        .await
        .unwrap();
    assert_eq!((completion.linked, completion.untracked), (3, 1));
    assert_eq!(
        completion.uncommitted, 3,
        "linked, but not in prod's folder yet"
    );
    assert!(!completion.complete);

    // onboarding prod commits the linked ones under their canonical slug, and the new one
    let report = inventory(&h, prod).await;
    assert!(report.committed);
    assert_eq!((report.created, report.linked), (1, 1));
    assert_eq!(report.files_written, 4);
    assert_eq!(commit_count(&remote), 2);
    let prod_files: BTreeSet<String> = ls_folder(&remote, "prod").into_iter().collect();
    for dev_id in shared.values() {
        let canonical = h.canonical(dev_rows[dev_id].canonical_id.unwrap()).await;
        let path = format!("workflows/prod/{}.json", canonical.canonical_slug);
        assert!(prod_files.contains(&path), "{path} in {prod_files:?}");
        assert_eq!(
            show(&remote, &path),
            show(&remote, &path.replace("/prod/", "/dev/"))
        );
    }
    let completion = onboarding::completion(&h.ctx, h.tenant, prod)
        .await
        .unwrap();
    assert!(completion.complete, "{completion:?}");
    // dev's folder was not touched by prod's commit
    assert!(files_in_head_commit(&remote)
        .iter()
        .all(|p| p.starts_with("workflows/prod/")));
}

#[tokio::test]
async fn a_crash_between_push_and_database_write_does_not_duplicate_anything() {
    let (h, _fake, _ids, env, _dir, remote) = synced_dev(4).await;
    let first = inventory(&h, env).await;
    let canonicals = h.canonicals().await;
    let assigned: BTreeMap<String, Uuid> = first
        .workflows
        .iter()
        .map(|w| (w.n8n_workflow_id.clone(), w.canonical_id))
        .collect();

    // undo step 3 (links, registry, Git states) as if the process died right after the push:
    // the reserved canonical workflows and the commit remain
    h.test_db
        .admin_execute(&format!(
            "UPDATE workflow_env_map SET canonical_id = NULL, status = 'untracked', linked_at = NULL \
               WHERE environment_id = '{env}';
             DELETE FROM canonical_workflow_git_state WHERE environment_id = '{env}';
             DELETE FROM workflow_hash_registry WHERE tenant_id = '{}';",
            h.tenant
        ))
        .await
        .unwrap();

    let again = inventory(&h, env).await;
    assert!(
        !again.committed,
        "the same bytes at the same paths: nothing to commit"
    );
    assert_eq!(commit_count(&remote), 1);
    assert_eq!((again.created, again.reused, again.linked), (0, 4, 4));
    assert_eq!(h.canonicals().await.len(), canonicals.len());
    for m in h.mappings(env).await {
        assert_eq!(m.status, MappingStatus::Linked);
        assert_eq!(m.canonical_id, Some(assigned[&m.n8n_workflow_id]));
    }
    assert_eq!(h.git_states(env).await.len(), 4);
    assert!(
        onboarding::completion(&h.ctx, h.tenant, env)
            .await
            .unwrap()
            .complete
    );
}

#[tokio::test]
async fn a_rejected_push_takes_back_the_reserved_identities() {
    let (h, _fake, _ids, env, dir, bare) = synced_dev(3).await;
    // a working repository refuses pushes to the branch it has checked out, as `git push` does
    let work = dir.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    repo_git::git(&work, &["init", "-q", "-b", "main"]);
    std::fs::write(work.join("README.md"), "workflows\n").unwrap();
    repo_git::git(&work, &["add", "-A"]);
    repo_git::git(&work, &["commit", "-q", "-m", "start"]);
    h.set_git(env, &file_url(&work), "main", None).await;

    let err = onboarding::inventory(&h.ctx, h.tenant, env, &NoProgress)
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            EngineError::Git {
                source: wfops_git::GitError::PushRejected { .. },
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        h.canonicals().await.is_empty(),
        "reserved identities are taken back"
    );
    assert!(h
        .mappings(env)
        .await
        .iter()
        .all(|m| m.status == MappingStatus::Untracked));
    assert_eq!(repo_git::git(&work, &["rev-list", "--count", "main"]), "1");

    // with a repository that accepts the push, the next run onboards everything
    h.set_git(env, &file_url(&bare), "main", None).await;
    let report = inventory(&h, env).await;
    assert_eq!((report.created, report.linked), (3, 3));
    assert_eq!(commit_count(&bare), 1);
}

#[tokio::test]
async fn existing_files_of_the_folder_are_never_overwritten_by_a_new_workflow() {
    let (h, fake, ids, env, _dir, remote) = synced_dev(1).await;
    let doc = fake.workflow(&ids[0]).unwrap().unwrap();
    let slug = wfops_canonical::base_slug(doc["name"].as_str().unwrap());
    // someone committed another workflow under the same file name, never synced
    let other = repo_git::workflow_file("Something else", 3);
    let path = format!("workflows/dev/{slug}.json");
    repo_git::push_files(&remote, &[(path.as_str(), Some(&other))], "by hand");

    let report = inventory(&h, env).await;
    assert_eq!(report.created, 1);
    assert_eq!(report.workflows[0].slug, format!("{slug}-2"));
    assert_eq!(
        show(&remote, &path),
        String::from_utf8(other).unwrap().trim_end()
    );
    assert_eq!(ls_folder(&remote, "dev").len(), 2);
}

#[tokio::test]
async fn unparseable_and_ignored_workflows_are_left_out() {
    let (h, _fake, ids, env, _dir, _remote) = synced_dev(3).await;
    h.test_db
        .admin_execute(&format!(
            "UPDATE workflow_env_map SET status = 'ignored' WHERE n8n_workflow_id = '{}';
             UPDATE workflow_env_map SET env_content_hash = NULL, parse_error = 'node 0 has no `name`'
              WHERE n8n_workflow_id = '{}'",
            ids[0], ids[1]
        ))
        .await
        .unwrap();
    let report = inventory(&h, env).await;
    assert_eq!(report.created, 1);
    assert_eq!(report.skipped.len(), 1);
    assert_eq!(report.skipped[0].n8n_workflow_id, ids[1]);
    assert!(
        report.skipped[0].reason.contains("can not be parsed"),
        "{:?}",
        report.skipped
    );
    let completion = onboarding::completion(&h.ctx, h.tenant, env).await.unwrap();
    assert_eq!(
        (
            completion.linked,
            completion.untracked,
            completion.ignored,
            completion.unparseable
        ),
        (1, 1, 1, 1)
    );
    assert!(!completion.complete);
}

#[tokio::test]
async fn preflight_reports_reachability_branch_and_counts() {
    let (h, _fake, _ids, env, _dir, remote) = synced_dev(3).await;
    let p = onboarding::preflight(&h.ctx, h.tenant, env).await.unwrap();
    assert!(p.ready, "{p:?}");
    assert!(p.n8n.ok && p.git_configured.ok && p.git_remote.ok);
    assert_eq!(p.branch.state, "missing");
    assert_eq!(p.counts.untracked, 3);
    assert_eq!(p.counts.linked, 0);

    inventory(&h, env).await;
    let p = onboarding::preflight(&h.ctx, h.tenant, env).await.unwrap();
    assert_eq!(p.branch.state, "exists");
    assert_eq!(p.branch.head, Some(repo_git::head(&remote)));
    assert_eq!(p.branch.files_in_folder, Some(3));
    assert_eq!((p.counts.linked, p.counts.untracked), (3, 0));
}

#[tokio::test]
async fn preflight_reports_unreachable_services_within_its_bound() {
    let h = harness().await;
    let fake = FakeN8n::start().unwrap();
    let env = h.environment("dev", "dev", &fake).await;

    // no Git configured
    let p = onboarding::preflight(&h.ctx, h.tenant, env).await.unwrap();
    assert!(!p.ready);
    assert!(p.n8n.ok);
    assert!(!p.git_configured.ok);
    assert_eq!(
        p.git_configured.message,
        "environment dev has no Git repository configured"
    );
    assert_eq!(p.branch.state, "unknown");

    // n8n that accepts connections but never answers, and a repository that does not exist
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", silent.local_addr().unwrap());
    h.test_db
        .admin_execute(&format!(
            "UPDATE environments SET url = '{url}' WHERE id = '{env}'"
        ))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    h.set_git(env, &file_url(&dir.path().join("gone.git")), "main", None)
        .await;
    let started = Instant::now();
    let p = onboarding::preflight_within(&h.ctx, h.tenant, env, Duration::from_millis(300))
        .await
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(!p.ready);
    assert!(!p.n8n.ok);
    assert!(
        p.n8n.message.contains("did not answer within 300 ms"),
        "{}",
        p.n8n.message
    );
    assert!(p.git_configured.ok);
    assert!(!p.git_remote.ok);
    assert!(
        p.git_remote.message.contains("unreachable"),
        "{}",
        p.git_remote.message
    );
    drop(silent);
}

#[tokio::test]
async fn onboarding_an_unknown_environment_is_not_found() {
    let h = harness().await;
    let id = Uuid::new_v4();
    for err in [
        onboarding::preflight(&h.ctx, h.tenant, id)
            .await
            .unwrap_err(),
        onboarding::completion(&h.ctx, h.tenant, id)
            .await
            .unwrap_err(),
        onboarding::inventory(&h.ctx, h.tenant, id, &NoProgress)
            .await
            .unwrap_err(),
    ] {
        assert!(
            matches!(err, EngineError::EnvironmentNotFound(e) if e == id),
            "{err:?}"
        );
    }
}

#[tokio::test]
async fn inventory_without_git_is_refused() {
    let h = harness().await;
    let (fake, _) = fake_with_fixtures(1);
    let env = h.environment("dev", "dev", &fake).await;
    env_sync(&h, env).await;
    let err = onboarding::inventory(&h.ctx, h.tenant, env, &NoProgress)
        .await
        .unwrap_err();
    assert!(
        matches!(err, EngineError::GitNotConfigured { .. }),
        "{err:?}"
    );
    assert!(h.canonicals().await.is_empty());
}
