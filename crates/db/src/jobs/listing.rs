//! Reading jobs for the API: one job, and filtered pages of the caller's tenant's jobs.

use diesel::pg::Pg;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use uuid::Uuid;

use super::{JobRow, JobStatus};
use crate::error::Error;
use crate::schema::background_jobs;
use crate::Conn;

/// A job in the caller's tenant, or `None` (another tenant's job is invisible, as RLS wants).
pub async fn get(conn: &mut Conn, job_id: Uuid) -> Result<Option<JobRow>, Error> {
    background_jobs::table
        .filter(background_jobs::id.eq(job_id))
        .select(JobRow::as_select())
        .first(conn)
        .await
        .optional()
        .map_err(Error::from)
}

/// Filters for [`list`]; `None` matches everything.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JobFilter {
    pub status: Option<JobStatus>,
    pub job_type: Option<String>,
    pub environment_id: Option<Uuid>,
    pub resource_type: Option<String>,
    pub resource_id: Option<Uuid>,
}

/// A page request: `page` from 1, `page_size` 1..=200 (docs/ARCHITECTURE.md, "API conventions").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    pub page: i64,
    pub page_size: i64,
}

/// One page of jobs and the total number of matching jobs.
#[derive(Debug, Clone, PartialEq)]
pub struct JobPage {
    pub items: Vec<JobRow>,
    pub total: i64,
}

fn filtered(filter: &JobFilter) -> background_jobs::BoxedQuery<'_, Pg> {
    let mut q = background_jobs::table.into_boxed();
    if let Some(s) = filter.status {
        q = q.filter(background_jobs::status.eq(s));
    }
    if let Some(t) = &filter.job_type {
        q = q.filter(background_jobs::job_type.eq(t));
    }
    if let Some(e) = filter.environment_id {
        q = q.filter(background_jobs::environment_id.eq(e));
    }
    if let Some(rt) = &filter.resource_type {
        q = q.filter(background_jobs::resource_type.eq(rt));
    }
    if let Some(r) = filter.resource_id {
        q = q.filter(background_jobs::resource_id.eq(r));
    }
    q
}

/// The caller's tenant's jobs, newest first.
pub async fn list(
    conn: &mut Conn,
    filter: &JobFilter,
    page: PageRequest,
) -> Result<JobPage, Error> {
    let page_size = page.page_size.clamp(1, 200);
    let offset = (page.page.max(1) - 1).saturating_mul(page_size);
    let total = filtered(filter).count().get_result::<i64>(conn).await?;
    let items = filtered(filter)
        .select(JobRow::as_select())
        .order((
            background_jobs::created_at.desc(),
            background_jobs::id.desc(),
        ))
        .limit(page_size)
        .offset(offset)
        .load(conn)
        .await?;
    Ok(JobPage { items, total })
}
