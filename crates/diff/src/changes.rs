//! The node-by-node diff of two workflows.
//!
//! Content is compared on the normalized form (the one that is hashed), so a diff reports a
//! content change exactly when the two content hashes differ. What normalization drops but a
//! person still wants to see (canvas positions, `active`, instance ids) is reported separately
//! as non-content changes, which never count as drift.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::DiffError;
use crate::hash::{ContentHash, ContentHasher};
use crate::normalize::Resolve;

/// What happened at one path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    Added,
    Removed,
    Modified,
}

/// One changed value. `path` is an RFC 6901 JSON Pointer relative to the thing being compared
/// (a node, the settings object, the workflow). `old` is absent for an addition and `new` for a
/// removal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldChange {
    pub path: String,
    pub kind: ChangeKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new: Option<Value>,
}

/// A node named in a diff, with its n8n node type when it has one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeRef {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_type: Option<String>,
}

/// A node whose content is unchanged but whose name changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeRename {
    pub from: String,
    pub to: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_type: Option<String>,
}

/// A node present on both sides under the same name whose content changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeModification {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_type: Option<String>,
    pub changes: Vec<FieldChange>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NodeChanges {
    pub added: Vec<NodeRef>,
    pub removed: Vec<NodeRef>,
    pub renamed: Vec<NodeRename>,
    pub modified: Vec<NodeModification>,
}

impl NodeChanges {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty()
            && self.removed.is_empty()
            && self.renamed.is_empty()
            && self.modified.is_empty()
    }
}

/// One connection: output `output` of kind `kind` (`main`, `ai_tool`, …) of node `source`
/// feeds `target` (normally `{"node", "type", "index"}`).
///
/// Parts of a connections object that do not have n8n's shape are still compared: `whole`
/// then says that `target` is the entire entry found at that level (`kind` and `output` tell
/// how deep the shape held).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Connection {
    pub source: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<usize>,
    pub target: Value,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub whole: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ConnectionChanges {
    pub added: Vec<Connection>,
    pub removed: Vec<Connection>,
}

impl ConnectionChanges {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty()
    }
}

/// A change that the content hash ignores on purpose. Shown to people, never drift.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum NonContentChange {
    /// The workflow was activated or deactivated (environment state, not behaviour).
    Active {
        old: Option<bool>,
        new: Option<bool>,
    },
    /// The node moved on the canvas (`position` or `positionAbsolute`).
    NodeMoved {
        node: String,
        old: Option<Value>,
        new: Option<Value>,
    },
    /// n8n gave the node a new id (for instance after a copy-paste or an import).
    NodeIdChanged {
        node: String,
        old: Option<Value>,
        new: Option<Value>,
    },
    /// The node's webhook id changed.
    WebhookIdChanged {
        node: String,
        old: Option<Value>,
        new: Option<Value>,
    },
    /// The same-named credential has another id (normal across environments).
    CredentialIdChanged {
        node: String,
        credential_type: String,
        old: Option<Value>,
        new: Option<Value>,
    },
    /// Pinned test data changed.
    PinDataChanged,
}

/// The diff of two workflows, ready for an API to render.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkflowDiff {
    pub old_hash: ContentHash,
    pub new_hash: ContentHash,
    /// The content hashes differ: this is what counts as a change of behaviour (drift).
    pub content_changed: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<FieldChange>,
    pub nodes: NodeChanges,
    pub connections: ConnectionChanges,
    pub settings: Vec<FieldChange>,
    pub non_content: Vec<NonContentChange>,
}

impl WorkflowDiff {
    /// Whether any content section lists a change. Always equal to `content_changed`.
    pub fn has_content_changes(&self) -> bool {
        self.name.is_some()
            || !self.nodes.is_empty()
            || !self.connections.is_empty()
            || !self.settings.is_empty()
    }

    /// No change at all, content or not.
    pub fn is_empty(&self) -> bool {
        !self.has_content_changes() && self.non_content.is_empty()
    }
}

/// The normalized form of a workflow (what the content hash covers) as a `Value`.
pub fn normalized_value(doc: &Value) -> Result<Value, DiffError> {
    normalized_with(&mut ContentHasher::new(), doc, None).map(|(v, _)| v)
}

/// [`normalized_value`] with sub-workflow references compared by the workflow they call
/// (see [`crate::ContentHasher::hash_resolving`]).
pub fn normalized_value_resolving(doc: &Value, resolve: Resolve<'_>) -> Result<Value, DiffError> {
    normalized_with(&mut ContentHasher::new(), doc, Some(resolve)).map(|(v, _)| v)
}

fn normalized_with(
    h: &mut ContentHasher,
    doc: &Value,
    resolve: Option<Resolve<'_>>,
) -> Result<(Value, ContentHash), DiffError> {
    let bytes = match resolve {
        Some(r) => h.canonical_value_resolving(doc, r)?,
        None => h.canonical_value(doc)?,
    };
    let hash = ContentHash::of_canonical_bytes(bytes);
    let v = serde_json::from_slice(bytes).map_err(|e| DiffError::InvalidJson {
        line: e.line(),
        column: e.column(),
        reason: e.to_string(),
    })?;
    Ok((v, hash))
}

/// Compares two workflows (as read from n8n or Git) node by node.
pub fn diff_workflows(old: &Value, new: &Value) -> Result<WorkflowDiff, DiffError> {
    diff_with(old, new, None, None)
}

/// Compares two workflows that may come from different instances, each side's sub-workflow
/// references resolved by its own instance's `resolve` (ids differ per instance): a caller
/// and its promoted copy that call the same canonical workflow under different ids show no
/// content change; calling another workflow is a change of `parameters/workflowId`.
pub fn diff_workflows_resolving(
    old: &Value,
    new: &Value,
    resolve_old: Resolve<'_>,
    resolve_new: Resolve<'_>,
) -> Result<WorkflowDiff, DiffError> {
    diff_with(old, new, Some(resolve_old), Some(resolve_new))
}

fn diff_with(
    old: &Value,
    new: &Value,
    resolve_old: Option<Resolve<'_>>,
    resolve_new: Option<Resolve<'_>>,
) -> Result<WorkflowDiff, DiffError> {
    let mut h = ContentHasher::new();
    let side = |side: &'static str| {
        move |e| DiffError::InWorkflow {
            side,
            source: Box::new(e),
        }
    };
    let (old_n, old_hash) = normalized_with(&mut h, old, resolve_old).map_err(side("old"))?;
    let (new_n, new_hash) = normalized_with(&mut h, new, resolve_new).map_err(side("new"))?;

    let name = match (old_n.get("name"), new_n.get("name")) {
        (a, b) if a == b => None,
        (a, b) => Some(change("/name".to_owned(), a.cloned(), b.cloned())),
    };

    let old_nodes = nodes_by_name(&old_n);
    let new_nodes = nodes_by_name(&new_n);
    let mut nodes = NodeChanges::default();
    let mut removed: Vec<&str> = Vec::new();
    let mut added: Vec<&str> = Vec::new();
    for (name, o) in &old_nodes {
        match new_nodes.get(name) {
            None => removed.push(name),
            Some(n) if n == o => {}
            Some(n) => {
                let mut changes = Vec::new();
                diff_values(&mut String::new(), Some(o), Some(n), &mut changes);
                nodes.modified.push(NodeModification {
                    name: (*name).to_owned(),
                    node_type: node_type(n),
                    changes,
                });
            }
        }
    }
    for name in new_nodes.keys() {
        if !old_nodes.contains_key(name) {
            added.push(name);
        }
    }

    // Rename detection: a removed and an added node with identical content apart from the
    // name. Candidates are paired in name order so the result is deterministic.
    let mut renames: BTreeMap<String, String> = BTreeMap::new();
    let mut taken: BTreeSet<&str> = BTreeSet::new();
    for r in &removed {
        let body = without_name(old_nodes[r]);
        let hit = added
            .iter()
            .find(|a| !taken.contains(**a) && without_name(new_nodes[**a]) == body);
        if let Some(a) = hit {
            taken.insert(a);
            renames.insert((*r).to_owned(), (*a).to_owned());
            nodes.renamed.push(NodeRename {
                from: (*r).to_owned(),
                to: (*a).to_owned(),
                node_type: node_type(new_nodes[*a]),
            });
        }
    }
    for r in &removed {
        if !renames.contains_key(*r) {
            nodes.removed.push(node_ref(r, old_nodes[r]));
        }
    }
    for a in &added {
        if !taken.contains(a) {
            nodes.added.push(node_ref(a, new_nodes[a]));
        }
    }

    let connections = diff_connections(
        &renamed_connections(old_n.get("connections"), &renames),
        new_n.get("connections"),
    );

    let empty = Value::Object(Map::new());
    let mut settings = Vec::new();
    diff_values(
        &mut String::new(),
        Some(old_n.get("settings").unwrap_or(&empty)),
        Some(new_n.get("settings").unwrap_or(&empty)),
        &mut settings,
    );

    let non_content = non_content_changes(old, new, &renames);

    Ok(WorkflowDiff {
        old_hash,
        new_hash,
        content_changed: old_hash != new_hash,
        name,
        nodes,
        connections,
        settings,
        non_content,
    })
}

fn change(path: String, old: Option<Value>, new: Option<Value>) -> FieldChange {
    let kind = match (&old, &new) {
        (None, _) => ChangeKind::Added,
        (_, None) => ChangeKind::Removed,
        _ => ChangeKind::Modified,
    };
    FieldChange {
        path,
        kind,
        old,
        new,
    }
}

/// Appends one pointer token (RFC 6901 escaping) to `path`.
fn push_token(path: &mut String, token: &str) {
    path.push('/');
    for c in token.chars() {
        match c {
            '~' => path.push_str("~0"),
            '/' => path.push_str("~1"),
            c => path.push(c),
        }
    }
}

/// Recursive value diff: objects key by key, arrays index by index, anything else as a whole.
fn diff_values(
    path: &mut String,
    old: Option<&Value>,
    new: Option<&Value>,
    out: &mut Vec<FieldChange>,
) {
    match (old, new) {
        (Some(a), Some(b)) if a == b => {}
        (Some(Value::Object(a)), Some(Value::Object(b))) => {
            let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for k in keys {
                let len = path.len();
                push_token(path, k);
                diff_values(path, a.get(k), b.get(k), out);
                path.truncate(len);
            }
        }
        (Some(Value::Array(a)), Some(Value::Array(b))) => {
            for i in 0..a.len().max(b.len()) {
                let len = path.len();
                push_token(path, &i.to_string());
                diff_values(path, a.get(i), b.get(i), out);
                path.truncate(len);
            }
        }
        (None, None) => {}
        (a, b) => out.push(change(path.clone(), a.cloned(), b.cloned())),
    }
}

fn nodes_by_name(wf: &Value) -> BTreeMap<&str, &Value> {
    wf.get("nodes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|n| Some((n.get("name")?.as_str()?, n)))
        .collect()
}

fn node_type(n: &Value) -> Option<String> {
    n.get("type").and_then(Value::as_str).map(str::to_owned)
}

fn node_ref(name: &str, n: &Value) -> NodeRef {
    NodeRef {
        name: name.to_owned(),
        node_type: node_type(n),
    }
}

fn without_name(n: &Value) -> Value {
    let mut n = n.clone();
    if let Value::Object(m) = &mut n {
        m.remove("name");
    }
    n
}

/// Old connections with renamed nodes spelled by their new names, so that a rename shows as a
/// rename and not also as every connection of the node being removed and added.
fn renamed_connections(conns: Option<&Value>, renames: &BTreeMap<String, String>) -> Option<Value> {
    let conns = conns?;
    if renames.is_empty() {
        return Some(conns.clone());
    }
    let rename = |s: &str| renames.get(s).cloned().unwrap_or_else(|| s.to_owned());
    let Value::Object(m) = conns else {
        return Some(conns.clone());
    };
    let mut out = Map::new();
    for (src, v) in m {
        let mut v = v.clone();
        if let Value::Object(types) = &mut v {
            for list in types.values_mut() {
                for output in list.as_array_mut().into_iter().flatten() {
                    for t in output.as_array_mut().into_iter().flatten() {
                        if let Some(Value::String(node)) = t.get_mut("node") {
                            *node = rename(node);
                        }
                    }
                }
            }
        }
        out.insert(rename(src), v);
    }
    Some(Value::Object(out))
}

fn flatten_connections(conns: Option<&Value>) -> Vec<Connection> {
    let mut edges = Vec::new();
    let Some(Value::Object(m)) = conns else {
        return edges;
    };
    for (src, v) in m {
        let Value::Object(types) = v else {
            edges.push(Connection {
                source: src.clone(),
                kind: None,
                output: None,
                target: v.clone(),
                whole: true,
            });
            continue;
        };
        for (kind, list) in types {
            let Value::Array(outputs) = list else {
                edges.push(Connection {
                    source: src.clone(),
                    kind: Some(kind.clone()),
                    output: None,
                    target: list.clone(),
                    whole: true,
                });
                continue;
            };
            for (i, output) in outputs.iter().enumerate() {
                match output {
                    Value::Array(targets) => {
                        for t in targets {
                            edges.push(Connection {
                                source: src.clone(),
                                kind: Some(kind.clone()),
                                output: Some(i),
                                target: t.clone(),
                                whole: false,
                            });
                        }
                    }
                    other => edges.push(Connection {
                        source: src.clone(),
                        kind: Some(kind.clone()),
                        output: Some(i),
                        target: other.clone(),
                        whole: true,
                    }),
                }
            }
        }
    }
    edges
}

/// Multiset difference of the two sides' connections.
fn diff_connections(old: &Option<Value>, new: Option<&Value>) -> ConnectionChanges {
    // Keyed by the serialized edge; a count per side keeps duplicate edges honest.
    let mut counts: BTreeMap<String, (Connection, i64)> = BTreeMap::new();
    let key = |c: &Connection| serde_json::to_string(c).unwrap_or_default();
    for c in flatten_connections(old.as_ref()) {
        counts.entry(key(&c)).or_insert((c, 0)).1 -= 1;
    }
    for c in flatten_connections(new) {
        counts.entry(key(&c)).or_insert((c, 0)).1 += 1;
    }
    let mut out = ConnectionChanges::default();
    for (_, (c, n)) in counts {
        let list = if n > 0 {
            &mut out.added
        } else {
            &mut out.removed
        };
        for _ in 0..n.unsigned_abs() {
            list.push(c.clone());
        }
    }
    out
}

fn non_content_changes(
    old: &Value,
    new: &Value,
    renames: &BTreeMap<String, String>,
) -> Vec<NonContentChange> {
    let mut out = Vec::new();
    let active = |w: &Value| w.get("active").and_then(Value::as_bool);
    if active(old) != active(new) {
        out.push(NonContentChange::Active {
            old: active(old),
            new: active(new),
        });
    }
    let raw_nodes = |w: &Value| -> BTreeMap<String, Value> {
        w.get("nodes")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|n| Some((n.get("name")?.as_str()?.to_owned(), n.clone())))
            .collect()
    };
    let old_nodes = raw_nodes(old);
    let new_nodes = raw_nodes(new);
    for (old_name, o) in &old_nodes {
        let name = renames.get(old_name).unwrap_or(old_name);
        let Some(n) = new_nodes.get(name) else {
            continue;
        };
        let field = |v: &Value, f: &str| v.get(f).cloned();
        if field(o, "position") != field(n, "position")
            || field(o, "positionAbsolute") != field(n, "positionAbsolute")
        {
            out.push(NonContentChange::NodeMoved {
                node: name.clone(),
                old: field(o, "position"),
                new: field(n, "position"),
            });
        }
        if field(o, "id") != field(n, "id") {
            out.push(NonContentChange::NodeIdChanged {
                node: name.clone(),
                old: field(o, "id"),
                new: field(n, "id"),
            });
        }
        if field(o, "webhookId") != field(n, "webhookId") {
            out.push(NonContentChange::WebhookIdChanged {
                node: name.clone(),
                old: field(o, "webhookId"),
                new: field(n, "webhookId"),
            });
        }
        if let (Some(Value::Object(oc)), Some(Value::Object(nc))) =
            (o.get("credentials"), n.get("credentials"))
        {
            for (ty, oref) in oc {
                let Some(nref) = nc.get(ty) else { continue };
                // Only a same-named credential: a name change is a content change.
                if oref.get("name") == nref.get("name") && oref.get("id") != nref.get("id") {
                    out.push(NonContentChange::CredentialIdChanged {
                        node: name.clone(),
                        credential_type: ty.clone(),
                        old: oref.get("id").cloned(),
                        new: nref.get("id").cloned(),
                    });
                }
            }
        }
    }
    let pin = |w: &Value| match w.get("pinData") {
        None | Some(Value::Null) => None,
        Some(Value::Object(m)) if m.is_empty() => None,
        Some(v) => Some(v.clone()),
    };
    if pin(old) != pin(new) {
        out.push(NonContentChange::PinDataChanged);
    }
    out
}
