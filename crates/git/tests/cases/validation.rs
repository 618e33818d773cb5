//! The one table of Git remote URL, branch and folder cases. The adapter's tests
//! (`crates/git/tests/validation.rs`) and the API's (`POST /environments` in
//! `apps/api/tests/environments.rs`) both run every row, so the two can not disagree.
#![allow(dead_code)]

/// Which setting of an environment the value is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    RepoUrl,
    Branch,
    Folder,
}

impl Field {
    /// The field's name in the API.
    pub fn api_name(self) -> &'static str {
        match self {
            Field::RepoUrl => "git_repo_url",
            Field::Branch => "git_branch",
            Field::Folder => "git_folder",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Accepted; for a URL, the transport it is reached by (`local`, `https`, `http`, `ssh`,
    /// `git`), else `""`.
    Accept(&'static str),
    /// Refused, with a reason that contains this text.
    Refuse(&'static str),
}

#[derive(Debug, Clone, Copy)]
pub struct Case {
    pub field: Field,
    pub value: &'static str,
    pub verdict: Verdict,
}

const fn url(value: &'static str, verdict: Verdict) -> Case {
    Case {
        field: Field::RepoUrl,
        value,
        verdict,
    }
}

const fn branch(value: &'static str, verdict: Verdict) -> Case {
    Case {
        field: Field::Branch,
        value,
        verdict,
    }
}

const fn folder(value: &'static str, verdict: Verdict) -> Case {
    Case {
        field: Field::Folder,
        value,
        verdict,
    }
}

use Verdict::{Accept, Refuse};

pub const CASES: &[Case] = &[
    // remote URLs Git can reach and that are safe to store
    url("/srv/git/workflows.git", Accept("local")),
    url("file:///srv/git/workflows.git", Accept("local")),
    url("https://github.com/acme/workflows.git", Accept("https")),
    url(
        "https://git.example.com:8443/acme/workflows",
        Accept("https"),
    ),
    url("http://localhost:3000/acme/workflows.git", Accept("http")),
    url("http://127.0.0.1:8080/repo.git", Accept("http")),
    url("http://[::1]:8080/repo.git", Accept("http")),
    url("ssh://git@github.com/acme/workflows.git", Accept("ssh")),
    url("ssh://git@host.example:2222/org/repo.git", Accept("ssh")),
    url("git+ssh://host.example/org/repo.git", Accept("ssh")),
    url("git@github.com:acme/workflows.git", Accept("ssh")),
    url("host.example:repo.git", Accept("ssh")),
    url("git://localhost/repo.git", Accept("git")),
    // remote URLs refused
    url("", Refuse("empty")),
    url("http://github.com/acme/workflows.git", Refuse("plain http")),
    url("git://github.com/acme/workflows.git", Refuse("git://")),
    url(
        "https://tok@github.com/a/b.git",
        Refuse("user name or token"),
    ),
    url(
        "https://user:hunter2@github.com/a/b.git",
        Refuse("password"),
    ),
    url("ssh://git:hunter2@github.com/a/b.git", Refuse("password")),
    url("ftp://host/repo.git", Refuse("unsupported URL scheme")),
    url("gopher://x/y", Refuse("unsupported URL scheme")),
    url("relative/path", Refuse("relative path")),
    url("file://", Refuse("without a path")),
    url("file://srv/repo.git", Refuse("absolute path")),
    url("https:///repo.git", Refuse("no host")),
    url("https://github.com", Refuse("no repository path")),
    url("https://github.com/a b.git", Refuse("spaces")),
    url(" https://github.com/a.git", Refuse("spaces")),
    url("https://github.com/a.git\n", Refuse("control")),
    url("ssh://-oProxyCommand=x/repo.git", Refuse("'-'")),
    url("-oProxyCommand=x:repo.git", Refuse("'-'")),
    url("@host.example:repo.git", Refuse("empty user name")),
    url("git@github.com:", Refuse("no repository path")),
    // branches (git check-ref-format --branch)
    branch("main", Accept("")),
    branch("release/2026.1", Accept("")),
    branch("feature_x-y", Accept("")),
    branch("a@b", Accept("")),
    branch("ümlaut", Accept("")),
    branch("", Refuse("empty")),
    branch("refs/heads/main", Refuse("short name")),
    branch("HEAD", Refuse("HEAD")),
    branch("@", Refuse("HEAD and @")),
    branch("-x", Refuse("'-'")),
    branch("a..b", Refuse("\"..\"")),
    branch("a b", Refuse("spaces")),
    branch("a\tb", Refuse("control")),
    branch("x.lock", Refuse(".lock")),
    branch("a:b", Refuse("':'")),
    branch("a~1", Refuse("'~'")),
    branch("a^", Refuse("'^'")),
    branch("a?", Refuse("'?'")),
    branch("a*", Refuse("'*'")),
    branch("a[b", Refuse("'['")),
    branch("a\\b", Refuse("'\\\\'")),
    branch("/a", Refuse("'/'")),
    branch("a/", Refuse("'/'")),
    branch("a//b", Refuse("\"//\"")),
    branch(".hidden", Refuse("begin with '.'")),
    branch("a/.b", Refuse("begin with '.'")),
    branch("a.", Refuse("end with '.'")),
    branch("a@{1}", Refuse("\"@{\"")),
    // folders below workflows/
    folder("dev", Accept("")),
    folder("teams/ops", Accept("")),
    folder("prod-eu_1", Accept("")),
    folder("release.2026", Accept("")),
    folder("", Refuse("empty")),
    folder("../etc", Refuse("'..'")),
    folder("a/../b", Refuse("'..'")),
    folder("./dev", Refuse("'.'")),
    folder(".git", Refuse("'.git'")),
    folder("dev/.git", Refuse("'.git'")),
    folder("dev/.GIT/hooks", Refuse("'.git'")),
    folder(".git./hooks", Refuse("'.git'")),
    folder("/dev", Refuse("absolute")),
    folder("dev/", Refuse("empty path component")),
    folder("a//b", Refuse("empty path component")),
    folder("a b", Refuse("not allowed")),
    folder("x;y", Refuse("not allowed")),
    folder("ü", Refuse("not allowed")),
    folder("dev\\x", Refuse("backslash")),
    folder("dev\nx", Refuse("control")),
];
