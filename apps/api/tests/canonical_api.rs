//! The endpoints that start work or change a mapping: sync requests (202 + job, no
//! pile-up), jobs, reconcile, link / ignore / unignore, and onboarding (preflight, inventory,
//! completion), with their role checks and tenant isolation.

// Test code: a failed unwrap or expect is the test's failure message (clippy.toml allows them
// in tests, but not yet in the helpers of integration tests).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod seed;

use std::time::Duration;

use common::{spawn_app, spawn_app_with, Response, Tenant, TestApp};
use serde_json::{json, Value};
use uuid::Uuid;
use wfops_db::jobs;

async fn create_env(app: &TestApp, t: &Tenant, body: Value) -> Uuid {
    let resp = app.post("/api/v1/environments", &t.admin_key, body).await;
    assert_eq!(resp.status, 201, "{}", resp.text);
    resp.json()["data"]["id"].as_str().unwrap().parse().unwrap()
}

fn job_of(resp: &Response) -> Value {
    assert_eq!(resp.status, 202, "{}", resp.text);
    resp.json()["data"].clone()
}

fn bare_repo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new("git")
        .args(["init", "--bare", "--quiet"])
        .arg(dir.path())
        .output()
        .expect("git");
    assert!(out.status.success(), "{out:?}");
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_requests_answer_202_with_one_pending_job() {
    let app = spawn_app().await;
    let a = app.tenant("Acme").await;
    let b = app.tenant("Globex").await;
    let dev_key = app.key(&a, "developer").await;
    let viewer = app.key(&a, "viewer").await;
    let repo = bare_repo();
    let env = create_env(
        &app,
        &a,
        json!({"name": "Dev", "url": "http://127.0.0.1:9", "api_key": "k",
               "git_repo_url": repo.path().to_str().unwrap(), "git_folder": "dev"}),
    )
    .await;
    let bare_env = create_env(
        &app,
        &a,
        json!({"name": "Bare", "url": "http://127.0.0.1:9"}),
    )
    .await;
    let b_env = create_env(
        &app,
        &b,
        json!({"name": "B", "url": "http://127.0.0.1:9", "api_key": "k"}),
    )
    .await;

    let first = app
        .post(
            &format!("/api/v1/environments/{env}/sync"),
            &dev_key,
            json!({}),
        )
        .await;
    let job = job_of(&first);
    assert_eq!(first.json()["message"], "job queued");
    assert_eq!(job["job_type"], "environment_sync");
    assert_eq!(job["status"], "pending");
    assert_eq!(job["environment_id"], env.to_string().as_str());
    assert_eq!(job["payload"], json!({"environment_id": env}));
    // the same work requested again, through the other route: the same job
    let again = app
        .post(
            "/api/v1/canonical/sync/request",
            &dev_key,
            json!({"environment_id": env}),
        )
        .await;
    assert_eq!(job_of(&again)["id"], job["id"]);
    assert!(again.json()["message"]
        .as_str()
        .unwrap()
        .contains("already pending"));

    // once it runs, a new request queues a new run
    let claimed = jobs::claim(
        &app.state.db,
        "w",
        Duration::from_secs(60),
        &["environment_sync".to_string()],
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(claimed.id.to_string(), job["id"].as_str().unwrap());
    let next = app
        .post(
            "/api/v1/canonical/sync/request",
            &dev_key,
            json!({"environment_id": env}),
        )
        .await;
    assert_ne!(job_of(&next)["id"], job["id"]);

    let repo_job = app
        .post(
            "/api/v1/canonical/sync-repo",
            &dev_key,
            json!({"environment_id": env}),
        )
        .await;
    let repo_job = job_of(&repo_job);
    assert_eq!(repo_job["job_type"], "repository_sync");
    let again = app
        .post(
            "/api/v1/canonical/sync-repo",
            &dev_key,
            json!({"environment_id": env}),
        )
        .await;
    assert_eq!(job_of(&again)["id"], repo_job["id"]);

    // what the job would fail on is refused now
    let resp = app
        .post(
            "/api/v1/canonical/sync/request",
            &dev_key,
            json!({"environment_id": bare_env}),
        )
        .await;
    let msg = resp.expect_error(409, "environment_missing_n8n_api_key");
    assert!(msg.contains("API key"), "{msg}");
    let resp = app
        .post(
            "/api/v1/canonical/sync-repo",
            &dev_key,
            json!({"environment_id": bare_env}),
        )
        .await;
    let msg = resp.expect_error(409, "git_not_configured");
    assert!(msg.contains("Git repository"), "{msg}");

    // roles, tenants, bodies
    app.post(
        &format!("/api/v1/environments/{env}/sync"),
        &viewer,
        json!({}),
    )
    .await
    .expect_error(403, "insufficient_role");
    app.post(
        "/api/v1/canonical/sync-repo",
        &viewer,
        json!({"environment_id": env}),
    )
    .await
    .expect_error(403, "insufficient_role");
    app.post(
        &format!("/api/v1/environments/{b_env}/sync"),
        &dev_key,
        json!({}),
    )
    .await
    .expect_error(404, "environment_not_found");
    app.post(
        "/api/v1/canonical/sync/request",
        &dev_key,
        json!({"environment_id": b_env}),
    )
    .await
    .expect_error(404, "environment_not_found");
    app.post(
        "/api/v1/canonical/sync/request",
        &dev_key,
        json!({"environment_id": "x"}),
    )
    .await
    .expect_error(422, "invalid_body");
    app.post("/api/v1/canonical/sync/request", &dev_key, json!({}))
        .await
        .expect_error(422, "invalid_body");
    app.post(
        "/api/v1/canonical/sync/request",
        &dev_key,
        json!({"environment_id": env, "force": true}),
    )
    .await
    .expect_error(422, "invalid_body");

    // reconcile: admin only, no pile-up
    app.post("/api/v1/canonical/reconcile", &dev_key, json!({}))
        .await
        .expect_error(403, "insufficient_role");
    let r1 = job_of(
        &app.post("/api/v1/canonical/reconcile", &a.admin_key, json!({}))
            .await,
    );
    assert_eq!(r1["job_type"], "reconcile");
    let r2 = job_of(
        &app.post("/api/v1/canonical/reconcile", &a.admin_key, json!({}))
            .await,
    );
    assert_eq!(r1["id"], r2["id"]);

    // the jobs, as GET /jobs shows them
    let list = app.get("/api/v1/jobs", &viewer).await;
    assert_eq!(list.status, 200, "{}", list.text);
    assert_eq!(list.json()["pagination"]["total"], 4);
    let types = |r: &Response| -> Vec<String> {
        r.json()["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|j| j["job_type"].as_str().unwrap().to_string())
            .collect()
    };
    let running = app.get("/api/v1/jobs?status=running", &viewer).await;
    assert_eq!(types(&running), ["environment_sync"]);
    let syncs = app
        .get(
            "/api/v1/jobs?job_type=environment_sync&status=pending",
            &viewer,
        )
        .await;
    assert_eq!(syncs.json()["pagination"]["total"], 1);
    let by_env = app
        .get(
            &format!("/api/v1/jobs?environment_id={env}&page_size=1"),
            &viewer,
        )
        .await;
    assert_eq!(by_env.json()["pagination"]["total_pages"], 3);
    app.get("/api/v1/jobs?status=done", &viewer)
        .await
        .expect_error(400, "invalid_query_parameter");
    app.get("/api/v1/jobs?job_type=Bad%20Type", &viewer)
        .await
        .expect_error(400, "invalid_query_parameter");
    let one = app
        .get(
            &format!("/api/v1/jobs/{}", job["id"].as_str().unwrap()),
            &viewer,
        )
        .await;
    assert_eq!(one.status, 200, "{}", one.text);
    assert_eq!(one.json()["data"]["status"], "running");
    assert_eq!(one.json()["data"]["attempts"], 1);
    assert!(one.json()["data"].get("locked_by").is_none());
    app.get(
        &format!("/api/v1/jobs/{}", job["id"].as_str().unwrap()),
        &b.admin_key,
    )
    .await
    .expect_error(404, "job_not_found");
    assert_eq!(
        app.get("/api/v1/jobs", &b.admin_key).await.json()["pagination"]["total"],
        0
    );
}

struct LinkWorld {
    app: TestApp,
    a: Tenant,
    dev_key: String,
    viewer: String,
    env: Uuid,
    c1: Uuid,
    c_deleted: Uuid,
    c_taken: Uuid,
    b_canonical: Uuid,
    b_env: Uuid,
}

async fn link_world() -> LinkWorld {
    let app = spawn_app().await;
    let a = app.tenant("Acme").await;
    let b = app.tenant("Globex").await;
    let dev_key = app.key(&a, "developer").await;
    let viewer = app.key(&a, "viewer").await;
    let env = create_env(
        &app,
        &a,
        json!({"name": "Dev", "url": "http://127.0.0.1:9"}),
    )
    .await;
    let b_env = create_env(&app, &b, json!({"name": "B", "url": "http://127.0.0.1:9"})).await;
    let db = &app.test_db;
    let c1 = seed::canonical(db, a.id, "order-sync", "Order sync", 1, false).await;
    let c_deleted = seed::canonical(db, a.id, "gone", "Gone", 1, true).await;
    let c_taken = seed::canonical(db, a.id, "taken", "Taken", 1, false).await;
    seed::mapping(
        db,
        a.id,
        env,
        "d-taken",
        Some(c_taken),
        "linked",
        "Taken",
        Some(&seed::hash("t")),
        None,
    )
    .await;
    for (id, status) in [
        ("u1", "untracked"),
        ("u2", "untracked"),
        ("i1", "ignored"),
        ("x1", "deleted"),
    ] {
        seed::mapping(
            db,
            a.id,
            env,
            id,
            None,
            status,
            id,
            Some(&seed::hash(id)),
            None,
        )
        .await;
    }
    let b_canonical = seed::canonical(db, b.id, "b-flow", "B flow", 1, false).await;
    seed::mapping(
        db,
        b.id,
        b_env,
        "bu",
        None,
        "untracked",
        "bu",
        Some(&seed::hash("bu")),
        None,
    )
    .await;
    LinkWorld {
        app,
        a,
        dev_key,
        viewer,
        env,
        c1,
        c_deleted,
        c_taken,
        b_canonical,
        b_env,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linking_checks_roles_tenants_and_conflicts() {
    let w = link_world().await;
    let (app, env) = (&w.app, w.env);
    let link = |n8n: &str, canonical: Uuid| json!({"environment_id": env, "n8n_workflow_id": n8n, "canonical_id": canonical});

    app.post("/api/v1/canonical/link", &w.viewer, link("u1", w.c1))
        .await
        .expect_error(403, "insufficient_role");

    let resp = app
        .post("/api/v1/canonical/link", &w.dev_key, link("u1", w.c1))
        .await;
    assert_eq!(resp.status, 200, "{}", resp.text);
    let d = &resp.json()["data"];
    assert_eq!(d["changed"], true);
    assert_eq!(d["mapping"]["status"], "linked");
    assert_eq!(d["mapping"]["canonical_id"], w.c1.to_string().as_str());
    assert_eq!(d["mapping"]["canonical_slug"], "order-sync");
    assert!(d["mapping"]["linked_at"].is_string());
    let reconcile_job = d["reconcile_job_id"].as_str().unwrap().to_string();
    let job = app
        .get(&format!("/api/v1/jobs/{reconcile_job}"), &w.viewer)
        .await;
    assert_eq!(job.json()["data"]["job_type"], "reconcile");
    // the matrix shows it
    let m = app
        .get("/api/v1/workflows/matrix?search=order", &w.viewer)
        .await;
    assert_eq!(m.json()["data"][0]["cells"][0]["n8n_workflow_id"], "u1");
    assert_eq!(m.json()["data"][0]["cells"][0]["mapping_status"], "linked");
    // idempotent
    let resp = app
        .post("/api/v1/canonical/link", &w.dev_key, link("u1", w.c1))
        .await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.json()["data"]["changed"], false);

    // the canonical workflow is already mapped in this environment
    let msg = app
        .post("/api/v1/canonical/link", &w.dev_key, link("u2", w.c1))
        .await
        .expect_error(409, "canonical_already_mapped");
    assert!(
        msg.contains("already mapped") && msg.contains("u1"),
        "{msg}"
    );
    let msg = app
        .post("/api/v1/canonical/link", &w.dev_key, link("u2", w.c_taken))
        .await
        .expect_error(409, "canonical_already_mapped");
    assert!(msg.contains("d-taken"), "{msg}");
    // only untracked workflows can be linked
    let msg = app
        .post("/api/v1/canonical/link", &w.dev_key, link("i1", w.c_taken))
        .await
        .expect_error(409, "workflow_not_untracked");
    assert!(msg.contains("unignore"), "{msg}");
    let msg = app
        .post("/api/v1/canonical/link", &w.dev_key, link("u1", w.c_taken))
        .await
        .expect_error(409, "workflow_not_untracked");
    assert!(msg.contains("linked"), "{msg}");
    // deleted, unknown, other tenant's canonical; unknown workflow
    let resp = app
        .post(
            "/api/v1/canonical/link",
            &w.dev_key,
            link("u2", w.c_deleted),
        )
        .await;
    let msg = resp.expect_error(409, "canonical_workflow_deleted");
    assert!(msg.contains("deleted"), "{msg}");
    assert_eq!(resp.json()["error"]["details"]["field"], "canonical_id");
    for canonical in [Uuid::new_v4(), w.b_canonical] {
        let resp = app
            .post("/api/v1/canonical/link", &w.dev_key, link("u2", canonical))
            .await;
        resp.expect_error(409, "unknown_canonical_workflow");
        assert_eq!(resp.json()["error"]["details"]["field"], "canonical_id");
    }
    let resp = app
        .post(
            "/api/v1/canonical/link",
            &w.dev_key,
            link("nope", w.c_taken),
        )
        .await;
    let msg = resp.expect_error(409, "workflow_not_in_environment");
    assert!(msg.contains("nope"), "{msg}");
    assert_eq!(resp.json()["error"]["details"]["field"], "n8n_workflow_id");
    // another tenant's environment (and its workflow)
    app.post(
        "/api/v1/canonical/link",
        &w.dev_key,
        json!({"environment_id": w.b_env, "n8n_workflow_id": "bu", "canonical_id": w.c_taken}),
    )
    .await
    .expect_error(404, "environment_not_found");
    app.post("/api/v1/canonical/link", &w.dev_key, link("", w.c1))
        .await
        .expect_error(422, "invalid_n8n_workflow_id");
    // nothing above changed u2
    let u2 = app.get("/api/v1/workflows?search=u2", &w.viewer).await;
    assert_eq!(u2.json()["data"][0]["status"], "untracked");
    let _ = &w.a;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ignore_and_unignore() {
    let w = link_world().await;
    let (app, env) = (&w.app, w.env);
    let body = |n8n: &str| json!({"environment_id": env, "n8n_workflow_id": n8n});
    let viewer = w.viewer.as_str();
    let status_of = |n8n: &'static str| async move {
        let r = app
            .get(&format!("/api/v1/workflows?search={n8n}"), viewer)
            .await;
        r.json()["data"][0]["status"].as_str().unwrap().to_string()
    };

    app.post("/api/v1/canonical/ignore", &w.viewer, body("u2"))
        .await
        .expect_error(403, "insufficient_role");
    app.post("/api/v1/canonical/unignore", &w.viewer, body("i1"))
        .await
        .expect_error(403, "insufficient_role");

    let resp = app
        .post("/api/v1/canonical/ignore", &w.dev_key, body("u2"))
        .await;
    assert_eq!(resp.status, 200, "{}", resp.text);
    assert_eq!(resp.json()["data"]["mapping"]["status"], "ignored");
    assert_eq!(resp.json()["data"]["changed"], true);
    assert!(resp.json()["data"]["reconcile_job_id"].is_string());
    let resp = app
        .post("/api/v1/canonical/ignore", &w.dev_key, body("u2"))
        .await;
    assert_eq!(resp.json()["data"]["changed"], false);
    assert_eq!(resp.json()["message"], "workflow was already ignored");
    let resp = app
        .post("/api/v1/canonical/unignore", &w.dev_key, body("u2"))
        .await;
    assert_eq!(resp.json()["data"]["mapping"]["status"], "untracked");
    assert_eq!(status_of("u2").await, "untracked");

    // a linked workflow goes back to linked
    let resp = app
        .post("/api/v1/canonical/ignore", &w.dev_key, body("d-taken"))
        .await;
    assert_eq!(resp.json()["data"]["mapping"]["status"], "ignored");
    let resp = app
        .post("/api/v1/canonical/unignore", &w.dev_key, body("d-taken"))
        .await;
    assert_eq!(resp.json()["data"]["mapping"]["status"], "linked");
    assert_eq!(
        resp.json()["data"]["mapping"]["canonical_id"],
        w.c_taken.to_string().as_str()
    );
    // not ignored: nothing to do
    let resp = app
        .post("/api/v1/canonical/unignore", &w.dev_key, body("u1"))
        .await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.json()["data"]["changed"], false);
    assert_eq!(resp.json()["data"]["reconcile_job_id"], Value::Null);

    let msg = app
        .post("/api/v1/canonical/ignore", &w.dev_key, body("x1"))
        .await
        .expect_error(409, "workflow_mapping_deleted");
    assert!(msg.contains("deleted"), "{msg}");
    assert_eq!(status_of("x1").await, "deleted");
    app.post("/api/v1/canonical/ignore", &w.dev_key, body("nope"))
        .await
        .expect_error(409, "workflow_not_in_environment");
    app.post(
        "/api/v1/canonical/ignore",
        &w.dev_key,
        json!({"environment_id": w.b_env, "n8n_workflow_id": "bu"}),
    )
    .await
    .expect_error(404, "environment_not_found");
    app.post(
        "/api/v1/canonical/unignore",
        &w.dev_key,
        json!({"environment_id": env}),
    )
    .await
    .expect_error(422, "invalid_body");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn onboarding_preflight_inventory_and_completion() {
    // the preflight fetches into `<home>/git-cache`: keep it out of the checkout
    let home = tempfile::tempdir().unwrap();
    let home_path = home.path().to_path_buf();
    let app = spawn_app_with(move |c| c.home = home_path).await;
    let a = app.tenant("Acme").await;
    let b = app.tenant("Globex").await;
    let dev_key = app.key(&a, "developer").await;
    let viewer = app.key(&a, "viewer").await;
    let fake = wfops_fake_n8n::FakeN8n::start().unwrap();
    let repo = bare_repo();
    let env = create_env(
        &app,
        &a,
        json!({"name": "Dev", "url": fake.url(), "api_key": fake.api_key(),
               "git_repo_url": repo.path().to_str().unwrap(), "git_folder": "dev"}),
    )
    .await;
    let down = create_env(
        &app,
        &a,
        json!({"name": "Down", "url": "http://127.0.0.1:9", "api_key": "k"}),
    )
    .await;
    let b_env = create_env(&app, &b, json!({"name": "B", "url": "http://127.0.0.1:9"})).await;
    for (id, status) in [("u1", "untracked"), ("u2", "untracked"), ("i1", "ignored")] {
        seed::mapping(
            &app.test_db,
            a.id,
            env,
            id,
            None,
            status,
            id,
            Some(&seed::hash(id)),
            None,
        )
        .await;
    }

    let path = format!("/api/v1/canonical/onboard/preflight?environment_id={env}");
    app.get(&path, &dev_key)
        .await
        .expect_error(403, "insufficient_role");
    let resp = app.get(&path, &a.admin_key).await;
    assert_eq!(resp.status, 200, "{}", resp.text);
    let p = &resp.json()["data"];
    assert_eq!(p["ready"], true, "{p}");
    assert_eq!(p["n8n"]["ok"], true);
    assert_eq!(p["git_configured"]["ok"], true);
    assert_eq!(p["git_remote"]["ok"], true);
    assert_eq!(p["branch"]["state"], "missing");
    assert_eq!(p["counts"]["untracked"], 2);
    assert_eq!(p["counts"]["ignored"], 1);
    assert!(
        !resp.text.contains(fake.api_key()),
        "no secret in the answer"
    );

    let resp = app
        .get(
            &format!("/api/v1/canonical/onboard/preflight?environment_id={down}"),
            &a.admin_key,
        )
        .await;
    assert_eq!(resp.status, 200, "{}", resp.text);
    let p = &resp.json()["data"];
    assert_eq!(p["ready"], false);
    assert_eq!(p["n8n"]["ok"], false);
    assert_eq!(p["git_configured"]["ok"], false);
    app.get(
        &format!("/api/v1/canonical/onboard/preflight?environment_id={b_env}"),
        &a.admin_key,
    )
    .await
    .expect_error(404, "environment_not_found");
    let msg = app
        .get("/api/v1/canonical/onboard/preflight", &a.admin_key)
        .await
        .expect_error(400, "invalid_query_parameter");
    assert!(msg.contains("environment_id"), "{msg}");

    // inventory: admin only, a job, no pile-up, refused without Git
    let body = json!({"environment_id": env});
    app.post(
        "/api/v1/canonical/onboard/inventory",
        &dev_key,
        body.clone(),
    )
    .await
    .expect_error(403, "insufficient_role");
    let j1 = job_of(
        &app.post(
            "/api/v1/canonical/onboard/inventory",
            &a.admin_key,
            body.clone(),
        )
        .await,
    );
    assert_eq!(j1["job_type"], "onboarding_inventory");
    let j2 = job_of(
        &app.post("/api/v1/canonical/onboard/inventory", &a.admin_key, body)
            .await,
    );
    assert_eq!(j1["id"], j2["id"]);
    app.post(
        "/api/v1/canonical/onboard/inventory",
        &a.admin_key,
        json!({"environment_id": down}),
    )
    .await
    .expect_error(409, "git_not_configured");
    app.post(
        "/api/v1/canonical/onboard/inventory",
        &a.admin_key,
        json!({"environment_id": b_env}),
    )
    .await
    .expect_error(404, "environment_not_found");

    // completion: viewers may read it
    let resp = app
        .get(
            &format!("/api/v1/canonical/onboard/completion?environment_id={env}"),
            &viewer,
        )
        .await;
    assert_eq!(resp.status, 200, "{}", resp.text);
    let c = &resp.json()["data"];
    assert_eq!(c["untracked"], 2);
    assert_eq!(c["ignored"], 1);
    assert_eq!(c["linked"], 0);
    assert_eq!(c["complete"], false);
    app.get(
        &format!("/api/v1/canonical/onboard/completion?environment_id={b_env}"),
        &viewer,
    )
    .await
    .expect_error(404, "environment_not_found");
    app.get(
        "/api/v1/canonical/onboard/completion?environment_id=zz",
        &viewer,
    )
    .await
    .expect_error(400, "invalid_query_parameter");
}
