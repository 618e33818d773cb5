//! Rules the schema enforces by itself: constraints of the data model, triggers, and reversible
//! migrations.

// Test code: a failed unwrap or expect is the test's failure message (clippy.toml allows them
// in tests, but not yet in the helpers of integration tests).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{count_as, create_environment, exec_as};
use diesel::sql_types::Bool;
use diesel::QueryableByName;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use diesel_migrations::MigrationHarness;
use uuid::Uuid;
use wfops_db::{migrate, Error};
use wfops_test_support::TestDb;

const HASH: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

async fn canonical(db: &wfops_db::Db, tenant: Uuid, slug: &str) -> String {
    let id = Uuid::new_v4().to_string();
    exec_as(
        db,
        Some(tenant),
        &format!(
            "INSERT INTO canonical_workflows (id, tenant_id, canonical_slug, name) \
             VALUES ('{id}', current_setting('app.tenant_id')::uuid, $1, $1)"
        ),
        slug,
    )
    .await
    .unwrap();
    id
}

#[tokio::test]
async fn workflow_mappings_are_unique_per_environment() {
    let test_db = TestDb::new().await;
    let db = test_db.db();
    let t = test_db.create_tenant("maps").await.unwrap();
    let env = create_environment(&db, t, "dev").await;
    let cw = canonical(&db, t, "orders").await;
    let insert = |n8n_id: &'static str, canonical: Option<String>| {
        let db = db.clone();
        async move {
            let canonical = canonical.map_or("NULL".to_owned(), |c| format!("'{c}'"));
            let status = if canonical == "NULL" {
                "untracked"
            } else {
                "linked"
            };
            exec_as(
                &db,
                Some(t),
                &format!(
                    "INSERT INTO workflow_env_map (tenant_id, environment_id, n8n_workflow_id, \
                         canonical_id, status) \
                     VALUES (current_setting('app.tenant_id')::uuid, '{env}', $1, {canonical}, \
                             '{status}')"
                ),
                n8n_id,
            )
            .await
        }
    };
    insert("wf-1", Some(cw.clone())).await.unwrap();
    // two untracked workflows (NULL canonical) may share the environment
    insert("wf-2", None).await.unwrap();
    insert("wf-3", None).await.unwrap();

    let err = insert("wf-1", None).await.unwrap_err();
    assert!(
        matches!(&err, Error::Conflict { constraint }
            if constraint == "workflow_env_map_environment_id_n8n_workflow_id_key"),
        "{err:?}"
    );
    let err = insert("wf-4", Some(cw.clone())).await.unwrap_err();
    assert!(
        matches!(&err, Error::Conflict { constraint }
            if constraint == "workflow_env_map_canonical_id_environment_id_key"),
        "{err:?}"
    );
    // 'linked' without a canonical id is a contradiction
    let err = exec_as(
        &db,
        Some(t),
        &format!(
            "INSERT INTO workflow_env_map (tenant_id, environment_id, n8n_workflow_id, status) \
             VALUES (current_setting('app.tenant_id')::uuid, '{env}', $1, 'linked')"
        ),
        "wf-5",
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&err, Error::CheckViolation { constraint }
            if constraint == "workflow_env_map_linked_has_canonical"),
        "{err:?}"
    );
}

#[tokio::test]
async fn diff_state_has_one_row_per_pair_including_versus_git() {
    let test_db = TestDb::new().await;
    let db = test_db.db();
    let t = test_db.create_tenant("diffs").await.unwrap();
    let dev = create_environment(&db, t, "dev").await;
    let cw = canonical(&db, t, "orders").await;
    let sql = format!(
        "INSERT INTO workflow_diff_state (tenant_id, canonical_id, source_environment_id, \
             target_environment_id, diff_status) \
         VALUES (current_setting('app.tenant_id')::uuid, '{cw}', '{dev}', NULL, $1)"
    );
    exec_as(&db, Some(t), &sql, "unchanged").await.unwrap();
    let err = exec_as(&db, Some(t), &sql, "modified").await.unwrap_err();
    assert!(
        matches!(&err, Error::Conflict { constraint } if constraint == "workflow_diff_state_pair_key"),
        "{err:?}"
    );
    let err = exec_as(
        &db,
        Some(t),
        &sql.replace("NULL", &format!("'{dev}'")),
        "unchanged",
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::CheckViolation { .. }), "{err:?}");
    let err = exec_as(&db, Some(t), &sql, "sideways").await.unwrap_err();
    assert!(
        matches!(&err, Error::CheckViolation { constraint } if constraint == "workflow_diff_state_diff_status_check"),
        "{err:?}"
    );
}

#[derive(QueryableByName)]
struct Flag {
    #[diesel(sql_type = Bool)]
    flag: bool,
}

#[tokio::test]
async fn updated_at_moves_on_update_unless_set_explicitly() {
    let test_db = TestDb::new().await;
    let db = test_db.db();
    let t = test_db.create_tenant("touch").await.unwrap();
    let env = create_environment(&db, t, "dev").await.to_string();
    exec_as(
        &db,
        Some(t),
        "UPDATE environments SET updated_at = '2001-01-01T00:00:00Z' WHERE id = $1::uuid",
        &env,
    )
    .await
    .unwrap();
    let old = count_as(
        &db,
        Some(t),
        "SELECT count(*) AS n FROM environments WHERE id = $1::uuid AND updated_at < '2002-01-01'",
        &env,
    )
    .await
    .unwrap();
    assert_eq!(old, 1, "an explicit updated_at wins");
    exec_as(
        &db,
        Some(t),
        "UPDATE environments SET name = 'renamed' WHERE id = $1::uuid",
        &env,
    )
    .await
    .unwrap();
    let fresh = count_as(
        &db,
        Some(t),
        "SELECT count(*) AS n FROM environments WHERE id = $1::uuid AND updated_at > now() - interval '1 minute'",
        &env,
    )
    .await
    .unwrap();
    assert_eq!(fresh, 1, "any other update touches updated_at");
}

#[tokio::test]
async fn drift_snapshots_are_immutable_but_purgeable() {
    let test_db = TestDb::new().await;
    let db = test_db.db();
    let t = test_db.create_tenant("drift").await.unwrap();
    let env = create_environment(&db, t, "prod").await;
    let incident = Uuid::new_v4().to_string();
    exec_as(
        &db,
        Some(t),
        &format!(
            "INSERT INTO drift_incidents (id, tenant_id, environment_id, title, drift_snapshot) \
             VALUES ($1::uuid, current_setting('app.tenant_id')::uuid, '{env}', 'drift', \
                     '{{\"content_hash_before\": \"{HASH}\"}}')"
        ),
        &incident,
    )
    .await
    .unwrap();

    let err = exec_as(
        &db,
        Some(t),
        "UPDATE drift_incidents SET drift_snapshot = '{\"tampered\": true}' WHERE id = $1::uuid",
        &incident,
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&err, Error::CheckViolation { constraint } if constraint == "drift_incidents_snapshot_immutable"),
        "{err:?}"
    );
    // clearing without recording the purge is tampering too
    let err = exec_as(
        &db,
        Some(t),
        "UPDATE drift_incidents SET drift_snapshot = NULL WHERE id = $1::uuid",
        &incident,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::CheckViolation { .. }), "{err:?}");
    // other columns stay writable
    exec_as(
        &db,
        Some(t),
        "UPDATE drift_incidents SET status = 'acknowledged', acknowledged_at = now() WHERE id = $1::uuid",
        &incident,
    )
    .await
    .unwrap();
    // the retention purge
    let purged = exec_as(
        &db,
        Some(t),
        "UPDATE drift_incidents SET drift_snapshot = NULL, payload_purged_at = now() WHERE id = $1::uuid",
        &incident,
    )
    .await
    .unwrap();
    assert_eq!(purged, 1);
}

#[tokio::test]
async fn deleting_a_user_keeps_the_rows_that_named_them() {
    let test_db = TestDb::new().await;
    let db = test_db.db();
    let t = test_db.create_tenant("people").await.unwrap();
    let user = Uuid::new_v4();
    test_db
        .admin_execute(&format!(
            "INSERT INTO users (id, tenant_id, email) VALUES ('{user}', '{t}', 'u@example.com'); \
             INSERT INTO api_keys (tenant_id, name, key_prefix, secret_hash, role, created_by) \
             VALUES ('{t}', 'k', 'prefixDELETE', '{HASH}', 'viewer', '{user}');"
        ))
        .await
        .unwrap();
    let deleted = exec_as(
        &db,
        Some(t),
        "DELETE FROM users WHERE id = $1::uuid",
        &user.to_string(),
    )
    .await
    .unwrap();
    assert_eq!(deleted, 1);
    let keys = count_as(
        &db,
        Some(t),
        "SELECT count(*) AS n FROM api_keys WHERE created_by IS NULL AND tenant_id = $1::uuid",
        &t.to_string(),
    )
    .await
    .unwrap();
    assert_eq!(
        keys, 1,
        "the key stays, with created_by cleared and tenant_id kept"
    );
}

#[tokio::test]
async fn migrations_revert_cleanly_and_reapply() {
    let test_db = TestDb::new().await;
    let url = test_db.admin_url();
    let reverted = tokio::task::spawn_blocking(move || {
        use diesel::Connection;
        let mut conn = AsyncConnectionWrapper::<AsyncPgConnection>::establish(&url).unwrap();
        conn.revert_all_migrations(migrate::MIGRATIONS)
            .map(|v| v.len())
            .map_err(|e| e.to_string())
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(reverted, migrate::embedded_versions().unwrap().len());

    let mut admin = common::admin(&test_db).await;
    let leftover: Flag = diesel::sql_query(
        "SELECT EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                        WHERE n.nspname = 'public' AND c.relkind = 'r' \
                          AND c.relname <> '__diesel_schema_migrations') \
             OR EXISTS (SELECT 1 FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace \
                        WHERE n.nspname = 'public' AND p.proname LIKE 'wfops\\_%') AS flag",
    )
    .get_result(&mut admin)
    .await
    .unwrap();
    assert!(!leftover.flag, "down.sql left tables or functions behind");
    drop(admin);

    let applied = migrate::run(&test_db.admin_url()).await.unwrap();
    assert_eq!(applied, migrate::embedded_versions().unwrap());
    // and the app role works again on the re-created schema
    let t = test_db.create_tenant("again").await.unwrap();
    let n = count_as(
        &test_db.db(),
        Some(t),
        "SELECT count(*) AS n FROM tenants WHERE $1 = $1",
        "",
    )
    .await
    .unwrap();
    assert_eq!(n, 1);
}
