//! Users (people who log in) and revoked login tokens.
//!
//! The password hash is never part of [`User`]: it is read only by [`find_login`], so a
//! handler that serializes a user can not leak it by accident.

use chrono::{DateTime, Utc};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::sql_types::{Bool, Nullable, Text, Uuid as SqlUuid};
use diesel_async::RunQueryDsl;
use uuid::Uuid;

use crate::error::Error;
use crate::schema::{revoked_tokens, users};
use crate::Conn;

diesel::define_sql_function!(fn lower(x: Text) -> Text);

#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = users, check_for_backend(Pg))]
pub struct User {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub email: String,
    pub display_name: Option<String>,
    pub role: String,
    pub is_active: bool,
    pub is_platform_admin: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub last_login_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = users)]
pub struct NewUser<'a> {
    pub tenant_id: Uuid,
    pub email: &'a str,
    pub display_name: Option<&'a str>,
    pub role: &'a str,
    pub password_hash: Option<&'a str>,
    pub is_platform_admin: bool,
}

pub async fn insert(conn: &mut Conn, new: &NewUser<'_>) -> Result<User, Error> {
    diesel::insert_into(users::table)
        .values(new)
        .returning(User::as_returning())
        .get_result(conn)
        .await
        .map_err(Error::from)
}

pub async fn get(conn: &mut Conn, id: Uuid) -> Result<User, Error> {
    users::table
        .find(id)
        .select(User::as_select())
        .first(conn)
        .await
        .map_err(Error::from)
}

/// A user of the bound tenant by email (case-insensitive).
pub async fn find_by_email(conn: &mut Conn, email: &str) -> Result<Option<User>, Error> {
    users::table
        .filter(lower(users::email).eq(email.to_lowercase()))
        .select(User::as_select())
        .first(conn)
        .await
        .optional()
        .map_err(Error::from)
}

/// What login needs, found before the tenant is known.
#[derive(Debug, Clone, QueryableByName)]
pub struct LoginRow {
    #[diesel(sql_type = SqlUuid)]
    pub id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    pub tenant_id: Uuid,
    #[diesel(sql_type = Nullable<Text>)]
    pub password_hash: Option<String>,
    #[diesel(sql_type = Text)]
    pub role: String,
    /// False when the user or the tenant is deactivated.
    #[diesel(sql_type = Bool)]
    pub is_active: bool,
}

/// Looks a login up by email through the `wfops_find_login` definer function (run it in
/// `Db::system_tx`: the tenant is not known yet).
pub async fn find_login(conn: &mut Conn, email: &str) -> Result<Option<LoginRow>, Error> {
    let rows: Vec<LoginRow> = diesel::sql_query(
        "SELECT id, tenant_id, password_hash, role, is_active FROM wfops_find_login($1)",
    )
    .bind::<Text, _>(email)
    .load(conn)
    .await?;
    Ok(rows.into_iter().next())
}

pub async fn touch_last_login(conn: &mut Conn, id: Uuid) -> Result<(), Error> {
    diesel::update(users::table.find(id))
        .set(users::last_login_at.eq(diesel::dsl::now))
        .execute(conn)
        .await?;
    Ok(())
}

/// Puts a token id on the revocation list until the token would have expired anyway.
/// Revoking twice is not an error.
pub async fn revoke_token(
    conn: &mut Conn,
    tenant_id: Uuid,
    jti: &str,
    expires_at: DateTime<Utc>,
) -> Result<(), Error> {
    diesel::insert_into(revoked_tokens::table)
        .values((
            revoked_tokens::tenant_id.eq(tenant_id),
            revoked_tokens::jti.eq(jti),
            revoked_tokens::expires_at.eq(expires_at),
        ))
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn is_token_revoked(conn: &mut Conn, jti: &str) -> Result<bool, Error> {
    let count: i64 = revoked_tokens::table
        .filter(revoked_tokens::jti.eq(jti))
        .count()
        .get_result(conn)
        .await?;
    Ok(count > 0)
}
