//! The deployment scheduler: due scheduled deployments are handed to the queue exactly once,
//! even with several workers ticking at the same moment; future ones and those whose promotion
//! waits for approval stay scheduled.

use std::sync::Arc;

use uuid::Uuid;
use wfops_worker::schedulers::DeploymentScheduler;
use wfops_worker::SchedulerContext;

use crate::common::*;

/// Two environments and a promotion between them in `status`; returns (promotion, target).
async fn promotion(f: &Fixture, tenant: Uuid, status: &str) -> (Uuid, Uuid) {
    let (src, dst, promo) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    f.test_db
        .admin_execute(&format!(
            "insert into environments (id, tenant_id, name, url) values
                ('{src}', '{tenant}', 'dev-{src}', 'http://dev.example'),
                ('{dst}', '{tenant}', 'prod-{dst}', 'http://prod.example');
             insert into promotions (id, tenant_id, source_environment_id, target_environment_id, status)
             values ('{promo}', '{tenant}', '{src}', '{dst}', '{status}');"
        ))
        .await
        .unwrap();
    (promo, dst)
}

/// `count` scheduled deployments of `promotion`, due `minutes` from now (negative: past).
async fn scheduled(f: &Fixture, tenant: Uuid, promotion: Uuid, count: usize, minutes: i64) {
    f.test_db
        .admin_execute(&format!(
            "insert into deployments (tenant_id, promotion_id, status, scheduled_for)
             select '{tenant}', '{promotion}', 'scheduled', now() + make_interval(mins => {minutes})
               from generate_series(1, {count})"
        ))
        .await
        .unwrap();
}

fn scheduler() -> DeploymentScheduler {
    DeploymentScheduler {
        interval: std::time::Duration::from_secs(10),
    }
}

fn ctx(f: &Fixture, name: &str) -> SchedulerContext {
    SchedulerContext {
        db: f.db.clone(),
        worker: Arc::from(name),
    }
}

async fn count(f: &Fixture, sql: &str) -> i64 {
    f.admin_query(sql).await[0].get::<_, i64>(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn due_deployments_are_queued_exactly_once_by_racing_schedulers() {
    let f = fixture().await;
    let other = f.other_tenant().await;
    let (p, target) = promotion(&f, f.tenant, "pending").await;
    let (approved, _) = promotion(&f, f.tenant, "approved").await;
    let (waiting, _) = promotion(&f, f.tenant, "pending_approval").await;
    let (rejected, _) = promotion(&f, f.tenant, "failed").await;
    let (theirs, _) = promotion(&f, other, "pending").await;
    scheduled(&f, f.tenant, p, 40, -1).await;
    scheduled(&f, f.tenant, approved, 5, -5).await;
    scheduled(&f, f.tenant, p, 3, 60).await;
    scheduled(&f, f.tenant, waiting, 2, -1).await;
    scheduled(&f, f.tenant, rejected, 2, -1).await;
    scheduled(&f, other, theirs, 7, -1).await;

    let (a, b) = (scheduler(), scheduler());
    let (ca, cb) = (ctx(&f, "worker-a"), ctx(&f, "worker-b"));
    let (ra, rb) = tokio::join!(a.run_once(&ca), b.run_once(&cb));
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    assert_eq!(ra.queued + rb.queued, 40 + 5 + 7, "{ra:?} {rb:?}");

    // every due deployment of a promotion that may run is pending with one job of its own
    assert_eq!(
        count(
            &f,
            "select count(*) from deployments where status = 'pending' and job_id is not null"
        )
        .await,
        52
    );
    assert_eq!(
        count(
            &f,
            "select count(*) from background_jobs where job_type = 'promotion_deployment'"
        )
        .await,
        52
    );
    assert_eq!(
        count(
            &f,
            "select count(*) from (select payload->>'deployment_id' from background_jobs
               group by 1 having count(*) > 1) d"
        )
        .await,
        0
    );
    assert_eq!(
        count(
            &f,
            "select count(*) from deployments d join background_jobs j on j.id = d.job_id
              where j.payload->>'deployment_id' <> d.id::text"
        )
        .await,
        0
    );
    assert_eq!(
        count(
            &f,
            &format!(
                "select count(*) from background_jobs where job_type = 'promotion_deployment'
                   and lock_key = 'env:{target}' and status = 'pending'"
            )
        )
        .await,
        40,
        "each deployment into one target is its own job"
    );
    // future ones, and those of a promotion waiting for approval or failed, stay scheduled
    assert_eq!(
        count(
            &f,
            "select count(*) from deployments where status = 'scheduled'"
        )
        .await,
        7
    );
    // a status event for each, on the deployment's job
    assert_eq!(
        count(
            &f,
            "select count(*) from job_events where event = 'deployment_status'
               and data->>'status' = 'pending'"
        )
        .await,
        52
    );

    // the next pass finds nothing more
    let again = scheduler().run_once(&ctx(&f, "worker-c")).await.unwrap();
    assert_eq!(again.queued, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stale_cleanup_fails_the_promotion_of_a_stale_deployment() {
    let f = fixture().await;
    let (p, _) = promotion(&f, f.tenant, "running").await;
    let (done, _) = promotion(&f, f.tenant, "completed").await;
    f.test_db
        .admin_execute(&format!(
            "insert into deployments (tenant_id, promotion_id, status, started_at) values
                ('{t}', '{p}', 'running', now() - interval '2 hours'),
                ('{t}', '{done}', 'running', now() - interval '2 hours')",
            t = f.tenant
        ))
        .await
        .unwrap();
    let failed =
        wfops_worker::cleanup_stale_deployments(&f.db, std::time::Duration::from_secs(3600))
            .await
            .unwrap();
    assert_eq!(failed.len(), 2);
    let rows = f
        .admin_query(&format!(
            "select status, execution_result->>'error' from promotions where id in ('{p}', '{done}')
              order by (id = '{p}') desc"
        ))
        .await;
    assert_eq!(rows[0].get::<_, String>(0), "failed");
    assert!(rows[0]
        .get::<_, Option<String>>(1)
        .unwrap()
        .contains("stale deployment cleanup"));
    // a promotion that had already ended keeps its end
    assert_eq!(rows[1].get::<_, String>(0), "completed");
}
