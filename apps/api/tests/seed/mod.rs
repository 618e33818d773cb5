//! Seeds read-model data (canonical workflows, mappings, Git states, diff states) directly in a
//! test database as its owner, without running syncs: for the read endpoints' tests and the
//! matrix benchmark (`benches/matrix.rs` includes this file).
#![allow(dead_code)]

use serde_json::Value;
use uuid::Uuid;
use wfops_test_support::TestDb;

/// A 64-hex-digit content hash derived from `seed` (not a real workflow hash; the read models
/// only compare and show them).
pub fn hash(seed: &str) -> String {
    use std::fmt::Write;
    // FNV-1a, four rounds widened to 256 bits: deterministic and cheap, good enough for test data
    let mut out = String::with_capacity(64);
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for round in 0..4u64 {
        for b in seed.bytes().chain(round.to_le_bytes()) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        let _ = write!(out, "{h:016x}");
    }
    out
}

fn lit(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn opt(s: Option<&str>) -> String {
    s.map_or_else(|| "null".to_string(), lit)
}

fn json_lit(v: Option<&Value>) -> String {
    v.map_or_else(
        || "null".to_string(),
        |v| format!("{}::jsonb", lit(&v.to_string())),
    )
}

async fn exec(db: &TestDb, sql: &str) {
    db.admin_execute(sql)
        .await
        .unwrap_or_else(|e| panic!("seeding failed: {e}\n{sql}"));
}

/// An environment (as the owner, for the benchmark; tests usually create them through the API).
pub async fn environment(db: &TestDb, tenant: Uuid, name: &str, class: &str, folder: &str) -> Uuid {
    let id = Uuid::new_v4();
    exec(
        db,
        &format!(
            "insert into environments (id, tenant_id, name, url, environment_class, git_folder)
             values ('{id}', '{tenant}', {}, 'https://n8n.example.com', {}, {})",
            lit(name),
            lit(class),
            lit(folder)
        ),
    )
    .await;
    id
}

/// A canonical workflow; `updated_minutes_ago` orders them by `updated_at`.
pub async fn canonical(
    db: &TestDb,
    tenant: Uuid,
    slug: &str,
    name: &str,
    updated_minutes_ago: i64,
    deleted: bool,
) -> Uuid {
    let id = Uuid::new_v4();
    exec(
        db,
        &format!(
            "insert into canonical_workflows
                 (id, tenant_id, canonical_slug, name, content_hash, git_file_path, updated_at,
                  deleted_at)
             values ('{id}', '{tenant}', {}, {}, '{}', {}, now() - interval '{updated_minutes_ago} minutes',
                     {})",
            lit(slug),
            lit(name),
            hash(slug),
            lit(&format!("workflows/dev/{slug}.json")),
            if deleted { "now()" } else { "null" }
        ),
    )
    .await;
    id
}

/// A mapping of n8n workflow `n8n_id` in `env`.
#[allow(clippy::too_many_arguments)]
pub async fn mapping(
    db: &TestDb,
    tenant: Uuid,
    env: Uuid,
    n8n_id: &str,
    canonical: Option<Uuid>,
    status: &str,
    name: &str,
    env_hash: Option<&str>,
    doc: Option<&Value>,
) -> Uuid {
    let id = Uuid::new_v4();
    exec(
        db,
        &format!(
            "insert into workflow_env_map
                 (id, tenant_id, canonical_id, environment_id, n8n_workflow_id, status,
                  env_content_hash, workflow_name, workflow_data, n8n_updated_at, linked_at,
                  last_env_sync_at)
             values ('{id}', '{tenant}', {}, '{env}', {}, {}, {}, {}, {}, now() - interval '1 hour',
                     {}, now())",
            canonical.map_or_else(|| "null".to_string(), |c| format!("'{c}'")),
            lit(n8n_id),
            lit(status),
            opt(env_hash),
            lit(name),
            json_lit(doc),
            if canonical.is_some() { "now()" } else { "null" },
        ),
    )
    .await;
    id
}

/// The canonical workflow's file in `env`'s Git folder.
pub async fn git_state(
    db: &TestDb,
    tenant: Uuid,
    canonical: Uuid,
    env: Uuid,
    path: &str,
    git_hash: &str,
    doc: Option<&Value>,
) {
    exec(
        db,
        &format!(
            "insert into canonical_workflow_git_state
                 (tenant_id, canonical_id, environment_id, git_commit_sha, git_content_hash,
                  git_path, git_workflow_data, git_commit_time)
             values ('{tenant}', '{canonical}', '{env}', '{}', '{git_hash}', {}, {},
                     now() - interval '2 hours')",
            "a".repeat(40),
            lit(path),
            json_lit(doc)
        ),
    )
    .await;
}

/// The environment-vs-Git diff status of a canonical workflow.
pub async fn diff_state(db: &TestDb, tenant: Uuid, canonical: Uuid, env: Uuid, status: &str) {
    exec(
        db,
        &format!(
            "insert into workflow_diff_state
                 (tenant_id, canonical_id, source_environment_id, target_environment_id,
                  diff_status)
             values ('{tenant}', '{canonical}', '{env}', null, {})",
            lit(status)
        ),
    )
    .await;
}

/// The matrix benchmark's data set: `n` canonical workflows named after five themes, and for
/// each environment a mapping (linked; every 17th missing, every 23rd ignored), a Git state,
/// and a diff status against Git (cycling through unchanged, modified, target_hotfix,
/// conflict; mostly unchanged). Every 11th workflow is absent from the last environment.
/// Also 5% extra untracked mappings per environment. Set-based SQL: seconds for 5,000 × 4.
pub async fn bulk(db: &TestDb, tenant: Uuid, envs: &[Uuid], n: usize) {
    let env_array = format!(
        "array[{}]::uuid[]",
        envs.iter()
            .map(|e| format!("'{e}'"))
            .collect::<Vec<_>>()
            .join(",")
    );
    let last = envs.last().copied().unwrap_or_default();
    exec(
        db,
        &format!(
            "insert into canonical_workflows
                 (tenant_id, canonical_slug, name, content_hash, git_file_path, created_at,
                  updated_at)
             select '{tenant}', 'workflow-' || lpad(i::text, 5, '0'),
                    (array['Slack alerts', 'Billing sync', 'CRM import', 'Onboarding mail',
                           'Weekly report'])[1 + i % 5] || ' ' || lpad(i::text, 5, '0'),
                    md5('c' || i) || md5('d' || i),
                    'workflows/dev/workflow-' || lpad(i::text, 5, '0') || '.json',
                    now() - interval '30 days', now() - (i || ' minutes')::interval
               from generate_series(1, {n}) as i;

             insert into workflow_env_map
                 (tenant_id, canonical_id, environment_id, n8n_workflow_id, status,
                  env_content_hash, git_content_hash, workflow_name, n8n_updated_at, linked_at,
                  last_env_sync_at, active)
             select c.tenant_id, c.id, e.id, substr(md5(c.id::text || e.id::text), 1, 16),
                    case when c.i % 17 = 0 then 'missing'
                         when c.i % 23 = 0 then 'ignored' else 'linked' end,
                    case when c.i % 4 = 1 then md5('x' || c.id::text) || md5(e.id::text)
                         else c.content_hash end,
                    c.content_hash, c.name, now() - (c.i || ' minutes')::interval, now(), now(),
                    c.i % 3 = 0
               from (select c.*, row_number() over (order by c.canonical_slug) as i
                       from canonical_workflows c where c.tenant_id = '{tenant}') c
               cross join unnest({env_array}) as e(id)
              where not (e.id = '{last}' and c.i % 11 = 0);

             insert into canonical_workflow_git_state
                 (tenant_id, canonical_id, environment_id, git_commit_sha, git_content_hash,
                  git_path, git_commit_time)
             select m.tenant_id, m.canonical_id, m.environment_id, repeat('b', 40),
                    m.git_content_hash, 'workflows/' || e.git_folder || '/' || c.canonical_slug || '.json',
                    now() - interval '1 day'
               from workflow_env_map m
               join environments e on e.id = m.environment_id
               join canonical_workflows c on c.id = m.canonical_id
              where m.tenant_id = '{tenant}';

             insert into workflow_diff_state
                 (tenant_id, canonical_id, source_environment_id, target_environment_id,
                  diff_status, source_content_hash, git_content_hash)
             select m.tenant_id, m.canonical_id, m.environment_id, null,
                    case when m.env_content_hash = m.git_content_hash then 'unchanged'
                         else (array['modified', 'target_hotfix', 'conflict'])[
                              1 + abs(hashtext(m.n8n_workflow_id)) % 3] end,
                    m.env_content_hash, m.git_content_hash
               from workflow_env_map m
              where m.tenant_id = '{tenant}' and m.canonical_id is not null;

             insert into workflow_env_map
                 (tenant_id, canonical_id, environment_id, n8n_workflow_id, status,
                  env_content_hash, workflow_name, n8n_updated_at, last_env_sync_at)
             select '{tenant}', null, e.id, 'untracked-' || i || '-' || substr(e.id::text, 1, 8),
                    'untracked', md5('u' || i) || md5(e.id::text), 'Untracked ' || i,
                    now(), now()
               from generate_series(1, greatest({n} / 20, 1)) as i
               cross join unnest({env_array}) as e(id);

             analyze canonical_workflows;
             analyze workflow_env_map;
             analyze canonical_workflow_git_state;
             analyze workflow_diff_state;"
        ),
    )
    .await;
}

/// An active pipeline promoting through `envs` in order (a stage from each environment to the
/// next), and the stored status of every workflow for each stage's pair, as reconciliation
/// writes it: `unchanged` when the two environments' hashes are equal, otherwise `modified`,
/// `target_hotfix` or `conflict`; `added` when only the source holds it.
pub async fn pipeline_chain(db: &TestDb, tenant: Uuid, envs: &[Uuid]) {
    let stages: Vec<Value> = envs
        .windows(2)
        .enumerate()
        .map(|(i, w)| {
            serde_json::json!({"name": format!("stage {}", i + 1),
                               "source_environment_id": w[0], "target_environment_id": w[1]})
        })
        .collect();
    let (sources, targets): (Vec<String>, Vec<String>) = envs
        .windows(2)
        .map(|w| (format!("'{}'", w[0]), format!("'{}'", w[1])))
        .unzip();
    exec(
        db,
        &format!(
            "insert into pipelines (tenant_id, name, stages, is_active)
             values ('{tenant}', 'main', {}::jsonb, true);

             insert into workflow_diff_state
                 (tenant_id, canonical_id, source_environment_id, target_environment_id,
                  diff_status, source_content_hash, target_content_hash, git_content_hash)
             select s.tenant_id, s.canonical_id, s.environment_id, p.target,
                    case when t.id is null then 'added'
                         when s.env_content_hash = t.env_content_hash then 'unchanged'
                         else (array['modified', 'target_hotfix', 'conflict'])[
                              1 + abs(hashtext(s.n8n_workflow_id)) % 3] end,
                    s.env_content_hash, t.env_content_hash, s.git_content_hash
               from unnest(array[{}]::uuid[], array[{}]::uuid[]) as p(source, target)
               join workflow_env_map s
                 on s.environment_id = p.source and s.tenant_id = '{tenant}'
                and s.canonical_id is not null
               left join workflow_env_map t
                 on t.environment_id = p.target and t.canonical_id = s.canonical_id;

             analyze pipelines;
             analyze workflow_diff_state;",
            lit(&Value::Array(stages).to_string()),
            sources.join(","),
            targets.join(","),
        ),
    )
    .await;
}
