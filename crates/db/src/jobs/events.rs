//! What a running job reports: progress (on the row and as `job_events` for Server-Sent
//! Events), checkpoints, and reading the events back.

use chrono::{DateTime, Utc};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::JobStatus;
use crate::error::Error;
use crate::schema::{background_jobs, job_events};
use crate::Conn;

/// Records how far a running job held by `worker` got. Called in the same transaction as the
/// work it describes, so the checkpoint and the work commit together; `false` (write nothing)
/// when the job is no longer this worker's, which must roll that work back.
pub async fn save_checkpoint(
    conn: &mut Conn,
    job_id: Uuid,
    worker: &str,
    checkpoint: &Value,
) -> Result<bool, Error> {
    let n = diesel::update(
        background_jobs::table
            .filter(background_jobs::id.eq(job_id))
            .filter(background_jobs::status.eq(JobStatus::Running))
            .filter(background_jobs::locked_by.eq(worker)),
    )
    .set(background_jobs::checkpoint.eq(Some(checkpoint)))
    .execute(conn)
    .await?;
    Ok(n == 1)
}

/// The `progress` document of a job: `{current, total, percentage, message}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    pub current: i64,
    pub total: i64,
    pub percentage: i64,
    pub message: Option<String>,
}

impl Progress {
    /// `total = 0` (nothing to do) counts as done rather than dividing by zero; `current` above
    /// `total` is reported as 100 %.
    pub fn new(current: i64, total: i64, message: Option<String>) -> Self {
        let current = current.max(0);
        let total = total.max(0);
        let percentage = if total == 0 {
            100
        } else {
            (current.min(total) * 100) / total
        };
        Self {
            current,
            total,
            percentage,
            message,
        }
    }
}

/// Records progress on a running job held by `worker` and appends a `progress` event for the
/// Server-Sent Events stream. `false` when the job is no longer this worker's.
pub async fn record_progress(
    conn: &mut Conn,
    job_id: Uuid,
    worker: &str,
    current: i64,
    total: i64,
    message: Option<&str>,
) -> Result<bool, Error> {
    let progress = Progress::new(current, total, message.map(str::to_owned));
    let doc = serde_json::json!({
        "current": progress.current,
        "total": progress.total,
        "percentage": progress.percentage,
        "message": progress.message,
    });
    let updated = diesel::update(
        background_jobs::table
            .filter(background_jobs::id.eq(job_id))
            .filter(background_jobs::status.eq(JobStatus::Running))
            .filter(background_jobs::locked_by.eq(worker)),
    )
    .set((
        background_jobs::progress.eq(Some(&doc)),
        background_jobs::updated_at.eq(Utc::now()),
    ))
    .returning(background_jobs::tenant_id)
    .get_result::<Uuid>(conn)
    .await
    .optional()?;
    let Some(tenant_id) = updated else {
        return Ok(false);
    };
    insert_event(conn, tenant_id, job_id, "progress", doc).await?;
    Ok(true)
}

pub(crate) async fn insert_event(
    conn: &mut Conn,
    tenant_id: Uuid,
    job_id: Uuid,
    event: &str,
    data: Value,
) -> Result<(), Error> {
    diesel::insert_into(job_events::table)
        .values((
            job_events::tenant_id.eq(tenant_id),
            job_events::job_id.eq(job_id),
            job_events::event.eq(event),
            job_events::data.eq(data),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// One row of `job_events`; `id` is the Server-Sent Events id.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Serialize)]
#[diesel(table_name = job_events, check_for_backend(Pg))]
pub struct JobEvent {
    pub id: i64,
    pub tenant_id: Uuid,
    pub job_id: Uuid,
    pub event: String,
    pub data: Value,
    pub created_at: DateTime<Utc>,
}

/// The caller's tenant's events with an id above `after_id` (the SSE `Last-Event-ID`), oldest
/// first, optionally of one job, at most `limit` (1..=1000).
pub async fn events_after(
    conn: &mut Conn,
    after_id: i64,
    job_id: Option<Uuid>,
    limit: i64,
) -> Result<Vec<JobEvent>, Error> {
    let mut q = job_events::table
        .filter(job_events::id.gt(after_id))
        .into_boxed();
    if let Some(j) = job_id {
        q = q.filter(job_events::job_id.eq(j));
    }
    q.select(JobEvent::as_select())
        .order(job_events::id.asc())
        .limit(limit.clamp(1, 1000))
        .load(conn)
        .await
        .map_err(Error::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_percentage_is_bounded() {
        assert_eq!(Progress::new(0, 10, None).percentage, 0);
        assert_eq!(Progress::new(5, 10, None).percentage, 50);
        assert_eq!(Progress::new(10, 10, None).percentage, 100);
        assert_eq!(Progress::new(15, 10, None).percentage, 100);
        assert_eq!(Progress::new(0, 0, None).percentage, 100);
        assert_eq!(Progress::new(-3, 10, None).current, 0);
    }
}
