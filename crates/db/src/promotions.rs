//! Promotions and their deployments: the rows and the reads both the API and the execution
//! engine share. Status columns are read into the domain's state machines
//! (`wfops_promotion::{PromotionStatus, DeploymentStatus}`); a status change is checked against
//! them before it is written. Tenant scoping by row-level security.

use chrono::{DateTime, Utc};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use uuid::Uuid;
use wfops_promotion::{DeploymentStatus, PromotionStatus};

use crate::error::Error;
use crate::schema::{deployments, promotions};
use crate::Conn;

/// A promotion row as stored.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = promotions, check_for_backend(Pg))]
pub struct PromotionRow {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub pipeline_id: Option<Uuid>,
    pub stage_name: Option<String>,
    pub source_environment_id: Uuid,
    pub target_environment_id: Uuid,
    #[diesel(deserialize_as = crate::columns::Parsed<PromotionStatus>)]
    pub status: PromotionStatus,
    /// The selected canonical workflow ids (a JSON array of uuids).
    pub workflow_selections: serde_json::Value,
    pub gate_results: Option<serde_json::Value>,
    pub source_snapshot_id: Option<Uuid>,
    pub target_pre_snapshot_id: Option<Uuid>,
    pub target_post_snapshot_id: Option<Uuid>,
    pub execution_result: Option<serde_json::Value>,
    pub idempotency_key: Option<String>,
    pub created_by: Option<Uuid>,
    pub approved_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
}

impl PromotionRow {
    /// The selected canonical workflow ids, in the order they were given.
    pub fn selected_workflows(&self) -> Result<Vec<Uuid>, Error> {
        serde_json::from_value(self.workflow_selections.clone()).map_err(|e| {
            Error::Unreadable(format!(
                "promotion {} holds an invalid workflow selection: {e}",
                self.id
            ))
        })
    }
}

/// A deployment row as stored.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = deployments, check_for_backend(Pg))]
pub struct DeploymentRow {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub promotion_id: Uuid,
    #[diesel(deserialize_as = crate::columns::Parsed<DeploymentStatus>)]
    pub status: DeploymentStatus,
    pub scheduled_for: Option<DateTime<Utc>>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub summary_json: Option<serde_json::Value>,
    pub error_message: Option<String>,
    pub created_by: Option<Uuid>,
    pub is_deleted: bool,
    pub deleted_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Promotion `id` of the bound tenant.
pub async fn get_promotion(conn: &mut Conn, id: Uuid) -> Result<PromotionRow, Error> {
    promotions::table
        .find(id)
        .select(PromotionRow::as_select())
        .first(conn)
        .await
        .map_err(Error::from)
}

/// Deployment `id` of the bound tenant.
pub async fn get_deployment(conn: &mut Conn, id: Uuid) -> Result<DeploymentRow, Error> {
    deployments::table
        .find(id)
        .select(DeploymentRow::as_select())
        .first(conn)
        .await
        .map_err(Error::from)
}
