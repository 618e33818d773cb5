//! Pipelines: ordered promotion stages with their gate flags (docs/promotion.md#pipelines).
//! Viewers read, admins write. Every stored pipeline obeys the rules of
//! `wfops_promotion::pipeline` and names only live environments of its tenant.

use std::collections::BTreeSet;

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;
use uuid::Uuid;
use wfops_db::pipelines::{self, NewPipeline, PipelineChanges, PipelineRow};
use wfops_db::{Conn, ScopedFutureExt};
use wfops_promotion::pipeline::{parse_stages, PipelineError};
use wfops_promotion::Stage;
use wfops_tenancy::Role;

use crate::auth::{Auth, RequestMeta};
use crate::envelope::{Envelope, ErrorBody, Paginated};
use crate::error::{ApiError, Code};
use crate::extract::Body;
use crate::routes::common::{text, validate_name};
use crate::routes::environments::{nullable, present, DeletedView};
use crate::routes::query::PageQuery;
use crate::routes::record;
use crate::AppState;

/// Longest pipeline description (characters).
const MAX_DESCRIPTION_CHARS: usize = 2000;

/// The gate flags of a stage; an absent flag takes its default.
#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
#[allow(dead_code)]
pub struct GatesSchema {
    /// Drift in the target blocks (default `true`).
    require_clean_drift: Option<bool>,
    /// Overwrite workflows hotfixed in the target (default `false`).
    allow_overwriting_hotfixes: Option<bool>,
    /// Promote despite conflicting changes (default `false`).
    allow_force_promotion_on_conflicts: Option<bool>,
    /// Promote with unmapped credentials (default `false`).
    allow_placeholder_credentials: Option<bool>,
}

/// One stage: promotes `source_environment_id` into `target_environment_id`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct StageSchema {
    /// Unique within the pipeline: 1 to 100 characters, not blank, no control characters.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    name: String,
    source_environment_id: Uuid,
    target_environment_id: Uuid,
    gates: Option<GatesSchema>,
    /// A promotion through this stage waits for an admin's approval (default `false`).
    #[schema(rename = "requireApproval")]
    require_approval: Option<bool>,
}

/// The stored form of a stage (every flag written out).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct StageView {
    name: String,
    source_environment_id: Uuid,
    target_environment_id: Uuid,
    #[schema(value_type = GatesSchema)]
    gates: Value,
    #[schema(rename = "requireApproval")]
    require_approval: bool,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePipelineRequest {
    /// 1 to 100 characters, not blank, no control characters.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub name: String,
    /// At most 2000 characters, not blank, no control characters.
    #[schema(
        min_length = 1,
        max_length = 2000,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub description: Option<String>,
    /// 1 to 20 stages with unique names, over live environments of the tenant, none promoting
    /// an environment into itself, no two with the same direction, and no cycle.
    #[schema(value_type = Vec<StageSchema>, min_items = 1, max_items = 20)]
    pub stages: Value,
    /// Default `true`; promotions can not name an inactive pipeline.
    #[serde(default = "active_default")]
    pub is_active: bool,
}

fn active_default() -> bool {
    true
}

/// Every field is optional, at least one is required; `description: null` clears it.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdatePipelineRequest {
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = String, required = false, min_length = 1, max_length = 100, pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, required = false, nullable, min_length = 1, max_length = 2000, pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$")]
    pub description: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Vec<StageSchema>, required = false, min_items = 1, max_items = 20)]
    pub stages: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = bool, required = false)]
    pub is_active: Option<bool>,
}

/// A pipeline as the API returns it.
#[derive(Debug, Serialize, ToSchema)]
pub struct PipelineView {
    pub id: Uuid,
    pub name: String,
    pub description: Option<String>,
    #[schema(value_type = Vec<StageView>)]
    pub stages: Value,
    pub is_active: bool,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<PipelineRow> for PipelineView {
    fn from(p: PipelineRow) -> Self {
        Self {
            id: p.id,
            name: p.name,
            description: p.description,
            stages: p.stages,
            is_active: p.is_active,
            created_by: p.created_by,
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}

pub(crate) fn pipeline_not_found(id: Uuid) -> ApiError {
    ApiError::new(Code::PipelineNotFound, format!("pipeline {id} not found"))
}

/// The error of a refused list of stages.
fn stage_error(e: PipelineError) -> ApiError {
    let message = e.to_string();
    let (code, details) = match &e {
        PipelineError::StageCount(n) => (Code::InvalidStageCount, json!({ "count": n })),
        PipelineError::InvalidStage { index, .. }
        | PipelineError::InvalidGateFlag { index, .. } => {
            (Code::InvalidStage, json!({ "stage": index }))
        }
        PipelineError::UnknownGateFlag { index, flag } => (
            Code::UnknownGateFlag,
            json!({ "stage": index, "flag": flag }),
        ),
        PipelineError::DuplicateStageName(name) => {
            (Code::DuplicateStageName, json!({ "name": name }))
        }
        PipelineError::SelfPromotion(name) => (Code::StageSelfPromotion, json!({ "stage": name })),
        PipelineError::DuplicateDirection { first, second } => (
            Code::DuplicateStageDirection,
            json!({ "stages": [first, second] }),
        ),
        PipelineError::Cycle(stages) => (Code::PipelineCycle, json!({ "stages": stages })),
    };
    ApiError::Coded {
        code,
        message,
        details: Some(details),
    }
}

/// Parses and checks `stages` (pure rules), returning them in their stored form.
fn checked_stages(raw: &Value) -> Result<(Vec<Stage>, Value), ApiError> {
    let stages = parse_stages(raw).map_err(stage_error)?;
    let stored = serde_json::to_value(&stages).map_err(ApiError::internal)?;
    Ok((stages, stored))
}

/// Every environment the stages name is a live environment of the bound tenant.
async fn check_environments(conn: &mut Conn, stages: &[Stage]) -> Result<(), ApiError> {
    let ids: Vec<Uuid> = stages
        .iter()
        .flat_map(|s| [s.source_environment_id, s.target_environment_id])
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let states = pipelines::environment_states(conn, &ids).await?;
    for stage in stages {
        for id in [stage.source_environment_id, stage.target_environment_id] {
            match states.get(&id) {
                None => {
                    return Err(ApiError::Coded {
                        code: Code::StageEnvironmentNotFound,
                        message: format!(
                            "stage {:?} names environment {id}, which this tenant does not have",
                            stage.name
                        ),
                        details: Some(json!({ "stage": stage.name, "environment_id": id })),
                    })
                }
                Some(true) => {
                    return Err(ApiError::Coded {
                        code: Code::StageEnvironmentArchived,
                        message: format!(
                            "stage {:?} names environment {id}, which was deleted",
                            stage.name
                        ),
                        details: Some(json!({ "stage": stage.name, "environment_id": id })),
                    })
                }
                Some(false) => {}
            }
        }
    }
    Ok(())
}

fn description(raw: &str) -> Result<String, ApiError> {
    text("description", raw, MAX_DESCRIPTION_CHARS)
}

#[utoipa::path(
    get, path = "/api/v1/pipelines", tag = "pipelines", security(("bearer" = [])),
    params(PageQuery),
    responses(
        (status = 200, description = "A page of pipelines by name", body = Paginated<PipelineView>),
        (status = 400, description = "Bad pagination parameters", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody)
    )
)]
pub async fn list(
    state: web::Data<AppState>,
    auth: Auth,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Role::Viewer)?;
    let page = query.parse()?;
    let (rows, total) = state
        .db
        .tenant_tx(auth.caller.tenant_id, |conn| {
            async move { pipelines::list(conn, page.offset(), page.limit()).await }.scope_boxed()
        })
        .await
        .map_err(ApiError::from)?;
    let data = rows.into_iter().map(PipelineView::from).collect();
    Ok(HttpResponse::Ok().json(Paginated::new(data, page, total)))
}

#[utoipa::path(
    get, path = "/api/v1/pipelines/{id}", tag = "pipelines", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Pipeline id")),
    responses(
        (status = 200, description = "The pipeline", body = Envelope<PipelineView>),
        (status = 400, description = "`id` is not a UUID", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 404, description = "No such pipeline in this tenant", body = ErrorBody)
    )
)]
pub async fn get(
    state: web::Data<AppState>,
    auth: Auth,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Role::Viewer)?;
    let id = path.into_inner();
    let row = state
        .db
        .tenant_tx(auth.caller.tenant_id, |conn| {
            async move { pipelines::get(conn, id).await }.scope_boxed()
        })
        .await
        .map_err(|e| match e {
            wfops_db::Error::NotFound => pipeline_not_found(id),
            other => other.into(),
        })?;
    Ok(HttpResponse::Ok().json(Envelope::new(PipelineView::from(row))))
}

#[utoipa::path(
    post, path = "/api/v1/pipelines", tag = "pipelines", security(("bearer" = [])),
    request_body = CreatePipelineRequest,
    responses(
        (status = 201, description = "Pipeline created", body = Envelope<PipelineView>),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Requires admin", body = ErrorBody),
        (status = 409, description = "A pipeline with this name exists", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
        (status = 422, description = "Invalid name, description or stages", body = ErrorBody)
    )
)]
pub async fn create(
    state: web::Data<AppState>,
    auth: Auth,
    meta: RequestMeta,
    body: Body<CreatePipelineRequest>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Role::Admin)?;
    let req = body.0;
    let name = validate_name("name", &req.name)?;
    let description = req.description.as_deref().map(description).transpose()?;
    let (stages, stored) = checked_stages(&req.stages)?;
    let (auth_ref, meta_ref) = (&auth, &meta);
    let new = NewPipeline {
        tenant_id: auth.caller.tenant_id,
        name: &name,
        description: description.as_deref(),
        stages: stored,
        is_active: req.is_active,
        created_by: auth.caller.user_id(),
    };
    let (new_ref, stages_ref) = (&new, &stages);
    let row = state
        .db
        .tenant_tx(auth.caller.tenant_id, |conn| {
            async move {
                check_environments(conn, stages_ref).await?;
                let row = pipelines::insert(conn, new_ref).await?;
                record(
                    conn,
                    auth_ref,
                    meta_ref,
                    "pipeline.create",
                    "pipeline",
                    row.id,
                    json!({ "name": row.name, "stages": stages_ref.len(), "is_active": row.is_active }),
                )
                .await?;
                Ok::<_, ApiError>(row)
            }
            .scope_boxed()
        })
        .await?;
    Ok(HttpResponse::Created().json(Envelope::with_message(
        PipelineView::from(row),
        "pipeline created",
    )))
}

#[utoipa::path(
    patch, path = "/api/v1/pipelines/{id}", tag = "pipelines", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Pipeline id")),
    request_body = UpdatePipelineRequest,
    responses(
        (status = 200, description = "Pipeline updated", body = Envelope<PipelineView>),
        (status = 400, description = "Malformed JSON or `id` not a UUID", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Requires admin", body = ErrorBody),
        (status = 404, description = "No such pipeline in this tenant", body = ErrorBody),
        (status = 409, description = "A pipeline with this name exists", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
        (status = 422, description = "Invalid field or empty update", body = ErrorBody)
    )
)]
pub async fn update(
    state: web::Data<AppState>,
    auth: Auth,
    meta: RequestMeta,
    path: web::Path<Uuid>,
    body: Body<UpdatePipelineRequest>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Role::Admin)?;
    let id = path.into_inner();
    let req = body.0;
    let name = req
        .name
        .as_deref()
        .map(|n| validate_name("name", n))
        .transpose()?;
    let description = match req.description {
        None => None,
        Some(None) => Some(None),
        Some(Some(d)) => Some(Some(description(&d)?)),
    };
    let stages = req.stages.as_ref().map(checked_stages).transpose()?;
    let changes = PipelineChanges {
        name,
        description,
        stages: stages.as_ref().map(|(_, stored)| stored.clone()),
        is_active: req.is_active,
    };
    if changes.is_empty() {
        return Err(ApiError::new(
            Code::EmptyUpdate,
            "the body must set at least one field to change",
        ));
    }
    let mut changed = Vec::new();
    for (field, set) in [
        ("name", changes.name.is_some()),
        ("description", changes.description.is_some()),
        ("stages", changes.stages.is_some()),
        ("is_active", changes.is_active.is_some()),
    ] {
        if set {
            changed.push(field);
        }
    }
    let (auth_ref, meta_ref, changes_ref, stages_ref) = (&auth, &meta, &changes, &stages);
    let row = state
        .db
        .tenant_tx(auth.caller.tenant_id, |conn| {
            async move {
                // the pipeline first, so that another tenant's id answers 404 before anything
                pipelines::get(conn, id).await.map_err(|e| match e {
                    wfops_db::Error::NotFound => pipeline_not_found(id),
                    other => other.into(),
                })?;
                if let Some((stages, _)) = stages_ref {
                    check_environments(conn, stages).await?;
                }
                let row = pipelines::update(conn, id, changes_ref).await?;
                record(
                    conn,
                    auth_ref,
                    meta_ref,
                    "pipeline.update",
                    "pipeline",
                    id,
                    json!({ "changed": changed }),
                )
                .await?;
                Ok::<_, ApiError>(row)
            }
            .scope_boxed()
        })
        .await?;
    Ok(HttpResponse::Ok().json(Envelope::with_message(
        PipelineView::from(row),
        "pipeline updated",
    )))
}

#[utoipa::path(
    delete, path = "/api/v1/pipelines/{id}", tag = "pipelines", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Pipeline id")),
    responses(
        (status = 200, description = "Pipeline deleted; promotions made through it keep their \
            stage name", body = Envelope<DeletedView>),
        (status = 400, description = "`id` is not a UUID", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Requires admin", body = ErrorBody),
        (status = 404, description = "No such pipeline in this tenant", body = ErrorBody)
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
                let row = pipelines::delete(conn, id).await?;
                record(
                    conn,
                    auth_ref,
                    meta_ref,
                    "pipeline.delete",
                    "pipeline",
                    id,
                    json!({ "name": row.name }),
                )
                .await
            }
            .scope_boxed()
        })
        .await
        .map_err(|e| match e {
            wfops_db::Error::NotFound => pipeline_not_found(id),
            other => other.into(),
        })?;
    Ok(HttpResponse::Ok().json(Envelope::with_message(
        DeletedView { id, deleted: true },
        "pipeline deleted",
    )))
}
