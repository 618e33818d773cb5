//! Reconciliation over a database filled by environment syncs.

// Test code: a failed unwrap or expect is the test's failure message (clippy.toml allows them
// in tests, but not yet in the helpers of integration tests).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{fake_with_fixtures, harness};
use serde_json::json;
use wfops_db::diff_state;
use wfops_db::ScopedFutureExt;
use wfops_engine::{env_sync, reconcile, Checkpoint, NoProgress};

#[tokio::test]
async fn statuses_are_stored_per_pair_and_against_git_and_replaced_on_each_run() {
    let h = harness().await;
    let (dev_fake, dev_ids) = fake_with_fixtures(3);
    let (prod_fake, prod_ids) = fake_with_fixtures(3);
    let dev = h.environment("dev", "dev", &dev_fake).await;
    let prod = h.environment("prod", "production", &prod_fake).await;
    // canonical workflows registered from dev's copies (as onboarding would)
    let mut canonical = Vec::new();
    for (i, id) in dev_ids.iter().enumerate() {
        let doc = dev_fake.workflow(id).unwrap().unwrap();
        canonical.push(h.register_canonical(&format!("wf-{i}"), &doc).await);
    }
    // dev's folder in Git holds each workflow as committed an hour ago
    for (i, id) in dev_ids.iter().enumerate() {
        let doc = dev_fake.workflow(id).unwrap().unwrap();
        let hash = wfops_diff::content_hash_value(&doc).unwrap().to_hex();
        h.test_db
            .admin_execute(&format!(
                "INSERT INTO canonical_workflow_git_state \
                   (tenant_id, canonical_id, environment_id, git_content_hash, git_path, git_commit_time) \
                 VALUES ('{}', '{}', '{dev}', '{hash}', 'workflows/dev/wf-{i}.json', now() - interval '1 hour')",
                h.tenant, canonical[i]
            ))
            .await
            .unwrap();
    }
    for env in [dev, prod] {
        env_sync::run(&h.ctx, h.tenant, env, &NoProgress, &Checkpoint::none())
            .await
            .unwrap();
    }
    // a hotfix in prod: edited after dev's commit
    let mut doc = prod_fake.workflow(&prod_ids[1]).unwrap().unwrap();
    doc["nodes"][0]["parameters"]["hotfix"] = json!(true);
    prod_fake.replace_content(&prod_ids[1], &doc, true).unwrap();
    let report = env_sync::run(&h.ctx, h.tenant, prod, &NoProgress, &Checkpoint::none())
        .await
        .unwrap();
    assert_eq!(report.updated, 1);

    let rows = h
        .ctx
        .db
        .tenant_tx(h.tenant, |conn| {
            async move { diff_state::list_all(conn).await }.scope_boxed()
        })
        .await
        .unwrap();
    let status = |c: uuid::Uuid, s: uuid::Uuid, t: Option<uuid::Uuid>| {
        rows.iter()
            .find(|r| {
                r.canonical_id == c && r.source_environment_id == s && r.target_environment_id == t
            })
            .map(|r| r.diff_status.as_str())
    };
    for (i, &c) in canonical.iter().enumerate() {
        let expected_pair = if i == 1 { "target_hotfix" } else { "unchanged" };
        assert_eq!(
            status(c, dev, Some(prod)),
            Some(expected_pair),
            "workflow {i}"
        );
        assert_eq!(status(c, prod, Some(dev)), None, "no backwards pair");
        assert_eq!(
            status(c, dev, None),
            Some("unchanged"),
            "dev against its folder"
        );
        assert_eq!(
            status(c, prod, None),
            Some("target_only"),
            "prod has no folder of its own"
        );
    }
    assert_eq!(rows.len(), 9);

    // git_content_hash follows the mapping's own folder
    let dev_rows = h.mapping_map(dev).await;
    for m in dev_rows.values() {
        assert_eq!(
            m.git_content_hash, m.env_content_hash,
            "{}",
            m.n8n_workflow_id
        );
    }
    assert!(h
        .mapping_map(prod)
        .await
        .values()
        .all(|m| m.git_content_hash.is_none()));

    // running again replaces the rows (same count, no duplicates) and touches no mapping
    let before = h.mapping_map(dev).await;
    let again = reconcile::run(&h.ctx, h.tenant).await.unwrap();
    assert_eq!(again.rows, 9);
    assert_eq!(again.git_hashes_updated, 0);
    assert_eq!(again.by_status.get("target_hotfix"), Some(&1));
    let after = h.mapping_map(dev).await;
    for (id, m) in &before {
        assert_eq!(m.updated_at, after[id].updated_at);
    }
}
