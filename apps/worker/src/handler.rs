//! Job handlers and their registry.
//!
//! [`JobHandler`] is the object-safe runner the worker dispatches to by `job_type`. Typed job
//! types ([`wfops_engine::jobs::BackgroundJob`]) are registered with
//! [`Registry::register_job`], which wraps them in the one generic runner of
//! `crate::typed`; a bare `JobHandler` is for jobs whose type is only known at run time.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::Value;
use uuid::Uuid;
use wfops_db::jobs::{self, JobRow};
use wfops_db::{Db, ScopedFutureExt};

use crate::Error;

/// The code that runs one type of job.
///
/// `run` returns the job's JSON result, or an error whose [`Error::is_retryable`] decides
/// between another attempt (with backoff) and failing the job. A panic inside `run` is caught
/// by the worker and treated as a retryable failure carrying the panic message.
///
/// Runs are at-least-once: a worker that dies after doing the work but before recording it
/// makes the job run again, so handlers must be idempotent (check what is already done before
/// doing it).
#[async_trait::async_trait]
pub trait JobHandler: Send + Sync + 'static {
    /// The `job_type` this handler runs.
    fn job_type(&self) -> &str;

    /// How long one run may take before the worker interrupts it, fails it as retryable and
    /// frees its lock (`JOB_DEADLINES` overrides it per type, see `WorkerOptions`).
    fn deadline(&self) -> Duration {
        DEFAULT_JOB_DEADLINE
    }

    async fn run(&self, ctx: &JobContext) -> Result<Value, Error>;
}

/// The deadline of a handler that does not choose one.
pub const DEFAULT_JOB_DEADLINE: Duration = Duration::from_secs(3600);

/// What a running job can see and do.
#[derive(Clone)]
pub struct JobContext {
    db: Db,
    job: Arc<JobRow>,
    worker: Arc<str>,
    /// The message of the latest progress report, to say what a job was doing when its
    /// deadline ran out.
    last_message: Arc<Mutex<Option<String>>>,
}

impl std::fmt::Debug for JobContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobContext")
            .field("job_id", &self.job.id)
            .field("job_type", &self.job.job_type)
            .field("worker", &self.worker)
            .finish()
    }
}

impl JobContext {
    pub(crate) fn new(db: Db, job: JobRow, worker: Arc<str>) -> Self {
        Self {
            db,
            job: Arc::new(job),
            worker,
            last_message: Arc::default(),
        }
    }

    /// The message of the latest progress report of this run, if any.
    pub fn last_progress_message(&self) -> Option<String> {
        self.last_message
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The claimed row, as it was at claim time (`attempts` already counts this run).
    pub fn job(&self) -> &JobRow {
        &self.job
    }

    pub fn job_id(&self) -> Uuid {
        self.job.id
    }

    /// The tenant every transaction of this job must be bound to.
    pub fn tenant_id(&self) -> Uuid {
        self.job.tenant_id
    }

    /// 1 on the first run, 2 on the first retry, …
    pub fn attempt(&self) -> i32 {
        self.job.attempts
    }

    pub fn worker(&self) -> &str {
        &self.worker
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    /// The payload parsed into the handler's type; a payload of the wrong shape is a permanent
    /// failure that names the field serde complained about.
    pub fn payload<T: DeserializeOwned>(&self) -> Result<T, Error> {
        serde_json::from_value(self.job.payload.clone()).map_err(|e| Error::InvalidPayload {
            job_type: self.job.job_type.clone(),
            reason: e.to_string(),
        })
    }

    /// Records progress (`current` of `total`, with an optional message) on the job row and in
    /// its event stream. Fails with [`Error::LeaseLost`] when the job was taken over by another
    /// worker, which tells the handler to stop.
    pub async fn progress(
        &self,
        current: i64,
        total: i64,
        message: Option<&str>,
    ) -> Result<(), Error> {
        let job_id = self.job.id;
        let worker = self.worker.clone();
        let message = message.map(str::to_owned);
        if let Some(m) = &message {
            *self
                .last_message
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(m.clone());
        }
        let held = self
            .db
            .tenant_tx(self.job.tenant_id, move |conn| {
                async move {
                    jobs::record_progress(conn, job_id, &worker, current, total, message.as_deref())
                        .await
                }
                .scope_boxed()
            })
            .await?;
        if held {
            Ok(())
        } else {
            Err(Error::LeaseLost(job_id))
        }
    }
}

/// The handlers a worker runs, by job type. A worker only claims jobs of registered types, so
/// workers with different registries can share one queue.
#[derive(Clone, Default)]
pub struct Registry {
    handlers: HashMap<String, Arc<dyn JobHandler>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("job_types", &self.job_types())
            .finish()
    }
}

impl Registry {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn register(&mut self, handler: impl JobHandler) -> Result<(), Error> {
        self.register_arc(Arc::new(handler))
    }

    /// Registers the typed job type `J`, run with `ctx`: the one line that makes a worker run
    /// a new job type.
    pub fn register_job<J>(&mut self, ctx: Arc<J::Context>) -> Result<(), Error>
    where
        J: wfops_engine::jobs::BackgroundJob,
    {
        self.register(crate::typed::TypedJob::<J>::new(ctx))
    }

    pub fn register_arc(&mut self, handler: Arc<dyn JobHandler>) -> Result<(), Error> {
        let job_type = handler.job_type().to_owned();
        if self.handlers.contains_key(&job_type) {
            return Err(Error::DuplicateHandler(job_type));
        }
        self.handlers.insert(job_type, handler);
        Ok(())
    }

    pub fn get(&self, job_type: &str) -> Option<Arc<dyn JobHandler>> {
        self.handlers.get(job_type).cloned()
    }

    /// Registered job types, sorted.
    pub fn job_types(&self) -> Vec<String> {
        let mut types: Vec<String> = self.handlers.keys().cloned().collect();
        types.sort();
        types
    }

    pub fn is_empty(&self) -> bool {
        self.handlers.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Named(&'static str);

    #[async_trait::async_trait]
    impl JobHandler for Named {
        fn job_type(&self) -> &str {
            self.0
        }
        async fn run(&self, _ctx: &JobContext) -> Result<Value, Error> {
            Ok(Value::Null)
        }
    }

    #[test]
    fn registry_refuses_duplicates_and_lists_types() {
        let mut r = Registry::new();
        assert!(r.is_empty());
        r.register(Named("sync")).unwrap();
        r.register(Named("drift_check")).unwrap();
        let err = r.register(Named("sync")).unwrap_err();
        assert!(
            matches!(err, Error::DuplicateHandler(ref t) if t == "sync"),
            "{err}"
        );
        assert_eq!(r.job_types(), vec!["drift_check", "sync"]);
        assert!(r.get("sync").is_some());
        assert!(r.get("promotion").is_none());
    }
}
