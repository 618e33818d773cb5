//! The scheduler framework: periodic work, one instance at a time across workers.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinSet;
use wfops_db::{scheduler as state, Db, ScopedFutureExt};

use crate::runner::panic_message;
use crate::Error;

/// A periodic task. Every worker runs every scheduler's loop, but `scheduler_state` lets only
/// one worker at a time tick a given scheduler, and only when it is due, so adding workers
/// never multiplies the work.
#[async_trait::async_trait]
pub trait Scheduler: Send + Sync + 'static {
    /// The row name in `scheduler_state` (lowercase, digits, `_`).
    fn name(&self) -> &str;

    /// Time between the starts of two ticks (from this scheduler's `*_INTERVAL_SECONDS` variable).
    fn interval(&self) -> Duration;

    /// A disabled scheduler is still listed (so the status view shows it) but never ticks.
    fn enabled(&self) -> bool {
        true
    }

    /// One run. An error is recorded as the scheduler's `last_error` (and cleared by the next
    /// success); the next tick still comes on time.
    async fn tick(&self, ctx: &SchedulerContext) -> Result<(), Error>;
}

/// What a tick can use.
#[derive(Clone)]
pub struct SchedulerContext {
    pub db: Db,
    pub worker: Arc<str>,
}

impl std::fmt::Debug for SchedulerContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SchedulerContext")
            .field("worker", &self.worker)
            .finish()
    }
}

/// Timing of the scheduler loop.
#[derive(Debug, Clone)]
pub struct SchedulerOptions {
    /// How often each worker checks whether a scheduler is due. Bounds how late a tick can
    /// start; the checks are single-row updates, cheap at one per second.
    pub check_every: Duration,
    /// Lease of a running tick, renewed every third of it; a worker that dies mid-tick frees
    /// the scheduler after at most this long.
    pub lease: Duration,
}

impl Default for SchedulerOptions {
    fn default() -> Self {
        Self {
            check_every: Duration::from_secs(1),
            lease: Duration::from_secs(60),
        }
    }
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase())
        && name.len() <= 64
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

pub(crate) struct SchedulerLoop {
    ctx: SchedulerContext,
    schedulers: Vec<Arc<dyn Scheduler>>,
    options: SchedulerOptions,
}

impl SchedulerLoop {
    /// Validates the schedulers and registers them in `scheduler_state` (interval and enabled
    /// flag from this worker's configuration).
    pub(crate) async fn new(
        db: Db,
        worker: Arc<str>,
        schedulers: Vec<Arc<dyn Scheduler>>,
        options: SchedulerOptions,
    ) -> Result<Self, Error> {
        let mut seen = std::collections::HashSet::new();
        for s in &schedulers {
            let name = s.name().to_owned();
            if !valid_name(&name) {
                return Err(Error::InvalidScheduler {
                    name,
                    reason: "names are 1-64 characters of a-z, 0-9 and _, starting with a letter"
                        .into(),
                });
            }
            if s.interval().is_zero() {
                return Err(Error::InvalidScheduler {
                    name,
                    reason: "the interval must be at least one second".into(),
                });
            }
            if !seen.insert(name.clone()) {
                return Err(Error::InvalidScheduler {
                    name,
                    reason: "two schedulers have this name".into(),
                });
            }
            let (interval, enabled) = (s.interval(), s.enabled());
            db.system_tx(move |conn| {
                async move { state::ensure(conn, &name, interval, enabled).await }.scope_boxed()
            })
            .await?;
        }
        Ok(Self {
            ctx: SchedulerContext { db, worker },
            schedulers,
            options,
        })
    }

    /// Ticks due schedulers until `stop`; ticks still running then get until `hard` to end,
    /// after which they are interrupted and their lease is handed back.
    pub(crate) async fn run(self, mut stop: watch::Receiver<bool>, hard: watch::Receiver<bool>) {
        let mut running: JoinSet<()> = JoinSet::new();
        let mut busy = std::collections::HashSet::<String>::new();
        let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel::<String>();
        loop {
            while let Ok(name) = done_rx.try_recv() {
                busy.remove(&name);
            }
            while running.try_join_next().is_some() {}
            for s in &self.schedulers {
                if !s.enabled() || busy.contains(s.name()) {
                    continue;
                }
                let name = s.name().to_owned();
                let worker = self.ctx.worker.clone();
                let lease = self.options.lease;
                let acquired = self
                    .ctx
                    .db
                    .system_tx(move |conn| {
                        async move { state::try_acquire(conn, &name, &worker, lease).await }
                            .scope_boxed()
                    })
                    .await;
                match acquired {
                    Ok(true) => {
                        busy.insert(s.name().to_owned());
                        let (s, ctx, opts) = (s.clone(), self.ctx.clone(), self.options.clone());
                        let (done, hard) = (done_tx.clone(), hard.clone());
                        running.spawn(async move {
                            let name = s.name().to_owned();
                            run_tick(s, ctx, opts, hard).await;
                            let _ = done.send(name);
                        });
                    }
                    Ok(false) => {}
                    Err(e) => {
                        tracing::warn!(scheduler = s.name(), error = %e, "scheduler check failed")
                    }
                }
            }
            tokio::select! {
                _ = crate::stopped(&mut stop) => break,
                _ = tokio::time::sleep(self.options.check_every) => {}
            }
        }
        while running.join_next().await.is_some() {}
    }
}

async fn run_tick(
    s: Arc<dyn Scheduler>,
    ctx: SchedulerContext,
    options: SchedulerOptions,
    mut hard: watch::Receiver<bool>,
) {
    let name = s.name().to_owned();
    let started = Instant::now();
    tracing::info!(scheduler = %name, worker = %ctx.worker, "scheduler tick started");
    let tick_ctx = ctx.clone();
    let tick_s = s.clone();
    let mut task = tokio::spawn(async move { tick_s.tick(&tick_ctx).await });
    let every = (options.lease / 3).max(Duration::from_millis(100));
    let mut renew = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    let outcome: Result<(), String> = loop {
        tokio::select! {
            r = &mut task => break match r {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(e.to_string()),
                Err(j) if j.is_panic() => Err(panic_message(j, "scheduler tick")),
                Err(_) => Err("tick cancelled".to_owned()),
            },
            _ = renew.tick() => {
                let (n, w, lease) = (name.clone(), ctx.worker.clone(), options.lease);
                let renewed = ctx.db.system_tx(move |conn| {
                    async move { state::renew(conn, &n, &w, lease).await }.scope_boxed()
                }).await;
                match renewed {
                    Ok(true) => {}
                    Ok(false) => {
                        tracing::warn!(scheduler = %name, "scheduler lease lost; stopping the tick");
                        task.abort();
                        return;
                    }
                    Err(e) => tracing::warn!(scheduler = %name, error = %e, "scheduler lease renewal failed"),
                }
            }
            _ = crate::stopped(&mut hard) => {
                task.abort();
                let _ = task.await;
                let (n, w) = (name.clone(), ctx.worker.clone());
                let released = ctx.db.system_tx(move |conn| {
                    async move { state::release(conn, &n, &w).await }.scope_boxed()
                }).await;
                if let Err(e) = released {
                    tracing::warn!(scheduler = %name, error = %e, "releasing the scheduler lease failed");
                }
                tracing::warn!(scheduler = %name, "scheduler tick interrupted by shutdown");
                return;
            }
        }
    };
    let elapsed = started.elapsed();
    match &outcome {
        Ok(()) => tracing::info!(scheduler = %name, duration_ms = elapsed.as_millis() as u64,
            "scheduler tick finished"),
        Err(e) => tracing::error!(scheduler = %name, duration_ms = elapsed.as_millis() as u64,
            error = %e, "scheduler tick failed"),
    }
    let (n, w) = (name.clone(), ctx.worker.clone());
    let finished = ctx
        .db
        .system_tx(move |conn| {
            async move { state::finish(conn, &n, &w, outcome, elapsed).await }.scope_boxed()
        })
        .await;
    match finished {
        Ok(true) => {}
        Ok(false) => {
            tracing::warn!(scheduler = %name, "scheduler lease was lost before the tick ended")
        }
        Err(e) => {
            tracing::warn!(scheduler = %name, error = %e, "recording the scheduler tick failed")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheduler_names_follow_the_table_rule() {
        assert!(valid_name("retention_cleanup"));
        assert!(valid_name("a1"));
        assert!(!valid_name(""));
        assert!(!valid_name("1abc"));
        assert!(!valid_name("Retention"));
        assert!(!valid_name("with-dash"));
        assert!(!valid_name(&"a".repeat(65)));
    }
}
