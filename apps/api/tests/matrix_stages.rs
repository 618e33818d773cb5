//! The matrix against pipeline stages: each environment's cell carries its status against the
//! source of the stage that feeds it, computed by reconciliation (docs/sync-and-identity.md).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod seed;

use common::{spawn_app, TestApp};
use serde_json::{json, Value};
use uuid::Uuid;

fn workflow(url: &str) -> Value {
    json!({
        "name": "Order sync",
        "nodes": [{"name": "Fetch", "type": "n8n-nodes-base.httpRequest", "typeVersion": 4,
                   "position": [0, 0], "parameters": {"url": url}}],
        "connections": {}
    })
}

async fn reconcile(app: &TestApp, tenant: Uuid) -> wfops_engine::reconcile::ReconcileReport {
    wfops_engine::reconcile::run(&app.state.engine, tenant)
        .await
        .expect("reconcile")
}

async fn pipeline(app: &TestApp, tenant: Uuid, name: &str, active: bool, stages: Value) -> Uuid {
    let id = Uuid::new_v4();
    app.test_db
        .admin_execute(&format!(
            "insert into pipelines (id, tenant_id, name, stages, is_active)
             values ('{id}', '{tenant}', '{name}', '{}'::jsonb, {active})",
            stages.to_string().replace('\'', "''")
        ))
        .await
        .unwrap();
    id
}

fn stage(name: &str, source: Uuid, target: Uuid) -> Value {
    json!({"name": name, "source_environment_id": source, "target_environment_id": target})
}

/// The matrix row of the only canonical workflow, cells by environment id.
async fn cells(app: &TestApp, token: &str) -> Vec<Value> {
    let resp = app.get("/api/v1/workflows/matrix", token).await;
    assert_eq!(resp.status, 200, "{}", resp.text);
    resp.json()["data"][0]["cells"].as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_production_hotfix_shows_target_hotfix_against_the_stage_that_feeds_production() {
    let app = spawn_app().await;
    let t = app.tenant("Acme").await;
    let viewer = app.key(&t, "viewer").await;
    let db = &app.test_db;
    let dev = seed::environment(db, t.id, "Dev", "dev", "dev").await;
    let staging = seed::environment(db, t.id, "Staging", "staging", "staging").await;
    let prod = seed::environment(db, t.id, "Prod", "production", "prod").await;

    // Dev holds what Git holds; production was edited directly and its folder is empty.
    let original = workflow("https://api.example.com/v1");
    let hotfix = workflow("https://api.example.com/v1?retry=3");
    let h_orig = wfops_diff::content_hash_value(&original).unwrap().to_hex();
    let h_fix = wfops_diff::content_hash_value(&hotfix).unwrap().to_hex();
    let order = seed::canonical(db, t.id, "order-sync", "Order sync", 0, false).await;
    seed::mapping(
        db,
        t.id,
        dev,
        "d1",
        Some(order),
        "linked",
        "Order sync",
        Some(&h_orig),
        Some(&original),
    )
    .await;
    seed::mapping(
        db,
        t.id,
        prod,
        "p1",
        Some(order),
        "linked",
        "Order sync",
        Some(&h_fix),
        Some(&hotfix),
    )
    .await;
    seed::git_state(
        db,
        t.id,
        order,
        dev,
        "workflows/dev/order-sync.json",
        &h_orig,
        Some(&original),
    )
    .await;
    reconcile(&app, t.id).await;

    // Without a pipeline the cells have no stage; production against its empty folder says
    // only that the workflow is not in Git.
    let c = cells(&app, &viewer).await;
    assert_eq!(c[2]["environment_id"], prod.to_string().as_str());
    assert_eq!(c[2]["diff_status"], "target_only");
    assert!(c.iter().all(|c| c["stage"].is_null()), "{c:?}");

    // dev → staging → production: production is fed from staging, which lacks the workflow;
    // the stage that feeds staging is dev's.
    let p = pipeline(
        &app,
        t.id,
        "main",
        true,
        json!([
            stage("to staging", dev, staging),
            stage("to production", staging, prod)
        ]),
    )
    .await;
    let c = cells(&app, &viewer).await;
    assert!(c[0]["stage"].is_null(), "nothing feeds dev");
    assert_eq!(
        c[1]["stage"],
        json!({"pipeline_id": p, "name": "to staging", "source_environment_id": dev,
               "diff_status": "added"}),
        "promoting would add it to staging, whose cell exists for that alone"
    );
    assert_eq!(c[1]["mapping_status"], Value::Null);
    assert_eq!(
        c[2]["stage"]["source_environment_id"],
        staging.to_string().as_str()
    );
    assert_eq!(c[2]["stage"]["diff_status"], "target_only");

    // A pipeline straight from dev to production (older pipelines take precedence, so make
    // it the only active one): the hotfix shows against its source.
    app.test_db
        .admin_execute(&format!(
            "update pipelines set is_active = false where id = '{p}'"
        ))
        .await
        .unwrap();
    let direct = pipeline(
        &app,
        t.id,
        "direct",
        true,
        json!([stage("ship", dev, prod)]),
    )
    .await;
    let c = cells(&app, &viewer).await;
    assert!(
        c[1]["stage"].is_null(),
        "an inactive pipeline feeds nothing"
    );
    assert_eq!(
        c[2]["stage"],
        json!({"pipeline_id": direct, "name": "ship", "source_environment_id": dev,
               "diff_status": "target_hotfix"})
    );
    assert_eq!(
        c[2]["diff_status"], "target_only",
        "the Git column is unchanged"
    );

    // A stage against promotion order (production back into dev) has no status until
    // reconciliation computes the pair the stage names.
    pipeline(
        &app,
        t.id,
        "backport",
        true,
        json!([stage("back", prod, dev)]),
    )
    .await;
    let c = cells(&app, &viewer).await;
    assert_eq!(c[0]["stage"]["name"], "back");
    assert_eq!(c[0]["stage"]["diff_status"], Value::Null);
    let report = reconcile(&app, t.id).await;
    let c = cells(&app, &viewer).await;
    let status = c[0]["stage"]["diff_status"]
        .as_str()
        .expect("computed now")
        .to_owned();
    assert!(report.by_status.contains_key(&status), "{report:?}");
    assert_ne!(status, "unchanged", "production differs from dev");

    // the document describes the stage object
    let doc = app.get("/api/v1/openapi.json", &viewer).await.json();
    let schemas = &doc["components"]["schemas"];
    assert!(
        schemas["MatrixCellView"]["properties"]["stage"].is_object(),
        "{}",
        schemas["MatrixCellView"]
    );
    let stage_schema = &schemas["MatrixStageStatus"];
    for f in [
        "pipeline_id",
        "name",
        "source_environment_id",
        "diff_status",
    ] {
        assert!(
            stage_schema["properties"][f].is_object(),
            "{f}: {stage_schema}"
        );
    }
}
