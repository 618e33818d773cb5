//! Pipelines: a tenant's ordered promotion stages (`pipelines.stages`, a JSON array of
//! `wfops_promotion::Stage`). Tenant scoping by row-level security.

use chrono::{DateTime, Utc};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use uuid::Uuid;
use wfops_promotion::Stage;

use crate::error::Error;
use crate::schema::pipelines;
use crate::Conn;

/// A pipeline row as stored.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = pipelines, check_for_backend(Pg))]
pub struct PipelineRow {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub name: String,
    pub description: Option<String>,
    pub stages: serde_json::Value,
    pub is_active: bool,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl PipelineRow {
    /// The stored stages. A row that does not hold valid stages is unreadable, never guessed.
    pub fn stages(&self) -> Result<Vec<Stage>, Error> {
        serde_json::from_value(self.stages.clone()).map_err(|e| {
            Error::Unreadable(format!("pipeline {} holds invalid stages: {e}", self.id))
        })
    }
}

/// Pipeline `id` of the bound tenant.
pub async fn get(conn: &mut Conn, id: Uuid) -> Result<PipelineRow, Error> {
    pipelines::table
        .find(id)
        .select(PipelineRow::as_select())
        .first(conn)
        .await
        .map_err(Error::from)
}

/// A pipeline to insert; `stages` are validated by the caller (`wfops_promotion::pipeline`).
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = pipelines)]
pub struct NewPipeline<'a> {
    pub tenant_id: Uuid,
    pub name: &'a str,
    pub description: Option<&'a str>,
    pub stages: serde_json::Value,
    pub is_active: bool,
    pub created_by: Option<Uuid>,
}

/// A partial update: `None` leaves a column alone; `description: Some(None)` clears it.
#[derive(Debug, Clone, Default, AsChangeset)]
#[diesel(table_name = pipelines)]
pub struct PipelineChanges {
    pub name: Option<String>,
    pub description: Option<Option<String>>,
    pub stages: Option<serde_json::Value>,
    pub is_active: Option<bool>,
}

impl PipelineChanges {
    pub fn is_empty(&self) -> bool {
        self.name.is_none()
            && self.description.is_none()
            && self.stages.is_none()
            && self.is_active.is_none()
    }
}

pub async fn insert(conn: &mut Conn, new: &NewPipeline<'_>) -> Result<PipelineRow, Error> {
    diesel::insert_into(pipelines::table)
        .values(new)
        .returning(PipelineRow::as_returning())
        .get_result(conn)
        .await
        .map_err(Error::from)
}

/// One page of the bound tenant's pipelines by name, and the total count.
pub async fn list(
    conn: &mut Conn,
    offset: i64,
    limit: i64,
) -> Result<(Vec<PipelineRow>, i64), Error> {
    let total: i64 = pipelines::table.count().get_result(conn).await?;
    let rows = pipelines::table
        .select(PipelineRow::as_select())
        .order((pipelines::name.asc(), pipelines::id))
        .offset(offset)
        .limit(limit)
        .load(conn)
        .await?;
    Ok((rows, total))
}

/// Applies `changes`; `NotFound` when the bound tenant has no such pipeline.
pub async fn update(
    conn: &mut Conn,
    id: Uuid,
    changes: &PipelineChanges,
) -> Result<PipelineRow, Error> {
    if changes.is_empty() {
        return get(conn, id).await;
    }
    diesel::update(pipelines::table.find(id))
        .set(changes)
        .returning(PipelineRow::as_returning())
        .get_result(conn)
        .await
        .map_err(Error::from)
}

/// Deletes a pipeline; promotions made through it keep their stage name and lose the link.
pub async fn delete(conn: &mut Conn, id: Uuid) -> Result<PipelineRow, Error> {
    diesel::delete(pipelines::table.find(id))
        .returning(PipelineRow::as_returning())
        .get_result(conn)
        .await
        .map_err(Error::from)
}

/// For each of `ids` that the bound tenant has as an environment: whether it is archived.
/// An id absent from the answer is not one of the tenant's environments.
pub async fn environment_states(
    conn: &mut Conn,
    ids: &[Uuid],
) -> Result<std::collections::HashMap<Uuid, bool>, Error> {
    use crate::schema::environments;
    let rows: Vec<(Uuid, Option<DateTime<Utc>>)> = environments::table
        .filter(environments::id.eq_any(ids))
        .select((environments::id, environments::deleted_at))
        .load(conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(id, deleted)| (id, deleted.is_some()))
        .collect())
}

/// Whether a stage of any active pipeline of the bound tenant promotes into `environment_id`
/// and requires an approval: then changing that environment through a restore needs one too.
pub async fn approval_required_into(conn: &mut Conn, environment_id: Uuid) -> Result<bool, Error> {
    let rows: Vec<PipelineRow> = pipelines::table
        .filter(pipelines::is_active.eq(true))
        .select(PipelineRow::as_select())
        .load(conn)
        .await?;
    for row in &rows {
        if row
            .stages()?
            .iter()
            .any(|s| s.target_environment_id == environment_id && s.require_approval)
        {
            return Ok(true);
        }
    }
    Ok(false)
}
