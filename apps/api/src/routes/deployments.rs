//! Deployments: the lists and the detail (with what the execution recorded per workflow), a new
//! deployment of a promotion that is cleared to run, and cancellation (docs/promotion.md).

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use wfops_db::promotions::{self, DeploymentRow, DeploymentWorkflowRow};
use wfops_db::{deployments, ScopedFutureExt};
use wfops_promotion::{DeploymentStatus, PromotionStatus};
use wfops_tenancy::Role;

use crate::auth::{Auth, RequestMeta};
use crate::envelope::{Envelope, ErrorBody, Paginated};
use crate::error::{ApiError, Code};
use crate::extract::Body;
use crate::routes::promotions::{
    check_schedule, enqueue_deployment, idempotency_key, promotion_not_found, user_of,
    DeploymentView,
};
use crate::routes::query;
use crate::routes::record;
use crate::AppState;

pub fn deployment_not_found(id: Uuid) -> ApiError {
    ApiError::new(
        Code::DeploymentNotFound,
        format!("deployment {id} not found"),
    )
}

/// A deployment in a list: the row and its promotion's target environment.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DeploymentListItem {
    #[serde(flatten)]
    pub deployment: DeploymentView,
    pub target_environment_id: Uuid,
}

/// What the execution recorded for one workflow of a deployment.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DeploymentWorkflowView {
    pub canonical_id: Option<Uuid>,
    /// The workflow's id in the target n8n.
    pub workflow_id: String,
    pub workflow_name: String,
    /// success, failed or skipped.
    pub status: String,
    pub error_message: Option<String>,
    pub promoted_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl From<DeploymentWorkflowRow> for DeploymentWorkflowView {
    fn from(w: DeploymentWorkflowRow) -> Self {
        Self {
            canonical_id: w.canonical_id,
            workflow_id: w.workflow_id,
            workflow_name: w.workflow_name,
            status: w.status,
            error_message: w.error_message,
            promoted_at: w.promoted_at,
            created_at: w.created_at,
        }
    }
}

/// A deployment with its promotion's environments and its per-workflow outcomes.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DeploymentDetail {
    #[serde(flatten)]
    pub deployment: DeploymentView,
    pub source_environment_id: Uuid,
    pub target_environment_id: Uuid,
    /// The promotion's status.
    pub promotion_status: String,
    pub workflows: Vec<DeploymentWorkflowView>,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeploymentsQuery {
    #[param(value_type = Option<DeploymentStatusParam>)]
    pub status: Option<String>,
    #[param(value_type = Option<Uuid>)]
    pub promotion_id: Option<String>,
    #[param(value_type = Option<Uuid>)]
    pub target_environment_id: Option<String>,
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1_000_000)]
    pub page: Option<String>,
    #[param(value_type = Option<u32>, minimum = 1, maximum = 200)]
    pub page_size: Option<String>,
}

/// The values of the deployment `status` filter, for the document.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum DeploymentStatusParam {
    Pending,
    Scheduled,
    Running,
    Completed,
    Failed,
    Cancelled,
}

fn deployment_status(raw: Option<&str>) -> Result<Option<DeploymentStatus>, ApiError> {
    match raw {
        None => Ok(None),
        Some(v) => DeploymentStatus::parse(v).map(Some).map_err(|_| {
            ApiError::InvalidQueryParameter(format!(
                "`status` must be one of {}, got `{}`",
                DeploymentStatus::ALL
                    .map(DeploymentStatus::as_str)
                    .join(", "),
                v.chars().take(64).collect::<String>()
            ))
        }),
    }
}

#[utoipa::path(
    get, path = "/api/v1/deployments", tag = "promotions", security(("bearer" = [])),
    params(DeploymentsQuery),
    responses(
        (status = 200, description = "A page of deployments, newest first", body = Paginated<DeploymentListItem>),
        (status = 400, description = "A bad filter or pagination value", body = ErrorBody)
    )
)]
pub async fn list(
    state: web::Data<AppState>,
    auth: Auth,
    q: web::Query<DeploymentsQuery>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Role::Viewer)?;
    let page = query::page(&q.page, &q.page_size)?;
    let filter = deployments::DeploymentFilter {
        status: deployment_status(q.status.as_deref())?,
        promotion_id: query::uuid_param("promotion_id", q.promotion_id.as_deref())?,
        target_environment_id: query::uuid_param(
            "target_environment_id",
            q.target_environment_id.as_deref(),
        )?,
    };
    let filter_ref = &filter;
    let (rows, total) = state
        .db
        .tenant_tx(auth.caller.tenant_id, |conn| {
            async move { deployments::list(conn, filter_ref, page.offset(), page.limit()).await }
                .scope_boxed()
        })
        .await
        .map_err(ApiError::from)?;
    let data = rows
        .into_iter()
        .map(|(d, target)| DeploymentListItem {
            deployment: d.into(),
            target_environment_id: target,
        })
        .collect();
    Ok(HttpResponse::Ok().json(Paginated::new(data, page, total)))
}

/// Deployment `id` with its promotion and workflows, read in the caller's transaction.
pub async fn detail(conn: &mut wfops_db::Conn, id: Uuid) -> Result<DeploymentDetail, ApiError> {
    let d = match promotions::get_deployment(conn, id).await {
        Ok(d) if !d.is_deleted => d,
        Ok(_) | Err(wfops_db::Error::NotFound) => return Err(deployment_not_found(id)),
        Err(e) => return Err(e.into()),
    };
    let p = promotions::get_promotion(conn, d.promotion_id).await?;
    let workflows = promotions::deployment_workflows(conn, id).await?;
    Ok(DeploymentDetail {
        deployment: d.into(),
        source_environment_id: p.source_environment_id,
        target_environment_id: p.target_environment_id,
        promotion_status: p.status.as_str().to_string(),
        workflows: workflows.into_iter().map(Into::into).collect(),
    })
}

#[utoipa::path(
    get, path = "/api/v1/deployments/{id}", tag = "promotions", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Deployment id")),
    responses(
        (status = 200, description = "The deployment with its per-workflow outcomes", body = Envelope<DeploymentDetail>),
        (status = 400, description = "`id` is not a UUID", body = ErrorBody),
        (status = 404, description = "No such deployment in this tenant", body = ErrorBody)
    )
)]
pub async fn get(
    state: web::Data<AppState>,
    auth: Auth,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Role::Viewer)?;
    let id = path.into_inner();
    let found = state
        .db
        .tenant_tx(auth.caller.tenant_id, |conn| {
            async move { detail(conn, id).await }.scope_boxed()
        })
        .await?;
    Ok(HttpResponse::Ok().json(Envelope::new(found)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateDeploymentRequest {
    /// A promotion that is cleared to run and has not run (`pending` or `approved`) and has
    /// no pending, scheduled or running deployment.
    pub promotion_id: Uuid,
    /// Deploy at this time (in the future, at most a year ahead) instead of at once.
    pub scheduled_for: Option<DateTime<Utc>>,
}

/// The canonical hash of a `POST /deployments` request (see `promotions::request_hash`).
fn request_hash(req: &CreateDeploymentRequest) -> String {
    let canonical = json!([
        "deployment",
        req.promotion_id,
        req.scheduled_for.map(|t| t.timestamp_micros()),
    ]);
    hex::encode(Sha256::digest(canonical.to_string().as_bytes()))
}

#[utoipa::path(
    post, path = "/api/v1/deployments", tag = "promotions", security(("bearer" = [])),
    request_body = CreateDeploymentRequest,
    params(
        ("Idempotency-Key" = Option<String>, Header, nullable = false, min_length = 1, max_length = 200, pattern = r"^[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?$", description = "A retry with the same key and body returns the same deployment")
    ),
    responses(
        (status = 200, description = "The deployment an earlier request with this Idempotency-Key created", body = Envelope<DeploymentView>),
        (status = 201, description = "Deployment created: queued, or scheduled", body = Envelope<DeploymentView>),
        (status = 400, description = "Malformed JSON or Idempotency-Key", body = ErrorBody),
        (status = 403, description = "Requires admin", body = ErrorBody),
        (status = 404, description = "No such promotion in this tenant", body = ErrorBody),
        (status = 409, description = "Idempotency-Key reused with another body, the promotion is not cleared to run, or it already has a live deployment", body = ErrorBody)
    )
)]
pub async fn create(
    state: web::Data<AppState>,
    auth: Auth,
    meta: RequestMeta,
    req: HttpRequest,
    body: Body<CreateDeploymentRequest>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Role::Admin)?;
    let key = idempotency_key(&req)?;
    let body = body.0;
    let hash = request_hash(&body);
    let tenant_id = auth.caller.tenant_id;
    let (auth_ref, meta_ref) = (&auth, &meta);
    let (created, replayed) = state
        .db
        .tenant_tx(tenant_id, |conn| {
            async move {
                if let Some(key) = key.as_deref() {
                    deployments::lock_idempotency_key(conn, tenant_id, key).await?;
                    if let Some(existing) = deployments::find_by_idempotency_key(conn, key).await? {
                        if existing.idempotency_request_hash.as_deref() != Some(hash.as_str()) {
                            return Err(ApiError::Coded {
                                code: Code::IdempotencyKeyReused,
                                message: "this Idempotency-Key was used for another deployment \
                                          request; use a new key for a different request"
                                    .into(),
                                details: Some(json!({ "deployment_id": existing.id })),
                            });
                        }
                        return Ok((existing, true));
                    }
                }
                check_schedule(body.scheduled_for, Utc::now())?;
                let id = body.promotion_id;
                let p = match promotions::get_promotion_for_update(conn, id).await {
                    Ok(p) => p,
                    Err(wfops_db::Error::NotFound) => return Err(promotion_not_found(id)),
                    Err(e) => return Err(e.into()),
                };
                if !matches!(
                    p.status,
                    PromotionStatus::Pending | PromotionStatus::Approved
                ) {
                    return Err(ApiError::Coded {
                        code: Code::PromotionNotDeployable,
                        message: format!(
                            "promotion {id} is {}; only a promotion that is cleared to run and \
                             has not run (pending or approved) can be deployed; create a new \
                             promotion to deploy these workflows again",
                            p.status.as_str()
                        ),
                        details: Some(json!({ "status": p.status.as_str() })),
                    });
                }
                if let Some(live) = deployments::live_of_promotion(conn, id).await? {
                    return Err(ApiError::Coded {
                        code: Code::DeploymentAlreadyActive,
                        message: format!(
                            "promotion {id} already has a {} deployment",
                            live.status.as_str()
                        ),
                        details: Some(json!({ "deployment_id": live.id })),
                    });
                }
                let mut d = deployments::insert(
                    conn,
                    tenant_id,
                    id,
                    body.scheduled_for,
                    user_of(&auth_ref.caller.actor),
                    key.as_deref().map(|key| deployments::IdempotencyKey {
                        key,
                        request_hash: &hash,
                    }),
                )
                .await?;
                if d.status == DeploymentStatus::Pending {
                    d = enqueue_deployment(conn, tenant_id, &d, p.target_environment_id).await?;
                }
                record(
                    conn,
                    auth_ref,
                    meta_ref,
                    "deployment.create",
                    "deployment",
                    d.id,
                    json!({
                        "promotion_id": id,
                        "status": d.status.as_str(),
                        "scheduled_for": d.scheduled_for,
                        "job_id": d.job_id,
                    }),
                )
                .await?;
                Ok::<_, ApiError>((d, false))
            }
            .scope_boxed()
        })
        .await?;
    if replayed {
        return Ok(HttpResponse::Ok().json(Envelope::with_message(
            DeploymentView::from(created),
            "an earlier request with this Idempotency-Key created this deployment",
        )));
    }
    let message = if created.status == DeploymentStatus::Scheduled {
        "deployment scheduled"
    } else {
        "deployment queued"
    };
    Ok(HttpResponse::Created().json(Envelope::with_message(
        DeploymentView::from(created),
        message,
    )))
}

#[utoipa::path(
    post, path = "/api/v1/deployments/{id}/cancel", tag = "promotions", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Deployment id")),
    responses(
        (status = 200, description = "A pending or scheduled deployment is cancelled (its queued job too)", body = Envelope<DeploymentView>),
        (status = 202, description = "A running deployment is asked to stop: the workflow in hand finishes, then the deployment rolls back", body = Envelope<DeploymentView>),
        (status = 400, description = "`id` is not a UUID", body = ErrorBody),
        (status = 403, description = "Requires admin", body = ErrorBody),
        (status = 404, description = "No such deployment in this tenant", body = ErrorBody),
        (status = 409, description = "The deployment has finished", body = ErrorBody)
    )
)]
pub async fn cancel(
    state: web::Data<AppState>,
    auth: Auth,
    meta: RequestMeta,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Role::Admin)?;
    let id = path.into_inner();
    let tenant_id = auth.caller.tenant_id;
    let (auth_ref, meta_ref) = (&auth, &meta);
    let (row, requested) = state
        .db
        .tenant_tx(tenant_id, |conn| {
            async move {
                let d = match deployments::get_for_update(conn, id).await {
                    Ok(d) => d,
                    Err(wfops_db::Error::NotFound) => return Err(deployment_not_found(id)),
                    Err(e) => return Err(e.into()),
                };
                let changed = || {
                    ApiError::new(
                        Code::ConcurrentChange,
                        "the deployment changed meanwhile; retry",
                    )
                };
                let (row, requested): (DeploymentRow, bool) = match d.status {
                    DeploymentStatus::Pending | DeploymentStatus::Scheduled => {
                        d.status
                            .transition(DeploymentStatus::Cancelled)
                            .map_err(|e| ApiError::internal(e.to_string()))?;
                        // the job's cancellation first, so that a stream shows it before the
                        // status change that ends the deployment (the transaction makes both
                        // or neither)
                        if let Some(job) = d.job_id {
                            wfops_db::jobs::cancel(conn, job).await?;
                        }
                        let row = deployments::transition(
                            conn,
                            id,
                            d.status,
                            DeploymentStatus::Cancelled,
                            Some("cancelled before it started"),
                        )
                        .await?
                        .ok_or_else(changed)?;
                        (row, false)
                    }
                    DeploymentStatus::Running => {
                        let row = deployments::request_cancel(conn, id)
                            .await?
                            .ok_or_else(changed)?;
                        // a status move records itself; a cancel request is not one
                        deployments::record_status_event(conn, &row).await?;
                        (row, true)
                    }
                    finished => {
                        return Err(ApiError::Coded {
                            code: Code::DeploymentFinished,
                            message: format!(
                                "deployment {id} is {}; a finished deployment can not be cancelled",
                                finished.as_str()
                            ),
                            details: Some(json!({ "status": finished.as_str() })),
                        })
                    }
                };
                record(
                    conn,
                    auth_ref,
                    meta_ref,
                    if requested {
                        "deployment.cancel_request"
                    } else {
                        "deployment.cancel"
                    },
                    "deployment",
                    id,
                    json!({ "from": d.status.as_str(), "status": row.status.as_str() }),
                )
                .await?;
                Ok::<_, ApiError>((row, requested))
            }
            .scope_boxed()
        })
        .await?;
    let view = DeploymentView::from(row);
    Ok(if requested {
        HttpResponse::Accepted().json(Envelope::with_message(
            view,
            "cancel requested: the workflow in hand finishes, then the deployment rolls back",
        ))
    } else {
        HttpResponse::Ok().json(Envelope::with_message(view, "deployment cancelled"))
    })
}
