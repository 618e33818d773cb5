//! Background jobs: the [`BackgroundJob`] trait, the generic [`enqueue`], and the engine's job
//! types ([`EnvironmentSync`], [`RepositorySync`], [`OnboardingInventory`], [`Reconcile`]).
//!
//! A job type is one Rust type: its value is the payload (stored as JSON in
//! `background_jobs.payload`), and its impl declares the `job_type` string, the lock key, the
//! deadline and `run`. The API and the schedulers enqueue with [`enqueue`]; the worker registers
//! the type once (`Registry::register_job::<J>`) and dispatches every claimed row of that
//! `job_type` to one generic runner, which parses the payload into `J`, gives `run` the job's
//! progress and checkpoint, and stores the report as the job's result.
//!
//! | job_type | payload | lock_key | default deadline |
//! |---|---|---|---|
//! | `environment_sync` | `{"environment_id": uuid}` | `env:<id>` | 30 min |
//! | `repository_sync` | `{"environment_id": uuid}` | `env:<id>` | 10 min |
//! | `onboarding_inventory` | `{"environment_id": uuid}` | `env:<id>` | 30 min |
//! | `reconcile` | `{}` | `reconcile:<tenant_id>` | 10 min |
//! | `promotion_deployment` | `{"deployment_id": uuid, "target_environment_id": uuid}` | `env:<target>` | 60 min |
//! | `snapshot_restore` | `{"snapshot_id": uuid, "environment_id": uuid}` | `env:<id>` | 60 min |
//! | `drift_reconcile` | `{"incident_id": uuid, "environment_id": uuid, "resolution": "revert", "requested_by": uuid?}` | `env:<id>` | 30 min |
//! | `drift_check` | `{"environment_id": uuid, "check_type": "scheduled"\|"manual"\|"webhook"\|"reconciliation"}` | `env:<id>` | 10 min |
//! | `notification_delivery` | `{"delivery_id": uuid}` | none | 5 min |
//!
//! `promotion_deployment` and `snapshot_restore` never coalesce with a pending job
//! ([`BackgroundJob::COALESCE_PENDING`]).

mod types;

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;
use uuid::Uuid;
use wfops_db::jobs::{self, JobRow, NewJob};
use wfops_db::Conn;

use crate::context::{Checkpoint, Progress};
use crate::error::Result;

pub use types::{
    reconcile_lock_key, DriftCheck, DriftReconcile, EnvironmentPayload, EnvironmentSync,
    NotificationDelivery, OnboardingInventory, PromotionDeployment, Reconcile, ReconcilePayload,
    RepositorySync, SnapshotRestore,
};

pub const ENVIRONMENT_SYNC: &str = EnvironmentSync::JOB_TYPE;
pub const REPOSITORY_SYNC: &str = RepositorySync::JOB_TYPE;
pub const ONBOARDING_INVENTORY: &str = OnboardingInventory::JOB_TYPE;
pub const RECONCILE: &str = Reconcile::JOB_TYPE;
pub const PROMOTION_DEPLOYMENT: &str = PromotionDeployment::JOB_TYPE;
pub const SNAPSHOT_RESTORE: &str = SnapshotRestore::JOB_TYPE;
pub const DRIFT_CHECK: &str = DriftCheck::JOB_TYPE;
pub const DRIFT_RECONCILE: &str = DriftReconcile::JOB_TYPE;

pub const NOTIFICATION_DELIVERY: &str = NotificationDelivery::JOB_TYPE;

/// Every job type the engine runs.
pub const JOB_TYPES: [&str; 9] = [
    ENVIRONMENT_SYNC,
    REPOSITORY_SYNC,
    ONBOARDING_INVENTORY,
    RECONCILE,
    PROMOTION_DEPLOYMENT,
    SNAPSHOT_RESTORE,
    DRIFT_CHECK,
    DRIFT_RECONCILE,
    NOTIFICATION_DELIVERY,
];

/// One type of background job. The value is the payload.
///
/// Runs are at-least-once (a worker that dies after the work but before recording it makes the
/// job run again), so `run` must be idempotent: check what is already done before doing it.
#[async_trait::async_trait]
pub trait BackgroundJob: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// The `job_type` column. Queued rows carry it, so it never changes for an existing type.
    const JOB_TYPE: &'static str;

    /// How long one run may take before the worker interrupts it, fails it as retryable and
    /// frees its lock. `JOB_DEADLINES` overrides it per type.
    const DEADLINE: Duration;

    /// Whether [`enqueue`] returns an already pending job of the same type and lock key instead
    /// of queueing another. Right for "bring this environment up to date" work, where a second
    /// request while one waits adds nothing; wrong for work where each request is its own
    /// (two deployments into one target are two runs, one after the other: the lock key
    /// still keeps them from running at the same time).
    const COALESCE_PENDING: bool = true;

    /// What `run` needs besides the payload (the engine's jobs take the [`crate::EngineCtx`]).
    type Context: Send + Sync + 'static;

    /// Stored as the job's `result`.
    type Report: Serialize + Send;

    /// Jobs with the same key never run at the same time (a partial unique index on running
    /// jobs), and a request for a job of the same type and key while one is pending returns
    /// that pending job instead of queueing another. `None`: neither. By default a job that
    /// works on an environment holds that environment's lock (`env:<id>`), so that two runs of
    /// per-environment work never interleave.
    fn lock_key(&self, _tenant_id: Uuid) -> Option<String> {
        self.environment_id()
            .map(wfops_db::jobs::environment_lock_key)
    }

    /// The environment the job works on, stored in `environment_id` and as its resource, so
    /// that job lists filter by environment.
    fn environment_id(&self) -> Option<Uuid> {
        None
    }

    /// One run. An error's [`crate::EngineError::is_retryable`] decides between another attempt
    /// (with backoff) and failing the job.
    async fn run(&self, ctx: &Self::Context, job: &JobRun<'_>) -> Result<Self::Report>;
}

/// What a running job sees of the run: its tenant (every transaction of the job is bound to
/// it), where to report progress, and where to keep a checkpoint.
pub struct JobRun<'a> {
    pub tenant_id: Uuid,
    pub progress: &'a dyn Progress,
    /// The job's checkpoint; a job that is not resumable ignores it.
    pub checkpoint: &'a Checkpoint,
}

impl std::fmt::Debug for JobRun<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobRun")
            .field("tenant_id", &self.tenant_id)
            .field("checkpoint", &self.checkpoint)
            .finish_non_exhaustive()
    }
}

/// A job as [`enqueue`] left it.
#[derive(Debug, Clone, PartialEq)]
pub struct Enqueued {
    pub job: JobRow,
    /// `false`: a pending job of the same type and key existed and is returned instead.
    pub created: bool,
}

/// The row [`enqueue`] inserts for `job`.
pub fn new_job<J: BackgroundJob>(tenant_id: Uuid, job: &J) -> wfops_db::Result<NewJob> {
    let mut row = NewJob::with_payload(tenant_id, J::JOB_TYPE, job)?;
    if let Some(environment_id) = job.environment_id() {
        row = row
            .for_environment(environment_id)
            .resource("environment", environment_id);
    }
    row.lock_key = job.lock_key(tenant_id);
    Ok(row)
}

/// Enqueues `job` in the caller's tenant transaction (so it exists exactly when the write it
/// belongs to commits), or, for a type that coalesces ([`BackgroundJob::COALESCE_PENDING`]),
/// returns the pending job of the same type and lock key.
pub async fn enqueue<J: BackgroundJob>(
    conn: &mut Conn,
    tenant_id: Uuid,
    job: &J,
) -> wfops_db::Result<Enqueued> {
    let row = new_job(tenant_id, job)?;
    if !J::COALESCE_PENDING {
        let job = jobs::enqueue(conn, row).await?;
        return Ok(Enqueued { job, created: true });
    }
    let (job, created) = jobs::enqueue_unless_pending(conn, row).await?;
    Ok(Enqueued { job, created })
}

/// Queues the run of `deployment` (a pending deployment into `target_environment_id`) in the
/// caller's transaction, links the job to the deployment and writes the deployment's status
/// event on it: the one way the API (at creation, approval, a new deployment) and the
/// deployment scheduler (when a scheduled one is due) start a deployment.
pub async fn enqueue_deployment(
    conn: &mut Conn,
    tenant_id: Uuid,
    deployment: &wfops_db::promotions::DeploymentRow,
    target_environment_id: Uuid,
) -> wfops_db::Result<wfops_db::promotions::DeploymentRow> {
    let job = PromotionDeployment {
        deployment_id: deployment.id,
        target_environment_id,
    };
    let enqueued = enqueue(conn, tenant_id, &job).await?;
    let linked = wfops_db::deployments::set_job(conn, deployment.id, enqueued.job.id).await?;
    wfops_db::deployments::record_status_event(conn, &linked).await?;
    Ok(linked)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_have_the_contract_shape() {
        let (tenant, id) = (Uuid::new_v4(), Uuid::new_v4());
        for (row, job_type) in [
            (
                new_job(tenant, &EnvironmentSync { environment_id: id }).unwrap(),
                "environment_sync",
            ),
            (
                new_job(tenant, &RepositorySync { environment_id: id }).unwrap(),
                "repository_sync",
            ),
            (
                new_job(tenant, &OnboardingInventory { environment_id: id }).unwrap(),
                "onboarding_inventory",
            ),
        ] {
            assert_eq!(row.job_type, job_type);
            assert_eq!(
                row.payload,
                serde_json::json!({"environment_id": id.to_string()})
            );
            assert_eq!(row.lock_key, Some(format!("env:{id}")));
            assert_eq!(row.environment_id, Some(id));
            assert_eq!(row.resource_type.as_deref(), Some("environment"));
            assert_eq!(row.resource_id, Some(id));
        }
        let row = new_job(tenant, &Reconcile {}).unwrap();
        assert_eq!(row.job_type, "reconcile");
        assert_eq!(row.payload, serde_json::json!({}));
        assert_eq!(row.lock_key, Some(format!("reconcile:{tenant}")));
        assert_eq!(row.environment_id, None);
        assert_eq!(row.resource_type, None);
        assert_eq!(JOB_TYPES.len(), 9);
    }

    #[test]
    fn promotion_jobs_do_not_coalesce() {
        // each deployment and each restore is its own run
        const { assert!(!PromotionDeployment::COALESCE_PENDING) };
        const { assert!(!SnapshotRestore::COALESCE_PENDING) };
        const { assert!(EnvironmentSync::COALESCE_PENDING) };
        let (tenant, d, e) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let row = new_job(
            tenant,
            &PromotionDeployment {
                deployment_id: d,
                target_environment_id: e,
            },
        )
        .unwrap();
        assert_eq!(row.job_type, "promotion_deployment");
        assert_eq!(row.lock_key, Some(format!("env:{e}")));
        assert_eq!(row.environment_id, Some(e));
        assert_eq!(JOB_TYPES.len(), 9);
    }

    #[test]
    fn payloads_refuse_unknown_fields() {
        let id = Uuid::new_v4();
        let parsed: EnvironmentSync =
            serde_json::from_value(serde_json::json!({"environment_id": id})).unwrap();
        assert_eq!(parsed.environment_id, id);
        let err = serde_json::from_value::<EnvironmentSync>(
            serde_json::json!({"environment_id": id, "extra": 1}),
        )
        .unwrap_err();
        assert!(err.to_string().contains("extra"), "{err}");
        assert!(serde_json::from_value::<Reconcile>(serde_json::json!({"x": 1})).is_err());
    }
}
