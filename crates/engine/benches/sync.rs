//! Environment sync at scale: 10,000 workflows built from the fixtures (unique names) in a fake
//! n8n, synced into a fresh test database.
//!
//! `cargo bench -p wfops-engine --bench sync` prints the time of a cold sync, an unchanged
//! re-sync and a re-sync with 1% of the workflows changed, and the process' peak RSS
//! (VmHWM). `WFOPS_SYNC_BENCH_COUNT` changes the number of workflows. Targets on a 2-core
//! machine: cold ≤ 20 s, unchanged ≤ 3 s (docs/BENCHMARKS.md).

// Benchmark code: a failed unwrap or expect stops the measurement with its reason.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use uuid::Uuid;
use wfops_config::Config;
use wfops_db::environments::{self, NewEnvironment};
use wfops_db::ScopedFutureExt;
use wfops_engine::env_sync::{self, EnvSyncReport};
use wfops_engine::{Checkpoint, EngineCtx, NoProgress};
use wfops_fake_n8n::FakeN8n;
use wfops_test_support::TestDb;

fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// CPU time (user + system) of this process so far: the engine and the in-process fake n8n,
/// not Postgres. Steadier than wall time on a shared machine.
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // fields after the command name (which is in parentheses and may hold spaces)
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name
    (ticks(11) + ticks(12)) / 100.0
}

fn print(label: &str, took: Duration, cpu: f64, r: &EnvSyncReport) {
    println!(
        "{label:<20} {:>6.2} s wall {:>6.2} s cpu   fetched {:>6}  created {:>6}  updated {:>5}  unchanged {:>6}  errors {:>4}  reconcile {} ms",
        took.as_secs_f64(),
        cpu,
        r.fetched,
        r.created,
        r.updated,
        r.unchanged,
        r.error_count,
        r.reconcile.as_ref().map_or(0, |c| c.duration_ms),
    );
}

fn main() {
    let count: usize = std::env::var("WFOPS_SYNC_BENCH_COUNT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(bench(count));
}

async fn bench(count: usize) {
    let started = Instant::now();
    let fake = FakeN8n::start().expect("fake n8n");
    let ids = fake
        .seed_from_fixtures(&wfops_fake_n8n::fixtures_dir(), count)
        .expect("seed");
    println!(
        "seeded {} workflows into the fake n8n in {:.1} s",
        ids.len(),
        started.elapsed().as_secs_f64()
    );

    let test_db = TestDb::new().await;
    let tenant = test_db.create_tenant("bench").await.expect("tenant");
    let mut config = Config::for_tests();
    config.home = std::env::temp_dir().join(format!("wfops-bench-{}", Uuid::new_v4().simple()));
    let ctx = EngineCtx::from_config(test_db.db(), Arc::new(config)).expect("context");
    let batch = ctx.config.sync_batch_size;
    let key = ctx.cipher.encrypt_str(fake.api_key()).expect("encrypt");
    let url = fake.url().to_owned();
    let env = ctx
        .db
        .tenant_tx(tenant, move |conn| {
            async move {
                environments::insert(
                    conn,
                    &NewEnvironment {
                        tenant_id: tenant,
                        name: "bench",
                        url: &url,
                        provider: "n8n",
                        environment_class: "dev",
                        api_key_encrypted: Some(&key),
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
        .expect("environment")
        .id;
    println!(
        "page size {}, SYNC_BATCH_SIZE {batch}, {} cores",
        ctx.n8n.page_size,
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );

    let run = || async {
        let (t, cpu) = (Instant::now(), cpu_seconds());
        let r = env_sync::run(&ctx, tenant, env, &NoProgress, &Checkpoint::none())
            .await
            .expect("sync");
        (t.elapsed(), cpu_seconds() - cpu, r)
    };

    let (took, cpu, r) = run().await;
    print("cold sync", took, cpu, &r);
    assert_eq!(r.fetched as usize, count);

    let (took, cpu, r) = run().await;
    print("unchanged re-sync", took, cpu, &r);
    assert_eq!(r.updated, 0);

    let changed = (count / 100).max(1);
    for (i, id) in ids
        .iter()
        .step_by(ids.len() / changed)
        .take(changed)
        .enumerate()
    {
        let mut doc = fake.workflow(id).expect("get").expect("exists");
        if let Some(node) = doc["nodes"].get_mut(0) {
            node["parameters"]["wfopsBenchEdit"] = json!(i);
        }
        fake.replace_content(id, &doc, true).expect("edit");
    }
    let (took, cpu, r) = run().await;
    print("1% changed re-sync", took, cpu, &r);
    println!(
        "peak RSS (VmHWM, fake n8n included): {}",
        peak_rss_mib().map_or("unknown".into(), |m| format!("{m:.0} MiB"))
    );
    if let Ok(load) = std::fs::read_to_string("/proc/loadavg") {
        println!("load average during the run: {}", load.trim());
    }
}
