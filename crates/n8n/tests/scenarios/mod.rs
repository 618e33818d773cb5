//! One scenario suite, run against the fake (`tests/fake.rs`) and against a real n8n
//! (`tests/real.rs`), so that the fake cannot drift from the real thing unnoticed.
//!
//! Expected messages are literal strings observed on real n8n (1.123.81) or read in its
//! source (2.x), never computed by `write_rules`: computing them would make the fake agree
//! with itself. Every scenario creates uniquely named workflows and deletes what it created,
//! so scenarios can run in parallel against one shared instance.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::time::Duration;

use futures::TryStreamExt;
use serde_json::{json, Value};
use wfops_n8n::{
    list_all_workflows, sanitize_for_write, workflow_pages, ListExecutions, ListWorkflows,
    N8nClient, N8nConfig, N8nVersion, ProviderError, RemoteWorkflow, Secret, WorkflowProvider,
};

/// An n8n instance to run scenarios against.
#[derive(Debug, Clone)]
pub struct Target {
    pub label: &'static str,
    pub url: String,
    pub api_key: String,
    pub version: N8nVersion,
}

impl Target {
    pub fn config(&self) -> N8nConfig {
        let mut config = N8nConfig::new(self.url.clone(), Secret::new(self.api_key.clone()));
        config.version = self.version;
        config.request_timeout = Duration::from_secs(30);
        config
    }

    pub fn client(&self) -> N8nClient {
        N8nClient::new(self.config()).expect("client builds")
    }

    pub fn client_with_key(&self, key: &str) -> N8nClient {
        N8nClient::new(N8nConfig {
            api_key: Secret::new(key.to_string()),
            ..self.config()
        })
        .expect("client builds")
    }

    /// A plain HTTP call, for what the typed client deliberately cannot send.
    pub async fn raw(
        &self,
        method: &str,
        path_and_query: &str,
        key: Option<&str>,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let http = reqwest::Client::new();
        let url = format!(
            "{}/api/v1{}",
            self.url.trim_end_matches('/'),
            path_and_query
        );
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = http.request(method, url);
        if let Some(key) = key {
            req = req.header("X-N8N-API-KEY", key);
        }
        if let Some(body) = body {
            req = req.json(body);
        }
        let resp = req.send().await.expect("request is answered");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }
}

/// A name no other scenario run uses.
fn unique(label: &str) -> String {
    format!("wfops-scenario {label} {}", uuid_like())
}

fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{:x}-{:x}-{}",
        nanos,
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    )
}

/// A workflow n8n can activate (a schedule trigger needs no credentials) and that sets a value.
pub fn schedule_workflow(name: &str) -> Value {
    json!({
        "name": name,
        "nodes": [
            {"id": "8d3c5f8e-3b58-4a39-9d1b-0b6f3c1f0a01", "name": "Schedule", "type": "n8n-nodes-base.scheduleTrigger",
             "typeVersion": 1.2, "position": [0, 0], "parameters": {"rule": {"interval": [{}]}}},
            {"id": "8d3c5f8e-3b58-4a39-9d1b-0b6f3c1f0a02", "name": "Set", "type": "n8n-nodes-base.set",
             "typeVersion": 3.4, "position": [220, 0], "parameters": {"options": {}}}
        ],
        "connections": {"Schedule": {"main": [[{"node": "Set", "type": "main", "index": 0}]]}},
        "settings": {"executionOrder": "v1"}
    })
}

fn manual_only_workflow(name: &str) -> Value {
    json!({
        "name": name,
        "nodes": [{"id": "9a1f0c55-1111-4f6e-9a7b-2c3d4e5f6a01", "name": "Manual", "type": "n8n-nodes-base.manualTrigger",
                   "typeVersion": 1, "position": [0, 0], "parameters": {}}],
        "connections": {},
        "settings": {"executionOrder": "v1"}
    })
}

fn assert_rejected<T: std::fmt::Debug>(
    result: Result<T, ProviderError>,
    status: u16,
    message: &str,
    context: &str,
) {
    match result {
        Err(ProviderError::Validation {
            status: s,
            message: m,
        }) => {
            assert_eq!((s, m.as_str()), (status, message), "{context}");
        }
        other => panic!("{context}: expected HTTP {status} `{message}`, got {other:?}"),
    }
}

fn assert_not_found<T: std::fmt::Debug>(result: Result<T, ProviderError>, context: &str) {
    match result {
        Err(ProviderError::NotFound { message }) => assert_eq!(message, "Not Found", "{context}"),
        other => panic!("{context}: expected 404 Not Found, got {other:?}"),
    }
}

async fn cleanup(client: &N8nClient, ids: &[String]) {
    for id in ids {
        let _ = client.delete_workflow(id).await;
    }
}

/// create → get → update (twice) → activate → deactivate → delete, checking what n8n says
/// about timestamps, versions and settings at each step.
pub async fn crud_lifecycle(t: &Target) {
    let client = t.client();
    let name = unique("crud");
    let mut doc = schedule_workflow(&name);
    // What a document read back from n8n or Git carries; create must leave it out.
    doc["id"] = json!("shouldNotBeSent1");
    doc["active"] = json!(true);
    doc["tags"] = json!([{"name": "x"}]);
    doc["updatedAt"] = json!("2020-01-01T00:00:00.000Z");
    doc["versionId"] = json!("00000000-0000-0000-0000-000000000000");
    let created = client.create_workflow(&doc).await.expect("create");
    let id = created.id().to_string();
    assert_ne!(id, "shouldNotBeSent1");
    assert_eq!(id.len(), 16, "n8n ids are 16 characters: {id}");
    assert!(!created.active(), "a new workflow is inactive");
    let v1 = created.version_id().expect("versionId").to_string();
    assert_ne!(v1, "00000000-0000-0000-0000-000000000000");
    let t1 = created.updated_at().expect("updatedAt");

    let got = client.get_workflow(&id).await.expect("get");
    assert_eq!(got.name(), Some(name.as_str()));
    assert_eq!(got.raw()["nodes"], schedule_workflow(&name)["nodes"]);
    assert_eq!(
        got.raw()["connections"],
        schedule_workflow(&name)["connections"]
    );
    assert_eq!(
        got.raw()["settings"],
        with_defaults(json!({"executionOrder": "v1"}), t.version)
    );
    assert_eq!(got.version_id(), Some(v1.as_str()));

    let mut changed = schedule_workflow(&format!("{name} renamed"));
    changed["settings"] = json!({"timezone": "Europe/Berlin"});
    let updated = client.update_workflow(&id, &changed).await.expect("update");
    assert_eq!(updated.name(), Some(format!("{name} renamed").as_str()));
    let v2 = updated.version_id().expect("versionId").to_string();
    assert_ne!(v2, v1, "a content change gives a new versionId");
    let t2 = updated.updated_at().expect("updatedAt");
    assert!(t2 > t1, "updatedAt moves forward: {t1} -> {t2}");
    assert_eq!(
        updated.raw()["settings"],
        with_defaults(
            json!({"executionOrder": "v1", "timezone": "Europe/Berlin"}),
            t.version
        ),
        "PUT merges settings over the stored ones"
    );

    // n8n compares what is sent with what is stored before merging settings: sending the
    // stored document back (as a sync pushing an unchanged workflow does) is no change.
    let same = client
        .update_workflow(&id, updated.raw())
        .await
        .expect("identical update");
    assert_eq!(
        same.version_id(),
        Some(v2.as_str()),
        "an identical PUT keeps the versionId"
    );
    let t3 = same.updated_at().expect("updatedAt");
    assert!(
        t3 > t2,
        "an identical PUT still moves updatedAt: {t2} -> {t3}"
    );
    // Sending fewer settings than are stored is a change (to the sent object), though the
    // merge leaves the stored settings as they were.
    let fewer = client
        .update_workflow(&id, &changed)
        .await
        .expect("update with fewer settings");
    assert_ne!(
        fewer.version_id(),
        Some(v2.as_str()),
        "sent settings differ from the stored ones"
    );
    assert_eq!(fewer.raw()["settings"], updated.raw()["settings"]);
    let v2 = fewer.version_id().expect("versionId").to_string();

    let active = client.activate_workflow(&id).await.expect("activate");
    assert!(active.active());
    assert_eq!(active.raw()["activeVersionId"], json!(v2));
    assert!(client.get_workflow(&id).await.expect("get").active());
    let again = client
        .activate_workflow(&id)
        .await
        .expect("activating twice is fine");
    assert!(again.active());

    let inactive = client.deactivate_workflow(&id).await.expect("deactivate");
    assert!(!inactive.active());
    assert_eq!(inactive.raw()["activeVersionId"], Value::Null);
    assert!(!client.get_workflow(&id).await.expect("get").active());

    client.delete_workflow(&id).await.expect("delete");
    assert_not_found(client.get_workflow(&id).await, "get after delete");
    assert_not_found(client.delete_workflow(&id).await, "delete twice");
}

/// Cursor pagination: pages of the requested size, a cursor until the last page, every
/// workflow exactly once.
pub async fn list_pages(t: &Target) {
    let client = t.client();
    let prefix = unique("pages");
    let mut ids = Vec::new();
    for i in 0..5 {
        let w = client
            .create_workflow(&schedule_workflow(&format!("{prefix} #{i}")))
            .await
            .expect("create");
        ids.push(w.id().to_string());
    }
    let query = ListWorkflows {
        limit: Some(2),
        name: Some(prefix.clone()),
        ..Default::default()
    };
    let pages: Vec<_> = workflow_pages(&client, query.clone())
        .try_collect()
        .await
        .expect("pages");
    let sizes: Vec<usize> = pages.iter().map(|p| p.items.len()).collect();
    assert_eq!(sizes, [2, 2, 1]);
    assert!(pages[0].next_cursor.is_some() && pages[1].next_cursor.is_some());
    assert_eq!(pages[2].next_cursor, None);
    let listed: BTreeSet<String> = pages
        .iter()
        .flat_map(|p| p.items.iter().map(|w| w.id().to_string()))
        .collect();
    assert_eq!(listed, ids.iter().cloned().collect::<BTreeSet<_>>());
    for w in pages.iter().flat_map(|p| &p.items) {
        assert!(
            w.raw()["nodes"].is_array() && w.updated_at().is_some(),
            "list items are whole workflows"
        );
    }

    let all = list_all_workflows(&client, query).await.expect("all");
    assert_eq!(all.len(), 5);

    let bad = ListWorkflows {
        cursor: Some("zzz".into()),
        ..Default::default()
    };
    assert_rejected(
        client.list_workflows(&bad).await,
        400,
        "An invalid cursor was provided",
        "bad cursor",
    );

    let inactive = ListWorkflows {
        name: Some(prefix.clone()),
        active: Some(true),
        ..Default::default()
    };
    assert!(client
        .list_workflows(&inactive)
        .await
        .expect("filter")
        .items
        .is_empty());
    cleanup(&client, &ids).await;
}

/// (field, value, message on 1.x, message on 2.x; `None` = accepted).
fn forbidden_fields() -> Vec<(
    &'static str,
    Value,
    Option<&'static str>,
    Option<&'static str>,
)> {
    const EXTRA: &str = "request/body must NOT have additional properties";
    vec![
        (
            "id",
            json!("abc"),
            Some("request/body/id is read-only"),
            Some("request/body/id is read-only"),
        ),
        (
            "active",
            json!(true),
            Some("request/body/active is read-only"),
            Some("request/body/active is read-only"),
        ),
        (
            "tags",
            json!([]),
            Some("request/body/tags is read-only"),
            Some("request/body/tags is read-only"),
        ),
        (
            "createdAt",
            json!("2024-01-01T00:00:00.000Z"),
            Some("request/body/createdAt is read-only"),
            Some("request/body/createdAt is read-only"),
        ),
        (
            "updatedAt",
            json!("2024-01-01T00:00:00.000Z"),
            Some("request/body/updatedAt is read-only"),
            Some("request/body/updatedAt is read-only"),
        ),
        (
            "versionId",
            json!("v"),
            Some(EXTRA),
            Some("request/body/versionId is read-only"),
        ),
        (
            "isArchived",
            json!(false),
            Some(EXTRA),
            Some("request/body/isArchived is read-only"),
        ),
        (
            "triggerCount",
            json!(0),
            Some(EXTRA),
            Some("request/body/triggerCount is read-only"),
        ),
        (
            "meta",
            json!({"instanceId": "x"}),
            Some(EXTRA),
            Some("request/body/meta is read-only"),
        ),
        ("pinData", json!({}), Some(EXTRA), None),
        ("description", json!("d"), Some(EXTRA), None),
        ("notAField", json!(1), Some(EXTRA), Some(EXTRA)),
    ]
}

/// Writing each field n8n does not accept gives n8n's status and message, on create and on
/// update; sanitizing the same document makes it acceptable.
pub async fn forbidden_fields_are_rejected(t: &Target) {
    let client = t.client();
    let name = unique("forbidden");
    let target = client
        .create_workflow(&schedule_workflow(&name))
        .await
        .expect("create");
    let mut accepted = Vec::new();
    for (field, value, v1, v2) in forbidden_fields() {
        let expected = if t.version == N8nVersion::V1 { v1 } else { v2 };
        let mut doc = schedule_workflow(&name);
        doc[field] = value.clone();
        let created = client.create_workflow_unsanitized(&doc).await;
        let updated = client.update_workflow_unsanitized(target.id(), &doc).await;
        match expected {
            Some(message) => {
                assert_rejected(created, 400, message, &format!("create with `{field}`"));
                assert_rejected(updated, 400, message, &format!("update with `{field}`"));
            }
            None => {
                accepted.push(
                    created
                        .unwrap_or_else(|e| panic!("create with `{field}`: {e}"))
                        .id()
                        .to_string(),
                );
                updated.unwrap_or_else(|e| panic!("update with `{field}`: {e}"));
            }
        }
        let body = sanitize_for_write(&doc, t.version).expect("sanitizes");
        let w = client
            .create_workflow_unsanitized(&body)
            .await
            .unwrap_or_else(|e| panic!("sanitized `{field}`: {e}"));
        accepted.push(w.id().to_string());
    }
    accepted.push(target.id().to_string());
    cleanup(&client, &accepted).await;
}

/// Unknown `settings` keys are refused by n8n and left out by sanitize.
pub async fn unknown_settings_key_is_rejected(t: &Target) {
    let client = t.client();
    let mut doc = schedule_workflow(&unique("settings"));
    doc["settings"] = json!({"executionOrder": "v1", "maxExecutions": 5});
    assert_rejected(
        client.create_workflow_unsanitized(&doc).await,
        400,
        "request/body/settings must NOT have additional properties",
        "unknown settings key",
    );
    doc["settings"] = json!({"saveDataErrorExecution": "sometimes"});
    assert_rejected(
        client.create_workflow_unsanitized(&doc).await,
        400,
        "request/body/settings/saveDataErrorExecution must be equal to one of the allowed values: all, none",
        "settings enum",
    );
    doc["settings"] = json!({"errorWorkflow": null, "maxExecutions": 5, "timezone": "UTC"});
    let w = client
        .create_workflow(&doc)
        .await
        .expect("sanitized create");
    let settings = &w.raw()["settings"];
    assert_eq!(settings["timezone"], json!("UTC"));
    assert!(settings.get("maxExecutions").is_none() && settings.get("errorWorkflow").is_none());
    let mut missing = doc.clone();
    missing.as_object_mut().expect("object").remove("settings");
    assert_rejected(
        client.create_workflow_unsanitized(&missing).await,
        400,
        "request/body must have required property 'settings'",
        "missing settings",
    );
    cleanup(&client, &[w.id().to_string()]).await;
}

/// Every route with an id answers 404 `Not Found` for an id that does not exist; a body that
/// fails validation is refused before the id is looked up.
pub async fn unknown_ids_are_not_found(t: &Target) {
    let client = t.client();
    let id = "wfopsNoSuchId000";
    let doc = schedule_workflow("never created");
    assert_not_found(client.get_workflow(id).await, "get");
    assert_not_found(client.update_workflow(id, &doc).await, "update");
    assert_not_found(client.delete_workflow(id).await, "delete");
    assert_not_found(client.activate_workflow(id).await, "activate");
    assert_not_found(client.deactivate_workflow(id).await, "deactivate");
    let mut bad = doc.clone();
    bad["id"] = json!("x");
    assert_rejected(
        client.update_workflow_unsanitized(id, &bad).await,
        400,
        "request/body/id is read-only",
        "validation first",
    );
}

/// A wrong key is 401 `unauthorized`; no key is 401 with the header's name.
pub async fn bad_api_key_is_unauthorized(t: &Target) {
    let client = t.client_with_key("not-the-key");
    for (what, result) in [
        (
            "list",
            client
                .list_workflows(&ListWorkflows::default())
                .await
                .map(|_| ()),
        ),
        ("health", client.health().await.map(|_| ())),
        (
            "create",
            client
                .create_workflow(&schedule_workflow("x"))
                .await
                .map(|_| ()),
        ),
    ] {
        match result {
            Err(ProviderError::Unauthorized {
                status: 401,
                message,
            }) => assert_eq!(message, "unauthorized", "{what}"),
            other => panic!("{what}: expected 401, got {other:?}"),
        }
    }
    let (status, body) = t.raw("GET", "/workflows", None, None).await;
    assert_eq!(
        (status, body),
        (401, json!({"message": "'X-N8N-API-KEY' header required"}))
    );
    let (status, body) = t
        .raw(
            "POST",
            "/workflows",
            Some("nope"),
            Some(&json!({"bad": true})),
        )
        .await;
    assert_eq!(
        (status, body),
        (401, json!({"message": "unauthorized"})),
        "the key is checked before the body"
    );
}

/// Fixtures chosen for what n8n changes or refuses: name-only credentials, node keys it does
/// not accept (`color`, `extendsCredential`), pinned data, disabled nodes, webhooks, a
/// document without settings, one with stray keys, and the largest.
pub const ROUND_TRIP_FIXTURES: &[&str] = &[
    "0003_Bitwarden_Automate.json",
    "0004_GoogleSheets_Typeform_Automate_Triggered.json",
    "0035_GoogleSheets_Webhook_Automate_Webhook.json",
    "0055_Signl4_Interval_Create_Scheduled.json",
    "0395_Error_Mondaycom_Update_Triggered.json",
    "0568_Manual_Zendesk_Automation_Scheduled.json",
    "0596_Wait_Code_Import_Webhook.json",
    "0620_Wait_Slack_Automate_Webhook.json",
    "1250_Automation.json",
    "9003_FanOut_Broadcast_and_Merge_Webhook.json",
];

pub fn fixture_path(name: &str) -> PathBuf {
    wfops_fake_n8n::fixtures_dir().join(name)
}

pub fn load_fixture(name: &str) -> Value {
    let path = fixture_path(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// What n8n stores for a sanitized body: name-only credentials are resolved (none exist, so
/// the first use of each stays as sent and later ones become `{"id": null, "name": …}`), and
/// settings gain n8n's defaults.
fn expected_after_create(sent: &Value, version: N8nVersion) -> Value {
    let mut expected = sent.clone();
    let mut seen: HashMap<(String, String), ()> = HashMap::new();
    if let Some(nodes) = expected["nodes"].as_array_mut() {
        for node in nodes {
            if node["disabled"] == json!(true) {
                continue;
            }
            let Some(creds) = node.get_mut("credentials").and_then(Value::as_object_mut) else {
                continue;
            };
            for (kind, cred) in creds.iter_mut() {
                let name = match cred {
                    Value::String(n) => n.clone(),
                    Value::Object(o) if o.get("id") == Some(&Value::Null) => {
                        o["name"].as_str().unwrap_or("").to_string()
                    }
                    _ => continue,
                };
                if seen.insert((kind.clone(), name.clone()), ()).is_some() {
                    *cred = json!({"id": null, "name": name});
                }
            }
        }
    }
    expected["settings"] = with_defaults(expected["settings"].clone(), version);
    expected
}

/// The settings n8n `version` stores for sent `settings`: its validator fills the schema's
/// defaults (1.x: `callerPolicy`, `availableInMCP`; 2.20+: none).
fn with_defaults(mut settings: Value, version: N8nVersion) -> Value {
    if version == N8nVersion::V1 {
        let map = settings.as_object_mut().expect("settings object");
        map.entry("callerPolicy")
            .or_insert(json!("workflowsFromSameOwner"));
        map.entry("availableInMCP").or_insert(json!(false));
    }
    settings
}

/// A fixture goes through sanitize + create + get and comes back with the same content
/// (plus exactly the changes n8n is known to make).
pub async fn fixtures_round_trip(t: &Target) {
    let client = t.client();
    let mut ids = Vec::new();
    for name in ROUND_TRIP_FIXTURES {
        let mut doc = load_fixture(name);
        let label = unique("fixture");
        let original = doc["name"]
            .as_str()
            .unwrap_or("")
            .chars()
            .take(40)
            .collect::<String>();
        doc["name"] = json!(format!("{label} {original}"));
        if t.version == N8nVersion::V2 && !wfops_n8n::structure_problems(&doc).is_empty() {
            // n8n 2.x refuses the structure: the client says so before sending, and n8n (or
            // the fake) answers the same body, sent as it is, with its structure message
            let e = sanitize_for_write(&doc, t.version).expect_err(name);
            assert!(e.to_string().contains("n8n 2.x refuses"), "{name}: {e}");
            let body = sanitize_for_write(&doc, N8nVersion::V1).unwrap();
            let refused = client
                .create_workflow_unsanitized(&body)
                .await
                .expect_err(name);
            assert_eq!(refused.status(), Some(400), "{name}: {refused}");
            assert!(
                refused
                    .to_string()
                    .contains("Workflow structure is invalid"),
                "{name}: {refused}"
            );
            continue;
        }
        let sent = sanitize_for_write(&doc, t.version).unwrap_or_else(|e| panic!("{name}: {e}"));
        let created = client
            .create_workflow(&doc)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        ids.push(created.id().to_string());
        let got = client
            .get_workflow(created.id())
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let expected = expected_after_create(&sent, t.version);
        for field in ["name", "nodes", "connections", "settings"] {
            assert_eq!(
                got.raw()[field],
                expected[field],
                "{name}: `{field}` changed in the round trip"
            );
        }
        let static_data = sent.get("staticData").cloned().unwrap_or(Value::Null);
        assert_eq!(got.raw()["staticData"], static_data, "{name}: staticData");
        if t.version == N8nVersion::V2 {
            assert_eq!(
                got.raw()["description"],
                sent.get("description").cloned().unwrap_or(Value::Null),
                "{name}"
            );
        }
        // Writing back what n8n returned (a sync pushing an unchanged workflow) is accepted.
        let echoed = client
            .update_workflow(created.id(), got.raw())
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            echoed.raw()["nodes"],
            got.raw()["nodes"],
            "{name}: re-saving changed the nodes"
        );
    }
    cleanup(&client, &ids).await;
}

/// Activation needs a node that can start the workflow; n8n names the workflow in the error.
pub async fn activation_needs_a_trigger(t: &Target) {
    let client = t.client();
    let name = unique("manual");
    let w = client
        .create_workflow(&manual_only_workflow(&name))
        .await
        .expect("create");
    let expected = format!(
        "Workflow \"{name}\" (ID: {}) has no node to start the workflow - at least one trigger, poller or webhook node is required",
        w.id()
    );
    assert_rejected(
        client.activate_workflow(w.id()).await,
        400,
        &expected,
        "activate manual-only",
    );
    assert!(!client.get_workflow(w.id()).await.expect("get").active());
    cleanup(&client, &[w.id().to_string()]).await;
}

/// Names are limited to 128 characters, with different messages on create and update.
pub async fn name_length_is_limited(t: &Target) {
    let client = t.client();
    let long = format!("{} {}", unique("long"), "x".repeat(128));
    let doc = schedule_workflow(&long);
    assert_rejected(
        client.create_workflow_unsanitized(&doc).await,
        400,
        "value too long for type character varying(128)",
        "create with a long name",
    );
    assert!(matches!(
        client.create_workflow(&doc).await,
        Err(ProviderError::InvalidWorkflow(_))
    ));
    let w = client
        .create_workflow(&schedule_workflow(&unique("short")))
        .await
        .expect("create");
    assert_rejected(
        client.update_workflow_unsanitized(w.id(), &doc).await,
        400,
        "Workflow name must be 1 to 128 characters long.",
        "update with a long name",
    );
    let at_limit = "é".repeat(128);
    let ok = client
        .update_workflow(w.id(), &schedule_workflow(&at_limit))
        .await
        .expect("128 characters fit");
    assert_eq!(ok.name(), Some(at_limit.as_str()));
    cleanup(&client, &[w.id().to_string()]).await;
}

/// Query parameters are checked like n8n does; the client refuses limits n8n would refuse.
pub async fn query_parameters_are_checked(t: &Target) {
    let key = t.api_key.clone();
    let cases = [
        ("/workflows?limit=251", 400, "request/query/limit must be <= 250"),
        ("/workflows?limit=abc", 400, "request/query/limit must be number"),
        ("/workflows?foo=1", 400, "Unknown query parameter 'foo'"),
        ("/workflows?cursor=", 400, "Empty value found for query parameter 'cursor'"),
        ("/workflows?active=maybe", 400, "request/query/active must be boolean"),
        (
            "/executions?status=bogus",
            400,
            "request/query/status must be equal to one of the allowed values: canceled, error, running, success, waiting",
        ),
    ];
    for (path, status, message) in cases {
        let got = t.raw("GET", path, Some(&key), None).await;
        assert_eq!(got, (status, json!({"message": message})), "{path}");
    }
    let (status, body) = t.raw("PATCH", "/workflows/abc", Some(&key), None).await;
    assert_eq!(
        (status, body),
        (405, json!({"message": "PATCH method not allowed"}))
    );
    let (status, body) = t.raw("GET", "/no-such-route", Some(&key), None).await;
    assert_eq!((status, body), (404, json!({"message": "not found"})));
    let client = t.client();
    let too_big = ListWorkflows {
        limit: Some(251),
        ..Default::default()
    };
    assert!(matches!(
        client.list_workflows(&too_big).await,
        Err(ProviderError::InvalidRequest(_))
    ));
}

/// Executions list with n8n's shape; a workflow that never ran has none.
pub async fn executions_are_listed(t: &Target) {
    let client = t.client();
    let w = client
        .create_workflow(&schedule_workflow(&unique("executions")))
        .await
        .expect("create");
    let query = ListExecutions {
        workflow_id: Some(w.id().to_string()),
        limit: Some(10),
        ..Default::default()
    };
    let page = client.list_executions(&query).await.expect("list");
    assert!(page.items.is_empty());
    assert_eq!(page.next_cursor, None);
    cleanup(&client, &[w.id().to_string()]).await;
}

/// The health probe succeeds with a good key.
pub async fn health_probe(t: &Target) {
    let health = t.client().health().await.expect("healthy");
    assert!(health.latency < Duration::from_secs(30));
}

/// Every scenario above, in order (what a target runs when it runs "the suite").
pub async fn run_all(t: &Target) {
    crud_lifecycle(t).await;
    list_pages(t).await;
    forbidden_fields_are_rejected(t).await;
    unknown_settings_key_is_rejected(t).await;
    unknown_ids_are_not_found(t).await;
    bad_api_key_is_unauthorized(t).await;
    fixtures_round_trip(t).await;
    activation_needs_a_trigger(t).await;
    name_length_is_limited(t).await;
    query_parameters_are_checked(t).await;
    executions_are_listed(t).await;
    health_probe(t).await;
}

/// Created workflows as a sync would see them.
pub fn ids_of(ws: &[RemoteWorkflow]) -> Vec<String> {
    ws.iter().map(|w| w.id().to_string()).collect()
}
