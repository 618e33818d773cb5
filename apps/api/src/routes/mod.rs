//! HTTP handlers, one module per resource. Each handler authenticates through the `Auth`
//! extractor, checks its minimum role first, and does its database work in one tenant-bound
//! transaction (audit row included).

pub mod api_keys;
pub mod auth;
pub mod canonical;
pub mod environments;
pub mod health;
pub mod jobs;
pub mod matrix;
pub mod onboarding;
pub mod query;
pub mod schedulers;
pub mod sse;
pub mod workflows;

use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use wfops_db::audit::{self, NewAuditLog};
use wfops_db::Conn;

use crate::auth::{Auth, RequestMeta};

/// A role name as the API spells it.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RoleName {
    Viewer,
    Developer,
    Admin,
}

/// Writes the audit row of a write, in the transaction of the write itself, so there is never
/// a change without its trail (or a trail without its change).
pub async fn record(
    conn: &mut Conn,
    auth: &Auth,
    meta: &RequestMeta,
    action: &str,
    resource_type: &str,
    resource_id: impl ToString,
    details: Value,
) -> Result<(), wfops_db::Error> {
    audit::insert(
        conn,
        &NewAuditLog {
            tenant_id: auth.caller.tenant_id,
            actor_type: auth.caller.actor.kind(),
            actor_id: Some(auth.caller.actor.id()),
            impersonated_user_id: None,
            action,
            resource_type,
            resource_id: Some(resource_id.to_string()),
            details,
            request_id: meta.request_id.as_deref(),
            ip_address: meta.ip.as_deref(),
        },
    )
    .await
    .map(|_| ())
}
