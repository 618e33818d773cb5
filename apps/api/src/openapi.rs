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
        routes::jobs::list,
        routes::jobs::get,
        routes::sse::background_jobs,
        routes::sse::background_job,
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "health", description = "Liveness, readiness and this document"),
        (name = "auth", description = "Login, logout and the current caller"),
        (name = "api-keys", description = "Tenant API keys for automation (admin)"),
        (name = "environments", description = "Connected n8n instances"),
        (name = "schedulers", description = "Status of the periodic schedulers"),
        (name = "canonical", description = "Canonical workflows, sync requests, linking and onboarding"),
        (name = "workflows", description = "Workflows per environment, the cross-environment matrix, versions and diffs"),
        (name = "jobs", description = "Background jobs and their Server-Sent Events"),
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

pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
