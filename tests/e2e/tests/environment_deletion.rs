//! Deleting an environment archives it: its running sync is cancelled and stops without
//! writing (no foreign-key error reaches anyone), its history survives, it disappears from
//! lookups and lists, and its name can be used again.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

// the API tests' in-process app helpers, shared rather than copied
#[path = "../../../apps/api/tests/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{spawn_app, TestApp};
use serde_json::json;
use tokio::sync::oneshot;
use uuid::Uuid;
use wfops_db::jobs::{self, JobRow, JobStatus};
use wfops_db::{audit, workflows, ScopedFutureExt};
use wfops_fake_n8n::{FakeN8n, Fault, Route};
use wfops_worker::RunSummary;

/// Fails the test with `what` unless `condition` (SQL, run as the owner) holds.
async fn check(app: &TestApp, what: &str, condition: &str) {
    let sql = format!(
        "DO $$ BEGIN IF NOT ({condition}) THEN RAISE EXCEPTION 'check failed'; END IF; END $$"
    );
    app.test_db
        .admin_execute(&sql)
        .await
        .unwrap_or_else(|e| panic!("{what}: {e}"));
}

async fn job(app: &TestApp, tenant: Uuid, id: Uuid) -> JobRow {
    app.state
        .db
        .tenant_tx(tenant, move |conn| {
            async move { jobs::get(conn, id).await }.scope_boxed()
        })
        .await
        .unwrap()
        .expect("the job exists")
}

/// Polls `check` until it returns true; fails the test after `timeout`.
async fn wait_for<F, Fut>(what: &str, timeout: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {timeout:?} waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A worker with the engine's job types and a short lease (so its heartbeat looks at the job
/// often); reading two workflows per page.
fn spawn_worker(
    app: &TestApp,
) -> (
    oneshot::Sender<()>,
    tokio::task::JoinHandle<RunSummary>,
    tempfile::TempDir,
) {
    let git_cache = tempfile::tempdir().unwrap();
    let mut engine = wfops_engine::EngineCtx::new(
        app.state.db.clone(),
        app.state.config.clone(),
        app.state.cipher.clone(),
        git_cache.path().to_path_buf(),
    );
    engine.n8n.page_size = 2;
    let mut registry = wfops_worker::Registry::new();
    wfops_worker::register_engine_jobs(&mut registry, Arc::new(engine)).unwrap();
    let mut options = wfops_worker::WorkerOptions::new(wfops_worker::default_worker_name());
    options.poll_interval = Duration::from_millis(100);
    options.lease = Duration::from_secs(3);
    options.shutdown_grace = Duration::from_secs(15);
    let worker = wfops_worker::Worker::new(app.state.db.clone(), registry, options);
    let (stop, stopped) = oneshot::channel::<()>();
    let handle = tokio::spawn(async move {
        worker
            .run(async move {
                let _ = stopped.await;
            })
            .await
            .expect("the worker runs")
    });
    (stop, handle, git_cache)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_an_environment_cancels_its_running_sync_and_keeps_its_history() {
    let app = spawn_app().await;
    let t = app.tenant("Acme").await;
    let fake = FakeN8n::start().unwrap();
    fake.seed_generated(6).unwrap();
    // the second page of the listing is slow, so the sync is caught half way
    fake.inject(
        Fault::delay(Duration::from_secs(3))
            .on(Route::ListWorkflows)
            .nth(2),
    );
    let created = app
        .post(
            "/api/v1/environments",
            &t.admin_key,
            json!({ "name": "dev", "url": fake.url(), "api_key": fake.api_key() }),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let env: Uuid = created.json()["data"]["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let prod = app.environment(&t, "prod").await;

    // history that must outlive the environment
    let (snapshot, promotion, deployment) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    app.test_db
        .admin_execute(&format!(
            "insert into snapshots (id, tenant_id, environment_id, snapshot_type, workflows)
                  values ('{snapshot}', '{tenant}', '{env}', 'manual_backup', '[]');
             insert into promotions (id, tenant_id, source_environment_id, target_environment_id)
                  values ('{promotion}', '{tenant}', '{env}', '{prod}');
             insert into deployments (id, tenant_id, promotion_id, status)
                  values ('{deployment}', '{tenant}', '{promotion}', 'completed');
             insert into drift_check_history (tenant_id, environment_id, check_type, drift_found)
                  values ('{tenant}', '{env}', 'manual', false);",
            tenant = t.id
        ))
        .await
        .unwrap();

    let (stop, worker, _git_cache) = spawn_worker(&app);
    let started = app
        .post(
            &format!("/api/v1/environments/{env}/sync"),
            &t.admin_key,
            json!({}),
        )
        .await;
    assert_eq!(started.status, 202, "{}", started.text);
    let job_id: Uuid = started.json()["data"]["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    // the first page is written; the second is on its way (slowly)
    wait_for(
        "the sync to write its first page",
        Duration::from_secs(30),
        || async {
            let written = app
                .state
                .db
                .tenant_tx(t.id, move |conn| {
                    async move { workflows::status_counts(conn, env).await }.scope_boxed()
                })
                .await
                .unwrap();
            written.untracked >= 2
        },
    )
    .await;
    assert_eq!(job(&app, t.id, job_id).await.status, JobStatus::Running);

    let deleted = app
        .delete(&format!("/api/v1/environments/{env}"), &t.admin_key)
        .await;
    assert_eq!(deleted.status, 200, "{}", deleted.text);
    assert_eq!(deleted.json()["data"]["deleted"], true);

    // cancelled at once, saying why; the environment's lock is free
    let cancelled = job(&app, t.id, job_id).await;
    assert_eq!(cancelled.status, JobStatus::Cancelled);
    assert_eq!(cancelled.error.as_deref(), Some("environment deleted"));
    assert!(cancelled.locked_by.is_none());

    // the worker notices (heartbeat or its next write), stops, and writes nothing more
    let _ = stop.send(());
    let summary = tokio::time::timeout(Duration::from_secs(30), worker)
        .await
        .expect("the worker stops")
        .expect("the worker task");
    assert_eq!(
        (
            summary.completed,
            summary.failed,
            summary.retried,
            summary.lost
        ),
        (0, 0, 0, 1),
        "{summary:?}"
    );
    let after = job(&app, t.id, job_id).await;
    assert_eq!(after.status, JobStatus::Cancelled);
    assert_eq!(after.error.as_deref(), Some("environment deleted"));
    let events = app
        .state
        .db
        .tenant_tx(t.id, move |conn| {
            async move { jobs::events_after(conn, 0, Some(job_id), 1000).await }.scope_boxed()
        })
        .await
        .unwrap();
    let last = events.last().expect("events");
    assert_eq!(last.event, "cancelled", "{events:?}");
    assert_eq!(last.data["reason"], "environment deleted");
    assert!(
        events
            .iter()
            .all(|e| !e.data.to_string().contains("foreign key")),
        "{events:?}"
    );
    check(
        &app,
        "the cancelled sync wrote no mapping after the deletion",
        &format!("(select count(*) from workflow_env_map where environment_id = '{env}') = 0"),
    )
    .await;

    // the history survives, pointing at the archived row
    check(
        &app,
        "history kept",
        &format!(
            "(select count(*) from snapshots where id = '{snapshot}') = 1
             and (select count(*) from promotions where id = '{promotion}') = 1
             and (select count(*) from deployments where id = '{deployment}') = 1
             and (select count(*) from drift_check_history where environment_id = '{env}') = 1
             and (select count(*) from background_jobs where id = '{job_id}'
                                                        and environment_id = '{env}') = 1"
        ),
    )
    .await;
    check(
        &app,
        "the row is archived and its secrets are gone",
        &format!(
            "(select deleted_at is not null and api_key_encrypted is null
                from environments where id = '{env}')"
        ),
    )
    .await;
    let audit_rows = app
        .state
        .db
        .tenant_tx(t.id, move |conn| {
            async move { audit::for_resource(conn, "environment", &env.to_string()).await }
                .scope_boxed()
        })
        .await
        .unwrap();
    let deletion = audit_rows
        .iter()
        .find(|a| a.action == "environment.delete")
        .expect("audit row");
    assert_eq!(deletion.details["name"], "dev");
    assert_eq!(deletion.details["cancelled_jobs"], json!([job_id]));

    // gone for the API: 404, absent from the list, deleting again is 404
    app.get(&format!("/api/v1/environments/{env}"), &t.admin_key)
        .await
        .expect_error(404, "environment_not_found");
    let list = app.get("/api/v1/environments", &t.admin_key).await;
    assert_eq!(list.status, 200, "{}", list.text);
    let listed = list.json();
    let names: Vec<&str> = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["prod"]);
    assert_eq!(list.json()["pagination"]["total"], 1);
    app.delete(&format!("/api/v1/environments/{env}"), &t.admin_key)
        .await
        .expect_error(404, "environment_not_found");
    app.post(
        &format!("/api/v1/environments/{env}/sync"),
        &t.admin_key,
        json!({}),
    )
    .await
    .expect_error(404, "environment_not_found");

    // the name is free again; a live duplicate is still refused
    let again = app.environment(&t, "dev").await;
    assert_ne!(again, env);
    let dup = app
        .post(
            "/api/v1/environments",
            &t.admin_key,
            json!({ "name": "dev", "url": "https://n8n.example.com" }),
        )
        .await;
    assert_eq!(dup.status, 409, "{}", dup.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_cancels_pending_jobs_and_the_matrix_forgets_the_environment() {
    let app = spawn_app().await;
    let t = app.tenant("Acme").await;
    let created = app
        .post(
            "/api/v1/environments",
            &t.admin_key,
            json!({ "name": "staging", "url": "http://127.0.0.1:9", "api_key": "k" }),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let env: Uuid = created.json()["data"]["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    // no worker runs: the job stays pending
    let started = app
        .post(
            &format!("/api/v1/environments/{env}/sync"),
            &t.admin_key,
            json!({}),
        )
        .await;
    assert_eq!(started.status, 202, "{}", started.text);
    let job_id: Uuid = started.json()["data"]["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(job(&app, t.id, job_id).await.status, JobStatus::Pending);
    let matrix = app.get("/api/v1/workflows/matrix", &t.admin_key).await;
    assert!(matrix.text.contains(&env.to_string()), "{}", matrix.text);

    let deleted = app
        .delete(&format!("/api/v1/environments/{env}"), &t.admin_key)
        .await;
    assert_eq!(deleted.status, 200, "{}", deleted.text);
    let cancelled = job(&app, t.id, job_id).await;
    assert_eq!(cancelled.status, JobStatus::Cancelled);
    assert_eq!(cancelled.error.as_deref(), Some("environment deleted"));
    assert!(cancelled.completed_at.is_some());

    let matrix = app.get("/api/v1/workflows/matrix", &t.admin_key).await;
    assert_eq!(matrix.status, 200, "{}", matrix.text);
    assert!(
        !matrix.text.contains(&env.to_string()),
        "the matrix still shows the deleted environment: {}",
        matrix.text
    );
}
