//! The fake's own helpers (seeding, inspection, edits behind the API's back), checked over
//! plain HTTP. Its API behaviour is checked by the scenario suite in crates/n8n.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chrono::{TimeZone, Utc};
use serde_json::{json, Value};
use wfops_fake_n8n::{fixtures_dir, generated_workflow, FakeError, FakeN8n, Route};

async fn get(fake: &FakeN8n, path: &str) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .get(format!("{}{path}", fake.url()))
        .header("X-N8N-API-KEY", fake.api_key())
        .send()
        .await
        .expect("answered");
    let status = resp.status().as_u16();
    (status, resp.json().await.expect("json"))
}

#[tokio::test]
async fn every_fixture_seeds_and_is_served() {
    let fake = FakeN8n::start().expect("fake");
    let ids = fake
        .seed_fixtures(&fixtures_dir(), None)
        .expect("all fixtures seed");
    assert!(ids.len() > 1000, "{}", ids.len());
    assert_eq!(fake.workflow_count().expect("count"), ids.len());
    assert_eq!(fake.workflow_ids().expect("ids"), ids);
    let (status, body) = get(&fake, &format!("/api/v1/workflows/{}", ids[0])).await;
    assert_eq!(status, 200);
    assert_eq!(body["id"], json!(ids[0]));
    assert_eq!(Some(body.clone()), fake.workflow(&ids[0]).expect("inspect"));
    for field in [
        "createdAt",
        "updatedAt",
        "versionId",
        "nodes",
        "connections",
        "settings",
        "shared",
        "tags",
    ] {
        assert!(body.get(field).is_some(), "GET has `{field}`");
    }
}

#[tokio::test]
async fn seeding_many_from_fixtures_gives_distinct_names() {
    let fake = FakeN8n::start().expect("fake");
    let ids = fake
        .seed_from_fixtures(&fixtures_dir(), 30)
        .expect("seeded");
    let names: std::collections::BTreeSet<String> = ids
        .iter()
        .map(|id| {
            fake.workflow(id).expect("ok").expect("exists")["name"]
                .as_str()
                .expect("name")
                .to_string()
        })
        .collect();
    assert_eq!(names.len(), 30);
    assert!(names.iter().all(|n| n.chars().count() <= 128));
}

#[tokio::test]
async fn a_bad_fixture_folder_is_a_clear_error() {
    let fake = FakeN8n::start().expect("fake");
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("a.json"), "{not json").expect("write");
    match fake.seed_fixtures(dir.path(), None) {
        Err(FakeError::Fixture { path, reason }) => {
            assert!(path.ends_with("a.json"));
            assert!(reason.contains("not JSON"), "{reason}");
        }
        other => panic!("expected a fixture error, got {other:?}"),
    }
    std::fs::write(
        dir.path().join("a.json"),
        r#"{"nodes": [], "connections": {}}"#,
    )
    .expect("write");
    let err = fake.seed_fixtures(dir.path(), None).expect_err("no name");
    assert!(err.to_string().contains("has no `name`"), "{err}");
    assert!(matches!(
        fake.seed_fixtures(&dir.path().join("missing"), None),
        Err(FakeError::Fixture { .. })
    ));
}

#[tokio::test]
async fn edits_behind_the_apis_back() {
    let fake = FakeN8n::start().expect("fake");
    let id = fake.seed_workflow(&generated_workflow(1)).expect("seeded");
    let before = fake.workflow(&id).expect("ok").expect("exists");

    let mut doc = generated_workflow(1);
    doc["nodes"][1]["parameters"] = json!({"changed": true});
    fake.replace_content(&id, &doc, false).expect("edited");
    let after = fake.workflow(&id).expect("ok").expect("exists");
    assert_eq!(
        after["updatedAt"], before["updatedAt"],
        "updatedAt left alone"
    );
    assert_ne!(after["versionId"], before["versionId"]);
    assert_eq!(after["nodes"][1]["parameters"], json!({"changed": true}));

    let at = Utc
        .with_ymd_and_hms(2020, 1, 2, 3, 4, 5)
        .single()
        .expect("time");
    fake.set_updated_at(&id, Some(at)).expect("set");
    let (_, body) = get(&fake, &format!("/api/v1/workflows/{id}")).await;
    assert_eq!(body["updatedAt"], json!("2020-01-02T03:04:05.000Z"));
    fake.set_updated_at(&id, None).expect("hide");
    let (_, body) = get(&fake, "/api/v1/workflows").await;
    assert!(body["data"][0].get("updatedAt").is_none());

    fake.set_active(&id, true).expect("activate");
    assert_eq!(
        fake.workflow(&id).expect("ok").expect("exists")["active"],
        json!(true)
    );
    fake.remove_workflow(&id).expect("removed");
    let (status, body) = get(&fake, &format!("/api/v1/workflows/{id}")).await;
    assert_eq!((status, body), (404, json!({"message": "Not Found"})));
    assert!(matches!(
        fake.remove_workflow(&id),
        Err(FakeError::UnknownWorkflow(_))
    ));
    assert!(matches!(
        fake.seed_execution(&id, "success"),
        Err(FakeError::UnknownWorkflow(_))
    ));
}

#[tokio::test]
async fn requests_are_recorded_and_health_needs_no_key() {
    let fake = FakeN8n::start().expect("fake");
    let resp = reqwest::get(format!("{}/healthz", fake.url()))
        .await
        .expect("answered");
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(
        resp.json::<Value>().await.expect("json"),
        json!({"status": "ok"})
    );
    let (status, _) = get(&fake, "/api/v1/workflows?limit=5").await;
    assert_eq!(status, 200);
    let log = fake.requests();
    assert_eq!(log.len(), 2);
    assert_eq!(
        (log[1].route, log[1].query.as_str(), log[1].status),
        (Route::ListWorkflows, "limit=5", Some(200))
    );
    assert_eq!(fake.request_count(Route::Health), 1);
    fake.reset_requests();
    assert_eq!(fake.total_requests(), 0);
}

#[tokio::test]
async fn seeding_refuses_what_n8n_would_refuse() {
    let fake = FakeN8n::start().expect("fake");
    let long = generated_workflow(0).as_object().cloned().map(|mut o| {
        o.insert("name".into(), json!("x".repeat(129)));
        Value::Object(o)
    });
    let err = fake
        .seed_workflow(&long.expect("object"))
        .expect_err("too long");
    assert!(
        matches!(err, FakeError::Rejected { status: 400, .. }),
        "{err:?}"
    );
    let started = std::time::Instant::now();
    fake.stop();
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "stopping is quick"
    );
}
