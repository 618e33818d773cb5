//! The HTTP side: one dispatcher that checks requests in the order n8n does (route, method,
//! API key, query, body, then the handler) and answers with n8n's bodies.

use std::time::Duration;

use actix_web::http::{header, Method, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use base64::Engine;
use serde_json::{json, Value};
use wfops_n8n::write_rules::{apply_defaults, validate_name_length, validate_write};

use crate::faults::{pick, FaultKind, RecordedRequest, Route};
use crate::store::{ExecutionFilter, ListFilter, Shape, WriteBody};
use crate::{FakeError, Shared};

const API_PREFIX: &str = "/api/v1";
const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: f64 = 250.0;
const EXECUTION_STATUSES: &[&str] = &["canceled", "error", "running", "success", "waiting"];

/// A request resolved to an operation (and the workflow id in its path).
struct Target {
    route: Route,
    id: Option<String>,
}

enum Resolved {
    Found(Target),
    NotFound,
    MethodNotAllowed,
}

fn resolve(method: &Method, path: &str) -> Resolved {
    if path == "/healthz" || path == "/healthz/readiness" {
        return if method == Method::GET {
            Resolved::Found(Target {
                route: Route::Health,
                id: None,
            })
        } else {
            Resolved::MethodNotAllowed
        };
    }
    let Some(rest) = path.strip_prefix(API_PREFIX) else {
        return Resolved::NotFound;
    };
    let segments: Vec<String> = rest
        .trim_start_matches('/')
        .split('/')
        .map(percent_decode)
        .collect();
    let seg: Vec<&str> = segments.iter().map(String::as_str).collect();
    let found = |route: Route, id: Option<&str>| {
        Resolved::Found(Target {
            route,
            id: id.map(str::to_string),
        })
    };
    match seg.as_slice() {
        ["workflows"] => match *method {
            Method::GET => found(Route::ListWorkflows, None),
            Method::POST => found(Route::CreateWorkflow, None),
            _ => Resolved::MethodNotAllowed,
        },
        ["workflows", id] if !id.is_empty() => match *method {
            Method::GET => found(Route::GetWorkflow, Some(id)),
            Method::PUT => found(Route::UpdateWorkflow, Some(id)),
            Method::DELETE => found(Route::DeleteWorkflow, Some(id)),
            _ => Resolved::MethodNotAllowed,
        },
        ["workflows", id, "activate"] if !id.is_empty() => match *method {
            Method::POST => found(Route::ActivateWorkflow, Some(id)),
            _ => Resolved::MethodNotAllowed,
        },
        ["workflows", id, "deactivate"] if !id.is_empty() => match *method {
            Method::POST => found(Route::DeactivateWorkflow, Some(id)),
            _ => Resolved::MethodNotAllowed,
        },
        ["executions"] => match *method {
            Method::GET => found(Route::ListExecutions, None),
            _ => Resolved::MethodNotAllowed,
        },
        _ => Resolved::NotFound,
    }
}

fn percent_decode(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            if let Some(b) = hex {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn message(status: StatusCode, text: impl Into<String>) -> HttpResponse {
    HttpResponse::build(status).json(json!({ "message": text.into() }))
}

fn json_text(body: String) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json; charset=utf-8")
        .body(body)
}

fn internal(e: FakeError) -> HttpResponse {
    message(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
}

/// A response whose body fails before its first byte, so that the connection is closed
/// without a complete answer.
fn dropped() -> HttpResponse {
    let failing = futures::stream::once(async {
        Err::<web::Bytes, std::io::Error>(std::io::Error::new(
            std::io::ErrorKind::ConnectionAborted,
            "fault: dropped",
        ))
    });
    HttpResponse::Ok()
        .insert_header((header::CONNECTION, "close"))
        .streaming(failing)
}

pub(crate) async fn dispatch(
    req: HttpRequest,
    body: web::Bytes,
    shared: web::Data<Shared>,
) -> HttpResponse {
    let _in_flight = shared.in_flight.enter();
    let resolved = resolve(req.method(), req.path());
    let route = match &resolved {
        Resolved::Found(t) => t.route,
        _ => Route::Other,
    };
    let seq = shared.record(RecordedRequest {
        method: req.method().to_string(),
        path: req.path().to_string(),
        query: req.query_string().to_string(),
        route,
        status: None,
        faulted: false,
    });
    let fault = shared
        .lock_faults()
        .map(|mut f| pick(&mut f, route))
        .unwrap_or(None);
    let mut drop_after = false;
    if let Some(kind) = &fault {
        shared.mark_faulted(seq);
        match kind {
            FaultKind::Status {
                status,
                message: text,
            } => {
                let status =
                    StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                return shared.finish(seq, message(status, text.clone()));
            }
            FaultKind::RateLimited { retry_after } => {
                let mut resp = HttpResponse::TooManyRequests();
                if let Some(value) = retry_after {
                    resp.insert_header((header::RETRY_AFTER, value.as_str()));
                }
                return shared.finish(seq, resp.json(json!({"message": "Too Many Requests"})));
            }
            FaultKind::Delay(wait) => {
                tokio::time::sleep((*wait).min(Duration::from_secs(86_400))).await;
            }
            FaultKind::DropConnection => return dropped(),
            FaultKind::DropAfterHandling => drop_after = true,
        }
    }
    let response = match resolved {
        Resolved::NotFound => message(StatusCode::NOT_FOUND, "not found"),
        Resolved::MethodNotAllowed => message(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("{} method not allowed", req.method()),
        ),
        Resolved::Found(target) => handle(&req, &body, &shared, target),
    };
    if drop_after {
        return dropped();
    }
    shared.finish(seq, response)
}

fn handle(req: &HttpRequest, body: &[u8], shared: &Shared, target: Target) -> HttpResponse {
    if target.route == Route::Health {
        return HttpResponse::Ok().json(json!({"status": "ok"}));
    }
    if let Err(text) = check_api_key(req, shared) {
        return message(StatusCode::UNAUTHORIZED, text);
    }
    let query = match parse_query(req.query_string(), target.route) {
        Ok(q) => q,
        Err(text) => return message(StatusCode::BAD_REQUEST, text),
    };
    let id = target.id.unwrap_or_default();
    let result = match target.route {
        Route::ListWorkflows => list_workflows(shared, &query),
        Route::GetWorkflow => get_workflow(shared, &id, &query),
        Route::CreateWorkflow => write_workflow(shared, body, None),
        Route::UpdateWorkflow => write_workflow(shared, body, Some(&id)),
        Route::DeleteWorkflow => delete_workflow(shared, &id),
        Route::ActivateWorkflow => activate(shared, &id),
        Route::DeactivateWorkflow => deactivate(shared, &id),
        Route::ListExecutions => list_executions(shared, &query),
        Route::Health | Route::Other => Ok(message(StatusCode::NOT_FOUND, "not found")),
    };
    result.unwrap_or_else(internal)
}

/// n8n's two 401 messages: no key at all, or a key it does not know.
fn check_api_key(req: &HttpRequest, shared: &Shared) -> Result<(), &'static str> {
    let given = req
        .headers()
        .get("x-n8n-api-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if given.is_empty() {
        return Err("'X-N8N-API-KEY' header required");
    }
    if given != shared.api_key {
        return Err("unauthorized");
    }
    Ok(())
}

/// The query parameters a route's OpenAPI spec declares, and their types.
#[derive(Debug, Clone, Copy)]
enum Param {
    Str,
    Bool,
    Limit,
    Status,
}

fn params_of(route: Route) -> &'static [(&'static str, Param)] {
    match route {
        Route::ListWorkflows => &[
            ("active", Param::Bool),
            ("tags", Param::Str),
            ("name", Param::Str),
            ("projectId", Param::Str),
            ("excludePinnedData", Param::Bool),
            ("limit", Param::Limit),
            ("cursor", Param::Str),
        ],
        Route::GetWorkflow => &[("excludePinnedData", Param::Bool)],
        Route::ListExecutions => &[
            ("includeData", Param::Bool),
            ("status", Param::Status),
            ("workflowId", Param::Str),
            ("projectId", Param::Str),
            ("limit", Param::Limit),
            ("cursor", Param::Str),
        ],
        _ => &[],
    }
}

#[derive(Debug, Default)]
struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
    fn flag(&self, name: &str) -> bool {
        self.get(name) == Some("true")
    }
}

/// express-openapi-validator's checks: unknown parameters, empty values, then types.
fn parse_query(raw: &str, route: Route) -> Result<Query, String> {
    let pairs: Vec<(String, String)> = url_pairs(raw);
    let declared = params_of(route);
    for (k, _) in &pairs {
        if !declared.iter().any(|(name, _)| name == k) {
            return Err(format!("Unknown query parameter '{k}'"));
        }
    }
    for (k, v) in &pairs {
        if v.is_empty() {
            return Err(format!("Empty value found for query parameter '{k}'"));
        }
    }
    for (name, kind) in declared {
        let Some((_, v)) = pairs.iter().find(|(k, _)| k == name) else {
            continue;
        };
        match kind {
            Param::Str => {}
            Param::Bool => {
                if v != "true" && v != "false" {
                    return Err(format!("request/query/{name} must be boolean"));
                }
            }
            Param::Limit => {
                let n: f64 = v
                    .parse()
                    .map_err(|_| format!("request/query/{name} must be number"))?;
                if n > MAX_LIMIT {
                    return Err(format!("request/query/{name} must be <= 250"));
                }
            }
            Param::Status => {
                if !EXECUTION_STATUSES.contains(&v.as_str()) {
                    return Err(format!(
                        "request/query/{name} must be equal to one of the allowed values: {}",
                        EXECUTION_STATUSES.join(", ")
                    ));
                }
            }
        }
    }
    Ok(Query { pairs })
}

fn url_pairs(raw: &str) -> Vec<(String, String)> {
    raw.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (form_decode(k), form_decode(v))
        })
        .collect()
}

fn form_decode(s: &str) -> String {
    percent_decode(&s.replace('+', " "))
}

/// n8n's cursors: base64 of `{"limit":…,"offset":…}` (workflows) or `{"lastId":…,"limit":…}`
/// (executions). Anything that does not decode to JSON is refused (`None`).
fn decode_cursor(cursor: &str) -> Option<Value> {
    let trimmed = cursor.trim_end_matches('=');
    let bytes = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(trimmed)
        .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(trimmed))
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

fn invalid_cursor() -> HttpResponse {
    message(StatusCode::BAD_REQUEST, "An invalid cursor was provided")
}

fn encode_cursor(json: String) -> String {
    base64::engine::general_purpose::STANDARD.encode(json)
}

fn number_of(v: Option<&Value>) -> Option<usize> {
    v.and_then(|v| {
        v.as_u64()
            .or_else(|| v.as_f64().map(|f| f.max(0.0) as u64))
            .or_else(|| v.as_str()?.parse().ok())
    })
    .map(|n| n as usize)
}

fn list_workflows(shared: &Shared, query: &Query) -> Result<HttpResponse, FakeError> {
    let mut offset = 0usize;
    let mut limit = match query.get("limit") {
        Some(v) => v
            .parse::<f64>()
            .map(|n| n.max(0.0) as usize)
            .unwrap_or(DEFAULT_LIMIT),
        None => DEFAULT_LIMIT,
    };
    if let Some(cursor) = query.get("cursor") {
        let Some(decoded) = decode_cursor(cursor) else {
            return Ok(invalid_cursor());
        };
        // n8n: a cursor with an offset sets offset and limit; any other sets only the limit.
        if decoded.get("offset").is_some() {
            offset = number_of(decoded.get("offset")).unwrap_or(0);
        }
        limit = number_of(decoded.get("limit")).unwrap_or(DEFAULT_LIMIT);
    }
    let filter = ListFilter {
        name: query.get("name").map(str::to_string),
        active: query.get("active").map(|v| v == "true"),
        tags: query.get("tags").map(str::to_string),
        project_id: query.get("projectId").map(str::to_string),
    };
    let shape = Shape {
        pin_data: !query.flag("excludePinnedData"),
        ..Shape::LIST
    };
    let store = shared.store()?;
    let mut total = 0usize;
    let mut items = Vec::new();
    // TypeORM's `take: 0` means no limit.
    let take = if limit == 0 { usize::MAX } else { limit };
    for (i, w) in store.filtered(&filter).enumerate() {
        total += 1;
        if i >= offset && items.len() < take {
            items.push(store.render(w, shape)?);
        }
    }
    let next = if total > offset + limit {
        format!(
            "\"{}\"",
            encode_cursor(format!(
                "{{\"limit\":{limit},\"offset\":{}}}",
                offset + limit
            ))
        )
    } else {
        "null".to_string()
    };
    Ok(json_text(format!(
        "{{\"data\":[{}],\"nextCursor\":{next}}}",
        items.join(",")
    )))
}

fn get_workflow(shared: &Shared, id: &str, query: &Query) -> Result<HttpResponse, FakeError> {
    let store = shared.store()?;
    let Some(w) = store.get(id) else {
        return Ok(not_found());
    };
    let shape = Shape {
        pin_data: !query.flag("excludePinnedData"),
        ..Shape::GET
    };
    Ok(json_text(store.render(w, shape)?))
}

fn not_found() -> HttpResponse {
    message(StatusCode::NOT_FOUND, "Not Found")
}

/// `POST /workflows` (`id` is `None`) or `PUT /workflows/{id}`.
fn write_workflow(
    shared: &Shared,
    body: &[u8],
    id: Option<&str>,
) -> Result<HttpResponse, FakeError> {
    let value: Value = if body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(_) => {
                return Ok(HttpResponse::InternalServerError()
                    .content_type("text/html; charset=utf-8")
                    .body("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>Error</title>\n</head>\n<body>\n<pre>ResponseError: Failed to parse request body</pre>\n</body>\n</html>\n"))
            }
        }
    };
    if let Err(rejection) = validate_write(&value, shared.version) {
        return Ok(message(status_of(rejection.status), rejection.message));
    }
    let mut value = value;
    apply_defaults(&mut value, shared.version);
    let write = WriteBody::from_validated(&value, shared.version)?;
    let mut store = shared.store()?;
    match id {
        None => {
            if let Err(r) = validate_name_length(&write.name, false) {
                return Ok(message(status_of(r.status), r.message));
            }
            let id = store.create(write)?;
            let w = store
                .get(&id)
                .ok_or_else(|| FakeError::Internal("created workflow vanished".into()))?;
            Ok(json_text(store.render(w, Shape::CREATE)?))
        }
        Some(id) => {
            if store.get(id).is_none() {
                return Ok(not_found());
            }
            if !write.name.is_empty() {
                if let Err(r) = validate_name_length(&write.name, true) {
                    return Ok(message(status_of(r.status), r.message));
                }
            }
            store.update(id, write, true)?;
            let w = store
                .get(id)
                .ok_or_else(|| FakeError::Internal("updated workflow vanished".into()))?;
            Ok(json_text(store.render(w, Shape::UPDATE)?))
        }
    }
}

fn status_of(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST)
}

fn delete_workflow(shared: &Shared, id: &str) -> Result<HttpResponse, FakeError> {
    let mut store = shared.store()?;
    let Some(removed) = store.delete(id) else {
        return Ok(not_found());
    };
    Ok(json_text(store.render(&removed, Shape::DELETE)?))
}

fn activate(shared: &Shared, id: &str) -> Result<HttpResponse, FakeError> {
    let mut store = shared.store()?;
    match store.activate(id) {
        None => Ok(not_found()),
        Some(Err(text)) => Ok(message(StatusCode::BAD_REQUEST, text)),
        Some(Ok(())) => {
            let w = store
                .get(id)
                .ok_or_else(|| FakeError::Internal("activated workflow vanished".into()))?;
            Ok(json_text(store.render(w, Shape::ACTIVATE)?))
        }
    }
}

fn deactivate(shared: &Shared, id: &str) -> Result<HttpResponse, FakeError> {
    let mut store = shared.store()?;
    if !store.deactivate(id) {
        return Ok(not_found());
    }
    let w = store
        .get(id)
        .ok_or_else(|| FakeError::Internal("deactivated workflow vanished".into()))?;
    Ok(json_text(store.render(w, Shape::DEACTIVATE)?))
}

fn list_executions(shared: &Shared, query: &Query) -> Result<HttpResponse, FakeError> {
    let mut limit = match query.get("limit") {
        Some(v) => v
            .parse::<f64>()
            .map(|n| n.max(0.0) as usize)
            .unwrap_or(DEFAULT_LIMIT),
        None => DEFAULT_LIMIT,
    };
    let mut last_id = None;
    if let Some(cursor) = query.get("cursor") {
        let Some(decoded) = decode_cursor(cursor) else {
            return Ok(invalid_cursor());
        };
        last_id = number_of(decoded.get("lastId")).map(|n| n as u64);
        limit = number_of(decoded.get("limit")).unwrap_or(DEFAULT_LIMIT);
    }
    let filter = ExecutionFilter {
        workflow_id: query.get("workflowId").map(str::to_string),
        status: query.get("status").map(str::to_string),
        project_id: query.get("projectId").map(str::to_string),
        include_data: query.flag("includeData"),
        last_id,
    };
    let store = shared.store()?;
    let (items, last, more) =
        store.executions_page(&filter, if limit == 0 { usize::MAX } else { limit })?;
    let next = match (more, last) {
        (true, Some(last)) => format!(
            "\"{}\"",
            encode_cursor(format!("{{\"lastId\":\"{last}\",\"limit\":{limit}}}"))
        ),
        _ => "null".to_string(),
    };
    Ok(json_text(format!(
        "{{\"data\":[{}],\"nextCursor\":{next}}}",
        items.join(",")
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_resolve_like_the_public_api() {
        let cases = [
            (Method::GET, "/api/v1/workflows", Some(Route::ListWorkflows)),
            (
                Method::POST,
                "/api/v1/workflows",
                Some(Route::CreateWorkflow),
            ),
            (
                Method::GET,
                "/api/v1/workflows/abc",
                Some(Route::GetWorkflow),
            ),
            (
                Method::PUT,
                "/api/v1/workflows/abc",
                Some(Route::UpdateWorkflow),
            ),
            (
                Method::DELETE,
                "/api/v1/workflows/abc",
                Some(Route::DeleteWorkflow),
            ),
            (
                Method::POST,
                "/api/v1/workflows/abc/activate",
                Some(Route::ActivateWorkflow),
            ),
            (
                Method::POST,
                "/api/v1/workflows/abc/deactivate",
                Some(Route::DeactivateWorkflow),
            ),
            (
                Method::GET,
                "/api/v1/executions",
                Some(Route::ListExecutions),
            ),
            (Method::GET, "/healthz", Some(Route::Health)),
            (Method::GET, "/api/v1/nothing", None),
            (Method::GET, "/elsewhere", None),
        ];
        for (method, path, expected) in cases {
            let got = match resolve(&method, path) {
                Resolved::Found(t) => Some(t.route),
                _ => None,
            };
            assert_eq!(got, expected, "{method} {path}");
        }
        assert!(matches!(
            resolve(&Method::PATCH, "/api/v1/workflows/x"),
            Resolved::MethodNotAllowed
        ));
        match resolve(&Method::GET, "/api/v1/workflows/a%2Fb") {
            Resolved::Found(t) => assert_eq!(t.id.as_deref(), Some("a/b")),
            _ => panic!("an escaped id resolves"),
        }
    }

    #[test]
    fn query_checks_match_n8n_messages() {
        let cases = [
            ("limit=251", Route::ListWorkflows, Some("request/query/limit must be <= 250")),
            ("limit=abc", Route::ListWorkflows, Some("request/query/limit must be number")),
            ("cursor=", Route::ListWorkflows, Some("Empty value found for query parameter 'cursor'")),
            ("foo=1", Route::ListWorkflows, Some("Unknown query parameter 'foo'")),
            ("active=maybe", Route::ListWorkflows, Some("request/query/active must be boolean")),
            ("status=bogus", Route::ListExecutions, Some("request/query/status must be equal to one of the allowed values: canceled, error, running, success, waiting")),
            ("limit=250&name=a+b", Route::ListWorkflows, None),
            ("excludePinnedData=true", Route::GetWorkflow, None),
            ("limit=1", Route::GetWorkflow, Some("Unknown query parameter 'limit'")),
        ];
        for (raw, route, expected) in cases {
            assert_eq!(parse_query(raw, route).err().as_deref(), expected, "{raw}");
        }
        let q = parse_query("name=a+b%21", Route::ListWorkflows).expect("valid");
        assert_eq!(q.get("name"), Some("a b!"));
    }

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let c = encode_cursor("{\"limit\":2,\"offset\":4}".to_string());
        assert_eq!(c, "eyJsaW1pdCI6Miwib2Zmc2V0Ijo0fQ==");
        let d = decode_cursor(&c).expect("decodes");
        assert_eq!(d, json!({"limit": 2, "offset": 4}));
        assert!(decode_cursor("zzz").is_none());
        assert!(decode_cursor("!!!").is_none());
    }

    #[test]
    fn percent_decoding_keeps_bad_escapes() {
        assert_eq!(percent_decode("a%20b"), "a b");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
    }
}
