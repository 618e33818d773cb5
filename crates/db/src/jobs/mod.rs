//! The Postgres job queue (docs/ARCHITECTURE.md, "Job queue").
//!
//! Jobs are rows of `background_jobs`. A handler enqueues in its own tenant transaction so that
//! the job exists exactly when the domain write it belongs to exists. Workers claim through the
//! `wfops_claim_job` definer function (they do not know the tenant before claiming), then do
//! every later write in a transaction bound to the job's tenant. Every write to a running job is
//! conditional on `locked_by = <this worker>`: a worker whose lease expired and whose job was
//! reclaimed by another worker must not overwrite the other worker's outcome, so those functions
//! return `false` instead of writing.
//!
//! The module is split by concern; everything is re-exported here, so callers keep writing
//! `wfops_db::jobs::enqueue`:
//! - [`queue`]: enqueue, claim, heartbeat, complete, fail, release, cancel, retention;
//! - [`events`]: `job_events`, progress and checkpoints of a running job;
//! - [`listing`]: reading jobs for the API;
//! - [`listener`]: the dedicated LISTEN connection for wake-ups and Server-Sent Events.

use chrono::{DateTime, Utc};
use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::expression::AsExpression;
use diesel::pg::{Pg, PgValue};
use diesel::prelude::*;
use diesel::serialize::{self, Output, ToSql};
use diesel::sql_types::Text;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::schema::background_jobs;

pub mod events;
pub mod listener;
pub mod listing;
pub mod queue;

pub use events::{events_after, record_progress, save_checkpoint, JobEvent, Progress};
pub use listener::{Listener, Notification, JOBS_CHANNEL, JOB_EVENTS_CHANNEL};
pub use listing::{get, list, JobFilter, JobPage, PageRequest};
pub use queue::{
    cancel, cancel_for_environment, claim, complete, enqueue, enqueue_unless_pending, fail,
    heartbeat, purge_before, release, FailOutcome, Purged,
};

/// Status of a job. Stored as text (with a CHECK constraint) in `background_jobs.status`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, AsExpression, FromSqlRow,
)]
#[diesel(sql_type = Text)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    Pending,
    Running,
    Completed,
    Failed,
    Cancelled,
}

impl JobStatus {
    pub const ALL: [JobStatus; 5] = [
        Self::Pending,
        Self::Running,
        Self::Completed,
        Self::Failed,
        Self::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Running => "running",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }

    pub fn is_finished(self) -> bool {
        matches!(self, Self::Completed | Self::Failed | Self::Cancelled)
    }
}

impl std::fmt::Display for JobStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl ToSql<Text, Pg> for JobStatus {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        <str as ToSql<Text, Pg>>::to_sql(self.as_str(), out)
    }
}

impl FromSql<Text, Pg> for JobStatus {
    fn from_sql(bytes: PgValue<'_>) -> deserialize::Result<Self> {
        let s = <String as FromSql<Text, Pg>>::from_sql(bytes)?;
        JobStatus::parse(&s).ok_or_else(|| format!("unknown job status {s:?}").into())
    }
}

/// One row of `background_jobs`.
#[derive(Debug, Clone, PartialEq, Queryable, QueryableByName, Selectable, Serialize)]
#[diesel(table_name = background_jobs, check_for_backend(Pg))]
pub struct JobRow {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub environment_id: Option<Uuid>,
    pub job_type: String,
    pub status: JobStatus,
    pub payload: Value,
    pub result: Option<Value>,
    pub progress: Option<Value>,
    pub error: Option<String>,
    pub attempts: i32,
    pub max_attempts: i32,
    pub run_at: DateTime<Utc>,
    pub lock_key: Option<String>,
    pub locked_by: Option<String>,
    pub lease_expires_at: Option<DateTime<Utc>>,
    pub heartbeat_at: Option<DateTime<Utc>>,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub idempotency_key: Option<String>,
    pub resource_type: Option<String>,
    pub resource_id: Option<Uuid>,
    /// How far a previous attempt got (see [`save_checkpoint`]); kept across retries.
    pub checkpoint: Option<Value>,
}

impl JobRow {
    /// True when another run is allowed after this one fails.
    pub fn has_attempts_left(&self) -> bool {
        self.attempts < self.max_attempts
    }
}

/// A job to enqueue. Build it with [`NewJob::new`] and the builder methods.
#[derive(Debug, Clone, PartialEq, Insertable)]
#[diesel(table_name = background_jobs)]
pub struct NewJob {
    pub tenant_id: Uuid,
    pub environment_id: Option<Uuid>,
    pub job_type: String,
    pub payload: Value,
    pub max_attempts: i32,
    pub run_at: DateTime<Utc>,
    pub lock_key: Option<String>,
    pub idempotency_key: Option<String>,
    pub resource_type: Option<String>,
    pub resource_id: Option<Uuid>,
}

/// The default number of runs of a job before it is marked failed (`JOB_MAX_ATTEMPTS`).
pub const DEFAULT_MAX_ATTEMPTS: i32 = 5;

impl NewJob {
    pub fn new(tenant_id: Uuid, job_type: impl Into<String>, payload: Value) -> Self {
        Self {
            tenant_id,
            environment_id: None,
            job_type: job_type.into(),
            payload,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            run_at: Utc::now(),
            lock_key: None,
            idempotency_key: None,
            resource_type: None,
            resource_id: None,
        }
    }

    /// A job whose payload is `payload` serialised to JSON (a typed job's payload is the job
    /// value itself). A type that does not serialise is reported as a query error, before
    /// anything is written.
    pub fn with_payload<T: Serialize>(
        tenant_id: Uuid,
        job_type: impl Into<String>,
        payload: &T,
    ) -> Result<Self, crate::Error> {
        let payload = serde_json::to_value(payload).map_err(|e| {
            crate::Error::Query(diesel::result::Error::SerializationError(Box::new(e)))
        })?;
        Ok(Self::new(tenant_id, job_type, payload))
    }

    /// Ties the job to an environment and serialises it with every other job of that
    /// environment (lock key `env:<id>`): two syncs, or a sync and a promotion into the same
    /// environment, must never interleave.
    pub fn for_environment(mut self, environment_id: Uuid) -> Self {
        self.environment_id = Some(environment_id);
        self.lock_key = Some(environment_lock_key(environment_id));
        self
    }

    pub fn lock_key(mut self, key: impl Into<String>) -> Self {
        self.lock_key = Some(key.into());
        self
    }

    pub fn idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.idempotency_key = Some(key.into());
        self
    }

    pub fn resource(mut self, resource_type: impl Into<String>, resource_id: Uuid) -> Self {
        self.resource_type = Some(resource_type.into());
        self.resource_id = Some(resource_id);
        self
    }

    pub fn run_at(mut self, at: DateTime<Utc>) -> Self {
        self.run_at = at;
        self
    }

    pub fn max_attempts(mut self, n: i32) -> Self {
        self.max_attempts = n;
        self
    }
}

/// The lock key that serialises all work on one environment.
pub fn environment_lock_key(environment_id: Uuid) -> String {
    format!("env:{environment_id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_status_text_round_trips() {
        for s in JobStatus::ALL {
            assert_eq!(JobStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(JobStatus::parse("Running"), None);
        assert!(JobStatus::Failed.is_finished());
        assert!(!JobStatus::Running.is_finished());
    }

    #[test]
    fn environment_jobs_share_a_lock_key() {
        let t = Uuid::new_v4();
        let e = Uuid::new_v4();
        let a = NewJob::new(t, "sync", serde_json::json!({})).for_environment(e);
        let b = NewJob::new(t, "drift_check", serde_json::json!({})).for_environment(e);
        assert_eq!(a.lock_key, b.lock_key);
        assert_eq!(a.lock_key.as_deref(), Some(format!("env:{e}").as_str()));
        assert_eq!(a.environment_id, Some(e));
    }
}
