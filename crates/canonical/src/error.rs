//! The one error type of this crate.

use thiserror::Error;
use wfops_diff::DiffError;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum CanonicalError {
    #[error("invalid canonical id {value:?}: expected a UUID")]
    InvalidCanonicalId { value: String },

    #[error("invalid slug {slug:?}: {reason}")]
    InvalidSlug { slug: String, reason: &'static str },

    #[error("no free slug for {base:?}: suffixes -2 to -{tried} are all taken")]
    SlugSpaceExhausted { base: String, tried: u32 },

    #[error("unknown workflow mapping status {0:?}")]
    UnknownMappingStatus(String),

    /// The workflow checked against a registry entry does not hash to that entry's key: the
    /// caller looked up the wrong entry.
    #[error("the workflow hashes to {actual}, not to the registry key {expected}")]
    HashMismatch { expected: String, actual: String },

    #[error(transparent)]
    Workflow(#[from] DiffError),
}
