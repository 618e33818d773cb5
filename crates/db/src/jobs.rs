//! The Postgres job queue (docs/ARCHITECTURE.md, "Job queue").
//!
//! Jobs are rows of `background_jobs`. A handler enqueues in its own tenant transaction so that
//! the job exists exactly when the domain write it belongs to exists. Workers claim through the
//! `wfops_claim_job` definer function (they do not know the tenant before claiming), then do
//! every later write in a transaction bound to the job's tenant. Every write to a running job is
//! conditional on `locked_by = <this worker>`: a worker whose lease expired and whose job was
//! reclaimed by another worker must not overwrite the other worker's outcome, so those functions
//! return `false` instead of writing.

use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::expression::AsExpression;
use diesel::pg::{Pg, PgValue};
use diesel::prelude::*;
use diesel::serialize::{self, Output, ToSql};
use diesel::sql_types::{Array, Integer, Text};
use diesel_async::RunQueryDsl;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::error::Error;
use crate::schema::{background_jobs, job_events};
use crate::{Conn, Db, ScopedFutureExt};

/// Status of a job. Stored as text (with a CHECK constraint) in `background_jobs.status`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, AsExpression, FromSqlRow,
)]
#[diesel(sql_type = Text)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    Pending,
    Running,
    Completed,
    Failed,
    Cancelled,
}

impl JobStatus {
    pub const ALL: [JobStatus; 5] = [
        Self::Pending,
        Self::Running,
        Self::Completed,
        Self::Failed,
        Self::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Running => "running",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }

    pub fn is_finished(self) -> bool {
        matches!(self, Self::Completed | Self::Failed | Self::Cancelled)
    }
}

impl std::fmt::Display for JobStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl ToSql<Text, Pg> for JobStatus {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        <str as ToSql<Text, Pg>>::to_sql(self.as_str(), out)
    }
}

impl FromSql<Text, Pg> for JobStatus {
    fn from_sql(bytes: PgValue<'_>) -> deserialize::Result<Self> {
        let s = <String as FromSql<Text, Pg>>::from_sql(bytes)?;
        JobStatus::parse(&s).ok_or_else(|| format!("unknown job status {s:?}").into())
    }
}

/// One row of `background_jobs`.
#[derive(Debug, Clone, PartialEq, Queryable, QueryableByName, Selectable, Serialize)]
#[diesel(table_name = background_jobs, check_for_backend(Pg))]
pub struct JobRow {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub environment_id: Option<Uuid>,
    pub job_type: String,
    pub status: JobStatus,
    pub payload: Value,
    pub result: Option<Value>,
    pub progress: Option<Value>,
    pub error: Option<String>,
    pub attempts: i32,
    pub max_attempts: i32,
    pub run_at: DateTime<Utc>,
    pub lock_key: Option<String>,
    pub locked_by: Option<String>,
    pub lease_expires_at: Option<DateTime<Utc>>,
    pub heartbeat_at: Option<DateTime<Utc>>,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub idempotency_key: Option<String>,
    pub resource_type: Option<String>,
    pub resource_id: Option<Uuid>,
    /// How far a previous attempt got (see [`save_checkpoint`]); kept across retries.
    pub checkpoint: Option<Value>,
}

impl JobRow {
    /// True when another run is allowed after this one fails.
    pub fn has_attempts_left(&self) -> bool {
        self.attempts < self.max_attempts
    }
}

/// A job to enqueue. Build it with [`NewJob::new`] and the builder methods.
#[derive(Debug, Clone, PartialEq, Insertable)]
#[diesel(table_name = background_jobs)]
pub struct NewJob {
    pub tenant_id: Uuid,
    pub environment_id: Option<Uuid>,
    pub job_type: String,
    pub payload: Value,
    pub max_attempts: i32,
    pub run_at: DateTime<Utc>,
    pub lock_key: Option<String>,
    pub idempotency_key: Option<String>,
    pub resource_type: Option<String>,
    pub resource_id: Option<Uuid>,
}

/// The default number of runs of a job before it is marked failed (`JOB_MAX_ATTEMPTS`).
pub const DEFAULT_MAX_ATTEMPTS: i32 = 5;

impl NewJob {
    pub fn new(tenant_id: Uuid, job_type: impl Into<String>, payload: Value) -> Self {
        Self {
            tenant_id,
            environment_id: None,
            job_type: job_type.into(),
            payload,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            run_at: Utc::now(),
            lock_key: None,
            idempotency_key: None,
            resource_type: None,
            resource_id: None,
        }
    }

    /// Ties the job to an environment and serialises it with every other job of that
    /// environment (lock key `env:<id>`): two syncs, or a sync and a promotion into the same
    /// environment, must never interleave.
    pub fn for_environment(mut self, environment_id: Uuid) -> Self {
        self.environment_id = Some(environment_id);
        self.lock_key = Some(environment_lock_key(environment_id));
        self
    }

    pub fn lock_key(mut self, key: impl Into<String>) -> Self {
        self.lock_key = Some(key.into());
        self
    }

    pub fn idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.idempotency_key = Some(key.into());
        self
    }

    pub fn resource(mut self, resource_type: impl Into<String>, resource_id: Uuid) -> Self {
        self.resource_type = Some(resource_type.into());
        self.resource_id = Some(resource_id);
        self
    }

    pub fn run_at(mut self, at: DateTime<Utc>) -> Self {
        self.run_at = at;
        self
    }

    pub fn max_attempts(mut self, n: i32) -> Self {
        self.max_attempts = n;
        self
    }
}

/// The lock key that serialises all work on one environment.
pub fn environment_lock_key(environment_id: Uuid) -> String {
    format!("env:{environment_id}")
}

/// Inserts a job in the caller's tenant transaction.
///
/// With an idempotency key that this tenant already used, nothing is inserted and the existing
/// job is returned: a client retrying a request after a timeout gets the job it already started
/// rather than a second one.
pub async fn enqueue(conn: &mut Conn, job: NewJob) -> Result<JobRow, Error> {
    let inserted = diesel::insert_into(background_jobs::table)
        .values(&job)
        .on_conflict_do_nothing()
        .returning(JobRow::as_returning())
        .get_result(conn)
        .await
        .optional()?;
    if let Some(row) = inserted {
        return Ok(row);
    }
    // Only the idempotency index can make this insert a no-op (ids are fresh); a conflict
    // elsewhere would have raised. Read the job that holds the key.
    let key = job.idempotency_key.as_deref().unwrap_or_default();
    background_jobs::table
        .filter(background_jobs::tenant_id.eq(job.tenant_id))
        .filter(background_jobs::idempotency_key.eq(key))
        .select(JobRow::as_select())
        .first(conn)
        .await
        .map_err(Error::from)
}

/// Enqueues `job` unless the tenant already has a pending job of the same type with the same
/// lock key (for environment jobs: the same environment), in which case that job is returned
/// with `false`: a second "sync this environment" request while one waits must not pile up a
/// second run. A job without a lock key is always enqueued.
///
/// Concurrent callers are serialized on a transaction-scoped advisory lock of
/// (tenant, type, key), so two requests racing each other still produce one job.
pub async fn enqueue_unless_pending(conn: &mut Conn, job: NewJob) -> Result<(JobRow, bool), Error> {
    let Some(lock_key) = job.lock_key.clone() else {
        return enqueue(conn, job).await.map(|row| (row, true));
    };
    diesel::sql_query("select pg_advisory_xact_lock(hashtextextended($1, 0))")
        .bind::<Text, _>(format!(
            "enqueue:{}:{}:{}",
            job.tenant_id, job.job_type, lock_key
        ))
        .execute(conn)
        .await?;
    let existing = background_jobs::table
        .filter(background_jobs::tenant_id.eq(job.tenant_id))
        .filter(background_jobs::job_type.eq(&job.job_type))
        .filter(background_jobs::lock_key.eq(&lock_key))
        .filter(background_jobs::status.eq(JobStatus::Pending))
        .order(background_jobs::created_at.asc())
        .select(JobRow::as_select())
        .first(conn)
        .await
        .optional()?;
    match existing {
        Some(row) => Ok((row, false)),
        None => enqueue(conn, job).await.map(|row| (row, true)),
    }
}

/// Records how far a running job held by `worker` got. Called in the same transaction as the
/// work it describes, so the checkpoint and the work commit together; `false` (write nothing)
/// when the job is no longer this worker's, which must roll that work back.
pub async fn save_checkpoint(
    conn: &mut Conn,
    job_id: Uuid,
    worker: &str,
    checkpoint: &Value,
) -> Result<bool, Error> {
    let n = diesel::update(
        background_jobs::table
            .filter(background_jobs::id.eq(job_id))
            .filter(background_jobs::status.eq(JobStatus::Running))
            .filter(background_jobs::locked_by.eq(worker)),
    )
    .set(background_jobs::checkpoint.eq(Some(checkpoint)))
    .execute(conn)
    .await?;
    Ok(n == 1)
}

/// Claims one due job of the given types for `worker`, holding it for `lease`.
///
/// Runs outside any tenant (the tenant is learnt from the claimed row). Also reclaims jobs
/// whose lease expired (see the migration for the exact rules). `None` means nothing is due.
pub async fn claim(
    db: &Db,
    worker: &str,
    lease: Duration,
    types: &[String],
) -> Result<Option<JobRow>, Error> {
    if types.is_empty() {
        return Ok(None);
    }
    let worker = worker.to_owned();
    let types = types.to_vec();
    let lease_seconds = lease_seconds(lease);
    db.system_tx(move |conn| {
        async move {
            diesel::sql_query("select * from wfops_claim_job($1, $2, $3)")
                .bind::<Text, _>(worker)
                .bind::<Integer, _>(lease_seconds)
                .bind::<Array<Text>, _>(types)
                .get_result::<JobRow>(conn)
                .await
                .optional()
                .map_err(Error::from)
        }
        .scope_boxed()
    })
    .await
}

fn lease_seconds(lease: Duration) -> i32 {
    i32::try_from(lease.as_secs().max(1)).unwrap_or(i32::MAX)
}

/// Extends the lease of a running job. `false`: the job is no longer this worker's (its lease
/// expired and it was reclaimed, or it was cancelled); the caller must stop working on it.
pub async fn heartbeat(
    conn: &mut Conn,
    job_id: Uuid,
    worker: &str,
    lease: Duration,
) -> Result<bool, Error> {
    let lease_seconds = lease_seconds(lease);
    let n = diesel::sql_query(
        "update background_jobs
            set lease_expires_at = now() + make_interval(secs => $3),
                heartbeat_at = now(), updated_at = now()
          where id = $1 and status = 'running' and locked_by = $2",
    )
    .bind::<diesel::sql_types::Uuid, _>(job_id)
    .bind::<Text, _>(worker)
    .bind::<Integer, _>(lease_seconds)
    .execute(conn)
    .await?;
    Ok(n == 1)
}

/// Marks a running job completed with its result.
pub async fn complete(
    conn: &mut Conn,
    job_id: Uuid,
    worker: &str,
    result: Value,
) -> Result<bool, Error> {
    let now = Utc::now();
    let updated = diesel::update(
        background_jobs::table
            .filter(background_jobs::id.eq(job_id))
            .filter(background_jobs::status.eq(JobStatus::Running))
            .filter(background_jobs::locked_by.eq(worker)),
    )
    .set((
        background_jobs::status.eq(JobStatus::Completed),
        background_jobs::result.eq(Some(&result)),
        background_jobs::error.eq(None::<String>),
        background_jobs::completed_at.eq(Some(now)),
        background_jobs::locked_by.eq(None::<String>),
        background_jobs::lease_expires_at.eq(None::<DateTime<Utc>>),
        background_jobs::updated_at.eq(now),
    ))
    .returning(background_jobs::tenant_id)
    .get_result::<Uuid>(conn)
    .await
    .optional()?;
    let Some(tenant_id) = updated else {
        return Ok(false);
    };
    insert_event(conn, tenant_id, job_id, "completed", serde_json::json!({})).await?;
    Ok(true)
}

/// What [`fail`] did with the job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailOutcome {
    /// Back to pending, to run again at the given time.
    Retrying { run_at: DateTime<Utc> },
    /// Failed for good: no retry was asked for, or no attempt is left.
    Failed,
    /// The job is not (or no longer) held by this worker; nothing was written.
    NotHeld,
}

/// Records a failed run. With `retry_at` and attempts left, the job goes back to pending and
/// runs again at `retry_at`; otherwise it is failed with `error`. The attempt was counted at
/// claim time.
pub async fn fail(
    conn: &mut Conn,
    job_id: Uuid,
    worker: &str,
    error: &str,
    retry_at: Option<DateTime<Utc>>,
) -> Result<FailOutcome, Error> {
    let row = diesel::sql_query(
        "update background_jobs
            set status = case when $4::timestamptz is not null and attempts < max_attempts
                              then 'pending' else 'failed' end,
                run_at = case when $4::timestamptz is not null and attempts < max_attempts
                              then $4::timestamptz else run_at end,
                completed_at = case when $4::timestamptz is not null and attempts < max_attempts
                                    then null else now() end,
                error = $3, locked_by = null, lease_expires_at = null, updated_at = now()
          where id = $1 and status = 'running' and locked_by = $2
        returning *",
    )
    .bind::<diesel::sql_types::Uuid, _>(job_id)
    .bind::<Text, _>(worker)
    .bind::<Text, _>(error)
    .bind::<diesel::sql_types::Nullable<diesel::sql_types::Timestamptz>, _>(retry_at)
    .get_result::<JobRow>(conn)
    .await
    .optional()?;
    let Some(row) = row else {
        return Ok(FailOutcome::NotHeld);
    };
    let (event, outcome) = match row.status {
        JobStatus::Pending => (
            "retry_scheduled",
            FailOutcome::Retrying { run_at: row.run_at },
        ),
        _ => ("failed", FailOutcome::Failed),
    };
    insert_event(
        conn,
        row.tenant_id,
        job_id,
        event,
        serde_json::json!({
            "error": error,
            "attempts": row.attempts,
            "max_attempts": row.max_attempts,
            "run_at": row.run_at,
        }),
    )
    .await?;
    Ok(outcome)
}

/// Hands a running job back to the queue without counting the attempt: the worker is shutting
/// down, the job did not fail.
pub async fn release(conn: &mut Conn, job_id: Uuid, worker: &str) -> Result<bool, Error> {
    let now = Utc::now();
    let updated = diesel::update(
        background_jobs::table
            .filter(background_jobs::id.eq(job_id))
            .filter(background_jobs::status.eq(JobStatus::Running))
            .filter(background_jobs::locked_by.eq(worker)),
    )
    .set((
        background_jobs::status.eq(JobStatus::Pending),
        background_jobs::attempts.eq(diesel::dsl::sql::<Integer>("greatest(attempts - 1, 0)")),
        background_jobs::run_at.eq(now),
        background_jobs::locked_by.eq(None::<String>),
        background_jobs::lease_expires_at.eq(None::<DateTime<Utc>>),
        background_jobs::heartbeat_at.eq(None::<DateTime<Utc>>),
        background_jobs::updated_at.eq(now),
    ))
    .returning(background_jobs::tenant_id)
    .get_result::<Uuid>(conn)
    .await
    .optional()?;
    let Some(tenant_id) = updated else {
        return Ok(false);
    };
    insert_event(conn, tenant_id, job_id, "released", serde_json::json!({})).await?;
    Ok(true)
}

/// Cancels a job that has not started yet. A running job is not interrupted (it may be half
/// way through writing to an n8n instance); `false` when the job is not pending.
pub async fn cancel(conn: &mut Conn, job_id: Uuid) -> Result<bool, Error> {
    let now = Utc::now();
    let updated = diesel::update(
        background_jobs::table
            .filter(background_jobs::id.eq(job_id))
            .filter(background_jobs::status.eq(JobStatus::Pending)),
    )
    .set((
        background_jobs::status.eq(JobStatus::Cancelled),
        background_jobs::completed_at.eq(Some(now)),
        background_jobs::updated_at.eq(now),
    ))
    .returning(background_jobs::tenant_id)
    .get_result::<Uuid>(conn)
    .await
    .optional()?;
    let Some(tenant_id) = updated else {
        return Ok(false);
    };
    insert_event(conn, tenant_id, job_id, "cancelled", serde_json::json!({})).await?;
    Ok(true)
}

/// The `progress` document of a job: `{current, total, percentage, message}` (spec §9.4).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    pub current: i64,
    pub total: i64,
    pub percentage: i64,
    pub message: Option<String>,
}

impl Progress {
    /// `total = 0` (nothing to do) counts as done rather than dividing by zero; `current` above
    /// `total` is reported as 100 %.
    pub fn new(current: i64, total: i64, message: Option<String>) -> Self {
        let current = current.max(0);
        let total = total.max(0);
        let percentage = if total == 0 {
            100
        } else {
            (current.min(total) * 100) / total
        };
        Self {
            current,
            total,
            percentage,
            message,
        }
    }
}

/// Records progress on a running job held by `worker` and appends a `progress` event for the
/// Server-Sent Events stream. `false` when the job is no longer this worker's.
pub async fn record_progress(
    conn: &mut Conn,
    job_id: Uuid,
    worker: &str,
    current: i64,
    total: i64,
    message: Option<&str>,
) -> Result<bool, Error> {
    let progress = Progress::new(current, total, message.map(str::to_owned));
    let doc = serde_json::json!({
        "current": progress.current,
        "total": progress.total,
        "percentage": progress.percentage,
        "message": progress.message,
    });
    let updated = diesel::update(
        background_jobs::table
            .filter(background_jobs::id.eq(job_id))
            .filter(background_jobs::status.eq(JobStatus::Running))
            .filter(background_jobs::locked_by.eq(worker)),
    )
    .set((
        background_jobs::progress.eq(Some(&doc)),
        background_jobs::updated_at.eq(Utc::now()),
    ))
    .returning(background_jobs::tenant_id)
    .get_result::<Uuid>(conn)
    .await
    .optional()?;
    let Some(tenant_id) = updated else {
        return Ok(false);
    };
    insert_event(conn, tenant_id, job_id, "progress", doc).await?;
    Ok(true)
}

async fn insert_event(
    conn: &mut Conn,
    tenant_id: Uuid,
    job_id: Uuid,
    event: &str,
    data: Value,
) -> Result<(), Error> {
    diesel::insert_into(job_events::table)
        .values((
            job_events::tenant_id.eq(tenant_id),
            job_events::job_id.eq(job_id),
            job_events::event.eq(event),
            job_events::data.eq(data),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// A job in the caller's tenant, or `None` (another tenant's job is invisible, as RLS wants).
pub async fn get(conn: &mut Conn, job_id: Uuid) -> Result<Option<JobRow>, Error> {
    background_jobs::table
        .filter(background_jobs::id.eq(job_id))
        .select(JobRow::as_select())
        .first(conn)
        .await
        .optional()
        .map_err(Error::from)
}

/// Filters for [`list`]; `None` matches everything.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JobFilter {
    pub status: Option<JobStatus>,
    pub job_type: Option<String>,
    pub environment_id: Option<Uuid>,
    pub resource_type: Option<String>,
    pub resource_id: Option<Uuid>,
}

/// A page request: `page` from 1, `page_size` 1..=200 (docs/ARCHITECTURE.md, "API conventions").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    pub page: i64,
    pub page_size: i64,
}

/// One page of jobs and the total number of matching jobs.
#[derive(Debug, Clone, PartialEq)]
pub struct JobPage {
    pub items: Vec<JobRow>,
    pub total: i64,
}

fn filtered(filter: &JobFilter) -> background_jobs::BoxedQuery<'_, Pg> {
    let mut q = background_jobs::table.into_boxed();
    if let Some(s) = filter.status {
        q = q.filter(background_jobs::status.eq(s));
    }
    if let Some(t) = &filter.job_type {
        q = q.filter(background_jobs::job_type.eq(t));
    }
    if let Some(e) = filter.environment_id {
        q = q.filter(background_jobs::environment_id.eq(e));
    }
    if let Some(rt) = &filter.resource_type {
        q = q.filter(background_jobs::resource_type.eq(rt));
    }
    if let Some(r) = filter.resource_id {
        q = q.filter(background_jobs::resource_id.eq(r));
    }
    q
}

/// The caller's tenant's jobs, newest first.
pub async fn list(
    conn: &mut Conn,
    filter: &JobFilter,
    page: PageRequest,
) -> Result<JobPage, Error> {
    let page_size = page.page_size.clamp(1, 200);
    let offset = (page.page.max(1) - 1).saturating_mul(page_size);
    let total = filtered(filter).count().get_result::<i64>(conn).await?;
    let items = filtered(filter)
        .select(JobRow::as_select())
        .order((
            background_jobs::created_at.desc(),
            background_jobs::id.desc(),
        ))
        .limit(page_size)
        .offset(offset)
        .load(conn)
        .await?;
    Ok(JobPage { items, total })
}

/// One row of `job_events`; `id` is the Server-Sent Events id.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Serialize)]
#[diesel(table_name = job_events, check_for_backend(Pg))]
pub struct JobEvent {
    pub id: i64,
    pub tenant_id: Uuid,
    pub job_id: Uuid,
    pub event: String,
    pub data: Value,
    pub created_at: DateTime<Utc>,
}

/// The caller's tenant's events with an id above `after_id` (the SSE `Last-Event-ID`), oldest
/// first, optionally of one job, at most `limit` (1..=1000).
pub async fn events_after(
    conn: &mut Conn,
    after_id: i64,
    job_id: Option<Uuid>,
    limit: i64,
) -> Result<Vec<JobEvent>, Error> {
    let mut q = job_events::table
        .filter(job_events::id.gt(after_id))
        .into_boxed();
    if let Some(j) = job_id {
        q = q.filter(job_events::job_id.eq(j));
    }
    q.select(JobEvent::as_select())
        .order(job_events::id.asc())
        .limit(limit.clamp(1, 1000))
        .load(conn)
        .await
        .map_err(Error::from)
}

/// What a retention pass deleted in one tenant.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    pub jobs: usize,
    pub events: usize,
}

/// Deletes the caller's tenant's finished jobs (with their events) that finished before
/// `cutoff`, and any older event of a job still alive.
pub async fn purge_before(conn: &mut Conn, cutoff: DateTime<Utc>) -> Result<Purged, Error> {
    let events = diesel::delete(job_events::table.filter(job_events::created_at.lt(cutoff)))
        .execute(conn)
        .await?;
    let jobs = diesel::delete(
        background_jobs::table
            .filter(background_jobs::status.eq_any([
                JobStatus::Completed,
                JobStatus::Failed,
                JobStatus::Cancelled,
            ]))
            .filter(background_jobs::completed_at.lt(cutoff)),
    )
    .execute(conn)
    .await?;
    Ok(Purged { jobs, events })
}

/// The NOTIFY channel on which a job becoming pending is announced.
pub const JOBS_CHANNEL: &str = "wfops_jobs";
/// The NOTIFY channel on which every new `job_events` row is announced (for SSE).
pub const JOB_EVENTS_CHANNEL: &str = "wfops_job_events";

/// One notification received by a [`Listener`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub channel: String,
    pub payload: String,
}

/// A dedicated connection that LISTENs on some channels.
///
/// Pooled connections can not be used: a LISTEN belongs to one session and must stay open.
/// Notifications are delivered through a bounded channel; when the reader lags, extra
/// notifications are dropped, which is harmless for wake-ups (one is enough to trigger a claim).
/// When the connection ends, [`Listener::recv`] returns `None` and the caller reconnects.
pub struct Listener {
    rx: tokio::sync::mpsc::Receiver<Notification>,
    task: tokio::task::JoinHandle<()>,
    /// Dropping the client closes the session, so it lives as long as the listener.
    _client: tokio_postgres::Client,
}

impl std::fmt::Debug for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listener").finish_non_exhaustive()
    }
}

impl Listener {
    /// Connects to `database_url` and listens on `channels` (plain identifiers such as
    /// [`JOBS_CHANNEL`]).
    pub async fn connect(database_url: &str, channels: &[&str]) -> Result<Self, Error> {
        for c in channels {
            if c.is_empty() || !c.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '_') {
                return Err(Error::Connect(format!("invalid channel name {c:?}")));
            }
        }
        let (client, mut connection) = tokio_postgres::connect(database_url, tokio_postgres::NoTls)
            .await
            .map_err(|e| Error::Connect(format!("connecting: {}", describe_pg_error(&e))))?;
        let (tx, rx) = tokio::sync::mpsc::channel(256);
        // The connection object performs the I/O of the client, including the LISTEN below,
        // so it is driven by its own task from the start.
        let task = tokio::spawn(async move {
            use futures::StreamExt;
            let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
            while let Some(message) = messages.next().await {
                match message {
                    Ok(tokio_postgres::AsyncMessage::Notification(n)) => {
                        let note = Notification {
                            channel: n.channel().to_owned(),
                            payload: n.payload().to_owned(),
                        };
                        if let Err(tokio::sync::mpsc::error::TrySendError::Closed(_)) =
                            tx.try_send(note)
                        {
                            return;
                        }
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(error = %describe_pg_error(&e), "LISTEN connection lost");
                        return;
                    }
                }
            }
        });
        let sql: String = channels.iter().map(|c| format!("LISTEN {c};")).collect();
        if let Err(e) = client.batch_execute(&sql).await {
            task.abort();
            return Err(Error::Connect(format!("LISTEN: {}", describe_pg_error(&e))));
        }
        Ok(Self {
            rx,
            task,
            _client: client,
        })
    }

    /// The next notification, or `None` once the connection has ended.
    pub async fn recv(&mut self) -> Option<Notification> {
        self.rx.recv().await
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// tokio-postgres errors may quote the connection string in some versions; keep only the
/// database's own message and code.
fn describe_pg_error(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => {
            if e.is_closed() {
                "connection closed".to_owned()
            } else {
                "connection error".to_owned()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_percentage_is_bounded() {
        assert_eq!(Progress::new(0, 10, None).percentage, 0);
        assert_eq!(Progress::new(5, 10, None).percentage, 50);
        assert_eq!(Progress::new(10, 10, None).percentage, 100);
        assert_eq!(Progress::new(15, 10, None).percentage, 100);
        assert_eq!(Progress::new(0, 0, None).percentage, 100);
        assert_eq!(Progress::new(-3, 10, None).current, 0);
    }

    #[test]
    fn job_status_text_round_trips() {
        for s in JobStatus::ALL {
            assert_eq!(JobStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(JobStatus::parse("Running"), None);
        assert!(JobStatus::Failed.is_finished());
        assert!(!JobStatus::Running.is_finished());
    }

    #[test]
    fn environment_jobs_share_a_lock_key() {
        let t = Uuid::new_v4();
        let e = Uuid::new_v4();
        let a = NewJob::new(t, "sync", serde_json::json!({})).for_environment(e);
        let b = NewJob::new(t, "drift_check", serde_json::json!({})).for_environment(e);
        assert_eq!(a.lock_key, b.lock_key);
        assert_eq!(a.lock_key.as_deref(), Some(format!("env:{e}").as_str()));
        assert_eq!(a.environment_id, Some(e));
    }
}
