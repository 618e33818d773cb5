//! Drift incidents (docs/drift.md#incidents): opening one when a check finds drift and the
//! policy asks for it, closing it when a later check finds the drift gone, the lifecycle steps
//! people take, and the TTL escalation. Every function runs in the caller's tenant
//! transaction.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use uuid::Uuid;
use wfops_db::drift::{self as db, Incident, IncidentChanges, NewIncident, Policy};
use wfops_db::Conn;
use wfops_drift::{
    Comparison, DriftCheckOutcome, EnvironmentDriftStatus, EscalationLevel, IncidentStatus,
    Severity, SeverityTtls, TransitionError,
};

use crate::error::{EngineError, Result};

/// The policy that governs an environment, with the defaults filled in for a tenant that has
/// none (docs/drift.md#policies).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EffectivePolicy {
    /// `environment`, `tenant` or `default`: where the values come from.
    pub source: String,
    pub policy_id: Option<Uuid>,
    pub severity_ttls: SeverityTtls,
    pub enforce_ttl: bool,
    pub enforce_sla: bool,
    pub auto_create_incidents: bool,
    pub auto_create_for_production_only: bool,
    pub block_on_active_drift: bool,
    pub closed_incident_retention_days: i32,
    pub reconciliation_artifact_retention_days: i32,
}

impl EffectivePolicy {
    /// The values a tenant without any policy gets: the table's defaults.
    pub fn defaults() -> Self {
        Self {
            source: "default".into(),
            policy_id: None,
            severity_ttls: SeverityTtls::default(),
            enforce_ttl: false,
            enforce_sla: false,
            auto_create_incidents: false,
            auto_create_for_production_only: false,
            block_on_active_drift: false,
            closed_incident_retention_days: 90,
            reconciliation_artifact_retention_days: 30,
        }
    }

    pub fn from_row(p: &Policy) -> Self {
        let severity_ttls = serde_json::from_value(p.severity_ttls.clone()).unwrap_or_else(|e| {
            // written only through the API, which validates it; a hand-edited row falls back
            tracing::warn!(policy = %p.id, error = %e, "unreadable severity_ttls; using the defaults");
            SeverityTtls::default()
        });
        Self {
            source: if p.environment_id.is_some() {
                "environment".into()
            } else {
                "tenant".into()
            },
            policy_id: Some(p.id),
            severity_ttls,
            enforce_ttl: p.enforce_ttl,
            enforce_sla: p.enforce_sla,
            auto_create_incidents: p.auto_create_incidents,
            auto_create_for_production_only: p.auto_create_for_production_only,
            block_on_active_drift: p.block_on_active_drift,
            closed_incident_retention_days: p.closed_incident_retention_days,
            reconciliation_artifact_retention_days: p.reconciliation_artifact_retention_days,
        }
    }

    /// Whether drift found in an environment opens an incident.
    pub fn opens_incidents(&self, is_production: bool) -> bool {
        self.auto_create_incidents && (is_production || !self.auto_create_for_production_only)
    }

    pub fn ttl(&self, severity: Severity) -> Duration {
        Duration::hours(i64::from(self.severity_ttls.hours(severity)))
    }
}

/// The policy of `environment_id`: its own, else the tenant's, else the defaults.
pub async fn effective_policy(conn: &mut Conn, environment_id: Uuid) -> Result<EffectivePolicy> {
    Ok(db::effective_policy(conn, environment_id)
        .await?
        .as_ref()
        .map(EffectivePolicy::from_row)
        .unwrap_or_else(EffectivePolicy::defaults))
}

/// What a check did to the environment's incident.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum IncidentDecision {
    /// No open incident and none opened (no drift, or the policy does not open one).
    None { why: String },
    /// A new incident was opened.
    Created { severity: Severity },
    /// The open incident stays open (drift persists, or the check could not tell).
    KeptOpen,
    /// The drift is gone: the open incident was closed.
    AutoClosed,
}

/// The decision and the incident state the environment's status follows.
#[derive(Debug, Clone, PartialEq)]
pub struct Decided {
    pub decision: IncidentDecision,
    /// The incident the decision is about.
    pub incident_id: Option<Uuid>,
    /// The open incident after the decision, for the environment's status.
    pub open_status: Option<IncidentStatus>,
    pub open_incident_id: Option<Uuid>,
}

/// Opens, keeps or closes the environment's incident after a check (docs/drift.md#incidents).
#[allow(clippy::too_many_arguments)]
pub async fn decide_after_check(
    conn: &mut Conn,
    tenant_id: Uuid,
    environment_id: Uuid,
    env_name: &str,
    is_production: bool,
    outcome: &DriftCheckOutcome,
    comparison: &Comparison,
    now: DateTime<Utc>,
) -> Result<Decided> {
    let open = db::open_incident_for_update(conn, environment_id).await?;
    if let Some(incident) = open {
        return match outcome {
            DriftCheckOutcome::Checked { .. } if !outcome.has_drift() => {
                close(
                    conn,
                    &incident,
                    None,
                    json!({"closed_by": "drift_check", "reason": "a drift check found no drift"}),
                    now,
                )
                .await?;
                Ok(Decided {
                    decision: IncidentDecision::AutoClosed,
                    incident_id: Some(incident.id),
                    open_status: None,
                    open_incident_id: None,
                })
            }
            _ => {
                // keep the latest counts beside the immutable snapshot
                let mut summary = incident.summary.clone().unwrap_or_else(|| json!({}));
                if let (Some(obj), DriftCheckOutcome::Checked { .. }) =
                    (summary.as_object_mut(), outcome)
                {
                    obj.insert(
                        "latest_check".into(),
                        json!({
                            "at": now,
                            "with_drift": comparison.with_drift,
                            "not_in_git": comparison.not_in_git,
                            "missing_in_runtime": comparison.missing_in_runtime,
                            "affected": outcome.affected_count(),
                        }),
                    );
                    db::update_incident(
                        conn,
                        incident.id,
                        &IncidentChanges {
                            summary: Some(Some(summary)),
                            ..Default::default()
                        },
                    )
                    .await?;
                }
                Ok(Decided {
                    decision: IncidentDecision::KeptOpen,
                    incident_id: Some(incident.id),
                    open_status: Some(incident.status),
                    open_incident_id: Some(incident.id),
                })
            }
        };
    }
    let none = |why: &str| Decided {
        decision: IncidentDecision::None { why: why.into() },
        incident_id: None,
        open_status: None,
        open_incident_id: None,
    };
    if !outcome.has_drift() {
        return Ok(none("no drift"));
    }
    let policy = effective_policy(conn, environment_id).await?;
    if !policy.auto_create_incidents {
        return Ok(none("the drift policy does not open incidents"));
    }
    if !policy.opens_incidents(is_production) {
        return Ok(none(
            "the drift policy opens incidents for production environments only",
        ));
    }
    let affected = outcome.affected_count();
    let severity = Severity::for_affected(affected);
    let title = format!(
        "Drift in {env_name}: {affected} workflow{} differ{} from Git",
        if affected == 1 { "" } else { "s" },
        if affected == 1 { "s" } else { "" }
    );
    let affected_list = serde_json::to_value(&comparison.affected)
        .map_err(|e| EngineError::Internal(format!("affected workflows: {e}")))?;
    let counts = json!({
        "runtime_workflows": comparison.runtime_workflows,
        "git_workflows": comparison.git_workflows,
        "with_drift": comparison.with_drift,
        "not_in_git": comparison.not_in_git,
        "missing_in_runtime": comparison.missing_in_runtime,
        "untracked": comparison.untracked,
        "affected": affected,
    });
    let snapshot = json!({
        "environment_id": environment_id,
        "detected_at": now,
        "workflows_affected": affected_list,
        "change_summary": counts,
        "severity": severity.as_str(),
        "policy": policy,
    });
    let inserted = db::insert_incident(
        conn,
        &NewIncident {
            tenant_id,
            environment_id,
            title: &title,
            summary: Some(json!({"counts": counts})),
            severity: severity.as_str(),
            detected_at: now,
            expires_at: Some(now + policy.ttl(severity)),
            affected_workflows: affected_list,
            drift_snapshot: Some(snapshot),
        },
    )
    .await?;
    match inserted {
        Some(incident) => {
            notify_incident(conn, &incident, IncidentEvent::Created).await?;
            Ok(Decided {
                decision: IncidentDecision::Created { severity },
                incident_id: Some(incident.id),
                open_status: Some(incident.status),
                open_incident_id: Some(incident.id),
            })
        }
        // another transaction opened one first (the lock above only covers existing rows)
        None => {
            let open = db::open_incident_for_update(conn, environment_id).await?;
            Ok(Decided {
                decision: IncidentDecision::KeptOpen,
                incident_id: open.as_ref().map(|i| i.id),
                open_status: open.as_ref().map(|i| i.status),
                open_incident_id: open.as_ref().map(|i| i.id),
            })
        }
    }
}

/// What a notification says about an incident (docs/notifications.md).
async fn notify_incident(conn: &mut Conn, incident: &Incident, event: IncidentEvent) -> Result<()> {
    let environment_name = match wfops_db::environments::get(conn, incident.environment_id).await {
        Ok(env) => env.name,
        Err(wfops_db::Error::NotFound) => incident.environment_id.to_string(),
        Err(e) => return Err(e.into()),
    };
    let info = wfops_notify::event::IncidentInfo {
        incident_id: incident.id,
        environment_id: incident.environment_id,
        environment_name,
        severity: incident.severity.as_str().to_string(),
        title: incident.title.clone(),
        affected_workflows: incident
            .affected_workflows
            .as_array()
            .map_or(0, |a| u32::try_from(a.len()).unwrap_or(u32::MAX)),
    };
    let event = match event {
        IncidentEvent::Created => wfops_notify::Event::IncidentCreated(info),
        IncidentEvent::Escalated(threshold_percent) => wfops_notify::Event::IncidentEscalated {
            incident: info,
            threshold_percent,
        },
        IncidentEvent::Closed(resolution) => wfops_notify::Event::IncidentClosed {
            incident: info,
            resolution,
        },
    };
    crate::notify::emit(conn, incident.tenant_id, &event).await?;
    Ok(())
}

/// The moments of an incident that its tenant's channels hear about.
enum IncidentEvent {
    Created,
    /// The share of the TTL passed (25 or 75).
    Escalated(u8),
    /// How it ended.
    Closed(String),
}

async fn close(
    conn: &mut Conn,
    incident: &Incident,
    actor: Option<Uuid>,
    details: Value,
    now: DateTime<Utc>,
) -> Result<Incident> {
    let closed = db::update_incident(
        conn,
        incident.id,
        &IncidentChanges {
            status: Some(IncidentStatus::Closed.as_str().into()),
            closed_at: Some(Some(now)),
            closed_by: Some(actor),
            resolution_details: Some(Some(merge(incident.resolution_details.clone(), details))),
            ..Default::default()
        },
    )
    .await?;
    notify_incident(conn, &closed, IncidentEvent::Closed("drift gone".into())).await?;
    Ok(closed)
}

fn merge(existing: Option<Value>, add: Value) -> Value {
    match (existing, add) {
        (Some(Value::Object(mut a)), Value::Object(b)) => {
            for (k, v) in b {
                a.insert(k, v);
            }
            Value::Object(a)
        }
        (_, add) => add,
    }
}

// ---------------------------------------------------------------------------------------------
// Lifecycle steps
// ---------------------------------------------------------------------------------------------

/// A step a person takes on an incident.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Acknowledge {
        note: Option<String>,
    },
    Stabilize {
        reason: String,
        owner_user_id: Option<Uuid>,
        ticket_ref: Option<String>,
    },
    Close {
        reason: Option<String>,
    },
    /// Moves the expiry later by `hours` (from the current expiry, or from now when it has
    /// passed).
    ExtendTtl {
        hours: u32,
    },
    /// An admin's severity; the expiry follows the policy's TTL for it from detection.
    SetSeverity {
        severity: Severity,
    },
    /// Recorded by a reconciliation whose follow-up check found the drift gone.
    Reconciled {
        resolution_type: String,
        details: Value,
    },
}

impl Action {
    /// The status the step moves the incident to; `None`: it stays where it is.
    pub fn target(&self) -> Option<IncidentStatus> {
        match self {
            Action::Acknowledge { .. } => Some(IncidentStatus::Acknowledged),
            Action::Stabilize { .. } => Some(IncidentStatus::Stabilized),
            Action::Close { .. } => Some(IncidentStatus::Closed),
            Action::Reconciled { .. } => Some(IncidentStatus::Reconciled),
            Action::ExtendTtl { .. } | Action::SetSeverity { .. } => None,
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Action::Acknowledge { .. } => "acknowledge",
            Action::Stabilize { .. } => "stabilize",
            Action::Close { .. } => "close",
            Action::ExtendTtl { .. } => "extend_ttl",
            Action::SetSeverity { .. } => "set_severity",
            Action::Reconciled { .. } => "reconcile",
        }
    }
}

/// Why a step was refused.
#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    #[error("drift incident {0} not found")]
    NotFound(Uuid),
    #[error(transparent)]
    Transition(#[from] TransitionError),
    #[error(transparent)]
    Engine(#[from] EngineError),
}

impl From<wfops_db::Error> for LifecycleError {
    fn from(e: wfops_db::Error) -> Self {
        LifecycleError::Engine(EngineError::Db(e))
    }
}

/// Applies `action` to incident `incident_id` for `actor` (a user id, `None` for an API key or
/// the system), then brings the environment's status in line. `force` (an admin's override)
/// allows any move out of an open state; nothing leaves a final one.
pub async fn apply(
    conn: &mut Conn,
    incident_id: Uuid,
    action: &Action,
    actor: Option<Uuid>,
    force: bool,
    now: DateTime<Utc>,
) -> std::result::Result<Incident, LifecycleError> {
    let incident = match db::get_incident_for_update(conn, incident_id).await {
        Ok(i) => i,
        Err(wfops_db::Error::NotFound) => return Err(LifecycleError::NotFound(incident_id)),
        Err(e) => return Err(e.into()),
    };
    let mut c = IncidentChanges::default();
    match action.target() {
        Some(to) => {
            incident.status.transition(to, force)?;
            c.status = Some(to.as_str().into());
        }
        // changes that keep the status still need an open incident
        None if !incident.status.is_open() => {
            return Err(TransitionError::Final(incident.status).into())
        }
        None => {}
    }
    match action {
        Action::Acknowledge { note } => {
            c.acknowledged_at = Some(Some(now));
            c.acknowledged_by = Some(actor);
            if let Some(note) = note {
                c.reason = Some(Some(note.clone()));
            }
        }
        Action::Stabilize {
            reason,
            owner_user_id,
            ticket_ref,
        } => {
            c.stabilized_at = Some(Some(now));
            c.stabilized_by = Some(actor);
            c.reason = Some(Some(reason.clone()));
            if owner_user_id.is_some() {
                c.owner_user_id = Some(*owner_user_id);
            }
            if ticket_ref.is_some() {
                c.ticket_ref = Some(ticket_ref.clone());
            }
        }
        Action::Close { reason } => {
            c.closed_at = Some(Some(now));
            c.closed_by = Some(actor);
            c.resolution_details = Some(Some(merge(
                incident.resolution_details.clone(),
                json!({"closed_by": "user", "reason": reason, "forced": force}),
            )));
            if incident.resolution_type.is_none() {
                c.resolution_type = Some(Some("acknowledge".into()));
            }
        }
        Action::ExtendTtl { hours } => {
            let from = incident.expires_at.filter(|e| *e > now).unwrap_or(now);
            c.expires_at = Some(Some(from + Duration::hours(i64::from(*hours))));
        }
        Action::SetSeverity { severity } => {
            let policy = effective_policy(conn, incident.environment_id).await?;
            c.severity = Some(severity.as_str().into());
            c.expires_at = Some(Some(incident.detected_at + policy.ttl(*severity)));
            let mut summary = incident.summary.clone().unwrap_or_else(|| json!({}));
            if let Some(obj) = summary.as_object_mut() {
                obj.insert(
                    "severity_override".into(),
                    json!({"from": incident.severity.as_str(), "to": severity.as_str(),
                           "by": actor, "at": now}),
                );
            }
            c.summary = Some(Some(summary));
        }
        Action::Reconciled {
            resolution_type,
            details,
        } => {
            c.reconciled_at = Some(Some(now));
            c.reconciled_by = Some(actor);
            c.resolution_type = Some(Some(resolution_type.clone()));
            c.resolution_details = Some(Some(merge(
                incident.resolution_details.clone(),
                details.clone(),
            )));
        }
    }
    let updated = db::update_incident(conn, incident_id, &c).await?;
    refresh_environment(conn, updated.environment_id).await?;
    if incident.status.is_open() && updated.status == IncidentStatus::Closed {
        let resolution = updated
            .resolution_type
            .clone()
            .unwrap_or_else(|| "closed".into());
        notify_incident(conn, &updated, IncidentEvent::Closed(resolution)).await?;
    }
    Ok(updated)
}

/// Sets the environment's status from its open incident, or, without one, from what its
/// last check found.
pub async fn refresh_environment(conn: &mut Conn, environment_id: Uuid) -> Result<()> {
    let open = db::open_incident_for_update(conn, environment_id).await?;
    let status = match &open {
        Some(i) if i.status == IncidentStatus::Detected => {
            EnvironmentDriftStatus::DriftIncidentActive
        }
        Some(_) => EnvironmentDriftStatus::DriftIncidentAcknowledged,
        None => {
            let cols = db::environment_drift_columns(conn, environment_id).await?;
            cols.drift_summary
                .as_ref()
                .and_then(|s| s.get("check_status"))
                .and_then(Value::as_str)
                .and_then(|s| s.parse().ok())
                .unwrap_or(EnvironmentDriftStatus::Unknown)
        }
    };
    db::set_environment_incident_status(conn, environment_id, status, open.map(|i| i.id)).await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// TTL escalation
// ---------------------------------------------------------------------------------------------

/// One incident whose escalation rose.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Escalated {
    pub incident_id: Uuid,
    pub environment_id: Uuid,
    pub from: EscalationLevel,
    pub to: EscalationLevel,
}

/// Raises the escalation of every open incident of the bound tenant that has reached 25% or
/// 75% of its TTL (detection to expiry). Escalation never falls and never closes an incident:
/// an overdue incident stays open, and visible, until someone acts or the drift is gone.
pub async fn escalate_due(conn: &mut Conn, now: DateTime<Utc>) -> Result<Vec<Escalated>> {
    let mut out = Vec::new();
    for incident in db::open_incidents_with_expiry(conn).await? {
        let Some(expires_at) = incident.expires_at else {
            continue;
        };
        let ttl = (expires_at - incident.detected_at).num_seconds();
        let elapsed = (now - incident.detected_at).num_seconds();
        let reached = EscalationLevel::reached(elapsed, ttl);
        let Some(to) = incident.escalation_level.next(reached) else {
            continue;
        };
        let mut summary = incident.summary.clone().unwrap_or_else(|| json!({}));
        if let Some(obj) = summary.as_object_mut() {
            obj.insert(format!("{}_at", to.as_str()), json!(now));
        }
        let escalated = db::update_incident(
            conn,
            incident.id,
            &IncidentChanges {
                escalation_level: Some(to.as_str().into()),
                summary: Some(Some(summary)),
                ..Default::default()
            },
        )
        .await?;
        let threshold = if to == EscalationLevel::CriticalOverdue {
            75
        } else {
            25
        };
        notify_incident(conn, &escalated, IncidentEvent::Escalated(threshold)).await?;
        out.push(Escalated {
            incident_id: incident.id,
            environment_id: incident.environment_id,
            from: incident.escalation_level,
            to,
        });
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Retention
// ---------------------------------------------------------------------------------------------

/// Purges the snapshot and affected-workflow list of final incidents of the bound tenant
/// closed longer ago than their policy's `closed_incident_retention_days` (each environment
/// with its own policy by its own retention, the rest by the tenant's, else 90 days), and
/// stamps `payload_purged_at`. Open incidents are never touched. Returns the ids purged.
pub async fn purge_closed_payloads(conn: &mut Conn, now: DateTime<Utc>) -> Result<Vec<Uuid>> {
    let policies = db::list_policies(conn).await?;
    let tenant_days = policies
        .iter()
        .find(|p| p.environment_id.is_none())
        .map(|p| p.closed_incident_retention_days)
        .unwrap_or_else(|| EffectivePolicy::defaults().closed_incident_retention_days);
    let own: Vec<(Uuid, i32)> = policies
        .iter()
        .filter_map(|p| {
            p.environment_id
                .map(|e| (e, p.closed_incident_retention_days))
        })
        .collect();
    let mut purged = Vec::new();
    for (env, days) in &own {
        purged.extend(
            db::purge_closed_payloads(
                conn,
                Some(std::slice::from_ref(env)),
                &[],
                now - Duration::days(i64::from(*days)),
            )
            .await?,
        );
    }
    let with_own: Vec<Uuid> = own.iter().map(|(e, _)| *e).collect();
    purged.extend(
        db::purge_closed_payloads(
            conn,
            None,
            &with_own,
            now - Duration::days(i64::from(tenant_days)),
        )
        .await?,
    );
    Ok(purged)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn production_only_policies() {
        let mut p = EffectivePolicy::defaults();
        assert!(!p.opens_incidents(true), "off by default");
        p.auto_create_incidents = true;
        assert!(p.opens_incidents(true) && p.opens_incidents(false));
        p.auto_create_for_production_only = true;
        assert!(p.opens_incidents(true));
        assert!(!p.opens_incidents(false));
        assert_eq!(p.ttl(Severity::Low), Duration::hours(168));
    }

    #[test]
    fn actions_name_their_target() {
        assert_eq!(
            Action::Acknowledge { note: None }.target(),
            Some(IncidentStatus::Acknowledged)
        );
        assert_eq!(Action::ExtendTtl { hours: 1 }.target(), None);
        assert_eq!(
            merge(Some(json!({"a": 1})), json!({"b": 2})),
            json!({"a": 1, "b": 2})
        );
    }
}
