//! Edits of a workflow `Value`: the ones the content hash must ignore (what n8n does without
//! changing behaviour) and the ones it must see (changes of behaviour).

use serde_json::{json, Map, Value};

use super::gen::Rng;

fn nodes_mut(w: &mut Value) -> &mut Vec<Value> {
    w.get_mut("nodes")
        .and_then(Value::as_array_mut)
        .expect("workflow has a nodes array")
}

fn node_objects(w: &mut Value) -> impl Iterator<Item = &mut Map<String, Value>> {
    nodes_mut(w).iter_mut().filter_map(Value::as_object_mut)
}

/// An edit that must not change the content hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Invariant {
    ReorderNodes,
    ReorderTargets,
    MoveNodes,
    RegenerateNodeIds,
    RegenerateWebhookIds,
    ChangeCredentialIds,
    ChangeMetadata,
    ToggleActive,
    ChangePinData,
    EmptySettingsSpelling,
    TrailingEmptyOutputs,
}

pub const INVARIANTS: [Invariant; 11] = [
    Invariant::ReorderNodes,
    Invariant::ReorderTargets,
    Invariant::MoveNodes,
    Invariant::RegenerateNodeIds,
    Invariant::RegenerateWebhookIds,
    Invariant::ChangeCredentialIds,
    Invariant::ChangeMetadata,
    Invariant::ToggleActive,
    Invariant::ChangePinData,
    Invariant::EmptySettingsSpelling,
    Invariant::TrailingEmptyOutputs,
];

pub fn apply_invariant(w: &mut Value, inv: Invariant, rng: &mut Rng) {
    match inv {
        Invariant::ReorderNodes => {
            let nodes = nodes_mut(w);
            rng.shuffle(nodes);
            nodes.reverse();
        }
        Invariant::ReorderTargets => {
            for_each_output(w, |targets| {
                rng.shuffle(targets);
                targets.reverse();
            });
        }
        Invariant::MoveNodes => {
            for n in node_objects(w) {
                let (x, y) = (rng.below(4000) as i64 - 2000, rng.below(4000) as i64);
                n.insert("position".into(), json!([x, y]));
                if rng.below(2) == 0 {
                    n.insert("positionAbsolute".into(), json!({"x": x, "y": y}));
                }
            }
        }
        Invariant::RegenerateNodeIds => {
            for n in node_objects(w) {
                n.insert("id".into(), json!(format!("{:032x}", rng.next())));
            }
        }
        Invariant::RegenerateWebhookIds => {
            for n in node_objects(w) {
                if n.contains_key("webhookId") || rng.below(2) == 0 {
                    n.insert("webhookId".into(), json!(format!("{:x}", rng.next())));
                }
            }
        }
        Invariant::ChangeCredentialIds => {
            for n in node_objects(w) {
                if let Some(Value::Object(creds)) = n.get_mut("credentials") {
                    for c in creds.values_mut() {
                        if let Value::Object(r) = c {
                            r.insert("id".into(), json!(format!("other-env-{}", rng.next())));
                        }
                    }
                }
            }
        }
        Invariant::ChangeMetadata => {
            let m = w.as_object_mut().expect("workflow is an object");
            m.insert("id".into(), json!(format!("{:x}", rng.next())));
            m.insert("versionId".into(), json!(format!("{:x}", rng.next())));
            m.insert("createdAt".into(), json!("2024-01-01T00:00:00.000Z"));
            m.insert("updatedAt".into(), json!("2025-06-01T12:34:56.789Z"));
            m.insert("tags".into(), json!([{"id": "9", "name": "staging"}]));
            m.insert(
                "meta".into(),
                json!({"instanceId": "other", "templateCredsSetupCompleted": true}),
            );
            m.insert(
                "staticData".into(),
                json!({"node:Schedule": {"lastRun": 1_700_000_000}}),
            );
            m.insert("triggerCount".into(), json!(rng.below(5)));
            m.insert("isArchived".into(), json!(false));
            m.insert("versionCounter".into(), json!(rng.below(100)));
            m.insert("activeVersion".into(), json!(null));
            m.insert("shared".into(), json!([{"role": "workflow:owner"}]));
            m.insert(
                "homeProject".into(),
                json!({"id": "p1", "type": "personal"}),
            );
            m.remove("hash");
        }
        Invariant::ToggleActive => {
            let m = w.as_object_mut().expect("workflow is an object");
            let active = m.get("active").and_then(Value::as_bool).unwrap_or(false);
            m.insert("active".into(), json!(!active));
        }
        Invariant::ChangePinData => {
            let m = w.as_object_mut().expect("workflow is an object");
            m.insert(
                "pinData".into(),
                json!({"Start": [{"json": {"n": rng.below(9)}}]}),
            );
        }
        Invariant::EmptySettingsSpelling => {
            let m = w.as_object_mut().expect("workflow is an object");
            let empty = match m.get("settings") {
                None | Some(Value::Null) => true,
                Some(Value::Object(s)) => s.is_empty(),
                Some(_) => false,
            };
            if empty {
                match rng.below(3) {
                    0 => m.remove("settings"),
                    1 => m.insert("settings".into(), Value::Null),
                    _ => m.insert("settings".into(), json!({})),
                };
            }
        }
        Invariant::TrailingEmptyOutputs => {
            if let Some(Value::Object(conns)) = w.get_mut("connections") {
                for src in conns.values_mut() {
                    if let Value::Object(types) = src {
                        for list in types.values_mut() {
                            if let Value::Array(outs) = list {
                                outs.push(json!([]));
                                if rng.below(2) == 0 {
                                    outs.push(Value::Null);
                                }
                            }
                        }
                        types
                            .entry("ai_memory_unused")
                            .or_insert_with(|| json!([[]]));
                    }
                }
                conns.insert("Unconnected leftover".into(), json!({"main": [[], []]}));
            }
        }
    }
}

fn for_each_output(w: &mut Value, mut f: impl FnMut(&mut Vec<Value>)) {
    if let Some(Value::Object(conns)) = w.get_mut("connections") {
        for src in conns.values_mut() {
            if let Value::Object(types) = src {
                for list in types.values_mut() {
                    if let Value::Array(outs) = list {
                        for o in outs {
                            if let Value::Array(targets) = o {
                                f(targets);
                            }
                        }
                    }
                }
            }
        }
    }
}

/// An edit that changes behaviour, so it must change the content hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Behaviour {
    RenameWorkflow,
    ChangeParameter,
    ChangeNodeType,
    ChangeTypeVersion,
    RenameNode,
    ChangeCredentialName,
    AddNode,
    RemoveNode,
    AddConnection,
    RemoveConnection,
    MoveConnectionToOtherOutput,
    ChangeSetting,
    DisableNode,
}

pub const BEHAVIOURS: [Behaviour; 13] = [
    Behaviour::RenameWorkflow,
    Behaviour::ChangeParameter,
    Behaviour::ChangeNodeType,
    Behaviour::ChangeTypeVersion,
    Behaviour::RenameNode,
    Behaviour::ChangeCredentialName,
    Behaviour::AddNode,
    Behaviour::RemoveNode,
    Behaviour::AddConnection,
    Behaviour::RemoveConnection,
    Behaviour::MoveConnectionToOtherOutput,
    Behaviour::ChangeSetting,
    Behaviour::DisableNode,
];

/// Applies `b`; returns false when the workflow offers nothing to apply it to (for instance
/// no connection to remove), so the caller can skip it.
pub fn apply_behaviour(w: &mut Value, b: Behaviour, rng: &mut Rng) -> bool {
    let count = nodes_mut(w).len();
    let pick = if count == 0 { 0 } else { rng.below(count) };
    match b {
        Behaviour::RenameWorkflow => {
            let m = w.as_object_mut().expect("workflow is an object");
            let old = m
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            m.insert("name".into(), json!(format!("{old} (copy)")));
            true
        }
        Behaviour::ChangeParameter => match nodes_mut(w).get_mut(pick) {
            Some(Value::Object(n)) => {
                let params = n.entry("parameters").or_insert_with(|| json!({}));
                match params {
                    Value::Object(p) => {
                        p.insert("__changed".into(), json!(rng.next() % 1000));
                    }
                    other => *other = json!({"__changed": 1}),
                }
                true
            }
            _ => false,
        },
        Behaviour::ChangeNodeType => match nodes_mut(w).get_mut(pick) {
            Some(Value::Object(n)) => {
                let old = n
                    .get("type")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned();
                n.insert("type".into(), json!(format!("{old}Changed")));
                true
            }
            _ => false,
        },
        Behaviour::ChangeTypeVersion => match nodes_mut(w).get_mut(pick) {
            Some(Value::Object(n)) => {
                let old = n.get("typeVersion").and_then(Value::as_f64).unwrap_or(1.0);
                n.insert("typeVersion".into(), json!(old + 1.0));
                true
            }
            _ => false,
        },
        Behaviour::RenameNode => {
            let Some(old) = nodes_mut(w)
                .get(pick)
                .and_then(|n| n.get("name"))
                .and_then(Value::as_str)
                .map(str::to_owned)
            else {
                return false;
            };
            let new = format!("{old} renamed");
            rename_node(w, &old, &new);
            true
        }
        Behaviour::ChangeCredentialName => {
            for n in node_objects(w) {
                if let Some(Value::Object(creds)) = n.get_mut("credentials") {
                    if let Some(Value::Object(r)) = creds.values_mut().next() {
                        let old = r
                            .get("name")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_owned();
                        r.insert("name".into(), json!(format!("{old} 2")));
                        return true;
                    }
                }
            }
            false
        }
        Behaviour::AddNode => {
            nodes_mut(w).push(json!({
                "id": "added", "name": "Added node zz", "type": "n8n-nodes-base.noOp",
                "typeVersion": 1, "position": [0, 0], "parameters": {}
            }));
            true
        }
        Behaviour::RemoveNode => {
            if count == 0 {
                return false;
            }
            nodes_mut(w).remove(pick);
            true
        }
        Behaviour::AddConnection => {
            let names = node_names(w);
            let (Some(a), Some(b)) = (names.first(), names.last()) else {
                return false;
            };
            let conns = w
                .get_mut("connections")
                .and_then(Value::as_object_mut)
                .expect("connections object");
            let src = conns.entry(a.clone()).or_insert_with(|| json!({}));
            let Value::Object(types) = src else {
                return false;
            };
            let list = types.entry("main").or_insert_with(|| json!([]));
            let Value::Array(outs) = list else {
                return false;
            };
            if outs.is_empty() {
                outs.push(json!([]));
            }
            let Value::Array(t) = &mut outs[0] else {
                return false;
            };
            t.push(json!({"node": b, "type": "main", "index": 7}));
            true
        }
        Behaviour::RemoveConnection => {
            let mut done = false;
            for_each_output(w, |targets| {
                if !done && !targets.is_empty() {
                    targets.pop();
                    done = true;
                }
            });
            done
        }
        Behaviour::MoveConnectionToOtherOutput => {
            let mut moved = None;
            if let Some(Value::Object(conns)) = w.get_mut("connections") {
                'outer: for src in conns.values_mut() {
                    if let Value::Object(types) = src {
                        for list in types.values_mut() {
                            if let Value::Array(outs) = list {
                                for i in 0..outs.len() {
                                    if let Some(t) = outs[i].as_array_mut().and_then(Vec::pop) {
                                        moved = Some(t.clone());
                                        if outs.len() <= i + 1 {
                                            outs.push(json!([]));
                                        }
                                        if let Value::Array(next) = &mut outs[i + 1] {
                                            next.push(t);
                                        }
                                        break 'outer;
                                    }
                                }
                            }
                        }
                    }
                }
            }
            moved.is_some()
        }
        Behaviour::ChangeSetting => {
            let m = w.as_object_mut().expect("workflow is an object");
            let s = m.entry("settings").or_insert_with(|| json!({}));
            if !s.is_object() {
                *s = json!({});
            }
            if let Value::Object(s) = s {
                let tz = s.get("timezone").and_then(Value::as_str).unwrap_or("");
                let new = if tz == "Asia/Tokyo" {
                    "UTC"
                } else {
                    "Asia/Tokyo"
                };
                s.insert("timezone".into(), json!(new));
            }
            true
        }
        Behaviour::DisableNode => match nodes_mut(w).get_mut(pick) {
            Some(Value::Object(n)) => {
                let d = n.get("disabled").and_then(Value::as_bool).unwrap_or(false);
                n.insert("disabled".into(), json!(!d));
                true
            }
            _ => false,
        },
    }
}

pub fn node_names(w: &mut Value) -> Vec<String> {
    node_objects(w)
        .filter_map(|n| n.get("name").and_then(Value::as_str).map(str::to_owned))
        .collect()
}

/// Renames a node the way n8n does: the node, and every connection from or to it.
pub fn rename_node(w: &mut Value, old: &str, new: &str) {
    for n in node_objects(w) {
        if n.get("name").and_then(Value::as_str) == Some(old) {
            n.insert("name".into(), json!(new));
        }
    }
    if let Some(Value::Object(conns)) = w.get_mut("connections") {
        if let Some(v) = conns.remove(old) {
            conns.insert(new.to_owned(), v);
        }
    }
    for_each_output(w, |targets| {
        for t in targets {
            if t.get("node").and_then(Value::as_str) == Some(old) {
                t["node"] = json!(new);
            }
        }
    });
}
