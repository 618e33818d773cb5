//! Environment variables: the values substituted for `{{env.NAME}}` placeholders when a
//! workflow is promoted into the environment (docs/promotion.md#environment-variables).
//! Viewers list, admins set and delete. A secret value is encrypted with the `Cipher` before
//! it reaches the database and is never returned: the API shows `"value": null`.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;
use wfops_db::environment_variables::{self, EnvironmentVariable, NewEnvironmentVariable};
use wfops_db::ScopedFutureExt;
use wfops_tenancy::Role;

use crate::auth::{Auth, RequestMeta};
use crate::envelope::{Envelope, ErrorBody};
use crate::error::{ApiError, Code};
use crate::extract::Body;
use crate::routes::common::ensure_environment;
use crate::routes::record;
use crate::AppState;

/// Longest key (characters).
pub const MAX_KEY_CHARS: usize = 128;
/// Longest value (characters).
pub const MAX_VALUE_CHARS: usize = 65_536;

/// A variable as the API returns it; a secret's value is `null`.
#[derive(Debug, Serialize, ToSchema)]
pub struct VariableView {
    pub key: String,
    /// `null` when the variable is secret.
    pub value: Option<String>,
    pub is_secret: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<EnvironmentVariable> for VariableView {
    fn from(v: EnvironmentVariable) -> Self {
        Self {
            value: (!v.is_secret).then_some(v.value),
            key: v.key,
            is_secret: v.is_secret,
            created_at: v.created_at,
            updated_at: v.updated_at,
        }
    }
}

/// No `Debug`: the value may be a secret.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutVariableRequest {
    /// At most 65,536 characters; no control characters but tab and line breaks.
    #[schema(
        max_length = 65536,
        pattern = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$"
    )]
    pub value: String,
    /// Stored encrypted and never returned (default `false`).
    #[serde(default)]
    pub is_secret: bool,
}

/// `^[A-Za-z_][A-Za-z0-9_]*$`, at most 128 characters: the rule of the table, and the names a
/// `{{env.NAME}}` placeholder can hold.
pub fn validate_key(key: &str) -> Result<(), ApiError> {
    let mut chars = key.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c == '_' || c.is_ascii_alphabetic());
    if !first_ok
        || key.chars().count() > MAX_KEY_CHARS
        || !chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
    {
        let shown: String = key.chars().take(64).collect();
        return Err(ApiError::Coded {
            code: Code::InvalidVariableKey,
            message: format!(
                "variable key {shown:?} must start with a letter or `_`, hold only letters, \
                 digits and `_`, and be at most {MAX_KEY_CHARS} characters"
            ),
            details: Some(json!({ "field": "key" })),
        });
    }
    Ok(())
}

fn validate_value(value: &str) -> Result<(), ApiError> {
    let bad = if value.chars().count() > MAX_VALUE_CHARS {
        Some(format!("must be at most {MAX_VALUE_CHARS} characters"))
    } else if value
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
    {
        Some("must not contain control characters other than tab and line breaks".into())
    } else {
        None
    };
    match bad {
        // the value itself is never echoed: it may be a secret
        Some(reason) => Err(ApiError::Coded {
            code: Code::InvalidVariableValue,
            message: format!("value: {reason}"),
            details: Some(json!({ "field": "value", "reason": reason })),
        }),
        None => Ok(()),
    }
}

fn variable_not_found(environment_id: Uuid, key: &str) -> ApiError {
    ApiError::new(
        Code::EnvironmentVariableNotFound,
        format!("environment {environment_id} has no variable {key:?}"),
    )
}

#[utoipa::path(
    get, path = "/api/v1/environments/{id}/variables", tag = "environments", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Environment id")),
    responses(
        (status = 200, description = "The environment's variables by key; secrets without value", body = Envelope<Vec<VariableView>>),
        (status = 400, description = "`id` is not a UUID", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 404, description = "No such environment in this tenant", body = ErrorBody)
    )
)]
pub async fn list(
    state: web::Data<AppState>,
    auth: Auth,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Role::Viewer)?;
    let id = path.into_inner();
    let rows = state
        .db
        .tenant_tx(auth.caller.tenant_id, |conn| {
            async move {
                ensure_environment(conn, id).await?;
                Ok::<_, ApiError>(environment_variables::list(conn, id).await?)
            }
            .scope_boxed()
        })
        .await?;
    let data: Vec<VariableView> = rows.into_iter().map(VariableView::from).collect();
    Ok(HttpResponse::Ok().json(Envelope::new(data)))
}

#[utoipa::path(
    put, path = "/api/v1/environments/{id}/variables/{key}", tag = "environments", security(("bearer" = [])),
    params(
        ("id" = Uuid, Path, description = "Environment id"),
        ("key" = String, Path, description = "Variable name", max_length = 128, pattern = r"^[A-Za-z_][A-Za-z0-9_]*$")
    ),
    request_body = PutVariableRequest,
    responses(
        (status = 200, description = "Variable replaced", body = Envelope<VariableView>),
        (status = 201, description = "Variable created", body = Envelope<VariableView>),
        (status = 400, description = "Malformed JSON, `id` not a UUID or an invalid key", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Requires admin", body = ErrorBody),
        (status = 404, description = "No such environment in this tenant", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
        (status = 422, description = "Invalid value", body = ErrorBody)
    )
)]
pub async fn put(
    state: web::Data<AppState>,
    auth: Auth,
    meta: RequestMeta,
    path: web::Path<(Uuid, String)>,
    body: Body<PutVariableRequest>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Role::Admin)?;
    let (id, key) = path.into_inner();
    validate_key(&key)?;
    let req = body.0;
    validate_value(&req.value)?;
    let stored = if req.is_secret {
        state
            .cipher
            .encrypt_str(&req.value)
            .map_err(ApiError::from)?
    } else {
        req.value
    };
    let new = NewEnvironmentVariable {
        tenant_id: auth.caller.tenant_id,
        environment_id: id,
        key: &key,
        value: &stored,
        is_secret: req.is_secret,
    };
    let (auth_ref, meta_ref, new_ref) = (&auth, &meta, &new);
    let (row, created) = state
        .db
        .tenant_tx(auth.caller.tenant_id, |conn| {
            async move {
                ensure_environment(conn, id).await?;
                let (row, created) = environment_variables::upsert(conn, new_ref).await?;
                // the key and whether it is secret; never the value
                record(
                    conn,
                    auth_ref,
                    meta_ref,
                    if created {
                        "environment_variable.create"
                    } else {
                        "environment_variable.update"
                    },
                    "environment",
                    id,
                    json!({ "key": row.key, "is_secret": row.is_secret }),
                )
                .await?;
                Ok::<_, ApiError>((row, created))
            }
            .scope_boxed()
        })
        .await?;
    let view = VariableView::from(row);
    Ok(if created {
        HttpResponse::Created().json(Envelope::with_message(view, "variable created"))
    } else {
        HttpResponse::Ok().json(Envelope::with_message(view, "variable updated"))
    })
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeletedVariableView {
    pub key: String,
    pub deleted: bool,
}

#[utoipa::path(
    delete, path = "/api/v1/environments/{id}/variables/{key}", tag = "environments", security(("bearer" = [])),
    params(
        ("id" = Uuid, Path, description = "Environment id"),
        ("key" = String, Path, description = "Variable name", max_length = 128, pattern = r"^[A-Za-z_][A-Za-z0-9_]*$")
    ),
    responses(
        (status = 200, description = "Variable deleted", body = Envelope<DeletedVariableView>),
        (status = 400, description = "`id` is not a UUID or an invalid key", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Requires admin", body = ErrorBody),
        (status = 404, description = "No such environment, or no such variable", body = ErrorBody)
    )
)]
pub async fn delete(
    state: web::Data<AppState>,
    auth: Auth,
    meta: RequestMeta,
    path: web::Path<(Uuid, String)>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Role::Admin)?;
    let (id, key) = path.into_inner();
    validate_key(&key)?;
    let (auth_ref, meta_ref, key_ref) = (&auth, &meta, &key);
    state
        .db
        .tenant_tx(auth.caller.tenant_id, |conn| {
            async move {
                ensure_environment(conn, id).await?;
                environment_variables::delete(conn, id, key_ref)
                    .await
                    .map_err(|e| match e {
                        wfops_db::Error::NotFound => variable_not_found(id, key_ref),
                        other => other.into(),
                    })?;
                record(
                    conn,
                    auth_ref,
                    meta_ref,
                    "environment_variable.delete",
                    "environment",
                    id,
                    json!({ "key": key_ref }),
                )
                .await?;
                Ok::<_, ApiError>(())
            }
            .scope_boxed()
        })
        .await?;
    Ok(HttpResponse::Ok().json(Envelope::with_message(
        DeletedVariableView { key, deleted: true },
        "variable deleted",
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_the_placeholder_rule() {
        for ok in ["A", "_x", "API_HOST", "a1_B2", &"K".repeat(128)] {
            assert!(validate_key(ok).is_ok(), "{ok}");
        }
        for bad in ["", "1A", "A-B", "A B", "é", "A.B", &"K".repeat(129)] {
            let e = validate_key(bad).unwrap_err();
            assert_eq!(e.code(), Code::InvalidVariableKey, "{bad}");
        }
    }

    #[test]
    fn values_refuse_control_characters_but_not_line_breaks() {
        assert!(validate_value("a\tb\nc\r\n").is_ok());
        assert!(validate_value("").is_ok());
        let e = validate_value("a\u{0}b").unwrap_err();
        assert_eq!(e.code(), Code::InvalidVariableValue);
        assert!(!e.to_string().contains("a\u{0}b"));
        assert!(validate_value(&"v".repeat(65_537)).is_err());
    }
}
