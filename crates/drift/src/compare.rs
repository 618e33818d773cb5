//! The comparison of a drift check (docs/drift.md#what-a-check-compares): the runtime's
//! workflows against the Git folder's files, matched by canonical identity.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What the runtime's copy of a workflow is to the environment's records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuntimeIdentity {
    /// Linked to this canonical workflow (by its n8n id, so a rename keeps it).
    Linked(Uuid),
    /// A person excluded it from version control.
    Ignored,
    /// No canonical identity yet (never synced, or not linked).
    Untracked,
}

/// One workflow the runtime listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeWorkflow {
    pub n8n_id: String,
    pub name: String,
    pub identity: RuntimeIdentity,
    /// Content hash (hex), or why it could not be computed.
    pub hash: Result<String, String>,
}

/// One workflow file of the environment's Git folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitWorkflow {
    pub path: String,
    pub name: String,
    /// The canonical workflow the file belongs to, when the records know it.
    pub canonical_id: Option<Uuid>,
    /// Content hash (hex), or why the file is not a workflow.
    pub hash: Result<String, String>,
}

/// Why a workflow is part of the drift.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DriftKind {
    /// In Git and in the runtime with different content.
    Modified,
    /// In the runtime, not in Git.
    AddedInRuntime,
    /// In Git, gone from the runtime.
    MissingInRuntime,
}

/// One workflow of the drift, as incidents and the API show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AffectedWorkflow {
    pub kind: DriftKind,
    pub canonical_id: Option<Uuid>,
    pub n8n_workflow_id: Option<String>,
    pub name: String,
    pub git_path: Option<String>,
    pub runtime_hash: Option<String>,
    pub git_hash: Option<String>,
}

/// A workflow or file that could not be read; the counts cover the rest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unreadable {
    /// `runtime` or `git`.
    pub side: String,
    /// The n8n id or the file path.
    pub item: String,
    pub error: String,
}

/// What the comparison found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Comparison {
    /// Runtime workflows compared.
    pub runtime_workflows: u64,
    /// Files in the Git folder.
    pub git_workflows: u64,
    /// Canonical workflows the environment tracks: linked in the runtime or with a file in
    /// the folder. Decides `UNTRACKED` (docs/decisions/drift.md).
    pub tracked: u64,
    pub in_sync: u64,
    /// In both with different content, plus those gone from the runtime.
    pub with_drift: u64,
    pub not_in_git: u64,
    pub missing_in_runtime: u64,
    /// Runtime workflows without canonical identity (counted in `not_in_git` when their
    /// content is not in the folder).
    pub untracked: u64,
    /// Runtime workflows a person chose to ignore: never drift.
    pub ignored: u64,
    pub affected: Vec<AffectedWorkflow>,
    pub unreadable: Vec<Unreadable>,
}

impl Comparison {
    pub fn is_partial(&self) -> bool {
        !self.unreadable.is_empty()
    }
}

/// Compares the runtime with the folder.
///
/// - A linked workflow is matched with the file of its canonical workflow: equal hashes are in
///   sync, different ones `modified`, no file `added_in_runtime`. Names play no part, so a
///   workflow renamed in n8n is still the same workflow.
/// - An untracked workflow whose content is some file's content is in sync (it is the same
///   workflow, not linked yet); otherwise it is `added_in_runtime`.
/// - A file of a canonical workflow that the runtime lacks (no linked workflow and no untracked
///   copy of its content) is `missing_in_runtime`, counted with the drift.
/// - Ignored workflows are counted apart and are never drift.
/// - A workflow or file that can not be hashed is reported as unreadable and left out, rather
///   than guessed in either direction.
pub fn compare(runtime: &[RuntimeWorkflow], git: &[GitWorkflow]) -> Comparison {
    let mut c = Comparison {
        runtime_workflows: runtime.len() as u64,
        git_workflows: git.len() as u64,
        ..Default::default()
    };
    let mut git_by_canonical: HashMap<Uuid, &GitWorkflow> = HashMap::new();
    let mut git_hashes: HashMap<&str, &GitWorkflow> = HashMap::new();
    for g in git {
        match &g.hash {
            Ok(h) => {
                git_hashes.entry(h.as_str()).or_insert(g);
            }
            Err(e) => c.unreadable.push(Unreadable {
                side: "git".into(),
                item: g.path.clone(),
                error: e.clone(),
            }),
        }
        if let Some(id) = g.canonical_id {
            git_by_canonical.entry(id).or_insert(g);
        }
    }
    let mut tracked: HashSet<Uuid> = git_by_canonical.keys().copied().collect();
    // files whose canonical workflow (or content) the runtime has
    let mut present: HashSet<&str> = HashSet::new();

    for w in runtime {
        let hash = match &w.hash {
            Ok(h) => h.as_str(),
            Err(e) => {
                c.unreadable.push(Unreadable {
                    side: "runtime".into(),
                    item: w.n8n_id.clone(),
                    error: e.clone(),
                });
                // its file is not "missing": the workflow is there, only unreadable
                if let RuntimeIdentity::Linked(id) = w.identity {
                    tracked.insert(id);
                    if let Some(g) = git_by_canonical.get(&id) {
                        present.insert(g.path.as_str());
                    }
                }
                continue;
            }
        };
        let affected = |kind, canonical_id, g: Option<&GitWorkflow>| AffectedWorkflow {
            kind,
            canonical_id,
            n8n_workflow_id: Some(w.n8n_id.clone()),
            name: w.name.clone(),
            git_path: g.map(|g| g.path.clone()),
            runtime_hash: Some(hash.to_owned()),
            git_hash: g.and_then(|g| g.hash.as_ref().ok().cloned()),
        };
        match w.identity {
            RuntimeIdentity::Ignored => c.ignored += 1,
            RuntimeIdentity::Linked(id) => {
                tracked.insert(id);
                match git_by_canonical.get(&id) {
                    Some(g) => {
                        present.insert(g.path.as_str());
                        match &g.hash {
                            Ok(gh) if gh == hash => c.in_sync += 1,
                            Ok(_) => {
                                c.with_drift += 1;
                                c.affected
                                    .push(affected(DriftKind::Modified, Some(id), Some(g)));
                            }
                            // unreadable file: reported above, not guessed
                            Err(_) => {}
                        }
                    }
                    None => {
                        c.not_in_git += 1;
                        c.affected
                            .push(affected(DriftKind::AddedInRuntime, Some(id), None));
                    }
                }
            }
            RuntimeIdentity::Untracked => {
                c.untracked += 1;
                match git_hashes.get(hash) {
                    Some(g) => {
                        present.insert(g.path.as_str());
                        c.in_sync += 1;
                    }
                    None => {
                        c.not_in_git += 1;
                        c.affected
                            .push(affected(DriftKind::AddedInRuntime, None, None));
                    }
                }
            }
        }
    }

    for g in git {
        if present.contains(g.path.as_str()) || g.hash.is_err() {
            continue;
        }
        c.missing_in_runtime += 1;
        c.with_drift += 1;
        c.affected.push(AffectedWorkflow {
            kind: DriftKind::MissingInRuntime,
            canonical_id: g.canonical_id,
            n8n_workflow_id: None,
            name: g.name.clone(),
            git_path: Some(g.path.clone()),
            runtime_hash: None,
            git_hash: g.hash.as_ref().ok().cloned(),
        });
    }
    c.tracked =
        tracked.len() as u64 + git.iter().filter(|g| g.canonical_id.is_none()).count() as u64;
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rt(id: &str, identity: RuntimeIdentity, hash: &str) -> RuntimeWorkflow {
        RuntimeWorkflow {
            n8n_id: id.into(),
            name: format!("wf {id}"),
            identity,
            hash: Ok(hash.into()),
        }
    }

    fn file(path: &str, canonical: Option<Uuid>, hash: &str) -> GitWorkflow {
        GitWorkflow {
            path: path.into(),
            name: path.into(),
            canonical_id: canonical,
            hash: Ok(hash.into()),
        }
    }

    fn kinds(c: &Comparison) -> Vec<(DriftKind, String)> {
        let mut v: Vec<_> = c
            .affected
            .iter()
            .map(|a| {
                (
                    a.kind,
                    a.n8n_workflow_id.clone().or(a.git_path.clone()).unwrap(),
                )
            })
            .collect();
        v.sort_by(|a, b| a.1.cmp(&b.1));
        v
    }

    #[test]
    fn matches_by_canonical_identity_not_by_name() {
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let mut renamed = rt("1", RuntimeIdentity::Linked(a), "h1");
        renamed.name = "A new name".into();
        let runtime = vec![renamed, rt("2", RuntimeIdentity::Linked(b), "changed")];
        let git = vec![file("a.json", Some(a), "h1"), file("b.json", Some(b), "h2")];
        let c = compare(&runtime, &git);
        assert_eq!((c.in_sync, c.with_drift, c.not_in_git), (1, 1, 0));
        assert_eq!(kinds(&c), vec![(DriftKind::Modified, "2".into())]);
        assert_eq!(c.affected[0].git_hash.as_deref(), Some("h2"));
        assert_eq!(c.affected[0].runtime_hash.as_deref(), Some("changed"));
        assert_eq!(c.tracked, 2);
    }

    /// The walkthrough: the runtime has one workflow more than Git and one changed.
    #[test]
    fn one_extra_and_one_changed() {
        let ids: Vec<Uuid> = (0..5).map(|_| Uuid::new_v4()).collect();
        let git: Vec<_> = ids
            .iter()
            .enumerate()
            .map(|(i, id)| file(&format!("{i}.json"), Some(*id), &format!("h{i}")))
            .collect();
        let mut runtime: Vec<_> = ids
            .iter()
            .enumerate()
            .map(|(i, id)| {
                rt(
                    &i.to_string(),
                    RuntimeIdentity::Linked(*id),
                    &format!("h{i}"),
                )
            })
            .collect();
        runtime[3].hash = Ok("edited in prod".into());
        runtime.push(rt("extra", RuntimeIdentity::Untracked, "new"));
        let c = compare(&runtime, &git);
        assert_eq!((c.in_sync, c.with_drift, c.not_in_git), (4, 1, 1));
        assert_eq!(c.untracked, 1);
        assert_eq!(
            kinds(&c),
            vec![
                (DriftKind::Modified, "3".into()),
                (DriftKind::AddedInRuntime, "extra".into())
            ]
        );
    }

    #[test]
    fn untracked_copies_of_git_content_are_not_drift() {
        let a = Uuid::new_v4();
        let c = compare(
            &[rt("1", RuntimeIdentity::Untracked, "h1")],
            &[file("a.json", Some(a), "h1")],
        );
        assert_eq!(
            (c.in_sync, c.with_drift, c.not_in_git, c.missing_in_runtime),
            (1, 0, 0, 0)
        );
        // the folder still makes the environment tracked: unlinking does not hide drift
        assert_eq!(c.tracked, 1);
    }

    #[test]
    fn unlinking_everything_does_not_hide_drift() {
        let a = Uuid::new_v4();
        let c = compare(
            &[rt("1", RuntimeIdentity::Untracked, "edited")],
            &[file("a.json", Some(a), "h1")],
        );
        assert_eq!(c.tracked, 1);
        assert_eq!(
            (c.not_in_git, c.missing_in_runtime, c.with_drift),
            (1, 1, 1)
        );
    }

    #[test]
    fn files_gone_from_the_runtime_are_drift() {
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let c = compare(
            &[rt("1", RuntimeIdentity::Linked(a), "h1")],
            &[file("a.json", Some(a), "h1"), file("b.json", Some(b), "h2")],
        );
        assert_eq!((c.in_sync, c.with_drift, c.missing_in_runtime), (1, 1, 1));
        assert_eq!(
            kinds(&c),
            vec![(DriftKind::MissingInRuntime, "b.json".into())]
        );
    }

    #[test]
    fn linked_without_a_file_is_added_in_runtime_and_ignored_is_never_drift() {
        let a = Uuid::new_v4();
        let c = compare(
            &[
                rt("1", RuntimeIdentity::Linked(a), "h1"),
                rt("2", RuntimeIdentity::Ignored, "whatever"),
            ],
            &[],
        );
        assert_eq!((c.not_in_git, c.ignored, c.with_drift), (1, 1, 0));
        assert_eq!(c.tracked, 1);
        assert_eq!(kinds(&c), vec![(DriftKind::AddedInRuntime, "1".into())]);
    }

    #[test]
    fn nothing_tracked_when_nothing_is_linked_and_the_folder_is_empty() {
        let c = compare(&[rt("1", RuntimeIdentity::Untracked, "h")], &[]);
        assert_eq!(c.tracked, 0);
        assert_eq!(c.not_in_git, 1);
    }

    #[test]
    fn unreadable_items_are_reported_not_guessed() {
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let runtime = vec![
            RuntimeWorkflow {
                hash: Err("bad json".into()),
                ..rt("1", RuntimeIdentity::Linked(a), "")
            },
            rt("2", RuntimeIdentity::Linked(b), "h2"),
        ];
        let git = vec![
            file("a.json", Some(a), "h1"),
            GitWorkflow {
                hash: Err("line 1".into()),
                ..file("b.json", Some(b), "")
            },
        ];
        let c = compare(&runtime, &git);
        assert!(c.is_partial());
        assert_eq!(c.unreadable.len(), 2);
        assert_eq!(
            (c.in_sync, c.with_drift, c.not_in_git, c.missing_in_runtime),
            (0, 0, 0, 0)
        );
    }
}
