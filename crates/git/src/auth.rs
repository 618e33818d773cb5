//! Credentials and error classification: the two places where secrets meet libgit2.

use std::cell::Cell;

use git2::{Cred, CredentialType, ErrorClass, ErrorCode, RemoteCallbacks};

use crate::error::GitError;
use crate::remote::{GitAuth, RemoteSpec, SshKeySource, DEFAULT_SSH_USER, DEFAULT_TOKEN_USER};

/// Counts what the credentials callback handed out during one connection. libgit2 calls the
/// callback again after every rejection, forever, so the second request for the same
/// credentials is the remote saying "no": that is where a bad token becomes `AuthFailed`
/// instead of an endless loop.
#[derive(Default)]
pub(crate) struct AuthState {
    offered: Cell<u32>,
    usernames: Cell<u32>,
}

fn auth_error(message: &str) -> git2::Error {
    git2::Error::new(ErrorCode::Auth, ErrorClass::Callback, message)
}

/// Callbacks for one fetch or push. The token or key goes to libgit2 here and nowhere else.
pub(crate) fn callbacks<'a>(spec: &'a RemoteSpec, state: &'a AuthState) -> RemoteCallbacks<'a> {
    let mut cbs = RemoteCallbacks::new();
    cbs.credentials(move |_url, username_from_url, allowed| {
        if allowed.contains(CredentialType::USERNAME) {
            // libssh2 asks for the user name first when the URL has none.
            state.usernames.set(state.usernames.get() + 1);
            if state.usernames.get() > 3 {
                return Err(auth_error("the remote rejected the user name"));
            }
            return Cred::username(username_from_url.unwrap_or(DEFAULT_SSH_USER));
        }
        if state.offered.get() > 0 {
            return Err(auth_error("the remote rejected the configured credentials"));
        }
        state.offered.set(1);
        match &spec.auth {
            GitAuth::None => Err(auth_error(
                "the remote asks for credentials and none are configured",
            )),
            GitAuth::Token(token) => {
                if !allowed.contains(CredentialType::USER_PASS_PLAINTEXT) {
                    return Err(auth_error(
                        "the remote does not accept user/password (token) authentication",
                    ));
                }
                Cred::userpass_plaintext(
                    username_from_url.unwrap_or(DEFAULT_TOKEN_USER),
                    token.expose(),
                )
            }
            GitAuth::SshKey { key, passphrase } => {
                if !allowed.contains(CredentialType::SSH_KEY) {
                    return Err(auth_error(
                        "the remote does not accept SSH key authentication",
                    ));
                }
                let user = username_from_url.unwrap_or(DEFAULT_SSH_USER);
                let passphrase = passphrase.as_ref().map(|p| p.expose().as_str());
                match key {
                    SshKeySource::Path(path) => Cred::ssh_key(user, None, path, passphrase),
                    SshKeySource::Pem(pem) => {
                        Cred::ssh_key_from_memory(user, None, pem.expose(), passphrase)
                    }
                }
            }
        }
    });
    cbs
}

/// Removes every configured secret from a message. libgit2 does not normally echo
/// credentials, but a transport error quoting a request line or a key parser quoting its input
/// must not be the one place a token leaks.
pub(crate) fn scrub(message: &str, spec: &RemoteSpec) -> String {
    let mut out = message.trim().to_string();
    let mut secrets: Vec<&str> = Vec::new();
    match &spec.auth {
        GitAuth::None => {}
        GitAuth::Token(token) => secrets.push(token.expose()),
        GitAuth::SshKey { key, passphrase } => {
            if let Some(p) = passphrase {
                secrets.push(p.expose());
            }
            if let SshKeySource::Pem(pem) = key {
                secrets.push(pem.expose());
            }
        }
    }
    for secret in secrets.into_iter().filter(|s| !s.is_empty()) {
        out = out.replace(secret, "[redacted]");
    }
    out
}

/// Maps a libgit2 error from talking to the remote onto the variant the engine acts on.
pub(crate) fn classify(err: &git2::Error, spec: &RemoteSpec, url: &str) -> GitError {
    let message = scrub(err.message(), spec);
    let url = url.to_string();
    let lower = message.to_ascii_lowercase();
    match err.code() {
        ErrorCode::Timeout => return GitError::Timeout { url, message },
        ErrorCode::Auth => return GitError::AuthFailed { url, message },
        ErrorCode::Certificate => return GitError::Untrusted { url, message },
        _ => {}
    }
    if lower.contains("timed out") {
        // libgit2's socket timeouts ("could not read from socket: timed out", "failed to
        // connect to host: Operation timed out") reach us as generic network errors.
        return GitError::Timeout { url, message };
    }
    match err.class() {
        ErrorClass::Net | ErrorClass::Os => GitError::Unreachable { url, message },
        ErrorClass::Http => {
            if lower.contains("401")
                || lower.contains("403")
                || lower.contains("authentication replays")
            {
                GitError::AuthFailed { url, message }
            } else if lower.contains("404") || lower.contains("content-type") {
                GitError::NotAGitRepository { url, message }
            } else {
                GitError::Unreachable { url, message }
            }
        }
        ErrorClass::Ssh => {
            if lower.contains("authenticat") || lower.contains("private key") {
                GitError::AuthFailed { url, message }
            } else if lower.contains("hostkey") || lower.contains("host key") {
                GitError::Untrusted { url, message }
            } else {
                GitError::Unreachable { url, message }
            }
        }
        ErrorClass::Ssl => GitError::Unreachable { url, message },
        ErrorClass::Repository if err.code() == ErrorCode::NotFound => {
            GitError::NotAGitRepository { url, message }
        }
        _ if lower.contains("does not appear to be a git repository")
            || lower.contains("repository not found") =>
        {
            GitError::NotAGitRepository { url, message }
        }
        _ => GitError::Other { url, message },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wfops_config::Secret;

    fn spec() -> RemoteSpec {
        RemoteSpec::new(
            "https://host/repo",
            "main",
            GitAuth::Token(Secret::new("ghp_TOPSECRET".into())),
        )
    }

    #[test]
    fn secrets_are_scrubbed_from_messages() {
        let out = scrub(
            "request to https://x-access-token:ghp_TOPSECRET@host failed",
            &spec(),
        );
        assert!(!out.contains("ghp_TOPSECRET"), "{out}");
        assert!(out.contains("[redacted]"));
    }

    #[test]
    fn errors_are_classified_by_code_and_class() {
        let cases = [
            (ErrorCode::Auth, ErrorClass::Callback, "nope", "AuthFailed"),
            (
                ErrorCode::Certificate,
                ErrorClass::Ssl,
                "bad cert",
                "Untrusted",
            ),
            (
                ErrorCode::GenericError,
                ErrorClass::Net,
                "failed to connect",
                "Unreachable",
            ),
            (
                ErrorCode::GenericError,
                ErrorClass::Http,
                "unexpected http status code: 404",
                "NotAGitRepository",
            ),
            (
                ErrorCode::GenericError,
                ErrorClass::Http,
                "unexpected http status code: 403",
                "AuthFailed",
            ),
            (
                ErrorCode::GenericError,
                ErrorClass::Http,
                "unexpected http status code: 502",
                "Unreachable",
            ),
            (
                ErrorCode::GenericError,
                ErrorClass::Ssh,
                "Failed to authenticate SSH session",
                "AuthFailed",
            ),
            (
                ErrorCode::GenericError,
                ErrorClass::Ssh,
                "Failed to start SSH session",
                "Unreachable",
            ),
            (
                ErrorCode::NotFound,
                ErrorClass::Repository,
                "could not find repository",
                "NotAGitRepository",
            ),
            (ErrorCode::GenericError, ErrorClass::Odb, "odd", "Other"),
            (
                ErrorCode::GenericError,
                ErrorClass::Net,
                "could not read from socket: timed out",
                "Timeout",
            ),
            (
                ErrorCode::GenericError,
                ErrorClass::Net,
                "failed to connect to host: Operation timed out",
                "Timeout",
            ),
            (ErrorCode::Timeout, ErrorClass::Net, "slow", "Timeout"),
        ];
        for (code, class, msg, expected) in cases {
            let err = git2::Error::new(code, class, msg);
            let got = classify(&err, &spec(), "https://host/repo");
            let name = format!("{got:?}");
            assert!(name.starts_with(expected), "{msg}: {name}");
            assert!(got.to_string().contains(msg), "{got}");
        }
    }
}
