//! The engine's job types (`wfops_engine::jobs`) run by the worker. Adding a job type is its
//! `BackgroundJob` impl in the engine and one line here.

use std::sync::Arc;

use wfops_engine::jobs::{
    DriftCheck, DriftReconcile, EnvironmentSync, NotificationDelivery, OnboardingInventory,
    PromotionDeployment, Reconcile, RepositorySync, SnapshotRestore,
};
use wfops_engine::EngineCtx;

use crate::{Error, Registry};

/// Registers every job type of the engine.
pub fn register_engine_jobs(registry: &mut Registry, ctx: Arc<EngineCtx>) -> Result<(), Error> {
    registry.register_job::<EnvironmentSync>(ctx.clone())?;
    registry.register_job::<RepositorySync>(ctx.clone())?;
    registry.register_job::<OnboardingInventory>(ctx.clone())?;
    registry.register_job::<Reconcile>(ctx.clone())?;
    registry.register_job::<PromotionDeployment>(ctx.clone())?;
    registry.register_job::<SnapshotRestore>(ctx.clone())?;
    registry.register_job::<DriftCheck>(ctx.clone())?;
    registry.register_job::<DriftReconcile>(ctx.clone())?;
    registry.register_job::<NotificationDelivery>(ctx)?;
    Ok(())
}
