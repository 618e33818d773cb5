//! Deployments: creation, lists, cancellation, the due scheduled deployments the scheduler
//! hands to the queue, and the stale-deployment cleanup of the worker. Rows are
//! [`crate::promotions::DeploymentRow`]; tenant scoping by row-level security.

use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::Integer;
use diesel::QueryableByName;
use diesel_async::RunQueryDsl;
use uuid::Uuid;
use wfops_promotion::{DeploymentStatus, PromotionStatus};

use crate::error::Error;
use crate::promotions::DeploymentRow;
use crate::schema::{deployments, promotions};
use crate::{Conn, Db, ScopedFutureExt};

/// The statuses of a deployment that has not finished.
pub const LIVE: [DeploymentStatus; 3] = [
    DeploymentStatus::Pending,
    DeploymentStatus::Scheduled,
    DeploymentStatus::Running,
];

fn texts(statuses: &[DeploymentStatus]) -> Vec<&'static str> {
    statuses.iter().map(|s| s.as_str()).collect()
}

/// The idempotency key of a `POST /deployments` and the hash of its request.
#[derive(Debug, Clone, Copy)]
pub struct IdempotencyKey<'a> {
    pub key: &'a str,
    pub request_hash: &'a str,
}

/// Serializes the creations that use idempotency key `key` in the tenant until the end of the
/// transaction (see [`crate::promotions::lock_idempotency_key`]).
pub async fn lock_idempotency_key(
    conn: &mut Conn,
    tenant_id: Uuid,
    key: &str,
) -> Result<(), Error> {
    crate::promotions::lock_key(conn, &format!("deployment-idempotency:{tenant_id}:{key}")).await
}

/// The deployment of the bound tenant created with idempotency key `key`, if any.
pub async fn find_by_idempotency_key(
    conn: &mut Conn,
    key: &str,
) -> Result<Option<DeploymentRow>, Error> {
    deployments::table
        .filter(deployments::idempotency_key.eq(key))
        .select(DeploymentRow::as_select())
        .first(conn)
        .await
        .optional()
        .map_err(Error::from)
}

/// Inserts a deployment of `promotion_id`: `scheduled` when `scheduled_for` is given,
/// otherwise `pending`.
pub async fn insert(
    conn: &mut Conn,
    tenant_id: Uuid,
    promotion_id: Uuid,
    scheduled_for: Option<DateTime<Utc>>,
    created_by: Option<Uuid>,
    idempotency: Option<IdempotencyKey<'_>>,
) -> Result<DeploymentRow, Error> {
    let status = if scheduled_for.is_some() {
        DeploymentStatus::Scheduled
    } else {
        DeploymentStatus::Pending
    };
    diesel::insert_into(deployments::table)
        .values((
            deployments::tenant_id.eq(tenant_id),
            deployments::promotion_id.eq(promotion_id),
            deployments::status.eq(status.as_str()),
            deployments::scheduled_for.eq(scheduled_for),
            deployments::created_by.eq(created_by),
            deployments::idempotency_key.eq(idempotency.map(|i| i.key)),
            deployments::idempotency_request_hash.eq(idempotency.map(|i| i.request_hash)),
        ))
        .returning(DeploymentRow::as_returning())
        .get_result(conn)
        .await
        .map_err(Error::from)
}

/// Records the job that runs deployment `id`.
pub async fn set_job(conn: &mut Conn, id: Uuid, job_id: Uuid) -> Result<DeploymentRow, Error> {
    diesel::update(deployments::table.find(id))
        .set((
            deployments::job_id.eq(Some(job_id)),
            deployments::updated_at.eq(Utc::now()),
        ))
        .returning(DeploymentRow::as_returning())
        .get_result(conn)
        .await
        .map_err(Error::from)
}

/// Every deployment of promotion `promotion_id`, oldest first.
pub async fn of_promotion(
    conn: &mut Conn,
    promotion_id: Uuid,
) -> Result<Vec<DeploymentRow>, Error> {
    deployments::table
        .filter(deployments::promotion_id.eq(promotion_id))
        .filter(deployments::is_deleted.eq(false))
        .select(DeploymentRow::as_select())
        .order((deployments::created_at.asc(), deployments::id))
        .load(conn)
        .await
        .map_err(Error::from)
}

/// Deployment `id` of the bound tenant, locked until the end of the transaction.
pub async fn get_for_update(conn: &mut Conn, id: Uuid) -> Result<DeploymentRow, Error> {
    deployments::table
        .find(id)
        .filter(deployments::is_deleted.eq(false))
        .for_update()
        .select(DeploymentRow::as_select())
        .first(conn)
        .await
        .map_err(Error::from)
}

/// Filters of [`list`]; `None` means any.
#[derive(Debug, Clone, Default)]
pub struct DeploymentFilter {
    pub status: Option<DeploymentStatus>,
    pub promotion_id: Option<Uuid>,
    pub target_environment_id: Option<Uuid>,
}

/// One page of the bound tenant's deployments, newest first, each with its promotion's
/// target environment, and the total.
pub async fn list(
    conn: &mut Conn,
    filter: &DeploymentFilter,
    offset: i64,
    limit: i64,
) -> Result<(Vec<(DeploymentRow, Uuid)>, i64), Error> {
    let query = || {
        let mut q = deployments::table
            .inner_join(
                promotions::table.on(promotions::id
                    .eq(deployments::promotion_id)
                    .and(promotions::tenant_id.eq(deployments::tenant_id))),
            )
            .filter(deployments::is_deleted.eq(false))
            .into_boxed();
        if let Some(status) = filter.status {
            q = q.filter(deployments::status.eq(status.as_str()));
        }
        if let Some(id) = filter.promotion_id {
            q = q.filter(deployments::promotion_id.eq(id));
        }
        if let Some(id) = filter.target_environment_id {
            q = q.filter(promotions::target_environment_id.eq(id));
        }
        q
    };
    let total: i64 = query().count().get_result(conn).await?;
    let rows = query()
        .select((
            DeploymentRow::as_select(),
            promotions::target_environment_id,
        ))
        .order((deployments::created_at.desc(), deployments::id.desc()))
        .offset(offset)
        .limit(limit)
        .load(conn)
        .await?;
    Ok((rows, total))
}

/// Moves deployment `id` from `from` to `to`, guarded on it still being `from`; `None` when it
/// no longer is. The caller has checked the move against `DeploymentStatus::transition`
/// (`scheduled → pending` is the scheduler handing a due deployment to the queue; the row keeps
/// the time it was scheduled for).
pub async fn transition(
    conn: &mut Conn,
    id: Uuid,
    from: DeploymentStatus,
    to: DeploymentStatus,
    error_message: Option<&str>,
) -> Result<Option<DeploymentRow>, Error> {
    crate::promotion_run::move_deployment(conn, id, from, to, None, error_message).await
}

/// Asks running deployment `id` to stop between workflows (kept if asked before); `None`
/// when it is not running.
pub async fn request_cancel(conn: &mut Conn, id: Uuid) -> Result<Option<DeploymentRow>, Error> {
    let now = Utc::now();
    diesel::update(
        deployments::table
            .find(id)
            .filter(deployments::status.eq(DeploymentStatus::Running.as_str())),
    )
    .set((
        deployments::cancel_requested_at.eq(diesel::dsl::sql::<
            diesel::sql_types::Nullable<diesel::sql_types::Timestamptz>,
        >("coalesce(cancel_requested_at, now())")),
        deployments::updated_at.eq(now),
    ))
    .returning(DeploymentRow::as_returning())
    .get_result(conn)
    .await
    .optional()
    .map_err(Error::from)
}

/// The bound tenant's scheduled deployments whose time has come and whose promotion may run
/// (not waiting for an approval, not failed), oldest first, at most `limit`, each with its
/// promotion's target environment. The rows are locked and rows locked by another
/// transaction are skipped, so two schedulers running at once never take the same one.
pub async fn lock_due_scheduled(
    conn: &mut Conn,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<(DeploymentRow, Uuid)>, Error> {
    deployments::table
        .inner_join(
            promotions::table.on(promotions::id
                .eq(deployments::promotion_id)
                .and(promotions::tenant_id.eq(deployments::tenant_id))),
        )
        .filter(deployments::status.eq(DeploymentStatus::Scheduled.as_str()))
        .filter(deployments::is_deleted.eq(false))
        .filter(deployments::scheduled_for.le(now))
        .filter(promotions::status.eq_any(texts_of(&[
            PromotionStatus::Pending,
            PromotionStatus::Approved,
        ])))
        .order((deployments::scheduled_for.asc(), deployments::id))
        .limit(limit.clamp(1, 1000))
        .for_update()
        .skip_locked()
        .select((
            DeploymentRow::as_select(),
            promotions::target_environment_id,
        ))
        .load(conn)
        .await
        .map_err(Error::from)
}

fn texts_of(statuses: &[PromotionStatus]) -> Vec<&'static str> {
    statuses.iter().map(|s| s.as_str()).collect()
}

/// The live (pending, scheduled or running) deployment of promotion `promotion_id`, if any.
pub async fn live_of_promotion(
    conn: &mut Conn,
    promotion_id: Uuid,
) -> Result<Option<DeploymentRow>, Error> {
    deployments::table
        .filter(deployments::promotion_id.eq(promotion_id))
        .filter(deployments::is_deleted.eq(false))
        .filter(deployments::status.eq_any(texts(&LIVE)))
        .select(DeploymentRow::as_select())
        .order(deployments::created_at.desc())
        .first(conn)
        .await
        .optional()
        .map_err(Error::from)
}

#[derive(QueryableByName)]
struct IdRow {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    id: Uuid,
}

/// The stale-deployment cleanup (docs/promotion.md#stale-deployments), across every tenant: marks
/// failed each running deployment whose `started_at` (or `created_at` when it never recorded a
/// start) is at least
/// `max_age` old, and returns their ids. Goes through the `wfops_fail_stale_deployments`
/// definer function because it runs at worker start, outside any tenant.
pub async fn fail_stale(db: &Db, max_age: Duration) -> Result<Vec<Uuid>, Error> {
    let seconds = i32::try_from(max_age.as_secs()).unwrap_or(i32::MAX).max(1);
    db.system_tx(move |conn| {
        async move {
            let rows: Vec<IdRow> =
                diesel::sql_query("select id from wfops_fail_stale_deployments($1) as id")
                    .bind::<Integer, _>(seconds)
                    .load(conn)
                    .await?;
            Ok(rows.into_iter().map(|r| r.id).collect())
        }
        .scope_boxed()
    })
    .await
}

/// Writes a `deployment_status` event on the deployment's job (when it has one), so that the
/// deployment streams show the status change next to the job's progress.
pub async fn record_status_event(conn: &mut Conn, deployment: &DeploymentRow) -> Result<(), Error> {
    let Some(job_id) = deployment.job_id else {
        return Ok(());
    };
    crate::jobs::events::insert_event(
        conn,
        deployment.tenant_id,
        job_id,
        "deployment_status",
        serde_json::json!({
            "deployment_id": deployment.id,
            "promotion_id": deployment.promotion_id,
            "status": deployment.status.as_str(),
            "cancel_requested": deployment.cancel_requested_at.is_some(),
        }),
    )
    .await
}

/// Which job events a deployment stream follows: those of every deployment job of the tenant,
/// or those of one deployment's job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventScope {
    AllDeployments,
    Deployment(Uuid),
}

fn scoped_events(
    scope: EventScope,
) -> crate::schema::job_events::BoxedQuery<'static, diesel::pg::Pg> {
    use crate::schema::{background_jobs, job_events};
    match scope {
        EventScope::AllDeployments => job_events::table
            .filter(
                job_events::job_id.eq_any(
                    background_jobs::table
                        .filter(background_jobs::job_type.eq(DEPLOYMENT_JOB_TYPE))
                        .select(background_jobs::id),
                ),
            )
            .into_boxed(),
        EventScope::Deployment(id) => job_events::table
            .filter(
                job_events::job_id.nullable().eq_any(
                    deployments::table
                        .filter(deployments::id.eq(id))
                        .select(deployments::job_id),
                ),
            )
            .into_boxed(),
    }
}

/// The job type of deployments (the engine's `PromotionDeployment::JOB_TYPE`).
pub const DEPLOYMENT_JOB_TYPE: &str = "promotion_deployment";

/// The bound tenant's events of `scope` with an id above `after_id`, oldest first, at most
/// `limit` (1..=1000).
pub async fn events_after(
    conn: &mut Conn,
    after_id: i64,
    scope: EventScope,
    limit: i64,
) -> Result<Vec<crate::jobs::JobEvent>, Error> {
    use crate::schema::job_events;
    scoped_events(scope)
        .filter(job_events::id.gt(after_id))
        .select(crate::jobs::JobEvent::as_select())
        .order(job_events::id.asc())
        .limit(limit.clamp(1, 1000))
        .load(conn)
        .await
        .map_err(Error::from)
}

/// The bound tenant's events of `scope` with these ids (late commits a stream learnt of).
pub async fn events_by_ids(
    conn: &mut Conn,
    ids: &[i64],
    scope: EventScope,
) -> Result<Vec<crate::jobs::JobEvent>, Error> {
    use crate::schema::job_events;
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    scoped_events(scope)
        .filter(job_events::id.eq_any(ids))
        .select(crate::jobs::JobEvent::as_select())
        .order(job_events::id.asc())
        .load(conn)
        .await
        .map_err(Error::from)
}

/// The id of the newest event of `scope`, or 0.
pub async fn latest_event_id(conn: &mut Conn, scope: EventScope) -> Result<i64, Error> {
    use crate::schema::job_events;
    let max: Option<i64> = scoped_events(scope)
        .select(diesel::dsl::max(job_events::id))
        .first(conn)
        .await?;
    Ok(max.unwrap_or(0))
}
