//! `snapshots`: an environment's workflows as its n8n instance held them at one moment
//! (docs/promotion.md#snapshots). The documents are stored whole in `workflows`, a JSON array
//! of entries written and read by the engine; this module stores and reads the rows. Tenant
//! scoping by row-level security.

use chrono::{DateTime, Utc};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde_json::Value;
use uuid::Uuid;
use wfops_promotion::SnapshotKind;

use crate::error::Error;
use crate::schema::snapshots;
use crate::Conn;

/// A whole snapshot row.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = snapshots, check_for_backend(Pg))]
pub struct SnapshotRow {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub environment_id: Uuid,
    #[diesel(deserialize_as = crate::columns::Parsed<SnapshotKind>)]
    pub snapshot_type: SnapshotKind,
    pub workflows: Value,
    pub workflow_count: i32,
    pub git_commit_sha: Option<String>,
    pub notes: Option<String>,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

/// A snapshot to store.
#[derive(Debug, Clone, PartialEq)]
pub struct NewSnapshot<'a> {
    pub environment_id: Uuid,
    pub kind: SnapshotKind,
    /// The entries (a JSON array).
    pub workflows: &'a Value,
    pub workflow_count: usize,
    pub notes: Option<&'a str>,
    pub created_by: Option<Uuid>,
}

/// Stores a snapshot of the tenant's environment and returns its id.
pub async fn insert(
    conn: &mut Conn,
    tenant_id: Uuid,
    new: &NewSnapshot<'_>,
) -> Result<Uuid, Error> {
    let count = i32::try_from(new.workflow_count).map_err(|_| {
        Error::Unreadable(format!("{} workflows in one snapshot", new.workflow_count))
    })?;
    diesel::insert_into(snapshots::table)
        .values((
            snapshots::tenant_id.eq(tenant_id),
            snapshots::environment_id.eq(new.environment_id),
            snapshots::snapshot_type.eq(new.kind.as_str()),
            snapshots::workflows.eq(new.workflows),
            snapshots::workflow_count.eq(count),
            snapshots::notes.eq(new.notes),
            snapshots::created_by.eq(new.created_by),
        ))
        .returning(snapshots::id)
        .get_result(conn)
        .await
        .map_err(Error::from)
}

/// Snapshot `id` of the bound tenant.
pub async fn get(conn: &mut Conn, id: Uuid) -> Result<SnapshotRow, Error> {
    snapshots::table
        .find(id)
        .select(SnapshotRow::as_select())
        .first(conn)
        .await
        .map_err(Error::from)
}

/// A snapshot without its workflows payload (what lists show).
#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = snapshots, check_for_backend(Pg))]
pub struct SnapshotSummary {
    pub id: Uuid,
    pub environment_id: Uuid,
    /// `pre_promotion`, `post_promotion` or `manual_backup`.
    pub snapshot_type: String,
    pub workflow_count: i32,
    pub git_commit_sha: Option<String>,
    pub notes: Option<String>,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

/// One page of the bound tenant's snapshots (of one environment when given), newest first,
/// without their payloads, and the total.
pub async fn list_snapshots(
    conn: &mut Conn,
    environment_id: Option<Uuid>,
    offset: i64,
    limit: i64,
) -> Result<(Vec<SnapshotSummary>, i64), Error> {
    let query = || {
        let mut q = snapshots::table.into_boxed();
        if let Some(id) = environment_id {
            q = q.filter(snapshots::environment_id.eq(id));
        }
        q
    };
    let total: i64 = query().count().get_result(conn).await?;
    let rows = query()
        .select(SnapshotSummary::as_select())
        .order((snapshots::created_at.desc(), snapshots::id.desc()))
        .offset(offset)
        .limit(limit)
        .load(conn)
        .await?;
    Ok((rows, total))
}

/// Snapshot `id` of the bound tenant with its workflows payload.
pub async fn get_snapshot(
    conn: &mut Conn,
    id: Uuid,
) -> Result<(SnapshotSummary, serde_json::Value), Error> {
    snapshots::table
        .find(id)
        .select((SnapshotSummary::as_select(), snapshots::workflows))
        .first(conn)
        .await
        .map_err(Error::from)
}
