//! Fault injection and request accounting.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// The API operation a request was routed to, for targeting faults and counting calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Route {
    ListWorkflows,
    GetWorkflow,
    CreateWorkflow,
    UpdateWorkflow,
    DeleteWorkflow,
    ActivateWorkflow,
    DeactivateWorkflow,
    ListExecutions,
    /// `/healthz` and `/healthz/readiness`.
    Health,
    /// Anything else (answered 404 or 405 as n8n does).
    Other,
}

/// What an injected fault does to the request it hits.
#[derive(Debug, Clone, PartialEq)]
pub enum FaultKind {
    /// Answer `status` with `{"message": message}` without handling the request.
    Status { status: u16, message: String },
    /// Answer 429 with `Retry-After` when given (seconds, or any literal header value).
    RateLimited { retry_after: Option<String> },
    /// Wait this long, then handle the request normally: past a client's timeout, it is a hang.
    Delay(Duration),
    /// Close the connection without a complete answer; the request is not handled.
    DropConnection,
    /// Handle the request (the change happens), then close the connection without answering,
    /// as when a proxy fails on the way back.
    DropAfterHandling,
}

/// A fault and the calls it hits: those matching `route` (any route when `None`), after
/// skipping the first `skip` of them, for `times` calls (every later call when `None`).
#[derive(Debug, Clone)]
pub struct Fault {
    pub kind: FaultKind,
    pub route: Option<Route>,
    pub skip: u64,
    pub times: Option<u64>,
}

impl Fault {
    fn new(kind: FaultKind) -> Self {
        Self {
            kind,
            route: None,
            skip: 0,
            times: Some(1),
        }
    }

    /// An error answer, `{"message": <reason phrase>}`.
    pub fn status(status: u16) -> Self {
        let message = actix_web::http::StatusCode::from_u16(status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("Error")
            .to_string();
        Self::new(FaultKind::Status { status, message })
    }

    /// An error answer with n8n-style body `{"message": message}`.
    pub fn status_with_message(status: u16, message: impl Into<String>) -> Self {
        Self::new(FaultKind::Status {
            status,
            message: message.into(),
        })
    }

    /// 429 with `Retry-After: <seconds>` (none when `None`).
    pub fn rate_limited(retry_after_secs: Option<u64>) -> Self {
        Self::new(FaultKind::RateLimited {
            retry_after: retry_after_secs.map(|s| s.to_string()),
        })
    }

    /// 429 with a literal `Retry-After` value (an HTTP date, or garbage to test parsing).
    pub fn rate_limited_until(header_value: impl Into<String>) -> Self {
        Self::new(FaultKind::RateLimited {
            retry_after: Some(header_value.into()),
        })
    }

    /// Answers late: with a delay longer than the client's timeout, a hang.
    pub fn delay(duration: Duration) -> Self {
        Self::new(FaultKind::Delay(duration))
    }

    pub fn drop_connection() -> Self {
        Self::new(FaultKind::DropConnection)
    }

    pub fn drop_after_handling() -> Self {
        Self::new(FaultKind::DropAfterHandling)
    }

    /// Only calls to `route`.
    pub fn on(mut self, route: Route) -> Self {
        self.route = Some(route);
        self
    }

    /// Only the `n`th matching call (1-based), counted from when the fault is injected.
    pub fn nth(mut self, n: u64) -> Self {
        self.skip = n.saturating_sub(1);
        self.times = Some(1);
        self
    }

    /// The next `n` matching calls.
    pub fn times(mut self, n: u64) -> Self {
        self.times = Some(n);
        self
    }

    /// Every matching call from now on.
    pub fn always(mut self) -> Self {
        self.times = None;
        self
    }
}

/// An injected fault with its counters.
#[derive(Debug)]
pub(crate) struct ArmedFault {
    fault: Fault,
    seen: u64,
    fired: u64,
}

impl ArmedFault {
    pub fn new(fault: Fault) -> Self {
        Self {
            fault,
            seen: 0,
            fired: 0,
        }
    }

    /// Counts the call if it matches, and says whether the fault is due to hit it.
    fn due(&mut self, route: Route) -> bool {
        if self.fault.route.is_some_and(|r| r != route) {
            return false;
        }
        self.seen += 1;
        self.seen > self.fault.skip && self.fault.times.is_none_or(|t| self.fired < t)
    }
}

/// Every injected fault counts every matching call; the first (in injection order) that is
/// due hits it. A fault due on a call taken by an earlier one stays due for the next call.
pub(crate) fn pick(faults: &mut [ArmedFault], route: Route) -> Option<FaultKind> {
    let mut chosen = None;
    for armed in faults.iter_mut() {
        if armed.due(route) && chosen.is_none() {
            armed.fired += 1;
            chosen = Some(armed.fault.kind.clone());
        }
    }
    chosen
}

/// One request as the fake saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    pub query: String,
    pub route: Route,
    /// The status answered; `None` when the connection was dropped.
    pub status: Option<u16>,
    /// Whether a fault hit this request.
    pub faulted: bool,
}

/// Requests in flight now and the most seen at once.
#[derive(Debug, Default)]
pub(crate) struct InFlight {
    now: AtomicUsize,
    max: AtomicUsize,
}

pub(crate) struct InFlightGuard<'a>(&'a InFlight);

impl InFlight {
    pub fn enter(&self) -> InFlightGuard<'_> {
        let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.max.fetch_max(now, Ordering::SeqCst);
        InFlightGuard(self)
    }

    pub fn max(&self) -> usize {
        self.max.load(Ordering::SeqCst)
    }

    pub fn reset_max(&self) {
        self.max
            .store(self.now.load(Ordering::SeqCst), Ordering::SeqCst);
    }
}

impl Drop for InFlightGuard<'_> {
    fn drop(&mut self) {
        self.0.now.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(fault: Fault, routes: &[Route]) -> Vec<bool> {
        let mut armed = vec![ArmedFault::new(fault)];
        routes
            .iter()
            .map(|r| pick(&mut armed, *r).is_some())
            .collect()
    }

    #[test]
    fn faults_hit_the_calls_they_name() {
        use Route::*;
        let calls = [
            GetWorkflow,
            ListWorkflows,
            GetWorkflow,
            GetWorkflow,
            GetWorkflow,
        ];
        assert_eq!(
            run(Fault::status(500), &calls),
            [true, false, false, false, false]
        );
        assert_eq!(
            run(Fault::status(500).on(GetWorkflow).nth(2), &calls),
            [false, false, true, false, false]
        );
        assert_eq!(
            run(Fault::status(500).on(GetWorkflow).times(2), &calls),
            [true, false, true, false, false]
        );
        assert_eq!(
            run(Fault::status(500).on(ListWorkflows).always(), &calls),
            [false, true, false, false, false]
        );
        assert_eq!(run(Fault::status(500).always(), &calls), [true; 5]);
    }

    #[test]
    fn the_first_injected_fault_wins_but_all_count() {
        let mut armed = vec![
            ArmedFault::new(Fault::status(500)),
            ArmedFault::new(Fault::status(503).nth(2)),
        ];
        assert!(matches!(
            pick(&mut armed, Route::Health),
            Some(FaultKind::Status { status: 500, .. })
        ));
        assert!(matches!(
            pick(&mut armed, Route::Health),
            Some(FaultKind::Status { status: 503, .. })
        ));
        assert_eq!(pick(&mut armed, Route::Health), None);
    }

    #[test]
    fn faults_queue_up_on_the_same_calls() {
        let mut armed = vec![
            ArmedFault::new(Fault::status(503).on(Route::GetWorkflow)),
            ArmedFault::new(Fault::status(502).on(Route::GetWorkflow)),
        ];
        assert!(matches!(
            pick(&mut armed, Route::GetWorkflow),
            Some(FaultKind::Status { status: 503, .. })
        ));
        assert!(matches!(
            pick(&mut armed, Route::GetWorkflow),
            Some(FaultKind::Status { status: 502, .. })
        ));
        assert_eq!(pick(&mut armed, Route::GetWorkflow), None);
    }

    #[test]
    fn in_flight_tracks_the_peak() {
        let f = InFlight::default();
        let a = f.enter();
        let b = f.enter();
        drop(a);
        let _c = f.enter();
        assert_eq!(f.max(), 2);
        drop(b);
        f.reset_max();
        assert_eq!(f.max(), 1);
    }
}
