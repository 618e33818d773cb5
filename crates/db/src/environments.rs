//! Environments: connected n8n (or Make) instances of a tenant, with their Git settings.
//!
//! The n8n API key and the Git token are stored as `Cipher` output; this module moves them as
//! opaque text and never decrypts. `list`/`get` rely on row-level security for tenant scoping.

use chrono::{DateTime, Utc};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use uuid::Uuid;

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
    pub provider: String,
    pub environment_class: String,
    pub api_key_encrypted: Option<String>,
    pub drift_handling_mode: String,
    pub git_repo_url: Option<String>,
    pub git_branch: String,
    pub git_folder: Option<String>,
    pub git_token_encrypted: Option<String>,
    pub drift_status: String,
    pub last_heartbeat_at: Option<DateTime<Utc>>,
    pub last_sync_at: Option<DateTime<Utc>>,
    pub last_drift_check_at: Option<DateTime<Utc>>,
    pub last_drift_detected_at: Option<DateTime<Utc>>,
    pub active_drift_incident_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
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

pub async fn get(conn: &mut Conn, id: Uuid) -> Result<Environment, Error> {
    environments::table
        .find(id)
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
    let total: i64 = environments::table.count().get_result(conn).await?;
    let rows = environments::table
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
    diesel::update(environments::table.find(id))
        .set(changes)
        .returning(Environment::as_returning())
        .get_result(conn)
        .await
        .map_err(Error::from)
}

/// Deletes the row; `NotFound` when it does not exist in the bound tenant.
pub async fn delete(conn: &mut Conn, id: Uuid) -> Result<(), Error> {
    let deleted = diesel::delete(environments::table.find(id))
        .execute(conn)
        .await?;
    if deleted == 0 {
        return Err(Error::NotFound);
    }
    Ok(())
}
