//! The Git push webhook (docs/drift.md#git-push-webhook): a push to an environment's
//! repository can start a drift check at once instead of at the next scheduled one.
//!
//! The sender proves itself with an HMAC-SHA256 signature of the raw body made with the
//! environment's webhook secret, in GitHub's `X-Hub-Signature-256` format or in the generic
//! `X-WorkflowOps-Signature: t=<unix>,v1=<hex>` format (the timestamp is signed too and must be
//! within five minutes). The payload is only a hint: the check reads Git itself, so the body
//! is used for nothing but skipping pushes to another branch.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;
use serde_json::{json, Value};
use utoipa::ToSchema;
use uuid::Uuid;
use wfops_db::drift as drift_db;
use wfops_db::ScopedFutureExt;
use wfops_drift::webhook;
use wfops_engine::drift::CheckTrigger;
use wfops_engine::jobs::{self as engine_jobs, DriftCheck};
use wfops_tenancy::Role;

use crate::auth::{Auth, RequestMeta};
use crate::envelope::{Envelope, ErrorBody};
use crate::error::{ApiError, Code};
use crate::routes::common::environment_not_found;
use crate::routes::jobs::accepted;
use crate::routes::record;
use crate::AppState;

/// Largest webhook body accepted (GitHub push payloads are far smaller).
pub const MAX_WEBHOOK_BYTES: usize = 1024 * 1024;

/// A new webhook secret, shown once.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WebhookSecretView {
    /// Configure the sender with it; it is never shown again (rotate to get a new one).
    pub secret: String,
    /// Where the sender posts, relative to the API's base URL.
    pub url: String,
    /// The headers a signature may come in.
    pub signature_headers: Vec<String>,
}

/// Creates (or rotates) the environment's webhook secret.
#[utoipa::path(
    post, path = "/api/v1/environments/{id}/git-webhook/secret", tag = "drift", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Environment id")),
    responses(
        (status = 201, description = "The new secret (shown once) and the webhook URL", body = Envelope<WebhookSecretView>),
        (status = 400, description = "`id` is not a UUID", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Requires admin", body = ErrorBody),
        (status = 404, description = "No such environment in this tenant", body = ErrorBody)
    )
)]
pub async fn rotate_secret(
    state: web::Data<AppState>,
    auth: Auth,
    meta: RequestMeta,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Role::Admin)?;
    let env = path.into_inner();
    let tenant_id = auth.caller.tenant_id;
    // 244 random bits from the system's CSPRNG
    let secret = format!(
        "whsec_{}{}",
        Uuid::new_v4().simple(),
        Uuid::new_v4().simple()
    );
    let encrypted = state
        .cipher
        .encrypt_str(&secret)
        .map_err(|e| ApiError::internal(format!("encrypting the webhook secret: {e}")))?;
    let (auth_ref, meta_ref, encrypted_ref) = (&auth, &meta, &encrypted);
    state
        .db
        .tenant_tx(tenant_id, |conn| {
            async move {
                match drift_db::set_webhook_secret(conn, env, encrypted_ref).await {
                    Ok(()) => {}
                    Err(wfops_db::Error::NotFound) => return Err(environment_not_found(env)),
                    Err(e) => return Err(e.into()),
                }
                record(
                    conn,
                    auth_ref,
                    meta_ref,
                    "environment.git_webhook_secret_rotated",
                    "environment",
                    env,
                    json!({}),
                )
                .await?;
                Ok::<_, ApiError>(())
            }
            .scope_boxed()
        })
        .await?;
    Ok(
        HttpResponse::Created().json(Envelope::new(WebhookSecretView {
            secret,
            url: format!("/api/v1/webhooks/git/{tenant_id}/{env}"),
            signature_headers: vec![
                "X-Hub-Signature-256".into(),
                "X-WorkflowOps-Signature".into(),
            ],
        })),
    )
}

fn refused() -> ApiError {
    // the same answer for an unknown environment, a missing secret and a wrong signature, so
    // that the endpoint tells a stranger nothing
    ApiError::new(
        Code::InvalidWebhookSignature,
        "the webhook signature is missing or does not match",
    )
}

/// Receives a push notification and queues a drift check of the environment.
#[utoipa::path(
    post, path = "/api/v1/webhooks/git/{tenant_id}/{environment_id}", tag = "drift",
    security(()),
    params(
        ("tenant_id" = Uuid, Path, description = "Tenant id"),
        ("environment_id" = Uuid, Path, description = "Environment id"),
        ("X-Hub-Signature-256" = Option<String>, Header, description = "`sha256=<hex HMAC-SHA256 of the body>` (GitHub)"),
        ("X-WorkflowOps-Signature" = Option<String>, Header, description = "`t=<unix seconds>,v1=<hex HMAC-SHA256 of \"<t>.<body>\">`")
    ),
    request_body(content = Object, description = "The sender's push payload; only `ref` is read, as a hint", content_type = "application/json"),
    responses(
        (status = 200, description = "A push to another branch: nothing queued", body = Envelope<Object>),
        (status = 202, description = "The drift_check job (the pending one if a check is already queued)", body = Envelope<crate::routes::jobs::JobView>),
        (status = 400, description = "A path parameter is not a UUID", body = ErrorBody),
        (status = 401, description = "No valid signature (or no such environment, or no secret set)", body = ErrorBody),
        (status = 409, description = "The environment has no Git repository and folder", body = ErrorBody),
        (status = 413, description = "The body is larger than 1 MiB", body = ErrorBody)
    )
)]
pub async fn receive(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(Uuid, Uuid)>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let (tenant_id, environment_id) = path.into_inner();
    if body.len() > MAX_WEBHOOK_BYTES {
        return Err(ApiError::PayloadTooLarge {
            limit: MAX_WEBHOOK_BYTES,
        });
    }
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let github = header("x-hub-signature-256");
    let generic = header("x-workflowops-signature");
    if github.is_none() && generic.is_none() {
        return Err(refused());
    }
    let target = state
        .db
        .tenant_tx(tenant_id, |conn| {
            async move { drift_db::webhook_target(conn, environment_id).await }.scope_boxed()
        })
        .await
        .map_err(ApiError::from)?
        .ok_or_else(refused)?;
    let secret = target
        .git_webhook_secret_encrypted
        .as_deref()
        .and_then(|s| state.cipher.decrypt_str(s).ok())
        .ok_or_else(refused)?;
    let key = secret.expose().as_bytes();
    let valid = match (&github, &generic) {
        (Some(h), _) if webhook::verify_github(key, &body, h) => true,
        (_, Some(h)) => {
            webhook::verify_generic(key, &body, h, chrono::Utc::now().timestamp()).is_ok()
        }
        _ => false,
    };
    if !valid {
        tracing::warn!(%tenant_id, %environment_id, "git webhook refused: bad signature");
        return Err(refused());
    }
    if target.git_repo_url.is_none() || target.git_folder.is_none() {
        return Err(ApiError::new(
            Code::GitNotConfigured,
            "the environment has no Git repository and folder to check against",
        ));
    }
    // only a hint: a push that names another branch is skipped; anything else checks
    let pushed = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v.get("ref").and_then(Value::as_str).map(str::to_owned));
    if let Some(r) = pushed {
        if r != format!("refs/heads/{}", target.git_branch) {
            return Ok(HttpResponse::Ok().json(Envelope::with_message(
                json!({"queued": false}),
                "a push to another branch; nothing to check",
            )));
        }
    }
    let enqueued = state
        .db
        .tenant_tx(tenant_id, |conn| {
            async move {
                let job = DriftCheck {
                    environment_id,
                    check_type: CheckTrigger::Webhook,
                };
                engine_jobs::enqueue(conn, tenant_id, &job).await
            }
            .scope_boxed()
        })
        .await
        .map_err(ApiError::from)?;
    Ok(accepted(enqueued.job, !enqueued.created))
}
