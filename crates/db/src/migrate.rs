//! Applying the migrations embedded in the binary, and comparing them with what a database has.
//!
//! Migrations run as the owner role (the URL of `DATABASE_URL` or of the embedded cluster), not
//! through the pool: they create the role the pool switches to, and the `SECURITY DEFINER`
//! functions must be owned by a role that bypasses row-level security.

use diesel::migration::MigrationSource;
use diesel::pg::Pg;
use diesel::sql_types::Text;
use diesel::QueryableByName;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_async::RunQueryDsl;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use crate::error::{Error, Result};
use crate::pool::Conn;

/// The `migrations/` folder of the workspace, compiled in (see `build.rs`).
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations");

/// Applies every pending migration to the database at `admin_url` and returns the versions it
/// applied (empty when the database was up to date).
pub async fn run(admin_url: &str) -> Result<Vec<String>> {
    let url = admin_url.to_owned();
    tokio::task::spawn_blocking(move || -> Result<Vec<String>> {
        use diesel::Connection;
        // the wrapper drives the async connection with block_on: it must not run on a runtime
        // worker thread, hence spawn_blocking
        let mut conn = AsyncConnectionWrapper::<Conn>::establish(&url)?;
        let applied = conn
            .run_pending_migrations(MIGRATIONS)
            .map_err(|e| Error::Migration(e.to_string()))?;
        Ok(applied.iter().map(|v| v.to_string()).collect())
    })
    .await
    .map_err(|e| Error::Migration(format!("the migration task failed: {e}")))?
}

/// Applied versus embedded migrations, for the readiness endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MigrationStatus {
    /// Versions compiled into this binary, oldest first.
    pub embedded: Vec<String>,
    /// Versions recorded in the database, oldest first.
    pub applied: Vec<String>,
}

impl MigrationStatus {
    /// Embedded versions the database has not applied.
    pub fn pending(&self) -> Vec<&str> {
        self.embedded
            .iter()
            .filter(|v| !self.applied.contains(v))
            .map(String::as_str)
            .collect()
    }

    /// Versions the database has that this binary does not know (a newer binary migrated it).
    pub fn unknown(&self) -> Vec<&str> {
        self.applied
            .iter()
            .filter(|v| !self.embedded.contains(v))
            .map(String::as_str)
            .collect()
    }

    /// True when every embedded migration is applied.
    pub fn is_up_to_date(&self) -> bool {
        self.pending().is_empty()
    }

    /// The newest applied version.
    pub fn current_version(&self) -> Option<&str> {
        self.applied.last().map(String::as_str)
    }
}

/// The versions compiled into this binary, oldest first.
pub fn embedded_versions() -> Result<Vec<String>> {
    let migrations = MigrationSource::<Pg>::migrations(&MIGRATIONS)
        .map_err(|e| Error::Migration(e.to_string()))?;
    let mut versions: Vec<String> = migrations
        .iter()
        .map(|m| m.name().version().to_string())
        .collect();
    versions.sort();
    Ok(versions)
}

#[derive(QueryableByName)]
struct AppliedVersion {
    #[diesel(sql_type = Text)]
    version: String,
}

/// Reads the applied versions through `conn` (the application role may read
/// `__diesel_schema_migrations`). A database that was never migrated has no applied versions.
pub async fn status(conn: &mut Conn) -> Result<MigrationStatus> {
    let table_exists: Vec<AppliedVersion> = diesel::sql_query(
        "SELECT c.relname::text AS version FROM pg_class c \
         JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = 'public' AND c.relname = '__diesel_schema_migrations'",
    )
    .load(conn)
    .await?;
    let applied = if table_exists.is_empty() {
        Vec::new()
    } else {
        let rows: Vec<AppliedVersion> = diesel::sql_query(
            "SELECT version::text AS version FROM __diesel_schema_migrations ORDER BY version",
        )
        .load(conn)
        .await?;
        rows.into_iter().map(|r| r.version).collect()
    };
    Ok(MigrationStatus {
        embedded: embedded_versions()?,
        applied,
    })
}

/// The digest of the migrations folder this binary was built with (see `build.rs`). Test
/// templates are named by it, so a stale binary can never build a template for newer files.
pub const MIGRATIONS_DIGEST: &str = env!("WFOPS_MIGRATIONS_DIGEST");
pub use crate::migrations_digest::migrations_digest;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_versions_are_sorted_digits() {
        let versions = embedded_versions().unwrap();
        assert!(!versions.is_empty());
        assert!(versions
            .iter()
            .all(|v| v.bytes().all(|b| b.is_ascii_digit())));
        let mut sorted = versions.clone();
        sorted.sort();
        assert_eq!(versions, sorted);
        assert!(versions.contains(&"20261122000001".to_string()));
    }

    #[test]
    fn pending_and_unknown_versions() {
        let status = MigrationStatus {
            embedded: vec!["1".into(), "2".into(), "3".into()],
            applied: vec!["1".into(), "2".into(), "9".into()],
        };
        assert_eq!(status.pending(), vec!["3"]);
        assert_eq!(status.unknown(), vec!["9"]);
        assert!(!status.is_up_to_date());
        assert_eq!(status.current_version(), Some("9"));

        let current = MigrationStatus {
            embedded: vec!["1".into()],
            applied: vec!["1".into()],
        };
        assert!(current.is_up_to_date());
    }

    #[test]
    fn the_baked_digest_is_the_folder_s_digest() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../migrations");
        assert_eq!(MIGRATIONS_DIGEST, migrations_digest(&dir).unwrap());
    }

    #[test]
    fn digest_changes_with_any_migration_byte() {
        let dir = std::env::temp_dir().join(format!("wfops-digest-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("0001_a")).unwrap();
        std::fs::write(dir.join("0001_a/up.sql"), "create table a ();").unwrap();
        let first = migrations_digest(&dir).unwrap();
        assert_eq!(first, migrations_digest(&dir).unwrap());
        std::fs::write(dir.join("0001_a/up.sql"), "create table b ();").unwrap();
        let second = migrations_digest(&dir).unwrap();
        assert_ne!(first, second);
        std::fs::create_dir_all(dir.join("0002_b")).unwrap();
        std::fs::write(dir.join("0002_b/up.sql"), "").unwrap();
        assert_ne!(second, migrations_digest(&dir).unwrap());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
