use std::time::Duration;

use wfops_config::Secret;

use crate::write_rules::N8nVersion;

/// Most workflows n8n returns per list request (`request/query/limit must be <= 250`).
pub const MAX_PAGE_SIZE: u16 = 250;

/// How to reach one n8n instance and how hard to try.
#[derive(Debug, Clone)]
pub struct N8nConfig {
    /// The instance's address, for example `https://n8n.example.com` (a trailing `/api/v1` is
    /// accepted and ignored).
    pub base_url: String,
    /// Sent as `X-N8N-API-KEY`; never logged or put in an error.
    pub api_key: Secret<String>,
    /// Which write rules apply ([`crate::sanitize_for_write`]).
    pub version: N8nVersion,
    /// Time allowed to open a TCP (and TLS) connection.
    pub connect_timeout: Duration,
    /// Time allowed for one whole request, body included; each retry gets it again.
    pub request_timeout: Duration,
    pub retry: RetryPolicy,
    /// Requests in flight at once against this instance, so that a sync with many workers
    /// cannot overload a small n8n. Share one client per instance to share the limit.
    pub max_concurrency: usize,
    /// Workflows per list request when the query does not say (1..=250).
    pub page_size: u16,
}

impl N8nConfig {
    /// A configuration with the defaults: V1 rules, 5 s connect, 30 s request, 3 retries,
    /// 4 concurrent requests, pages of 250.
    pub fn new(base_url: impl Into<String>, api_key: Secret<String>) -> Self {
        Self {
            base_url: base_url.into(),
            api_key,
            version: N8nVersion::V1,
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
            retry: RetryPolicy::default(),
            max_concurrency: 4,
            page_size: MAX_PAGE_SIZE,
        }
    }
}

/// Retries with exponential backoff and jitter.
///
/// Retried: 429 (after `Retry-After` when given), 5xx, timeouts and broken connections.
/// Never retried: any other 4xx. A create (`POST /workflows`) is not idempotent, so it is only
/// retried when n8n cannot have acted on it: 429, 503, or a connection that never opened.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Retries after the first attempt (so `max_retries + 1` requests at most).
    pub max_retries: u32,
    /// Delay before the first retry; doubles for each further one.
    pub base_delay: Duration,
    /// Ceiling of the computed delay.
    pub max_delay: Duration,
    /// Longest `Retry-After` honoured; a longer one ends the call with `RateLimited` at once
    /// rather than blocking a worker for minutes.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 3,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(5),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// The delay before retry number `retry` (1-based): `base * 2^(retry-1)` capped at
    /// `max_delay`, of which the upper half is scaled by `jitter` (0.0..=1.0). "Equal jitter"
    /// keeps at least half the delay, so retries never stampede, and spreads the rest so that
    /// clients that failed together do not retry together.
    pub fn backoff(&self, retry: u32, jitter: f64) -> Duration {
        let exp = retry.saturating_sub(1).min(30);
        let full = self
            .base_delay
            .saturating_mul(1u32 << exp)
            .min(self.max_delay);
        let half = full / 2;
        half + half.mul_f64(jitter.clamp(0.0, 1.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_caps_and_keeps_half() {
        let p = RetryPolicy {
            max_retries: 10,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(1000),
            max_retry_after: Duration::from_secs(1),
        };
        let cases = [
            (1, 0.0, 50),
            (1, 1.0, 100),
            (2, 0.0, 100),
            (2, 1.0, 200),
            (3, 0.5, 300),
            (4, 1.0, 800),
            (5, 1.0, 1000),
            (40, 0.0, 500),
            (2, 7.0, 200),
        ];
        for (retry, jitter, millis) in cases {
            assert_eq!(
                p.backoff(retry, jitter),
                Duration::from_millis(millis),
                "retry {retry} jitter {jitter}"
            );
        }
    }

    #[test]
    fn debug_never_prints_the_key() {
        let c = N8nConfig::new(
            "http://localhost:5678",
            Secret::new("n8n_api_supersecret".to_string()),
        );
        let printed = format!("{c:?}");
        assert!(!printed.contains("supersecret"), "{printed}");
    }
}
