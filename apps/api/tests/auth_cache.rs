//! The cache of resolved keys and tokens across processes: two app instances (two states,
//! two pools, two servers) on one database, as two API processes would be. Whatever a process
//! has cached, a revocation committed through the other one is refused on its next request.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on broken setup

mod common;

use std::net::TcpListener;
use std::time::{Duration, Instant};

use actix_web::web;
use chrono::Utc;
use common::{spawn_app, TestApp};
use serde_json::json;
use wfops_api::AppState;
use wfops_config::Config;
use wfops_db::Db;

/// A second API process on the test database of `app`.
struct Other {
    base: String,
    state: web::Data<AppState>,
    client: reqwest::Client,
}

impl Other {
    async fn start(app: &TestApp, listen: bool) -> Other {
        let db = Db::connect(&app.test_db.admin_url(), 4)
            .await
            .expect("pool");
        let mut config = Config::for_tests();
        config.rate_limit_per_minute = 0;
        let state = web::Data::new(AppState::new(config, db).expect("state"));
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        tokio::spawn(wfops_api::server(state.clone(), listener, 1).expect("server"));
        if listen {
            wfops_api::auth::spawn_cache_listener(
                state.auth_cache.clone(),
                state.db.clone(),
                app.test_db.admin_url(),
            );
        }
        Other {
            base: format!("http://127.0.0.1:{port}"),
            state,
            client: reqwest::Client::new(),
        }
    }

    async fn get(&self, path: &str, token: &str) -> (u16, String) {
        let resp = self
            .client
            .get(format!("{}{path}", self.base))
            .bearer_auth(token)
            .send()
            .await
            .expect("request");
        let status = resp.status().as_u16();
        (status, resp.text().await.expect("body"))
    }

    /// Waits (polling, with a deadline) until this process has applied every announced change
    /// up to the database's current generation.
    async fn caught_up(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let current = self.state.db.auth_generation().await.unwrap();
            if self.state.auth_cache.applied_generation() == Some(current) {
                return;
            }
            assert!(Instant::now() < deadline, "the listener did not catch up");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_revoked_through_one_process_is_refused_at_once_by_another() {
    let app = spawn_app().await;
    let t = app.tenant("Acme").await;
    // no notification listener at all: only the generation protects this process
    let other = Other::start(&app, false).await;
    let key = app.key(&t, "viewer").await;

    for _ in 0..3 {
        let (status, body) = other.get("/api/v1/environments", &key).await;
        assert_eq!(status, 200, "{body}");
    }
    assert_eq!(
        other.state.auth_cache.resolutions(),
        1,
        "resolved once, then cached"
    );

    let id = app.get("/api/v1/api-keys", &t.admin_key).await.json()["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["role"] == "viewer")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let revoked = app
        .delete(&format!("/api/v1/api-keys/{id}"), &t.admin_key)
        .await;
    assert_eq!(revoked.status, 200, "{}", revoked.text);

    let (status, body) = other.get("/api/v1/environments", &key).await;
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("revoked"), "{body}");
    app.get("/api/v1/environments", &key)
        .await
        .expect_error(401, "invalid_token");
    // the tenant's other key still works in both
    assert_eq!(other.get("/api/v1/environments", &t.admin_key).await.0, 200);
    assert_eq!(
        app.get("/api/v1/environments", &t.admin_key).await.status,
        200
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_and_deactivation_are_refused_at_once_by_another_process() {
    let app = spawn_app().await;
    let t = app.tenant("Acme").await;
    let other = Other::start(&app, true).await;
    let first = app.login_token(&t).await;
    let second = app.login_token(&t).await;
    assert_eq!(other.get("/api/v1/auth/me", &first).await.0, 200);
    assert_eq!(other.get("/api/v1/auth/me", &second).await.0, 200);

    // logout through one process; the other, which cached the token, refuses it next
    let out = app.post("/api/v1/auth/logout", &first, json!({})).await;
    assert_eq!(out.status, 200, "{}", out.text);
    let (status, body) = other.get("/api/v1/auth/me", &first).await;
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("revoked"), "{body}");
    assert_eq!(other.get("/api/v1/auth/me", &second).await.0, 200);

    // the user deactivated (by an operator, in SQL): every token of theirs stops
    app.test_db
        .admin_execute(&format!(
            "UPDATE users SET is_active = false WHERE id = '{}'",
            t.admin_user_id
        ))
        .await
        .unwrap();
    let (status, body) = other.get("/api/v1/auth/me", &second).await;
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("deactivated"), "{body}");
    app.get("/api/v1/auth/me", &second)
        .await
        .expect_error(401, "invalid_token");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notification_evicts_only_what_changed() {
    let app = spawn_app().await;
    let t = app.tenant("Acme").await;
    let other = Other::start(&app, true).await;
    let kept = app.key(&t, "viewer").await;
    let dropped = app.key(&t, "developer").await;
    other.caught_up().await;
    assert_eq!(other.get("/api/v1/environments", &kept).await.0, 200);
    assert_eq!(other.get("/api/v1/environments", &dropped).await.0, 200);
    let resolved = other.state.auth_cache.resolutions();

    let id = app.get("/api/v1/api-keys", &t.admin_key).await.json()["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["role"] == "developer")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        app.delete(&format!("/api/v1/api-keys/{id}"), &t.admin_key)
            .await
            .status,
        200
    );
    other.caught_up().await;
    // the revocation moved the generation, yet the untouched key is still served from the
    // cache: the notification said which key changed
    assert_eq!(other.get("/api/v1/environments", &kept).await.0, 200);
    assert_eq!(other.state.auth_cache.resolutions(), resolved);
    assert_eq!(other.get("/api/v1/environments", &dropped).await.0, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cached_key_still_expires_on_time() {
    let app = spawn_app().await;
    let t = app.tenant("Acme").await;
    let other = Other::start(&app, true).await;
    let expires_at = Utc::now() + chrono::Duration::seconds(2);
    let created = app
        .post(
            "/api/v1/api-keys",
            &t.admin_key,
            json!({ "name": "short", "role": "viewer", "expires_at": expires_at }),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let key = created.json()["data"]["key"].as_str().unwrap().to_string();
    let (status, body) = other.get("/api/v1/environments", &key).await;
    assert_eq!(status, 200, "{body}");
    let generation = other.state.db.auth_generation().await.unwrap();

    // nothing changes in the database: the clock alone ends the key
    let deadline = Instant::now() + Duration::from_secs(20);
    let body = loop {
        let (status, body) = other.get("/api/v1/environments", &key).await;
        if status == 401 {
            break body;
        }
        assert_eq!(status, 200, "{body}");
        assert!(Instant::now() < deadline, "the key did not expire");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(Utc::now() >= expires_at);
    assert!(body.contains("expired"), "{body}");
    assert_eq!(other.state.db.auth_generation().await.unwrap(), generation);
    assert_eq!(
        other.state.auth_cache.resolutions(),
        1,
        "served from the cache"
    );
}
