use std::time::Duration;

/// Everything a [`crate::WorkflowProvider`] call can fail with.
///
/// HTTP failures carry the provider's own `message` (n8n answers `{"message": "…"}`) and the
/// status, because that text is what tells an operator which field or workflow is wrong.
/// No variant ever holds the API key: it only travels in a request header, and messages are
/// scrubbed of it before they are stored here.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// 401: the API key is missing, unknown, expired or revoked.
    #[error("n8n rejected the API key (HTTP {status}): {message}")]
    Unauthorized { status: u16, message: String },

    /// 403: the key is valid but its scopes or the licence do not allow the call.
    #[error("the API key is not allowed to do this (HTTP 403): {message}")]
    Forbidden { message: String },

    /// 404: no such workflow or execution (or route).
    #[error("not found in n8n (HTTP 404): {message}")]
    NotFound { message: String },

    /// Any other 4xx: n8n refused the request as written. Retrying cannot help.
    #[error("n8n rejected the request (HTTP {status}): {message}")]
    Validation { status: u16, message: String },

    /// 429 that did not clear within the retry budget (or asked to wait longer than allowed).
    #[error("n8n is rate limiting (HTTP 429) after {attempts} attempt(s){}: {message}",
        retry_after.map(|d| format!(", asked to wait {d:?}")).unwrap_or_default())]
    RateLimited {
        retry_after: Option<Duration>,
        attempts: u32,
        message: String,
    },

    /// 5xx that did not clear within the retry budget.
    #[error("n8n is unavailable (HTTP {status}) after {attempts} attempt(s): {message}")]
    Unavailable {
        status: u16,
        attempts: u32,
        message: String,
    },

    /// No complete answer within the request timeout.
    #[error("n8n did not answer within {timeout:?} ({attempts} attempt(s))")]
    Timeout { timeout: Duration, attempts: u32 },

    /// The connection could not be made or broke before a complete answer arrived.
    #[error("the connection to n8n failed after {attempts} attempt(s): {message}")]
    Connection { attempts: u32, message: String },

    /// n8n answered 2xx with a body that is not what its API documents.
    #[error("n8n's answer could not be read: {message}")]
    Decode { message: String },

    /// The client was configured with something unusable (bad URL, empty key, …).
    #[error("invalid n8n configuration: {0}")]
    Config(String),

    /// The caller asked for something the API cannot express (empty id, limit out of range).
    #[error("invalid request to n8n: {0}")]
    InvalidRequest(String),

    /// The workflow document cannot be turned into a body n8n accepts.
    #[error("the workflow cannot be written to n8n: {0}")]
    InvalidWorkflow(String),
}

impl ProviderError {
    /// The HTTP status n8n answered with, when the failure is an HTTP answer.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Unauthorized { status, .. }
            | Self::Validation { status, .. }
            | Self::Unavailable { status, .. } => Some(*status),
            Self::Forbidden { .. } => Some(403),
            Self::NotFound { .. } => Some(404),
            Self::RateLimited { .. } => Some(429),
            _ => None,
        }
    }

    /// n8n's own `message`, when the failure is an HTTP answer.
    pub fn provider_message(&self) -> Option<&str> {
        match self {
            Self::Unauthorized { message, .. }
            | Self::Forbidden { message }
            | Self::NotFound { message }
            | Self::Validation { message, .. }
            | Self::RateLimited { message, .. }
            | Self::Unavailable { message, .. } => Some(message),
            _ => None,
        }
    }

    /// How many requests were made before giving up, for failures that are retried.
    pub fn attempts(&self) -> Option<u32> {
        match self {
            Self::RateLimited { attempts, .. }
            | Self::Unavailable { attempts, .. }
            | Self::Timeout { attempts, .. }
            | Self::Connection { attempts, .. } => Some(*attempts),
            _ => None,
        }
    }
}
