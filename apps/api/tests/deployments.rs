//! Deployments through the API: cancellation in each state, new deployments of a promotion,
//! the reads with per-workflow outcomes, two deployments into one target, the deployment
//! streams, and snapshots with their restores.

// Test code: a failed unwrap or expect is the test's failure message (clippy.toml allows them
// in tests, but not yet in the helpers of integration tests).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use chrono::Utc;
use common::{spawn_app, Response, Tenant, TestApp};
use serde_json::{json, Value};
use uuid::Uuid;
use wfops_db::{jobs, ScopedFutureExt};

struct Setup {
    tenant: Tenant,
    dev: Uuid,
    prod: Uuid,
    workflows: Vec<Uuid>,
}

async fn setup(app: &TestApp, name: &str) -> Setup {
    let tenant = app.tenant(name).await;
    let dev = app.environment(&tenant, "dev").await;
    let prod = app.environment(&tenant, "prod").await;
    let workflows: Vec<Uuid> = (0..2).map(|_| Uuid::new_v4()).collect();
    for (i, id) in workflows.iter().enumerate() {
        app.test_db
            .admin_execute(&format!(
                "insert into canonical_workflows (id, tenant_id, canonical_slug, name)
                 values ('{id}', '{}', 'wf-{i}', 'Workflow {i}')",
                tenant.id
            ))
            .await
            .unwrap();
        // linked in dev, as a promotion's pre-flight requires of what it selects
        app.test_db
            .admin_execute(&format!(
                "insert into workflow_env_map (tenant_id, canonical_id, environment_id,
                     n8n_workflow_id, status, workflow_name, workflow_data)
                 values ('{}', '{id}', '{dev}', 'n8n-{i}', 'linked', 'Workflow {i}',
                     '{{\"name\": \"Workflow {i}\", \"nodes\": [], \"connections\": {{}}}}'::jsonb)",
                tenant.id
            ))
            .await
            .unwrap();
    }
    Setup {
        tenant,
        dev,
        prod,
        workflows,
    }
}

async fn approval_pipeline(app: &TestApp, s: &Setup) -> Uuid {
    let id = Uuid::new_v4();
    let stages = json!([{
        "name": "dev-to-prod",
        "source_environment_id": s.dev,
        "target_environment_id": s.prod,
        "requireApproval": true,
    }]);
    app.test_db
        .admin_execute(&format!(
            "insert into pipelines (id, tenant_id, name, stages)
             values ('{id}', '{}', 'p-{id}', '{stages}'::jsonb)",
            s.tenant.id
        ))
        .await
        .unwrap();
    id
}

/// Creates a promotion; returns it (with its deployments).
async fn promote(app: &TestApp, s: &Setup, token: &str, extra: Value) -> Value {
    let mut body = json!({
        "source_environment_id": s.dev,
        "target_environment_id": s.prod,
        "workflow_ids": s.workflows,
    });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let r = app.post("/api/v1/promotions", token, body).await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.json()["data"].clone()
}

fn uuid(v: &Value) -> Uuid {
    v.as_str().unwrap().parse().unwrap()
}

async fn job_status(app: &TestApp, s: &Setup, job: &Value) -> String {
    let r = app
        .get(
            &format!("/api/v1/jobs/{}", job.as_str().unwrap()),
            &s.tenant.admin_key,
        )
        .await;
    r.json()["data"]["status"].as_str().unwrap().to_string()
}

async fn cancel(app: &TestApp, s: &Setup, deployment: &Value) -> Response {
    app.post(
        &format!(
            "/api/v1/deployments/{}/cancel",
            deployment.as_str().unwrap()
        ),
        &s.tenant.admin_key,
        json!({}),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_in_each_state() {
    let app = spawn_app().await;
    let s = setup(&app, "Acme").await;

    // pending: cancelled at once with its queued job
    let p = promote(&app, &s, &s.tenant.admin_key, json!({})).await;
    let d = p["deployments"][0].clone();
    let r = cancel(&app, &s, &d["id"]).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["data"]["status"], "cancelled");
    assert!(r.json()["data"]["finished_at"].is_string());
    assert_eq!(job_status(&app, &s, &d["job_id"]).await, "cancelled");
    // the promotion stays cleared to run
    let got = app
        .get(
            &format!("/api/v1/promotions/{}", p["id"].as_str().unwrap()),
            &s.tenant.admin_key,
        )
        .await;
    assert_eq!(got.json()["data"]["status"], "pending");
    // finished: 409
    cancel(&app, &s, &d["id"])
        .await
        .expect_error(409, "deployment_finished");

    // scheduled
    let p = promote(
        &app,
        &s,
        &s.tenant.admin_key,
        json!({"scheduled_for": Utc::now() + chrono::Duration::hours(3)}),
    )
    .await;
    let d = p["deployments"][0].clone();
    assert_eq!(d["status"], "scheduled");
    let r = cancel(&app, &s, &d["id"]).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["data"]["status"], "cancelled");

    // running: a cancel request the execution reads between workflows
    let p = promote(&app, &s, &s.tenant.admin_key, json!({})).await;
    let d = p["deployments"][0].clone();
    let id = uuid(&d["id"]);
    app.test_db
        .admin_execute(&format!(
            "update deployments set status = 'running', started_at = now() where id = '{id}'"
        ))
        .await
        .unwrap();
    let requested = |app: &TestApp| {
        let db = app.state.db.clone();
        let tenant = s.tenant.id;
        async move {
            db.tenant_tx(tenant, |conn| {
                async move { wfops_db::promotion_run::cancel_requested(conn, id).await }
                    .scope_boxed()
            })
            .await
            .unwrap()
        }
    };
    assert!(!requested(&app).await);
    let r = cancel(&app, &s, &d["id"]).await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(r.json()["data"]["status"], "running");
    let at = r.json()["data"]["cancel_requested_at"].clone();
    assert!(at.is_string());
    assert!(requested(&app).await);
    // asking again keeps the first time
    let r = cancel(&app, &s, &d["id"]).await;
    assert_eq!(r.status, 202);
    assert_eq!(r.json()["data"]["cancel_requested_at"], at);

    // failed and completed deployments are finished too
    for status in ["completed", "failed"] {
        app.test_db
            .admin_execute(&format!(
                "update deployments set status = '{status}' where id = '{id}'"
            ))
            .await
            .unwrap();
        cancel(&app, &s, &d["id"])
            .await
            .expect_error(409, "deployment_finished");
    }

    // roles, unknown ids, another tenant
    let dev_key = app.key(&s.tenant, "developer").await;
    app.post(
        &format!("/api/v1/deployments/{id}/cancel"),
        &dev_key,
        json!({}),
    )
    .await
    .expect_error(403, "insufficient_role");
    let o = setup(&app, "Other").await;
    app.post(
        &format!("/api/v1/deployments/{id}/cancel"),
        &o.tenant.admin_key,
        json!({}),
    )
    .await
    .expect_error(404, "deployment_not_found");
    app.get(&format!("/api/v1/deployments/{id}"), &o.tenant.admin_key)
        .await
        .expect_error(404, "deployment_not_found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_deployments_of_a_promotion() {
    let app = spawn_app().await;
    let s = setup(&app, "Acme").await;
    let p = promote(&app, &s, &s.tenant.admin_key, json!({})).await;
    let pid = p["id"].clone();
    let first = p["deployments"][0]["id"].clone();

    // a live deployment exists: 409
    app.post(
        "/api/v1/deployments",
        &s.tenant.admin_key,
        json!({"promotion_id": pid}),
    )
    .await
    .expect_error(409, "deployment_already_active");
    cancel(&app, &s, &first).await;
    // after the cancel it can be deployed again, now or later; with an Idempotency-Key a retry
    // gets the same deployment and another body with the key is refused
    let later =
        json!({"promotion_id": pid, "scheduled_for": Utc::now() + chrono::Duration::minutes(30)});
    let keyed = |b: Value| {
        app.client
            .post(app.url("/api/v1/deployments"))
            .bearer_auth(&s.tenant.admin_key)
            .header("Idempotency-Key", "deploy-1")
            .json(&b)
    };
    let r = app.send(keyed(later.clone())).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.json()["data"]["status"], "scheduled");
    let again = app.send(keyed(later)).await;
    assert_eq!(again.status, 200, "{}", again.text);
    assert_eq!(again.json()["data"]["id"], r.json()["data"]["id"]);
    app.send(keyed(json!({"promotion_id": pid})))
        .await
        .expect_error(409, "idempotency_key_reused");
    cancel(&app, &s, &r.json()["data"]["id"]).await;
    let r = app
        .post(
            "/api/v1/deployments",
            &s.tenant.admin_key,
            json!({"promotion_id": pid}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.json()["data"]["status"], "pending");
    assert_eq!(
        job_status(&app, &s, &r.json()["data"]["job_id"]).await,
        "pending"
    );
    let got = app
        .get(
            &format!("/api/v1/promotions/{}", pid.as_str().unwrap()),
            &s.tenant.admin_key,
        )
        .await;
    assert_eq!(
        got.json()["data"]["deployments"].as_array().unwrap().len(),
        3
    );

    // a promotion that ran, or that waits for approval, is not deployable
    app.test_db
        .admin_execute(&format!(
            "update deployments set status = 'cancelled' where promotion_id = '{}';
             update promotions set status = 'running' where id = '{}';
             update promotions set status = 'completed' where id = '{}'",
            pid.as_str().unwrap(),
            pid.as_str().unwrap(),
            pid.as_str().unwrap()
        ))
        .await
        .unwrap();
    app.post(
        "/api/v1/deployments",
        &s.tenant.admin_key,
        json!({"promotion_id": pid}),
    )
    .await
    .expect_error(409, "promotion_not_deployable");
    let pipeline = approval_pipeline(&app, &s).await;
    let waiting = promote(
        &app,
        &s,
        &app.login_token(&s.tenant).await,
        json!({"pipeline_id": pipeline}),
    )
    .await;
    app.post(
        "/api/v1/deployments",
        &s.tenant.admin_key,
        json!({"promotion_id": waiting["id"]}),
    )
    .await
    .expect_error(409, "promotion_not_deployable");

    // bad input
    for (b, status, code) in [
        (
            json!({"promotion_id": Uuid::new_v4()}),
            404,
            "promotion_not_found",
        ),
        (json!({}), 422, "invalid_body"),
        (json!({"promotion_id": pid, "x": 1}), 422, "invalid_body"),
        (
            json!({"promotion_id": pid, "scheduled_for": Utc::now() - chrono::Duration::hours(1)}),
            422,
            "invalid_scheduled_for",
        ),
    ] {
        app.post("/api/v1/deployments", &s.tenant.admin_key, b)
            .await
            .expect_error(status, code);
    }
    let viewer = app.key(&s.tenant, "viewer").await;
    app.post("/api/v1/deployments", &viewer, json!({"promotion_id": pid}))
        .await
        .expect_error(403, "insufficient_role");
    let o = setup(&app, "Other").await;
    app.post(
        "/api/v1/deployments",
        &o.tenant.admin_key,
        json!({"promotion_id": pid}),
    )
    .await
    .expect_error(404, "promotion_not_found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_show_filters_and_per_workflow_outcomes() {
    let app = spawn_app().await;
    let s = setup(&app, "Acme").await;
    let p1 = promote(&app, &s, &s.tenant.admin_key, json!({})).await;
    let p2 = promote(
        &app,
        &s,
        &s.tenant.admin_key,
        json!({"scheduled_for": Utc::now() + chrono::Duration::hours(1)}),
    )
    .await;
    let d1 = uuid(&p1["deployments"][0]["id"]);
    app.test_db
        .admin_execute(&format!(
            "insert into deployment_workflows (tenant_id, deployment_id, canonical_id, workflow_id,
                 workflow_name, status, error_message)
             values ('{t}', '{d1}', '{w0}', 'n8n-1', 'Workflow 0', 'success', null),
                    ('{t}', '{d1}', '{w1}', 'n8n-2', 'Workflow 1', 'failed', 'credential missing')",
            t = s.tenant.id,
            w0 = s.workflows[0],
            w1 = s.workflows[1]
        ))
        .await
        .unwrap();
    let r = app
        .get(&format!("/api/v1/deployments/{d1}"), &s.tenant.admin_key)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let d = r.json()["data"].clone();
    assert_eq!(d["target_environment_id"], json!(s.prod));
    assert_eq!(d["promotion_status"], "pending");
    let wfs = d["workflows"].as_array().unwrap();
    assert_eq!(wfs.len(), 2);
    let failed = wfs.iter().find(|w| w["workflow_id"] == "n8n-2").unwrap();
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["error_message"], "credential missing");
    assert_eq!(failed["canonical_id"], json!(s.workflows[1]));
    // rows recorded at the same moment come by name
    assert_eq!(wfs[0]["workflow_name"], "Workflow 0");

    let list = |q: &str| {
        let (app, path, key) = (
            &app,
            format!("/api/v1/deployments{q}"),
            s.tenant.admin_key.clone(),
        );
        async move { app.get(&path, &key).await }
    };
    let all = list("").await.json();
    assert_eq!(all["pagination"]["total"], 2);
    assert_eq!(all["data"][0]["id"], p2["deployments"][0]["id"]);
    assert_eq!(all["data"][0]["target_environment_id"], json!(s.prod));
    let scheduled = list("?status=scheduled").await.json();
    assert_eq!(scheduled["pagination"]["total"], 1);
    assert_eq!(scheduled["data"][0]["promotion_id"], p2["id"]);
    let of_p1 = list(&format!("?promotion_id={}", p1["id"].as_str().unwrap()))
        .await
        .json();
    assert_eq!(of_p1["data"][0]["id"], json!(d1));
    assert_eq!(
        list(&format!("?target_environment_id={}", s.dev))
            .await
            .json()["pagination"]["total"],
        0
    );
    list("?status=paused")
        .await
        .expect_error(400, "invalid_query_parameter");
    let o = setup(&app, "Other").await;
    assert_eq!(
        app.get("/api/v1/deployments", &o.tenant.admin_key)
            .await
            .json()["pagination"]["total"],
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_deployments_into_one_target_are_two_jobs_that_run_one_after_the_other() {
    let app = spawn_app().await;
    let s = setup(&app, "Acme").await;
    let a = promote(&app, &s, &s.tenant.admin_key, json!({})).await;
    let b = promote(&app, &s, &s.tenant.admin_key, json!({})).await;
    let (ja, jb) = (
        uuid(&a["deployments"][0]["job_id"]),
        uuid(&b["deployments"][0]["job_id"]),
    );
    assert_ne!(
        ja, jb,
        "the second deployment must not reuse the first one's job"
    );
    let types = ["promotion_deployment".to_string()];
    let claim = || jobs::claim(&app.state.db, "w1", Duration::from_secs(60), &types);
    let first = claim().await.unwrap().expect("the first deployment's job");
    assert_eq!(first.id, ja);
    // the target's lock is held: the second waits
    assert!(claim().await.unwrap().is_none());
    let tenant = s.tenant.id;
    let done = app
        .state
        .db
        .tenant_tx(tenant, |conn| {
            async move { jobs::complete(conn, ja, "w1", json!({})).await }.scope_boxed()
        })
        .await
        .unwrap();
    assert!(done);
    let second = claim().await.unwrap().expect("the second deployment's job");
    assert_eq!(second.id, jb);
}

// --- streams -------------------------------------------------------------------------------

struct Sse {
    resp: reqwest::Response,
    buf: String,
}

/// One event: (id, kind, data).
type Event = (Option<i64>, String, Value);

impl Sse {
    async fn open(app: &TestApp, path: &str, token: &str, last_event_id: Option<i64>) -> Sse {
        let mut req = app.client.get(app.url(path)).bearer_auth(token);
        if let Some(id) = last_event_id {
            req = req.header("Last-Event-ID", id.to_string());
        }
        let resp = req.send().await.expect("request");
        assert_eq!(resp.status(), 200, "{path}");
        assert_eq!(
            resp.headers()["content-type"].to_str().unwrap(),
            "text/event-stream"
        );
        Sse {
            resp,
            buf: String::new(),
        }
    }

    /// The next event (comments and the retry line skipped), or `None` after `wait`.
    async fn next_event(&mut self, wait: Duration) -> Option<Event> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            while let Some(end) = self.buf.find("\n\n") {
                let raw: String = self.buf.drain(..end + 2).collect();
                let (mut id, mut kind, mut data) = (None, None, Value::Null);
                for line in raw.lines() {
                    if let Some(v) = line.strip_prefix("id: ") {
                        id = Some(v.parse().unwrap());
                    } else if let Some(v) = line.strip_prefix("event: ") {
                        kind = Some(v.to_string());
                    } else if let Some(v) = line.strip_prefix("data: ") {
                        data = serde_json::from_str(v).unwrap();
                    }
                }
                if let Some(kind) = kind {
                    return Some((id, kind, data));
                }
            }
            let chunk = tokio::time::timeout_at(deadline, self.resp.chunk())
                .await
                .ok()?
                .expect("stream error")?;
            self.buf.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }
}

const WAIT: Duration = Duration::from_secs(10);

async fn start_listener(app: &TestApp) {
    wfops_api::routes::sse::spawn_listener(app.state.sse.clone(), app.test_db.admin_url());
    let deadline = tokio::time::Instant::now() + WAIT;
    while !app.state.sse.is_listening() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the listener did not connect"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployment_streams_replay_from_last_event_id_and_follow_status_changes() {
    let app = spawn_app().await;
    start_listener(&app).await;
    let s = setup(&app, "Acme").await;
    let p = promote(&app, &s, &s.tenant.admin_key, json!({})).await;
    let d = p["deployments"][0].clone();
    let path = format!("/api/v1/sse/deployments/{}", d["id"].as_str().unwrap());

    // without Last-Event-ID: a snapshot of the deployment first
    let mut live = Sse::open(&app, &path, &s.tenant.admin_key, None).await;
    let (_, kind, data) = live.next_event(WAIT).await.expect("snapshot");
    assert_eq!(kind, "snapshot");
    assert_eq!(data["id"], d["id"]);
    assert_eq!(data["status"], "pending");

    // a status change arrives on the open stream
    cancel(&app, &s, &d["id"]).await;
    let mut seen = Vec::new();
    while let Some((id, kind, data)) = live.next_event(WAIT).await {
        seen.push((id.unwrap(), kind.clone(), data.clone()));
        if kind == "deployment_status" && data["data"]["status"] == "cancelled" {
            break;
        }
    }
    assert!(
        seen.iter().any(|(_, k, _)| k == "cancelled"),
        "the job's cancellation is in the stream: {seen:?}"
    );
    assert_eq!(seen.last().unwrap().2["data"]["status"], "cancelled");

    // replay: from 0 every event of this deployment, from an id only the later ones
    let mut replay = Sse::open(&app, &path, &s.tenant.admin_key, Some(0)).await;
    let mut all = Vec::new();
    while all.len() < 3 {
        let (id, kind, data) = replay.next_event(WAIT).await.expect("replayed event");
        assert_ne!(kind, "snapshot");
        all.push((id.unwrap(), kind, data));
    }
    assert_eq!(all[0].1, "deployment_status");
    assert_eq!(all[0].2["data"]["status"], "pending");
    let after = all[0].0;
    let mut resumed = Sse::open(&app, &path, &s.tenant.admin_key, Some(after)).await;
    let (id, _, _) = resumed.next_event(WAIT).await.expect("a later event");
    assert_eq!(id, Some(all[1].0));

    // the tenant stream: a snapshot of the live deployments, then other deployments' events
    let other = promote(&app, &s, &s.tenant.admin_key, json!({})).await;
    let mut tenant = Sse::open(&app, "/api/v1/sse/deployments", &s.tenant.admin_key, None).await;
    let (_, kind, data) = tenant.next_event(WAIT).await.expect("snapshot");
    assert_eq!(kind, "snapshot");
    let live_ids: Vec<&Value> = data["deployments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| &d["id"])
        .collect();
    assert_eq!(live_ids, vec![&other["deployments"][0]["id"]]);
    cancel(&app, &s, &other["deployments"][0]["id"]).await;
    let (_, _, data) = tenant.next_event(WAIT).await.expect("an event");
    assert_eq!(data["job_id"], other["deployments"][0]["job_id"]);

    // another tenant: 404 for the deployment, and nothing of this tenant in its stream
    let o = setup(&app, "Other").await;
    let r = app.get(&path, &o.tenant.admin_key).await;
    r.expect_error(404, "deployment_not_found");
    let mut foreign = Sse::open(
        &app,
        "/api/v1/sse/deployments",
        &o.tenant.admin_key,
        Some(0),
    )
    .await;
    assert!(foreign
        .next_event(Duration::from_millis(700))
        .await
        .is_none());
}

// --- snapshots -----------------------------------------------------------------------------

async fn snapshot(app: &TestApp, s: &Setup, env: Uuid) -> Uuid {
    let id = Uuid::new_v4();
    app.test_db
        .admin_execute(&format!(
            "insert into snapshots (id, tenant_id, environment_id, snapshot_type, workflows, workflow_count)
             values ('{id}', '{}', '{env}', 'pre_promotion', '[{{\"id\": \"n8n-1\", \"name\": \"A\"}}]'::jsonb, 1)",
            s.tenant.id
        ))
        .await
        .unwrap();
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshots_are_listed_read_and_restored_with_the_environments_approval_rule() {
    let app = spawn_app().await;
    let s = setup(&app, "Acme").await;
    let on_dev = snapshot(&app, &s, s.dev).await;
    let on_prod = snapshot(&app, &s, s.prod).await;
    let admin = s.tenant.admin_key.clone();

    let r = app
        .get(
            &format!("/api/v1/snapshots?environment_id={}", s.dev),
            &admin,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["pagination"]["total"], 1);
    assert_eq!(r.json()["data"][0]["id"], json!(on_dev));
    assert!(r.json()["data"][0].get("workflows").is_none());
    let r = app
        .get(&format!("/api/v1/snapshots/{on_dev}"), &admin)
        .await;
    assert_eq!(r.json()["data"]["workflows"][0]["id"], "n8n-1");
    assert_eq!(r.json()["data"]["workflow_count"], 1);

    // no approval rule into dev: queued at once
    let r = app
        .post(
            &format!("/api/v1/snapshots/{on_dev}/restore"),
            &admin,
            json!({}),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(r.json()["data"]["status"], "queued");
    let job = r.json()["data"]["job_id"].clone();
    let j = app
        .get(&format!("/api/v1/jobs/{}", job.as_str().unwrap()), &admin)
        .await
        .json();
    assert_eq!(j["data"]["job_type"], "snapshot_restore");
    assert_eq!(
        j["data"]["payload"],
        json!({"snapshot_id": on_dev, "environment_id": s.dev})
    );

    // a stage into prod requires approval: the restore waits for another admin
    approval_pipeline(&app, &s).await;
    let creator = app.login_token(&s.tenant).await;
    let r = app
        .post(
            &format!("/api/v1/snapshots/{on_prod}/restore"),
            &creator,
            json!({}),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    let req = r.json()["data"].clone();
    assert_eq!(req["status"], "pending_approval");
    assert!(req["job_id"].is_null());
    let rid = req["id"].as_str().unwrap().to_string();
    app.post(
        &format!("/api/v1/snapshot-restores/{rid}/approve"),
        &creator,
        json!({}),
    )
    .await
    .expect_error(403, "self_approval_forbidden");
    let dev_key = app.key(&s.tenant, "developer").await;
    app.post(
        &format!("/api/v1/snapshot-restores/{rid}/approve"),
        &dev_key,
        json!({}),
    )
    .await
    .expect_error(403, "insufficient_role");
    let ok = app
        .post(
            &format!("/api/v1/snapshot-restores/{rid}/approve"),
            &admin,
            json!({}),
        )
        .await;
    assert_eq!(ok.status, 202, "{}", ok.text);
    assert_eq!(ok.json()["data"]["status"], "queued");
    assert!(ok.json()["data"]["job_id"].is_string());
    app.post(
        &format!("/api/v1/snapshot-restores/{rid}/approve"),
        &admin,
        json!({}),
    )
    .await
    .expect_error(409, "restore_not_pending_approval");
    let got = app
        .get(&format!("/api/v1/snapshot-restores/{rid}"), &admin)
        .await;
    assert_eq!(got.json()["data"]["job_id"], ok.json()["data"]["job_id"]);

    // rejection
    let r = app
        .post(
            &format!("/api/v1/snapshots/{on_prod}/restore"),
            &creator,
            json!({}),
        )
        .await;
    let rid = r.json()["data"]["id"].as_str().unwrap().to_string();
    let no = app
        .post(
            &format!("/api/v1/snapshot-restores/{rid}/reject"),
            &admin,
            json!({"reason": "wrong snapshot"}),
        )
        .await;
    assert_eq!(no.status, 200, "{}", no.text);
    assert_eq!(no.json()["data"]["status"], "rejected");
    assert_eq!(no.json()["data"]["rejection_reason"], "wrong snapshot");

    // another tenant and unknown ids
    let o = setup(&app, "Other").await;
    app.get(&format!("/api/v1/snapshots/{on_dev}"), &o.tenant.admin_key)
        .await
        .expect_error(404, "snapshot_not_found");
    app.post(
        &format!("/api/v1/snapshots/{on_dev}/restore"),
        &o.tenant.admin_key,
        json!({}),
    )
    .await
    .expect_error(404, "snapshot_not_found");
    app.get(
        &format!("/api/v1/snapshot-restores/{rid}"),
        &o.tenant.admin_key,
    )
    .await
    .expect_error(404, "snapshot_restore_not_found");
    assert_eq!(
        app.get("/api/v1/snapshots", &o.tenant.admin_key)
            .await
            .json()["pagination"]["total"],
        0
    );
    let viewer = app.key(&s.tenant, "viewer").await;
    app.post(
        &format!("/api/v1/snapshots/{on_dev}/restore"),
        &viewer,
        json!({}),
    )
    .await
    .expect_error(403, "insufficient_role");
    // a deleted environment is not restored into
    app.delete(&format!("/api/v1/environments/{}", s.dev), &admin)
        .await;
    app.post(
        &format!("/api/v1/snapshots/{on_dev}/restore"),
        &admin,
        json!({}),
    )
    .await
    .expect_error(409, "environment_archived");
}
