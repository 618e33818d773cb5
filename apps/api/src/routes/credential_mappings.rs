//! Credential mappings: which credential of a target environment replaces a credential of a
//! source environment when workflows are promoted (docs/promotion.md#credential-mappings).
//! Viewers read and get suggestions; admins set and delete.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use wfops_db::credential_mappings::{self, CredentialMapping, NewCredentialMapping};
use wfops_db::ScopedFutureExt;
use wfops_promotion::refs::MappingSuggestion;
use wfops_tenancy::Role;

use crate::auth::{Auth, RequestMeta};
use crate::envelope::{Envelope, ErrorBody, Paginated};
use crate::error::{ApiError, Code};
use crate::extract::Body;
use crate::routes::common::ensure_environment;
use crate::routes::environments::DeletedView;
use crate::routes::query;
use crate::routes::record;
use crate::AppState;

/// Longest credential type, id or name (characters).
const MAX_CREDENTIAL_TEXT: usize = 255;

#[derive(Debug, Serialize, ToSchema)]
pub struct CredentialMappingView {
    pub id: Uuid,
    pub source_environment_id: Uuid,
    pub target_environment_id: Uuid,
    pub credential_type: String,
    pub source_credential_id: String,
    pub source_credential_name: String,
    pub target_credential_id: String,
    pub target_credential_name: String,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<CredentialMapping> for CredentialMappingView {
    fn from(m: CredentialMapping) -> Self {
        Self {
            id: m.id,
            source_environment_id: m.source_environment_id,
            target_environment_id: m.target_environment_id,
            credential_type: m.credential_type,
            source_credential_id: m.source_credential_id,
            source_credential_name: m.source_credential_name,
            target_credential_id: m.target_credential_id,
            target_credential_name: m.target_credential_name,
            created_by: m.created_by,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

/// Sets the mapping of one source credential (creates it, or replaces its target).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutCredentialMappingRequest {
    pub source_environment_id: Uuid,
    pub target_environment_id: Uuid,
    /// The n8n credential type, e.g. `slackApi`.
    #[schema(
        min_length = 1,
        max_length = 255,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub credential_type: String,
    #[schema(
        min_length = 1,
        max_length = 255,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub source_credential_id: String,
    #[schema(
        min_length = 1,
        max_length = 255,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub source_credential_name: String,
    #[schema(
        min_length = 1,
        max_length = 255,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub target_credential_id: String,
    #[schema(
        min_length = 1,
        max_length = 255,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub target_credential_name: String,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct MappingsQuery {
    /// Only mappings from this environment.
    #[param(value_type = Option<Uuid>)]
    pub source_environment_id: Option<String>,
    /// Only mappings into this environment.
    #[param(value_type = Option<Uuid>)]
    pub target_environment_id: Option<String>,
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1_000_000)]
    pub page: Option<String>,
    #[param(value_type = Option<u32>, minimum = 1, maximum = 200)]
    pub page_size: Option<String>,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SuggestionsQuery {
    #[param(value_type = Uuid, required = true)]
    pub source_environment_id: Option<String>,
    #[param(value_type = Uuid, required = true)]
    pub target_environment_id: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CandidateView {
    pub id: Option<String>,
    pub name: Option<String>,
    /// Same name as the source credential (without case).
    pub same_name: bool,
    /// Nodes of the target's workflows that use it.
    pub uses: usize,
}

/// A credential of the source's workflows without mapping, and the target's credentials of the
/// same type, best first.
#[derive(Debug, Serialize, ToSchema)]
pub struct SuggestionView {
    pub credential_type: String,
    pub source_credential_id: Option<String>,
    pub source_credential_name: Option<String>,
    /// Nodes of the source's workflows that use it.
    pub uses: usize,
    pub candidates: Vec<CandidateView>,
}

impl From<MappingSuggestion> for SuggestionView {
    fn from(s: MappingSuggestion) -> Self {
        Self {
            credential_type: s.credential_type,
            source_credential_id: s.source_credential_id,
            source_credential_name: s.source_credential_name,
            uses: s.uses,
            candidates: s
                .candidates
                .into_iter()
                .map(|c| CandidateView {
                    id: c.id,
                    name: c.name,
                    same_name: c.same_name,
                    uses: c.uses,
                })
                .collect(),
        }
    }
}

fn mapping_not_found(id: Uuid) -> ApiError {
    ApiError::new(
        Code::CredentialMappingNotFound,
        format!("credential mapping {id} not found"),
    )
}

fn same_environment(id: Uuid) -> ApiError {
    ApiError::new(
        Code::SameSourceAndTarget,
        format!("source and target are the same environment ({id})"),
    )
}

/// A credential type, id or name: 1 to 255 characters, not blank, no control characters
/// (trimmed).
fn credential_text(field: &str, raw: &str) -> Result<String, ApiError> {
    crate::routes::common::text(field, raw, MAX_CREDENTIAL_TEXT).map_err(|e| {
        let reason = match &e {
            ApiError::Coded { message, .. } => message.clone(),
            other => other.to_string(),
        };
        ApiError::Coded {
            code: Code::InvalidCredentialMapping,
            message: reason.clone(),
            details: Some(json!({ "field": field, "reason": reason })),
        }
    })
}

#[utoipa::path(
    get, path = "/api/v1/credential-mappings", tag = "promotions", security(("bearer" = [])),
    params(MappingsQuery),
    responses(
        (status = 200, description = "A page of mappings", body = Paginated<CredentialMappingView>),
        (status = 400, description = "A filter or pagination parameter is malformed", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 404, description = "A filtered environment is not one of this tenant's", body = ErrorBody)
    )
)]
pub async fn list(
    state: web::Data<AppState>,
    auth: Auth,
    q: web::Query<MappingsQuery>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Role::Viewer)?;
    let page = query::page(&q.page, &q.page_size)?;
    let source = query::uuid_param("source_environment_id", q.source_environment_id.as_deref())?;
    let target = query::uuid_param("target_environment_id", q.target_environment_id.as_deref())?;
    let (rows, total) = state
        .db
        .tenant_tx(auth.caller.tenant_id, |conn| {
            async move {
                for id in [source, target].into_iter().flatten() {
                    ensure_environment(conn, id).await?;
                }
                Ok::<_, ApiError>(
                    credential_mappings::list(conn, source, target, page.offset(), page.limit())
                        .await?,
                )
            }
            .scope_boxed()
        })
        .await?;
    let data = rows.into_iter().map(CredentialMappingView::from).collect();
    Ok(HttpResponse::Ok().json(Paginated::new(data, page, total)))
}

#[utoipa::path(
    put, path = "/api/v1/credential-mappings", tag = "promotions", security(("bearer" = [])),
    request_body = PutCredentialMappingRequest,
    responses(
        (status = 200, description = "The existing mapping's target replaced", body = Envelope<CredentialMappingView>),
        (status = 201, description = "Mapping created", body = Envelope<CredentialMappingView>),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Requires admin", body = ErrorBody),
        (status = 404, description = "An environment is not one of this tenant's", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
        (status = 422, description = "Invalid field, or source and target are the same", body = ErrorBody)
    )
)]
pub async fn put(
    state: web::Data<AppState>,
    auth: Auth,
    meta: RequestMeta,
    body: Body<PutCredentialMappingRequest>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Role::Admin)?;
    let req = body.0;
    if req.source_environment_id == req.target_environment_id {
        return Err(same_environment(req.source_environment_id));
    }
    let credential_type = credential_text("credential_type", &req.credential_type)?;
    let source_id = credential_text("source_credential_id", &req.source_credential_id)?;
    let source_name = credential_text("source_credential_name", &req.source_credential_name)?;
    let target_id = credential_text("target_credential_id", &req.target_credential_id)?;
    let target_name = credential_text("target_credential_name", &req.target_credential_name)?;
    let new = NewCredentialMapping {
        tenant_id: auth.caller.tenant_id,
        source_environment_id: req.source_environment_id,
        target_environment_id: req.target_environment_id,
        credential_type: &credential_type,
        source_credential_id: &source_id,
        source_credential_name: &source_name,
        target_credential_id: &target_id,
        target_credential_name: &target_name,
        created_by: auth.caller.user_id(),
    };
    let (auth_ref, meta_ref, new_ref) = (&auth, &meta, &new);
    let (row, created) = state
        .db
        .tenant_tx(auth.caller.tenant_id, |conn| {
            async move {
                ensure_environment(conn, new_ref.source_environment_id).await?;
                ensure_environment(conn, new_ref.target_environment_id).await?;
                let (row, created) = credential_mappings::upsert(conn, new_ref).await?;
                record(
                    conn,
                    auth_ref,
                    meta_ref,
                    if created {
                        "credential_mapping.create"
                    } else {
                        "credential_mapping.update"
                    },
                    "credential_mapping",
                    row.id,
                    json!({
                        "source_environment_id": row.source_environment_id,
                        "target_environment_id": row.target_environment_id,
                        "credential_type": row.credential_type,
                        "source_credential_id": row.source_credential_id,
                        "target_credential_id": row.target_credential_id,
                    }),
                )
                .await?;
                Ok::<_, ApiError>((row, created))
            }
            .scope_boxed()
        })
        .await?;
    let view = CredentialMappingView::from(row);
    Ok(if created {
        HttpResponse::Created().json(Envelope::with_message(view, "credential mapping created"))
    } else {
        HttpResponse::Ok().json(Envelope::with_message(view, "credential mapping updated"))
    })
}

#[utoipa::path(
    delete, path = "/api/v1/credential-mappings/{id}", tag = "promotions", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Credential mapping id")),
    responses(
        (status = 200, description = "Mapping deleted", body = Envelope<DeletedView>),
        (status = 400, description = "`id` is not a UUID", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Requires admin", body = ErrorBody),
        (status = 404, description = "No such mapping in this tenant", body = ErrorBody)
    )
)]
pub async fn delete(
    state: web::Data<AppState>,
    auth: Auth,
    meta: RequestMeta,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Role::Admin)?;
    let id = path.into_inner();
    let (auth_ref, meta_ref) = (&auth, &meta);
    state
        .db
        .tenant_tx(auth.caller.tenant_id, |conn| {
            async move {
                let row = credential_mappings::delete(conn, id).await?;
                record(
                    conn,
                    auth_ref,
                    meta_ref,
                    "credential_mapping.delete",
                    "credential_mapping",
                    id,
                    json!({
                        "credential_type": row.credential_type,
                        "source_credential_id": row.source_credential_id,
                    }),
                )
                .await
            }
            .scope_boxed()
        })
        .await
        .map_err(|e| match e {
            wfops_db::Error::NotFound => mapping_not_found(id),
            other => other.into(),
        })?;
    Ok(HttpResponse::Ok().json(Envelope::with_message(
        DeletedView { id, deleted: true },
        "credential mapping deleted",
    )))
}

#[utoipa::path(
    get, path = "/api/v1/credential-mappings/suggestions", tag = "promotions", security(("bearer" = [])),
    params(SuggestionsQuery),
    responses(
        (status = 200, description = "Unmapped source credentials with candidate target credentials", body = Envelope<Vec<SuggestionView>>),
        (status = 400, description = "A parameter is missing or malformed", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 404, description = "An environment is not one of this tenant's", body = ErrorBody),
        (status = 422, description = "Source and target are the same", body = ErrorBody)
    )
)]
pub async fn suggestions(
    state: web::Data<AppState>,
    auth: Auth,
    q: web::Query<SuggestionsQuery>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Role::Viewer)?;
    let source = query::required_uuid("source_environment_id", q.source_environment_id.as_deref())?;
    let target = query::required_uuid("target_environment_id", q.target_environment_id.as_deref())?;
    let found = state
        .db
        .tenant_tx(auth.caller.tenant_id, |conn| {
            async move {
                wfops_engine::preflight::credential_suggestions(conn, source, target).await
            }
            .scope_boxed()
        })
        .await
        .map_err(ApiError::from)?;
    let data: Vec<SuggestionView> = found.into_iter().map(SuggestionView::from).collect();
    Ok(HttpResponse::Ok().json(Envelope::new(data)))
}
