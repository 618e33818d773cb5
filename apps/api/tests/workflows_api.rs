//! The read endpoints: the matrix, the workflow and canonical lists, a workflow's
//! versions and the node diff between two of them. Data is seeded directly (tests/seed).

// Test code: a failed unwrap or expect is the test's failure message (clippy.toml allows them
// in tests, but not yet in the helpers of integration tests).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod seed;

use common::{spawn_app, Response, Tenant, TestApp};
use serde_json::{json, Value};
use uuid::Uuid;

/// A small workflow; `url` is the HTTP node's parameter a test changes.
fn workflow(url: &str) -> Value {
    json!({
        "name": "Order sync",
        "nodes": [
            {"id": "a1", "name": "Start", "type": "n8n-nodes-base.manualTrigger",
             "typeVersion": 1, "position": [0, 0], "parameters": {}},
            {"id": "b2", "name": "Fetch orders", "type": "n8n-nodes-base.httpRequest",
             "typeVersion": 4, "position": [220, 0],
             "parameters": {"url": url, "method": "GET"}}
        ],
        "connections": {"Start": {"main": [[{"node": "Fetch orders", "type": "main", "index": 0}]]}},
        "settings": {"executionOrder": "v1"}
    })
}

async fn create_env(app: &TestApp, t: &Tenant, name: &str, class: &str, folder: &str) -> Uuid {
    let resp = app
        .post(
            "/api/v1/environments",
            &t.admin_key,
            json!({"name": name, "url": "http://127.0.0.1:9", "environment_class": class,
                   "git_folder": folder, "api_key": "k"}),
        )
        .await;
    assert_eq!(resp.status, 201, "{}", resp.text);
    resp.json()["data"]["id"].as_str().unwrap().parse().unwrap()
}

struct World {
    app: TestApp,
    a: Tenant,
    b: Tenant,
    viewer: String,
    dev: Uuid,
    prod: Uuid,
    b_env: Uuid,
    order: Uuid,
    billing: Uuid,
    crm: Uuid,
    deleted: Uuid,
    b_canonical: Uuid,
}

/// Tenant A: environments `Prod` (production) and `Dev` (dev); canonical workflows
/// "Order sync" (modified in dev against Git), "billing report" (missing in prod),
/// "CRM import" (only a Git file in dev), a deleted one; untracked and ignored workflows in dev.
/// Tenant B: one environment and one canonical workflow.
async fn world() -> World {
    let app = spawn_app().await;
    let a = app.tenant("Acme").await;
    let b = app.tenant("Globex").await;
    let viewer = app.key(&a, "viewer").await;
    // created in reverse order: the matrix orders by class, not creation
    let prod = create_env(&app, &a, "Prod", "production", "prod").await;
    let dev = create_env(&app, &a, "Dev", "dev", "dev").await;
    let b_env = create_env(&app, &b, "B dev", "dev", "dev").await;
    let db = &app.test_db;
    let (ta, tb) = (a.id, b.id);

    let original = workflow("https://api.example.com/v1/orders");
    let changed = workflow("https://api.example.com/v2/orders");
    let h_orig = wfops_diff::content_hash_value(&original).unwrap().to_hex();
    let h_changed = wfops_diff::content_hash_value(&changed).unwrap().to_hex();

    let order = seed::canonical(db, ta, "order-sync", "Order sync", 5, false).await;
    seed::mapping(
        db,
        ta,
        dev,
        "d-order",
        Some(order),
        "linked",
        "Order sync",
        Some(&h_changed),
        Some(&changed),
    )
    .await;
    seed::mapping(
        db,
        ta,
        prod,
        "p-order",
        Some(order),
        "linked",
        "Order sync",
        Some(&h_orig),
        Some(&original),
    )
    .await;
    seed::git_state(
        db,
        ta,
        order,
        dev,
        "workflows/dev/order-sync.json",
        &h_orig,
        Some(&original),
    )
    .await;
    seed::git_state(
        db,
        ta,
        order,
        prod,
        "workflows/prod/order-sync.json",
        &h_orig,
        Some(&original),
    )
    .await;
    seed::diff_state(db, ta, order, dev, "modified").await;
    seed::diff_state(db, ta, order, prod, "unchanged").await;

    let billing = seed::canonical(db, ta, "billing-report", "billing report", 10, false).await;
    let hb = seed::hash("billing");
    seed::mapping(
        db,
        ta,
        dev,
        "d-billing",
        Some(billing),
        "linked",
        "billing report",
        Some(&hb),
        None,
    )
    .await;
    seed::mapping(
        db,
        ta,
        prod,
        "p-billing",
        Some(billing),
        "missing",
        "billing report",
        Some(&hb),
        None,
    )
    .await;
    seed::git_state(
        db,
        ta,
        billing,
        dev,
        "workflows/dev/billing-report.json",
        &hb,
        None,
    )
    .await;
    seed::diff_state(db, ta, billing, dev, "unchanged").await;

    let crm = seed::canonical(db, ta, "crm-import", "CRM import", 1, false).await;
    seed::git_state(
        db,
        ta,
        crm,
        dev,
        "workflows/dev/crm-import.json",
        &seed::hash("crm"),
        None,
    )
    .await;

    let deleted = seed::canonical(db, ta, "old-thing", "Old order thing", 0, true).await;

    seed::mapping(
        db,
        ta,
        dev,
        "u1",
        None,
        "untracked",
        "Scratch one",
        Some(&seed::hash("u1")),
        None,
    )
    .await;
    seed::mapping(
        db,
        ta,
        dev,
        "u2",
        None,
        "untracked",
        "scratch two",
        Some(&seed::hash("u2")),
        None,
    )
    .await;
    seed::mapping(
        db,
        ta,
        dev,
        "i1",
        None,
        "ignored",
        "Ignored flow",
        Some(&seed::hash("i1")),
        None,
    )
    .await;

    let b_canonical = seed::canonical(db, tb, "order-sync", "Order sync B", 3, false).await;
    seed::mapping(
        db,
        tb,
        b_env,
        "b-order",
        Some(b_canonical),
        "linked",
        "Order sync B",
        Some(&seed::hash("b")),
        None,
    )
    .await;
    seed::mapping(
        db,
        tb,
        b_env,
        "bu1",
        None,
        "untracked",
        "Scratch B",
        Some(&seed::hash("bu")),
        None,
    )
    .await;
    World {
        app,
        a,
        b,
        viewer,
        dev,
        prod,
        b_env,
        order,
        billing,
        crm,
        deleted,
        b_canonical,
    }
}

fn names(resp: &Response) -> Vec<String> {
    assert_eq!(resp.status, 200, "{}", resp.text);
    resp.json()["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_string())
        .collect()
}

fn field(resp: &Response, key: &str) -> Vec<String> {
    assert_eq!(resp.status, 200, "{}", resp.text);
    resp.json()["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r[key].as_str().unwrap_or_default().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn matrix_rows_cells_and_environment_columns() {
    let w = world().await;
    let resp = w.app.get("/api/v1/workflows/matrix", &w.viewer).await;
    assert_eq!(names(&resp), ["billing report", "CRM import", "Order sync"]);
    let body = resp.json();
    assert_eq!(
        body["pagination"],
        json!({"page": 1, "page_size": 50, "total": 3, "total_pages": 1})
    );
    let envs: Vec<&str> = body["environments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(envs, ["Dev", "Prod"], "promotion order, not creation order");

    let order = &body["data"][2];
    assert_eq!(order["canonical_id"], w.order.to_string().as_str());
    assert_eq!(order["canonical_slug"], "order-sync");
    let cells = order["cells"].as_array().unwrap();
    assert_eq!(cells.len(), 2);
    assert_eq!(cells[0]["environment_id"], w.dev.to_string().as_str());
    assert_eq!(cells[0]["mapping_status"], "linked");
    assert_eq!(cells[0]["n8n_workflow_id"], "d-order");
    assert_eq!(cells[0]["diff_status"], "modified");
    assert_ne!(cells[0]["env_content_hash"], cells[0]["git_content_hash"]);
    assert!(cells[0]["git_commit_sha"].is_string());
    assert!(cells[0]["updated_at"].is_string());
    assert_eq!(cells[1]["environment_id"], w.prod.to_string().as_str());
    assert_eq!(cells[1]["diff_status"], "unchanged");
    assert_eq!(cells[1]["env_content_hash"], cells[1]["git_content_hash"]);

    // a Git file without a mapping, and an environment with nothing: an empty cell
    let crm = &body["data"][1];
    assert_eq!(crm["cells"][0]["mapping_status"], Value::Null);
    assert_eq!(
        crm["cells"][0]["git_content_hash"],
        seed::hash("crm").as_str()
    );
    assert_eq!(
        crm["cells"][1],
        json!({"environment_id": w.prod.to_string(), "mapping_status": null,
               "n8n_workflow_id": null, "workflow_name": null, "env_content_hash": null,
               "git_content_hash": null, "git_commit_sha": null, "diff_status": null,
               "n8n_updated_at": null, "updated_at": null, "stage": null})
    );
    assert_eq!(body["data"][0]["cells"][1]["mapping_status"], "missing");

    // the other tenant sees only its own
    let resp = w.app.get("/api/v1/workflows/matrix", &w.b.admin_key).await;
    assert_eq!(names(&resp), ["Order sync B"]);
    assert_eq!(resp.json()["environments"].as_array().unwrap().len(), 1);
    assert_eq!(
        resp.json()["data"][0]["canonical_id"],
        w.b_canonical.to_string().as_str()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn matrix_sorts_pages_and_filters() {
    let w = world().await;
    let m = |q: &str| format!("/api/v1/workflows/matrix?{q}");
    let get = |q: String| {
        let app = &w.app;
        let key = w.viewer.clone();
        async move { app.get(&q, &key).await }
    };
    assert_eq!(
        names(&get(m("sort=-name")).await),
        ["Order sync", "CRM import", "billing report"]
    );
    assert_eq!(
        names(&get(m("sort=updated_at")).await),
        ["billing report", "Order sync", "CRM import"]
    );
    assert_eq!(
        names(&get(m("sort=-updated_at")).await),
        ["CRM import", "Order sync", "billing report"]
    );

    let p1 = get(m("page_size=2")).await;
    assert_eq!(names(&p1), ["billing report", "CRM import"]);
    assert_eq!(
        p1.json()["pagination"],
        json!({"page": 1, "page_size": 2, "total": 3, "total_pages": 2})
    );
    assert_eq!(names(&get(m("page_size=2&page=2")).await), ["Order sync"]);
    let past = get(m("page_size=2&page=3")).await;
    assert!(names(&past).is_empty());
    assert_eq!(
        past.json()["pagination"]["total"],
        3,
        "the total survives a page past the end"
    );

    assert_eq!(names(&get(m("search=ORDER")).await), ["Order sync"]);
    assert_eq!(
        names(&get(m("search=billing-rep")).await),
        ["billing report"]
    );
    assert!(
        names(&get(m("search=%25")).await).is_empty(),
        "% is literal"
    );
    assert!(names(&get(m("search=_")).await).is_empty(), "_ is literal");

    assert_eq!(names(&get(m("status=missing")).await), ["billing report"]);
    let dev = w.dev;
    let prod = w.prod;
    assert!(names(&get(m(&format!("status=missing&environment_id={dev}"))).await).is_empty());
    assert_eq!(
        names(&get(m(&format!("status=linked&environment_id={prod}"))).await),
        ["Order sync"]
    );
    assert_eq!(
        names(&get(m("status=linked")).await),
        ["billing report", "Order sync"]
    );
    assert_eq!(names(&get(m("diff_status=modified")).await), ["Order sync"]);
    assert!(
        names(&get(m(&format!("diff_status=modified&environment_id={prod}"))).await).is_empty()
    );
    assert_eq!(
        names(&get(m("diff_status=unchanged&status=linked&search=sync")).await),
        ["Order sync"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_query_values_are_400_with_a_message() {
    let w = world().await;
    for (query, names_it) in [
        ("status=bogus", "`status`"),
        ("diff_status=drifted", "`diff_status`"),
        ("sort=size", "`sort`"),
        ("page=0", "`page`"),
        ("page_size=500", "`page_size`"),
        ("environment_id=nope", "`environment_id`"),
        ("colour=red", "colour"),
    ] {
        let resp = w
            .app
            .get(&format!("/api/v1/workflows/matrix?{query}"), &w.viewer)
            .await;
        let msg = resp.expect_error(400, "invalid_query_parameter");
        assert!(msg.contains(names_it), "{query}: {msg}");
    }
    let long = "x".repeat(201);
    let resp = w
        .app
        .get(&format!("/api/v1/workflows?search={long}"), &w.viewer)
        .await;
    resp.expect_error(400, "invalid_query_parameter");
    let resp = w.app.get("/api/v1/workflows?status=linkd", &w.viewer).await;
    let msg = resp.expect_error(400, "invalid_query_parameter");
    assert!(
        msg.contains("linked, untracked, missing, ignored, deleted"),
        "{msg}"
    );
    let resp = w
        .app
        .get("/api/v1/canonical/untracked?environment_id=123", &w.viewer)
        .await;
    resp.expect_error(400, "invalid_query_parameter");

    // another tenant's environment is not found, as are unknown ones
    for path in [
        format!("/api/v1/workflows/matrix?environment_id={}", w.b_env),
        format!("/api/v1/workflows?environment_id={}", w.b_env),
        format!("/api/v1/canonical/untracked?environment_id={}", w.b_env),
        format!("/api/v1/workflows/matrix?environment_id={}", Uuid::new_v4()),
    ] {
        w.app
            .get(&path, &w.viewer)
            .await
            .expect_error(404, "environment_not_found");
    }
    w.app
        .call(reqwest::Method::GET, "/api/v1/workflows/matrix", None, None)
        .await
        .expect_error(401, "authentication_required");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workflow_and_untracked_lists_filter_and_paginate() {
    let w = world().await;
    let all = w.app.get("/api/v1/workflows", &w.viewer).await;
    assert_eq!(all.json()["pagination"]["total"], 7);
    let dev = w.dev;
    let resp = w
        .app
        .get(
            &format!("/api/v1/workflows?environment_id={dev}&status=untracked"),
            &w.viewer,
        )
        .await;
    assert_eq!(field(&resp, "n8n_workflow_id"), ["u1", "u2"]);
    let item = &resp.json()["data"][0];
    assert_eq!(item["environment_name"], "Dev");
    assert_eq!(item["canonical_id"], Value::Null);
    assert_eq!(item["workflow_name"], "Scratch one");
    assert!(
        item.get("workflow_data").is_none(),
        "documents stay out of lists"
    );

    let resp = w
        .app
        .get("/api/v1/workflows?search=SCRATCH", &w.viewer)
        .await;
    assert_eq!(field(&resp, "n8n_workflow_id"), ["u1", "u2"]);
    let resp = w.app.get("/api/v1/workflows?search=i1", &w.viewer).await;
    assert_eq!(field(&resp, "n8n_workflow_id"), ["i1"], "exact n8n id");
    let resp = w
        .app
        .get("/api/v1/workflows?status=linked", &w.viewer)
        .await;
    let linked = field(&resp, "canonical_slug");
    assert_eq!(linked, ["billing-report", "order-sync", "order-sync"]);

    let p = w
        .app
        .get("/api/v1/workflows?page_size=3&page=3", &w.viewer)
        .await;
    assert_eq!(p.json()["data"].as_array().unwrap().len(), 1);
    assert_eq!(
        p.json()["pagination"],
        json!({"page": 3, "page_size": 3, "total": 7, "total_pages": 3})
    );

    let resp = w.app.get("/api/v1/canonical/untracked", &w.viewer).await;
    assert_eq!(field(&resp, "n8n_workflow_id"), ["u1", "u2"]);
    let resp = w
        .app
        .get(
            &format!("/api/v1/canonical/untracked?environment_id={}", w.prod),
            &w.viewer,
        )
        .await;
    assert!(field(&resp, "n8n_workflow_id").is_empty());
    let resp = w
        .app
        .get("/api/v1/canonical/untracked", &w.b.admin_key)
        .await;
    assert_eq!(field(&resp, "n8n_workflow_id"), ["bu1"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canonical_list_and_detail() {
    let w = world().await;
    let resp = w.app.get("/api/v1/canonical/workflows", &w.viewer).await;
    assert_eq!(names(&resp), ["billing report", "CRM import", "Order sync"]);
    assert_eq!(
        resp.json()["pagination"]["total"],
        3,
        "deleted ones are not listed"
    );
    let resp = w
        .app
        .get(
            "/api/v1/canonical/workflows?search=order&page_size=1",
            &w.viewer,
        )
        .await;
    assert_eq!(names(&resp), ["Order sync"]);

    let resp = w
        .app
        .get(
            &format!("/api/v1/canonical/workflows/{}", w.order),
            &w.viewer,
        )
        .await;
    assert_eq!(resp.status, 200, "{}", resp.text);
    let d = &resp.json()["data"];
    assert_eq!(d["id"], w.order.to_string().as_str());
    assert_eq!(d["canonical_slug"], "order-sync");
    let mappings: Vec<&str> = d["mappings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["environment_name"].as_str().unwrap())
        .collect();
    assert_eq!(mappings, ["Dev", "Prod"]);
    let git: Vec<&str> = d["git_states"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["git_path"].as_str().unwrap())
        .collect();
    assert_eq!(
        git,
        [
            "workflows/dev/order-sync.json",
            "workflows/prod/order-sync.json"
        ]
    );
    assert_eq!(d["git_states"][0]["git_folder"], "dev");
    assert_eq!(d["diff_states"].as_array().unwrap().len(), 2);

    let resp = w
        .app
        .get(
            &format!("/api/v1/canonical/workflows/{}", w.deleted),
            &w.viewer,
        )
        .await;
    assert_eq!(resp.status, 200);
    assert!(resp.json()["data"]["deleted_at"].is_string());
    w.app
        .get(
            &format!("/api/v1/canonical/workflows/{}", w.b_canonical),
            &w.viewer,
        )
        .await
        .expect_error(404, "canonical_workflow_not_found");
    w.app
        .get("/api/v1/canonical/workflows/nope", &w.viewer)
        .await
        .expect_error(400, "invalid_path_parameter");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workflow_versions_and_node_diff() {
    let w = world().await;
    let resp = w
        .app
        .get(&format!("/api/v1/workflows/{}", w.order), &w.viewer)
        .await;
    assert_eq!(resp.status, 200, "{}", resp.text);
    let d = &resp.json()["data"];
    assert_eq!(d["canonical"]["name"], "Order sync");
    let refs: Vec<&str> = d["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["ref"].as_str().unwrap())
        .collect();
    let (dev, prod) = (w.dev, w.prod);
    assert_eq!(
        refs,
        [
            format!("env:{dev}"),
            format!("env:{prod}"),
            format!("git:{dev}"),
            format!("git:{prod}")
        ]
    );
    let v0 = &d["versions"][0];
    assert_eq!(v0["kind"], "environment");
    assert_eq!(v0["n8n_workflow_id"], "d-order");
    assert_eq!(v0["mapping_status"], "linked");
    assert!(v0["content_hash"].as_str().unwrap().len() == 64);
    assert!(v0["changed_at"].is_string() && v0["synced_at"].is_string());
    let v2 = &d["versions"][2];
    assert_eq!(v2["kind"], "git");
    assert_eq!(v2["git_path"], "workflows/dev/order-sync.json");
    assert!(v2["git_commit_sha"].is_string() && v2["changed_at"].is_string());
    assert_ne!(v0["content_hash"], v2["content_hash"]);

    // what changed in dev against the committed file: one node parameter
    let resp = w
        .app
        .get(
            &format!(
                "/api/v1/workflows/{}/diff?from=git:{dev}&to=env:{dev}",
                w.order
            ),
            &w.viewer,
        )
        .await;
    assert_eq!(resp.status, 200, "{}", resp.text);
    let d = &resp.json()["data"];
    assert_eq!(d["from"]["ref"], format!("git:{dev}").as_str());
    assert_eq!(d["to"]["kind"], "environment");
    let diff = &d["diff"];
    assert_eq!(diff["content_changed"], true);
    assert!(diff["nodes"]["added"].as_array().unwrap().is_empty());
    let modified = diff["nodes"]["modified"].as_array().unwrap();
    assert_eq!(modified.len(), 1, "{diff}");
    assert_eq!(modified[0]["name"], "Fetch orders");
    assert_eq!(modified[0]["changes"][0]["path"], "/parameters/url");
    assert_eq!(
        modified[0]["changes"][0]["old"],
        "https://api.example.com/v1/orders"
    );
    assert_eq!(
        modified[0]["changes"][0]["new"],
        "https://api.example.com/v2/orders"
    );

    // prod against its Git file: the same content
    let resp = w
        .app
        .get(
            &format!(
                "/api/v1/workflows/{}/diff?from=git:{prod}&to=env:{prod}",
                w.order
            ),
            &w.viewer,
        )
        .await;
    assert_eq!(resp.json()["data"]["diff"]["content_changed"], false);

    // errors
    let base = format!("/api/v1/workflows/{}/diff", w.order);
    for (q, names_it) in [
        (String::new(), "`from`"),
        (format!("from=env:{dev}"), "`to`"),
        (format!("from=dev&to=env:{dev}"), "`from`"),
        (format!("from=env:{dev}&to=svn:{dev}"), "`to`"),
        (format!("from=env:x&to=env:{dev}"), "`from`"),
    ] {
        let resp = w.app.get(&format!("{base}?{q}"), &w.viewer).await;
        let msg = resp.expect_error(400, "invalid_query_parameter");
        assert!(msg.contains(names_it), "{q}: {msg}");
    }
    let resp = w
        .app
        .get(
            &format!(
                "/api/v1/workflows/{}/diff?from=git:{dev}&to=env:{dev}",
                w.crm
            ),
            &w.viewer,
        )
        .await;
    let msg = resp.expect_error(404, "workflow_version_not_found");
    assert!(msg.contains("no stored version"), "{msg}");
    let resp = w
        .app
        .get(
            &format!(
                "/api/v1/workflows/{}/diff?from=git:{dev}&to=env:{dev}",
                w.b_canonical
            ),
            &w.viewer,
        )
        .await;
    resp.expect_error(404, "canonical_workflow_not_found");
    w.app
        .get(&format!("/api/v1/workflows/{}", w.b_canonical), &w.viewer)
        .await
        .expect_error(404, "canonical_workflow_not_found");
    w.app
        .get("/api/v1/workflows/not-a-uuid", &w.viewer)
        .await
        .expect_error(400, "invalid_path_parameter");
    let _ = (w.billing, w.a.id);
}
