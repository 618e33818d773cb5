#![doc = include_str!("../README.md")]

mod canon;
mod changes;
mod error;
mod hash;
mod json;
mod normalize;
pub mod references;
mod status;

pub use changes::{
    diff_workflows, diff_workflows_resolving, normalized_value, normalized_value_resolving,
    ChangeKind, Connection, ConnectionChanges, FieldChange, NodeChanges, NodeModification, NodeRef,
    NodeRename, NonContentChange, WorkflowDiff,
};
pub use error::DiffError;
pub use hash::{
    canonical_bytes, canonical_bytes_value, canonicalize_json, content_hash, content_hash_batch,
    content_hash_resolving, content_hash_value, content_hash_value_resolving, portable,
    portable_value, ContentHash, ContentHasher, HASH_RULES_VERSION,
};
pub use json::{utf16_cmp, MAX_DEPTH, MAX_DOCUMENT_BYTES};
pub use normalize::{Resolve, HASHED_FIELDS, NODE_EXCLUDED_FIELDS};
pub use status::{diff_status, DiffStatus, EnvState, GitState, ThreeWay, UnknownDiffStatus};
