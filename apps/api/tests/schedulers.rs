//! Scheduler status: a tenant sees its own outcomes only; the installation-wide view (whose
//! errors name tenants and quote the database) is for platform admins.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on broken setup

mod common;

use std::time::Duration;

use chrono::Utc;
use common::spawn_app;
use wfops_db::{scheduler, ScopedFutureExt};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenants_see_their_own_scheduler_outcomes_and_only_platform_admins_the_installation() {
    let app = spawn_app().await;
    let a = app.tenant("Acme").await;
    let b = app.tenant("Globex").await;
    let summary = format!(
        "retention_cleanup failed for 1 of 2 tenants (1 ok); first: tenant {}: \
         foreign key env_sync_seen_environment_fkey violated",
        a.id
    );
    // what a pass in which a failed and b succeeded leaves behind
    let (a_id, b_id) = (a.id, b.id);
    let db = &app.state.db;
    let recorded = summary.clone();
    db.system_tx(|conn| {
        async move {
            scheduler::ensure(conn, "retention_cleanup", Duration::from_secs(86400), true).await?;
            assert!(
                scheduler::try_acquire(conn, "retention_cleanup", "w", Duration::from_secs(60))
                    .await?
            );
            scheduler::finish(
                conn,
                "retention_cleanup",
                "w",
                Err(recorded),
                Duration::from_millis(5),
            )
            .await
        }
        .scope_boxed()
    })
    .await
    .unwrap();
    let a_error = "a database error stopped this run; the platform operators have the details";
    db.tenant_tx(a_id, |conn| {
        async move {
            scheduler::record_tenant_run(conn, a_id, "retention_cleanup", Utc::now(), Some(a_error))
                .await
        }
        .scope_boxed()
    })
    .await
    .unwrap();
    db.tenant_tx(b_id, |conn| {
        async move {
            scheduler::record_tenant_run(conn, b_id, "retention_cleanup", Utc::now(), None).await
        }
        .scope_boxed()
    })
    .await
    .unwrap();

    let row_of = |text: &str| {
        let v: serde_json::Value = serde_json::from_str(text).unwrap();
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == "retention_cleanup")
            .cloned()
            .unwrap_or_else(|| panic!("{text}"))
    };

    // b's viewer: its own success, nothing of a's failure or id
    let b_viewer = app.key(&b, "viewer").await;
    let resp = app.get("/api/v1/schedulers", &b_viewer).await;
    assert_eq!(resp.status, 200, "{}", resp.text);
    assert!(!resp.text.contains(&a.id.to_string()), "{}", resp.text);
    assert!(!resp.text.contains("foreign key"), "{}", resp.text);
    let row = row_of(&resp.text);
    assert_eq!(row["last_error"], serde_json::Value::Null);
    assert!(row["last_success_at"].is_string());
    assert_eq!(row["run_count"], 1);
    assert!(row.get("last_duration_ms").is_none());

    // a's viewer: its own failure, without the database's text
    let a_viewer = app.key(&a, "viewer").await;
    let resp = app.get("/api/v1/schedulers", &a_viewer).await;
    assert_eq!(resp.status, 200, "{}", resp.text);
    assert!(!resp.text.contains("env_sync_seen"), "{}", resp.text);
    let row = row_of(&resp.text);
    assert_eq!(row["last_error"], a_error);
    assert_eq!(row["last_success_at"], serde_json::Value::Null);

    // the installation view: refused to API keys (even an admin's) and to users who are not
    // platform admins
    app.get("/api/v1/platform/schedulers", &a.admin_key)
        .await
        .expect_error(403, "platform_admin_required");
    let a_admin_jwt = app.login_token(&a).await;
    app.get("/api/v1/platform/schedulers", &a_admin_jwt)
        .await
        .expect_error(403, "platform_admin_required");
    let resp = app
        .call(
            reqwest::Method::GET,
            "/api/v1/platform/schedulers",
            None,
            None,
        )
        .await;
    assert_eq!(resp.status, 401, "{}", resp.text);

    // a platform admin sees the summary
    app.test_db
        .admin_execute(&format!(
            "UPDATE users SET is_platform_admin = true WHERE id = '{}'",
            b.admin_user_id
        ))
        .await
        .unwrap();
    let platform = app.login_token(&b).await;
    let resp = app.get("/api/v1/platform/schedulers", &platform).await;
    assert_eq!(resp.status, 200, "{}", resp.text);
    let row = row_of(&resp.text);
    assert_eq!(row["last_error"], summary);
    assert_eq!(row["run_count"], 1);
    assert_eq!(row["last_duration_ms"], 5);
}
