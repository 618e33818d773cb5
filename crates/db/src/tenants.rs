//! Tenants: the isolation root. Row-level security on `tenants` shows a transaction only the
//! tenant it is bound to, so creating one means binding the transaction to the new id first.

use chrono::{DateTime, Utc};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::sql_types::{Text, Uuid as SqlUuid};
use diesel_async::RunQueryDsl;
use uuid::Uuid;

use crate::error::Error;
use crate::schema::tenants;
use crate::Conn;

#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = tenants, check_for_backend(Pg))]
pub struct Tenant {
    pub id: Uuid,
    pub name: String,
    pub slug: String,
    pub subscription_tier: String,
    pub is_active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Inserts a tenant with a caller-chosen id. Must run in `Db::tenant_tx(id, …)`: the policy's
/// WITH CHECK only admits the row of the bound tenant.
pub async fn insert(conn: &mut Conn, id: Uuid, name: &str, slug: &str) -> Result<Tenant, Error> {
    diesel::insert_into(tenants::table)
        .values((
            tenants::id.eq(id),
            tenants::name.eq(name),
            tenants::slug.eq(slug),
        ))
        .returning(Tenant::as_returning())
        .get_result(conn)
        .await
        .map_err(Error::from)
}

/// The bound tenant (row-level security hides every other one).
pub async fn get(conn: &mut Conn, id: Uuid) -> Result<Tenant, Error> {
    tenants::table
        .find(id)
        .select(Tenant::as_select())
        .first(conn)
        .await
        .map_err(Error::from)
}

#[derive(QueryableByName)]
struct IdRow {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
}

/// Finds a tenant by slug before any tenant is bound (the bootstrap command), through the
/// `wfops_find_tenant_by_slug` definer function.
pub async fn find_id_by_slug(conn: &mut Conn, slug: &str) -> Result<Option<Uuid>, Error> {
    let rows: Vec<IdRow> = diesel::sql_query("SELECT id FROM wfops_find_tenant_by_slug($1) AS id")
        .bind::<Text, _>(slug)
        .load(conn)
        .await?;
    Ok(rows.into_iter().next().map(|r| r.id))
}
