#![doc = include_str!("../README.md")]

mod auth;
mod error;
mod mirror;
mod paths;
mod remote;
pub mod validate;

#[cfg(test)]
mod tests;

pub use error::{GitError, Result};
pub use mirror::{
    Author, CommitSha, FileChange, GitFile, Mirror, PushOutcome, MAX_PUSH_ATTEMPTS, WORKFLOWS_DIR,
};
pub use remote::{redact_url, GitAuth, RemoteSpec, SshKeySource};
pub use wfops_config::Secret;
