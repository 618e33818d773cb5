//! Status and class columns are read into the domain's enums: the database's order of
//! environment classes is the enum's, and a value no enum names is an error, never a default.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on broken setup

mod common;

use common::{create_environment, exec_as};
use uuid::Uuid;
use wfops_canonical::MappingStatus;
use wfops_db::{environments, views, workflows, Error, ScopedFutureExt};
use wfops_promotion::EnvironmentClass;
use wfops_test_support::TestDb;

#[tokio::test]
async fn views_order_environments_by_the_enums_promotion_order() {
    let test_db = TestDb::new().await;
    let db = test_db.db();
    let t = test_db.create_tenant("order").await.unwrap();
    // names sort against the class order, so that only the class can put them in order
    for (name, class) in [
        ("a-prod", "production"),
        ("b-stage", "staging"),
        ("c-dev", "dev"),
        ("a-stage", "staging"),
        ("b-dev", "dev"),
    ] {
        let id = create_environment(&db, t, name).await;
        exec_as(
            &db,
            Some(t),
            &format!("UPDATE environments SET environment_class = $1 WHERE id = '{id}'"),
            class,
        )
        .await
        .unwrap();
    }
    let columns = db
        .tenant_tx(t, |conn| {
            async move { views::environment_columns(conn).await }.scope_boxed()
        })
        .await
        .unwrap();
    let got: Vec<(EnvironmentClass, String)> = columns
        .iter()
        .map(|c| (c.environment_class, c.name.clone()))
        .collect();
    let mut expected = got.clone();
    expected.sort();
    assert_eq!(got, expected);
    assert_eq!(
        got.iter().map(|(_, n)| n.as_str()).collect::<Vec<_>>(),
        ["b-dev", "c-dev", "a-stage", "b-stage", "a-prod"]
    );
}

#[tokio::test]
async fn a_corrupt_status_or_class_is_an_error_when_read() {
    let test_db = TestDb::new().await;
    let db = test_db.db();
    let t = test_db.create_tenant("corrupt").await.unwrap();
    let env = create_environment(&db, t, "dev").await;
    exec_as(
        &db,
        Some(t),
        &format!(
            "INSERT INTO workflow_env_map (tenant_id, environment_id, n8n_workflow_id, status) \
             VALUES (current_setting('app.tenant_id')::uuid, '{env}', $1, 'untracked')"
        ),
        "wf-1",
    )
    .await
    .unwrap();
    let read = |env: Uuid| {
        let db = db.clone();
        async move {
            db.tenant_tx(t, |conn| {
                async move {
                    let states = workflows::sync_states(conn, env, &["wf-1".to_string()]).await?;
                    Ok::<_, Error>(states.into_iter().map(|s| s.status).collect::<Vec<_>>())
                }
                .scope_boxed()
            })
            .await
        }
    };
    assert_eq!(read(env).await.unwrap(), [MappingStatus::Untracked]);

    // what a broken migration or a hand edit could leave behind
    test_db
        .admin_execute(
            "ALTER TABLE workflow_env_map DROP CONSTRAINT workflow_env_map_status_check;
             UPDATE workflow_env_map SET status = 'tracked-ish';
             ALTER TABLE environments DROP CONSTRAINT environments_environment_class_check;
             UPDATE environments SET environment_class = 'qa';",
        )
        .await
        .unwrap();
    for err in [
        read(env).await.unwrap_err(),
        db.tenant_tx(t, |conn| {
            async move { workflows::status_counts(conn, env).await }.scope_boxed()
        })
        .await
        .unwrap_err(),
    ] {
        match err {
            Error::Unreadable(msg) => {
                assert!(msg.contains("\"tracked-ish\" as a mapping status"), "{msg}")
            }
            other => panic!("expected Unreadable, got {other:?}"),
        }
    }
    match db
        .tenant_tx(t, |conn| {
            async move { views::environment_columns(conn).await }.scope_boxed()
        })
        .await
    {
        Err(Error::Unreadable(msg)) => {
            assert!(msg.contains("\"qa\" as an environment class"), "{msg}")
        }
        other => panic!("expected Unreadable, got {other:?}"),
    }
    // the environment row itself: its class, drift status and provider are read into enums
    let environment_unreadable = |needle: &'static str| {
        let db = db.clone();
        async move {
            match db
                .tenant_tx(t, |conn| {
                    async move { environments::get(conn, env).await }.scope_boxed()
                })
                .await
            {
                Err(Error::Unreadable(msg)) => assert!(msg.contains(needle), "{msg}"),
                other => panic!("expected Unreadable, got {other:?}"),
            }
        }
    };
    environment_unreadable("\"qa\" as an environment class").await;
    for (fix_previous, corrupt, needle) in [
        (
            "UPDATE environments SET environment_class = 'dev';",
            "ALTER TABLE environments DROP CONSTRAINT environments_drift_status_check;
             UPDATE environments SET drift_status = 'MOSTLY_FINE';",
            "\"MOSTLY_FINE\" as an environment drift status",
        ),
        (
            "UPDATE environments SET drift_status = 'UNKNOWN';",
            "ALTER TABLE environments DROP CONSTRAINT environments_provider_check;
             UPDATE environments SET provider = 'zapier';",
            "\"zapier\" as a provider",
        ),
    ] {
        test_db
            .admin_execute(&format!("{fix_previous}\n{corrupt}"))
            .await
            .unwrap();
        environment_unreadable(needle).await;
    }
}
