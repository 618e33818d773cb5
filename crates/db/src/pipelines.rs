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
