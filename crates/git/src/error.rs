use std::path::PathBuf;

/// Every failure of the Git adapter.
///
/// Each variant is a distinct situation that the engine records differently (an unreachable
/// host is retried later, a bad token needs a person). Every `url` field holds the remote's URL
/// with any userinfo password removed, and every `message` coming from libgit2 has the
/// configured token and passphrase scrubbed, so these errors can be logged and stored as is.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    /// The host did not answer, refused the connection, could not be resolved, or the local path
    /// does not exist.
    #[error("git remote {url} is unreachable: {message}")]
    Unreachable { url: String, message: String },

    /// The remote did not answer in time: the connection could not be opened within the
    /// connect timeout, or a connected remote sent nothing for the read timeout
    /// ([`crate::NetworkTimeouts`]). Worth retrying later, like [`GitError::Unreachable`].
    #[error("git remote {url} did not answer in time: {message}")]
    Timeout { url: String, message: String },

    /// The remote rejected the credentials (token, SSH key), or asked for credentials when none
    /// are configured.
    #[error("authentication to git remote {url} failed: {message}")]
    AuthFailed { url: String, message: String },

    /// The remote answers but has no branch of that name (or has no commits at all).
    #[error("branch {branch:?} does not exist on git remote {url}")]
    BranchNotFound { url: String, branch: String },

    /// Something answers at that address, but it is not a Git repository.
    #[error("{url} is not a git repository: {message}")]
    NotAGitRepository { url: String, message: String },

    /// The remote refused the push for a reason other than a concurrent change that a retry
    /// could absorb (a protected branch, a hook), or it kept moving for every retry.
    #[error("push to branch {branch:?} of {url} was rejected: {message}")]
    PushRejected {
        url: String,
        branch: String,
        message: String,
    },

    /// A file or folder path given to the adapter could escape the repository or the workflows
    /// folder, or clashes with what the repository holds.
    #[error("invalid path {path:?}: {reason}")]
    InvalidPath { path: String, reason: String },

    /// The remote specification can not be used as given (unsupported URL, credentials in the
    /// URL, an auth method that does not fit the transport, an invalid branch name).
    #[error("invalid git remote {url}: {reason}")]
    InvalidRemote { url: String, reason: String },

    /// The TLS certificate or the SSH host key of the remote is not trusted.
    #[error("the certificate or host key of git remote {url} is not trusted: {message}")]
    Untrusted { url: String, message: String },

    /// A commit that the local mirror does not hold (fetch first).
    #[error("commit {sha:?} is not available in the mirror of {url}")]
    CommitNotFound { url: String, sha: String },

    /// A string that is not a full 40-digit hex commit id.
    #[error("{value:?} is not a commit id (40 hex digits expected)")]
    InvalidCommitSha { value: String },

    /// A commit message or author that Git can not record.
    #[error("invalid commit: {reason}")]
    InvalidCommit { reason: String },

    /// The local mirror folder could not be created or read.
    #[error("I/O error on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// Anything else libgit2 reported, with its message (credentials scrubbed).
    #[error("git error on {url}: {message}")]
    Other { url: String, message: String },
}

pub type Result<T, E = GitError> = std::result::Result<T, E>;
