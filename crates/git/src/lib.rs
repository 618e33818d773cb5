#![doc = include_str!("../README.md")]

mod auth;
mod error;
mod mirror;
mod paths;
mod remote;
// The only `unsafe` of the workspace: libgit2's timeout setters (see the module's SAFETY note).
#[allow(unsafe_code)]
mod timeouts;
pub mod validate;

#[cfg(test)]
mod tests;

pub use error::{GitError, Result};
pub use mirror::{
    Author, CommitSha, FileChange, GitFile, Mirror, PushOutcome, MAX_PUSH_ATTEMPTS, WORKFLOWS_DIR,
};
pub use remote::{redact_url, GitAuth, RemoteSpec, SshKeySource};
pub use timeouts::{network_timeouts, set_network_timeouts, NetworkTimeouts};
pub use wfops_config::Secret;
