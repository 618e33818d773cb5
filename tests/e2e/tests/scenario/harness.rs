//! What the scenario runs on: two n8n instances (fakes, or real ones named by the environment),
//! the API and a worker in-process on one test database, and a bare Git repository on disk.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use wfops_n8n::{N8nClient, N8nConfig, N8nVersion, Secret, WorkflowProvider};

/// One n8n instance the scenario talks to, with a client for seeding and changing workflows
/// behind WorkflowOps' back (as a person editing in n8n would).
pub struct Instance {
    pub url: String,
    pub api_key: String,
    pub client: N8nClient,
    /// Keeps an in-process fake alive for as long as the scenario runs.
    _fake: Option<wfops_fake_n8n::FakeN8n>,
}

impl std::fmt::Debug for Instance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Instance").field("url", &self.url).finish()
    }
}

impl Instance {
    fn new(
        url: String,
        api_key: String,
        version: N8nVersion,
        fake: Option<wfops_fake_n8n::FakeN8n>,
    ) -> Self {
        let mut config = N8nConfig::new(url.clone(), Secret::new(api_key.clone()));
        config.version = version;
        config.request_timeout = Duration::from_secs(60);
        let client = N8nClient::new(config).expect("n8n client builds");
        Self {
            url,
            api_key,
            client,
            _fake: fake,
        }
    }

    fn fake() -> Self {
        let fake = wfops_fake_n8n::FakeN8n::start().expect("fake n8n starts");
        Self::new(
            fake.url().to_string(),
            fake.api_key().to_string(),
            fake.version(),
            Some(fake),
        )
    }

    /// Creates `doc` through the n8n client (which sanitizes it into what n8n accepts) and
    /// returns the id n8n gave it.
    pub async fn create(&self, doc: &Value) -> String {
        let created =
            self.client.create_workflow(doc).await.unwrap_or_else(|e| {
                panic!("creating {:?} in n8n at {}: {e}", doc["name"], self.url)
            });
        created.id().to_string()
    }

    pub async fn get(&self, id: &str) -> Value {
        self.client
            .get_workflow(id)
            .await
            .unwrap_or_else(|e| panic!("reading workflow {id} from {}: {e}", self.url))
            .into_raw()
    }

    pub async fn update(&self, id: &str, doc: &Value) {
        self.client
            .update_workflow(id, doc)
            .await
            .unwrap_or_else(|e| panic!("updating workflow {id} in {}: {e}", self.url));
    }

    /// Deletes what a run created; a workflow already gone is fine. Returns the failures.
    pub async fn delete_all(&self, ids: &[String]) -> Vec<String> {
        let mut failures = Vec::new();
        for id in ids {
            match self.client.delete_workflow(id).await {
                Ok(()) | Err(wfops_n8n::ProviderError::NotFound { .. }) => {}
                Err(e) => failures.push(format!("{} workflow {id}: {e}", self.url)),
            }
        }
        failures
    }
}

/// The dev and prod n8n instances of one run.
#[derive(Debug)]
pub struct Instances {
    /// "fake" or "real": printed in messages, so a failure says which run it was.
    pub label: &'static str,
    /// The instances hold only what this run creates (fakes); real ones are shared and
    /// long-lived, so environment-wide counts include others' workflows.
    pub exclusive: bool,
    pub dev: Instance,
    pub prod: Instance,
}

fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn version_var(name: &str) -> N8nVersion {
    match env_var(name) {
        Some(v) => v
            .parse()
            .unwrap_or_else(|e| panic!("{name}={v} is not an n8n rules version: {e}")),
        None => N8nVersion::V1,
    }
}

impl Instances {
    /// Two in-process fakes: always available.
    pub fn fake() -> Self {
        Self {
            label: "fake",
            exclusive: true,
            dev: Instance::fake(),
            prod: Instance::fake(),
        }
    }

    /// The real instances named by `N8N_DEV_URL`/`N8N_DEV_API_KEY` and
    /// `N8N_PROD_URL`/`N8N_PROD_API_KEY` (`scripts/real-n8n.sh start` prints them). Without
    /// them: `None` (the caller skips), unless `WFOPS_REQUIRE_REAL_N8N=1`, where the run must
    /// not pass without having run, so it panics.
    pub fn real(test: &str) -> Option<Self> {
        Self::real_pair(test, "PROD", false)
    }

    /// The real dev instance and the `scratch` instance (`N8N_SCRATCH_URL`/
    /// `N8N_SCRATCH_API_KEY`) as the second: a test that restores a whole environment (which
    /// deletes what was created after its snapshot) runs only where no other test's
    /// workflows live. One test at a time may use it.
    pub fn real_scratch(test: &str) -> Option<Self> {
        Self::real_pair(test, "SCRATCH", true)
    }

    fn real_pair(test: &str, second: &str, exclusive: bool) -> Option<Self> {
        let url_var = format!("N8N_{second}_URL");
        let key_var = format!("N8N_{second}_API_KEY");
        let vars = [
            "N8N_DEV_URL",
            "N8N_DEV_API_KEY",
            url_var.as_str(),
            key_var.as_str(),
        ];
        let missing: Vec<&str> = vars
            .iter()
            .copied()
            .filter(|v| env_var(v).is_none())
            .collect();
        if !missing.is_empty() {
            if std::env::var("WFOPS_REQUIRE_REAL_N8N").is_ok_and(|v| v == "1") {
                panic!(
                    "{test}: WFOPS_REQUIRE_REAL_N8N=1 but {} not set; run \
                     `eval \"$(scripts/real-n8n.sh start)\"` first",
                    missing.join(", ")
                );
            }
            eprintln!(
                "SKIPPED {test}: {} not set (no real n8n to run against)",
                missing.join(", ")
            );
            return None;
        }
        let get = |name: &str| env_var(name).unwrap_or_default();
        Some(Self {
            label: "real",
            exclusive,
            dev: Instance::new(
                get("N8N_DEV_URL"),
                get("N8N_DEV_API_KEY"),
                version_var("N8N_DEV_VERSION"),
                None,
            ),
            prod: Instance::new(
                get(&url_var),
                get(&key_var),
                version_var(&format!("N8N_{second}_VERSION")),
                None,
            ),
        })
    }
}

/// A run id that no other run (in parallel, or earlier on a long-lived instance) uses: it goes
/// into every workflow name the run creates.
pub fn run_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!("{:x}{}", nanos % 0x1_0000_0000, &random[..6])
}

/// Fixture workflows for the scenario: the first `count` (in file order) that n8n accepts once
/// sanitized and that have at least one node with a string parameter, so that the scenario can
/// change one parameter later. Names are replaced with `wfops-e2e <run> <n> <original>`,
/// cut to n8n's 128 characters.
pub fn fixture_workflows(run: &str, count: usize) -> Vec<Value> {
    let dir = wfops_fake_n8n::fixtures_dir();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading fixtures in {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for path in files {
        if out.len() == count {
            break;
        }
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let Ok(mut doc) = serde_json::from_str::<Value>(&text) else {
            continue;
        };
        if wfops_diff::content_hash(text.as_bytes()).is_err() {
            continue;
        }
        if changeable_parameter(&doc).is_none() {
            continue;
        }
        let original = doc["name"].as_str().unwrap_or("workflow").to_string();
        let mut name = format!("wfops-e2e {run} {} {original}", out.len() + 1);
        if name.chars().count() > 128 {
            name = name.chars().take(128).collect();
        }
        doc["name"] = Value::String(name);
        if wfops_n8n::sanitize_for_write(&doc, N8nVersion::V1).is_err() {
            continue;
        }
        out.push(doc);
    }
    assert_eq!(
        out.len(),
        count,
        "not enough usable fixtures in {}",
        dir.display()
    );
    out
}

/// `(node name, parameter key)` of the first node that has a string-valued parameter.
pub fn changeable_parameter(doc: &Value) -> Option<(String, String)> {
    doc["nodes"].as_array()?.iter().find_map(|node| {
        let name = node["name"].as_str()?;
        let params = node["parameters"].as_object()?;
        let key = params
            .iter()
            .find(|(_, v)| v.as_str().is_some_and(|s| !s.is_empty()))
            .map(|(k, _)| k.clone())?;
        Some((name.to_string(), key))
    })
}

/// An empty bare repository on disk (as freshly created on a Git host, no branch yet),
/// reached through a `file://` URL; onboarding makes its first commit.
pub struct GitRepo {
    _dir: tempfile::TempDir,
    pub path: PathBuf,
}

impl GitRepo {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("workflows.git");
        git(
            dir.path(),
            &[
                "init",
                "--quiet",
                "--bare",
                "--initial-branch=main",
                path_str(&path),
            ],
        );
        Self { _dir: dir, path }
    }

    pub fn url(&self) -> String {
        format!("file://{}", self.path.display())
    }

    /// `git <args>` in the bare repository; its standard output.
    pub fn git(&self, args: &[&str]) -> String {
        git(&self.path, args)
    }

    /// Commit shas of `main`, newest first.
    pub fn commits(&self) -> Vec<String> {
        self.git(&["rev-list", "main"])
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// Files changed by one commit.
    pub fn files_in_commit(&self, sha: &str) -> Vec<String> {
        self.git(&[
            "diff-tree",
            "--root",
            "--no-commit-id",
            "--name-only",
            "-r",
            sha,
        ])
        .lines()
        .map(str::to_string)
        .collect()
    }

    /// Paths of the files under `workflows/<folder>/` at the head of `main`.
    pub fn files(&self, folder: &str) -> Vec<String> {
        self.git(&[
            "ls-tree",
            "-r",
            "--name-only",
            "main",
            &format!("workflows/{folder}/"),
        ])
        .lines()
        .map(str::to_string)
        .collect()
    }

    pub fn show(&self, path: &str) -> String {
        self.git(&["show", &format!("main:{path}")])
    }
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("temp paths are UTF-8")
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "e2e")
        .env("GIT_AUTHOR_EMAIL", "e2e@wfops.test")
        .env("GIT_COMMITTER_NAME", "e2e")
        .env("GIT_COMMITTER_EMAIL", "e2e@wfops.test")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .unwrap_or_else(|e| panic!("running git {args:?}: {e}"));
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("git prints UTF-8")
}

/// One Server-Sent Event as received.
#[derive(Debug, Clone)]
pub struct SseEvent {
    pub id: Option<String>,
    pub event: String,
    pub data: Value,
}

/// An open `text/event-stream` response, read event by event.
pub struct SseStream {
    url: String,
    resp: reqwest::Response,
    buffer: String,
}

impl SseStream {
    /// Opens the stream (optionally resuming after `last_event_id`); returns once the server
    /// answered with the event-stream headers, so events written from then on reach it.
    pub async fn open(
        client: &reqwest::Client,
        url: &str,
        token: &str,
        last_event_id: Option<&str>,
    ) -> Self {
        let mut req = client
            .get(url)
            .bearer_auth(token)
            .header("Accept", "text/event-stream");
        if let Some(id) = last_event_id {
            req = req.header("Last-Event-ID", id);
        }
        let resp = req.send().await.expect("SSE request is answered");
        assert_eq!(resp.status(), 200, "SSE {url}");
        let content_type = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        assert!(
            content_type.starts_with("text/event-stream"),
            "SSE {url}: content type {content_type:?}"
        );
        Self {
            url: url.to_string(),
            resp,
            buffer: String::new(),
        }
    }

    /// Every event up to and including the first for which `last` is true; panics when
    /// `timeout` passes first or the stream ends.
    pub async fn read_until(
        &mut self,
        last: impl Fn(&SseEvent) -> bool,
        timeout: Duration,
    ) -> Vec<SseEvent> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut events = Vec::new();
        loop {
            // events are separated by a blank line
            while let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                if let Some(event) = parse_sse_block(&block) {
                    let done = last(&event);
                    events.push(event);
                    if done {
                        return events;
                    }
                }
            }
            let kinds: Vec<String> = events.iter().map(|e: &SseEvent| e.event.clone()).collect();
            let chunk = tokio::time::timeout_at(deadline, self.resp.chunk())
                .await
                .unwrap_or_else(|_| {
                    panic!(
                        "SSE {}: no final event within {timeout:?}; got {kinds:?}",
                        self.url
                    )
                })
                .expect("SSE stream reads")
                .unwrap_or_else(|| {
                    panic!("SSE {}: the stream ended early; got {kinds:?}", self.url)
                });
            self.buffer
                .push_str(std::str::from_utf8(&chunk).expect("SSE is UTF-8"));
        }
    }
}

/// One event block; `None` for a comment-only block (the keep-alive).
fn parse_sse_block(block: &str) -> Option<SseEvent> {
    let (mut id, mut event, mut data) = (None, None, Vec::new());
    for line in block.lines() {
        if line.starts_with(':') || line.is_empty() {
            continue;
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "id" => id = Some(value.to_string()),
            "event" => event = Some(value.to_string()),
            "data" => data.push(value.to_string()),
            _ => {}
        }
    }
    if event.is_none() && data.is_empty() {
        return None;
    }
    let data = data.join("\n");
    Some(SseEvent {
        id,
        event: event.unwrap_or_else(|| "message".into()),
        data: serde_json::from_str(&data).unwrap_or(Value::String(data)),
    })
}

/// `s` percent-encoded for a query string value.
pub fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
