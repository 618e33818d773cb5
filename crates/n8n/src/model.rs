use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::error::ProviderError;

/// One page of a cursor-paginated list. `next_cursor` is opaque: hand it back unchanged.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// A workflow as the provider returned it.
///
/// The raw document is kept whole because normalization and hashing (crates/diff) work on
/// exactly what the provider sent; the accessors only read the few fields a sync needs.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteWorkflow {
    id: String,
    raw: Value,
}

impl RemoteWorkflow {
    /// Wraps a provider document; it must be an object with a non-empty string `id`.
    pub fn from_value(raw: Value) -> Result<Self, ProviderError> {
        let id = match raw.get("id") {
            Some(Value::String(id)) if !id.is_empty() => id.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ if !raw.is_object() => {
                return Err(ProviderError::Decode {
                    message: "a workflow is not a JSON object".into(),
                })
            }
            _ => {
                return Err(ProviderError::Decode {
                    message: "a workflow has no string `id`".into(),
                })
            }
        };
        Ok(Self { id, raw })
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn name(&self) -> Option<&str> {
        self.raw.get("name").and_then(Value::as_str)
    }

    pub fn active(&self) -> bool {
        self.raw
            .get("active")
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }

    /// `updatedAt` exactly as sent, for comparisons that must not depend on parsing.
    pub fn updated_at_raw(&self) -> Option<&str> {
        self.raw.get("updatedAt").and_then(Value::as_str)
    }

    /// `updatedAt` parsed; `None` when missing or not RFC 3339, so that callers treat the
    /// workflow as "changed" rather than trusting a timestamp they could not read.
    pub fn updated_at(&self) -> Option<DateTime<Utc>> {
        self.updated_at_raw()
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            .map(|d| d.with_timezone(&Utc))
    }

    pub fn version_id(&self) -> Option<&str> {
        self.raw.get("versionId").and_then(Value::as_str)
    }

    pub fn raw(&self) -> &Value {
        &self.raw
    }

    pub fn into_raw(self) -> Value {
        self.raw
    }
}

/// An execution as the provider returned it (`includeData` adds the run data to the raw).
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteExecution {
    id: String,
    raw: Value,
}

impl RemoteExecution {
    /// n8n 1.x sends execution ids as strings ("3"), older releases as numbers; both are kept
    /// as the string form.
    pub fn from_value(raw: Value) -> Result<Self, ProviderError> {
        let id = match raw.get("id") {
            Some(Value::String(id)) if !id.is_empty() => id.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => {
                return Err(ProviderError::Decode {
                    message: "an execution has no `id`".into(),
                })
            }
        };
        Ok(Self { id, raw })
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn workflow_id(&self) -> Option<&str> {
        self.raw.get("workflowId").and_then(Value::as_str)
    }

    pub fn status(&self) -> Option<&str> {
        self.raw.get("status").and_then(Value::as_str)
    }

    pub fn mode(&self) -> Option<&str> {
        self.raw.get("mode").and_then(Value::as_str)
    }

    pub fn finished(&self) -> bool {
        self.raw
            .get("finished")
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }

    pub fn started_at(&self) -> Option<DateTime<Utc>> {
        parse_time(self.raw.get("startedAt"))
    }

    pub fn stopped_at(&self) -> Option<DateTime<Utc>> {
        parse_time(self.raw.get("stoppedAt"))
    }

    pub fn raw(&self) -> &Value {
        &self.raw
    }

    pub fn into_raw(self) -> Value {
        self.raw
    }
}

fn parse_time(v: Option<&Value>) -> Option<DateTime<Utc>> {
    v.and_then(Value::as_str)
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|d| d.with_timezone(&Utc))
}

/// Filters of `GET /workflows`. Unset fields are not sent.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ListWorkflows {
    /// 1..=250; the client's configured page size when `None`.
    pub limit: Option<u16>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Substring of the name (n8n: `LIKE %name%` on the trimmed value).
    pub name: Option<String>,
    pub active: Option<bool>,
    /// Tag names; a workflow matches when it has any of them.
    pub tags: Vec<String>,
    pub project_id: Option<String>,
    /// Leave out `pinData`, which can be large and is not workflow content.
    pub exclude_pinned_data: bool,
}

/// Execution statuses `GET /executions?status=` accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecutionStatus {
    Canceled,
    Error,
    Running,
    Success,
    Waiting,
}

impl ExecutionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Canceled => "canceled",
            Self::Error => "error",
            Self::Running => "running",
            Self::Success => "success",
            Self::Waiting => "waiting",
        }
    }
}

/// Filters of `GET /executions`. Unset fields are not sent.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ListExecutions {
    pub limit: Option<u16>,
    pub cursor: Option<String>,
    pub workflow_id: Option<String>,
    pub status: Option<ExecutionStatus>,
    pub project_id: Option<String>,
    /// Include the full run data of each execution (large).
    pub include_data: bool,
}

/// The result of a successful health probe.
#[derive(Debug, Clone, PartialEq)]
pub struct Health {
    /// Round trip of the probe, queueing for a concurrency permit included.
    pub latency: Duration,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn remote_workflow_reads_sync_fields() {
        let w = RemoteWorkflow::from_value(json!({
            "id": "abc", "name": "N", "active": true, "versionId": "v1",
            "updatedAt": "2024-05-01T10:00:00.123Z"
        }))
        .expect("valid");
        assert_eq!(w.id(), "abc");
        assert_eq!(w.name(), Some("N"));
        assert!(w.active());
        assert_eq!(w.version_id(), Some("v1"));
        assert_eq!(w.updated_at_raw(), Some("2024-05-01T10:00:00.123Z"));
        assert_eq!(
            w.updated_at().map(|d| d.timestamp_millis()),
            Some(1_714_557_600_123)
        );
    }

    #[test]
    fn remote_workflow_tolerates_missing_optional_fields_but_not_a_missing_id() {
        let w = RemoteWorkflow::from_value(json!({"id": "x", "updatedAt": "yesterday"}))
            .expect("valid");
        assert_eq!(w.updated_at(), None);
        assert!(!w.active());
        for bad in [
            json!({"name": "n"}),
            json!({"id": ""}),
            json!([1]),
            json!({"id": null}),
        ] {
            let err = RemoteWorkflow::from_value(bad.clone()).expect_err("invalid");
            assert!(
                matches!(err, ProviderError::Decode { .. }),
                "{bad}: {err:?}"
            );
        }
    }

    #[test]
    fn execution_ids_are_strings_whatever_n8n_sent() {
        let a =
            RemoteExecution::from_value(json!({"id": "3", "status": "success", "finished": true}))
                .expect("ok");
        let b = RemoteExecution::from_value(
            json!({"id": 3, "workflowId": "w", "startedAt": "2024-01-01T00:00:00Z"}),
        )
        .expect("ok");
        assert_eq!(a.id(), "3");
        assert_eq!(b.id(), "3");
        assert_eq!(a.status(), Some("success"));
        assert!(a.finished());
        assert_eq!(b.workflow_id(), Some("w"));
        assert!(b.started_at().is_some());
        assert!(RemoteExecution::from_value(json!({"status": "x"})).is_err());
    }
}
