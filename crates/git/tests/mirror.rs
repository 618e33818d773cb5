// Test code: a failed unwrap or expect is the test's failure message (clippy.toml allows them
// in tests, but not yet in the helpers of integration tests).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::TcpListener;

use common::{author, bare_remote, clone_files, git, push_files, spec};
use wfops_git::{
    CommitSha, FileChange, GitAuth, GitError, Mirror, RemoteSpec, Secret, SshKeySource,
};

#[test]
fn reads_a_workflow_folder_at_a_commit() {
    let tmp = tempfile::tempdir().unwrap();
    let remote = bare_remote(tmp.path(), "remote.git");
    let first = push_files(
        &remote,
        "main",
        &[
            ("workflows/prod/b.json", Some(r#"{"name":"b"}"#)),
            ("workflows/prod/a.json", Some(r#"{"name":"a"}"#)),
            ("workflows/prod/notes.md", Some("not a workflow")),
            ("workflows/prod/archive/old.json", Some("{}")),
            ("workflows/dev/d.json", Some("{}")),
            ("README.md", Some("hi")),
        ],
        "seed",
    );
    let mirror = Mirror::open(&tmp.path().join("cache"), &spec(remote.to_str().unwrap())).unwrap();
    let head = mirror.fetch_branch().unwrap();
    assert_eq!(head.as_str(), first);
    assert_eq!(mirror.local_head().unwrap(), Some(head.clone()));

    let files = mirror.read_tree(&head, "prod").unwrap();
    let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(paths, ["workflows/prod/a.json", "workflows/prod/b.json"]);
    assert_eq!(files[0].bytes, br#"{"name":"a"}"#);
    assert_eq!(
        files[0].blob_sha,
        git(
            &remote,
            &["rev-parse", &format!("{first}:workflows/prod/a.json")]
        )
    );
    assert!(mirror.read_tree(&head, "staging").unwrap().is_empty());

    // An unchanged remote downloads nothing, and the remote is never saved in the mirror.
    let packs = pack_count(mirror.path());
    assert!(packs > 0);
    assert_eq!(mirror.fetch().unwrap(), Some(head.clone()));
    assert_eq!(pack_count(mirror.path()), packs);
    let config = std::fs::read_to_string(mirror.path().join("config")).unwrap();
    assert!(!config.contains("remote"), "{config}");
    let expected_time: i64 = git(&remote, &["show", "-s", "--format=%ct", &first])
        .parse()
        .unwrap();
    assert_eq!(
        mirror.commit_time(&head).unwrap().timestamp(),
        expected_time
    );

    // A later commit does not change what the earlier one reads.
    let second = push_files(
        &remote,
        "main",
        &[
            ("workflows/prod/a.json", Some(r#"{"name":"a2"}"#)),
            ("workflows/prod/b.json", None),
        ],
        "change",
    );
    let new_head = mirror.fetch().unwrap().unwrap();
    assert_eq!(new_head.as_str(), second);
    let now = mirror.read_tree(&new_head, "prod").unwrap();
    assert_eq!(now.len(), 1);
    assert_eq!(now[0].bytes, br#"{"name":"a2"}"#);
    assert_eq!(mirror.read_tree(&head, "prod").unwrap(), files);

    // A mirror opened again on the same cache starts from what was fetched.
    let again = Mirror::open(&tmp.path().join("cache"), &spec(remote.to_str().unwrap())).unwrap();
    assert_eq!(again.path(), mirror.path());
    assert_eq!(again.local_head().unwrap(), Some(new_head));
}

fn pack_count(mirror: &std::path::Path) -> usize {
    std::fs::read_dir(mirror.join("objects/pack"))
        .map(|dir| {
            dir.filter(|e| {
                e.as_ref()
                    .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "pack"))
            })
            .count()
        })
        .unwrap_or(0)
}

#[test]
fn read_rejects_bad_folders_and_unknown_commits() {
    let tmp = tempfile::tempdir().unwrap();
    let remote = bare_remote(tmp.path(), "remote.git");
    push_files(
        &remote,
        "main",
        &[("workflows/prod", Some("a file"))],
        "seed",
    );
    let mirror = Mirror::open(&tmp.path().join("cache"), &spec(remote.to_str().unwrap())).unwrap();
    let head = mirror.fetch_branch().unwrap();
    for folder in ["../prod", "", "/prod", ".git"] {
        assert!(
            matches!(
                mirror.read_tree(&head, folder),
                Err(GitError::InvalidPath { .. })
            ),
            "{folder:?}"
        );
    }
    let err = mirror.read_tree(&head, "prod").unwrap_err();
    assert!(err.to_string().contains("is a file, not a folder"), "{err}");
    let unknown: CommitSha = "0123456789abcdef0123456789abcdef01234567".parse().unwrap();
    assert!(matches!(
        mirror.read_tree(&unknown, "prod"),
        Err(GitError::CommitNotFound { .. })
    ));
    assert!(matches!(
        mirror.commit_time(&unknown),
        Err(GitError::CommitNotFound { .. })
    ));
}

#[test]
fn commit_and_push_to_a_bare_repository_by_path() {
    let tmp = tempfile::tempdir().unwrap();
    let remote = bare_remote(tmp.path(), "remote.git");
    push_and_check(tmp.path(), remote.to_str().unwrap().to_string());
}

#[test]
fn commit_and_push_to_a_bare_repository_by_file_url() {
    let tmp = tempfile::tempdir().unwrap();
    let remote = bare_remote(tmp.path(), "remote.git");
    push_and_check(tmp.path(), format!("file://{}", remote.display()));
}

/// Creates the branch in an empty bare repository, then changes it; the git CLI checks both.
fn push_and_check(root: &std::path::Path, url: String) {
    let remote = root.join("remote.git");
    let mirror = Mirror::open(&root.join("cache"), &spec(url.clone())).unwrap();
    assert_eq!(
        mirror.fetch().unwrap(),
        None,
        "empty remote has no branch yet"
    );
    let outcome = mirror
        .commit_and_push(
            &[
                FileChange::write("workflows/prod/one.json", r#"{"name":"one"}"#),
                FileChange::write("workflows/prod/two.json", r#"{"name":"two"}"#),
            ],
            "Onboard prod",
            &author(),
        )
        .unwrap();
    assert!(outcome.changed);
    assert_eq!(
        git(&remote, &["rev-parse", "main"]),
        outcome.commit.as_str()
    );
    assert_eq!(
        git(&remote, &["rev-list", "--count", "main"]),
        "1",
        "the branch was created with a root commit"
    );
    let files = clone_files(&url, "main");
    assert_eq!(files.len(), 2, "{files:?}");
    assert_eq!(files["workflows/prod/one.json"], r#"{"name":"one"}"#);
    let log = git(&remote, &["log", "-1", "--format=%an <%ae>|%cn|%s", "main"]);
    assert_eq!(
        log,
        "WorkflowOps <bot@workflowops.test>|WorkflowOps|Onboard prod"
    );

    let second = mirror
        .commit_and_push(
            &[
                FileChange::delete("workflows/prod/one.json"),
                FileChange::delete("workflows/prod/two.json"),
                FileChange::write("workflows/dev/x.json", "{}"),
            ],
            "Move",
            &author(),
        )
        .unwrap();
    assert!(second.changed);
    assert_eq!(
        git(&remote, &["rev-parse", "main^"]),
        outcome.commit.as_str()
    );
    assert_eq!(
        git(&remote, &["ls-tree", "--name-only", "main", "workflows/"]),
        "workflows/dev",
        "a folder whose last file is deleted disappears"
    );
    let files = clone_files(&url, "main");
    assert_eq!(files.keys().collect::<Vec<_>>(), ["workflows/dev/x.json"]);
    assert_eq!(mirror.local_head().unwrap(), Some(second.commit));
}

#[test]
fn an_unchanged_tree_is_not_committed_again() {
    let tmp = tempfile::tempdir().unwrap();
    let remote = bare_remote(tmp.path(), "remote.git");
    push_files(&remote, "main", &[("README.md", Some("hi"))], "seed");
    let mirror = Mirror::open(&tmp.path().join("cache"), &spec(remote.to_str().unwrap())).unwrap();
    let changes = [
        FileChange::write("workflows/prod/a.json", "{\"a\":1}\n"),
        FileChange::delete("workflows/prod/never-existed.json"),
    ];
    let first = mirror
        .commit_and_push(&changes, "Onboard", &author())
        .unwrap();
    assert!(first.changed);
    let second = mirror
        .commit_and_push(&changes, "Onboard", &author())
        .unwrap();
    assert!(!second.changed);
    assert_eq!(second.commit, first.commit);
    assert_eq!(git(&remote, &["rev-list", "--count", "main"]), "2");

    // A fresh mirror (another worker) reaches the same answer.
    let other = Mirror::open(&tmp.path().join("cache2"), &spec(remote.to_str().unwrap())).unwrap();
    let third = other
        .commit_and_push(&changes, "Onboard", &author())
        .unwrap();
    assert_eq!(third, second);
}

#[test]
fn a_missing_branch_is_none_on_fetch_and_branch_not_found_on_read() {
    let tmp = tempfile::tempdir().unwrap();
    let remote = bare_remote(tmp.path(), "remote.git");
    let url = remote.to_str().unwrap();

    // Empty repository.
    let empty = Mirror::open(&tmp.path().join("cache"), &spec(url)).unwrap();
    assert_eq!(empty.fetch().unwrap(), None);
    assert!(matches!(
        empty.fetch_branch(),
        Err(GitError::BranchNotFound { branch, .. }) if branch == "main"
    ));

    // Repository with another branch only.
    push_files(&remote, "main", &[("a.json", Some("{}"))], "seed");
    let release = RemoteSpec::new(url, "release", GitAuth::None);
    let mirror = Mirror::open(&tmp.path().join("cache"), &release).unwrap();
    assert_eq!(mirror.fetch().unwrap(), None);
    let err = mirror.fetch_branch().unwrap_err();
    assert!(matches!(err, GitError::BranchNotFound { .. }), "{err:?}");
    assert!(err.to_string().contains("\"release\""), "{err}");

    // A branch deleted on the remote is forgotten by the mirror.
    push_files(&remote, "release", &[("b.json", Some("{}"))], "release");
    assert!(mirror.fetch().unwrap().is_some());
    git(&remote, &["branch", "-D", "release"]);
    assert_eq!(mirror.fetch().unwrap(), None);
    assert_eq!(mirror.local_head().unwrap(), None);
}

#[test]
fn a_missing_path_is_unreachable_and_a_plain_folder_is_not_a_repository() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let missing = tmp.path().join("no-such-repo");
    for url in [
        missing.display().to_string(),
        format!("file://{}", missing.display()),
    ] {
        let mirror = Mirror::open(&cache, &spec(url.clone())).unwrap();
        let err = mirror.fetch().unwrap_err();
        assert!(
            matches!(err, GitError::Unreachable { .. }),
            "{url}: {err:?}"
        );
        let err = mirror
            .commit_and_push(&[FileChange::write("a.json", "{}")], "m", &author())
            .unwrap_err();
        assert!(
            matches!(err, GitError::Unreachable { .. }),
            "{url}: {err:?}"
        );
    }

    let plain = tmp.path().join("plain");
    std::fs::create_dir_all(&plain).unwrap();
    std::fs::write(plain.join("file.txt"), "x").unwrap();
    let mirror = Mirror::open(&cache, &spec(plain.to_str().unwrap())).unwrap();
    let err = mirror.fetch().unwrap_err();
    assert!(matches!(err, GitError::NotAGitRepository { .. }), "{err:?}");
}

/// A port that nothing listens on: bound, then released.
fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[test]
fn an_ssh_remote_on_a_closed_port_is_unreachable() {
    let tmp = tempfile::tempdir().unwrap();
    let key = tmp.path().join("id_ed25519");
    std::fs::write(&key, "not really a key").unwrap();
    let spec = RemoteSpec::new(
        format!("ssh://git@127.0.0.1:{}/org/repo.git", closed_port()),
        "main",
        GitAuth::SshKey {
            key: SshKeySource::Path(key),
            passphrase: Some(Secret::new("pass-phrase-xyz".into())),
        },
    );
    let mirror = Mirror::open(&tmp.path().join("cache"), &spec).unwrap();
    let err = mirror.fetch().unwrap_err();
    assert!(matches!(err, GitError::Unreachable { .. }), "{err:?}");
    assert!(!format!("{err} {err:?}").contains("pass-phrase-xyz"));
}

#[test]
fn an_https_remote_on_a_closed_port_is_unreachable_and_hides_the_token() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = RemoteSpec::new(
        format!("https://127.0.0.1:{}/org/repo.git", closed_port()),
        "main",
        GitAuth::Token(Secret::new("ghp_closedPortToken".into())),
    );
    let mirror = Mirror::open(&tmp.path().join("cache"), &spec).unwrap();
    let err = mirror.fetch().unwrap_err();
    assert!(matches!(err, GitError::Unreachable { .. }), "{err:?}");
    assert!(!format!("{err} {err:?} {mirror:?}").contains("ghp_closedPortToken"));
}

#[test]
fn a_missing_ssh_key_file_is_reported_before_connecting() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = RemoteSpec::new(
        "git@example.invalid:org/repo.git",
        "main",
        GitAuth::SshKey {
            key: SshKeySource::Path(tmp.path().join("absent")),
            passphrase: None,
        },
    );
    let err = Mirror::open(&tmp.path().join("cache"), &spec).unwrap_err();
    assert!(
        matches!(&err, GitError::InvalidRemote { reason, .. } if reason.contains("does not exist")),
        "{err:?}"
    );
}

#[test]
fn invalid_paths_and_commits_are_rejected_before_anything_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let remote = bare_remote(tmp.path(), "remote.git");
    let seed = push_files(
        &remote,
        "main",
        &[("workflows/prod/a.json", Some("{}"))],
        "seed",
    );
    let mirror = Mirror::open(&tmp.path().join("cache"), &spec(remote.to_str().unwrap())).unwrap();
    let bad = [
        "../escape.json",
        "/etc/passwd",
        ".git/config",
        "workflows/.git/hooks/x",
        "workflows//a.json",
        "workflows\\a.json",
        "",
        // Clashes with what the repository holds.
        "workflows/prod",
        "workflows/prod/a.json/inner.json",
    ];
    for path in bad {
        let err = mirror
            .commit_and_push(&[FileChange::write(path, "{}")], "bad", &author())
            .unwrap_err();
        assert!(
            matches!(err, GitError::InvalidPath { .. }),
            "{path:?}: {err:?}"
        );
    }
    for (message, name) in [(" ", "A"), ("ok", "")] {
        let err = mirror
            .commit_and_push(
                &[FileChange::write("x.json", "{}")],
                message,
                &wfops_git::Author::new(name, "a@b.c"),
            )
            .unwrap_err();
        assert!(matches!(err, GitError::InvalidCommit { .. }), "{err:?}");
    }
    assert_eq!(
        git(&remote, &["rev-parse", "main"]),
        seed,
        "the remote is untouched"
    );
}

#[test]
fn a_checked_out_branch_of_a_working_repository_is_read_but_not_pushed_to() {
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path().join("work");
    std::fs::create_dir_all(work.join("workflows/dev")).unwrap();
    git(&work, &["init", "-q", "-b", "main"]);
    std::fs::write(work.join("workflows/dev/a.json"), "{}").unwrap();
    git(&work, &["add", "-A"]);
    git(&work, &["commit", "-q", "-m", "seed"]);
    let before = git(&work, &["rev-parse", "HEAD"]);

    let mirror = Mirror::open(&tmp.path().join("cache"), &spec(work.to_str().unwrap())).unwrap();
    let head = mirror.fetch_branch().unwrap();
    assert_eq!(mirror.read_tree(&head, "dev").unwrap().len(), 1);
    let err = mirror
        .commit_and_push(
            &[FileChange::write("workflows/dev/b.json", "{}")],
            "m",
            &author(),
        )
        .unwrap_err();
    assert!(
        matches!(&err, GitError::PushRejected { message, .. } if message.contains("checked out")),
        "{err:?}"
    );
    assert_eq!(git(&work, &["rev-parse", "HEAD"]), before);
}
