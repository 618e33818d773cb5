//! Server-Sent Events of background jobs: `GET /sse/background-jobs` (every job of
//! the caller's tenant) and `GET /sse/background-jobs/{job_id}` (one job).
//!
//! One task per API process LISTENs on `wfops_job_events` ([`spawn_listener`]) and broadcasts
//! a wake-up to the open streams through the [`Hub`]. A notification carries ids only and is
//! never forwarded: a woken stream re-reads its own tenant's `job_events` rows through
//! `tenant_tx`, so row-level security decides what it may send. Consequences:
//!
//! - A stream first sends what the client missed: every event after `Last-Event-ID` (header,
//!   or `?last_event_id=` for clients that cannot set headers), or, without one, a `snapshot`
//!   event with the current state (one job, or the tenant's unfinished jobs).
//! - When the LISTEN connection drops, the task reconnects with a growing delay and wakes every
//!   stream once it is back, so events written in between are read then, not lost. Streams
//!   also re-read at each keep-alive tick, which bounds the delay even if a wake-up is missed.
//! - Event ids come from a sequence, and two transactions (two jobs of one tenant) can commit
//!   their events out of id order: a stream may have read past an id whose row was not yet
//!   visible. The notification of that row names its id, and it is sent after the commit: when
//!   a note arrives for an id at or below the stream's position that the stream has not sent,
//!   the stream fetches that event by id and sends it then. Only notified ids are fetched this
//!   way, so a resumed stream never repeats what the client had (ids sent in the last minutes
//!   are remembered, so nothing is sent twice either).
//!
//! Wire format: `id:` = the event id, `event:` = its kind (`progress`, `completed`, `failed`,
//! `retry_scheduled`, `released`, `cancelled`, …), `data:` = one JSON line
//! `{"id", "job_id", "event", "data", "created_at"}`; a `: keep-alive` comment every 15 s.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::http::header;
use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::broadcast;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use wfops_db::deployments::{self, EventScope};
use wfops_db::jobs::{self, JobEvent, JobFilter, JobStatus};
use wfops_db::notify::{self, JobEventNote};
use wfops_db::{Db, ScopedFutureExt};
use wfops_tenancy::Role;

use crate::auth::Auth;
use crate::envelope::ErrorBody;
use crate::error::{ApiError, Code};
use crate::routes::jobs::JobView;
use crate::AppState;

/// Default interval of the keep-alive comment.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// Events read per query; a stream that is further behind reads again at once.
const READ_BATCH: i64 = 500;
/// How long a stream remembers the ids it sent, to recognise a late commit it has not sent.
const SENT_MEMORY: Duration = Duration::from_secs(300);
/// Unfinished jobs listed in the initial snapshot of the all-jobs stream.
const SNAPSHOT_JOBS: i64 = 200;

/// Why a stream should re-read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    /// Event `event_id` of this tenant and job was committed.
    Event {
        tenant_id: Uuid,
        job_id: Uuid,
        event_id: i64,
    },
    /// Anything may have changed (the listener reconnected, or a note could not be read).
    All,
}

impl Wake {
    fn concerns(self, tenant_id: Uuid, job_id: Option<Uuid>) -> bool {
        match self {
            Wake::All => true,
            Wake::Event {
                tenant_id: t,
                job_id: j,
                ..
            } => t == tenant_id && job_id.is_none_or(|want| want == j),
        }
    }
}

/// Fans LISTEN notifications out to the open streams of this process.
#[derive(Debug)]
pub struct Hub {
    tx: broadcast::Sender<Wake>,
    keep_alive_ms: AtomicU64,
    listening: AtomicBool,
}

impl Default for Hub {
    fn default() -> Self {
        Self::new()
    }
}

impl Hub {
    pub fn new() -> Self {
        let (tx, _) = broadcast::channel(1024);
        Self {
            tx,
            keep_alive_ms: AtomicU64::new(KEEP_ALIVE.as_millis() as u64),
            listening: AtomicBool::new(false),
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Wake> {
        self.tx.subscribe()
    }

    /// Wakes the streams concerned; nobody listening is fine.
    pub fn wake(&self, wake: Wake) {
        let _ = self.tx.send(wake);
    }

    /// Changes the keep-alive interval of streams opened from now on (tests use a short one).
    pub fn set_keep_alive(&self, interval: Duration) {
        let ms = u64::try_from(interval.as_millis())
            .unwrap_or(u64::MAX)
            .max(10);
        self.keep_alive_ms.store(ms, Ordering::Relaxed);
    }

    pub fn keep_alive(&self) -> Duration {
        Duration::from_millis(self.keep_alive_ms.load(Ordering::Relaxed))
    }

    /// Whether the LISTEN connection is up right now.
    pub fn is_listening(&self) -> bool {
        self.listening.load(Ordering::Relaxed)
    }
}

/// Starts the process's one LISTEN task on `database_url` (the owner's URL is fine: the
/// connection only receives ids). It runs until the runtime stops, reconnecting with a delay
/// from 0.5 s doubling up to 30 s.
pub fn spawn_listener(hub: Arc<Hub>, database_url: String) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut delay = Duration::from_millis(500);
        loop {
            match notify::listen_job_events(&database_url).await {
                Ok(mut listener) => {
                    delay = Duration::from_millis(500);
                    hub.listening.store(true, Ordering::Relaxed);
                    // events written while nobody listened are read now
                    hub.wake(Wake::All);
                    while let Some(note) = listener.recv().await {
                        hub.wake(match JobEventNote::parse(&note.payload) {
                            Some(n) => Wake::Event {
                                tenant_id: n.tenant_id,
                                job_id: n.job_id,
                                event_id: n.id,
                            },
                            None => Wake::All,
                        });
                    }
                    hub.listening.store(false, Ordering::Relaxed);
                    tracing::warn!("job event LISTEN connection ended; reconnecting");
                }
                Err(e) => tracing::warn!(error = %e, "cannot LISTEN for job events; retrying"),
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(30));
        }
    })
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SseQuery {
    /// Same as the `Last-Event-ID` header, for clients that cannot set headers; the header wins.
    #[param(value_type = i64, required = false, minimum = 0)]
    pub last_event_id: Option<String>,
}

/// The `data:` of a job event.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobEventData {
    pub id: i64,
    pub job_id: Uuid,
    pub event: String,
    #[schema(value_type = Object)]
    pub data: Value,
    pub created_at: DateTime<Utc>,
}

impl From<JobEvent> for JobEventData {
    fn from(e: JobEvent) -> Self {
        Self {
            id: e.id,
            job_id: e.job_id,
            event: e.event,
            data: e.data,
            created_at: e.created_at,
        }
    }
}

/// The resume position: the header when sent, else the query parameter. Both are checked when
/// both are sent, so a malformed one is never silently ignored.
/// The `data:` of the first `snapshot` event of the all-jobs stream.
#[derive(Debug, Serialize, ToSchema)]
pub struct TenantSnapshot {
    /// The tenant's running and pending jobs.
    pub jobs: Vec<JobView>,
}

/// One event of the stream as it is framed on the wire: `id:`, `event:` and one `data:` line of
/// JSON (an [`SseEventData`]).
#[derive(Debug, Serialize, ToSchema)]
pub struct SseEvent {
    /// The event id, to resume from with `Last-Event-ID`.
    #[schema(value_type = String, required = false)]
    pub id: Option<String>,
    /// `snapshot`, or the kind of job event (`progress`, `completed`, `failed`, …).
    pub event: String,
    /// One line of JSON: an `SseEventData`.
    #[schema(content_media_type = "application/json")]
    pub data: String,
    /// The reconnection delay in milliseconds, sent once at the start.
    #[schema(value_type = i64, required = false)]
    pub retry: Option<i64>,
}

/// What the `data:` line of an event holds: a job event, or the snapshot a stream starts with
/// (the tenant's unfinished jobs, or the one job).
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum SseEventData {
    Event(JobEventData),
    TenantSnapshot(TenantSnapshot),
    JobSnapshot(JobView),
}

fn last_event_id(req: &HttpRequest, q: &SseQuery) -> Result<Option<i64>, ApiError> {
    fn parse(name: &str, raw: Option<&str>) -> Result<Option<i64>, ApiError> {
        match raw.map(str::trim) {
            None => Ok(None),
            Some(v) => match v.parse::<i64>() {
                Ok(id) if id >= 0 => Ok(Some(id)),
                _ => Err(ApiError::InvalidQueryParameter(format!(
                    "{name} must be a non-negative event id, got `{}`",
                    v.chars().take(32).collect::<String>()
                ))),
            },
        }
    }
    let header = match req.headers().get("last-event-id") {
        Some(v) => Some(v.to_str().map_err(|_| {
            ApiError::InvalidQueryParameter("the Last-Event-ID header is not text".into())
        })?),
        None => None,
    };
    let header = parse("Last-Event-ID header", header)?;
    let query = parse("`last_event_id`", q.last_event_id.as_deref())?;
    Ok(header.or(query))
}

/// Every event of the caller's tenant, from `Last-Event-ID` on or from a snapshot of the
/// unfinished jobs.
#[utoipa::path(
    get, path = "/api/v1/sse/background-jobs", tag = "jobs", security(("bearer" = [])),
    params(
        SseQuery,
        ("Last-Event-ID" = Option<i64>, Header, nullable = false, minimum = 0, description = "Resume after this event id")
    ),
    responses(
        (status = 200, description = "A text/event-stream; the `data:` of each event is a JobEventData, or for the first `snapshot` event the unfinished jobs", content_type = "text/event-stream", body = SseEvent),
        (status = 400, description = "Last-Event-ID is not an event id", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody)
    )
)]
pub async fn background_jobs(
    state: web::Data<AppState>,
    auth: Auth,
    req: HttpRequest,
    q: web::Query<SseQuery>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Role::Viewer)?;
    let after = last_event_id(&req, &q)?;
    open(&state, auth.caller.tenant_id, None, after).await
}

/// The events of one job, from `Last-Event-ID` on or from a snapshot of the job.
#[utoipa::path(
    get, path = "/api/v1/sse/background-jobs/{job_id}", tag = "jobs", security(("bearer" = [])),
    params(
        ("job_id" = Uuid, Path, description = "Job id"),
        SseQuery,
        ("Last-Event-ID" = Option<i64>, Header, nullable = false, minimum = 0, description = "Resume after this event id")
    ),
    responses(
        (status = 200, description = "A text/event-stream of this job's events; the `data:` of each event is a JobEventData, or for the first `snapshot` event the job", content_type = "text/event-stream", body = SseEvent),
        (status = 400, description = "`job_id` is not a UUID or Last-Event-ID is not an event id", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 404, description = "No such job in this tenant", body = ErrorBody)
    )
)]
pub async fn background_job(
    state: web::Data<AppState>,
    auth: Auth,
    req: HttpRequest,
    path: web::Path<Uuid>,
    q: web::Query<SseQuery>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Role::Viewer)?;
    let after = last_event_id(&req, &q)?;
    let job_id = path.into_inner();
    open(&state, auth.caller.tenant_id, Some(job_id), after).await
}

enum Start {
    Resume,
    Job(i64, Box<jobs::JobRow>),
    Tenant(i64, Vec<jobs::JobRow>),
}

/// What a stream sends first, read in one transaction before the response starts (so a 404 or
/// a database error is still an ordinary error response).
async fn open(
    state: &AppState,
    tenant_id: Uuid,
    job_id: Option<Uuid>,
    after: Option<i64>,
) -> Result<HttpResponse, ApiError> {
    // Subscribe before reading, so nothing written after the read can go unnoticed.
    let wakes = state.sse.subscribe();
    let start = state
        .db
        .tenant_tx(tenant_id, |conn| {
            async move {
                let job = match job_id {
                    Some(j) => match jobs::get(conn, j).await? {
                        Some(job) => Some(job),
                        None => return Ok(None),
                    },
                    None => None,
                };
                if after.is_some() {
                    return Ok(Some(Start::Resume));
                }
                let latest = notify::latest_event_id(conn, job_id).await?;
                if let Some(job) = job {
                    return Ok(Some(Start::Job(latest, Box::new(job))));
                }
                let mut active = Vec::new();
                for status in [JobStatus::Running, JobStatus::Pending] {
                    let filter = JobFilter {
                        status: Some(status),
                        ..JobFilter::default()
                    };
                    let page = jobs::PageRequest {
                        page: 1,
                        page_size: SNAPSHOT_JOBS,
                    };
                    active.extend(jobs::list(conn, &filter, page).await?.items);
                }
                Ok::<_, wfops_db::Error>(Some(Start::Tenant(latest, active)))
            }
            .scope_boxed()
        })
        .await
        .map_err(ApiError::from)?;
    let (cursor, snapshot) = match (start, after) {
        (None, _) => {
            let id = job_id.unwrap_or_default();
            return Err(ApiError::new(
                Code::JobNotFound,
                format!("job {id} not found"),
            ));
        }
        (Some(Start::Resume), after) => (after.unwrap_or(0), None),
        (Some(Start::Job(latest, job)), _) => {
            (latest, Some(serde_json::to_value(JobView::from(*job))))
        }
        (Some(Start::Tenant(latest, active)), _) => {
            let jobs: Vec<JobView> = active.into_iter().map(JobView::from).collect();
            (
                latest,
                Some(serde_json::to_value(serde_json::json!({ "jobs": jobs }))),
            )
        }
    };

    respond(
        state,
        tenant_id,
        Scope::Jobs(job_id),
        wakes,
        cursor,
        snapshot,
    )
}

/// The deployment events of the caller's tenant (progress of every deployment job and the
/// deployments' status changes), from `Last-Event-ID` on or from a snapshot of the live
/// deployments.
#[utoipa::path(
    get, path = "/api/v1/sse/deployments", tag = "promotions", security(("bearer" = [])),
    params(
        SseQuery,
        ("Last-Event-ID" = Option<i64>, Header, nullable = false, minimum = 0, description = "Resume after this event id")
    ),
    responses(
        (status = 200, description = "A text/event-stream; the `data:` of each event is a JobEventData of a deployment job (`deployment_status` events carry the deployment's new status), or for the first `snapshot` event `{deployments: [...]}` with the pending, scheduled and running deployments", content_type = "text/event-stream", body = SseEvent),
        (status = 400, description = "Last-Event-ID is not an event id", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody)
    )
)]
pub async fn deployments_stream(
    state: web::Data<AppState>,
    auth: Auth,
    req: HttpRequest,
    q: web::Query<SseQuery>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Role::Viewer)?;
    let after = last_event_id(&req, &q)?;
    open_deployments(&state, auth.caller.tenant_id, None, after).await
}

/// The events of one deployment, from `Last-Event-ID` on or from a snapshot of the deployment.
#[utoipa::path(
    get, path = "/api/v1/sse/deployments/{deployment_id}", tag = "promotions", security(("bearer" = [])),
    params(
        ("deployment_id" = Uuid, Path, description = "Deployment id"),
        SseQuery,
        ("Last-Event-ID" = Option<i64>, Header, nullable = false, minimum = 0, description = "Resume after this event id")
    ),
    responses(
        (status = 200, description = "A text/event-stream of this deployment's job events and status changes; the first `snapshot` event holds the deployment", content_type = "text/event-stream", body = SseEvent),
        (status = 400, description = "`deployment_id` is not a UUID or Last-Event-ID is not an event id", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 404, description = "No such deployment in this tenant", body = ErrorBody)
    )
)]
pub async fn deployment_stream(
    state: web::Data<AppState>,
    auth: Auth,
    req: HttpRequest,
    path: web::Path<Uuid>,
    q: web::Query<SseQuery>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Role::Viewer)?;
    let after = last_event_id(&req, &q)?;
    open_deployments(
        &state,
        auth.caller.tenant_id,
        Some(path.into_inner()),
        after,
    )
    .await
}

async fn open_deployments(
    state: &AppState,
    tenant_id: Uuid,
    deployment_id: Option<Uuid>,
    after: Option<i64>,
) -> Result<HttpResponse, ApiError> {
    let wakes = state.sse.subscribe();
    let scope = match deployment_id {
        Some(id) => EventScope::Deployment(id),
        None => EventScope::AllDeployments,
    };
    let (cursor, snapshot) = state
        .db
        .tenant_tx(tenant_id, |conn| {
            async move {
                // a missing deployment is a 404 even when resuming
                let one = match deployment_id {
                    Some(id) => Some(crate::routes::deployments::detail(conn, id).await?),
                    None => None,
                };
                if let Some(after) = after {
                    return Ok::<_, ApiError>((after, None));
                }
                let latest = deployments::latest_event_id(conn, scope).await?;
                if let Some(one) = one {
                    return Ok((latest, Some(serde_json::to_value(one))));
                }
                let mut live = Vec::new();
                for status in deployments::LIVE {
                    let filter = deployments::DeploymentFilter {
                        status: Some(status),
                        ..Default::default()
                    };
                    let (rows, _) = deployments::list(conn, &filter, 0, SNAPSHOT_JOBS).await?;
                    live.extend(rows.into_iter().map(|(d, target)| {
                        crate::routes::deployments::DeploymentListItem {
                            deployment: d.into(),
                            target_environment_id: target,
                        }
                    }));
                }
                Ok((
                    latest,
                    Some(serde_json::to_value(
                        serde_json::json!({ "deployments": live }),
                    )),
                ))
            }
            .scope_boxed()
        })
        .await?;
    respond(
        state,
        tenant_id,
        Scope::Deployments(scope),
        wakes,
        cursor,
        snapshot,
    )
}

/// Starts the stream of `scope` after event `cursor`, with `snapshot` (if any) first.
fn respond(
    state: &AppState,
    tenant_id: Uuid,
    scope: Scope,
    wakes: broadcast::Receiver<Wake>,
    cursor: i64,
    snapshot: Option<Result<Value, serde_json::Error>>,
) -> Result<HttpResponse, ApiError> {
    let mut pending = VecDeque::new();
    pending.push_back(Bytes::from_static(b"retry: 3000\n\n"));
    if let Some(snapshot) = snapshot {
        let snapshot =
            snapshot.map_err(|e| ApiError::internal(format!("serializing a snapshot: {e}")))?;
        pending.push_back(frame(Some(cursor), "snapshot", &snapshot));
    }
    let keep_alive = state.sse.keep_alive();
    let stream = Stream {
        db: state.db.clone(),
        tenant_id,
        scope,
        cursor,
        sent: HashMap::new(),
        late: Vec::new(),
        wakes,
        pending,
        must_read: true,
        keep_alive,
        next_tick: tokio::time::Instant::now() + keep_alive,
        closed: false,
    };
    let body = futures::stream::unfold(stream, |mut s| async move {
        let chunk = s.next_chunk().await?;
        Some((Ok::<_, actix_web::Error>(chunk), s))
    });
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header(("x-accel-buffering", "no"))
        .streaming(body))
}

/// One SSE frame. `data` is one line of JSON (serde_json never writes raw newlines).
fn frame(id: Option<i64>, event: &str, data: &Value) -> Bytes {
    let mut out = String::new();
    if let Some(id) = id {
        out.push_str(&format!("id: {id}\n"));
    }
    // event kinds come from our own code, but a newline would break the framing
    let event: String = event.chars().filter(|c| !c.is_control()).collect();
    out.push_str(&format!("event: {event}\ndata: {data}\n\n"));
    Bytes::from(out)
}

/// Which events a stream follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    /// Every job of the tenant, or one job.
    Jobs(Option<Uuid>),
    /// The deployment jobs of the tenant, or one deployment's job (which it may get later,
    /// when its approval or its time comes).
    Deployments(EventScope),
}

impl Scope {
    /// The job a wake-up must name to concern the stream (`None`: any of the tenant's).
    fn wake_job(self) -> Option<Uuid> {
        match self {
            Scope::Jobs(job) => job,
            Scope::Deployments(_) => None,
        }
    }
}

struct Stream {
    db: Db,
    tenant_id: Uuid,
    scope: Scope,
    /// The highest event id sent (or resumed from).
    cursor: i64,
    /// Ids sent recently, so that a late commit is recognised and nothing is sent twice.
    sent: HashMap<i64, Instant>,
    /// Notified ids at or below `cursor` that have not been sent (late commits).
    late: Vec<i64>,
    wakes: broadcast::Receiver<Wake>,
    pending: VecDeque<Bytes>,
    must_read: bool,
    keep_alive: Duration,
    next_tick: tokio::time::Instant,
    closed: bool,
}

impl Stream {
    async fn next_chunk(&mut self) -> Option<Bytes> {
        loop {
            if let Some(chunk) = self.pending.pop_front() {
                return Some(chunk);
            }
            if self.closed {
                return None;
            }
            if self.must_read {
                self.must_read = false;
                match self.read().await {
                    Ok(true) => {
                        self.next_tick = tokio::time::Instant::now() + self.keep_alive;
                        continue;
                    }
                    Ok(false) => {}
                    Err(e) => return Some(self.fail(e)),
                }
            }
            tokio::select! {
                wake = self.wakes.recv() => match wake {
                    Ok(w) => self.note(w),
                    Err(broadcast::error::RecvError::Lagged(_)) => self.must_read = true,
                    Err(broadcast::error::RecvError::Closed) => return None,
                },
                _ = tokio::time::sleep_until(self.next_tick) => {
                    self.next_tick = tokio::time::Instant::now() + self.keep_alive;
                    // also a safety net for a missed wake-up; cheap (an index range scan)
                    match self.read().await {
                        Ok(true) => continue,
                        Ok(false) => return Some(Bytes::from_static(b": keep-alive\n\n")),
                        Err(e) => return Some(self.fail(e)),
                    }
                }
            }
            // coalesce a burst of wake-ups into one read
            while let Ok(w) = self.wakes.try_recv() {
                self.note(w);
            }
        }
    }

    /// A stream that cannot read ends; the client reconnects with its Last-Event-ID and
    /// misses nothing.
    fn fail(&mut self, e: ApiError) -> Bytes {
        tracing::warn!(error = %e, "SSE stream could not read job events");
        self.closed = true;
        Bytes::from_static(b": error, reconnect\n\n")
    }

    fn note(&mut self, wake: Wake) {
        if !wake.concerns(self.tenant_id, self.scope.wake_job()) {
            return;
        }
        match wake {
            Wake::Event { event_id, .. } if event_id <= self.cursor => {
                if !self.sent.contains_key(&event_id) {
                    self.late.push(event_id);
                    self.must_read = true;
                }
            }
            _ => self.must_read = true,
        }
    }

    /// Reads late and new events into `pending`; `true` when something was queued.
    async fn read(&mut self) -> Result<bool, ApiError> {
        let now = Instant::now();
        self.sent
            .retain(|_, at| now.duration_since(*at) < SENT_MEMORY);
        let late = std::mem::take(&mut self.late);
        let (cursor, scope) = (self.cursor, self.scope);
        let (late, fresh) = self
            .db
            .tenant_tx(self.tenant_id, |conn| {
                async move {
                    let (late, fresh) = match scope {
                        Scope::Jobs(job_id) => (
                            notify::events_by_ids(conn, &late, job_id).await?,
                            jobs::events_after(conn, cursor, job_id, READ_BATCH).await?,
                        ),
                        Scope::Deployments(d) => (
                            deployments::events_by_ids(conn, &late, d).await?,
                            deployments::events_after(conn, cursor, d, READ_BATCH).await?,
                        ),
                    };
                    Ok::<_, wfops_db::Error>((late, fresh))
                }
                .scope_boxed()
            })
            .await
            .map_err(ApiError::from)?;
        if fresh.len() as i64 >= READ_BATCH {
            self.must_read = true;
        }
        let mut queued = false;
        for event in late.into_iter().chain(fresh) {
            if self.sent.contains_key(&event.id) {
                continue;
            }
            self.sent.insert(event.id, now);
            self.cursor = self.cursor.max(event.id);
            let (id, kind) = (event.id, event.event.clone());
            let data = serde_json::to_value(JobEventData::from(event))
                .map_err(|e| ApiError::internal(format!("serializing a job event: {e}")))?;
            self.pending.push_back(frame(Some(id), &kind, &data));
            queued = true;
        }
        Ok(queued)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_have_id_event_and_one_data_line() {
        let data = serde_json::json!({"message": "line one\nline two"});
        let f = frame(Some(7), "progress", &data);
        let text = std::str::from_utf8(&f).unwrap();
        assert_eq!(
            text,
            "id: 7\nevent: progress\ndata: {\"message\":\"line one\\nline two\"}\n\n"
        );
        let f = frame(None, "bad\nkind", &serde_json::json!(1));
        assert_eq!(
            std::str::from_utf8(&f).unwrap(),
            "event: badkind\ndata: 1\n\n"
        );
    }

    #[test]
    fn wakes_concern_their_tenant_and_job() {
        let (t, j) = (Uuid::new_v4(), Uuid::new_v4());
        let w = Wake::Event {
            tenant_id: t,
            job_id: j,
            event_id: 1,
        };
        assert!(w.concerns(t, None));
        assert!(w.concerns(t, Some(j)));
        assert!(!w.concerns(t, Some(Uuid::new_v4())));
        assert!(!w.concerns(Uuid::new_v4(), None));
        assert!(Wake::All.concerns(t, Some(j)));
    }

    #[test]
    fn keep_alive_is_adjustable_but_bounded() {
        let hub = Hub::new();
        assert_eq!(hub.keep_alive(), KEEP_ALIVE);
        hub.set_keep_alive(Duration::from_millis(1));
        assert_eq!(hub.keep_alive(), Duration::from_millis(10));
    }
}
