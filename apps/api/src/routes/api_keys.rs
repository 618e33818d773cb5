use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;
use wfops_db::api_keys::{self, ApiKey, NewApiKey};
use wfops_db::ScopedFutureExt;
use wfops_tenancy::{api_key, Role};

use crate::auth::{Auth, RequestMeta};
use crate::envelope::{Envelope, ErrorBody, Paginated};
use crate::error::{ApiError, Code};
use crate::extract::Body;
use crate::routes::common::validate_name;
use crate::routes::query::PageQuery;
use crate::routes::{record, RoleName};
use crate::AppState;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKeyRequest {
    /// What the key is for, e.g. `ci-pipeline`: 1 to 100 characters, not blank, no control
    /// characters.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub name: String,
    #[schema(value_type = RoleName)]
    pub role: Role,
    /// Optional expiry; must be in the future.
    pub expires_at: Option<DateTime<Utc>>,
}

/// A key as listed: never the secret, never its hash.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyView {
    pub id: Uuid,
    pub name: String,
    /// The public part, as `wfo_<prefix>_…`, to recognise a key.
    pub key_prefix: String,
    #[schema(value_type = RoleName)]
    pub role: String,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<ApiKey> for ApiKeyView {
    fn from(k: ApiKey) -> Self {
        Self {
            id: k.id,
            name: k.name,
            key_prefix: format!("{}{}_", api_key::KEY_PREFIX, k.key_prefix),
            role: k.role,
            created_by: k.created_by,
            created_at: k.created_at,
            expires_at: k.expires_at,
            last_used_at: k.last_used_at,
            revoked_at: k.revoked_at,
        }
    }
}

/// The creation answer: the only time the full key is shown.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedApiKey {
    #[serde(flatten)]
    pub key_view: ApiKeyView,
    /// The full key. Store it now: it is not shown again.
    pub key: String,
}

/// Lists the tenant's API keys, newest first.
#[utoipa::path(
    get, path = "/api/v1/api-keys", tag = "api-keys", security(("bearer" = [])),
    params(PageQuery),
    responses(
        (status = 200, description = "A page of keys", body = Paginated<ApiKeyView>),
        (status = 400, description = "Bad pagination parameters", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Requires admin", body = ErrorBody)
    )
)]
pub async fn list(
    state: web::Data<AppState>,
    auth: Auth,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Role::Admin)?;
    let page = query.parse()?;
    let (rows, total) = state
        .db
        .tenant_tx(auth.caller.tenant_id, |conn| {
            async move { api_keys::list(conn, page.offset(), page.limit()).await }.scope_boxed()
        })
        .await
        .map_err(ApiError::from)?;
    let data = rows.into_iter().map(ApiKeyView::from).collect();
    Ok(HttpResponse::Ok().json(Paginated::new(data, page, total)))
}

/// Creates a key with a role. The answer holds the full key once; only its hash is stored.
#[utoipa::path(
    post, path = "/api/v1/api-keys", tag = "api-keys", security(("bearer" = [])),
    request_body = CreateApiKeyRequest,
    responses(
        (status = 201, description = "Key created; `key` is shown only now", body = Envelope<CreatedApiKey>),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Requires admin", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
        (status = 422, description = "Invalid field", body = ErrorBody)
    )
)]
pub async fn create(
    state: web::Data<AppState>,
    auth: Auth,
    meta: RequestMeta,
    body: Body<CreateApiKeyRequest>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Role::Admin)?;
    let req = body.0;
    let name = validate_name("name", &req.name)?;
    if req.expires_at.is_some_and(|at| at <= Utc::now()) {
        return Err(ApiError::field("expires_at", "must be in the future"));
    }
    // A key never carries more rights than the person who made it.
    auth.require(req.role)?;
    let generated = api_key::generate();
    let tenant_id = auth.caller.tenant_id;
    let created_by = auth.caller.user_id();
    let role = req.role;
    let expires_at = req.expires_at;
    let (prefix, hash) = (generated.prefix.clone(), generated.secret_hash.clone());
    let auth_ref = &auth;
    let meta_ref = &meta;
    let row = state
        .db
        .tenant_tx(tenant_id, |conn| {
            async move {
                let row = api_keys::insert(
                    conn,
                    &NewApiKey {
                        tenant_id,
                        name: &name,
                        key_prefix: &prefix,
                        secret_hash: &hash,
                        role: role.as_str(),
                        created_by,
                        expires_at,
                    },
                )
                .await?;
                record(
                    conn,
                    auth_ref,
                    meta_ref,
                    "api_key.create",
                    "api_key",
                    row.id,
                    json!({ "name": row.name, "role": row.role, "expires_at": row.expires_at }),
                )
                .await?;
                Ok::<_, wfops_db::Error>(row)
            }
            .scope_boxed()
        })
        .await
        .map_err(ApiError::from)?;
    Ok(HttpResponse::Created().json(Envelope::with_message(
        CreatedApiKey {
            key: generated.plaintext().to_string(),
            key_view: ApiKeyView::from(row),
        },
        "store this key now: it is not shown again",
    )))
}

/// Revokes a key; it stops working at once. Revoking twice keeps the first time.
#[utoipa::path(
    delete, path = "/api/v1/api-keys/{id}", tag = "api-keys", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "API key id")),
    responses(
        (status = 200, description = "Key revoked", body = Envelope<ApiKeyView>),
        (status = 400, description = "`id` is not a UUID", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Requires admin", body = ErrorBody),
        (status = 404, description = "No such key in this tenant", body = ErrorBody)
    )
)]
pub async fn revoke(
    state: web::Data<AppState>,
    auth: Auth,
    meta: RequestMeta,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Role::Admin)?;
    let id = path.into_inner();
    let auth_ref = &auth;
    let meta_ref = &meta;
    let row = state
        .db
        .tenant_tx(auth.caller.tenant_id, |conn| {
            async move {
                let row = api_keys::revoke(conn, id).await?;
                record(
                    conn,
                    auth_ref,
                    meta_ref,
                    "api_key.revoke",
                    "api_key",
                    id,
                    json!({ "name": row.name }),
                )
                .await?;
                Ok::<_, wfops_db::Error>(row)
            }
            .scope_boxed()
        })
        .await
        .map_err(|e| match e {
            wfops_db::Error::NotFound => {
                ApiError::new(Code::ApiKeyNotFound, format!("API key {id} not found"))
            }
            other => other.into(),
        })?;
    Ok(HttpResponse::Ok().json(Envelope::with_message(
        ApiKeyView::from(row),
        "API key revoked",
    )))
}
