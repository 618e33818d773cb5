//! Real repositories on disk, driven by the git CLI so that the adapter is checked against
//! Git itself rather than against libgit2 reading its own output.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use wfops_git::{Author, GitAuth, RemoteSpec};

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

/// An empty bare repository whose HEAD names `main`.
pub fn bare_remote(root: &Path, name: &str) -> PathBuf {
    let path = root.join(name);
    std::fs::create_dir_all(&path).unwrap();
    git(&path, &["init", "--bare", "-q", "-b", "main"]);
    path
}

/// Clones `remote`, applies the files (`None` deletes), commits and pushes `branch`.
pub fn push_files(
    remote: &Path,
    branch: &str,
    files: &[(&str, Option<&str>)],
    message: &str,
) -> String {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("w");
    git(work.path(), &["clone", "-q", remote.to_str().unwrap(), "w"]);
    let has_branch = !git(&dir, &["ls-remote", "--heads", "origin", branch]).is_empty();
    if has_branch {
        git(&dir, &["checkout", "-q", branch]);
    } else {
        git(&dir, &["checkout", "-q", "--orphan", branch]);
    }
    for (path, content) in files {
        let full = dir.join(path);
        match content {
            Some(text) => {
                std::fs::create_dir_all(full.parent().unwrap()).unwrap();
                std::fs::write(&full, text).unwrap();
            }
            None => {
                let _ = std::fs::remove_file(&full);
            }
        }
    }
    git(&dir, &["add", "-A"]);
    git(&dir, &["commit", "-q", "-m", message]);
    git(
        &dir,
        &["push", "-q", "origin", &format!("HEAD:refs/heads/{branch}")],
    );
    git(&dir, &["rev-parse", "HEAD"])
}

/// Every file of `branch` as cloned by the git CLI, by path.
pub fn clone_files(remote: &str, branch: &str) -> BTreeMap<String, String> {
    let work = tempfile::tempdir().unwrap();
    git(work.path(), &["clone", "-q", "-b", branch, remote, "c"]);
    let root = work.path().join("c");
    let mut files = BTreeMap::new();
    collect(&root, &root, &mut files);
    files
}

fn collect(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().is_some_and(|n| n == ".git") {
            continue;
        }
        if path.is_dir() {
            collect(root, &path, out);
        } else {
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            out.insert(rel, std::fs::read_to_string(&path).unwrap());
        }
    }
}

pub fn spec(url: impl Into<String>) -> RemoteSpec {
    RemoteSpec::new(url, "main", GitAuth::None)
}

pub fn author() -> Author {
    Author::new("WorkflowOps", "bot@workflowops.test")
}
