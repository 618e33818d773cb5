use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use chrono::Utc;
use uuid::Uuid;
use wfops_promotion::{DeploymentStatus, StaleRule};
use wfops_worker::cleanup_stale_deployments;

use crate::common::*;

/// A promotion (with its two environments) for deployments to hang on.
async fn promotion(f: &Fixture, tenant: Uuid) -> Uuid {
    let (src, dst, promo) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    f.test_db
        .admin_execute(&format!(
            "insert into environments (id, tenant_id, name, url) values
                ('{src}', '{tenant}', 'dev', 'http://dev.example'),
                ('{dst}', '{tenant}', 'prod', 'http://prod.example');
             insert into promotions (id, tenant_id, source_environment_id, target_environment_id)
             values ('{promo}', '{tenant}', '{src}', '{dst}');"
        ))
        .await
        .unwrap();
    promo
}

struct Row {
    label: &'static str,
    tenant: Uuid,
    status: DeploymentStatus,
    /// ages in minutes (None: NULL)
    started_min: Option<i64>,
    created_min: i64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stale_deployment_cleanup_marks_only_old_running_deployments() {
    let f = fixture().await;
    let other = f.other_tenant().await;
    let p1 = promotion(&f, f.tenant).await;
    let p2 = promotion(&f, other).await;
    use DeploymentStatus::*;
    let rows = [
        Row {
            label: "running 2 h",
            tenant: f.tenant,
            status: Running,
            started_min: Some(120),
            created_min: 130,
        },
        Row {
            label: "running 10 min",
            tenant: f.tenant,
            status: Running,
            started_min: Some(10),
            created_min: 200,
        },
        Row {
            label: "running 61 min",
            tenant: f.tenant,
            status: Running,
            started_min: Some(61),
            created_min: 61,
        },
        Row {
            label: "running, no start, created 2 h ago",
            tenant: f.tenant,
            status: Running,
            started_min: None,
            created_min: 120,
        },
        Row {
            label: "running, no start, created 5 min ago",
            tenant: f.tenant,
            status: Running,
            started_min: None,
            created_min: 5,
        },
        Row {
            label: "completed 2 h",
            tenant: f.tenant,
            status: Completed,
            started_min: Some(120),
            created_min: 130,
        },
        Row {
            label: "failed 3 h",
            tenant: f.tenant,
            status: Failed,
            started_min: Some(180),
            created_min: 180,
        },
        Row {
            label: "pending 2 h",
            tenant: f.tenant,
            status: Pending,
            started_min: None,
            created_min: 120,
        },
        Row {
            label: "scheduled 2 h",
            tenant: f.tenant,
            status: Scheduled,
            started_min: None,
            created_min: 120,
        },
        Row {
            label: "cancelled 2 h",
            tenant: f.tenant,
            status: Cancelled,
            started_min: None,
            created_min: 120,
        },
        Row {
            label: "other tenant running 3 h",
            tenant: other,
            status: Running,
            started_min: Some(180),
            created_min: 190,
        },
    ];
    let now = Utc::now();
    let mut ids = HashMap::new();
    let mut expected = BTreeSet::new();
    let rule = StaleRule::from_seconds(3600).unwrap();
    let mut sql = String::new();
    for r in &rows {
        let id = Uuid::new_v4();
        ids.insert(id, r);
        let started = match r.started_min {
            Some(m) => format!("now() - interval '{m} minutes'"),
            None => "null".into(),
        };
        let scheduled_for = if r.status == Scheduled {
            "now()"
        } else {
            "null"
        };
        let promo = if r.tenant == f.tenant { p1 } else { p2 };
        sql.push_str(&format!(
            "insert into deployments (id, tenant_id, promotion_id, status, started_at, created_at, scheduled_for)
             values ('{id}', '{}', '{promo}', '{}', {started}, now() - interval '{} minutes', {scheduled_for});\n",
            r.tenant, r.status, r.created_min
        ));
        let minutes = |m: i64| now - chrono::Duration::minutes(m);
        if rule.is_stale(
            r.status,
            r.started_min.map(minutes),
            minutes(r.created_min),
            now,
        ) {
            expected.insert(id);
        }
    }
    f.test_db.admin_execute(&sql).await.unwrap();
    assert_eq!(
        expected.len(),
        4,
        "the pure rule picks the old running ones"
    );

    let failed: BTreeSet<Uuid> = cleanup_stale_deployments(&f.db, Duration::from_secs(3600))
        .await
        .unwrap()
        .into_iter()
        .collect();
    let labels = |set: &BTreeSet<Uuid>| set.iter().map(|id| ids[id].label).collect::<Vec<_>>();
    assert_eq!(
        labels(&failed),
        labels(&expected),
        "SQL and StaleRule agree"
    );

    let rows_after = f
        .admin_query(
            "select id::text, status, finished_at is not null, error_message from deployments",
        )
        .await;
    for row in rows_after {
        let id: Uuid = row.get::<_, String>(0).parse().unwrap();
        let status: String = row.get(1);
        let finished: bool = row.get(2);
        let error: Option<String> = row.get(3);
        let before = ids[&id];
        if expected.contains(&id) {
            assert_eq!(status, "failed", "{}", before.label);
            assert!(finished, "{}", before.label);
            assert!(
                error.unwrap().contains("stale deployment"),
                "{}",
                before.label
            );
        } else {
            assert_eq!(
                status,
                before.status.as_str(),
                "{} must not change",
                before.label
            );
            assert!(error.is_none(), "{}", before.label);
        }
    }

    // running it again (the next worker start) finds nothing more
    let again = cleanup_stale_deployments(&f.db, Duration::from_secs(3600))
        .await
        .unwrap();
    assert!(again.is_empty());
}
