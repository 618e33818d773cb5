//! The catalogue test: reads every table of schema `public` from the system catalogue
//! and fails when one escapes tenant isolation. New tables (of any later migration) are covered
//! without touching this test.

// Test code: a failed unwrap or expect is the test's failure message (clippy.toml allows them
// in tests, but not yet in the helpers of integration tests).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;

use diesel::sql_types::{Bool, Nullable, Text};
use diesel::QueryableByName;
use diesel_async::RunQueryDsl;
use wfops_test_support::TestDb;

/// Tables without `tenant_id`, each with the reason. Keep this list short and reviewed.
const GLOBAL_TABLES: &[(&str, &str)] = &[
    (
        "auth_generation",
        "one counter of the installation that authentication caches compare against, no tenant data",
    ),
    (
        "__diesel_schema_migrations",
        "diesel's migration bookkeeping; wfops_app may only read it",
    ),
    (
        "scheduler_state",
        "one row per scheduler of the installation no tenant data",
    ),
    (
        "tenants",
        "the tenant itself: isolated by its id (checked below)",
    ),
];

const TENANT_QUAL: &str =
    "(tenant_id = (NULLIF(current_setting('app.tenant_id'::text, true), ''::text))::uuid)";
const TENANTS_QUAL: &str =
    "(id = (NULLIF(current_setting('app.tenant_id'::text, true), ''::text))::uuid)";

#[derive(QueryableByName, Debug)]
struct TableRow {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Bool)]
    rls_enabled: bool,
    #[diesel(sql_type = Bool)]
    rls_forced: bool,
    #[diesel(sql_type = Bool)]
    has_tenant_id: bool,
    #[diesel(sql_type = Bool)]
    tenant_id_not_null: bool,
}

#[derive(QueryableByName, Debug)]
struct PolicyRow {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    policy: String,
    #[diesel(sql_type = Text)]
    permissive: String,
    #[diesel(sql_type = Nullable<Text>)]
    qual: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    with_check: Option<String>,
}

#[tokio::test]
async fn every_table_is_tenant_scoped_with_enabled_forced_policies() {
    let test_db = TestDb::new().await;
    let mut conn = common::admin(&test_db).await;

    let tables: Vec<TableRow> = diesel::sql_query(
        "SELECT c.relname::text AS name, c.relrowsecurity AS rls_enabled, \
                c.relforcerowsecurity AS rls_forced, \
                (a.attname IS NOT NULL) AS has_tenant_id, \
                coalesce(a.attnotnull, false) AS tenant_id_not_null \
         FROM pg_class c \
         JOIN pg_namespace n ON n.oid = c.relnamespace \
         LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id' \
                                  AND NOT a.attisdropped \
         WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') \
         ORDER BY 1",
    )
    .load(&mut conn)
    .await
    .unwrap();
    let policies: Vec<PolicyRow> = diesel::sql_query(
        "SELECT tablename::text AS table_name, policyname::text AS policy, permissive, \
                qual, with_check \
         FROM pg_policies WHERE schemaname = 'public' ORDER BY 1, 2",
    )
    .load(&mut conn)
    .await
    .unwrap();
    let mut by_table: BTreeMap<&str, Vec<&PolicyRow>> = BTreeMap::new();
    for p in &policies {
        by_table.entry(p.table_name.as_str()).or_default().push(p);
    }

    // the core migration alone has 23 tables; a near-empty list means the query is wrong
    assert!(tables.len() >= 23, "only {} tables found", tables.len());

    let mut problems = Vec::new();
    for table in &tables {
        let name = table.name.as_str();
        let global = GLOBAL_TABLES.iter().any(|(t, _)| *t == name);
        if !table.has_tenant_id && !global {
            problems.push(format!(
                "{name}: no tenant_id column and not on the allow-list"
            ));
            continue;
        }
        let expected_qual = match (table.has_tenant_id, name) {
            (true, _) => TENANT_QUAL,
            (false, "tenants") => TENANTS_QUAL,
            (false, _) => continue,
        };
        if table.has_tenant_id && !table.tenant_id_not_null {
            problems.push(format!("{name}: tenant_id is nullable"));
        }
        if !table.rls_enabled {
            problems.push(format!("{name}: row-level security is not enabled"));
        }
        if !table.rls_forced {
            problems.push(format!("{name}: row-level security is not forced"));
        }
        let table_policies = by_table.get(name).cloned().unwrap_or_default();
        if table_policies.is_empty() {
            problems.push(format!("{name}: no policy"));
        }
        // permissive policies are OR-ed: one lax policy would open the table
        for p in table_policies {
            if p.permissive == "PERMISSIVE"
                && (p.qual.as_deref() != Some(expected_qual)
                    || p.with_check.as_deref() != Some(expected_qual))
            {
                problems.push(format!(
                    "{name}: policy {} is not the tenant policy (using {:?}, check {:?})",
                    p.policy, p.qual, p.with_check
                ));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "tenant isolation gaps:\n{}",
        problems.join("\n")
    );

    // the allow-list holds only tables that exist: a stale entry would hide a future table
    for (allowed, _) in GLOBAL_TABLES {
        assert!(
            tables.iter().any(|t| t.name == *allowed),
            "{allowed} is on the allow-list but does not exist"
        );
    }
}

#[derive(QueryableByName, Debug)]
struct RoleRow {
    #[diesel(sql_type = Bool)]
    rolsuper: bool,
    #[diesel(sql_type = Bool)]
    rolbypassrls: bool,
    #[diesel(sql_type = Bool)]
    rolcanlogin: bool,
    #[diesel(sql_type = Bool)]
    migrations_insert: bool,
    #[diesel(sql_type = Bool)]
    migrations_select: bool,
}

#[tokio::test]
async fn the_app_role_can_not_bypass_rls_or_rewrite_migrations() {
    let test_db = TestDb::new().await;
    let mut conn = common::admin(&test_db).await;
    let role: RoleRow = diesel::sql_query(
        "SELECT rolsuper, rolbypassrls, rolcanlogin, \
                has_table_privilege('wfops_app', '__diesel_schema_migrations', 'INSERT') \
                    AS migrations_insert, \
                has_table_privilege('wfops_app', '__diesel_schema_migrations', 'SELECT') \
                    AS migrations_select \
         FROM pg_roles WHERE rolname = 'wfops_app'",
    )
    .get_result(&mut conn)
    .await
    .unwrap();
    assert!(
        !role.rolsuper && !role.rolbypassrls && !role.rolcanlogin,
        "{role:?}"
    );
    assert!(
        role.migrations_select && !role.migrations_insert,
        "{role:?}"
    );
}

#[derive(QueryableByName, Debug)]
struct FunctionRow {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Bool)]
    pins_search_path: bool,
    #[diesel(sql_type = Bool)]
    public_can_execute: bool,
    #[diesel(sql_type = Bool)]
    app_can_execute: bool,
}

#[tokio::test]
async fn security_definer_functions_are_the_reviewed_wfops_list() {
    let test_db = TestDb::new().await;
    let mut conn = common::admin(&test_db).await;
    let functions: Vec<FunctionRow> = diesel::sql_query(
        "SELECT p.proname::text AS name, \
                coalesce(p.proconfig::text LIKE '%search_path=pg_catalog, public%', false) \
                    AS pins_search_path, \
                EXISTS (SELECT 1 FROM aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) x \
                        WHERE x.grantee = 0 AND x.privilege_type = 'EXECUTE') AS public_can_execute, \
                has_function_privilege('wfops_app', p.oid, 'EXECUTE') AS app_can_execute \
         FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace \
         WHERE n.nspname = 'public' AND p.prosecdef ORDER BY 1",
    )
    .load(&mut conn)
    .await
    .unwrap();

    let names: Vec<&str> = functions.iter().map(|f| f.name.as_str()).collect();
    for required in [
        "wfops_find_login",
        "wfops_find_tenant_by_slug",
        "wfops_resolve_api_key",
        "wfops_tenant_ids",
    ] {
        assert!(
            names.contains(&required),
            "{required} missing from {names:?}"
        );
    }
    for f in &functions {
        assert!(
            f.name.starts_with("wfops_"),
            "{}: definer functions are wfops_*",
            f.name
        );
        assert!(
            f.pins_search_path,
            "{}: must SET search_path = pg_catalog, public",
            f.name
        );
        assert!(
            !f.public_can_execute,
            "{}: PUBLIC may not execute it",
            f.name
        );
        assert!(
            f.app_can_execute,
            "{}: wfops_app must be able to execute it",
            f.name
        );
    }
}
