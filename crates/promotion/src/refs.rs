//! What a workflow document refers to outside itself, per environment: the credentials its nodes
//! use and the `{{env.NAME}}` placeholders its strings contain (docs/promotion.md).

use std::collections::BTreeSet;

use serde_json::Value;

/// A credential used by a node: `nodes[].credentials.<type> = {"id": …, "name": …}`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct CredentialRef {
    pub node: String,
    pub credential_type: String,
    pub id: Option<String>,
    pub name: Option<String>,
}

/// Every credential reference of `doc`, in node order.
pub fn credential_refs(doc: &Value) -> Vec<CredentialRef> {
    let mut out = Vec::new();
    for node in doc
        .get("nodes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let Some(creds) = node.get("credentials").and_then(Value::as_object) else {
            continue;
        };
        let node_name = node.get("name").and_then(Value::as_str).unwrap_or_default();
        for (credential_type, value) in creds {
            let text = |k: &str| match value.get(k) {
                Some(Value::String(s)) => Some(s.clone()),
                Some(Value::Number(n)) => Some(n.to_string()),
                _ => None,
            };
            out.push(CredentialRef {
                node: node_name.to_string(),
                credential_type: credential_type.clone(),
                id: text("id"),
                name: text("name"),
            });
        }
    }
    out
}

/// The start of a placeholder; the name follows, then optional spaces and `}}`.
const OPEN: &str = "{{";

/// The variable names of every `{{env.NAME}}` placeholder in the strings of `doc` (spaces
/// inside the braces allowed: `{{ env.NAME }}`). n8n's own `{{ $env.NAME }}` expressions are not
/// placeholders: the instance resolves them at run time.
pub fn env_placeholders(doc: &Value) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    visit_strings(doc, &mut |s| {
        for (_, _, name) in placeholders_in(s) {
            names.insert(name.to_string());
        }
    });
    names
}

/// Each placeholder of `s` as (start byte, end byte, variable name).
pub fn placeholders_in(s: &str) -> Vec<(usize, usize, &str)> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(pos) = s[from..].find(OPEN) {
        let start = from + pos;
        let rest = &s[start + OPEN.len()..];
        let trimmed = rest.trim_start_matches(' ');
        if let Some(after) = trimmed.strip_prefix("env.") {
            let name_len = after
                .char_indices()
                .find(|&(i, c)| {
                    !(c == '_' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit()))
                })
                .map_or(after.len(), |(i, _)| i);
            let tail = after[name_len..].trim_start_matches(' ');
            if name_len > 0 && tail.starts_with("}}") {
                let end = s.len() - tail.len() + 2;
                out.push((start, end, &after[..name_len]));
                from = end;
                continue;
            }
        }
        from = start + OPEN.len();
    }
    out
}

/// Calls `f` on every string value (not keys) of `v`.
pub fn visit_strings(v: &Value, f: &mut impl FnMut(&str)) {
    match v {
        Value::String(s) => f(s),
        Value::Array(items) => items.iter().for_each(|i| visit_strings(i, f)),
        Value::Object(map) => map.values().for_each(|i| visit_strings(i, f)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn credential_refs_read_type_id_and_name() {
        let doc = json!({"nodes": [
            {"name": "Slack", "credentials": {"slackApi": {"id": "17", "name": "Slack bot"}}},
            {"name": "Plain"},
            {"name": "Old", "credentials": {"httpBasicAuth": {"id": 4}}}
        ]});
        assert_eq!(
            credential_refs(&doc),
            [
                CredentialRef {
                    node: "Slack".into(),
                    credential_type: "slackApi".into(),
                    id: Some("17".into()),
                    name: Some("Slack bot".into())
                },
                CredentialRef {
                    node: "Old".into(),
                    credential_type: "httpBasicAuth".into(),
                    id: Some("4".into()),
                    name: None
                },
            ]
        );
    }

    #[test]
    fn placeholders_are_env_names_in_double_braces_not_n8n_env_expressions() {
        let doc = json!({"nodes": [{"parameters": {
            "url": "https://{{env.API_HOST}}/v1?k={{ env.API_KEY }}",
            "expr": "={{ $env.RUNTIME }}",
            "broken": "{{env.}} {{env.X y}} {{ other }}",
            "list": ["{{env.A_1}}", "{{env.1A}}"]
        }}]});
        let names: Vec<_> = env_placeholders(&doc).into_iter().collect();
        assert_eq!(names, ["API_HOST", "API_KEY", "A_1"]);
        let s = "x{{ env.B }}y";
        assert_eq!(placeholders_in(s), [(1, 12, "B")]);
    }
}
