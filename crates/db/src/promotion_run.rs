//! What executing a promotion writes and reads (docs/promotion.md#execution): status changes of
//! the promotion and its deployment (each guarded by the status it moves from, so two runs can
//! not both move it), the snapshot ids and result on the promotion, one `deployment_workflows`
//! row per workflow written, and the target's mappings kept equal to what the target holds.
//! Tenant scoping by row-level security.

use chrono::{DateTime, Utc};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde_json::Value;
use uuid::Uuid;
use wfops_canonical::MappingStatus;
use wfops_promotion::{DeploymentStatus, PromotionStatus, RollbackOutcome, WorkflowAction};

use crate::columns::ParsedOption;
use crate::error::Error;
use crate::schema::{deployment_workflows, deployments, promotions, workflow_env_map};
use crate::workflows::Mapping;
use crate::Conn;

/// Moves promotion `id` from `from` to `to` (the caller checked the move with
/// `PromotionStatus::transition`); `false` when its status was no longer `from`. A terminal
/// status sets `completed_at`.
pub async fn set_promotion_status(
    conn: &mut Conn,
    id: Uuid,
    from: PromotionStatus,
    to: PromotionStatus,
) -> Result<bool, Error> {
    let completed_at = matches!(
        to,
        PromotionStatus::Completed
            | PromotionStatus::CompletedWithErrors
            | PromotionStatus::Failed
            | PromotionStatus::RolledBack
    )
    .then(Utc::now);
    // `in_progress` is stored by older writers for `running`
    let from_texts: Vec<&str> = if from == PromotionStatus::Running {
        vec!["running", "in_progress"]
    } else {
        vec![from.as_str()]
    };
    let n = diesel::update(
        promotions::table
            .find(id)
            .filter(promotions::status.eq_any(from_texts)),
    )
    .set((
        promotions::status.eq(to.as_str()),
        promotions::updated_at.eq(Utc::now()),
        promotions::completed_at.eq(completed_at),
    ))
    .execute(conn)
    .await?;
    Ok(n == 1)
}

/// Moves deployment `id` from `from` to `to` (checked by the caller with
/// `DeploymentStatus::transition`); `false` when its status was no longer `from`. `running`
/// sets `started_at`, a terminal status `finished_at`, and `error` the error message.
pub async fn set_deployment_status(
    conn: &mut Conn,
    id: Uuid,
    from: DeploymentStatus,
    to: DeploymentStatus,
    summary: Option<&Value>,
    error: Option<&str>,
) -> Result<bool, Error> {
    Ok(move_deployment(conn, id, from, to, summary, error)
        .await?
        .is_some())
}

/// The one guarded status move of a deployment, for the API, the scheduler and the execution
/// alike: `None` when its status was no longer `from`. Records the change on the deployment's
/// job, so that the deployment streams show it.
pub async fn move_deployment(
    conn: &mut Conn,
    id: Uuid,
    from: DeploymentStatus,
    to: DeploymentStatus,
    summary: Option<&Value>,
    error: Option<&str>,
) -> Result<Option<crate::promotions::DeploymentRow>, Error> {
    let now = Utc::now();
    let started_at = (to == DeploymentStatus::Running).then_some(now);
    let finished_at = to.is_terminal().then_some(now);
    let row = diesel::update(
        deployments::table
            .find(id)
            .filter(deployments::status.eq(from.as_str())),
    )
    .set((
        deployments::status.eq(to.as_str()),
        deployments::updated_at.eq(now),
        deployments::started_at.eq(diesel::dsl::sql::<
            diesel::sql_types::Nullable<diesel::sql_types::Timestamptz>,
        >("coalesce(started_at, ")
        .bind::<diesel::sql_types::Nullable<diesel::sql_types::Timestamptz>, _>(started_at)
        .sql(")")),
        deployments::finished_at.eq(finished_at),
        deployments::summary_json.eq(summary),
        deployments::error_message.eq(error),
    ))
    .returning(crate::promotions::DeploymentRow::as_returning())
    .get_result(conn)
    .await
    .optional()?;
    if let Some(row) = &row {
        crate::deployments::record_status_event(conn, row).await?;
    }
    Ok(row)
}

/// Records the snapshot taken before the promotion wrote anything.
pub async fn set_pre_snapshot(
    conn: &mut Conn,
    promotion_id: Uuid,
    snapshot_id: Uuid,
) -> Result<(), Error> {
    diesel::update(promotions::table.find(promotion_id))
        .set((
            promotions::target_pre_snapshot_id.eq(Some(snapshot_id)),
            promotions::updated_at.eq(Utc::now()),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// Records the snapshot taken after the promotion completed.
pub async fn set_post_snapshot(
    conn: &mut Conn,
    promotion_id: Uuid,
    snapshot_id: Uuid,
) -> Result<(), Error> {
    diesel::update(promotions::table.find(promotion_id))
        .set((
            promotions::target_post_snapshot_id.eq(Some(snapshot_id)),
            promotions::updated_at.eq(Utc::now()),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// Replaces the promotion's execution result.
pub async fn set_execution_result(
    conn: &mut Conn,
    promotion_id: Uuid,
    result: &Value,
) -> Result<(), Error> {
    diesel::update(promotions::table.find(promotion_id))
        .set((
            promotions::execution_result.eq(Some(result)),
            promotions::updated_at.eq(Utc::now()),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// Whether a cancel was asked for deployment `id` while it runs.
pub async fn cancel_requested(conn: &mut Conn, id: Uuid) -> Result<bool, Error> {
    let at: Option<DateTime<Utc>> = deployments::table
        .find(id)
        .select(deployments::cancel_requested_at)
        .first(conn)
        .await?;
    Ok(at.is_some())
}

/// One workflow a deployment wrote.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = deployment_workflows, check_for_backend(Pg))]
pub struct DeployedWorkflow {
    pub id: Uuid,
    pub deployment_id: Uuid,
    pub canonical_id: Option<Uuid>,
    /// The source instance's id.
    pub workflow_id: String,
    pub workflow_name: String,
    pub status: String,
    pub error_message: Option<String>,
    pub promoted_at: Option<DateTime<Utc>>,
    pub position: Option<i32>,
    #[diesel(deserialize_as = ParsedOption<WorkflowAction>)]
    pub action: Option<WorkflowAction>,
    pub target_workflow_id: Option<String>,
    pub source_content_hash: Option<String>,
    pub target_content_hash: Option<String>,
    #[diesel(deserialize_as = ParsedOption<RollbackOutcome>)]
    pub rollback_outcome: Option<RollbackOutcome>,
    pub rollback_error: Option<String>,
}

/// A workflow written to the target, to record.
#[derive(Debug, Clone, PartialEq)]
pub struct NewDeployedWorkflow<'a> {
    pub deployment_id: Uuid,
    pub canonical_id: Uuid,
    pub source_workflow_id: &'a str,
    pub workflow_name: &'a str,
    pub position: i32,
    pub action: WorkflowAction,
    pub target_workflow_id: &'a str,
    pub source_content_hash: &'a str,
    pub target_content_hash: &'a str,
}

/// Records a workflow written to the target (status `success`).
pub async fn record_workflow(
    conn: &mut Conn,
    tenant_id: Uuid,
    w: &NewDeployedWorkflow<'_>,
) -> Result<Uuid, Error> {
    diesel::insert_into(deployment_workflows::table)
        .values((
            deployment_workflows::tenant_id.eq(tenant_id),
            deployment_workflows::deployment_id.eq(w.deployment_id),
            deployment_workflows::canonical_id.eq(Some(w.canonical_id)),
            deployment_workflows::workflow_id.eq(w.source_workflow_id),
            deployment_workflows::workflow_name.eq(w.workflow_name),
            deployment_workflows::status.eq("success"),
            deployment_workflows::promoted_at.eq(Some(Utc::now())),
            deployment_workflows::position.eq(Some(w.position)),
            deployment_workflows::action.eq(Some(w.action.as_str())),
            deployment_workflows::target_workflow_id.eq(Some(w.target_workflow_id)),
            deployment_workflows::source_content_hash.eq(Some(w.source_content_hash)),
            deployment_workflows::target_content_hash.eq(Some(w.target_content_hash)),
        ))
        .returning(deployment_workflows::id)
        .get_result(conn)
        .await
        .map_err(Error::from)
}

/// Records a workflow that could not be promoted (status `failed`, nothing recorded as
/// written).
pub async fn record_failed_workflow(
    conn: &mut Conn,
    tenant_id: Uuid,
    deployment_id: Uuid,
    canonical_id: Uuid,
    source_workflow_id: &str,
    workflow_name: &str,
    error: &str,
) -> Result<(), Error> {
    diesel::insert_into(deployment_workflows::table)
        .values((
            deployment_workflows::tenant_id.eq(tenant_id),
            deployment_workflows::deployment_id.eq(deployment_id),
            deployment_workflows::canonical_id.eq(Some(canonical_id)),
            deployment_workflows::workflow_id.eq(source_workflow_id),
            deployment_workflows::workflow_name.eq(workflow_name),
            deployment_workflows::status.eq("failed"),
            deployment_workflows::error_message.eq(Some(error)),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// The workflows of a deployment, in the order they were written (failed ones last).
pub async fn deployed_workflows(
    conn: &mut Conn,
    deployment_id: Uuid,
) -> Result<Vec<DeployedWorkflow>, Error> {
    deployment_workflows::table
        .filter(deployment_workflows::deployment_id.eq(deployment_id))
        .order((
            deployment_workflows::position.asc().nulls_last(),
            deployment_workflows::created_at.asc(),
        ))
        .select(DeployedWorkflow::as_select())
        .load(conn)
        .await
        .map_err(Error::from)
}

/// Records what the rollback did to deployed workflow `id`.
pub async fn set_rollback_outcome(
    conn: &mut Conn,
    id: Uuid,
    outcome: RollbackOutcome,
    error: Option<&str>,
) -> Result<(), Error> {
    diesel::update(deployment_workflows::table.find(id))
        .set((
            deployment_workflows::rollback_outcome.eq(Some(outcome.as_str())),
            deployment_workflows::rollback_error.eq(error),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// (id, slug, name) of these canonical workflows, in one query.
pub async fn canonical_names(
    conn: &mut Conn,
    ids: &[Uuid],
) -> Result<Vec<(Uuid, String, String)>, Error> {
    crate::schema::canonical_workflows::table
        .filter(crate::schema::canonical_workflows::id.eq_any(ids))
        .select((
            crate::schema::canonical_workflows::id,
            crate::schema::canonical_workflows::canonical_slug,
            crate::schema::canonical_workflows::name,
        ))
        .load(conn)
        .await
        .map_err(Error::from)
}

/// The mappings of these canonical workflows in one environment.
pub async fn mappings_of_canonicals(
    conn: &mut Conn,
    environment_id: Uuid,
    canonical_ids: &[Uuid],
) -> Result<Vec<Mapping>, Error> {
    workflow_env_map::table
        .filter(workflow_env_map::environment_id.eq(environment_id))
        .filter(workflow_env_map::canonical_id.eq_any(canonical_ids))
        .select(Mapping::as_select())
        .load(conn)
        .await
        .map_err(Error::from)
}

/// What the target holds of one canonical workflow after a write.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetWorkflow<'a> {
    pub canonical_id: Uuid,
    pub n8n_workflow_id: &'a str,
    pub content_hash: &'a str,
    pub name: Option<&'a str>,
    pub active: bool,
    pub updated_at: Option<DateTime<Utc>>,
    pub version_id: Option<&'a str>,
    pub data: &'a Value,
}

/// Makes the environment's mapping of `w.canonical_id` say what the target now holds: the row
/// of that canonical workflow (or, failing that, the row of that n8n id) is pointed at the n8n
/// id and linked, with the hash, name and document; without either, a row is inserted.
pub async fn write_target_mapping(
    conn: &mut Conn,
    tenant_id: Uuid,
    environment_id: Uuid,
    w: &TargetWorkflow<'_>,
) -> Result<(), Error> {
    let now = Utc::now();
    // a row of another canonical workflow (or an untracked one) for the same n8n id would stop
    // the canonical's own row from taking the id: it goes, since the id now holds this one
    let by_canonical: Option<Uuid> = workflow_env_map::table
        .filter(workflow_env_map::environment_id.eq(environment_id))
        .filter(workflow_env_map::canonical_id.eq(w.canonical_id))
        .select(workflow_env_map::id)
        .first(conn)
        .await
        .optional()?;
    let by_id: Option<(Uuid, Option<Uuid>)> = workflow_env_map::table
        .filter(workflow_env_map::environment_id.eq(environment_id))
        .filter(workflow_env_map::n8n_workflow_id.eq(w.n8n_workflow_id))
        .select((workflow_env_map::id, workflow_env_map::canonical_id))
        .first(conn)
        .await
        .optional()?;
    let row_id = match (by_canonical, by_id) {
        (Some(c), Some((i, _))) if c != i => {
            diesel::delete(workflow_env_map::table.find(i))
                .execute(conn)
                .await?;
            Some(c)
        }
        (Some(c), _) => Some(c),
        (None, Some((i, _))) => Some(i),
        (None, None) => None,
    };
    let values = (
        workflow_env_map::canonical_id.eq(Some(w.canonical_id)),
        workflow_env_map::n8n_workflow_id.eq(w.n8n_workflow_id),
        workflow_env_map::status.eq(MappingStatus::Linked.as_str()),
        workflow_env_map::env_content_hash.eq(Some(w.content_hash)),
        workflow_env_map::workflow_name.eq(w.name),
        workflow_env_map::workflow_data.eq(Some(w.data)),
        workflow_env_map::active.eq(w.active),
        workflow_env_map::n8n_updated_at.eq(w.updated_at),
        workflow_env_map::n8n_version_id.eq(w.version_id),
        workflow_env_map::parse_error.eq(None::<String>),
        workflow_env_map::updated_at.eq(now),
    );
    match row_id {
        Some(id) => {
            diesel::update(workflow_env_map::table.find(id))
                .set((
                    values,
                    workflow_env_map::linked_at.eq(diesel::dsl::sql::<
                        diesel::sql_types::Nullable<diesel::sql_types::Timestamptz>,
                    >(
                        "coalesce(linked_at, now())"
                    )),
                ))
                .execute(conn)
                .await?;
        }
        None => {
            diesel::insert_into(workflow_env_map::table)
                .values((
                    workflow_env_map::tenant_id.eq(tenant_id),
                    workflow_env_map::environment_id.eq(environment_id),
                    values,
                    workflow_env_map::linked_at.eq(Some(now)),
                ))
                .execute(conn)
                .await?;
        }
    }
    Ok(())
}

/// Removes the environment's mapping of n8n workflow `n8n_workflow_id` (the workflow was
/// deleted from the target by a rollback or a restore). Returns whether a row went.
pub async fn delete_target_mapping(
    conn: &mut Conn,
    environment_id: Uuid,
    n8n_workflow_id: &str,
) -> Result<bool, Error> {
    let n = diesel::delete(
        workflow_env_map::table
            .filter(workflow_env_map::environment_id.eq(environment_id))
            .filter(workflow_env_map::n8n_workflow_id.eq(n8n_workflow_id)),
    )
    .execute(conn)
    .await?;
    Ok(n > 0)
}

/// Points the environment's mapping of n8n workflow `old_id` at `new_id` (a restore created the
/// workflow again under a new id), with the restored hash and document.
pub async fn move_target_mapping(
    conn: &mut Conn,
    environment_id: Uuid,
    old_id: &str,
    new_id: &str,
    content_hash: &str,
    data: &Value,
) -> Result<bool, Error> {
    let n = diesel::update(
        workflow_env_map::table
            .filter(workflow_env_map::environment_id.eq(environment_id))
            .filter(workflow_env_map::n8n_workflow_id.eq(old_id)),
    )
    .set((
        workflow_env_map::n8n_workflow_id.eq(new_id),
        workflow_env_map::env_content_hash.eq(Some(content_hash)),
        workflow_env_map::workflow_data.eq(Some(data)),
        workflow_env_map::updated_at.eq(Utc::now()),
    ))
    .execute(conn)
    .await?;
    Ok(n > 0)
}

/// Sets the hash and document of the environment's mapping of n8n workflow `id` (a restore
/// wrote it back), when there is one.
pub async fn restore_target_mapping(
    conn: &mut Conn,
    environment_id: Uuid,
    id: &str,
    content_hash: &str,
    name: Option<&str>,
    data: &Value,
) -> Result<bool, Error> {
    let n = diesel::update(
        workflow_env_map::table
            .filter(workflow_env_map::environment_id.eq(environment_id))
            .filter(workflow_env_map::n8n_workflow_id.eq(id)),
    )
    .set((
        workflow_env_map::env_content_hash.eq(Some(content_hash)),
        workflow_env_map::workflow_name.eq(name),
        workflow_env_map::workflow_data.eq(Some(data)),
        workflow_env_map::updated_at.eq(Utc::now()),
    ))
    .execute(conn)
    .await?;
    Ok(n > 0)
}
