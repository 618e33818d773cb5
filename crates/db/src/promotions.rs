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
use crate::schema::{deployment_workflows, deployments, promotions};
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
    /// SHA-256 (hex) of the canonical request that first used `idempotency_key`.
    pub idempotency_request_hash: Option<String>,
    /// Who created it, `user:<id>` or `api_key:<id>`.
    pub created_by_actor: Option<String>,
    /// Who approved or rejected it, `user:<id>` or `api_key:<id>`.
    pub approved_by_actor: Option<String>,
    /// When it was approved or rejected.
    pub approved_at: Option<DateTime<Utc>>,
    pub rejection_reason: Option<String>,
    pub notes: Option<String>,
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
    /// When a cancel of the running deployment was asked for; the execution stops between
    /// workflows once it sees it ([`cancel_requested`]).
    pub cancel_requested_at: Option<DateTime<Utc>>,
    /// The `promotion_deployment` job that runs (or will run) it.
    pub job_id: Option<Uuid>,
    /// The `Idempotency-Key` of the `POST /deployments` that created it.
    pub idempotency_key: Option<String>,
    /// SHA-256 (hex) of that request's canonical form.
    pub idempotency_request_hash: Option<String>,
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

/// A promotion to insert.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = promotions)]
pub struct NewPromotion {
    pub tenant_id: Uuid,
    pub pipeline_id: Option<Uuid>,
    pub stage_name: Option<String>,
    pub source_environment_id: Uuid,
    pub target_environment_id: Uuid,
    #[diesel(serialize_as = String)]
    pub status: PromotionStatusText,
    pub workflow_selections: serde_json::Value,
    pub gate_results: Option<serde_json::Value>,
    pub idempotency_key: Option<String>,
    pub idempotency_request_hash: Option<String>,
    pub created_by: Option<Uuid>,
    pub created_by_actor: Option<String>,
    pub notes: Option<String>,
}

/// A promotion status as written by [`NewPromotion`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PromotionStatusText(pub PromotionStatus);

impl From<PromotionStatusText> for String {
    fn from(s: PromotionStatusText) -> String {
        s.0.as_str().to_string()
    }
}

/// Inserts a promotion in the caller's tenant transaction.
pub async fn insert_promotion(conn: &mut Conn, new: NewPromotion) -> Result<PromotionRow, Error> {
    diesel::insert_into(promotions::table)
        .values(new)
        .returning(PromotionRow::as_returning())
        .get_result(conn)
        .await
        .map_err(Error::from)
}

/// Serializes the creations that use idempotency key `key` in the tenant until the end of the
/// transaction, so that two concurrent requests with one key make one promotion: the second
/// waits, then finds the first one's promotion.
pub async fn lock_idempotency_key(
    conn: &mut Conn,
    tenant_id: Uuid,
    key: &str,
) -> Result<(), Error> {
    lock_key(conn, &format!("promotion-idempotency:{tenant_id}:{key}")).await
}

/// A transaction-scoped advisory lock on `name`.
pub(crate) async fn lock_key(conn: &mut Conn, name: &str) -> Result<(), Error> {
    diesel::sql_query("select pg_advisory_xact_lock(hashtextextended($1, 0))")
        .bind::<diesel::sql_types::Text, _>(name)
        .execute(conn)
        .await?;
    Ok(())
}

/// The promotion of the bound tenant created with idempotency key `key`, if any.
pub async fn find_by_idempotency_key(
    conn: &mut Conn,
    key: &str,
) -> Result<Option<PromotionRow>, Error> {
    promotions::table
        .filter(promotions::idempotency_key.eq(key))
        .select(PromotionRow::as_select())
        .first(conn)
        .await
        .optional()
        .map_err(Error::from)
}

/// Promotion `id` of the bound tenant, locked until the end of the transaction so that a
/// decision (approve, reject, a new deployment) is taken on the state it read.
pub async fn get_promotion_for_update(conn: &mut Conn, id: Uuid) -> Result<PromotionRow, Error> {
    promotions::table
        .find(id)
        .for_update()
        .select(PromotionRow::as_select())
        .first(conn)
        .await
        .map_err(Error::from)
}

/// Filters of [`list_promotions`]; `None` means any.
#[derive(Debug, Clone, Default)]
pub struct PromotionFilter {
    pub status: Option<PromotionStatus>,
    pub source_environment_id: Option<Uuid>,
    pub target_environment_id: Option<Uuid>,
    pub pipeline_id: Option<Uuid>,
}

/// One page of the bound tenant's promotions, newest first, and the total.
pub async fn list_promotions(
    conn: &mut Conn,
    filter: &PromotionFilter,
    offset: i64,
    limit: i64,
) -> Result<(Vec<PromotionRow>, i64), Error> {
    let query = || {
        let mut q = promotions::table.into_boxed();
        if let Some(status) = filter.status {
            // `in_progress` is an older spelling of `running` that rows may still hold
            if status == PromotionStatus::Running {
                q = q.filter(promotions::status.eq_any(["running", "in_progress"]));
            } else {
                q = q.filter(promotions::status.eq(status.as_str()));
            }
        }
        if let Some(id) = filter.source_environment_id {
            q = q.filter(promotions::source_environment_id.eq(id));
        }
        if let Some(id) = filter.target_environment_id {
            q = q.filter(promotions::target_environment_id.eq(id));
        }
        if let Some(id) = filter.pipeline_id {
            q = q.filter(promotions::pipeline_id.eq(id));
        }
        q
    };
    let total: i64 = query().count().get_result(conn).await?;
    let rows = query()
        .select(PromotionRow::as_select())
        .order((promotions::created_at.desc(), promotions::id.desc()))
        .offset(offset)
        .limit(limit)
        .load(conn)
        .await?;
    Ok((rows, total))
}

/// Records the decision on a promotion waiting for approval: `approved` (with the approver) or
/// `failed` with the rejection reason. Guarded on the status still being `pending_approval`;
/// `None` when it no longer is. The caller checks the move against the state machine first.
pub async fn decide_approval(
    conn: &mut Conn,
    id: Uuid,
    approved: bool,
    approver_user: Option<Uuid>,
    approver_actor: &str,
    reason: Option<&str>,
) -> Result<Option<PromotionRow>, Error> {
    let now = Utc::now();
    let status = if approved {
        PromotionStatus::Approved
    } else {
        PromotionStatus::Failed
    };
    let completed_at = (!approved).then_some(now);
    diesel::update(
        promotions::table
            .find(id)
            .filter(promotions::status.eq(PromotionStatus::PendingApproval.as_str())),
    )
    .set((
        promotions::status.eq(status.as_str()),
        promotions::approved_by.eq(approver_user),
        promotions::approved_by_actor.eq(Some(approver_actor)),
        promotions::approved_at.eq(Some(now)),
        promotions::rejection_reason.eq(reason),
        promotions::completed_at.eq(completed_at),
        promotions::updated_at.eq(now),
    ))
    .returning(PromotionRow::as_returning())
    .get_result(conn)
    .await
    .optional()
    .map_err(Error::from)
}

/// Whether environment `id` of the bound tenant exists but was deleted (archived).
pub async fn environment_archived(conn: &mut Conn, id: Uuid) -> Result<bool, Error> {
    use crate::schema::environments;
    let found: Option<Option<DateTime<Utc>>> = environments::table
        .find(id)
        .select(environments::deleted_at)
        .first(conn)
        .await
        .optional()?;
    Ok(matches!(found, Some(Some(_))))
}

/// A per-workflow outcome of a deployment, as the execution records it.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = deployment_workflows, check_for_backend(Pg))]
pub struct DeploymentWorkflowRow {
    pub id: Uuid,
    pub deployment_id: Uuid,
    pub canonical_id: Option<Uuid>,
    pub workflow_id: String,
    pub workflow_name: String,
    /// `success`, `failed` or `skipped`.
    pub status: String,
    pub error_message: Option<String>,
    pub promoted_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// The per-workflow rows of deployment `id`, in the order they were recorded (by name among
/// rows recorded at the same moment).
pub async fn deployment_workflows(
    conn: &mut Conn,
    deployment_id: Uuid,
) -> Result<Vec<DeploymentWorkflowRow>, Error> {
    deployment_workflows::table
        .filter(deployment_workflows::deployment_id.eq(deployment_id))
        .select(DeploymentWorkflowRow::as_select())
        .order((
            deployment_workflows::created_at.asc(),
            deployment_workflows::workflow_name.asc(),
            deployment_workflows::id,
        ))
        .load(conn)
        .await
        .map_err(Error::from)
}
