//! The pre-flight gates of a promotion (docs/promotion.md#gates): given what the database knows
//! about each selected workflow and about drift in the target, one verdict per gate.
//!
//! A gate has `passed` (nothing trips it) and `blocking` (it stops the promotion). A gate that
//! is tripped but allowed by its flag is a warning: `passed = false, blocking = false`.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use wfops_diff::DiffStatus;

use crate::pipeline::Gates;

/// The gates, in the order they are reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GateKind {
    RequireCleanDrift,
    TargetHotfix,
    Conflicts,
    Credentials,
    Placeholders,
    SubworkflowReferences,
}

impl GateKind {
    pub const ALL: [GateKind; 6] = [
        Self::RequireCleanDrift,
        Self::TargetHotfix,
        Self::Conflicts,
        Self::Credentials,
        Self::Placeholders,
        Self::SubworkflowReferences,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::RequireCleanDrift => "require_clean_drift",
            Self::TargetHotfix => "target_hotfix",
            Self::Conflicts => "conflicts",
            Self::Credentials => "credentials",
            Self::Placeholders => "placeholders",
            Self::SubworkflowReferences => "subworkflow_references",
        }
    }

    /// The stage flag that governs the gate; `None` for the gates that always block.
    pub fn flag(self) -> Option<&'static str> {
        match self {
            Self::RequireCleanDrift => Some("requireCleanDrift"),
            Self::TargetHotfix => Some("allowOverwritingHotfixes"),
            Self::Conflicts => Some("allowForcePromotionOnConflicts"),
            Self::Credentials => Some("allowPlaceholderCredentials"),
            Self::Placeholders | Self::SubworkflowReferences => None,
        }
    }
}

/// A workflow that trips a gate, with what trips it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GateWorkflow {
    pub canonical_id: Uuid,
    pub name: String,
    pub details: Vec<String>,
}

/// One gate's verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GateResult {
    pub gate: GateKind,
    /// The stage flag that governs the gate (`null` for gates that always block).
    pub flag: Option<String>,
    /// Nothing trips the gate.
    pub passed: bool,
    /// The gate stops the promotion.
    pub blocking: bool,
    pub message: String,
    pub workflows: Vec<GateWorkflow>,
}

/// A credential used by a workflow that has no mapping into the target.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct UnmappedCredential {
    pub node: String,
    pub credential_type: String,
    pub id: Option<String>,
    pub name: Option<String>,
}

/// A sub-workflow call the target can not resolve.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct UnresolvedReference {
    pub node: String,
    /// The called workflow's id in the source instance.
    pub workflow_id: String,
    /// The canonical workflow it is known as, when the source knows it.
    pub canonical_id: Option<Uuid>,
}

/// What the pre-flight knows of one selected workflow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkflowCheck {
    pub canonical_id: Uuid,
    pub name: String,
    /// The reconciled status of promoting it into the target; `None` when reconciliation has
    /// not computed the pair yet (it trips neither the hotfix nor the conflict gate).
    pub diff_status: Option<DiffStatus>,
    pub unmapped_credentials: Vec<UnmappedCredential>,
    /// `{{env.NAME}}` names the target has no variable for.
    pub unresolved_placeholders: BTreeSet<String>,
    pub unresolved_references: Vec<UnresolvedReference>,
}

/// How an environment wants drift handled when something is promoted into it
/// (`environments.drift_handling_mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum DriftHandlingMode {
    #[default]
    WarnOnly,
    ManualOverride,
    RequireAttestation,
}

impl DriftHandlingMode {
    pub const ALL: [DriftHandlingMode; 3] = [
        Self::WarnOnly,
        Self::ManualOverride,
        Self::RequireAttestation,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::WarnOnly => "warn_only",
            Self::ManualOverride => "manual_override",
            Self::RequireAttestation => "require_attestation",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == value)
    }
}

/// The drift policy in force for the target (its own, else the tenant's, else the defaults).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DriftPolicy {
    /// Any open incident blocks promotions into the environment.
    pub block_on_active_drift: bool,
    /// An open incident past its `expires_at` blocks promotions, whatever else says.
    pub enforce_ttl: bool,
}

/// An open drift incident of the target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenIncident {
    pub id: Uuid,
    pub status: String,
    pub severity: String,
    pub title: String,
    pub detected_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// Everything the drift gate reads about the target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DriftInputs {
    pub mode: DriftHandlingMode,
    pub policy: DriftPolicy,
    /// The environment's own drift status says drift was detected (with or without incident).
    pub drift_detected: bool,
    pub incidents: Vec<OpenIncident>,
}

/// What the person promoting says about drift (only read when the mode asks for it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DriftAck<'a> {
    pub override_reason: Option<&'a str>,
    pub attestation: Option<&'a str>,
}

/// What lifts a drift block, when something can.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DriftRelief {
    /// `drift_override_reason` (mode `manual_override`).
    OverrideReason,
    /// `drift_attestation` (mode `require_attestation`).
    Attestation,
}

/// The drift gate's reasoning, shown whole by `GET /promotions/drift-check/{env_id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DriftVerdict {
    /// Drift is present in the target (an open incident, or detected drift).
    pub drift_present: bool,
    pub blocked: bool,
    /// Promotions would be blocked without an override or attestation.
    pub blocked_without_relief: bool,
    /// What would lift the block (`null`: nothing but resolving the drift).
    pub relief: Option<DriftRelief>,
    /// The relief given with the request was used.
    pub relief_applied: bool,
    pub mode: DriftHandlingMode,
    pub policy: DriftPolicy,
    pub require_clean_drift: bool,
    /// Open incidents past their expiry.
    pub expired_incident_ids: Vec<Uuid>,
    pub incidents: Vec<OpenIncident>,
    pub reasons: Vec<String>,
}

fn given(text: Option<&str>) -> bool {
    text.is_some_and(|t| !t.trim().is_empty())
}

/// The drift rule (docs/decisions/drift-gate.md):
///
/// 1. No drift: passes.
/// 2. `enforce_ttl` and an open incident past `expires_at`: blocks, and nothing but resolving
///    the incident lifts it.
/// 3. Otherwise the mode decides. `warn_only`: blocks when `requireCleanDrift` or the policy's
///    `block_on_active_drift` asks for it (no override), else warns. `manual_override`: blocks
///    unless an override reason is given. `require_attestation`: blocks unless an attestation
///    is given. A given reason or attestation lifts the flag's and the policy's block too: the
///    environment's mode is the owner's explicit choice of how drift is waived.
pub fn drift_verdict(
    gates: &Gates,
    inputs: &DriftInputs,
    ack: &DriftAck<'_>,
    now: DateTime<Utc>,
) -> DriftVerdict {
    let drift_present = inputs.drift_detected || !inputs.incidents.is_empty();
    let expired: Vec<Uuid> = if inputs.policy.enforce_ttl {
        inputs
            .incidents
            .iter()
            .filter(|i| i.expires_at.is_some_and(|e| e <= now))
            .map(|i| i.id)
            .collect()
    } else {
        Vec::new()
    };
    let mut reasons = Vec::new();
    for i in &inputs.incidents {
        reasons.push(format!(
            "open drift incident {} ({}, {}){}",
            i.id,
            i.status,
            i.severity,
            i.expires_at
                .map(|e| format!(", expires {}", e.to_rfc3339()))
                .unwrap_or_default()
        ));
    }
    if inputs.drift_detected && inputs.incidents.is_empty() {
        reasons.push("drift detected in the environment (no incident opened)".into());
    }
    let (blocked_without_relief, relief) = if !drift_present {
        (false, None)
    } else if !expired.is_empty() {
        reasons.push(format!(
            "the drift policy enforces incident TTLs and {} incident(s) expired",
            expired.len()
        ));
        (true, None)
    } else {
        match inputs.mode {
            DriftHandlingMode::WarnOnly => {
                if gates.require_clean_drift {
                    reasons.push("the stage requires clean drift (requireCleanDrift)".into());
                }
                if inputs.policy.block_on_active_drift {
                    reasons.push("the drift policy blocks on active drift".into());
                }
                (
                    gates.require_clean_drift || inputs.policy.block_on_active_drift,
                    None,
                )
            }
            DriftHandlingMode::ManualOverride => {
                reasons.push("the environment requires a manual override of drift".into());
                (true, Some(DriftRelief::OverrideReason))
            }
            DriftHandlingMode::RequireAttestation => {
                reasons.push("the environment requires an attestation of drift".into());
                (true, Some(DriftRelief::Attestation))
            }
        }
    };
    let relief_applied = blocked_without_relief
        && match relief {
            Some(DriftRelief::OverrideReason) => given(ack.override_reason),
            Some(DriftRelief::Attestation) => given(ack.attestation),
            None => false,
        };
    DriftVerdict {
        drift_present,
        blocked: blocked_without_relief && !relief_applied,
        blocked_without_relief,
        relief,
        relief_applied,
        mode: inputs.mode,
        policy: inputs.policy,
        require_clean_drift: gates.require_clean_drift,
        expired_incident_ids: expired,
        incidents: inputs.incidents.clone(),
        reasons,
    }
}

fn drift_gate(v: &DriftVerdict) -> GateResult {
    let message = if !v.drift_present {
        "no drift in the target".to_string()
    } else if v.blocked {
        let hint = match v.relief {
            Some(DriftRelief::OverrideReason) => "; give drift_override_reason to proceed",
            Some(DriftRelief::Attestation) => "; give drift_attestation to proceed",
            None => "; resolve the drift first",
        };
        format!("drift blocks the promotion: {}{hint}", v.reasons.join("; "))
    } else if v.relief_applied {
        format!(
            "drift present, waived by {}: {}",
            match v.relief {
                Some(DriftRelief::Attestation) => "attestation",
                _ => "override",
            },
            v.reasons.join("; ")
        )
    } else {
        format!("drift present (warning only): {}", v.reasons.join("; "))
    };
    result(
        GateKind::RequireCleanDrift,
        !v.drift_present,
        v.blocked,
        message,
        Vec::new(),
    )
}

fn result(
    gate: GateKind,
    passed: bool,
    blocking: bool,
    message: String,
    workflows: Vec<GateWorkflow>,
) -> GateResult {
    GateResult {
        gate,
        flag: gate.flag().map(str::to_string),
        passed,
        blocking,
        message,
        workflows,
    }
}

/// A gate over the selected workflows: `trips` lists what trips it in one workflow.
fn workflow_gate(
    gate: GateKind,
    checks: &[WorkflowCheck],
    allowed: bool,
    trips: impl Fn(&WorkflowCheck) -> Vec<String>,
    what: &str,
) -> GateResult {
    let workflows: Vec<GateWorkflow> = checks
        .iter()
        .filter_map(|c| {
            let details = trips(c);
            (!details.is_empty()).then(|| GateWorkflow {
                canonical_id: c.canonical_id,
                name: c.name.clone(),
                details,
            })
        })
        .collect();
    let passed = workflows.is_empty();
    let blocking = !passed && !allowed;
    let message = if passed {
        format!("no {what}")
    } else if blocking {
        format!("{} workflow(s) with {what}", workflows.len())
    } else {
        format!(
            "{} workflow(s) with {what}, allowed by {}",
            workflows.len(),
            gate.flag().unwrap_or("the stage")
        )
    };
    result(gate, passed, blocking, message, workflows)
}

/// Every gate's verdict, in [`GateKind::ALL`] order.
pub fn evaluate(gates: &Gates, checks: &[WorkflowCheck], drift: &DriftVerdict) -> Vec<GateResult> {
    let status_is = |s: DiffStatus| {
        move |c: &WorkflowCheck| {
            if c.diff_status == Some(s) {
                vec![format!("diff status {}", s.as_str())]
            } else {
                Vec::new()
            }
        }
    };
    vec![
        drift_gate(drift),
        workflow_gate(
            GateKind::TargetHotfix,
            checks,
            gates.allow_overwriting_hotfixes,
            status_is(DiffStatus::TargetHotfix),
            "a hotfix in the target that the promotion would overwrite",
        ),
        workflow_gate(
            GateKind::Conflicts,
            checks,
            gates.allow_force_promotion_on_conflicts,
            status_is(DiffStatus::Conflict),
            "conflicting changes in source and target",
        ),
        workflow_gate(
            GateKind::Credentials,
            checks,
            gates.allow_placeholder_credentials,
            |c| {
                c.unmapped_credentials
                    .iter()
                    .map(|u| {
                        format!(
                            "node {:?}: {} credential {} has no mapping into the target",
                            u.node,
                            u.credential_type,
                            match (&u.name, &u.id) {
                                (Some(n), Some(i)) => format!("{n:?} (id {i})"),
                                (Some(n), None) => format!("{n:?}"),
                                (None, Some(i)) => format!("id {i}"),
                                (None, None) => "(unnamed)".into(),
                            }
                        )
                    })
                    .collect()
            },
            "unmapped credentials",
        ),
        workflow_gate(
            GateKind::Placeholders,
            checks,
            false,
            |c| {
                c.unresolved_placeholders
                    .iter()
                    .map(|n| format!("{{{{env.{n}}}}} has no variable in the target"))
                    .collect()
            },
            "unresolved {{env.NAME}} placeholders",
        ),
        workflow_gate(
            GateKind::SubworkflowReferences,
            checks,
            false,
            |c| {
                c.unresolved_references
                    .iter()
                    .map(|r| match r.canonical_id {
                        Some(id) => format!(
                            "node {:?} calls canonical workflow {id}, which is neither in the \
                             target nor selected",
                            r.node
                        ),
                        None => format!(
                            "node {:?} calls workflow {} of the source, which is not linked to \
                             a canonical workflow",
                            r.node, r.workflow_id
                        ),
                    })
                    .collect()
            },
            "sub-workflow calls the target can not resolve",
        ),
    ]
}

/// No gate blocks.
pub fn allowed(results: &[GateResult]) -> bool {
    results.iter().all(|g| !g.blocking)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn check(status: Option<DiffStatus>) -> WorkflowCheck {
        WorkflowCheck {
            canonical_id: Uuid::new_v4(),
            name: "wf".into(),
            diff_status: status,
            unmapped_credentials: Vec::new(),
            unresolved_placeholders: BTreeSet::new(),
            unresolved_references: Vec::new(),
        }
    }

    fn no_drift() -> DriftInputs {
        DriftInputs {
            mode: DriftHandlingMode::WarnOnly,
            policy: DriftPolicy::default(),
            drift_detected: false,
            incidents: Vec::new(),
        }
    }

    fn incident(expires_in_hours: Option<i64>, now: DateTime<Utc>) -> OpenIncident {
        OpenIncident {
            id: Uuid::new_v4(),
            status: "detected".into(),
            severity: "high".into(),
            title: "drift".into(),
            detected_at: now - Duration::hours(1),
            expires_at: expires_in_hours.map(|h| now + Duration::hours(h)),
        }
    }

    fn gate(results: &[GateResult], kind: GateKind) -> &GateResult {
        results.iter().find(|g| g.gate == kind).unwrap()
    }

    /// Which workflow condition trips which gate.
    #[derive(Debug, Clone, Copy)]
    enum Trip {
        Hotfix,
        Conflict,
        Credential,
        Placeholder,
        Reference,
    }

    fn tripped(t: Trip) -> WorkflowCheck {
        let mut c = check(Some(DiffStatus::Modified));
        match t {
            Trip::Hotfix => c.diff_status = Some(DiffStatus::TargetHotfix),
            Trip::Conflict => c.diff_status = Some(DiffStatus::Conflict),
            Trip::Credential => c.unmapped_credentials.push(UnmappedCredential {
                node: "Slack".into(),
                credential_type: "slackApi".into(),
                id: Some("7".into()),
                name: Some("bot".into()),
            }),
            Trip::Placeholder => {
                c.unresolved_placeholders.insert("API_HOST".into());
            }
            Trip::Reference => c.unresolved_references.push(UnresolvedReference {
                node: "Call".into(),
                workflow_id: "abc".into(),
                canonical_id: Some(Uuid::new_v4()),
            }),
        }
        c
    }

    /// Every workflow gate × its flag on and off: (trip, gate, flag setter, blocks when the flag
    /// is false, blocks when true).
    #[test]
    fn every_workflow_gate_against_its_flag() {
        type Set = fn(&mut Gates, bool);
        let table: [(Trip, GateKind, Option<Set>, bool, bool); 5] = [
            (
                Trip::Hotfix,
                GateKind::TargetHotfix,
                Some(|g, v| g.allow_overwriting_hotfixes = v),
                true,
                false,
            ),
            (
                Trip::Conflict,
                GateKind::Conflicts,
                Some(|g, v| g.allow_force_promotion_on_conflicts = v),
                true,
                false,
            ),
            (
                Trip::Credential,
                GateKind::Credentials,
                Some(|g, v| g.allow_placeholder_credentials = v),
                true,
                false,
            ),
            (Trip::Placeholder, GateKind::Placeholders, None, true, true),
            (
                Trip::Reference,
                GateKind::SubworkflowReferences,
                None,
                true,
                true,
            ),
        ];
        let now = Utc::now();
        for (trip, kind, set, block_off, block_on) in table {
            for flag in [false, true] {
                // every "allow" flag on except the one under test, so only it decides
                let mut gates = Gates {
                    allow_overwriting_hotfixes: true,
                    allow_force_promotion_on_conflicts: true,
                    allow_placeholder_credentials: true,
                    ..Gates::default()
                };
                if let Some(set) = set {
                    set(&mut gates, flag);
                }
                let clean = check(Some(DiffStatus::Modified));
                let bad = tripped(trip);
                let drift = drift_verdict(&gates, &no_drift(), &DriftAck::default(), now);
                let results = evaluate(&gates, &[clean.clone(), bad.clone()], &drift);
                assert_eq!(results.len(), GateKind::ALL.len());
                let g = gate(&results, kind);
                let expect_block = if flag { block_on } else { block_off };
                assert!(!g.passed, "{trip:?} flag={flag}");
                assert_eq!(g.blocking, expect_block, "{trip:?} flag={flag}: {g:?}");
                assert_eq!(allowed(&results), !expect_block, "{trip:?} flag={flag}");
                assert_eq!(g.workflows.len(), 1);
                assert_eq!(g.workflows[0].canonical_id, bad.canonical_id);
                assert!(!g.workflows[0].details.is_empty());
                // no other gate is tripped by this workflow
                for other in results.iter().filter(|r| r.gate != kind) {
                    assert!(other.passed && !other.blocking, "{trip:?}: {other:?}");
                }
                // and a clean selection passes everything
                let results = evaluate(&gates, &[clean], &drift);
                assert!(results.iter().all(|r| r.passed && !r.blocking));
            }
        }
    }

    #[test]
    fn unknown_diff_status_trips_nothing() {
        let gates = Gates::default();
        let drift = drift_verdict(&gates, &no_drift(), &DriftAck::default(), Utc::now());
        let results = evaluate(&gates, &[check(None)], &drift);
        assert!(allowed(&results));
    }

    /// The drift gate: mode × requireCleanDrift × policy × relief given.
    #[test]
    fn drift_gate_table() {
        use DriftHandlingMode::*;
        let now = Utc::now();
        // (mode, requireCleanDrift, block_on_active_drift, override given, attestation given,
        //  blocked, relief)
        let table = [
            (WarnOnly, false, false, false, false, false, None),
            (WarnOnly, true, false, false, false, true, None),
            (WarnOnly, false, true, false, false, true, None),
            (WarnOnly, true, false, true, true, true, None),
            (
                ManualOverride,
                false,
                false,
                false,
                false,
                true,
                Some(DriftRelief::OverrideReason),
            ),
            (
                ManualOverride,
                true,
                true,
                true,
                false,
                false,
                Some(DriftRelief::OverrideReason),
            ),
            (
                ManualOverride,
                true,
                false,
                false,
                true,
                true,
                Some(DriftRelief::OverrideReason),
            ),
            (
                RequireAttestation,
                false,
                false,
                false,
                false,
                true,
                Some(DriftRelief::Attestation),
            ),
            (
                RequireAttestation,
                false,
                false,
                true,
                false,
                true,
                Some(DriftRelief::Attestation),
            ),
            (
                RequireAttestation,
                true,
                true,
                false,
                true,
                false,
                Some(DriftRelief::Attestation),
            ),
        ];
        for (mode, clean, block_policy, reason, attest, blocked, relief) in table {
            let gates = Gates {
                require_clean_drift: clean,
                ..Gates::default()
            };
            let inputs = DriftInputs {
                mode,
                policy: DriftPolicy {
                    block_on_active_drift: block_policy,
                    enforce_ttl: false,
                },
                drift_detected: true,
                incidents: vec![incident(Some(5), now)],
            };
            let ack = DriftAck {
                override_reason: reason.then_some("hotfix window agreed with ops"),
                attestation: attest.then_some("I checked the drift"),
            };
            let v = drift_verdict(&gates, &inputs, &ack, now);
            let row = format!("{mode:?} clean={clean} policy={block_policy} r={reason} a={attest}");
            assert!(v.drift_present, "{row}");
            assert_eq!(v.blocked, blocked, "{row}: {v:?}");
            assert_eq!(v.relief, relief, "{row}");
            let g = drift_gate(&v);
            assert!(!g.passed && g.blocking == blocked, "{row}");
            // the same inputs without drift always pass
            let calm = DriftInputs {
                drift_detected: false,
                incidents: Vec::new(),
                ..inputs
            };
            let v = drift_verdict(&gates, &calm, &ack, now);
            assert!(!v.drift_present && !v.blocked, "{row}");
            assert!(drift_gate(&v).passed);
        }
    }

    #[test]
    fn blank_relief_texts_do_not_count() {
        let now = Utc::now();
        let inputs = DriftInputs {
            mode: DriftHandlingMode::ManualOverride,
            policy: DriftPolicy::default(),
            drift_detected: false,
            incidents: vec![incident(None, now)],
        };
        let ack = DriftAck {
            override_reason: Some("   "),
            attestation: None,
        };
        let v = drift_verdict(&Gates::default(), &inputs, &ack, now);
        assert!(v.blocked && !v.relief_applied);
    }

    #[test]
    fn enforced_ttl_blocks_whatever_the_mode_or_relief() {
        let now = Utc::now();
        for mode in DriftHandlingMode::ALL {
            for enforce in [false, true] {
                let expired = incident(Some(-1), now);
                let inputs = DriftInputs {
                    mode,
                    policy: DriftPolicy {
                        block_on_active_drift: false,
                        enforce_ttl: enforce,
                    },
                    drift_detected: true,
                    incidents: vec![expired.clone(), incident(Some(3), now)],
                };
                let ack = DriftAck {
                    override_reason: Some("r"),
                    attestation: Some("a"),
                };
                let gates = Gates {
                    require_clean_drift: false,
                    ..Gates::default()
                };
                let v = drift_verdict(&gates, &inputs, &ack, now);
                if enforce {
                    assert!(v.blocked && v.relief.is_none(), "{mode:?}");
                    assert_eq!(v.expired_incident_ids, vec![expired.id]);
                } else {
                    // warn_only without flag/policy warns; the other modes are relieved
                    assert!(!v.blocked, "{mode:?}");
                    assert!(v.expired_incident_ids.is_empty());
                }
            }
        }
    }

    #[test]
    fn gate_results_serialize_as_a_json_array_with_snake_case_gates() {
        let gates = Gates::default();
        let drift = drift_verdict(&gates, &no_drift(), &DriftAck::default(), Utc::now());
        let results = evaluate(&gates, &[tripped(Trip::Credential)], &drift);
        let v = serde_json::to_value(&results).unwrap();
        let names: Vec<&str> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["gate"].as_str().unwrap())
            .collect();
        assert_eq!(names, GateKind::ALL.map(GateKind::as_str).to_vec(), "{v}");
        assert_eq!(v[3]["flag"], "allowPlaceholderCredentials");
        assert_eq!(v[4]["flag"], serde_json::Value::Null);
        let back: Vec<GateResult> = serde_json::from_value(v).unwrap();
        assert_eq!(back, results);
    }
}
