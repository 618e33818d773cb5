//! Environment sync against a fake n8n and a real (test) database.

// Test code: a failed unwrap or expect is the test's failure message (clippy.toml allows them
// in tests, but not yet in the helpers of integration tests).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;

use common::{fake_with_fixtures, harness, harness_with, Recorded};
use serde_json::json;
use wfops_canonical::{MappingStatus, NoLinkReason};
use wfops_db::jobs;
use wfops_db::ScopedFutureExt;
use wfops_engine::env_sync::{self, EnvSyncReport};
use wfops_engine::{Checkpoint, EngineError, NoProgress};
use wfops_fake_n8n::{FakeN8n, Fault, Route};

async fn sync(h: &common::Harness, env: uuid::Uuid) -> EnvSyncReport {
    env_sync::run(&h.ctx, h.tenant, env, &NoProgress, &Checkpoint::none())
        .await
        .expect("sync")
}

#[tokio::test]
async fn cold_sync_records_every_fixture_untracked_with_its_hash() {
    let h = harness().await;
    let (fake, ids) = fake_with_fixtures(40);
    let env = h.environment("dev", "dev", &fake).await;
    let progress = Recorded::default();
    let report = env_sync::run(&h.ctx, h.tenant, env, &progress, &Checkpoint::none())
        .await
        .expect("sync");

    assert_eq!(report.fetched, 40);
    assert_eq!(report.created, 40);
    assert_eq!(
        (report.updated, report.unchanged, report.missing),
        (0, 0, 0)
    );
    assert_eq!(report.untracked, 40);
    assert!(report.reconcile.is_some());

    let rows = h.mapping_map(env).await;
    assert_eq!(rows.len(), 40);
    let mut unparseable = 0;
    for id in &ids {
        let row = &rows[id];
        let doc = fake.workflow(id).unwrap().unwrap();
        // some real exports repeat a node name, which crates/diff refuses to hash
        match wfops_diff::content_hash_value(&doc) {
            Ok(expected) => {
                assert_eq!(row.env_content_hash, Some(expected.to_hex()), "{id}");
                assert_eq!(row.parse_error, None);
            }
            Err(e) => {
                unparseable += 1;
                assert_eq!(row.env_content_hash, None, "{id}");
                assert_eq!(row.parse_error, Some(e.to_string()));
                assert!(report.errors.iter().any(|r| &r.n8n_workflow_id == id));
            }
        }
        assert_eq!(row.status, MappingStatus::Untracked);
        assert_eq!(row.canonical_id, None);
        assert_eq!(row.workflow_name.as_deref(), doc["name"].as_str());
        assert_eq!(row.n8n_version_id.as_deref(), doc["versionId"].as_str());
        assert_eq!(row.workflow_data.as_ref().unwrap()["nodes"], doc["nodes"]);
        assert!(row.n8n_updated_at.is_some());
    }
    assert_eq!(report.error_count, unparseable);
    assert!(h.environment_row(env).await.last_sync_at.is_some());

    let reports = progress.0.lock().unwrap();
    assert!(reports.len() >= 2, "{reports:?}");
    assert_eq!(reports[0].0, 0, "starts at 0: {reports:?}");
    assert!(
        reports[0].1 >= 1,
        "a total, so the first report is not 100%: {reports:?}"
    );
    for (current, total, _) in reports.iter() {
        assert!(current <= total, "{reports:?}");
    }
    assert_eq!(reports.last().unwrap().0, 40, "{reports:?}");
    assert_eq!(reports.last().unwrap().1, 40, "{reports:?}");
}

#[tokio::test]
async fn an_unchanged_resync_writes_nothing() {
    let h = harness().await;
    let (fake, _) = fake_with_fixtures(30);
    let env = h.environment("dev", "dev", &fake).await;
    sync(&h, env).await;
    let before: BTreeMap<_, _> = h
        .mappings(env)
        .await
        .into_iter()
        .map(|m| (m.n8n_workflow_id.clone(), m.updated_at))
        .collect();

    let report = sync(&h, env).await;
    assert_eq!(report.fetched, 30);
    assert_eq!((report.created, report.updated), (0, 0));
    assert_eq!(report.unchanged, 30);
    assert_eq!(report.missing, 0);
    let after: BTreeMap<_, _> = h
        .mappings(env)
        .await
        .into_iter()
        .map(|m| (m.n8n_workflow_id.clone(), m.updated_at))
        .collect();
    assert_eq!(before, after, "no row was touched");
}

fn with_changed_parameter(mut doc: serde_json::Value) -> serde_json::Value {
    let nodes = doc["nodes"].as_array_mut().unwrap();
    nodes[0]["parameters"]["wfopsTestMarker"] = json!("changed");
    doc
}

#[tokio::test]
async fn a_changed_workflow_is_updated_even_when_updated_at_does_not_move() {
    let h = harness().await;
    let (fake, ids) = fake_with_fixtures(10);
    let env = h.environment("dev", "dev", &fake).await;
    sync(&h, env).await;
    let before = h.mapping_map(env).await;

    // an edit that moves updatedAt
    let doc = fake.workflow(&ids[2]).unwrap().unwrap();
    fake.replace_content(&ids[2], &with_changed_parameter(doc), true)
        .unwrap();
    // an edit that leaves updatedAt alone
    let doc = fake.workflow(&ids[5]).unwrap().unwrap();
    let updated_at = doc["updatedAt"].clone();
    fake.replace_content(&ids[5], &with_changed_parameter(doc), false)
        .unwrap();
    assert_eq!(
        fake.workflow(&ids[5]).unwrap().unwrap()["updatedAt"],
        updated_at
    );
    // a content change no metadata reveals (same updatedAt, versionId, name, active): staged by
    // making the stored hash differ from what n8n holds; only hashing can notice
    let stale = "f".repeat(64);
    h.test_db
        .admin_execute(&format!(
            "UPDATE workflow_env_map SET env_content_hash = '{stale}' WHERE n8n_workflow_id = '{}'",
            ids[7]
        ))
        .await
        .unwrap();

    let report = sync(&h, env).await;
    assert_eq!(report.updated, 3, "{report:?}");
    assert_eq!(report.unchanged, 7);
    let after = h.mapping_map(env).await;
    assert_eq!(
        before[&ids[7]].env_content_hash,
        after[&ids[7]].env_content_hash
    );
    for id in [&ids[2], &ids[5]] {
        assert_ne!(
            before[id].env_content_hash, after[id].env_content_hash,
            "{id}"
        );
        let doc = fake.workflow(id).unwrap().unwrap();
        let expected = wfops_diff::content_hash_value(&doc).unwrap().to_hex();
        assert_eq!(
            after[id].env_content_hash.as_deref(),
            Some(expected.as_str())
        );
        assert_eq!(
            after[id].workflow_data.as_ref().unwrap()["nodes"][0]["parameters"]["wfopsTestMarker"],
            "changed"
        );
    }
    assert_eq!(before[&ids[0]].updated_at, after[&ids[0]].updated_at);
}

#[tokio::test]
async fn a_workflow_deleted_in_n8n_becomes_missing_and_an_ignored_one_stays_ignored() {
    let h = harness().await;
    let (fake, ids) = fake_with_fixtures(8);
    let env = h.environment("dev", "dev", &fake).await;
    sync(&h, env).await;
    let ignored_id = ids[1].clone();
    h.ctx
        .db
        .tenant_tx(h.tenant, |conn| {
            async move { wfops_db::workflows::ignore(conn, env, &ignored_id).await }.scope_boxed()
        })
        .await
        .unwrap()
        .expect("row");
    fake.remove_workflow(&ids[1]).unwrap();
    fake.remove_workflow(&ids[4]).unwrap();

    let report = sync(&h, env).await;
    assert_eq!(report.fetched, 6);
    assert_eq!(report.missing, 1);
    let rows = h.mapping_map(env).await;
    assert_eq!(rows[&ids[4]].status, MappingStatus::Missing);
    assert_eq!(rows[&ids[1]].status, MappingStatus::Ignored);
    assert_eq!(rows[&ids[0]].status, MappingStatus::Untracked);

    // a second sync finds nothing new to mark
    let report = sync(&h, env).await;
    assert_eq!(report.missing, 0);
    assert_eq!(report.unchanged, 6);
}

#[tokio::test]
async fn untracked_workflows_auto_link_by_hash_into_a_second_environment() {
    let h = harness().await;
    let (dev_fake, dev_ids) = fake_with_fixtures(6);
    let (prod_fake, prod_ids) = fake_with_fixtures(4);
    let dev = h.environment("dev", "dev", &dev_fake).await;
    let prod = h.environment("prod", "production", &prod_fake).await;
    sync(&h, dev).await;

    // Onboarding of dev (not under test here) gives each workflow a canonical id and
    // registers its hash; stage that directly.
    let mut canonical = BTreeMap::new();
    for (i, id) in dev_ids.iter().enumerate() {
        let doc = dev_fake.workflow(id).unwrap().unwrap();
        canonical.insert(
            wfops_diff::content_hash_value(&doc).unwrap().to_hex(),
            h.register_canonical(&format!("wf-{i}"), &doc).await,
        );
    }
    // the untracked dev mappings link too when their environment is synced again
    let report = sync(&h, dev).await;
    assert_eq!(report.linked, 6, "{report:?}");

    let report = sync(&h, prod).await;
    assert_eq!(report.created, 4);
    assert_eq!(report.linked, 4, "{report:?}");
    assert_eq!(report.untracked, 0);
    assert!(report.link_blocked.is_empty(), "{:?}", report.link_blocked);
    let prod_rows = h.mapping_map(prod).await;
    let dev_rows = h.mapping_map(dev).await;
    for (i, id) in prod_ids.iter().enumerate() {
        let row = &prod_rows[id];
        assert_eq!(row.status, MappingStatus::Linked);
        let hash = row.env_content_hash.clone().unwrap();
        assert_eq!(row.canonical_id, Some(canonical[&hash]));
        assert_eq!(row.canonical_id, dev_rows[&dev_ids[i]].canonical_id);
        assert!(row.linked_at.is_some());
    }
    // reconciliation saw both environments: dev → prod is unchanged for the shared four
    let reconcile = report.reconcile.unwrap();
    assert_eq!(reconcile.environments, 2);
    assert_eq!(
        reconcile.by_status.get("unchanged"),
        Some(&4),
        "{reconcile:?}"
    );
}

/// A linked workflow edited in n8n is re-synced in place: it stays linked to its canonical
/// workflow with its new hash. (Upserting a linked row once failed a check constraint: the
/// proposed insert row was judged before ON CONFLICT turned it into an update.)
#[tokio::test]
async fn a_linked_workflow_changed_in_n8n_stays_linked_with_its_new_hash() {
    let h = harness().await;
    let (fake, ids) = fake_with_fixtures(3);
    let env = h.environment("dev", "dev", &fake).await;
    sync(&h, env).await;
    for (i, id) in ids.iter().enumerate() {
        let doc = fake.workflow(id).unwrap().unwrap();
        h.register_canonical(&format!("wf-{i}"), &doc).await;
    }
    assert_eq!(sync(&h, env).await.linked, 3);
    let before = h.mapping_map(env).await;

    let mut doc = fake.workflow(&ids[0]).unwrap().unwrap();
    doc["name"] = serde_json::Value::String("renamed in n8n".into());
    fake.replace_content(&ids[0], &doc, true).unwrap();
    let report = sync(&h, env).await;
    assert_eq!(report.updated, 1, "{report:?}");
    assert!(report.errors.is_empty(), "{report:?}");

    let after = h.mapping_map(env).await;
    let (old, new) = (&before[&ids[0]], &after[&ids[0]]);
    assert_eq!(new.status, MappingStatus::Linked);
    assert_eq!(new.canonical_id, old.canonical_id);
    assert_ne!(new.env_content_hash, old.env_content_hash);
    assert_eq!(
        after[&ids[1]].env_content_hash,
        before[&ids[1]].env_content_hash
    );
}

#[tokio::test]
async fn a_hash_collision_blocks_linking_and_is_reported() {
    let h = harness().await;
    let (fake, ids) = fake_with_fixtures(3);
    let env = h.environment("dev", "dev", &fake).await;
    let victim = fake.workflow(&ids[0]).unwrap().unwrap();
    let other = fake.workflow(&ids[1]).unwrap().unwrap();
    let hash = wfops_diff::content_hash_value(&victim).unwrap().to_hex();
    // the registry holds the victim's hash with another workflow's payload
    h.register_canonical_with_payload(
        "collides",
        &hash,
        wfops_diff::normalized_value(&other).unwrap(),
    )
    .await;

    let report = sync(&h, env).await;
    assert_eq!(report.linked, 0);
    assert_eq!(report.link_blocked_count, 1, "{report:?}");
    let blocked = &report.link_blocked[0];
    assert_eq!(blocked.n8n_workflow_id, ids[0]);
    assert!(
        matches!(blocked.reason, NoLinkReason::HashCollision { .. }),
        "{:?}",
        blocked.reason
    );
    let rows = h.mapping_map(env).await;
    assert_eq!(rows[&ids[0]].status, MappingStatus::Untracked);
    assert_eq!(rows[&ids[0]].canonical_id, None);
    // the report serializes the reason for the job result
    let doc = serde_json::to_value(&report).unwrap();
    assert_eq!(doc["link_blocked"][0]["reason"]["reason"], "hash_collision");
}

#[tokio::test]
async fn an_unparseable_workflow_is_recorded_and_the_rest_is_synced() {
    let h = harness().await;
    let (fake, ids) = fake_with_fixtures(5);
    let mut broken = wfops_fake_n8n::generated_workflow(7);
    broken["nodes"][1]["name"] = json!("Schedule");
    let broken_id = fake.seed_workflow(&broken).unwrap();
    let env = h.environment("dev", "dev", &fake).await;

    let report = sync(&h, env).await;
    assert_eq!(report.fetched, 6);
    assert_eq!(report.created, 6);
    assert_eq!(report.error_count, 1);
    assert_eq!(report.errors[0].n8n_workflow_id, broken_id);
    assert!(
        report.errors[0].error.contains("duplicate node name"),
        "{}",
        report.errors[0].error
    );
    let rows = h.mapping_map(env).await;
    let row = &rows[&broken_id];
    assert_eq!(row.env_content_hash, None);
    assert!(row.parse_error.as_deref().unwrap().contains("Schedule"));
    assert_eq!(row.status, MappingStatus::Untracked);
    for id in &ids {
        assert!(rows[id].env_content_hash.is_some());
    }
    // unchanged next time, error still reported
    let report = sync(&h, env).await;
    assert_eq!(report.unchanged, 6);
    assert_eq!(report.error_count, 1);
}

/// The comparable state of an environment's mappings.
async fn state(
    h: &common::Harness,
    env: uuid::Uuid,
) -> Vec<(String, MappingStatus, Option<String>, Option<String>)> {
    h.mappings(env)
        .await
        .into_iter()
        .map(|m| {
            (
                m.n8n_workflow_id,
                m.status,
                m.env_content_hash,
                m.n8n_version_id,
            )
        })
        .collect()
}

#[tokio::test]
async fn a_5xx_on_page_3_fails_the_job_and_the_retry_resumes_from_the_checkpoint() {
    // pages of 5, batches of 2: 23 workflows are 5 pages
    let mut h = harness_with(|c| c.sync_batch_size = 2).await;
    h.ctx.n8n.page_size = 5;
    let (fake, ids) = fake_with_fixtures(23);
    let resumed_env = h.environment("resumed", "dev", &fake).await;
    let straight_env = h.environment("straight", "staging", &fake).await;
    sync(&h, resumed_env).await;
    sync(&h, straight_env).await;

    // changes both environments will see: one deleted, one edited
    fake.remove_workflow(&ids[0]).unwrap();
    let doc = fake.workflow(&ids[20]).unwrap().unwrap();
    fake.replace_content(&ids[20], &with_changed_parameter(doc), true)
        .unwrap();
    let expected = sync(&h, straight_env).await;
    assert_eq!((expected.missing, expected.updated), (1, 1));

    // the job: page 3 answers 500 (and keeps answering it through the client's retry)
    let job = h
        .ctx
        .db
        .tenant_tx(h.tenant, |conn| {
            let tenant = h.tenant;
            async move {
                let job = wfops_engine::jobs::EnvironmentSync {
                    environment_id: resumed_env,
                };
                wfops_engine::jobs::enqueue(conn, tenant, &job).await
            }
            .scope_boxed()
        })
        .await
        .unwrap()
        .job;
    let worker = "test-worker";
    let types = vec![wfops_engine::jobs::ENVIRONMENT_SYNC.to_owned()];
    let lease = std::time::Duration::from_secs(60);
    let claimed = jobs::claim(&h.ctx.db, worker, lease, &types)
        .await
        .unwrap()
        .expect("claimed");
    assert_eq!(claimed.id, job.id);
    fake.reset_requests();
    fake.inject(Fault {
        skip: 2,
        ..Fault::status(500).on(Route::ListWorkflows).always()
    });
    let checkpoint = Checkpoint::for_job(claimed.id, worker, claimed.checkpoint.clone());
    let err = env_sync::run(&h.ctx, h.tenant, resumed_env, &NoProgress, &checkpoint)
        .await
        .expect_err("page 3 fails");
    assert!(
        matches!(&err, EngineError::Provider { source, .. } if source.status() == Some(500)),
        "{err}"
    );
    assert!(err.is_retryable());
    let first_attempt = fake.requests();
    let first_queries: Vec<String> = first_attempt.iter().map(|r| r.query.clone()).collect();
    assert!(first_queries.len() >= 3, "{first_queries:?}");
    let page3_query = first_queries[2].clone();
    h.ctx
        .db
        .tenant_tx(h.tenant, move |conn| {
            async move {
                jobs::fail(
                    conn,
                    claimed.id,
                    worker,
                    &err.to_string(),
                    Some(chrono::Utc::now()),
                )
                .await
            }
            .scope_boxed()
        })
        .await
        .unwrap();

    // nothing was marked missing by the failed attempt
    let rows = h.mapping_map(resumed_env).await;
    assert_eq!(rows[&ids[0]].status, MappingStatus::Untracked);

    // the retry
    fake.clear_faults();
    fake.reset_requests();
    let claimed = jobs::claim(&h.ctx.db, worker, lease, &types)
        .await
        .unwrap()
        .expect("claimed again");
    assert_eq!(claimed.attempts, 2);
    let stored = claimed.checkpoint.clone().expect("a checkpoint was saved");
    assert_eq!(stored["offset"], 0);
    let checkpoint = Checkpoint::for_job(claimed.id, worker, claimed.checkpoint.clone());
    let report = env_sync::run(&h.ctx, h.tenant, resumed_env, &NoProgress, &checkpoint)
        .await
        .expect("the retry finishes");
    let second: Vec<String> = fake.requests().iter().map(|r| r.query.clone()).collect();
    assert_eq!(
        second[0], page3_query,
        "the retry starts at page 3: {second:?}"
    );
    for finished in &first_queries[..2] {
        assert!(
            !second.contains(finished),
            "page {finished} fetched again: {second:?}"
        );
    }
    assert_eq!(second.len(), 3, "pages 3, 4 and 5: {second:?}");

    assert_eq!(report.resumed, 1);
    assert_eq!(report.fetched, expected.fetched);
    assert_eq!(report.missing, 1);
    assert_eq!(report.updated, 1);
    assert_eq!(report.unchanged, expected.unchanged);
    assert_eq!(report.pages, 5);
    assert_eq!(state(&h, resumed_env).await, state(&h, straight_env).await);
}

#[tokio::test]
async fn an_unreachable_or_misconfigured_environment_fails_clearly() {
    let h = harness().await;
    let fake = FakeN8n::start().unwrap();
    let env = h.environment("dev", "dev", &fake).await;
    fake.inject(Fault::status_with_message(401, "unauthorized").on(Route::ListWorkflows));
    let err = env_sync::run(&h.ctx, h.tenant, env, &NoProgress, &Checkpoint::none())
        .await
        .expect_err("401");
    assert!(!err.is_retryable());
    let message = err.to_string();
    assert!(message.starts_with("environment dev:"), "{message}");
    assert!(message.contains("401"), "{message}");
    assert!(!message.contains(fake.api_key()), "{message}");

    let missing = uuid::Uuid::new_v4();
    let err = env_sync::run(&h.ctx, h.tenant, missing, &NoProgress, &Checkpoint::none())
        .await
        .expect_err("no such environment");
    assert!(matches!(err, EngineError::EnvironmentNotFound(id) if id == missing));

    // another tenant's environment is not found either
    let other = h.test_db.create_tenant("other-tenant").await.unwrap();
    let theirs = h.environment_in(other, "theirs", "dev", &fake).await;
    let err = env_sync::run(&h.ctx, h.tenant, theirs, &NoProgress, &Checkpoint::none())
        .await
        .expect_err("not this tenant's");
    assert!(matches!(err, EngineError::EnvironmentNotFound(id) if id == theirs));
}

#[tokio::test]
async fn an_empty_instance_syncs_to_nothing_and_marks_everything_missing() {
    let h = harness().await;
    let (fake, ids) = fake_with_fixtures(3);
    let env = h.environment("dev", "dev", &fake).await;
    sync(&h, env).await;
    for id in &ids {
        fake.remove_workflow(id).unwrap();
    }
    let report = sync(&h, env).await;
    assert_eq!((report.fetched, report.created, report.updated), (0, 0, 0));
    assert_eq!(report.missing, 3);
    assert_eq!(report.pages, 1);
    assert!(h
        .mappings(env)
        .await
        .iter()
        .all(|m| m.status == MappingStatus::Missing));
}

/// A status the code does not know fails the sync with the value named; it is never read as
/// `untracked` (which would rewrite the row and hide the corruption).
#[tokio::test]
async fn a_corrupt_mapping_status_fails_the_sync_instead_of_being_guessed() {
    let h = harness().await;
    let (fake, ids) = fake_with_fixtures(3);
    let env = h.environment("dev", "dev", &fake).await;
    sync(&h, env).await;
    h.test_db
        .admin_execute(&format!(
            "ALTER TABLE workflow_env_map DROP CONSTRAINT workflow_env_map_status_check;
             UPDATE workflow_env_map SET status = 'half-linked' WHERE n8n_workflow_id = '{}';",
            ids[0]
        ))
        .await
        .unwrap();
    let err = env_sync::run(&h.ctx, h.tenant, env, &NoProgress, &Checkpoint::none())
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("\"half-linked\" as a mapping status"),
        "{err}"
    );
    assert!(
        !err.is_retryable(),
        "a corrupt row does not heal by retrying"
    );
    // the row is left as it was, for a person to look at
    h.test_db
        .admin_execute(
            "DO $$ BEGIN
               IF NOT EXISTS (SELECT 1 FROM workflow_env_map WHERE status = 'half-linked') THEN
                 RAISE EXCEPTION 'the corrupt row was rewritten';
               END IF;
             END $$;",
        )
        .await
        .unwrap();
}
