//! Promotions through the API: creation with its deployment and job, idempotency keys,
//! approvals, the reads, tenant isolation and every refusal's code.

// Test code: a failed unwrap or expect is the test's failure message (clippy.toml allows them
// in tests, but not yet in the helpers of integration tests).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use chrono::{Duration, Utc};
use common::{spawn_app, Response, Tenant, TestApp};
use serde_json::{json, Value};
use uuid::Uuid;

/// A tenant with two environments and three canonical workflows.
pub struct Setup {
    pub tenant: Tenant,
    pub dev: Uuid,
    pub prod: Uuid,
    pub workflows: Vec<Uuid>,
}

async fn setup(app: &TestApp, name: &str) -> Setup {
    let tenant = app.tenant(name).await;
    let dev = app.environment(&tenant, "dev").await;
    let prod = app.environment(&tenant, "prod").await;
    let workflows: Vec<Uuid> = (0..3).map(|_| Uuid::new_v4()).collect();
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

/// A pipeline with one stage dev → prod.
async fn pipeline(app: &TestApp, s: &Setup, require_approval: bool, active: bool) -> Uuid {
    let id = Uuid::new_v4();
    let stages = json!([{
        "name": "dev-to-prod",
        "source_environment_id": s.dev,
        "target_environment_id": s.prod,
        "requireApproval": require_approval,
    }]);
    app.test_db
        .admin_execute(&format!(
            "insert into pipelines (id, tenant_id, name, stages, is_active)
             values ('{id}', '{}', 'p-{id}', '{stages}'::jsonb, {active})",
            s.tenant.id
        ))
        .await
        .unwrap();
    id
}

fn body(s: &Setup) -> Value {
    json!({
        "source_environment_id": s.dev,
        "target_environment_id": s.prod,
        "workflow_ids": [s.workflows[0], s.workflows[1]],
    })
}

async fn create(app: &TestApp, token: &str, key: Option<&str>, body: Value) -> Response {
    let mut req = app
        .client
        .post(app.url("/api/v1/promotions"))
        .bearer_auth(token)
        .json(&body);
    if let Some(k) = key {
        req = req.header("Idempotency-Key", k);
    }
    app.send(req).await
}

fn id_of(v: &Value) -> Uuid {
    v["id"].as_str().unwrap().parse().unwrap()
}

async fn promotion_count(app: &TestApp, s: &Setup) -> i64 {
    let r = app.get("/api/v1/promotions", &s.tenant.admin_key).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.json()["pagination"]["total"].as_i64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_promotion_without_approval_queues_its_deployment_job() {
    let app = spawn_app().await;
    let s = setup(&app, "Acme").await;
    let r = create(&app, &s.tenant.admin_key, None, body(&s)).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let p = r.json()["data"].clone();
    assert_eq!(p["status"], "pending");
    assert_eq!(p["gate_results"]["allowed"], true);
    assert_eq!(p["gate_results"]["requires_approval"], false);
    assert_eq!(p["workflow_ids"], json!([s.workflows[0], s.workflows[1]]));
    assert!(p["created_by"].as_str().unwrap().starts_with("api_key:"));
    let d = &p["deployments"][0];
    assert_eq!(d["status"], "pending");
    let job_id = d["job_id"].as_str().expect("a queued job");
    let job = app
        .get(&format!("/api/v1/jobs/{job_id}"), &s.tenant.admin_key)
        .await
        .json()["data"]
        .clone();
    assert_eq!(job["job_type"], "promotion_deployment");
    assert_eq!(job["status"], "pending");
    assert_eq!(job["environment_id"], json!(s.prod));
    assert_eq!(
        job["payload"],
        json!({"deployment_id": d["id"], "target_environment_id": s.prod})
    );

    // the detail has the same deployments; the audit row was written with the promotion
    let got = app
        .get(
            &format!("/api/v1/promotions/{}", id_of(&p)),
            &s.tenant.admin_key,
        )
        .await;
    assert_eq!(got.status, 200);
    assert_eq!(got.json()["data"]["deployments"][0]["id"], d["id"]);
    let audit = app
        .test_db
        .admin_execute(&format!(
            "do $$ begin if not exists (select 1 from audit_logs where action = 'promotion.create'
               and resource_id = '{}') then raise exception 'no audit row'; end if; end $$",
            id_of(&p)
        ))
        .await;
    assert!(audit.is_ok(), "{audit:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduled_promotion_waits_for_its_time() {
    let app = spawn_app().await;
    let s = setup(&app, "Acme").await;
    let mut b = body(&s);
    let at = Utc::now() + Duration::hours(2);
    b["scheduled_for"] = json!(at);
    let r = create(&app, &s.tenant.admin_key, None, b).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let d = r.json()["data"]["deployments"][0].clone();
    assert_eq!(d["status"], "scheduled");
    assert!(d["job_id"].is_null());
    let jobs = app.get("/api/v1/jobs", &s.tenant.admin_key).await.json();
    assert_eq!(jobs["pagination"]["total"], 0, "{jobs}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn idempotency_keys_return_the_same_promotion_or_refuse_another_body() {
    let app = spawn_app().await;
    let s = setup(&app, "Acme").await;
    let first = create(&app, &s.tenant.admin_key, Some("key-1"), body(&s)).await;
    assert_eq!(first.status, 201, "{}", first.text);
    let id = id_of(&first.json()["data"]);

    // the same request, spelled differently: the same promotion, 200
    let respelled = json!({
        "workflow_ids": [s.workflows[0], s.workflows[1]],
        "target_environment_id": s.prod,
        "source_environment_id": s.dev,
    });
    let again = create(&app, &s.tenant.admin_key, Some("key-1"), respelled).await;
    assert_eq!(again.status, 200, "{}", again.text);
    assert_eq!(id_of(&again.json()["data"]), id);
    assert_eq!(
        again.json()["data"]["deployments"][0]["job_id"],
        first.json()["data"]["deployments"][0]["job_id"]
    );

    // another body with the key: 409
    let mut other = body(&s);
    other["workflow_ids"] = json!([s.workflows[2]]);
    create(&app, &s.tenant.admin_key, Some("key-1"), other.clone())
        .await
        .expect_error(409, "idempotency_key_reused");
    // without a key, or with another key, it is a new promotion
    assert_eq!(
        create(&app, &s.tenant.admin_key, Some("key-2"), other)
            .await
            .status,
        201
    );
    assert_eq!(promotion_count(&app, &s).await, 2);

    // concurrent requests with one key make one promotion
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let client = app.client.clone();
        let url = app.url("/api/v1/promotions");
        let token = s.tenant.admin_key.clone();
        let b = body(&s);
        tasks.push(tokio::spawn(async move {
            let r = client
                .post(url)
                .bearer_auth(token)
                .header("Idempotency-Key", "racing")
                .json(&b)
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            let v: Value = r.json().await.unwrap();
            (status, v["data"]["id"].as_str().unwrap().to_string())
        }));
    }
    let mut ids = std::collections::BTreeSet::new();
    let mut created = 0;
    for t in tasks {
        let (status, id) = t.await.unwrap();
        assert!(status == 200 || status == 201, "{status}");
        created += usize::from(status == 201);
        ids.insert(id);
    }
    assert_eq!(ids.len(), 1, "{ids:?}");
    assert_eq!(created, 1);
    assert_eq!(promotion_count(&app, &s).await, 3);

    // a bad key is refused before anything happens
    for bad in ["", &"k".repeat(201)] {
        create(&app, &s.tenant.admin_key, Some(bad), body(&s))
            .await
            .expect_error(400, "invalid_idempotency_key");
    }
    assert!(
        create(&app, &s.tenant.admin_key, Some(&"k".repeat(200)), body(&s))
            .await
            .status
            .is_success()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approval_needs_another_admin_and_a_waiting_promotion() {
    let app = spawn_app().await;
    let s = setup(&app, "Acme").await;
    let pipeline = pipeline(&app, &s, true, true).await;
    let creator = app.login_token(&s.tenant).await;
    let mut b = body(&s);
    b["pipeline_id"] = json!(pipeline);
    let r = create(&app, &creator, None, b.clone()).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let p = r.json()["data"].clone();
    assert_eq!(p["status"], "pending_approval");
    assert_eq!(p["stage_name"], "dev-to-prod");
    assert_eq!(p["deployments"][0]["status"], "pending");
    assert!(p["deployments"][0]["job_id"].is_null());
    let id = id_of(&p);
    let approve = format!("/api/v1/promotions/{id}/approve");

    // viewers and developers may not decide; the creator may not either
    for role in ["viewer", "developer"] {
        let key = app.key(&s.tenant, role).await;
        app.post(&approve, &key, json!({}))
            .await
            .expect_error(403, "insufficient_role");
    }
    app.post(&approve, &creator, json!({}))
        .await
        .expect_error(403, "self_approval_forbidden");
    app.post(
        &format!("/api/v1/promotions/{id}/reject"),
        &creator,
        json!({"reason": "no"}),
    )
    .await
    .expect_error(403, "self_approval_forbidden");

    // another admin (the tenant's admin key) approves: the deployment is queued
    let ok = app.post(&approve, &s.tenant.admin_key, json!({})).await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    let p = ok.json()["data"].clone();
    assert_eq!(p["status"], "approved");
    assert!(p["decided_by"].as_str().unwrap().starts_with("api_key:"));
    assert!(p["deployments"][0]["job_id"].is_string());

    // a decision on a promotion that no longer waits: 409
    app.post(&approve, &s.tenant.admin_key, json!({}))
        .await
        .expect_error(409, "promotion_not_pending_approval");

    // rejection: failed with the reason, deployment cancelled
    let r = create(&app, &creator, None, b.clone()).await;
    let id = id_of(&r.json()["data"]);
    let reject = format!("/api/v1/promotions/{id}/reject");
    app.post(&reject, &s.tenant.admin_key, json!({}))
        .await
        .expect_error(422, "invalid_body");
    app.post(&reject, &s.tenant.admin_key, json!({"reason": "   "}))
        .await
        .expect_error(422, "validation_failed");
    let no = app
        .post(
            &reject,
            &s.tenant.admin_key,
            json!({"reason": "not this week"}),
        )
        .await;
    assert_eq!(no.status, 200, "{}", no.text);
    let p = no.json()["data"].clone();
    assert_eq!(p["status"], "failed");
    assert_eq!(p["rejection_reason"], "not this week");
    assert_eq!(p["deployments"][0]["status"], "cancelled");
    app.post(
        &format!("/api/v1/promotions/{id}/approve"),
        &s.tenant.admin_key,
        json!({}),
    )
    .await
    .expect_error(409, "promotion_not_pending_approval");

    // approval of a scheduled promotion leaves it to the scheduler
    b["scheduled_for"] = json!(Utc::now() + Duration::hours(1));
    let r = create(&app, &creator, None, b).await;
    let id = id_of(&r.json()["data"]);
    let ok = app
        .post(
            &format!("/api/v1/promotions/{id}/approve"),
            &s.tenant.admin_key,
            json!({}),
        )
        .await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    assert_eq!(ok.json()["data"]["deployments"][0]["status"], "scheduled");
    assert!(ok.json()["data"]["deployments"][0]["job_id"].is_null());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_refusal_has_its_code_and_records_nothing() {
    let app = spawn_app().await;
    let s = setup(&app, "Acme").await;
    let admin = s.tenant.admin_key.clone();
    let with = |f: &dyn Fn(&mut Value)| {
        let mut b = body(&s);
        f(&mut b);
        b
    };
    let unknown = Uuid::new_v4();
    let cases: Vec<(Value, u16, &str)> = vec![
        (
            with(&|b| b["source_environment_id"] = json!(unknown)),
            404,
            "environment_not_found",
        ),
        (
            with(&|b| b["target_environment_id"] = json!(unknown)),
            404,
            "environment_not_found",
        ),
        (
            with(&|b| b["target_environment_id"] = json!(s.dev)),
            422,
            "same_source_and_target",
        ),
        (
            with(&|b| b["pipeline_id"] = json!(unknown)),
            404,
            "pipeline_not_found",
        ),
        (
            with(&|b| b["workflow_ids"] = json!([unknown])),
            404,
            "workflows_not_in_source",
        ),
        (
            with(&|b| b["workflow_ids"] = json!([])),
            422,
            "invalid_workflow_selection",
        ),
        (
            with(&|b| b["workflow_ids"] = json!([s.workflows[0], s.workflows[0]])),
            422,
            "invalid_workflow_selection",
        ),
        (
            with(&|b| {
                b["workflow_ids"] = json!((0..501).map(|_| Uuid::new_v4()).collect::<Vec<_>>())
            }),
            422,
            "invalid_workflow_selection",
        ),
        (
            with(&|b| b["scheduled_for"] = json!(Utc::now() - Duration::minutes(1))),
            422,
            "invalid_scheduled_for",
        ),
        (
            with(&|b| b["scheduled_for"] = json!(Utc::now() + Duration::days(400))),
            422,
            "invalid_scheduled_for",
        ),
        (
            with(&|b| b["notes"] = json!("a\u{0}b")),
            422,
            "validation_failed",
        ),
        (with(&|b| b["extra"] = json!(1)), 422, "invalid_body"),
        (
            with(&|b| b["workflow_ids"] = json!(["not-a-uuid"])),
            422,
            "invalid_body",
        ),
    ];
    for (b, status, code) in cases {
        let r = create(&app, &admin, None, b.clone()).await;
        r.expect_error(status, code);
    }
    let r = create(
        &app,
        &admin,
        None,
        with(&|b| b["workflow_ids"] = json!([s.workflows[0], unknown])),
    )
    .await;
    r.expect_error(404, "workflows_not_in_source");
    assert_eq!(
        r.json()["error"]["details"]["workflow_ids"],
        json!([unknown])
    );

    // pipelines: switched off, or without the stage
    let off = pipeline(&app, &s, false, false).await;
    create(&app, &admin, None, with(&|b| b["pipeline_id"] = json!(off)))
        .await
        .expect_error(422, "pipeline_inactive");
    let on = pipeline(&app, &s, false, true).await;
    create(
        &app,
        &admin,
        None,
        with(&|b| {
            b["pipeline_id"] = json!(on);
            b["source_environment_id"] = json!(s.prod);
            b["target_environment_id"] = json!(s.dev);
        }),
    )
    .await
    .expect_error(422, "pipeline_stage_missing");

    // roles
    for role in ["viewer", "developer"] {
        let key = app.key(&s.tenant, role).await;
        create(&app, &key, None, body(&s))
            .await
            .expect_error(403, "insufficient_role");
    }
    assert_eq!(promotion_count(&app, &s).await, 0);

    // a deleted (archived) environment, also behind a pipeline's stage
    let r = app
        .delete(&format!("/api/v1/environments/{}", s.prod), &admin)
        .await;
    assert!(r.status.is_success(), "{}", r.text);
    let m = create(&app, &admin, None, body(&s))
        .await
        .expect_error(409, "environment_archived");
    assert!(m.contains(&s.prod.to_string()), "{m}");
    create(&app, &admin, None, with(&|b| b["pipeline_id"] = json!(on)))
        .await
        .expect_error(409, "environment_archived");
    assert_eq!(promotion_count(&app, &s).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_filter_and_other_tenants_see_nothing() {
    let app = spawn_app().await;
    let s = setup(&app, "Acme").await;
    let o = setup(&app, "Other").await;
    let pipeline = pipeline(&app, &s, true, true).await;
    let creator = app.login_token(&s.tenant).await;
    let plain = create(&app, &s.tenant.admin_key, None, body(&s)).await;
    let plain_id = id_of(&plain.json()["data"]);
    let mut b = body(&s);
    b["pipeline_id"] = json!(pipeline);
    let waiting = create(&app, &creator, None, b).await;
    let waiting_id = id_of(&waiting.json()["data"]);

    let list = |q: String| {
        let app = &app;
        let key = s.tenant.admin_key.clone();
        async move { app.get(&format!("/api/v1/promotions{q}"), &key).await }
    };
    let r = list("?status=pending_approval".into()).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let data = r.json()["data"].clone();
    assert_eq!(data.as_array().unwrap().len(), 1);
    assert_eq!(id_of(&data[0]), waiting_id);
    assert!(data[0].get("deployments").is_none());
    let r = list(format!(
        "?target_environment_id={}&page_size=1&page=2",
        s.prod
    ))
    .await;
    assert_eq!(r.json()["pagination"]["total"], 2);
    assert_eq!(r.json()["data"].as_array().unwrap().len(), 1);
    // newest first: page 2 of size 1 is the first one created
    assert_eq!(id_of(&r.json()["data"][0]), plain_id);
    assert_eq!(
        list(format!("?source_environment_id={}", s.prod))
            .await
            .json()["pagination"]["total"],
        0
    );
    list("?status=done".into())
        .await
        .expect_error(400, "invalid_query_parameter");
    list("?target_environment_id=x".into())
        .await
        .expect_error(400, "invalid_query_parameter");
    list("?colour=red".into())
        .await
        .expect_error(400, "invalid_query_parameter");

    // the other tenant: 404 on every one of these, and an empty list
    let other = &o.tenant.admin_key;
    app.get(&format!("/api/v1/promotions/{plain_id}"), other)
        .await
        .expect_error(404, "promotion_not_found");
    app.post(
        &format!("/api/v1/promotions/{waiting_id}/approve"),
        other,
        json!({}),
    )
    .await
    .expect_error(404, "promotion_not_found");
    app.post(
        &format!("/api/v1/promotions/{waiting_id}/reject"),
        other,
        json!({"reason": "x"}),
    )
    .await
    .expect_error(404, "promotion_not_found");
    assert_eq!(
        app.get("/api/v1/promotions", other).await.json()["pagination"]["total"],
        0
    );
    // another tenant's environments and workflows are unknown
    let mut b = body(&o);
    b["target_environment_id"] = json!(s.prod);
    create(&app, other, None, b)
        .await
        .expect_error(404, "environment_not_found");
    let mut b = body(&o);
    b["workflow_ids"] = json!([s.workflows[0]]);
    create(&app, other, None, b)
        .await
        .expect_error(404, "workflows_not_in_source");
    app.get(&format!("/api/v1/promotions/{}", Uuid::new_v4()), other)
        .await
        .expect_error(404, "promotion_not_found");
    app.get("/api/v1/promotions/nope", other)
        .await
        .expect_error(400, "invalid_path_parameter");
}
