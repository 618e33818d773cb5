//! Drift: on-demand checks, the check history, incidents and their lifecycle, and the drift
//! policies (docs/drift.md).
//!
//! A check is a `drift_check` job (`202` with the job). Lifecycle steps run in one
//! transaction with their audit row and bring the environment's drift status in line.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use wfops_db::drift::{self as drift_db, CheckRow, Incident, IncidentFilter, PolicyWrite};
use wfops_db::ScopedFutureExt;
use wfops_drift::{Severity, SeverityTtls};
use wfops_engine::drift::incidents::{self, Action, EffectivePolicy, LifecycleError};
use wfops_engine::drift::CheckTrigger;
use wfops_engine::drift::Resolution;
use wfops_engine::jobs::{self as engine_jobs, DriftCheck, DriftReconcile};
use wfops_tenancy::Role;

use crate::auth::{Auth, RequestMeta};
use crate::envelope::{Envelope, ErrorBody, Paginated};
use crate::error::{ApiError, Code};
use crate::extract::Body;
use crate::routes::common::{ensure_environment, text};
use crate::routes::jobs::{accepted, JobView};
use crate::routes::query;
use crate::routes::record;
use crate::AppState;

// ---------------------------------------------------------------------------------------------
// Views
// ---------------------------------------------------------------------------------------------

/// A drift incident as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct IncidentView {
    pub id: Uuid,
    pub environment_id: Uuid,
    /// detected, acknowledged, stabilized, reconciled, closed, expired or cancelled.
    pub status: String,
    /// Open incidents demand action; closed, expired and cancelled ones are history.
    pub is_open: bool,
    /// none, escalated (25% of the TTL passed) or critical_overdue (75%).
    pub escalation_level: String,
    pub severity: String,
    pub title: String,
    #[schema(value_type = Option<Object>)]
    pub summary: Option<Value>,
    pub detected_at: DateTime<Utc>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub stabilized_at: Option<DateTime<Utc>>,
    pub reconciled_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    pub acknowledged_by: Option<Uuid>,
    pub stabilized_by: Option<Uuid>,
    pub reconciled_by: Option<Uuid>,
    pub closed_by: Option<Uuid>,
    pub owner_user_id: Option<Uuid>,
    pub reason: Option<String>,
    pub ticket_ref: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
    /// Open and past its expiry.
    pub is_expired: bool,
    #[schema(value_type = Vec<Object>)]
    pub affected_workflows: Value,
    /// What the check that opened it saw; never changes, only purged after retention.
    #[schema(value_type = Option<Object>)]
    pub drift_snapshot: Option<Value>,
    pub resolution_type: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub resolution_details: Option<Value>,
    pub payload_purged_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl IncidentView {
    fn new(i: Incident, now: DateTime<Utc>) -> Self {
        Self {
            id: i.id,
            environment_id: i.environment_id,
            status: i.status.as_str().into(),
            is_open: i.status.is_open(),
            escalation_level: i.escalation_level.as_str().into(),
            severity: i.severity.as_str().into(),
            title: i.title,
            summary: i.summary,
            detected_at: i.detected_at,
            acknowledged_at: i.acknowledged_at,
            stabilized_at: i.stabilized_at,
            reconciled_at: i.reconciled_at,
            closed_at: i.closed_at,
            acknowledged_by: i.acknowledged_by,
            stabilized_by: i.stabilized_by,
            reconciled_by: i.reconciled_by,
            closed_by: i.closed_by,
            owner_user_id: i.owner_user_id,
            reason: i.reason,
            ticket_ref: i.ticket_ref,
            is_expired: i.status.is_open() && i.expires_at.is_some_and(|e| e <= now),
            expires_at: i.expires_at,
            affected_workflows: i.affected_workflows,
            drift_snapshot: i.drift_snapshot,
            resolution_type: i.resolution_type,
            resolution_details: i.resolution_details,
            payload_purged_at: i.payload_purged_at,
            created_at: i.created_at,
            updated_at: i.updated_at,
        }
    }
}

/// One recorded drift check.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CheckView {
    pub id: Uuid,
    pub environment_id: Uuid,
    /// scheduled, manual, webhook or reconciliation.
    pub check_type: String,
    /// The environment's drift status after the check.
    pub status: String,
    pub drift_found: bool,
    pub workflows_checked: i32,
    pub workflows_with_drift: i32,
    pub workflows_not_in_git: i32,
    pub workflows_missing_in_runtime: i32,
    pub workflows_untracked: i32,
    /// Some workflows or files could not be read; the counts cover the rest.
    pub partial: bool,
    pub check_duration_ms: i64,
    pub error_message: Option<String>,
    pub incident_id: Option<Uuid>,
    #[schema(value_type = Option<Object>)]
    pub details: Option<Value>,
    pub checked_at: DateTime<Utc>,
}

impl From<CheckRow> for CheckView {
    fn from(c: CheckRow) -> Self {
        Self {
            id: c.id,
            environment_id: c.environment_id,
            check_type: c.check_type,
            status: c.status.as_str().into(),
            drift_found: c.drift_found,
            workflows_checked: c.workflows_checked,
            workflows_with_drift: c.workflows_with_drift,
            workflows_not_in_git: c.workflows_not_in_git,
            workflows_missing_in_runtime: c.workflows_missing_in_runtime,
            workflows_untracked: c.workflows_untracked,
            partial: c.partial,
            check_duration_ms: c.check_duration_ms,
            error_message: c.error_message,
            incident_id: c.incident_id,
            details: c.details,
            checked_at: c.checked_at,
        }
    }
}

fn incident_not_found(id: Uuid) -> ApiError {
    ApiError::new(
        Code::IncidentNotFound,
        format!("drift incident {id} not found"),
    )
}

impl From<LifecycleError> for ApiError {
    fn from(e: LifecycleError) -> Self {
        match e {
            LifecycleError::NotFound(id) => incident_not_found(id),
            LifecycleError::Transition(t @ wfops_drift::TransitionError::Final(_)) => {
                ApiError::new(Code::IncidentFinal, t.to_string())
            }
            LifecycleError::Transition(t) => {
                ApiError::new(Code::IncidentTransitionNotAllowed, t.to_string())
            }
            LifecycleError::Engine(e) => e.into(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Checks
// ---------------------------------------------------------------------------------------------

/// A drift check request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckDriftRequest {
    pub environment_id: Uuid,
}

/// Queues a drift check of one environment (any class; the scheduler skips dev ones).
#[utoipa::path(
    post, path = "/api/v1/incidents/check-drift", tag = "drift", security(("bearer" = [])),
    request_body = CheckDriftRequest,
    responses(
        (status = 202, description = "The drift_check job (the pending one if a check is already queued)", body = Envelope<JobView>),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Requires developer", body = ErrorBody),
        (status = 404, description = "No such environment in this tenant", body = ErrorBody),
        (status = 422, description = "The body does not have the expected shape", body = ErrorBody)
    )
)]
pub async fn check_drift(
    state: web::Data<AppState>,
    auth: Auth,
    meta: RequestMeta,
    body: Body<CheckDriftRequest>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Role::Developer)?;
    let environment_id = body.0.environment_id;
    let tenant_id = auth.caller.tenant_id;
    let (auth_ref, meta_ref) = (&auth, &meta);
    let enqueued = state
        .db
        .tenant_tx(tenant_id, |conn| {
            async move {
                ensure_environment(conn, environment_id).await?;
                let job = DriftCheck {
                    environment_id,
                    check_type: CheckTrigger::Manual,
                };
                let enqueued = engine_jobs::enqueue(conn, tenant_id, &job).await?;
                record(
                    conn,
                    auth_ref,
                    meta_ref,
                    "environment.drift_check_requested",
                    "environment",
                    environment_id,
                    json!({ "job_id": enqueued.job.id, "new_job": enqueued.created }),
                )
                .await?;
                Ok::<_, ApiError>(enqueued)
            }
            .scope_boxed()
        })
        .await?;
    Ok(accepted(enqueued.job, !enqueued.created))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ChecksQuery {
    #[param(value_type = Option<Uuid>)]
    pub environment_id: Option<String>,
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1_000_000)]
    pub page: Option<String>,
    #[param(value_type = Option<u32>, minimum = 1, maximum = 200)]
    pub page_size: Option<String>,
}

/// The drift check history, newest first.
#[utoipa::path(
    get, path = "/api/v1/incidents/checks", tag = "drift", security(("bearer" = [])),
    params(ChecksQuery),
    responses(
        (status = 200, description = "A page of checks", body = Paginated<CheckView>),
        (status = 400, description = "A bad filter or pagination value", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody)
    )
)]
pub async fn checks(
    state: web::Data<AppState>,
    auth: Auth,
    q: web::Query<ChecksQuery>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Role::Viewer)?;
    let page = query::page(&q.page, &q.page_size)?;
    let env = query::uuid_param("environment_id", q.environment_id.as_deref())?;
    let (rows, total) = state
        .db
        .tenant_tx(auth.caller.tenant_id, |conn| {
            async move { drift_db::list_checks(conn, env, page.offset(), page.limit()).await }
                .scope_boxed()
        })
        .await
        .map_err(ApiError::from)?;
    let data = rows.into_iter().map(CheckView::from).collect();
    Ok(HttpResponse::Ok().json(Paginated::new(data, page, total)))
}

// ---------------------------------------------------------------------------------------------
// Incidents
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct IncidentsQuery {
    #[param(value_type = Option<Uuid>)]
    pub environment_id: Option<String>,
    /// One incident status.
    #[param(value_type = Option<IncidentStatusParam>)]
    pub status: Option<String>,
    #[param(value_type = Option<SeverityParam>)]
    pub severity: Option<String>,
    /// `true`: only open incidents; `false`: only closed, expired or cancelled ones.
    #[param(value_type = Option<bool>)]
    pub open: Option<String>,
    /// `true`: only open incidents past their expiry; `false`: the others.
    #[param(value_type = Option<bool>)]
    pub expired: Option<String>,
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1_000_000)]
    pub page: Option<String>,
    #[param(value_type = Option<u32>, minimum = 1, maximum = 200)]
    pub page_size: Option<String>,
}

/// The values of the `status` filter, for the document.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum IncidentStatusParam {
    Detected,
    Acknowledged,
    Stabilized,
    Reconciled,
    Closed,
    Expired,
    Cancelled,
}

/// An incident severity.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SeverityParam {
    Low,
    Medium,
    High,
    Critical,
}

impl From<SeverityParam> for Severity {
    fn from(s: SeverityParam) -> Self {
        match s {
            SeverityParam::Low => Severity::Low,
            SeverityParam::Medium => Severity::Medium,
            SeverityParam::High => Severity::High,
            SeverityParam::Critical => Severity::Critical,
        }
    }
}

fn parsed<T: std::str::FromStr>(
    name: &str,
    raw: Option<&str>,
    allowed: &str,
) -> Result<Option<T>, ApiError> {
    match raw {
        None => Ok(None),
        Some(v) => v.parse().map(Some).map_err(|_| {
            ApiError::InvalidQueryParameter(format!(
                "`{name}` must be one of {allowed}, got `{}`",
                v.chars().take(64).collect::<String>()
            ))
        }),
    }
}

/// The tenant's drift incidents, newest first.
#[utoipa::path(
    get, path = "/api/v1/incidents", tag = "drift", security(("bearer" = [])),
    params(IncidentsQuery),
    responses(
        (status = 200, description = "A page of incidents", body = Paginated<IncidentView>),
        (status = 400, description = "A bad filter or pagination value", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody)
    )
)]
pub async fn list(
    state: web::Data<AppState>,
    auth: Auth,
    q: web::Query<IncidentsQuery>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Role::Viewer)?;
    let page = query::page(&q.page, &q.page_size)?;
    let now = Utc::now();
    let filter = IncidentFilter {
        environment_id: query::uuid_param("environment_id", q.environment_id.as_deref())?,
        status: parsed(
            "status",
            q.status.as_deref(),
            "detected, acknowledged, stabilized, reconciled, closed, expired, cancelled",
        )?,
        severity: parsed(
            "severity",
            q.severity.as_deref(),
            "low, medium, high, critical",
        )?,
        open: parsed("open", q.open.as_deref(), "true, false")?,
        expired_at: parsed::<bool>("expired", q.expired.as_deref(), "true, false")?
            .map(|e| (e, now)),
    };
    let filter_ref = &filter;
    let (rows, total) = state
        .db
        .tenant_tx(auth.caller.tenant_id, |conn| {
            async move {
                drift_db::list_incidents(conn, filter_ref, page.offset(), page.limit()).await
            }
            .scope_boxed()
        })
        .await
        .map_err(ApiError::from)?;
    let data = rows
        .into_iter()
        .map(|i| IncidentView::new(i, now))
        .collect();
    Ok(HttpResponse::Ok().json(Paginated::new(data, page, total)))
}

/// One drift incident with its snapshot.
#[utoipa::path(
    get, path = "/api/v1/incidents/{id}", tag = "drift", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Incident id")),
    responses(
        (status = 200, description = "The incident", body = Envelope<IncidentView>),
        (status = 400, description = "`id` is not a UUID", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 404, description = "No such incident in this tenant", body = ErrorBody)
    )
)]
pub async fn get(
    state: web::Data<AppState>,
    auth: Auth,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Role::Viewer)?;
    let id = path.into_inner();
    let incident = state
        .db
        .tenant_tx(auth.caller.tenant_id, |conn| {
            async move {
                match drift_db::get_incident(conn, id).await {
                    Ok(i) => Ok(i),
                    Err(wfops_db::Error::NotFound) => Err(incident_not_found(id)),
                    Err(e) => Err(ApiError::from(e)),
                }
            }
            .scope_boxed()
        })
        .await?;
    Ok(HttpResponse::Ok().json(Envelope::new(IncidentView::new(incident, Utc::now()))))
}

/// Runs one lifecycle step with its audit row in one transaction.
async fn step(
    state: &AppState,
    auth: &Auth,
    meta: &RequestMeta,
    id: Uuid,
    action: Action,
    force: bool,
) -> Result<HttpResponse, ApiError> {
    if force {
        // the override of the state machine is an admin's
        auth.require(Role::Admin)?;
    }
    let actor = auth.caller.user_id();
    let audit_action = format!("incident.{}", action.name());
    let incident = state
        .db
        .tenant_tx(auth.caller.tenant_id, |conn| {
            let audit_action = audit_action.clone();
            async move {
                let before = drift_db::get_incident(conn, id).await.ok();
                let updated = incidents::apply(conn, id, &action, actor, force, Utc::now())
                    .await
                    .map_err(ApiError::from)?;
                record(
                    conn,
                    auth,
                    meta,
                    &audit_action,
                    "drift_incident",
                    id,
                    json!({
                        "from": before.map(|b| b.status.as_str()),
                        "to": updated.status.as_str(),
                        "forced": force,
                        "severity": updated.severity.as_str(),
                        "expires_at": updated.expires_at,
                    }),
                )
                .await?;
                Ok::<_, ApiError>(updated)
            }
            .scope_boxed()
        })
        .await?;
    Ok(HttpResponse::Ok().json(Envelope::new(IncidentView::new(incident, Utc::now()))))
}

/// Longest free text of a lifecycle step (reason, note).
const MAX_REASON_CHARS: usize = 2000;
/// Longest ticket reference.
const MAX_TICKET_CHARS: usize = 200;

fn optional_text(field: &str, raw: Option<&str>, max: usize) -> Result<Option<String>, ApiError> {
    raw.map(|r| text(field, r, max)).transpose()
}

/// Acknowledging an incident.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcknowledgeRequest {
    /// What the team knows so far.
    #[schema(
        max_length = 2000,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub note: Option<String>,
    /// An admin's override of the state machine (any move out of an open state).
    #[serde(default)]
    pub force: bool,
}

/// Acknowledges an incident: the team is aware and investigating.
#[utoipa::path(
    post, path = "/api/v1/incidents/{id}/acknowledge", tag = "drift", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Incident id")),
    request_body = AcknowledgeRequest,
    responses(
        (status = 200, description = "The incident, acknowledged", body = Envelope<IncidentView>),
        (status = 400, description = "`id` is not a UUID, or malformed JSON", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Requires developer (admin with `force`)", body = ErrorBody),
        (status = 404, description = "No such incident in this tenant", body = ErrorBody),
        (status = 409, description = "The incident's state does not allow it", body = ErrorBody),
        (status = 422, description = "The body does not have the expected shape", body = ErrorBody)
    )
)]
pub async fn acknowledge(
    state: web::Data<AppState>,
    auth: Auth,
    meta: RequestMeta,
    path: web::Path<Uuid>,
    body: Body<AcknowledgeRequest>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Role::Developer)?;
    let req = body.0;
    let note = optional_text("note", req.note.as_deref(), MAX_REASON_CHARS)?;
    step(
        &state,
        &auth,
        &meta,
        path.into_inner(),
        Action::Acknowledge { note },
        req.force,
    )
    .await
}

/// Stabilizing an incident: the cause is known and there is a plan.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StabilizeRequest {
    /// Why the drift is there and what will be done.
    #[schema(
        max_length = 2000,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub reason: String,
    /// The user who owns the follow-up.
    pub owner_user_id: Option<Uuid>,
    /// An external ticket (e.g. `OPS-42`).
    #[schema(
        max_length = 200,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub ticket_ref: Option<String>,
    #[serde(default)]
    pub force: bool,
}

/// Marks an incident stabilized, with its reason, owner and ticket.
#[utoipa::path(
    post, path = "/api/v1/incidents/{id}/stabilize", tag = "drift", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Incident id")),
    request_body = StabilizeRequest,
    responses(
        (status = 200, description = "The incident, stabilized", body = Envelope<IncidentView>),
        (status = 400, description = "`id` is not a UUID, or malformed JSON", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Requires developer (admin with `force`)", body = ErrorBody),
        (status = 404, description = "No such incident in this tenant", body = ErrorBody),
        (status = 409, description = "The incident's state does not allow it", body = ErrorBody),
        (status = 422, description = "A missing or invalid field, or an owner who is not a user of this tenant", body = ErrorBody)
    )
)]
pub async fn stabilize(
    state: web::Data<AppState>,
    auth: Auth,
    meta: RequestMeta,
    path: web::Path<Uuid>,
    body: Body<StabilizeRequest>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Role::Developer)?;
    let req = body.0;
    let reason = text("reason", &req.reason, MAX_REASON_CHARS)?;
    let ticket_ref = optional_text("ticket_ref", req.ticket_ref.as_deref(), MAX_TICKET_CHARS)?;
    step(
        &state,
        &auth,
        &meta,
        path.into_inner(),
        Action::Stabilize {
            reason,
            owner_user_id: req.owner_user_id,
            ticket_ref,
        },
        req.force,
    )
    .await
}

/// Closing an incident.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CloseRequest {
    #[schema(
        max_length = 2000,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub reason: Option<String>,
    #[serde(default)]
    pub force: bool,
}

/// Closes an incident. Closed is final.
#[utoipa::path(
    post, path = "/api/v1/incidents/{id}/close", tag = "drift", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Incident id")),
    request_body = CloseRequest,
    responses(
        (status = 200, description = "The incident, closed", body = Envelope<IncidentView>),
        (status = 400, description = "`id` is not a UUID, or malformed JSON", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Requires admin", body = ErrorBody),
        (status = 404, description = "No such incident in this tenant", body = ErrorBody),
        (status = 409, description = "The incident is already final", body = ErrorBody),
        (status = 422, description = "The body does not have the expected shape", body = ErrorBody)
    )
)]
pub async fn close(
    state: web::Data<AppState>,
    auth: Auth,
    meta: RequestMeta,
    path: web::Path<Uuid>,
    body: Body<CloseRequest>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Role::Admin)?;
    let req = body.0;
    let reason = optional_text("reason", req.reason.as_deref(), MAX_REASON_CHARS)?;
    step(
        &state,
        &auth,
        &meta,
        path.into_inner(),
        Action::Close { reason },
        req.force,
    )
    .await
}

/// Most hours one extension may add: 30 days.
const MAX_EXTENSION_HOURS: u32 = 720;

/// Extending an incident's TTL.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExtendTtlRequest {
    /// Hours added to the current expiry (from now when it has passed).
    #[schema(minimum = 1, maximum = 720)]
    pub hours: u32,
    #[schema(
        max_length = 2000,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub reason: Option<String>,
}

/// Extends an open incident's TTL. Escalation already reached stays.
#[utoipa::path(
    post, path = "/api/v1/incidents/{id}/extend-ttl", tag = "drift", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Incident id")),
    request_body = ExtendTtlRequest,
    responses(
        (status = 200, description = "The incident with its new expiry", body = Envelope<IncidentView>),
        (status = 400, description = "`id` is not a UUID, or malformed JSON", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Requires admin", body = ErrorBody),
        (status = 404, description = "No such incident in this tenant", body = ErrorBody),
        (status = 409, description = "The incident is final", body = ErrorBody),
        (status = 422, description = "`hours` out of range, or the body does not have the expected shape", body = ErrorBody)
    )
)]
pub async fn extend_ttl(
    state: web::Data<AppState>,
    auth: Auth,
    meta: RequestMeta,
    path: web::Path<Uuid>,
    body: Body<ExtendTtlRequest>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Role::Admin)?;
    let req = body.0;
    if req.hours == 0 || req.hours > MAX_EXTENSION_HOURS {
        return Err(ApiError::field(
            "hours",
            format!("must be between 1 and {MAX_EXTENSION_HOURS}"),
        ));
    }
    optional_text("reason", req.reason.as_deref(), MAX_REASON_CHARS)?;
    step(
        &state,
        &auth,
        &meta,
        path.into_inner(),
        Action::ExtendTtl { hours: req.hours },
        false,
    )
    .await
}

/// An admin's severity for an incident.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SeverityRequest {
    pub severity: SeverityParam,
}

/// Overrides an open incident's severity; its expiry follows the policy's TTL for the new
/// severity, counted from detection.
#[utoipa::path(
    post, path = "/api/v1/incidents/{id}/severity", tag = "drift", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Incident id")),
    request_body = SeverityRequest,
    responses(
        (status = 200, description = "The incident with its new severity", body = Envelope<IncidentView>),
        (status = 400, description = "`id` is not a UUID, or malformed JSON", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Requires admin", body = ErrorBody),
        (status = 404, description = "No such incident in this tenant", body = ErrorBody),
        (status = 409, description = "The incident is final", body = ErrorBody),
        (status = 422, description = "An unknown severity, or the body does not have the expected shape", body = ErrorBody)
    )
)]
pub async fn set_severity(
    state: web::Data<AppState>,
    auth: Auth,
    meta: RequestMeta,
    path: web::Path<Uuid>,
    body: Body<SeverityRequest>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Role::Admin)?;
    step(
        &state,
        &auth,
        &meta,
        path.into_inner(),
        Action::SetSeverity {
            severity: body.0.severity.into(),
        },
        false,
    )
    .await
}

/// How to resolve an incident.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ResolutionParam {
    /// Restore the runtime from Git.
    Revert,
}

/// A reconciliation request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReconcileRequest {
    pub resolution: ResolutionParam,
    /// An admin's override of the state machine: reconcile an incident nobody acknowledged.
    #[serde(default)]
    pub force: bool,
}

/// Resolves an incident by reconciliation (a job): `revert` restores the runtime from Git
/// with a pre-revert snapshot, then a drift check runs and closes the incident only if the
/// drift is gone.
#[utoipa::path(
    post, path = "/api/v1/incidents/{id}/reconcile", tag = "drift", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Incident id")),
    request_body = ReconcileRequest,
    responses(
        (status = 202, description = "The drift_reconcile job (the pending one if already queued)", body = Envelope<JobView>),
        (status = 400, description = "`id` is not a UUID, or malformed JSON", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Requires admin", body = ErrorBody),
        (status = 404, description = "No such incident in this tenant", body = ErrorBody),
        (status = 409, description = "The incident's state does not allow a reconciliation, or it is final", body = ErrorBody),
        (status = 422, description = "An unknown resolution, or the body does not have the expected shape", body = ErrorBody)
    )
)]
pub async fn reconcile(
    state: web::Data<AppState>,
    auth: Auth,
    meta: RequestMeta,
    path: web::Path<Uuid>,
    body: Body<ReconcileRequest>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Role::Admin)?;
    let id = path.into_inner();
    let req = body.0;
    let resolution = match req.resolution {
        ResolutionParam::Revert => Resolution::Revert,
    };
    let tenant_id = auth.caller.tenant_id;
    let requested_by = auth.caller.user_id();
    let (auth_ref, meta_ref) = (&auth, &meta);
    let enqueued = state
        .db
        .tenant_tx(tenant_id, |conn| {
            async move {
                let incident = match drift_db::get_incident_for_update(conn, id).await {
                    Ok(i) => i,
                    Err(wfops_db::Error::NotFound) => return Err(incident_not_found(id)),
                    Err(e) => return Err(e.into()),
                };
                incident
                    .status
                    .transition(wfops_drift::IncidentStatus::Reconciled, req.force)
                    .map_err(|t| ApiError::from(LifecycleError::Transition(t)))?;
                let job = DriftReconcile {
                    incident_id: id,
                    environment_id: incident.environment_id,
                    resolution,
                    requested_by,
                };
                let enqueued = engine_jobs::enqueue(conn, tenant_id, &job).await?;
                record(
                    conn,
                    auth_ref,
                    meta_ref,
                    "incident.reconcile_requested",
                    "drift_incident",
                    id,
                    json!({ "job_id": enqueued.job.id, "resolution": resolution.as_str(),
                            "forced": req.force }),
                )
                .await?;
                Ok::<_, ApiError>(enqueued)
            }
            .scope_boxed()
        })
        .await?;
    Ok(accepted(enqueued.job, !enqueued.created))
}

// ---------------------------------------------------------------------------------------------
// Policies
// ---------------------------------------------------------------------------------------------

/// A drift policy as stored.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PolicyView {
    pub id: Uuid,
    /// `null`: the tenant-wide policy.
    pub environment_id: Option<Uuid>,
    #[schema(value_type = Object)]
    pub severity_ttls: Value,
    pub enforce_ttl: bool,
    pub enforce_sla: bool,
    pub auto_create_incidents: bool,
    pub auto_create_for_production_only: bool,
    pub block_on_active_drift: bool,
    pub closed_incident_retention_days: i32,
    pub reconciliation_artifact_retention_days: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<drift_db::Policy> for PolicyView {
    fn from(p: drift_db::Policy) -> Self {
        Self {
            id: p.id,
            environment_id: p.environment_id,
            severity_ttls: p.severity_ttls,
            enforce_ttl: p.enforce_ttl,
            enforce_sla: p.enforce_sla,
            auto_create_incidents: p.auto_create_incidents,
            auto_create_for_production_only: p.auto_create_for_production_only,
            block_on_active_drift: p.block_on_active_drift,
            closed_incident_retention_days: p.closed_incident_retention_days,
            reconciliation_artifact_retention_days: p.reconciliation_artifact_retention_days,
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}

/// The tenant's policies and, when asked for one environment, the policy in force there.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PoliciesView {
    /// The tenant's policy first, then the environments' own.
    pub policies: Vec<PolicyView>,
    /// With `environment_id`: the values that govern it (its own policy, else the tenant's,
    /// else the defaults) and where they come from.
    #[schema(value_type = Option<Object>)]
    pub effective: Option<EffectivePolicy>,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PoliciesQuery {
    #[param(value_type = Option<Uuid>)]
    pub environment_id: Option<String>,
}

/// The drift policies.
#[utoipa::path(
    get, path = "/api/v1/drift-policies", tag = "drift", security(("bearer" = [])),
    params(PoliciesQuery),
    responses(
        (status = 200, description = "The policies", body = Envelope<PoliciesView>),
        (status = 400, description = "`environment_id` is not a UUID", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 404, description = "No such environment in this tenant", body = ErrorBody)
    )
)]
pub async fn policies(
    state: web::Data<AppState>,
    auth: Auth,
    q: web::Query<PoliciesQuery>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Role::Viewer)?;
    let env = query::uuid_param("environment_id", q.environment_id.as_deref())?;
    let view = state
        .db
        .tenant_tx(auth.caller.tenant_id, |conn| {
            async move {
                let effective = match env {
                    Some(env) => {
                        ensure_environment(conn, env).await?;
                        Some(incidents::effective_policy(conn, env).await?)
                    }
                    None => None,
                };
                let policies = drift_db::list_policies(conn)
                    .await?
                    .into_iter()
                    .map(PolicyView::from)
                    .collect();
                Ok::<_, ApiError>(PoliciesView {
                    policies,
                    effective,
                })
            }
            .scope_boxed()
        })
        .await?;
    Ok(HttpResponse::Ok().json(Envelope::new(view)))
}

/// Hours an incident of each severity may stay open.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SeverityTtlsBody {
    #[schema(minimum = 1, maximum = 8760)]
    pub critical: u32,
    #[schema(minimum = 1, maximum = 8760)]
    pub high: u32,
    #[schema(minimum = 1, maximum = 8760)]
    pub medium: u32,
    #[schema(minimum = 1, maximum = 8760)]
    pub low: u32,
}

/// A policy for the tenant (no `environment_id`) or for one environment, replacing the one of
/// that scope. Omitted fields take the defaults.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutPolicyRequest {
    pub environment_id: Option<Uuid>,
    pub severity_ttls: Option<SeverityTtlsBody>,
    #[serde(default)]
    pub enforce_ttl: bool,
    #[serde(default)]
    pub enforce_sla: bool,
    #[serde(default)]
    pub auto_create_incidents: bool,
    #[serde(default)]
    pub auto_create_for_production_only: bool,
    #[serde(default)]
    pub block_on_active_drift: bool,
    #[schema(minimum = 1, maximum = 3650)]
    pub closed_incident_retention_days: Option<u32>,
    #[schema(minimum = 1, maximum = 3650)]
    pub reconciliation_artifact_retention_days: Option<u32>,
}

/// Longest retention a policy may set: ten years.
const MAX_RETENTION_DAYS: u32 = 3650;

fn retention(field: &str, v: Option<u32>, default: i32) -> Result<i32, ApiError> {
    match v {
        None => Ok(default),
        Some(d) if (1..=MAX_RETENTION_DAYS).contains(&d) => Ok(d as i32),
        Some(_) => Err(ApiError::field(
            field,
            format!("must be between 1 and {MAX_RETENTION_DAYS} days"),
        )),
    }
}

/// Creates or replaces the drift policy of the tenant or of one environment.
#[utoipa::path(
    put, path = "/api/v1/drift-policies", tag = "drift", security(("bearer" = [])),
    request_body = PutPolicyRequest,
    responses(
        (status = 200, description = "The policy as stored", body = Envelope<PolicyView>),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Requires admin", body = ErrorBody),
        (status = 404, description = "No such environment in this tenant", body = ErrorBody),
        (status = 422, description = "A value out of range, or the body does not have the expected shape", body = ErrorBody)
    )
)]
pub async fn put_policy(
    state: web::Data<AppState>,
    auth: Auth,
    meta: RequestMeta,
    body: Body<PutPolicyRequest>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Role::Admin)?;
    let req = body.0;
    let defaults = EffectivePolicy::defaults();
    let ttls = match req.severity_ttls {
        None => SeverityTtls::default(),
        Some(t) => SeverityTtls {
            critical: t.critical,
            high: t.high,
            medium: t.medium,
            low: t.low,
        },
    };
    ttls.validate()
        .map_err(|m| ApiError::field("severity_ttls", m))?;
    let write = PolicyWrite {
        tenant_id: auth.caller.tenant_id,
        environment_id: req.environment_id,
        severity_ttls: serde_json::to_value(ttls)
            .map_err(|e| ApiError::validation(format!("severity_ttls: {e}")))?,
        enforce_ttl: req.enforce_ttl,
        enforce_sla: req.enforce_sla,
        auto_create_incidents: req.auto_create_incidents,
        auto_create_for_production_only: req.auto_create_for_production_only,
        block_on_active_drift: req.block_on_active_drift,
        closed_incident_retention_days: retention(
            "closed_incident_retention_days",
            req.closed_incident_retention_days,
            defaults.closed_incident_retention_days,
        )?,
        reconciliation_artifact_retention_days: retention(
            "reconciliation_artifact_retention_days",
            req.reconciliation_artifact_retention_days,
            defaults.reconciliation_artifact_retention_days,
        )?,
    };
    let (write_ref, auth_ref, meta_ref) = (&write, &auth, &meta);
    let policy = state
        .db
        .tenant_tx(auth.caller.tenant_id, |conn| {
            async move {
                if let Some(env) = write_ref.environment_id {
                    ensure_environment(conn, env).await?;
                }
                let policy = drift_db::upsert_policy(conn, write_ref).await?;
                record(
                    conn,
                    auth_ref,
                    meta_ref,
                    "drift_policy.saved",
                    "drift_policy",
                    policy.id,
                    json!({
                        "environment_id": policy.environment_id,
                        "auto_create_incidents": policy.auto_create_incidents,
                        "block_on_active_drift": policy.block_on_active_drift,
                        "enforce_ttl": policy.enforce_ttl,
                    }),
                )
                .await?;
                Ok::<_, ApiError>(policy)
            }
            .scope_boxed()
        })
        .await?;
    Ok(HttpResponse::Ok().json(Envelope::new(PolicyView::from(policy))))
}
