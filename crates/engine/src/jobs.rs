//! The engine's job types: names, payloads, lock keys, and the `enqueue_*` helpers used by the
//! API and the schedulers (the table of the phase-2 contract).
//!
//! | job_type | payload | lock_key |
//! |---|---|---|
//! | `environment_sync` | `{"environment_id": uuid}` | `env:<id>` |
//! | `repository_sync` | `{"environment_id": uuid}` | `env:<id>` |
//! | `onboarding_inventory` | `{"environment_id": uuid}` | `env:<id>` |
//! | `reconcile` | `{}` | `reconcile:<tenant_id>` |
//!
//! Every helper runs in the caller's tenant transaction and returns the pending job of the
//! same type and key when there is one, instead of piling up a second run.

use serde::{Deserialize, Serialize};
use uuid::Uuid;
use wfops_db::jobs::{self, JobRow, NewJob};
use wfops_db::Conn;

pub const ENVIRONMENT_SYNC: &str = "environment_sync";
pub const REPOSITORY_SYNC: &str = "repository_sync";
pub const ONBOARDING_INVENTORY: &str = "onboarding_inventory";
pub const RECONCILE: &str = "reconcile";

/// Every job type the engine runs.
pub const JOB_TYPES: [&str; 4] = [
    ENVIRONMENT_SYNC,
    REPOSITORY_SYNC,
    ONBOARDING_INVENTORY,
    RECONCILE,
];

/// Payload of the per-environment jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvironmentPayload {
    pub environment_id: Uuid,
}

/// Payload of `reconcile` (the tenant is the job's).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReconcilePayload {}

/// A job as an enqueue helper left it.
#[derive(Debug, Clone, PartialEq)]
pub struct Enqueued {
    pub job: JobRow,
    /// `false`: a pending job of the same type and key existed and is returned instead.
    pub created: bool,
}

/// The lock key of `reconcile` jobs: one reconciliation per tenant at a time.
pub fn reconcile_lock_key(tenant_id: Uuid) -> String {
    format!("reconcile:{tenant_id}")
}

fn environment_job(tenant_id: Uuid, job_type: &str, environment_id: Uuid) -> NewJob {
    let payload = serde_json::json!({ "environment_id": environment_id });
    NewJob::new(tenant_id, job_type, payload)
        .for_environment(environment_id)
        .resource("environment", environment_id)
}

async fn enqueue(conn: &mut Conn, job: NewJob) -> Result<Enqueued, wfops_db::Error> {
    let (job, created) = jobs::enqueue_unless_pending(conn, job).await?;
    Ok(Enqueued { job, created })
}

/// Enqueues an environment sync (n8n → DB, then reconciliation).
pub async fn enqueue_environment_sync(
    conn: &mut Conn,
    tenant_id: Uuid,
    environment_id: Uuid,
) -> Result<Enqueued, wfops_db::Error> {
    enqueue(
        conn,
        environment_job(tenant_id, ENVIRONMENT_SYNC, environment_id),
    )
    .await
}

/// Enqueues a repository sync (Git → DB, then reconciliation).
pub async fn enqueue_repository_sync(
    conn: &mut Conn,
    tenant_id: Uuid,
    environment_id: Uuid,
) -> Result<Enqueued, wfops_db::Error> {
    enqueue(
        conn,
        environment_job(tenant_id, REPOSITORY_SYNC, environment_id),
    )
    .await
}

/// Enqueues an onboarding inventory (commit every untracked workflow to Git).
pub async fn enqueue_onboarding_inventory(
    conn: &mut Conn,
    tenant_id: Uuid,
    environment_id: Uuid,
) -> Result<Enqueued, wfops_db::Error> {
    enqueue(
        conn,
        environment_job(tenant_id, ONBOARDING_INVENTORY, environment_id),
    )
    .await
}

/// Enqueues a reconciliation of the whole tenant.
pub async fn enqueue_reconcile(
    conn: &mut Conn,
    tenant_id: Uuid,
) -> Result<Enqueued, wfops_db::Error> {
    let job = NewJob::new(tenant_id, RECONCILE, serde_json::json!({}))
        .lock_key(reconcile_lock_key(tenant_id));
    enqueue(conn, job).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_have_the_contract_shape() {
        let id = Uuid::new_v4();
        let job = environment_job(Uuid::new_v4(), ENVIRONMENT_SYNC, id);
        assert_eq!(
            job.payload,
            serde_json::json!({"environment_id": id.to_string()})
        );
        assert_eq!(job.lock_key, Some(format!("env:{id}")));
        let parsed: EnvironmentPayload = serde_json::from_value(job.payload).unwrap();
        assert_eq!(parsed.environment_id, id);
        let err = serde_json::from_value::<EnvironmentPayload>(
            serde_json::json!({"environment_id": id, "extra": 1}),
        )
        .unwrap_err();
        assert!(err.to_string().contains("extra"), "{err}");
        let t = Uuid::new_v4();
        assert_eq!(reconcile_lock_key(t), format!("reconcile:{t}"));
    }
}
