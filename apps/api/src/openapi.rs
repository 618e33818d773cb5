//! The OpenAPI 3 document, generated from the handlers' `#[utoipa::path]` annotations.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::routes;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "WorkflowOps API",
        description = "GitOps control plane for n8n. Authenticate with `Authorization: Bearer <JWT or API key>`.",
    ),
    paths(
        routes::health::live,
        routes::health::ready,
        routes::health::openapi,
        routes::auth::login,
        routes::auth::logout,
        routes::auth::me,
        routes::api_keys::list,
        routes::api_keys::create,
        routes::api_keys::revoke,
        routes::environments::list,
        routes::environments::get,
        routes::environments::create,
        routes::environments::update,
        routes::environments::delete,
        routes::variables::list,
        routes::variables::put,
        routes::variables::delete,
        routes::pipelines::list,
        routes::pipelines::get,
        routes::pipelines::create,
        routes::pipelines::update,
        routes::pipelines::delete,
        routes::credential_mappings::list,
        routes::credential_mappings::put,
        routes::credential_mappings::delete,
        routes::credential_mappings::suggestions,
        routes::preflight::validate,
        routes::preflight::compare,
        routes::preflight::drift_check,
        routes::notifications::list,
        routes::notifications::get,
        routes::notifications::create,
        routes::notifications::update,
        routes::notifications::delete,
        routes::notifications::rotate_secret,
        routes::notifications::test_send,
        routes::notifications::deliveries,
        routes::schedulers::list,
        routes::schedulers::installation,
        routes::canonical::sync_environment,
        routes::canonical::sync_request,
        routes::canonical::sync_repo,
        routes::canonical::list,
        routes::canonical::get,
        routes::canonical::untracked,
        routes::canonical::link,
        routes::canonical::ignore,
        routes::canonical::unignore,
        routes::canonical::reconcile,
        routes::onboarding::preflight,
        routes::onboarding::inventory,
        routes::onboarding::completion,
        routes::workflows::list,
        routes::matrix::matrix,
        routes::workflows::detail,
        routes::workflows::diff,
        routes::incidents::check_drift,
        routes::incidents::checks,
        routes::incidents::list,
        routes::incidents::get,
        routes::incidents::acknowledge,
        routes::incidents::stabilize,
        routes::incidents::close,
        routes::incidents::reconcile,
        routes::incidents::extend_ttl,
        routes::incidents::set_severity,
        routes::git_webhook::rotate_secret,
        routes::git_webhook::receive,
        routes::incidents::policies,
        routes::incidents::put_policy,
        routes::jobs::list,
        routes::jobs::get,
        routes::sse::background_jobs,
        routes::sse::background_job,
        routes::promotions::create,
        routes::promotions::list,
        routes::promotions::get,
        routes::promotions::approve,
        routes::promotions::reject,
        routes::deployments::list,
        routes::deployments::get,
        routes::deployments::create,
        routes::deployments::cancel,
        routes::snapshots::list,
        routes::snapshots::get,
        routes::snapshots::restore,
        routes::snapshots::get_restore,
        routes::snapshots::approve_restore,
        routes::snapshots::reject_restore,
        routes::sse::deployments_stream,
        routes::sse::deployment_stream,
    ),
    components(schemas(
        routes::query::MappingStatusParam,
        routes::query::DiffStatusParam,
        routes::jobs::JobStatusParam,
        routes::incidents::IncidentStatusParam,
        routes::incidents::SeverityParam,
        routes::matrix::SortParam,
        routes::sse::SseEventData,
        routes::pipelines::StageSchema,
        routes::pipelines::GatesSchema,
        routes::pipelines::StageView,
        routes::preflight::GateName,
        routes::preflight::RiskLevelParam,
        routes::preflight::DriftModeParam,
        routes::preflight::DriftReliefParam,
        routes::preflight::GateResultView,
        routes::preflight::GateWorkflowView,
        routes::preflight::GateFlagsView,
        routes::preflight::DriftVerdictView,
        routes::preflight::DriftPolicyView,
        routes::preflight::IncidentView,
        routes::preflight::ComparisonView,
        routes::preflight::RiskView,
        routes::preflight::RiskReasonView,
        routes::promotions::PromotionStatusParam,
        routes::deployments::DeploymentStatusParam,
        routes::notifications::EventTypeParam,
        routes::notifications::DeliveryStatusParam,
    )),
    modifiers(&BearerAuth, &CommonResponses, &NonEmptyUpdates),
    tags(
        (name = "health", description = "Liveness, readiness and this document"),
        (name = "auth", description = "Login, logout and the current caller"),
        (name = "api-keys", description = "Tenant API keys for automation (admin)"),
        (name = "environments", description = "Connected n8n instances"),
        (name = "schedulers", description = "Status of the periodic schedulers"),
        (name = "canonical", description = "Canonical workflows, sync requests, linking and onboarding"),
        (name = "workflows", description = "Workflows per environment, the cross-environment matrix, versions and diffs"),
        (name = "drift", description = "Drift checks, incidents and drift policies"),
        (name = "jobs", description = "Background jobs and their Server-Sent Events"),
        (name = "pipelines", description = "Promotion pipelines: stages and their gates"),
        (name = "promotions", description = "Promotions: pre-flight gates, comparison, drift check, credential mappings, approvals, deployments, snapshots and their restores"),
        (name = "notifications", description = "Notification channels (signed webhooks, Slack, email), test sends and the delivery log"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT or wfo_ API key")
                    .description(Some(
                        "A JWT from POST /api/v1/auth/login, or a tenant API key `wfo_<prefix>_<secret>`",
                    ))
                    .build(),
            ),
        );
    }
}

/// `PATCH /environments/{id}` refuses an empty body: `minProperties: 1`. Set here because
/// utoipa's `min_properties` attribute writes `maxProperties`.
struct NonEmptyUpdates;

impl Modify for NonEmptyUpdates {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::schema::Schema;
        use utoipa::openapi::RefOr;
        let Some(components) = openapi.components.as_mut() else {
            return;
        };
        for name in [
            "UpdateEnvironmentRequest",
            "UpdatePipelineRequest",
            "UpdateChannelRequest",
        ] {
            if let Some(RefOr::T(Schema::Object(object))) = components.schemas.get_mut(name) {
                object.min_properties = Some(1);
                object.max_properties = None;
            }
        }
    }
}

/// The answers any operation can give whatever its handler does, added to every operation so
/// that the document lists them all: the rate limit (every route but health), the
/// authentication of bearer-secured routes, and the body checks of routes that take a body.
struct CommonResponses;

impl Modify for CommonResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::path::Operation;
        use utoipa::openapi::{Ref, RefOr, Response};

        fn error(description: &str) -> RefOr<Response> {
            utoipa::openapi::ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    utoipa::openapi::ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("ErrorBody")))
                        .build(),
                )
                .build()
                .into()
        }
        fn add(op: &mut Operation, status: &str, description: &str) {
            op.responses
                .responses
                .entry(status.to_string())
                .or_insert_with(|| error(description));
        }

        for (path, item) in openapi.paths.paths.iter_mut() {
            let health = path.starts_with("/api/v1/health") || path == "/api/v1/openapi.json";
            let ops = [
                item.get.as_mut(),
                item.post.as_mut(),
                item.patch.as_mut(),
                item.put.as_mut(),
                item.delete.as_mut(),
            ];
            for op in ops.into_iter().flatten() {
                let secured = op.security.as_ref().is_some_and(|s| {
                    !s.is_empty()
                        && serde_json::to_value(s).is_ok_and(|v| v.to_string().contains("bearer"))
                });
                if !health {
                    add(
                        op,
                        "429",
                        "Rate limit exceeded; retry after `Retry-After` seconds",
                    );
                }
                if secured {
                    add(op, "401", "Missing, invalid, expired or revoked token");
                }
                if op.request_body.is_some() {
                    add(op, "400", "The body is not JSON");
                    add(op, "413", "The body is larger than the limit");
                    add(op, "415", "The body is not sent as application/json");
                    add(
                        op,
                        "422",
                        "The body does not have the expected shape, or a value is invalid",
                    );
                }
                if !op.parameters.as_ref().is_none_or(|p| p.is_empty()) {
                    add(op, "400", "A parameter is malformed or out of range");
                }
            }
        }
    }
}

pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
