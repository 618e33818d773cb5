#![doc = include_str!("../README.md")]

mod backoff;
pub mod engine_jobs;
mod error;
mod handler;
pub mod per_tenant;
mod runner;
mod scheduler;
pub mod schedulers;
mod typed;

use std::time::Duration;

pub use backoff::Backoff;
pub use engine_jobs::register_engine_jobs;
pub use error::Error;
pub use handler::{JobContext, JobHandler, Registry, DEFAULT_JOB_DEADLINE};
pub use per_tenant::{for_each_tenant, TenantSweep, TenantTick};
pub use runner::{default_worker_name, RunSummary, Worker, WorkerOptions};
pub use scheduler::{Scheduler, SchedulerContext, SchedulerOptions};

/// Resolves once the flag is set (or its sender is gone, which only happens after the worker
/// has stopped). The `Ref` that `wait_for` returns is not `Send`, so it must not live across
/// the `select!` that awaits this.
pub(crate) async fn stopped(rx: &mut tokio::sync::watch::Receiver<bool>) {
    let _ = rx.wait_for(|v| *v).await;
}

/// The stale-deployment cleanup (docs/promotion.md#stale-deployments), run once at worker start: a
/// deployment still
/// `running` after `max_age` belongs to a process that died, and would block the deployment
/// scheduler forever. Returns the ids it marked failed.
pub async fn cleanup_stale_deployments(
    db: &wfops_db::Db,
    max_age: Duration,
) -> Result<Vec<uuid::Uuid>, Error> {
    let ids = wfops_db::deployments::fail_stale(db, max_age).await?;
    if ids.is_empty() {
        tracing::info!(max_age_s = max_age.as_secs(), "no stale deployments");
    } else {
        tracing::warn!(count = ids.len(), ids = ?ids, max_age_s = max_age.as_secs(),
            "stale deployments marked failed");
    }
    Ok(ids)
}

/// Installs the SIGTERM and SIGINT (Ctrl-C) handlers, the signals a container runtime or a
/// terminal sends to ask for a graceful stop, and returns a future that resolves on the first
/// of them. Installing up front makes a failure a start-up error instead of a worker that
/// can not be stopped cleanly. Must be called inside the Tokio runtime.
pub fn shutdown_signal() -> Result<impl std::future::Future<Output = ()> + Send, Error> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())
        .map_err(|e| Error::Startup(format!("installing the SIGTERM handler: {e}")))?;
    let mut int = signal(SignalKind::interrupt())
        .map_err(|e| Error::Startup(format!("installing the SIGINT handler: {e}")))?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM received"),
            _ = int.recv() => tracing::info!("SIGINT received"),
        }
    })
}
