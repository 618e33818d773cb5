//! Drift checks against a fake n8n and real bare repositories on disk: the statuses and their
//! reasons, the history, incidents opened, kept and auto-closed by checks, the lifecycle steps
//! and the TTL escalation.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod repo_git;

use chrono::{Duration, Utc};
use common::{fake_with_fixtures, harness, Harness};
use repo_git::{bare_remote, file_url};
use serde_json::json;
use uuid::Uuid;
use wfops_db::drift::{self as db, CheckRow, Incident, PolicyWrite};
use wfops_db::ScopedFutureExt;
use wfops_drift::{EnvironmentDriftStatus as S, EscalationLevel, IncidentStatus, Severity};
use wfops_engine::drift::check::{self, CheckTrigger, DriftCheckReport};
use wfops_engine::drift::incidents::{self, Action, IncidentDecision, LifecycleError};
use wfops_engine::{env_sync, onboarding, Checkpoint, NoProgress};
use wfops_fake_n8n::{FakeN8n, Fault, Route};

async fn run_check(h: &Harness, env: Uuid) -> DriftCheckReport {
    check::run(&h.ctx, h.tenant, env, CheckTrigger::Manual, &NoProgress)
        .await
        .expect("drift check")
}

/// A production environment with `n` fixtures, synced and onboarded into a fresh bare
/// repository: n8n and Git agree.
async fn onboarded_prod(n: usize) -> (Harness, FakeN8n, Vec<String>, Uuid, tempfile::TempDir) {
    let h = harness().await;
    let (fake, ids) = fake_with_fixtures(n);
    let env = h.environment("prod", "production", &fake).await;
    let dir = tempfile::tempdir().unwrap();
    let remote = bare_remote(dir.path());
    h.set_git(env, &file_url(&remote), "main", None).await;
    env_sync::run(&h.ctx, h.tenant, env, &NoProgress, &Checkpoint::none())
        .await
        .unwrap();
    let inv = onboarding::inventory(&h.ctx, h.tenant, env, &NoProgress)
        .await
        .unwrap();
    assert!(inv.committed);
    (h, fake, ids, env, dir)
}

async fn set_policy(h: &Harness, env: Option<Uuid>, auto_create: bool, production_only: bool) {
    let tenant = h.tenant;
    h.ctx
        .db
        .tenant_tx(tenant, move |conn| {
            async move {
                db::upsert_policy(
                    conn,
                    &PolicyWrite {
                        tenant_id: tenant,
                        environment_id: env,
                        severity_ttls: json!({"critical": 24, "high": 48, "medium": 72, "low": 168}),
                        enforce_ttl: false,
                        enforce_sla: false,
                        auto_create_incidents: auto_create,
                        auto_create_for_production_only: production_only,
                        block_on_active_drift: false,
                        closed_incident_retention_days: 90,
                        reconciliation_artifact_retention_days: 30,
                    },
                )
                .await
            }
            .scope_boxed()
        })
        .await
        .unwrap();
}

async fn checks(h: &Harness, env: Uuid) -> Vec<CheckRow> {
    h.ctx
        .db
        .tenant_tx(h.tenant, move |conn| {
            async move { db::list_checks(conn, Some(env), 0, 100).await }.scope_boxed()
        })
        .await
        .unwrap()
        .0
}

async fn incident(h: &Harness, id: Uuid) -> Incident {
    h.ctx
        .db
        .tenant_tx(h.tenant, move |conn| {
            async move { db::get_incident(conn, id).await }.scope_boxed()
        })
        .await
        .unwrap()
}

async fn apply(
    h: &Harness,
    id: Uuid,
    action: Action,
    force: bool,
) -> Result<Incident, LifecycleError> {
    h.ctx
        .db
        .tenant_tx(h.tenant, move |conn| {
            async move { incidents::apply(conn, id, &action, None, force, Utc::now()).await }
                .scope_boxed()
        })
        .await
}

/// A changed copy of a workflow: one more node parameter, as an edit in production would do.
fn edited(doc: &serde_json::Value) -> serde_json::Value {
    let mut doc = doc.clone();
    doc["nodes"][0]["notes"] = json!(format!("hotfix {}", Uuid::new_v4()));
    doc
}

#[tokio::test]
async fn in_sync_after_onboarding_and_every_check_is_recorded() {
    let (h, _fake, ids, env, _dir) = onboarded_prod(4).await;
    let before = h.environment_row(env).await;
    assert_eq!(before.drift_status, S::Unknown);
    assert!(before.last_drift_check_at.is_none());

    let r = run_check(&h, env).await;
    assert_eq!(r.status, S::InSync, "{r:?}");
    assert_eq!(
        (r.runtime_workflows, r.git_workflows),
        (ids.len() as u64, 4)
    );
    assert_eq!((r.in_sync, r.with_drift, r.not_in_git), (4, 0, 0));
    assert_eq!(r.reason, None);
    assert!(r.git_commit.is_some());
    assert!(matches!(r.incident, IncidentDecision::None { .. }));

    let row = h.environment_row(env).await;
    assert_eq!(row.drift_status, S::InSync);
    assert!(row.last_drift_check_at.is_some());
    assert!(row.last_drift_detected_at.is_none());
    let history = checks(&h, env).await;
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].id, r.check_id);
    assert_eq!(history[0].check_type, "manual");
    assert_eq!(history[0].status, S::InSync);
    assert!(!history[0].drift_found);
    assert_eq!(history[0].workflows_checked, 4);
}

/// The walkthrough: production has one workflow more than Git and one changed. The check
/// finds both, an incident of the right severity opens, and once production matches Git again
/// the next check closes it.
#[tokio::test]
async fn extra_and_changed_workflows_open_an_incident_that_the_next_clean_check_closes() {
    let (h, fake, ids, env, _dir) = onboarded_prod(5).await;
    set_policy(&h, None, true, false).await;
    let original = fake.workflow(&ids[1]).unwrap().unwrap();
    fake.replace_content(&ids[1], &edited(&original), true)
        .unwrap();
    let extra = fake
        .seed_workflow(
            &json!({"name": "Added in prod", "nodes": [], "connections": {},
                               "settings": {}}),
        )
        .unwrap();

    let r = run_check(&h, env).await;
    assert_eq!((r.with_drift, r.not_in_git, r.in_sync), (1, 1, 4), "{r:?}");
    assert_eq!(r.check_status, S::DriftDetected);
    assert_eq!(r.status, S::DriftIncidentActive);
    assert_eq!(
        r.incident,
        IncidentDecision::Created {
            severity: Severity::Medium
        }
    );
    let kinds: Vec<_> = r
        .affected
        .iter()
        .map(|a| (a.n8n_workflow_id.clone().unwrap(), a.kind))
        .collect();
    assert!(kinds.contains(&(ids[1].clone(), wfops_drift::DriftKind::Modified)));
    assert!(kinds.contains(&(extra.clone(), wfops_drift::DriftKind::AddedInRuntime)));

    let inc = incident(&h, r.incident_id.unwrap()).await;
    assert_eq!(inc.status, IncidentStatus::Detected);
    assert_eq!(inc.severity, Severity::Medium);
    assert_eq!(
        inc.expires_at.unwrap() - inc.detected_at,
        Duration::hours(72)
    );
    assert_eq!(inc.affected_workflows.as_array().unwrap().len(), 2);
    let snapshot = inc.drift_snapshot.clone().unwrap();
    assert_eq!(snapshot["change_summary"]["affected"], 2);
    let row = h.environment_row(env).await;
    assert_eq!(row.drift_status, S::DriftIncidentActive);
    assert_eq!(row.active_drift_incident_id, Some(inc.id));
    assert!(row.last_drift_detected_at.is_some());

    // drift persists: the same incident stays open, no second one
    let again = run_check(&h, env).await;
    assert_eq!(again.incident, IncidentDecision::KeptOpen);
    assert_eq!(again.incident_id, Some(inc.id));
    let same = incident(&h, inc.id).await;
    assert_eq!(
        same.drift_snapshot, inc.drift_snapshot,
        "the snapshot is immutable"
    );

    // production back to Git's content: the next check closes the incident
    fake.replace_content(&ids[1], &original, true).unwrap();
    fake.remove_workflow(&extra).unwrap();
    let clean = run_check(&h, env).await;
    assert_eq!(clean.status, S::InSync, "{clean:?}");
    assert_eq!(clean.incident, IncidentDecision::AutoClosed);
    let closed = incident(&h, inc.id).await;
    assert_eq!(closed.status, IncidentStatus::Closed);
    assert!(closed.closed_at.is_some() && closed.closed_by.is_none());
    let row = h.environment_row(env).await;
    assert_eq!(row.drift_status, S::InSync);
    assert_eq!(row.active_drift_incident_id, None);
    assert_eq!(checks(&h, env).await.len(), 3);
}

#[tokio::test]
async fn a_renamed_workflow_is_the_same_workflow_changed_not_one_added_and_one_missing() {
    let (h, fake, ids, env, _dir) = onboarded_prod(3).await;
    let mut doc = fake.workflow(&ids[0]).unwrap().unwrap();
    doc["name"] = json!("Renamed in production");
    fake.replace_content(&ids[0], &doc, true).unwrap();
    let r = run_check(&h, env).await;
    assert_eq!(
        (r.with_drift, r.not_in_git, r.missing_in_runtime),
        (1, 0, 0),
        "{r:?}"
    );
    assert_eq!(r.affected[0].kind, wfops_drift::DriftKind::Modified);
    assert_eq!(r.affected[0].name, "Renamed in production");
    // no policy: drift without an incident
    assert_eq!(r.status, S::DriftDetected);
    assert!(matches!(r.incident, IncidentDecision::None { .. }));
}

#[tokio::test]
async fn a_workflow_deleted_from_production_is_drift() {
    let (h, fake, ids, env, _dir) = onboarded_prod(3).await;
    fake.remove_workflow(&ids[2]).unwrap();
    let r = run_check(&h, env).await;
    assert_eq!((r.missing_in_runtime, r.with_drift), (1, 1), "{r:?}");
    assert_eq!(r.status, S::DriftDetected);
}

#[tokio::test]
async fn unknown_error_and_untracked_are_distinct_and_carry_their_reason() {
    let h = harness().await;
    let (fake, _ids) = fake_with_fixtures(2);

    // no repository: UNKNOWN, with the reason, and still recorded
    let env = h.environment("staging", "staging", &fake).await;
    let r = run_check(&h, env).await;
    assert_eq!(r.status, S::Unknown);
    assert_eq!(
        r.reason.as_deref(),
        Some("Git is not configured: no repository is set")
    );
    let row = h.environment_row(env).await;
    assert_eq!(row.drift_status, S::Unknown);
    assert!(
        row.last_drift_check_at.is_some(),
        "checked, even unconfigured"
    );

    // a repository, but n8n refuses: ERROR naming n8n, never IN_SYNC
    let dir = tempfile::tempdir().unwrap();
    let remote = bare_remote(dir.path());
    repo_git::push_files(
        &remote,
        &[(
            "workflows/staging/a.json",
            Some(&repo_git::workflow_file("A", 1)),
        )],
        "seed",
    );
    h.set_git(env, &file_url(&remote), "main", None).await;
    fake.inject(Fault::status(503).on(Route::ListWorkflows).times(10));
    let r = run_check(&h, env).await;
    assert_eq!(r.status, S::Error, "{r:?}");
    let reason = r.reason.clone().unwrap();
    assert!(reason.contains("n8n could not be read"), "{reason}");
    assert!(reason.contains("the other side (Git) was read"), "{reason}");
    let history = checks(&h, env).await;
    assert_eq!(history[0].status, S::Error);
    assert_eq!(history[0].error_message.as_deref(), Some(reason.as_str()));
    fake.clear_faults();

    // a branch that does not exist: ERROR naming Git
    h.set_git(env, &file_url(&remote), "no-such-branch", None)
        .await;
    let r = run_check(&h, env).await;
    assert_eq!(r.status, S::Error);
    assert!(
        r.reason
            .as_deref()
            .unwrap()
            .contains("Git could not be read"),
        "{r:?}"
    );

    // nothing linked and an empty folder: UNTRACKED
    let empty = tempfile::tempdir().unwrap();
    let remote = bare_remote(empty.path());
    repo_git::push_files(&remote, &[("README.md", Some(b"x".as_slice()))], "init");
    h.set_git(env, &file_url(&remote), "main", None).await;
    env_sync::run(&h.ctx, h.tenant, env, &NoProgress, &Checkpoint::none())
        .await
        .unwrap();
    let r = run_check(&h, env).await;
    assert_eq!(r.status, S::Untracked, "{r:?}");
    assert_eq!(r.not_in_git, 2);
    assert_eq!(h.environment_row(env).await.drift_status, S::Untracked);
}

#[tokio::test]
async fn unlinking_every_workflow_does_not_hide_drift() {
    let (h, fake, ids, env, _dir) = onboarded_prod(3).await;
    h.test_db
        .admin_execute(&format!(
            "UPDATE workflow_env_map SET status = 'untracked', canonical_id = NULL \
             WHERE environment_id = '{env}'"
        ))
        .await
        .unwrap();
    let r = run_check(&h, env).await;
    assert_eq!(
        r.status,
        S::InSync,
        "untracked copies of Git content: {r:?}"
    );
    let doc = fake.workflow(&ids[0]).unwrap().unwrap();
    fake.replace_content(&ids[0], &edited(&doc), true).unwrap();
    let r = run_check(&h, env).await;
    assert_eq!(r.status, S::DriftDetected, "{r:?}");
    assert_eq!((r.not_in_git, r.missing_in_runtime), (1, 1));
}

#[tokio::test]
async fn production_only_policies_and_environment_overrides() {
    let (h, fake, ids, env, _dir) = onboarded_prod(2).await;
    let doc = fake.workflow(&ids[0]).unwrap().unwrap();
    fake.replace_content(&ids[0], &edited(&doc), true).unwrap();
    // the tenant's policy opens incidents, the environment's own does not: the environment's wins
    set_policy(&h, None, true, false).await;
    set_policy(&h, Some(env), false, false).await;
    let r = run_check(&h, env).await;
    assert_eq!(
        r.incident,
        IncidentDecision::None {
            why: "the drift policy does not open incidents".into()
        }
    );
    // production only, and this is production
    set_policy(&h, Some(env), true, true).await;
    let r = run_check(&h, env).await;
    assert_eq!(
        r.incident,
        IncidentDecision::Created {
            severity: Severity::Low
        }
    );
    // staging under a production-only policy: no incident
    h.test_db
        .admin_execute(&format!(
            "UPDATE drift_incidents SET status = 'closed' WHERE environment_id = '{env}';
             UPDATE environments SET environment_class = 'staging' WHERE id = '{env}'"
        ))
        .await
        .unwrap();
    let r = run_check(&h, env).await;
    assert_eq!(
        r.incident,
        IncidentDecision::None {
            why: "the drift policy opens incidents for production environments only".into()
        }
    );
}

#[tokio::test]
async fn lifecycle_steps_move_the_environment_status_and_closed_is_final() {
    let (h, fake, ids, env, _dir) = onboarded_prod(2).await;
    set_policy(&h, None, true, false).await;
    let doc = fake.workflow(&ids[0]).unwrap().unwrap();
    fake.replace_content(&ids[0], &edited(&doc), true).unwrap();
    let id = run_check(&h, env).await.incident_id.unwrap();

    // refused: detected -> stabilized without force
    let err = apply(
        &h,
        id,
        Action::Stabilize {
            reason: "x".into(),
            owner_user_id: None,
            ticket_ref: None,
        },
        false,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, LifecycleError::Transition(_)), "{err:?}");

    let inc = apply(&h, id, Action::Acknowledge { note: None }, false)
        .await
        .unwrap();
    assert_eq!(inc.status, IncidentStatus::Acknowledged);
    assert!(inc.acknowledged_at.is_some());
    assert_eq!(
        h.environment_row(env).await.drift_status,
        S::DriftIncidentAcknowledged
    );

    let inc = apply(
        &h,
        id,
        Action::Stabilize {
            reason: "vendor outage workaround".into(),
            owner_user_id: None,
            ticket_ref: Some("OPS-42".into()),
        },
        false,
    )
    .await
    .unwrap();
    assert_eq!(inc.status, IncidentStatus::Stabilized);
    assert_eq!(inc.ticket_ref.as_deref(), Some("OPS-42"));
    assert_eq!(inc.reason.as_deref(), Some("vendor outage workaround"));

    let before = inc.expires_at.unwrap();
    let inc = apply(&h, id, Action::ExtendTtl { hours: 12 }, false)
        .await
        .unwrap();
    assert_eq!(inc.expires_at.unwrap() - before, Duration::hours(12));

    let inc = apply(
        &h,
        id,
        Action::SetSeverity {
            severity: Severity::Critical,
        },
        false,
    )
    .await
    .unwrap();
    assert_eq!(inc.severity, Severity::Critical);
    assert_eq!(
        inc.expires_at.unwrap() - inc.detected_at,
        Duration::hours(24)
    );
    assert_eq!(
        inc.summary.as_ref().unwrap()["severity_override"]["from"],
        "low"
    );

    let inc = apply(&h, id, Action::Close { reason: None }, false)
        .await
        .unwrap();
    assert_eq!(inc.status, IncidentStatus::Closed);
    // the environment falls back to what its last check found
    let row = h.environment_row(env).await;
    assert_eq!(row.drift_status, S::DriftDetected);
    assert_eq!(row.active_drift_incident_id, None);

    // closed is final, even forced, even for changes that keep the status
    for action in [
        Action::Acknowledge { note: None },
        Action::ExtendTtl { hours: 1 },
        Action::Close { reason: None },
    ] {
        let err = apply(&h, id, action, true).await.unwrap_err();
        assert!(
            matches!(
                err,
                LifecycleError::Transition(wfops_drift::TransitionError::Final(
                    IncidentStatus::Closed
                ))
            ),
            "{err:?}"
        );
    }
    let err = apply(
        &h,
        Uuid::new_v4(),
        Action::Acknowledge { note: None },
        false,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, LifecycleError::NotFound(_)));
}

#[tokio::test]
async fn escalation_at_a_quarter_and_three_quarters_of_the_ttl() {
    let (h, fake, ids, env, _dir) = onboarded_prod(2).await;
    set_policy(&h, None, true, false).await;
    let doc = fake.workflow(&ids[0]).unwrap().unwrap();
    fake.replace_content(&ids[0], &edited(&doc), true).unwrap();
    let id = run_check(&h, env).await.incident_id.unwrap();
    let inc = incident(&h, id).await;
    let ttl = inc.expires_at.unwrap() - inc.detected_at; // 168 h, low

    let tick = |at| {
        let db = h.ctx.db.clone();
        let tenant = h.tenant;
        async move {
            db.tenant_tx(tenant, move |conn| {
                async move { incidents::escalate_due(conn, at).await }.scope_boxed()
            })
            .await
            .unwrap()
        }
    };
    assert!(tick(inc.detected_at + ttl / 4 - Duration::seconds(1))
        .await
        .is_empty());
    let e = tick(inc.detected_at + ttl / 4).await;
    assert_eq!(e.len(), 1);
    assert_eq!(
        (e[0].from, e[0].to),
        (EscalationLevel::None, EscalationLevel::Escalated)
    );
    assert!(
        tick(inc.detected_at + ttl / 2).await.is_empty(),
        "once per level"
    );
    let e = tick(inc.detected_at + ttl * 3 / 4).await;
    assert_eq!(e[0].to, EscalationLevel::CriticalOverdue);
    // past the TTL it stays open and overdue: never closed behind anyone's back
    assert!(tick(inc.detected_at + ttl * 2).await.is_empty());
    let inc = incident(&h, id).await;
    assert_eq!(inc.status, IncidentStatus::Detected);
    assert_eq!(inc.escalation_level, EscalationLevel::CriticalOverdue);
}

#[tokio::test]
async fn retention_purges_payloads_of_old_closed_incidents_only() {
    let (h, _fake, _ids, env, _dir) = onboarded_prod(1).await;
    let tenant = h.tenant;
    let seed = |status: &str, closed_days_ago: Option<i64>| {
        let id = Uuid::new_v4();
        let closed = closed_days_ago
            .map(|d| format!("now() - interval '{d} days'"))
            .unwrap_or_else(|| "NULL".into());
        (
            id,
            format!(
                "INSERT INTO drift_incidents (id, tenant_id, environment_id, status, title,
                     closed_at, affected_workflows, drift_snapshot)
                 VALUES ('{id}', '{tenant}', '{env}', '{status}', 't', {closed},
                     '[{{\"kind\": \"modified\"}}]', '{{\"x\": 1}}');"
            ),
        )
    };
    let (old, a) = seed("closed", Some(100));
    let (recent, b) = seed("closed", Some(10));
    let (open, c) = seed("acknowledged", None);
    h.test_db
        .admin_execute(&format!("{a}{b}{c}"))
        .await
        .unwrap();

    let purge = || {
        let db = h.ctx.db.clone();
        async move {
            db.tenant_tx(tenant, |conn| {
                async move { incidents::purge_closed_payloads(conn, Utc::now()).await }
                    .scope_boxed()
            })
            .await
            .unwrap()
        }
    };
    // the default: 90 days
    assert_eq!(purge().await, vec![old]);
    let purged = incident(&h, old).await;
    assert!(purged.drift_snapshot.is_none() && purged.payload_purged_at.is_some());
    assert_eq!(purged.affected_workflows, json!([]));
    assert!(incident(&h, recent).await.drift_snapshot.is_some());
    assert!(incident(&h, open).await.drift_snapshot.is_some());
    assert!(purge().await.is_empty(), "purged once");

    // the environment's own policy keeps closed incidents 5 days: the recent one goes, the
    // open one never does
    set_policy(&h, Some(env), false, false).await;
    h.test_db
        .admin_execute(&format!(
            "UPDATE drift_policies SET closed_incident_retention_days = 5 WHERE environment_id = '{env}'"
        ))
        .await
        .unwrap();
    assert_eq!(purge().await, vec![recent]);
    assert!(incident(&h, open).await.payload_purged_at.is_none());
}

/// The walkthrough, end to end against a fake n8n: production gets one workflow more than Git
/// and one changed; the check opens a `medium` incident; a revert reconciliation restores
/// production from Git and its follow-up check closes the incident.
#[tokio::test]
async fn walkthrough_revert_restores_production_from_git_and_the_check_closes_the_incident() {
    use wfops_engine::drift::reconcile::{self, Resolution};
    let (h, fake, ids, env, _dir) = onboarded_prod(5).await;
    set_policy(&h, None, true, false).await;
    let original = fake.workflow(&ids[2]).unwrap().unwrap();
    fake.replace_content(&ids[2], &edited(&original), true)
        .unwrap();
    let extra = fake
        .seed_workflow(
            &json!({"name": "Hotfix only in prod", "nodes": [], "connections": {},
                               "settings": {}}),
        )
        .unwrap();
    let r = run_check(&h, env).await;
    assert_eq!((r.with_drift, r.not_in_git), (1, 1));
    let id = r.incident_id.unwrap();
    assert_eq!(incident(&h, id).await.severity, Severity::Medium);

    let report = reconcile::run(&h.ctx, h.tenant, id, Resolution::Revert, None, &NoProgress)
        .await
        .unwrap();
    let actions: Vec<_> = report.actions.iter().map(|a| a.action.as_str()).collect();
    assert_eq!(actions, vec!["update", "delete"], "{report:?}");
    assert_eq!(report.incident_status, IncidentStatus::Closed);
    let check = report.check.unwrap();
    assert_eq!(check.status, S::InSync);
    assert_eq!(check.incident, IncidentDecision::AutoClosed);

    // production holds Git's content again, and the extra workflow is gone
    assert!(fake.workflow(&extra).unwrap().is_none());
    let restored = fake.workflow(&ids[2]).unwrap().unwrap();
    assert_eq!(
        wfops_diff::content_hash_value(&restored).unwrap(),
        wfops_diff::content_hash_value(&original).unwrap()
    );
    let inc = incident(&h, id).await;
    assert_eq!(inc.resolution_type.as_deref(), Some("revert"));
    let artifact = &inc.resolution_details.as_ref().unwrap()["reconciliation"];
    assert_eq!(artifact["drift_gone"], true);
    assert_eq!(artifact["pre_revert_snapshot"].as_array().unwrap().len(), 2);
    assert!(inc.reconciled_at.is_some());
    let history = checks(&h, env).await;
    assert_eq!(history[0].check_type, "reconciliation");
    assert_eq!(h.environment_row(env).await.drift_status, S::InSync);
}

#[tokio::test]
async fn a_failed_revert_puts_back_what_it_wrote_and_leaves_the_incident_open() {
    use wfops_engine::drift::reconcile::{self, Resolution};
    let (h, fake, ids, env, _dir) = onboarded_prod(3).await;
    set_policy(&h, None, true, false).await;
    let original = fake.workflow(&ids[0]).unwrap().unwrap();
    let hotfix = edited(&original);
    fake.replace_content(&ids[0], &hotfix, true).unwrap();
    let extra = fake
        .seed_workflow(&json!({"name": "Extra", "nodes": [], "connections": {}, "settings": {}}))
        .unwrap();
    let id = run_check(&h, env).await.incident_id.unwrap();

    fake.inject(Fault::status(400).on(Route::DeleteWorkflow).times(5));
    let err = reconcile::run(&h.ctx, h.tenant, id, Resolution::Revert, None, &NoProgress)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("prod"), "{err}");
    fake.clear_faults();
    // the update was undone from the pre-revert snapshot; the extra one is still there
    let now = fake.workflow(&ids[0]).unwrap().unwrap();
    assert_eq!(
        wfops_diff::content_hash_value(&now).unwrap(),
        wfops_diff::content_hash_value(&hotfix).unwrap()
    );
    assert!(fake.workflow(&extra).unwrap().is_some());
    assert_eq!(incident(&h, id).await.status, IncidentStatus::Detected);
}

/// An incident's creation, escalation and closing each reach the tenant's notification channels
/// that want them, in the transaction that made them (docs/notifications.md).
#[tokio::test]
async fn incidents_notify_their_creation_escalation_and_closing() {
    let (h, fake, ids, env, _dir) = onboarded_prod(3).await;
    set_policy(&h, None, true, false).await;
    h.test_db
        .admin_execute(&format!(
            "INSERT INTO notification_channels (tenant_id, name, kind, events, email_recipients)
             VALUES ('{}', 'on-call', 'email',
                     '[\"incident.created\", \"incident.escalated\", \"incident.closed\"]',
                     '[\"oncall@example.com\"]')",
            h.tenant
        ))
        .await
        .unwrap();
    let deliveries = |h: &Harness| {
        let db = h.ctx.db.clone();
        let tenant = h.tenant;
        async move {
            db.tenant_tx(tenant, |conn| {
                async move {
                    wfops_db::notifications::list_deliveries(conn, &Default::default(), 0, 50).await
                }
                .scope_boxed()
            })
            .await
            .unwrap()
            .0
            .into_iter()
            .map(|d| d.event_type.as_str().to_string())
            .collect::<Vec<_>>()
        }
    };
    let original = fake.workflow(&ids[0]).unwrap().unwrap();
    fake.replace_content(&ids[0], &edited(&original), true)
        .unwrap();
    let r = run_check(&h, env).await;
    let id = r.incident_id.expect("an incident opens");
    assert_eq!(deliveries(&h).await, vec!["incident.created"]);

    // a quarter of the TTL later: escalated
    let later = Utc::now() + Duration::days(3);
    let escalated = h
        .ctx
        .db
        .tenant_tx(h.tenant, move |conn| {
            async move { incidents::escalate_due(conn, later).await }.scope_boxed()
        })
        .await
        .unwrap();
    assert_eq!(escalated.len(), 1);
    let mut seen = deliveries(&h).await;
    seen.sort();
    assert_eq!(seen, vec!["incident.created", "incident.escalated"]);

    apply(
        &h,
        id,
        Action::Close {
            reason: Some("handled".into()),
        },
        false,
    )
    .await
    .unwrap_or_else(|e| panic!("{e:?}"));
    let mut seen = deliveries(&h).await;
    seen.sort();
    assert_eq!(
        seen,
        vec!["incident.closed", "incident.created", "incident.escalated"]
    );
}
