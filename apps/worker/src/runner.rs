//! The job loop: claim, run, heartbeat, record, shut down gracefully.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use serde_json::Value;
use tokio::sync::{watch, Notify, Semaphore};
use tokio::task::{JoinError, JoinSet};
use wfops_db::jobs::{self, FailOutcome, JobRow};
use wfops_db::{Db, ScopedFutureExt};

use crate::backoff::Backoff;
use crate::handler::{JobContext, Registry};
use crate::scheduler::{SchedulerLoop, SchedulerOptions};
use crate::{Error, Scheduler};

/// How a worker behaves. [`WorkerOptions::from_config`] reads the documented variables; tests
/// shorten the times.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// Written into `locked_by`; unique per process so that leases can be told apart.
    pub name: String,
    /// Jobs run at the same time (`WORKER_CONCURRENCY`).
    pub concurrency: usize,
    /// How long a claim holds a job without a heartbeat (`JOB_LEASE_SECONDS`). Heartbeats are
    /// sent every third of it, so two missed heartbeats still keep the job.
    pub lease: Duration,
    /// The longest wait between two claim attempts when no notification arrives.
    pub poll_interval: Duration,
    pub backoff: Backoff,
    /// On shutdown, running jobs get this long to finish before they are interrupted and
    /// released back to the queue.
    pub shutdown_grace: Duration,
    /// A connection URL for LISTEN wake-ups (the pool's connections can not hold a LISTEN).
    /// `None`: poll only.
    pub listen_url: Option<String>,
    pub schedulers: SchedulerOptions,
    /// Deadlines by job type (`JOB_DEADLINES`), overriding the deadline a handler declares.
    pub job_deadlines: HashMap<String, Duration>,
}

impl WorkerOptions {
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            concurrency: 4,
            lease: Duration::from_secs(60),
            poll_interval: Duration::from_secs(5),
            backoff: Backoff::default(),
            shutdown_grace: Duration::from_secs(30),
            listen_url: None,
            schedulers: SchedulerOptions::default(),
            job_deadlines: HashMap::new(),
        }
    }

    pub fn from_config(config: &wfops_config::Config, name: impl Into<String>) -> Self {
        let mut o = Self::new(name);
        o.concurrency = config.worker_concurrency.max(1);
        o.lease = Duration::from_secs(config.job_lease_seconds.max(3));
        o.schedulers.lease = o.lease;
        o.job_deadlines = config
            .job_deadlines
            .iter()
            .map(|(t, s)| (t.clone(), Duration::from_secs(*s)))
            .collect();
        o
    }

    fn heartbeat_every(&self) -> Duration {
        (self.lease / 3).max(Duration::from_millis(100))
    }
}

/// A unique worker name: host, process id and a random suffix (two workers in one process,
/// as in the tests, still differ).
pub fn default_worker_name() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_owned())
        })
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "worker".to_owned());
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    format!("{host}-{}-{}", std::process::id(), &suffix[..8])
}

/// What happened to the jobs this worker claimed during one [`Worker::run`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunSummary {
    pub completed: u64,
    /// Failed runs put back for a retry.
    pub retried: u64,
    /// Jobs failed for good.
    pub failed: u64,
    /// Jobs handed back at shutdown.
    pub released: u64,
    /// Jobs taken over by another worker after this one's lease expired.
    pub lost: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Completed,
    Retried,
    Failed,
    Released,
    Lost,
}

impl RunSummary {
    fn add(&mut self, o: Outcome) {
        match o {
            Outcome::Completed => self.completed += 1,
            Outcome::Retried => self.retried += 1,
            Outcome::Failed => self.failed += 1,
            Outcome::Released => self.released += 1,
            Outcome::Lost => self.lost += 1,
        }
    }
}

/// Claims and runs jobs of the registered types, and runs the schedulers.
pub struct Worker {
    db: Db,
    registry: Arc<Registry>,
    schedulers: Vec<Arc<dyn Scheduler>>,
    options: WorkerOptions,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("name", &self.options.name)
            .field("registry", &self.registry)
            .field(
                "schedulers",
                &self.schedulers.iter().map(|s| s.name()).collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// What every job supervisor shares.
struct Shared {
    db: Db,
    registry: Arc<Registry>,
    worker: Arc<str>,
    lease: Duration,
    heartbeat_every: Duration,
    backoff: Backoff,
    job_deadlines: HashMap<String, Duration>,
}

impl Worker {
    pub fn new(db: Db, registry: Registry, options: WorkerOptions) -> Self {
        Self {
            db,
            registry: Arc::new(registry),
            schedulers: Vec::new(),
            options,
        }
    }

    pub fn with_scheduler(mut self, scheduler: impl Scheduler) -> Self {
        self.schedulers.push(Arc::new(scheduler));
        self
    }

    pub fn name(&self) -> &str {
        &self.options.name
    }

    /// Runs until `shutdown` resolves (SIGTERM/SIGINT in the binary), then stops claiming,
    /// gives running jobs and scheduler ticks `shutdown_grace` to finish, interrupts and
    /// releases whatever is still running, and returns what happened.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) -> Result<RunSummary, Error> {
        let Worker {
            db,
            registry,
            schedulers,
            options,
        } = self;
        let types = registry.job_types();
        let worker: Arc<str> = Arc::from(options.name.as_str());
        let shared = Arc::new(Shared {
            db: db.clone(),
            registry: registry.clone(),
            worker: worker.clone(),
            lease: options.lease,
            heartbeat_every: options.heartbeat_every(),
            backoff: options.backoff,
            job_deadlines: options.job_deadlines.clone(),
        });
        for job_type in options.job_deadlines.keys() {
            if registry.get(job_type).is_none() {
                // workers with different registries may share one configuration
                tracing::warn!(%job_type, "JOB_DEADLINES names a job type this worker does not run");
            }
        }
        let (stop_tx, stop_rx) = watch::channel(false);
        let (hard_tx, hard_rx) = watch::channel(false);
        let wake = Arc::new(Notify::new());

        let scheduler_task = if schedulers.is_empty() {
            None
        } else {
            let lp = SchedulerLoop::new(
                db.clone(),
                worker.clone(),
                schedulers,
                options.schedulers.clone(),
            )
            .await?;
            let (stop, hard) = (stop_rx.clone(), hard_rx.clone());
            Some(tokio::spawn(lp.run(stop, hard)))
        };

        let listener_task = match (&options.listen_url, types.is_empty()) {
            (Some(url), false) => Some(tokio::spawn(listen_for_jobs(
                url.clone(),
                types.clone(),
                wake.clone(),
                stop_rx.clone(),
            ))),
            _ => None,
        };

        tracing::info!(worker = %worker, job_types = ?types, concurrency = options.concurrency,
            "worker started");

        let slots = Arc::new(Semaphore::new(options.concurrency.max(1)));
        let mut running: JoinSet<Outcome> = JoinSet::new();
        let mut summary = RunSummary::default();
        tokio::pin!(shutdown);

        'claiming: loop {
            while let Some(done) = running.try_join_next() {
                record(&mut summary, done);
            }
            if types.is_empty() {
                // nothing to claim: only the schedulers work
                (&mut shutdown).await;
                break 'claiming;
            }
            let permit = tokio::select! {
                biased;
                _ = &mut shutdown => break 'claiming,
                permit = slots.clone().acquire_owned() => match permit {
                    Ok(p) => p,
                    Err(_) => break 'claiming,
                },
            };
            match jobs::claim(&db, &worker, options.lease, &types).await {
                Ok(Some(job)) => {
                    tracing::info!(job_id = %job.id, job_type = %job.job_type,
                        tenant_id = %job.tenant_id, attempt = job.attempts, "job claimed");
                    let shared = shared.clone();
                    let hard = hard_rx.clone();
                    running.spawn(async move {
                        let outcome = supervise(&shared, job, hard).await;
                        drop(permit);
                        outcome
                    });
                    // a slot may still be free and more jobs due: claim again at once
                    continue 'claiming;
                }
                Ok(None) => drop(permit),
                Err(e) => {
                    drop(permit);
                    tracing::warn!(error = %e, "claiming a job failed");
                }
            }
            tokio::select! {
                biased;
                _ = &mut shutdown => break 'claiming,
                _ = wake.notified() => {}
                Some(done) = running.join_next(), if !running.is_empty() => {
                    record(&mut summary, done);
                }
                _ = tokio::time::sleep(options.poll_interval) => {}
            }
        }

        tracing::info!(worker = %worker, running = running.len(),
            grace_ms = options.shutdown_grace.as_millis() as u64, "worker stopping");
        let _ = stop_tx.send(true);
        let deadline = tokio::time::Instant::now() + options.shutdown_grace;
        loop {
            tokio::select! {
                done = running.join_next() => match done {
                    Some(done) => record(&mut summary, done),
                    None => break,
                },
                _ = tokio::time::sleep_until(deadline) => {
                    tracing::warn!(worker = %worker, running = running.len(),
                        "grace period over: interrupting and releasing running jobs");
                    let _ = hard_tx.send(true);
                    while let Some(done) = running.join_next().await {
                        record(&mut summary, done);
                    }
                    break;
                }
            }
        }
        if let Some(t) = scheduler_task {
            let scheduler_wait = tokio::time::sleep_until(deadline);
            tokio::pin!(scheduler_wait);
            tokio::pin!(t);
            tokio::select! {
                r = &mut t => log_join("scheduler loop", r),
                _ = &mut scheduler_wait => {
                    let _ = hard_tx.send(true);
                    log_join("scheduler loop", t.await);
                }
            }
        }
        if let Some(t) = listener_task {
            t.abort();
            let _ = t.await;
        }
        tracing::info!(worker = %worker, ?summary, "worker stopped");
        Ok(summary)
    }
}

fn log_join(what: &str, r: Result<(), JoinError>) {
    if let Err(e) = r {
        tracing::error!(error = %e, "{what} ended abnormally");
    }
}

fn record(summary: &mut RunSummary, done: Result<Outcome, JoinError>) {
    match done {
        Ok(o) => summary.add(o),
        // supervise() does not panic on purpose; if it ever does, the job's lease expires and
        // another claim reruns it, so the job is still not lost
        Err(e) => tracing::error!(error = %e, "job supervisor ended abnormally"),
    }
}

/// Turns a panic payload into the message that is stored as the job's error.
pub(crate) fn panic_message(e: JoinError, what: &str) -> String {
    if !e.is_panic() {
        return format!("the {what} task was cancelled");
    }
    let payload = e.into_panic();
    let text = if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_owned()
    };
    format!("{what} panicked: {text}")
}

/// Runs one claimed job to its recorded end.
async fn supervise(shared: &Shared, job: JobRow, mut hard: watch::Receiver<bool>) -> Outcome {
    let job_id = job.id;
    let tenant_id = job.tenant_id;
    let Some(handler) = shared.registry.get(&job.job_type) else {
        // claim() only asks for registered types; kept for safety
        let msg = format!("no handler registered for job type {:?}", job.job_type);
        return record_failure(shared, &job, msg, false).await;
    };
    let deadline = shared
        .job_deadlines
        .get(&job.job_type)
        .copied()
        .unwrap_or_else(|| handler.deadline());
    let deadline_at = tokio::time::Instant::now() + deadline;
    let ctx = JobContext::new(shared.db.clone(), job.clone(), shared.worker.clone());
    let run_ctx = ctx.clone();
    let mut task = tokio::spawn(async move { handler.run(&run_ctx).await });
    let mut heartbeat = tokio::time::interval_at(
        tokio::time::Instant::now() + shared.heartbeat_every,
        shared.heartbeat_every,
    );
    heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);

    let result = loop {
        tokio::select! {
            r = &mut task => break r,
            _ = heartbeat.tick() => {
                let worker = shared.worker.clone();
                let lease = shared.lease;
                let held = shared.db.tenant_tx(tenant_id, move |conn| {
                    async move { jobs::heartbeat(conn, job_id, &worker, lease).await }.scope_boxed()
                }).await;
                match held {
                    Ok(true) => {}
                    Ok(false) => {
                        tracing::warn!(%job_id, "the job is no longer this worker's (its lease expired and another worker took it, or it was cancelled); stopping it here");
                        task.abort();
                        let _ = task.await;
                        return Outcome::Lost;
                    }
                    // keep running: the next heartbeat may get through before the lease ends
                    Err(e) => tracing::warn!(%job_id, error = %e, "heartbeat failed"),
                }
            }
            _ = tokio::time::sleep_until(deadline_at) => {
                task.abort();
                // a handler that finished in the same instant keeps its result
                if let Ok(r) = task.await {
                    break Ok(r);
                }
                let msg = deadline_message(deadline, ctx.last_progress_message().as_deref());
                tracing::warn!(%job_id, job_type = %job.job_type, error = %msg, "job interrupted at its deadline");
                return record_failure(shared, &job, msg, true).await;
            }
            _ = crate::stopped(&mut hard) => {
                task.abort();
                // a handler that finished in the same instant keeps its result
                match task.await {
                    Ok(r) => break Ok(r),
                    Err(_) => return release(shared, job_id, tenant_id).await,
                }
            }
        }
    };

    match result {
        Ok(Ok(value)) => record_success(shared, &job, value).await,
        Ok(Err(e)) => {
            let retryable = e.is_retryable();
            record_failure(shared, &job, e.to_string(), retryable).await
        }
        Err(join) if join.is_panic() => {
            let msg = panic_message(join, "job handler");
            tracing::error!(%job_id, error = %msg, "job handler panicked");
            record_failure(shared, &job, msg, true).await
        }
        Err(_) => release(shared, job_id, tenant_id).await,
    }
}

/// The error of a run interrupted at its deadline: how long it had, and what it was doing.
fn deadline_message(deadline: Duration, last_progress: Option<&str>) -> String {
    let secs = deadline.as_secs_f64();
    let secs = if secs.fract() == 0.0 {
        format!("{secs:.0}")
    } else {
        format!("{secs:.1}")
    };
    match last_progress {
        Some(m) => format!("deadline of {secs} s exceeded while {m}"),
        None => format!("deadline of {secs} s exceeded before the job reported any progress"),
    }
}

/// The final write of a run is retried a few times: losing it would make the job run again
/// once its lease expires (safe, since handlers are idempotent, but wasteful).
async fn with_retries<T, F, Fut>(what: &str, job_id: uuid::Uuid, mut f: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, wfops_db::Error>>,
{
    let mut delay = Duration::from_millis(100);
    for attempt in 1..=4 {
        match f().await {
            Ok(v) => return Some(v),
            Err(e) => {
                tracing::warn!(%job_id, attempt, error = %e, "{what} failed");
                if attempt < 4 {
                    tokio::time::sleep(delay).await;
                    delay *= 4;
                }
            }
        }
    }
    None
}

async fn record_success(shared: &Shared, job: &JobRow, value: Value) -> Outcome {
    let job_id = job.id;
    let r = with_retries("recording completion", job_id, || {
        let worker = shared.worker.clone();
        let value = value.clone();
        shared.db.tenant_tx(job.tenant_id, move |conn| {
            async move { jobs::complete(conn, job_id, &worker, value).await }.scope_boxed()
        })
    })
    .await;
    match r {
        Some(true) => {
            tracing::info!(%job_id, job_type = %job.job_type, "job completed");
            Outcome::Completed
        }
        Some(false) => Outcome::Lost,
        // the lease will expire and the job will run again
        None => Outcome::Lost,
    }
}

async fn record_failure(
    shared: &Shared,
    job: &JobRow,
    message: String,
    retryable: bool,
) -> Outcome {
    let job_id = job.id;
    let retry_at = (retryable && job.has_attempts_left()).then(|| {
        let delay = shared
            .backoff
            .delay(u32::try_from(job.attempts).unwrap_or(1));
        Utc::now() + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::MAX)
    });
    let r = with_retries("recording failure", job_id, || {
        let worker = shared.worker.clone();
        let message = message.clone();
        shared.db.tenant_tx(job.tenant_id, move |conn| {
            async move { jobs::fail(conn, job_id, &worker, &message, retry_at).await }.scope_boxed()
        })
    })
    .await;
    match r {
        Some(FailOutcome::Retrying { run_at }) => {
            tracing::warn!(%job_id, job_type = %job.job_type, attempt = job.attempts,
                error = %message, %run_at, "job failed; retry scheduled");
            Outcome::Retried
        }
        Some(FailOutcome::Failed) => {
            tracing::error!(%job_id, job_type = %job.job_type, attempt = job.attempts,
                error = %message, "job failed");
            Outcome::Failed
        }
        Some(FailOutcome::NotHeld) | None => Outcome::Lost,
    }
}

async fn release(shared: &Shared, job_id: uuid::Uuid, tenant_id: uuid::Uuid) -> Outcome {
    let r = with_retries("releasing", job_id, || {
        let worker = shared.worker.clone();
        shared.db.tenant_tx(tenant_id, move |conn| {
            async move { jobs::release(conn, job_id, &worker).await }.scope_boxed()
        })
    })
    .await;
    match r {
        Some(true) => {
            tracing::info!(%job_id, "job released at shutdown");
            Outcome::Released
        }
        _ => Outcome::Lost,
    }
}

/// Wakes the claim loop when a job of one of `types` becomes pending. Reconnects with a
/// growing delay when the connection drops; the poll interval covers the gap.
async fn listen_for_jobs(
    url: String,
    types: Vec<String>,
    wake: Arc<Notify>,
    mut stop: watch::Receiver<bool>,
) {
    let mut delay = Duration::from_millis(500);
    loop {
        match jobs::Listener::connect(&url, &[jobs::JOBS_CHANNEL]).await {
            Ok(mut listener) => {
                delay = Duration::from_millis(500);
                // jobs may have arrived while we were not listening
                wake.notify_one();
                loop {
                    tokio::select! {
                        _ = crate::stopped(&mut stop) => return,
                        note = listener.recv() => match note {
                            Some(n) => {
                                if wanted(&n.payload, &types) {
                                    wake.notify_one();
                                }
                            }
                            None => break,
                        },
                    }
                }
                tracing::warn!("job notification connection ended; reconnecting");
            }
            Err(e) => tracing::warn!(error = %e, "cannot listen for job notifications; polling"),
        }
        tokio::select! {
            _ = crate::stopped(&mut stop) => return,
            _ = tokio::time::sleep(delay) => {}
        }
        delay = (delay * 2).min(Duration::from_secs(30));
    }
}

/// A notification is for us when its job type is one we run; an unreadable payload wakes us
/// anyway (a useless claim is cheap, a missed job is not).
fn wanted(payload: &str, types: &[String]) -> bool {
    match serde_json::from_str::<Value>(payload) {
        Ok(v) => match v.get("job_type").and_then(Value::as_str) {
            Some(t) => types.iter().any(|x| x == t),
            None => true,
        },
        Err(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notification_filter_matches_job_type() {
        let types = vec!["sync".to_owned(), "drift_check".to_owned()];
        assert!(wanted(r#"{"id":"x","job_type":"sync"}"#, &types));
        assert!(!wanted(r#"{"id":"x","job_type":"promotion"}"#, &types));
        assert!(wanted("not json", &types));
        assert!(wanted(r#"{"id":"x"}"#, &types));
    }

    #[tokio::test]
    async fn panic_messages_are_extracted() {
        let e = tokio::spawn(async { panic!("boom {}", 42) })
            .await
            .unwrap_err();
        assert_eq!(
            panic_message(e, "job handler"),
            "job handler panicked: boom 42"
        );
        let e = tokio::spawn(async { std::panic::panic_any(7u8) })
            .await
            .unwrap_err();
        assert_eq!(
            panic_message(e, "job handler"),
            "job handler panicked: non-string panic payload"
        );
        let h = tokio::spawn(async { tokio::time::sleep(Duration::from_secs(60)).await });
        h.abort();
        let e = h.await.unwrap_err();
        assert_eq!(panic_message(e, "job"), "the job task was cancelled");
    }

    #[test]
    fn deadline_messages_say_how_long_and_doing_what() {
        assert_eq!(
            deadline_message(Duration::from_secs(600), Some("fetching branch main")),
            "deadline of 600 s exceeded while fetching branch main"
        );
        assert_eq!(
            deadline_message(Duration::from_millis(1500), None),
            "deadline of 1.5 s exceeded before the job reported any progress"
        );
    }

    #[test]
    fn job_deadlines_come_from_the_configuration() {
        let config = wfops_config::Config::from_lookup(|name| {
            (name == "JOB_DEADLINES").then(|| "repository_sync=300".to_owned())
        })
        .unwrap();
        let o = WorkerOptions::from_config(&config, "w");
        assert_eq!(
            o.job_deadlines.get("repository_sync"),
            Some(&Duration::from_secs(300))
        );
        assert_eq!(o.job_deadlines.len(), 1);
    }

    #[test]
    fn worker_names_are_unique() {
        let a = default_worker_name();
        let b = default_worker_name();
        assert_ne!(a, b);
        assert!(a.contains(&std::process::id().to_string()));
    }

    #[test]
    fn summary_counts_outcomes() {
        let mut s = RunSummary::default();
        for o in [
            Outcome::Completed,
            Outcome::Completed,
            Outcome::Retried,
            Outcome::Failed,
            Outcome::Released,
            Outcome::Lost,
        ] {
            s.add(o);
        }
        assert_eq!(
            s,
            RunSummary {
                completed: 2,
                retried: 1,
                failed: 1,
                released: 1,
                lost: 1
            }
        );
    }
}
