//! The reads of a promotion's pre-flight (docs/promotion.md#pre-flight): the selected workflows
//! as each environment holds them, the reconciled status of the pair, and the target's drift
//! incidents and policy. Reads only; tenant scoping by row-level security.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde_json::Value;
use uuid::Uuid;
use wfops_canonical::MappingStatus;
use wfops_diff::DiffStatus;
use wfops_drift::IncidentStatus;

use crate::columns::Parsed;
use crate::error::Error;
use crate::schema::{
    canonical_workflows, drift_incidents, drift_policies, workflow_diff_state, workflow_env_map,
};
use crate::Conn;

/// A linked workflow of an environment, with its document.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = workflow_env_map, check_for_backend(Pg))]
pub struct LinkedWorkflow {
    #[diesel(select_expression = workflow_env_map::canonical_id.assume_not_null())]
    #[diesel(select_expression_type = diesel::dsl::AssumeNotNull<workflow_env_map::canonical_id>)]
    pub canonical_id: Uuid,
    pub n8n_workflow_id: String,
    pub workflow_name: Option<String>,
    pub workflow_data: Option<Value>,
    pub env_content_hash: Option<String>,
}

/// The linked workflows of `environment_id` among `canonical_ids` (a canonical workflow the
/// environment does not hold, or holds only as missing, ignored or deleted, is absent).
pub async fn linked_workflows(
    conn: &mut Conn,
    environment_id: Uuid,
    canonical_ids: &[Uuid],
) -> Result<Vec<LinkedWorkflow>, Error> {
    use workflow_env_map::dsl as w;
    w::workflow_env_map
        .filter(w::environment_id.eq(environment_id))
        .filter(w::status.eq(MappingStatus::Linked.as_str()))
        .filter(w::canonical_id.eq_any(canonical_ids))
        .select(LinkedWorkflow::as_select())
        .order(w::canonical_id)
        .load(conn)
        .await
        .map_err(Error::from)
}

/// Every linked workflow of `environment_id`: n8n workflow id → canonical id.
pub async fn linked_ids(
    conn: &mut Conn,
    environment_id: Uuid,
) -> Result<HashMap<String, Uuid>, Error> {
    use workflow_env_map::dsl as w;
    let rows: Vec<(String, Option<Uuid>)> = w::workflow_env_map
        .filter(w::environment_id.eq(environment_id))
        .filter(w::status.eq(MappingStatus::Linked.as_str()))
        .filter(w::canonical_id.is_not_null())
        .select((w::n8n_workflow_id, w::canonical_id))
        .load(conn)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(n8n, c)| c.map(|c| (n8n, c)))
        .collect())
}

/// The documents of every workflow an environment holds now (any status but missing and
/// deleted), whether or not it is linked: what credential suggestions look through.
pub async fn current_documents(conn: &mut Conn, environment_id: Uuid) -> Result<Vec<Value>, Error> {
    use workflow_env_map::dsl as w;
    let rows: Vec<Option<Value>> = w::workflow_env_map
        .filter(w::environment_id.eq(environment_id))
        .filter(w::status.ne_all([
            MappingStatus::Missing.as_str(),
            MappingStatus::Deleted.as_str(),
        ]))
        .filter(w::workflow_data.is_not_null())
        .select(w::workflow_data)
        .order(w::id)
        .load(conn)
        .await?;
    Ok(rows.into_iter().flatten().collect())
}

/// The reconciled status of promoting each of `canonical_ids` from `source` into `target`.
pub async fn diff_statuses(
    conn: &mut Conn,
    source: Uuid,
    target: Uuid,
    canonical_ids: &[Uuid],
) -> Result<HashMap<Uuid, DiffStatus>, Error> {
    use workflow_diff_state::dsl as d;
    let rows: Vec<(Uuid, Parsed<DiffStatus>)> = d::workflow_diff_state
        .filter(d::source_environment_id.eq(source))
        .filter(d::target_environment_id.eq(target))
        .filter(d::canonical_id.eq_any(canonical_ids))
        .select((d::canonical_id, d::diff_status))
        .load(conn)
        .await?;
    Ok(rows.into_iter().map(|(id, s)| (id, s.0)).collect())
}

/// The names of the live canonical workflows among `ids`.
pub async fn canonical_names(
    conn: &mut Conn,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, String>, Error> {
    use canonical_workflows::dsl as c;
    let rows: Vec<(Uuid, String)> = c::canonical_workflows
        .filter(c::id.eq_any(ids))
        .filter(c::deleted_at.is_null())
        .select((c::id, c::name))
        .load(conn)
        .await?;
    Ok(rows.into_iter().collect())
}

/// An open drift incident (docs/drift.md#incidents).
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = drift_incidents, check_for_backend(Pg))]
pub struct OpenIncidentRow {
    pub id: Uuid,
    pub status: String,
    pub severity: String,
    pub title: String,
    pub detected_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// The incidents of `environment_id` that are still open (detected, acknowledged, stabilized or
/// reconciled but not closed), oldest first.
pub async fn open_incidents(
    conn: &mut Conn,
    environment_id: Uuid,
) -> Result<Vec<OpenIncidentRow>, Error> {
    use drift_incidents::dsl as i;
    let open: Vec<&str> = [
        IncidentStatus::Detected,
        IncidentStatus::Acknowledged,
        IncidentStatus::Stabilized,
        IncidentStatus::Reconciled,
        IncidentStatus::Closed,
        IncidentStatus::Expired,
        IncidentStatus::Cancelled,
    ]
    .into_iter()
    .filter(|s| s.is_open())
    .map(IncidentStatus::as_str)
    .collect();
    i::drift_incidents
        .filter(i::environment_id.eq(environment_id))
        .filter(i::status.eq_any(open))
        .filter(i::is_deleted.eq(false))
        .filter(i::closed_at.is_null())
        .select(OpenIncidentRow::as_select())
        .order((i::detected_at.asc(), i::id))
        .load(conn)
        .await
        .map_err(Error::from)
}

/// The drift policy flags the pre-flight reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Queryable)]
pub struct DriftPolicyFlags {
    pub block_on_active_drift: bool,
    pub enforce_ttl: bool,
    /// The environment's own policy (else the tenant's default).
    pub environment_specific: bool,
}

/// The policy in force for `environment_id`: its own row, else the tenant's (environment
/// NULL), else `None` (the defaults).
pub async fn drift_policy(
    conn: &mut Conn,
    environment_id: Uuid,
) -> Result<Option<DriftPolicyFlags>, Error> {
    use drift_policies::dsl as p;
    let rows: Vec<(Option<Uuid>, bool, bool)> = p::drift_policies
        .filter(
            p::environment_id
                .eq(environment_id)
                .or(p::environment_id.is_null()),
        )
        .select((p::environment_id, p::block_on_active_drift, p::enforce_ttl))
        .load(conn)
        .await?;
    let own = rows.iter().find(|r| r.0.is_some());
    let default = rows.iter().find(|r| r.0.is_none());
    Ok(own.or(default).map(|r| DriftPolicyFlags {
        block_on_active_drift: r.1,
        enforce_ttl: r.2,
        environment_specific: r.0.is_some(),
    }))
}
