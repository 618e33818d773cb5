//! Promotion of 500 workflows from dev to prod against in-process fake n8n instances, next to
//! the raw time of the same n8n API calls made by a plain client (the goal: at most 1.5× that),
//! and the time of a promotion that fails at its 499th write and rolls the 498 before back.
//!
//! ```text
//! cargo bench -p wfops-engine --bench promotion
//! ```
//!
//! `WFOPS_BENCH_PROMOTION_WORKFLOWS` changes the count (default 500). Each figure is the best of
//! `ROUNDS` runs on fresh instances.

use std::sync::Arc;
use std::time::{Duration, Instant};

use uuid::Uuid;
use wfops_config::Config;
use wfops_db::environments::{self, NewEnvironment};
use wfops_db::ScopedFutureExt;
use wfops_engine::promotion::{self, DeploymentReport};
use wfops_engine::{EngineCtx, NoProgress};
use wfops_fake_n8n::{FakeN8n, Fault, Route};
use wfops_n8n::{
    list_all_workflows, ListWorkflows, N8nClient, N8nConfig, Secret, WorkflowProvider,
};
use wfops_promotion::PromotionStatus;
use wfops_test_support::TestDb;

const ROUNDS: usize = 3;

type BenchResult<T> = Result<T, String>;

fn main() {
    let n = std::env::var("WFOPS_BENCH_PROMOTION_WORKFLOWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500usize);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("promotion bench: tokio runtime: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = runtime.block_on(run(n)) {
        eprintln!("promotion bench failed: {e}");
        std::process::exit(1);
    }
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

struct Setup {
    _db: TestDb,
    ctx: EngineCtx,
    tenant: Uuid,
    dev: FakeN8n,
    prod: FakeN8n,
    deployment: Uuid,
}

async fn setup(n: usize) -> BenchResult<Setup> {
    let db = TestDb::new().await;
    let tenant = db
        .create_tenant(&format!("b-{}", &Uuid::new_v4().simple().to_string()[..8]))
        .await
        .map_err(err)?;
    let mut config = Config::for_tests();
    config.home = std::env::temp_dir().join(format!("wfops-bench-{}", Uuid::new_v4().simple()));
    let ctx = EngineCtx::from_config(db.db(), Arc::new(config)).map_err(err)?;
    let dev = FakeN8n::start().map_err(err)?;
    let prod = FakeN8n::start().map_err(err)?;
    let ids = dev.seed_generated(n).map_err(err)?;
    let dev_env = environment(&ctx, tenant, "dev", "dev", &dev).await?;
    let prod_env = environment(&ctx, tenant, "prod", "production", &prod).await?;
    let mut sql = String::new();
    let mut canonicals = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        let c = Uuid::new_v4();
        canonicals.push(c);
        sql.push_str(&format!(
            "INSERT INTO canonical_workflows (id, tenant_id, canonical_slug, name, content_hash) \
             VALUES ('{c}', '{tenant}', 'wf-{i}', 'wf-{i}', '{z}');
             INSERT INTO workflow_env_map (tenant_id, canonical_id, environment_id, n8n_workflow_id, status) \
             VALUES ('{tenant}', '{c}', '{dev_env}', '{id}', 'linked');\n",
            z = "0".repeat(64)
        ));
    }
    let (p, d) = (Uuid::new_v4(), Uuid::new_v4());
    let selection = serde_json::to_string(&canonicals).map_err(err)?;
    sql.push_str(&format!(
        "INSERT INTO promotions (id, tenant_id, source_environment_id, target_environment_id, status, \
         workflow_selections) VALUES ('{p}', '{tenant}', '{dev_env}', '{prod_env}', 'pending', '{selection}'::jsonb);
         INSERT INTO deployments (id, tenant_id, promotion_id, status) VALUES ('{d}', '{tenant}', '{p}', 'pending');"
    ));
    db.admin_execute(&sql).await.map_err(err)?;
    Ok(Setup {
        _db: db,
        ctx,
        tenant,
        dev,
        prod,
        deployment: d,
    })
}

async fn environment(
    ctx: &EngineCtx,
    tenant: Uuid,
    name: &str,
    class: &str,
    fake: &FakeN8n,
) -> BenchResult<Uuid> {
    let key = ctx.cipher.encrypt_str(fake.api_key()).map_err(err)?;
    let (name, class, url) = (name.to_owned(), class.to_owned(), fake.url().to_owned());
    let row = ctx
        .db
        .tenant_tx(tenant, move |conn| {
            async move {
                environments::insert(
                    conn,
                    &NewEnvironment {
                        tenant_id: tenant,
                        name: &name,
                        url: &url,
                        provider: "n8n",
                        environment_class: &class,
                        api_key_encrypted: Some(&key),
                        drift_handling_mode: "warn_only",
                        git_repo_url: None,
                        git_branch: "main",
                        git_folder: Some(&name),
                        git_token_encrypted: None,
                    },
                )
                .await
            }
            .scope_boxed()
        })
        .await
        .map_err(err)?;
    Ok(row.id)
}

fn client(fake: &FakeN8n) -> BenchResult<N8nClient> {
    N8nClient::new(N8nConfig::new(
        fake.url(),
        Secret::new(fake.api_key().to_owned()),
    ))
    .map_err(err)
}

/// The calls a promotion makes, by a plain client: list the target, get every source
/// workflow, create each in the target, list the target again.
async fn raw_calls(dev: &FakeN8n, prod: &FakeN8n) -> BenchResult<Duration> {
    let (d, p) = (client(dev)?, client(prod)?);
    let start = Instant::now();
    list_all_workflows(&p, ListWorkflows::default())
        .await
        .map_err(err)?;
    let ids: Vec<String> = dev.workflow_ids().map_err(err)?;
    for id in &ids {
        let w = d.get_workflow(id).await.map_err(err)?;
        p.create_workflow(w.raw()).await.map_err(err)?;
    }
    list_all_workflows(&p, ListWorkflows::default())
        .await
        .map_err(err)?;
    Ok(start.elapsed())
}

async fn promote(s: &Setup) -> BenchResult<(Duration, DeploymentReport)> {
    let start = Instant::now();
    let report = promotion::execute_deployment(&s.ctx, s.tenant, s.deployment, &NoProgress)
        .await
        .map_err(err)?;
    Ok((start.elapsed(), report))
}

async fn run(n: usize) -> BenchResult<()> {
    let (mut raw, mut engine, mut failing) = (Duration::MAX, Duration::MAX, Duration::MAX);
    for _ in 0..ROUNDS {
        let s = setup(n).await?;
        let fresh = FakeN8n::start().map_err(err)?;
        raw = raw.min(raw_calls(&s.dev, &fresh).await?);
        let (t, report) = promote(&s).await?;
        if report.status != Some(PromotionStatus::Completed) {
            return Err(format!("the promotion did not complete: {report:?}"));
        }
        engine = engine.min(t);

        let s = setup(n).await?;
        s.prod.inject(
            Fault::status(400)
                .on(Route::CreateWorkflow)
                .nth(n.saturating_sub(1) as u64),
        );
        let (t, report) = promote(&s).await?;
        if report.status != Some(PromotionStatus::RolledBack) {
            return Err(format!(
                "the failing promotion did not roll back: {:?}",
                report.status
            ));
        }
        failing = failing.min(t);
    }
    let ratio = engine.as_secs_f64() / raw.as_secs_f64();
    println!("promotion of {n} workflows dev → prod (fake n8n), best of {ROUNDS}:");
    println!(
        "  plain client, same n8n calls: {:>8.1} ms",
        raw.as_secs_f64() * 1e3
    );
    println!(
        "  execute_deployment:           {:>8.1} ms  ({ratio:.2}× the plain client; goal ≤ 1.5×)",
        engine.as_secs_f64() * 1e3
    );
    println!(
        "  failing at write {} and rolled back (writes + rollback + verification): {:>8.1} ms",
        n.saturating_sub(1),
        failing.as_secs_f64() * 1e3
    );
    Ok(())
}
