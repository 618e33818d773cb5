//! How long listing a large instance takes through the client, next to the raw HTTP time for
//! the same pages. Prints figures; asserts nothing about speed.
//!
//!   cargo bench -p wfops-n8n --bench list
//!
//! Against the fake: 10,000 workflows built from the fixtures (`WFOPS_BENCH_WORKFLOWS`).
//! Against a real n8n as well when `N8N_DEV_URL` / `N8N_DEV_API_KEY` are set; with
//! `WFOPS_BENCH_REAL_WORKFLOWS=N` it first creates N fixture workflows there (and deletes them
//! afterwards).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

use std::time::{Duration, Instant};

use serde_json::Value;
use wfops_fake_n8n::{fixtures_dir, FakeN8n};
use wfops_n8n::{
    list_all_workflows, sanitize_for_write, ListWorkflows, N8nClient, N8nConfig, N8nVersion,
    Secret, WorkflowProvider, MAX_PAGE_SIZE,
};

const RUNS: usize = 3;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `VmHWM` (peak) or `VmRSS` (now) of this process, in MiB.
fn rss_mib(field: &str) -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn client(url: &str, key: &str) -> N8nClient {
    let mut c = N8nConfig::new(url, Secret::new(key.to_string()));
    c.request_timeout = Duration::from_secs(120);
    N8nClient::new(c).expect("client")
}

/// Every page fetched with plain reqwest and its bytes read, without decoding: what n8n (or
/// the fake) and the network take on their own.
async fn raw_list(url: &str, key: &str) -> (usize, usize) {
    let http = reqwest::Client::new();
    let mut cursor: Option<String> = None;
    let (mut pages, mut bytes) = (0, 0);
    loop {
        let mut u = format!("{url}/api/v1/workflows?limit={MAX_PAGE_SIZE}&excludePinnedData=true");
        if let Some(c) = &cursor {
            u.push_str("&cursor=");
            u.push_str(c);
        }
        let body = http
            .get(u)
            .header("X-N8N-API-KEY", key)
            .send()
            .await
            .expect("answer")
            .bytes()
            .await
            .expect("body");
        pages += 1;
        bytes += body.len();
        // Only the cursor is read, with a cheap search rather than a JSON parse.
        let text = std::str::from_utf8(&body[body.len().saturating_sub(200)..]).unwrap_or("");
        cursor = text
            .rsplit_once("\"nextCursor\":\"")
            .and_then(|(_, rest)| rest.split_once('"'))
            .map(|(c, _)| c.to_string());
        if cursor.is_none() {
            return (pages, bytes);
        }
    }
}

fn summary(label: &str, times: &mut [Duration], detail: &str) {
    times.sort();
    println!(
        "{label:<44} min {:>8.1} ms  median {:>8.1} ms  ({detail})",
        times[0].as_secs_f64() * 1e3,
        times[times.len() / 2].as_secs_f64() * 1e3
    );
}

async fn measure(label: &str, url: &str, key: &str) {
    let client = client(url, key);
    let query = ListWorkflows {
        exclude_pinned_data: true,
        ..Default::default()
    };
    let mut client_times = Vec::new();
    let mut count = 0;
    for _ in 0..RUNS {
        let started = Instant::now();
        count = list_all_workflows(&client, query.clone())
            .await
            .expect("list")
            .len();
        client_times.push(started.elapsed());
    }
    let mut raw_times = Vec::new();
    let mut detail = String::new();
    for _ in 0..RUNS {
        let started = Instant::now();
        let (pages, bytes) = raw_list(url, key).await;
        raw_times.push(started.elapsed());
        detail = format!("{pages} pages, {:.1} MiB", bytes as f64 / 1_048_576.0);
    }
    summary(
        &format!("{label}: client list_all ({count} workflows)"),
        &mut client_times,
        "decoded, deduplicated",
    );
    summary(
        &format!("{label}: raw HTTP, same pages"),
        &mut raw_times,
        &detail,
    );
}

async fn seed_real(client: &N8nClient, n: usize) -> Vec<String> {
    let mut docs: Vec<Value> = Vec::new();
    let mut paths: Vec<_> = std::fs::read_dir(fixtures_dir())
        .expect("fixtures")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    paths.sort();
    for p in paths {
        let doc: Value =
            serde_json::from_str(&std::fs::read_to_string(&p).expect("read")).expect("json");
        docs.push(sanitize_for_write(&doc, N8nVersion::V1).expect("sanitizes"));
    }
    let started = Instant::now();
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        let mut doc = docs[i % docs.len()].clone();
        doc["name"] = Value::String(format!("wfops-bench {i}"));
        ids.push(
            client
                .create_workflow(&doc)
                .await
                .expect("create")
                .id()
                .to_string(),
        );
    }
    println!(
        "real: created {n} workflows in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    ids
}

#[tokio::main]
async fn main() {
    let n = env_usize("WFOPS_BENCH_WORKFLOWS", 10_000);
    let fake = FakeN8n::start().expect("fake starts");
    let started = Instant::now();
    fake.seed_from_fixtures(&fixtures_dir(), n).expect("seeded");
    println!(
        "fake: seeded {n} workflows from the fixtures in {:.2} s; RSS now {:.0} MiB",
        started.elapsed().as_secs_f64(),
        rss_mib("VmRSS:").unwrap_or(f64::NAN)
    );
    measure("fake", fake.url(), fake.api_key()).await;
    if let Some(rss) = rss_mib("VmHWM:") {
        println!("peak RSS of this process (fake + client): {rss:.0} MiB");
    }
    let health = client(fake.url(), fake.api_key())
        .health()
        .await
        .expect("health");
    println!(
        "fake: health probe {:.2} ms",
        health.latency.as_secs_f64() * 1e3
    );
    drop(fake);

    let (Ok(url), Ok(key)) = (
        std::env::var("N8N_DEV_URL"),
        std::env::var("N8N_DEV_API_KEY"),
    ) else {
        println!("real: skipped (N8N_DEV_URL / N8N_DEV_API_KEY not set)");
        return;
    };
    let real = client(&url, &key);
    let seeded = seed_real(&real, env_usize("WFOPS_BENCH_REAL_WORKFLOWS", 0)).await;
    measure("real", &url, &key).await;
    let health = real.health().await.expect("health");
    println!(
        "real: health probe {:.2} ms",
        health.latency.as_secs_f64() * 1e3
    );
    for id in &seeded {
        let _ = real.delete_workflow(id).await;
    }
}
