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

/// A credential of the target offered as the mapping of a source credential.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CandidateCredential {
    pub id: Option<String>,
    pub name: Option<String>,
    /// Same name as the source credential (compared without case).
    pub same_name: bool,
    /// How many nodes of the target's workflows use it.
    pub uses: usize,
}

/// A source credential without mapping and its candidates, best first.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MappingSuggestion {
    pub credential_type: String,
    pub source_credential_id: Option<String>,
    pub source_credential_name: Option<String>,
    /// How many nodes of the source's workflows use it.
    pub uses: usize,
    pub candidates: Vec<CandidateCredential>,
}

fn same_name(a: Option<&str>, b: Option<&str>) -> bool {
    matches!((a, b), (Some(a), Some(b)) if a.trim().eq_ignore_ascii_case(b.trim()))
}

/// Groups the source's unmapped credential references (one suggestion per credential: same
/// type and id, or same name when there is no id) and offers, for each, the target's
/// credentials of the same type: same name first, then the most used, then by name and id.
/// Suggestions are ordered by type, then name, then id.
pub fn suggest_mappings(
    unmapped_source: &[CredentialRef],
    target: &[CredentialRef],
) -> Vec<MappingSuggestion> {
    use std::collections::BTreeMap;
    type Key = (String, Option<String>, Option<String>);
    let key = |r: &CredentialRef| -> Option<Key> {
        match (&r.id, &r.name) {
            (None, None) => None,
            (Some(id), _) => Some((r.credential_type.clone(), Some(id.clone()), None)),
            (None, Some(n)) => Some((r.credential_type.clone(), None, Some(n.clone()))),
        }
    };
    // (type, id or None, name when no id) → (name seen, uses)
    let mut sources: BTreeMap<Key, (Option<String>, usize)> = BTreeMap::new();
    for r in unmapped_source {
        if let Some(k) = key(r) {
            let e = sources.entry(k).or_insert((None, 0));
            if e.0.is_none() {
                e.0 = r.name.clone();
            }
            e.1 += 1;
        }
    }
    let mut targets: BTreeMap<Key, (Option<String>, usize)> = BTreeMap::new();
    for r in target {
        if let Some(k) = key(r) {
            let e = targets.entry(k).or_insert((None, 0));
            if e.0.is_none() {
                e.0 = r.name.clone();
            }
            e.1 += 1;
        }
    }
    let mut out: Vec<MappingSuggestion> = sources
        .into_iter()
        .map(|((ty, id, _), (name, uses))| {
            let mut candidates: Vec<CandidateCredential> = targets
                .iter()
                .filter(|((t, _, _), _)| *t == ty)
                .map(|((_, tid, _), (tname, tuses))| CandidateCredential {
                    id: tid.clone(),
                    name: tname.clone(),
                    same_name: same_name(name.as_deref(), tname.as_deref()),
                    uses: *tuses,
                })
                .collect();
            candidates.sort_by(|a, b| {
                b.same_name
                    .cmp(&a.same_name)
                    .then(b.uses.cmp(&a.uses))
                    .then(a.name.cmp(&b.name))
                    .then(a.id.cmp(&b.id))
            });
            MappingSuggestion {
                credential_type: ty,
                source_credential_id: id,
                source_credential_name: name,
                uses,
                candidates,
            }
        })
        .collect();
    out.sort_by(|a, b| {
        (
            &a.credential_type,
            &a.source_credential_name,
            &a.source_credential_id,
        )
            .cmp(&(
                &b.credential_type,
                &b.source_credential_name,
                &b.source_credential_id,
            ))
    });
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn cred(ty: &str, id: Option<&str>, name: Option<&str>) -> CredentialRef {
        CredentialRef {
            node: "n".into(),
            credential_type: ty.into(),
            id: id.map(Into::into),
            name: name.map(Into::into),
        }
    }

    #[test]
    fn suggestions_rank_same_name_then_usage_and_keep_types_apart() {
        let source = [
            cred("slackApi", Some("1"), Some("Slack Bot")),
            cred("slackApi", Some("1"), Some("Slack Bot")),
            cred("postgres", Some("9"), Some("DB")),
            cred("httpBasicAuth", None, None),
        ];
        let target = [
            cred("slackApi", Some("50"), Some("Other")),
            cred("slackApi", Some("50"), Some("Other")),
            cred("slackApi", Some("51"), Some("slack bot")),
            cred("slackApi", Some("52"), Some("Alpha")),
            cred("postgresSsl", Some("60"), Some("DB")),
        ];
        let s = suggest_mappings(&source, &target);
        assert_eq!(s.len(), 2, "{s:?}");
        assert_eq!(s[0].credential_type, "postgres");
        assert!(s[0].candidates.is_empty(), "another type is never offered");
        let slack = &s[1];
        assert_eq!(slack.source_credential_id.as_deref(), Some("1"));
        assert_eq!(slack.uses, 2);
        let ids: Vec<_> = slack
            .candidates
            .iter()
            .map(|c| c.id.as_deref().unwrap())
            .collect();
        assert_eq!(ids, ["51", "50", "52"]);
        assert!(slack.candidates[0].same_name && !slack.candidates[1].same_name);
        assert_eq!(slack.candidates[1].uses, 2);
    }

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
