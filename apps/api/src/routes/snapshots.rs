//! Snapshots of environments (taken by deployments before and after they change a target) and
//! their restores. A restore into an environment that a pipeline stage guards with an approval
//! waits for a second admin, like a promotion into it would (docs/promotion.md#snapshots).

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use wfops_db::promotions;
use wfops_db::snapshot_restores::{self, RestoreRow};
use wfops_db::snapshots::{self, SnapshotSummary};
use wfops_db::{Conn, ScopedFutureExt};
use wfops_engine::jobs::{self as engine_jobs, SnapshotRestore};
use wfops_tenancy::Role;

use crate::auth::{Auth, RequestMeta};
use crate::envelope::{Envelope, ErrorBody, Paginated};
use crate::error::{ApiError, Code};
use crate::extract::Body;
use crate::routes::common::text;
use crate::routes::promotions::{is_requester, RejectPromotionRequest, MAX_NOTE_CHARS};
use crate::routes::query;
use crate::routes::record;
use crate::AppState;

/// A snapshot without its workflows (lists).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SnapshotView {
    pub id: Uuid,
    pub environment_id: Uuid,
    /// pre_promotion, post_promotion or manual_backup.
    pub snapshot_type: String,
    pub workflow_count: i32,
    pub git_commit_sha: Option<String>,
    pub notes: Option<String>,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

impl From<SnapshotSummary> for SnapshotView {
    fn from(s: SnapshotSummary) -> Self {
        Self {
            id: s.id,
            environment_id: s.environment_id,
            snapshot_type: s.snapshot_type,
            workflow_count: s.workflow_count,
            git_commit_sha: s.git_commit_sha,
            notes: s.notes,
            created_by: s.created_by,
            created_at: s.created_at,
        }
    }
}

/// A snapshot with the workflows it holds.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SnapshotDetail {
    #[serde(flatten)]
    pub snapshot: SnapshotView,
    /// The workflows as they were, as the execution stored them.
    #[schema(value_type = Object)]
    pub workflows: Value,
}

/// A restore request.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RestoreView {
    pub id: Uuid,
    pub snapshot_id: Uuid,
    pub environment_id: Uuid,
    /// pending_approval, queued or rejected.
    pub status: String,
    /// `user:<id>` or `api_key:<id>`.
    pub requested_by: String,
    pub decided_by: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
    pub rejection_reason: Option<String>,
    /// The `snapshot_restore` job, once queued.
    pub job_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<RestoreRow> for RestoreView {
    fn from(r: RestoreRow) -> Self {
        Self {
            id: r.id,
            snapshot_id: r.snapshot_id,
            environment_id: r.environment_id,
            status: r.status,
            requested_by: r.requested_by_actor,
            decided_by: r.decided_by_actor,
            decided_at: r.decided_at,
            rejection_reason: r.rejection_reason,
            job_id: r.job_id,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

fn snapshot_not_found(id: Uuid) -> ApiError {
    ApiError::new(Code::SnapshotNotFound, format!("snapshot {id} not found"))
}

fn restore_not_found(id: Uuid) -> ApiError {
    ApiError::new(
        Code::SnapshotRestoreNotFound,
        format!("snapshot restore {id} not found"),
    )
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SnapshotsQuery {
    #[param(value_type = Option<Uuid>)]
    pub environment_id: Option<String>,
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1_000_000)]
    pub page: Option<String>,
    #[param(value_type = Option<u32>, minimum = 1, maximum = 200)]
    pub page_size: Option<String>,
}

#[utoipa::path(
    get, path = "/api/v1/snapshots", tag = "promotions", security(("bearer" = [])),
    params(SnapshotsQuery),
    responses(
        (status = 200, description = "A page of snapshots, newest first, without their workflows", body = Paginated<SnapshotView>),
        (status = 400, description = "A bad filter or pagination value", body = ErrorBody)
    )
)]
pub async fn list(
    state: web::Data<AppState>,
    auth: Auth,
    q: web::Query<SnapshotsQuery>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Role::Viewer)?;
    let page = query::page(&q.page, &q.page_size)?;
    let environment_id = query::uuid_param("environment_id", q.environment_id.as_deref())?;
    let (rows, total) = state
        .db
        .tenant_tx(auth.caller.tenant_id, |conn| {
            async move {
                snapshots::list_snapshots(conn, environment_id, page.offset(), page.limit()).await
            }
            .scope_boxed()
        })
        .await
        .map_err(ApiError::from)?;
    let data = rows.into_iter().map(SnapshotView::from).collect();
    Ok(HttpResponse::Ok().json(Paginated::new(data, page, total)))
}

#[utoipa::path(
    get, path = "/api/v1/snapshots/{id}", tag = "promotions", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Snapshot id")),
    responses(
        (status = 200, description = "The snapshot with its workflows", body = Envelope<SnapshotDetail>),
        (status = 400, description = "`id` is not a UUID", body = ErrorBody),
        (status = 404, description = "No such snapshot in this tenant", body = ErrorBody)
    )
)]
pub async fn get(
    state: web::Data<AppState>,
    auth: Auth,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Role::Viewer)?;
    let id = path.into_inner();
    let (summary, workflows) = state
        .db
        .tenant_tx(auth.caller.tenant_id, |conn| {
            async move {
                match snapshots::get_snapshot(conn, id).await {
                    Ok(found) => Ok(found),
                    Err(wfops_db::Error::NotFound) => Err(snapshot_not_found(id)),
                    Err(e) => Err(ApiError::from(e)),
                }
            }
            .scope_boxed()
        })
        .await?;
    Ok(HttpResponse::Ok().json(Envelope::new(SnapshotDetail {
        snapshot: summary.into(),
        workflows,
    })))
}

/// Enqueues the restore job of `snapshot_id` into `environment_id`.
async fn enqueue_restore(
    conn: &mut Conn,
    tenant_id: Uuid,
    snapshot_id: Uuid,
    environment_id: Uuid,
) -> Result<Uuid, wfops_db::Error> {
    let job = SnapshotRestore {
        snapshot_id,
        environment_id,
    };
    Ok(engine_jobs::enqueue(conn, tenant_id, &job).await?.job.id)
}

#[utoipa::path(
    post, path = "/api/v1/snapshots/{id}/restore", tag = "promotions", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Snapshot id")),
    responses(
        (status = 202, description = "The restore request: queued with its job, or waiting for another admin's approval when a pipeline stage into the environment requires one", body = Envelope<RestoreView>),
        (status = 400, description = "`id` is not a UUID", body = ErrorBody),
        (status = 403, description = "Requires admin", body = ErrorBody),
        (status = 404, description = "No such snapshot in this tenant", body = ErrorBody),
        (status = 409, description = "The snapshot's environment was deleted", body = ErrorBody)
    )
)]
pub async fn restore(
    state: web::Data<AppState>,
    auth: Auth,
    meta: RequestMeta,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Role::Admin)?;
    let id = path.into_inner();
    let tenant_id = auth.caller.tenant_id;
    let (auth_ref, meta_ref) = (&auth, &meta);
    let row = state
        .db
        .tenant_tx(tenant_id, |conn| {
            async move {
                let (snapshot, _) = match snapshots::get_snapshot(conn, id).await {
                    Ok(found) => found,
                    Err(wfops_db::Error::NotFound) => return Err(snapshot_not_found(id)),
                    Err(e) => return Err(e.into()),
                };
                let env = snapshot.environment_id;
                if promotions::environment_archived(conn, env).await? {
                    return Err(ApiError::Coded {
                        code: Code::EnvironmentArchived,
                        message: format!(
                            "environment {env} of this snapshot was deleted; it can not be restored into"
                        ),
                        details: Some(json!({ "environment_id": env })),
                    });
                }
                let needs_approval = wfops_db::pipelines::approval_required_into(conn, env).await?;
                let job_id = if needs_approval {
                    None
                } else {
                    Some(enqueue_restore(conn, tenant_id, id, env).await?)
                };
                let row = snapshot_restores::insert(
                    conn,
                    tenant_id,
                    id,
                    env,
                    &auth_ref.caller.actor.to_string(),
                    job_id,
                )
                .await?;
                record(
                    conn,
                    auth_ref,
                    meta_ref,
                    "snapshot.restore_request",
                    "snapshot",
                    id,
                    json!({
                        "restore_id": row.id,
                        "environment_id": env,
                        "status": row.status,
                        "job_id": row.job_id,
                    }),
                )
                .await?;
                Ok::<_, ApiError>(row)
            }
            .scope_boxed()
        })
        .await?;
    let message = if row.job_id.is_some() {
        "restore queued"
    } else {
        "restore requested; a pipeline stage into this environment requires approval, so it waits for another admin"
    };
    Ok(HttpResponse::Accepted().json(Envelope::with_message(RestoreView::from(row), message)))
}

#[utoipa::path(
    get, path = "/api/v1/snapshot-restores/{id}", tag = "promotions", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Restore request id")),
    responses(
        (status = 200, description = "The restore request", body = Envelope<RestoreView>),
        (status = 400, description = "`id` is not a UUID", body = ErrorBody),
        (status = 404, description = "No such restore request in this tenant", body = ErrorBody)
    )
)]
pub async fn get_restore(
    state: web::Data<AppState>,
    auth: Auth,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Role::Viewer)?;
    let id = path.into_inner();
    let row = state
        .db
        .tenant_tx(auth.caller.tenant_id, |conn| {
            async move {
                match snapshot_restores::get(conn, id).await {
                    Ok(r) => Ok(r),
                    Err(wfops_db::Error::NotFound) => Err(restore_not_found(id)),
                    Err(e) => Err(ApiError::from(e)),
                }
            }
            .scope_boxed()
        })
        .await?;
    Ok(HttpResponse::Ok().json(Envelope::new(RestoreView::from(row))))
}

async fn decide_restore(
    state: &AppState,
    auth: &Auth,
    meta: &RequestMeta,
    id: Uuid,
    reason: Option<String>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Role::Admin)?;
    let tenant_id = auth.caller.tenant_id;
    let approve = reason.is_none();
    let row = state
        .db
        .tenant_tx(tenant_id, |conn| {
            async move {
                let r = match snapshot_restores::get_for_update(conn, id).await {
                    Ok(r) => r,
                    Err(wfops_db::Error::NotFound) => return Err(restore_not_found(id)),
                    Err(e) => return Err(e.into()),
                };
                if r.status != snapshot_restores::PENDING_APPROVAL {
                    return Err(ApiError::Coded {
                        code: Code::RestoreNotPendingApproval,
                        message: format!(
                            "snapshot restore {id} is {}; only one waiting for approval can be decided",
                            r.status
                        ),
                        details: Some(json!({ "status": r.status })),
                    });
                }
                if is_requester(Some(&r.requested_by_actor), None, &auth.caller.actor) {
                    return Err(ApiError::new(
                        Code::SelfApprovalForbidden,
                        "the admin who asked for a restore can not decide on it; another admin must",
                    ));
                }
                let job_id = if approve {
                    Some(enqueue_restore(conn, tenant_id, r.snapshot_id, r.environment_id).await?)
                } else {
                    None
                };
                let actor = auth.caller.actor.to_string();
                let decided = snapshot_restores::decide(conn, id, &actor, job_id, reason.as_deref())
                    .await?
                    .ok_or_else(|| {
                        ApiError::new(Code::ConcurrentChange, "the restore changed meanwhile; retry")
                    })?;
                record(
                    conn,
                    auth,
                    meta,
                    if approve {
                        "snapshot.restore_approve"
                    } else {
                        "snapshot.restore_reject"
                    },
                    "snapshot",
                    r.snapshot_id,
                    json!({ "restore_id": id, "job_id": job_id, "reason": reason }),
                )
                .await?;
                Ok::<_, ApiError>(decided)
            }
            .scope_boxed()
        })
        .await?;
    let view = RestoreView::from(row);
    Ok(if approve {
        HttpResponse::Accepted().json(Envelope::with_message(view, "restore approved and queued"))
    } else {
        HttpResponse::Ok().json(Envelope::with_message(view, "restore rejected"))
    })
}

#[utoipa::path(
    post, path = "/api/v1/snapshot-restores/{id}/approve", tag = "promotions", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Restore request id")),
    responses(
        (status = 202, description = "Approved; the restore job is queued", body = Envelope<RestoreView>),
        (status = 400, description = "`id` is not a UUID", body = ErrorBody),
        (status = 403, description = "Requires admin, and an admin other than the requester", body = ErrorBody),
        (status = 404, description = "No such restore request in this tenant", body = ErrorBody),
        (status = 409, description = "The request is not waiting for approval", body = ErrorBody)
    )
)]
pub async fn approve_restore(
    state: web::Data<AppState>,
    auth: Auth,
    meta: RequestMeta,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    decide_restore(&state, &auth, &meta, path.into_inner(), None).await
}

#[utoipa::path(
    post, path = "/api/v1/snapshot-restores/{id}/reject", tag = "promotions", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Restore request id")),
    request_body = RejectPromotionRequest,
    responses(
        (status = 200, description = "Rejected with the reason", body = Envelope<RestoreView>),
        (status = 403, description = "Requires admin, and an admin other than the requester", body = ErrorBody),
        (status = 404, description = "No such restore request in this tenant", body = ErrorBody),
        (status = 409, description = "The request is not waiting for approval", body = ErrorBody)
    )
)]
pub async fn reject_restore(
    state: web::Data<AppState>,
    auth: Auth,
    meta: RequestMeta,
    path: web::Path<Uuid>,
    body: Body<RejectPromotionRequest>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Role::Admin)?;
    let reason = text("reason", &body.0.reason, MAX_NOTE_CHARS)?;
    decide_restore(&state, &auth, &meta, path.into_inner(), Some(reason)).await
}
