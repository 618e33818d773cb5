//! Cross-cutting request handling: request ids and the one log line per request, per-IP rate
//! limiting, security headers, and the enveloped 404/405 answers.

use std::time::Instant;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::{DefaultHeaders, Next};
use actix_web::{web, HttpMessage, HttpRequest, HttpResponse, ResponseError};
use uuid::Uuid;
use wfops_config::Config;
use wfops_tenancy::Caller;

use crate::error::ApiError;
use crate::AppState;

pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The id of the current request, in the request extensions.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// A client-supplied id is kept (it ties our log line to the client's) only when it is short
/// and plain, so it can not inject anything into logs.
fn incoming_request_id(req: &ServiceRequest) -> Option<String> {
    let value = req.headers().get(REQUEST_ID_HEADER)?.to_str().ok()?;
    let ok = !value.is_empty()
        && value.len() <= 64
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
    ok.then(|| value.to_string())
}

/// Assigns the request id, times the request, and writes one JSON log line when it is done.
/// Only the route pattern is logged, never the raw path, query, headers or body.
pub async fn request_log(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let request_id = incoming_request_id(&req).unwrap_or_else(|| Uuid::new_v4().to_string());
    req.extensions_mut().insert(RequestId(request_id.clone()));
    let method = req.method().to_string();
    let started = Instant::now();

    let mut res = next.call(req).await?;

    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    let status = res.status().as_u16();
    let route = res
        .request()
        .match_pattern()
        .unwrap_or_else(|| "<unmatched>".to_string());
    let caller = res.request().extensions().get::<Caller>().cloned();
    let tenant_id = caller.as_ref().map(|c| c.tenant_id.to_string());
    let actor = caller.as_ref().map(|c| c.actor.to_string());
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        res.headers_mut()
            .insert(HeaderName::from_static(REQUEST_ID_HEADER), v);
    }
    tracing::info!(
        target: "wfops_api::request",
        request_id = %request_id,
        method = %method,
        route = %route,
        status,
        latency_ms = (latency_ms * 1000.0).round() / 1000.0,
        tenant_id = tenant_id.as_deref().unwrap_or(""),
        actor = actor.as_deref().unwrap_or(""),
        "request"
    );
    Ok(res)
}

/// Limits requests per client IP before any work is done (login brute force, scraping).
/// Health probes are exempt so that an orchestrator never sees a healthy API as down.
pub async fn ip_rate_limit(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let exempt = req.path().starts_with("/api/v1/health");
    if !exempt {
        if let (Some(state), Some(peer)) = (
            req.app_data::<web::Data<AppState>>().cloned(),
            req.peer_addr(),
        ) {
            if let Err(retry_after_secs) = state.ip_limiter.check(&peer.ip().to_string()) {
                let resp = ApiError::RateLimited { retry_after_secs }.error_response();
                return Ok(req.into_response(resp).map_into_right_body());
            }
        }
    }
    Ok(next.call(req).await?.map_into_left_body())
}

/// Headers every response carries. HSTS only when the public URL is https: sending it over
/// plain http on a developer machine would pin browsers to https for localhost.
pub fn security_headers(config: &Config) -> DefaultHeaders {
    let mut headers = DefaultHeaders::new()
        .add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .add((header::X_FRAME_OPTIONS, "DENY"))
        .add((header::REFERRER_POLICY, "no-referrer"))
        .add((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; frame-ancestors 'none'",
        ))
        .add((header::CACHE_CONTROL, "no-store"));
    if config.public_url_is_https() {
        headers = headers.add((
            header::STRICT_TRANSPORT_SECURITY,
            "max-age=31536000; includeSubDomains",
        ));
    }
    headers
}

/// CORS from `CORS_ALLOWED_ORIGINS`; with none configured, cross-origin browsers get nothing.
pub fn cors(config: &Config) -> actix_cors::Cors {
    let mut cors = actix_cors::Cors::default()
        .allowed_methods(["GET", "POST", "PATCH", "PUT", "DELETE", "OPTIONS"])
        .allowed_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::ACCEPT,
            HeaderName::from_static(REQUEST_ID_HEADER),
        ])
        .expose_headers([
            HeaderName::from_static(REQUEST_ID_HEADER),
            header::RETRY_AFTER,
        ])
        .max_age(600);
    for origin in &config.cors_allowed_origins {
        cors = cors.allowed_origin(origin);
    }
    cors
}

/// The app's default service: no route matches.
pub async fn not_found(req: HttpRequest) -> HttpResponse {
    ApiError::RouteNotFound {
        method: req.method().to_string(),
        path: req.path().chars().take(200).collect(),
    }
    .error_response()
}

/// A resource's default service: the path exists, the method does not.
pub fn method_not_allowed(
    allowed: String,
) -> impl Fn(HttpRequest) -> std::future::Ready<HttpResponse> + Clone {
    move |req: HttpRequest| {
        std::future::ready(
            ApiError::MethodNotAllowed {
                method: req.method().to_string(),
                allowed: allowed.clone(),
            }
            .error_response(),
        )
    }
}
