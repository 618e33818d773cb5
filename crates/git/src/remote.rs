use std::fmt;
use std::path::PathBuf;

use wfops_config::Secret;

use crate::error::{GitError, Result};
use crate::validate;

/// Where a repository lives and how to log in to it.
#[derive(Clone)]
pub struct RemoteSpec {
    /// A local path, `file://…`, `http(s)://host/…`, `ssh://[user@]host[:port]/…`,
    /// scp-like `user@host:path`, or `git://host/…`. Must not carry a password.
    pub url: String,
    /// The branch that is read and written (`main`, not `refs/heads/main`).
    pub branch: String,
    pub auth: GitAuth,
}

impl RemoteSpec {
    pub fn new(url: impl Into<String>, branch: impl Into<String>, auth: GitAuth) -> Self {
        Self {
            url: url.into(),
            branch: branch.into(),
            auth,
        }
    }
}

/// Hand-written so that a URL someone wrote with a password in it never reaches a log line,
/// even before [`crate::Mirror::open`] rejects it.
impl fmt::Debug for RemoteSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteSpec")
            .field("url", &redact_url(&self.url))
            .field("branch", &self.branch)
            .field("auth", &self.auth)
            .finish()
    }
}

/// Credentials for a remote. They are handed to libgit2 through its credentials callback only,
/// never written into a URL, the mirror's config or a message.
#[derive(Clone, Debug)]
pub enum GitAuth {
    /// Public repositories, local paths and `file://`.
    None,
    /// An access token sent as the HTTP Basic password (https, or http to a loopback host).
    /// The user name is the one in the URL (`https://user@host/…`), else `x-access-token`,
    /// which GitHub, GitLab and Gitea accept.
    Token(Secret<String>),
    /// An SSH private key (OpenSSH or PEM format) for `ssh://` and scp-like URLs. The user name
    /// is the one in the URL, else `git`.
    SshKey {
        key: SshKeySource,
        passphrase: Option<Secret<String>>,
    },
}

/// Where the SSH private key comes from: a file readable by the process, or the key itself
/// (as stored encrypted in the database).
#[derive(Clone, Debug)]
pub enum SshKeySource {
    Path(PathBuf),
    Pem(Secret<String>),
}

pub(crate) use crate::validate::Transport;

pub(crate) const DEFAULT_TOKEN_USER: &str = "x-access-token";
pub(crate) const DEFAULT_SSH_USER: &str = "git";

/// Checks the URL, branch and auth together and returns the transport. The URL and branch
/// rules are those of [`crate::validate`], which the API applies to what a person types.
pub(crate) fn validate(spec: &RemoteSpec) -> Result<Transport> {
    let shown = redact_url(&spec.url);
    let invalid = |reason: &str| GitError::InvalidRemote {
        url: shown.clone(),
        reason: reason.to_string(),
    };
    let transport = validate::remote_url(&spec.url).map_err(|e| invalid(&e.reason))?;
    validate::branch(&spec.branch).map_err(|e| invalid(&e.reason))?;

    match (&spec.auth, &transport) {
        (GitAuth::None, Transport::Ssh) => {
            return Err(invalid("an ssh remote needs an SSH key (GitAuth::SshKey)"))
        }
        (GitAuth::Token(token), Transport::Http { .. }) => {
            if token.expose().is_empty() {
                return Err(invalid("the token is empty"));
            }
        }
        (GitAuth::Token(_), _) => {
            return Err(invalid("a token can only be used with an http(s) remote"))
        }
        (GitAuth::SshKey { .. }, Transport::Ssh) => {}
        (GitAuth::SshKey { .. }, _) => {
            return Err(invalid("an SSH key can only be used with an ssh remote"))
        }
        (GitAuth::None, _) => {}
    }
    Ok(transport)
}

/// The URL with any `user:password@` reduced to `user:***@`, for messages and logs.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) if userinfo.contains(':') => {
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:***@{host}{path}")
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(url: &str, auth: GitAuth) -> RemoteSpec {
        RemoteSpec::new(url, "main", auth)
    }

    fn token() -> GitAuth {
        GitAuth::Token(Secret::new("tok-123".to_string()))
    }

    fn key() -> GitAuth {
        GitAuth::SshKey {
            key: SshKeySource::Path("/nonexistent/id_ed25519".into()),
            passphrase: None,
        }
    }

    #[test]
    fn transports_are_recognised() {
        let cases: &[(&str, GitAuth, Transport)] = &[
            (
                "/srv/repo.git",
                GitAuth::None,
                Transport::Local("/srv/repo.git".into()),
            ),
            (
                "file:///srv/repo.git",
                GitAuth::None,
                Transport::Local("/srv/repo.git".into()),
            ),
            (
                "https://git.example.com/org/repo.git",
                token(),
                Transport::Http {
                    tls: true,
                    loopback: false,
                },
            ),
            (
                "http://127.0.0.1:8080/repo.git",
                token(),
                Transport::Http {
                    tls: false,
                    loopback: true,
                },
            ),
            (
                "http://[::1]:8080/repo.git",
                token(),
                Transport::Http {
                    tls: false,
                    loopback: true,
                },
            ),
            ("ssh://git@host:2222/org/repo.git", key(), Transport::Ssh),
            ("git@github.com:org/repo.git", key(), Transport::Ssh),
            ("host.example:repo.git", key(), Transport::Ssh),
            (
                "git://localhost/repo.git",
                GitAuth::None,
                Transport::GitProtocol,
            ),
        ];
        for (url, auth, expected) in cases {
            let got = validate(&spec(url, auth.clone()));
            assert_eq!(got.as_ref().ok(), Some(expected), "{url}: {got:?}");
        }
    }

    #[test]
    fn bad_remotes_are_rejected_with_a_reason() {
        let cases: &[(&str, &str, GitAuth, &str)] = &[
            ("", "main", GitAuth::None, "empty"),
            (
                "ftp://host/repo",
                "main",
                GitAuth::None,
                "unsupported URL scheme",
            ),
            (
                "https://user:hunter2@host/repo",
                "main",
                GitAuth::None,
                "password",
            ),
            ("https:///repo", "main", GitAuth::None, "no host"),
            ("http://git.example.com/repo", "main", token(), "plain http"),
            ("/srv/repo", "main", token(), "only be used with an http"),
            (
                "https://host/repo",
                "main",
                key(),
                "only be used with an ssh",
            ),
            (
                "ssh://git@host/repo",
                "main",
                GitAuth::None,
                "needs an SSH key",
            ),
            ("/srv/repo", "", GitAuth::None, "branch name"),
            ("/srv/repo", "refs/heads/main", GitAuth::None, "branch name"),
            ("/srv/repo", "a..b", GitAuth::None, "branch name"),
            ("/srv/repo", "has space", GitAuth::None, "branch name"),
            (
                "https://host/repo",
                "main",
                GitAuth::Token(Secret::new(String::new())),
                "token is empty",
            ),
        ];
        for (url, branch, auth, needle) in cases {
            match validate(&RemoteSpec::new(*url, *branch, auth.clone())) {
                Err(GitError::InvalidRemote { reason, url: shown }) => {
                    assert!(reason.contains(needle), "{url}: {reason}");
                    assert!(!shown.contains("hunter2"), "{shown}");
                }
                other => panic!("{url} {branch}: expected InvalidRemote, got {other:?}"),
            }
        }
    }

    #[test]
    fn passwords_are_redacted_from_urls() {
        assert_eq!(
            redact_url("https://bob:s3cret@host/x.git"),
            "https://bob:***@host/x.git"
        );
        assert_eq!(
            redact_url("https://bob@host/x.git"),
            "https://bob@host/x.git"
        );
        assert_eq!(redact_url("/local/path"), "/local/path");
        let spec = RemoteSpec::new("https://bob:s3cret@host/x", "main", token());
        let printed = format!("{spec:?}");
        assert!(
            !printed.contains("s3cret") && !printed.contains("tok-123"),
            "{printed}"
        );
    }
}
