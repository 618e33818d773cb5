//! Helpers shared by the database tests: raw SQL as the owner (set-up, catalogue) and as the
//! application role inside tenant-bound transactions (the code under test).

#![allow(dead_code)]

use diesel::sql_types::{BigInt, Text};
use diesel::QueryableByName;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;
use wfops_db::{Conn, Db, Error, ScopedBoxFuture, ScopedFutureExt};
use wfops_test_support::TestDb;

/// A connection as the owner role: bypasses row-level security.
pub async fn admin(test_db: &TestDb) -> AsyncPgConnection {
    AsyncPgConnection::establish(&test_db.admin_url())
        .await
        .expect("owner connection")
}

#[derive(QueryableByName, Debug)]
pub struct Count {
    #[diesel(sql_type = BigInt)]
    pub n: i64,
}

#[derive(QueryableByName, Debug)]
pub struct Id {
    #[diesel(sql_type = Text)]
    pub id: String,
}

/// Runs `sql` (with `$1` bound to `arg`) in a transaction of `tenant` (none: `system_tx`) and
/// returns the number of rows it affected.
pub async fn exec_as(db: &Db, tenant: Option<Uuid>, sql: &str, arg: &str) -> Result<usize, Error> {
    fn work(
        sql: String,
        arg: String,
    ) -> impl for<'r> FnOnce(&'r mut Conn) -> ScopedBoxFuture<'static, 'r, Result<usize, Error>> + Send
    {
        move |conn| {
            async move {
                diesel::sql_query(sql)
                    .bind::<Text, _>(arg)
                    .execute(conn)
                    .await
                    .map_err(Error::from)
            }
            .scope_boxed()
        }
    }
    let (sql, arg) = (sql.to_owned(), arg.to_owned());
    match tenant {
        Some(tenant) => db.tenant_tx(tenant, work(sql, arg)).await,
        None => db.system_tx(work(sql, arg)).await,
    }
}

/// Like [`exec_as`] for a query returning `count(*) AS n`.
pub async fn count_as(db: &Db, tenant: Option<Uuid>, sql: &str, arg: &str) -> Result<i64, Error> {
    fn work(
        sql: String,
        arg: String,
    ) -> impl for<'r> FnOnce(&'r mut Conn) -> ScopedBoxFuture<'static, 'r, Result<i64, Error>> + Send
    {
        move |conn| {
            async move {
                let row: Count = diesel::sql_query(sql)
                    .bind::<Text, _>(arg)
                    .get_result(conn)
                    .await?;
                Ok(row.n)
            }
            .scope_boxed()
        }
    }
    let (sql, arg) = (sql.to_owned(), arg.to_owned());
    match tenant {
        Some(tenant) => db.tenant_tx(tenant, work(sql, arg)).await,
        None => db.system_tx(work(sql, arg)).await,
    }
}

/// Inserts an environment for `tenant` through the application role and returns its id.
pub async fn create_environment(db: &Db, tenant: Uuid, name: &str) -> Uuid {
    let name = name.to_owned();
    let id: Id = db
        .tenant_tx(tenant, |conn| {
            async move {
                diesel::sql_query(
                    "INSERT INTO environments (tenant_id, name, url) \
                     VALUES (current_setting('app.tenant_id')::uuid, $1, 'https://n8n.example') \
                     RETURNING id::text AS id",
                )
                .bind::<Text, _>(name)
                .get_result(conn)
                .await
                .map_err(Error::from)
            }
            .scope_boxed()
        })
        .await
        .expect("insert environment");
    Uuid::parse_str(&id.id).expect("uuid")
}
