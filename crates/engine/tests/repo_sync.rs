//! Repository sync against real bare repositories on disk (file:// URLs) and a test database.

// Test code: a failed unwrap or expect is the test's failure message (clippy.toml allows them
// in tests, but not yet in the helpers of integration tests).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod repo_git;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpListener;

use common::{fake_with_fixtures, harness, Recorded};
use repo_git::{bare_remote, file_url, hash_of, head, push_files, workflow_file};
use serde_json::Value;
use wfops_canonical::MappingStatus;
use wfops_engine::env_sync;
use wfops_engine::repo_sync::{self, RepoSyncReport};
use wfops_engine::{Checkpoint, EngineError, NoProgress};
use wfops_fake_n8n::FakeN8n;
use wfops_git::GitError;

async fn sync(h: &common::Harness, env: uuid::Uuid) -> RepoSyncReport {
    repo_sync::run(&h.ctx, h.tenant, env, &NoProgress)
        .await
        .expect("repository sync")
}

/// A harness with one environment "dev" (folder `dev`) on a fresh bare repository.
async fn setup() -> (
    common::Harness,
    uuid::Uuid,
    tempfile::TempDir,
    std::path::PathBuf,
) {
    let h = harness().await;
    let fake = FakeN8n::start().expect("fake n8n");
    let env = h.environment("dev", "dev", &fake).await;
    let dir = tempfile::tempdir().unwrap();
    let remote = bare_remote(dir.path());
    h.set_git(env, &file_url(&remote), "main", None).await;
    (h, env, dir, remote)
}

#[tokio::test]
async fn repo_sync_creates_canonicals_git_states_and_registry_entries() {
    let (h, env, _dir, remote) = setup().await;
    let a = workflow_file("Order Sync", 1);
    let b = workflow_file("Invoice Mailer", 2);
    let c = workflow_file("Lead Router", 3);
    let sha = push_files(
        &remote,
        &[
            ("workflows/dev/order-sync.json", Some(&a)),
            ("workflows/dev/invoice-mailer.json", Some(&b)),
            ("workflows/dev/Lead Router.json", Some(&c)),
            // other folders and other files are not this environment's
            ("workflows/prod/order-sync.json", Some(&b)),
            ("workflows/dev/README.md", Some(b"notes")),
            ("workflows/dev/archive/old.json", Some(&c)),
        ],
        "three workflows",
    );
    let progress = Recorded::default();
    let report = repo_sync::run(&h.ctx, h.tenant, env, &progress)
        .await
        .expect("sync");

    assert_eq!(report.commit_sha, sha);
    assert_eq!(report.files, 3);
    assert_eq!(
        (report.created, report.updated, report.unchanged),
        (3, 3, 0)
    );
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert!(report.deleted.is_empty());
    assert!(report.reconcile.is_some());

    let canonicals: BTreeMap<String, _> = h
        .canonicals()
        .await
        .into_iter()
        .map(|c| (c.canonical_slug.clone(), c))
        .collect();
    // the slug is the file stem, or derived from it when the stem is not a valid slug
    assert_eq!(
        canonicals.keys().cloned().collect::<Vec<_>>(),
        vec!["invoice-mailer", "lead-router", "order-sync"]
    );
    let order = &canonicals["order-sync"];
    assert_eq!(order.name, "Order Sync");
    assert_eq!(order.content_hash.as_deref(), Some(hash_of(&a).as_str()));
    assert_eq!(
        order.git_file_path.as_deref(),
        Some("workflows/dev/order-sync.json")
    );
    assert_eq!(
        order.workflow_definition.as_ref().unwrap()["name"],
        "Order Sync"
    );

    let states = h.git_states(env).await;
    assert_eq!(states.len(), 3);
    let commit_time = repo_git::git(&remote, &["show", "-s", "--format=%ct", "main"]);
    for s in &states {
        assert_eq!(s.git_commit_sha.as_deref(), Some(sha.as_str()));
        assert_eq!(
            s.git_commit_time.unwrap().timestamp().to_string(),
            commit_time
        );
        assert!(s.parse_error.is_none());
        let c = h.canonical(s.canonical_id).await;
        assert_eq!(s.git_content_hash, c.content_hash);
        assert_eq!(s.git_workflow_data, c.workflow_definition);
        let blob = repo_git::git(&remote, &["rev-parse", &format!("main:{}", s.git_path)]);
        assert_eq!(s.git_blob_sha.as_deref(), Some(blob.as_str()));
        // the hash is registered for its canonical workflow
        assert_eq!(
            h.registered(s.git_content_hash.as_deref().unwrap()).await,
            Some(s.canonical_id)
        );
    }
    let lead = states
        .iter()
        .find(|s| s.git_path == "workflows/dev/Lead Router.json")
        .unwrap();
    assert_eq!(lead.canonical_id, canonicals["lead-router"].id);

    let reports = progress.0.lock().unwrap();
    assert!(
        reports.iter().any(|(_, total, _)| *total == 3),
        "{reports:?}"
    );
}

#[tokio::test]
async fn a_second_sync_of_the_same_commit_writes_nothing() {
    let (h, env, _dir, remote) = setup().await;
    let a = workflow_file("Order Sync", 1);
    push_files(
        &remote,
        &[("workflows/dev/order-sync.json", Some(&a))],
        "one",
    );
    sync(&h, env).await;
    let before = h.git_states(env).await;
    let canonical_before = h.canonical(before[0].canonical_id).await;

    let report = sync(&h, env).await;
    assert_eq!(
        (report.created, report.updated, report.unchanged),
        (0, 0, 1)
    );
    let after = h.git_states(env).await;
    assert_eq!(after[0].updated_at, before[0].updated_at);
    assert_eq!(after[0].git_commit_sha, before[0].git_commit_sha);
    assert_eq!(after[0].last_synced_at, before[0].last_synced_at);
    assert_eq!(
        h.canonical(before[0].canonical_id).await.updated_at,
        canonical_before.updated_at
    );
}

#[tokio::test]
async fn a_changed_file_updates_hash_and_commit_and_a_moved_canvas_keeps_the_commit() {
    let (h, env, _dir, remote) = setup().await;
    let a = workflow_file("Order Sync", 1);
    let b = workflow_file("Invoice Mailer", 2);
    let first = push_files(
        &remote,
        &[
            ("workflows/dev/order-sync.json", Some(&a)),
            ("workflows/dev/invoice-mailer.json", Some(&b)),
        ],
        "two",
    );
    sync(&h, env).await;
    let ids: BTreeMap<String, uuid::Uuid> = h
        .git_states(env)
        .await
        .into_iter()
        .map(|s| (s.git_path, s.canonical_id))
        .collect();

    // a parameter changes in one file
    let mut doc: Value = serde_json::from_slice(&a).unwrap();
    doc["nodes"][1]["parameters"]["assignments"]["assignments"][0]["value"] = 99.into();
    let changed = wfops_diff::portable_value(&doc).unwrap();
    let second = push_files(
        &remote,
        &[("workflows/dev/order-sync.json", Some(&changed))],
        "change a parameter",
    );
    let report = sync(&h, env).await;
    assert_eq!(report.commit_sha, second);
    assert_eq!(
        (report.created, report.updated, report.unchanged),
        (0, 1, 1)
    );
    let states: BTreeMap<String, _> = h
        .git_states(env)
        .await
        .into_iter()
        .map(|s| (s.git_path.clone(), s))
        .collect();
    let order = &states["workflows/dev/order-sync.json"];
    assert_eq!(order.canonical_id, ids["workflows/dev/order-sync.json"]);
    assert_eq!(
        order.git_content_hash.as_deref(),
        Some(hash_of(&changed).as_str())
    );
    assert_ne!(hash_of(&changed), hash_of(&a));
    assert_eq!(order.git_commit_sha.as_deref(), Some(second.as_str()));
    assert_eq!(
        order.git_workflow_data.as_ref().unwrap()["nodes"][1]["parameters"]["assignments"]
            ["assignments"][0]["value"],
        99
    );
    // the untouched file keeps the commit that brought its content
    let invoice = &states["workflows/dev/invoice-mailer.json"];
    assert_eq!(invoice.git_commit_sha.as_deref(), Some(first.as_str()));
    let canonical = h.canonical(order.canonical_id).await;
    assert_eq!(
        canonical.content_hash.as_deref(),
        Some(hash_of(&changed).as_str())
    );
    assert_eq!(
        h.registered(&hash_of(&changed)).await,
        Some(order.canonical_id)
    );

    // moving a node on the canvas changes the file but not the content hash
    doc["nodes"][0]["position"] = serde_json::json!([500, 500]);
    let moved = wfops_diff::portable_value(&doc).unwrap();
    assert_eq!(hash_of(&moved), hash_of(&changed));
    push_files(
        &remote,
        &[("workflows/dev/order-sync.json", Some(&moved))],
        "move a node",
    );
    let report = sync(&h, env).await;
    assert_eq!(report.updated, 1);
    let order = h
        .git_states(env)
        .await
        .into_iter()
        .find(|s| s.git_path == "workflows/dev/order-sync.json")
        .unwrap();
    assert_eq!(order.git_commit_sha.as_deref(), Some(second.as_str()));
    assert_eq!(
        order.git_workflow_data.as_ref().unwrap()["nodes"][0]["position"],
        serde_json::json!([500, 500])
    );
}

#[tokio::test]
async fn a_deleted_file_is_detected_and_its_unreferenced_workflow_soft_deleted() {
    let (h, env, _dir, remote) = setup().await;
    let a = workflow_file("Order Sync", 1);
    let b = workflow_file("Invoice Mailer", 2);
    push_files(
        &remote,
        &[
            ("workflows/dev/order-sync.json", Some(&a)),
            ("workflows/dev/invoice-mailer.json", Some(&b)),
        ],
        "two",
    );
    sync(&h, env).await;
    let order_id = h
        .git_states(env)
        .await
        .into_iter()
        .find(|s| s.git_path.ends_with("order-sync.json"))
        .unwrap()
        .canonical_id;

    push_files(
        &remote,
        &[("workflows/dev/order-sync.json", None)],
        "delete",
    );
    let report = sync(&h, env).await;
    assert_eq!(report.deleted.len(), 1);
    assert_eq!(report.deleted[0].canonical_id, order_id);
    assert_eq!(report.deleted[0].git_path, "workflows/dev/order-sync.json");
    assert_eq!(report.soft_deleted, vec![order_id]);
    assert_eq!(report.unchanged, 1);
    let states = h.git_states(env).await;
    assert_eq!(states.len(), 1);
    assert!(states[0].git_path.ends_with("invoice-mailer.json"));
    assert!(h.canonical(order_id).await.deleted_at.is_some());

    // the file comes back: the same identity is revived
    push_files(
        &remote,
        &[("workflows/dev/order-sync.json", Some(&a))],
        "restore",
    );
    let report = sync(&h, env).await;
    assert_eq!(report.created, 0);
    let restored = h.canonical(order_id).await;
    assert!(restored.deleted_at.is_none());
    assert!(h
        .git_states(env)
        .await
        .iter()
        .any(|s| s.canonical_id == order_id));
}

#[tokio::test]
async fn a_deleted_file_of_a_mapped_workflow_keeps_the_workflow() {
    let h = harness().await;
    let (fake, _ids) = fake_with_fixtures(1);
    let env = h.environment("dev", "dev", &fake).await;
    let dir = tempfile::tempdir().unwrap();
    let remote = bare_remote(dir.path());
    h.set_git(env, &file_url(&remote), "main", None).await;
    env_sync::run(&h.ctx, h.tenant, env, &NoProgress, &Checkpoint::none())
        .await
        .unwrap();
    let mapping = h.mappings(env).await.remove(0);
    let portable = wfops_diff::portable_value(mapping.workflow_data.as_ref().unwrap()).unwrap();
    push_files(
        &remote,
        &[("workflows/dev/wf.json", Some(&portable))],
        "add",
    );
    let report = sync(&h, env).await;
    assert_eq!(report.linked, 1);
    let canonical_id = h.mappings(env).await[0].canonical_id.unwrap();

    push_files(&remote, &[("workflows/dev/wf.json", None)], "delete");
    let report = sync(&h, env).await;
    assert_eq!(report.deleted.len(), 1);
    assert!(report.soft_deleted.is_empty(), "still mapped in dev");
    assert!(h.canonical(canonical_id).await.deleted_at.is_none());
}

#[tokio::test]
async fn a_malformed_file_is_reported_and_the_rest_is_synced() {
    let (h, env, _dir, remote) = setup().await;
    let a = workflow_file("Order Sync", 1);
    push_files(
        &remote,
        &[
            ("workflows/dev/order-sync.json", Some(&a)),
            (
                "workflows/dev/broken.json",
                Some(b"{\"name\": \"Broken\",\n  \"nodes\": ["),
            ),
            ("workflows/dev/not-a-workflow.json", Some(b"[1, 2, 3]")),
        ],
        "one good, two bad",
    );
    let report = sync(&h, env).await;
    assert_eq!(report.files, 3);
    assert_eq!(report.created, 1);
    let errors: BTreeMap<&str, &str> = report
        .errors
        .iter()
        .map(|e| (e.path.as_str(), e.error.as_str()))
        .collect();
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(
        errors["workflows/dev/broken.json"].contains("line 2"),
        "{errors:?}"
    );
    assert!(
        errors["workflows/dev/not-a-workflow.json"].contains("JSON object"),
        "{errors:?}"
    );
    assert_eq!(h.git_states(env).await.len(), 1);
    assert_eq!(h.canonicals().await.len(), 1);

    // a known file that breaks keeps its state, with the error and without a hash
    push_files(
        &remote,
        &[("workflows/dev/order-sync.json", Some(b"{not json"))],
        "break it",
    );
    let report = sync(&h, env).await;
    assert_eq!(report.errors.len(), 3);
    assert!(report.deleted.is_empty());
    let state = h.git_states(env).await.remove(0);
    assert!(state.parse_error.as_deref().unwrap().contains("line 1"));
    assert!(state.git_content_hash.is_none());
    assert!(state.git_workflow_data.is_none());
    assert_eq!(state.git_commit_sha, Some(head(&remote)));

    // and when it is repaired it is the same workflow again
    push_files(
        &remote,
        &[("workflows/dev/order-sync.json", Some(&a))],
        "fix",
    );
    let report = sync(&h, env).await;
    assert_eq!(report.errors.len(), 2);
    let state = h.git_states(env).await.remove(0);
    assert!(state.parse_error.is_none());
    assert_eq!(
        state.git_content_hash.as_deref(),
        Some(hash_of(&a).as_str())
    );
}

#[tokio::test]
async fn the_same_file_name_in_two_folders_is_one_canonical_workflow() {
    let h = harness().await;
    let fake = FakeN8n::start().unwrap();
    let dev = h.environment("dev", "dev", &fake).await;
    let prod = h.environment("prod", "production", &fake).await;
    let dir = tempfile::tempdir().unwrap();
    let remote = bare_remote(dir.path());
    h.set_git(dev, &file_url(&remote), "main", None).await;
    h.set_git(prod, &file_url(&remote), "main", None).await;
    let a = workflow_file("Order Sync", 1);
    let a2 = workflow_file("Order Sync", 2);
    push_files(
        &remote,
        &[
            ("workflows/dev/order-sync.json", Some(&a2)),
            ("workflows/prod/order-sync.json", Some(&a)),
        ],
        "both folders",
    );
    sync(&h, dev).await;
    let report = sync(&h, prod).await;
    assert_eq!(report.created, 0);
    let dev_state = h.git_states(dev).await.remove(0);
    let prod_state = h.git_states(prod).await.remove(0);
    assert_eq!(dev_state.canonical_id, prod_state.canonical_id);
    assert_ne!(dev_state.git_content_hash, prod_state.git_content_hash);
}

#[tokio::test]
async fn repo_sync_links_untracked_workflows_whose_file_it_registers() {
    let h = harness().await;
    let (fake, ids) = fake_with_fixtures(3);
    let env = h.environment("dev", "dev", &fake).await;
    let dir = tempfile::tempdir().unwrap();
    let remote = bare_remote(dir.path());
    h.set_git(env, &file_url(&remote), "main", None).await;
    env_sync::run(&h.ctx, h.tenant, env, &NoProgress, &Checkpoint::none())
        .await
        .unwrap();
    assert!(h
        .mappings(env)
        .await
        .iter()
        .all(|m| m.status == MappingStatus::Untracked));

    // two of the three are committed to Git (by hand)
    let files: Vec<(String, Vec<u8>)> = ids[..2]
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let doc = fake.workflow(id).unwrap().unwrap();
            (
                format!("workflows/dev/workflow-{i}.json"),
                wfops_diff::portable_value(&doc).unwrap(),
            )
        })
        .collect();
    let refs: Vec<(&str, Option<&[u8]>)> = files
        .iter()
        .map(|(p, b)| (p.as_str(), Some(b.as_slice())))
        .collect();
    push_files(&remote, &refs, "two of three");
    let report = sync(&h, env).await;
    assert_eq!(report.linked, 2);
    let rows = h.mapping_map(env).await;
    for id in &ids[..2] {
        assert_eq!(rows[id].status, MappingStatus::Linked);
        let c = h.canonical(rows[id].canonical_id.unwrap()).await;
        assert_eq!(c.content_hash, rows[id].env_content_hash);
    }
    assert_eq!(rows[&ids[2]].status, MappingStatus::Untracked);
}

#[tokio::test]
async fn an_unreachable_repository_fails_with_a_clear_error() {
    let (h, env, dir, _remote) = setup().await;
    let missing = dir.path().join("no-such-repo.git");
    h.set_git(env, &file_url(&missing), "main", None).await;
    let err = repo_sync::run(&h.ctx, h.tenant, env, &NoProgress)
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            EngineError::Git {
                source: GitError::Unreachable { .. },
                ..
            }
        ),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(message.starts_with("environment dev: "), "{message}");
    assert!(message.contains("no-such-repo.git"), "{message}");
    assert!(err.is_retryable());
}

#[tokio::test]
async fn a_missing_branch_fails_with_a_clear_error() {
    let (h, env, _dir, remote) = setup().await;
    push_files(
        &remote,
        &[("workflows/dev/a.json", Some(&workflow_file("A", 1)))],
        "main only",
    );
    h.set_git(env, &file_url(&remote), "release", None).await;
    let err = repo_sync::run(&h.ctx, h.tenant, env, &NoProgress)
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            EngineError::Git {
                source: GitError::BranchNotFound { .. },
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("\"release\""), "{err}");
    assert!(!err.is_retryable());
    assert!(h.canonicals().await.is_empty());
}

/// An http server on loopback that refuses every request with 401 (as a Git host does for a bad
/// token); returns its URL.
fn refusing_git_host() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(
                b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"git\"\r\n\
                  Content-Length: 0\r\nConnection: close\r\n\r\n",
            );
        }
    });
    format!("http://127.0.0.1:{port}/acme/workflows.git")
}

#[tokio::test]
async fn a_rejected_token_fails_without_revealing_it() {
    let (h, env, _dir, _remote) = setup().await;
    let token = "s3cret-token-value-123";
    h.set_git(env, &refusing_git_host(), "main", Some(token))
        .await;
    let err = repo_sync::run(&h.ctx, h.tenant, env, &NoProgress)
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            EngineError::Git {
                source: GitError::AuthFailed { .. },
                ..
            }
        ),
        "{err:?}"
    );
    assert!(!err.to_string().contains(token), "{err}");
    assert!(!format!("{err:?}").contains(token), "{err:?}");
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn an_environment_without_git_is_refused() {
    let h = harness().await;
    let fake = FakeN8n::start().unwrap();
    let env = h.environment("dev", "dev", &fake).await;
    let err = repo_sync::run(&h.ctx, h.tenant, env, &NoProgress)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            EngineError::GitNotConfigured {
                missing: "repository",
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "environment dev has no Git repository configured"
    );
}

#[tokio::test]
async fn another_tenants_environment_is_not_found() {
    let (h, env, _dir, _remote) = setup().await;
    let other = h.test_db.create_tenant("other-tenant").await.unwrap();
    let err = repo_sync::run(&h.ctx, other, env, &NoProgress)
        .await
        .unwrap_err();
    assert!(
        matches!(err, EngineError::EnvironmentNotFound(id) if id == env),
        "{err:?}"
    );
}
