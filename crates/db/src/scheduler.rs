//! Leases and bookkeeping of the periodic schedulers (`scheduler_state`,
//! apps/worker/README.md#schedulers).
//!
//! Every worker runs every scheduler loop, but a tick only happens in the worker that wins
//! [`try_acquire`]: the row is due (`next_run_at <= now()`), enabled and not leased by a live
//! worker. The winner records the outcome with [`finish`], which also sets the next due time
//! from the start of this run (`last_run_at + interval`), so the cadence does not drift by the
//! tick's duration. The table is global (not tenant-scoped); a scheduler that works on tenant
//! data lists tenants with [`tenant_ids`] and opens one tenant transaction per tenant.
//!
//! `scheduler_state.last_error` summarises every tenant and is for platform admins only. What a
//! tenant may see of a scheduler is its own row of `scheduler_tenant_runs` (row-level
//! security): [`record_tenant_run`] writes it, [`list_tenant_runs`] reads it.

use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Integer, Nullable, Text};
use diesel_async::RunQueryDsl;
use serde::Serialize;
use uuid::Uuid;

use crate::error::Error;
use crate::schema::{scheduler_state, scheduler_tenant_runs};
use crate::Conn;

/// The state of one scheduler, as the status endpoint shows it.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Serialize)]
#[diesel(table_name = scheduler_state, check_for_backend(Pg))]
pub struct SchedulerState {
    pub name: String,
    pub interval_seconds: i32,
    pub enabled: bool,
    pub last_run_at: Option<DateTime<Utc>>,
    pub last_finished_at: Option<DateTime<Utc>>,
    pub next_run_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub last_duration_ms: Option<i64>,
    pub run_count: i64,
    /// The worker running it right now, if any.
    pub locked_by: Option<String>,
    pub lease_expires_at: Option<DateTime<Utc>>,
}

fn seconds(d: Duration) -> i32 {
    i32::try_from(d.as_secs().max(1)).unwrap_or(i32::MAX)
}

/// Registers a scheduler, or updates its interval and enabled flag from the configuration of
/// the worker that starts last. A changed interval takes effect at once: the next run moves to
/// `last_run_at + new interval` (or now, for a scheduler that never ran).
pub async fn ensure(
    conn: &mut Conn,
    name: &str,
    interval: Duration,
    enabled: bool,
) -> Result<SchedulerState, Error> {
    diesel::sql_query(
        "insert into scheduler_state (name, interval_seconds, enabled, next_run_at)
         values ($1, $2, $3, now())
         on conflict (name) do update
            set interval_seconds = excluded.interval_seconds,
                enabled = excluded.enabled,
                next_run_at = case
                    when scheduler_state.interval_seconds = excluded.interval_seconds
                        then scheduler_state.next_run_at
                    else coalesce(scheduler_state.last_run_at, now())
                         + make_interval(secs => excluded.interval_seconds)
                end,
                updated_at = now()",
    )
    .bind::<Text, _>(name)
    .bind::<Integer, _>(seconds(interval))
    .bind::<Bool, _>(enabled)
    .execute(conn)
    .await?;
    get(conn, name).await?.ok_or(Error::NotFound)
}

/// Takes the lease of a due, enabled, unleased scheduler for `worker`. Exactly one of several
/// workers calling this at the same time gets `true`: the update re-checks the row after
/// waiting for a concurrent winner's lock and then no longer matches.
pub async fn try_acquire(
    conn: &mut Conn,
    name: &str,
    worker: &str,
    lease: Duration,
) -> Result<bool, Error> {
    let n = diesel::sql_query(
        "update scheduler_state
            set locked_by = $2,
                lease_expires_at = now() + make_interval(secs => $3),
                last_run_at = now(),
                updated_at = now()
          where name = $1
            and enabled
            and next_run_at <= now()
            and (locked_by is null or lease_expires_at < now())",
    )
    .bind::<Text, _>(name)
    .bind::<Text, _>(worker)
    .bind::<Integer, _>(seconds(lease))
    .execute(conn)
    .await?;
    Ok(n == 1)
}

/// Extends the lease of a tick that is still running. `false`: the lease was lost (it expired
/// and another worker took the scheduler).
pub async fn renew(
    conn: &mut Conn,
    name: &str,
    worker: &str,
    lease: Duration,
) -> Result<bool, Error> {
    let n = diesel::sql_query(
        "update scheduler_state
            set lease_expires_at = now() + make_interval(secs => $3), updated_at = now()
          where name = $1 and locked_by = $2",
    )
    .bind::<Text, _>(name)
    .bind::<Text, _>(worker)
    .bind::<Integer, _>(seconds(lease))
    .execute(conn)
    .await?;
    Ok(n == 1)
}

/// Records the end of a tick and releases the lease. `outcome` is the tick's error message on
/// failure; a success clears the previous error. `false` when `worker` no longer held the lease
/// (nothing is written: the new holder's bookkeeping wins).
pub async fn finish(
    conn: &mut Conn,
    name: &str,
    worker: &str,
    outcome: Result<(), String>,
    duration: Duration,
) -> Result<bool, Error> {
    let error = outcome.err();
    let duration_ms = i64::try_from(duration.as_millis()).unwrap_or(i64::MAX);
    let n = diesel::sql_query(
        "update scheduler_state
            set locked_by = null,
                lease_expires_at = null,
                last_finished_at = now(),
                last_error = $3,
                last_duration_ms = $4,
                run_count = run_count + 1,
                next_run_at = coalesce(last_run_at, now()) + make_interval(secs => interval_seconds),
                updated_at = now()
          where name = $1 and locked_by = $2",
    )
    .bind::<Text, _>(name)
    .bind::<Text, _>(worker)
    .bind::<Nullable<Text>, _>(error)
    .bind::<BigInt, _>(duration_ms)
    .execute(conn)
    .await?;
    Ok(n == 1)
}

/// Hands the lease back without recording a run (the tick was interrupted by a shutdown), so
/// that another worker runs the scheduler at once instead of after the lease expires.
pub async fn release(conn: &mut Conn, name: &str, worker: &str) -> Result<bool, Error> {
    let n = diesel::sql_query(
        "update scheduler_state
            set locked_by = null, lease_expires_at = null, updated_at = now()
          where name = $1 and locked_by = $2",
    )
    .bind::<Text, _>(name)
    .bind::<Text, _>(worker)
    .execute(conn)
    .await?;
    Ok(n == 1)
}

/// Every scheduler's state, by name.
pub async fn list_states(conn: &mut Conn) -> Result<Vec<SchedulerState>, Error> {
    scheduler_state::table
        .select(SchedulerState::as_select())
        .order(scheduler_state::name.asc())
        .load(conn)
        .await
        .map_err(Error::from)
}

pub async fn get(conn: &mut Conn, name: &str) -> Result<Option<SchedulerState>, Error> {
    scheduler_state::table
        .filter(scheduler_state::name.eq(name))
        .select(SchedulerState::as_select())
        .first(conn)
        .await
        .optional()
        .map_err(Error::from)
}

#[derive(QueryableByName)]
struct TenantIdRow {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    id: Uuid,
}

/// Every tenant's id, for schedulers that visit each tenant (through the `wfops_tenant_ids`
/// definer function: the application role can not list tenants otherwise).
pub async fn tenant_ids(conn: &mut Conn) -> Result<Vec<Uuid>, Error> {
    let rows: Vec<TenantIdRow> = diesel::sql_query("select t as id from wfops_tenant_ids() t")
        .load(conn)
        .await?;
    Ok(rows.into_iter().map(|r| r.id).collect())
}

/// How a scheduler's last pass went for the caller's tenant (`scheduler_tenant_runs`).
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Serialize)]
#[diesel(table_name = scheduler_tenant_runs, check_for_backend(Pg))]
pub struct TenantRun {
    pub tenant_id: Uuid,
    pub scheduler_name: String,
    pub last_run_at: DateTime<Utc>,
    pub last_finished_at: DateTime<Utc>,
    pub last_success_at: Option<DateTime<Utc>>,
    /// Written for the tenant's eyes (no database text); `None` after a success.
    pub last_error: Option<String>,
    pub run_count: i64,
}

/// Records, in the tenant's transaction, one pass of scheduler `name` over `tenant_id` that
/// started at `started_at`: `error` is `None` on success (which clears the previous error).
pub async fn record_tenant_run(
    conn: &mut Conn,
    tenant_id: Uuid,
    name: &str,
    started_at: DateTime<Utc>,
    error: Option<&str>,
) -> Result<(), Error> {
    diesel::sql_query(
        "insert into scheduler_tenant_runs
                (tenant_id, scheduler_name, last_run_at, last_finished_at, last_success_at,
                 last_error, run_count)
         values ($1, $2, $3, now(), case when $4::text is null then now() end, $4, 1)
         on conflict (tenant_id, scheduler_name) do update
            set last_run_at = excluded.last_run_at,
                last_finished_at = excluded.last_finished_at,
                last_success_at = coalesce(excluded.last_success_at,
                                           scheduler_tenant_runs.last_success_at),
                last_error = excluded.last_error,
                run_count = scheduler_tenant_runs.run_count + 1",
    )
    .bind::<diesel::sql_types::Uuid, _>(tenant_id)
    .bind::<Text, _>(name)
    .bind::<diesel::sql_types::Timestamptz, _>(started_at)
    .bind::<Nullable<Text>, _>(error)
    .execute(conn)
    .await?;
    Ok(())
}

/// The caller's tenant's scheduler outcomes, by scheduler name.
pub async fn list_tenant_runs(conn: &mut Conn) -> Result<Vec<TenantRun>, Error> {
    scheduler_tenant_runs::table
        .select(TenantRun::as_select())
        .order(scheduler_tenant_runs::scheduler_name.asc())
        .load(conn)
        .await
        .map_err(Error::from)
}
