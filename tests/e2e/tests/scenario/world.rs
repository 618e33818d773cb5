//! The system under test: the API (the real app, over HTTP) and a worker, both in this process
//! on one test database, as `wfops-api serve` and `wfops-worker` run them; a tenant with an
//! admin, a developer and a viewer key; the two n8n instances.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::common::{self, Response, TestApp};
use crate::harness::{encode, GitRepo, Instance, Instances};

pub struct World {
    pub app: TestApp,
    pub admin: String,
    pub developer: String,
    pub viewer: String,
    pub instances: Instances,
    worker: Option<(oneshot::Sender<()>, JoinHandle<()>)>,
    /// `WFOPS_HOME` of the app and the worker: Git mirrors (the API's preflight reads the
    /// remote too) go to `<home>/git-cache` here, not into the checkout.
    _home: tempfile::TempDir,
}

impl World {
    pub async fn start(instances: Instances) -> Self {
        let home = tempfile::tempdir().expect("home dir");
        let home_path = home.path().to_path_buf();
        let app = common::spawn_app_with(|c| c.home = home_path).await;
        // what `wfops-api serve` starts next to the server: the LISTEN task behind SSE
        wfops_api::routes::sse::spawn_listener(app.state.sse.clone(), app.test_db.admin_url());
        let tenant = app.tenant("E2E").await;
        let developer = app.key(&tenant, "developer").await;
        let viewer = app.key(&tenant, "viewer").await;
        let worker = spawn_worker(&app, home.path().join("git-cache")).await;
        Self {
            admin: tenant.admin_key,
            developer,
            viewer,
            instances,
            app,
            worker: Some(worker),
            _home: home,
        }
    }

    /// Stops the worker the way SIGTERM does.
    pub async fn stop(mut self) {
        if let Some((stop, handle)) = self.worker.take() {
            let _ = stop.send(());
            let _ = tokio::time::timeout(Duration::from_secs(30), handle).await;
        }
    }

    /// `POST /environments` as the admin; the environment's id.
    pub async fn create_environment(
        &self,
        name: &str,
        class: &str,
        n8n: &Instance,
        repo: &GitRepo,
        folder: &str,
    ) -> Uuid {
        let resp = self
            .app
            .post(
                "/api/v1/environments",
                &self.admin,
                json!({
                    "name": name,
                    "url": n8n.url,
                    "api_key": n8n.api_key,
                    "environment_class": class,
                    "git_repo_url": repo.url(),
                    "git_branch": "main",
                    "git_folder": folder,
                }),
            )
            .await;
        assert_eq!(resp.status, 201, "create environment {name}: {}", resp.text);
        assert!(
            !resp.text.contains(&n8n.api_key),
            "the API key is never returned"
        );
        let env = resp.json()["data"].clone();
        assert_eq!(env["environment_class"], class);
        assert_eq!(env["git_folder"], folder);
        env["id"].as_str().expect("id").parse().expect("uuid")
    }

    /// A `202 Accepted` with a job; its id.
    pub async fn accepted(&self, resp: Response) -> Uuid {
        assert_eq!(resp.status, 202, "{}", resp.text);
        let job = resp.json()["data"].clone();
        assert!(
            matches!(
                job["status"].as_str(),
                Some("pending" | "running" | "completed")
            ),
            "{job}"
        );
        job["id"].as_str().expect("job id").parse().expect("uuid")
    }

    /// A `200` envelope's `data`.
    pub async fn ok(&self, resp: Response) -> Value {
        assert_eq!(resp.status, 200, "{}", resp.text);
        resp.json()["data"].clone()
    }

    /// Polls `GET /jobs/{id}` until the job finished; panics unless it completed.
    pub async fn wait_job(&self, id: Uuid) -> Value {
        let deadline = tokio::time::Instant::now() + crate::scenario::JOB_TIMEOUT;
        loop {
            let job = self
                .ok(self
                    .app
                    .get(&format!("/api/v1/jobs/{id}"), &self.viewer)
                    .await)
                .await;
            match job["status"].as_str() {
                Some("completed") => return job,
                Some("failed" | "cancelled") => panic!("job {id} did not complete: {job:#}"),
                _ => {}
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "job {id} still unfinished: {job:#}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Every item of a paginated list (`page_size` 200), following the pages.
    pub async fn list(&self, path: &str) -> Vec<Value> {
        let mut out = Vec::new();
        let sep = if path.contains('?') { '&' } else { '?' };
        for page in 1.. {
            let resp = self
                .app
                .get(&format!("{path}{sep}page={page}"), &self.viewer)
                .await;
            assert_eq!(resp.status, 200, "{path}: {}", resp.text);
            let body = resp.json();
            let items = body["data"].as_array().expect("a list").clone();
            out.extend(items);
            let total_pages = body["pagination"]["total_pages"].as_i64().unwrap_or(1);
            if page >= total_pages {
                break;
            }
        }
        out
    }

    /// The run's mappings in one environment (`GET /workflows`, searched by the run id that
    /// every name of the run carries).
    pub async fn mappings(&self, env: Uuid, run: &str) -> Vec<Value> {
        self.list(&format!(
            "/api/v1/workflows?environment_id={env}&search={}&page_size=200",
            encode(run)
        ))
        .await
    }

    /// The mapping of n8n workflow `n8n_id` in `env`.
    pub async fn mapping(&self, env: Uuid, n8n_id: &str) -> Value {
        self.list(&format!(
            "/api/v1/workflows?environment_id={env}&search={}&page_size=200",
            encode(n8n_id)
        ))
        .await
        .into_iter()
        .find(|m| m["n8n_workflow_id"] == n8n_id)
        .unwrap_or_else(|| panic!("no mapping of {n8n_id} in {env}"))
    }

    /// The matrix rows of the run.
    pub async fn matrix(&self, run: &str) -> Vec<Value> {
        self.matrix_query(&format!("search={}", encode(run))).await
    }

    pub async fn matrix_query(&self, query: &str) -> Vec<Value> {
        self.list(&format!("/api/v1/workflows/matrix?{query}&page_size=200"))
            .await
    }
}

/// A worker with the engine's job handlers (as `wfops-worker` registers them), claiming from
/// the app's database, woken by its LISTEN connection, stopped through the returned sender.
async fn spawn_worker(
    app: &TestApp,
    git_cache: std::path::PathBuf,
) -> (oneshot::Sender<()>, JoinHandle<()>) {
    let db = app.test_db.db();
    let engine = wfops_engine::EngineCtx::new(
        db.clone(),
        app.state.config.clone(),
        app.state.cipher.clone(),
        git_cache,
    );
    let mut registry = wfops_worker::Registry::new();
    wfops_worker::register_engine_jobs(&mut registry, Arc::new(engine))
        .expect("engine jobs register");
    let mut options = wfops_worker::WorkerOptions::new(wfops_worker::default_worker_name());
    options.listen_url = Some(app.test_db.admin_url());
    options.poll_interval = Duration::from_millis(500);
    options.concurrency = 2;
    let worker = wfops_worker::Worker::new(db, registry, options);
    let (stop, stopped) = oneshot::channel::<()>();
    let handle = tokio::spawn(async move {
        let summary = worker
            .run(async move {
                let _ = stopped.await;
            })
            .await
            .expect("the worker runs");
        eprintln!("e2e worker stopped: {summary:?}");
    });
    (stop, handle)
}
