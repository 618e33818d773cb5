//! Error handlers for actix's body, path and query extractors, so that every malformed request
//! answers the error envelope with a message that names the problem instead of actix's plain
//! text.

use actix_web::error::{JsonPayloadError, PathError, PayloadError, QueryPayloadError};
use actix_web::{web, HttpRequest};
use serde_json::error::Category;
use uuid::Uuid;

use crate::error::ApiError;

pub fn json_config(limit: usize) -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(limit)
        .error_handler(move |err, _req| json_error(err, limit).into())
}

pub fn payload_config(limit: usize) -> web::PayloadConfig {
    web::PayloadConfig::new(limit)
}

pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|err, req| path_error(err, req).into())
}

pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err, _req| query_error(err).into())
}

pub fn json_error(err: JsonPayloadError, limit: usize) -> ApiError {
    match err {
        JsonPayloadError::OverflowKnownLength { limit, .. }
        | JsonPayloadError::Overflow { limit } => ApiError::PayloadTooLarge { limit },
        JsonPayloadError::ContentType => {
            ApiError::UnsupportedMediaType("Content-Type must be application/json".into())
        }
        JsonPayloadError::Deserialize(e) => match e.classify() {
            Category::Data => ApiError::InvalidBody(e.to_string()),
            Category::Syntax | Category::Eof | Category::Io => {
                ApiError::MalformedJson(e.to_string())
            }
        },
        JsonPayloadError::Payload(PayloadError::Overflow) => ApiError::PayloadTooLarge { limit },
        JsonPayloadError::Payload(e) => {
            ApiError::MalformedJson(format!("the body could not be read: {e}"))
        }
        other => ApiError::MalformedJson(other.to_string()),
    }
}

/// Names the parameter: `path parameter `id` must be a UUID, got `abc``.
fn path_error(err: PathError, req: &HttpRequest) -> ApiError {
    for (name, value) in req.match_info().iter() {
        if (name == "id" || name.ends_with("_id")) && Uuid::parse_str(value).is_err() {
            let shown: String = value.chars().take(64).collect();
            return ApiError::InvalidPathParameter(format!(
                "path parameter `{name}` must be a UUID, got `{shown}`"
            ));
        }
    }
    let PathError::Deserialize(e) = err else {
        return ApiError::InvalidPathParameter("invalid path parameter".into());
    };
    ApiError::InvalidPathParameter(format!("invalid path parameter: {e}"))
}

fn query_error(err: QueryPayloadError) -> ApiError {
    match err {
        QueryPayloadError::Deserialize(e) => {
            ApiError::InvalidQueryParameter(format!("invalid query string: {e}"))
        }
        other => ApiError::InvalidQueryParameter(format!("invalid query string: {other}")),
    }
}

/// A JSON body whose deserialization errors name the offending field path
/// (`git_branch: invalid type: integer, expected a string`), which serde_json alone does not.
/// Size, content type and syntax are still checked by actix's `JsonConfig`.
#[derive(Debug)]
pub struct Body<T>(pub T);

impl<T: serde::de::DeserializeOwned + 'static> actix_web::FromRequest for Body<T> {
    type Error = actix_web::Error;
    type Future = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        let fut = web::Json::<serde_json::Value>::from_request(req, payload);
        Box::pin(async move {
            let value = fut.await?.into_inner();
            serde_path_to_error::deserialize(value)
                .map(Body)
                .map_err(|e| {
                    let path = e.path().to_string();
                    let inner = e.into_inner();
                    let message = if path == "." {
                        inner.to_string()
                    } else {
                        format!("`{path}`: {inner}")
                    };
                    ApiError::InvalidBody(message).into()
                })
        })
    }
}
