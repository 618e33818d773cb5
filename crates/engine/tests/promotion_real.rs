//! Promotion execution against the real n8n instances named by `N8N_DEV_URL`/`N8N_DEV_API_KEY`
//! and `N8N_PROD_URL`/`N8N_PROD_API_KEY`: a promotion that completes, one that fails at its last
//! write and is rolled back, and the fidelity of every fixture the dev instance accepts. Other
//! work uses the same instances: every workflow these tests create has a unique name, only those
//! are compared, and they are deleted at the end. Without the variables each test prints
//! `SKIPPED`, unless `WFOPS_REQUIRE_REAL_N8N=1`, where it fails.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;

use serde_json::{json, Value};
use uuid::Uuid;
use wfops_config::Secret;
use wfops_db::environments::{self, NewEnvironment};
use wfops_db::ScopedFutureExt;
use wfops_engine::promotion;
use wfops_engine::NoProgress;
use wfops_n8n::{N8nClient, N8nConfig, WorkflowProvider};
use wfops_promotion::PromotionStatus;

use common::{harness, Harness};

struct Real {
    dev_url: String,
    dev_key: String,
    prod_url: String,
    prod_key: String,
}

fn real(test: &str) -> Option<Real> {
    let get = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
    let names = [
        "N8N_DEV_URL",
        "N8N_DEV_API_KEY",
        "N8N_PROD_URL",
        "N8N_PROD_API_KEY",
    ];
    let missing: Vec<_> = names.iter().filter(|n| get(n).is_none()).collect();
    if !missing.is_empty() {
        if std::env::var("WFOPS_REQUIRE_REAL_N8N").as_deref() == Ok("1") {
            panic!("{test}: WFOPS_REQUIRE_REAL_N8N=1 but {missing:?} are not set");
        }
        eprintln!("SKIPPED {test}: {missing:?} not set (no real n8n to run against)");
        return None;
    }
    Some(Real {
        dev_url: get("N8N_DEV_URL")?,
        dev_key: get("N8N_DEV_API_KEY")?,
        prod_url: get("N8N_PROD_URL")?,
        prod_key: get("N8N_PROD_API_KEY")?,
    })
}

fn client(url: &str, key: &str) -> N8nClient {
    N8nClient::new(N8nConfig::new(url, Secret::new(key.to_owned()))).unwrap()
}

async fn environment(h: &Harness, name: &str, class: &str, url: &str, key: &str) -> Uuid {
    let key = h.ctx.cipher.encrypt_str(key).unwrap();
    let (name, class, url, tenant) = (name.to_owned(), class.to_owned(), url.to_owned(), h.tenant);
    h.ctx
        .db
        .tenant_tx(tenant, move |conn| {
            async move {
                environments::insert(
                    conn,
                    &NewEnvironment {
                        tenant_id: tenant,
                        name: &name,
                        url: &url,
                        provider: "n8n",
                        environment_class: &class,
                        api_key_encrypted: Some(&key),
                        drift_handling_mode: "warn_only",
                        git_repo_url: None,
                        git_branch: "main",
                        git_folder: Some(&name),
                        git_token_encrypted: None,
                    },
                )
                .await
            }
            .scope_boxed()
        })
        .await
        .unwrap()
        .id
}

/// dev and prod environments, canonical workflows for `dev_ids` linked in dev (rows written
/// directly: a sync would read every workflow of the shared instances), and a pending
/// promotion of all of them through a stage with `gates`; returns the deployment.
async fn promotion_of(
    h: &Harness,
    r: &Real,
    dev_ids: &[String],
    gates: Value,
    variables: &[(&str, &str)],
) -> (Uuid, Uuid, Vec<Uuid>) {
    let dev = environment(h, "dev", "dev", &r.dev_url, &r.dev_key).await;
    let prod = environment(h, "prod", "production", &r.prod_url, &r.prod_key).await;
    let t = h.tenant;
    let canonicals: Vec<Uuid> = dev_ids.iter().map(|_| Uuid::new_v4()).collect();
    let mut sql = String::new();
    for (i, (c, id)) in canonicals.iter().zip(dev_ids).enumerate() {
        sql.push_str(&format!(
            "INSERT INTO canonical_workflows (id, tenant_id, canonical_slug, name, content_hash) \
             VALUES ('{c}', '{t}', 'wf-{i}', 'wf-{i}', '{}');
             INSERT INTO workflow_env_map (tenant_id, canonical_id, environment_id, n8n_workflow_id, status) \
             VALUES ('{t}', '{c}', '{dev}', '{id}', 'linked');\n",
            "0".repeat(64)
        ));
    }
    for (k, v) in variables {
        sql.push_str(&format!(
            "INSERT INTO environment_variables (tenant_id, environment_id, key, value) VALUES ('{t}', '{prod}', '{k}', '{v}');\n"
        ));
    }
    let (pipeline, p, d) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    let stages = json!([{"name": "dev-to-prod", "source_environment_id": dev,
                         "target_environment_id": prod, "gates": gates}]);
    let selection = serde_json::to_string(&canonicals).unwrap();
    sql.push_str(&format!(
        "INSERT INTO pipelines (id, tenant_id, name, stages) VALUES ('{pipeline}', '{t}', 'p', '{stages}'::jsonb);
         INSERT INTO promotions (id, tenant_id, pipeline_id, stage_name, source_environment_id, target_environment_id, \
         status, workflow_selections) VALUES ('{p}', '{t}', '{pipeline}', 'dev-to-prod', '{dev}', '{prod}', 'pending', '{selection}'::jsonb);
         INSERT INTO deployments (id, tenant_id, promotion_id, status) VALUES ('{d}', '{t}', '{p}', 'pending');"
    ));
    h.test_db.admin_execute(&sql).await.unwrap();
    (d, prod, canonicals)
}

/// Prod's workflows named with `prefix`: id → hash.
async fn prod_state(prod: &N8nClient, prefix: &str) -> BTreeMap<String, String> {
    let all = wfops_n8n::list_all_workflows(
        prod,
        wfops_n8n::ListWorkflows {
            name: Some(prefix.to_owned()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    all.into_iter()
        .filter(|w| w.name().is_some_and(|n| n.starts_with(prefix)))
        .filter_map(|w| {
            Some((
                w.id().to_owned(),
                wfops_diff::content_hash_value(w.raw()).ok()?.to_hex(),
            ))
        })
        .collect()
}

async fn clean(client: &N8nClient, prefix: &str) {
    for (id, _) in prod_state(client, prefix).await {
        let _ = client.delete_workflow(&id).await;
    }
}

fn small(name: &str, i: usize) -> Value {
    let mut doc = wfops_fake_n8n::generated_workflow(i);
    doc["name"] = json!(name);
    doc
}

#[tokio::test]
async fn real_n8n_promotion_completes_and_a_failure_is_rolled_back() {
    let Some(r) = real("real_n8n_promotion_completes_and_a_failure_is_rolled_back") else {
        return;
    };
    let dev = client(&r.dev_url, &r.dev_key);
    let prod = client(&r.prod_url, &r.prod_key);
    let prefix = format!("wfops-exec-{} ", &Uuid::new_v4().simple().to_string()[..8]);

    // success: a callee, its caller, a workflow reading a variable
    let callee = dev
        .create_workflow(&small(&format!("{prefix}callee"), 1))
        .await
        .unwrap();
    let mut caller = small(&format!("{prefix}caller"), 2);
    caller["nodes"].as_array_mut().unwrap().push(json!({
        "id": "0a000000-0000-4000-8000-000000000002", "name": "Call child",
        "type": "n8n-nodes-base.executeWorkflow", "typeVersion": 1.2, "position": [440, 0],
        "parameters": {"workflowId": {"__rl": true, "mode": "id", "value": callee.id()}}}));
    let caller = dev.create_workflow(&caller).await.unwrap();
    let mut var = small(&format!("{prefix}var"), 3);
    var["nodes"][1]["parameters"]["assignments"]["assignments"][0]["value"] = json!("{{env.HOST}}");
    var["nodes"][1]["parameters"]["assignments"]["assignments"][0]["type"] = json!("string");
    let var = dev.create_workflow(&var).await.unwrap();
    let ids = vec![
        caller.id().to_owned(),
        callee.id().to_owned(),
        var.id().to_owned(),
    ];

    let h = harness().await;
    let (deployment, _prod_env, _) =
        promotion_of(&h, &r, &ids, json!({}), &[("HOST", "api.prod.example")]).await;
    let report = promotion::execute_deployment(&h.ctx, h.tenant, deployment, &NoProgress)
        .await
        .unwrap();
    assert_eq!(
        report.status,
        Some(PromotionStatus::Completed),
        "{report:#?}"
    );
    let state = prod_state(&prod, &prefix).await;
    assert_eq!(state.len(), 3);
    for w in &report.workflows {
        assert_eq!(
            state.get(&w.target_workflow_id),
            Some(&w.target_content_hash),
            "{}",
            w.name
        );
    }
    let callee_w = &report.workflows[0];
    assert!(
        callee_w.name.ends_with("callee"),
        "the callee is written first"
    );
    assert_eq!(callee_w.target_content_hash, callee_w.source_content_hash);

    // failure: the third write is refused by prod (its name becomes too long), the rest rolled back
    let h2 = harness().await;
    let prefix2 = format!("{prefix}f ");
    let a = dev
        .create_workflow(&small(&format!("{prefix2}a"), 4))
        .await
        .unwrap();
    let b = dev
        .create_workflow(&small(&format!("{prefix2}b"), 5))
        .await
        .unwrap();
    let c = dev
        .create_workflow(&small(&format!("{prefix2}c {{{{env.LONG}}}}"), 6))
        .await
        .unwrap();
    let long = "x".repeat(200);
    let ids = vec![a.id().to_owned(), b.id().to_owned(), c.id().to_owned()];
    let before = prod_state(&prod, &prefix2).await;
    let (deployment, _, _) = promotion_of(&h2, &r, &ids, json!({}), &[("LONG", &long)]).await;
    let report = promotion::execute_deployment(&h2.ctx, h2.tenant, deployment, &NoProgress)
        .await
        .unwrap();
    assert_eq!(
        report.status,
        Some(PromotionStatus::RolledBack),
        "{report:#?}"
    );
    assert_eq!(report.workflows.len(), 2);
    assert!(report.rollback.as_ref().unwrap().verification.verified);
    assert_eq!(
        prod_state(&prod, &prefix2).await,
        before,
        "prod is as before"
    );

    clean(&prod, &prefix).await;
    clean(&dev, &prefix).await;
}

#[tokio::test]
async fn real_n8n_fixture_fidelity_every_accepted_fixture_promotes_with_its_hash() {
    let Some(r) = real("real_n8n_fixture_fidelity_every_accepted_fixture_promotes_with_its_hash")
    else {
        return;
    };
    let dev = client(&r.dev_url, &r.dev_key);
    let prod = client(&r.prod_url, &r.prod_key);
    let prefix = format!("wfops-fid-{} ", &Uuid::new_v4().simple().to_string()[..8]);
    let limit: usize = std::env::var("WFOPS_FIDELITY_LIMIT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(usize::MAX);
    let mut paths: Vec<_> = std::fs::read_dir(wfops_fake_n8n::fixtures_dir())
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    let (mut accepted, mut refused, mut calls_elsewhere, mut unhashable) = (Vec::new(), 0, 0, 0);
    for (i, path) in paths.iter().take(limit).enumerate() {
        let Ok(mut doc) = serde_json::from_slice::<Value>(&std::fs::read(path).unwrap()) else {
            continue;
        };
        // a call of a workflow of the fixture's own instance can not be pointed at prod
        if !wfops_diff::references::references(&doc).is_empty() {
            calls_elsewhere += 1;
            continue;
        }
        // without a content hash (duplicate node names, …) WorkflowOps can not track it at all
        if wfops_diff::content_hash_value(&doc).is_err() {
            unhashable += 1;
            continue;
        }
        let name = doc
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("w")
            .to_owned();
        let short: String = name.chars().take(90).collect();
        doc["name"] = json!(format!("{prefix}{i} {short}"));
        match dev.create_workflow(&doc).await {
            Ok(w) => accepted.push(w.id().to_owned()),
            Err(_) => refused += 1,
        }
    }
    eprintln!(
        "fidelity: {} fixtures accepted by dev, {refused} refused, {calls_elsewhere} call other workflows, {unhashable} have no content hash",
        accepted.len()
    );
    let h = harness().await;
    let (deployment, _, _) = promotion_of(
        &h,
        &r,
        &accepted,
        json!({"allowPlaceholderCredentials": true}),
        &[],
    )
    .await;
    let report = promotion::execute_deployment(&h.ctx, h.tenant, deployment, &NoProgress)
        .await
        .unwrap();
    let outcome = (
        report.status,
        report.failure.clone(),
        report.problems.clone(),
    );
    let state = prod_state(&prod, &prefix).await;
    clean(&prod, &prefix).await;
    clean(&dev, &prefix).await;
    assert_eq!(
        outcome.0,
        Some(PromotionStatus::Completed),
        "{:?} {:?}",
        outcome.1,
        outcome.2
    );
    assert_eq!(report.workflows.len(), accepted.len(), "no write rejected");
    let mut differ = Vec::new();
    for w in &report.workflows {
        if state.get(&w.target_workflow_id) != Some(&w.source_content_hash) {
            differ.push(w.name.clone());
        }
    }
    assert!(
        differ.is_empty(),
        "{} promoted workflows hash unlike their source: {differ:?}",
        differ.len()
    );
}
