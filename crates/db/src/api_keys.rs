//! Tenant API keys. Only the public prefix and the hex SHA-256 of the secret are stored; the
//! hash is never part of [`ApiKey`], so listing keys can not leak it.

use chrono::{DateTime, Utc};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::sql_types::{Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::RunQueryDsl;
use uuid::Uuid;

use crate::error::Error;
use crate::schema::api_keys;
use crate::Conn;

#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = api_keys, check_for_backend(Pg))]
pub struct ApiKey {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub name: String,
    pub key_prefix: String,
    pub role: String,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = api_keys)]
pub struct NewApiKey<'a> {
    pub tenant_id: Uuid,
    pub name: &'a str,
    pub key_prefix: &'a str,
    pub secret_hash: &'a str,
    pub role: &'a str,
    pub created_by: Option<Uuid>,
    pub expires_at: Option<DateTime<Utc>>,
}

pub async fn insert(conn: &mut Conn, new: &NewApiKey<'_>) -> Result<ApiKey, Error> {
    diesel::insert_into(api_keys::table)
        .values(new)
        .returning(ApiKey::as_returning())
        .get_result(conn)
        .await
        .map_err(Error::from)
}

pub async fn get(conn: &mut Conn, id: Uuid) -> Result<ApiKey, Error> {
    api_keys::table
        .find(id)
        .select(ApiKey::as_select())
        .first(conn)
        .await
        .map_err(Error::from)
}

/// One page of the bound tenant's keys, newest first, and the total count.
pub async fn list(conn: &mut Conn, offset: i64, limit: i64) -> Result<(Vec<ApiKey>, i64), Error> {
    let total: i64 = api_keys::table.count().get_result(conn).await?;
    let rows = api_keys::table
        .select(ApiKey::as_select())
        .order((api_keys::created_at.desc(), api_keys::id))
        .offset(offset)
        .limit(limit)
        .load(conn)
        .await?;
    Ok((rows, total))
}

/// Revokes a key (idempotent: the first revocation time is kept).
pub async fn revoke(conn: &mut Conn, id: Uuid) -> Result<ApiKey, Error> {
    diesel::update(api_keys::table.find(id))
        .set(
            api_keys::revoked_at.eq(diesel::dsl::sql::<Nullable<Timestamptz>>(
                "coalesce(revoked_at, now())",
            )),
        )
        .returning(ApiKey::as_returning())
        .get_result(conn)
        .await
        .map_err(Error::from)
}

/// The row a presented key resolves to, found before the tenant is known.
#[derive(Debug, Clone, QueryableByName)]
pub struct ResolvedKey {
    #[diesel(sql_type = SqlUuid)]
    pub id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    pub tenant_id: Uuid,
    #[diesel(sql_type = Text)]
    pub secret_hash: String,
    #[diesel(sql_type = Text)]
    pub role: String,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub expires_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Resolves a key prefix through the `wfops_resolve_api_key` definer function (run it in
/// `Db::system_tx`). Keys of deactivated tenants do not resolve.
pub async fn resolve(conn: &mut Conn, prefix: &str) -> Result<Option<ResolvedKey>, Error> {
    let rows: Vec<ResolvedKey> = diesel::sql_query(
        "SELECT id, tenant_id, secret_hash, role, expires_at, revoked_at \
         FROM wfops_resolve_api_key($1)",
    )
    .bind::<Text, _>(prefix)
    .load(conn)
    .await?;
    Ok(rows.into_iter().next())
}

/// Records use at most once a minute per key, so a busy CI key does not write on every call.
pub async fn touch_last_used(conn: &mut Conn, id: Uuid) -> Result<(), Error> {
    diesel::sql_query(
        "UPDATE api_keys SET last_used_at = now() \
         WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')",
    )
    .bind::<SqlUuid, _>(id)
    .execute(conn)
    .await?;
    Ok(())
}
