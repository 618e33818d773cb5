//! The node-by-node diff on hand-written workflows: each section of the output.

use serde_json::{json, Value};
use wfops_diff::{
    diff_workflows, normalized_value, ChangeKind, Connection, DiffError, FieldChange, NodeRename,
    NonContentChange,
};

fn base() -> Value {
    json!({
        "id": "wf1",
        "name": "Orders",
        "active": true,
        "nodes": [
            {"id": "n1", "name": "Webhook", "type": "n8n-nodes-base.webhook", "typeVersion": 2,
             "position": [0, 0], "webhookId": "hook-1",
             "parameters": {"path": "orders", "httpMethod": "POST"}},
            {"id": "n2", "name": "Fetch", "type": "n8n-nodes-base.httpRequest", "typeVersion": 4.2,
             "position": [200, 0],
             "parameters": {"url": "https://api.example.com/a", "options": {"timeout": 1000},
                            "headers": ["a", "b"]},
             "credentials": {"httpHeaderAuth": {"id": "c-dev", "name": "API key"}}},
            {"id": "n3", "name": "Notify", "type": "n8n-nodes-base.slack", "typeVersion": 2,
             "position": [400, 0], "parameters": {"text": "done"}}
        ],
        "connections": {
            "Webhook": {"main": [[{"node": "Fetch", "type": "main", "index": 0}]]},
            "Fetch": {"main": [[{"node": "Notify", "type": "main", "index": 0}]]}
        },
        "settings": {"executionOrder": "v1"},
        "pinData": {}
    })
}

fn edited(f: impl FnOnce(&mut Value)) -> Value {
    let mut v = base();
    f(&mut v);
    v
}

#[test]
fn identical_workflows_have_an_empty_diff() {
    let d = diff_workflows(&base(), &base()).unwrap();
    assert!(d.is_empty());
    assert!(!d.content_changed);
    assert_eq!(d.old_hash, d.new_hash);
}

#[test]
fn changed_parameters_are_listed_with_json_pointer_paths() {
    let new = edited(|v| {
        v["nodes"][1]["parameters"]["url"] = json!("https://api.example.com/b");
        v["nodes"][1]["parameters"]["options"]["timeout"] = json!(5000);
        v["nodes"][1]["parameters"]["options"]["retry/on~fail"] = json!(true);
        v["nodes"][1]["parameters"]["headers"] = json!(["a"]);
    });
    let d = diff_workflows(&base(), &new).unwrap();
    assert!(d.content_changed);
    assert_eq!(d.nodes.modified.len(), 1);
    let m = &d.nodes.modified[0];
    assert_eq!(m.name, "Fetch");
    assert_eq!(m.node_type.as_deref(), Some("n8n-nodes-base.httpRequest"));
    let got: Vec<(&str, ChangeKind)> = m
        .changes
        .iter()
        .map(|c| (c.path.as_str(), c.kind))
        .collect();
    assert_eq!(
        got,
        [
            ("/parameters/headers/1", ChangeKind::Removed),
            ("/parameters/options/retry~1on~0fail", ChangeKind::Added),
            ("/parameters/options/timeout", ChangeKind::Modified),
            ("/parameters/url", ChangeKind::Modified),
        ]
    );
    assert_eq!(
        m.changes[3],
        FieldChange {
            path: "/parameters/url".into(),
            kind: ChangeKind::Modified,
            old: Some(json!("https://api.example.com/a")),
            new: Some(json!("https://api.example.com/b")),
        }
    );
    assert!(d.nodes.added.is_empty() && d.nodes.removed.is_empty() && d.nodes.renamed.is_empty());
    assert!(d.connections.is_empty() && d.settings.is_empty() && d.name.is_none());
}

#[test]
fn added_and_removed_nodes_and_their_connections() {
    let new = edited(|v| {
        let nodes = v["nodes"].as_array_mut().unwrap();
        nodes.remove(2);
        nodes.push(json!({"id": "n4", "name": "Log", "type": "n8n-nodes-base.code",
                          "typeVersion": 2, "position": [400, 0], "parameters": {"jsCode": "return []"}}));
        v["connections"]["Fetch"]["main"][0][0]["node"] = json!("Log");
    });
    let d = diff_workflows(&base(), &new).unwrap();
    assert_eq!(d.nodes.removed.len(), 1);
    assert_eq!(d.nodes.removed[0].name, "Notify");
    assert_eq!(d.nodes.added[0].name, "Log");
    assert_eq!(
        d.nodes.added[0].node_type.as_deref(),
        Some("n8n-nodes-base.code")
    );
    let edge = |to: &str| Connection {
        source: "Fetch".into(),
        kind: Some("main".into()),
        output: Some(0),
        target: json!({"node": to, "type": "main", "index": 0}),
        whole: false,
    };
    assert_eq!(d.connections.added, [edge("Log")]);
    assert_eq!(d.connections.removed, [edge("Notify")]);
}

#[test]
fn a_renamed_node_is_a_rename_not_a_removal_and_its_connections_follow() {
    let new = edited(|v| {
        v["nodes"][1]["name"] = json!("Fetch orders");
        let conns = v["connections"].as_object_mut().unwrap();
        let fetch = conns.remove("Fetch").unwrap();
        conns.insert("Fetch orders".into(), fetch);
        v["connections"]["Webhook"]["main"][0][0]["node"] = json!("Fetch orders");
        // n8n also moves nodes around; still a rename.
        v["nodes"][1]["position"] = json!([220, 40]);
    });
    let d = diff_workflows(&base(), &new).unwrap();
    assert!(d.content_changed);
    assert_eq!(
        d.nodes.renamed,
        [NodeRename {
            from: "Fetch".into(),
            to: "Fetch orders".into(),
            node_type: Some("n8n-nodes-base.httpRequest".into()),
        }]
    );
    assert!(d.nodes.added.is_empty() && d.nodes.removed.is_empty() && d.nodes.modified.is_empty());
    assert!(d.connections.is_empty(), "{:?}", d.connections);
    assert_eq!(
        d.non_content,
        [NonContentChange::NodeMoved {
            node: "Fetch orders".into(),
            old: Some(json!([200, 0])),
            new: Some(json!([220, 40])),
        }]
    );
}

#[test]
fn a_renamed_and_edited_node_is_a_removal_and_an_addition() {
    let new = edited(|v| {
        v["nodes"][2]["name"] = json!("Notify team");
        v["nodes"][2]["parameters"]["text"] = json!("all done");
    });
    let d = diff_workflows(&base(), &new).unwrap();
    assert!(d.nodes.renamed.is_empty());
    assert_eq!(d.nodes.removed[0].name, "Notify");
    assert_eq!(d.nodes.added[0].name, "Notify team");
}

#[test]
fn connection_output_index_and_settings_and_name_changes() {
    let new = edited(|v| {
        v["connections"]["Webhook"]["main"] =
            json!([[], [{"node": "Fetch", "type": "main", "index": 0}]]);
        v["settings"] = json!({"executionOrder": "v1", "timezone": "Europe/Berlin"});
        v["name"] = json!("Orders v2");
    });
    let d = diff_workflows(&base(), &new).unwrap();
    assert_eq!(d.connections.added.len(), 1);
    assert_eq!(d.connections.added[0].output, Some(1));
    assert_eq!(d.connections.removed[0].output, Some(0));
    assert_eq!(
        d.settings,
        [FieldChange {
            path: "/timezone".into(),
            kind: ChangeKind::Added,
            old: None,
            new: Some(json!("Europe/Berlin")),
        }]
    );
    let name = d.name.unwrap();
    assert_eq!(
        (name.old, name.new),
        (Some(json!("Orders")), Some(json!("Orders v2")))
    );
}

#[test]
fn non_content_changes_are_reported_but_are_not_drift() {
    let new = edited(|v| {
        v["active"] = json!(false);
        v["id"] = json!("wf-in-prod");
        v["nodes"][0]["id"] = json!("n1-regenerated");
        v["nodes"][0]["webhookId"] = json!("hook-2");
        v["nodes"][1]["credentials"]["httpHeaderAuth"]["id"] = json!("c-prod");
        v["nodes"][2]["position"] = json!([500, 100]);
        v["pinData"] = json!({"Webhook": [{"json": {"id": 1}}]});
        v["nodes"].as_array_mut().unwrap().reverse();
    });
    let d = diff_workflows(&base(), &new).unwrap();
    assert!(!d.content_changed && !d.has_content_changes(), "{d:?}");
    assert_eq!(
        d.non_content,
        [
            NonContentChange::Active {
                old: Some(true),
                new: Some(false)
            },
            NonContentChange::CredentialIdChanged {
                node: "Fetch".into(),
                credential_type: "httpHeaderAuth".into(),
                old: Some(json!("c-dev")),
                new: Some(json!("c-prod")),
            },
            NonContentChange::NodeMoved {
                node: "Notify".into(),
                old: Some(json!([400, 0])),
                new: Some(json!([500, 100])),
            },
            NonContentChange::NodeIdChanged {
                node: "Webhook".into(),
                old: Some(json!("n1")),
                new: Some(json!("n1-regenerated")),
            },
            NonContentChange::WebhookIdChanged {
                node: "Webhook".into(),
                old: Some(json!("hook-1")),
                new: Some(json!("hook-2")),
            },
            NonContentChange::PinDataChanged,
        ]
    );
}

#[test]
fn a_credential_name_change_is_content() {
    let new = edited(|v| {
        v["nodes"][1]["credentials"]["httpHeaderAuth"] =
            json!({"id": "c-dev", "name": "Other key"});
    });
    let d = diff_workflows(&base(), &new).unwrap();
    assert!(d.content_changed);
    assert_eq!(
        d.nodes.modified[0].changes[0].path,
        "/credentials/httpHeaderAuth"
    );
    assert!(d.non_content.is_empty());
}

#[test]
fn the_diff_serializes_to_a_stable_shape() {
    let new = edited(|v| {
        v["nodes"][2]["parameters"]["text"] = json!("ok");
        v["active"] = json!(false);
    });
    let d = diff_workflows(&base(), &new).unwrap();
    let j = serde_json::to_value(&d).unwrap();
    assert_eq!(j["content_changed"], json!(true));
    assert_eq!(j["old_hash"].as_str().unwrap().len(), 64);
    assert_eq!(
        j["nodes"]["modified"][0]["changes"][0],
        json!({"path": "/parameters/text", "kind": "modified", "old": "done", "new": "ok"})
    );
    assert_eq!(
        j["non_content"][0],
        json!({"kind": "active", "old": true, "new": false})
    );
    let back: wfops_diff::WorkflowDiff = serde_json::from_value(j).unwrap();
    assert_eq!(back, d);
}

#[test]
fn invalid_sides_are_named_in_the_error() {
    let bad = json!({"nodes": [{"name": "A"}, {"name": "A"}], "connections": {}});
    let e = diff_workflows(&base(), &bad).unwrap_err();
    assert!(matches!(e, DiffError::InWorkflow { side: "new", .. }));
    assert_eq!(
        e.to_string(),
        "new workflow: duplicate node name \"A\" (nodes 0 and 1)"
    );
    let e = diff_workflows(&json!([]), &base()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "old workflow: a workflow must be a JSON object, found an array"
    );
}

#[test]
fn normalized_value_is_what_the_hash_covers() {
    let n = normalized_value(&base()).unwrap();
    assert_eq!(
        n.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["connections", "name", "nodes", "settings"]
    );
    assert_eq!(n["nodes"][0]["name"], json!("Fetch"));
    assert_eq!(
        n["nodes"][0]["credentials"],
        json!({"httpHeaderAuth": "API key"})
    );
    assert!(n["nodes"][0].get("position").is_none() && n["nodes"][0].get("id").is_none());
    assert!(n["nodes"][2].get("webhookId").is_none());
}
