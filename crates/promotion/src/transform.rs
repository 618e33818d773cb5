//! What a workflow document becomes on its way from one environment to the next
//! (docs/promotion.md#transformations): credentials rewritten to the target's, `{{env.NAME}}`
//! placeholders replaced by the target's variables, the source instance's URL replaced by the
//! target's, sub-workflow calls pointed at the target's copies, and node ids regenerated when the
//! target needs it.
//!
//! Pure: the engine gathers the target context (mappings, variables, ids) and writes the result.
//! A transform changes what the content hash sees only through what the target must differ in:
//! credential ids (the hash compares credentials by name, so a mapping to a same-named credential
//! keeps the hash), sub-workflow ids (compared by canonical workflow), and the values the
//! placeholders and URLs stand for.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use crate::refs::placeholders_in;

/// One credential mapping: the source's credential of a type and the target's that replaces it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialMapping {
    pub credential_type: String,
    pub source_id: String,
    pub source_name: String,
    pub target_id: String,
    pub target_name: String,
}

/// Everything a transform needs to know about the target.
#[derive(Debug, Clone, Default)]
pub struct TargetContext {
    pub credentials: Vec<CredentialMapping>,
    /// The target environment's variables by name (secret ones decrypted).
    pub variables: BTreeMap<String, String>,
    /// Base URLs of the instances (`https://dev.example.com`); a trailing `/` is ignored.
    pub source_base_url: String,
    pub target_base_url: String,
    /// Source instance workflow id → the target instance's id of the same canonical workflow,
    /// for sub-workflow calls.
    pub workflow_ids: BTreeMap<String, String>,
    /// Keep (and warn about) a credential without a mapping instead of refusing the workflow.
    pub allow_placeholder_credentials: bool,
    /// Give every node a fresh id (for providers that need ids unique per instance).
    pub regenerate_node_ids: bool,
}

/// Why a document can not be promoted. Never carries a variable's value.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, thiserror::Error)]
pub enum Problem {
    #[error("node {node:?} uses {credential_type} credential {credential:?}, which has no mapping to the target")]
    UnmappedCredential {
        node: String,
        credential_type: String,
        /// The source credential's name, or its id when it has no name.
        credential: String,
    },
    #[error("placeholder {{{{env.{name}}}}} has no variable {name} in the target environment")]
    UnresolvedVariable { name: String },
    #[error("node {node:?} calls workflow {workflow_id}, which is neither in the target nor part of the promotion")]
    UnresolvedReference { node: String, workflow_id: String },
}

/// A transformed document with the warnings it produced (credentials kept as placeholders).
#[derive(Debug, Clone, PartialEq)]
pub struct Transformed {
    pub doc: Value,
    pub warnings: Vec<String>,
    /// The variables substituted, by name (for deciding what may be written to Git).
    pub variables_used: BTreeSet<String>,
}

/// Transforms `doc` for the target. `new_node_id` is called once per node when node ids are
/// regenerated. Returns every problem, sorted, when there is any.
pub fn transform(
    doc: &Value,
    target: &TargetContext,
    new_node_id: &mut dyn FnMut() -> String,
) -> Result<Transformed, Vec<Problem>> {
    let mut out = doc.clone();
    let mut problems = BTreeSet::new();
    let mut warnings = Vec::new();

    rewrite_credentials(&mut out, target, &mut problems, &mut warnings);

    let mut variables_used = BTreeSet::new();
    let mut missing = BTreeSet::new();
    map_strings(&mut out, &mut |s| {
        let spots = placeholders_in(s);
        if spots.is_empty() {
            return None;
        }
        let mut result = String::with_capacity(s.len());
        let mut last = 0;
        for (start, end, name) in spots {
            result.push_str(&s[last..start]);
            match target.variables.get(name) {
                Some(v) => {
                    result.push_str(v);
                    variables_used.insert(name.to_owned());
                }
                None => {
                    missing.insert(name.to_owned());
                    result.push_str(&s[start..end]);
                }
            }
            last = end;
        }
        result.push_str(&s[last..]);
        Some(result)
    });
    problems.extend(
        missing
            .into_iter()
            .map(|name| Problem::UnresolvedVariable { name }),
    );

    let source = target.source_base_url.trim_end_matches('/');
    let dest = target.target_base_url.trim_end_matches('/');
    if !source.is_empty() && !dest.is_empty() && source != dest {
        map_strings(&mut out, &mut |s| replace_base_url(s, source, dest));
    }

    let unresolved =
        wfops_diff::references::rewrite(&mut out, |id| target.workflow_ids.get(id).cloned());
    problems.extend(
        unresolved
            .into_iter()
            .map(|r| Problem::UnresolvedReference {
                node: r.node,
                workflow_id: r.workflow_id,
            }),
    );

    if target.regenerate_node_ids {
        if let Some(nodes) = out.get_mut("nodes").and_then(Value::as_array_mut) {
            for node in nodes.iter_mut().filter_map(Value::as_object_mut) {
                if node.contains_key("id") {
                    node.insert("id".into(), Value::String(new_node_id()));
                }
            }
        }
    }

    if problems.is_empty() {
        Ok(Transformed {
            doc: out,
            warnings,
            variables_used,
        })
    } else {
        Err(problems.into_iter().collect())
    }
}

fn rewrite_credentials(
    doc: &mut Value,
    target: &TargetContext,
    problems: &mut BTreeSet<Problem>,
    warnings: &mut Vec<String>,
) {
    let by_id: BTreeMap<(&str, &str), &CredentialMapping> = target
        .credentials
        .iter()
        .map(|m| ((m.credential_type.as_str(), m.source_id.as_str()), m))
        .collect();
    // a reference without an id (old exports) is matched by its name
    let by_name: BTreeMap<(&str, &str), &CredentialMapping> = target
        .credentials
        .iter()
        .map(|m| ((m.credential_type.as_str(), m.source_name.as_str()), m))
        .collect();
    let Some(nodes) = doc.get_mut("nodes").and_then(Value::as_array_mut) else {
        return;
    };
    for node in nodes {
        let node_name = node
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let Some(creds) = node.get_mut("credentials").and_then(Value::as_object_mut) else {
            continue;
        };
        for (credential_type, value) in creds.iter_mut() {
            let text = |k: &str| match value.get(k) {
                Some(Value::String(s)) => Some(s.clone()),
                Some(Value::Number(n)) => Some(n.to_string()),
                _ => None,
            };
            let (id, name) = match value {
                Value::Object(_) => (text("id"), text("name")),
                Value::String(s) => (None, Some(s.clone())),
                _ => continue,
            };
            let found = match (&id, &name) {
                (Some(id), _) => by_id.get(&(credential_type.as_str(), id.as_str())),
                (None, Some(name)) => by_name.get(&(credential_type.as_str(), name.as_str())),
                (None, None) => continue,
            };
            match found {
                Some(m) => {
                    let mut replaced = Map::new();
                    replaced.insert("id".into(), Value::String(m.target_id.clone()));
                    replaced.insert("name".into(), Value::String(m.target_name.clone()));
                    *value = Value::Object(replaced);
                }
                None => {
                    let credential = name.or(id).unwrap_or_default();
                    if target.allow_placeholder_credentials {
                        warnings.push(format!(
                            "node {node_name:?} keeps {credential_type} credential {credential:?}: \
                             it has no mapping to the target, create it there"
                        ));
                    } else {
                        problems.insert(Problem::UnmappedCredential {
                            node: node_name.clone(),
                            credential_type: credential_type.clone(),
                            credential,
                        });
                    }
                }
            }
        }
    }
}

/// Replaces every string value (not keys) for which `f` answers `Some`.
fn map_strings(v: &mut Value, f: &mut impl FnMut(&str) -> Option<String>) {
    match v {
        Value::String(s) => {
            if let Some(new) = f(s) {
                *s = new;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| map_strings(i, f)),
        Value::Object(map) => map.values_mut().for_each(|i| map_strings(i, f)),
        _ => {}
    }
}

/// `s` with every occurrence of the base URL `from` that ends at a URL boundary (end, `/`, `?`,
/// `#`, a quote or a space; not `:` or another host character, so `http://dev:5678` does not
/// match inside `http://dev:56789`) replaced by `to`. The path after the base is kept.
fn replace_base_url(s: &str, from: &str, to: &str) -> Option<String> {
    if !s.contains(from) {
        return None;
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    let mut changed = false;
    while let Some(pos) = rest.find(from) {
        let after = &rest[pos + from.len()..];
        let boundary = after.chars().next().is_none_or(|c| {
            !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':' | '@'))
        });
        out.push_str(&rest[..pos]);
        out.push_str(if boundary { to } else { from });
        changed |= boundary;
        rest = after;
    }
    out.push_str(rest);
    changed.then_some(out)
}

/// The names of the nodes and every node name the connections use, for checking that a
/// transform kept the connections valid (they are keyed by node name).
pub fn dangling_connections(doc: &Value) -> Vec<String> {
    let names: BTreeSet<&str> = doc
        .get("nodes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|n| n.get("name").and_then(Value::as_str))
        .collect();
    let mut dangling = BTreeSet::new();
    if let Some(conns) = doc.get("connections").and_then(Value::as_object) {
        for (from, outputs) in conns {
            if !names.contains(from.as_str()) {
                dangling.insert(from.clone());
            }
            for target in outputs
                .as_object()
                .into_iter()
                .flat_map(|o| o.values())
                .filter_map(Value::as_array)
                .flatten()
                .filter_map(Value::as_array)
                .flatten()
                .filter_map(|c| c.get("node").and_then(Value::as_str))
            {
                if !names.contains(target) {
                    dangling.insert(target.to_owned());
                }
            }
        }
    }
    dangling.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn ctx() -> TargetContext {
        TargetContext {
            credentials: vec![CredentialMapping {
                credential_type: "slackApi".into(),
                source_id: "dev-17".into(),
                source_name: "Slack bot".into(),
                target_id: "prod-4".into(),
                target_name: "Slack bot".into(),
            }],
            variables: [("API_HOST".to_string(), "api.prod.example".to_string())].into(),
            source_base_url: "https://dev.n8n.example/".into(),
            target_base_url: "https://prod.n8n.example".into(),
            workflow_ids: [("dev-callee".to_string(), "prod-callee".to_string())].into(),
            allow_placeholder_credentials: false,
            regenerate_node_ids: false,
        }
    }

    fn doc() -> Value {
        json!({
            "name": "Orders",
            "nodes": [
                {"id": "n1", "name": "Hook", "type": "n8n-nodes-base.webhook",
                 "parameters": {"path": "orders"}},
                {"id": "n2", "name": "Call", "type": "n8n-nodes-base.httpRequest",
                 "parameters": {"url": "https://{{env.API_HOST}}/v1", "expr": "={{ $env.KEEP }}",
                                "callback": "https://dev.n8n.example/webhook/orders?x=1",
                                "other": "https://dev.n8n.example.evil.com/x"},
                 "credentials": {"slackApi": {"id": "dev-17", "name": "Slack bot"}}},
                {"id": "n3", "name": "Sub", "type": "n8n-nodes-base.executeWorkflow",
                 "parameters": {"workflowId": {"__rl": true, "value": "dev-callee", "mode": "list"}}}
            ],
            "connections": {"Hook": {"main": [[{"node": "Call", "type": "main", "index": 0}]]},
                            "Call": {"main": [[{"node": "Sub", "type": "main", "index": 0}]]}}
        })
    }

    fn no_ids() -> impl FnMut() -> String {
        || unreachable!("node ids are not regenerated")
    }

    #[test]
    fn every_transformation_applies_and_the_rest_is_kept() {
        let t = transform(&doc(), &ctx(), &mut no_ids()).unwrap();
        let nodes = &t.doc["nodes"];
        assert_eq!(
            nodes[1]["credentials"]["slackApi"],
            json!({"id": "prod-4", "name": "Slack bot"})
        );
        assert_eq!(nodes[1]["parameters"]["url"], "https://api.prod.example/v1");
        assert_eq!(nodes[1]["parameters"]["expr"], "={{ $env.KEEP }}");
        assert_eq!(
            nodes[1]["parameters"]["callback"],
            "https://prod.n8n.example/webhook/orders?x=1"
        );
        // another host that merely starts with the base is not the instance
        assert_eq!(
            nodes[1]["parameters"]["other"],
            "https://dev.n8n.example.evil.com/x"
        );
        assert_eq!(nodes[2]["parameters"]["workflowId"]["value"], "prod-callee");
        assert_eq!(nodes[0]["id"], "n1");
        assert_eq!(t.doc["connections"], doc()["connections"]);
        assert!(t.warnings.is_empty());
        assert_eq!(t.variables_used, ["API_HOST".to_string()].into());
    }

    #[test]
    fn the_content_hash_changes_only_through_what_the_target_must_differ_in() {
        // a mapping to a same-named credential and no placeholder or URL: same hash
        let mut plain = doc();
        plain["nodes"][1]["parameters"] = json!({"url": "https://example.com"});
        plain["nodes"].as_array_mut().unwrap().truncate(2);
        plain["connections"] =
            json!({"Hook": {"main": [[{"node": "Call", "type": "main", "index": 0}]]}});
        let mut ids = 0;
        let mut c = ctx();
        c.regenerate_node_ids = true;
        let t = transform(&plain, &c, &mut || {
            ids += 1;
            format!("new-{ids}")
        })
        .unwrap();
        assert_eq!(t.doc["nodes"][0]["id"], "new-1");
        assert_eq!(t.doc["nodes"][1]["id"], "new-2");
        assert_eq!(
            wfops_diff::content_hash_value(&t.doc).unwrap(),
            wfops_diff::content_hash_value(&plain).unwrap()
        );
        assert!(dangling_connections(&t.doc).is_empty());
    }

    #[test]
    fn unmapped_credentials_unresolved_placeholders_and_references_are_all_reported() {
        let mut d = doc();
        d["nodes"][1]["credentials"]["stripeApi"] = json!({"id": "9", "name": "stripe-dev"});
        d["nodes"][1]["parameters"]["token"] = json!("{{ env.MISSING }} and {{env.ALSO}}");
        d["nodes"][2]["parameters"]["workflowId"]["value"] = json!("unknown");
        let problems = transform(&d, &ctx(), &mut no_ids()).unwrap_err();
        assert_eq!(
            problems,
            vec![
                Problem::UnmappedCredential {
                    node: "Call".into(),
                    credential_type: "stripeApi".into(),
                    credential: "stripe-dev".into()
                },
                Problem::UnresolvedVariable {
                    name: "ALSO".into()
                },
                Problem::UnresolvedVariable {
                    name: "MISSING".into()
                },
                Problem::UnresolvedReference {
                    node: "Sub".into(),
                    workflow_id: "unknown".into()
                },
            ]
        );
        assert_eq!(
            problems[0].to_string(),
            "node \"Call\" uses stripeApi credential \"stripe-dev\", which has no mapping to the target"
        );
        assert_eq!(
            problems[1].to_string(),
            "placeholder {{env.ALSO}} has no variable ALSO in the target environment"
        );
    }

    #[test]
    fn placeholder_credentials_are_kept_with_a_warning_when_allowed() {
        let mut d = doc();
        d["nodes"][1]["credentials"] = json!({"stripeApi": {"id": "9", "name": "stripe-dev"}});
        let mut c = ctx();
        c.allow_placeholder_credentials = true;
        let t = transform(&d, &c, &mut no_ids()).unwrap();
        assert_eq!(
            t.doc["nodes"][1]["credentials"]["stripeApi"],
            json!({"id": "9", "name": "stripe-dev"})
        );
        assert_eq!(t.warnings.len(), 1);
        assert!(t.warnings[0].contains("stripe-dev"), "{:?}", t.warnings);
    }

    #[test]
    fn a_credential_without_an_id_is_matched_by_name() {
        let d = json!({"nodes": [{"name": "Old", "credentials": {"slackApi": "Slack bot"}}]});
        let t = transform(&d, &ctx(), &mut no_ids()).unwrap();
        assert_eq!(
            t.doc["nodes"][0]["credentials"]["slackApi"],
            json!({"id": "prod-4", "name": "Slack bot"})
        );
    }

    #[test]
    fn base_urls_are_replaced_only_at_a_boundary() {
        let r = |s| replace_base_url(s, "http://dev:5678", "http://prod:5678");
        assert_eq!(r("http://dev:5678"), Some("http://prod:5678".into()));
        assert_eq!(
            r("a http://dev:5678/webhook/x b http://dev:5678#y"),
            Some("a http://prod:5678/webhook/x b http://prod:5678#y".into())
        );
        assert_eq!(r("http://dev:56789/x"), None);
        assert_eq!(r("nothing here"), None);
        // the same source and target base: nothing to do
        let mut c = ctx();
        c.target_base_url = c.source_base_url.clone();
        let t = transform(&doc(), &c, &mut no_ids()).unwrap();
        assert_eq!(
            t.doc["nodes"][1]["parameters"]["callback"],
            "https://dev.n8n.example/webhook/orders?x=1"
        );
    }

    #[test]
    fn dangling_connections_are_found() {
        let d = json!({"nodes": [{"name": "A"}],
                       "connections": {"A": {"main": [[{"node": "B"}]]}, "C": {}}});
        assert_eq!(dangling_connections(&d), ["B", "C"]);
    }
}
