//! The first-environment setup (docs/sync-and-identity.md#a-first-environment-end-to-end), end to
//! end through the HTTP API, written once and run against fake and real n8n (see `main.rs`).
//!
//! The run owns nothing on a real instance but what it creates: every workflow name carries the
//! run id, assertions look at the run's own workflows (a long-lived instance holds others, which
//! the syncs see too), and the created workflows are deleted at the end, also when a step fails.
//!
//! The second environment's Git folder: prod shares dev's repository (folder `prod`) and gets
//! its files the way any new environment does, by onboarding, not by a copy of dev's files
//! (that would pretend a promotion happened). After prod's sync has auto-linked the workflows
//! it shares with dev, `inventory` of prod commits every linked or untracked prod workflow into
//! `workflows/prod/`, the shared ones under their existing canonical ids and file names.

use std::collections::{BTreeMap, BTreeSet};
use std::panic::AssertUnwindSafe;
use std::time::Duration;

use futures::FutureExt;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::harness::{self, GitRepo, Instances, SseEvent, SseStream};
use crate::world::World;

/// Workflows seeded in dev; the first `SHARED` of them are also created in prod, which gets
/// `PROD_ONLY` more of its own.
const DEV_COUNT: usize = 5;
const SHARED: usize = 3;
const PROD_ONLY: usize = 2;

/// How long one job may take: a long-lived real instance can hold hundreds of workflows that
/// the syncs and the onboarding go through too.
pub(crate) const JOB_TIMEOUT: Duration = Duration::from_secs(300);

/// Runs the scenario and always deletes what it created in n8n.
pub async fn first_time_setup(instances: Instances) {
    let run = harness::run_id();
    let label = instances.label;
    eprintln!("e2e scenario against {label} n8n, run {run}");
    let world = World::start(instances).await;
    let created = Created::default();
    let outcome = AssertUnwindSafe(steps(&world, &run, &created))
        .catch_unwind()
        .await;
    let failures = created.delete(&world.instances).await;
    world.stop().await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
    assert!(
        failures.is_empty(),
        "cleanup in {label} n8n failed: {failures:?}"
    );
}

/// The n8n ids a run created, per instance, for the cleanup.
#[derive(Default)]
struct Created {
    dev: std::sync::Mutex<Vec<String>>,
    prod: std::sync::Mutex<Vec<String>>,
}

impl Created {
    async fn delete(&self, instances: &Instances) -> Vec<String> {
        let dev = self.dev.lock().map(|v| v.clone()).unwrap_or_default();
        let prod = self.prod.lock().map(|v| v.clone()).unwrap_or_default();
        let mut failures = instances.dev.delete_all(&dev).await;
        failures.extend(instances.prod.delete_all(&prod).await);
        failures
    }
}

async fn steps(w: &World, run: &str, created: &Created) {
    // 1. seed both instances through the n8n client, and make an empty bare repository
    let fixtures = harness::fixture_workflows(run, DEV_COUNT + PROD_ONLY);
    let (dev_docs, prod_only_docs) = fixtures.split_at(DEV_COUNT);
    let mut dev_ids = Vec::new();
    for doc in dev_docs {
        let id = w.instances.dev.create(doc).await;
        created.dev.lock().expect("lock").push(id.clone());
        dev_ids.push(id);
    }
    let mut prod_shared = Vec::new();
    let mut prod_only = Vec::new();
    for (i, doc) in dev_docs[..SHARED].iter().chain(prod_only_docs).enumerate() {
        let id = w.instances.prod.create(doc).await;
        created.prod.lock().expect("lock").push(id.clone());
        if i < SHARED {
            prod_shared.push(id);
        } else {
            prod_only.push(id);
        }
    }
    let repo = GitRepo::new();

    // 2. the two environments, on one repository
    let dev = w
        .create_environment(&format!("dev {run}"), "dev", &w.instances.dev, &repo, "dev")
        .await;
    let prod = w
        .create_environment(
            &format!("prod {run}"),
            "production",
            &w.instances.prod,
            &repo,
            "prod",
        )
        .await;

    // 3. sync dev: 202 with a job, followed live on the tenant's event stream (opened before
    //    the request), by polling, and replayed from the start on the job's own stream
    let mut live = SseStream::open(
        &w.app.client,
        &w.app.url("/api/v1/sse/background-jobs"),
        &w.viewer,
        None,
    )
    .await;
    let job = w
        .accepted(
            w.app
                .post(
                    &format!("/api/v1/environments/{dev}/sync"),
                    &w.developer,
                    json!({}),
                )
                .await,
        )
        .await;
    let job_id = job.to_string();
    let followed: Vec<SseEvent> = live
        .read_until(
            |e| e.data["job_id"] == job_id.as_str() && is_final(e),
            JOB_TIMEOUT,
        )
        .await
        .into_iter()
        .filter(|e| e.data["job_id"] == job_id.as_str())
        .collect();
    let done = w.wait_job(job).await;
    check_events(&followed, job);
    let replayed = SseStream::open(
        &w.app.client,
        &w.app.url(&format!("/api/v1/sse/background-jobs/{job}")),
        &w.viewer,
        Some("0"),
    )
    .await
    .read_until(is_final, JOB_TIMEOUT)
    .await;
    check_events(&replayed, job);
    assert_eq!(
        replayed.iter().map(|e| e.id.clone()).collect::<Vec<_>>(),
        followed.iter().map(|e| e.id.clone()).collect::<Vec<_>>(),
        "a client resuming from the start gets the events a live client got"
    );
    let report = &done["result"];
    assert!(
        report["fetched"].as_i64().unwrap_or(0) >= DEV_COUNT as i64,
        "dev sync fetched fewer workflows than were seeded: {report}"
    );
    let dev_mappings = w.mappings(dev, run).await;
    assert_eq!(
        mapped_ids(&dev_mappings),
        dev_ids.iter().cloned().collect::<BTreeSet<_>>(),
        "dev sync lists the seeded workflows: {dev_mappings:#?}"
    );
    for m in &dev_mappings {
        assert_eq!(
            m["status"], "untracked",
            "nothing is linked before onboarding: {m}"
        );
    }

    // 4. onboarding of dev: preflight, inventory (one commit, one file per workflow), completion
    let preflight = w
        .ok(w
            .app
            .get(
                &format!("/api/v1/canonical/onboard/preflight?environment_id={dev}"),
                &w.admin,
            )
            .await)
        .await;
    assert_eq!(preflight["ready"], true, "preflight of dev: {preflight:#}");
    assert_eq!(preflight["n8n"]["ok"], true, "{preflight:#}");
    assert_eq!(preflight["git_remote"]["ok"], true, "{preflight:#}");
    assert_eq!(
        preflight["branch"]["state"], "missing",
        "an empty repository: {preflight:#}"
    );
    assert!(
        preflight["counts"]["untracked"].as_i64().unwrap_or(0) >= DEV_COUNT as i64,
        "{preflight:#}"
    );
    let job = w
        .accepted(
            w.app
                .post(
                    "/api/v1/canonical/onboard/inventory",
                    &w.admin,
                    json!({"environment_id": dev}),
                )
                .await,
        )
        .await;
    w.wait_job(job).await;
    let completion = w
        .ok(w
            .app
            .get(
                &format!("/api/v1/canonical/onboard/completion?environment_id={dev}"),
                &w.viewer,
            )
            .await)
        .await;
    check_completion(&completion, w.instances.exclusive);
    let commits = repo.commits();
    assert_eq!(commits.len(), 1, "onboarding makes one commit: {commits:?}");
    let committed = repo.files_in_commit(&commits[0]);
    let total_dev = completion["linked"].as_i64().expect("linked count") as usize;
    assert_eq!(
        committed.len(),
        total_dev,
        "one file per linked dev workflow in the commit: {committed:?}"
    );
    assert!(committed
        .iter()
        .all(|p| p.starts_with("workflows/dev/") && p.ends_with(".json")));
    let dev_mappings = w.mappings(dev, run).await;
    let mut canonical_of: BTreeMap<String, Uuid> = BTreeMap::new();
    for m in &dev_mappings {
        assert_eq!(m["status"], "linked", "onboarded: {m}");
        let canonical: Uuid = m["canonical_id"]
            .as_str()
            .expect("canonical id")
            .parse()
            .expect("uuid");
        canonical_of.insert(
            m["n8n_workflow_id"].as_str().expect("id").to_string(),
            canonical,
        );
        let detail = w
            .ok(w
                .app
                .get(
                    &format!("/api/v1/canonical/workflows/{canonical}"),
                    &w.viewer,
                )
                .await)
            .await;
        let path = detail_git_path(&detail, dev);
        assert!(
            committed.contains(&path),
            "{path} is in the onboarding commit"
        );
        let file: Value = serde_json::from_str(&repo.show(&path)).expect("committed file is JSON");
        assert_eq!(
            file["name"], m["workflow_name"],
            "{path} holds the workflow"
        );
        assert!(
            file.get("id").is_none(),
            "{path}: portable JSON has no instance id"
        );
    }

    // 5. repository sync: every dev workflow linked, env hash = Git hash
    let job = w
        .accepted(
            w.app
                .post(
                    "/api/v1/canonical/sync-repo",
                    &w.developer,
                    json!({"environment_id": dev}),
                )
                .await,
        )
        .await;
    w.wait_job(job).await;
    assert_eq!(repo.commits().len(), 1, "a repository sync does not commit");
    assert_eq!(
        repo.files("dev"),
        committed,
        "the head holds the onboarded files"
    );
    let matrix = w.matrix(run).await;
    assert_eq!(
        matrix.len(),
        DEV_COUNT,
        "one matrix row per dev workflow: {matrix:#?}"
    );
    for (n8n_id, canonical) in &canonical_of {
        let cell = cell(&matrix, *canonical, dev);
        assert_eq!(cell["mapping_status"], "linked", "{cell}");
        assert_eq!(
            cell["n8n_workflow_id"].as_str(),
            Some(n8n_id.as_str()),
            "{cell}"
        );
        assert!(cell["env_content_hash"].is_string(), "{cell}");
        assert_eq!(cell["env_content_hash"], cell["git_content_hash"], "{cell}");
        assert_eq!(
            cell["git_commit_sha"].as_str(),
            Some(commits[0].as_str()),
            "{cell}"
        );
        assert_eq!(cell["diff_status"], "unchanged", "{cell}");
    }
    let committed_hash: BTreeMap<Uuid, Value> = canonical_of
        .values()
        .map(|c| (*c, cell(&matrix, *c, dev)["git_content_hash"].clone()))
        .collect();

    // 6. sync prod: the shared workflows auto-link by hash to dev's canonical ids, the rest stay
    //    untracked; then prod is onboarded, which commits only those into workflows/prod/
    let job = w
        .accepted(
            w.app
                .post(
                    &format!("/api/v1/environments/{prod}/sync"),
                    &w.developer,
                    json!({}),
                )
                .await,
        )
        .await;
    w.wait_job(job).await;
    let prod_mappings = w.mappings(prod, run).await;
    let by_id: BTreeMap<&str, &Value> = prod_mappings
        .iter()
        .map(|m| (m["n8n_workflow_id"].as_str().expect("id"), m))
        .collect();
    for (dev_id, prod_id) in dev_ids.iter().zip(&prod_shared) {
        let m = by_id
            .get(prod_id.as_str())
            .unwrap_or_else(|| panic!("prod {prod_id} synced"));
        assert_eq!(
            m["status"], "linked",
            "same content as dev: linked by hash: {m}"
        );
        assert_eq!(
            m["canonical_id"].as_str().map(str::to_string),
            Some(canonical_of[dev_id].to_string()),
            "prod {prod_id} links to dev {dev_id}'s canonical workflow"
        );
    }
    let untracked = w
        .list(&format!(
            "/api/v1/canonical/untracked?environment_id={prod}&page_size=200"
        ))
        .await;
    let untracked_ids: BTreeSet<String> = untracked
        .iter()
        .filter_map(|m| m["n8n_workflow_id"].as_str().map(str::to_string))
        .collect();
    for id in &prod_only {
        assert_eq!(by_id[id.as_str()]["status"], "untracked", "prod-only {id}");
        assert!(
            untracked_ids.contains(id),
            "prod-only {id} is in the untracked list"
        );
    }
    for id in &prod_shared {
        assert!(
            !untracked_ids.contains(id),
            "linked {id} is not in the untracked list"
        );
    }
    let matrix = w.matrix(run).await;
    assert_eq!(
        matrix.len(),
        DEV_COUNT,
        "prod-only workflows are untracked, not rows: {matrix:#?}"
    );
    for (dev_id, prod_id) in dev_ids.iter().zip(&prod_shared) {
        let c = cell(&matrix, canonical_of[dev_id], prod);
        assert_eq!(c["mapping_status"], "linked", "{c}");
        assert_eq!(c["n8n_workflow_id"].as_str(), Some(prod_id.as_str()), "{c}");
        let d = cell(&matrix, canonical_of[dev_id], dev);
        assert_eq!(
            c["env_content_hash"], d["env_content_hash"],
            "same content in dev and prod"
        );
    }

    let job = w
        .accepted(
            w.app
                .post(
                    "/api/v1/canonical/onboard/inventory",
                    &w.admin,
                    json!({"environment_id": prod}),
                )
                .await,
        )
        .await;
    w.wait_job(job).await;
    let commits_after_prod = repo.commits();
    assert_eq!(
        commits_after_prod.len(),
        2,
        "prod's onboarding is one more commit"
    );
    let prod_files = repo.files_in_commit(&commits_after_prod[0]);
    assert!(
        prod_files.iter().all(|p| p.starts_with("workflows/prod/")),
        "{prod_files:?}"
    );
    assert_eq!(repo.files("prod"), prod_files, "{prod_files:?}");
    assert_eq!(
        repo.files("dev"),
        committed,
        "prod's onboarding leaves dev's folder alone"
    );
    let completion = w
        .ok(w
            .app
            .get(
                &format!("/api/v1/canonical/onboard/completion?environment_id={prod}"),
                &w.viewer,
            )
            .await)
        .await;
    check_completion(&completion, w.instances.exclusive);
    assert_eq!(
        prod_files.len() as i64,
        completion["linked"].as_i64().unwrap_or(-1),
        "prod's commit holds every linked prod workflow, shared ones included: {prod_files:?}"
    );
    let matrix = w.matrix(run).await;
    for (dev_id, prod_id) in dev_ids.iter().zip(&prod_shared) {
        let canonical = canonical_of[dev_id];
        let c = cell(&matrix, canonical, prod);
        assert_eq!(c["git_content_hash"], c["env_content_hash"], "{c}");
        assert_eq!(c["diff_status"], "unchanged", "{c}");
        let detail = w
            .ok(w
                .app
                .get(
                    &format!("/api/v1/canonical/workflows/{canonical}"),
                    &w.viewer,
                )
                .await)
            .await;
        let path = detail_git_path(&detail, prod);
        assert!(
            prod_files.contains(&path),
            "prod {prod_id}: {path} in {prod_files:?}"
        );
        assert_eq!(
            path.rsplit('/').next(),
            detail_git_path(&detail, dev).rsplit('/').next(),
            "one canonical workflow, one file name in every folder"
        );
    }
    for id in &prod_only {
        let m = w.mapping(prod, id).await;
        assert_eq!(m["status"], "linked", "prod-only {id} onboarded: {m}");
        let canonical = m["canonical_id"].as_str().expect("canonical");
        assert!(
            !canonical_of.values().any(|c| c.to_string() == canonical),
            "a prod-only workflow gets a canonical workflow of its own"
        );
    }

    // 7. change a node parameter in dev n8n, sync dev: modified against Git, with its node diff
    let changed_id = &dev_ids[0];
    let mut doc = w.instances.dev.get(changed_id).await;
    let (node_name, key) =
        harness::changeable_parameter(&doc).expect("the fixture has a string parameter");
    let nodes = doc["nodes"].as_array_mut().expect("nodes");
    let node = nodes
        .iter_mut()
        .find(|n| n["name"] == node_name.as_str())
        .expect("node");
    let old_value = node["parameters"][&key].clone();
    let new_value = format!(
        "{} (changed by e2e {run})",
        old_value.as_str().unwrap_or_default()
    );
    node["parameters"][&key] = Value::String(new_value.clone());
    w.instances.dev.update(changed_id, &doc).await;

    let job = w
        .accepted(
            w.app
                .post(
                    &format!("/api/v1/environments/{dev}/sync"),
                    &w.developer,
                    json!({}),
                )
                .await,
        )
        .await;
    let done = w.wait_job(job).await;
    assert!(
        done["result"]["updated"].as_i64().unwrap_or(0) >= 1,
        "{:#}",
        done["result"]
    );
    let canonical = canonical_of[changed_id];
    let matrix = w.matrix(run).await;
    let c = cell(&matrix, canonical, dev);
    // Against its own Git folder, dev now differs. dev is edited live in n8n (n8n is its source
    // of truth), so an edit after the commit is `modified`, not a hotfix
    // (docs/decisions/reconciliation.md).
    assert_eq!(
        c["diff_status"], "modified",
        "changed in n8n, not in Git: {c}"
    );
    assert_ne!(c["env_content_hash"], c["git_content_hash"], "{c}");
    assert_eq!(
        c["git_content_hash"], committed_hash[&canonical],
        "Git still holds the committed version"
    );
    for (n8n_id, other) in &canonical_of {
        if n8n_id != changed_id {
            assert_eq!(
                cell(&matrix, *other, dev)["diff_status"],
                "unchanged",
                "{n8n_id}"
            );
        }
    }
    let filtered = w
        .matrix_query(&format!(
            "search={}&diff_status=modified&environment_id={dev}",
            harness::encode(run)
        ))
        .await;
    assert_eq!(
        filtered
            .iter()
            .map(|r| r["canonical_id"].clone())
            .collect::<Vec<_>>(),
        vec![json!(canonical.to_string())],
        "the diff_status filter finds exactly the changed workflow"
    );
    // dev → prod (prod still holds the onboarded version, equal to dev's Git): a pending
    // change to promote, `modified`, in the workflow's detail
    let detail = w
        .ok(w
            .app
            .get(&format!("/api/v1/workflows/{canonical}"), &w.viewer)
            .await)
        .await;
    let pair = detail["diff_states"]
        .as_array()
        .and_then(|states| {
            states.iter().find(|d| {
                d["source_environment_id"] == dev.to_string()
                    && d["target_environment_id"] == prod.to_string()
            })
        })
        .unwrap_or_else(|| panic!("a dev → prod diff state in {detail:#}"));
    assert_eq!(pair["diff_status"], "modified", "{pair}");

    let diff = w
        .ok(w
            .app
            .get(
                &format!("/api/v1/workflows/{canonical}/diff?from=git:{dev}&to=env:{dev}"),
                &w.viewer,
            )
            .await)
        .await;
    let diff = diff.get("diff").unwrap_or(&diff);
    assert_eq!(diff["content_changed"], true, "{diff:#}");
    let modified_nodes = diff["nodes"]["modified"]
        .as_array()
        .expect("modified nodes");
    assert_eq!(
        modified_nodes.len(),
        1,
        "exactly one node changed: {diff:#}"
    );
    assert_eq!(modified_nodes[0]["name"], node_name.as_str(), "{diff:#}");
    let changes = modified_nodes[0]["changes"].as_array().expect("changes");
    let pointer = format!("/parameters/{}", key.replace('~', "~0").replace('/', "~1"));
    assert_eq!(changes.len(), 1, "{diff:#}");
    assert_eq!(changes[0]["path"], pointer.as_str(), "{diff:#}");
    assert_eq!(changes[0]["kind"], "modified", "{diff:#}");
    assert_eq!(changes[0]["old"], old_value, "{diff:#}");
    assert_eq!(changes[0]["new"], new_value.as_str(), "{diff:#}");
    assert!(
        diff["nodes"]["added"].as_array().is_some_and(Vec::is_empty),
        "{diff:#}"
    );
    assert!(
        diff["nodes"]["removed"]
            .as_array()
            .is_some_and(Vec::is_empty),
        "{diff:#}"
    );
}

/// Onboarding completion: every linked workflow committed, nothing left untracked. On a
/// shared instance (`exclusive` false) workflows of others that WorkflowOps can not parse stay
/// untracked and keep `complete` false; nothing else may.
fn check_completion(completion: &Value, exclusive: bool) {
    let count = |k: &str| completion[k].as_i64().unwrap_or(-1);
    assert_eq!(count("uncommitted"), 0, "{completion:#}");
    assert_eq!(count("committed"), count("linked"), "{completion:#}");
    if exclusive {
        assert_eq!(completion["complete"], true, "{completion:#}");
        assert_eq!(count("untracked"), 0, "{completion:#}");
    } else {
        assert_eq!(
            count("untracked"),
            count("unparseable"),
            "only unparseable workflows stay untracked: {completion:#}"
        );
        assert_eq!(
            completion["complete"],
            count("untracked") == 0,
            "{completion:#}"
        );
    }
}

/// Progress and completion arrived on the job's stream, in order, with increasing ids.
fn check_events(events: &[SseEvent], job: Uuid) {
    let kinds: Vec<&str> = events.iter().map(|e| e.event.as_str()).collect();
    assert!(
        kinds.contains(&"progress"),
        "the stream delivers progress: {kinds:?}"
    );
    assert_eq!(
        kinds.last(),
        Some(&"completed"),
        "the stream ends with completion: {kinds:?}"
    );
    let ids: Vec<i64> = events
        .iter()
        .map(|e| {
            e.id.as_deref()
                .and_then(|i| i.parse().ok())
                .expect("every event has a numeric id")
        })
        .collect();
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "event ids increase: {ids:?}"
    );
    for e in events {
        assert_eq!(e.data["job_id"], job.to_string(), "{e:?}");
    }
    let progress = events
        .iter()
        .find(|e| e.event == "progress")
        .expect("progress");
    assert!(
        progress.data["data"]["total"].is_number(),
        "progress has a total: {progress:?}"
    );
}

fn is_final(e: &SseEvent) -> bool {
    matches!(e.event.as_str(), "completed" | "failed" | "cancelled")
}

/// The Git path of a canonical workflow's state in `env`'s folder, from its detail.
fn detail_git_path(detail: &Value, env: Uuid) -> String {
    let states = detail["git_states"]
        .as_array()
        .unwrap_or_else(|| panic!("git_states in {detail:#}"));
    states
        .iter()
        .find(|s| s["environment_id"] == env.to_string())
        .and_then(|s| s["git_path"].as_str())
        .unwrap_or_else(|| panic!("a Git state for {env} in {detail:#}"))
        .to_string()
}

/// `row.cells[env]` of canonical workflow `canonical` in a matrix page.
fn cell(rows: &[Value], canonical: Uuid, env: Uuid) -> Value {
    let row = rows
        .iter()
        .find(|r| r["canonical_id"] == canonical.to_string())
        .unwrap_or_else(|| panic!("matrix row for {canonical} in {rows:#?}"));
    row["cells"]
        .as_array()
        .and_then(|cells| {
            cells
                .iter()
                .find(|c| c["environment_id"] == env.to_string())
        })
        .cloned()
        .unwrap_or_else(|| panic!("cell for environment {env} in {row:#}"))
}

fn mapped_ids(mappings: &[Value]) -> BTreeSet<String> {
    mappings
        .iter()
        .filter_map(|m| m["n8n_workflow_id"].as_str().map(str::to_string))
        .collect()
}
