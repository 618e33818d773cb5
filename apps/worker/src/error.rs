//! The one error type of the worker.

/// Everything the worker, a job handler or a scheduler can fail with.
///
/// Job handlers return it too: [`Error::is_retryable`] decides whether a failed run is tried
/// again (with backoff) or fails the job at once, so a handler states that decision by the
/// variant it returns ([`Error::retryable`] / [`Error::permanent`]).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A database call failed; usually transient (connection lost, pool exhausted), so retried.
    #[error(transparent)]
    Db(#[from] wfops_db::Error),

    /// Configuration is missing or invalid.
    #[error(transparent)]
    Config(#[from] wfops_config::Error),

    /// A handler reported a failure.
    #[error("{message}")]
    Job { message: String, retryable: bool },

    /// The job's payload does not have the shape its handler expects; retrying can not help.
    #[error("invalid payload for job type {job_type}: {reason}")]
    InvalidPayload { job_type: String, reason: String },

    /// Two handlers were registered for one job type.
    #[error("a handler for job type {0:?} is already registered")]
    DuplicateHandler(String),

    /// Two schedulers share a name, or a name the scheduler table refuses.
    #[error("invalid scheduler {name:?}: {reason}")]
    InvalidScheduler { name: String, reason: String },

    /// The job is no longer held by this worker: its lease expired and another worker took it
    /// over, or it was cancelled (its environment was deleted); whatever this worker was doing
    /// for it must stop.
    #[error(
        "job {0} is no longer this worker's (taken over after its lease expired, or cancelled)"
    )]
    LeaseLost(uuid::Uuid),

    /// A scheduler tick failed; the message becomes the scheduler's `last_error`.
    #[error("{0}")]
    Tick(String),

    /// Start-up failed (signal handlers, local cluster, …).
    #[error("worker start-up: {0}")]
    Startup(String),
}

impl Error {
    /// A failure worth another attempt (a timeout, a 5xx from n8n, …).
    pub fn retryable(message: impl Into<String>) -> Self {
        Error::Job {
            message: message.into(),
            retryable: true,
        }
    }

    /// A failure that will happen again however often the job runs (bad input, a missing
    /// resource, …): the job fails at once.
    pub fn permanent(message: impl Into<String>) -> Self {
        Error::Job {
            message: message.into(),
            retryable: false,
        }
    }

    /// The error as a tenant's users may read it (a scheduler's per-tenant outcome): what the
    /// worker's own code said, but never the database's text (constraint and table names,
    /// another tenant's ids in a summary), which stays in the operators' logs and the
    /// installation-wide status.
    pub fn tenant_message(&self) -> String {
        match self {
            Error::Db(wfops_db::Error::Pool(_) | wfops_db::Error::Connect(_)) => {
                "the database was unavailable; the next run tries again".to_owned()
            }
            Error::Db(_) => {
                "a database error stopped this run; the platform operators have the details"
                    .to_owned()
            }
            Error::Job { message, .. } | Error::Tick(message) => message.clone(),
            Error::InvalidPayload { .. } | Error::LeaseLost(_) => self.to_string(),
            Error::Config(_)
            | Error::DuplicateHandler(_)
            | Error::InvalidScheduler { .. }
            | Error::Startup(_) => {
                "an internal error stopped this run; the platform operators have the details"
                    .to_owned()
            }
        }
    }

    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Db(_) => true,
            Error::Job { retryable, .. } => *retryable,
            Error::InvalidPayload { .. }
            | Error::LeaseLost(_)
            | Error::Config(_)
            | Error::DuplicateHandler(_)
            | Error::InvalidScheduler { .. }
            | Error::Tick(_)
            | Error::Startup(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retryability_follows_the_variant() {
        assert!(Error::retryable("n8n answered 503").is_retryable());
        assert!(!Error::permanent("workflow not found").is_retryable());
        assert!(Error::Db(wfops_db::Error::Pool("timed out".into())).is_retryable());
        assert!(!Error::InvalidPayload {
            job_type: "sync".into(),
            reason: "missing field `environment_id`".into()
        }
        .is_retryable());
        assert_eq!(
            Error::permanent("workflow not found").to_string(),
            "workflow not found"
        );
    }

    #[test]
    fn tenant_messages_carry_no_database_text() {
        let fk = Error::Db(wfops_db::Error::ForeignKey {
            constraint: "env_sync_seen_environment_fkey".into(),
        });
        assert!(fk.to_string().contains("env_sync_seen_environment_fkey"));
        let public = fk.tenant_message();
        assert!(!public.contains("env_sync_seen"), "{public}");
        assert!(public.contains("database error"), "{public}");
        let pool = Error::Db(wfops_db::Error::Pool(
            "timed out waiting for connection".into(),
        ));
        assert!(!pool.tenant_message().contains("timed out"));
        assert_eq!(
            Error::Tick("n8n unreachable".into()).tenant_message(),
            "n8n unreachable"
        );
    }
}
