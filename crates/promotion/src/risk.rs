//! The risk of promoting one workflow, from its node-by-node diff against the target
//! (docs/promotion.md#risk).
//!
//! Every change found is one reason with its own level; the workflow's level is the highest
//! reason's, raised to `critical` when more than [`CRITICAL_HIGH_COUNT`] reasons are high.

use serde::{Deserialize, Serialize};
use wfops_diff::{ChangeKind, NonContentChange, WorkflowDiff};

/// More high-risk changes than this make the promotion critical.
pub const CRITICAL_HIGH_COUNT: usize = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RiskLevel {
    Low,
    Medium,
    High,
    Critical,
}

impl RiskLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
            Self::Critical => "critical",
        }
    }
}

/// One change and the level it carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RiskReason {
    pub level: RiskLevel,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Risk {
    pub level: RiskLevel,
    pub reasons: Vec<RiskReason>,
}

/// A node that starts executions: its change changes when and on what the workflow runs.
pub fn is_trigger(node_type: Option<&str>) -> bool {
    let Some(t) = node_type else { return false };
    let short = t.rsplit('.').next().unwrap_or(t);
    short.to_ascii_lowercase().ends_with("trigger")
        || matches!(
            t,
            "n8n-nodes-base.webhook"
                | "n8n-nodes-base.cron"
                | "n8n-nodes-base.interval"
                | "n8n-nodes-base.start"
        )
}

/// A node that runs code written in the workflow.
pub fn is_code(node_type: Option<&str>) -> bool {
    matches!(
        node_type,
        Some(
            "n8n-nodes-base.code"
                | "n8n-nodes-base.function"
                | "n8n-nodes-base.functionItem"
                | "@n8n/n8n-nodes-langchain.code"
        )
    )
}

fn is_http(node_type: Option<&str>) -> bool {
    matches!(
        node_type,
        Some("n8n-nodes-base.httpRequest" | "@n8n/n8n-nodes-langchain.toolHttpRequest")
    )
}

fn shown(node_type: Option<&str>) -> String {
    node_type.map(|t| format!(" ({t})")).unwrap_or_default()
}

/// The risk of a workflow the target does not hold yet.
pub fn assess_new() -> Risk {
    finish(vec![RiskReason {
        level: RiskLevel::Medium,
        reason: "the workflow is new to the target".into(),
    }])
}

/// The risk of replacing the target's version by the source's, given their diff
/// (`diff_workflows(target, source)`).
pub fn assess(diff: &WorkflowDiff) -> Risk {
    use RiskLevel::*;
    let mut reasons = Vec::new();
    let mut push = |level, reason: String| reasons.push(RiskReason { level, reason });
    for n in &diff.nodes.added {
        let ty = n.node_type.as_deref();
        if is_trigger(ty) {
            push(
                High,
                format!("trigger node {:?}{} added", n.name, shown(ty)),
            );
        } else {
            push(Medium, format!("node {:?}{} added", n.name, shown(ty)));
        }
    }
    for n in &diff.nodes.removed {
        let ty = n.node_type.as_deref();
        if is_trigger(ty) {
            push(
                High,
                format!("trigger node {:?}{} removed", n.name, shown(ty)),
            );
        } else {
            push(Medium, format!("node {:?}{} removed", n.name, shown(ty)));
        }
    }
    for m in &diff.nodes.modified {
        let ty = m.node_type.as_deref();
        let mut high = Vec::new();
        if is_trigger(ty) {
            high.push("trigger node");
        }
        if m.changes.iter().any(|c| c.path.starts_with("/credentials")) {
            high.push("credential");
        }
        if is_code(ty) && m.changes.iter().any(|c| c.path.starts_with("/parameters")) {
            high.push("code");
        }
        if is_http(ty)
            && m.changes
                .iter()
                .any(|c| c.path.starts_with("/parameters/url"))
        {
            high.push("HTTP URL");
        }
        if m.changes.iter().any(|c| c.path == "/type") {
            high.push("node type");
        }
        if m.changes.iter().any(|c| c.path == "/disabled") {
            high.push("enabled state");
        }
        if high.is_empty() {
            let paths: Vec<&str> = m.changes.iter().map(|c| c.path.as_str()).collect();
            push(
                Medium,
                format!(
                    "node {:?}{} changed: {}",
                    m.name,
                    shown(ty),
                    paths.join(", ")
                ),
            );
        } else {
            for what in high {
                push(
                    High,
                    format!("node {:?}{}: {what} changed", m.name, shown(ty)),
                );
            }
        }
    }
    for r in &diff.nodes.renamed {
        push(Low, format!("node {:?} renamed to {:?}", r.from, r.to));
    }
    if !diff.connections.is_empty() {
        push(
            Medium,
            format!(
                "connections changed ({} added, {} removed)",
                diff.connections.added.len(),
                diff.connections.removed.len()
            ),
        );
    }
    for s in &diff.settings {
        let verb = match s.kind {
            ChangeKind::Added => "added",
            ChangeKind::Removed => "removed",
            ChangeKind::Modified => "changed",
        };
        push(Medium, format!("setting {} {verb}", s.path));
    }
    if let Some(name) = &diff.name {
        push(
            Low,
            format!(
                "workflow renamed{}",
                name.new
                    .as_ref()
                    .and_then(|v| v.as_str())
                    .map(|n| format!(" to {n:?}"))
                    .unwrap_or_default()
            ),
        );
    }
    let moved = diff
        .non_content
        .iter()
        .filter(|c| matches!(c, NonContentChange::NodeMoved { .. }))
        .count();
    if moved > 0 {
        push(Low, format!("{moved} node(s) moved on the canvas"));
    }
    let other_non_content = diff.non_content.len() - moved;
    if other_non_content > 0 {
        push(
            Low,
            format!("{other_non_content} change(s) that do not alter behaviour (ids, activation, pinned data)"),
        );
    }
    finish(reasons)
}

fn finish(reasons: Vec<RiskReason>) -> Risk {
    let highs = reasons
        .iter()
        .filter(|r| r.level == RiskLevel::High)
        .count();
    let level = if highs > CRITICAL_HIGH_COUNT {
        RiskLevel::Critical
    } else {
        reasons
            .iter()
            .map(|r| r.level)
            .max()
            .unwrap_or(RiskLevel::Low)
    };
    Risk { level, reasons }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};
    use wfops_diff::diff_workflows;

    use super::*;

    fn node(name: &str, ty: &str, params: Value) -> Value {
        json!({"id": name, "name": name, "type": ty, "typeVersion": 1,
               "position": [0, 0], "parameters": params})
    }

    fn base() -> Value {
        json!({
            "name": "Orders",
            "nodes": [
                node("Hook", "n8n-nodes-base.webhook", json!({"path": "orders"})),
                node("Code", "n8n-nodes-base.code", json!({"jsCode": "return items;"})),
                node("Fetch", "n8n-nodes-base.httpRequest", json!({"url": "https://a.example/x", "timeout": 10})),
                node("Set", "n8n-nodes-base.set", json!({"value": 1})),
            ],
            "connections": {"Hook": {"main": [[{"node": "Code", "type": "main", "index": 0}]]}},
            "settings": {}
        })
    }

    fn with(f: impl FnOnce(&mut Value)) -> Value {
        let mut v = base();
        f(&mut v);
        v
    }

    fn level(new: &Value) -> Risk {
        assess(&diff_workflows(&base(), new).unwrap())
    }

    #[test]
    fn risk_table() {
        use RiskLevel::*;
        let table: Vec<(&str, Value, RiskLevel)> = vec![
            ("unchanged", base(), Low),
            (
                "moved only",
                with(|v| v["nodes"][3]["position"] = json!([100, 200])),
                Low,
            ),
            (
                "renamed workflow",
                with(|v| v["name"] = json!("Orders v2")),
                Low,
            ),
            (
                "renamed node",
                with(|v| {
                    v["nodes"][3]["name"] = json!("Set values");
                }),
                Low,
            ),
            (
                "plain parameter",
                with(|v| v["nodes"][3]["parameters"]["value"] = json!(2)),
                Medium,
            ),
            (
                "http timeout",
                with(|v| v["nodes"][2]["parameters"]["timeout"] = json!(30)),
                Medium,
            ),
            (
                "removed plain node",
                with(|v| {
                    v["nodes"].as_array_mut().unwrap().remove(3);
                }),
                Medium,
            ),
            (
                "connection changed",
                with(|v| {
                    v["connections"]["Code"] =
                        json!({"main": [[{"node": "Set", "type": "main", "index": 0}]]})
                }),
                Medium,
            ),
            (
                "setting changed",
                with(|v| v["settings"]["executionOrder"] = json!("v1")),
                Medium,
            ),
            (
                "trigger changed",
                with(|v| v["nodes"][0]["parameters"]["path"] = json!("orders2")),
                High,
            ),
            (
                "trigger added",
                with(|v| {
                    v["nodes"].as_array_mut().unwrap().push(node(
                        "Every hour",
                        "n8n-nodes-base.scheduleTrigger",
                        json!({}),
                    ))
                }),
                High,
            ),
            (
                "code changed",
                with(|v| v["nodes"][1]["parameters"]["jsCode"] = json!("return [];")),
                High,
            ),
            (
                "http url changed",
                with(|v| v["nodes"][2]["parameters"]["url"] = json!("https://b.example/x")),
                High,
            ),
            (
                "credential changed",
                with(|v| {
                    v["nodes"][3]["credentials"] =
                        json!({"slackApi": {"id": "1", "name": "Slack prod"}})
                }),
                High,
            ),
            (
                "four high changes",
                with(|v| {
                    v["nodes"][0]["parameters"]["path"] = json!("x");
                    v["nodes"][1]["parameters"]["jsCode"] = json!("return [];");
                    v["nodes"][2]["parameters"]["url"] = json!("https://b.example/x");
                    v["nodes"][3]["credentials"] = json!({"slackApi": {"id": "1", "name": "S"}});
                }),
                Critical,
            ),
        ];
        for (name, new, expected) in table {
            let risk = level(&new);
            assert_eq!(risk.level, expected, "{name}: {risk:?}");
            if expected != Low || name != "unchanged" {
                assert!(!risk.reasons.is_empty(), "{name}");
            }
        }
        assert_eq!(assess_new().level, Medium);
    }

    #[test]
    fn exactly_three_highs_is_still_high() {
        let new = with(|v| {
            v["nodes"][0]["parameters"]["path"] = json!("x");
            v["nodes"][1]["parameters"]["jsCode"] = json!("return [];");
            v["nodes"][2]["parameters"]["url"] = json!("https://b.example/x");
        });
        let risk = level(&new);
        assert_eq!(risk.level, RiskLevel::High, "{risk:?}");
    }

    #[test]
    fn trigger_and_code_types() {
        assert!(is_trigger(Some("n8n-nodes-base.scheduleTrigger")));
        assert!(is_trigger(Some("@n8n/n8n-nodes-langchain.chatTrigger")));
        assert!(is_trigger(Some("n8n-nodes-base.webhook")));
        assert!(!is_trigger(Some("n8n-nodes-base.set")));
        assert!(!is_trigger(None));
        assert!(is_code(Some("n8n-nodes-base.function")));
        assert!(!is_code(Some("n8n-nodes-base.httpRequest")));
    }
}
