//! Environment sync against a real n8n, next to the raw time n8n itself takes to list the same
//! workflows with the same page size (the goal: "the sync should add little on top of what n8n
//! itself takes").
//!
//! ```text
//! eval "$(scripts/real-n8n.sh start)"
//! cargo bench -p wfops-engine --bench real_sync
//! ```
//!
//! Needs `N8N_DEV_URL` and `N8N_DEV_API_KEY`; without them it prints `SKIPPED` and exits 0.
//! The first run seeds the instance with `WFOPS_BENCH_REAL_WORKFLOWS` (default 500) fixture
//! workflows named `wfops-bench <n> …`; later runs reuse them (and only top up). They are left
//! on the instance on purpose: seeding takes far longer than the measurement.
//!
//! Measured, each best of `ROUNDS`:
//! - raw listing: `GET /api/v1/workflows?limit=250&excludePinnedData=true` page after page, the
//!   body read to the end and only `nextCursor` decoded (the least any client must do);
//! - client listing: the same through `N8nClient` (`list_all_workflows`), every workflow
//!   decoded into JSON, which a sync needs before it can hash anything;
//! - cold sync: `env_sync::run` (listing, parsing, hashing, writing every mapping, marking
//!   missing, reconciliation) into an empty test database;
//! - unchanged sync: the same again, where every workflow short-circuits.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;
use wfops_config::Config;
use wfops_db::environments::{self, NewEnvironment};
use wfops_db::ScopedFutureExt;
use wfops_engine::env_sync::{self, EnvSyncReport};
use wfops_engine::{Checkpoint, EngineCtx, NoProgress};
use wfops_n8n::{
    list_all_workflows, ListWorkflows, N8nClient, N8nConfig, Secret, WorkflowProvider,
    MAX_PAGE_SIZE,
};
use wfops_test_support::TestDb;

const PREFIX: &str = "wfops-bench ";
const ROUNDS: usize = 3;

type BenchResult<T> = Result<T, String>;

fn main() {
    let (Some(url), Some(key)) = (var("N8N_DEV_URL"), var("N8N_DEV_API_KEY")) else {
        println!("SKIPPED real_sync: N8N_DEV_URL and N8N_DEV_API_KEY are not set (eval \"$(scripts/real-n8n.sh start)\")");
        return;
    };
    let target = match var("WFOPS_BENCH_REAL_WORKFLOWS").map(|v| v.parse::<usize>()) {
        None => 500,
        Some(Ok(n)) => n,
        Some(Err(e)) => {
            eprintln!("real_sync: WFOPS_BENCH_REAL_WORKFLOWS: {e}");
            std::process::exit(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("real_sync: tokio runtime: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = runtime.block_on(run(url, key, target)) {
        eprintln!("real_sync failed: {e}");
        std::process::exit(1);
    }
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

async fn run(url: String, key: String, target: usize) -> BenchResult<()> {
    let client = client(&url, &key)?;
    seed(&client, target).await?;

    let http = reqwest::Client::new();
    let mut raw_best = Duration::MAX;
    let mut client_best = Duration::MAX;
    let mut listing = Listing::default();
    for _ in 0..ROUNDS {
        let (took, l) = raw_listing(&http, &url, &key).await?;
        raw_best = raw_best.min(took);
        listing = l;
        let started = Instant::now();
        list_all_workflows(
            &client,
            ListWorkflows {
                limit: Some(MAX_PAGE_SIZE),
                exclude_pinned_data: true,
                ..Default::default()
            },
        )
        .await
        .map_err(|e| format!("client listing: {e}"))?;
        client_best = client_best.min(started.elapsed());
    }

    let mut cold_best = Duration::MAX;
    let mut unchanged_best = Duration::MAX;
    let mut cold_report = EnvSyncReport::default();
    let mut unchanged_report = EnvSyncReport::default();
    for _ in 0..ROUNDS {
        // a new database each round, so every cold sync is cold
        let test_db = TestDb::try_new()
            .await
            .map_err(|e| format!("test database: {e}"))?;
        let (ctx, tenant, env, _cache) = engine(&test_db, &url, &key).await?;
        let started = Instant::now();
        let cold = sync(&ctx, tenant, env).await?;
        cold_best = cold_best.min(started.elapsed());
        let started = Instant::now();
        let unchanged = sync(&ctx, tenant, env).await?;
        unchanged_best = unchanged_best.min(started.elapsed());
        if cold.created as usize != cold.fetched as usize
            || unchanged.unchanged != unchanged.fetched
        {
            return Err(format!(
                "unexpected reports: cold {cold:?}, unchanged {unchanged:?}"
            ));
        }
        cold_report = cold;
        unchanged_report = unchanged;
    }

    let secs = |d: Duration| d.as_secs_f64();
    println!("real n8n at {url}: {} workflows ({} seeded by this bench), {} pages of {MAX_PAGE_SIZE}, {:.1} MiB listed without pinned data",
        listing.workflows, listing.seeded, listing.pages, listing.bytes as f64 / (1024.0 * 1024.0));
    println!("best of {ROUNDS} rounds each:");
    println!(
        "  raw listing (HTTP, body read, cursor decoded) {:>8.3} s",
        secs(raw_best)
    );
    println!(
        "  client listing (N8nClient, decoded to JSON)  {:>8.3} s   {:.2}x the raw listing",
        secs(client_best),
        secs(client_best) / secs(raw_best)
    );
    println!(
        "  cold sync (env_sync::run, reconcile incl.)   {:>8.3} s   {:.2}x the raw listing   (reconcile {} ms, {} created)",
        secs(cold_best),
        secs(cold_best) / secs(raw_best),
        cold_report.reconcile.as_ref().map_or(0, |r| r.duration_ms),
        cold_report.created
    );
    println!(
        "  unchanged sync                               {:>8.3} s   {:.2}x the raw listing   (reconcile {} ms, {} unchanged)",
        secs(unchanged_best),
        secs(unchanged_best) / secs(raw_best),
        unchanged_report.reconcile.as_ref().map_or(0, |r| r.duration_ms),
        unchanged_report.unchanged
    );
    println!(
        "  overhead on top of n8n: cold +{:.3} s, unchanged +{:.3} s",
        secs(cold_best) - secs(raw_best),
        secs(unchanged_best) - secs(raw_best)
    );
    Ok(())
}

fn client(url: &str, key: &str) -> BenchResult<N8nClient> {
    let mut config = N8nConfig::new(url.to_string(), Secret::new(key.to_string()));
    config.request_timeout = Duration::from_secs(120);
    N8nClient::new(config).map_err(|e| format!("n8n client: {e}"))
}

/// Tops the instance up to `target` workflows named `wfops-bench …`, built from the fixtures.
async fn seed(client: &N8nClient, target: usize) -> BenchResult<()> {
    let existing = list_all_workflows(
        client,
        ListWorkflows {
            exclude_pinned_data: true,
            ..Default::default()
        },
    )
    .await
    .map_err(|e| format!("listing the instance: {e}"))?;
    let have: std::collections::HashSet<String> = existing
        .iter()
        .filter_map(|w| w.name())
        .filter(|n| n.starts_with(PREFIX))
        .map(str::to_string)
        .collect();
    if have.len() >= target {
        return Ok(());
    }
    let dir = wfops_fake_n8n::fixtures_dir();
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .map_err(|e| format!("fixtures {}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    let mut todo = Vec::new();
    for (i, path) in files.iter().cycle().take(target * 2).enumerate() {
        if have.len() + todo.len() >= target {
            break;
        }
        let Ok(text) = std::fs::read_to_string(path) else {
            continue;
        };
        // only workflows WorkflowOps can parse: the figures are about syncing content, and a
        // rejected one would also keep onboarding of this shared instance from completing
        if wfops_diff::content_hash(text.as_bytes()).is_err() {
            continue;
        }
        let Ok(mut doc) = serde_json::from_str::<Value>(&text) else {
            continue;
        };
        let original = doc["name"].as_str().unwrap_or("workflow").to_string();
        let name: String = format!("{PREFIX}{i:04} {original}")
            .chars()
            .take(128)
            .collect();
        if have.contains(&name) || !doc.is_object() {
            continue;
        }
        doc["name"] = Value::String(name);
        todo.push(doc);
    }
    eprintln!(
        "real_sync: seeding {} workflows (once; later runs reuse them)",
        todo.len()
    );
    let started = Instant::now();
    let failures: Vec<String> = futures::stream::iter(todo)
        .map(|doc| async move {
            client
                .create_workflow(&doc)
                .await
                .map(|_| ())
                .map_err(|e| format!("{}: {e}", doc["name"]))
        })
        .buffer_unordered(4)
        .filter_map(|r| async move { r.err() })
        .collect()
        .await;
    eprintln!(
        "real_sync: seeded in {:.1} s, {} rejected",
        started.elapsed().as_secs_f64(),
        failures.len()
    );
    for f in failures.iter().take(5) {
        eprintln!("real_sync:   rejected {f}");
    }
    Ok(())
}

#[derive(Debug, Default)]
struct Listing {
    workflows: usize,
    seeded: usize,
    pages: usize,
    bytes: usize,
}

#[derive(Deserialize)]
struct RawPage {
    #[serde(rename = "nextCursor")]
    next_cursor: Option<String>,
    data: Vec<RawName>,
}

#[derive(Deserialize)]
struct RawName {
    #[serde(default)]
    name: Option<String>,
}

/// Lists every workflow with plain HTTP: what n8n takes to answer, and little more.
async fn raw_listing(
    http: &reqwest::Client,
    url: &str,
    key: &str,
) -> BenchResult<(Duration, Listing)> {
    let started = Instant::now();
    let mut listing = Listing::default();
    let mut cursor: Option<String> = None;
    loop {
        let mut req = http
            .get(format!("{}/api/v1/workflows", url.trim_end_matches('/')))
            .header("X-N8N-API-KEY", key)
            .query(&[
                ("limit", MAX_PAGE_SIZE.to_string()),
                ("excludePinnedData", "true".into()),
            ]);
        if let Some(c) = &cursor {
            req = req.query(&[("cursor", c)]);
        }
        let resp = req.send().await.map_err(|e| format!("raw listing: {e}"))?;
        if !resp.status().is_success() {
            return Err(format!("raw listing: HTTP {}", resp.status()));
        }
        let body = resp
            .bytes()
            .await
            .map_err(|e| format!("raw listing body: {e}"))?;
        let page: RawPage =
            serde_json::from_slice(&body).map_err(|e| format!("raw listing page: {e}"))?;
        listing.pages += 1;
        listing.bytes += body.len();
        listing.workflows += page.data.len();
        listing.seeded += page
            .data
            .iter()
            .filter(|w| w.name.as_deref().is_some_and(|n| n.starts_with(PREFIX)))
            .count();
        match page.next_cursor {
            Some(c) if !c.is_empty() => cursor = Some(c),
            _ => break,
        }
    }
    Ok((started.elapsed(), listing))
}

/// An engine context on `test_db`, a tenant, and an environment for the instance.
async fn engine(
    test_db: &TestDb,
    url: &str,
    key: &str,
) -> BenchResult<(EngineCtx, Uuid, Uuid, tempfile::TempDir)> {
    let config = Config::for_tests();
    let cipher = config
        .secrets()
        .map_err(|e| format!("secrets: {e}"))?
        .cipher;
    let cache = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
    let ctx = EngineCtx::new(
        test_db.db(),
        Arc::new(config),
        cipher.clone(),
        cache.path().to_path_buf(),
    );
    let tenant = test_db
        .create_tenant("bench")
        .await
        .map_err(|e| format!("tenant: {e}"))?;
    let encrypted = cipher
        .encrypt_str(key)
        .map_err(|e| format!("encrypting the key: {e}"))?;
    let url = url.to_string();
    let env = ctx
        .db
        .tenant_tx(tenant, move |conn| {
            async move {
                environments::insert(
                    conn,
                    &NewEnvironment {
                        tenant_id: tenant,
                        name: "real dev",
                        url: &url,
                        provider: "n8n",
                        environment_class: "dev",
                        api_key_encrypted: Some(&encrypted),
                        drift_handling_mode: "warn_only",
                        git_repo_url: None,
                        git_branch: "main",
                        git_folder: None,
                        git_token_encrypted: None,
                    },
                )
                .await
            }
            .scope_boxed()
        })
        .await
        .map_err(|e| format!("environment: {e}"))?;
    Ok((ctx, tenant, env.id, cache))
}

async fn sync(ctx: &EngineCtx, tenant: Uuid, env: Uuid) -> BenchResult<EnvSyncReport> {
    env_sync::run(ctx, tenant, env, &NoProgress, &Checkpoint::none())
        .await
        .map_err(|e| format!("sync: {e}"))
}
