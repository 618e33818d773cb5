// Test code: a failed unwrap or expect is the test's failure message (clippy.toml allows them
// in tests, but not yet in the helpers of integration tests).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "../../../crates/git/tests/cases/validation.rs"]
mod git_cases;

use common::spawn_app;
use serde_json::{json, Value};
use uuid::Uuid;
use wfops_db::{audit, environments, ScopedFutureExt};

const N8N_KEY: &str = "n8n-plaintext-api-key-9f8e7d6c5b4a";
const GIT_TOKEN: &str = "ghp_plaintextGitToken1234567890abcdef";

fn full_body(name: &str) -> Value {
    json!({
        "name": name,
        "url": "https://n8n.example.com/",
        "provider": "n8n",
        "environment_class": "staging",
        "api_key": N8N_KEY,
        "drift_handling_mode": "require_attestation",
        "git_repo_url": "https://github.com/acme/workflows.git",
        "git_branch": "release",
        "git_folder": "staging",
        "git_token": GIT_TOKEN,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_get_update_delete_with_secrets_encrypted_and_never_returned() {
    let app = spawn_app().await;
    let t = app.tenant("Acme").await;
    let mut bodies = Vec::new();

    let created = app
        .post("/api/v1/environments", &t.admin_key, full_body("Staging"))
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    bodies.push(created.text.clone());
    let env = created.json()["data"].clone();
    assert_eq!(created.json()["message"], "environment created");
    assert!(created.json()["timestamp"].is_string());
    let id: Uuid = env["id"].as_str().unwrap().parse().unwrap();
    assert_eq!(env["name"], "Staging");
    assert_eq!(env["url"], "https://n8n.example.com");
    assert_eq!(env["environment_class"], "staging");
    assert_eq!(env["drift_handling_mode"], "require_attestation");
    assert_eq!(env["git_branch"], "release");
    assert_eq!(env["git_folder"], "staging");
    assert_eq!(env["has_api_key"], true);
    assert_eq!(env["has_git_token"], true);
    assert_eq!(env["drift_status"], "UNKNOWN");
    assert!(env.get("api_key").is_none() && env.get("api_key_encrypted").is_none());

    // stored encrypted, and decryptable with the configured key
    let stored = app
        .state
        .db
        .tenant_tx(t.id, |conn| {
            async move { environments::get(conn, id).await }.scope_boxed()
        })
        .await
        .unwrap();
    let enc_key = stored.api_key_encrypted.clone().unwrap();
    let enc_token = stored.git_token_encrypted.clone().unwrap();
    assert!(enc_key.starts_with("v1:") && !enc_key.contains(N8N_KEY));
    assert!(enc_token.starts_with("v1:") && !enc_token.contains(GIT_TOKEN));
    assert_eq!(
        app.state.cipher.decrypt_str(&enc_key).unwrap().expose(),
        N8N_KEY
    );
    assert_eq!(
        app.state.cipher.decrypt_str(&enc_token).unwrap().expose(),
        GIT_TOKEN
    );

    let got = app
        .get(&format!("/api/v1/environments/{id}"), &t.admin_key)
        .await;
    assert_eq!(got.status, 200, "{}", got.text);
    bodies.push(got.text.clone());
    assert_eq!(got.json()["data"]["id"], id.to_string().as_str());

    // PATCH: change the name, clear the git token with null, leave the api key alone
    let patched = app
        .patch(
            &format!("/api/v1/environments/{id}"),
            &t.admin_key,
            json!({ "name": "Staging EU", "git_token": null, "environment_class": "production" }),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.text);
    bodies.push(patched.text.clone());
    let p = patched.json()["data"].clone();
    assert_eq!(p["name"], "Staging EU");
    assert_eq!(p["environment_class"], "production");
    assert_eq!(p["has_git_token"], false);
    assert_eq!(p["has_api_key"], true);
    assert_eq!(p["git_branch"], "release", "untouched fields stay");

    // rotate the api key
    let rotated = app
        .patch(
            &format!("/api/v1/environments/{id}"),
            &t.admin_key,
            json!({ "api_key": "rotated-n8n-key-123456" }),
        )
        .await;
    assert_eq!(rotated.status, 200, "{}", rotated.text);
    bodies.push(rotated.text.clone());

    let listed = app.get("/api/v1/environments", &t.admin_key).await;
    bodies.push(listed.text.clone());

    // the audit trail: create, update, update — actor is the admin key, no secret in details
    let trail = app
        .state
        .db
        .tenant_tx(t.id, |conn| {
            let rid = id.to_string();
            async move { audit::for_resource(conn, "environment", &rid).await }.scope_boxed()
        })
        .await
        .unwrap();
    let actions: Vec<&str> = trail.iter().map(|a| a.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "environment.create",
            "environment.update",
            "environment.update"
        ]
    );
    assert!(trail.iter().all(|a| a.actor_type == "api_key"));
    assert!(trail.iter().all(|a| a.request_id.is_some()));
    assert_eq!(
        trail[1].details["changed"],
        json!(["name", "environment_class", "git_token"])
    );
    let trail_text = format!("{trail:?}");
    for secret in [N8N_KEY, GIT_TOKEN, "rotated-n8n-key-123456"] {
        assert!(!trail_text.contains(secret));
    }

    let deleted = app
        .delete(&format!("/api/v1/environments/{id}"), &t.admin_key)
        .await;
    assert_eq!(deleted.status, 200, "{}", deleted.text);
    assert_eq!(deleted.json()["data"]["deleted"], true);
    app.get(&format!("/api/v1/environments/{id}"), &t.admin_key)
        .await
        .expect_error(404, "environment_not_found");
    app.delete(&format!("/api/v1/environments/{id}"), &t.admin_key)
        .await
        .expect_error(404, "environment_not_found");

    for body in &bodies {
        for secret in [
            N8N_KEY,
            GIT_TOKEN,
            "rotated-n8n-key-123456",
            &enc_key,
            &enc_token,
        ] {
            assert!(!body.contains(secret), "a response leaked a secret: {body}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_tenants_environment_is_not_found() {
    let app = spawn_app().await;
    let a = app.tenant("Alpha").await;
    let b = app.tenant("Beta").await;
    let b_env = app.environment(&b, "prod").await;
    let a_env = app.environment(&a, "dev").await;

    let path = format!("/api/v1/environments/{b_env}");
    app.get(&path, &a.admin_key)
        .await
        .expect_error(404, "environment_not_found");
    app.patch(&path, &a.admin_key, json!({ "name": "hijacked" }))
        .await
        .expect_error(404, "environment_not_found");
    app.delete(&path, &a.admin_key)
        .await
        .expect_error(404, "environment_not_found");

    // A's list shows only A's environment; B's is untouched
    let list = app.get("/api/v1/environments", &a.admin_key).await.json();
    assert_eq!(list["pagination"]["total"], 1);
    assert_eq!(list["data"][0]["id"], a_env.to_string().as_str());
    let still = app.get(&path, &b.admin_key).await;
    assert_eq!(still.status, 200);
    assert_eq!(still.json()["data"]["name"], "prod");

    // the same name may exist in two tenants
    let same = app
        .post(
            "/api/v1/environments",
            &a.admin_key,
            json!({ "name": "prod", "url": "https://a.example.com" }),
        )
        .await;
    assert_eq!(same.status, 201, "{}", same.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_names_conflict_with_the_field_named() {
    let app = spawn_app().await;
    let t = app.tenant("Acme").await;
    let first = app.environment(&t, "dev").await;
    let resp = app
        .post(
            "/api/v1/environments",
            &t.admin_key,
            json!({ "name": "dev", "url": "https://other.example.com" }),
        )
        .await;
    let msg = resp.expect_error(409, "environment_name_taken");
    assert!(msg.contains("name"), "{msg}");
    assert_eq!(resp.json()["error"]["details"]["field"], "name");

    // renaming another environment onto an existing name conflicts too
    let second = app.environment(&t, "staging").await;
    app.patch(
        &format!("/api/v1/environments/{second}"),
        &t.admin_key,
        json!({ "name": "dev" }),
    )
    .await
    .expect_error(409, "environment_name_taken");
    // and renaming onto itself is fine
    let same = app
        .patch(
            &format!("/api/v1/environments/{first}"),
            &t.admin_key,
            json!({ "name": "dev" }),
        )
        .await;
    assert_eq!(same.status, 200, "{}", same.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validation_errors_name_the_problem() {
    let app = spawn_app().await;
    let t = app.tenant("Acme").await;
    let base = || json!({ "name": "x", "url": "https://n8n.example.com" });
    let with = |k: &str, v: Value| {
        let mut b = base();
        b[k] = v;
        b
    };
    let cases: Vec<(Value, u16, &str, &str)> = vec![
        (with("name", json!("   ")), 422, "invalid_name", "name"),
        (
            with("name", json!("x".repeat(101))),
            422,
            "invalid_name",
            "name",
        ),
        (with("url", json!("ftp://x")), 422, "invalid_url", "url"),
        (with("url", json!("not a url")), 422, "invalid_url", "url"),
        (
            with("url", json!("https://u:p@h.example.com")),
            422,
            "invalid_url",
            "credentials",
        ),
        (
            with("environment_class", json!("qa")),
            422,
            "invalid_body",
            "environment_class",
        ),
        (
            with("provider", json!("zapier")),
            422,
            "invalid_body",
            "provider",
        ),
        (
            with("drift_handling_mode", json!("ignore")),
            422,
            "invalid_body",
            "drift_handling_mode",
        ),
        (
            with("git_repo_url", json!("http://github.com/a/b")),
            422,
            "invalid_git_repo_url",
            "git_repo_url",
        ),
        (
            with("git_repo_url", json!("gopher://x/y")),
            422,
            "invalid_git_repo_url",
            "git_repo_url",
        ),
        (
            with("git_branch", json!("a..b")),
            422,
            "invalid_git_branch",
            "git_branch",
        ),
        (
            with("git_folder", json!("../etc")),
            422,
            "invalid_git_folder",
            "git_folder",
        ),
        (
            with("api_key", json!("")),
            422,
            "invalid_n8n_api_key",
            "api_key",
        ),
        (with("name", json!(42)), 422, "invalid_body", "name"),
        (
            with("color", json!("blue")),
            422,
            "invalid_body",
            "unknown field `color`",
        ),
        (
            json!({ "url": "https://n8n.example.com" }),
            422,
            "invalid_body",
            "missing field `name`",
        ),
        (
            json!("just a string"),
            422,
            "invalid_body",
            "expected struct",
        ),
    ];
    for (body, status, code, needle) in cases {
        let resp = app
            .post("/api/v1/environments", &t.admin_key, body.clone())
            .await;
        let msg = resp.expect_error(status, code);
        assert!(msg.contains(needle), "{body}: {msg}");
    }
    // nothing was created by any of them
    let list = app.get("/api/v1/environments", &t.admin_key).await.json();
    assert_eq!(list["pagination"]["total"], 0);

    // PATCH-specific rules
    let id = app.environment(&t, "dev").await;
    let path = format!("/api/v1/environments/{id}");
    for (body, code, needle) in [
        (json!({}), "empty_update", "at least one field"),
        (json!({ "name": null }), "invalid_body", "name"),
        (json!({ "git_branch": null }), "invalid_body", "git_branch"),
        (json!({ "url": "ftp://x" }), "invalid_url", "url"),
        (
            json!({ "tenant_id": Uuid::new_v4() }),
            "invalid_body",
            "tenant_id",
        ),
    ] {
        let msg = app
            .patch(&path, &t.admin_key, body.clone())
            .await
            .expect_error(422, code);
        assert!(msg.contains(needle), "{body}: {msg}");
    }
    // the git repo can be cleared with null
    let set = app
        .patch(
            &path,
            &t.admin_key,
            json!({ "git_repo_url": "git@github.com:a/b.git" }),
        )
        .await;
    assert_eq!(set.json()["data"]["git_repo_url"], "git@github.com:a/b.git");
    let cleared = app
        .patch(&path, &t.admin_key, json!({ "git_repo_url": null }))
        .await;
    assert!(cleared.json()["data"]["git_repo_url"].is_null());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pagination() {
    let app = spawn_app().await;
    let t = app.tenant("Acme").await;
    for i in 0..7 {
        app.environment(&t, &format!("env-{i:02}")).await;
    }
    let page = |q: &str| {
        let app = &app;
        let key = t.admin_key.clone();
        let q = q.to_string();
        async move { app.get(&format!("/api/v1/environments{q}"), &key).await }
    };

    let first = page("?page=1&page_size=3").await.json();
    assert_eq!(
        first["pagination"],
        json!({ "page": 1, "page_size": 3, "total": 7, "total_pages": 3 })
    );
    let names: Vec<&str> = first["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["env-00", "env-01", "env-02"]);
    assert!(
        first.get("timestamp").is_none(),
        "lists follow the list envelope"
    );

    let last = page("?page=3&page_size=3").await.json();
    assert_eq!(last["data"].as_array().unwrap().len(), 1);
    assert_eq!(last["data"][0]["name"], "env-06");
    let beyond = page("?page=9&page_size=3").await.json();
    assert_eq!(beyond["data"], json!([]));
    assert_eq!(beyond["pagination"]["total"], 7);

    let default = page("").await.json();
    assert_eq!(default["pagination"]["page_size"], 50);
    assert_eq!(default["pagination"]["page"], 1);

    for (q, needle) in [
        ("?page=0", "`page`"),
        ("?page=abc", "`page`"),
        ("?page_size=201", "`page_size`"),
        ("?page_size=0", "`page_size`"),
        ("?sort=name", "unknown field `sort`"),
    ] {
        let msg = page(q).await.expect_error(400, "invalid_query_parameter");
        assert!(msg.contains(needle), "{q}: {msg}");
    }
}

/// The API accepts exactly the Git settings the Git adapter accepts: the shared table of cases
/// that `crates/git/tests/validation.rs` runs against the adapter.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn git_settings_follow_the_adapters_table() {
    use git_cases::{Verdict, CASES};
    let app = spawn_app().await;
    let t = app.tenant("Acme").await;
    let patch_target = app.environment(&t, "patched").await;
    let patch_path = format!("/api/v1/environments/{patch_target}");
    for (i, case) in CASES.iter().enumerate() {
        let field = case.field.api_name();
        let mut body = json!({ "name": format!("case {i}"), "url": "https://n8n.example.com" });
        body[field] = json!(case.value);
        let created = app.post("/api/v1/environments", &t.admin_key, body).await;
        let mut change = json!({});
        change[field] = json!(case.value);
        let patched = app.patch(&patch_path, &t.admin_key, change).await;
        match case.verdict {
            Verdict::Accept(_) => {
                assert_eq!(created.status, 201, "{case:?}: {}", created.text);
                assert_eq!(created.json()["data"][field], case.value, "{case:?}");
                assert_eq!(patched.status, 200, "{case:?}: {}", patched.text);
                assert_eq!(patched.json()["data"][field], case.value, "{case:?}");
            }
            Verdict::Refuse(needle) => {
                for resp in [&created, &patched] {
                    let msg = resp.expect_error(422, &format!("invalid_{field}"));
                    assert!(msg.contains(needle), "{case:?}: {msg}");
                    assert_eq!(resp.json()["error"]["details"]["field"], field, "{case:?}");
                    assert!(!resp.text.contains("hunter2"), "{case:?}: {}", resp.text);
                }
            }
        }
    }
    let accepted = CASES
        .iter()
        .filter(|c| matches!(c.verdict, Verdict::Accept(_)))
        .count();
    let list = app
        .get("/api/v1/environments?page_size=200", &t.admin_key)
        .await
        .json();
    assert_eq!(
        list["pagination"]["total"],
        accepted + 1,
        "only accepted cases were created"
    );
}

/// `make` is in the data model, but no sync can serve it yet: refused on create and update.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_make_provider_is_refused_until_it_can_be_synced() {
    let app = spawn_app().await;
    let t = app.tenant("Acme").await;
    let msg = app
        .post(
            "/api/v1/environments",
            &t.admin_key,
            json!({ "name": "m", "url": "https://make.example.com", "provider": "make" }),
        )
        .await
        .expect_error(422, "provider_not_supported");
    assert!(msg.contains("make") && msg.contains("n8n"), "{msg}");
    let id = app.environment(&t, "dev").await;
    let resp = app
        .patch(
            &format!("/api/v1/environments/{id}"),
            &t.admin_key,
            json!({ "provider": "make" }),
        )
        .await;
    resp.expect_error(422, "provider_not_supported");
    assert_eq!(resp.json()["error"]["details"]["field"], "provider");
    let env = app
        .get(&format!("/api/v1/environments/{id}"), &t.admin_key)
        .await
        .json();
    assert_eq!(env["data"]["provider"], "n8n");
    let list = app.get("/api/v1/environments", &t.admin_key).await.json();
    assert_eq!(list["pagination"]["total"], 1);
}
