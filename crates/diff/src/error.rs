//! The one error type of this crate.

use thiserror::Error;

/// Why a workflow document could not be normalized, hashed or compared.
///
/// Every message names the problem and, for syntax problems, where it is (1-based line and
/// column in characters). Quoted user content (keys, names, number literals) is cut to 60
/// characters so that a hostile document can not blow up logs.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum DiffError {
    #[error("document is {size} bytes, more than the limit of {limit} bytes")]
    TooLarge { size: usize, limit: usize },

    #[error("document is not valid UTF-8 (first bad byte at offset {offset})")]
    InvalidUtf8 { offset: usize },

    #[error("invalid JSON at line {line}, column {column}: {reason}")]
    InvalidJson {
        line: usize,
        column: usize,
        reason: String,
    },

    #[error("duplicate key {key:?} at line {line}, column {column}")]
    DuplicateKey {
        key: String,
        line: usize,
        column: usize,
    },

    #[error("document nests arrays/objects deeper than {limit} levels (at line {line}, column {column})")]
    TooDeep {
        limit: usize,
        line: usize,
        column: usize,
    },

    #[error(
        "number {literal} at line {line}, column {column} is out of the range of a 64-bit float"
    )]
    NumberOutOfRange {
        literal: String,
        line: usize,
        column: usize,
    },

    #[error("string at line {line}, column {column} holds a lone surrogate \\u{code:04x} (not valid Unicode)")]
    LoneSurrogate {
        code: u16,
        line: usize,
        column: usize,
    },

    #[error("a workflow must be a JSON object, found {found}")]
    NotAnObject { found: &'static str },

    #[error("workflow has no `{field}` field")]
    MissingField { field: &'static str },

    #[error("workflow field `{field}` must be {expected}, found {found}")]
    FieldType {
        field: &'static str,
        expected: &'static str,
        found: &'static str,
    },

    #[error("top-level key {key:?} is not a workflow field name (the document looks mangled)")]
    MangledKey { key: String },

    #[error("node {index} must be an object, found {found}")]
    NodeNotObject { index: usize, found: &'static str },

    #[error("node {index} has no `name`")]
    NodeNameMissing { index: usize },

    #[error("node {index} has a `name` that is not a string (found {found})")]
    NodeNameNotString { index: usize, found: &'static str },

    #[error("duplicate node name {name:?} (nodes {first} and {second})")]
    DuplicateNodeName {
        name: String,
        first: usize,
        second: usize,
    },

    /// An error in one of the two workflows of a diff.
    #[error("{side} workflow: {source}")]
    InWorkflow {
        side: &'static str,
        #[source]
        source: Box<DiffError>,
    },

    #[error("invalid content hash {value:?}: expected 64 lower-case hex digits")]
    InvalidContentHash { value: String },
}
