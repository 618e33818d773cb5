use crate::Role;

/// Everything the tenancy rules can refuse.
///
/// Messages are safe to show to the caller: they never contain a token, a key or a password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("this action requires the {required} role; the caller has {actual}")]
    Denied { required: Role, actual: Role },

    #[error("this action requires a platform administrator")]
    NotPlatformAdmin,

    #[error("unknown role `{0}`: expected viewer, developer or admin")]
    UnknownRole(String),

    #[error("malformed API key: {0}")]
    MalformedApiKey(&'static str),

    #[error("token has expired")]
    TokenExpired,

    #[error("invalid token: {0}")]
    TokenInvalid(&'static str),

    #[error("token could not be issued")]
    TokenIssue,

    #[error("password is not acceptable: {0}")]
    WeakPassword(&'static str),

    #[error("password could not be hashed")]
    PasswordHash,

    #[error("stored password hash is malformed")]
    MalformedPasswordHash,

    #[error("invalid tenant name: {0}")]
    InvalidTenantName(&'static str),

    #[error("invalid email address: {0}")]
    InvalidEmail(&'static str),
}
