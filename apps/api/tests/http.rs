//! Envelopes, bad input, headers and limits: everything the shell does around the handlers.

// Test code: a failed unwrap or expect is the test's failure message (clippy.toml allows them
// in tests, but not yet in the helpers of integration tests).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{spawn_app, spawn_app_with};
use reqwest::Method;
use serde_json::json;
use wfops_db::{scheduler, ScopedFutureExt};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_readiness_and_envelopes() {
    let app = spawn_app().await;
    let live = app.call(Method::GET, "/api/v1/health", None, None).await;
    assert_eq!(live.status, 200);
    let body = live.json();
    assert_eq!(body["data"]["status"], "ok");
    assert!(body["timestamp"].as_str().unwrap().contains('T'));

    let ready = app
        .call(Method::GET, "/api/v1/health/ready", None, None)
        .await;
    assert_eq!(ready.status, 200, "{}", ready.text);
    let body = ready.json();
    assert_eq!(body["data"]["status"], "ready");
    assert_eq!(body["data"]["migrations"]["pending"], json!([]));
    assert!(body["data"]["migrations"]["applied"].as_u64().unwrap() >= 1);

    // a database with an unapplied migration is not ready
    app.test_db
        .admin_execute("DELETE FROM __diesel_schema_migrations WHERE version = (SELECT max(version) FROM __diesel_schema_migrations)")
        .await
        .unwrap();
    let not_ready = app
        .call(Method::GET, "/api/v1/health/ready", None, None)
        .await;
    let msg = not_ready.expect_error(503, "not_ready");
    assert!(msg.contains("migrations not applied"), "{msg}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_routes_and_methods_answer_the_envelope() {
    let app = spawn_app().await;
    let t = app.tenant("Acme").await;
    let resp = app.get("/api/v1/nope", &t.admin_key).await;
    let msg = resp.expect_error(404, "route_not_found");
    assert!(msg.contains("/api/v1/nope"), "{msg}");

    let resp = app
        .call(
            Method::PUT,
            "/api/v1/environments",
            Some(&t.admin_key),
            None,
        )
        .await;
    let msg = resp.expect_error(405, "method_not_allowed");
    assert!(msg.contains("PUT"), "{msg}");
    assert_eq!(resp.header("allow").unwrap(), "GET, POST");

    let resp = app.call(Method::POST, "/api/v1/health", None, None).await;
    resp.expect_error(405, "method_not_allowed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_a_4xx_that_names_the_problem() {
    let app = spawn_app_with(|c| c.max_body_bytes = 4096).await;
    let t = app.tenant("Acme").await;
    let post_raw = |body: Vec<u8>, content_type: Option<&'static str>| {
        let mut req = app
            .client
            .post(app.url("/api/v1/environments"))
            .bearer_auth(&t.admin_key)
            .body(body);
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        app.send(req)
    };

    let msg = post_raw(b"{\"name\": ".to_vec(), Some("application/json"))
        .await
        .expect_error(400, "malformed_json");
    assert!(msg.contains("EOF"), "{msg}");
    let msg = post_raw(b"{name: 'x'}".to_vec(), Some("application/json"))
        .await
        .expect_error(400, "malformed_json");
    assert!(msg.contains("line 1"), "{msg}");
    post_raw(Vec::new(), Some("application/json"))
        .await
        .expect_error(400, "malformed_json");

    let msg = post_raw(
        b"name=x".to_vec(),
        Some("application/x-www-form-urlencoded"),
    )
    .await
    .expect_error(415, "unsupported_media_type");
    assert!(msg.contains("application/json"), "{msg}");
    post_raw(b"{}".to_vec(), None)
        .await
        .expect_error(415, "unsupported_media_type");

    let big =
        serde_json::to_vec(&json!({ "name": "x".repeat(5000), "url": "https://a.example.com" }))
            .unwrap();
    let resp = post_raw(big, Some("application/json")).await;
    let msg = resp.expect_error(413, "payload_too_large");
    assert!(msg.contains("4096"), "{msg}");
    assert_eq!(resp.json()["error"]["details"]["limit_bytes"], 4096);

    for path in [
        "/api/v1/environments/not-a-uuid",
        "/api/v1/environments/123",
    ] {
        let msg = app
            .get(path, &t.admin_key)
            .await
            .expect_error(400, "invalid_path_parameter");
        assert!(msg.contains("`id` must be a UUID"), "{msg}");
    }
    let msg = app
        .delete("/api/v1/api-keys/zzz", &t.admin_key)
        .await
        .expect_error(400, "invalid_path_parameter");
    assert!(msg.contains("`id`"), "{msg}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn security_headers_and_request_ids() {
    let app = spawn_app_with(|c| c.public_url = "https://ops.example.com".into()).await;
    let resp = app.call(Method::GET, "/api/v1/health", None, None).await;
    assert_eq!(resp.header("x-content-type-options").unwrap(), "nosniff");
    assert_eq!(resp.header("x-frame-options").unwrap(), "DENY");
    assert_eq!(resp.header("referrer-policy").unwrap(), "no-referrer");
    assert!(resp
        .header("strict-transport-security")
        .unwrap()
        .contains("max-age="));
    let generated = resp.header("x-request-id").unwrap();
    assert_eq!(generated.len(), 36, "a UUID: {generated}");

    // errors carry them too, and a sane client id is echoed back
    let resp = app
        .send(
            app.client
                .get(app.url("/api/v1/environments"))
                .header("x-request-id", "client-req-42"),
        )
        .await;
    assert_eq!(resp.status, 401);
    assert_eq!(resp.header("x-request-id").unwrap(), "client-req-42");
    assert_eq!(resp.header("x-frame-options").unwrap(), "DENY");
    // an unsafe one is replaced
    let resp = app
        .send(
            app.client
                .get(app.url("/api/v1/health"))
                .header("x-request-id", "bad id\twith spaces"),
        )
        .await;
    assert_ne!(resp.header("x-request-id").unwrap(), "bad id\twith spaces");

    // no HSTS on plain http
    let plain = spawn_app().await;
    let resp = plain.call(Method::GET, "/api/v1/health", None, None).await;
    assert!(resp.header("strict-transport-security").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_follows_configuration() {
    let app =
        spawn_app_with(|c| c.cors_allowed_origins = vec!["https://ui.example.com".into()]).await;
    let preflight = |origin: &'static str| {
        app.send(
            app.client
                .request(Method::OPTIONS, app.url("/api/v1/environments"))
                .header("origin", origin)
                .header("access-control-request-method", "POST")
                .header(
                    "access-control-request-headers",
                    "authorization, content-type",
                ),
        )
    };
    let ok = preflight("https://ui.example.com").await;
    assert!(ok.status.is_success(), "{} {}", ok.status, ok.text);
    assert_eq!(
        ok.header("access-control-allow-origin").unwrap(),
        "https://ui.example.com"
    );
    let denied = preflight("https://evil.example.com").await;
    assert!(denied.header("access-control-allow-origin").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_answer_429_with_retry_after() {
    let app = spawn_app_with(|c| c.rate_limit_per_minute = 3).await;
    let t = app.tenant("Acme").await;
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(app.get("/api/v1/auth/me", &t.admin_key).await);
    }
    assert!(statuses[..3].iter().all(|r| r.status == 200));
    let limited = &statuses[3];
    limited.expect_error(429, "rate_limited");
    let retry: u64 = limited.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    // health probes are never limited
    for _ in 0..5 {
        let r = app.call(Method::GET, "/api/v1/health", None, None).await;
        assert_eq!(r.status, 200);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduler_status_is_readable() {
    let app = spawn_app().await;
    let t = app.tenant("Acme").await;
    app.state
        .db
        .system_tx(|conn| {
            async move {
                scheduler::ensure(conn, "retention_cleanup", Duration::from_secs(86400), true).await
            }
            .scope_boxed()
        })
        .await
        .unwrap();
    let viewer = app.key(&t, "viewer").await;
    let resp = app.get("/api/v1/schedulers", &viewer).await;
    assert_eq!(resp.status, 200, "{}", resp.text);
    let rows = resp.json()["data"].as_array().unwrap().clone();
    let row = rows
        .iter()
        .find(|r| r["name"] == "retention_cleanup")
        .unwrap_or_else(|| panic!("{}", resp.text));
    assert_eq!(row["interval_seconds"], 86400);
    assert_eq!(row["enabled"], true);
    assert_eq!(row["running"], false);
    assert_eq!(row["run_count"], 0);
    assert!(row["next_run_at"].is_string());
}
