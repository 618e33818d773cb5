//! Real Git repositories on disk for the repository-sync and onboarding tests, driven by the
//! git CLI so that what the engine commits is checked by Git itself.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use uuid::Uuid;
use wfops_db::canonical::CanonicalWorkflow;
use wfops_db::environments::{self, EnvironmentChanges};
use wfops_db::git_state::{self, GitState};
use wfops_db::ScopedFutureExt;

use crate::common::Harness;

pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .args([
            "-c",
            "user.name=Test Person",
            "-c",
            "user.email=test@example.com",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .output()
        .expect("git CLI runs");
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// An empty bare repository whose HEAD names `main`, inside `root`.
pub fn bare_remote(root: &Path) -> PathBuf {
    let path = root.join("origin.git");
    std::fs::create_dir_all(&path).unwrap();
    git(&path, &["init", "--bare", "-q", "-b", "main"]);
    path
}

pub fn file_url(path: &Path) -> String {
    format!("file://{}", path.display())
}

/// Clones `remote`, writes (`Some`) or deletes (`None`) the files, commits and pushes `main`;
/// returns the new head.
pub fn push_files(remote: &Path, files: &[(&str, Option<&[u8]>)], message: &str) -> String {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("w");
    git(work.path(), &["clone", "-q", remote.to_str().unwrap(), "w"]);
    let has_branch = !git(&dir, &["ls-remote", "--heads", "origin", "main"]).is_empty();
    if has_branch {
        git(&dir, &["checkout", "-q", "main"]);
    } else {
        git(&dir, &["checkout", "-q", "--orphan", "main"]);
    }
    for (path, content) in files {
        let full = dir.join(path);
        match content {
            Some(bytes) => {
                std::fs::create_dir_all(full.parent().unwrap()).unwrap();
                std::fs::write(&full, bytes).unwrap();
            }
            None => {
                let _ = std::fs::remove_file(&full);
            }
        }
    }
    git(&dir, &["add", "-A"]);
    git(&dir, &["commit", "-q", "-m", message]);
    git(&dir, &["push", "-q", "origin", "HEAD:refs/heads/main"]);
    git(&dir, &["rev-parse", "HEAD"])
}

/// Commits on `main` of the bare repository.
pub fn commit_count(remote: &Path) -> usize {
    match Command::new("git")
        .arg("--git-dir")
        .arg(remote)
        .args(["rev-list", "--count", "main"])
        .output()
    {
        Ok(out) if out.status.success() => {
            String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
        }
        _ => 0,
    }
}

pub fn head(remote: &Path) -> String {
    git(remote, &["rev-parse", "main"])
}

/// Paths of the files changed by the head commit.
pub fn files_in_head_commit(remote: &Path) -> Vec<String> {
    let out = git(remote, &["show", "--name-only", "--pretty=format:", "main"]);
    let mut files: Vec<String> = out
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    files.sort();
    files
}

/// Every file under `workflows/<folder>/` at the head of `main`.
pub fn ls_folder(remote: &Path, folder: &str) -> Vec<String> {
    let out = git(
        remote,
        &[
            "ls-tree",
            "--name-only",
            "main",
            &format!("workflows/{folder}/"),
        ],
    );
    out.lines().map(str::to_owned).collect()
}

pub fn show(remote: &Path, path: &str) -> String {
    git(remote, &["show", &format!("main:{path}")])
}

/// A small valid workflow named `name`, distinct per `i`, as the bytes of a Git file.
pub fn workflow_file(name: &str, i: usize) -> Vec<u8> {
    let mut doc = wfops_fake_n8n::generated_workflow(i);
    doc["name"] = Value::String(name.to_owned());
    wfops_diff::portable_value(&doc).unwrap()
}

pub fn hash_of(bytes: &[u8]) -> String {
    wfops_diff::content_hash(bytes).unwrap().to_hex()
}

impl Harness {
    /// Points the environment at a repository, with a folder and optionally a token.
    pub async fn set_git(&self, env: Uuid, url: &str, branch: &str, token: Option<&str>) {
        let token = token.map(|t| self.ctx.cipher.encrypt_str(t).unwrap());
        let changes = EnvironmentChanges {
            git_repo_url: Some(Some(url.to_owned())),
            git_branch: Some(branch.to_owned()),
            git_token_encrypted: Some(token),
            ..Default::default()
        };
        self.ctx
            .db
            .tenant_tx(self.tenant, move |conn| {
                async move { environments::update(conn, env, &changes).await }.scope_boxed()
            })
            .await
            .expect("set git");
    }

    pub async fn git_states(&self, env: Uuid) -> Vec<GitState> {
        let tenant = self.tenant;
        let rows: Vec<GitState> = self
            .ctx
            .db
            .tenant_tx(tenant, move |conn| {
                async move {
                    let summaries = git_state::summaries_for_environment(conn, env).await?;
                    let mut out = Vec::new();
                    for s in summaries {
                        if let Some(row) = git_state::get(conn, s.canonical_id, env).await? {
                            out.push(row);
                        }
                    }
                    Ok::<_, wfops_db::Error>(out)
                }
                .scope_boxed()
            })
            .await
            .expect("git states");
        rows
    }

    pub async fn canonical(&self, id: Uuid) -> CanonicalWorkflow {
        self.ctx
            .db
            .tenant_tx(self.tenant, move |conn| {
                async move { wfops_db::canonical::get(conn, id).await }.scope_boxed()
            })
            .await
            .expect("canonical")
    }

    /// Every canonical workflow of the tenant, by slug.
    pub async fn canonicals(&self) -> Vec<CanonicalWorkflow> {
        let slugs: Vec<String> = self
            .ctx
            .db
            .tenant_tx(self.tenant, |conn| {
                async move { wfops_db::canonical::all_slugs(conn).await }.scope_boxed()
            })
            .await
            .expect("slugs");
        let mut out = Vec::new();
        for s in slugs {
            let found = self
                .ctx
                .db
                .tenant_tx(self.tenant, move |conn| {
                    async move {
                        wfops_db::canonical::find_by_slugs(conn, std::slice::from_ref(&s)).await
                    }
                    .scope_boxed()
                })
                .await
                .expect("canonical by slug");
            for c in found {
                out.push(self.canonical(c.id).await);
            }
        }
        out.sort_by(|a, b| a.canonical_slug.cmp(&b.canonical_slug));
        out
    }

    /// The hash registry's canonical id for a hash.
    pub async fn registered(&self, hash: &str) -> Option<Uuid> {
        let hash = hash.to_owned();
        self.ctx
            .db
            .tenant_tx(self.tenant, move |conn| {
                async move { wfops_db::hash_registry::get(conn, &hash).await }.scope_boxed()
            })
            .await
            .expect("registry")
            .map(|e| e.canonical_id)
    }
}
