//! `credential_mappings`: which credential of a target environment replaces a credential of a
//! source environment when a workflow is promoted (docs/promotion.md#credential-mappings).
//! One row per (source, target, credential type, source credential id). Tenant scoping by
//! row-level security.

use chrono::{DateTime, Utc};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::upsert::excluded;
use diesel_async::RunQueryDsl;
use uuid::Uuid;

use crate::error::Error;
use crate::schema::credential_mappings;
use crate::Conn;

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = credential_mappings, check_for_backend(Pg))]
pub struct CredentialMapping {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub source_environment_id: Uuid,
    pub target_environment_id: Uuid,
    pub credential_type: String,
    pub source_credential_id: String,
    pub source_credential_name: String,
    pub target_credential_id: String,
    pub target_credential_name: String,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = credential_mappings)]
pub struct NewCredentialMapping<'a> {
    pub tenant_id: Uuid,
    pub source_environment_id: Uuid,
    pub target_environment_id: Uuid,
    pub credential_type: &'a str,
    pub source_credential_id: &'a str,
    pub source_credential_name: &'a str,
    pub target_credential_id: &'a str,
    pub target_credential_name: &'a str,
    pub created_by: Option<Uuid>,
}

/// Inserts the mapping, or replaces the target (and the source name) of the existing one with
/// the same key. Returns the row and whether it was created.
pub async fn upsert(
    conn: &mut Conn,
    new: &NewCredentialMapping<'_>,
) -> Result<(CredentialMapping, bool), Error> {
    use credential_mappings::dsl as m;
    let existed: Option<Uuid> = m::credential_mappings
        .filter(m::source_environment_id.eq(new.source_environment_id))
        .filter(m::target_environment_id.eq(new.target_environment_id))
        .filter(m::credential_type.eq(new.credential_type))
        .filter(m::source_credential_id.eq(new.source_credential_id))
        .select(m::id)
        .first(conn)
        .await
        .optional()?;
    let row = diesel::insert_into(m::credential_mappings)
        .values(new)
        .on_conflict((
            m::tenant_id,
            m::source_environment_id,
            m::target_environment_id,
            m::credential_type,
            m::source_credential_id,
        ))
        .do_update()
        .set((
            m::source_credential_name.eq(excluded(m::source_credential_name)),
            m::target_credential_id.eq(excluded(m::target_credential_id)),
            m::target_credential_name.eq(excluded(m::target_credential_name)),
        ))
        .returning(CredentialMapping::as_returning())
        .get_result(conn)
        .await?;
    Ok((row, existed.is_none()))
}

/// One page of the bound tenant's mappings, optionally for one source and/or target, and the
/// total count.
pub async fn list(
    conn: &mut Conn,
    source: Option<Uuid>,
    target: Option<Uuid>,
    offset: i64,
    limit: i64,
) -> Result<(Vec<CredentialMapping>, i64), Error> {
    use credential_mappings::dsl as m;
    let filtered = || {
        let mut q = m::credential_mappings.into_boxed::<Pg>();
        if let Some(s) = source {
            q = q.filter(m::source_environment_id.eq(s));
        }
        if let Some(t) = target {
            q = q.filter(m::target_environment_id.eq(t));
        }
        q
    };
    let total: i64 = filtered().count().get_result(conn).await?;
    let rows = filtered()
        .select(CredentialMapping::as_select())
        .order((
            m::credential_type.asc(),
            m::source_credential_name.asc(),
            m::id,
        ))
        .offset(offset)
        .limit(limit)
        .load(conn)
        .await?;
    Ok((rows, total))
}

/// Every mapping from `source` into `target`.
pub async fn for_pair(
    conn: &mut Conn,
    source: Uuid,
    target: Uuid,
) -> Result<Vec<CredentialMapping>, Error> {
    use credential_mappings::dsl as m;
    m::credential_mappings
        .filter(m::source_environment_id.eq(source))
        .filter(m::target_environment_id.eq(target))
        .order((m::credential_type.asc(), m::source_credential_id.asc()))
        .select(CredentialMapping::as_select())
        .load(conn)
        .await
        .map_err(Error::from)
}

/// Deletes mapping `id`; `NotFound` when the bound tenant has none.
pub async fn delete(conn: &mut Conn, id: Uuid) -> Result<CredentialMapping, Error> {
    diesel::delete(credential_mappings::table.find(id))
        .returning(CredentialMapping::as_returning())
        .get_result(conn)
        .await
        .map_err(Error::from)
}
