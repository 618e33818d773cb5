//! The one generic runner of typed job types ([`BackgroundJob`]): parse the payload into the
//! type, run it with the job's progress and checkpoint, store its report as the result.

use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use wfops_engine::jobs::{BackgroundJob, JobRun};
use wfops_engine::{Checkpoint, EngineError, Progress};

use crate::{Error, JobContext, JobHandler};

/// Runs every job of type `J` with the shared `J::Context`.
pub(crate) struct TypedJob<J: BackgroundJob> {
    ctx: Arc<J::Context>,
    _job: PhantomData<fn() -> J>,
}

impl<J: BackgroundJob> TypedJob<J> {
    pub(crate) fn new(ctx: Arc<J::Context>) -> Self {
        Self {
            ctx,
            _job: PhantomData,
        }
    }
}

#[async_trait::async_trait]
impl<J: BackgroundJob> JobHandler for TypedJob<J> {
    fn job_type(&self) -> &str {
        J::JOB_TYPE
    }

    fn deadline(&self) -> Duration {
        J::DEADLINE
    }

    async fn run(&self, ctx: &JobContext) -> Result<Value, Error> {
        let job: J = ctx.payload()?;
        let checkpoint =
            Checkpoint::for_job(ctx.job_id(), ctx.worker(), ctx.job().checkpoint.clone());
        let run = JobRun {
            tenant_id: ctx.tenant_id(),
            progress: &JobProgress(ctx),
            checkpoint: &checkpoint,
        };
        let report = job.run(&self.ctx, &run).await.map_err(job_error)?;
        serde_json::to_value(&report)
            .map_err(|e| Error::permanent(format!("the job's report can not be stored: {e}")))
    }
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
