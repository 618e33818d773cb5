//! Job-event notifications for Server-Sent Events, and authentication changes for the API's
//! caches of resolved keys and tokens.
//!
//! The LISTEN connection itself is [`crate::jobs::Listener`] (one implementation for the worker's
//! wake-ups and the API's streams); this module names the channel the streams follow and reads
//! the payload that the `job_events_notify` trigger sends. The payload carries ids only, and a
//! LISTEN connection sees every tenant's notifications: a stream uses the note solely to decide
//! whether to re-read, and re-reads its own tenant's rows through row-level security.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Uuid as SqlUuid};
use diesel_async::RunQueryDsl;
use uuid::Uuid;

use crate::jobs::JobEvent;
use crate::schema::job_events;
use crate::{Conn, Error};

pub use crate::jobs::{Listener, Notification, JOB_EVENTS_CHANNEL};

/// What the trigger announces for each new `job_events` row:
/// `{"id", "tenant_id", "job_id", "event"}`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct JobEventNote {
    pub id: i64,
    pub tenant_id: Uuid,
    pub job_id: Uuid,
    pub event: String,
}

impl JobEventNote {
    /// `None` for a payload that is not a job-event note (another channel, a future format):
    /// callers then wake every stream, since a missed event costs more than a useless re-read.
    pub fn parse(payload: &str) -> Option<Self> {
        serde_json::from_str(payload).ok()
    }
}

/// The id of the caller's tenant's newest job event (of one job when `job_id` is given), or 0:
/// where a stream without `Last-Event-ID` starts following.
pub async fn latest_event_id(conn: &mut Conn, job_id: Option<Uuid>) -> Result<i64, Error> {
    #[derive(QueryableByName)]
    struct Latest {
        #[diesel(sql_type = BigInt)]
        id: i64,
    }
    let latest: Latest = diesel::sql_query(
        "select coalesce(max(id), 0) as id from job_events where ($1::uuid is null or job_id = $1)",
    )
    .bind::<Nullable<SqlUuid>, _>(job_id)
    .get_result(conn)
    .await?;
    Ok(latest.id)
}

/// The caller's tenant's events with these ids (of one job when `job_id` is given), oldest
/// first: how a stream fetches the events whose commit it learnt of after reading past their
/// ids. Ids of other tenants simply match nothing.
pub async fn events_by_ids(
    conn: &mut Conn,
    ids: &[i64],
    job_id: Option<Uuid>,
) -> Result<Vec<JobEvent>, Error> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut q = job_events::table
        .filter(job_events::id.eq_any(ids))
        .into_boxed();
    if let Some(j) = job_id {
        q = q.filter(job_events::job_id.eq(j));
    }
    q.select(JobEvent::as_select())
        .order(job_events::id.asc())
        .load(conn)
        .await
        .map_err(Error::from)
}

/// Opens a dedicated connection listening on [`JOB_EVENTS_CHANNEL`].
pub async fn listen_job_events(database_url: &str) -> Result<Listener, Error> {
    Listener::connect(database_url, &[JOB_EVENTS_CHANNEL]).await
}

/// The NOTIFY channel on which every change that authentication depends on is announced (a
/// key revoked or changed, a token revoked, a user or tenant deactivated or changed), by the
/// triggers that also increment the authentication generation.
pub const AUTH_CHANNEL: &str = "wfops_auth";

/// What an authentication change announces: the generation it produced and what it touched.
/// `tenant_id` alone means the whole tenant (deactivated or deleted).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct AuthNote {
    pub generation: i64,
    pub tenant_id: Uuid,
    pub user_id: Option<Uuid>,
    pub key_prefix: Option<String>,
    pub jti: Option<String>,
}

impl AuthNote {
    /// `None` for a payload of another format: the listener then treats it as "anything may
    /// have changed".
    pub fn parse(payload: &str) -> Option<Self> {
        serde_json::from_str(payload).ok()
    }
}

/// Opens a dedicated connection listening on [`AUTH_CHANNEL`].
pub async fn listen_auth(database_url: &str) -> Result<Listener, Error> {
    Listener::connect(database_url, &[AUTH_CHANNEL]).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_trigger_payload() {
        let t = Uuid::new_v4();
        let j = Uuid::new_v4();
        let note = JobEventNote::parse(&format!(
            r#"{{"id": 42, "tenant_id": "{t}", "job_id": "{j}", "event": "progress"}}"#
        ))
        .unwrap();
        assert_eq!(note.id, 42);
        assert_eq!(note.tenant_id, t);
        assert_eq!(note.job_id, j);
        assert_eq!(note.event, "progress");
        assert_eq!(JobEventNote::parse("not json"), None);
        assert_eq!(JobEventNote::parse(r#"{"id": 1}"#), None);
    }

    #[test]
    fn parses_the_auth_trigger_payload() {
        let t = Uuid::new_v4();
        let note = AuthNote::parse(&format!(
            r#"{{"generation": 7, "tenant_id": "{t}", "user_id": null, "key_prefix": "abc", "jti": null}}"#
        ))
        .unwrap();
        assert_eq!(note.generation, 7);
        assert_eq!(note.tenant_id, t);
        assert_eq!(note.user_id, None);
        assert_eq!(note.key_prefix.as_deref(), Some("abc"));
        assert_eq!(AuthNote::parse("7"), None);
    }
}
