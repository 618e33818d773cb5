//! Sub-workflow references: nodes that call another workflow of the same n8n instance by that
//! instance's workflow id.
//!
//! The id is per instance, so the same call has a different id in every environment. Promotion
//! rewrites it to the target's id of the same canonical workflow; the content hash and the node
//! diff compare the referenced canonical workflow instead of the id (docs/content-hash.md).
//!
//! A reference is `parameters.workflowId` of a node whose `type` is one of [`CALLER_TYPES`],
//! when the node reads the workflow from the instance's database (`parameters.source` absent or
//! `"database"`), written either as a plain string or as a resource locator
//! `{"__rl": true, "value": "<id>", …}`. An expression (a string starting with `=`, such as
//! `={{ $workflow.id }}`) and an empty value are not references: they are kept as written.

use serde_json::Value;

/// Node types that call another workflow by id.
pub const CALLER_TYPES: [&str; 2] = [
    "n8n-nodes-base.executeWorkflow",
    "@n8n/n8n-nodes-langchain.toolWorkflow",
];

/// One reference found in a workflow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// The calling node's name.
    pub node: String,
    /// The called workflow's id in the document's instance.
    pub workflow_id: String,
}

/// Where the id sits in a caller node's `parameters.workflowId`.
enum Slot<'a> {
    Plain(&'a str),
    Locator(&'a str),
}

/// Whether a node of type `ty` calls another workflow by id.
pub(crate) fn is_caller_type(ty: &str) -> bool {
    CALLER_TYPES.contains(&ty)
}

/// Whether a caller whose `parameters.source` is `source` (`None` when absent or not a
/// string) reads the called workflow from the instance's database.
pub(crate) fn reads_from_database(source: Option<&str>) -> bool {
    matches!(source, None | Some("database"))
}

/// Whether `id` (the text of `workflowId` or of its locator's `value`) names a workflow rather
/// than computing one (an expression) or naming none.
pub(crate) fn is_reference_id(id: &str) -> bool {
    !id.is_empty() && !id.starts_with('=')
}

/// Resource-locator members that cache how the called workflow looked in the instance where
/// it was picked (its name and its URL, which holds the instance's id). The content hash
/// leaves them out of a reference.
pub const LOCATOR_CACHE_FIELDS: [&str; 2] = ["cachedResultName", "cachedResultUrl"];

/// The member that replaces a resolved reference's id in the hashed form:
/// `{"canonical": <token>}`. An object can never be an instance id, so a resolved reference
/// and an unresolved one never hash alike.
pub const RESOLVED_KEY: &str = "canonical";

fn slot(node: &Value) -> Option<Slot<'_>> {
    let ty = node.get("type")?.as_str()?;
    if !is_caller_type(ty) {
        return None;
    }
    let params = node.get("parameters")?;
    if !reads_from_database(params.get("source").and_then(Value::as_str)) {
        return None;
    }
    let (id, plain) = match params.get("workflowId")? {
        Value::String(s) => (s.as_str(), true),
        Value::Object(rl) if rl.get("__rl").and_then(Value::as_bool) == Some(true) => {
            (rl.get("value")?.as_str()?, false)
        }
        _ => return None,
    };
    if !is_reference_id(id) {
        return None;
    }
    Some(if plain {
        Slot::Plain(id)
    } else {
        Slot::Locator(id)
    })
}

fn nodes(doc: &Value) -> impl Iterator<Item = &Value> {
    doc.get("nodes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

/// Every sub-workflow reference of `doc`, in node order.
pub fn references(doc: &Value) -> Vec<Reference> {
    nodes(doc)
        .filter_map(|node| {
            let id = match slot(node)? {
                Slot::Plain(id) | Slot::Locator(id) => id,
            };
            Some(Reference {
                node: node
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                workflow_id: id.to_string(),
            })
        })
        .collect()
}

/// Replaces every reference's id by `resolve(id)`; a reference that `resolve` answers `None`
/// for is left as it is and returned, so the caller decides whether that is an error.
pub fn rewrite(doc: &mut Value, mut resolve: impl FnMut(&str) -> Option<String>) -> Vec<Reference> {
    let mut unresolved = Vec::new();
    let Some(nodes) = doc.get_mut("nodes").and_then(Value::as_array_mut) else {
        return unresolved;
    };
    for node in nodes {
        let (id, plain) = match slot(node) {
            Some(Slot::Plain(id)) => (id.to_string(), true),
            Some(Slot::Locator(id)) => (id.to_string(), false),
            None => continue,
        };
        let Some(new_id) = resolve(&id) else {
            unresolved.push(Reference {
                node: node
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                workflow_id: id,
            });
            continue;
        };
        let Some(params) = node.get_mut("parameters") else {
            continue;
        };
        if plain {
            params["workflowId"] = Value::String(new_id);
        } else {
            params["workflowId"]["value"] = Value::String(new_id);
        }
    }
    unresolved
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn doc() -> Value {
        json!({
            "nodes": [
                {"name": "Plain", "type": "n8n-nodes-base.executeWorkflow",
                 "parameters": {"workflowId": "abc"}},
                {"name": "Locator", "type": "n8n-nodes-base.executeWorkflow",
                 "parameters": {"workflowId": {"__rl": true, "mode": "list", "value": "def",
                                               "cachedResultName": "Callee"}}},
                {"name": "Expression", "type": "n8n-nodes-base.executeWorkflow",
                 "parameters": {"workflowId": {"__rl": true, "value": "={{ $workflow.id }}"}}},
                {"name": "From URL", "type": "n8n-nodes-base.executeWorkflow",
                 "parameters": {"source": "url", "workflowId": "ghi"}},
                {"name": "Tool", "type": "@n8n/n8n-nodes-langchain.toolWorkflow",
                 "parameters": {"source": "database", "workflowId": "jkl"}},
                {"name": "Other", "type": "n8n-nodes-base.set",
                 "parameters": {"workflowId": "mno"}}
            ],
            "connections": {}
        })
    }

    #[test]
    fn finds_plain_and_locator_ids_only_from_the_database_source() {
        let found: Vec<_> = references(&doc())
            .into_iter()
            .map(|r| (r.node, r.workflow_id))
            .collect();
        assert_eq!(
            found,
            [
                ("Plain".to_string(), "abc".to_string()),
                ("Locator".to_string(), "def".to_string()),
                ("Tool".to_string(), "jkl".to_string()),
            ]
        );
    }

    #[test]
    fn rewrite_replaces_resolved_ids_and_reports_the_rest() {
        let mut d = doc();
        let unresolved = rewrite(&mut d, |id| (id != "jkl").then(|| format!("t-{id}")));
        assert_eq!(d["nodes"][0]["parameters"]["workflowId"], "t-abc");
        assert_eq!(d["nodes"][1]["parameters"]["workflowId"]["value"], "t-def");
        assert_eq!(
            d["nodes"][1]["parameters"]["workflowId"]["cachedResultName"],
            "Callee"
        );
        assert_eq!(
            d["nodes"][2]["parameters"]["workflowId"]["value"],
            "={{ $workflow.id }}"
        );
        assert_eq!(d["nodes"][3]["parameters"]["workflowId"], "ghi");
        assert_eq!(d["nodes"][5]["parameters"]["workflowId"], "mno");
        assert_eq!(
            unresolved,
            [Reference {
                node: "Tool".into(),
                workflow_id: "jkl".into()
            }]
        );
    }
}
