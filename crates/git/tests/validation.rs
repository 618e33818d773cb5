//! Every row of the shared validation table (`cases/validation.rs`) against the adapter: the
//! pure rules of `wfops_git::validate`, and the adapter's own entry points (`Mirror::open` for
//! URLs and branches, `Mirror::read_tree` for folders), which must agree with them.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on broken setup

#[path = "cases/validation.rs"]
mod cases;
mod common;

use cases::{Field, Verdict, CASES};
use common::{bare_remote, push_files};
use wfops_git::validate::{self, Subject};
use wfops_git::{GitAuth, GitError, Mirror, RemoteSpec, Secret, SshKeySource};

#[test]
fn the_pure_rules_follow_the_table() {
    for case in CASES {
        let got = match case.field {
            Field::RepoUrl => validate::remote_url(case.value).map(|t| t.to_string()),
            Field::Branch => validate::branch(case.value).map(|()| String::new()),
            Field::Folder => validate::folder(case.value).map(|()| String::new()),
        };
        match (case.verdict, got) {
            (Verdict::Accept(transport), Ok(t)) => assert_eq!(t, transport, "{case:?}"),
            (Verdict::Refuse(needle), Err(e)) => {
                let subject = match case.field {
                    Field::RepoUrl => Subject::RemoteUrl,
                    Field::Branch => Subject::Branch,
                    Field::Folder => Subject::Folder,
                };
                assert_eq!(e.subject, subject, "{case:?}");
                assert!(e.reason.contains(needle), "{case:?}: {}", e.reason);
                assert!(!e.reason.contains("hunter2"), "{case:?}: {}", e.reason);
            }
            (verdict, got) => panic!("{case:?}: expected {verdict:?}, got {got:?}"),
        }
    }
}

/// Every branch the rules accept is a branch libgit2 can create.
#[test]
fn accepted_branches_are_valid_refs_for_libgit2() {
    for case in CASES.iter().filter(|c| c.field == Field::Branch) {
        let valid = git2::Reference::is_valid_name(&format!("refs/heads/{}", case.value));
        if let Verdict::Accept(_) = case.verdict {
            assert!(valid, "{case:?}");
        }
    }
}

#[test]
fn the_adapter_opens_exactly_the_remotes_and_branches_the_table_accepts() {
    let tmp = tempfile::tempdir().unwrap();
    let key = tmp.path().join("id_ed25519");
    std::fs::write(&key, "not read before a connection").unwrap();
    let local = bare_remote(tmp.path(), "remote.git");
    for (i, case) in CASES
        .iter()
        .filter(|c| c.field != Field::Folder)
        .enumerate()
    {
        let (url, branch) = match case.field {
            Field::RepoUrl => (case.value.to_string(), "main"),
            _ => (local.to_str().unwrap().to_string(), case.value),
        };
        // the credentials that fit the transport, so that only the URL or branch can fail
        let auth = match validate::remote_url(&url) {
            Ok(validate::Transport::Ssh) => GitAuth::SshKey {
                key: SshKeySource::Path(key.clone()),
                passphrase: None,
            },
            Ok(validate::Transport::Http { .. }) => GitAuth::Token(Secret::new("t0k".into())),
            _ => GitAuth::None,
        };
        let cache = tmp.path().join(format!("cache-{i}"));
        let opened = Mirror::open(&cache, &RemoteSpec::new(url, branch, auth));
        match (case.verdict, opened) {
            (Verdict::Accept(_), Ok(_)) => {}
            (Verdict::Refuse(needle), Err(GitError::InvalidRemote { reason, url })) => {
                assert!(reason.contains(needle), "{case:?}: {reason}");
                assert!(!url.contains("hunter2"), "{case:?}: {url}");
            }
            (verdict, got) => panic!("{case:?}: expected {verdict:?}, got {got:?}"),
        }
    }
}

#[test]
fn the_adapter_reads_exactly_the_folders_the_table_accepts() {
    let tmp = tempfile::tempdir().unwrap();
    let remote = bare_remote(tmp.path(), "remote.git");
    push_files(
        &remote,
        "main",
        &[("workflows/dev/a.json", Some("{}"))],
        "seed",
    );
    let spec = RemoteSpec::new(remote.to_str().unwrap(), "main", GitAuth::None);
    let mirror = Mirror::open(&tmp.path().join("cache"), &spec).unwrap();
    let head = mirror.fetch_branch().unwrap();
    for case in CASES.iter().filter(|c| c.field == Field::Folder) {
        match (case.verdict, mirror.read_tree(&head, case.value)) {
            (Verdict::Accept(_), Ok(files)) => {
                assert_eq!(files.len(), usize::from(case.value == "dev"), "{case:?}")
            }
            (Verdict::Refuse(needle), Err(GitError::InvalidPath { reason, .. })) => {
                assert!(reason.contains(needle), "{case:?}: {reason}")
            }
            (verdict, got) => panic!("{case:?}: expected {verdict:?}, got {got:?}"),
        }
    }
}
