//! A dev and a prod environment on fake n8n instances, with canonical workflows linked in both,
//! a credential mapping, a target variable and a Git repository for prod; promotions and
//! deployments inserted as rows; the target's state read straight from the fake.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::{json, Value};
use uuid::Uuid;
use wfops_db::ScopedFutureExt;
use wfops_engine::promotion::{self, DeploymentReport};
use wfops_engine::{env_sync, Checkpoint, NoProgress, Progress};
use wfops_fake_n8n::{generated_workflow, FakeN8n};

use crate::common::Harness;
use crate::repo_git::{bare_remote, file_url};

pub struct World {
    pub h: Harness,
    pub dev: FakeN8n,
    pub prod: FakeN8n,
    pub dev_env: Uuid,
    pub prod_env: Uuid,
    /// Canonical ids, one per dev workflow, in seeding order.
    pub canonicals: Vec<Uuid>,
    pub dev_ids: Vec<String>,
    /// The prod copy of workflow 2, linked before the promotion.
    pub prod_copy: Option<String>,
    pub remote: PathBuf,
    pub _dir: tempfile::TempDir,
}

/// Workflow `i` of dev: 0 calls workflow 1 and uses a Slack credential, 1 reads a variable,
/// the others are plain.
pub fn dev_doc(i: usize, callee: Option<&str>) -> Value {
    let mut doc = generated_workflow(i);
    doc["name"] = json!(format!("Promoted workflow {i}"));
    match i {
        0 => {
            doc["nodes"].as_array_mut().unwrap().push(json!({
                "id": "0a000000-0000-4000-8000-000000000001", "name": "Notify",
                "type": "n8n-nodes-base.slack", "typeVersion": 2.2, "position": [440, 0],
                "parameters": {"channel": "#ops", "text": "done"},
                "credentials": {"slackApi": {"id": "dev-cred-1", "name": "Slack bot"}}
            }));
            doc["nodes"].as_array_mut().unwrap().push(json!({
                "id": "0a000000-0000-4000-8000-000000000002", "name": "Call child",
                "type": "n8n-nodes-base.executeWorkflow", "typeVersion": 1.2, "position": [660, 0],
                "parameters": {"workflowId": {"__rl": true, "mode": "id", "value": callee.unwrap_or("none")}}
            }));
            doc["connections"]["Set"] =
                json!({"main": [[{"node": "Notify", "type": "main", "index": 0}]]});
            doc["connections"]["Notify"] =
                json!({"main": [[{"node": "Call child", "type": "main", "index": 0}]]});
        }
        1 => {
            doc["nodes"].as_array_mut().unwrap().push(json!({
                "id": "0b000000-0000-4000-8000-000000000001", "name": "Fetch",
                "type": "n8n-nodes-base.httpRequest", "typeVersion": 4.2, "position": [440, 0],
                "parameters": {"url": "https://{{env.API_HOST}}/orders"}
            }));
            doc["connections"]["Set"] =
                json!({"main": [[{"node": "Fetch", "type": "main", "index": 0}]]});
        }
        _ => {}
    }
    doc
}

pub async fn world(n: usize) -> World {
    world_with(n, |_| {}).await
}

pub async fn world_with(n: usize, tweak: impl FnOnce(&mut wfops_config::Config)) -> World {
    assert!(n >= 3, "the world needs workflows 0, 1 and 2");
    let h = crate::common::harness_with(tweak).await;
    let mut h = h;
    h.ctx.n8n.restore_backoff = std::time::Duration::from_millis(5);
    let dev = FakeN8n::start().unwrap();
    let prod = FakeN8n::start().unwrap();
    // workflow 0 calls workflow 1, so 1 is seeded first
    let mut dev_ids = vec![String::new(); n];
    for i in (1..n).rev() {
        dev_ids[i] = dev.seed_workflow(&dev_doc(i, None)).unwrap();
    }
    dev_ids[0] = dev.seed_workflow(&dev_doc(0, Some(&dev_ids[1]))).unwrap();
    // prod already has an older copy of workflow 2 and a workflow of its own
    let mut older = generated_workflow(900);
    older["name"] = json!("Promoted workflow 2");
    let prod_copy = prod.seed_workflow(&older).unwrap();
    let mut own = generated_workflow(901);
    own["name"] = json!("Prod only");
    prod.seed_workflow(&own).unwrap();

    let dev_env = h.environment("dev", "dev", &dev).await;
    let prod_env = h.environment("prod", "production", &prod).await;
    for env in [dev_env, prod_env] {
        env_sync::run(&h.ctx, h.tenant, env, &NoProgress, &Checkpoint::none())
            .await
            .unwrap();
    }
    let mut canonicals = Vec::new();
    for (i, id) in dev_ids.iter().enumerate() {
        let doc = dev.workflow(id).unwrap().unwrap();
        let c = h
            .register_canonical(&format!("promoted-workflow-{i}"), &doc)
            .await;
        link(&h, dev_env, id, c).await;
        canonicals.push(c);
    }
    link(&h, prod_env, &prod_copy, canonicals[2]).await;

    let t = h.tenant;
    h.test_db
        .admin_execute(&format!(
            "INSERT INTO credential_mappings (tenant_id, source_environment_id, target_environment_id, \
             credential_type, source_credential_id, source_credential_name, target_credential_id, \
             target_credential_name) VALUES ('{t}', '{dev_env}', '{prod_env}', 'slackApi', 'dev-cred-1', \
             'Slack bot', 'prod-cred-9', 'Slack bot');
             INSERT INTO environment_variables (tenant_id, environment_id, key, value) \
             VALUES ('{t}', '{prod_env}', 'API_HOST', 'api.prod.example')"
        ))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let remote = bare_remote(dir.path());
    h.set_git(prod_env, &file_url(&remote), "main", None).await;
    World {
        h,
        dev,
        prod,
        dev_env,
        prod_env,
        canonicals,
        dev_ids,
        prod_copy: Some(prod_copy),
        remote,
        _dir: dir,
    }
}

async fn link(h: &Harness, env: Uuid, n8n_id: &str, canonical: Uuid) {
    let id = n8n_id.to_owned();
    h.ctx
        .db
        .tenant_tx(h.tenant, move |conn| {
            async move { wfops_db::workflows::link_manually(conn, env, &id, canonical).await }
                .scope_boxed()
        })
        .await
        .unwrap()
        .expect("an untracked row to link");
}

impl World {
    /// A pending promotion of `canonicals` from dev to prod with one pending deployment;
    /// returns the deployment id.
    pub async fn promotion(&self, canonicals: &[Uuid]) -> Uuid {
        let (p, d) = (Uuid::new_v4(), Uuid::new_v4());
        let t = self.h.tenant;
        let selection = serde_json::to_string(canonicals).unwrap();
        self.h
            .test_db
            .admin_execute(&format!(
                "INSERT INTO promotions (id, tenant_id, source_environment_id, target_environment_id, \
                 status, workflow_selections) VALUES ('{p}', '{t}', '{}', '{}', 'pending', '{selection}'::jsonb);
                 INSERT INTO deployments (id, tenant_id, promotion_id, status) VALUES ('{d}', '{t}', '{p}', 'pending')",
                self.dev_env, self.prod_env
            ))
            .await
            .unwrap();
        d
    }

    pub async fn execute(&self, deployment: Uuid) -> DeploymentReport {
        self.execute_with(deployment, &NoProgress)
            .await
            .expect("deployment")
    }

    pub async fn execute_with(
        &self,
        deployment: Uuid,
        progress: &dyn Progress,
    ) -> Result<DeploymentReport, wfops_engine::EngineError> {
        promotion::execute_deployment(&self.h.ctx, self.h.tenant, deployment, progress).await
    }

    /// Every prod workflow's content hash, by id.
    pub fn prod_hashes(&self) -> BTreeMap<String, String> {
        hashes(&self.prod)
    }

    /// (n8n id, canonical, hash) of every prod mapping.
    pub async fn prod_mappings(&self) -> Vec<(String, Option<Uuid>, Option<String>)> {
        let mut v: Vec<_> = self
            .h
            .mappings(self.prod_env)
            .await
            .into_iter()
            .map(|m| (m.n8n_workflow_id, m.canonical_id, m.env_content_hash))
            .collect();
        v.sort();
        v
    }

    /// (promotion status, deployment status) as stored.
    pub async fn statuses(&self, deployment: Uuid) -> (String, String, Option<Value>) {
        let t = self.h.tenant;
        self.h
            .ctx
            .db
            .tenant_tx(t, move |conn| {
                async move {
                    let d = wfops_db::promotions::get_deployment(conn, deployment).await?;
                    let p = wfops_db::promotions::get_promotion(conn, d.promotion_id).await?;
                    Ok::<_, wfops_db::Error>((
                        p.status.as_str().to_owned(),
                        d.status.as_str().to_owned(),
                        p.execution_result,
                    ))
                }
                .scope_boxed()
            })
            .await
            .unwrap()
    }

    pub fn prod_doc(&self, id: &str) -> Value {
        self.prod.workflow(id).unwrap().unwrap()
    }
}

pub fn hashes(fake: &FakeN8n) -> BTreeMap<String, String> {
    fake.workflow_ids()
        .unwrap()
        .into_iter()
        .map(|id| {
            let doc = fake.workflow(&id).unwrap().unwrap();
            (id, wfops_diff::content_hash_value(&doc).unwrap().to_hex())
        })
        .collect()
}

pub fn hash(doc: &Value) -> String {
    wfops_diff::content_hash_value(doc).unwrap().to_hex()
}

/// A progress that runs `hook` on every report whose message contains `needle`.
pub struct Hook<F: Fn() -> Result<(), wfops_engine::EngineError> + Send + Sync> {
    pub needle: String,
    pub hook: F,
}

#[async_trait::async_trait]
impl<F: Fn() -> Result<(), wfops_engine::EngineError> + Send + Sync> Progress for Hook<F> {
    async fn report(
        &self,
        _c: i64,
        _t: i64,
        message: &str,
    ) -> Result<(), wfops_engine::EngineError> {
        if message.contains(&self.needle) {
            (self.hook)()
        } else {
            Ok(())
        }
    }
}

/// A progress that asks for the deployment's cancel when a report contains `needle`.
pub struct CancelAt {
    pub needle: String,
    pub db: wfops_db::Db,
    pub tenant: Uuid,
    pub deployment: Uuid,
}

#[async_trait::async_trait]
impl Progress for CancelAt {
    async fn report(
        &self,
        _c: i64,
        _t: i64,
        message: &str,
    ) -> Result<(), wfops_engine::EngineError> {
        if message.contains(&self.needle) {
            let deployment = self.deployment;
            let asked = self
                .db
                .tenant_tx(self.tenant, move |conn| {
                    async move {
                        wfops_db::deployments::request_cancel(conn, deployment)
                            .await
                            .map(|r| r.is_some())
                    }
                    .scope_boxed()
                })
                .await?;
            assert!(asked, "the deployment is running");
        }
        Ok(())
    }
}
