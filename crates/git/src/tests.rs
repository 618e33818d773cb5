//! Races that need a hook between building a commit and pushing it, which only unit tests can
//! reach.

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use crate::{Author, FileChange, GitAuth, GitError, Mirror, RemoteSpec, MAX_PUSH_ATTEMPTS};

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .args([
            "-c",
            "user.name=Other",
            "-c",
            "user.email=other@example.com",
        ])
        .args(args)
        .output()
        .expect("git CLI runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Someone else's push: clone, write one file, push to main.
fn competing_push(remote: &Path, path: &str, content: &str) -> String {
    let work = tempfile::tempdir().unwrap();
    git(work.path(), &["clone", "-q", remote.to_str().unwrap(), "w"]);
    let dir = work.path().join("w");
    // Works for the empty remote too: `-B` creates main when there is nothing to check out.
    git(&dir, &["checkout", "-q", "-B", "main"]);
    let full = dir.join(path);
    std::fs::create_dir_all(full.parent().unwrap()).unwrap();
    std::fs::write(full, content).unwrap();
    git(&dir, &["add", "-A"]);
    git(&dir, &["commit", "-q", "-m", "competing change"]);
    git(&dir, &["push", "-q", "origin", "HEAD:main"]);
    git(&dir, &["rev-parse", "HEAD"])
}

fn seeded_remote(root: &Path) -> std::path::PathBuf {
    let remote = root.join("remote.git");
    std::fs::create_dir_all(&remote).unwrap();
    git(&remote, &["init", "--bare", "-q", "-b", "main"]);
    competing_push(&remote, "README.md", "seed");
    remote
}

fn author() -> Author {
    Author::new("WorkflowOps", "bot@workflowops.test")
}

#[test]
fn a_push_rejected_because_the_remote_moved_is_rebuilt_on_the_new_head() {
    let tmp = tempfile::tempdir().unwrap();
    let remote = seeded_remote(tmp.path());
    let spec = RemoteSpec::new(remote.to_str().unwrap(), "main", GitAuth::None);
    let mut mirror = Mirror::open(&tmp.path().join("cache"), &spec).unwrap();
    let calls = Arc::new(AtomicU32::new(0));
    let competitor = Arc::new(std::sync::Mutex::new(String::new()));
    {
        let remote = remote.clone();
        let calls = calls.clone();
        let competitor = competitor.clone();
        mirror.before_push = Some(Box::new(move |attempt| {
            calls.fetch_add(1, Ordering::SeqCst);
            if attempt == 0 {
                // Same path with other content, and another file: ours must win on our path
                // and theirs must survive.
                competing_push(&remote, "workflows/prod/a.json", "theirs");
                let sha = competing_push(&remote, "workflows/prod/b.json", "theirs too");
                *competitor.lock().unwrap() = sha;
            }
        }));
    }
    let outcome = mirror
        .commit_and_push(
            &[FileChange::write("workflows/prod/a.json", "ours")],
            "Onboard",
            &author(),
        )
        .unwrap();
    assert!(outcome.changed);
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "one rejected attempt, one retry"
    );
    assert_eq!(
        git(&remote, &["rev-parse", "main"]),
        outcome.commit.as_str()
    );
    assert_eq!(
        git(&remote, &["rev-parse", "main^"]),
        *competitor.lock().unwrap(),
        "the retry is built on the competing head"
    );
    assert_eq!(
        git(&remote, &["show", "main:workflows/prod/a.json"]),
        "ours"
    );
    assert_eq!(
        git(&remote, &["show", "main:workflows/prod/b.json"]),
        "theirs too"
    );
}

#[test]
fn a_branch_that_keeps_moving_ends_in_push_rejected() {
    let tmp = tempfile::tempdir().unwrap();
    let remote = seeded_remote(tmp.path());
    let spec = RemoteSpec::new(remote.to_str().unwrap(), "main", GitAuth::None);
    let mut mirror = Mirror::open(&tmp.path().join("cache"), &spec).unwrap();
    let calls = Arc::new(AtomicU32::new(0));
    {
        let remote = remote.clone();
        let calls = calls.clone();
        mirror.before_push = Some(Box::new(move |attempt| {
            calls.fetch_add(1, Ordering::SeqCst);
            competing_push(&remote, "other.txt", &format!("move {attempt}"));
        }));
    }
    let err = mirror
        .commit_and_push(
            &[FileChange::write("workflows/x.json", "{}")],
            "m",
            &author(),
        )
        .unwrap_err();
    assert!(
        matches!(&err, GitError::PushRejected { message, .. } if message.contains("kept moving")),
        "{err:?}"
    );
    assert_eq!(calls.load(Ordering::SeqCst), MAX_PUSH_ATTEMPTS);
    assert_eq!(
        git(&remote, &["show", "main:other.txt"]),
        format!("move {}", MAX_PUSH_ATTEMPTS - 1)
    );
    assert!(
        !git(&remote, &["ls-tree", "-r", "--name-only", "main"]).contains("workflows/x.json"),
        "nothing of ours was pushed"
    );
}

#[test]
fn mirror_is_send() {
    fn assert_send<T: Send>() {}
    assert_send::<Mirror>();
    assert_send::<GitError>();
}
