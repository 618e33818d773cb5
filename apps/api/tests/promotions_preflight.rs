// Test code: a failed unwrap or expect is the test's failure message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

//! Pipelines, credential mappings, environment variables and the promotion pre-flight
//! (validate, compare, drift-check) through the HTTP API, on seeded workflow rows.

mod common;

use common::{spawn_app, Response, Tenant, TestApp};
use reqwest::Method;
use serde_json::{json, Value};
use uuid::Uuid;
use wfops_db::ScopedFutureExt;

fn lit(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

async fn exec(app: &TestApp, sql: &str) {
    app.test_db.admin_execute(sql).await.expect(sql);
}

async fn canonical(app: &TestApp, tenant: &Tenant, name: &str) -> Uuid {
    let id = Uuid::new_v4();
    exec(
        app,
        &format!(
            "insert into canonical_workflows (id, tenant_id, canonical_slug, name)
             values ('{id}', '{}', {}, {})",
            tenant.id,
            lit(&format!(
                "{}-{}",
                name.to_lowercase(),
                &id.simple().to_string()[..6]
            )),
            lit(name)
        ),
    )
    .await;
    id
}

/// Links canonical `id` in `env` as n8n workflow `n8n_id` holding `doc`.
async fn link(app: &TestApp, tenant: &Tenant, env: Uuid, id: Uuid, n8n_id: &str, doc: &Value) {
    exec(
        app,
        &format!(
            "insert into workflow_env_map
                 (tenant_id, canonical_id, environment_id, n8n_workflow_id, status, workflow_name,
                  workflow_data, linked_at)
             values ('{}', '{id}', '{env}', {}, 'linked', {}, {}::jsonb, now())",
            tenant.id,
            lit(n8n_id),
            lit(doc["name"].as_str().unwrap_or("wf")),
            lit(&doc.to_string())
        ),
    )
    .await;
}

async fn diff_state(app: &TestApp, tenant: &Tenant, id: Uuid, source: Uuid, target: Uuid, s: &str) {
    exec(
        app,
        &format!(
            "insert into workflow_diff_state
                 (tenant_id, canonical_id, source_environment_id, target_environment_id, diff_status)
             values ('{}', '{id}', '{source}', '{target}', '{s}')",
            tenant.id
        ),
    )
    .await;
}

fn node(name: &str, ty: &str, params: Value) -> Value {
    json!({"id": name, "name": name, "type": ty, "typeVersion": 1, "position": [0, 0],
           "parameters": params})
}

fn doc(name: &str, nodes: Vec<Value>) -> Value {
    json!({"name": name, "nodes": nodes, "connections": {}, "settings": {}})
}

fn with_cred(mut n: Value, ty: &str, id: &str, name: &str) -> Value {
    n["credentials"] = json!({ ty: {"id": id, "name": name} });
    n
}

async fn put(app: &TestApp, path: &str, token: &str, body: Value) -> Response {
    app.call(Method::PUT, path, Some(token), Some(body)).await
}

fn gate<'a>(data: &'a Value, name: &str) -> &'a Value {
    data["gates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["gate"] == name)
        .unwrap_or_else(|| panic!("no gate {name} in {data}"))
}

fn ids_of(g: &Value) -> Vec<String> {
    g["workflows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["canonical_id"].as_str().unwrap().to_string())
        .collect()
}

fn stage(name: &str, s: Uuid, t: Uuid) -> Value {
    json!({"name": name, "source_environment_id": s, "target_environment_id": t})
}

#[tokio::test]
async fn pipelines_crud_and_every_validation_rule() {
    let app = spawn_app().await;
    let a = app.tenant("Pipes A").await;
    let b = app.tenant("Pipes B").await;
    let (dev, staging, prod) = (
        app.environment(&a, "dev").await,
        app.environment(&a, "staging").await,
        app.environment(&a, "prod").await,
    );
    let other = app.environment(&b, "other").await;
    let viewer = app.key(&a, "viewer").await;
    let key = &a.admin_key;

    let body = json!({
        "name": "  Main line ",
        "description": "dev to prod",
        "stages": [
            stage("dev-to-staging", dev, staging),
            {"name": "staging-to-prod", "source_environment_id": staging,
             "target_environment_id": prod, "requireApproval": true,
             "gates": {"requireCleanDrift": false, "allowPlaceholderCredentials": true}}
        ]
    });
    let created = app.post("/api/v1/pipelines", key, body.clone()).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let p = created.json()["data"].clone();
    assert_eq!(p["name"], "Main line");
    assert_eq!(p["is_active"], true);
    assert_eq!(p["stages"][0]["gates"]["requireCleanDrift"], true);
    assert_eq!(p["stages"][0]["requireApproval"], false);
    assert_eq!(p["stages"][1]["gates"]["requireCleanDrift"], false);
    assert_eq!(p["stages"][1]["requireApproval"], true);
    let id = p["id"].as_str().unwrap().to_string();

    // names are unique per tenant; another tenant may use the same one
    app.post(
        "/api/v1/pipelines",
        key,
        json!({"name": "Main line", "stages": [stage("s", dev, staging)]}),
    )
    .await
    .expect_error(409, "pipeline_name_taken");
    let theirs = app
        .post(
            "/api/v1/pipelines",
            &b.admin_key,
            json!({"name": "Main line", "stages": [stage("s", other, app.environment(&b, "b2").await)]}),
        )
        .await;
    assert_eq!(theirs.status, 201, "{}", theirs.text);

    // reads for viewers, writes for admins only
    let list = app.get("/api/v1/pipelines", &viewer).await;
    assert_eq!(list.status, 200, "{}", list.text);
    assert_eq!(list.json()["pagination"]["total"], 1);
    assert_eq!(
        app.get(&format!("/api/v1/pipelines/{id}"), &viewer)
            .await
            .status,
        200
    );
    app.post("/api/v1/pipelines", &viewer, body.clone())
        .await
        .expect_error(403, "insufficient_role");
    app.delete(&format!("/api/v1/pipelines/{id}"), &viewer)
        .await
        .expect_error(403, "insufficient_role");

    // each rule with its own code
    let cases: Vec<(Value, u16, &str)> = vec![
        (json!([]), 422, "invalid_stage_count"),
        (
            Value::Array(
                (0..21)
                    .map(|i| stage(&format!("s{i}"), dev, staging))
                    .collect(),
            ),
            422,
            "invalid_stage_count",
        ),
        (
            json!([stage("x", dev, staging), stage("x", staging, prod)]),
            422,
            "duplicate_stage_name",
        ),
        (
            json!([stage("self", dev, dev)]),
            422,
            "stage_self_promotion",
        ),
        (
            json!([stage("one", dev, staging), stage("two", dev, staging)]),
            422,
            "duplicate_stage_direction",
        ),
        (
            json!([stage("a-b", dev, staging), stage("b-a", staging, dev)]),
            422,
            "pipeline_cycle",
        ),
        (
            json!([{"name": "s", "source_environment_id": dev, "target_environment_id": staging,
                    "gates": {"allowEverything": true}}]),
            422,
            "unknown_gate_flag",
        ),
        (
            json!([{"name": "s", "source_environment_id": dev}]),
            422,
            "invalid_stage",
        ),
        (
            json!([stage("cross", dev, other)]),
            422,
            "stage_environment_not_found",
        ),
        (
            json!([stage("random", Uuid::new_v4(), staging)]),
            422,
            "stage_environment_not_found",
        ),
    ];
    for (stages, status, code) in cases {
        let resp = app
            .post(
                "/api/v1/pipelines",
                key,
                json!({"name": "bad", "stages": stages}),
            )
            .await;
        resp.expect_error(status, code);
    }
    let cycle = app
        .post(
            "/api/v1/pipelines",
            key,
            json!({"name": "bad", "stages": [stage("a-b", dev, staging), stage("b-a", staging, dev)]}),
        )
        .await;
    assert_eq!(
        cycle.json()["error"]["details"]["stages"],
        json!(["a-b", "b-a"])
    );
    app.post(
        "/api/v1/pipelines",
        key,
        json!({"name": " ", "stages": [stage("s", dev, staging)]}),
    )
    .await
    .expect_error(422, "invalid_name");
    app.post(
        "/api/v1/pipelines",
        key,
        json!({"name": "x", "stages": [stage("s", dev, staging)], "colour": "red"}),
    )
    .await
    .expect_error(422, "invalid_body");

    // an archived environment can not be named
    let gone = app.environment(&a, "gone").await;
    assert_eq!(
        app.delete(&format!("/api/v1/environments/{gone}"), key)
            .await
            .status,
        200
    );
    app.post(
        "/api/v1/pipelines",
        key,
        json!({"name": "x", "stages": [stage("s", dev, gone)]}),
    )
    .await
    .expect_error(422, "stage_environment_archived");

    // updates
    let path = format!("/api/v1/pipelines/{id}");
    app.patch(&path, key, json!({}))
        .await
        .expect_error(422, "empty_update");
    app.patch(
        &path,
        key,
        json!({"stages": [stage("a-b", dev, staging), stage("b-a", staging, dev)]}),
    )
    .await
    .expect_error(422, "pipeline_cycle");
    let updated = app
        .patch(
            &path,
            key,
            json!({"name": "Renamed", "description": null, "is_active": false}),
        )
        .await;
    assert_eq!(updated.status, 200, "{}", updated.text);
    assert_eq!(updated.json()["data"]["name"], "Renamed");
    assert_eq!(updated.json()["data"]["description"], Value::Null);
    assert_eq!(updated.json()["data"]["is_active"], false);
    assert_eq!(
        updated.json()["data"]["stages"].as_array().unwrap().len(),
        2
    );

    // another tenant sees nothing
    for resp in [
        app.get(&path, &b.admin_key).await,
        app.patch(&path, &b.admin_key, json!({"name": "mine"}))
            .await,
        app.delete(&path, &b.admin_key).await,
    ] {
        resp.expect_error(404, "pipeline_not_found");
    }
    assert_eq!(
        app.get("/api/v1/pipelines", &b.admin_key).await.json()["pagination"]["total"],
        1
    );

    let deleted = app.delete(&path, key).await;
    assert_eq!(deleted.status, 200, "{}", deleted.text);
    app.get(&path, key)
        .await
        .expect_error(404, "pipeline_not_found");
    app.get("/api/v1/pipelines/not-a-uuid", key)
        .await
        .expect_error(400, "invalid_path_parameter");
}

#[tokio::test]
async fn variables_keep_secrets_out_of_every_answer() {
    let app = spawn_app().await;
    let a = app.tenant("Vars A").await;
    let b = app.tenant("Vars B").await;
    let env = app.environment(&a, "staging").await;
    let other = app.environment(&b, "other").await;
    let viewer = app.key(&a, "viewer").await;
    let key = &a.admin_key;
    let secret = format!("s3cr3t-{}", Uuid::new_v4().simple());
    let base = format!("/api/v1/environments/{env}/variables");
    let mut answers = Vec::new();

    let plain = put(
        &app,
        &format!("{base}/API_HOST"),
        key,
        json!({"value": "api.example.com"}),
    )
    .await;
    assert_eq!(plain.status, 201, "{}", plain.text);
    assert_eq!(plain.json()["data"]["value"], "api.example.com");
    let again = put(
        &app,
        &format!("{base}/API_HOST"),
        key,
        json!({"value": "api2.example.com"}),
    )
    .await;
    assert_eq!(again.status, 200, "{}", again.text);
    assert_eq!(again.json()["data"]["value"], "api2.example.com");

    let created = put(
        &app,
        &format!("{base}/API_TOKEN"),
        key,
        json!({"value": secret, "is_secret": true}),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.json()["data"]["value"], Value::Null);
    assert_eq!(created.json()["data"]["is_secret"], true);
    answers.push(created);
    let list = app.get(&base, &viewer).await;
    assert_eq!(list.status, 200, "{}", list.text);
    let items = list.json()["data"].as_array().unwrap().clone();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["key"], "API_HOST");
    assert_eq!(items[1]["key"], "API_TOKEN");
    assert_eq!(items[1]["value"], Value::Null);
    answers.push(list);
    // replaced with another secret: still hidden
    answers.push(
        put(
            &app,
            &format!("{base}/API_TOKEN"),
            key,
            json!({"value": secret, "is_secret": true}),
        )
        .await,
    );

    // stored encrypted: the column never holds the plain value, and it decrypts back
    let rows = app
        .state
        .db
        .tenant_tx(a.id, |conn| {
            async move { wfops_db::environment_variables::list(conn, env).await }.scope_boxed()
        })
        .await
        .unwrap();
    let stored = rows.iter().find(|r| r.key == "API_TOKEN").unwrap();
    assert!(stored.is_secret);
    assert!(!stored.value.contains(&secret));
    let plain_back = app.state.cipher.decrypt_str(&stored.value).unwrap();
    assert_eq!(plain_back.expose(), &secret);

    // bad input, roles, tenants
    put(&app, &format!("{base}/1BAD"), key, json!({"value": "x"}))
        .await
        .expect_error(400, "invalid_variable_key");
    put(&app, &format!("{base}/A-B"), key, json!({"value": "x"}))
        .await
        .expect_error(400, "invalid_variable_key");
    let bad_value = put(
        &app,
        &format!("{base}/OK"),
        key,
        json!({"value": format!("{secret}\u{0}")}),
    )
    .await;
    bad_value.expect_error(422, "invalid_variable_value");
    answers.push(bad_value);
    put(
        &app,
        &format!("{base}/OK"),
        key,
        json!({"value": "x", "secret": true}),
    )
    .await
    .expect_error(422, "invalid_body");
    put(&app, &format!("{base}/OK"), &viewer, json!({"value": "x"}))
        .await
        .expect_error(403, "insufficient_role");
    put(
        &app,
        &format!("/api/v1/environments/{other}/variables/OK"),
        key,
        json!({"value": "x"}),
    )
    .await
    .expect_error(404, "environment_not_found");
    app.get(&format!("/api/v1/environments/{other}/variables"), key)
        .await
        .expect_error(404, "environment_not_found");
    app.delete(&format!("{base}/NOPE"), key)
        .await
        .expect_error(404, "environment_variable_not_found");
    app.delete(&format!("{base}/API_HOST"), &viewer)
        .await
        .expect_error(403, "insufficient_role");
    let deleted = app.delete(&format!("{base}/API_TOKEN"), key).await;
    assert_eq!(deleted.status, 200, "{}", deleted.text);
    answers.push(deleted);
    assert_eq!(
        app.get(&base, key).await.json()["data"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    for r in &answers {
        assert!(!r.text.contains(&secret), "secret leaked: {}", r.text);
    }
}

#[tokio::test]
async fn credential_mappings_and_suggestions() {
    let app = spawn_app().await;
    let a = app.tenant("Creds A").await;
    let b = app.tenant("Creds B").await;
    let dev = app.environment(&a, "dev").await;
    let staging = app.environment(&a, "staging").await;
    let other = app.environment(&b, "other").await;
    let viewer = app.key(&a, "viewer").await;
    let key = &a.admin_key;

    let w = canonical(&app, &a, "Orders").await;
    let source_doc = doc(
        "Orders",
        vec![
            with_cred(
                node("Slack", "n8n-nodes-base.slack", json!({})),
                "slackApi",
                "1",
                "Slack Bot",
            ),
            with_cred(
                node("DB", "n8n-nodes-base.postgres", json!({})),
                "postgres",
                "9",
                "Main DB",
            ),
        ],
    );
    link(&app, &a, dev, w, "d1", &source_doc).await;
    let t = canonical(&app, &a, "Other").await;
    let target_doc = doc(
        "Other",
        vec![
            with_cred(
                node("S1", "n8n-nodes-base.slack", json!({})),
                "slackApi",
                "50",
                "Other bot",
            ),
            with_cred(
                node("S2", "n8n-nodes-base.slack", json!({})),
                "slackApi",
                "51",
                "slack bot",
            ),
        ],
    );
    link(&app, &a, staging, t, "s1", &target_doc).await;

    let path = format!(
        "/api/v1/credential-mappings/suggestions?source_environment_id={dev}&target_environment_id={staging}"
    );
    let s = app.get(&path, &viewer).await;
    assert_eq!(s.status, 200, "{}", s.text);
    let data = s.json()["data"].clone();
    assert_eq!(data.as_array().unwrap().len(), 2, "{data}");
    assert_eq!(data[0]["credential_type"], "postgres");
    assert_eq!(data[0]["candidates"], json!([]));
    assert_eq!(data[1]["credential_type"], "slackApi");
    assert_eq!(data[1]["source_credential_id"], "1");
    assert_eq!(data[1]["candidates"][0]["id"], "51");
    assert_eq!(data[1]["candidates"][0]["same_name"], true);
    assert_eq!(data[1]["candidates"][1]["id"], "50");

    let mapping = json!({
        "source_environment_id": dev, "target_environment_id": staging,
        "credential_type": "slackApi", "source_credential_id": "1",
        "source_credential_name": "Slack Bot", "target_credential_id": "50",
        "target_credential_name": "Other bot"
    });
    let created = put(&app, "/api/v1/credential-mappings", key, mapping.clone()).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let mut replaced_body = mapping.clone();
    replaced_body["target_credential_id"] = json!("51");
    let replaced = put(&app, "/api/v1/credential-mappings", key, replaced_body).await;
    assert_eq!(replaced.status, 200, "{}", replaced.text);
    assert_eq!(replaced.json()["data"]["target_credential_id"], "51");
    assert_eq!(replaced.json()["data"]["id"], created.json()["data"]["id"]);
    let id = replaced.json()["data"]["id"].as_str().unwrap().to_string();

    let list = app
        .get(
            &format!("/api/v1/credential-mappings?source_environment_id={dev}"),
            &viewer,
        )
        .await;
    assert_eq!(list.status, 200, "{}", list.text);
    assert_eq!(list.json()["pagination"]["total"], 1);
    let none = app
        .get(
            &format!("/api/v1/credential-mappings?source_environment_id={staging}"),
            &viewer,
        )
        .await;
    assert_eq!(none.json()["pagination"]["total"], 0);
    // the mapped credential is no longer suggested
    let s = app.get(&path, &viewer).await.json()["data"].clone();
    assert_eq!(s.as_array().unwrap().len(), 1);
    assert_eq!(s[0]["credential_type"], "postgres");

    // bad input, roles and tenants
    let mut same = mapping.clone();
    same["target_environment_id"] = json!(dev);
    put(&app, "/api/v1/credential-mappings", key, same)
        .await
        .expect_error(422, "same_source_and_target");
    let mut blank = mapping.clone();
    blank["credential_type"] = json!("  ");
    let resp = put(&app, "/api/v1/credential-mappings", key, blank).await;
    resp.expect_error(422, "invalid_credential_mapping");
    assert_eq!(resp.json()["error"]["details"]["field"], "credential_type");
    let mut cross = mapping.clone();
    cross["target_environment_id"] = json!(other);
    put(&app, "/api/v1/credential-mappings", key, cross)
        .await
        .expect_error(404, "environment_not_found");
    put(
        &app,
        "/api/v1/credential-mappings",
        &viewer,
        mapping.clone(),
    )
    .await
    .expect_error(403, "insufficient_role");
    app.get(
        "/api/v1/credential-mappings/suggestions?source_environment_id=x",
        key,
    )
    .await
    .expect_error(400, "invalid_query_parameter");
    app.get(
        &format!("/api/v1/credential-mappings/suggestions?source_environment_id={dev}"),
        key,
    )
    .await
    .expect_error(400, "invalid_query_parameter");
    app.get(
        &format!("/api/v1/credential-mappings/suggestions?source_environment_id={dev}&target_environment_id={other}"),
        key,
    )
    .await
    .expect_error(404, "environment_not_found");
    app.get(
        &format!("/api/v1/credential-mappings?target_environment_id={other}"),
        key,
    )
    .await
    .expect_error(404, "environment_not_found");
    app.delete(&format!("/api/v1/credential-mappings/{id}"), &b.admin_key)
        .await
        .expect_error(404, "credential_mapping_not_found");
    app.delete(&format!("/api/v1/credential-mappings/{id}"), &viewer)
        .await
        .expect_error(403, "insufficient_role");
    assert_eq!(
        app.delete(&format!("/api/v1/credential-mappings/{id}"), key)
            .await
            .status,
        200
    );
    app.delete(&format!("/api/v1/credential-mappings/{id}"), key)
        .await
        .expect_error(404, "credential_mapping_not_found");
}

/// A tenant with dev and staging and five workflows, each tripping (or not) one gate.
struct Scene {
    a: Tenant,
    dev: Uuid,
    staging: Uuid,
    hotfix: Uuid,
    conflict: Uuid,
    messy: Uuid,
    callee: Uuid,
    clean: Uuid,
}

async fn scene(app: &TestApp) -> Scene {
    let a = app.tenant("Gates A").await;
    let dev = app.environment(&a, "dev").await;
    let staging = app.environment(&a, "staging").await;
    let hotfix = canonical(app, &a, "Hotfixed").await;
    let conflict = canonical(app, &a, "Conflicted").await;
    let messy = canonical(app, &a, "Messy").await;
    let callee = canonical(app, &a, "Callee").await;
    let clean = canonical(app, &a, "Clean").await;
    let simple = |name: &str, v: i64| {
        doc(
            name,
            vec![node("Set", "n8n-nodes-base.set", json!({"v": v}))],
        )
    };
    for (id, name, n8n) in [
        (hotfix, "Hotfixed", "h"),
        (conflict, "Conflicted", "c"),
        (clean, "Clean", "k"),
    ] {
        link(app, &a, dev, id, &format!("dev-{n8n}"), &simple(name, 1)).await;
        link(
            app,
            &a,
            staging,
            id,
            &format!("stg-{n8n}"),
            &simple(name, 2),
        )
        .await;
    }
    link(app, &a, dev, callee, "dev-callee", &simple("Callee", 1)).await;
    let messy_doc = doc(
        "Messy",
        vec![
            with_cred(
                node(
                    "Slack",
                    "n8n-nodes-base.slack",
                    json!({"text": "{{env.API_HOST}} up"}),
                ),
                "slackApi",
                "1",
                "Slack Bot",
            ),
            node(
                "Call",
                "n8n-nodes-base.executeWorkflow",
                json!({"workflowId": "dev-callee"}),
            ),
        ],
    );
    link(app, &a, dev, messy, "dev-messy", &messy_doc).await;
    diff_state(app, &a, hotfix, dev, staging, "target_hotfix").await;
    diff_state(app, &a, conflict, dev, staging, "conflict").await;
    diff_state(app, &a, clean, dev, staging, "modified").await;
    diff_state(app, &a, messy, dev, staging, "added").await;
    Scene {
        a,
        dev,
        staging,
        hotfix,
        conflict,
        messy,
        callee,
        clean,
    }
}

#[tokio::test]
async fn validate_reports_every_gate_and_the_drift_rule() {
    let app = spawn_app().await;
    let s = scene(&app).await;
    let b = app.tenant("Gates B").await;
    let b_env = app.environment(&b, "b-dev").await;
    let b_wf = canonical(&app, &b, "Theirs").await;
    let key = &s.a.admin_key;
    let developer = app.key(&s.a, "developer").await;
    let viewer = app.key(&s.a, "viewer").await;
    let selection = json!({
        "source_environment_id": s.dev, "target_environment_id": s.staging,
        "workflow_ids": [s.hotfix, s.conflict, s.messy, s.clean]
    });

    let resp = app
        .post("/api/v1/promotions/validate", &developer, selection.clone())
        .await;
    assert_eq!(resp.status, 200, "{}", resp.text);
    let d = resp.json()["data"].clone();
    assert_eq!(d["allowed"], false);
    assert_eq!(d["requires_approval"], false);
    assert_eq!(d["stage_name"], Value::Null);
    assert_eq!(d["gates"].as_array().unwrap().len(), 6);
    let drift = gate(&d, "require_clean_drift");
    assert!(
        drift["passed"] == true && drift["blocking"] == false,
        "{drift}"
    );
    for (name, id) in [
        ("target_hotfix", s.hotfix),
        ("conflicts", s.conflict),
        ("credentials", s.messy),
        ("placeholders", s.messy),
        ("subworkflow_references", s.messy),
    ] {
        let g = gate(&d, name);
        assert_eq!(g["passed"], false, "{name}: {g}");
        assert_eq!(g["blocking"], true, "{name}: {g}");
        assert_eq!(ids_of(g), vec![id.to_string()], "{name}");
    }
    assert!(gate(&d, "placeholders")["workflows"][0]["details"][0]
        .as_str()
        .unwrap()
        .contains("API_HOST"));

    // fix the messy workflow: a variable, a mapping, and the callee promoted along
    assert_eq!(
        put(
            &app,
            &format!("/api/v1/environments/{}/variables/API_HOST", s.staging),
            key,
            json!({"value": "h"})
        )
        .await
        .status,
        201
    );
    let mapped = put(
        &app,
        "/api/v1/credential-mappings",
        key,
        json!({"source_environment_id": s.dev, "target_environment_id": s.staging,
               "credential_type": "slackApi", "source_credential_id": "1",
               "source_credential_name": "Slack Bot", "target_credential_id": "77",
               "target_credential_name": "Slack Bot"}),
    )
    .await;
    assert_eq!(mapped.status, 201, "{}", mapped.text);
    let mut with_callee = selection.clone();
    with_callee["workflow_ids"] = json!([s.hotfix, s.conflict, s.messy, s.clean, s.callee]);
    let d = app
        .post(
            "/api/v1/promotions/validate",
            &developer,
            with_callee.clone(),
        )
        .await
        .json()["data"]
        .clone();
    for name in ["credentials", "placeholders", "subworkflow_references"] {
        let g = gate(&d, name);
        assert!(g["passed"] == true && g["blocking"] == false, "{name}: {g}");
    }
    assert_eq!(d["allowed"], false, "hotfix and conflict still block");

    // a pipeline whose stage allows hotfix overwrites and forced conflicts, with approval
    let pipeline = app
        .post(
            "/api/v1/pipelines",
            key,
            json!({"name": "line", "stages": [{
                "name": "dev-to-staging", "source_environment_id": s.dev,
                "target_environment_id": s.staging, "requireApproval": true,
                "gates": {"allowOverwritingHotfixes": true, "allowForcePromotionOnConflicts": true}
            }]}),
        )
        .await;
    assert_eq!(pipeline.status, 201, "{}", pipeline.text);
    let pipeline_id = pipeline.json()["data"]["id"].as_str().unwrap().to_string();
    let mut through = with_callee.clone();
    through["pipeline_id"] = json!(pipeline_id);
    let d = app
        .post("/api/v1/promotions/validate", &developer, through.clone())
        .await
        .json()["data"]
        .clone();
    assert_eq!(d["allowed"], true, "{d}");
    assert_eq!(d["requires_approval"], true);
    assert_eq!(d["stage_name"], "dev-to-staging");
    assert_eq!(d["gate_flags"]["allowOverwritingHotfixes"], true);
    let hot = gate(&d, "target_hotfix");
    assert!(
        hot["passed"] == false && hot["blocking"] == false,
        "a warning: {hot}"
    );

    // drift: an open incident in the target blocks under requireCleanDrift (default true)
    let incident = Uuid::new_v4();
    exec(
        &app,
        &format!(
            "insert into drift_incidents (id, tenant_id, environment_id, status, title, severity,
                                          expires_at)
             values ('{incident}', '{}', '{}', 'acknowledged', 'drift', 'high',
                     now() + interval '2 hours')",
            s.a.id, s.staging
        ),
    )
    .await;
    let d = app
        .post("/api/v1/promotions/validate", &developer, through.clone())
        .await
        .json()["data"]
        .clone();
    let g = gate(&d, "require_clean_drift");
    assert!(g["passed"] == false && g["blocking"] == true, "{g}");
    assert_eq!(d["drift"]["incidents"][0]["id"], incident.to_string());
    assert_eq!(d["allowed"], false);
    let check = app
        .get(
            &format!("/api/v1/promotions/drift-check/{}", s.staging),
            &viewer,
        )
        .await;
    assert_eq!(check.status, 200, "{}", check.text);
    let c = check.json()["data"].clone();
    assert_eq!(c["blocked"], true);
    assert_eq!(c["mode"], "warn_only");
    assert_eq!(c["relief"], Value::Null);
    assert_eq!(c["incidents"][0]["status"], "acknowledged");
    // the source has no drift
    assert_eq!(
        app.get(
            &format!("/api/v1/promotions/drift-check/{}", s.dev),
            &viewer
        )
        .await
        .json()["data"]["drift_present"],
        false
    );

    // manual_override: blocked until a reason is given
    assert_eq!(
        app.patch(
            &format!("/api/v1/environments/{}", s.staging),
            key,
            json!({"drift_handling_mode": "manual_override"})
        )
        .await
        .status,
        200
    );
    let c = app
        .get(
            &format!("/api/v1/promotions/drift-check/{}", s.staging),
            &viewer,
        )
        .await
        .json()["data"]
        .clone();
    assert_eq!(c["relief"], "override_reason");
    let mut overridden = through.clone();
    overridden["drift_override_reason"] = json!("agreed with ops in CHG-1");
    let d = app
        .post(
            "/api/v1/promotions/validate",
            &developer,
            overridden.clone(),
        )
        .await
        .json()["data"]
        .clone();
    assert_eq!(d["allowed"], true, "{d}");
    assert_eq!(d["drift"]["relief_applied"], true);
    let mut attested = through.clone();
    attested["drift_attestation"] = json!("reviewed");
    let d = app
        .post("/api/v1/promotions/validate", &developer, attested)
        .await
        .json()["data"]
        .clone();
    assert_eq!(d["allowed"], false, "an attestation is not an override");

    // an enforced TTL with an expired incident blocks whatever is given
    exec(
        &app,
        &format!(
            "update drift_incidents set expires_at = now() - interval '1 minute' where id = '{incident}';
             insert into drift_policies (tenant_id, environment_id, enforce_ttl) values ('{}', null, true)",
            s.a.id
        ),
    )
    .await;
    let d = app
        .post("/api/v1/promotions/validate", &developer, overridden)
        .await
        .json()["data"]
        .clone();
    assert_eq!(d["allowed"], false);
    assert_eq!(d["drift"]["expired_incident_ids"], json!([incident]));
    assert_eq!(d["drift"]["relief"], Value::Null);

    // errors: each with its code
    let mut unknown = selection.clone();
    let stranger = Uuid::new_v4();
    unknown["workflow_ids"] = json!([s.clean, stranger, b_wf]);
    let resp = app
        .post("/api/v1/promotions/validate", &developer, unknown)
        .await;
    resp.expect_error(404, "workflows_not_in_source");
    let listed = resp.json()["error"]["details"]["workflow_ids"].clone();
    assert_eq!(listed, json!([stranger, b_wf]));
    // linked in the target only is not in the source either
    let mut reversed = selection.clone();
    reversed["source_environment_id"] = json!(s.staging);
    reversed["target_environment_id"] = json!(s.dev);
    reversed["workflow_ids"] = json!([s.messy]);
    app.post("/api/v1/promotions/validate", &developer, reversed.clone())
        .await
        .expect_error(404, "workflows_not_in_source");
    reversed["workflow_ids"] = json!([s.clean]);
    reversed["pipeline_id"] = json!(pipeline_id);
    app.post("/api/v1/promotions/validate", &developer, reversed)
        .await
        .expect_error(422, "pipeline_stage_missing");
    let mut same = selection.clone();
    same["target_environment_id"] = json!(s.dev);
    app.post("/api/v1/promotions/validate", &developer, same)
        .await
        .expect_error(422, "same_source_and_target");
    let mut no_pipeline = selection.clone();
    no_pipeline["pipeline_id"] = json!(Uuid::new_v4());
    app.post("/api/v1/promotions/validate", &developer, no_pipeline)
        .await
        .expect_error(404, "pipeline_not_found");
    let mut empty = selection.clone();
    empty["workflow_ids"] = json!([]);
    app.post("/api/v1/promotions/validate", &developer, empty)
        .await
        .expect_error(422, "invalid_workflow_selection");
    let mut too_many = selection.clone();
    too_many["workflow_ids"] = json!((0..501).map(|_| Uuid::new_v4()).collect::<Vec<_>>());
    app.post("/api/v1/promotions/validate", &developer, too_many)
        .await
        .expect_error(422, "invalid_workflow_selection");
    let mut cross_env = selection.clone();
    cross_env["target_environment_id"] = json!(b_env);
    app.post("/api/v1/promotions/validate", &developer, cross_env)
        .await
        .expect_error(404, "environment_not_found");
    let mut blank_reason = selection.clone();
    blank_reason["drift_override_reason"] = json!("  ");
    app.post("/api/v1/promotions/validate", &developer, blank_reason)
        .await
        .expect_error(422, "validation_failed");
    app.post("/api/v1/promotions/validate", &viewer, selection.clone())
        .await
        .expect_error(403, "insufficient_role");
    app.get(&format!("/api/v1/promotions/drift-check/{b_env}"), &viewer)
        .await
        .expect_error(404, "environment_not_found");
    assert_eq!(
        app.patch(
            &format!("/api/v1/pipelines/{pipeline_id}"),
            key,
            json!({"is_active": false})
        )
        .await
        .status,
        200
    );
    app.post("/api/v1/promotions/validate", &developer, through)
        .await
        .expect_error(422, "pipeline_inactive");
}

#[tokio::test]
async fn compare_gives_status_diff_and_risk_per_workflow() {
    let app = spawn_app().await;
    let s = scene(&app).await;
    let viewer = app.key(&s.a, "viewer").await;
    // the clean workflow's code changes between target and source
    let code = |js: &str| {
        doc(
            "Coded",
            vec![node("Code", "n8n-nodes-base.code", json!({"jsCode": js}))],
        )
    };
    let coded = canonical(&app, &s.a, "Coded").await;
    link(&app, &s.a, s.dev, coded, "dev-coded", &code("return [];")).await;
    link(
        &app,
        &s.a,
        s.staging,
        coded,
        "stg-coded",
        &code("return items;"),
    )
    .await;

    let resp = app
        .post(
            "/api/v1/promotions/compare",
            &viewer,
            json!({"source_environment_id": s.dev, "target_environment_id": s.staging,
                   "workflow_ids": [coded, s.messy, s.clean]}),
        )
        .await;
    assert_eq!(resp.status, 200, "{}", resp.text);
    let d = resp.json()["data"].clone();
    assert_eq!(d["risk"], "high");
    let w = d["workflows"].as_array().unwrap();
    assert_eq!(w.len(), 3);
    assert_eq!(w[0]["canonical_id"], coded.to_string());
    assert_eq!(w[0]["in_target"], true);
    assert_eq!(
        w[0]["diff_status"],
        Value::Null,
        "no reconciliation row for it"
    );
    assert_eq!(w[0]["risk"]["level"], "high", "{}", w[0]);
    assert_eq!(w[0]["diff"]["nodes"]["modified"][0]["name"], "Code");
    assert_eq!(w[1]["in_target"], false);
    assert_eq!(w[1]["diff"], Value::Null);
    assert_eq!(w[1]["diff_status"], "added");
    assert_eq!(w[1]["risk"]["level"], "medium");
    assert_eq!(w[2]["diff_status"], "modified");
    assert_eq!(
        w[2]["risk"]["level"], "medium",
        "a plain parameter: {}",
        w[2]
    );

    app.post(
        "/api/v1/promotions/compare",
        &viewer,
        json!({"source_environment_id": s.dev, "target_environment_id": s.staging,
               "workflow_ids": [Uuid::new_v4()]}),
    )
    .await
    .expect_error(404, "workflows_not_in_source");
    app.post(
        "/api/v1/promotions/compare",
        &viewer,
        json!({"source_environment_id": s.dev, "target_environment_id": s.staging,
               "workflow_ids": [coded], "pipeline_id": null}),
    )
    .await
    .expect_error(422, "invalid_body");
}

#[test]
fn the_document_spells_the_stage_and_gate_fields_as_the_api_does() {
    let doc = serde_json::to_value(wfops_api::openapi::document()).unwrap();
    let schemas = &doc["components"]["schemas"];
    for name in ["StageSchema", "StageView"] {
        let props = schemas[name]["properties"].as_object().unwrap();
        assert!(props.contains_key("requireApproval"), "{name}: {props:?}");
        assert!(!props.contains_key("require_approval"), "{name}");
    }
    let gates = schemas["GatesSchema"]["properties"].as_object().unwrap();
    for flag in wfops_promotion::pipeline::GATE_FLAGS {
        assert!(gates.contains_key(flag), "{flag}: {gates:?}");
    }
    let flags = schemas["GateFlagsView"]["properties"].as_object().unwrap();
    for flag in wfops_promotion::pipeline::GATE_FLAGS {
        assert!(flags.contains_key(flag), "{flag}");
    }
    let gate_names: Vec<&str> = schemas["GateName"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(
        gate_names,
        wfops_promotion::GateKind::ALL.map(wfops_promotion::GateKind::as_str)
    );
    let body = &doc["paths"]["/api/v1/promotions/validate"]["post"]["requestBody"];
    assert!(body.is_object());
    assert_eq!(
        schemas["UpdatePipelineRequest"]["minProperties"], 1,
        "an empty update is refused"
    );
}
