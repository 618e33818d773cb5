use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use uuid::Uuid;
use wfops_db::jobs::{self, JobEvent, JobRow, NewJob};
use wfops_db::{Db, ScopedFutureExt};
use wfops_test_support::TestDb;
use wfops_worker::{
    Backoff, Error, JobContext, JobHandler, Registry, RunSummary, SchedulerOptions, Worker,
    WorkerOptions,
};

pub struct Fixture {
    pub test_db: TestDb,
    pub db: Db,
    pub tenant: Uuid,
}

pub async fn fixture() -> Fixture {
    let test_db = TestDb::new().await;
    let tenant = test_db
        .create_tenant(&format!("t-{}", &Uuid::new_v4().simple().to_string()[..8]))
        .await
        .expect("tenant");
    Fixture {
        db: test_db.db(),
        test_db,
        tenant,
    }
}

impl Fixture {
    pub async fn other_tenant(&self) -> Uuid {
        self.test_db
            .create_tenant(&format!("o-{}", &Uuid::new_v4().simple().to_string()[..8]))
            .await
            .expect("tenant")
    }

    pub async fn enqueue(&self, job: NewJob) -> JobRow {
        let tenant = job.tenant_id;
        self.db
            .tenant_tx(tenant, move |conn| {
                async move { jobs::enqueue(conn, job).await }.scope_boxed()
            })
            .await
            .expect("enqueue")
    }

    pub fn job(&self, job_type: &str, payload: Value) -> NewJob {
        NewJob::new(self.tenant, job_type, payload)
    }

    pub async fn get(&self, id: Uuid) -> JobRow {
        self.get_in(self.tenant, id).await.expect("job exists")
    }

    pub async fn get_in(&self, tenant: Uuid, id: Uuid) -> Option<JobRow> {
        self.db
            .tenant_tx(tenant, move |conn| {
                async move { jobs::get(conn, id).await }.scope_boxed()
            })
            .await
            .expect("get")
    }

    pub async fn events(&self, job_id: Uuid) -> Vec<JobEvent> {
        self.db
            .tenant_tx(self.tenant, move |conn| {
                async move { jobs::events_after(conn, 0, Some(job_id), 1000).await }.scope_boxed()
            })
            .await
            .expect("events")
    }

    pub async fn admin_query(&self, sql: &str) -> Vec<tokio_postgres::Row> {
        admin_query(&self.test_db.admin_url(), sql).await
    }
}

pub async fn admin_query(url: &str, sql: &str) -> Vec<tokio_postgres::Row> {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("admin connection");
    let task = tokio::spawn(conn);
    let rows = client.query(sql, &[]).await.expect("admin query");
    drop(client);
    let _ = task.await;
    rows
}

pub fn event_names(events: &[JobEvent]) -> Vec<&str> {
    events.iter().map(|e| e.event.as_str()).collect()
}

/// Fast timings so that tests take seconds, not minutes.
pub fn fast_options(name: &str) -> WorkerOptions {
    let mut o = WorkerOptions::new(format!(
        "{name}-{}",
        &Uuid::new_v4().simple().to_string()[..6]
    ));
    o.concurrency = 4;
    o.lease = Duration::from_secs(5);
    o.poll_interval = Duration::from_millis(100);
    o.backoff = Backoff {
        base: Duration::from_millis(50),
        max: Duration::from_secs(2),
        jitter: 0.0,
    };
    o.shutdown_grace = Duration::from_secs(5);
    o.schedulers = SchedulerOptions {
        check_every: Duration::from_millis(50),
        lease: Duration::from_secs(5),
    };
    o
}

/// A handler made of a closure.
pub struct FnHandler<F> {
    job_type: &'static str,
    f: F,
}

pub fn handler<F, Fut>(job_type: &'static str, f: F) -> FnHandler<F>
where
    F: Fn(JobContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Value, Error>> + Send + 'static,
{
    FnHandler { job_type, f }
}

#[async_trait::async_trait]
impl<F, Fut> JobHandler for FnHandler<F>
where
    F: Fn(JobContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Value, Error>> + Send + 'static,
{
    fn job_type(&self) -> &str {
        self.job_type
    }
    async fn run(&self, ctx: &JobContext) -> Result<Value, Error> {
        (self.f)(ctx.clone()).await
    }
}

/// A worker running in the background until [`Running::stop`].
pub struct Running {
    stop: Option<oneshot::Sender<()>>,
    handle: JoinHandle<Result<RunSummary, Error>>,
    pub name: String,
}

pub fn start(worker: Worker) -> Running {
    let (tx, rx) = oneshot::channel::<()>();
    let name = worker.name().to_owned();
    let handle = tokio::spawn(worker.run(async move {
        let _ = rx.await;
    }));
    Running {
        stop: Some(tx),
        handle,
        name,
    }
}

impl Running {
    pub async fn stop(mut self) -> RunSummary {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        tokio::time::timeout(Duration::from_secs(30), &mut self.handle)
            .await
            .expect("worker stops within 30 s")
            .expect("worker task")
            .expect("worker run")
    }
}

pub fn registry(handlers: Vec<Arc<dyn JobHandler>>) -> Registry {
    let mut r = Registry::new();
    for h in handlers {
        r.register_arc(h).expect("register");
    }
    r
}

/// Polls `check` until it returns true; fails the test after `timeout`.
pub async fn wait_until<F, Fut>(what: &str, timeout: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if check().await {
            return;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for: {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
