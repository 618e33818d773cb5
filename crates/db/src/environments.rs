//! Environments: connected n8n (or Make) instances of a tenant, with their Git settings.
//!
//! The n8n API key and the Git token are stored as `Cipher` output; this module moves them as
//! opaque text and never decrypts. `list`/`get` rely on row-level security for tenant scoping.
//!
//! Deleting an environment archives it ([`archive`]): the row stays with `deleted_at` set so
//! that the history pointing at it survives, and every function here except [`archive`] treats
//! an archived environment as absent (docs/decisions/environment-deletion.md).

use chrono::{DateTime, Utc};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::sql_types::Uuid as SqlUuid;
use diesel_async::RunQueryDsl;
use uuid::Uuid;
use wfops_canonical::Provider;
use wfops_drift::EnvironmentDriftStatus;
use wfops_promotion::EnvironmentClass;

use crate::error::Error;
use crate::schema::environments;
use crate::Conn;

#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = environments, check_for_backend(Pg))]
pub struct Environment {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub name: String,
    pub url: String,
    #[diesel(deserialize_as = crate::columns::Parsed<Provider>)]
    pub provider: Provider,
    #[diesel(deserialize_as = crate::columns::Parsed<EnvironmentClass>)]
    pub environment_class: EnvironmentClass,
    pub api_key_encrypted: Option<String>,
    pub drift_handling_mode: String,
    pub git_repo_url: Option<String>,
    pub git_branch: String,
    pub git_folder: Option<String>,
    pub git_token_encrypted: Option<String>,
    #[diesel(deserialize_as = crate::columns::Parsed<EnvironmentDriftStatus>)]
    pub drift_status: EnvironmentDriftStatus,
    pub last_heartbeat_at: Option<DateTime<Utc>>,
    pub last_sync_at: Option<DateTime<Utc>>,
    pub last_drift_check_at: Option<DateTime<Utc>>,
    pub last_drift_detected_at: Option<DateTime<Utc>>,
    pub active_drift_incident_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Why the environment has its drift status (the last check's error, "Git is not
    /// configured", a partial read); `None` when the last check saw everything.
    pub drift_status_reason: Option<String>,
    /// What the last drift check counted.
    pub drift_summary: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = environments)]
pub struct NewEnvironment<'a> {
    pub tenant_id: Uuid,
    pub name: &'a str,
    pub url: &'a str,
    pub provider: &'a str,
    pub environment_class: &'a str,
    pub api_key_encrypted: Option<&'a str>,
    pub drift_handling_mode: &'a str,
    pub git_repo_url: Option<&'a str>,
    pub git_branch: &'a str,
    pub git_folder: Option<&'a str>,
    pub git_token_encrypted: Option<&'a str>,
}

/// A partial update: `None` leaves a column alone; for nullable columns `Some(None)` clears it.
#[derive(Debug, Clone, Default, AsChangeset)]
#[diesel(table_name = environments)]
pub struct EnvironmentChanges {
    pub name: Option<String>,
    pub url: Option<String>,
    pub provider: Option<String>,
    pub environment_class: Option<String>,
    pub api_key_encrypted: Option<Option<String>>,
    pub drift_handling_mode: Option<String>,
    pub git_repo_url: Option<Option<String>>,
    pub git_branch: Option<String>,
    pub git_folder: Option<Option<String>>,
    pub git_token_encrypted: Option<Option<String>>,
}

impl EnvironmentChanges {
    pub fn is_empty(&self) -> bool {
        self.name.is_none()
            && self.url.is_none()
            && self.provider.is_none()
            && self.environment_class.is_none()
            && self.api_key_encrypted.is_none()
            && self.drift_handling_mode.is_none()
            && self.git_repo_url.is_none()
            && self.git_branch.is_none()
            && self.git_folder.is_none()
            && self.git_token_encrypted.is_none()
    }
}

pub async fn insert(conn: &mut Conn, new: &NewEnvironment<'_>) -> Result<Environment, Error> {
    diesel::insert_into(environments::table)
        .values(new)
        .returning(Environment::as_returning())
        .get_result(conn)
        .await
        .map_err(Error::from)
}

/// A live (not archived) environment of the bound tenant.
pub async fn get(conn: &mut Conn, id: Uuid) -> Result<Environment, Error> {
    environments::table
        .find(id)
        .filter(environments::deleted_at.is_null())
        .select(Environment::as_select())
        .first(conn)
        .await
        .map_err(Error::from)
}

/// One page of the bound tenant's environments ordered by name, and the total count.
pub async fn list(
    conn: &mut Conn,
    offset: i64,
    limit: i64,
) -> Result<(Vec<Environment>, i64), Error> {
    let total: i64 = environments::table
        .filter(environments::deleted_at.is_null())
        .count()
        .get_result(conn)
        .await?;
    let rows = environments::table
        .filter(environments::deleted_at.is_null())
        .select(Environment::as_select())
        .order((environments::name.asc(), environments::id))
        .offset(offset)
        .limit(limit)
        .load(conn)
        .await?;
    Ok((rows, total))
}

/// Applies `changes`; `NotFound` when the row does not exist in the bound tenant. An empty
/// change set just returns the row.
pub async fn update(
    conn: &mut Conn,
    id: Uuid,
    changes: &EnvironmentChanges,
) -> Result<Environment, Error> {
    if changes.is_empty() {
        return get(conn, id).await;
    }
    diesel::update(
        environments::table
            .find(id)
            .filter(environments::deleted_at.is_null()),
    )
    .set(changes)
    .returning(Environment::as_returning())
    .get_result(conn)
    .await
    .map_err(Error::from)
}

/// Why the jobs of an archived environment were cancelled: stored as their error.
pub const DELETED_REASON: &str = "environment deleted";

/// What [`archive`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Archived {
    pub name: String,
    /// Pending and running jobs of the environment, now `cancelled`.
    pub cancelled_jobs: Vec<Uuid>,
}

/// Deletes an environment the way that keeps its history: cancels its pending and running
/// jobs (a running job notices at its next heartbeat or progress write and stops without
/// writing), removes what describes the instance's current contents (workflow mappings, Git
/// and diff states, the sync's seen sets) and its secrets (API key, Git token, environment
/// variables), and marks the row archived. Deployments, promotions, snapshots, drift incidents
/// and checks, executions, jobs and audit rows keep pointing at the archived row.
/// `NotFound` when no live environment of the bound tenant has this id.
pub async fn archive(conn: &mut Conn, id: Uuid) -> Result<Archived, Error> {
    // the row lock orders this against a concurrent update or archive of the same environment
    let name: String = environments::table
        .find(id)
        .filter(environments::deleted_at.is_null())
        .select(environments::name)
        .for_update()
        .first(conn)
        .await?;
    let cancelled_jobs = crate::jobs::cancel_for_environment(conn, id, DELETED_REASON).await?;
    for table in [
        "env_sync_seen",
        "workflow_env_map",
        "canonical_workflow_git_state",
        "environment_variables",
    ] {
        diesel::sql_query(format!("delete from {table} where environment_id = $1"))
            .bind::<SqlUuid, _>(id)
            .execute(conn)
            .await?;
    }
    diesel::sql_query(
        "delete from workflow_diff_state
          where source_environment_id = $1 or target_environment_id = $1",
    )
    .bind::<SqlUuid, _>(id)
    .execute(conn)
    .await?;
    let now = Utc::now();
    diesel::update(environments::table.find(id))
        .set((
            environments::deleted_at.eq(Some(now)),
            environments::api_key_encrypted.eq(None::<String>),
            environments::git_token_encrypted.eq(None::<String>),
            environments::git_webhook_secret_encrypted.eq(None::<String>),
            environments::updated_at.eq(now),
        ))
        .execute(conn)
        .await?;
    Ok(Archived {
        name,
        cancelled_jobs,
    })
}
