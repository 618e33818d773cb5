//! Promotion end to end through the HTTP API (docs/promotion.md), written once and run against
//! fake and real n8n (see `main.rs`): a promotion of several workflows with a credential
//! mapping and an environment variable succeeds and Git holds the promoted files; a promotion
//! whose third write n8n refuses leaves the target exactly as it was, verified by hash; a
//! snapshot restore brings back an earlier state, verified by hash.
//!
//! The target is an instance only this test uses (`Instances::real_scratch` on real n8n): a
//! snapshot restore makes the whole environment as it was, deleting what was created after the
//! snapshot, so it must not run where other tests' workflows live. The test empties it first.

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::time::Duration;

use futures::FutureExt;
use serde_json::{json, Value};
use uuid::Uuid;
use wfops_n8n::{list_all_workflows, ListWorkflows};

use crate::harness::{self, GitRepo, Instance, Instances};
use crate::world::World;

/// Runs the walkthrough and always deletes what it created in n8n.
pub async fn walkthrough(instances: Instances) {
    assert!(
        instances.exclusive,
        "the promotion walkthrough restores whole environments: its target must be exclusive"
    );
    let run = harness::run_id();
    eprintln!(
        "promotion walkthrough against {} n8n, run {run}",
        instances.label
    );
    empty(&instances.prod).await;
    let world = World::start(instances).await;
    let outcome = AssertUnwindSafe(steps(&world, &run)).catch_unwind().await;
    let dev_ids: Vec<String> = ids_named(&world.instances.dev, &run)
        .await
        .into_keys()
        .collect();
    let failures = world.instances.dev.delete_all(&dev_ids).await;
    empty(&world.instances.prod).await;
    world.stop().await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
    assert!(failures.is_empty(), "cleanup of dev failed: {failures:?}");
}

/// Deletes every workflow of an instance this test owns entirely.
async fn empty(instance: &Instance) {
    let all = list_all_workflows(&instance.client, ListWorkflows::default())
        .await
        .expect("list the target");
    let ids: Vec<String> = all.iter().map(|w| w.id().to_owned()).collect();
    let failures = instance.delete_all(&ids).await;
    assert!(
        failures.is_empty(),
        "emptying the target failed: {failures:?}"
    );
}

/// n8n id → (name, content hash) of the instance's workflows whose name contains `needle`.
async fn ids_named(instance: &Instance, needle: &str) -> BTreeMap<String, (String, String)> {
    let all = list_all_workflows(&instance.client, ListWorkflows::default())
        .await
        .expect("list workflows");
    all.iter()
        .filter(|w| w.name().unwrap_or_default().contains(needle))
        .map(|w| {
            let hash = wfops_diff::content_hash_value(w.raw())
                .expect("hashable")
                .to_hex();
            (
                w.id().to_owned(),
                (w.name().unwrap_or_default().to_owned(), hash),
            )
        })
        .collect()
}

/// The target's whole state: n8n id → content hash.
async fn state(instance: &Instance) -> BTreeMap<String, String> {
    ids_named(instance, "")
        .await
        .into_iter()
        .map(|(id, (_, hash))| (id, hash))
        .collect()
}

fn workflow(name: String, i: usize) -> Value {
    let mut doc = wfops_fake_n8n::generated_workflow(i);
    doc["name"] = json!(name);
    doc
}

/// `POST /promotions` as the admin, then waits for its deployment's job; the promotion.
async fn promote(w: &World, body: Value) -> Value {
    let resp = w.app.post("/api/v1/promotions", &w.admin, body).await;
    assert_eq!(resp.status, 201, "{}", resp.text);
    let promotion = resp.json()["data"].clone();
    let job: Uuid = promotion["deployments"][0]["job_id"]
        .as_str()
        .unwrap_or_else(|| panic!("the deployment has a job: {promotion:#}"))
        .parse()
        .expect("uuid");
    wait_job_end(w, job).await;
    let id = promotion["id"].as_str().expect("id");
    w.ok(w
        .app
        .get(&format!("/api/v1/promotions/{id}"), &w.viewer)
        .await)
        .await
}

/// Waits until a job leaves pending/running, whatever its outcome (a rolled-back promotion's
/// job completes; its promotion says what happened).
async fn wait_job_end(w: &World, id: Uuid) {
    let deadline = tokio::time::Instant::now() + crate::scenario::JOB_TIMEOUT;
    loop {
        let job = w
            .ok(w.app.get(&format!("/api/v1/jobs/{id}"), &w.viewer).await)
            .await;
        if !matches!(job["status"].as_str(), Some("pending" | "running")) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "job {id} still unfinished: {job:#}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Syncs dev and commits its untracked workflows to Git, which links them to canonical
/// workflows (what a promotion selects).
async fn sync_and_onboard(w: &World, dev: Uuid) {
    let job = w
        .accepted(
            w.app
                .post(
                    &format!("/api/v1/environments/{dev}/sync"),
                    &w.admin,
                    json!({}),
                )
                .await,
        )
        .await;
    w.wait_job(job).await;
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
}

async fn steps(w: &World, run: &str) {
    let repo = GitRepo::new();
    let dev_n8n = &w.instances.dev;
    let prod_n8n = &w.instances.prod;
    let dev = w
        .create_environment(&format!("dev {run}"), "dev", dev_n8n, &repo, "dev")
        .await;
    let prod = w
        .create_environment(
            &format!("prod {run}"),
            "production",
            prod_n8n,
            &repo,
            "prod",
        )
        .await;

    // dev: a workflow with a credential, one with a placeholder, a plain one
    let mut with_credential = workflow(format!("{run} credential"), 1);
    with_credential["nodes"][0]["credentials"] =
        json!({"httpHeaderAuth": {"id": "devcred01", "name": "api dev"}});
    let mut with_placeholder = workflow(format!("{run} placeholder"), 2);
    with_placeholder["nodes"][1]["parameters"]["assignments"]["assignments"][0]["value"] =
        json!("https://{{env.API_HOST}}/v1");
    let plain = workflow(format!("{run} plain"), 3);
    for doc in [&with_credential, &with_placeholder, &plain] {
        dev_n8n.create(doc).await;
    }
    sync_and_onboard(w, dev).await;
    let canonical: BTreeMap<String, Uuid> = w
        .mappings(dev, run)
        .await
        .into_iter()
        .map(|m| {
            (
                m["workflow_name"].as_str().unwrap_or_default().to_owned(),
                m["canonical_id"]
                    .as_str()
                    .unwrap_or_else(|| panic!("linked: {m}"))
                    .parse()
                    .expect("uuid"),
            )
        })
        .collect();
    assert_eq!(canonical.len(), 3, "{canonical:?}");
    let selection: Vec<Uuid> = canonical.values().copied().collect();

    // the configuration a promotion needs: a pipeline, a credential mapping, a variable
    let resp = w
        .app
        .post(
            "/api/v1/pipelines",
            &w.admin,
            json!({"name": format!("pipeline {run}"), "stages": [{
                "name": "dev-to-prod", "source_environment_id": dev,
                "target_environment_id": prod, "gates": {}}]}),
        )
        .await;
    assert_eq!(resp.status, 201, "{}", resp.text);
    let pipeline = resp.json()["data"]["id"].clone();
    let resp = w
        .app
        .call(
            reqwest::Method::PUT,
            "/api/v1/credential-mappings",
            Some(&w.admin),
            Some(json!({
                "source_environment_id": dev, "target_environment_id": prod,
                "credential_type": "httpHeaderAuth", "source_credential_id": "devcred01",
                "source_credential_name": "api dev", "target_credential_id": "prodcred09",
                "target_credential_name": "api prod"})),
        )
        .await;
    assert!(resp.status.is_success(), "{}", resp.text);
    let resp = w
        .app
        .call(
            reqwest::Method::PUT,
            &format!("/api/v1/environments/{prod}/variables/API_HOST"),
            Some(&w.admin),
            Some(json!({"value": "api.prod.example"})),
        )
        .await;
    assert!(resp.status.is_success(), "{}", resp.text);

    // the pre-flight passes
    let verdict = w
        .ok(w
            .app
            .post(
                "/api/v1/promotions/validate",
                &w.developer,
                json!({"pipeline_id": pipeline, "source_environment_id": dev,
                       "target_environment_id": prod, "workflow_ids": selection}),
            )
            .await)
        .await;
    assert_eq!(verdict["allowed"], true, "{verdict:#}");

    // 1. a promotion of the three succeeds
    let promotion = promote(
        w,
        json!({"pipeline_id": pipeline, "source_environment_id": dev,
               "target_environment_id": prod, "workflow_ids": selection}),
    )
    .await;
    assert_eq!(promotion["status"], "completed", "{promotion:#}");
    let promoted = ids_named(prod_n8n, run).await;
    assert_eq!(promoted.len(), 3, "{promoted:?}");
    let sources = ids_named(dev_n8n, run).await;
    for (id, (name, hash)) in &promoted {
        let doc = prod_n8n.get(id).await;
        let (_, source_hash) = sources
            .values()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("{name} has a source"));
        if name.ends_with("credential") {
            // the credential is the target's now (the hash compares credentials by name)
            let cred = &doc["nodes"][0]["credentials"]["httpHeaderAuth"];
            assert_eq!(cred["id"], "prodcred09", "{doc:#}");
            assert_eq!(cred["name"], "api prod", "{doc:#}");
        } else if name.ends_with("placeholder") {
            let value = &doc["nodes"][1]["parameters"]["assignments"]["assignments"][0]["value"];
            assert_eq!(value, "https://api.prod.example/v1", "{doc:#}");
        } else {
            assert_eq!(hash, source_hash, "{name}: promoted as it is in dev");
        }
    }
    // Git holds the promoted files in the target's folder
    let files = repo.files("prod");
    assert_eq!(files.len(), 3, "{files:?}");
    let after_first = state(prod_n8n).await;
    let post_snapshot = promotion["target_post_snapshot_id"]
        .as_str()
        .unwrap_or_else(|| panic!("a post-promotion snapshot: {promotion:#}"))
        .to_owned();

    // 2. a promotion whose third write n8n refuses (a name too long once the placeholder is
    // substituted) leaves prod exactly as it was
    let resp = w
        .app
        .call(
            reqwest::Method::PUT,
            &format!("/api/v1/environments/{prod}/variables/LONG"),
            Some(&w.admin),
            Some(json!({"value": "x".repeat(200)})),
        )
        .await;
    assert!(resp.status.is_success(), "{}", resp.text);
    for (i, suffix) in ["fail a", "fail b", "fail c {{env.LONG}}"]
        .iter()
        .enumerate()
    {
        dev_n8n
            .create(&workflow(format!("{run} {suffix}"), 10 + i))
            .await;
    }
    sync_and_onboard(w, dev).await;
    let failing: Vec<Uuid> = w
        .mappings(dev, &format!("{run} fail"))
        .await
        .into_iter()
        .map(|m| {
            m["canonical_id"]
                .as_str()
                .expect("linked")
                .parse()
                .expect("uuid")
        })
        .collect();
    assert_eq!(failing.len(), 3);
    let promotion = promote(
        w,
        json!({"pipeline_id": pipeline, "source_environment_id": dev,
               "target_environment_id": prod, "workflow_ids": failing}),
    )
    .await;
    assert_eq!(promotion["status"], "rolled_back", "{promotion:#}");
    assert_eq!(
        state(prod_n8n).await,
        after_first,
        "prod is exactly as before the failed promotion"
    );

    // 3. a hotfix straight in prod, then a restore of the snapshot taken after the first
    // promotion brings prod back to that state
    let (hotfix_id, _) = promoted
        .iter()
        .find(|(_, (name, _))| name.ends_with("plain"))
        .expect("the plain workflow in prod");
    let mut doc = prod_n8n.get(hotfix_id).await;
    doc["nodes"][1]["parameters"]["assignments"]["assignments"][0]["value"] = json!("hotfix");
    prod_n8n.update(hotfix_id, &doc).await;
    prod_n8n
        .create(&workflow(format!("{run} created later"), 20))
        .await;
    assert_ne!(state(prod_n8n).await, after_first);
    let resp = w
        .app
        .post(
            &format!("/api/v1/snapshots/{post_snapshot}/restore"),
            &w.admin,
            json!({}),
        )
        .await;
    assert_eq!(resp.status, 202, "{}", resp.text);
    let body = resp.json()["data"].clone();
    let job: Uuid = body["job_id"]
        .as_str()
        .unwrap_or_else(|| panic!("a restore job: {body:#}"))
        .parse()
        .expect("uuid");
    w.wait_job(job).await;
    let restored = state(prod_n8n).await;
    let restored_hashes: Vec<&String> = restored.values().collect();
    let expected_hashes: Vec<&String> = after_first.values().collect();
    let mut a = restored_hashes.clone();
    let mut b = expected_hashes.clone();
    a.sort();
    b.sort();
    assert_eq!(a, b, "prod has the snapshot's workflows, verified by hash");
}
