//! The life of a job row: enqueue, claim, heartbeat, complete, fail, release, cancel, and the
//! retention delete of finished jobs.

use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, Integer, Text};
use diesel_async::RunQueryDsl;
use serde_json::Value;
use uuid::Uuid;

use super::events::insert_event;
use super::{JobRow, JobStatus, NewJob};
use crate::error::Error;
use crate::schema::{background_jobs, job_events};
use crate::{Conn, Db, ScopedFutureExt};

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

/// Cancels every pending and running job of an environment in the caller's tenant (the
/// environment is going away), with `reason` as their error and a `cancelled` event; returns
/// their ids. A running job's worker learns it at its next heartbeat, progress report or
/// checkpoint (each is conditional on the job still running under that worker) and stops it;
/// the transaction it had open rolls back.
pub async fn cancel_for_environment(
    conn: &mut Conn,
    environment_id: Uuid,
    reason: &str,
) -> Result<Vec<Uuid>, Error> {
    let now = Utc::now();
    let cancelled: Vec<(Uuid, Uuid)> = diesel::update(
        background_jobs::table
            .filter(
                background_jobs::environment_id
                    .eq(environment_id)
                    // a job that names the environment only by its lock key holds it too
                    .or(background_jobs::lock_key.eq(format!("env:{environment_id}"))),
            )
            .filter(background_jobs::status.eq_any([JobStatus::Pending, JobStatus::Running])),
    )
    .set((
        background_jobs::status.eq(JobStatus::Cancelled),
        background_jobs::error.eq(Some(reason)),
        background_jobs::completed_at.eq(Some(now)),
        background_jobs::locked_by.eq(None::<String>),
        background_jobs::lease_expires_at.eq(None::<DateTime<Utc>>),
        background_jobs::updated_at.eq(now),
    ))
    .returning((background_jobs::id, background_jobs::tenant_id))
    .get_results(conn)
    .await?;
    for (job_id, tenant_id) in &cancelled {
        insert_event(
            conn,
            *tenant_id,
            *job_id,
            "cancelled",
            serde_json::json!({ "reason": reason }),
        )
        .await?;
    }
    Ok(cancelled.into_iter().map(|(id, _)| id).collect())
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
