//! The engine's job types (`wfops_engine::jobs`) run by the worker: each handler parses the
//! payload, calls the engine use-case with a [`Progress`] that records to the job's events
//! (and, for environment sync, the job's checkpoint), and stores the report as the result.

use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;
use wfops_engine::jobs::{
    EnvironmentPayload, ReconcilePayload, ENVIRONMENT_SYNC, ONBOARDING_INVENTORY, RECONCILE,
    REPOSITORY_SYNC,
};
use wfops_engine::{
    env_sync, onboarding, reconcile, repo_sync, Checkpoint, EngineCtx, EngineError, Progress,
};

use crate::{Error, JobContext, JobHandler, Registry};

/// Registers a handler for each of the engine's job types.
pub fn register_engine_jobs(registry: &mut Registry, ctx: Arc<EngineCtx>) -> Result<(), Error> {
    registry.register(EnvironmentSync(ctx.clone()))?;
    registry.register(RepositorySync(ctx.clone()))?;
    registry.register(OnboardingInventory(ctx.clone()))?;
    registry.register(Reconcile(ctx))?;
    Ok(())
}

/// Engine progress recorded on the running job.
struct JobProgress<'a>(&'a JobContext);

#[async_trait::async_trait]
impl Progress for JobProgress<'_> {
    async fn report(&self, current: i64, total: i64, message: &str) -> wfops_engine::Result<()> {
        self.0
            .progress(current, total, Some(message))
            .await
            .map_err(|e| match e {
                Error::LeaseLost(id) => EngineError::LeaseLost(id),
                Error::Db(db) => EngineError::Db(db),
                other => EngineError::Internal(other.to_string()),
            })
    }
}

/// The engine decides what is worth retrying; a lost lease stays a lost lease.
fn job_error(e: EngineError) -> Error {
    match e {
        EngineError::LeaseLost(id) => Error::LeaseLost(id),
        e if e.is_retryable() => Error::retryable(e.to_string()),
        e => Error::permanent(e.to_string()),
    }
}

fn result<T: Serialize>(report: &T) -> Result<Value, Error> {
    serde_json::to_value(report)
        .map_err(|e| Error::permanent(format!("the job's report can not be stored: {e}")))
}

/// `environment_sync`: n8n → DB, resumable from the job's checkpoint, then reconciliation.
pub struct EnvironmentSync(pub Arc<EngineCtx>);

#[async_trait::async_trait]
impl JobHandler for EnvironmentSync {
    fn job_type(&self) -> &str {
        ENVIRONMENT_SYNC
    }

    async fn run(&self, ctx: &JobContext) -> Result<Value, Error> {
        let payload: EnvironmentPayload = ctx.payload()?;
        let checkpoint =
            Checkpoint::for_job(ctx.job_id(), ctx.worker(), ctx.job().checkpoint.clone());
        let report = env_sync::run(
            &self.0,
            ctx.tenant_id(),
            payload.environment_id,
            &JobProgress(ctx),
            &checkpoint,
        )
        .await
        .map_err(job_error)?;
        result(&report)
    }
}

/// `repository_sync`: Git → DB, then reconciliation.
pub struct RepositorySync(pub Arc<EngineCtx>);

#[async_trait::async_trait]
impl JobHandler for RepositorySync {
    fn job_type(&self) -> &str {
        REPOSITORY_SYNC
    }

    async fn run(&self, ctx: &JobContext) -> Result<Value, Error> {
        let payload: EnvironmentPayload = ctx.payload()?;
        let report = repo_sync::run(
            &self.0,
            ctx.tenant_id(),
            payload.environment_id,
            &JobProgress(ctx),
        )
        .await
        .map_err(job_error)?;
        result(&report)
    }
}

/// `onboarding_inventory`: commit every untracked workflow to Git, then reconciliation.
pub struct OnboardingInventory(pub Arc<EngineCtx>);

#[async_trait::async_trait]
impl JobHandler for OnboardingInventory {
    fn job_type(&self) -> &str {
        ONBOARDING_INVENTORY
    }

    async fn run(&self, ctx: &JobContext) -> Result<Value, Error> {
        let payload: EnvironmentPayload = ctx.payload()?;
        let report = onboarding::inventory(
            &self.0,
            ctx.tenant_id(),
            payload.environment_id,
            &JobProgress(ctx),
        )
        .await
        .map_err(job_error)?;
        result(&report)
    }
}

/// `reconcile`: the diff states of the whole tenant.
pub struct Reconcile(pub Arc<EngineCtx>);

#[async_trait::async_trait]
impl JobHandler for Reconcile {
    fn job_type(&self) -> &str {
        RECONCILE
    }

    async fn run(&self, ctx: &JobContext) -> Result<Value, Error> {
        let _: ReconcilePayload = ctx.payload()?;
        JobProgress(ctx)
            .report(0, 1, "reconciling")
            .await
            .map_err(job_error)?;
        let report = reconcile::run(&self.0, ctx.tenant_id())
            .await
            .map_err(job_error)?;
        JobProgress(ctx)
            .report(1, 1, &format!("{} diff states stored", report.rows))
            .await
            .map_err(job_error)?;
        result(&report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_errors_keep_their_retryability() {
        let lost = uuid::Uuid::new_v4();
        assert!(
            matches!(job_error(EngineError::LeaseLost(lost)), Error::LeaseLost(id) if id == lost)
        );
        let db = job_error(EngineError::Db(wfops_db::Error::Pool("timed out".into())));
        assert!(db.is_retryable());
        let missing = job_error(EngineError::EnvironmentNotFound(lost));
        assert!(!missing.is_retryable());
        assert_eq!(missing.to_string(), format!("environment {lost} not found"));
    }
}
