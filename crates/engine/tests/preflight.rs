// Test code: a failed unwrap or expect is the test's failure message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

//! `preflight` gathers its inputs from seeded rows: references resolved by the target, credential
//! references without id, the environment's own drift policy over the tenant's, drift detected
//! without an incident, and selections the source does not hold.

use serde_json::{json, Value};
use uuid::Uuid;
use wfops_db::ScopedFutureExt;
use wfops_engine::preflight::{self, Preflight, PreflightError, PreflightRequest};
use wfops_engine::{EngineError, EngineErrorKind};
use wfops_promotion::gates::GateKind;
use wfops_test_support::TestDb;

struct World {
    db: TestDb,
    tenant: Uuid,
    dev: Uuid,
    staging: Uuid,
}

fn lit(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

async fn exec(w: &World, sql: &str) {
    w.db.admin_execute(sql).await.expect(sql);
}

async fn world() -> World {
    let db = TestDb::new().await;
    let tenant = db
        .create_tenant(&format!("pf-{}", &Uuid::new_v4().simple().to_string()[..8]))
        .await
        .unwrap();
    let (dev, staging) = (Uuid::new_v4(), Uuid::new_v4());
    for (id, name) in [(dev, "dev"), (staging, "staging")] {
        db.admin_execute(&format!(
            "insert into environments (id, tenant_id, name, url) \
             values ('{id}', '{tenant}', '{name}', 'https://{name}.example.com')"
        ))
        .await
        .unwrap();
    }
    World {
        db,
        tenant,
        dev,
        staging,
    }
}

async fn workflow(w: &World, name: &str, links: &[(Uuid, &str, &str, &Value)]) -> Uuid {
    let id = Uuid::new_v4();
    exec(
        w,
        &format!(
            "insert into canonical_workflows (id, tenant_id, canonical_slug, name) \
             values ('{id}', '{}', {}, {})",
            w.tenant,
            lit(&format!("{}-{}", name.to_lowercase(), id.simple())),
            lit(name)
        ),
    )
    .await;
    for (env, n8n_id, status, doc) in links {
        exec(
            w,
            &format!(
                "insert into workflow_env_map (tenant_id, canonical_id, environment_id, \
                 n8n_workflow_id, status, workflow_data) \
                 values ('{}', '{id}', '{env}', {}, '{status}', {}::jsonb)",
                w.tenant,
                lit(n8n_id),
                lit(&doc.to_string())
            ),
        )
        .await;
    }
    id
}

async fn run(w: &World, request: PreflightRequest) -> Result<Preflight, EngineError> {
    let tenant = w.tenant;
    w.db.db()
        .tenant_tx(tenant, |conn| {
            async move { preflight::preflight(conn, tenant, &request).await }.scope_boxed()
        })
        .await
}

fn request(w: &World, ids: Vec<Uuid>) -> PreflightRequest {
    PreflightRequest {
        source_environment_id: w.dev,
        target_environment_id: w.staging,
        workflow_ids: ids,
        ..Default::default()
    }
}

fn gate(p: &Preflight, kind: GateKind) -> &wfops_promotion::GateResult {
    p.gates.iter().find(|g| g.gate == kind).unwrap()
}

#[tokio::test]
async fn gathers_references_credentials_and_drift_from_the_tables() {
    let w = world().await;
    let plain = json!({"name": "callee", "nodes": [], "connections": {}});
    // the callee is linked in both environments, under different n8n ids
    let callee = workflow(
        &w,
        "Callee",
        &[
            (w.dev, "dev-callee", "linked", &plain),
            (w.staging, "stg-callee", "linked", &plain),
        ],
    )
    .await;
    // a workflow the source knows but holds only as ignored
    let ignored = workflow(&w, "Ignored", &[(w.dev, "dev-ign", "ignored", &plain)]).await;
    let caller_doc = json!({"name": "Caller", "connections": {}, "nodes": [
        {"name": "Call", "type": "n8n-nodes-base.executeWorkflow", "parameters":
            {"workflowId": {"__rl": true, "value": "dev-callee", "mode": "list"}}},
        {"name": "Unknown call", "type": "n8n-nodes-base.executeWorkflow", "parameters":
            {"workflowId": "not-linked-anywhere"}},
        {"name": "Mail", "type": "n8n-nodes-base.emailSend", "parameters": {},
         "credentials": {"smtp": {"name": "Mailer"}}}
    ]});
    let caller = workflow(
        &w,
        "Caller",
        &[(w.dev, "dev-caller", "linked", &caller_doc)],
    )
    .await;
    let _ = callee;

    let p = run(&w, request(&w, vec![caller])).await.unwrap();
    let refs = gate(&p, GateKind::SubworkflowReferences);
    assert!(refs.blocking);
    assert_eq!(refs.workflows.len(), 1);
    // the callee resolves through the target; only the unlinked id is reported
    assert_eq!(refs.workflows[0].details.len(), 1, "{refs:?}");
    assert!(refs.workflows[0].details[0].contains("not-linked-anywhere"));
    let creds = gate(&p, GateKind::Credentials);
    assert!(creds.blocking && creds.workflows[0].details[0].contains("Mailer"));

    // a mapping by name covers a reference without id
    exec(
        &w,
        &format!(
            "insert into credential_mappings (tenant_id, source_environment_id, \
             target_environment_id, credential_type, source_credential_id, \
             source_credential_name, target_credential_id, target_credential_name) \
             values ('{}', '{}', '{}', 'smtp', 'x', 'Mailer', '5', 'Mailer prod')",
            w.tenant, w.dev, w.staging
        ),
    )
    .await;
    let p = run(&w, request(&w, vec![caller])).await.unwrap();
    assert!(gate(&p, GateKind::Credentials).passed);

    // drift detected without incident is drift; the environment's own policy wins over the
    // tenant's default
    exec(
        &w,
        &format!(
            "update environments set drift_status = 'DRIFT_DETECTED' where id = '{}';
             insert into drift_policies (tenant_id, environment_id, block_on_active_drift)
                 values ('{t}', null, true), ('{t}', '{s}', false);
             insert into pipelines (tenant_id, name, stages) values ('{t}', 'p', {})",
            w.staging,
            lit(&json!([{"name": "d-s", "source_environment_id": w.dev,
                         "target_environment_id": w.staging,
                         "gates": {"requireCleanDrift": false}}])
            .to_string()),
            t = w.tenant,
            s = w.staging
        ),
    )
    .await;
    let pipeline: Uuid = {
        let tenant = w.tenant;
        w.db.db()
            .tenant_tx(tenant, |conn| {
                async move { wfops_db::pipelines::list(conn, 0, 10).await }.scope_boxed()
            })
            .await
            .unwrap()
            .0[0]
            .id
    };
    let mut req = request(&w, vec![caller]);
    req.pipeline_id = Some(pipeline);
    let p = run(&w, req.clone()).await.unwrap();
    let drift = gate(&p, GateKind::RequireCleanDrift);
    assert!(!drift.passed && !drift.blocking, "warning only: {drift:?}");
    assert!(p.drift.drift_present && p.drift.incidents.is_empty());
    // without the environment's own row, the tenant's default blocks
    exec(
        &w,
        &format!(
            "delete from drift_policies where environment_id = '{}'",
            w.staging
        ),
    )
    .await;
    let p = run(&w, req).await.unwrap();
    assert!(gate(&p, GateKind::RequireCleanDrift).blocking);
    assert_eq!(p.stage_name.as_deref(), Some("d-s"));

    // a workflow the source holds only as ignored is not in the source
    let err = run(&w, request(&w, vec![caller, ignored]))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), EngineErrorKind::WorkflowsNotInSource);
    match err {
        EngineError::Preflight(PreflightError::WorkflowsNotInSource { ids, environment }) => {
            assert_eq!(ids, vec![ignored]);
            assert_eq!(environment, "dev");
        }
        other => panic!("{other:?}"),
    }
    // duplicates in the selection are evaluated once
    let p = run(&w, request(&w, vec![caller, caller])).await.unwrap();
    assert_eq!(gate(&p, GateKind::SubworkflowReferences).workflows.len(), 1);
}
