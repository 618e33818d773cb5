//! `environment_variables`: per-environment values substituted for `{{env.NAME}}` placeholders
//! when a workflow is promoted into the environment (docs/promotion.md#environment-variables).
//! A secret's `value` holds the `Cipher`'s output; this module never decrypts. Tenant scoping
//! by row-level security.

use chrono::{DateTime, Utc};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::upsert::excluded;
use diesel_async::RunQueryDsl;
use uuid::Uuid;

use crate::error::Error;
use crate::schema::environment_variables;
use crate::Conn;

/// A variable as stored. No `Debug`: `value` may be a secret's ciphertext, and a plain value
/// may still be sensitive.
#[derive(Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = environment_variables, check_for_backend(Pg))]
pub struct EnvironmentVariable {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub environment_id: Uuid,
    pub key: String,
    pub value: String,
    pub is_secret: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Clone, Insertable)]
#[diesel(table_name = environment_variables)]
pub struct NewEnvironmentVariable<'a> {
    pub tenant_id: Uuid,
    pub environment_id: Uuid,
    pub key: &'a str,
    /// The plain value, or the `Cipher`'s output when `is_secret`.
    pub value: &'a str,
    pub is_secret: bool,
}

/// Sets a variable (insert or replace on `(environment_id, key)`). Returns the row and whether
/// it was created.
pub async fn upsert(
    conn: &mut Conn,
    new: &NewEnvironmentVariable<'_>,
) -> Result<(EnvironmentVariable, bool), Error> {
    use environment_variables::dsl as v;
    let existed: Option<Uuid> = v::environment_variables
        .filter(v::environment_id.eq(new.environment_id))
        .filter(v::key.eq(new.key))
        .select(v::id)
        .first(conn)
        .await
        .optional()?;
    let row = diesel::insert_into(v::environment_variables)
        .values(new)
        .on_conflict((v::environment_id, v::key))
        .do_update()
        .set((
            v::value.eq(excluded(v::value)),
            v::is_secret.eq(excluded(v::is_secret)),
        ))
        .returning(EnvironmentVariable::as_returning())
        .get_result(conn)
        .await?;
    Ok((row, existed.is_none()))
}

/// Every variable of `environment_id`, by key.
pub async fn list(
    conn: &mut Conn,
    environment_id: Uuid,
) -> Result<Vec<EnvironmentVariable>, Error> {
    use environment_variables::dsl as v;
    v::environment_variables
        .filter(v::environment_id.eq(environment_id))
        .select(EnvironmentVariable::as_select())
        .order(v::key.asc())
        .load(conn)
        .await
        .map_err(Error::from)
}

/// The keys defined for `environment_id` (what resolves a placeholder), without values.
pub async fn keys(conn: &mut Conn, environment_id: Uuid) -> Result<Vec<String>, Error> {
    use environment_variables::dsl as v;
    v::environment_variables
        .filter(v::environment_id.eq(environment_id))
        .select(v::key)
        .load(conn)
        .await
        .map_err(Error::from)
}

/// Deletes variable `key` of `environment_id`; `NotFound` when there is none.
pub async fn delete(conn: &mut Conn, environment_id: Uuid, key: &str) -> Result<(), Error> {
    use environment_variables::dsl as v;
    let n = diesel::delete(
        v::environment_variables
            .filter(v::environment_id.eq(environment_id))
            .filter(v::key.eq(key)),
    )
    .execute(conn)
    .await?;
    if n == 0 {
        return Err(Error::NotFound);
    }
    Ok(())
}
