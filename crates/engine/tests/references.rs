//! Sub-workflow references through environment sync and reconciliation: a caller and its
//! copy in another instance (other ids, same canonical callee) converge to one hash whatever
//! the order in which callers and callees are synced and linked.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::harness;
use serde_json::{json, Value};
use uuid::Uuid;
use wfops_canonical::MappingStatus;
use wfops_db::ScopedFutureExt;
use wfops_engine::env_sync::{self, EnvSyncReport};
use wfops_engine::references::Resolver;
use wfops_engine::{reconcile, Checkpoint, NoProgress};
use wfops_fake_n8n::FakeN8n;

async fn sync(h: &common::Harness, env: Uuid) -> EnvSyncReport {
    env_sync::run(&h.ctx, h.tenant, env, &NoProgress, &Checkpoint::none())
        .await
        .expect("sync")
}

fn callee() -> Value {
    json!({"name": "Enrich customer", "connections": {}, "settings": {"executionOrder": "v1"},
           "nodes": [{"name": "Start", "type": "n8n-nodes-base.executeWorkflowTrigger",
                      "typeVersion": 1, "position": [0, 0], "parameters": {}}]})
}

fn caller(callee_id: &str) -> Value {
    json!({"name": "Orders", "connections": {}, "settings": {"executionOrder": "v1"},
           "nodes": [{"name": "Enrich", "type": "n8n-nodes-base.executeWorkflow",
                      "typeVersion": 1.2, "position": [0, 0],
                      "parameters": {"workflowId": {"__rl": true, "mode": "list",
                                                    "value": callee_id,
                                                    "cachedResultName": "Enrich customer",
                                                    "cachedResultUrl": format!("/workflow/{callee_id}")}}}]})
}

/// An instance holding the callee and a caller of it; returns (fake, callee id, caller id).
fn instance() -> (FakeN8n, String, String) {
    let fake = FakeN8n::start().unwrap();
    let callee_id = fake.seed_workflow(&callee()).unwrap();
    let caller_id = fake.seed_workflow(&caller(&callee_id)).unwrap();
    (fake, callee_id, caller_id)
}

#[tokio::test]
async fn a_caller_synced_before_its_callee_is_linked_converges_to_the_promoted_hash() {
    let h = harness().await;
    let (dev_fake, dev_callee, dev_caller) = instance();
    let (prod_fake, prod_callee, prod_caller) = instance();
    assert_ne!(dev_callee, prod_callee, "the instances' ids differ");
    let dev = h.environment("dev", "dev", &dev_fake).await;
    let prod = h.environment("prod", "production", &prod_fake).await;

    // Onboarding gives the callee a canonical id and registers its hash; dev's sync links it.
    let callee_doc = dev_fake.workflow(&dev_callee).unwrap().unwrap();
    let callee_canonical = h.register_canonical("enrich", &callee_doc).await;
    sync(&h, dev).await;
    let rows = h.mapping_map(dev).await;
    assert_eq!(rows[&dev_callee].canonical_id, Some(callee_canonical));
    // The caller's stored hash names the canonical callee once it is linked (converged by the
    // reconciliation that ends the sync, whatever order the listing had).
    let resolved = Resolver::from_mappings([(dev, dev_callee.clone(), callee_canonical)]);
    let dev_doc = dev_fake.workflow(&dev_caller).unwrap().unwrap();
    let caller_hash = wfops_diff::content_hash_value_resolving(&dev_doc, &resolved.for_env(dev))
        .unwrap()
        .to_hex();
    let raw_hash = wfops_diff::content_hash_value(&dev_doc).unwrap().to_hex();
    assert_ne!(caller_hash, raw_hash);
    assert_eq!(
        rows[&dev_caller].env_content_hash.as_deref(),
        Some(caller_hash.as_str())
    );

    // The caller is onboarded in turn: registered under its resolved hash and payload.
    let payload = wfops_diff::normalized_value_resolving(&dev_doc, &resolved.for_env(dev)).unwrap();
    let caller_canonical = h
        .register_canonical_with_payload("orders", &caller_hash, payload)
        .await;
    sync(&h, dev).await;
    assert_eq!(
        h.mapping_map(dev).await[&dev_caller].canonical_id,
        Some(caller_canonical)
    );

    // Production: the caller and the callee are untracked; the page is hashed before either
    // is linked, so the caller first hashes with its raw production id. The callee links by
    // hash, then convergence re-hashes the caller, which now resolves and links too.
    let report = sync(&h, prod).await;
    let rows = h.mapping_map(prod).await;
    assert_eq!(rows[&prod_callee].canonical_id, Some(callee_canonical));
    assert_eq!(
        rows[&prod_caller].status,
        MappingStatus::Linked,
        "{report:?}"
    );
    assert_eq!(rows[&prod_caller].canonical_id, Some(caller_canonical));
    assert_eq!(
        rows[&prod_caller].env_content_hash.as_deref(),
        Some(caller_hash.as_str()),
        "the copy with production's ids hashes like dev's caller"
    );
    let rec = report.reconcile.unwrap();
    assert!(rec.converged.env_rehashed >= 1, "{rec:?}");
    // dev → prod: both workflows unchanged
    assert_eq!(rec.by_status.get("unchanged"), Some(&2), "{rec:?}");

    // A second sync changes nothing: the hashes are stable.
    let again = sync(&h, prod).await;
    assert_eq!(again.unchanged, 2, "{again:?}");
    assert_eq!(again.reconcile.unwrap().converged.env_rehashed, 0);

    // Production's caller now calls another workflow: a content change against dev.
    let other = prod_fake
        .seed_workflow(&json!({"name": "Other", "connections": {},
        "nodes": [{"name": "S", "type": "n8n-nodes-base.manualTrigger", "parameters": {}}]}))
        .unwrap();
    let other_canonical = h
        .register_canonical("other", &prod_fake.workflow(&other).unwrap().unwrap())
        .await;
    prod_fake
        .replace_content(&prod_caller, &caller(&other), true)
        .unwrap();
    let report = sync(&h, prod).await;
    let rows = h.mapping_map(prod).await;
    assert_eq!(rows[&other].canonical_id, Some(other_canonical));
    assert_ne!(
        rows[&prod_caller].env_content_hash.as_deref(),
        Some(caller_hash.as_str())
    );
    let rec = report.reconcile.unwrap();
    assert_eq!(rec.by_status.get("unchanged"), Some(&1), "{rec:?}");
}

#[tokio::test]
async fn reconciliation_re_hashes_stored_documents_when_the_hash_rules_version_is_behind() {
    let h = harness().await;
    let (fake, callee_id, caller_id) = instance();
    let env = h.environment("dev", "dev", &fake).await;
    sync(&h, env).await;
    let tenant = h.tenant;
    let version = |h: &common::Harness| {
        let db = h.ctx.db.clone();
        async move {
            db.tenant_tx(tenant, |conn| {
                async move { wfops_db::rehash::rules_version(conn).await }.scope_boxed()
            })
            .await
            .unwrap()
        }
    };
    assert_eq!(version(&h).await, wfops_diff::HASH_RULES_VERSION);
    let good = h.mapping_map(env).await[&caller_id]
        .env_content_hash
        .clone();

    // A tenant from before versioning: no version row, and hashes by the old rules (the
    // locator's cached name and URL were hashed). Stand in for them with a stale value.
    h.test_db
        .admin_execute(&format!(
            "DELETE FROM hash_rules_state WHERE tenant_id = '{tenant}';
             UPDATE workflow_env_map SET env_content_hash = repeat('a', 64)
              WHERE tenant_id = '{tenant}'"
        ))
        .await
        .unwrap();
    let report = reconcile::run(&h.ctx, tenant).await.unwrap();
    assert_eq!(report.converged.rules_migrated_from, Some(0), "{report:?}");
    // every stored document was re-hashed, callers and others alike
    assert_eq!(report.converged.env_rehashed, 2, "{report:?}");
    let rows = h.mapping_map(env).await;
    assert_eq!(rows[&caller_id].env_content_hash, good);
    let callee_hash = wfops_diff::content_hash_value(&fake.workflow(&callee_id).unwrap().unwrap())
        .unwrap()
        .to_hex();
    assert_eq!(
        rows[&callee_id].env_content_hash.as_deref(),
        Some(callee_hash.as_str())
    );
    assert_eq!(version(&h).await, wfops_diff::HASH_RULES_VERSION);
    // once current, a reconciliation re-hashes only what references resolve through
    let report = reconcile::run(&h.ctx, tenant).await.unwrap();
    assert_eq!(report.converged, Default::default());
}
