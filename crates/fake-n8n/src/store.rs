//! The fake's data: workflows and executions, and the n8n behaviours applied when they are
//! written (observed on n8n 1.123.81 and read in its source; see the README).

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration as ChronoDuration, SubsecRound, Utc};
use rand::Rng;
use serde::Serialize;
use serde_json::value::{to_raw_value, RawValue};
use serde_json::{Map, Value};
use wfops_n8n::write_rules::N8nVersion;

use crate::FakeError;

/// The single project every workflow belongs to (an owner's personal project).
pub(crate) const PROJECT_ID: &str = "wfopsFakeProj01";
const OWNER_NAME: &str = "Wfops Owner";

/// Node types that n8n lists as triggers but will not activate a workflow with.
const NOT_ACTIVATING: &[&str] = &[
    "manualtrigger",
    "manualchattrigger",
    "executeworkflowtrigger",
    "errortrigger",
    "evaluationtrigger",
];
/// Activating node types whose names do not end in "Trigger".
const ACTIVATING: &[&str] = &["webhook", "cron", "interval", "emailreadimap"];

pub(crate) struct StoredWorkflow {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub nodes: Box<RawValue>,
    pub connections: Box<RawValue>,
    pub settings: Map<String, Value>,
    pub static_data: Option<Box<RawValue>>,
    pub pin_data: Option<Box<RawValue>>,
    pub active: bool,
    pub version_id: String,
    pub active_version: Option<ActiveVersion>,
    pub version_counter: u64,
    pub trigger_count: u64,
    /// Enabled nodes that can start the workflow when it is active.
    pub triggers: u64,
    pub created_at: DateTime<Utc>,
    /// `None` hides `updatedAt` from responses (to test callers against odd instances).
    pub updated_at: Option<DateTime<Utc>>,
}

pub(crate) struct ActiveVersion {
    pub version_id: String,
    pub nodes: Box<RawValue>,
    pub connections: Box<RawValue>,
    pub at: DateTime<Utc>,
}

pub(crate) struct StoredExecution {
    pub id: u64,
    pub workflow_id: String,
    pub status: String,
    pub mode: String,
    pub started_at: DateTime<Utc>,
    pub stopped_at: Option<DateTime<Utc>>,
    pub data: Option<Value>,
}

#[derive(Default)]
pub(crate) struct Store {
    /// Ids in creation order, the order lists are served in.
    order: Vec<String>,
    workflows: HashMap<String, StoredWorkflow>,
    /// Ascending by id.
    executions: Vec<StoredExecution>,
    next_execution_id: u64,
    last_timestamp: Option<DateTime<Utc>>,
}

/// Which fields a route's answer carries; n8n's routes each return a slightly different set.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Shape {
    pub description: bool,
    pub version_counter: bool,
    pub shared: Shared,
    pub tags: bool,
    pub active_version: bool,
    pub pin_data: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shared {
    None,
    /// The list's short form: the sharing row without its project.
    Short,
    /// The sharing row with the owner's project.
    Full,
}

impl Shape {
    pub const GET: Shape = Shape {
        description: true,
        version_counter: true,
        shared: Shared::Full,
        tags: true,
        active_version: true,
        pin_data: true,
    };
    pub const LIST: Shape = Shape {
        description: false,
        version_counter: false,
        shared: Shared::Short,
        ..Shape::GET
    };
    pub const CREATE: Shape = Shape {
        shared: Shared::None,
        tags: false,
        active_version: false,
        ..Shape::GET
    };
    pub const UPDATE: Shape = Shape {
        shared: Shared::None,
        active_version: false,
        ..Shape::GET
    };
    pub const ACTIVATE: Shape = Shape {
        shared: Shared::None,
        tags: false,
        ..Shape::GET
    };
    pub const DEACTIVATE: Shape = Shape {
        tags: false,
        ..Shape::GET
    };
    pub const DELETE: Shape = Shape {
        tags: false,
        active_version: false,
        ..Shape::GET
    };
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WorkflowOut<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    updated_at: Option<String>,
    created_at: String,
    id: &'a str,
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<Option<&'a str>>,
    active: bool,
    is_archived: bool,
    nodes: &'a RawValue,
    connections: &'a RawValue,
    settings: &'a Map<String, Value>,
    static_data: Option<&'a RawValue>,
    meta: Option<()>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pin_data: Option<Option<&'a RawValue>>,
    version_id: &'a str,
    active_version_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    version_counter: Option<u64>,
    trigger_count: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    shared: Option<[SharedOut<'a>; 1]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tags: Option<[(); 0]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    active_version: Option<Option<ActiveVersionOut<'a>>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SharedOut<'a> {
    updated_at: String,
    created_at: String,
    role: &'static str,
    workflow_id: &'a str,
    project_id: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    project: Option<ProjectOut>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ProjectOut {
    id: &'static str,
    name: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
    icon: Option<()>,
    description: Option<()>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ActiveVersionOut<'a> {
    updated_at: String,
    created_at: String,
    version_id: &'a str,
    workflow_id: &'a str,
    nodes: &'a RawValue,
    connections: &'a RawValue,
    authors: &'static str,
    name: Option<()>,
    description: Option<()>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ExecutionOut<'a> {
    id: String,
    finished: bool,
    mode: &'a str,
    retry_of: Option<()>,
    retry_success_id: Option<()>,
    status: &'a str,
    started_at: String,
    stopped_at: Option<String>,
    workflow_id: &'a str,
    wait_till: Option<()>,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<&'a Value>,
}

/// n8n's timestamp format: UTC, milliseconds, `Z`.
pub(crate) fn timestamp(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// An id in n8n's style: 16 characters of `[0-9A-Za-z]` (nanoid's custom alphabet).
pub(crate) fn new_workflow_id() -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut rng = rand::thread_rng();
    (0..16)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

fn raw(v: &Value) -> Result<Box<RawValue>, FakeError> {
    to_raw_value(v).map_err(|e| FakeError::Internal(format!("cannot store a value: {e}")))
}

/// `null` is stored as `None`, which renders as `null` again.
fn raw_opt(v: Option<&Value>) -> Result<Option<Box<RawValue>>, FakeError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(v) => raw(v).map(Some),
    }
}

fn raw_text(v: &Option<Box<RawValue>>) -> &str {
    v.as_deref().map_or("null", RawValue::get)
}

/// Whether an enabled node can start the workflow (n8n asks the node type; the fake goes by
/// the type name, which is right for n8n's own trigger, webhook and polling nodes).
fn is_trigger(node: &Value) -> bool {
    if node.get("disabled").and_then(Value::as_bool) == Some(true) {
        return false;
    }
    let Some(kind) = node.get("type").and_then(Value::as_str) else {
        return false;
    };
    let short = kind.rsplit('.').next().unwrap_or(kind).to_ascii_lowercase();
    if NOT_ACTIVATING.contains(&short.as_str()) {
        return false;
    }
    short.ends_with("trigger") || ACTIVATING.contains(&short.as_str())
}

/// `replaceInvalidCredentials`: credentials given by name only are looked up. The fake has no
/// credentials, so no lookup succeeds, and n8n then leaves the first occurrence of each
/// (type, name) as sent and replaces later occurrences with `{"id": null, "name": …}`.
fn resolve_credentials(nodes: &mut [Value]) {
    let mut seen: HashSet<(String, String)> = HashSet::new();
    for node in nodes.iter_mut() {
        let Value::Object(map) = node else { continue };
        let disabled = map.get("disabled").and_then(Value::as_bool) == Some(true);
        if !disabled {
            if let Some(Value::Object(creds)) = map.get_mut("credentials") {
                for (cred_type, cred) in creds.iter_mut() {
                    let name = match &*cred {
                        Value::String(name) => name.clone(),
                        Value::Object(o) if o.get("id") == Some(&Value::Null) => o
                            .get("name")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_string(),
                        _ => continue,
                    };
                    if !seen.insert((cred_type.clone(), name.clone())) {
                        *cred = serde_json::json!({"id": null, "name": name});
                    }
                }
            }
        }
    }
}

/// `addNodeIds`: nodes without an id get a UUID. Returns how many nodes can start the
/// workflow.
fn add_node_ids(nodes: &mut [Value]) -> u64 {
    let mut triggers = 0;
    for node in nodes.iter_mut() {
        if let Value::Object(map) = node {
            let missing_id = match map.get("id") {
                None => true,
                Some(Value::String(s)) => s.is_empty(),
                Some(_) => false,
            };
            if missing_id {
                map.insert("id".into(), Value::String(uuid::Uuid::new_v4().to_string()));
            }
        }
        if is_trigger(node) {
            triggers += 1;
        }
    }
    triggers
}

/// Fields of a validated write body the store needs.
pub(crate) struct WriteBody {
    pub name: String,
    pub description: Option<Option<String>>,
    pub nodes: Vec<Value>,
    pub connections: Value,
    pub settings: Map<String, Value>,
    pub static_data: Option<Value>,
    pub pin_data: Option<Value>,
}

impl WriteBody {
    /// `body` must have passed `validate_write`; anything else is reported, not trusted.
    pub fn from_validated(body: &Value, version: N8nVersion) -> Result<Self, FakeError> {
        let bad = |what: &str| FakeError::Internal(format!("validated body has no {what}"));
        let name = body
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("name"))?
            .to_string();
        let nodes = body
            .get("nodes")
            .and_then(Value::as_array)
            .ok_or_else(|| bad("nodes"))?
            .clone();
        let connections = body
            .get("connections")
            .cloned()
            .ok_or_else(|| bad("connections"))?;
        let settings = body
            .get("settings")
            .and_then(Value::as_object)
            .ok_or_else(|| bad("settings"))?
            .clone();
        let v2 = version == N8nVersion::V2;
        Ok(Self {
            name,
            description: if v2 {
                body.get("description")
                    .map(|d| d.as_str().map(str::to_string))
            } else {
                None
            },
            nodes,
            connections,
            settings,
            static_data: body.get("staticData").cloned(),
            pin_data: if v2 {
                body.get("pinData").cloned()
            } else {
                None
            },
        })
    }
}

impl Store {
    /// Strictly increasing "now", so that two writes in one millisecond still move
    /// `updatedAt` forward, as callers comparing timestamps expect.
    fn now(&mut self) -> DateTime<Utc> {
        // Timestamps are served with millisecond precision, so compare at that precision.
        let mut now = Utc::now().trunc_subsecs(3);
        if let Some(last) = self.last_timestamp {
            if now <= last {
                now = last + ChronoDuration::milliseconds(1);
            }
        }
        self.last_timestamp = Some(now);
        now
    }

    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn ids(&self) -> Vec<String> {
        self.order.clone()
    }

    pub fn get(&self, id: &str) -> Option<&StoredWorkflow> {
        self.workflows.get(id)
    }

    pub fn get_mut(&mut self, id: &str) -> Option<&mut StoredWorkflow> {
        self.workflows.get_mut(id)
    }

    pub fn create(&mut self, body: WriteBody) -> Result<String, FakeError> {
        let mut nodes = body.nodes;
        resolve_credentials(&mut nodes);
        let triggers = add_node_ids(&mut nodes);
        let settings = body.settings;
        let mut id = new_workflow_id();
        while self.workflows.contains_key(&id) {
            id = new_workflow_id();
        }
        let now = self.now();
        let workflow = StoredWorkflow {
            id: id.clone(),
            name: body.name,
            description: body.description.flatten(),
            nodes: raw(&Value::Array(nodes))?,
            connections: raw(&body.connections)?,
            settings,
            static_data: raw_opt(body.static_data.as_ref())?,
            pin_data: raw_opt(body.pin_data.as_ref())?,
            active: false,
            version_id: uuid::Uuid::new_v4().to_string(),
            active_version: None,
            version_counter: 1,
            trigger_count: 0,
            triggers,
            created_at: now,
            updated_at: Some(now),
        };
        self.order.push(id.clone());
        self.workflows.insert(id.clone(), workflow);
        Ok(id)
    }

    /// `PUT`, as n8n's `WorkflowService.update`: `versionId` changes when a sent field differs
    /// from the stored one (compared before settings are merged and node ids added, so
    /// sending a subset of the stored settings is no change), settings are then merged over
    /// the stored ones, `staticData` is kept when not sent, `updatedAt` always moves.
    pub fn update(&mut self, id: &str, body: WriteBody, touch: bool) -> Result<bool, FakeError> {
        let now = if touch { Some(self.now()) } else { None };
        let Some(w) = self.workflows.get_mut(id) else {
            return Ok(false);
        };
        let mut nodes = body.nodes;
        resolve_credentials(&mut nodes);
        let connections = raw(&body.connections)?;
        let sent_settings_differ = body.settings != w.settings;
        let nodes_differ = raw(&Value::Array(nodes.clone()))?.get() != w.nodes.get();
        let triggers = add_node_ids(&mut nodes);
        let nodes = raw(&Value::Array(nodes))?;
        let mut settings = w.settings.clone();
        settings.extend(body.settings);
        for key in [
            "timezone",
            "saveDataErrorExecution",
            "saveDataSuccessExecution",
            "saveManualExecutions",
            "saveExecutionProgress",
        ] {
            if settings.get(key).and_then(Value::as_str) == Some("DEFAULT") {
                settings.remove(key);
            }
        }
        if settings.get("executionTimeout").and_then(Value::as_f64) == Some(-1.0) {
            settings.remove("executionTimeout");
        }
        let static_data = match &body.static_data {
            Some(v) => raw_opt(Some(v))?,
            None => w.static_data.clone(),
        };
        let pin_data = match &body.pin_data {
            Some(v) => raw_opt(Some(v))?,
            None => w.pin_data.clone(),
        };
        let description = match body.description {
            Some(d) => d,
            None => w.description.clone(),
        };
        let changed = nodes_differ
            || connections.get() != w.connections.get()
            || body.name != w.name
            || sent_settings_differ
            || raw_text(&static_data) != raw_text(&w.static_data)
            || raw_text(&pin_data) != raw_text(&w.pin_data)
            || description != w.description;
        w.name = body.name;
        w.nodes = nodes;
        w.connections = connections;
        w.settings = settings;
        w.static_data = static_data;
        w.pin_data = pin_data;
        w.description = description;
        w.triggers = triggers;
        if changed {
            w.version_id = uuid::Uuid::new_v4().to_string();
            w.version_counter += 1;
            if w.active {
                let at = now.unwrap_or_else(Utc::now);
                w.active_version = Some(ActiveVersion {
                    version_id: w.version_id.clone(),
                    nodes: w.nodes.clone(),
                    connections: w.connections.clone(),
                    at,
                });
            }
        }
        if let Some(now) = now {
            w.updated_at = Some(now);
        }
        Ok(true)
    }

    pub fn delete(&mut self, id: &str) -> Option<StoredWorkflow> {
        let removed = self.workflows.remove(id)?;
        self.order.retain(|o| o != id);
        self.executions.retain(|e| e.workflow_id != id);
        Some(removed)
    }

    /// `Err(message)` when the workflow has nothing that can start it.
    pub fn activate(&mut self, id: &str) -> Option<Result<(), String>> {
        let now = self.now();
        let w = self.workflows.get_mut(id)?;
        if w.active {
            return Some(Ok(()));
        }
        if w.triggers == 0 {
            return Some(Err(format!(
                "Workflow \"{}\" (ID: {}) has no node to start the workflow - at least one trigger, poller or webhook node is required",
                w.name, w.id
            )));
        }
        w.active = true;
        w.trigger_count = w.triggers;
        w.version_counter += 1;
        w.active_version = Some(ActiveVersion {
            version_id: w.version_id.clone(),
            nodes: w.nodes.clone(),
            connections: w.connections.clone(),
            at: now,
        });
        Some(Ok(()))
    }

    pub fn deactivate(&mut self, id: &str) -> bool {
        let Some(w) = self.workflows.get_mut(id) else {
            return false;
        };
        if w.active {
            w.active = false;
            w.active_version = None;
            w.version_counter += 1;
        }
        true
    }

    /// Sets `active` without the trigger check, for seeding.
    pub fn force_active(&mut self, id: &str, active: bool) -> bool {
        let Some(w) = self.workflows.get_mut(id) else {
            return false;
        };
        w.active = active;
        w.active_version = active.then(|| ActiveVersion {
            version_id: w.version_id.clone(),
            nodes: w.nodes.clone(),
            connections: w.connections.clone(),
            at: w.updated_at.unwrap_or(w.created_at),
        });
        true
    }

    pub fn render(&self, w: &StoredWorkflow, shape: Shape) -> Result<String, FakeError> {
        serde_json::to_string(&self.out(w, shape))
            .map_err(|e| FakeError::Internal(format!("cannot render: {e}")))
    }

    fn out<'a>(&self, w: &'a StoredWorkflow, shape: Shape) -> WorkflowOut<'a> {
        let created = timestamp(w.created_at);
        WorkflowOut {
            updated_at: w.updated_at.map(timestamp),
            created_at: created.clone(),
            id: &w.id,
            name: &w.name,
            description: shape.description.then_some(w.description.as_deref()),
            active: w.active,
            is_archived: false,
            nodes: &w.nodes,
            connections: &w.connections,
            settings: &w.settings,
            static_data: w.static_data.as_deref(),
            meta: None,
            pin_data: shape.pin_data.then_some(w.pin_data.as_deref()),
            version_id: &w.version_id,
            active_version_id: w.active_version.as_ref().map(|a| a.version_id.as_str()),
            version_counter: shape.version_counter.then_some(w.version_counter),
            trigger_count: w.trigger_count,
            shared: match shape.shared {
                Shared::None => None,
                kind => Some([SharedOut {
                    updated_at: created.clone(),
                    created_at: created,
                    role: "workflow:owner",
                    workflow_id: &w.id,
                    project_id: PROJECT_ID,
                    project: (kind == Shared::Full).then_some(ProjectOut {
                        id: PROJECT_ID,
                        name: "Wfops Owner <owner@wfops.test>",
                        kind: "personal",
                        icon: None,
                        description: None,
                    }),
                }]),
            },
            tags: shape.tags.then_some([]),
            active_version: shape.active_version.then(|| {
                w.active_version.as_ref().map(|a| ActiveVersionOut {
                    updated_at: timestamp(a.at),
                    created_at: timestamp(a.at),
                    version_id: &a.version_id,
                    workflow_id: &w.id,
                    nodes: &a.nodes,
                    connections: &a.connections,
                    authors: OWNER_NAME,
                    name: None,
                    description: None,
                })
            }),
        }
    }

    /// Workflows matching the list filters, in list order.
    pub fn filtered<'a>(
        &'a self,
        filter: &'a ListFilter,
    ) -> Box<dyn Iterator<Item = &'a StoredWorkflow> + 'a> {
        let all = self
            .order
            .iter()
            .filter_map(move |id| self.workflows.get(id));
        if filter.is_empty() {
            return Box::new(all);
        }
        Box::new(all.filter(move |w| filter.matches(w)))
    }

    pub fn add_execution(
        &mut self,
        workflow_id: &str,
        status: &str,
        mode: &str,
        data: Option<Value>,
    ) -> String {
        self.next_execution_id += 1;
        let id = self.next_execution_id;
        let started = self.now();
        let finished = !matches!(status, "running" | "waiting" | "new");
        self.executions.push(StoredExecution {
            id,
            workflow_id: workflow_id.to_string(),
            status: status.to_string(),
            mode: mode.to_string(),
            started_at: started,
            stopped_at: finished.then(|| started + ChronoDuration::milliseconds(8)),
            data,
        });
        id.to_string()
    }

    /// Executions newest first (below the cursor's `lastId` when given): the rendered page,
    /// the id of its last execution, and whether more follow.
    pub fn executions_page(
        &self,
        filter: &ExecutionFilter,
        limit: usize,
    ) -> Result<(Vec<String>, Option<u64>, bool), FakeError> {
        let mut matching = self
            .executions
            .iter()
            .rev()
            .filter(|e| filter.last_id.is_none_or(|last| e.id < last))
            .filter(|e| {
                filter
                    .workflow_id
                    .as_deref()
                    .is_none_or(|w| e.workflow_id == w)
            })
            .filter(|e| filter.status.as_deref().is_none_or(|s| e.status == s))
            .filter(|_| filter.project_id.as_deref().is_none_or(|p| p == PROJECT_ID));
        let mut out = Vec::new();
        let mut last = None;
        for e in matching.by_ref().take(limit) {
            let rendered = serde_json::to_string(&ExecutionOut {
                id: e.id.to_string(),
                finished: e.stopped_at.is_some(),
                mode: &e.mode,
                retry_of: None,
                retry_success_id: None,
                status: &e.status,
                started_at: timestamp(e.started_at),
                stopped_at: e.stopped_at.map(timestamp),
                workflow_id: &e.workflow_id,
                wait_till: None,
                data: if filter.include_data {
                    Some(e.data.as_ref().unwrap_or(&Value::Null))
                } else {
                    None
                },
            })
            .map_err(|err| FakeError::Internal(format!("cannot render an execution: {err}")))?;
            out.push(rendered);
            last = Some(e.id);
        }
        let more = matching.next().is_some();
        Ok((out, last, more))
    }
}

#[derive(Debug, Default)]
pub(crate) struct ListFilter {
    pub name: Option<String>,
    pub active: Option<bool>,
    /// Tag names; the fake has no tags, so any tag filter matches nothing.
    pub tags: Option<String>,
    pub project_id: Option<String>,
}

impl ListFilter {
    fn is_empty(&self) -> bool {
        self.name.is_none()
            && self.active.is_none()
            && self.tags.is_none()
            && self.project_id.is_none()
    }

    fn matches(&self, w: &StoredWorkflow) -> bool {
        if let Some(name) = &self.name {
            if !w.name.contains(name.trim()) {
                return false;
            }
        }
        if let Some(active) = self.active {
            if w.active != active {
                return false;
            }
        }
        if self.tags.is_some() {
            return false;
        }
        if let Some(project) = &self.project_id {
            if project != PROJECT_ID {
                return false;
            }
        }
        true
    }
}

#[derive(Debug, Default)]
pub(crate) struct ExecutionFilter {
    pub workflow_id: Option<String>,
    pub status: Option<String>,
    pub project_id: Option<String>,
    pub include_data: bool,
    pub last_id: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn trigger_detection_follows_n8n_node_types() {
        let cases = [
            ("n8n-nodes-base.scheduleTrigger", false, true),
            ("n8n-nodes-base.webhook", false, true),
            ("n8n-nodes-base.cron", false, true),
            ("n8n-nodes-base.telegramTrigger", false, true),
            ("@n8n/n8n-nodes-langchain.chatTrigger", false, true),
            ("n8n-nodes-base.manualTrigger", false, false),
            ("n8n-nodes-base.executeWorkflowTrigger", false, false),
            ("n8n-nodes-base.errorTrigger", false, false),
            ("n8n-nodes-base.set", false, false),
            ("n8n-nodes-base.scheduleTrigger", true, false),
        ];
        for (kind, disabled, expected) in cases {
            let node = json!({"type": kind, "disabled": disabled});
            assert_eq!(is_trigger(&node), expected, "{kind} disabled={disabled}");
        }
    }

    #[test]
    fn nodes_get_ids_and_repeated_name_only_credentials_are_resolved_like_n8n() {
        let mut nodes = vec![
            json!({"name": "A", "credentials": {"api": "Main"}}),
            json!({"id": "", "name": "B", "credentials": {"api": "Main"}}),
            json!({"id": "c", "name": "C", "disabled": true, "credentials": {"api": "Main"}}),
            json!({"id": "d", "name": "D", "credentials": {"api": {"id": "7", "name": "Other"}}}),
        ];
        resolve_credentials(&mut nodes);
        add_node_ids(&mut nodes);
        assert!(nodes[0]["id"].as_str().is_some_and(|s| s.len() == 36));
        assert!(nodes[1]["id"].as_str().is_some_and(|s| s.len() == 36));
        assert_eq!(nodes[0]["credentials"], json!({"api": "Main"}));
        assert_eq!(
            nodes[1]["credentials"],
            json!({"api": {"id": null, "name": "Main"}})
        );
        assert_eq!(nodes[2]["credentials"], json!({"api": "Main"}));
        assert_eq!(
            nodes[3]["credentials"],
            json!({"api": {"id": "7", "name": "Other"}})
        );
    }

    #[test]
    fn ids_look_like_n8n_ids() {
        let id = new_workflow_id();
        assert_eq!(id.len(), 16);
        assert!(id.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(new_workflow_id(), id);
    }

    #[test]
    fn timestamps_have_milliseconds_and_z() {
        let t = DateTime::parse_from_rfc3339("2024-05-01T10:00:00.5+00:00")
            .expect("time")
            .with_timezone(&Utc);
        assert_eq!(timestamp(t), "2024-05-01T10:00:00.500Z");
    }
}
