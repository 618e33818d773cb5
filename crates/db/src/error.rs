//! The one error type of the crate.
//!
//! Database errors keep the name of the violated constraint so that the API can answer with a
//! precise 409/422 ("environments_tenant_id_name_key" → "an environment with this name exists")
//! without parsing messages. No variant ever carries a connection string or a password.

use diesel::result::{DatabaseErrorKind, Error as DieselError};

/// Every failure of `wfops_db`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The row asked for does not exist, or row-level security hides it (both look the same to
    /// the caller on purpose: another tenant's row must be indistinguishable from no row).
    #[error("record not found")]
    NotFound,

    /// A unique constraint or unique index rejected the write.
    #[error("unique constraint {constraint} violated")]
    Conflict { constraint: String },

    /// A foreign key rejected the write: the referenced row does not exist in this tenant, or a
    /// row still references the one being deleted.
    #[error("foreign key {constraint} violated")]
    ForeignKey { constraint: String },

    /// A CHECK constraint (or a trigger raising `check_violation`) rejected the value.
    #[error("check constraint {constraint} violated")]
    CheckViolation { constraint: String },

    /// A NOT NULL column was given no value.
    #[error("column {column} must not be null")]
    NotNull { column: String },

    /// The row-level security policy rejected a write: the row names another tenant, or no
    /// tenant is set for the transaction.
    #[error("row-level security policy violated on table {table}")]
    RowSecurity { table: String },

    /// No connection could be taken from the pool.
    #[error("database pool error: {0}")]
    Pool(String),

    /// A connection could not be opened or configured.
    #[error("database connection failed: {0}")]
    Connect(String),

    /// A value read from the database is not one the code knows (a status or class column
    /// holding text that no enum variant names): the row is corrupt, and nothing guesses.
    #[error("unreadable value in the database: {0}")]
    Unreadable(String),

    /// Any other query failure.
    #[error("database query failed: {0}")]
    Query(#[source] DieselError),

    /// Applying or reading migrations failed.
    #[error("migration failed: {0}")]
    Migration(String),

    /// The pool's connections do not run as the restricted application role, so row-level
    /// security would not protect tenants. Refusing to start is the only safe answer.
    #[error(
        "connections run as {user} (superuser: {superuser}, bypassrls: {bypassrls}); \
         they must run as wfops_app without superuser or BYPASSRLS"
    )]
    UnsafeRole {
        user: String,
        superuser: bool,
        bypassrls: bool,
    },

    /// The embedded local PostgreSQL cluster could not be created or started.
    #[error("local PostgreSQL: {0}")]
    Embedded(String),

    /// A file of the embedded cluster could not be read or written.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

/// Shorthand used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Wraps an I/O error with what was being done, e.g. "reading .wfops/pg.port".
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    /// The violated constraint, when the error is a constraint violation.
    pub fn constraint(&self) -> Option<&str> {
        match self {
            Error::Conflict { constraint }
            | Error::ForeignKey { constraint }
            | Error::CheckViolation { constraint } => Some(constraint),
            _ => None,
        }
    }
}

impl From<DieselError> for Error {
    fn from(err: DieselError) -> Self {
        match err {
            DieselError::NotFound => Error::NotFound,
            DieselError::DatabaseError(kind, info) => {
                let constraint = info.constraint_name().unwrap_or("unknown").to_owned();
                match kind {
                    DatabaseErrorKind::UniqueViolation => Error::Conflict { constraint },
                    DatabaseErrorKind::ForeignKeyViolation => Error::ForeignKey { constraint },
                    DatabaseErrorKind::CheckViolation => Error::CheckViolation { constraint },
                    DatabaseErrorKind::NotNullViolation => Error::NotNull {
                        column: info.column_name().unwrap_or("unknown").to_owned(),
                    },
                    _ if info.message().contains("row-level security policy") => {
                        Error::RowSecurity {
                            table: info
                                .table_name()
                                .map(str::to_owned)
                                .or_else(|| table_from_rls_message(info.message()))
                                .unwrap_or_else(|| "unknown".to_owned()),
                        }
                    }
                    _ => Error::Query(DieselError::DatabaseError(kind, info)),
                }
            }
            DieselError::DeserializationError(e) => Error::Unreadable(e.to_string()),
            other => Error::Query(other),
        }
    }
}

impl From<diesel::ConnectionError> for Error {
    fn from(err: diesel::ConnectionError) -> Self {
        Error::Connect(err.to_string())
    }
}

/// Postgres reports RLS violations as `new row violates row-level security policy for table "x"`
/// without filling the table field.
fn table_from_rls_message(message: &str) -> Option<String> {
    let start = message.find("for table \"")? + "for table \"".len();
    let rest = &message[start..];
    let end = rest.find('"')?;
    Some(rest[..end].to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rls_message_names_its_table() {
        assert_eq!(
            table_from_rls_message(
                "new row violates row-level security policy for table \"environments\""
            )
            .as_deref(),
            Some("environments")
        );
        assert_eq!(table_from_rls_message("something else"), None);
    }

    #[test]
    fn not_found_maps_to_not_found() {
        assert!(matches!(
            Error::from(DieselError::NotFound),
            Error::NotFound
        ));
    }

    #[test]
    fn constraint_is_exposed_for_violations_only() {
        let conflict = Error::Conflict {
            constraint: "environments_tenant_id_name_key".into(),
        };
        assert_eq!(
            conflict.constraint(),
            Some("environments_tenant_id_name_key")
        );
        assert_eq!(Error::NotFound.constraint(), None);
    }
}
