//! The one table that maps every API error to a stable `code`, a `type` and an HTTP status.
//!
//! Clients switch on `code`; `message` is for people and always says what is wrong. A 5xx
//! means a bug or an outage, never bad input. Internal details (SQL, constraint texts of
//! unknown constraints, secrets) are logged with the request id, not returned.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::{json, Value};

use crate::envelope::ErrorBody;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No usable credentials; `challenge` goes into `WWW-Authenticate`.
    #[error("{message}")]
    Unauthorized {
        message: String,
        challenge: &'static str,
    },
    #[error("token has expired")]
    TokenExpired,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("no route matches {method} {path}")]
    RouteNotFound { method: String, path: String },
    #[error("method {method} is not allowed on this route; allowed: {allowed}")]
    MethodNotAllowed { method: String, allowed: String },
    /// The body parsed but a value is not acceptable.
    #[error("{message}")]
    Validation {
        message: String,
        details: Option<Value>,
    },
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
    #[error("{message}")]
    Conflict {
        message: String,
        field: Option<&'static str>,
    },
    #[error("rate limit exceeded; retry in {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    #[error("{0}")]
    ServiceUnavailable(String),
    /// Something is broken on our side. The cause is logged, never returned.
    #[error("internal error")]
    Internal(String),
    // Environment settings refused by a rule with its own code (the field is in `details`).
    /// `git_repo_url` breaks the remote URL rules of `wfops_git::validate`.
    #[error("git_repo_url: {0}")]
    InvalidGitRepoUrl(String),
    /// `git_branch` is not a branch name Git accepts.
    #[error("git_branch: {0}")]
    InvalidGitBranch(String),
    /// `git_folder` is not a safe folder below `workflows/`.
    #[error("git_folder: {0}")]
    InvalidGitFolder(String),
    /// A provider that the data model names but no sync can serve yet.
    #[error("provider: {0}")]
    ProviderNotSupported(String),
    /// The process could not start (configuration, database, migrations). Only the CLI shows
    /// it; it never reaches an HTTP response.
    #[error("{0}")]
    Startup(String),
}

/// One row of the error-code table.
pub struct ErrorKind {
    pub code: &'static str,
    pub r#type: &'static str,
    pub status: StatusCode,
}

impl ApiError {
    pub fn validation(message: impl Into<String>) -> Self {
        ApiError::Validation {
            message: message.into(),
            details: None,
        }
    }

    pub fn field(field: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        ApiError::Validation {
            details: Some(json!({ "field": field, "reason": message })),
            message: format!("{field}: {message}"),
        }
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        ApiError::Unauthorized {
            message: message.into(),
            challenge: r#"Bearer realm="workflowops""#,
        }
    }

    pub fn invalid_token(message: impl Into<String>) -> Self {
        ApiError::Unauthorized {
            message: message.into(),
            challenge: r#"Bearer realm="workflowops", error="invalid_token""#,
        }
    }

    pub fn internal(cause: impl std::fmt::Display) -> Self {
        ApiError::Internal(cause.to_string())
    }

    /// The error-code table.
    pub fn kind(&self) -> ErrorKind {
        use ApiError::*;
        let (code, r#type, status) = match self {
            Unauthorized { .. } => (
                "unauthorized",
                "AuthenticationError",
                StatusCode::UNAUTHORIZED,
            ),
            TokenExpired => (
                "token_expired",
                "AuthenticationError",
                StatusCode::UNAUTHORIZED,
            ),
            Forbidden(_) => ("forbidden", "AuthorizationError", StatusCode::FORBIDDEN),
            NotFound(_) => ("not_found", "NotFoundError", StatusCode::NOT_FOUND),
            RouteNotFound { .. } => ("route_not_found", "NotFoundError", StatusCode::NOT_FOUND),
            MethodNotAllowed { .. } => (
                "method_not_allowed",
                "InvalidRequestError",
                StatusCode::METHOD_NOT_ALLOWED,
            ),
            Validation { .. } => (
                "validation_failed",
                "ValidationError",
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
            MalformedJson(_) => (
                "malformed_json",
                "InvalidRequestError",
                StatusCode::BAD_REQUEST,
            ),
            InvalidBody(_) => (
                "invalid_body",
                "ValidationError",
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
            InvalidPathParameter(_) => (
                "invalid_path_parameter",
                "InvalidRequestError",
                StatusCode::BAD_REQUEST,
            ),
            InvalidQueryParameter(_) => (
                "invalid_query_parameter",
                "InvalidRequestError",
                StatusCode::BAD_REQUEST,
            ),
            PayloadTooLarge { .. } => (
                "payload_too_large",
                "InvalidRequestError",
                StatusCode::PAYLOAD_TOO_LARGE,
            ),
            UnsupportedMediaType(_) => (
                "unsupported_media_type",
                "InvalidRequestError",
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ),
            Conflict { .. } => ("conflict", "ConflictError", StatusCode::CONFLICT),
            RateLimited { .. } => (
                "rate_limited",
                "RateLimitError",
                StatusCode::TOO_MANY_REQUESTS,
            ),
            ServiceUnavailable(_) => (
                "service_unavailable",
                "ServiceUnavailableError",
                StatusCode::SERVICE_UNAVAILABLE,
            ),
            InvalidGitRepoUrl(_) => (
                "invalid_git_repo_url",
                "ValidationError",
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
            InvalidGitBranch(_) => (
                "invalid_git_branch",
                "ValidationError",
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
            InvalidGitFolder(_) => (
                "invalid_git_folder",
                "ValidationError",
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
            ProviderNotSupported(_) => (
                "provider_not_supported",
                "ValidationError",
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
            Internal(_) | Startup(_) => (
                "internal_error",
                "InternalError",
                StatusCode::INTERNAL_SERVER_ERROR,
            ),
        };
        ErrorKind {
            code,
            r#type,
            status,
        }
    }

    fn details(&self) -> Option<Value> {
        match self {
            ApiError::Validation { details, .. } => details.clone(),
            ApiError::Conflict {
                field: Some(field), ..
            } => Some(json!({ "field": field })),
            ApiError::InvalidGitRepoUrl(reason) => {
                Some(json!({ "field": "git_repo_url", "reason": reason }))
            }
            ApiError::InvalidGitBranch(reason) => {
                Some(json!({ "field": "git_branch", "reason": reason }))
            }
            ApiError::InvalidGitFolder(reason) => {
                Some(json!({ "field": "git_folder", "reason": reason }))
            }
            ApiError::ProviderNotSupported(reason) => {
                Some(json!({ "field": "provider", "reason": reason }))
            }
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
        self.kind().status
    }

    fn error_response(&self) -> HttpResponse {
        let kind = self.kind();
        if let ApiError::Internal(cause) | ApiError::Startup(cause) = self {
            tracing::error!(error.cause = %cause, "internal error");
        }
        let mut builder = HttpResponse::build(kind.status);
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
            kind.code,
            kind.r#type,
            message,
            self.details(),
        ))
    }
}

impl From<wfops_tenancy::Error> for ApiError {
    fn from(err: wfops_tenancy::Error) -> Self {
        use wfops_tenancy::Error as T;
        match err {
            T::Denied { .. } | T::NotPlatformAdmin => ApiError::Forbidden(err.to_string()),
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
            Subject::RemoteUrl => ApiError::InvalidGitRepoUrl(err.reason),
            Subject::Branch => ApiError::InvalidGitBranch(err.reason),
            Subject::Folder => ApiError::InvalidGitFolder(err.reason),
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

/// Which field a unique or check constraint protects, so a conflict names it.
fn constraint_field(constraint: &str) -> (Option<&'static str>, &'static str) {
    match constraint {
        "environments_tenant_id_name_key" => (
            Some("name"),
            "an environment with this name already exists in this tenant",
        ),
        "tenants_slug_key" => (Some("slug"), "a tenant with this slug already exists"),
        "users_email_lower_key" => (Some("email"), "a user with this email already exists"),
        "api_keys_key_prefix_key" => (Some("key_prefix"), "API key prefix collision; retry"),
        _ => (None, "the request conflicts with an existing record"),
    }
}

impl From<wfops_db::Error> for ApiError {
    fn from(err: wfops_db::Error) -> Self {
        use wfops_db::Error as D;
        match err {
            D::NotFound => ApiError::NotFound("resource not found".into()),
            D::Conflict { constraint } => {
                let (field, message) = constraint_field(&constraint);
                ApiError::Conflict {
                    message: message.into(),
                    field,
                }
            }
            D::ForeignKey { constraint } => ApiError::Validation {
                message: "a referenced resource does not exist".into(),
                details: Some(json!({ "constraint": constraint })),
            },
            D::CheckViolation { constraint } => ApiError::Validation {
                message: format!("a value is not allowed (rule {constraint})"),
                details: Some(json!({ "constraint": constraint })),
            },
            D::NotNull { column } => ApiError::field(&column, "is required"),
            D::Pool(_) | D::Connect(_) => {
                ApiError::ServiceUnavailable("the database is not reachable; retry shortly".into())
            }
            other => ApiError::internal(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::body::to_bytes;

    async fn body_of(err: ApiError) -> (StatusCode, Value, actix_web::http::header::HeaderMap) {
        let resp = err.error_response();
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = to_bytes(resp.into_body()).await.unwrap();
        (status, serde_json::from_slice(&bytes).unwrap(), headers)
    }

    #[actix_web::test]
    async fn every_error_has_a_code_type_and_status() {
        let cases: Vec<(ApiError, u16, &str)> = vec![
            (ApiError::unauthorized("x"), 401, "unauthorized"),
            (ApiError::TokenExpired, 401, "token_expired"),
            (ApiError::Forbidden("x".into()), 403, "forbidden"),
            (ApiError::NotFound("x".into()), 404, "not_found"),
            (
                ApiError::RouteNotFound {
                    method: "GET".into(),
                    path: "/x".into(),
                },
                404,
                "route_not_found",
            ),
            (
                ApiError::MethodNotAllowed {
                    method: "PUT".into(),
                    allowed: "GET".into(),
                },
                405,
                "method_not_allowed",
            ),
            (ApiError::validation("x"), 422, "validation_failed"),
            (ApiError::MalformedJson("x".into()), 400, "malformed_json"),
            (ApiError::InvalidBody("x".into()), 422, "invalid_body"),
            (
                ApiError::InvalidPathParameter("x".into()),
                400,
                "invalid_path_parameter",
            ),
            (
                ApiError::InvalidQueryParameter("x".into()),
                400,
                "invalid_query_parameter",
            ),
            (
                ApiError::PayloadTooLarge { limit: 10 },
                413,
                "payload_too_large",
            ),
            (
                ApiError::UnsupportedMediaType("x".into()),
                415,
                "unsupported_media_type",
            ),
            (
                ApiError::Conflict {
                    message: "x".into(),
                    field: Some("name"),
                },
                409,
                "conflict",
            ),
            (
                ApiError::RateLimited {
                    retry_after_secs: 3,
                },
                429,
                "rate_limited",
            ),
            (
                ApiError::ServiceUnavailable("x".into()),
                503,
                "service_unavailable",
            ),
            (
                ApiError::InvalidGitRepoUrl("x".into()),
                422,
                "invalid_git_repo_url",
            ),
            (
                ApiError::InvalidGitBranch("x".into()),
                422,
                "invalid_git_branch",
            ),
            (
                ApiError::InvalidGitFolder("x".into()),
                422,
                "invalid_git_folder",
            ),
            (
                ApiError::ProviderNotSupported("x".into()),
                422,
                "provider_not_supported",
            ),
            (
                ApiError::internal("db exploded: password=hunter2"),
                500,
                "internal_error",
            ),
        ];
        for (err, status, code) in cases {
            let (s, body, _) = body_of(err).await;
            assert_eq!(s.as_u16(), status, "{code}");
            assert_eq!(body["error"]["code"], code);
            assert!(body["error"]["type"].as_str().unwrap().ends_with("Error"));
            assert!(body["error"]["message"].is_string());
            assert!(body["timestamp"].is_string());
            assert!(
                !body.to_string().contains("hunter2"),
                "internal causes stay private"
            );
        }
    }

    #[actix_web::test]
    async fn headers_for_auth_rate_limit_and_405() {
        let (_, _, h) = body_of(ApiError::unauthorized("missing")).await;
        assert!(h
            .get("www-authenticate")
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("Bearer"));
        let (_, _, h) = body_of(ApiError::RateLimited {
            retry_after_secs: 7,
        })
        .await;
        assert_eq!(h.get("retry-after").unwrap(), "7");
        let (_, _, h) = body_of(ApiError::MethodNotAllowed {
            method: "PUT".into(),
            allowed: "GET, POST".into(),
        })
        .await;
        assert_eq!(h.get("allow").unwrap(), "GET, POST");
    }

    #[actix_web::test]
    async fn db_errors_map_to_client_errors() {
        let (s, body, _) = body_of(
            wfops_db::Error::Conflict {
                constraint: "environments_tenant_id_name_key".into(),
            }
            .into(),
        )
        .await;
        assert_eq!(s, StatusCode::CONFLICT);
        assert_eq!(body["error"]["details"]["field"], "name");
        let (s, _, _) = body_of(
            wfops_db::Error::CheckViolation {
                constraint: "environments_url_check".into(),
            }
            .into(),
        )
        .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
        let (s, _, _) = body_of(
            wfops_db::Error::ForeignKey {
                constraint: "x_fkey".into(),
            }
            .into(),
        )
        .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
        let (s, _, _) = body_of(wfops_db::Error::NotFound.into()).await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        let (s, _, _) = body_of(wfops_db::Error::Pool("timeout".into()).into()).await;
        assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
    }

    #[actix_web::test]
    async fn tenancy_errors_map() {
        let denied = wfops_tenancy::Error::Denied {
            required: wfops_tenancy::Role::Admin,
            actual: wfops_tenancy::Role::Viewer,
        };
        let (s, body, _) = body_of(denied.into()).await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        assert!(body["error"]["message"].as_str().unwrap().contains("admin"));
        let (s, _, _) = body_of(wfops_tenancy::Error::TokenExpired.into()).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    }
}
