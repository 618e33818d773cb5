//! The pre-flight of a promotion (docs/promotion.md#pre-flight): every gate's verdict for a
//! selection (`POST /promotions/validate`), the per-workflow diff and risk against the target
//! (`POST /promotions/compare`), and whether drift blocks promotions into an environment now
//! (`GET /promotions/drift-check/{env_id}`). All three only read.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;
use wfops_db::ScopedFutureExt;
use wfops_engine::preflight::{self, Preflight, PreflightRequest, WorkflowComparison};
use wfops_promotion::gates::{DriftAck, DriftVerdict, GateResult};
use wfops_promotion::Gates;
use wfops_tenancy::Role;

use crate::auth::Auth;
use crate::envelope::{Envelope, ErrorBody};
use crate::error::{ApiError, Code};
use crate::extract::Body;
use crate::routes::common::text;
use crate::routes::query::DiffStatusParam;
use crate::AppState;

/// Most workflows one promotion may select.
pub const MAX_SELECTION: usize = 500;
/// Longest drift override reason or attestation (characters).
const MAX_DRIFT_TEXT: usize = 2000;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ValidateRequest {
    /// The pipeline whose stage (source → target) gives the gates; absent: the default gates.
    pub pipeline_id: Option<Uuid>,
    pub source_environment_id: Uuid,
    pub target_environment_id: Uuid,
    /// Canonical workflow ids, 1 to 500, each linked in the source.
    #[schema(min_items = 1, max_items = 500)]
    pub workflow_ids: Vec<Uuid>,
    /// Why drift in the target is overridden (target mode `manual_override`).
    #[schema(
        min_length = 1,
        max_length = 2000,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub drift_override_reason: Option<String>,
    /// That drift in the target was reviewed (target mode `require_attestation`).
    #[schema(
        min_length = 1,
        max_length = 2000,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub drift_attestation: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompareRequest {
    pub source_environment_id: Uuid,
    pub target_environment_id: Uuid,
    /// Canonical workflow ids, 1 to 500, each linked in the source.
    #[schema(min_items = 1, max_items = 500)]
    pub workflow_ids: Vec<Uuid>,
}

/// The gates, in their reported order.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum GateName {
    RequireCleanDrift,
    TargetHotfix,
    Conflicts,
    Credentials,
    Placeholders,
    SubworkflowReferences,
}

#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum RiskLevelParam {
    Low,
    Medium,
    High,
    Critical,
}

#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum DriftModeParam {
    WarnOnly,
    ManualOverride,
    RequireAttestation,
}

#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum DriftReliefParam {
    OverrideReason,
    Attestation,
}

/// A workflow that trips a gate.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct GateWorkflowView {
    canonical_id: Uuid,
    name: String,
    details: Vec<String>,
}

/// One gate's verdict: `passed` (nothing trips it), `blocking` (it stops the promotion). A
/// tripped gate that its flag allows is a warning (`passed: false, blocking: false`).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct GateResultView {
    #[schema(value_type = GateName)]
    gate: String,
    /// The stage flag that governs it; `null` for gates that always block.
    flag: Option<String>,
    passed: bool,
    blocking: bool,
    message: String,
    workflows: Vec<GateWorkflowView>,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct GateFlagsView {
    #[schema(rename = "requireCleanDrift")]
    require_clean_drift: bool,
    #[schema(rename = "allowOverwritingHotfixes")]
    allow_overwriting_hotfixes: bool,
    #[schema(rename = "allowForcePromotionOnConflicts")]
    allow_force_promotion_on_conflicts: bool,
    #[schema(rename = "allowPlaceholderCredentials")]
    allow_placeholder_credentials: bool,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct IncidentView {
    id: Uuid,
    status: String,
    severity: String,
    title: String,
    detected_at: DateTime<Utc>,
    expires_at: Option<DateTime<Utc>>,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct DriftPolicyView {
    block_on_active_drift: bool,
    enforce_ttl: bool,
}

/// The drift gate's reasoning.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct DriftVerdictView {
    /// An open incident, or drift detected in the environment.
    drift_present: bool,
    blocked: bool,
    /// Blocked unless the relief named in `relief` is given.
    blocked_without_relief: bool,
    /// What would lift the block; `null`: only resolving the drift.
    #[schema(value_type = Option<DriftReliefParam>)]
    relief: Option<String>,
    relief_applied: bool,
    #[schema(value_type = DriftModeParam)]
    mode: String,
    policy: DriftPolicyView,
    require_clean_drift: bool,
    expired_incident_ids: Vec<Uuid>,
    incidents: Vec<IncidentView>,
    reasons: Vec<String>,
}

/// Every gate's verdict for a selection.
#[derive(Serialize, ToSchema)]
pub struct PreflightView {
    /// No gate blocks.
    pub allowed: bool,
    /// The stage asks for an admin's approval.
    pub requires_approval: bool,
    pub stage_name: Option<String>,
    #[schema(value_type = GateFlagsView)]
    pub gate_flags: Gates,
    #[schema(value_type = Vec<GateResultView>)]
    pub gates: Vec<GateResult>,
    #[schema(value_type = DriftVerdictView)]
    pub drift: DriftVerdict,
}

impl From<Preflight> for PreflightView {
    fn from(p: Preflight) -> Self {
        Self {
            allowed: p.allowed,
            requires_approval: p.requires_approval,
            stage_name: p.stage_name,
            gate_flags: p.gate_flags,
            gates: p.gates,
            drift: p.drift,
        }
    }
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct RiskReasonView {
    #[schema(value_type = RiskLevelParam)]
    level: String,
    reason: String,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct RiskView {
    #[schema(value_type = RiskLevelParam)]
    level: String,
    reasons: Vec<RiskReasonView>,
}

/// One selected workflow against the target.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ComparisonView {
    canonical_id: Uuid,
    name: String,
    /// `null` when reconciliation has not computed the pair yet.
    #[schema(value_type = Option<DiffStatusParam>)]
    diff_status: Option<String>,
    in_target: bool,
    /// The node-by-node diff from the target's version to the source's (as
    /// `GET /workflows/{id}/diff` shows it); `null` when the target does not hold it.
    #[schema(value_type = Option<Object>)]
    diff: Option<Value>,
    /// Why there is no diff although the target holds the workflow.
    diff_error: Option<String>,
    risk: RiskView,
}

#[derive(Serialize, ToSchema)]
pub struct CompareView {
    /// The highest risk of the selection.
    #[schema(value_type = RiskLevelParam)]
    pub risk: wfops_promotion::RiskLevel,
    #[schema(value_type = Vec<ComparisonView>)]
    pub workflows: Vec<WorkflowComparison>,
}

fn selection(ids: &[Uuid]) -> Result<(), ApiError> {
    if ids.is_empty() || ids.len() > MAX_SELECTION {
        return Err(ApiError::Coded {
            code: Code::InvalidWorkflowSelection,
            message: format!(
                "workflow_ids must hold 1 to {MAX_SELECTION} canonical workflow ids, got {}",
                ids.len()
            ),
            details: Some(serde_json::json!({ "field": "workflow_ids", "count": ids.len() })),
        });
    }
    Ok(())
}

fn drift_text(field: &str, raw: Option<String>) -> Result<Option<String>, ApiError> {
    raw.map(|t| text(field, &t, MAX_DRIFT_TEXT)).transpose()
}

#[utoipa::path(
    post, path = "/api/v1/promotions/validate", tag = "promotions", security(("bearer" = [])),
    request_body = ValidateRequest,
    responses(
        (status = 200, description = "Every gate's verdict, `allowed` and `requires_approval`", body = Envelope<PreflightView>),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Requires developer", body = ErrorBody),
        (status = 404, description = "An environment, the pipeline or selected workflows are not this tenant's or not in the source", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
        (status = 422, description = "Invalid selection, same source and target, inactive pipeline or no stage for the direction", body = ErrorBody)
    )
)]
pub async fn validate(
    state: web::Data<AppState>,
    auth: Auth,
    body: Body<ValidateRequest>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Role::Developer)?;
    let req = body.0;
    selection(&req.workflow_ids)?;
    let request = PreflightRequest {
        pipeline_id: req.pipeline_id,
        source_environment_id: req.source_environment_id,
        target_environment_id: req.target_environment_id,
        workflow_ids: req.workflow_ids,
        drift_override_reason: drift_text("drift_override_reason", req.drift_override_reason)?,
        drift_attestation: drift_text("drift_attestation", req.drift_attestation)?,
    };
    let tenant_id = auth.caller.tenant_id;
    let request_ref = &request;
    let result = state
        .db
        .tenant_tx(tenant_id, |conn| {
            async move { preflight::preflight(conn, tenant_id, request_ref).await }.scope_boxed()
        })
        .await
        .map_err(ApiError::from)?;
    Ok(HttpResponse::Ok().json(Envelope::new(PreflightView::from(result))))
}

#[utoipa::path(
    post, path = "/api/v1/promotions/compare", tag = "promotions", security(("bearer" = [])),
    request_body = CompareRequest,
    responses(
        (status = 200, description = "Per workflow: diff status, node-by-node diff and risk", body = Envelope<CompareView>),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 404, description = "An environment or selected workflows are not this tenant's or not in the source", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
        (status = 422, description = "Invalid selection, or same source and target", body = ErrorBody)
    )
)]
pub async fn compare(
    state: web::Data<AppState>,
    auth: Auth,
    body: Body<CompareRequest>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Role::Viewer)?;
    let req = body.0;
    selection(&req.workflow_ids)?;
    let req_ref = &req;
    let workflows = state
        .db
        .tenant_tx(auth.caller.tenant_id, |conn| {
            async move {
                preflight::compare(
                    conn,
                    req_ref.source_environment_id,
                    req_ref.target_environment_id,
                    &req_ref.workflow_ids,
                )
                .await
            }
            .scope_boxed()
        })
        .await
        .map_err(ApiError::from)?;
    let risk = workflows
        .iter()
        .map(|w| w.risk.level)
        .max()
        .unwrap_or(wfops_promotion::RiskLevel::Low);
    Ok(HttpResponse::Ok().json(Envelope::new(CompareView { risk, workflows })))
}

#[utoipa::path(
    get, path = "/api/v1/promotions/drift-check/{env_id}", tag = "promotions", security(("bearer" = [])),
    params(("env_id" = Uuid, Path, description = "Target environment id")),
    responses(
        (status = 200, description = "Whether drift blocks promotions into the environment now (default gates, no override), and why", body = Envelope<DriftVerdictView>),
        (status = 400, description = "`env_id` is not a UUID", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 404, description = "No such environment in this tenant", body = ErrorBody)
    )
)]
pub async fn drift_check(
    state: web::Data<AppState>,
    auth: Auth,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Role::Viewer)?;
    let id = path.into_inner();
    let verdict = state
        .db
        .tenant_tx(auth.caller.tenant_id, |conn| {
            async move {
                preflight::drift_check(conn, id, &Gates::default(), &DriftAck::default()).await
            }
            .scope_boxed()
        })
        .await
        .map_err(ApiError::from)?;
    Ok(HttpResponse::Ok().json(Envelope::new(verdict)))
}
