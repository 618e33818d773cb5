#![doc = include_str!("../README.md")]

use std::path::{Path, PathBuf};

use diesel::sql_types::{Bool, Text};
use diesel::QueryableByName;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use tokio::sync::OnceCell;
use uuid::Uuid;
use wfops_db::{Db, Error, ScopedFutureExt};

/// Connections each test database's pool may open (created lazily).
const POOL_SIZE: usize = 8;
/// The advisory lock key under which the template is built (any constant shared by all
/// processes; "wfops" in ASCII).
const TEMPLATE_LOCK_KEY: i64 = 0x0077_666f_7073;

/// A fresh database, migrated, owned by one test and dropped when the test ends.
pub struct TestDb {
    name: String,
    server: &'static Server,
    db: Db,
}

impl std::fmt::Debug for TestDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestDb").field("name", &self.name).finish()
    }
}

impl TestDb {
    /// Copies the migrated template into a new database and connects to it as the application
    /// role. Panics with the reason when the database can not be prepared (this is test code:
    /// the panic is the test's failure message).
    pub async fn new() -> TestDb {
        match TestDb::try_new().await {
            Ok(db) => db,
            Err(err) => panic!("could not prepare a test database: {err}"),
        }
    }

    /// Like [`TestDb::new`], returning the error instead of panicking.
    pub async fn try_new() -> Result<TestDb, Error> {
        let server = server().await?;
        let template = template(server).await?;
        let name = format!("wfops_test_{}", Uuid::new_v4().simple());
        let mut admin = server.maintenance_connection().await?;
        execute(
            &mut admin,
            &format!(
                "CREATE DATABASE {} TEMPLATE {}",
                ident(&name),
                ident(template)
            ),
        )
        .await?;
        drop(admin);
        let test_db = TestDb {
            db: Db::connect(&server.url_for(&name), POOL_SIZE).await?,
            name,
            server,
        };
        Ok(test_db)
    }

    /// The pool, running as `wfops_app` like the apps do.
    pub fn db(&self) -> Db {
        self.db.clone()
    }

    /// The owner's URL of this test database (bypasses row-level security: for setting up and
    /// inspecting, never for the code under test).
    pub fn admin_url(&self) -> String {
        self.server.url_for(&self.name)
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs SQL (one or more statements) as the owner in this database.
    pub async fn admin_execute(&self, sql: &str) -> Result<(), Error> {
        let mut conn = AsyncPgConnection::establish(&self.admin_url()).await?;
        diesel_async::SimpleAsyncConnection::batch_execute(&mut conn, sql)
            .await
            .map_err(Error::from)
    }

    /// Creates a tenant through the application role (exercising the tenants policy) and returns
    /// its id.
    pub async fn create_tenant(&self, slug: &str) -> Result<Uuid, Error> {
        let id = Uuid::new_v4();
        let slug = slug.to_owned();
        self.db
            .tenant_tx(id, |conn| {
                async move {
                    diesel::sql_query(
                        "INSERT INTO tenants (id, name, slug) VALUES ($1::uuid, $2, $2)",
                    )
                    .bind::<Text, _>(id.to_string())
                    .bind::<Text, _>(slug)
                    .execute(conn)
                    .await
                    .map_err(Error::from)
                }
                .scope_boxed()
            })
            .await?;
        Ok(id)
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let url = self.server.maintenance_url.clone();
        let name = self.name.clone();
        // Drop can not await, and the test's runtime may be single-threaded: use a thread with
        // its own runtime, and wait for it so the process does not exit before the drop ran.
        let handle = std::thread::spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(err) => return Err(format!("no runtime: {err}")),
            };
            runtime.block_on(async move {
                let mut conn = AsyncPgConnection::establish(&url)
                    .await
                    .map_err(|e| e.to_string())?;
                execute(
                    &mut conn,
                    &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", ident(&name)),
                )
                .await
                .map_err(|e| e.to_string())
            })
        });
        match handle.join() {
            Ok(Ok(())) => {}
            Ok(Err(err)) => eprintln!("could not drop test database {}: {err}", self.name),
            Err(_) => eprintln!("dropping test database {} panicked", self.name),
        }
    }
}

/// Where test databases live: `DATABASE_URL`'s server, or the embedded cluster of the checkout.
struct Server {
    /// `postgres://user:password@host:port` (no database, no query)
    base: String,
    /// `?…` of DATABASE_URL, kept for every database
    query: String,
    /// the database we connect to for CREATE/DROP DATABASE and the advisory lock
    maintenance_url: String,
}

impl Server {
    fn url_for(&self, db_name: &str) -> String {
        format!("{}/{}{}", self.base, db_name, self.query)
    }

    async fn maintenance_connection(&self) -> Result<AsyncPgConnection, Error> {
        AsyncPgConnection::establish(&self.maintenance_url)
            .await
            .map_err(Error::from)
    }
}

static SERVER: OnceCell<Server> = OnceCell::const_new();
static TEMPLATE: OnceCell<String> = OnceCell::const_new();

/// The workspace root (test-support lives in `crates/test-support`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

async fn server() -> Result<&'static Server, Error> {
    SERVER
        .get_or_try_init(|| async {
            match std::env::var("DATABASE_URL") {
                Ok(url) if !url.trim().is_empty() => server_from_url(url.trim()),
                _ => {
                    let root = workspace_root().join(".wfops");
                    let cluster =
                        tokio::task::spawn_blocking(move || wfops_db::embedded::ensure(&root))
                            .await
                            .map_err(|e| Error::Embedded(format!("start-up task failed: {e}")))??;
                    server_from_url(&cluster.admin_url("postgres"))
                }
            }
        })
        .await
}

/// Splits `postgres://…/db?query` into the server part, the query, and a maintenance URL on
/// the given database.
fn server_from_url(url: &str) -> Result<Server, Error> {
    let (without_query, query) = match url.find('?') {
        Some(i) => (&url[..i], &url[i..]),
        None => (url, ""),
    };
    let scheme_end = without_query
        .find("://")
        .ok_or_else(|| Error::Connect("DATABASE_URL must look like postgres://host/db".into()))?
        + 3;
    let (base, database) = match without_query[scheme_end..].find('/') {
        Some(i) => (
            &without_query[..scheme_end + i],
            &without_query[scheme_end + i + 1..],
        ),
        None => (without_query, ""),
    };
    let database = if database.is_empty() {
        "postgres"
    } else {
        database
    };
    Ok(Server {
        base: base.to_owned(),
        query: query.to_owned(),
        maintenance_url: format!("{base}/{database}{query}"),
    })
}

#[derive(QueryableByName)]
struct Exists {
    #[diesel(sql_type = Bool)]
    exists: bool,
}

#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = Text)]
    name: String,
}

async fn database_exists(conn: &mut AsyncPgConnection, name: &str) -> Result<bool, Error> {
    let row: Exists =
        diesel::sql_query("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1) AS exists")
            .bind::<Text, _>(name)
            .get_result(conn)
            .await?;
    Ok(row.exists)
}

/// The name of the migrated template, building it once per migrations digest. Processes race
/// here (nextest runs each test in its own process): the advisory lock lets one build while
/// the others wait, and the final rename makes "exists" mean "fully migrated".
async fn template(server: &'static Server) -> Result<&'static str, Error> {
    TEMPLATE
        .get_or_try_init(|| async {
            // The digest baked into wfops-db with the migrations it embeds, not the folder on
            // disk: a test binary built before a migration was added must not name (and then
            // build) the new template with its old migrations.
            let digest = wfops_db::migrate::MIGRATIONS_DIGEST;
            let name = format!("wfops_tpl_{}", &digest[..16]);
            let mut admin = server.maintenance_connection().await?;
            if database_exists(&mut admin, &name).await? {
                return Ok(name);
            }
            execute(
                &mut admin,
                &format!("SELECT pg_advisory_lock({TEMPLATE_LOCK_KEY})"),
            )
            .await?;
            let built = build_template(server, &mut admin, &name).await;
            // released with the session too, but do not keep others waiting on an error path
            let unlocked = execute(
                &mut admin,
                &format!("SELECT pg_advisory_unlock({TEMPLATE_LOCK_KEY})"),
            )
            .await;
            built?;
            unlocked?;
            Ok(name)
        })
        .await
        .map(String::as_str)
}

async fn build_template(
    server: &Server,
    admin: &mut AsyncPgConnection,
    name: &str,
) -> Result<(), Error> {
    if database_exists(admin, name).await? {
        return Ok(());
    }
    let building = format!("{name}_building");
    execute(
        admin,
        &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", ident(&building)),
    )
    .await?;
    execute(admin, &format!("CREATE DATABASE {}", ident(&building))).await?;
    wfops_db::migrate::run(&server.url_for(&building)).await?;
    execute(
        admin,
        &format!(
            "ALTER DATABASE {} RENAME TO {}",
            ident(&building),
            ident(name)
        ),
    )
    .await?;
    // nobody connects to a template: CREATE DATABASE … TEMPLATE fails while someone is
    execute(
        admin,
        &format!(
            "ALTER DATABASE {} WITH IS_TEMPLATE true ALLOW_CONNECTIONS false",
            ident(name)
        ),
    )
    .await?;

    // templates of older migrations are garbage; one still being copied stays (no FORCE)
    let stale: Vec<Name> = diesel::sql_query(
        "SELECT datname::text AS name FROM pg_database \
         WHERE datname LIKE 'wfops\\_tpl\\_%' AND datname <> $1 AND datname NOT LIKE '%\\_building'",
    )
    .bind::<Text, _>(name)
    .load(admin)
    .await?;
    for old in stale {
        let _ = execute(
            admin,
            &format!("ALTER DATABASE {} WITH IS_TEMPLATE false", ident(&old.name)),
        )
        .await;
        let _ = execute(
            admin,
            &format!("DROP DATABASE IF EXISTS {}", ident(&old.name)),
        )
        .await;
    }
    Ok(())
}

async fn execute(conn: &mut AsyncPgConnection, sql: &str) -> Result<(), Error> {
    diesel::sql_query(sql).execute(conn).await?;
    Ok(())
}

/// Quotes an identifier; our names are generated, but quoting keeps that an invariant.
fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_is_split_into_server_query_and_maintenance_database() {
        let server = server_from_url("postgres://u:p@h:5432/app?sslmode=disable").unwrap();
        assert_eq!(server.base, "postgres://u:p@h:5432");
        assert_eq!(server.query, "?sslmode=disable");
        assert_eq!(
            server.maintenance_url,
            "postgres://u:p@h:5432/app?sslmode=disable"
        );
        assert_eq!(
            server.url_for("t1"),
            "postgres://u:p@h:5432/t1?sslmode=disable"
        );

        let bare = server_from_url("postgres://u@h").unwrap();
        assert_eq!(bare.maintenance_url, "postgres://u@h/postgres");
        assert!(server_from_url("not a url").is_err());
    }

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(ident("a\"b"), "\"a\"\"b\"");
    }
}
