//! The connection pool and the two ways to run a unit of work.
//!
//! Every pooled connection runs `SET ROLE wfops_app` when it is created, so row-level security
//! applies to everything the apps do even though they log in as the owner role. Work runs in
//! [`Db::tenant_tx`] (bound to one tenant, the normal case) or [`Db::system_tx`] (no tenant: only
//! for calling the reviewed `SECURITY DEFINER` functions).

use diesel::sql_types::{BigInt, Bool, Text};
use diesel::QueryableByName;
use diesel_async::pooled_connection::deadpool::{Object, Pool};
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod,
};
use diesel_async::scoped_futures::ScopedBoxFuture;
use diesel_async::{
    AnsiTransactionManager, AsyncConnection, AsyncPgConnection, RunQueryDsl, TransactionManager,
};
use futures::FutureExt;
use uuid::Uuid;

use crate::error::{Error, Result};

/// The connection type query functions take.
pub type Conn = AsyncPgConnection;

/// The restricted role every pooled connection switches to.
pub const APP_ROLE: &str = "wfops_app";

/// A pool of connections that run as [`APP_ROLE`]. Cheap to clone.
#[derive(Clone)]
pub struct Db {
    pool: Pool<Conn>,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let status = self.pool.status();
        f.debug_struct("Db")
            .field("max_size", &status.max_size)
            .field("size", &status.size)
            .field("available", &status.available)
            .finish()
    }
}

#[derive(QueryableByName)]
struct RoleCheck {
    #[diesel(sql_type = Text)]
    user_name: String,
    #[diesel(sql_type = Bool)]
    superuser: bool,
    #[diesel(sql_type = Bool)]
    bypassrls: bool,
}

impl Db {
    /// Builds the pool and checks, on a real connection, that it runs as `wfops_app` without
    /// superuser or `BYPASSRLS`. Fails when the migrations (which create the role) have not run.
    pub async fn connect(url: &str, pool_size: usize) -> Result<Db> {
        if pool_size == 0 {
            return Err(Error::Pool("the pool size must be at least 1".into()));
        }
        let mut config = ManagerConfig::<Conn>::default();
        // The default (`Verified`) sends `SELECT 1` before handing out every connection: a
        // round trip per unit of work. A connection whose socket has closed is still discarded
        // (`is_broken` checks it), and one that fails mid-way fails that unit of work only.
        config.recycling_method = RecyclingMethod::Fast;
        config.custom_setup = Box::new(|url| establish_as_app_role(url).boxed());
        let manager = AsyncDieselConnectionManager::<Conn>::new_with_config(url, config);
        let pool = Pool::builder(manager)
            .max_size(pool_size)
            .build()
            .map_err(|e| Error::Pool(e.to_string()))?;
        let db = Db { pool };
        db.check_role().await?;
        Ok(db)
    }

    async fn check_role(&self) -> Result<()> {
        let mut conn = self.get().await?;
        let row: RoleCheck = diesel::sql_query(
            "SELECT current_user::text AS user_name, r.rolsuper AS superuser, \
                    r.rolbypassrls AS bypassrls \
             FROM pg_roles r WHERE r.rolname = current_user",
        )
        .get_result(&mut *conn)
        .await?;
        verify_role(row.user_name, row.superuser, row.bypassrls)
    }

    async fn get(&self) -> Result<Object<Conn>> {
        self.pool
            .get()
            .await
            .map_err(|e| Error::Pool(e.to_string()))
    }

    /// Runs `f` in one transaction bound to `tenant_id`: `app.tenant_id` is set with
    /// `SET LOCAL` first, so it ends with the transaction and row-level security
    /// shows and accepts only that tenant's rows. Commits when `f` returns `Ok`, rolls back
    /// otherwise.
    ///
    /// ```ignore
    /// let env = db.tenant_tx(tenant_id, |conn| async move {
    ///     environments::get(conn, env_id).await
    /// }.scope_boxed()).await?;
    /// ```
    pub async fn tenant_tx<'a, R, E, F>(&self, tenant_id: Uuid, f: F) -> Result<R, E>
    where
        F: for<'r> FnOnce(&'r mut Conn) -> ScopedBoxFuture<'a, 'r, Result<R, E>> + Send + 'a,
        E: From<Error> + Send + 'a,
        R: Send + 'a,
    {
        self.run_tx(Some(tenant_id), f).await
    }

    /// Runs `f` in one transaction with no tenant set: row-level security hides every
    /// tenant-scoped row. Use it only to call the `wfops_*` `SECURITY DEFINER` functions
    /// (resolving a key or a login, claiming a job, listing tenants) and global tables.
    pub async fn system_tx<'a, R, E, F>(&self, f: F) -> Result<R, E>
    where
        F: for<'r> FnOnce(&'r mut Conn) -> ScopedBoxFuture<'a, 'r, Result<R, E>> + Send + 'a,
        E: From<Error> + Send + 'a,
        R: Send + 'a,
    {
        self.run_tx(None, f).await
    }

    /// One unit of work in 2 + n round trips: `BEGIN` and the tenant setting in one message,
    /// the `n` statements of `f`, then `COMMIT` (or `ROLLBACK` when `f` fails). The tenant id
    /// is written into the statement as a literal: a `Uuid` prints as hex digits and hyphens
    /// only, and a bound parameter would need a round trip of its own.
    async fn run_tx<'a, R, E, F>(&self, tenant_id: Option<Uuid>, f: F) -> Result<R, E>
    where
        F: for<'r> FnOnce(&'r mut Conn) -> ScopedBoxFuture<'a, 'r, Result<R, E>> + Send + 'a,
        E: From<Error> + Send + 'a,
        R: Send + 'a,
    {
        let mut conn = self.get().await.map_err(E::from)?;
        let begin = begin_sql(tenant_id);
        if let Err(e) = AnsiTransactionManager::begin_transaction_sql(&mut *conn, &begin).await {
            // `BEGIN` may have run when `SET LOCAL` did not: this session must not go back to
            // the pool with a transaction diesel does not know about.
            drop(Object::take(conn));
            return Err(E::from(Error::from(e)));
        }
        match f(&mut conn).await {
            Ok(value) => {
                // On a failed COMMIT the manager rolls back (or marks the connection broken).
                AnsiTransactionManager::commit_transaction(&mut *conn)
                    .await
                    .map_err(|e| E::from(Error::from(e)))?;
                Ok(value)
            }
            Err(app) => {
                // A failed ROLLBACK leaves the connection marked broken, so the pool drops it;
                // the caller's error says more than the rollback's.
                let _ = AnsiTransactionManager::rollback_transaction(&mut *conn).await;
                Err(app)
            }
        }
    }

    /// The installation's authentication generation (see `migrations/…_auth_generation`):
    /// one statement outside any transaction, since the counter is global and read on every
    /// authenticated request.
    pub async fn auth_generation(&self) -> Result<i64> {
        #[derive(QueryableByName)]
        struct Generation {
            #[diesel(sql_type = BigInt)]
            generation: i64,
        }
        let mut conn = self.get().await?;
        let row: Generation = diesel::sql_query("SELECT generation FROM auth_generation")
            .get_result(&mut *conn)
            .await?;
        Ok(row.generation)
    }

    /// Pool statistics (for metrics and the readiness endpoint).
    pub fn status(&self) -> PoolStatus {
        let status = self.pool.status();
        PoolStatus {
            max_size: status.max_size,
            size: status.size,
            available: status.available,
            waiting: status.waiting,
        }
    }
}

/// Row-level security protects nothing for a superuser or a BYPASSRLS role, and policies are
/// written for wfops_app: anything else must not serve requests.
fn verify_role(user: String, superuser: bool, bypassrls: bool) -> Result<()> {
    if user != APP_ROLE || superuser || bypassrls {
        return Err(Error::UnsafeRole {
            user,
            superuser,
            bypassrls,
        });
    }
    Ok(())
}

/// A snapshot of the pool's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolStatus {
    pub max_size: usize,
    pub size: usize,
    pub available: usize,
    pub waiting: usize,
}

/// The statement that opens a unit of work: `BEGIN`, and for a tenant the transaction-local
/// `app.tenant_id` in the same simple-query message (one round trip for both).
fn begin_sql(tenant_id: Option<Uuid>) -> String {
    match tenant_id {
        // `SET LOCAL` is `set_config(…, true)` without a query to plan
        Some(t) => format!("BEGIN; SET LOCAL app.tenant_id = '{t}'"),
        None => "BEGIN".to_owned(),
    }
}

/// Opens a connection and switches it to the application role before the pool hands it out.
async fn establish_as_app_role(url: &str) -> diesel::ConnectionResult<Conn> {
    let mut conn = Conn::establish(url).await?;
    diesel::sql_query(format!("SET ROLE {APP_ROLE}"))
        .execute(&mut conn)
        .await
        .map_err(|e| {
            diesel::ConnectionError::BadConnection(format!(
                "SET ROLE {APP_ROLE} failed ({e}); have the migrations been run?"
            ))
        })?;
    Ok(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tenant_is_set_in_the_begin_message() {
        let t = Uuid::parse_str("0b6f1c2e-8d3a-4f5b-9c7d-1e2f3a4b5c6d").unwrap();
        assert_eq!(
            begin_sql(Some(t)),
            "BEGIN; SET LOCAL app.tenant_id = '0b6f1c2e-8d3a-4f5b-9c7d-1e2f3a4b5c6d'"
        );
        assert_eq!(begin_sql(None), "BEGIN");
    }

    #[test]
    fn only_the_restricted_app_role_is_accepted() {
        assert!(verify_role(APP_ROLE.into(), false, false).is_ok());
        for (user, superuser, bypassrls) in [
            ("wfops", true, false),
            ("postgres", true, true),
            (APP_ROLE, false, true),
            (APP_ROLE, true, false),
            ("someone", false, false),
        ] {
            let err = verify_role(user.into(), superuser, bypassrls).unwrap_err();
            assert!(matches!(err, Error::UnsafeRole { .. }), "{user}: {err}");
            assert!(err.to_string().contains(user), "{err}");
        }
    }
}
