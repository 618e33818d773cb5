//! Snapshot restore requests: a restore of a snapshot into an environment whose promotions need
//! an approval waits here for a second admin (docs/promotion.md#snapshots). A restore that needs
//! none is queued at once and recorded here too, so that every restore has one history.
//! Tenant scoping by row-level security.

use chrono::{DateTime, Utc};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use uuid::Uuid;

use crate::error::Error;
use crate::schema::snapshot_restores;
use crate::Conn;

/// `pending_approval`, `queued` (its job exists) or `rejected`.
pub const PENDING_APPROVAL: &str = "pending_approval";
pub const QUEUED: &str = "queued";
pub const REJECTED: &str = "rejected";

/// A restore request as stored.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = snapshot_restores, check_for_backend(Pg))]
pub struct RestoreRow {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub snapshot_id: Uuid,
    pub environment_id: Uuid,
    pub status: String,
    pub requested_by_actor: String,
    pub decided_by_actor: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
    pub rejection_reason: Option<String>,
    pub job_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Records a restore request: waiting for approval, or already queued as `job_id`.
pub async fn insert(
    conn: &mut Conn,
    tenant_id: Uuid,
    snapshot_id: Uuid,
    environment_id: Uuid,
    requested_by_actor: &str,
    job_id: Option<Uuid>,
) -> Result<RestoreRow, Error> {
    let now = Utc::now();
    let (status, decided_at) = match job_id {
        Some(_) => (QUEUED, Some(now)),
        None => (PENDING_APPROVAL, None),
    };
    diesel::insert_into(snapshot_restores::table)
        .values((
            snapshot_restores::tenant_id.eq(tenant_id),
            snapshot_restores::snapshot_id.eq(snapshot_id),
            snapshot_restores::environment_id.eq(environment_id),
            snapshot_restores::status.eq(status),
            snapshot_restores::requested_by_actor.eq(requested_by_actor),
            snapshot_restores::decided_at.eq(decided_at),
            snapshot_restores::job_id.eq(job_id),
        ))
        .returning(RestoreRow::as_returning())
        .get_result(conn)
        .await
        .map_err(Error::from)
}

/// Restore request `id` of the bound tenant, locked until the end of the transaction.
pub async fn get_for_update(conn: &mut Conn, id: Uuid) -> Result<RestoreRow, Error> {
    snapshot_restores::table
        .find(id)
        .for_update()
        .select(RestoreRow::as_select())
        .first(conn)
        .await
        .map_err(Error::from)
}

/// Restore request `id` of the bound tenant.
pub async fn get(conn: &mut Conn, id: Uuid) -> Result<RestoreRow, Error> {
    snapshot_restores::table
        .find(id)
        .select(RestoreRow::as_select())
        .first(conn)
        .await
        .map_err(Error::from)
}

/// Records the decision on a waiting request: `queued` with its job, or `rejected` with the
/// reason. Guarded on the request still waiting; `None` when it no longer is.
pub async fn decide(
    conn: &mut Conn,
    id: Uuid,
    decided_by_actor: &str,
    job_id: Option<Uuid>,
    rejection_reason: Option<&str>,
) -> Result<Option<RestoreRow>, Error> {
    let now = Utc::now();
    let status = if job_id.is_some() { QUEUED } else { REJECTED };
    diesel::update(
        snapshot_restores::table
            .find(id)
            .filter(snapshot_restores::status.eq(PENDING_APPROVAL)),
    )
    .set((
        snapshot_restores::status.eq(status),
        snapshot_restores::decided_by_actor.eq(Some(decided_by_actor)),
        snapshot_restores::decided_at.eq(Some(now)),
        snapshot_restores::job_id.eq(job_id),
        snapshot_restores::rejection_reason.eq(rejection_reason),
        snapshot_restores::updated_at.eq(now),
    ))
    .returning(RestoreRow::as_returning())
    .get_result(conn)
    .await
    .optional()
    .map_err(Error::from)
}

/// One page of the bound tenant's restore requests (of one snapshot when given), newest first,
/// and the total.
pub async fn list(
    conn: &mut Conn,
    snapshot_id: Option<Uuid>,
    offset: i64,
    limit: i64,
) -> Result<(Vec<RestoreRow>, i64), Error> {
    let query = || {
        let mut q = snapshot_restores::table.into_boxed();
        if let Some(id) = snapshot_id {
            q = q.filter(snapshot_restores::snapshot_id.eq(id));
        }
        q
    };
    let total: i64 = query().count().get_result(conn).await?;
    let rows = query()
        .select(RestoreRow::as_select())
        .order((
            snapshot_restores::created_at.desc(),
            snapshot_restores::id.desc(),
        ))
        .offset(offset)
        .limit(limit)
        .load(conn)
        .await?;
    Ok((rows, total))
}
