//! The drift endpoints: on-demand checks, the history, incidents and every lifecycle step with
//! its roles and refusals, and the drift policies.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{spawn_app, Tenant, TestApp};
use serde_json::{json, Value};
use uuid::Uuid;
use wfops_db::ScopedFutureExt;
use wfops_engine::drift::check::{self, CheckTrigger};
use wfops_engine::NoProgress;

/// An open incident of `env`, written as a check would (the check itself is tested in the
/// engine); returns its id.
async fn seed_incident(app: &TestApp, tenant: &Tenant, env: Uuid, status: &str) -> Uuid {
    let id = Uuid::new_v4();
    app.test_db
        .admin_execute(&format!(
            "INSERT INTO drift_incidents (id, tenant_id, environment_id, status, title, severity,
                 expires_at, affected_workflows, drift_snapshot)
             VALUES ('{id}', '{}', '{env}', '{status}', 'Drift in prod', 'medium',
                 now() + interval '72 hours', '[{{\"kind\": \"modified\"}}]',
                 '{{\"change_summary\": {{\"affected\": 2}}}}');
             UPDATE environments SET drift_status = 'DRIFT_INCIDENT_ACTIVE',
                 active_drift_incident_id = '{id}',
                 drift_summary = '{{\"check_status\": \"DRIFT_DETECTED\"}}' WHERE id = '{env}'",
            tenant.id
        ))
        .await
        .unwrap();
    id
}

fn data(resp: &common::Response) -> Value {
    resp.json()["data"].clone()
}

#[tokio::test]
async fn check_drift_queues_one_job_per_environment_and_checks_roles_and_input() {
    let app = spawn_app().await;
    let t = app.tenant("Drift Co").await;
    let other = app.tenant("Other Co").await;
    let env = app.environment(&t, "prod").await;
    let viewer = app.key(&t, "viewer").await;
    let dev = app.key(&t, "developer").await;

    let r = app
        .post(
            "/api/v1/incidents/check-drift",
            &dev,
            json!({"environment_id": env}),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    let job = data(&r);
    assert_eq!(job["job_type"], "drift_check");
    assert_eq!(job["payload"]["check_type"], "manual");
    assert_eq!(job["environment_id"], env.to_string());
    // a second request while one is pending returns it
    let again = app
        .post(
            "/api/v1/incidents/check-drift",
            &dev,
            json!({"environment_id": env}),
        )
        .await;
    assert_eq!(again.status, 202);
    assert_eq!(data(&again)["id"], job["id"]);

    app.post(
        "/api/v1/incidents/check-drift",
        &viewer,
        json!({"environment_id": env}),
    )
    .await
    .expect_error(403, "insufficient_role");
    app.post(
        "/api/v1/incidents/check-drift",
        &other.admin_key,
        json!({"environment_id": env}),
    )
    .await
    .expect_error(404, "environment_not_found");
    app.post(
        "/api/v1/incidents/check-drift",
        &dev,
        json!({"environment_id": env, "extra": 1}),
    )
    .await
    .expect_error(422, "invalid_body");
}

#[tokio::test]
async fn the_environment_shows_its_drift_status_and_reason_and_the_history_lists_checks() {
    let app = spawn_app().await;
    let t = app.tenant("Reasons").await;
    let env = app.environment(&t, "staging").await;
    let viewer = app.key(&t, "viewer").await;

    let before = data(
        &app.get(&format!("/api/v1/environments/{env}"), &viewer)
            .await,
    );
    assert_eq!(before["drift_status"], "UNKNOWN");
    assert_eq!(before["drift_status_reason"], Value::Null);
    assert_eq!(before["last_drift_check_at"], Value::Null);

    // the check the job runs: no Git configured
    let report = check::run(
        &app.state.engine,
        t.id,
        env,
        CheckTrigger::Manual,
        &NoProgress,
    )
    .await
    .unwrap();
    let after = data(
        &app.get(&format!("/api/v1/environments/{env}"), &viewer)
            .await,
    );
    assert_eq!(after["drift_status"], "UNKNOWN");
    assert_eq!(
        after["drift_status_reason"],
        "Git is not configured: no repository is set"
    );
    assert!(after["last_drift_check_at"].is_string());
    assert_eq!(
        after["drift_summary"]["check_id"],
        report.check_id.to_string()
    );

    let checks = app
        .get(
            &format!("/api/v1/incidents/checks?environment_id={env}"),
            &viewer,
        )
        .await;
    assert_eq!(checks.status, 200, "{}", checks.text);
    let list = checks.json();
    assert_eq!(list["pagination"]["total"], 1);
    assert_eq!(list["data"][0]["status"], "UNKNOWN");
    assert_eq!(list["data"][0]["check_type"], "manual");
    app.get("/api/v1/incidents/checks?environment_id=nope", &viewer)
        .await
        .expect_error(400, "invalid_query_parameter");
}

#[tokio::test]
async fn incidents_list_and_detail_with_filters_and_tenant_isolation() {
    let app = spawn_app().await;
    let t = app.tenant("Lists").await;
    let other = app.tenant("Elsewhere").await;
    let env = app.environment(&t, "prod").await;
    let viewer = app.key(&t, "viewer").await;
    let open = seed_incident(&app, &t, env, "detected").await;

    let r = app.get("/api/v1/incidents", &viewer).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["pagination"]["total"], 1);
    let first = &r.json()["data"][0];
    assert_eq!(first["id"], open.to_string());
    assert_eq!(first["is_open"], true);
    assert_eq!(first["is_expired"], false);
    assert_eq!(first["severity"], "medium");

    for (q, total) in [
        ("status=detected", 1),
        ("status=closed", 0),
        ("open=true", 1),
        ("open=false", 0),
        ("expired=true", 0),
        ("expired=false", 1),
        ("severity=medium", 1),
        ("severity=low", 0),
    ] {
        let r = app.get(&format!("/api/v1/incidents?{q}"), &viewer).await;
        assert_eq!(r.status, 200, "{q}: {}", r.text);
        assert_eq!(r.json()["pagination"]["total"], total, "{q}");
    }
    for q in [
        "status=open",
        "severity=urgent",
        "open=yes",
        "environment_id=x",
    ] {
        app.get(&format!("/api/v1/incidents?{q}"), &viewer)
            .await
            .expect_error(400, "invalid_query_parameter");
    }

    let d = app.get(&format!("/api/v1/incidents/{open}"), &viewer).await;
    assert_eq!(d.status, 200);
    assert_eq!(data(&d)["drift_snapshot"]["change_summary"]["affected"], 2);
    app.get(&format!("/api/v1/incidents/{open}"), &other.admin_key)
        .await
        .expect_error(404, "incident_not_found");
    app.get(&format!("/api/v1/incidents/{}", Uuid::new_v4()), &viewer)
        .await
        .expect_error(404, "incident_not_found");
    app.get("/api/v1/incidents/not-a-uuid", &viewer)
        .await
        .expect_error(400, "invalid_path_parameter");
    assert_eq!(
        app.get("/api/v1/incidents", &other.admin_key).await.json()["pagination"]["total"],
        0
    );
}

#[tokio::test]
async fn lifecycle_steps_with_their_roles_and_refusals() {
    let app = spawn_app().await;
    let t = app.tenant("Lifecycle").await;
    let other = app.tenant("Not Mine").await;
    let env = app.environment(&t, "prod").await;
    let viewer = app.key(&t, "viewer").await;
    let dev = app.key(&t, "developer").await;
    let admin = t.admin_key.clone();
    let id = seed_incident(&app, &t, env, "detected").await;
    let path = |step: &str| format!("/api/v1/incidents/{id}/{step}");

    // roles
    app.post(&path("acknowledge"), &viewer, json!({}))
        .await
        .expect_error(403, "insufficient_role");
    app.post(&path("close"), &dev, json!({}))
        .await
        .expect_error(403, "insufficient_role");
    app.post(&path("extend-ttl"), &dev, json!({"hours": 1}))
        .await
        .expect_error(403, "insufficient_role");
    app.post(&path("severity"), &dev, json!({"severity": "high"}))
        .await
        .expect_error(403, "insufficient_role");
    app.post(
        &path("stabilize"),
        &dev,
        json!({"reason": "x", "force": true}),
    )
    .await
    .expect_error(403, "insufficient_role");
    app.post(&path("acknowledge"), &other.admin_key, json!({}))
        .await
        .expect_error(404, "incident_not_found");

    // refused transition and bad input
    let m = app
        .post(&path("stabilize"), &dev, json!({"reason": "known cause"}))
        .await
        .expect_error(409, "incident_transition_not_allowed");
    assert!(m.contains("Detected") && m.contains("Stabilized"), "{m}");
    app.post(&path("stabilize"), &dev, json!({}))
        .await
        .expect_error(422, "invalid_body");
    app.post(&path("stabilize"), &dev, json!({"reason": "   "}))
        .await
        .expect_error(422, "validation_failed");
    app.post(&path("extend-ttl"), &admin, json!({"hours": 0}))
        .await
        .expect_error(422, "validation_failed");
    app.post(&path("extend-ttl"), &admin, json!({"hours": 721}))
        .await
        .expect_error(422, "validation_failed");
    app.post(&path("severity"), &admin, json!({"severity": "urgent"}))
        .await
        .expect_error(422, "invalid_body");

    // the path: acknowledge, stabilize, severity, extend, close
    let r = app
        .post(&path("acknowledge"), &dev, json!({"note": "looking"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(data(&r)["status"], "acknowledged");
    let env_view = data(
        &app.get(&format!("/api/v1/environments/{env}"), &viewer)
            .await,
    );
    assert_eq!(env_view["drift_status"], "DRIFT_INCIDENT_ACKNOWLEDGED");

    // an owner who is not a user of the tenant: nothing changes
    app.post(
        &path("stabilize"),
        &dev,
        json!({"reason": "x", "owner_user_id": Uuid::new_v4()}),
    )
    .await
    .expect_error(422, "referenced_resource_missing");
    let r = app
        .post(
            &path("stabilize"),
            &dev,
            json!({"reason": "hotfix for a vendor outage", "ticket_ref": "OPS-42",
                   "owner_user_id": t.admin_user_id}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let v = data(&r);
    assert_eq!(v["status"], "stabilized");
    assert_eq!(v["ticket_ref"], "OPS-42");
    assert_eq!(v["owner_user_id"], t.admin_user_id.to_string());

    let r = app
        .post(&path("severity"), &admin, json!({"severity": "critical"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(data(&r)["severity"], "critical");
    let before: chrono::DateTime<chrono::Utc> =
        data(&r)["expires_at"].as_str().unwrap().parse().unwrap();
    let r = app
        .post(&path("extend-ttl"), &admin, json!({"hours": 6}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let after: chrono::DateTime<chrono::Utc> =
        data(&r)["expires_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(after - before, chrono::Duration::hours(6));

    let r = app
        .post(&path("close"), &admin, json!({"reason": "accepted"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(data(&r)["status"], "closed");
    assert_eq!(data(&r)["is_open"], false);
    let env_view = data(
        &app.get(&format!("/api/v1/environments/{env}"), &viewer)
            .await,
    );
    assert_eq!(env_view["drift_status"], "DRIFT_DETECTED");
    assert_eq!(env_view["active_drift_incident_id"], Value::Null);

    // closed is final, even for a forcing admin
    for (step, body) in [
        ("acknowledge", json!({"force": true})),
        ("close", json!({"force": true})),
        ("extend-ttl", json!({"hours": 1})),
        ("severity", json!({"severity": "low"})),
    ] {
        app.post(&path(step), &admin, body)
            .await
            .expect_error(409, "incident_final");
    }

    // every step left an audit row
    let rid = id.to_string();
    let audit: Vec<String> = app
        .state
        .db
        .tenant_tx(t.id, |conn| {
            async move { wfops_db::audit::for_resource(conn, "drift_incident", &rid).await }
                .scope_boxed()
        })
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.action)
        .collect();
    assert_eq!(
        audit,
        vec![
            "incident.acknowledge",
            "incident.stabilize",
            "incident.set_severity",
            "incident.extend_ttl",
            "incident.close"
        ]
    );
}

#[tokio::test]
async fn an_admin_may_force_a_move_out_of_an_open_state() {
    let app = spawn_app().await;
    let t = app.tenant("Force").await;
    let env = app.environment(&t, "prod").await;
    let id = seed_incident(&app, &t, env, "detected").await;
    let r = app
        .post(
            &format!("/api/v1/incidents/{id}/stabilize"),
            &t.admin_key,
            json!({"reason": "skip the acknowledgement", "force": true}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(data(&r)["status"], "stabilized");
}

#[tokio::test]
async fn drift_policies_per_tenant_and_per_environment() {
    let app = spawn_app().await;
    let t = app.tenant("Policies").await;
    let other = app.tenant("Theirs").await;
    let env = app.environment(&t, "prod").await;
    let viewer = app.key(&t, "viewer").await;
    let dev = app.key(&t, "developer").await;

    let r = app
        .get(
            &format!("/api/v1/drift-policies?environment_id={env}"),
            &viewer,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(data(&r)["policies"], json!([]));
    assert_eq!(data(&r)["effective"]["source"], "default");
    assert_eq!(data(&r)["effective"]["auto_create_incidents"], false);

    let put = |token: String, body: Value| {
        let app = &app;
        async move {
            app.call(
                reqwest::Method::PUT,
                "/api/v1/drift-policies",
                Some(&token),
                Some(body),
            )
            .await
        }
    };
    put(dev.clone(), json!({"auto_create_incidents": true}))
        .await
        .expect_error(403, "insufficient_role");
    let r = put(
        t.admin_key.clone(),
        json!({"auto_create_incidents": true,
               "severity_ttls": {"critical": 4, "high": 8, "medium": 24, "low": 48}}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(data(&r)["environment_id"], Value::Null);
    assert_eq!(data(&r)["severity_ttls"]["critical"], 4);

    let r = app
        .get(
            &format!("/api/v1/drift-policies?environment_id={env}"),
            &viewer,
        )
        .await;
    assert_eq!(data(&r)["effective"]["source"], "tenant");
    assert_eq!(data(&r)["effective"]["severity_ttls"]["low"], 48);

    // the environment's own policy overrides the tenant's; a second PUT replaces it
    for block in [false, true] {
        let r = put(
            t.admin_key.clone(),
            json!({"environment_id": env, "auto_create_incidents": false,
                   "block_on_active_drift": block}),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
    let r = app
        .get(
            &format!("/api/v1/drift-policies?environment_id={env}"),
            &viewer,
        )
        .await;
    let v = data(&r);
    assert_eq!(v["policies"].as_array().unwrap().len(), 2);
    assert_eq!(v["effective"]["source"], "environment");
    assert_eq!(v["effective"]["auto_create_incidents"], false);
    assert_eq!(v["effective"]["block_on_active_drift"], true);

    put(
        t.admin_key.clone(),
        json!({"severity_ttls": {"critical": 0, "high": 8, "medium": 24, "low": 48}}),
    )
    .await
    .expect_error(422, "validation_failed");
    put(
        t.admin_key.clone(),
        json!({"closed_incident_retention_days": 0}),
    )
    .await
    .expect_error(422, "validation_failed");
    put(t.admin_key.clone(), json!({"unknown": true}))
        .await
        .expect_error(422, "invalid_body");
    put(other.admin_key.clone(), json!({"environment_id": env}))
        .await
        .expect_error(404, "environment_not_found");
    app.get(
        &format!("/api/v1/drift-policies?environment_id={env}"),
        &other.admin_key,
    )
    .await
    .expect_error(404, "environment_not_found");
}

#[tokio::test]
async fn reconcile_queues_a_job_when_the_state_allows_it() {
    let app = spawn_app().await;
    let t = app.tenant("Reconcile").await;
    let env = app.environment(&t, "prod").await;
    let dev = app.key(&t, "developer").await;
    let id = seed_incident(&app, &t, env, "detected").await;
    let path = format!("/api/v1/incidents/{id}/reconcile");

    app.post(&path, &dev, json!({"resolution": "revert"}))
        .await
        .expect_error(403, "insufficient_role");
    app.post(&path, &t.admin_key, json!({"resolution": "merge"}))
        .await
        .expect_error(422, "invalid_body");
    // nobody acknowledged it: refused unless forced
    app.post(&path, &t.admin_key, json!({"resolution": "revert"}))
        .await
        .expect_error(409, "incident_transition_not_allowed");
    let r = app
        .post(
            &path,
            &t.admin_key,
            json!({"resolution": "revert", "force": true}),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    let job = data(&r);
    assert_eq!(job["job_type"], "drift_reconcile");
    assert_eq!(job["payload"]["incident_id"], id.to_string());
    assert_eq!(job["payload"]["resolution"], "revert");
    assert_eq!(job["environment_id"], env.to_string());
    app.post(
        &format!("/api/v1/incidents/{}/reconcile", Uuid::new_v4()),
        &t.admin_key,
        json!({"resolution": "revert"}),
    )
    .await
    .expect_error(404, "incident_not_found");
    let closed = seed_incident(&app, &t, env, "closed").await;
    app.post(
        &format!("/api/v1/incidents/{closed}/reconcile"),
        &t.admin_key,
        json!({"resolution": "revert", "force": true}),
    )
    .await
    .expect_error(409, "incident_final");
}

#[tokio::test]
async fn git_push_webhook_verifies_signatures_and_treats_the_payload_as_a_hint() {
    use wfops_drift::webhook::{sign_generic, sign_github};
    let app = spawn_app().await;
    let t = app.tenant("Hooks").await;
    let env = app.environment(&t, "prod").await;
    let dev = app.key(&t, "developer").await;

    app.post(
        &format!("/api/v1/environments/{env}/git-webhook/secret"),
        &dev,
        json!({}),
    )
    .await
    .expect_error(403, "insufficient_role");
    let r = app
        .post(
            &format!("/api/v1/environments/{env}/git-webhook/secret"),
            &t.admin_key,
            json!({}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let secret = data(&r)["secret"].as_str().unwrap().to_owned();
    let url = data(&r)["url"].as_str().unwrap().to_owned();
    assert_eq!(url, format!("/api/v1/webhooks/git/{}/{env}", t.id));
    // never shown again
    let env_view = app
        .get(&format!("/api/v1/environments/{env}"), &t.admin_key)
        .await;
    assert!(!env_view.text.contains(&secret));

    let send = |body: Vec<u8>, headers: Vec<(&'static str, String)>, url: String| {
        let app = &app;
        async move {
            let mut req = app
                .client
                .post(app.url(&url))
                .header("content-type", "application/json")
                .body(body);
            for (k, v) in headers {
                req = req.header(k, v);
            }
            app.send(req).await
        }
    };
    let push = serde_json::to_vec(&json!({"ref": "refs/heads/main", "after": "abc"})).unwrap();
    let now = chrono::Utc::now().timestamp();

    // Git not configured yet: a valid signature still gets a clear refusal
    send(
        push.clone(),
        vec![("X-Hub-Signature-256", sign_github(secret.as_bytes(), &push))],
        url.clone(),
    )
    .await
    .expect_error(409, "git_not_configured");
    let r = app
        .patch(
            &format!("/api/v1/environments/{env}"),
            &t.admin_key,
            json!({"git_repo_url": "file:///srv/git/flows.git", "git_folder": "prod"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);

    // refused: no signature, a wrong one, a stale generic one, an unknown environment
    send(push.clone(), vec![], url.clone())
        .await
        .expect_error(401, "invalid_webhook_signature");
    send(
        push.clone(),
        vec![("X-Hub-Signature-256", sign_github(b"wrong", &push))],
        url.clone(),
    )
    .await
    .expect_error(401, "invalid_webhook_signature");
    send(
        push.clone(),
        vec![(
            "X-WorkflowOps-Signature",
            sign_generic(secret.as_bytes(), &push, now - 3600),
        )],
        url.clone(),
    )
    .await
    .expect_error(401, "invalid_webhook_signature");
    send(
        push.clone(),
        vec![("X-Hub-Signature-256", sign_github(secret.as_bytes(), &push))],
        format!("/api/v1/webhooks/git/{}/{}", t.id, Uuid::new_v4()),
    )
    .await
    .expect_error(401, "invalid_webhook_signature");

    // accepted: GitHub's format queues a webhook check; the generic one finds it pending
    let r = send(
        push.clone(),
        vec![("X-Hub-Signature-256", sign_github(secret.as_bytes(), &push))],
        url.clone(),
    )
    .await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(data(&r)["job_type"], "drift_check");
    assert_eq!(data(&r)["payload"]["check_type"], "webhook");
    let r2 = send(
        push.clone(),
        vec![(
            "X-WorkflowOps-Signature",
            sign_generic(secret.as_bytes(), &push, now),
        )],
        url.clone(),
    )
    .await;
    assert_eq!(r2.status, 202, "{}", r2.text);
    assert_eq!(data(&r2)["id"], data(&r)["id"]);

    // a push to another branch is skipped; a body that is not JSON is only a missing hint
    let other = serde_json::to_vec(&json!({"ref": "refs/heads/feature"})).unwrap();
    let r = send(
        other.clone(),
        vec![(
            "X-Hub-Signature-256",
            sign_github(secret.as_bytes(), &other),
        )],
        url.clone(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(data(&r)["queued"], false);
    let junk = b"not json".to_vec();
    let r = send(
        junk.clone(),
        vec![("X-Hub-Signature-256", sign_github(secret.as_bytes(), &junk))],
        url.clone(),
    )
    .await;
    assert_eq!(r.status, 202, "{}", r.text);

    // too large
    let big = vec![b' '; 1024 * 1024 + 1];
    let r = send(
        big.clone(),
        vec![("X-Hub-Signature-256", sign_github(secret.as_bytes(), &big))],
        url.clone(),
    )
    .await;
    assert_eq!(r.status, 413, "{}", r.text);
}
