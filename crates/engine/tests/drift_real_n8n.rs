//! Drift detection against the real production n8n named by `N8N_PROD_URL` and
//! `N8N_PROD_API_KEY` (skipped, with a message, when they are not set). The instance is shared,
//! so the test creates uniquely named workflows, asserts only about them, never reverts (a
//! revert would delete other users' workflows that Git does not have) and deletes what it
//! created.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod repo_git;

use common::harness;
use futures::FutureExt;
use repo_git::{bare_remote, file_url};
use serde_json::json;
use uuid::Uuid;
use wfops_db::environments::{self, NewEnvironment};
use wfops_db::ScopedFutureExt;
use wfops_drift::{DriftKind, Severity};
use wfops_engine::drift::check::{self, CheckTrigger, DriftCheckReport};
use wfops_engine::{env_sync, load_environment, onboarding, Checkpoint, NoProgress};

fn kinds_of(r: &DriftCheckReport, id: &str) -> Vec<DriftKind> {
    r.affected
        .iter()
        .filter(|a| a.n8n_workflow_id.as_deref() == Some(id))
        .map(|a| a.kind)
        .collect()
}

#[tokio::test]
async fn real_n8n_changed_and_extra_workflows_are_found_and_an_incident_opens() {
    let (Ok(url), Ok(key)) = (
        std::env::var("N8N_PROD_URL"),
        std::env::var("N8N_PROD_API_KEY"),
    ) else {
        eprintln!("SKIPPED: N8N_PROD_URL / N8N_PROD_API_KEY not set (no real n8n)");
        return;
    };
    let h = harness().await;
    let tenant = h.tenant;
    let (env, _dir) = real_production(&h, url, &key).await;

    let provider = load_environment(&h.ctx, tenant, env)
        .await
        .unwrap()
        .provider(&h.ctx.n8n)
        .unwrap();
    let tag = Uuid::new_v4().simple().to_string();
    let doc = |name: &str, note: &str| {
        json!({
            "name": name,
            "nodes": [{"id": Uuid::new_v4().to_string(), "name": "Start",
                       "type": "n8n-nodes-base.manualTrigger", "typeVersion": 1,
                       "position": [0, 0], "parameters": {}, "notes": note}],
            "connections": {},
            "settings": {"executionOrder": "v1"}
        })
    };
    let a_doc = doc(&format!("drift-e2e-{tag}-a"), "as committed");
    let a = provider.create_workflow(&a_doc).await.unwrap();
    let a_id = a.id().to_owned();
    let created = std::sync::Mutex::new(vec![a_id.clone()]);

    let outcome = async {
        env_sync::run(&h.ctx, tenant, env, &NoProgress, &Checkpoint::none())
            .await
            .unwrap();
        onboarding::inventory(&h.ctx, tenant, env, &NoProgress)
            .await
            .unwrap();
        let r = check::run(&h.ctx, tenant, env, CheckTrigger::Manual, &NoProgress)
            .await
            .unwrap();
        assert!(
            kinds_of(&r, &a_id).is_empty(),
            "committed and unchanged: {r:?}"
        );

        // production: one workflow changed, one more than Git
        let mut changed = provider.get_workflow(&a_id).await.unwrap().into_raw();
        changed["nodes"][0]["notes"] = json!("hotfix in production");
        provider.update_workflow(&a_id, &changed).await.unwrap();
        let c = provider
            .create_workflow(&doc(&format!("drift-e2e-{tag}-c"), "only in prod"))
            .await
            .unwrap();
        let c_id = c.id().to_owned();
        created.lock().unwrap().push(c_id.clone());

        let r = check::run(&h.ctx, tenant, env, CheckTrigger::Manual, &NoProgress)
            .await
            .unwrap();
        assert_eq!(kinds_of(&r, &a_id), vec![DriftKind::Modified], "{r:?}");
        assert_eq!(
            kinds_of(&r, &c_id),
            vec![DriftKind::AddedInRuntime],
            "{r:?}"
        );
        assert!(r.with_drift >= 1 && r.not_in_git >= 1);
        let incident = r.incident_id.expect("an incident opens");
        assert_eq!(
            r.incident,
            wfops_engine::drift::IncidentDecision::Created {
                severity: Severity::for_affected(r.affected_count)
            }
        );
        assert_eq!(
            h.environment_row(env).await.drift_status,
            wfops_drift::EnvironmentDriftStatus::DriftIncidentActive
        );

        // production back to Git for our workflows: they are no longer part of the drift
        provider.update_workflow(&a_id, &a_doc).await.unwrap();
        provider.delete_workflow(&c_id).await.unwrap();
        created.lock().unwrap().pop();
        let r = check::run(&h.ctx, tenant, env, CheckTrigger::Manual, &NoProgress)
            .await
            .unwrap();
        assert!(kinds_of(&r, &a_id).is_empty(), "{r:?}");
        assert!(kinds_of(&r, &c_id).is_empty(), "{r:?}");
        incident
    };
    // clean up what this test created on the shared instance, whether it passed or not
    let result = std::panic::AssertUnwindSafe(outcome).catch_unwind().await;
    let created = created.into_inner().unwrap_or_default();
    for id in &created {
        let _ = provider.delete_workflow(id).await;
    }
    match result {
        Ok(incident) => assert_ne!(incident, Uuid::nil()),
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

/// A production environment on the real instance at `url`, with Git in a fresh bare repository.
async fn real_production(h: &common::Harness, url: String, key: &str) -> (Uuid, tempfile::TempDir) {
    let tenant = h.tenant;
    let enc = h.ctx.cipher.encrypt_str(key).unwrap();
    let env = h
        .ctx
        .db
        .tenant_tx(tenant, move |conn| {
            async move {
                environments::insert(
                    conn,
                    &NewEnvironment {
                        tenant_id: tenant,
                        name: "prod",
                        url: &url,
                        provider: "n8n",
                        environment_class: "production",
                        api_key_encrypted: Some(&enc),
                        drift_handling_mode: "warn_only",
                        git_repo_url: None,
                        git_branch: "main",
                        git_folder: Some("prod"),
                        git_token_encrypted: None,
                    },
                )
                .await
            }
            .scope_boxed()
        })
        .await
        .unwrap()
        .id;
    let dir = tempfile::tempdir().unwrap();
    let remote = bare_remote(dir.path());
    h.set_git(env, &file_url(&remote), "main", None).await;
    h.test_db
        .admin_execute(&format!(
            "INSERT INTO drift_policies (tenant_id, auto_create_incidents) VALUES ('{tenant}', true)"
        ))
        .await
        .unwrap();
    (env, dir)
}

/// The walkthrough on real n8n: production has one workflow more than Git and one changed; the
/// check finds both and opens a `medium` incident; a revert reconciliation restores production
/// from Git; its follow-up check closes the incident. A revert deletes every workflow Git does
/// not have, so this runs on the `scratch2` instance no other test uses (`N8N_SCRATCH2_URL`),
/// emptied first.
#[tokio::test]
async fn real_n8n_walkthrough_revert_restores_production_and_the_check_closes_the_incident() {
    use wfops_engine::drift::reconcile::{self, Resolution};
    let (Ok(url), Ok(key)) = (
        std::env::var("N8N_SCRATCH2_URL"),
        std::env::var("N8N_SCRATCH2_API_KEY"),
    ) else {
        assert!(
            std::env::var("WFOPS_REQUIRE_REAL_N8N").as_deref() != Ok("1"),
            "WFOPS_REQUIRE_REAL_N8N=1 but N8N_SCRATCH2_URL / N8N_SCRATCH2_API_KEY are not set"
        );
        eprintln!("SKIPPED: N8N_SCRATCH2_URL / N8N_SCRATCH2_API_KEY not set (no real n8n)");
        return;
    };
    let h = harness().await;
    let tenant = h.tenant;
    let (env, _dir) = real_production(&h, url, &key).await;
    let provider = load_environment(&h.ctx, tenant, env)
        .await
        .unwrap()
        .provider(&h.ctx.n8n)
        .unwrap();
    // the instance is this test's alone: start from nothing
    let query = wfops_n8n::ListWorkflows::default();
    for w in wfops_n8n::list_all_workflows(provider.as_ref(), query.clone())
        .await
        .unwrap()
    {
        provider.delete_workflow(w.id()).await.unwrap();
    }
    let doc = |name: &str, note: &str| {
        json!({
            "name": name,
            "nodes": [{"id": Uuid::new_v4().to_string(), "name": "Start",
                       "type": "n8n-nodes-base.manualTrigger", "typeVersion": 1,
                       "position": [0, 0], "parameters": {}, "notes": note}],
            "connections": {},
            "settings": {"executionOrder": "v1"}
        })
    };
    let mut ids = Vec::new();
    for name in ["a", "b", "c"] {
        let w = provider
            .create_workflow(&doc(&format!("walkthrough {name}"), "as committed"))
            .await
            .unwrap();
        ids.push(w.id().to_owned());
    }
    env_sync::run(&h.ctx, tenant, env, &NoProgress, &Checkpoint::none())
        .await
        .unwrap();
    assert!(
        onboarding::inventory(&h.ctx, tenant, env, &NoProgress)
            .await
            .unwrap()
            .committed
    );
    let r = check::run(&h.ctx, tenant, env, CheckTrigger::Manual, &NoProgress)
        .await
        .unwrap();
    assert_eq!((r.with_drift, r.not_in_git), (0, 0), "{r:?}");
    let hashes = |docs: Vec<wfops_n8n::RemoteWorkflow>| {
        let mut v: Vec<String> = docs
            .iter()
            .map(|w| wfops_diff::content_hash_value(w.raw()).unwrap().to_hex())
            .collect();
        v.sort();
        v
    };
    let committed = hashes(
        wfops_n8n::list_all_workflows(provider.as_ref(), query.clone())
            .await
            .unwrap(),
    );

    // production: one workflow changed, one more than Git
    let mut changed = provider.get_workflow(&ids[1]).await.unwrap().into_raw();
    changed["nodes"][0]["notes"] = json!("hotfix in production");
    provider.update_workflow(&ids[1], &changed).await.unwrap();
    let extra = provider
        .create_workflow(&doc("walkthrough hotfix only in prod", "only in prod"))
        .await
        .unwrap();
    let r = check::run(&h.ctx, tenant, env, CheckTrigger::Manual, &NoProgress)
        .await
        .unwrap();
    assert_eq!(kinds_of(&r, &ids[1]), vec![DriftKind::Modified], "{r:?}");
    assert_eq!(
        kinds_of(&r, extra.id()),
        vec![DriftKind::AddedInRuntime],
        "{r:?}"
    );
    let incident = r.incident_id.expect("an incident opens");
    assert_eq!(
        r.incident,
        wfops_engine::drift::IncidentDecision::Created {
            severity: Severity::Medium
        }
    );

    // a revert restores production from Git; the follow-up check closes the incident
    let report = reconcile::run(
        &h.ctx,
        tenant,
        incident,
        Resolution::Revert,
        None,
        &NoProgress,
    )
    .await
    .unwrap();
    assert_eq!(
        report.incident_status,
        wfops_drift::IncidentStatus::Closed,
        "{report:?}"
    );
    assert_eq!(
        hashes(
            wfops_n8n::list_all_workflows(provider.as_ref(), query)
                .await
                .unwrap()
        ),
        committed,
        "production holds exactly what Git holds again, verified by hash"
    );
    assert_eq!(
        h.environment_row(env).await.drift_status,
        wfops_drift::EnvironmentDriftStatus::InSync
    );
}
