//! Promotions: creation (pre-flight, idempotency, approval or queueing), the approval
//! decisions, and the reads (docs/promotion.md).
//!
//! A promotion and its first deployment are written in one transaction together with the
//! pre-flight that allowed them, the job that runs the deployment (unless it waits for an
//! approval or for its time) and the audit row.

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use wfops_db::promotions::{
    self, DeploymentRow, NewPromotion, PromotionFilter, PromotionRow, PromotionStatusText,
};
use wfops_db::{deployments, Conn, ScopedFutureExt};
use wfops_engine::preflight::{preflight, PreflightRequest};
use wfops_promotion::{DeploymentStatus, PromotionStatus};
use wfops_tenancy::{Actor, Role};

use crate::auth::{Auth, RequestMeta};
use crate::envelope::{Envelope, ErrorBody, Paginated};
use crate::error::{ApiError, Code};
use crate::extract::Body;
use crate::routes::common::{environment_not_found, text};
use crate::routes::query;
use crate::routes::record;
use crate::AppState;

/// Most workflows one promotion may select.
pub const MAX_WORKFLOWS: usize = 500;
/// Longest `Idempotency-Key` (characters).
pub const MAX_IDEMPOTENCY_KEY_CHARS: usize = 200;
/// Longest `notes` and rejection `reason` (characters).
pub const MAX_NOTE_CHARS: usize = 2000;
/// How far ahead a deployment may be scheduled.
pub const MAX_SCHEDULE_AHEAD_DAYS: i64 = 366;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePromotionRequest {
    /// The pipeline whose stage (source → target) gives the gates and the approval rule;
    /// without one the default gates apply and no approval is needed.
    pub pipeline_id: Option<Uuid>,
    pub source_environment_id: Uuid,
    pub target_environment_id: Uuid,
    /// Canonical workflow ids, 1 to 500, each once.
    #[schema(min_items = 1, max_items = 500)]
    pub workflow_ids: Vec<Uuid>,
    /// Deploy at this time (in the future, at most a year ahead) instead of at once.
    pub scheduled_for: Option<DateTime<Utc>>,
    /// Free text, 1 to 2000 characters.
    #[schema(
        min_length = 1,
        max_length = 2000,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub notes: Option<String>,
    /// Why drift in the target is overridden (target drift handling mode `manual_override`).
    #[schema(
        min_length = 1,
        max_length = 2000,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub drift_override_reason: Option<String>,
    /// That drift in the target was reviewed (target drift handling mode `require_attestation`).
    #[schema(
        min_length = 1,
        max_length = 2000,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub drift_attestation: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RejectPromotionRequest {
    /// Why, 1 to 2000 characters; stored with the promotion.
    #[schema(
        min_length = 1,
        max_length = 2000,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub reason: String,
}

/// A deployment as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DeploymentView {
    pub id: Uuid,
    pub promotion_id: Uuid,
    /// pending, scheduled, running, completed, failed or cancelled.
    pub status: String,
    pub scheduled_for: Option<DateTime<Utc>>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// When a cancel of the running deployment was asked for.
    pub cancel_requested_at: Option<DateTime<Utc>>,
    /// The job that runs it (none while it waits for an approval or its time).
    pub job_id: Option<Uuid>,
    #[schema(value_type = Option<Object>)]
    pub summary: Option<Value>,
    pub error_message: Option<String>,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<DeploymentRow> for DeploymentView {
    fn from(d: DeploymentRow) -> Self {
        Self {
            id: d.id,
            promotion_id: d.promotion_id,
            status: d.status.as_str().to_string(),
            scheduled_for: d.scheduled_for,
            started_at: d.started_at,
            finished_at: d.finished_at,
            cancel_requested_at: d.cancel_requested_at,
            job_id: d.job_id,
            summary: d.summary_json,
            error_message: d.error_message,
            created_by: d.created_by,
            created_at: d.created_at,
            updated_at: d.updated_at,
        }
    }
}

/// A promotion as the API shows it; the detail adds its deployments.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PromotionView {
    pub id: Uuid,
    pub pipeline_id: Option<Uuid>,
    pub stage_name: Option<String>,
    pub source_environment_id: Uuid,
    pub target_environment_id: Uuid,
    /// pending, pending_approval, approved, running, completed, completed_with_errors, failed
    /// or rolled_back.
    pub status: String,
    /// The selected canonical workflow ids.
    #[schema(value_type = Vec<Uuid>)]
    pub workflow_ids: Value,
    /// The pre-flight verdict it was created with: `{allowed, requires_approval, stage_name,
    /// gate_flags, gates}`.
    #[schema(value_type = Option<Object>)]
    pub gate_results: Option<Value>,
    /// What the execution did.
    #[schema(value_type = Option<Object>)]
    pub execution_result: Option<Value>,
    pub source_snapshot_id: Option<Uuid>,
    pub target_pre_snapshot_id: Option<Uuid>,
    pub target_post_snapshot_id: Option<Uuid>,
    pub notes: Option<String>,
    pub idempotency_key: Option<String>,
    /// `user:<id>` or `api_key:<id>`.
    pub created_by: Option<String>,
    /// Who approved or rejected it: `user:<id>` or `api_key:<id>`.
    pub decided_by: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
    pub rejection_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
    /// Its deployments, oldest first (in the detail and in answers to writes; absent in lists).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deployments: Option<Vec<DeploymentView>>,
}

impl PromotionView {
    fn new(p: PromotionRow, deployments: Option<Vec<DeploymentRow>>) -> Self {
        Self {
            id: p.id,
            pipeline_id: p.pipeline_id,
            stage_name: p.stage_name,
            source_environment_id: p.source_environment_id,
            target_environment_id: p.target_environment_id,
            status: p.status.as_str().to_string(),
            workflow_ids: p.workflow_selections,
            gate_results: p.gate_results,
            execution_result: p.execution_result,
            source_snapshot_id: p.source_snapshot_id,
            target_pre_snapshot_id: p.target_pre_snapshot_id,
            target_post_snapshot_id: p.target_post_snapshot_id,
            notes: p.notes,
            idempotency_key: p.idempotency_key,
            created_by: p.created_by_actor,
            decided_by: p.approved_by_actor,
            decided_at: p.approved_at,
            rejection_reason: p.rejection_reason,
            created_at: p.created_at,
            updated_at: p.updated_at,
            completed_at: p.completed_at,
            deployments: deployments.map(|d| d.into_iter().map(DeploymentView::from).collect()),
        }
    }
}

pub fn promotion_not_found(id: Uuid) -> ApiError {
    ApiError::new(Code::PromotionNotFound, format!("promotion {id} not found"))
}

/// The creator's user id (promotions.created_by names users only).
pub fn user_of(actor: &Actor) -> Option<Uuid> {
    match actor {
        Actor::User(id) => Some(*id),
        Actor::ApiKey(_) => None,
    }
}

/// The `Idempotency-Key` header: absent, or 1..=200 characters without control characters.
pub fn idempotency_key(req: &HttpRequest) -> Result<Option<String>, ApiError> {
    let Some(raw) = req.headers().get("idempotency-key") else {
        return Ok(None);
    };
    let bad = |why: &str| {
        ApiError::new(
            Code::InvalidIdempotencyKey,
            format!("the Idempotency-Key header {why}"),
        )
    };
    let value = raw
        .to_str()
        .map_err(|_| bad("must be visible ASCII text"))?;
    if value.is_empty() {
        return Err(bad("must not be empty"));
    }
    if value.chars().count() > MAX_IDEMPOTENCY_KEY_CHARS {
        return Err(bad(&format!(
            "must be at most {MAX_IDEMPOTENCY_KEY_CHARS} characters"
        )));
    }
    if value.chars().any(char::is_control) {
        return Err(bad("must not contain control characters"));
    }
    Ok(Some(value.to_string()))
}

/// The canonical hash of a creation request: SHA-256 of a fixed-order JSON rendering of the
/// parsed values, so that spelling differences (key order, whitespace, `Z` or `+00:00`) are the
/// same request and any difference in what is asked is another one.
pub fn request_hash(req: &CreatePromotionRequest) -> String {
    let canonical = json!([
        req.pipeline_id,
        req.source_environment_id,
        req.target_environment_id,
        req.workflow_ids,
        req.scheduled_for.map(|t| t.timestamp_micros()),
        req.notes,
        req.drift_override_reason,
        req.drift_attestation,
    ]);
    hex::encode(Sha256::digest(canonical.to_string().as_bytes()))
}

/// `workflow_ids`: 1..=500 ids, none twice.
fn check_selection(ids: &[Uuid]) -> Result<(), ApiError> {
    if ids.is_empty() {
        return Err(ApiError::field(
            "workflow_ids",
            "must name at least one workflow",
        ));
    }
    if ids.len() > MAX_WORKFLOWS {
        return Err(ApiError::field(
            "workflow_ids",
            format!(
                "must name at most {MAX_WORKFLOWS} workflows, got {}",
                ids.len()
            ),
        ));
    }
    let mut seen = std::collections::HashSet::new();
    if let Some(dup) = ids.iter().find(|id| !seen.insert(**id)) {
        return Err(ApiError::field(
            "workflow_ids",
            format!("names workflow {dup} more than once"),
        ));
    }
    Ok(())
}

/// `scheduled_for`: in the future and at most a year ahead.
pub fn check_schedule(at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Result<(), ApiError> {
    let Some(at) = at else { return Ok(()) };
    if at <= now {
        return Err(ApiError::field(
            "scheduled_for",
            "must be in the future (leave it out to deploy at once)",
        ));
    }
    if at > now + Duration::days(MAX_SCHEDULE_AHEAD_DAYS) {
        return Err(ApiError::field(
            "scheduled_for",
            format!("must be at most {MAX_SCHEDULE_AHEAD_DAYS} days ahead"),
        ));
    }
    Ok(())
}

/// 404 for an unknown environment, 409 `environment_archived` for a deleted one.
async fn live_environment(conn: &mut Conn, id: Uuid) -> Result<(), ApiError> {
    match wfops_db::environments::get(conn, id).await {
        Ok(_) => Ok(()),
        Err(wfops_db::Error::NotFound) => {
            if promotions::environment_archived(conn, id).await? {
                Err(environment_archived(id))
            } else {
                Err(environment_not_found(id))
            }
        }
        Err(e) => Err(e.into()),
    }
}

fn environment_archived(id: Uuid) -> ApiError {
    ApiError::Coded {
        code: Code::EnvironmentArchived,
        message: format!("environment {id} was deleted; nothing can be promoted from or into it"),
        details: Some(json!({ "environment_id": id })),
    }
}

pub use wfops_engine::jobs::enqueue_deployment;

/// How a creation ended, for the status code.
enum Created {
    New(PromotionRow, Vec<DeploymentRow>),
    Replayed(PromotionRow, Vec<DeploymentRow>),
}

#[utoipa::path(
    post, path = "/api/v1/promotions", tag = "promotions", security(("bearer" = [])),
    request_body = CreatePromotionRequest,
    params(
        ("Idempotency-Key" = Option<String>, Header, nullable = false, min_length = 1, max_length = 200, pattern = r"^[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?$", description = "A retry with the same key and body returns the same promotion")
    ),
    responses(
        (status = 200, description = "The promotion an earlier request with this Idempotency-Key created", body = Envelope<PromotionView>),
        (status = 201, description = "Promotion created with its deployment: queued, scheduled, or waiting for approval", body = Envelope<PromotionView>),
        (status = 400, description = "Malformed JSON or Idempotency-Key", body = ErrorBody),
        (status = 403, description = "Requires admin", body = ErrorBody),
        (status = 404, description = "Unknown environment, pipeline or canonical workflow", body = ErrorBody),
        (status = 409, description = "Idempotency-Key reused with another body, environment deleted, or pipeline inactive", body = ErrorBody),
        (status = 422, description = "Invalid field, no such pipeline stage, or blocked by a pre-flight gate", body = ErrorBody)
    )
)]
pub async fn create(
    state: web::Data<AppState>,
    auth: Auth,
    meta: RequestMeta,
    req: HttpRequest,
    body: Body<CreatePromotionRequest>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Role::Admin)?;
    let key = idempotency_key(&req)?;
    let body = body.0;
    check_selection(&body.workflow_ids)?;
    if body.source_environment_id == body.target_environment_id {
        return Err(ApiError::at(
            Code::SameSourceAndTarget,
            "target_environment_id",
            "the target environment must differ from the source environment",
        ));
    }
    let notes = body
        .notes
        .as_deref()
        .map(|n| text("notes", n, MAX_NOTE_CHARS))
        .transpose()?;
    for (field, value) in [
        ("drift_override_reason", &body.drift_override_reason),
        ("drift_attestation", &body.drift_attestation),
    ] {
        if let Some(v) = value {
            text(field, v, MAX_NOTE_CHARS)?;
        }
    }
    let hash = request_hash(&body);
    let tenant_id = auth.caller.tenant_id;
    let (auth_ref, meta_ref, body_ref) = (&auth, &meta, &body);
    let outcome = state
        .db
        .tenant_tx(tenant_id, |conn| {
            async move {
                if let Some(key) = key.as_deref() {
                    promotions::lock_idempotency_key(conn, tenant_id, key).await?;
                    if let Some(existing) = promotions::find_by_idempotency_key(conn, key).await? {
                        if existing.idempotency_request_hash.as_deref() != Some(hash.as_str()) {
                            return Err(ApiError::Coded {
                                code: Code::IdempotencyKeyReused,
                                message: "this Idempotency-Key was used for another promotion \
                                          request; use a new key for a different request"
                                    .into(),
                                details: Some(json!({ "promotion_id": existing.id })),
                            });
                        }
                        let deps = deployments::of_promotion(conn, existing.id).await?;
                        return Ok(Created::Replayed(existing, deps));
                    }
                }
                // a retry of an earlier request is answered above even when its time has passed
                check_schedule(body_ref.scheduled_for, Utc::now())?;
                live_environment(conn, body_ref.source_environment_id).await?;
                live_environment(conn, body_ref.target_environment_id).await?;
                let verdict = preflight(
                    conn,
                    tenant_id,
                    &PreflightRequest {
                        pipeline_id: body_ref.pipeline_id,
                        source_environment_id: body_ref.source_environment_id,
                        target_environment_id: body_ref.target_environment_id,
                        workflow_ids: body_ref.workflow_ids.clone(),
                        drift_override_reason: body_ref.drift_override_reason.clone(),
                        drift_attestation: body_ref.drift_attestation.clone(),
                    },
                )
                .await?;
                let gate_results = json!({
                    "allowed": verdict.allowed,
                    "requires_approval": verdict.requires_approval,
                    "stage_name": verdict.stage_name,
                    "gate_flags": verdict.gate_flags,
                    "gates": verdict.gates,
                });
                if !verdict.allowed {
                    return Err(ApiError::Coded {
                        code: Code::PromotionBlocked,
                        message: "a pre-flight gate blocks this promotion; see details.gates"
                            .into(),
                        details: Some(gate_results),
                    });
                }
                let status = if verdict.requires_approval {
                    PromotionStatus::PendingApproval
                } else {
                    PromotionStatus::Pending
                };
                let promotion = promotions::insert_promotion(
                    conn,
                    NewPromotion {
                        tenant_id,
                        pipeline_id: body_ref.pipeline_id,
                        stage_name: verdict.stage_name.clone(),
                        source_environment_id: body_ref.source_environment_id,
                        target_environment_id: body_ref.target_environment_id,
                        status: PromotionStatusText(status),
                        workflow_selections: json!(body_ref.workflow_ids),
                        gate_results: Some(gate_results),
                        idempotency_key: key.clone(),
                        idempotency_request_hash: key.as_ref().map(|_| hash.clone()),
                        created_by: user_of(&auth_ref.caller.actor),
                        created_by_actor: Some(auth_ref.caller.actor.to_string()),
                        notes: notes.clone(),
                    },
                )
                .await?;
                let mut deployment = deployments::insert(
                    conn,
                    tenant_id,
                    promotion.id,
                    body_ref.scheduled_for,
                    user_of(&auth_ref.caller.actor),
                    None,
                )
                .await?;
                if !verdict.requires_approval && deployment.status == DeploymentStatus::Pending {
                    deployment = enqueue_deployment(
                        conn,
                        tenant_id,
                        &deployment,
                        promotion.target_environment_id,
                    )
                    .await?;
                }
                record(
                    conn,
                    auth_ref,
                    meta_ref,
                    "promotion.create",
                    "promotion",
                    promotion.id,
                    json!({
                        "source_environment_id": promotion.source_environment_id,
                        "target_environment_id": promotion.target_environment_id,
                        "pipeline_id": promotion.pipeline_id,
                        "workflows": body_ref.workflow_ids.len(),
                        "status": promotion.status.as_str(),
                        "deployment_id": deployment.id,
                        "deployment_status": deployment.status.as_str(),
                        "job_id": deployment.job_id,
                    }),
                )
                .await?;
                Ok::<_, ApiError>(Created::New(promotion, vec![deployment]))
            }
            .scope_boxed()
        })
        .await?;
    Ok(match outcome {
        Created::New(p, d) => {
            let message = match (p.status, d.first().map(|d| d.status)) {
                (PromotionStatus::PendingApproval, _) => {
                    "promotion created; it waits for another admin's approval"
                }
                (_, Some(DeploymentStatus::Scheduled)) => "promotion created; deployment scheduled",
                _ => "promotion created; deployment queued",
            };
            HttpResponse::Created().json(Envelope::with_message(
                PromotionView::new(p, Some(d)),
                message,
            ))
        }
        Created::Replayed(p, d) => HttpResponse::Ok().json(Envelope::with_message(
            PromotionView::new(p, Some(d)),
            "an earlier request with this Idempotency-Key created this promotion",
        )),
    })
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PromotionsQuery {
    #[param(value_type = Option<PromotionStatusParam>)]
    pub status: Option<String>,
    #[param(value_type = Option<Uuid>)]
    pub source_environment_id: Option<String>,
    #[param(value_type = Option<Uuid>)]
    pub target_environment_id: Option<String>,
    #[param(value_type = Option<Uuid>)]
    pub pipeline_id: Option<String>,
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1_000_000)]
    pub page: Option<String>,
    #[param(value_type = Option<u32>, minimum = 1, maximum = 200)]
    pub page_size: Option<String>,
}

/// The values of the promotion `status` filter, for the document.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum PromotionStatusParam {
    Pending,
    PendingApproval,
    Approved,
    Running,
    Completed,
    CompletedWithErrors,
    Failed,
    RolledBack,
}

fn promotion_status(raw: Option<&str>) -> Result<Option<PromotionStatus>, ApiError> {
    match raw {
        None => Ok(None),
        Some(v) => PromotionStatus::ALL
            .into_iter()
            .find(|s| s.as_str() == v)
            .map(Some)
            .ok_or_else(|| {
                ApiError::InvalidQueryParameter(format!(
                    "`status` must be one of {}, got `{}`",
                    PromotionStatus::ALL.map(PromotionStatus::as_str).join(", "),
                    v.chars().take(64).collect::<String>()
                ))
            }),
    }
}

#[utoipa::path(
    get, path = "/api/v1/promotions", tag = "promotions", security(("bearer" = [])),
    params(PromotionsQuery),
    responses(
        (status = 200, description = "A page of promotions, newest first", body = Paginated<PromotionView>),
        (status = 400, description = "A bad filter or pagination value", body = ErrorBody)
    )
)]
pub async fn list(
    state: web::Data<AppState>,
    auth: Auth,
    q: web::Query<PromotionsQuery>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Role::Viewer)?;
    let page = query::page(&q.page, &q.page_size)?;
    let filter = PromotionFilter {
        status: promotion_status(q.status.as_deref())?,
        source_environment_id: query::uuid_param(
            "source_environment_id",
            q.source_environment_id.as_deref(),
        )?,
        target_environment_id: query::uuid_param(
            "target_environment_id",
            q.target_environment_id.as_deref(),
        )?,
        pipeline_id: query::uuid_param("pipeline_id", q.pipeline_id.as_deref())?,
    };
    let filter_ref = &filter;
    let (rows, total) = state
        .db
        .tenant_tx(auth.caller.tenant_id, |conn| {
            async move {
                promotions::list_promotions(conn, filter_ref, page.offset(), page.limit()).await
            }
            .scope_boxed()
        })
        .await
        .map_err(ApiError::from)?;
    let data = rows
        .into_iter()
        .map(|p| PromotionView::new(p, None))
        .collect();
    Ok(HttpResponse::Ok().json(Paginated::new(data, page, total)))
}

#[utoipa::path(
    get, path = "/api/v1/promotions/{id}", tag = "promotions", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Promotion id")),
    responses(
        (status = 200, description = "The promotion with its deployments, gate results and execution result", body = Envelope<PromotionView>),
        (status = 400, description = "`id` is not a UUID", body = ErrorBody),
        (status = 404, description = "No such promotion in this tenant", body = ErrorBody)
    )
)]
pub async fn get(
    state: web::Data<AppState>,
    auth: Auth,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Role::Viewer)?;
    let id = path.into_inner();
    let (p, d) = state
        .db
        .tenant_tx(auth.caller.tenant_id, |conn| {
            async move {
                let p = match promotions::get_promotion(conn, id).await {
                    Ok(p) => p,
                    Err(wfops_db::Error::NotFound) => return Err(promotion_not_found(id)),
                    Err(e) => return Err(e.into()),
                };
                let d = deployments::of_promotion(conn, id).await?;
                Ok::<_, ApiError>((p, d))
            }
            .scope_boxed()
        })
        .await?;
    Ok(HttpResponse::Ok().json(Envelope::new(PromotionView::new(p, Some(d)))))
}

/// The checks every approval decision makes on the locked promotion: it waits for approval and
/// the caller is not who asked for it.
fn check_decider(p: &PromotionRow, auth: &Auth) -> Result<(), ApiError> {
    if p.status != PromotionStatus::PendingApproval {
        return Err(ApiError::Coded {
            code: Code::PromotionNotPendingApproval,
            message: format!(
                "promotion {} is {}; only a promotion waiting for approval can be approved or rejected",
                p.id,
                p.status.as_str()
            ),
            details: Some(json!({ "status": p.status.as_str() })),
        });
    }
    if is_requester(
        p.created_by_actor.as_deref(),
        p.created_by,
        &auth.caller.actor,
    ) {
        return Err(ApiError::new(
            Code::SelfApprovalForbidden,
            "the admin who created a promotion can not decide on it; another admin must",
        ));
    }
    Ok(())
}

/// Whether `actor` is who made a request recorded as `requested_by` (`user:<id>` or
/// `api_key:<id>`) and, for users, `requested_user`.
pub fn is_requester(
    requested_by: Option<&str>,
    requested_user: Option<Uuid>,
    actor: &Actor,
) -> bool {
    requested_by == Some(actor.to_string().as_str())
        || (requested_user.is_some() && requested_user == user_of(actor))
}

async fn decide(
    state: &AppState,
    auth: &Auth,
    meta: &RequestMeta,
    id: Uuid,
    reason: Option<String>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Role::Admin)?;
    let tenant_id = auth.caller.tenant_id;
    let approve = reason.is_none();
    let (p, d) = state
        .db
        .tenant_tx(tenant_id, |conn| {
            async move {
                let p = match promotions::get_promotion_for_update(conn, id).await {
                    Ok(p) => p,
                    Err(wfops_db::Error::NotFound) => return Err(promotion_not_found(id)),
                    Err(e) => return Err(e.into()),
                };
                check_decider(&p, auth)?;
                let next = if approve {
                    PromotionStatus::Approved
                } else {
                    PromotionStatus::Failed
                };
                p.status
                    .transition(next)
                    .map_err(|e| ApiError::new(Code::PromotionNotPendingApproval, e.to_string()))?;
                let actor = auth.caller.actor.to_string();
                let decided = promotions::decide_approval(
                    conn,
                    id,
                    approve,
                    user_of(&auth.caller.actor),
                    &actor,
                    reason.as_deref(),
                )
                .await?
                .ok_or_else(|| {
                    ApiError::new(
                        Code::ConcurrentChange,
                        "the promotion changed meanwhile; retry",
                    )
                })?;
                let mut touched = None;
                if let Some(live) = deployments::live_of_promotion(conn, id).await? {
                    touched = Some(
                        after_decision(conn, tenant_id, &decided, live, approve, Utc::now())
                            .await?,
                    );
                }
                record(
                    conn,
                    auth,
                    meta,
                    if approve {
                        "promotion.approve"
                    } else {
                        "promotion.reject"
                    },
                    "promotion",
                    id,
                    json!({
                        "status": decided.status.as_str(),
                        "reason": reason,
                        "deployment_id": touched.as_ref().map(|d: &DeploymentRow| d.id),
                        "deployment_status": touched.as_ref().map(|d| d.status.as_str()),
                        "job_id": touched.as_ref().and_then(|d| d.job_id),
                    }),
                )
                .await?;
                let d = deployments::of_promotion(conn, id).await?;
                Ok::<_, ApiError>((decided, d))
            }
            .scope_boxed()
        })
        .await?;
    let message = if approve {
        "promotion approved"
    } else {
        "promotion rejected; its deployment is cancelled"
    };
    Ok(HttpResponse::Ok().json(Envelope::with_message(
        PromotionView::new(p, Some(d)),
        message,
    )))
}

/// What an approval decision does to the promotion's waiting deployment: an approval queues a
/// pending one (or a scheduled one whose time has passed) and leaves a future one to the
/// scheduler; a rejection cancels it.
async fn after_decision(
    conn: &mut Conn,
    tenant_id: Uuid,
    promotion: &PromotionRow,
    live: DeploymentRow,
    approved: bool,
    now: DateTime<Utc>,
) -> Result<DeploymentRow, ApiError> {
    let changed = |d: Option<DeploymentRow>| {
        d.ok_or_else(|| {
            ApiError::new(
                Code::ConcurrentChange,
                "the deployment changed meanwhile; retry",
            )
        })
    };
    if !approved {
        if live.status == DeploymentStatus::Running {
            return Ok(live);
        }
        live.status
            .transition(DeploymentStatus::Cancelled)
            .map_err(|e| ApiError::internal(e.to_string()))?;
        let cancelled = changed(
            deployments::transition(
                conn,
                live.id,
                live.status,
                DeploymentStatus::Cancelled,
                Some("the promotion's approval was refused"),
            )
            .await?,
        )?;
        if let Some(job) = cancelled.job_id {
            wfops_db::jobs::cancel(conn, job).await?;
        }
        return Ok(cancelled);
    }
    match live.status {
        DeploymentStatus::Pending if live.job_id.is_none() => {
            Ok(enqueue_deployment(conn, tenant_id, &live, promotion.target_environment_id).await?)
        }
        DeploymentStatus::Scheduled if live.scheduled_for.is_some_and(|at| at <= now) => {
            let pending = changed(
                deployments::transition(
                    conn,
                    live.id,
                    DeploymentStatus::Scheduled,
                    DeploymentStatus::Pending,
                    None,
                )
                .await?,
            )?;
            Ok(
                enqueue_deployment(conn, tenant_id, &pending, promotion.target_environment_id)
                    .await?,
            )
        }
        _ => Ok(live),
    }
}

#[utoipa::path(
    post, path = "/api/v1/promotions/{id}/approve", tag = "promotions", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Promotion id")),
    responses(
        (status = 200, description = "Approved; its deployment is queued (or stays scheduled)", body = Envelope<PromotionView>),
        (status = 400, description = "`id` is not a UUID", body = ErrorBody),
        (status = 403, description = "Requires admin, and an admin other than the creator", body = ErrorBody),
        (status = 404, description = "No such promotion in this tenant", body = ErrorBody),
        (status = 409, description = "The promotion is not waiting for approval", body = ErrorBody)
    )
)]
pub async fn approve(
    state: web::Data<AppState>,
    auth: Auth,
    meta: RequestMeta,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    decide(&state, &auth, &meta, path.into_inner(), None).await
}

#[utoipa::path(
    post, path = "/api/v1/promotions/{id}/reject", tag = "promotions", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Promotion id")),
    request_body = RejectPromotionRequest,
    responses(
        (status = 200, description = "Rejected: the promotion is failed with the reason, its deployment cancelled", body = Envelope<PromotionView>),
        (status = 403, description = "Requires admin, and an admin other than the creator", body = ErrorBody),
        (status = 404, description = "No such promotion in this tenant", body = ErrorBody),
        (status = 409, description = "The promotion is not waiting for approval", body = ErrorBody)
    )
)]
pub async fn reject(
    state: web::Data<AppState>,
    auth: Auth,
    meta: RequestMeta,
    path: web::Path<Uuid>,
    body: Body<RejectPromotionRequest>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Role::Admin)?;
    let reason = text("reason", &body.0.reason, MAX_NOTE_CHARS)?;
    decide(&state, &auth, &meta, path.into_inner(), Some(reason)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(ids: Vec<Uuid>) -> CreatePromotionRequest {
        CreatePromotionRequest {
            pipeline_id: None,
            source_environment_id: Uuid::nil(),
            target_environment_id: Uuid::max(),
            workflow_ids: ids,
            scheduled_for: None,
            notes: None,
            drift_override_reason: None,
            drift_attestation: None,
        }
    }

    #[test]
    fn the_request_hash_follows_what_is_asked_not_its_spelling() {
        let id = Uuid::new_v4();
        let a: CreatePromotionRequest = serde_json::from_value(json!({
            "source_environment_id": Uuid::nil(), "target_environment_id": Uuid::max(),
            "workflow_ids": [id], "scheduled_for": "2030-01-01T00:00:00Z"
        }))
        .unwrap();
        let b: CreatePromotionRequest = serde_json::from_value(json!({
            "scheduled_for": "2030-01-01T01:00:00+01:00", "workflow_ids": [id],
            "target_environment_id": Uuid::max(), "source_environment_id": Uuid::nil()
        }))
        .unwrap();
        assert_eq!(request_hash(&a), request_hash(&b));
        assert_eq!(request_hash(&a).len(), 64);
        let mut c = request(vec![id]);
        c.scheduled_for = a.scheduled_for;
        assert_eq!(request_hash(&a), request_hash(&c));
        c.notes = Some("x".into());
        assert_ne!(request_hash(&a), request_hash(&c));
    }

    #[test]
    fn selections_and_schedules() {
        assert!(check_selection(&[]).is_err());
        let id = Uuid::new_v4();
        let e = check_selection(&[id, id]).unwrap_err();
        assert_eq!(e.code(), Code::InvalidWorkflowSelection);
        let many: Vec<Uuid> = (0..501).map(|_| Uuid::new_v4()).collect();
        assert!(check_selection(&many).is_err());
        assert!(check_selection(&many[..500]).is_ok());
        let now = Utc::now();
        assert!(check_schedule(None, now).is_ok());
        assert_eq!(
            check_schedule(Some(now), now).unwrap_err().code(),
            Code::InvalidScheduledFor
        );
        assert!(check_schedule(Some(now + Duration::minutes(1)), now).is_ok());
        assert!(check_schedule(Some(now + Duration::days(400)), now).is_err());
    }

    #[test]
    fn requesters_are_recognised_by_actor_and_user() {
        let user = Uuid::new_v4();
        let me = Actor::User(user);
        assert!(is_requester(Some(&me.to_string()), Some(user), &me));
        assert!(is_requester(None, Some(user), &me));
        assert!(!is_requester(
            Some(&Actor::User(Uuid::new_v4()).to_string()),
            None,
            &me
        ));
        let key = Actor::ApiKey(user);
        // an API key id equal to a user id by chance is not that user
        assert!(!is_requester(None, Some(user), &key));
        assert!(is_requester(Some(&key.to_string()), None, &key));
    }
}
