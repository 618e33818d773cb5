//! Sub-workflow references in the content hash and the node diff: a caller is compared by the
//! canonical workflow it calls, never by the per-instance id (docs/content-hash.md, section 6).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;

use common::reference;
use serde_json::{json, Value};
use wfops_diff::references::{references, rewrite};
use wfops_diff::{
    content_hash_value, content_hash_value_resolving, diff_workflows, diff_workflows_resolving,
    ChangeKind, ContentHasher,
};

/// A caller in "dev": one plain id, one locator, one agent tool, an expression.
fn dev_caller() -> Value {
    json!({
        "id": "devCaller", "name": "Orders", "active": false,
        "nodes": [
            {"id": "n1", "name": "Trigger", "type": "n8n-nodes-base.manualTrigger",
             "typeVersion": 1, "position": [0, 0], "parameters": {}},
            {"id": "n2", "name": "Enrich", "type": "n8n-nodes-base.executeWorkflow",
             "typeVersion": 1.2, "position": [200, 0],
             "parameters": {"workflowId": {"__rl": true, "mode": "list", "value": "devEnrich",
                                           "cachedResultName": "Enrich",
                                           "cachedResultUrl": "/workflow/devEnrich"}}},
            {"id": "n3", "name": "Notify", "type": "n8n-nodes-base.executeWorkflow",
             "typeVersion": 1, "position": [400, 0], "parameters": {"workflowId": "devNotify"}},
            {"id": "n4", "name": "Lookup", "type": "@n8n/n8n-nodes-langchain.toolWorkflow",
             "typeVersion": 2, "position": [600, 0],
             "parameters": {"description": "d", "workflowId": {"__rl": true, "value": "devLookup"}}},
            {"id": "n5", "name": "Self", "type": "n8n-nodes-base.executeWorkflow",
             "typeVersion": 1.2, "position": [800, 0],
             "parameters": {"workflowId": {"__rl": true, "value": "={{ $workflow.id }}"}}}
        ],
        "connections": {"Trigger": {"main": [[{"node": "Enrich", "type": "main", "index": 0}]]}}
    })
}

fn map(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

/// Each instance's ids of the three callees, mapped to their canonical ids.
fn dev() -> HashMap<String, String> {
    map(&[
        ("devEnrich", "C-enrich"),
        ("devNotify", "C-notify"),
        ("devLookup", "C-lookup"),
    ])
}

fn prod() -> HashMap<String, String> {
    map(&[
        ("prdEnrich", "C-enrich"),
        ("prdNotify", "C-notify"),
        ("prdLookup", "C-lookup"),
    ])
}

/// The caller as a promotion writes it into production: every id rewritten to production's id
/// of the same canonical workflow, the cached URL left stale, instance metadata changed.
fn prod_copy() -> Value {
    let dev = dev();
    let prod_by_canonical: HashMap<String, String> =
        prod().into_iter().map(|(id, c)| (c, id)).collect();
    let mut doc = dev_caller();
    let unresolved = rewrite(&mut doc, |id| prod_by_canonical.get(dev.get(id)?).cloned());
    assert!(unresolved.is_empty());
    doc["id"] = json!("prdCaller");
    doc["nodes"][1]["parameters"]["workflowId"]["cachedResultName"] = json!("Enrich (prod)");
    doc
}

fn resolver(m: &HashMap<String, String>) -> impl Fn(&str) -> Option<String> + '_ {
    move |id| m.get(id).cloned()
}

#[test]
fn a_promoted_copy_with_rewritten_ids_hashes_equal_and_diffs_as_unchanged() {
    let (dev, prod) = (dev(), prod());
    let (a, b) = (dev_caller(), prod_copy());
    assert_ne!(references(&a), references(&b), "the ids differ");
    let ha = content_hash_value_resolving(&a, &resolver(&dev)).unwrap();
    let hb = content_hash_value_resolving(&b, &resolver(&prod)).unwrap();
    assert_eq!(ha, hb);
    // without resolution the raw ids differ, and so do the hashes
    assert_ne!(
        content_hash_value(&a).unwrap(),
        content_hash_value(&b).unwrap()
    );

    let d = diff_workflows_resolving(&a, &b, &resolver(&dev), &resolver(&prod)).unwrap();
    assert!(!d.content_changed, "{d:#?}");
    assert!(!d.has_content_changes(), "{d:#?}");
    assert_eq!(d.old_hash, ha);
    assert_eq!(d.new_hash, hb);
}

#[test]
fn calling_another_canonical_workflow_is_a_content_change() {
    let (dev, mut prod) = (dev(), prod());
    let b = prod_copy();
    // production's id of "Notify" now names another canonical workflow
    prod.insert("prdNotify".into(), "C-other".into());
    let ha = content_hash_value_resolving(&dev_caller(), &resolver(&dev)).unwrap();
    let hb = content_hash_value_resolving(&b, &resolver(&prod)).unwrap();
    assert_ne!(ha, hb);
    let d = diff_workflows_resolving(&dev_caller(), &b, &resolver(&dev), &resolver(&prod)).unwrap();
    assert!(d.content_changed);
    assert_eq!(d.nodes.modified.len(), 1, "{d:#?}");
    let m = &d.nodes.modified[0];
    assert_eq!(m.name, "Notify");
    assert_eq!(m.changes.len(), 1);
    assert_eq!(m.changes[0].path, "/parameters/workflowId/canonical");
    assert_eq!(m.changes[0].kind, ChangeKind::Modified);
    assert_eq!(m.changes[0].old, Some(json!("C-notify")));
    assert_eq!(m.changes[0].new, Some(json!("C-other")));
}

#[test]
fn an_unresolved_reference_hashes_as_its_id_and_never_like_a_resolved_one() {
    let dev = dev();
    let only_enrich = map(&[("devEnrich", "C-enrich")]);
    let a = dev_caller();
    let full = content_hash_value_resolving(&a, &resolver(&dev)).unwrap();
    let partial = content_hash_value_resolving(&a, &resolver(&only_enrich)).unwrap();
    let none = content_hash_value_resolving(&a, &|_| None).unwrap();
    assert_ne!(full, partial);
    assert_ne!(partial, none);
    assert_eq!(
        none,
        content_hash_value(&a).unwrap(),
        "no resolver = nothing resolves"
    );
    // a resolver that answers the id itself still differs from leaving it unresolved
    let identity = content_hash_value_resolving(&a, &|id| Some(id.to_owned())).unwrap();
    assert_ne!(identity, none);

    // two callers of different, unlinked workflows stay different
    let mut other = dev_caller();
    other["nodes"][2]["parameters"]["workflowId"] = json!("devSomethingElse");
    assert_ne!(
        content_hash_value_resolving(&other, &resolver(&only_enrich)).unwrap(),
        partial
    );
}

#[test]
fn the_normalized_form_names_the_canonical_workflow_and_drops_locator_caches() {
    let dev = dev();
    let mut h = ContentHasher::new();
    let bytes = h
        .canonical_value_resolving(&dev_caller(), &resolver(&dev))
        .unwrap()
        .to_vec();
    let n: Value = serde_json::from_slice(&bytes).unwrap();
    let by_name = |name: &str| {
        n["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["name"] == name)
            .unwrap()["parameters"]["workflowId"]
            .clone()
    };
    assert_eq!(
        by_name("Enrich"),
        json!({"__rl": true, "mode": "list", "value": {"canonical": "C-enrich"}})
    );
    assert_eq!(by_name("Notify"), json!({"canonical": "C-notify"}));
    assert_eq!(
        by_name("Lookup"),
        json!({"__rl": true, "value": {"canonical": "C-lookup"}})
    );
    // an expression is not a reference: kept as written
    assert_eq!(
        by_name("Self"),
        json!({"__rl": true, "value": "={{ $workflow.id }}"})
    );
    // the normalized form is a fixed point: hashing it again gives the same bytes
    assert_eq!(h.canonical_value(&n).unwrap(), bytes.as_slice());
}

#[test]
fn the_cached_name_and_url_of_a_reference_are_not_content() {
    let a = dev_caller();
    let mut b = dev_caller();
    b["nodes"][1]["parameters"]["workflowId"]["cachedResultName"] = json!("Renamed");
    b["nodes"][1]["parameters"]["workflowId"]["cachedResultUrl"] = json!("/workflow/x");
    assert_eq!(
        content_hash_value(&a).unwrap(),
        content_hash_value(&b).unwrap()
    );
    // but on a locator that holds an expression they are kept as written
    let mut c = dev_caller();
    c["nodes"][4]["parameters"]["workflowId"]["cachedResultName"] = json!("Renamed");
    assert_ne!(
        content_hash_value(&a).unwrap(),
        content_hash_value(&c).unwrap()
    );
}

#[test]
fn fixtures_agree_with_the_reference_and_documents_without_references_are_unchanged() {
    // every id resolves to a token derived from it
    let resolve = |id: &str| Some(format!("C-{id}"));
    let mut h = ContentHasher::new();
    let mut with_refs = 0;
    for (name, doc) in common::valid_fixtures() {
        let bytes = serde_json::to_vec(&doc).unwrap();
        let fast = h.canonical_resolving(&bytes, &resolve).unwrap().to_vec();
        assert_eq!(
            reference::canonical_resolving(&bytes, &resolve).as_deref(),
            Ok(fast.as_slice()),
            "{name}"
        );
        let plain = h.canonical(&bytes).unwrap().to_vec();
        if references(&doc).is_empty() {
            assert_eq!(fast, plain, "{name}: a document without references changed");
        } else {
            with_refs += 1;
            assert_ne!(fast, plain, "{name}: its references were not resolved");
        }
    }
    assert!(
        with_refs >= 10,
        "only {with_refs} fixtures call a sub-workflow"
    );
}

#[test]
fn diff_without_resolvers_still_sees_the_raw_id() {
    let a = dev_caller();
    let mut b = dev_caller();
    b["nodes"][2]["parameters"]["workflowId"] = json!("devOther");
    let d = diff_workflows(&a, &b).unwrap();
    assert!(d.content_changed);
    assert_eq!(
        d.nodes.modified[0].changes[0].path,
        "/parameters/workflowId"
    );
}
