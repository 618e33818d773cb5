//! The one table that maps every API error to a stable `code`, a `type` and an HTTP status.
//!
//! Clients switch on `code`; `message` is for people and always says what is wrong. Every code
//! is listed in [`Code::ALL`] and documented in `docs/errors.md` (a test keeps the two equal).
//! A 5xx means a bug or an outage, never bad input. Internal details (SQL, constraint texts of
//! unknown constraints, secrets) are logged with the request id, not returned.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::{json, Value};
use wfops_engine::{EngineError, EngineErrorKind};

use crate::envelope::ErrorBody;

/// Declares the error codes: variant, wire name, HTTP status and `type`.
macro_rules! error_codes {
    ($($variant:ident = $code:literal, $status:ident, $ty:literal;)*) => {
        /// Every error code the API answers with.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Code {
            $($variant,)*
        }

        impl Code {
            /// Every code, in the order of `docs/errors.md`.
            pub const ALL: &'static [Code] = &[$(Code::$variant,)*];

            /// The wire name, e.g. `environment_not_found`.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Code::$variant => $code,)*
                }
            }

            pub fn status(self) -> StatusCode {
                match self {
                    $(Code::$variant => StatusCode::$status,)*
                }
            }

            /// The error class, e.g. `NotFoundError`.
            pub fn error_type(self) -> &'static str {
                match self {
                    $(Code::$variant => $ty,)*
                }
            }
        }
    };
}

error_codes! {
    // authentication and authorization
    AuthenticationRequired = "authentication_required", UNAUTHORIZED, "AuthenticationError";
    InvalidToken = "invalid_token", UNAUTHORIZED, "AuthenticationError";
    TokenExpired = "token_expired", UNAUTHORIZED, "AuthenticationError";
    InvalidCredentials = "invalid_credentials", UNAUTHORIZED, "AuthenticationError";
    InsufficientRole = "insufficient_role", FORBIDDEN, "AuthorizationError";
    InvalidWebhookSignature = "invalid_webhook_signature", UNAUTHORIZED, "AuthenticationError";
    PlatformAdminRequired = "platform_admin_required", FORBIDDEN, "AuthorizationError";
    SessionRequired = "session_required", FORBIDDEN, "AuthorizationError";
    SelfApprovalForbidden = "self_approval_forbidden", FORBIDDEN, "AuthorizationError";
    // the request itself
    RouteNotFound = "route_not_found", NOT_FOUND, "NotFoundError";
    MethodNotAllowed = "method_not_allowed", METHOD_NOT_ALLOWED, "InvalidRequestError";
    MalformedJson = "malformed_json", BAD_REQUEST, "InvalidRequestError";
    InvalidBody = "invalid_body", UNPROCESSABLE_ENTITY, "ValidationError";
    InvalidPathParameter = "invalid_path_parameter", BAD_REQUEST, "InvalidRequestError";
    InvalidQueryParameter = "invalid_query_parameter", BAD_REQUEST, "InvalidRequestError";
    PayloadTooLarge = "payload_too_large", PAYLOAD_TOO_LARGE, "InvalidRequestError";
    UnsupportedMediaType = "unsupported_media_type", UNSUPPORTED_MEDIA_TYPE, "InvalidRequestError";
    RateLimited = "rate_limited", TOO_MANY_REQUESTS, "RateLimitError";
    InvalidIdempotencyKey = "invalid_idempotency_key", BAD_REQUEST, "InvalidRequestError";
    // resources that do not exist (or belong to another tenant)
    EnvironmentNotFound = "environment_not_found", NOT_FOUND, "NotFoundError";
    CanonicalWorkflowNotFound = "canonical_workflow_not_found", NOT_FOUND, "NotFoundError";
    WorkflowVersionNotFound = "workflow_version_not_found", NOT_FOUND, "NotFoundError";
    JobNotFound = "job_not_found", NOT_FOUND, "NotFoundError";
    IncidentNotFound = "incident_not_found", NOT_FOUND, "NotFoundError";
    ApiKeyNotFound = "api_key_not_found", NOT_FOUND, "NotFoundError";
    ResourceNotFound = "resource_not_found", NOT_FOUND, "NotFoundError";
    PromotionNotFound = "promotion_not_found", NOT_FOUND, "NotFoundError";
    DeploymentNotFound = "deployment_not_found", NOT_FOUND, "NotFoundError";
    SnapshotNotFound = "snapshot_not_found", NOT_FOUND, "NotFoundError";
    SnapshotRestoreNotFound = "snapshot_restore_not_found", NOT_FOUND, "NotFoundError";
    // invalid values
    ValidationFailed = "validation_failed", UNPROCESSABLE_ENTITY, "ValidationError";
    InvalidName = "invalid_name", UNPROCESSABLE_ENTITY, "ValidationError";
    InvalidUrl = "invalid_url", UNPROCESSABLE_ENTITY, "ValidationError";
    InvalidN8nApiKey = "invalid_n8n_api_key", UNPROCESSABLE_ENTITY, "ValidationError";
    InvalidGitRepoUrl = "invalid_git_repo_url", UNPROCESSABLE_ENTITY, "ValidationError";
    InvalidGitBranch = "invalid_git_branch", UNPROCESSABLE_ENTITY, "ValidationError";
    InvalidGitFolder = "invalid_git_folder", UNPROCESSABLE_ENTITY, "ValidationError";
    InvalidGitToken = "invalid_git_token", UNPROCESSABLE_ENTITY, "ValidationError";
    ProviderNotSupported = "provider_not_supported", UNPROCESSABLE_ENTITY, "ValidationError";
    InvalidEmail = "invalid_email", UNPROCESSABLE_ENTITY, "ValidationError";
    WeakPassword = "weak_password", UNPROCESSABLE_ENTITY, "ValidationError";
    InvalidRole = "invalid_role", UNPROCESSABLE_ENTITY, "ValidationError";
    InvalidExpiry = "invalid_expiry", UNPROCESSABLE_ENTITY, "ValidationError";
    InvalidN8nWorkflowId = "invalid_n8n_workflow_id", UNPROCESSABLE_ENTITY, "ValidationError";
    EmptyUpdate = "empty_update", UNPROCESSABLE_ENTITY, "ValidationError";
    ReferencedResourceMissing = "referenced_resource_missing", UNPROCESSABLE_ENTITY, "ValidationError";
    ValueNotAllowed = "value_not_allowed", UNPROCESSABLE_ENTITY, "ValidationError";
    InvalidScheduledFor = "invalid_scheduled_for", UNPROCESSABLE_ENTITY, "ValidationError";
    // the state of what the request is about
    EnvironmentMissingN8nApiKey = "environment_missing_n8n_api_key", CONFLICT, "StateError";
    GitNotConfigured = "git_not_configured", CONFLICT, "StateError";
    EnvironmentMisconfigured = "environment_misconfigured", CONFLICT, "StateError";
    WorkflowNotInEnvironment = "workflow_not_in_environment", CONFLICT, "StateError";
    UnknownCanonicalWorkflow = "unknown_canonical_workflow", CONFLICT, "StateError";
    CanonicalWorkflowDeleted = "canonical_workflow_deleted", CONFLICT, "StateError";
    CanonicalRuleViolated = "canonical_rule_violated", CONFLICT, "StateError";
    VersionsNotComparable = "versions_not_comparable", CONFLICT, "StateError";
    EnvironmentArchived = "environment_archived", CONFLICT, "StateError";
    PromotionBlocked = "promotion_blocked", UNPROCESSABLE_ENTITY, "StateError";
    PromotionNotPendingApproval = "promotion_not_pending_approval", CONFLICT, "StateError";
    PromotionNotDeployable = "promotion_not_deployable", CONFLICT, "StateError";
    DeploymentAlreadyActive = "deployment_already_active", CONFLICT, "StateError";
    DeploymentFinished = "deployment_finished", CONFLICT, "StateError";
    RestoreNotPendingApproval = "restore_not_pending_approval", CONFLICT, "StateError";
    IncidentTransitionNotAllowed = "incident_transition_not_allowed", CONFLICT, "StateError";
    IncidentFinal = "incident_final", CONFLICT, "StateError";
    // conflicts with existing records
    EnvironmentNameTaken = "environment_name_taken", CONFLICT, "ConflictError";
    TenantSlugTaken = "tenant_slug_taken", CONFLICT, "ConflictError";
    UserEmailTaken = "user_email_taken", CONFLICT, "ConflictError";
    ApiKeyPrefixCollision = "api_key_prefix_collision", CONFLICT, "ConflictError";
    CanonicalAlreadyMapped = "canonical_already_mapped", CONFLICT, "ConflictError";
    WorkflowNotUntracked = "workflow_not_untracked", CONFLICT, "ConflictError";
    WorkflowMappingDeleted = "workflow_mapping_deleted", CONFLICT, "ConflictError";
    ConcurrentChange = "concurrent_change", CONFLICT, "ConflictError";
    EnvironmentInUse = "environment_in_use", CONFLICT, "ConflictError";
    PipelineNameTaken = "pipeline_name_taken", CONFLICT, "ConflictError";
    IdempotencyKeyReused = "idempotency_key_reused", CONFLICT, "ConflictError";
    ResourceConflict = "resource_conflict", CONFLICT, "ConflictError";
    // promotion configuration and pre-flight
    PipelineNotFound = "pipeline_not_found", NOT_FOUND, "NotFoundError";
    CredentialMappingNotFound = "credential_mapping_not_found", NOT_FOUND, "NotFoundError";
    EnvironmentVariableNotFound = "environment_variable_not_found", NOT_FOUND, "NotFoundError";
    WorkflowsNotInSource = "workflows_not_in_source", NOT_FOUND, "NotFoundError";
    InvalidStageCount = "invalid_stage_count", UNPROCESSABLE_ENTITY, "ValidationError";
    InvalidStage = "invalid_stage", UNPROCESSABLE_ENTITY, "ValidationError";
    UnknownGateFlag = "unknown_gate_flag", UNPROCESSABLE_ENTITY, "ValidationError";
    DuplicateStageName = "duplicate_stage_name", UNPROCESSABLE_ENTITY, "ValidationError";
    StageSelfPromotion = "stage_self_promotion", UNPROCESSABLE_ENTITY, "ValidationError";
    DuplicateStageDirection = "duplicate_stage_direction", UNPROCESSABLE_ENTITY, "ValidationError";
    PipelineCycle = "pipeline_cycle", UNPROCESSABLE_ENTITY, "ValidationError";
    StageEnvironmentNotFound = "stage_environment_not_found", UNPROCESSABLE_ENTITY, "ValidationError";
    StageEnvironmentArchived = "stage_environment_archived", UNPROCESSABLE_ENTITY, "ValidationError";
    PipelineStageMissing = "pipeline_stage_missing", UNPROCESSABLE_ENTITY, "ValidationError";
    PipelineInactive = "pipeline_inactive", UNPROCESSABLE_ENTITY, "ValidationError";
    SameSourceAndTarget = "same_source_and_target", UNPROCESSABLE_ENTITY, "ValidationError";
    InvalidWorkflowSelection = "invalid_workflow_selection", UNPROCESSABLE_ENTITY, "ValidationError";
    InvalidVariableKey = "invalid_variable_key", BAD_REQUEST, "InvalidRequestError";
    InvalidVariableValue = "invalid_variable_value", UNPROCESSABLE_ENTITY, "ValidationError";
    InvalidCredentialMapping = "invalid_credential_mapping", UNPROCESSABLE_ENTITY, "ValidationError";
    // notifications
    NotificationChannelNotFound = "notification_channel_not_found", NOT_FOUND, "NotFoundError";
    NotificationChannelNameTaken = "notification_channel_name_taken", CONFLICT, "ConflictError";
    InvalidNotificationEvents = "invalid_notification_events", UNPROCESSABLE_ENTITY, "ValidationError";
    InvalidNotificationTarget = "invalid_notification_target", UNPROCESSABLE_ENTITY, "ValidationError";
    ChannelHasNoSigningSecret = "channel_has_no_signing_secret", CONFLICT, "StateError";
    // what WorkflowOps depends on
    GitRemoteUnreachable = "git_remote_unreachable", BAD_GATEWAY, "UpstreamError";
    GitAuthFailed = "git_auth_failed", BAD_GATEWAY, "UpstreamError";
    GitBranchNotFound = "git_branch_not_found", BAD_GATEWAY, "UpstreamError";
    GitPushRejected = "git_push_rejected", BAD_GATEWAY, "UpstreamError";
    GitOperationFailed = "git_operation_failed", BAD_GATEWAY, "UpstreamError";
    N8nUnreachable = "n8n_unreachable", BAD_GATEWAY, "UpstreamError";
    N8nAuthFailed = "n8n_auth_failed", BAD_GATEWAY, "UpstreamError";
    N8nRequestFailed = "n8n_request_failed", BAD_GATEWAY, "UpstreamError";
    DatabaseUnavailable = "database_unavailable", SERVICE_UNAVAILABLE, "ServiceUnavailableError";
    NotReady = "not_ready", SERVICE_UNAVAILABLE, "ServiceUnavailableError";
    InternalError = "internal_error", INTERNAL_SERVER_ERROR, "InternalError";
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No usable credentials; `challenge` goes into `WWW-Authenticate`.
    #[error("{message}")]
    Unauthorized {
        code: Code,
        message: String,
        challenge: &'static str,
    },
    #[error("token has expired")]
    TokenExpired,
    #[error("no route matches {method} {path}")]
    RouteNotFound { method: String, path: String },
    #[error("method {method} is not allowed on this route; allowed: {allowed}")]
    MethodNotAllowed { method: String, allowed: String },
    /// The body is not JSON at all (syntax error, empty body).
    #[error("request body is not valid JSON: {0}")]
    MalformedJson(String),
    /// JSON with the wrong shape: unknown field, wrong type, missing field.
    #[error("request body does not match the expected schema: {0}")]
    InvalidBody(String),
    #[error("{0}")]
    InvalidPathParameter(String),
    #[error("{0}")]
    InvalidQueryParameter(String),
    #[error("request body exceeds the limit of {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("rate limit exceeded; retry in {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    /// Every other client or upstream error: its code says what it is.
    #[error("{message}")]
    Coded {
        code: Code,
        message: String,
        details: Option<Value>,
    },
    /// Something is broken on our side. The cause is logged, never returned.
    #[error("internal error")]
    Internal(String),
    /// The process could not start (configuration, database, migrations). Only the CLI shows
    /// it; it never reaches an HTTP response.
    #[error("{0}")]
    Startup(String),
}

/// The code of a field error: the field's own when it has one.
fn field_code(field: &str) -> Code {
    match field {
        "name" => Code::InvalidName,
        "url" => Code::InvalidUrl,
        "api_key" => Code::InvalidN8nApiKey,
        "git_repo_url" => Code::InvalidGitRepoUrl,
        "git_branch" => Code::InvalidGitBranch,
        "git_folder" => Code::InvalidGitFolder,
        "git_token" => Code::InvalidGitToken,
        "provider" => Code::ProviderNotSupported,
        "email" => Code::InvalidEmail,
        "password" => Code::WeakPassword,
        "role" => Code::InvalidRole,
        "expires_at" => Code::InvalidExpiry,
        "workflow_ids" => Code::InvalidWorkflowSelection,
        "scheduled_for" => Code::InvalidScheduledFor,
        "n8n_workflow_id" => Code::InvalidN8nWorkflowId,
        _ => Code::ValidationFailed,
    }
}

impl ApiError {
    /// An error with a specific code.
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        ApiError::Coded {
            code,
            message: message.into(),
            details: None,
        }
    }

    /// An error with a specific code that names the field it is about.
    pub fn at(code: Code, field: &str, message: impl Into<String>) -> Self {
        ApiError::Coded {
            code,
            message: message.into(),
            details: Some(json!({ "field": field })),
        }
    }

    /// A value no rule more specific than `validation_failed` covers.
    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(Code::ValidationFailed, message)
    }

    /// An invalid field value; the code is the field's own (`invalid_git_branch`, …).
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        ApiError::Coded {
            code: field_code(field),
            details: Some(json!({ "field": field, "reason": message })),
            message: format!("{field}: {message}"),
        }
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        ApiError::Unauthorized {
            code: Code::AuthenticationRequired,
            message: message.into(),
            challenge: r#"Bearer realm="workflowops""#,
        }
    }

    pub fn invalid_token(message: impl Into<String>) -> Self {
        ApiError::Unauthorized {
            code: Code::InvalidToken,
            message: message.into(),
            challenge: r#"Bearer realm="workflowops", error="invalid_token""#,
        }
    }

    pub fn internal(cause: impl std::fmt::Display) -> Self {
        ApiError::Internal(cause.to_string())
    }

    /// The error-code table.
    pub fn code(&self) -> Code {
        use ApiError::*;
        match self {
            Unauthorized { code, .. } | Coded { code, .. } => *code,
            TokenExpired => Code::TokenExpired,
            RouteNotFound { .. } => Code::RouteNotFound,
            MethodNotAllowed { .. } => Code::MethodNotAllowed,
            MalformedJson(_) => Code::MalformedJson,
            InvalidBody(_) => Code::InvalidBody,
            InvalidPathParameter(_) => Code::InvalidPathParameter,
            InvalidQueryParameter(_) => Code::InvalidQueryParameter,
            PayloadTooLarge { .. } => Code::PayloadTooLarge,
            UnsupportedMediaType(_) => Code::UnsupportedMediaType,
            RateLimited { .. } => Code::RateLimited,
            Internal(_) | Startup(_) => Code::InternalError,
        }
    }

    fn details(&self) -> Option<Value> {
        match self {
            ApiError::Coded { details, .. } => details.clone(),
            ApiError::PayloadTooLarge { limit } => Some(json!({ "limit_bytes": limit })),
            ApiError::RateLimited { retry_after_secs } => {
                Some(json!({ "retry_after_seconds": retry_after_secs }))
            }
            _ => None,
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.code().status()
    }

    fn error_response(&self) -> HttpResponse {
        let code = self.code();
        if let ApiError::Internal(cause) | ApiError::Startup(cause) = self {
            tracing::error!(error.cause = %cause, "internal error");
        }
        let mut builder = HttpResponse::build(code.status());
        match self {
            ApiError::Unauthorized { challenge, .. } => {
                builder.insert_header((header::WWW_AUTHENTICATE, *challenge));
            }
            ApiError::TokenExpired => {
                builder.insert_header((
                    header::WWW_AUTHENTICATE,
                    r#"Bearer realm="workflowops", error="invalid_token", error_description="token has expired""#,
                ));
            }
            ApiError::RateLimited { retry_after_secs } => {
                if let Ok(v) = HeaderValue::from_str(&retry_after_secs.to_string()) {
                    builder.insert_header((header::RETRY_AFTER, v));
                }
            }
            ApiError::MethodNotAllowed { allowed, .. } => {
                if let Ok(v) = HeaderValue::from_str(allowed) {
                    builder.insert_header((header::ALLOW, v));
                }
            }
            _ => {}
        }
        let message = match self {
            ApiError::Startup(_) => "internal error".to_string(),
            other => other.to_string(),
        };
        builder.json(ErrorBody::new(
            code.as_str(),
            code.error_type(),
            message,
            self.details(),
        ))
    }
}

impl From<wfops_tenancy::Error> for ApiError {
    fn from(err: wfops_tenancy::Error) -> Self {
        use wfops_tenancy::Error as T;
        match err {
            T::Denied { .. } => ApiError::new(Code::InsufficientRole, err.to_string()),
            T::NotPlatformAdmin => ApiError::new(Code::PlatformAdminRequired, err.to_string()),
            T::TokenExpired => ApiError::TokenExpired,
            T::TokenInvalid(_) | T::MalformedApiKey(_) => ApiError::invalid_token(err.to_string()),
            T::WeakPassword(_) => ApiError::field("password", err.to_string()),
            T::InvalidEmail(_) => ApiError::field("email", err.to_string()),
            T::InvalidTenantName(_) => ApiError::field("name", err.to_string()),
            T::UnknownRole(_) => ApiError::field("role", err.to_string()),
            T::TokenIssue | T::PasswordHash | T::MalformedPasswordHash => ApiError::internal(err),
        }
    }
}

impl From<wfops_git::validate::Invalid> for ApiError {
    fn from(err: wfops_git::validate::Invalid) -> Self {
        use wfops_git::validate::Subject;
        match err.subject {
            Subject::RemoteUrl => ApiError::field("git_repo_url", err.reason),
            Subject::Branch => ApiError::field("git_branch", err.reason),
            Subject::Folder => ApiError::field("git_folder", err.reason),
            Subject::Path => ApiError::field("path", err.reason),
        }
    }
}

impl From<wfops_config::Error> for ApiError {
    fn from(err: wfops_config::Error) -> Self {
        // A stored secret that no longer decrypts is an operator problem, not the caller's.
        ApiError::internal(err)
    }
}

/// Which field a unique constraint protects, so a conflict names it.
fn unique_conflict(constraint: &str) -> ApiError {
    let (code, field, message) = match constraint {
        "environments_tenant_id_name_key" => (
            Code::EnvironmentNameTaken,
            "name",
            "an environment with this name already exists in this tenant",
        ),
        "notification_channels_tenant_id_name_key" => (
            Code::NotificationChannelNameTaken,
            "name",
            "a notification channel with this name already exists in this tenant",
        ),
        "pipelines_tenant_id_name_key" => (
            Code::PipelineNameTaken,
            "name",
            "a pipeline with this name already exists in this tenant",
        ),
        "tenants_slug_key" => (
            Code::TenantSlugTaken,
            "slug",
            "a tenant with this slug already exists",
        ),
        "users_email_lower_key" => (
            Code::UserEmailTaken,
            "email",
            "a user with this email already exists",
        ),
        "api_keys_key_prefix_key" => (
            Code::ApiKeyPrefixCollision,
            "key_prefix",
            "API key prefix collision; retry",
        ),
        _ => {
            return ApiError::new(
                Code::ResourceConflict,
                "the request conflicts with an existing record",
            )
        }
    };
    ApiError::at(code, field, message)
}

impl From<wfops_db::Error> for ApiError {
    fn from(err: wfops_db::Error) -> Self {
        use wfops_db::Error as D;
        match err {
            D::NotFound => ApiError::new(Code::ResourceNotFound, "resource not found"),
            D::Conflict { constraint } => unique_conflict(&constraint),
            D::ForeignKey { constraint } => ApiError::Coded {
                code: Code::ReferencedResourceMissing,
                message: "a referenced resource does not exist".into(),
                details: Some(json!({ "constraint": constraint })),
            },
            D::CheckViolation { constraint } => ApiError::Coded {
                code: Code::ValueNotAllowed,
                message: format!("a value is not allowed (rule {constraint})"),
                details: Some(json!({ "constraint": constraint })),
            },
            D::NotNull { column } => ApiError::field(&column, "is required"),
            D::Pool(_) | D::Connect(_) => ApiError::new(
                Code::DatabaseUnavailable,
                "the database is not reachable; retry shortly",
            ),
            other => ApiError::internal(other),
        }
    }
}

impl From<EngineError> for ApiError {
    fn from(err: EngineError) -> Self {
        use EngineErrorKind as K;
        let code = match err.kind() {
            K::Database => match err {
                EngineError::Db(e) => return e.into(),
                other => return ApiError::internal(other),
            },
            K::EnvironmentNotFound => Code::EnvironmentNotFound,
            K::EnvironmentMisconfigured => Code::EnvironmentMisconfigured,
            K::N8nUnreachable => Code::N8nUnreachable,
            K::N8nAuthFailed => Code::N8nAuthFailed,
            K::N8nRequestFailed => Code::N8nRequestFailed,
            K::GitRemoteUnreachable => Code::GitRemoteUnreachable,
            K::GitAuthFailed => Code::GitAuthFailed,
            K::GitBranchNotFound => Code::GitBranchNotFound,
            K::GitPushRejected => Code::GitPushRejected,
            K::GitFailed => Code::GitOperationFailed,
            K::GitNotConfigured => Code::GitNotConfigured,
            K::CanonicalRule => Code::CanonicalRuleViolated,
            K::PipelineNotFound => Code::PipelineNotFound,
            K::PipelineInactive => Code::PipelineInactive,
            K::PipelineStageMissing => Code::PipelineStageMissing,
            K::SameSourceAndTarget => Code::SameSourceAndTarget,
            K::WorkflowsNotInSource => {
                let ids = match &err {
                    EngineError::Preflight(
                        wfops_engine::preflight::PreflightError::WorkflowsNotInSource {
                            ids, ..
                        },
                    ) => json!(ids),
                    _ => Value::Null,
                };
                return ApiError::Coded {
                    code: Code::WorkflowsNotInSource,
                    message: err.to_string(),
                    details: Some(json!({ "workflow_ids": ids })),
                };
            }
            // only a notification_delivery job meets it; no request waits on a delivery
            K::NotificationFailed | K::Internal => return ApiError::internal(err),
        };
        // The engine's messages name environments and causes but never secrets.
        ApiError::new(code, err.to_string())
    }
}

#[cfg(test)]
mod tests;
