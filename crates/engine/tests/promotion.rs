//! Promotion execution against fake n8n instances and a real Git repository: a successful
//! promotion, a failure at every write with its verified rollback, faults during the rollback,
//! a workflow deleted meanwhile, a credential without a mapping, a cancel, a crash and its
//! recovery, the Git record's own retry, and snapshot restore.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod promotion_world;
mod repo_git;

use std::time::Duration;

use promotion_world::{hash, world, Hook};
use wfops_engine::promotion::{self, GitStatus};
use wfops_engine::{EngineError, NoProgress};
use wfops_fake_n8n::{Fault, FaultKind, Route};
use wfops_promotion::{PromotionStatus, RollbackOutcome, SnapshotKind, WorkflowAction};

/// The writes of a promotion of workflows 0..4, in the order the engine makes them: workflow 1
/// (called by 0) is created first, then 0, then 2 (prod has a copy) is updated, then 3.
const WRITES: [(usize, Route); 4] = [
    (1, Route::CreateWorkflow),
    (0, Route::CreateWorkflow),
    (2, Route::UpdateWorkflow),
    (3, Route::CreateWorkflow),
];

fn nth_of_route(k: usize) -> u64 {
    let route = WRITES[k - 1].1;
    WRITES[..k].iter().filter(|(_, r)| *r == route).count() as u64
}

#[tokio::test]
async fn a_promotion_writes_every_workflow_transformed_updates_mappings_and_commits_to_git() {
    let w = world(4).await;
    let deployment = w.promotion(&w.canonicals).await;
    let report = w.execute(deployment).await;

    assert_eq!(
        report.status,
        Some(PromotionStatus::Completed),
        "{report:#?}"
    );
    let (p, d, result) = w.statuses(deployment).await;
    assert_eq!((p.as_str(), d.as_str()), ("completed", "completed"));
    assert!(result.is_some());
    // the callee before its caller, the existing copy updated, the others created
    let order: Vec<_> = report.workflows.iter().map(|x| x.name.clone()).collect();
    assert_eq!(
        order,
        [
            "Promoted workflow 1",
            "Promoted workflow 0",
            "Promoted workflow 2",
            "Promoted workflow 3"
        ]
    );
    let actions: Vec<_> = report.workflows.iter().map(|x| x.action).collect();
    use WorkflowAction::{Created, Updated};
    assert_eq!(actions, [Created, Created, Updated, Created]);
    assert_eq!(
        Some(&report.workflows[2].target_workflow_id),
        w.prod_copy.as_ref()
    );

    for x in &report.workflows {
        let doc = w.prod_doc(&x.target_workflow_id);
        assert_eq!(hash(&doc), x.target_content_hash, "{}", x.name);
    }
    // same-named credential, no placeholder, no sub-workflow call: the hash is the source's
    for x in &report.workflows[2..] {
        assert_eq!(x.target_content_hash, x.source_content_hash, "{}", x.name);
    }
    // workflow 0 differs from its source only by the id its call names
    let mut back = w.prod_doc(&report.workflows[1].target_workflow_id);
    for node in back["nodes"].as_array_mut().unwrap() {
        if node["name"] == "Call child" {
            node["parameters"]["workflowId"]["value"] = w.dev_ids[1].clone().into();
        }
    }
    assert_eq!(hash(&back), report.workflows[1].source_content_hash);
    let w0 = w.prod_doc(&report.workflows[1].target_workflow_id);
    let nodes = w0["nodes"].as_array().unwrap();
    let notify = nodes.iter().find(|n| n["name"] == "Notify").unwrap();
    assert_eq!(notify["credentials"]["slackApi"]["id"], "prod-cred-9");
    let call = nodes.iter().find(|n| n["name"] == "Call child").unwrap();
    assert_eq!(
        call["parameters"]["workflowId"]["value"],
        report.workflows[0].target_workflow_id.as_str(),
        "the sub-workflow call points at prod's copy"
    );
    let w1 = w.prod_doc(&report.workflows[0].target_workflow_id);
    let fetch = w1["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == "Fetch")
        .unwrap();
    assert_eq!(
        fetch["parameters"]["url"],
        "https://api.prod.example/orders"
    );

    // the target's mappings say what prod holds
    let mappings = w.prod_mappings().await;
    for x in &report.workflows {
        assert!(
            mappings.contains(&(
                x.target_workflow_id.clone(),
                Some(x.canonical_id),
                Some(x.target_content_hash.clone())
            )),
            "{mappings:?}"
        );
    }
    // snapshots before and after
    assert!(report.pre_snapshot_id.is_some() && report.post_snapshot_id.is_some());

    // Git holds one file per promoted workflow, hashing as prod's document
    let git = report.git.clone().unwrap();
    assert_eq!(git.status, GitStatus::Committed, "{git:?}");
    let files = repo_git::ls_folder(&w.remote, "prod");
    assert_eq!(files.len(), 4, "{files:?}");
    for (i, x) in report.workflows.iter().enumerate() {
        let path = format!("workflows/prod/promoted-workflow-{}.json", [1, 0, 2, 3][i]);
        let text = repo_git::show(&w.remote, &path);
        assert_eq!(
            wfops_diff::content_hash(text.as_bytes()).unwrap().to_hex(),
            x.target_content_hash
        );
    }

    // running the job again changes nothing
    let again = w.execute(deployment).await;
    assert_eq!(again.status, Some(PromotionStatus::Completed));
    assert_eq!(again.workflows, report.workflows);
}

async fn fail_at(k: usize, status: u16) {
    let w = world(4).await;
    let before = w.prod_hashes();
    let mappings_before = w.prod_mappings().await;
    let deployment = w.promotion(&w.canonicals).await;
    let route = WRITES[k - 1].1;
    // an update is idempotent and retried by the client once: both attempts fail
    let mut fault = Fault::status(status).on(route).nth(nth_of_route(k));
    if status >= 500 && route == Route::UpdateWorkflow {
        fault = fault.times(2);
    }
    w.prod.inject(fault);
    let report = w.execute(deployment).await;

    assert_eq!(
        report.status,
        Some(PromotionStatus::RolledBack),
        "k={k} status={status}: {report:#?}"
    );
    assert_eq!(report.workflows.len(), k - 1, "k={k}");
    let failure = report.failure.clone().unwrap();
    assert_eq!(
        failure.name.as_deref(),
        Some(&*format!("Promoted workflow {}", WRITES[k - 1].0))
    );
    let rollback = report.rollback.clone().unwrap();
    assert!(rollback.verification.verified, "{rollback:#?}");
    assert_eq!(
        w.prod_hashes(),
        before,
        "k={k} status={status}: prod is as before"
    );
    assert_eq!(
        w.prod_mappings().await,
        mappings_before,
        "k={k}: mappings as before"
    );
    let (p, d, _) = w.statuses(deployment).await;
    assert_eq!((p.as_str(), d.as_str()), ("rolled_back", "failed"));
}

#[tokio::test]
async fn a_failure_at_any_write_rolls_back_to_the_snapshot() {
    for k in 1..=WRITES.len() {
        for status in [400, 500] {
            fail_at(k, status).await;
        }
    }
}

#[tokio::test]
async fn a_transient_fault_during_the_rollback_is_retried() {
    let w = world(4).await;
    let before = w.prod_hashes();
    let deployment = w.promotion(&w.canonicals).await;
    w.prod
        .inject(Fault::status(400).on(Route::CreateWorkflow).nth(3));
    // the rollback's first deletes meet 503 (twice: the client retries once itself)
    w.prod
        .inject(Fault::status(503).on(Route::DeleteWorkflow).times(2));
    let report = w.execute(deployment).await;
    assert_eq!(
        report.status,
        Some(PromotionStatus::RolledBack),
        "{report:#?}"
    );
    let steps = &report.rollback.as_ref().unwrap().steps;
    assert!(steps.iter().any(|s| s.attempts >= 2), "{steps:#?}");
    assert_eq!(w.prod_hashes(), before);
}

#[tokio::test]
async fn a_permanent_fault_during_the_rollback_fails_naming_the_workflow() {
    let w = world(4).await;
    let deployment = w.promotion(&w.canonicals).await;
    w.prod
        .inject(Fault::status(400).on(Route::CreateWorkflow).nth(3));
    w.prod.inject(
        Fault::status_with_message(400, "cannot delete")
            .on(Route::DeleteWorkflow)
            .always(),
    );
    let report = w.execute(deployment).await;
    assert_eq!(report.status, Some(PromotionStatus::Failed), "{report:#?}");
    let v = &report.rollback.as_ref().unwrap().verification;
    assert!(!v.verified);
    let named: Vec<_> = v.mismatches.iter().filter_map(|m| m.name.clone()).collect();
    assert!(
        named.contains(&"Promoted workflow 1".to_string()),
        "{named:?}"
    );
    assert!(
        named.contains(&"Promoted workflow 0".to_string()),
        "{named:?}"
    );
    let (p, d, result) = w.statuses(deployment).await;
    assert_eq!((p.as_str(), d.as_str()), ("failed", "failed"));
    assert!(result.unwrap()["rollback"]["steps"].as_array().is_some());
}

#[tokio::test]
async fn timeouts_and_dropped_connections_end_rolled_back() {
    // a write that times out; a rollback update that times out once
    let w = promotion_world::world_with(4, |_| {}).await;
    let mut w = w;
    w.h.ctx.n8n.request_timeout = Duration::from_millis(300);
    let before = w.prod_hashes();
    let deployment = w.promotion(&w.canonicals).await;
    w.prod
        .inject(Fault::status(400).on(Route::CreateWorkflow).nth(3));
    w.prod.inject(
        Fault::delay(Duration::from_secs(1))
            .on(Route::UpdateWorkflow)
            .nth(2)
            .times(2),
    );
    let report = w.execute(deployment).await;
    assert_eq!(
        report.status,
        Some(PromotionStatus::RolledBack),
        "{report:#?}"
    );
    assert_eq!(w.prod_hashes(), before);

    // a create whose connection drops before it is handled, and one whose answer is lost
    for fault in [FaultKind::DropConnection, FaultKind::DropAfterHandling] {
        let w = promotion_world::world(4).await;
        let before = w.prod_hashes();
        let deployment = w.promotion(&w.canonicals).await;
        let f = match fault {
            FaultKind::DropConnection => Fault::drop_connection(),
            _ => Fault::drop_after_handling(),
        };
        w.prod.inject(f.on(Route::CreateWorkflow).nth(2));
        let report = w.execute(deployment).await;
        assert_eq!(
            report.status,
            Some(PromotionStatus::RolledBack),
            "{fault:?}: {report:#?}"
        );
        assert_eq!(
            w.prod_hashes(),
            before,
            "{fault:?}: the created copy is gone too"
        );
    }
}

#[tokio::test]
async fn a_workflow_deleted_during_the_promotion_is_created_again_by_the_rollback() {
    let w = world(4).await;
    let before = w.prod_hashes();
    let copy = w.prod_copy.clone().unwrap();
    let deployment = w.promotion(&w.canonicals).await;
    w.prod
        .inject(Fault::status(400).on(Route::CreateWorkflow).nth(3));
    let prod = &w.prod;
    let hook = Hook {
        needle: "promoted Promoted workflow 2".into(),
        hook: || {
            prod.remove_workflow(&copy).unwrap();
            Ok(())
        },
    };
    let report = w.execute_with(deployment, &hook).await.unwrap();
    assert_eq!(
        report.status,
        Some(PromotionStatus::RolledBack),
        "{report:#?}"
    );
    let steps = &report.rollback.as_ref().unwrap().steps;
    let step = steps.iter().find(|s| s.workflow_id == copy).unwrap();
    assert_eq!(step.outcome, RollbackOutcome::Recreated);
    let new_id = step.new_workflow_id.clone().unwrap();
    let after = w.prod_hashes();
    assert_eq!(
        after.get(&new_id),
        before.get(&copy),
        "the snapshot's content is back"
    );
    assert_eq!(after.len(), before.len());
    let mappings = w.prod_mappings().await;
    assert!(mappings
        .iter()
        .any(|(id, c, _)| *id == new_id && *c == Some(w.canonicals[2])));
}

#[tokio::test]
async fn an_unmapped_credential_stops_the_promotion_before_anything_is_written() {
    let w = world(3).await;
    w.h.test_db
        .admin_execute("DELETE FROM credential_mappings")
        .await
        .unwrap();
    let before = w.prod_hashes();
    let deployment = w.promotion(&w.canonicals).await;
    let report = w.execute(deployment).await;
    assert_eq!(report.status, Some(PromotionStatus::Failed));
    assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
    let message = &report.problems[0].message;
    assert!(
        message.contains("Notify") && message.contains("slackApi") && message.contains("Slack bot"),
        "{message}"
    );
    assert!(report.pre_snapshot_id.is_none());
    assert_eq!(w.prod.request_count(Route::CreateWorkflow), 0);
    assert_eq!(w.prod.request_count(Route::UpdateWorkflow), 0);
    assert_eq!(w.prod_hashes(), before);
    let (p, d, _) = w.statuses(deployment).await;
    assert_eq!((p.as_str(), d.as_str()), ("failed", "failed"));
}

#[tokio::test]
async fn a_cancel_finishes_the_current_workflow_then_rolls_back() {
    let w = world(4).await;
    let before = w.prod_hashes();
    let deployment = w.promotion(&w.canonicals).await;
    let hook = promotion_world::CancelAt {
        needle: "(1/4)".into(),
        db: w.h.ctx.db.clone(),
        tenant: w.h.tenant,
        deployment,
    };
    let report = w.execute_with(deployment, &hook).await.unwrap();
    assert!(report.cancelled);
    assert_eq!(report.workflows.len(), 1);
    assert_eq!(
        report.status,
        Some(PromotionStatus::RolledBack),
        "{report:#?}"
    );
    assert_eq!(w.prod_hashes(), before);
}

#[tokio::test]
async fn a_run_cut_short_at_any_workflow_is_rolled_back_by_the_next_run() {
    for k in 1..=WRITES.len() {
        let w = world(4).await;
        let before = w.prod_hashes();
        let mappings_before = w.prod_mappings().await;
        let deployment = w.promotion(&w.canonicals).await;
        // the worker dies after writing workflow k (its lease is gone)
        let hook = Hook {
            needle: format!("({k}/4)"),
            hook: || Err(EngineError::LeaseLost(uuid::Uuid::nil())),
        };
        let cut = w.execute_with(deployment, &hook).await;
        assert!(matches!(cut, Err(EngineError::LeaseLost(_))), "{cut:?}");
        let (p, d, _) = w.statuses(deployment).await;
        assert_eq!((p.as_str(), d.as_str()), ("running", "running"));
        assert_ne!(w.prod_hashes(), before, "k={k}: something was written");

        let report = w.execute(deployment).await;
        assert!(report.recovered);
        assert_eq!(
            report.status,
            Some(PromotionStatus::RolledBack),
            "k={k}: {report:#?}"
        );
        assert_eq!(w.prod_hashes(), before, "k={k}");
        assert_eq!(w.prod_mappings().await, mappings_before, "k={k}");
    }
}

#[tokio::test]
async fn a_run_killed_while_a_create_was_in_flight_is_rolled_back() {
    let w = world(4).await;
    let before = w.prod_hashes();
    let deployment = w.promotion(&w.canonicals).await;
    // the create of workflow 0 is handled but its answer never comes back within the deadline
    w.prod.inject(
        Fault::delay(Duration::from_secs(30))
            .on(Route::CreateWorkflow)
            .nth(2),
    );
    let cut = tokio::time::timeout(Duration::from_millis(1500), w.execute(deployment)).await;
    assert!(cut.is_err(), "the run was cut short");
    w.prod.clear_faults();
    let report = w.execute(deployment).await;
    assert!(report.recovered);
    assert_eq!(
        report.status,
        Some(PromotionStatus::RolledBack),
        "{report:#?}"
    );
    assert_eq!(w.prod_hashes(), before);
}

#[tokio::test]
async fn a_git_failure_keeps_the_promotion_and_only_the_git_step_is_retried() {
    let w = world(3).await;
    let good = repo_git::file_url(&w.remote);
    w.h.set_git(
        w.prod_env,
        "file:///nonexistent/wfops-repo.git",
        "main",
        None,
    )
    .await;
    let deployment = w.promotion(&w.canonicals).await;
    let first = w.execute_with(deployment, &NoProgress).await;
    assert!(first.is_err(), "the job fails to be retried");
    assert!(first.as_ref().unwrap_err().is_retryable(), "{first:?}");
    let (p, d, result) = w.statuses(deployment).await;
    assert_eq!((p.as_str(), d.as_str()), ("completed", "completed"));
    assert_eq!(result.unwrap()["git"]["status"], "failed");
    let writes =
        w.prod.request_count(Route::CreateWorkflow) + w.prod.request_count(Route::UpdateWorkflow);

    w.h.set_git(w.prod_env, &good, "main", None).await;
    let report = w.execute(deployment).await;
    assert_eq!(report.git.unwrap().status, GitStatus::Committed);
    assert_eq!(repo_git::ls_folder(&w.remote, "prod").len(), 3);
    assert_eq!(
        w.prod.request_count(Route::CreateWorkflow) + w.prod.request_count(Route::UpdateWorkflow),
        writes,
        "n8n is not written again"
    );
}

#[tokio::test]
async fn a_snapshot_restore_brings_back_the_earlier_state_and_can_be_undone() {
    let w = world(3).await;
    let before = w.prod_hashes();
    let backup = promotion::take_snapshot(
        &w.h.ctx,
        w.h.tenant,
        w.prod_env,
        SnapshotKind::ManualBackup,
        None,
    )
    .await
    .unwrap();
    assert_eq!(backup.workflow_count, before.len());
    let deployment = w.promotion(&w.canonicals).await;
    assert_eq!(
        w.execute(deployment).await.status,
        Some(PromotionStatus::Completed)
    );
    // and someone deletes the workflow prod had of its own
    let own = before
        .keys()
        .find(|id| Some(*id) != w.prod_copy.as_ref())
        .unwrap()
        .clone();
    w.prod.remove_workflow(&own).unwrap();
    let promoted = w.prod_hashes();

    let report = promotion::restore_snapshot(&w.h.ctx, w.h.tenant, backup.snapshot_id, &NoProgress)
        .await
        .unwrap();
    assert!(report.verification.verified, "{report:#?}");
    let mut now: Vec<_> = w.prod_hashes().into_values().collect();
    let mut then: Vec<_> = before.values().cloned().collect();
    now.sort();
    then.sort();
    assert_eq!(now, then, "prod holds exactly the snapshot's workflows");
    assert!(report
        .steps
        .iter()
        .any(|s| s.outcome == RollbackOutcome::Recreated));
    assert_eq!(
        report
            .steps
            .iter()
            .filter(|s| s.outcome == RollbackOutcome::Deleted)
            .count(),
        2,
        "the two workflows created since are gone"
    );

    // the restore is undone by restoring the snapshot it took first
    let undo = promotion::restore_snapshot(
        &w.h.ctx,
        w.h.tenant,
        report.pre_restore_snapshot_id.unwrap(),
        &NoProgress,
    )
    .await
    .unwrap();
    assert!(undo.verification.verified);
    let mut now: Vec<_> = w.prod_hashes().into_values().collect();
    let mut then: Vec<_> = promoted.values().cloned().collect();
    now.sort();
    then.sort();
    assert_eq!(now, then);
}
