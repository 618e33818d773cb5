//! Helpers every route module shares: the audit record of a write, the checks of free text
//! fields (names, ids, secrets) whose rules the OpenAPI document states as patterns, and the
//! lookups that answer a specific 404.

use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;
use wfops_db::audit::{self, NewAuditLog};
use wfops_db::environments::Environment;
use wfops_db::Conn;

use crate::auth::{Auth, RequestMeta};
use crate::error::{ApiError, Code};

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

/// The OpenAPI pattern of [`text`]: no control character and at least one that is not
/// whitespace. Repeated as a literal in `#[schema(pattern = …)]`, which takes no constants.
pub const TEXT_PATTERN: &str =
    r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$";

/// Free text of at most `max_chars` characters, not blank, without control characters; the
/// exact rule of [`TEXT_PATTERN`] plus `maxLength`, so the document and the handler agree.
/// Returns the value trimmed.
pub fn text(field: &str, raw: &str, max_chars: usize) -> Result<String, ApiError> {
    if raw.chars().count() > max_chars {
        return Err(ApiError::field(
            field,
            format!("must be at most {max_chars} characters"),
        ));
    }
    if raw.chars().any(char::is_control) {
        return Err(ApiError::field(
            field,
            "must not contain control characters",
        ));
    }
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err(ApiError::field(field, "must not be empty"));
    }
    Ok(trimmed.to_string())
}

/// Longest name of an environment or an API key (characters).
pub const MAX_NAME_CHARS: usize = 100;

/// A display name: see [`text`].
pub fn validate_name(field: &str, name: &str) -> Result<String, ApiError> {
    text(field, name, MAX_NAME_CHARS)
}

pub fn environment_not_found(id: Uuid) -> ApiError {
    ApiError::new(
        Code::EnvironmentNotFound,
        format!("environment {id} not found"),
    )
}

pub fn canonical_not_found(id: Uuid) -> ApiError {
    ApiError::new(
        Code::CanonicalWorkflowNotFound,
        format!("canonical workflow {id} not found"),
    )
}

/// 404 unless `environment_id` is one of the caller's environments.
pub async fn ensure_environment(
    conn: &mut wfops_db::Conn,
    environment_id: Uuid,
) -> Result<Environment, ApiError> {
    match wfops_db::environments::get(conn, environment_id).await {
        Ok(env) => Ok(env),
        Err(wfops_db::Error::NotFound) => Err(environment_not_found(environment_id)),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_rules() {
        assert_eq!(text("name", "  Dev  ", 100).unwrap(), "Dev");
        for (bad, why) in [
            ("", "empty"),
            ("   ", "empty"),
            ("a\u{0}b", "control"),
            ("a\nb", "control"),
        ] {
            let e = text("name", bad, 100).unwrap_err().to_string();
            assert!(e.starts_with("name:") && e.contains(why), "{bad:?}: {e}");
        }
        assert!(text("name", &"é".repeat(100), 100).is_ok());
        assert!(text("name", &"é".repeat(101), 100).is_err());
    }
}
