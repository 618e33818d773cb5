//! One JSON log line per request, with the fields operators need and no secrets.
//! Its own test binary: it installs a global subscriber.

// Test code: a failed unwrap or expect is the test's failure message (clippy.toml allows them
// in tests, but not yet in the helpers of integration tests).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use common::spawn_app;
use serde_json::{json, Value};

/// The log output, and a signal raised on every write so that the test can wait for lines
/// the server writes after it has sent its response.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>, Arc<tokio::sync::Notify>);

impl Capture {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }

    /// Waits until `count` request lines were written, or fails after a generous deadline.
    async fn wait_for_request_lines(&self, count: usize) {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            // registered before the check: a write between the check and the wait still wakes us
            let written = self.1.notified();
            let text = self.text();
            if text.matches("\"wfops_api::request\"").count() >= count {
                return;
            }
            if tokio::time::timeout_at(deadline, written).await.is_err() {
                panic!("{count} request lines were not written within 10 s: {text}");
            }
        }
    }
}

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        self.1.notify_waiters();
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_json_line_per_request_without_secrets() {
    let capture = Capture::default();
    let writer = capture.clone();
    tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_env_filter("info")
        .with_writer(move || writer.clone())
        .init();

    let app = spawn_app().await;
    let t = app.tenant("Acme").await;
    let secret = "n8n-key-that-must-never-be-logged";
    let created = app
        .post(
            "/api/v1/environments",
            &t.admin_key,
            json!({ "name": "dev", "url": "https://n8n.example.com", "api_key": secret }),
        )
        .await;
    assert_eq!(created.status, 201);
    let request_id = created.header("x-request-id").unwrap();
    let id = created.json()["data"]["id"].as_str().unwrap().to_string();
    let got = app
        .get(&format!("/api/v1/environments/{id}"), &t.admin_key)
        .await;
    let get_id = got.header("x-request-id").unwrap();
    let login = app.login(&t.email, &t.password).await;
    assert_eq!(login.status, 200);
    let token = login.json()["data"]["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    app.get("/api/v1/nope", &t.admin_key).await;

    // the server writes its line after the response is sent: wait for the fourth
    capture.wait_for_request_lines(4).await;
    let text = capture.text();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let requests: Vec<&Value> = lines
        .iter()
        .filter(|l| l["target"] == "wfops_api::request")
        .collect();
    assert_eq!(requests.len(), 4, "{text}");

    let create_line = requests
        .iter()
        .find(|l| l["request_id"] == request_id.as_str())
        .unwrap();
    assert_eq!(create_line["method"], "POST");
    assert_eq!(create_line["route"], "/api/v1/environments");
    assert_eq!(create_line["status"], 201);
    assert!(create_line["latency_ms"].is_number());
    assert_eq!(create_line["tenant_id"], t.id.to_string().as_str());
    assert!(create_line["actor"]
        .as_str()
        .unwrap()
        .starts_with("api_key:"));

    let get_line = requests
        .iter()
        .find(|l| l["request_id"] == get_id.as_str())
        .unwrap();
    assert_eq!(
        get_line["route"], "/api/v1/environments/{id}",
        "the pattern, not the path"
    );

    let unmatched = requests.iter().find(|l| l["status"] == 404).unwrap();
    assert_eq!(unmatched["route"], "<unmatched>");

    for leaked in [
        secret,
        t.admin_key.as_str(),
        t.password.as_str(),
        token.as_str(),
    ] {
        assert!(!text.contains(leaked), "a secret reached the logs");
    }
}
