//! The audit trail: one row per write an actor makes (who, what, on which resource).

use chrono::{DateTime, Utc};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde_json::Value;
use uuid::Uuid;

use crate::error::Error;
use crate::schema::audit_logs;
use crate::Conn;

#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = audit_logs, check_for_backend(Pg))]
pub struct AuditLog {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub actor_type: String,
    pub actor_id: Option<Uuid>,
    pub impersonated_user_id: Option<Uuid>,
    pub action: String,
    pub resource_type: String,
    pub resource_id: Option<String>,
    pub details: Value,
    pub request_id: Option<String>,
    pub ip_address: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// `actor_type` is `user`, `api_key` or `system`; `details` must never hold a secret.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = audit_logs)]
pub struct NewAuditLog<'a> {
    pub tenant_id: Uuid,
    pub actor_type: &'a str,
    pub actor_id: Option<Uuid>,
    pub impersonated_user_id: Option<Uuid>,
    pub action: &'a str,
    pub resource_type: &'a str,
    pub resource_id: Option<String>,
    pub details: Value,
    pub request_id: Option<&'a str>,
    pub ip_address: Option<&'a str>,
}

pub async fn insert(conn: &mut Conn, new: &NewAuditLog<'_>) -> Result<AuditLog, Error> {
    diesel::insert_into(audit_logs::table)
        .values(new)
        .returning(AuditLog::as_returning())
        .get_result(conn)
        .await
        .map_err(Error::from)
}

/// One page of the bound tenant's audit trail, newest first, and the total count.
pub async fn list(conn: &mut Conn, offset: i64, limit: i64) -> Result<(Vec<AuditLog>, i64), Error> {
    let total: i64 = audit_logs::table.count().get_result(conn).await?;
    let rows = audit_logs::table
        .select(AuditLog::as_select())
        .order((audit_logs::created_at.desc(), audit_logs::id))
        .offset(offset)
        .limit(limit)
        .load(conn)
        .await?;
    Ok((rows, total))
}

/// The trail of one resource, oldest first.
pub async fn for_resource(
    conn: &mut Conn,
    resource_type: &str,
    resource_id: &str,
) -> Result<Vec<AuditLog>, Error> {
    audit_logs::table
        .filter(audit_logs::resource_type.eq(resource_type))
        .filter(audit_logs::resource_id.eq(resource_id))
        .select(AuditLog::as_select())
        .order((audit_logs::created_at.asc(), audit_logs::id))
        .load(conn)
        .await
        .map_err(Error::from)
}

/// Deletes the bound tenant's audit rows older than `cutoff` (the retention scheduler,
/// `AUDIT_LOG_RETENTION_DAYS`); returns how many went.
pub async fn purge_before(conn: &mut Conn, cutoff: DateTime<Utc>) -> Result<usize, Error> {
    diesel::delete(audit_logs::table.filter(audit_logs::created_at.lt(cutoff)))
        .execute(conn)
        .await
        .map_err(Error::from)
}
