//! The engine's job types. Each is its payload; `run` calls the use-case.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{BackgroundJob, JobRun};
use crate::error::Result;
use crate::{drift, env_sync, notify, onboarding, promotion, reconcile, repo_sync, EngineCtx};

const MINUTE: u64 = 60;

/// The lock key of `reconcile` jobs: one reconciliation per tenant at a time.
pub fn reconcile_lock_key(tenant_id: Uuid) -> String {
    format!("reconcile:{tenant_id}")
}

/// `environment_sync`: n8n → DB, resumable from the job's checkpoint, then reconciliation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvironmentSync {
    pub environment_id: Uuid,
}

/// The payload of the per-environment jobs (they share its shape).
pub type EnvironmentPayload = EnvironmentSync;

#[async_trait::async_trait]
impl BackgroundJob for EnvironmentSync {
    const JOB_TYPE: &'static str = "environment_sync";
    // resumable: a run cut short by its deadline continues from its checkpoint
    const DEADLINE: Duration = Duration::from_secs(30 * MINUTE);
    type Context = EngineCtx;
    type Report = env_sync::EnvSyncReport;

    fn environment_id(&self) -> Option<Uuid> {
        Some(self.environment_id)
    }

    async fn run(&self, ctx: &EngineCtx, job: &JobRun<'_>) -> Result<Self::Report> {
        env_sync::run(
            ctx,
            job.tenant_id,
            self.environment_id,
            job.progress,
            job.checkpoint,
        )
        .await
    }
}

/// `repository_sync`: Git → DB, then reconciliation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepositorySync {
    pub environment_id: Uuid,
}

#[async_trait::async_trait]
impl BackgroundJob for RepositorySync {
    const JOB_TYPE: &'static str = "repository_sync";
    const DEADLINE: Duration = Duration::from_secs(10 * MINUTE);
    type Context = EngineCtx;
    type Report = repo_sync::RepoSyncReport;

    fn environment_id(&self) -> Option<Uuid> {
        Some(self.environment_id)
    }

    async fn run(&self, ctx: &EngineCtx, job: &JobRun<'_>) -> Result<Self::Report> {
        repo_sync::run(ctx, job.tenant_id, self.environment_id, job.progress).await
    }
}

/// `onboarding_inventory`: commit every untracked workflow to Git, then reconciliation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OnboardingInventory {
    pub environment_id: Uuid,
}

#[async_trait::async_trait]
impl BackgroundJob for OnboardingInventory {
    const JOB_TYPE: &'static str = "onboarding_inventory";
    const DEADLINE: Duration = Duration::from_secs(30 * MINUTE);
    type Context = EngineCtx;
    type Report = onboarding::InventoryReport;

    fn environment_id(&self) -> Option<Uuid> {
        Some(self.environment_id)
    }

    async fn run(&self, ctx: &EngineCtx, job: &JobRun<'_>) -> Result<Self::Report> {
        onboarding::inventory(ctx, job.tenant_id, self.environment_id, job.progress).await
    }
}

/// `reconcile`: the diff states of the whole tenant (the tenant is the job's).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reconcile {}

/// The payload of `reconcile`.
pub type ReconcilePayload = Reconcile;

#[async_trait::async_trait]
impl BackgroundJob for Reconcile {
    const JOB_TYPE: &'static str = "reconcile";
    const DEADLINE: Duration = Duration::from_secs(10 * MINUTE);
    type Context = EngineCtx;
    type Report = reconcile::ReconcileReport;

    fn lock_key(&self, tenant_id: Uuid) -> Option<String> {
        Some(reconcile_lock_key(tenant_id))
    }

    async fn run(&self, ctx: &EngineCtx, job: &JobRun<'_>) -> Result<Self::Report> {
        job.progress.report(0, 1, "reconciling").await?;
        let report = reconcile::run(ctx, job.tenant_id).await?;
        job.progress
            .report(1, 1, &format!("{} diff states stored", report.rows))
            .await?;
        Ok(report)
    }
}

/// `promotion_deployment`: one deployment of a promotion into its target environment. Holds the
/// target's lock, so a second promotion into the same target waits until the first ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PromotionDeployment {
    pub deployment_id: Uuid,
    pub target_environment_id: Uuid,
}

#[async_trait::async_trait]
impl BackgroundJob for PromotionDeployment {
    const JOB_TYPE: &'static str = "promotion_deployment";
    const DEADLINE: Duration = Duration::from_secs(60 * MINUTE);
    // two promotions into one target are two runs, one after the other
    const COALESCE_PENDING: bool = false;
    type Context = EngineCtx;
    type Report = promotion::DeploymentReport;

    fn environment_id(&self) -> Option<Uuid> {
        Some(self.target_environment_id)
    }

    async fn run(&self, ctx: &EngineCtx, job: &JobRun<'_>) -> Result<Self::Report> {
        promotion::execute_deployment(ctx, job.tenant_id, self.deployment_id, job.progress).await
    }
}

/// `snapshot_restore`: brings an environment back to one of its snapshots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnapshotRestore {
    pub snapshot_id: Uuid,
    pub environment_id: Uuid,
}

#[async_trait::async_trait]
impl BackgroundJob for SnapshotRestore {
    const JOB_TYPE: &'static str = "snapshot_restore";
    const DEADLINE: Duration = Duration::from_secs(60 * MINUTE);
    // each approved restore request is its own run
    const COALESCE_PENDING: bool = false;
    type Context = EngineCtx;
    type Report = promotion::RestoreReport;

    fn environment_id(&self) -> Option<Uuid> {
        Some(self.environment_id)
    }

    async fn run(&self, ctx: &EngineCtx, job: &JobRun<'_>) -> Result<Self::Report> {
        promotion::restore_snapshot(ctx, job.tenant_id, self.snapshot_id, job.progress).await
    }
}

/// `drift_check`: compares an environment's n8n with its Git folder and records the outcome
/// (docs/drift.md#drift-checks). Holds the environment's lock, so one check per environment
/// runs at a time across workers, and never beside a sync of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DriftCheck {
    pub environment_id: Uuid,
    pub check_type: drift::CheckTrigger,
}

#[async_trait::async_trait]
impl BackgroundJob for DriftCheck {
    const JOB_TYPE: &'static str = "drift_check";
    const DEADLINE: Duration = Duration::from_secs(10 * MINUTE);
    type Context = EngineCtx;
    type Report = drift::DriftCheckReport;

    fn environment_id(&self) -> Option<Uuid> {
        Some(self.environment_id)
    }

    async fn run(&self, ctx: &EngineCtx, job: &JobRun<'_>) -> Result<Self::Report> {
        drift::check::run(
            ctx,
            job.tenant_id,
            self.environment_id,
            self.check_type,
            job.progress,
        )
        .await
    }
}

/// `drift_reconcile`: resolves a drift incident (a revert of the runtime from Git), then runs
/// the follow-up drift check (docs/drift.md#reconciliation). Holds the environment's lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DriftReconcile {
    pub incident_id: Uuid,
    pub environment_id: Uuid,
    pub resolution: drift::Resolution,
    /// The user who asked (`None`: an API key).
    pub requested_by: Option<Uuid>,
}

#[async_trait::async_trait]
impl BackgroundJob for DriftReconcile {
    const JOB_TYPE: &'static str = "drift_reconcile";
    const DEADLINE: Duration = Duration::from_secs(30 * MINUTE);
    type Context = EngineCtx;
    type Report = drift::ReconciliationReport;

    fn environment_id(&self) -> Option<Uuid> {
        Some(self.environment_id)
    }

    async fn run(&self, ctx: &EngineCtx, job: &JobRun<'_>) -> Result<Self::Report> {
        drift::reconcile::run(
            ctx,
            job.tenant_id,
            self.incident_id,
            self.resolution,
            self.requested_by,
            job.progress,
        )
        .await
    }
}

/// `notification_delivery`: one attempt of one notification delivery. No lock key: deliveries
/// are independent of each other and of environments; a delivery row admits one attempt at a
/// time by itself (its attempt is counted under a row lock).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotificationDelivery {
    pub delivery_id: Uuid,
}

#[async_trait::async_trait]
impl BackgroundJob for NotificationDelivery {
    const JOB_TYPE: &'static str = "notification_delivery";
    // one HTTP request or SMTP session, each bounded by NOTIFY_TIMEOUT_SECONDS
    const DEADLINE: Duration = Duration::from_secs(5 * MINUTE);
    type Context = EngineCtx;
    type Report = notify::DeliveryReport;

    fn lock_key(&self, _tenant_id: Uuid) -> Option<String> {
        None
    }

    async fn run(&self, ctx: &EngineCtx, job: &JobRun<'_>) -> Result<Self::Report> {
        notify::deliver(ctx, job.tenant_id, self.delivery_id).await
    }
}
