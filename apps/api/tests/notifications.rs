//! Notification channels and the delivery log over HTTP: roles, validation codes, secrets that
//! never come back, rotation, test sends, filters and cross-tenant 404s.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use serde_json::{json, Value};
use uuid::Uuid;

use common::{spawn_app, TestApp};

const SLACK: &str = "https://hooks.slack.com/services/T0/B0/SLACKSECRETTOKEN";

async fn create(app: &TestApp, key: &str, body: Value) -> Value {
    let r = app.post("/api/v1/notification-channels", key, body).await;
    assert_eq!(r.status.as_u16(), 201, "{}", r.text);
    r.json()["data"].clone()
}

/// Every audit row of the tenant, as text.
async fn audit_text(app: &TestApp, tenant: Uuid) -> String {
    use wfops_db::ScopedFutureExt;
    app.state
        .db
        .tenant_tx(tenant, |conn| {
            async move {
                let (rows, _) = wfops_db::audit::list(conn, 0, 500).await?;
                Ok::<_, wfops_db::Error>(format!("{rows:?}"))
            }
            .scope_boxed()
        })
        .await
        .unwrap()
}

#[tokio::test]
async fn channels_crud_with_secrets_shown_once_and_never_again() {
    let app = spawn_app().await;
    let a = app.tenant("notify-a").await;
    let key = &a.admin_key;
    let viewer = app.key(&a, "viewer").await;

    // webhook: the signing secret once, at creation
    let hook = create(
        &app,
        key,
        json!({"name": "Ops hook", "kind": "webhook", "events": ["incident.created", "promotion.failed"],
               "url": "https://hooks.example.com/wfops"}),
    )
    .await;
    let secret = hook["signing_secret"].as_str().unwrap().to_owned();
    assert!(
        secret.starts_with("whsec_") && secret.len() == 70,
        "{secret}"
    );
    let hook_id = hook["channel"]["id"].as_str().unwrap().to_owned();
    assert_eq!(hook["channel"]["url"], "https://hooks.example.com/wfops");
    assert_eq!(hook["channel"]["enabled"], true);
    assert_eq!(
        hook["channel"]["events"],
        json!(["incident.created", "promotion.failed"])
    );

    // slack: the URL is a secret and is never returned
    let slack = create(
        &app,
        key,
        json!({"name": "Slack #ops", "kind": "slack", "events": ["incident.escalated"], "url": SLACK}),
    )
    .await;
    assert_eq!(slack["signing_secret"], Value::Null);
    assert_eq!(slack["channel"]["url"], Value::Null);
    let slack_id = slack["channel"]["id"].as_str().unwrap().to_owned();

    let email = create(
        &app,
        key,
        json!({"name": "On-call mail", "kind": "email", "events": ["test"], "enabled": false,
               "recipients": ["oncall@example.com", "lead@example.org"]}),
    )
    .await;
    assert_eq!(
        email["channel"]["recipients"],
        json!(["oncall@example.com", "lead@example.org"])
    );
    let email_id = email["channel"]["id"].as_str().unwrap().to_owned();

    // viewers read; nothing they read holds a secret
    let list = app.get("/api/v1/notification-channels", &viewer).await;
    assert_eq!(list.status.as_u16(), 200, "{}", list.text);
    assert_eq!(list.json()["pagination"]["total"], 3);
    for path in [
        "/api/v1/notification-channels".to_owned(),
        format!("/api/v1/notification-channels/{hook_id}"),
        format!("/api/v1/notification-channels/{slack_id}"),
    ] {
        let r = app.get(&path, &viewer).await;
        assert_eq!(r.status.as_u16(), 200);
        assert!(!r.text.contains(&secret), "{path}: {}", r.text);
        assert!(!r.text.contains("SLACKSECRETTOKEN"), "{path}: {}", r.text);
    }
    // nor does the audit trail
    let audit = audit_text(&app, a.id).await;
    assert!(audit.contains("notification_channel.create"));
    assert!(!audit.contains(&secret) && !audit.contains("SLACKSECRETTOKEN"));

    // rotation: a new secret, once; the channel records when
    let rotated = app
        .post(
            &format!("/api/v1/notification-channels/{hook_id}/rotate-secret"),
            key,
            json!({}),
        )
        .await;
    assert_eq!(rotated.status.as_u16(), 200, "{}", rotated.text);
    let new_secret = rotated.json()["data"]["signing_secret"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(new_secret, secret);
    assert!(rotated.json()["data"]["channel"]["secret_rotated_at"].is_string());
    app.post(
        &format!("/api/v1/notification-channels/{slack_id}/rotate-secret"),
        key,
        json!({}),
    )
    .await
    .expect_error(409, "channel_has_no_signing_secret");

    // update: disable, change events, replace the Slack URL (still never shown)
    let r = app
        .patch(
            &format!("/api/v1/notification-channels/{slack_id}"),
            key,
            json!({"enabled": false, "events": ["incident.closed"], "url": "https://hooks.slack.com/services/T0/B0/NEWSLACKTOKEN"}),
        )
        .await;
    assert_eq!(r.status.as_u16(), 200, "{}", r.text);
    assert_eq!(r.json()["data"]["enabled"], false);
    assert_eq!(r.json()["data"]["events"], json!(["incident.closed"]));
    assert!(!r.text.contains("NEWSLACKTOKEN"));
    let r = app
        .patch(
            &format!("/api/v1/notification-channels/{email_id}"),
            key,
            json!({"recipients": ["only@example.com"]}),
        )
        .await;
    assert_eq!(r.json()["data"]["recipients"], json!(["only@example.com"]));

    // admins only for writes
    app.post(
        "/api/v1/notification-channels",
        &viewer,
        json!({"name": "x", "kind": "email", "events": ["test"], "recipients": ["a@example.com"]}),
    )
    .await
    .expect_error(403, "insufficient_role");
    app.post(
        &format!("/api/v1/notification-channels/{hook_id}/test"),
        &viewer,
        json!({}),
    )
    .await
    .expect_error(403, "insufficient_role");

    // delete keeps nothing but the log
    let r = app
        .delete(&format!("/api/v1/notification-channels/{email_id}"), key)
        .await;
    assert_eq!(r.status.as_u16(), 200, "{}", r.text);
    app.get(&format!("/api/v1/notification-channels/{email_id}"), key)
        .await
        .expect_error(404, "notification_channel_not_found");
}

#[tokio::test]
async fn every_refusal_has_its_code() {
    let app = spawn_app().await;
    let a = app.tenant("notify-codes").await;
    let key = &a.admin_key;
    let ok =
        json!({"name": "n", "kind": "webhook", "events": ["test"], "url": "https://example.com/h"});
    let with = |k: &str, v: Value| {
        let mut b = ok.clone();
        b[k] = v;
        b
    };
    let cases: Vec<(Value, u16, &str)> = vec![
        (with("name", json!("  ")), 422, "invalid_name"),
        (with("kind", json!("pager")), 422, "invalid_body"),
        (
            with("events", json!([])),
            422,
            "invalid_notification_events",
        ),
        (
            with("events", json!(["incident.opened"])),
            422,
            "invalid_notification_events",
        ),
        (
            with("events", json!(["test", "test"])),
            422,
            "invalid_notification_events",
        ),
        (
            with("url", json!("ftp://example.com/")),
            422,
            "invalid_notification_target",
        ),
        (
            with("url", json!("https://user:pw@example.com/")),
            422,
            "invalid_notification_target",
        ),
        (
            with("url", json!("http://127.0.0.1:8080/hook")),
            422,
            "invalid_notification_target",
        ),
        (
            with("url", json!("http://169.254.169.254/latest")),
            422,
            "invalid_notification_target",
        ),
        (
            with("recipients", json!(["a@example.com"])),
            422,
            "invalid_notification_target",
        ),
        (with("extra", json!(1)), 422, "invalid_body"),
        (
            json!({"name": "m", "kind": "email", "events": ["test"]}),
            422,
            "invalid_notification_target",
        ),
        (
            json!({"name": "m", "kind": "email", "events": ["test"], "recipients": ["not-an-address"]}),
            422,
            "invalid_notification_target",
        ),
        (
            json!({"name": "m", "kind": "email", "events": ["test"], "recipients": []}),
            422,
            "invalid_notification_target",
        ),
        (
            json!({"name": "m", "kind": "email", "events": ["test"], "recipients": ["a@example.com"], "url": "https://e.com"}),
            422,
            "invalid_notification_target",
        ),
        (
            json!({"name": "s", "kind": "slack", "events": ["test"]}),
            422,
            "invalid_notification_target",
        ),
    ];
    for (body, status, code) in cases {
        let r = app
            .post("/api/v1/notification-channels", key, body.clone())
            .await;
        r.expect_error(status, code);
        // a refused Slack URL or password is never echoed
        assert!(!r.text.contains(":pw@"), "{}", r.text);
    }
    let r = app
        .post("/api/v1/notification-channels", key, ok.clone())
        .await;
    assert_eq!(r.status.as_u16(), 201);
    let id = r.json()["data"]["channel"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.post("/api/v1/notification-channels", key, ok.clone())
        .await
        .expect_error(409, "notification_channel_name_taken");
    let path = format!("/api/v1/notification-channels/{id}");
    app.patch(&path, key, json!({}))
        .await
        .expect_error(422, "empty_update");
    app.patch(&path, key, json!({"recipients": ["a@example.com"]}))
        .await
        .expect_error(422, "invalid_notification_target");
    app.patch(&path, key, json!({"events": ["nope"]}))
        .await
        .expect_error(422, "invalid_notification_events");
    app.get("/api/v1/notification-channels/not-a-uuid", key)
        .await
        .expect_error(400, "invalid_path_parameter");
    for q in [
        "status=sent",
        "event_type=incident",
        "channel_id=x",
        "page_size=0",
    ] {
        app.get(&format!("/api/v1/notification-deliveries?{q}"), key)
            .await
            .expect_error(400, "invalid_query_parameter");
    }
}

#[tokio::test]
async fn test_send_queues_a_delivery_the_log_shows_and_other_tenants_do_not_see() {
    let app = spawn_app().await;
    let a = app.tenant("notify-log-a").await;
    let b = app.tenant("notify-log-b").await;
    let key = &a.admin_key;
    // a disabled channel that does not list `test` still takes an explicit test send
    let ch = create(
        &app,
        key,
        json!({"name": "hook", "kind": "webhook", "events": ["incident.created"], "enabled": false,
               "url": "https://hooks.example.com/x"}),
    )
    .await;
    let id = ch["channel"]["id"].as_str().unwrap().to_owned();
    let r = app
        .post(
            &format!("/api/v1/notification-channels/{id}/test"),
            key,
            json!({}),
        )
        .await;
    assert_eq!(r.status.as_u16(), 202, "{}", r.text);
    let delivery_id = r.json()["data"]["delivery_id"].as_str().unwrap().to_owned();
    let job_id = r.json()["data"]["job_id"].as_str().unwrap().to_owned();

    let job = app.get(&format!("/api/v1/jobs/{job_id}"), key).await;
    assert_eq!(job.status.as_u16(), 200, "{}", job.text);
    assert_eq!(job.json()["data"]["job_type"], "notification_delivery");
    assert_eq!(job.json()["data"]["payload"]["delivery_id"], delivery_id);

    let log = app.get("/api/v1/notification-deliveries", key).await;
    assert_eq!(log.status.as_u16(), 200, "{}", log.text);
    let rows = log.json()["data"].as_array().unwrap().clone();
    assert_eq!(rows.len(), 1);
    let row = &rows[0];
    assert_eq!(row["id"], delivery_id);
    assert_eq!(row["channel_id"], id);
    assert_eq!(row["channel_kind"], "webhook");
    assert_eq!(row["event_type"], "test");
    assert_eq!(row["status"], "pending");
    assert_eq!(row["attempts"], 0);
    assert_eq!(row["max_attempts"], 5);
    assert_eq!(row["payload"]["requested_by"], Value::Null); // an API key, not a user

    // filters
    for (q, n) in [
        ("status=pending", 1),
        ("status=failed", 0),
        ("event_type=test", 1),
        ("event_type=incident.created", 0),
        (&format!("channel_id={id}") as &str, 1),
        (&format!("channel_id={}", Uuid::new_v4()) as &str, 0),
    ] {
        let r = app
            .get(&format!("/api/v1/notification-deliveries?{q}"), key)
            .await;
        assert_eq!(r.status.as_u16(), 200, "{q}: {}", r.text);
        assert_eq!(r.json()["pagination"]["total"], n, "{q}");
    }

    // tenant b sees none of it
    let other = &b.admin_key;
    for path in [format!("/api/v1/notification-channels/{id}")] {
        app.get(&path, other)
            .await
            .expect_error(404, "notification_channel_not_found");
    }
    app.patch(
        &format!("/api/v1/notification-channels/{id}"),
        other,
        json!({"enabled": true}),
    )
    .await
    .expect_error(404, "notification_channel_not_found");
    for action in ["test", "rotate-secret"] {
        app.post(
            &format!("/api/v1/notification-channels/{id}/{action}"),
            other,
            json!({}),
        )
        .await
        .expect_error(404, "notification_channel_not_found");
    }
    app.delete(&format!("/api/v1/notification-channels/{id}"), other)
        .await
        .expect_error(404, "notification_channel_not_found");
    let log = app.get("/api/v1/notification-deliveries", other).await;
    assert_eq!(log.json()["pagination"]["total"], 0);
    let list = app.get("/api/v1/notification-channels", other).await;
    assert_eq!(list.json()["pagination"]["total"], 0);
}
