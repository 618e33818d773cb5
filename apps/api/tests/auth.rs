// Test code: a failed unwrap or expect is the test's failure message (clippy.toml allows them
// in tests, but not yet in the helpers of integration tests).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use chrono::{Duration, Utc};
use common::spawn_app;
use reqwest::Method;
use serde_json::json;
use uuid::Uuid;
use wfops_db::ScopedFutureExt;
use wfops_tenancy::{Claims, JwtKeys, Role};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_and_garbled_credentials_are_401_with_a_challenge() {
    let app = spawn_app().await;
    let path = "/api/v1/environments";

    let resp = app.call(Method::GET, path, None, None).await;
    let msg = resp.expect_error(401, "authentication_required");
    assert!(msg.contains("missing Authorization"), "{msg}");
    assert!(resp
        .header("www-authenticate")
        .unwrap()
        .starts_with("Bearer"));

    let cases: Vec<(String, &str)> = vec![
        ("Basic dXNlcjpwYXNz".into(), "Bearer <token>"),
        ("Bearer".into(), "empty"),
        ("bearer    ".into(), "empty"),
        ("Bearer not-a-jwt".into(), "invalid token"),
        ("Bearer a.b.c".into(), "invalid token"),
        ("Bearer wfo_short".into(), "malformed API key"),
        (
            format!("Bearer wfo_{}_{}", "A".repeat(12), "b".repeat(32)),
            "not valid",
        ),
    ];
    for (header, expected) in cases {
        let resp = app
            .send(
                app.client
                    .get(app.url(path))
                    .header("authorization", &header),
            )
            .await;
        let msg = resp.expect_error(401, "invalid_token");
        assert!(msg.contains(expected), "{header}: {msg}");
        assert!(resp.header("www-authenticate").unwrap().contains("Bearer"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwt_signature_expiry_and_revocation() {
    let app = spawn_app().await;
    let t = app.tenant("Acme").await;

    // a token signed with another secret
    let forged = JwtKeys::new(b"some-other-secret-some-other-secret-123")
        .encode(&Claims::new(
            t.admin_user_id,
            t.id,
            Role::Admin,
            Utc::now(),
            3600,
        ))
        .unwrap();
    let msg = app
        .get("/api/v1/auth/me", &forged)
        .await
        .expect_error(401, "invalid_token");
    assert!(msg.contains("signature"), "{msg}");

    // an expired token signed with the right secret
    let expired = app
        .state
        .jwt
        .encode(&Claims::new(
            t.admin_user_id,
            t.id,
            Role::Admin,
            Utc::now() - Duration::hours(2),
            3600,
        ))
        .unwrap();
    let resp = app.get("/api/v1/auth/me", &expired).await;
    resp.expect_error(401, "token_expired");
    assert!(resp
        .header("www-authenticate")
        .unwrap()
        .contains("invalid_token"));

    // a valid token for a user that does not exist
    let ghost = app
        .state
        .jwt
        .encode(&Claims::new(
            Uuid::new_v4(),
            t.id,
            Role::Admin,
            Utc::now(),
            60,
        ))
        .unwrap();
    app.get("/api/v1/auth/me", &ghost)
        .await
        .expect_error(401, "invalid_token");

    // login, use, logout, refused
    let token = app.login_token(&t).await;
    let me = app.get("/api/v1/auth/me", &token).await;
    assert_eq!(me.status, 200, "{}", me.text);
    let me = me.json();
    assert_eq!(me["data"]["actor"]["type"], "user");
    assert_eq!(me["data"]["user"]["email"], t.email.as_str());
    assert_eq!(me["data"]["role"], "admin");
    assert_eq!(me["data"]["tenant"]["slug"], "acme");

    let out = app.post("/api/v1/auth/logout", &token, json!({})).await;
    assert_eq!(out.status, 200, "{}", out.text);
    assert_eq!(out.json()["data"]["revoked"], true);
    let msg = app
        .get("/api/v1/auth/me", &token)
        .await
        .expect_error(401, "invalid_token");
    assert!(msg.contains("revoked"), "{msg}");

    // another login gives a new, working token
    let again = app.login_token(&t).await;
    assert_eq!(app.get("/api/v1/auth/me", &again).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_failures_look_the_same() {
    let app = spawn_app().await;
    let t = app.tenant("Acme").await;

    let wrong = app.login(&t.email, "wrong password!!").await;
    let unknown = app.login("nobody@example.com", "whatever-password").await;
    assert_eq!(
        wrong.expect_error(401, "invalid_credentials"),
        unknown.expect_error(401, "invalid_credentials")
    );

    // deactivated users can not log in, and their tokens stop working
    let token = app.login_token(&t).await;
    app.test_db
        .admin_execute(&format!(
            "UPDATE users SET is_active = false WHERE id = '{}'",
            t.admin_user_id
        ))
        .await
        .unwrap();
    app.login(&t.email, &t.password)
        .await
        .expect_error(401, "invalid_credentials");
    let msg = app
        .get("/api/v1/auth/me", &token)
        .await
        .expect_error(401, "invalid_token");
    assert!(msg.contains("deactivated"), "{msg}");

    // the email is matched case-insensitively; a malformed email is a 422 naming the field
    app.test_db
        .admin_execute(&format!(
            "UPDATE users SET is_active = true WHERE id = '{}'",
            t.admin_user_id
        ))
        .await
        .unwrap();
    let ok = app.login(&t.email.to_uppercase(), &t.password).await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    let body = ok.json();
    assert_eq!(body["data"]["token_type"], "Bearer");
    assert_eq!(body["data"]["expires_in"], 3600);
    assert!(!ok.text.contains(&t.password));
    // a string that is no email address matches no account: the same answer as a wrong password
    let msg = app
        .login("not-an-email", "whatever-password")
        .await
        .expect_error(401, "invalid_credentials");
    assert!(msg.contains("email or password"), "{msg}");
    let resp = app
        .call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({ "email": t.email })),
        )
        .await;
    let msg = resp.expect_error(422, "invalid_body");
    assert!(msg.contains("password"), "{msg}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_keys_shown_once_revoked_and_expired() {
    let app = spawn_app().await;
    let t = app.tenant("Acme").await;

    let created = app
        .post(
            "/api/v1/api-keys",
            &t.admin_key,
            json!({ "name": "ci", "role": "developer" }),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let body = created.json();
    let key = body["data"]["key"].as_str().unwrap().to_string();
    let id = body["data"]["id"].as_str().unwrap().to_string();
    assert!(key.starts_with("wfo_"));
    assert_eq!(body["data"]["role"], "developer");
    assert!(body["message"]
        .as_str()
        .unwrap()
        .contains("not shown again"));
    assert!(body["data"].get("secret_hash").is_none());

    // the key works, and is recorded as used
    let me = app.get("/api/v1/auth/me", &key).await;
    assert_eq!(me.status, 200, "{}", me.text);
    assert_eq!(me.json()["data"]["actor"]["type"], "api_key");
    assert_eq!(me.json()["data"]["role"], "developer");
    assert!(me.json()["data"]["user"].is_null());

    // listing never shows the key or its hash
    let list = app.get("/api/v1/api-keys", &t.admin_key).await;
    assert_eq!(list.status, 200, "{}", list.text);
    assert!(!list.text.contains(&key), "full key listed");
    assert!(!list.text.contains(&key[17..]), "secret part listed");
    assert!(!list.text.contains("secret_hash"));
    let listed = list.json();
    assert_eq!(listed["pagination"]["total"], 2);
    let row = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == id.as_str())
        .unwrap()
        .clone();
    assert!(row["last_used_at"].is_string(), "{row}");
    assert_eq!(row["key_prefix"], &key[..17]);

    // an API key has no session to log out of
    app.post("/api/v1/auth/logout", &key, json!({}))
        .await
        .expect_error(403, "session_required");

    // revoke: the key stops working at once
    let revoked = app
        .delete(&format!("/api/v1/api-keys/{id}"), &t.admin_key)
        .await;
    assert_eq!(revoked.status, 200, "{}", revoked.text);
    assert!(revoked.json()["data"]["revoked_at"].is_string());
    let msg = app
        .get("/api/v1/auth/me", &key)
        .await
        .expect_error(401, "invalid_token");
    assert!(msg.contains("revoked"), "{msg}");
    // revoking twice is fine; an unknown key is 404
    assert_eq!(
        app.delete(&format!("/api/v1/api-keys/{id}"), &t.admin_key)
            .await
            .status,
        200
    );
    app.delete(
        &format!("/api/v1/api-keys/{}", Uuid::new_v4()),
        &t.admin_key,
    )
    .await
    .expect_error(404, "api_key_not_found");

    // every write left an audit row with the acting key, and no secret
    let trail = app
        .state
        .db
        .tenant_tx(t.id, |conn| {
            let rid = id.clone();
            async move { wfops_db::audit::for_resource(conn, "api_key", &rid).await }.scope_boxed()
        })
        .await
        .unwrap();
    let actions: Vec<&str> = trail.iter().map(|a| a.action.as_str()).collect();
    assert_eq!(
        actions,
        ["api_key.create", "api_key.revoke", "api_key.revoke"]
    );
    assert!(trail
        .iter()
        .all(|a| a.actor_type == "api_key" && a.actor_id.is_some()));
    assert!(!format!("{trail:?}").contains(&key[17..]));

    // expiry: a key past its expires_at is refused
    let soon = app.key(&t, "viewer").await;
    assert_eq!(app.get("/api/v1/auth/me", &soon).await.status, 200);
    let prefix = &soon[4..16];
    app.test_db
        .admin_execute(&format!(
            "UPDATE api_keys SET expires_at = now() - interval '1 second' WHERE key_prefix = '{prefix}'"
        ))
        .await
        .unwrap();
    let msg = app
        .get("/api/v1/auth/me", &soon)
        .await
        .expect_error(401, "invalid_token");
    assert!(msg.contains("expired"), "{msg}");

    // a key with the right prefix but a wrong secret is refused
    let forged = format!("{}{}", &t.admin_key[..17], "Z".repeat(32));
    app.get("/api/v1/auth/me", &forged)
        .await
        .expect_error(401, "invalid_token");

    // creation validation
    for (body, status, code, needle) in [
        (
            json!({ "name": "", "role": "viewer" }),
            422,
            "invalid_name",
            "name",
        ),
        (
            json!({ "name": "x", "role": "owner" }),
            422,
            "invalid_body",
            "role",
        ),
        (json!({ "name": "x" }), 422, "invalid_body", "role"),
        (
            json!({ "name": "x", "role": "viewer", "expires_at": "2000-01-01T00:00:00Z" }),
            422,
            "invalid_expiry",
            "expires_at",
        ),
        (
            json!({ "name": "x", "role": "viewer", "scope": "all" }),
            422,
            "invalid_body",
            "scope",
        ),
    ] {
        let msg = app
            .post("/api/v1/api-keys", &t.admin_key, body.clone())
            .await
            .expect_error(status, code);
        assert!(msg.contains(needle), "{body}: {msg}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_are_enforced_per_route() {
    let app = spawn_app().await;
    let t = app.tenant("Acme").await;
    let viewer = app.key(&t, "viewer").await;
    let developer = app.key(&t, "developer").await;
    let env = app.environment(&t, "dev").await;

    let env_body = json!({ "name": "staging", "url": "https://s.example.com" });
    // (method, path, body, minimum role)
    let routes: Vec<(Method, String, Option<serde_json::Value>, Role)> = vec![
        (
            Method::GET,
            "/api/v1/environments".into(),
            None,
            Role::Viewer,
        ),
        (
            Method::GET,
            format!("/api/v1/environments/{env}"),
            None,
            Role::Viewer,
        ),
        (
            Method::POST,
            "/api/v1/environments".into(),
            Some(env_body.clone()),
            Role::Admin,
        ),
        (
            Method::PATCH,
            format!("/api/v1/environments/{env}"),
            Some(json!({ "git_branch": "release" })),
            Role::Admin,
        ),
        (
            Method::DELETE,
            format!("/api/v1/environments/{env}"),
            None,
            Role::Admin,
        ),
        (Method::GET, "/api/v1/api-keys".into(), None, Role::Admin),
        (
            Method::POST,
            "/api/v1/api-keys".into(),
            Some(json!({ "name": "x", "role": "viewer" })),
            Role::Admin,
        ),
        (
            Method::DELETE,
            format!("/api/v1/api-keys/{}", Uuid::new_v4()),
            None,
            Role::Admin,
        ),
        (Method::GET, "/api/v1/schedulers".into(), None, Role::Viewer),
        (Method::GET, "/api/v1/auth/me".into(), None, Role::Viewer),
    ];
    for (method, path, body, min) in &routes {
        for (role, key) in [(Role::Viewer, &viewer), (Role::Developer, &developer)] {
            let resp = app
                .call(method.clone(), path, Some(key), body.clone())
                .await;
            if role < *min {
                let msg = resp.expect_error(403, "insufficient_role");
                assert!(msg.contains(min.as_str()), "{method} {path}: {msg}");
            } else {
                assert_ne!(resp.status, 403, "{method} {path} as {role}: {}", resp.text);
                assert_ne!(resp.status, 401, "{method} {path} as {role}: {}", resp.text);
            }
        }
    }
    // a viewer's refused create wrote nothing
    let list = app.get("/api/v1/environments", &viewer).await.json();
    assert_eq!(list["pagination"]["total"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deactivated_tenant_locks_out_its_keys() {
    let app = spawn_app().await;
    let t = app.tenant("Acme").await;
    assert_eq!(app.get("/api/v1/auth/me", &t.admin_key).await.status, 200);
    app.test_db
        .admin_execute(&format!(
            "UPDATE tenants SET is_active = false WHERE id = '{}'",
            t.id
        ))
        .await
        .unwrap();
    app.get("/api/v1/auth/me", &t.admin_key)
        .await
        .expect_error(401, "invalid_token");
    // the row is still there for the operator
    let tenant_id = t.id;
    let tenant = app
        .state
        .db
        .tenant_tx(tenant_id, |conn| {
            async move { wfops_db::tenants::get(conn, tenant_id).await }.scope_boxed()
        })
        .await
        .unwrap();
    assert!(!tenant.is_active);
}
