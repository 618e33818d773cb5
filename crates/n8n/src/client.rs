use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use rand::Rng;
use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, CONTENT_TYPE, RETRY_AFTER};
use reqwest::{Method, StatusCode, Url};
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::Semaphore;
use wfops_config::Secret;

use crate::config::{N8nConfig, RetryPolicy, MAX_PAGE_SIZE};
use crate::error::ProviderError;
use crate::model::{Health, ListExecutions, ListWorkflows, Page, RemoteExecution, RemoteWorkflow};
use crate::provider::WorkflowProvider;
use crate::write_rules::{sanitize_for_write, N8nVersion};

const API_KEY_HEADER: &str = "X-N8N-API-KEY";
/// n8n messages are short; anything longer is an HTML error page or a proxy's, of which the
/// start is enough to recognise it.
const MAX_MESSAGE_CHARS: usize = 300;

/// A client for one n8n instance's public REST API v1.
///
/// Cheap to clone; clones share the connection pool and the concurrency limit, so keep one
/// per instance.
#[derive(Clone)]
pub struct N8nClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    /// `…/api/v1/` (with the trailing slash, so `join` appends).
    api_base: Url,
    api_key: Secret<String>,
    /// The key as a header value marked sensitive, so HTTP-level debug output hides it too.
    api_key_header: HeaderValue,
    version: N8nVersion,
    retry: RetryPolicy,
    request_timeout: Duration,
    page_size: u16,
    permits: Semaphore,
}

impl fmt::Debug for N8nClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("N8nClient")
            .field("api_base", &self.inner.api_base.as_str())
            .field("version", &self.inner.version)
            .field("api_key", &self.inner.api_key)
            .finish()
    }
}

/// Whether repeating a request could do the work twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Read,
    Create,
    Update,
    Delete,
    Toggle,
    /// The health probe: one attempt, so that a down instance is reported at once instead
    /// of after the whole retry budget.
    Probe,
}

impl Op {
    fn idempotent(self) -> bool {
        !matches!(self, Op::Create)
    }
}

/// One attempt's failure, before deciding whether to retry.
enum Failure {
    Http {
        status: StatusCode,
        message: String,
        retry_after: Option<Duration>,
    },
    /// The connection never opened: the request cannot have reached n8n.
    Connect(String),
    Timeout,
    /// The connection broke after the request may have been sent.
    Broken(String),
}

#[derive(Deserialize)]
struct ListBody {
    data: Vec<Value>,
    #[serde(rename = "nextCursor")]
    next_cursor: Option<String>,
}

impl N8nClient {
    pub fn new(config: N8nConfig) -> Result<Self, ProviderError> {
        let api_base = api_base(&config.base_url)?;
        if config.api_key.expose().trim().is_empty() {
            return Err(ProviderError::Config("the API key is empty".into()));
        }
        let Ok(mut api_key_header) = HeaderValue::from_str(config.api_key.expose()) else {
            return Err(ProviderError::Config(
                "the API key contains characters a header cannot carry".into(),
            ));
        };
        api_key_header.set_sensitive(true);
        if config.max_concurrency == 0 {
            return Err(ProviderError::Config(
                "max_concurrency must be at least 1".into(),
            ));
        }
        if config.page_size == 0 || config.page_size > MAX_PAGE_SIZE {
            return Err(ProviderError::Config(format!(
                "page_size must be 1..={MAX_PAGE_SIZE}, not {}",
                config.page_size
            )));
        }
        if config.request_timeout.is_zero() || config.connect_timeout.is_zero() {
            return Err(ProviderError::Config(
                "timeouts must be longer than zero".into(),
            ));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            .user_agent(concat!("workflowops/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| {
                ProviderError::Config(format!("cannot build the HTTP client: {}", error_chain(&e)))
            })?;
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                api_base,
                api_key: config.api_key,
                api_key_header,
                version: config.version,
                retry: config.retry,
                request_timeout: config.request_timeout,
                page_size: config.page_size,
                permits: Semaphore::new(config.max_concurrency),
            }),
        })
    }

    pub fn version(&self) -> N8nVersion {
        self.inner.version
    }

    /// `…/api/v1/` of the instance.
    pub fn api_base(&self) -> &str {
        self.inner.api_base.as_str()
    }

    /// `POST /workflows` with `body` as given, without sanitizing: n8n's own validation
    /// answers. For tests that compare n8n's answers, and for callers that sanitized already.
    pub async fn create_workflow_unsanitized(
        &self,
        body: &Value,
    ) -> Result<RemoteWorkflow, ProviderError> {
        let url = self.url(&["workflows"])?;
        let value = self
            .call_json(Op::Create, Method::POST, url, Some(body))
            .await?;
        RemoteWorkflow::from_value(value)
    }

    /// `PUT /workflows/{id}` with `body` as given, without sanitizing.
    pub async fn update_workflow_unsanitized(
        &self,
        id: &str,
        body: &Value,
    ) -> Result<RemoteWorkflow, ProviderError> {
        let url = self.url(&["workflows", checked_id(id)?])?;
        let value = self
            .call_json(Op::Update, Method::PUT, url, Some(body))
            .await?;
        RemoteWorkflow::from_value(value)
    }

    fn url(&self, segments: &[&str]) -> Result<Url, ProviderError> {
        let mut url = self.inner.api_base.clone();
        {
            let mut path = url
                .path_segments_mut()
                .map_err(|_| ProviderError::Config("the base URL cannot have a path".into()))?;
            path.pop_if_empty();
            for s in segments {
                path.push(s);
            }
        }
        Ok(url)
    }

    fn limit(&self, limit: Option<u16>) -> Result<u16, ProviderError> {
        let limit = limit.unwrap_or(self.inner.page_size);
        if limit == 0 || limit > MAX_PAGE_SIZE {
            return Err(ProviderError::InvalidRequest(format!(
                "limit must be 1..={MAX_PAGE_SIZE}, not {limit}"
            )));
        }
        Ok(limit)
    }

    async fn call_json(
        &self,
        op: Op,
        method: Method,
        url: Url,
        body: Option<&Value>,
    ) -> Result<Value, ProviderError> {
        let bytes = self.send(op, method, url, body).await?;
        serde_json::from_slice(&bytes).map_err(|e| ProviderError::Decode {
            message: format!("the body is not JSON: {e}"),
        })
    }

    async fn call_list(&self, op: Op, url: Url) -> Result<ListBody, ProviderError> {
        let bytes = self.send(op, Method::GET, url, None).await?;
        serde_json::from_slice(&bytes).map_err(|e| ProviderError::Decode {
            message: format!("a list answer is not {{data, nextCursor}}: {e}"),
        })
    }

    /// Sends one logical request, retrying as [`RetryPolicy`] describes, and returns the body
    /// of the 2xx answer.
    async fn send(
        &self,
        op: Op,
        method: Method,
        url: Url,
        body: Option<&Value>,
    ) -> Result<bytes::Bytes, ProviderError> {
        let inner = &*self.inner;
        let body = body
            .map(serde_json::to_vec)
            .transpose()
            .map_err(|e| {
                ProviderError::InvalidRequest(format!("the body cannot be serialized: {e}"))
            })?
            .map(bytes::Bytes::from);
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            let failure = {
                let _permit = inner.permits.acquire().await.map_err(|_| {
                    ProviderError::Config("the client's concurrency limiter was closed".into())
                })?;
                let mut request = inner
                    .http
                    .request(method.clone(), url.clone())
                    .header(API_KEY_HEADER, inner.api_key_header.clone())
                    .header(ACCEPT, "application/json");
                if let Some(body) = &body {
                    request = request
                        .header(CONTENT_TYPE, "application/json")
                        .body(body.clone());
                }
                match request.send().await {
                    Err(e) => classify_transport(&e),
                    Ok(response) => {
                        let status = response.status();
                        let retry_after = retry_after(response.headers());
                        match response.bytes().await {
                            Ok(bytes) if status.is_success() => return Ok(bytes),
                            Ok(bytes) => Failure::Http {
                                status,
                                message: self.message(&bytes, status),
                                retry_after,
                            },
                            Err(e) => classify_transport(&e),
                        }
                    }
                }
            };
            // A delete whose earlier attempt went through answers 404 on the retry: done.
            if let Failure::Http {
                status: StatusCode::NOT_FOUND,
                ..
            } = failure
            {
                if op == Op::Delete && attempt > 1 {
                    return Ok(bytes::Bytes::new());
                }
            }
            let retryable = op != Op::Probe
                && match &failure {
                    Failure::Http { status, .. } if *status == StatusCode::TOO_MANY_REQUESTS => {
                        true
                    }
                    Failure::Http { status, .. } if *status == StatusCode::SERVICE_UNAVAILABLE => {
                        true
                    }
                    Failure::Http { status, .. } if status.is_server_error() => op.idempotent(),
                    Failure::Http { .. } => false,
                    Failure::Connect(_) => true,
                    Failure::Timeout | Failure::Broken(_) => op.idempotent(),
                };
            if !retryable || attempt > inner.retry.max_retries {
                return Err(self.error_for(failure, attempt));
            }
            let delay = match &failure {
                Failure::Http {
                    retry_after: Some(wait),
                    ..
                } => {
                    if *wait > inner.retry.max_retry_after {
                        return Err(self.error_for(failure, attempt));
                    }
                    *wait
                }
                _ => inner
                    .retry
                    .backoff(attempt, rand::thread_rng().gen_range(0.0..=1.0)),
            };
            tracing::debug!(
                target: "wfops_n8n",
                method = %method,
                path = url.path(),
                attempt,
                delay_ms = delay.as_millis() as u64,
                reason = %failure.describe(),
                "retrying n8n request"
            );
            tokio::time::sleep(delay).await;
        }
    }

    /// n8n's `message`, or the start of a non-JSON body; the key is scrubbed in case a proxy
    /// echoed the request headers.
    fn message(&self, bytes: &[u8], status: StatusCode) -> String {
        let text = match serde_json::from_slice::<Value>(bytes) {
            Ok(Value::Object(map)) => match map.get("message") {
                Some(Value::String(m)) => m.clone(),
                _ => Value::Object(map).to_string(),
            },
            _ => String::from_utf8_lossy(bytes).trim().to_string(),
        };
        let text = if text.is_empty() {
            status
                .canonical_reason()
                .unwrap_or("no message")
                .to_string()
        } else {
            text
        };
        let text = text.replace(self.inner.api_key.expose().as_str(), "[redacted]");
        truncate(&text)
    }

    fn error_for(&self, failure: Failure, attempts: u32) -> ProviderError {
        match failure {
            Failure::Http {
                status,
                message,
                retry_after,
            } => match status.as_u16() {
                401 => ProviderError::Unauthorized {
                    status: 401,
                    message,
                },
                403 => ProviderError::Forbidden { message },
                404 => ProviderError::NotFound { message },
                429 => ProviderError::RateLimited {
                    retry_after,
                    attempts,
                    message,
                },
                s @ 500..=599 => ProviderError::Unavailable {
                    status: s,
                    attempts,
                    message,
                },
                s @ 400..=499 => ProviderError::Validation { status: s, message },
                s => ProviderError::Decode {
                    message: format!("unexpected HTTP {s}: {message}"),
                },
            },
            Failure::Connect(message) | Failure::Broken(message) => ProviderError::Connection {
                attempts,
                message: message.replace(self.inner.api_key.expose().as_str(), "[redacted]"),
            },
            Failure::Timeout => ProviderError::Timeout {
                timeout: self.inner.request_timeout,
                attempts,
            },
        }
    }
}

impl Failure {
    fn describe(&self) -> String {
        match self {
            Failure::Http { status, .. } => format!("HTTP {}", status.as_u16()),
            Failure::Connect(m) => format!("connect failed: {m}"),
            Failure::Timeout => "timed out".to_string(),
            Failure::Broken(m) => format!("connection broke: {m}"),
        }
    }
}

fn classify_transport(e: &reqwest::Error) -> Failure {
    if e.is_timeout() {
        Failure::Timeout
    } else if e.is_connect() {
        Failure::Connect(error_chain(e))
    } else {
        Failure::Broken(error_chain(e))
    }
}

/// The error and its sources, without the URL (which is not secret, but carries cursors and
/// ids that make messages noisy and unstable).
fn error_chain(e: &reqwest::Error) -> String {
    let mut text = strip_url(&e.to_string());
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let part = s.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = s.source();
    }
    truncate(&text)
}

fn strip_url(s: &str) -> String {
    match s.find(" for url (") {
        Some(start) => {
            let rest = &s[start..];
            let end = rest.find(')').map(|i| start + i + 1).unwrap_or(s.len());
            format!("{}{}", &s[..start], &s[end..])
        }
        None => s.to_string(),
    }
}

fn truncate(text: &str) -> String {
    if text.chars().count() <= MAX_MESSAGE_CHARS {
        return text.to_string();
    }
    let mut out: String = text.chars().take(MAX_MESSAGE_CHARS).collect();
    out.push('…');
    out
}

/// `Retry-After` as seconds or an HTTP date; a date in the past means "now".
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let wait = when.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(wait.to_std().unwrap_or(Duration::ZERO))
}

fn checked_id(id: &str) -> Result<&str, ProviderError> {
    if id.trim().is_empty() {
        return Err(ProviderError::InvalidRequest("the id is empty".into()));
    }
    Ok(id)
}

/// Accepts `http(s)://host[:port][/prefix][/api/v1][/]` and returns `…/api/v1/`.
fn api_base(base_url: &str) -> Result<Url, ProviderError> {
    let mut url = Url::parse(base_url.trim()).map_err(|e| {
        ProviderError::Config(format!("the n8n URL `{base_url}` is not a URL: {e}"))
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(ProviderError::Config(format!(
            "the n8n URL must be http or https, not {}",
            url.scheme()
        )));
    }
    if !url.username().is_empty() || url.password().is_some() {
        // Never echo the URL here: it holds credentials.
        return Err(ProviderError::Config(
            "the n8n URL must not contain a user name or password".into(),
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(ProviderError::Config(format!(
            "the n8n URL `{base_url}` must not have a query or fragment"
        )));
    }
    let path = url.path().trim_end_matches('/');
    let path = path.strip_suffix("/api/v1").unwrap_or(path);
    let path = format!("{path}/api/v1/");
    url.set_path(&path);
    Ok(url)
}

fn page_of<T>(
    body: ListBody,
    wrap: impl Fn(Value) -> Result<T, ProviderError>,
) -> Result<Page<T>, ProviderError> {
    let items = body
        .data
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            wrap(v).map_err(|e| match e {
                ProviderError::Decode { message } => ProviderError::Decode {
                    message: format!("item {i}: {message}"),
                },
                other => other,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Page {
        items,
        next_cursor: body.next_cursor.filter(|c| !c.is_empty()),
    })
}

#[async_trait]
impl WorkflowProvider for N8nClient {
    fn provider_name(&self) -> &'static str {
        "n8n"
    }

    async fn list_workflows(
        &self,
        query: &ListWorkflows,
    ) -> Result<Page<RemoteWorkflow>, ProviderError> {
        let mut url = self.url(&["workflows"])?;
        let limit = self.limit(query.limit)?;
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("limit", &limit.to_string());
            if let Some(cursor) = query.cursor.as_deref().filter(|c| !c.is_empty()) {
                q.append_pair("cursor", cursor);
            }
            if let Some(name) = query.name.as_deref().filter(|n| !n.is_empty()) {
                q.append_pair("name", name);
            }
            if let Some(active) = query.active {
                q.append_pair("active", if active { "true" } else { "false" });
            }
            if !query.tags.is_empty() {
                q.append_pair("tags", &query.tags.join(","));
            }
            if let Some(project) = query.project_id.as_deref().filter(|p| !p.is_empty()) {
                q.append_pair("projectId", project);
            }
            if query.exclude_pinned_data {
                q.append_pair("excludePinnedData", "true");
            }
        }
        page_of(
            self.call_list(Op::Read, url).await?,
            RemoteWorkflow::from_value,
        )
    }

    async fn get_workflow(&self, id: &str) -> Result<RemoteWorkflow, ProviderError> {
        let url = self.url(&["workflows", checked_id(id)?])?;
        RemoteWorkflow::from_value(self.call_json(Op::Read, Method::GET, url, None).await?)
    }

    async fn create_workflow(&self, doc: &Value) -> Result<RemoteWorkflow, ProviderError> {
        let body = sanitize_for_write(doc, self.inner.version)?;
        self.create_workflow_unsanitized(&body).await
    }

    async fn update_workflow(
        &self,
        id: &str,
        doc: &Value,
    ) -> Result<RemoteWorkflow, ProviderError> {
        let body = sanitize_for_write(doc, self.inner.version)?;
        self.update_workflow_unsanitized(id, &body).await
    }

    async fn delete_workflow(&self, id: &str) -> Result<(), ProviderError> {
        let url = self.url(&["workflows", checked_id(id)?])?;
        self.send(Op::Delete, Method::DELETE, url, None)
            .await
            .map(|_| ())
    }

    async fn activate_workflow(&self, id: &str) -> Result<RemoteWorkflow, ProviderError> {
        let url = self.url(&["workflows", checked_id(id)?, "activate"])?;
        RemoteWorkflow::from_value(self.call_json(Op::Toggle, Method::POST, url, None).await?)
    }

    async fn deactivate_workflow(&self, id: &str) -> Result<RemoteWorkflow, ProviderError> {
        let url = self.url(&["workflows", checked_id(id)?, "deactivate"])?;
        RemoteWorkflow::from_value(self.call_json(Op::Toggle, Method::POST, url, None).await?)
    }

    async fn list_executions(
        &self,
        query: &ListExecutions,
    ) -> Result<Page<RemoteExecution>, ProviderError> {
        let mut url = self.url(&["executions"])?;
        let limit = self.limit(query.limit)?;
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("limit", &limit.to_string());
            if let Some(cursor) = query.cursor.as_deref().filter(|c| !c.is_empty()) {
                q.append_pair("cursor", cursor);
            }
            if let Some(workflow) = query.workflow_id.as_deref().filter(|w| !w.is_empty()) {
                q.append_pair("workflowId", workflow);
            }
            if let Some(status) = query.status {
                q.append_pair("status", status.as_str());
            }
            if let Some(project) = query.project_id.as_deref().filter(|p| !p.is_empty()) {
                q.append_pair("projectId", project);
            }
            if query.include_data {
                q.append_pair("includeData", "true");
            }
        }
        page_of(
            self.call_list(Op::Read, url).await?,
            RemoteExecution::from_value,
        )
    }

    async fn health(&self) -> Result<Health, ProviderError> {
        let started = Instant::now();
        let mut url = self.url(&["workflows"])?;
        url.query_pairs_mut()
            .append_pair("limit", "1")
            .append_pair("excludePinnedData", "true");
        self.call_list(Op::Probe, url).await?;
        Ok(Health {
            latency: started.elapsed(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_are_normalized_to_the_api_root() {
        for (input, expected) in [
            ("http://localhost:5678", "http://localhost:5678/api/v1/"),
            ("http://localhost:5678/", "http://localhost:5678/api/v1/"),
            (
                "https://n8n.example.com/api/v1",
                "https://n8n.example.com/api/v1/",
            ),
            (
                "https://n8n.example.com/api/v1/",
                "https://n8n.example.com/api/v1/",
            ),
            ("https://example.com/n8n", "https://example.com/n8n/api/v1/"),
        ] {
            assert_eq!(api_base(input).expect(input).as_str(), expected, "{input}");
        }
    }

    #[test]
    fn bad_base_urls_are_refused_without_echoing_credentials() {
        let err = api_base("https://bob:hunter2@n8n.example.com").expect_err("credentials");
        assert!(!err.to_string().contains("hunter2"), "{err}");
        for bad in ["ftp://x", "not a url", "http://x/?a=1", "http://x/#f"] {
            assert!(
                matches!(api_base(bad), Err(ProviderError::Config(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn client_config_is_checked() {
        let key = || Secret::new("k".to_string());
        let ok = N8nConfig::new("http://localhost:1", key());
        assert!(N8nClient::new(ok.clone()).is_ok());
        let cases: Vec<(N8nConfig, &str)> = vec![
            (
                N8nConfig {
                    api_key: Secret::new("  ".into()),
                    ..ok.clone()
                },
                "API key is empty",
            ),
            (
                N8nConfig {
                    api_key: Secret::new("a\nb".into()),
                    ..ok.clone()
                },
                "header",
            ),
            (
                N8nConfig {
                    max_concurrency: 0,
                    ..ok.clone()
                },
                "max_concurrency",
            ),
            (
                N8nConfig {
                    page_size: 251,
                    ..ok.clone()
                },
                "page_size",
            ),
            (
                N8nConfig {
                    request_timeout: Duration::ZERO,
                    ..ok.clone()
                },
                "timeouts",
            ),
        ];
        for (config, expected) in cases {
            let err = N8nClient::new(config).expect_err(expected);
            assert!(err.to_string().contains(expected), "{err}");
        }
    }

    #[test]
    fn ids_are_escaped_into_one_path_segment() {
        let client =
            N8nClient::new(N8nConfig::new("http://h", Secret::new("k".into()))).expect("client");
        let url = client
            .url(&["workflows", "a/b?c", "activate"])
            .expect("url");
        assert_eq!(url.as_str(), "http://h/api/v1/workflows/a%2Fb%3Fc/activate");
        assert!(checked_id(" ").is_err());
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, "7".parse().expect("header"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        h.insert(
            RETRY_AFTER,
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().expect("header"),
        );
        assert_eq!(retry_after(&h), Some(Duration::ZERO));
        let soon = (chrono::Utc::now() + chrono::Duration::seconds(30)).to_rfc2822();
        h.insert(RETRY_AFTER, soon.parse().expect("header"));
        let wait = retry_after(&h).expect("date");
        assert!(
            wait > Duration::from_secs(25) && wait <= Duration::from_secs(30),
            "{wait:?}"
        );
        h.insert(RETRY_AFTER, "soon".parse().expect("header"));
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn messages_come_from_n8n_and_never_hold_the_key() {
        let client = N8nClient::new(N8nConfig::new("http://h", Secret::new("sekrit-key".into())))
            .expect("client");
        let m = |body: &str, status: u16| {
            client.message(
                body.as_bytes(),
                StatusCode::from_u16(status).expect("status"),
            )
        };
        assert_eq!(
            m(r#"{"message":"request/body/id is read-only"}"#, 400),
            "request/body/id is read-only"
        );
        assert_eq!(m(r#"{"code":5}"#, 400), r#"{"code":5}"#);
        assert_eq!(m("", 502), "Bad Gateway");
        assert_eq!(
            m("<html>bad sekrit-key</html>", 500),
            "<html>bad [redacted]</html>"
        );
        let long = "x".repeat(1000);
        assert_eq!(m(&long, 500).chars().count(), MAX_MESSAGE_CHARS + 1);
        let printed = format!("{client:?}");
        assert!(!printed.contains("sekrit"), "{printed}");
    }

    #[test]
    fn urls_are_stripped_from_transport_messages() {
        assert_eq!(
            strip_url("error sending request for url (http://h/api/v1/workflows?cursor=abc)"),
            "error sending request"
        );
        assert_eq!(strip_url("plain"), "plain");
    }
}
