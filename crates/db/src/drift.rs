//! Drift: the environment's drift columns, the check history, incidents and policies
//! (docs/drift.md). Every function runs in the caller's tenant transaction.
//!
//! An incident is open while its status is `detected`, `acknowledged`, `stabilized` or
//! `reconciled`; a unique partial index keeps at most one open incident per environment.

use chrono::{DateTime, Utc};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::upsert::on_constraint;
use diesel_async::RunQueryDsl;
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;
use wfops_canonical::MappingStatus;
use wfops_drift::{EnvironmentDriftStatus, EscalationLevel, IncidentStatus, Severity};
use wfops_promotion::EnvironmentClass;

use crate::columns::Parsed;
use crate::error::Error;
use crate::schema::{
    drift_approvals, drift_check_history, drift_incidents, drift_policies, environments,
    workflow_env_map,
};
use crate::Conn;

/// The statuses of an open incident, as stored.
pub const OPEN_STATUSES: [&str; 4] = ["detected", "acknowledged", "stabilized", "reconciled"];

// ---------------------------------------------------------------------------------------------
// What a check reads
// ---------------------------------------------------------------------------------------------

/// What a drift check needs of one mapping: its n8n id, identity and status.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = workflow_env_map, check_for_backend(Pg))]
pub struct CheckMapping {
    pub n8n_workflow_id: String,
    pub canonical_id: Option<Uuid>,
    #[diesel(deserialize_as = Parsed<MappingStatus>)]
    pub status: MappingStatus,
}

pub async fn check_mappings(
    conn: &mut Conn,
    environment_id: Uuid,
) -> Result<Vec<CheckMapping>, Error> {
    workflow_env_map::table
        .filter(workflow_env_map::environment_id.eq(environment_id))
        .select(CheckMapping::as_select())
        .load(conn)
        .await
        .map_err(Error::from)
}

/// A live environment that the drift scheduler may check.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = environments, check_for_backend(Pg))]
pub struct CheckCandidate {
    pub id: Uuid,
    pub name: String,
    #[diesel(deserialize_as = Parsed<EnvironmentClass>)]
    pub environment_class: EnvironmentClass,
    pub git_repo_url: Option<String>,
    pub git_folder: Option<String>,
}

/// Every live environment of the bound tenant, for the scheduler to choose from.
pub async fn check_candidates(conn: &mut Conn) -> Result<Vec<CheckCandidate>, Error> {
    environments::table
        .filter(environments::deleted_at.is_null())
        .select(CheckCandidate::as_select())
        .order(environments::id)
        .load(conn)
        .await
        .map_err(Error::from)
}

// ---------------------------------------------------------------------------------------------
// The environment's drift columns
// ---------------------------------------------------------------------------------------------

/// What a check writes on the environment.
#[derive(Debug, Clone, PartialEq)]
pub struct EnvironmentDriftWrite {
    pub status: EnvironmentDriftStatus,
    pub reason: Option<String>,
    pub summary: Value,
    pub checked_at: DateTime<Utc>,
    /// Set when the check found drift.
    pub drift_detected_at: Option<DateTime<Utc>>,
    pub active_incident_id: Option<Uuid>,
}

/// Writes the drift columns of a live environment; `NotFound` when it is gone.
pub async fn write_environment_status(
    conn: &mut Conn,
    environment_id: Uuid,
    w: &EnvironmentDriftWrite,
) -> Result<(), Error> {
    let target = environments::table
        .find(environment_id)
        .filter(environments::deleted_at.is_null());
    let n = match w.drift_detected_at {
        Some(at) => {
            diesel::update(target)
                .set((
                    environments::drift_status.eq(w.status.as_str()),
                    environments::drift_status_reason.eq(w.reason.as_deref()),
                    environments::drift_summary.eq(Some(&w.summary)),
                    environments::last_drift_check_at.eq(Some(w.checked_at)),
                    environments::active_drift_incident_id.eq(w.active_incident_id),
                    environments::last_drift_detected_at.eq(Some(at)),
                ))
                .execute(conn)
                .await?
        }
        None => {
            diesel::update(target)
                .set((
                    environments::drift_status.eq(w.status.as_str()),
                    environments::drift_status_reason.eq(w.reason.as_deref()),
                    environments::drift_summary.eq(Some(&w.summary)),
                    environments::last_drift_check_at.eq(Some(w.checked_at)),
                    environments::active_drift_incident_id.eq(w.active_incident_id),
                ))
                .execute(conn)
                .await?
        }
    };
    if n == 0 {
        return Err(Error::NotFound);
    }
    Ok(())
}

/// Sets only the status and the open incident (after a lifecycle step: the last check's
/// counts and reason stay).
pub async fn set_environment_incident_status(
    conn: &mut Conn,
    environment_id: Uuid,
    status: EnvironmentDriftStatus,
    active_incident_id: Option<Uuid>,
) -> Result<(), Error> {
    diesel::update(environments::table.find(environment_id))
        .set((
            environments::drift_status.eq(status.as_str()),
            environments::active_drift_incident_id.eq(active_incident_id),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// The drift columns of an environment the API shows beside the row.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = environments, check_for_backend(Pg))]
pub struct EnvironmentDriftColumns {
    pub drift_status_reason: Option<String>,
    pub drift_summary: Option<Value>,
}

pub async fn environment_drift_columns(
    conn: &mut Conn,
    environment_id: Uuid,
) -> Result<EnvironmentDriftColumns, Error> {
    environments::table
        .find(environment_id)
        .select(EnvironmentDriftColumns::as_select())
        .first(conn)
        .await
        .map_err(Error::from)
}

// ---------------------------------------------------------------------------------------------
// Check history
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Insertable)]
#[diesel(table_name = drift_check_history)]
pub struct NewCheck<'a> {
    pub tenant_id: Uuid,
    pub environment_id: Uuid,
    pub check_type: &'a str,
    pub status: &'a str,
    pub drift_found: bool,
    pub workflows_checked: i32,
    pub workflows_with_drift: i32,
    pub workflows_not_in_git: i32,
    pub workflows_missing_in_runtime: i32,
    pub workflows_untracked: i32,
    pub partial: bool,
    pub check_duration_ms: i64,
    pub error_message: Option<&'a str>,
    pub incident_id: Option<Uuid>,
    pub details: Option<Value>,
    pub checked_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Serialize)]
#[diesel(table_name = drift_check_history, check_for_backend(Pg))]
pub struct CheckRow {
    pub id: Uuid,
    pub environment_id: Uuid,
    pub check_type: String,
    #[diesel(deserialize_as = Parsed<EnvironmentDriftStatus>)]
    pub status: EnvironmentDriftStatus,
    pub drift_found: bool,
    pub workflows_checked: i32,
    pub workflows_with_drift: i32,
    pub workflows_not_in_git: i32,
    pub workflows_missing_in_runtime: i32,
    pub workflows_untracked: i32,
    pub partial: bool,
    pub check_duration_ms: i64,
    pub error_message: Option<String>,
    pub incident_id: Option<Uuid>,
    pub details: Option<Value>,
    pub checked_at: DateTime<Utc>,
}

pub async fn insert_check(conn: &mut Conn, new: &NewCheck<'_>) -> Result<CheckRow, Error> {
    diesel::insert_into(drift_check_history::table)
        .values(new)
        .returning(CheckRow::as_returning())
        .get_result(conn)
        .await
        .map_err(Error::from)
}

/// One page of an environment's checks (or all the tenant's), newest first, and the total.
pub async fn list_checks(
    conn: &mut Conn,
    environment_id: Option<Uuid>,
    offset: i64,
    limit: i64,
) -> Result<(Vec<CheckRow>, i64), Error> {
    let mut count = drift_check_history::table.into_boxed();
    let mut rows = drift_check_history::table.into_boxed();
    if let Some(env) = environment_id {
        count = count.filter(drift_check_history::environment_id.eq(env));
        rows = rows.filter(drift_check_history::environment_id.eq(env));
    }
    let total: i64 = count.count().get_result(conn).await?;
    let rows = rows
        .select(CheckRow::as_select())
        .order((
            drift_check_history::checked_at.desc(),
            drift_check_history::id,
        ))
        .offset(offset)
        .limit(limit)
        .load(conn)
        .await?;
    Ok((rows, total))
}

// ---------------------------------------------------------------------------------------------
// Incidents
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Serialize)]
#[diesel(table_name = drift_incidents, check_for_backend(Pg))]
pub struct Incident {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub environment_id: Uuid,
    #[diesel(deserialize_as = Parsed<IncidentStatus>)]
    pub status: IncidentStatus,
    #[diesel(deserialize_as = Parsed<EscalationLevel>)]
    pub escalation_level: EscalationLevel,
    pub title: String,
    /// Mutable bookkeeping: the latest check's counts, escalation times, a severity override.
    pub summary: Option<Value>,
    #[diesel(deserialize_as = Parsed<Severity>)]
    pub severity: Severity,
    pub detected_at: DateTime<Utc>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub stabilized_at: Option<DateTime<Utc>>,
    pub reconciled_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    pub detected_by: Option<Uuid>,
    pub acknowledged_by: Option<Uuid>,
    pub stabilized_by: Option<Uuid>,
    pub reconciled_by: Option<Uuid>,
    pub closed_by: Option<Uuid>,
    pub owner_user_id: Option<Uuid>,
    pub reason: Option<String>,
    pub ticket_ref: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub affected_workflows: Value,
    pub drift_snapshot: Option<Value>,
    pub resolution_type: Option<String>,
    pub resolution_details: Option<Value>,
    pub payload_purged_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Insertable)]
#[diesel(table_name = drift_incidents)]
pub struct NewIncident<'a> {
    pub tenant_id: Uuid,
    pub environment_id: Uuid,
    pub title: &'a str,
    pub summary: Option<Value>,
    pub severity: &'a str,
    pub detected_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub affected_workflows: Value,
    pub drift_snapshot: Option<Value>,
}

/// Inserts an incident; `None` when the environment already has an open one (the unique
/// index decides, so two concurrent checks never open two).
pub async fn insert_incident(
    conn: &mut Conn,
    new: &NewIncident<'_>,
) -> Result<Option<Incident>, Error> {
    diesel::insert_into(drift_incidents::table)
        .values(new)
        .on_conflict_do_nothing()
        .returning(Incident::as_returning())
        .get_result(conn)
        .await
        .optional()
        .map_err(Error::from)
}

/// The open incident of an environment, locked for the rest of the transaction.
pub async fn open_incident_for_update(
    conn: &mut Conn,
    environment_id: Uuid,
) -> Result<Option<Incident>, Error> {
    drift_incidents::table
        .filter(drift_incidents::environment_id.eq(environment_id))
        .filter(drift_incidents::status.eq_any(OPEN_STATUSES))
        .filter(drift_incidents::is_deleted.eq(false))
        .select(Incident::as_select())
        .for_update()
        .first(conn)
        .await
        .optional()
        .map_err(Error::from)
}

pub async fn get_incident(conn: &mut Conn, id: Uuid) -> Result<Incident, Error> {
    drift_incidents::table
        .find(id)
        .filter(drift_incidents::is_deleted.eq(false))
        .select(Incident::as_select())
        .first(conn)
        .await
        .map_err(Error::from)
}

pub async fn get_incident_for_update(conn: &mut Conn, id: Uuid) -> Result<Incident, Error> {
    drift_incidents::table
        .find(id)
        .filter(drift_incidents::is_deleted.eq(false))
        .select(Incident::as_select())
        .for_update()
        .first(conn)
        .await
        .map_err(Error::from)
}

/// Filters of the incident list.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IncidentFilter {
    pub environment_id: Option<Uuid>,
    pub status: Option<IncidentStatus>,
    pub severity: Option<Severity>,
    /// Only open incidents.
    pub open: Option<bool>,
    /// Only open incidents past their expiry (`true`) or not (`false`).
    pub expired_at: Option<(bool, DateTime<Utc>)>,
}

pub async fn list_incidents(
    conn: &mut Conn,
    filter: &IncidentFilter,
    offset: i64,
    limit: i64,
) -> Result<(Vec<Incident>, i64), Error> {
    fn apply<'a>(
        mut q: drift_incidents::BoxedQuery<'a, Pg>,
        f: &IncidentFilter,
    ) -> drift_incidents::BoxedQuery<'a, Pg> {
        q = q.filter(drift_incidents::is_deleted.eq(false));
        if let Some(env) = f.environment_id {
            q = q.filter(drift_incidents::environment_id.eq(env));
        }
        if let Some(s) = f.status {
            q = q.filter(drift_incidents::status.eq(s.as_str()));
        }
        if let Some(s) = f.severity {
            q = q.filter(drift_incidents::severity.eq(s.as_str()));
        }
        match f.open {
            Some(true) => q = q.filter(drift_incidents::status.eq_any(OPEN_STATUSES)),
            Some(false) => q = q.filter(drift_incidents::status.ne_all(OPEN_STATUSES)),
            None => {}
        }
        match f.expired_at {
            Some((true, now)) => {
                q = q
                    .filter(drift_incidents::status.eq_any(OPEN_STATUSES))
                    .filter(drift_incidents::expires_at.le(now))
            }
            Some((false, now)) => {
                q = q.filter(
                    drift_incidents::expires_at
                        .gt(now)
                        .or(drift_incidents::expires_at.is_null())
                        .or(drift_incidents::status.ne_all(OPEN_STATUSES)),
                )
            }
            None => {}
        }
        q
    }
    let total: i64 = apply(drift_incidents::table.into_boxed(), filter)
        .count()
        .get_result(conn)
        .await?;
    let rows = apply(drift_incidents::table.into_boxed(), filter)
        .select(Incident::as_select())
        .order((drift_incidents::detected_at.desc(), drift_incidents::id))
        .offset(offset)
        .limit(limit)
        .load(conn)
        .await?;
    Ok((rows, total))
}

/// A change to an incident. `None` leaves a column alone.
#[derive(Debug, Clone, Default, PartialEq, AsChangeset)]
#[diesel(table_name = drift_incidents)]
pub struct IncidentChanges {
    pub status: Option<String>,
    pub severity: Option<String>,
    pub escalation_level: Option<String>,
    pub summary: Option<Option<Value>>,
    pub acknowledged_at: Option<Option<DateTime<Utc>>>,
    pub acknowledged_by: Option<Option<Uuid>>,
    pub stabilized_at: Option<Option<DateTime<Utc>>>,
    pub stabilized_by: Option<Option<Uuid>>,
    pub reconciled_at: Option<Option<DateTime<Utc>>>,
    pub reconciled_by: Option<Option<Uuid>>,
    pub closed_at: Option<Option<DateTime<Utc>>>,
    pub closed_by: Option<Option<Uuid>>,
    pub owner_user_id: Option<Option<Uuid>>,
    pub reason: Option<Option<String>>,
    pub ticket_ref: Option<Option<String>>,
    pub expires_at: Option<Option<DateTime<Utc>>>,
    pub resolution_type: Option<Option<String>>,
    pub resolution_details: Option<Option<Value>>,
    pub updated_at: Option<DateTime<Utc>>,
}

pub async fn update_incident(
    conn: &mut Conn,
    id: Uuid,
    changes: &IncidentChanges,
) -> Result<Incident, Error> {
    let mut changes = changes.clone();
    changes.updated_at = Some(Utc::now());
    diesel::update(drift_incidents::table.find(id))
        .set(&changes)
        .returning(Incident::as_returning())
        .get_result(conn)
        .await
        .map_err(Error::from)
}

/// Open incidents of the bound tenant that have an expiry, for the TTL scheduler.
pub async fn open_incidents_with_expiry(conn: &mut Conn) -> Result<Vec<Incident>, Error> {
    drift_incidents::table
        .filter(drift_incidents::status.eq_any(OPEN_STATUSES))
        .filter(drift_incidents::is_deleted.eq(false))
        .filter(drift_incidents::expires_at.is_not_null())
        .select(Incident::as_select())
        .order(drift_incidents::detected_at)
        .for_update()
        .skip_locked()
        .load(conn)
        .await
        .map_err(Error::from)
}

/// Clears the snapshot and the affected workflows of closed (or otherwise final) incidents
/// closed before `cutoff` in `environment_id` (`None`: every environment) and stamps
/// `payload_purged_at`. Open incidents are never touched. Returns the ids purged.
pub async fn purge_closed_payloads(
    conn: &mut Conn,
    environment_ids: Option<&[Uuid]>,
    exclude_environment_ids: &[Uuid],
    cutoff: DateTime<Utc>,
) -> Result<Vec<Uuid>, Error> {
    let now = Utc::now();
    let mut q = diesel::update(drift_incidents::table)
        .filter(drift_incidents::status.ne_all(OPEN_STATUSES))
        .filter(drift_incidents::payload_purged_at.is_null())
        .filter(
            drift_incidents::closed_at
                .le(cutoff)
                .or(drift_incidents::closed_at
                    .is_null()
                    .and(drift_incidents::updated_at.le(cutoff))),
        )
        .filter(drift_incidents::environment_id.ne_all(exclude_environment_ids.to_vec()))
        .into_boxed();
    if let Some(ids) = environment_ids {
        q = q.filter(drift_incidents::environment_id.eq_any(ids.to_vec()));
    }
    q.set((
        drift_incidents::drift_snapshot.eq(None::<Value>),
        drift_incidents::affected_workflows.eq(serde_json::json!([])),
        drift_incidents::payload_purged_at.eq(Some(now)),
        drift_incidents::updated_at.eq(now),
    ))
    .returning(drift_incidents::id)
    .get_results(conn)
    .await
    .map_err(Error::from)
}

// ---------------------------------------------------------------------------------------------
// Policies
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Serialize)]
#[diesel(table_name = drift_policies, check_for_backend(Pg))]
pub struct Policy {
    pub id: Uuid,
    pub environment_id: Option<Uuid>,
    pub severity_ttls: Value,
    pub enforce_ttl: bool,
    pub enforce_sla: bool,
    pub auto_create_incidents: bool,
    pub auto_create_for_production_only: bool,
    pub block_on_active_drift: bool,
    pub closed_incident_retention_days: i32,
    pub reconciliation_artifact_retention_days: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Insertable, AsChangeset)]
#[diesel(table_name = drift_policies, treat_none_as_null = true)]
pub struct PolicyWrite {
    pub tenant_id: Uuid,
    pub environment_id: Option<Uuid>,
    pub severity_ttls: Value,
    pub enforce_ttl: bool,
    pub enforce_sla: bool,
    pub auto_create_incidents: bool,
    pub auto_create_for_production_only: bool,
    pub block_on_active_drift: bool,
    pub closed_incident_retention_days: i32,
    pub reconciliation_artifact_retention_days: i32,
}

/// Creates or replaces the policy of one scope (the tenant's when `environment_id` is `None`).
pub async fn upsert_policy(conn: &mut Conn, w: &PolicyWrite) -> Result<Policy, Error> {
    diesel::insert_into(drift_policies::table)
        .values(w)
        .on_conflict(on_constraint("drift_policies_scope_key"))
        .do_update()
        .set((w, drift_policies::updated_at.eq(Utc::now())))
        .returning(Policy::as_returning())
        .get_result(conn)
        .await
        .map_err(Error::from)
}

/// Every policy of the bound tenant: the tenant's first, then per environment.
pub async fn list_policies(conn: &mut Conn) -> Result<Vec<Policy>, Error> {
    drift_policies::table
        .select(Policy::as_select())
        .order((
            drift_policies::environment_id.asc().nulls_first(),
            drift_policies::id,
        ))
        .load(conn)
        .await
        .map_err(Error::from)
}

/// The policy that governs `environment_id`: its own, else the tenant's, else `None` (the
/// defaults apply).
pub async fn effective_policy(
    conn: &mut Conn,
    environment_id: Uuid,
) -> Result<Option<Policy>, Error> {
    drift_policies::table
        .filter(
            drift_policies::environment_id
                .eq(environment_id)
                .or(drift_policies::environment_id.is_null()),
        )
        .select(Policy::as_select())
        .order(drift_policies::environment_id.asc().nulls_last())
        .first(conn)
        .await
        .optional()
        .map_err(Error::from)
}

/// Deletes the policy of an environment (it then follows the tenant's); `false` when none.
pub async fn delete_environment_policy(
    conn: &mut Conn,
    environment_id: Uuid,
) -> Result<bool, Error> {
    let n = diesel::delete(
        drift_policies::table.filter(drift_policies::environment_id.eq(environment_id)),
    )
    .execute(conn)
    .await?;
    Ok(n > 0)
}

// ---------------------------------------------------------------------------------------------
// Approvals
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Serialize)]
#[diesel(table_name = drift_approvals, check_for_backend(Pg))]
pub struct Approval {
    pub id: Uuid,
    pub incident_id: Uuid,
    pub approval_type: String,
    pub status: String,
    pub requested_by: Option<Uuid>,
    pub reviewed_by: Option<Uuid>,
    pub request_reason: Option<String>,
    pub review_notes: Option<String>,
    pub ttl_extension_hours: Option<i32>,
    pub created_at: DateTime<Utc>,
    pub reviewed_at: Option<DateTime<Utc>>,
}

// ---------------------------------------------------------------------------------------------
// Git push webhook
// ---------------------------------------------------------------------------------------------

/// What the Git push webhook needs of a live environment.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = environments, check_for_backend(Pg))]
pub struct WebhookTarget {
    pub id: Uuid,
    pub git_repo_url: Option<String>,
    pub git_branch: String,
    pub git_folder: Option<String>,
    pub git_webhook_secret_encrypted: Option<String>,
}

pub async fn webhook_target(
    conn: &mut Conn,
    environment_id: Uuid,
) -> Result<Option<WebhookTarget>, Error> {
    environments::table
        .find(environment_id)
        .filter(environments::deleted_at.is_null())
        .select(WebhookTarget::as_select())
        .first(conn)
        .await
        .optional()
        .map_err(Error::from)
}

/// Stores a new webhook secret (Cipher output) for a live environment; `NotFound` when none.
pub async fn set_webhook_secret(
    conn: &mut Conn,
    environment_id: Uuid,
    encrypted: &str,
) -> Result<(), Error> {
    let n = diesel::update(
        environments::table
            .find(environment_id)
            .filter(environments::deleted_at.is_null()),
    )
    .set(environments::git_webhook_secret_encrypted.eq(Some(encrypted)))
    .execute(conn)
    .await?;
    if n == 0 {
        return Err(Error::NotFound);
    }
    Ok(())
}
