#![doc = include_str!("../README.md")]

mod faults;
mod http;
mod store;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;

use actix_web::dev::ServerHandle;
use actix_web::{web, App, HttpResponse, HttpServer};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use wfops_n8n::write_rules::{
    apply_defaults, sanitize_for_write, validate_name_length, validate_write, N8nVersion,
};

use faults::{ArmedFault, InFlight};
pub use faults::{Fault, FaultKind, RecordedRequest, Route};
use store::{Shape, Store, WriteBody};

/// The key a fake accepts unless configured otherwise.
pub const DEFAULT_API_KEY: &str = "fake-n8n-api-key";

/// Everything the fake can fail with (starting, seeding, inspecting).
#[derive(Debug, thiserror::Error)]
pub enum FakeError {
    #[error("cannot start the fake n8n: {0}")]
    Start(#[from] std::io::Error),
    #[error("fixture {path}: {reason}")]
    Fixture { path: PathBuf, reason: String },
    #[error("n8n would reject this workflow (HTTP {status}): {message}")]
    Rejected { status: u16, message: String },
    #[error("the fake has no workflow {0}")]
    UnknownWorkflow(String),
    #[error("fake n8n internal error: {0}")]
    Internal(String),
}

/// How a fake behaves.
#[derive(Debug, Clone)]
pub struct FakeConfig {
    /// Which n8n generation's validation rules and fields to serve.
    pub version: N8nVersion,
    /// The only `X-N8N-API-KEY` accepted.
    pub api_key: String,
}

impl Default for FakeConfig {
    fn default() -> Self {
        Self {
            version: N8nVersion::V1,
            api_key: DEFAULT_API_KEY.to_string(),
        }
    }
}

/// State shared by the HTTP workers and the test that owns the fake.
pub(crate) struct Shared {
    pub version: N8nVersion,
    pub api_key: String,
    store: Mutex<Store>,
    faults: Mutex<Vec<ArmedFault>>,
    requests: Mutex<Vec<RecordedRequest>>,
    pub in_flight: InFlight,
}

impl Shared {
    pub fn store(&self) -> Result<MutexGuard<'_, Store>, FakeError> {
        self.store
            .lock()
            .map_err(|_| FakeError::Internal("the store lock is poisoned".into()))
    }

    pub fn lock_faults(&self) -> Option<MutexGuard<'_, Vec<ArmedFault>>> {
        self.faults.lock().ok()
    }

    pub fn record(&self, request: RecordedRequest) -> usize {
        match self.requests.lock() {
            Ok(mut log) => {
                log.push(request);
                log.len() - 1
            }
            Err(_) => usize::MAX,
        }
    }

    pub fn mark_faulted(&self, seq: usize) {
        if let Ok(mut log) = self.requests.lock() {
            if let Some(r) = log.get_mut(seq) {
                r.faulted = true;
            }
        }
    }

    pub fn finish(&self, seq: usize, response: HttpResponse) -> HttpResponse {
        if let Ok(mut log) = self.requests.lock() {
            if let Some(r) = log.get_mut(seq) {
                r.status = Some(response.status().as_u16());
            }
        }
        response
    }
}

/// An in-process n8n public API on `127.0.0.1:<random port>`. Stopped when dropped.
pub struct FakeN8n {
    url: String,
    shared: Arc<Shared>,
    handle: ServerHandle,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for FakeN8n {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeN8n")
            .field("url", &self.url)
            .field("version", &self.shared.version)
            .finish()
    }
}

/// The shared fixtures folder: `WFOPS_FIXTURES_DIR`, or `shared/fixtures/n8n-workflows` next
/// to the checkout.
pub fn fixtures_dir() -> PathBuf {
    match std::env::var_os("WFOPS_FIXTURES_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/n8n-workflows")
        }
    }
}

impl FakeN8n {
    /// A fake n8n 1.x accepting [`DEFAULT_API_KEY`].
    pub fn start() -> Result<Self, FakeError> {
        Self::start_with(FakeConfig::default())
    }

    /// Binds a random loopback port and serves from a thread of its own, so it works from any
    /// test (sync, or async on any runtime) and outlives nothing but itself.
    pub fn start_with(config: FakeConfig) -> Result<Self, FakeError> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            version: config.version,
            api_key: config.api_key,
            store: Mutex::new(Store::default()),
            faults: Mutex::new(Vec::new()),
            requests: Mutex::new(Vec::new()),
            in_flight: InFlight::default(),
        });
        let (tx, rx) = std::sync::mpsc::channel::<std::io::Result<ServerHandle>>();
        let data = web::Data::from(shared.clone());
        let thread = std::thread::Builder::new()
            .name(format!("fake-n8n-{}", addr.port()))
            .spawn(move || {
                let system = actix_web::rt::System::new();
                system.block_on(async move {
                    let server = HttpServer::new(move || {
                        App::new()
                            .app_data(data.clone())
                            .app_data(web::PayloadConfig::new(64 * 1024 * 1024))
                            .default_service(web::to(http::dispatch))
                    })
                    .workers(1)
                    .disable_signals()
                    .shutdown_timeout(0)
                    .listen(listener);
                    match server {
                        Ok(server) => {
                            let server = server.run();
                            let _ = tx.send(Ok(server.handle()));
                            let _ = server.await;
                        }
                        Err(e) => {
                            let _ = tx.send(Err(e));
                        }
                    }
                });
            })?;
        let handle = rx.recv().map_err(|_| {
            FakeError::Internal("the server thread ended before it started".into())
        })??;
        Ok(Self {
            url: format!("http://{addr}"),
            shared,
            handle,
            thread: Some(thread),
        })
    }

    /// `http://127.0.0.1:<port>`, the instance URL a client is configured with.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn api_key(&self) -> &str {
        &self.shared.api_key
    }

    pub fn version(&self) -> N8nVersion {
        self.shared.version
    }

    /// Stores `doc` as n8n would after `POST /workflows` of its sanitized form; returns the id.
    pub fn seed_workflow(&self, doc: &Value) -> Result<String, FakeError> {
        let body =
            sanitize_for_write(doc, self.shared.version).map_err(|e| FakeError::Rejected {
                status: 400,
                message: e.to_string(),
            })?;
        self.create_validated(&body)
    }

    fn create_validated(&self, body: &Value) -> Result<String, FakeError> {
        let version = self.shared.version;
        validate_write(body, version).map_err(|r| FakeError::Rejected {
            status: r.status,
            message: r.message,
        })?;
        let mut body = body.clone();
        apply_defaults(&mut body, version);
        let write = WriteBody::from_validated(&body, version)?;
        validate_name_length(&write.name, false).map_err(|r| FakeError::Rejected {
            status: r.status,
            message: r.message,
        })?;
        self.shared.store()?.create(write)
    }

    /// Seeds every `*.json` of `dir` in file-name order (at most `limit`); returns their ids.
    pub fn seed_fixtures(
        &self,
        dir: &Path,
        limit: Option<usize>,
    ) -> Result<Vec<String>, FakeError> {
        let docs = load_fixtures(dir, self.shared.version)?;
        let take = limit.unwrap_or(docs.len());
        docs.iter()
            .take(take)
            .map(|(_, body)| self.create_validated(body))
            .collect()
    }

    /// Seeds `count` workflows built from the fixtures of `dir`, cycling through them and
    /// numbering the names so each is distinct (for large-instance benchmarks).
    pub fn seed_from_fixtures(&self, dir: &Path, count: usize) -> Result<Vec<String>, FakeError> {
        let docs = load_fixtures(dir, self.shared.version)?;
        if docs.is_empty() && count > 0 {
            return Err(FakeError::Fixture {
                path: dir.to_path_buf(),
                reason: "no *.json files".into(),
            });
        }
        let mut ids = Vec::with_capacity(count);
        for i in 0..count {
            let (_, body) = &docs[i % docs.len()];
            let mut body = body.clone();
            let base = body
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("Workflow")
                .to_string();
            let suffix = format!(" #{i}");
            let keep = 128usize.saturating_sub(suffix.chars().count());
            body["name"] = Value::String(format!(
                "{}{suffix}",
                base.chars().take(keep).collect::<String>()
            ));
            ids.push(self.create_validated(&body)?);
        }
        Ok(ids)
    }

    /// Seeds `count` small distinct workflows (a schedule trigger and a Set node each).
    pub fn seed_generated(&self, count: usize) -> Result<Vec<String>, FakeError> {
        (0..count)
            .map(|i| self.create_validated(&generated_workflow(i)))
            .collect()
    }

    /// Sets `active` directly, without n8n's trigger check (seeding only).
    pub fn set_active(&self, id: &str, active: bool) -> Result<(), FakeError> {
        if self.shared.store()?.force_active(id, active) {
            Ok(())
        } else {
            Err(FakeError::UnknownWorkflow(id.to_string()))
        }
    }

    /// Adds an execution of `workflow_id` with `status` (`success`, `error`, `running`, …).
    pub fn seed_execution(&self, workflow_id: &str, status: &str) -> Result<String, FakeError> {
        let mut store = self.shared.store()?;
        if store.get(workflow_id).is_none() {
            return Err(FakeError::UnknownWorkflow(workflow_id.to_string()));
        }
        let data = json!({"resultData": {"runData": {}}, "seededStatus": status});
        Ok(store.add_execution(workflow_id, status, "trigger", Some(data)))
    }

    /// Changes a workflow as an edit in n8n's editor would; `touch_updated_at: false` leaves
    /// `updatedAt` as it was, to test callers that must not trust it blindly.
    pub fn replace_content(
        &self,
        id: &str,
        doc: &Value,
        touch_updated_at: bool,
    ) -> Result<(), FakeError> {
        let version = self.shared.version;
        let body = sanitize_for_write(doc, version).map_err(|e| FakeError::Rejected {
            status: 400,
            message: e.to_string(),
        })?;
        validate_write(&body, version).map_err(|r| FakeError::Rejected {
            status: r.status,
            message: r.message,
        })?;
        let mut body = body;
        apply_defaults(&mut body, version);
        let write = WriteBody::from_validated(&body, version)?;
        if self.shared.store()?.update(id, write, touch_updated_at)? {
            Ok(())
        } else {
            Err(FakeError::UnknownWorkflow(id.to_string()))
        }
    }

    /// Overrides `updatedAt`; `None` leaves the field out of every answer.
    pub fn set_updated_at(&self, id: &str, at: Option<DateTime<Utc>>) -> Result<(), FakeError> {
        let mut store = self.shared.store()?;
        let w = store
            .get_mut(id)
            .ok_or_else(|| FakeError::UnknownWorkflow(id.to_string()))?;
        w.updated_at = at;
        Ok(())
    }

    /// Deletes a workflow behind the API's back (as another user would).
    pub fn remove_workflow(&self, id: &str) -> Result<(), FakeError> {
        match self.shared.store()?.delete(id) {
            Some(_) => Ok(()),
            None => Err(FakeError::UnknownWorkflow(id.to_string())),
        }
    }

    /// The workflow as `GET /workflows/{id}` answers it.
    pub fn workflow(&self, id: &str) -> Result<Option<Value>, FakeError> {
        let store = self.shared.store()?;
        let Some(w) = store.get(id) else {
            return Ok(None);
        };
        let text = store.render(w, Shape::GET)?;
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| FakeError::Internal(e.to_string()))
    }

    /// Ids in list order.
    pub fn workflow_ids(&self) -> Result<Vec<String>, FakeError> {
        Ok(self.shared.store()?.ids())
    }

    pub fn workflow_count(&self) -> Result<usize, FakeError> {
        Ok(self.shared.store()?.len())
    }

    /// Arms a fault; faults hit in the order they were injected.
    pub fn inject(&self, fault: Fault) {
        if let Some(mut faults) = self.shared.lock_faults() {
            faults.push(ArmedFault::new(fault));
        }
    }

    pub fn clear_faults(&self) {
        if let Some(mut faults) = self.shared.lock_faults() {
            faults.clear();
        }
    }

    /// Every request received since the start (or the last [`FakeN8n::reset_requests`]).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared
            .requests
            .lock()
            .map(|log| log.clone())
            .unwrap_or_default()
    }

    /// Requests routed to `route`.
    pub fn request_count(&self, route: Route) -> usize {
        self.shared
            .requests
            .lock()
            .map(|log| log.iter().filter(|r| r.route == route).count())
            .unwrap_or(0)
    }

    pub fn total_requests(&self) -> usize {
        self.shared
            .requests
            .lock()
            .map(|log| log.len())
            .unwrap_or(0)
    }

    /// Forgets recorded requests and the in-flight peak.
    pub fn reset_requests(&self) {
        if let Ok(mut log) = self.shared.requests.lock() {
            log.clear();
        }
        self.shared.in_flight.reset_max();
    }

    /// The most requests that were being handled at once.
    pub fn max_in_flight(&self) -> usize {
        self.shared.in_flight.max()
    }

    /// Stops the server now (also done on drop).
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(thread) = self.thread.take() {
            futures::executor::block_on(self.handle.stop(false));
            let _ = thread.join();
        }
    }
}

impl Drop for FakeN8n {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Reads and sanitizes every `*.json` of `dir`, sorted by file name.
fn load_fixtures(dir: &Path, version: N8nVersion) -> Result<Vec<(PathBuf, Value)>, FakeError> {
    let fixture_err = |path: &Path, reason: String| FakeError::Fixture {
        path: path.to_path_buf(),
        reason,
    };
    let entries = std::fs::read_dir(dir).map_err(|e| fixture_err(dir, e.to_string()))?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let text =
                std::fs::read_to_string(&path).map_err(|e| fixture_err(&path, e.to_string()))?;
            let doc: Value = serde_json::from_str(&text)
                .map_err(|e| fixture_err(&path, format!("not JSON: {e}")))?;
            let body =
                sanitize_for_write(&doc, version).map_err(|e| fixture_err(&path, e.to_string()))?;
            Ok((path, body))
        })
        .collect()
}

/// A small valid workflow, distinct per `i`.
pub fn generated_workflow(i: usize) -> Value {
    json!({
        "name": format!("Generated workflow {i}"),
        "nodes": [
            {"id": format!("00000000-0000-4000-8000-{i:012}"), "name": "Schedule",
             "type": "n8n-nodes-base.scheduleTrigger", "typeVersion": 1.2, "position": [0, 0],
             "parameters": {"rule": {"interval": [{"field": "hours", "hoursInterval": (i % 23) + 1}]}}},
            {"id": format!("00000000-0000-4000-9000-{i:012}"), "name": "Set",
             "type": "n8n-nodes-base.set", "typeVersion": 3.4, "position": [220, 0],
             "parameters": {"assignments": {"assignments": [{"id": "a", "name": "index", "value": i, "type": "number"}]}}}
        ],
        "connections": {"Schedule": {"main": [[{"node": "Set", "type": "main", "index": 0}]]}},
        "settings": {"executionOrder": "v1"}
    })
}
