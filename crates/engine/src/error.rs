//! The one error type of the engine.

use uuid::Uuid;

/// Everything a use-case can fail with.
///
/// Messages name what went wrong and where (environment, workflow) but never carry a secret:
/// provider and configuration errors are scrubbed by their own crates, and the engine only
/// adds names and ids. [`EngineError::is_retryable`] tells a job runner whether another
/// attempt can help.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// A database call failed (usually transient: connection lost, pool exhausted).
    #[error(transparent)]
    Db(#[from] wfops_db::Error),

    /// The environment's provider (n8n) failed; the message is n8n's own, with the status.
    #[error("environment {environment}: {source}")]
    Provider {
        environment: String,
        #[source]
        source: wfops_n8n::ProviderError,
    },

    /// No such environment in the tenant (or it belongs to another tenant).
    #[error("environment {0} not found")]
    EnvironmentNotFound(Uuid),

    /// The environment can not be used as configured (no API key, unsupported provider, a
    /// secret that does not decrypt, …).
    #[error("environment {environment}: {reason}")]
    EnvironmentConfig { environment: String, reason: String },

    /// The engine itself is misconfigured (missing encryption key, …).
    #[error(transparent)]
    Config(#[from] wfops_config::Error),

    /// The job running this use-case is no longer held by this worker (its lease expired and
    /// another worker took it over); work done since the last checkpoint was rolled back.
    #[error(
        "job {0} is no longer this worker's (taken over after its lease expired, or cancelled)"
    )]
    LeaseLost(Uuid),

    /// The environment's Git repository failed: unreachable, credentials rejected, no such
    /// branch, a push refused… The git crate scrubs credentials from the message.
    #[error("environment {environment}: {source}")]
    Git {
        environment: String,
        #[source]
        source: wfops_git::GitError,
    },

    /// The environment has no Git repository (or no folder in it) configured, so it has
    /// nothing to sync from or onboard into.
    #[error("environment {environment} has no Git {missing} configured")]
    GitNotConfigured {
        environment: String,
        missing: &'static str,
    },

    /// A canonical-identity rule refused (no free slug left for a name, …).
    #[error(transparent)]
    Canonical(#[from] wfops_canonical::CanonicalError),

    /// A promotion's selection or pipeline is not usable (docs/promotion.md#pre-flight).
    #[error(transparent)]
    Preflight(#[from] crate::preflight::PreflightError),
    /// A snapshot restore could not bring every workflow back; `detail` lists them (names and
    /// reasons, never documents). Running the restore again converges.
    #[error("environment {environment}: the restore is incomplete: {detail}")]
    RestoreIncomplete { environment: String, detail: String },

    /// A notification could not be delivered; `detail` names the delivery and the attempt and
    /// never holds a secret. `retryable`: another attempt may succeed.
    #[error("notification {detail}")]
    Notification { detail: String, retryable: bool },

    /// A bug: an invariant the engine relies on did not hold, or a blocking task panicked.
    #[error("internal error: {0}")]
    Internal(String),
}

impl EngineError {
    /// A failure worth another attempt: the database or the provider being unavailable. Bad
    /// configuration, a rejected API key, or a vanished environment fail the same way again.
    pub fn is_retryable(&self) -> bool {
        use wfops_n8n::ProviderError as P;
        match self {
            EngineError::Db(e) => !matches!(
                e,
                wfops_db::Error::NotFound
                    | wfops_db::Error::CheckViolation { .. }
                    | wfops_db::Error::ForeignKey { .. }
                    | wfops_db::Error::NotNull { .. }
                    | wfops_db::Error::RowSecurity { .. }
                    | wfops_db::Error::Unreadable(_)
            ),
            EngineError::Provider { source, .. } => matches!(
                source,
                P::RateLimited { .. }
                    | P::Unavailable { .. }
                    | P::Timeout { .. }
                    | P::Connection { .. }
            ),
            // a host that does not answer (or not in time), or a branch that kept moving under
            // the push
            EngineError::Git { source, .. } => matches!(
                source,
                wfops_git::GitError::Unreachable { .. }
                    | wfops_git::GitError::Timeout { .. }
                    | wfops_git::GitError::PushRejected { .. }
                    | wfops_git::GitError::Other { .. }
            ),
            EngineError::RestoreIncomplete { .. } => true,
            EngineError::Notification { retryable, .. } => *retryable,
            EngineError::EnvironmentNotFound(_)
            | EngineError::GitNotConfigured { .. }
            | EngineError::Canonical(_)
            | EngineError::Preflight(_)
            | EngineError::EnvironmentConfig { .. }
            | EngineError::Config(_)
            | EngineError::LeaseLost(_)
            | EngineError::Internal(_) => false,
        }
    }

    /// What went wrong, as a closed set a caller can map to its own error codes without
    /// depending on the Git and n8n adapter crates.
    pub fn kind(&self) -> EngineErrorKind {
        use wfops_git::GitError as G;
        use wfops_n8n::ProviderError as P;
        use EngineErrorKind as K;
        match self {
            EngineError::Db(_) => K::Database,
            EngineError::Provider { source, .. } => match source {
                P::Unauthorized { .. } | P::Forbidden { .. } => K::N8nAuthFailed,
                P::RateLimited { .. }
                | P::Unavailable { .. }
                | P::Timeout { .. }
                | P::Connection { .. } => K::N8nUnreachable,
                _ => K::N8nRequestFailed,
            },
            EngineError::EnvironmentNotFound(_) => K::EnvironmentNotFound,
            EngineError::EnvironmentConfig { .. } => K::EnvironmentMisconfigured,
            EngineError::Git { source, .. } => match source {
                G::Unreachable { .. } => K::GitRemoteUnreachable,
                G::AuthFailed { .. } => K::GitAuthFailed,
                G::BranchNotFound { .. } => K::GitBranchNotFound,
                G::PushRejected { .. } => K::GitPushRejected,
                _ => K::GitFailed,
            },
            EngineError::GitNotConfigured { .. } => K::GitNotConfigured,
            EngineError::RestoreIncomplete { .. } => K::N8nRequestFailed,
            EngineError::Notification { .. } => K::NotificationFailed,
            EngineError::Canonical(_) => K::CanonicalRule,
            EngineError::Preflight(e) => {
                use crate::preflight::PreflightError as P;
                match e {
                    P::PipelineNotFound(_) => K::PipelineNotFound,
                    P::PipelineInactive { .. } => K::PipelineInactive,
                    P::StageMissing { .. } => K::PipelineStageMissing,
                    P::SameEnvironment(_) => K::SameSourceAndTarget,
                    P::WorkflowsNotInSource { .. } => K::WorkflowsNotInSource,
                }
            }
            EngineError::Config(_) | EngineError::LeaseLost(_) | EngineError::Internal(_) => {
                K::Internal
            }
        }
    }

    pub(crate) fn provider(environment: &str, source: wfops_n8n::ProviderError) -> Self {
        EngineError::Provider {
            environment: environment.to_owned(),
            source,
        }
    }
}

/// The class of an [`EngineError`], for mapping to API error codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineErrorKind {
    /// The database failed (see the wrapped `wfops_db::Error`).
    Database,
    EnvironmentNotFound,
    /// The environment can not be used as configured (no API key, a secret that does not
    /// decrypt, …).
    EnvironmentMisconfigured,
    /// n8n did not answer (connection refused, timeout, 5xx, rate limited).
    N8nUnreachable,
    /// n8n refused the API key.
    N8nAuthFailed,
    /// n8n answered with another error.
    N8nRequestFailed,
    GitRemoteUnreachable,
    GitAuthFailed,
    GitBranchNotFound,
    GitPushRejected,
    /// Another Git failure (not a repository, bad path, I/O, …).
    GitFailed,
    /// No Git repository or folder configured.
    GitNotConfigured,
    /// A canonical-identity rule refused.
    CanonicalRule,
    /// The promotion names a pipeline the tenant does not have.
    PipelineNotFound,
    /// The promotion names a pipeline that is switched off.
    PipelineInactive,
    /// The pipeline has no stage from the source into the target.
    PipelineStageMissing,
    /// The promotion's source and target are the same environment.
    SameSourceAndTarget,
    /// Selected workflows that the source environment does not hold.
    WorkflowsNotInSource,
    /// A notification could not be delivered (only a job sees it).
    NotificationFailed,
    /// A bug or a misconfigured installation.
    Internal,
}

/// Shorthand for engine results.
pub type Result<T, E = EngineError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;
    use wfops_n8n::ProviderError;

    #[test]
    fn retryability_follows_the_cause() {
        let unavailable = EngineError::provider(
            "dev",
            ProviderError::Unavailable {
                status: 503,
                attempts: 4,
                message: "Service Unavailable".into(),
            },
        );
        assert!(unavailable.is_retryable());
        assert_eq!(
            unavailable.to_string(),
            "environment dev: n8n is unavailable (HTTP 503) after 4 attempt(s): Service Unavailable"
        );
        let unauthorized = EngineError::provider(
            "dev",
            ProviderError::Unauthorized {
                status: 401,
                message: "unauthorized".into(),
            },
        );
        assert!(!unauthorized.is_retryable());
        assert!(EngineError::Db(wfops_db::Error::Pool("timed out".into())).is_retryable());
        assert!(!EngineError::Db(wfops_db::Error::NotFound).is_retryable());
        assert!(!EngineError::EnvironmentNotFound(Uuid::nil()).is_retryable());
        assert!(!EngineError::LeaseLost(Uuid::nil()).is_retryable());
        let silent = EngineError::Git {
            environment: "dev".into(),
            source: wfops_git::GitError::Timeout {
                url: "https://git.example.com/org/repo.git".into(),
                message: "could not read from socket: timed out".into(),
            },
        };
        assert!(silent.is_retryable());
        assert_eq!(
            silent.to_string(),
            "environment dev: git remote https://git.example.com/org/repo.git did not answer in \
             time: could not read from socket: timed out"
        );
    }

    #[test]
    fn kinds_name_the_cause() {
        let git = |source| EngineError::Git {
            environment: "dev".into(),
            source,
        };
        assert_eq!(
            git(wfops_git::GitError::Unreachable {
                url: "https://git.example.com/r.git".into(),
                message: "timed out".into(),
            })
            .kind(),
            EngineErrorKind::GitRemoteUnreachable
        );
        assert_eq!(
            git(wfops_git::GitError::BranchNotFound {
                url: "/r.git".into(),
                branch: "main".into(),
            })
            .kind(),
            EngineErrorKind::GitBranchNotFound
        );
        let n8n = EngineError::provider(
            "dev",
            ProviderError::Unauthorized {
                status: 401,
                message: "unauthorized".into(),
            },
        );
        assert_eq!(n8n.kind(), EngineErrorKind::N8nAuthFailed);
        assert_eq!(
            EngineError::EnvironmentNotFound(Uuid::nil()).kind(),
            EngineErrorKind::EnvironmentNotFound
        );
        assert_eq!(
            EngineError::Db(wfops_db::Error::NotFound).kind(),
            EngineErrorKind::Database
        );
    }
}
