use std::path::PathBuf;

/// Everything that can go wrong while reading configuration or handling secrets.
///
/// Messages name the variable or file at fault but never echo a secret value: a
/// misconfigured `ENCRYPTION_KEY` must not end up in a crash log.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{var} is required: {hint}")]
    Missing {
        var: &'static str,
        hint: &'static str,
    },

    #[error(
        "DATABASE_URL is not set: set DATABASE_URL=postgres://user:password@host:port/database \
         (a superuser or a role with BYPASSRLS, see docs/ARCHITECTURE.md), or set \
         WFOPS_EMBEDDED_PG=1 for a local development cluster under WFOPS_HOME (what ./dev up does)"
    )]
    NoDatabase,

    #[error("{var} is invalid: {reason}")]
    Invalid { var: &'static str, reason: String },

    #[error(".env file could not be read: {reason}")]
    DotEnv { reason: String },

    #[error("secrets file {path}: {reason}")]
    SecretsFile { path: PathBuf, reason: String },

    #[error("encrypted value is malformed: {reason}")]
    MalformedCiphertext { reason: &'static str },

    #[error("encrypted value could not be decrypted: wrong ENCRYPTION_KEY or tampered data")]
    DecryptFailed,

    #[error("encryption failed")]
    EncryptFailed,

    #[error("decrypted value is not valid UTF-8")]
    NotUtf8,
}
