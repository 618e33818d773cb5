//! The per-tenant scheduler fan-out: one transaction per tenant, failures summed up for the
//! installation, and each tenant's outcome visible to that tenant only, without database text.

use std::time::Duration;

use uuid::Uuid;
use wfops_db::{scheduler as state, Conn, ScopedFutureExt};
use wfops_worker::{
    for_each_tenant, Error, Registry, Scheduler, SchedulerContext, TenantTick, Worker,
};

use crate::common::*;

/// Fails for one tenant with a database error that names a constraint; counts the others.
struct Picky {
    fail_for: Uuid,
}

#[async_trait::async_trait]
impl TenantTick for Picky {
    type Report = usize;

    async fn tick_tenant(&self, _conn: &mut Conn, tenant: Uuid) -> Result<usize, Error> {
        if tenant == self.fail_for {
            return Err(Error::Db(wfops_db::Error::ForeignKey {
                constraint: "env_sync_seen_environment_fkey".into(),
            }));
        }
        Ok(1)
    }
}

#[async_trait::async_trait]
impl Scheduler for Picky {
    fn name(&self) -> &str {
        "picky"
    }
    fn interval(&self) -> Duration {
        Duration::from_secs(3600)
    }
    async fn tick(&self, ctx: &SchedulerContext) -> Result<(), Error> {
        for_each_tenant(ctx, "picky", self)
            .await?
            .into_result("picky")
            .map(drop)
    }
}

async fn runs_of(f: &Fixture, tenant: Uuid) -> Vec<state::TenantRun> {
    f.db.tenant_tx(tenant, |conn| {
        async move { state::list_tenant_runs(conn).await }.scope_boxed()
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_tenants_scheduler_failure_is_visible_to_that_tenant_only_and_without_database_text() {
    let f = fixture().await;
    let (a, b) = (f.tenant, f.other_tenant().await);
    let w = start(
        Worker::new(f.db.clone(), Registry::new(), fast_options("picky"))
            .with_scheduler(Picky { fail_for: a }),
    );
    async fn installation(f: &Fixture) -> Result<Option<state::SchedulerState>, wfops_db::Error> {
        f.db.system_tx(|conn| async move { state::get(conn, "picky").await }.scope_boxed())
            .await
    }
    wait_until(
        "the first tick to finish",
        Duration::from_secs(10),
        || async {
            installation(&f)
                .await
                .unwrap()
                .is_some_and(|s| s.run_count == 1)
        },
    )
    .await;
    w.stop().await;

    // the installation-wide summary (platform admins only) names the tenant and the cause
    let s = installation(&f).await.unwrap().unwrap();
    let summary = s.last_error.unwrap();
    assert!(
        summary.starts_with("picky failed for 1 of 2 tenants (1 ok); first: tenant "),
        "{summary}"
    );
    assert!(summary.contains(&a.to_string()), "{summary}");
    assert!(
        summary.contains("env_sync_seen_environment_fkey"),
        "{summary}"
    );

    // tenant b sees its own success and nothing of a
    let theirs = runs_of(&f, b).await;
    assert_eq!(theirs.len(), 1, "{theirs:?}");
    assert_eq!(theirs[0].tenant_id, b);
    assert_eq!(theirs[0].scheduler_name, "picky");
    assert_eq!(theirs[0].last_error, None);
    assert!(theirs[0].last_success_at.is_some());
    assert_eq!(theirs[0].run_count, 1);

    // tenant a sees its own failure, in words without the database's text
    let mine = runs_of(&f, a).await;
    assert_eq!(mine.len(), 1, "{mine:?}");
    assert_eq!(mine[0].tenant_id, a);
    assert_eq!(mine[0].last_success_at, None);
    let error = mine[0].last_error.clone().unwrap();
    assert!(error.contains("database error"), "{error}");
    assert!(!error.contains("env_sync_seen"), "{error}");
    assert!(!error.contains(&b.to_string()), "{error}");

    // a later success clears the tenant's error and counts the run
    let ctx = SchedulerContext {
        db: f.db.clone(),
        worker: "test".into(),
    };
    let sweep = for_each_tenant(
        &ctx,
        "picky",
        &Picky {
            fail_for: Uuid::nil(),
        },
    )
    .await
    .unwrap();
    assert_eq!((sweep.tenants, sweep.succeeded, sweep.failed), (2, 2, 0));
    assert_eq!(sweep.report, 2);
    let mine = runs_of(&f, a).await;
    assert_eq!(mine[0].last_error, None);
    assert!(mine[0].last_success_at.is_some());
    assert_eq!(mine[0].run_count, 2);
}
