//! Reconciliation (docs/sync-and-identity.md#reconciliation): the three-way diff status of every canonical workflow for every
//! ordered pair of environments and for every environment against its own Git folder, stored
//! in `workflow_diff_state`. Decisions are in `docs/decisions/reconciliation.md`.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use uuid::Uuid;
use wfops_canonical::MappingStatus;
use wfops_db::diff_state::{
    self, NewDiffState, ReconcileEnvironment, ReconcileGitState, ReconcileInputs, ReconcileMapping,
};
use wfops_db::{workflows, ScopedFutureExt};
use wfops_diff::{diff_status, ContentHash, DiffStatus, EnvState, GitState, ThreeWay};
use wfops_promotion::EnvironmentClass;

use crate::context::EngineCtx;
use crate::error::{EngineError, Result};
use crate::references::{self, ConvergeReport};

/// What one reconciliation stored.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReconcileReport {
    pub canonical_workflows: usize,
    pub environments: usize,
    /// Rows written to `workflow_diff_state`.
    pub rows: usize,
    /// Rows by diff status.
    pub by_status: BTreeMap<String, usize>,
    /// Comparisons left out because one side could not be parsed (its content is unknown).
    pub skipped_unparseable: usize,
    /// Mappings whose `git_content_hash` changed.
    pub git_hashes_updated: usize,
    /// Stored hashes re-computed first because the mappings their references resolve through,
    /// or the hash rules, changed.
    #[serde(default)]
    pub converged: ConvergeReport,
    pub duration_ms: u64,
}

/// Reconciles the tenant in one transaction: the previous rows are replaced as a whole, so a
/// reader never sees a half-reconciled tenant. Reconciliations of one tenant are serialized.
pub async fn run(ctx: &EngineCtx, tenant_id: Uuid) -> Result<ReconcileReport> {
    let started = Instant::now();
    let mut report = ctx
        .db
        .tenant_tx(tenant_id, |conn| {
            async move {
                diff_state::lock_tenant(conn, tenant_id).await?;
                let converged = references::converge(conn, tenant_id).await?;
                let inputs = diff_state::load_inputs(conn).await?;
                let stage_pairs = diff_state::stage_pairs(conn).await?;
                let computed = compute_with_stages(&inputs, &stage_pairs);
                let rows = diff_state::replace_all(conn, tenant_id, &computed.rows).await?;
                let git_hashes_updated = workflows::sync_git_hashes(conn).await?;
                let mut by_status = BTreeMap::new();
                for r in &computed.rows {
                    *by_status
                        .entry(r.diff_status.as_str().to_owned())
                        .or_insert(0) += 1;
                }
                Ok::<_, EngineError>(ReconcileReport {
                    canonical_workflows: inputs.canonical_ids.len(),
                    environments: inputs.environments.len(),
                    rows,
                    by_status,
                    skipped_unparseable: computed.skipped_unparseable,
                    git_hashes_updated,
                    converged,
                    duration_ms: 0,
                })
            }
            .scope_boxed()
        })
        .await?;
    report.duration_ms = started.elapsed().as_millis() as u64;
    tracing::info!(%tenant_id, rows = report.rows, canonical = report.canonical_workflows,
        duration_ms = report.duration_ms, "reconciled");
    Ok(report)
}

/// The rows reconciliation stores, computed from its inputs (no I/O).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Computed {
    pub rows: Vec<NewDiffState>,
    pub skipped_unparseable: usize,
}

/// Environments in promotion order: by class (dev, staging, production), then name, then id.
/// A pair (S → T) is formed for every S that comes before T.
pub fn promotion_order(a: &ReconcileEnvironment, b: &ReconcileEnvironment) -> Ordering {
    a.environment_class
        .cmp(&b.environment_class)
        .then_with(|| a.name.cmp(&b.name))
        .then_with(|| a.id.cmp(&b.id))
}

/// One side of a comparison.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Side<T> {
    Absent,
    /// Present, but its content is unknown (it could not be parsed).
    Unknown,
    Present(T),
}

impl<T: Copy> Side<T> {
    fn known(self) -> Option<Option<T>> {
        match self {
            Side::Absent => Some(None),
            Side::Unknown => None,
            Side::Present(t) => Some(Some(t)),
        }
    }
}

fn env_side(m: Option<&&ReconcileMapping>) -> Side<EnvState> {
    let Some(m) = m else { return Side::Absent };
    if m.status != MappingStatus::Linked {
        // missing, ignored and deleted workflows are not in the environment as far as
        // promotion is concerned
        return Side::Absent;
    }
    match (
        &m.parse_error,
        m.env_content_hash.as_deref().map(str::parse::<ContentHash>),
    ) {
        (None, Some(Ok(hash))) => Side::Present(EnvState {
            hash,
            updated_at: m.n8n_updated_at,
        }),
        _ => Side::Unknown,
    }
}

fn git_side(g: Option<&&ReconcileGitState>) -> Side<GitState> {
    let Some(g) = g else { return Side::Absent };
    match (
        &g.parse_error,
        g.git_content_hash.as_deref().map(str::parse::<ContentHash>),
    ) {
        (None, Some(Ok(hash))) => Side::Present(GitState {
            hash,
            committed_at: g.git_commit_time,
        }),
        _ => Side::Unknown,
    }
}

fn hex(h: Option<ContentHash>) -> Option<String> {
    h.map(|h| h.to_hex())
}

/// Every row of `workflow_diff_state` for the inputs: for each canonical workflow, each pair
/// of environments in promotion order (Git = the source's folder) and each environment
/// against its own folder (Git as the source, the environment as the target; stored with
/// `target_environment_id` NULL and the environment's hash as `source_content_hash`).
/// An environment against its own Git folder. In dev, n8n is the source of truth (docs/sync-and-identity.md#three-way-status):
/// an edit made there after the last commit is ordinary work not yet committed, `modified`. In
/// staging and production Git is the source of truth, so the same edit is a change made behind
/// Git's back, `target_hotfix`.
fn versus_own_folder(status: DiffStatus, environment_class: EnvironmentClass) -> DiffStatus {
    if environment_class == EnvironmentClass::Dev && status == DiffStatus::TargetHotfix {
        DiffStatus::Modified
    } else {
        status
    }
}

pub fn compute(inputs: &ReconcileInputs) -> Computed {
    compute_with_stages(inputs, &[])
}

/// [`compute`], plus the pairs that pipeline stages name (`(source, target)` environment ids)
/// where promotion order alone forms none: a stage may promote against that order (production
/// back into staging) or between two environments of one class in the other name order. Every
/// stage's pair then has its status, which is what the matrix shows against a stage.
pub fn compute_with_stages(inputs: &ReconcileInputs, stage_pairs: &[(Uuid, Uuid)]) -> Computed {
    let mut envs: Vec<&ReconcileEnvironment> = inputs.environments.iter().collect();
    envs.sort_by(|a, b| promotion_order(a, b));
    let mappings: HashMap<(Uuid, Uuid), &ReconcileMapping> = inputs
        .mappings
        .iter()
        .filter_map(|m| m.canonical_id.map(|c| ((c, m.environment_id), m)))
        .collect();
    let git: HashMap<(Uuid, Uuid), &ReconcileGitState> = inputs
        .git_states
        .iter()
        .map(|g| ((g.canonical_id, g.environment_id), g))
        .collect();
    // stage pairs that promotion order does not form (the source comes after the target)
    let index: HashMap<Uuid, usize> = envs.iter().enumerate().map(|(i, e)| (e.id, i)).collect();
    let mut extra: Vec<(usize, usize)> = stage_pairs
        .iter()
        .filter_map(|(s, t)| Some((*index.get(s)?, *index.get(t)?)))
        .filter(|(i, j)| i > j)
        .collect();
    extra.sort_unstable();
    extra.dedup();
    let mut out = Computed::default();
    for &canonical in &inputs.canonical_ids {
        let sides: Vec<(Side<EnvState>, Side<GitState>)> = envs
            .iter()
            .map(|e| {
                (
                    env_side(mappings.get(&(canonical, e.id))),
                    git_side(git.get(&(canonical, e.id))),
                )
            })
            .collect();
        for (i, source_env) in envs.iter().enumerate() {
            let (source, source_git) = sides[i];
            // the environment against its own Git folder
            match (source.known(), source_git.known()) {
                (Some(env), Some(g)) => {
                    let three = ThreeWay {
                        source: g.map(|g| EnvState {
                            hash: g.hash,
                            updated_at: g.committed_at,
                        }),
                        target: env,
                        git: g,
                    };
                    if let Some(status) = diff_status(&three) {
                        let status = versus_own_folder(status, source_env.environment_class);
                        out.rows.push(NewDiffState {
                            canonical_id: canonical,
                            source_environment_id: source_env.id,
                            target_environment_id: None,
                            diff_status: status,
                            source_content_hash: hex(env.map(|e| e.hash)),
                            target_content_hash: None,
                            git_content_hash: hex(g.map(|g| g.hash)),
                        });
                    }
                }
                _ => out.skipped_unparseable += 1,
            }
            for j in i + 1..envs.len() {
                pair(&mut out, canonical, &envs, &sides, i, j);
            }
        }
        for &(i, j) in &extra {
            pair(&mut out, canonical, &envs, &sides, i, j);
        }
    }
    out
}

/// The status of `canonical` from `envs[i]` (with its Git folder) to `envs[j]`.
fn pair(
    out: &mut Computed,
    canonical: Uuid,
    envs: &[&ReconcileEnvironment],
    sides: &[(Side<EnvState>, Side<GitState>)],
    i: usize,
    j: usize,
) {
    let (source, source_git) = sides[i];
    let (target, _) = sides[j];
    let (Some(s), Some(t), Some(g)) = (source.known(), target.known(), source_git.known()) else {
        out.skipped_unparseable += 1;
        return;
    };
    let three = ThreeWay {
        source: s,
        target: t,
        git: g,
    };
    if let Some(status) = diff_status(&three) {
        out.rows.push(NewDiffState {
            canonical_id: canonical,
            source_environment_id: envs[i].id,
            target_environment_id: Some(envs[j].id),
            diff_status: status,
            source_content_hash: hex(s.map(|e| e.hash)),
            target_content_hash: hex(t.map(|e| e.hash)),
            git_content_hash: hex(g.map(|g| g.hash)),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};

    fn at(rfc3339: &str) -> Option<DateTime<Utc>> {
        DateTime::parse_from_rfc3339(rfc3339)
            .ok()
            .map(|d| d.with_timezone(&Utc))
    }

    fn h(c: char) -> String {
        std::iter::repeat_n(c, 64).collect()
    }

    fn env(name: &str, class: &str) -> ReconcileEnvironment {
        ReconcileEnvironment {
            id: Uuid::new_v4(),
            name: name.into(),
            environment_class: class.parse().unwrap(),
        }
    }

    fn mapping(c: Uuid, e: Uuid, hash: &str, at_: &str) -> ReconcileMapping {
        ReconcileMapping {
            canonical_id: Some(c),
            environment_id: e,
            status: MappingStatus::Linked,
            env_content_hash: Some(hash.into()),
            n8n_updated_at: at(at_),
            parse_error: None,
        }
    }

    fn git_state(c: Uuid, e: Uuid, hash: &str, at_: &str) -> ReconcileGitState {
        ReconcileGitState {
            canonical_id: c,
            environment_id: e,
            git_content_hash: Some(hash.into()),
            git_commit_time: at(at_),
            parse_error: None,
        }
    }

    fn find(c: &Computed, s: Uuid, t: Option<Uuid>) -> Option<&NewDiffState> {
        c.rows
            .iter()
            .find(|r| r.source_environment_id == s && r.target_environment_id == t)
    }

    #[test]
    fn environments_are_ordered_by_class_then_name() {
        let mut envs = [
            env("b-prod", "production"),
            env("z-dev", "dev"),
            env("a-prod", "production"),
            env("stage", "staging"),
            env("a-dev", "dev"),
        ];
        envs.sort_by(promotion_order);
        let names: Vec<&str> = envs.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["a-dev", "z-dev", "stage", "a-prod", "b-prod"]);
    }

    #[test]
    fn pairs_follow_promotion_order_and_use_the_source_folder() {
        let (dev, stage, prod) = (
            env("dev", "dev"),
            env("stage", "staging"),
            env("prod", "production"),
        );
        let c = Uuid::new_v4();
        let inputs = ReconcileInputs {
            environments: vec![prod.clone(), dev.clone(), stage.clone()],
            canonical_ids: vec![c],
            mappings: vec![
                mapping(c, dev.id, &h('a'), "2024-01-02T00:00:00Z"),
                mapping(c, stage.id, &h('a'), "2024-01-02T00:00:00Z"),
                mapping(c, prod.id, &h('b'), "2024-01-03T00:00:00Z"),
            ],
            git_states: vec![
                git_state(c, dev.id, &h('a'), "2024-01-01T00:00:00Z"),
                git_state(c, stage.id, &h('c'), "2024-01-01T00:00:00Z"),
            ],
        };
        let out = compute(&inputs);
        // 3 pairs (dev→stage, dev→prod, stage→prod) + 3 versus Git
        assert_eq!(out.rows.len(), 6, "{:#?}", out.rows);
        assert!(
            find(&out, stage.id, Some(dev.id)).is_none(),
            "no backwards pair"
        );
        assert_eq!(
            find(&out, dev.id, Some(stage.id))
                .unwrap()
                .diff_status
                .as_str(),
            "unchanged"
        );
        // dev a, prod b (edited after dev's commit), dev's Git a: a hotfix in prod
        assert_eq!(
            find(&out, dev.id, Some(prod.id))
                .unwrap()
                .diff_status
                .as_str(),
            "target_hotfix"
        );
        // stage a, prod b, stage's Git c: all three differ
        assert_eq!(
            find(&out, stage.id, Some(prod.id))
                .unwrap()
                .diff_status
                .as_str(),
            "conflict"
        );
        // versus Git
        let dev_git = find(&out, dev.id, None).unwrap();
        assert_eq!(dev_git.diff_status, DiffStatus::Unchanged);
        assert_eq!(
            dev_git.source_content_hash.as_deref(),
            Some(h('a').as_str())
        );
        assert_eq!(dev_git.git_content_hash.as_deref(), Some(h('a').as_str()));
        assert_eq!(
            find(&out, stage.id, None).unwrap().diff_status.as_str(),
            "target_hotfix"
        );
        assert_eq!(
            find(&out, prod.id, None).unwrap().diff_status.as_str(),
            "target_only"
        );
    }

    #[test]
    fn stage_pairs_against_promotion_order_are_computed_with_the_source_folder() {
        let (dev, prod) = (env("dev", "dev"), env("prod", "production"));
        let c = Uuid::new_v4();
        let inputs = ReconcileInputs {
            environments: vec![dev.clone(), prod.clone()],
            canonical_ids: vec![c],
            mappings: vec![
                mapping(c, dev.id, &h('a'), "2024-01-01T00:00:00Z"),
                mapping(c, prod.id, &h('b'), "2024-01-03T00:00:00Z"),
            ],
            git_states: vec![git_state(c, prod.id, &h('a'), "2024-01-02T00:00:00Z")],
        };
        // class order alone: dev → prod only
        let plain = compute(&inputs);
        assert!(find(&plain, prod.id, Some(dev.id)).is_none());
        // a back-port stage prod → dev, and a stage class order already pairs (no duplicate)
        let staged = compute_with_stages(&inputs, &[(prod.id, dev.id), (dev.id, prod.id)]);
        assert_eq!(staged.rows.len(), plain.rows.len() + 1);
        let back = find(&staged, prod.id, Some(dev.id)).unwrap();
        // production changed after its folder's commit, dev still holds the committed content
        assert_eq!(back.diff_status, DiffStatus::Modified);
        assert_eq!(back.git_content_hash.as_deref(), Some(h('a').as_str()));
        assert_eq!(back.source_content_hash.as_deref(), Some(h('b').as_str()));
        // a stage naming an unknown (archived) environment adds nothing
        let unknown = compute_with_stages(&inputs, &[(Uuid::new_v4(), dev.id)]);
        assert_eq!(unknown.rows, plain.rows);
    }

    #[test]
    fn absent_missing_and_unparseable_sides() {
        let (dev, prod) = (env("dev", "dev"), env("prod", "production"));
        let c = Uuid::new_v4();
        let mut missing = mapping(c, prod.id, &h('a'), "2024-01-01T00:00:00Z");
        missing.status = MappingStatus::Missing;
        let inputs = ReconcileInputs {
            environments: vec![dev.clone(), prod.clone()],
            canonical_ids: vec![c],
            mappings: vec![mapping(c, dev.id, &h('a'), "2024-01-01T00:00:00Z"), missing],
            git_states: vec![],
        };
        let out = compute(&inputs);
        // dev → prod: prod's copy is missing, so the workflow is to be added there
        assert_eq!(
            find(&out, dev.id, Some(prod.id))
                .unwrap()
                .diff_status
                .as_str(),
            "added"
        );
        // dev has no Git file: the workflow is only in the environment
        assert_eq!(
            find(&out, dev.id, None).unwrap().diff_status,
            DiffStatus::TargetOnly
        );
        // prod has nothing anywhere: no row
        assert!(find(&out, prod.id, None).is_none());

        let mut broken = mapping(c, dev.id, &h('a'), "2024-01-01T00:00:00Z");
        broken.env_content_hash = None;
        broken.parse_error = Some("duplicate node name".into());
        let out = compute(&ReconcileInputs {
            mappings: vec![broken],
            ..inputs
        });
        assert!(find(&out, dev.id, Some(prod.id)).is_none());
        assert!(find(&out, dev.id, None).is_none());
        assert_eq!(out.skipped_unparseable, 2);
    }

    #[test]
    fn a_git_file_without_a_deployment_is_added() {
        let dev = env("dev", "dev");
        let c = Uuid::new_v4();
        let out = compute(&ReconcileInputs {
            environments: vec![dev.clone()],
            canonical_ids: vec![c],
            mappings: vec![],
            git_states: vec![git_state(c, dev.id, &h('a'), "2024-01-01T00:00:00Z")],
        });
        let row = find(&out, dev.id, None).unwrap();
        assert_eq!(row.diff_status, DiffStatus::Added);
        assert_eq!(row.source_content_hash, None);
    }

    #[test]
    fn an_edit_after_the_commit_is_modified_in_dev_and_a_hotfix_elsewhere() {
        let dev = env("dev", "dev");
        let prod = env("prod", "production");
        let c = Uuid::new_v4();
        let out = compute(&ReconcileInputs {
            environments: vec![dev.clone(), prod.clone()],
            canonical_ids: vec![c],
            mappings: vec![
                mapping(c, dev.id, &h('b'), "2024-02-01T00:00:00Z"),
                mapping(c, prod.id, &h('d'), "2024-02-01T00:00:00Z"),
            ],
            git_states: vec![
                git_state(c, dev.id, &h('a'), "2024-01-01T00:00:00Z"),
                git_state(c, prod.id, &h('c'), "2024-01-01T00:00:00Z"),
            ],
        });
        assert_eq!(
            find(&out, dev.id, None).unwrap().diff_status,
            DiffStatus::Modified
        );
        assert_eq!(
            find(&out, prod.id, None).unwrap().diff_status.as_str(),
            "target_hotfix"
        );
    }
}
