//! The rules for a Git remote URL, a branch name and an environment folder, in one place.
//!
//! Pure functions: no network, no file system. The API checks what a person types with them
//! (and maps the error to the field), and the adapter checks what it is handed with the same
//! functions before it touches a repository, so a value the API accepts is a value the adapter
//! can use, and the reverse.
//!
//! The rules are what Git accepts, narrowed where Git's freedom is a hazard here:
//! - remote URL: an absolute local path, `file:///…`, `https://`, `ssh://` (also `ssh+git://`,
//!   `git+ssh://`) or the scp-like `[user@]host:path`; plain `http://` and `git://` only to a
//!   loopback host (nothing else can tamper with or read the traffic); no credentials in the
//!   URL (a token belongs in the encrypted token field, and a user name in an http(s) URL is
//!   where tokens get pasted); no whitespace or control characters; no relative path (it would
//!   depend on the worker's working directory); no host beginning with `-` (ssh would read it
//!   as an option);
//! - branch: `git check-ref-format --branch`, given as the short name (`main`, not
//!   `refs/heads/main`), and not `HEAD`;
//! - folder: a relative path below `workflows/` whose components are letters, digits, `-`,
//!   `_` and `.`, none of them `.`, `..` or `.git` (Git would happily commit `.git/hooks/…`,
//!   and checking out such a commit is how repositories get attacked).

use std::fmt;
use std::path::PathBuf;

/// The longest remote URL accepted.
pub const MAX_URL_LEN: usize = 2048;
/// The longest branch name accepted (a ref name is a file name on most servers).
pub const MAX_BRANCH_LEN: usize = 255;
/// The longest environment folder accepted.
pub const MAX_FOLDER_LEN: usize = 255;
/// The longest path of a file inside the repository.
pub const MAX_PATH_LEN: usize = 4096;

/// Which kind of value was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Subject {
    RemoteUrl,
    Branch,
    /// An environment's folder below `workflows/`.
    Folder,
    /// The path of a file inside the repository.
    Path,
}

impl Subject {
    pub const fn as_str(self) -> &'static str {
        match self {
            Subject::RemoteUrl => "remote URL",
            Subject::Branch => "branch",
            Subject::Folder => "folder",
            Subject::Path => "path",
        }
    }
}

/// A value that breaks one of the rules. `reason` says which, in words a person can act on;
/// it never repeats a URL's userinfo.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {}: {reason}", subject.as_str())]
pub struct Invalid {
    pub subject: Subject,
    pub reason: String,
}

impl Invalid {
    fn new(subject: Subject, reason: impl Into<String>) -> Self {
        Self {
            subject,
            reason: reason.into(),
        }
    }
}

/// How libgit2 will reach the remote, decided from the URL alone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Transport {
    Local(PathBuf),
    Http { tls: bool, loopback: bool },
    Ssh,
    GitProtocol,
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Transport::Local(_) => "local",
            Transport::Http { tls: true, .. } => "https",
            Transport::Http { tls: false, .. } => "http",
            Transport::Ssh => "ssh",
            Transport::GitProtocol => "git",
        })
    }
}

/// Checks a remote URL and says how it is reached.
pub fn remote_url(url: &str) -> Result<Transport, Invalid> {
    let invalid = |reason: &str| Invalid::new(Subject::RemoteUrl, reason);
    if url.is_empty() {
        return Err(invalid("the URL is empty"));
    }
    if url.len() > MAX_URL_LEN {
        return Err(invalid("the URL is longer than 2048 bytes"));
    }
    if url.chars().any(char::is_control) {
        return Err(invalid("the URL contains control characters"));
    }
    if url.chars().any(char::is_whitespace) {
        return Err(invalid("the URL contains spaces"));
    }
    if let Some(rest) = url.strip_prefix("file://") {
        if rest.is_empty() {
            return Err(invalid("file:// URL without a path"));
        }
        if !rest.starts_with('/') {
            return Err(invalid(
                "a file:// URL needs an absolute path (file:///srv/repo.git)",
            ));
        }
        return Ok(Transport::Local(PathBuf::from(rest)));
    }
    if let Some((scheme, rest)) = url.split_once("://") {
        return url_with_scheme(scheme, rest).map_err(|r| invalid(&r));
    }
    if url.starts_with('/') {
        return Ok(Transport::Local(PathBuf::from(url)));
    }
    if is_scp_like(url) {
        return scp_like(url).map_err(|r| invalid(&r));
    }
    Err(invalid(
        "a relative path is not allowed; give an absolute path, a file://, https://, http:// \
         (loopback only) or ssh:// URL, or user@host:path",
    ))
}

fn url_with_scheme(scheme: &str, rest: &str) -> Result<Transport, String> {
    let scheme = scheme.to_ascii_lowercase();
    let kind = match scheme.as_str() {
        "https" | "http" | "ssh" | "ssh+git" | "git+ssh" | "git" => scheme.as_str(),
        other => {
            return Err(format!(
                "unsupported URL scheme {other:?} (use an absolute path, file://, https://, \
                 http:// (loopback only), ssh:// or user@host:path)"
            ))
        }
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let (userinfo, hostport) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, authority),
    };
    if userinfo.is_some_and(|u| u.contains(':')) {
        return Err(
            "the URL carries a password; configure it as the token (or SSH key) instead".into(),
        );
    }
    let host = host_of(hostport);
    if host.is_empty() {
        return Err("the URL has no host".into());
    }
    if !hostport_chars_ok(hostport) {
        return Err(
            "the host must be a name of ASCII letters, digits and `.-_~!$&'()*+,;=%` (an IPv6 \
             literal only as [::1])"
                .into(),
        );
    }
    if host.starts_with('-') {
        return Err("the host must not begin with '-'".into());
    }
    let path = &rest[authority.len()..];
    if path.trim_matches('/').is_empty() {
        return Err("the URL has no repository path".into());
    }
    let loopback = is_loopback(host);
    match kind {
        "https" | "http" if userinfo.is_some() => Err(
            "an http(s) URL must not carry a user name or token; configure the token instead"
                .into(),
        ),
        "https" => Ok(Transport::Http {
            tls: true,
            loopback,
        }),
        "http" if loopback => Ok(Transport::Http {
            tls: false,
            loopback,
        }),
        "http" => Err(
            "plain http is allowed only to a loopback host (localhost, 127.0.0.1, ::1); use https"
                .into(),
        ),
        "git" if loopback => Ok(Transport::GitProtocol),
        "git" => Err(
            "the unencrypted git:// protocol is allowed only to a loopback host; use https or ssh"
                .into(),
        ),
        _ => {
            if userinfo.is_some_and(str::is_empty) {
                return Err("the URL has an empty user name".into());
            }
            Ok(Transport::Ssh)
        }
    }
}

fn scp_like(url: &str) -> Result<Transport, String> {
    let (userhost, path) = url.split_once(':').unwrap_or((url, ""));
    let (user, host) = match userhost.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, userhost),
    };
    if user.is_some_and(str::is_empty) {
        return Err("the scp-like URL has an empty user name".into());
    }
    if host.is_empty() {
        return Err("the scp-like URL has no host".into());
    }
    if host.starts_with('-') || user.is_some_and(|u| u.starts_with('-')) {
        return Err("the host must not begin with '-'".into());
    }
    let word = |s: &str| {
        s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    };
    if !word(host) || !user.is_none_or(word) {
        return Err(
            "the user and host of an scp-like URL are ASCII letters, digits, '.', '_' and '-'"
                .into(),
        );
    }
    if path.is_empty() {
        return Err("the scp-like URL has no repository path".into());
    }
    Ok(Transport::Ssh)
}

/// Git's own rule: `host:path` is ssh when a colon comes before any slash.
fn is_scp_like(url: &str) -> bool {
    match (url.find(':'), url.find('/')) {
        (Some(colon), Some(slash)) => colon < slash && colon > 0,
        (Some(colon), None) => colon > 0,
        _ => false,
    }
}

/// Registered-name characters (and a port); the one IPv6 literal accepted is the loopback
/// `[::1]`, which the loopback-only transports need. Non-ASCII hosts are refused: their
/// IDNA mapping is the resolver's business and differs between Git builds.
fn hostport_chars_ok(hostport: &str) -> bool {
    let rest = hostport.strip_prefix("[::1]").unwrap_or(hostport);
    rest.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"._~!$&'()*+,;=%:-".contains(&b))
}

fn host_of(hostport: &str) -> &str {
    if let Some(rest) = hostport.strip_prefix('[') {
        return rest.split(']').next().unwrap_or_default();
    }
    hostport.split(':').next().unwrap_or_default()
}

fn is_loopback(host: &str) -> bool {
    let host = host.to_ascii_lowercase();
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Checks a branch name with the rules of `git check-ref-format --branch`, as the short name.
pub fn branch(name: &str) -> Result<(), Invalid> {
    let invalid = |reason: &str| {
        Err(Invalid::new(
            Subject::Branch,
            format!("{name:?} is not a valid branch name: {reason}"),
        ))
    };
    if name.is_empty() {
        return invalid("it is empty");
    }
    if name.len() > MAX_BRANCH_LEN {
        return invalid("it is longer than 255 bytes");
    }
    if name.starts_with("refs/") {
        return invalid("give the short name (e.g. \"main\"), not refs/…");
    }
    if name == "HEAD" || name == "@" {
        return invalid("HEAD and @ name the current commit, not a branch");
    }
    if name.starts_with('-') {
        return invalid("it must not begin with '-'");
    }
    if name.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return invalid("it must not contain spaces or control characters");
    }
    if let Some(c) = name
        .chars()
        .find(|c| matches!(c, '~' | '^' | ':' | '?' | '*' | '[' | '\\'))
    {
        return invalid(&format!("it must not contain {c:?}"));
    }
    if name.contains("..") {
        return invalid("it must not contain \"..\"");
    }
    if name.contains("@{") {
        return invalid("it must not contain \"@{\"");
    }
    if name.ends_with('.') {
        return invalid("it must not end with '.'");
    }
    for component in name.split('/') {
        if component.is_empty() {
            return invalid("it must not begin or end with '/' nor contain \"//\"");
        }
        if component.starts_with('.') {
            return invalid("no part between slashes may begin with '.'");
        }
        if component.ends_with(".lock") {
            return invalid("no part between slashes may end with \".lock\"");
        }
    }
    Ok(())
}

/// Checks an environment's folder (the part after `workflows/`).
pub fn folder(folder: &str) -> Result<(), Invalid> {
    path_rules(Subject::Folder, folder, MAX_FOLDER_LEN)?;
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/');
    if let Some(c) = folder.chars().find(|c| !allowed(*c)) {
        return Err(Invalid::new(
            Subject::Folder,
            format!(
                "{c:?} is not allowed; use letters, digits, '-', '_' and '.', with '/' between \
                 folders"
            ),
        ));
    }
    Ok(())
}

/// Checks the path of a file inside the repository (file names may hold any printable
/// character, the parts that could escape the repository may not).
pub fn repo_path(path: &str) -> Result<(), Invalid> {
    path_rules(Subject::Path, path, MAX_PATH_LEN)
}

fn path_rules(subject: Subject, path: &str, max_len: usize) -> Result<(), Invalid> {
    let reject = |reason: &str| Err(Invalid::new(subject, reason));
    if path.is_empty() {
        return reject("the path is empty");
    }
    if path.starts_with('/') {
        return reject(
            "absolute paths are not allowed; give a path relative to the repository root",
        );
    }
    if path.contains('\\') {
        return reject("backslashes are not allowed; separate folders with '/'");
    }
    if path.chars().any(char::is_control) {
        return reject("control characters are not allowed");
    }
    if path.len() > max_len {
        return reject(&format!("the path is longer than {max_len} bytes"));
    }
    for component in path.split('/') {
        match component {
            "" => return reject("empty path component (leading, trailing or doubled '/')"),
            "." | ".." => return reject("'.' and '..' components are not allowed"),
            // `.git.` and `.git ` are `.git` to Windows checkouts
            c if c.trim_end_matches(['.', ' ']).eq_ignore_ascii_case(".git") => {
                return reject("'.git' components are not allowed")
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_their_subject() {
        let err = branch("a..b").unwrap_err();
        assert_eq!(err.subject, Subject::Branch);
        assert!(err.to_string().starts_with("invalid branch: "), "{err}");
        assert_eq!(folder("../x").unwrap_err().subject, Subject::Folder);
        assert_eq!(repo_path("../x").unwrap_err().subject, Subject::Path);
        assert_eq!(remote_url("").unwrap_err().subject, Subject::RemoteUrl);
    }

    #[test]
    fn a_password_in_the_url_is_never_repeated() {
        for url in [
            "https://bob:hunter2@host/repo.git",
            "ssh://bob:hunter2@host/repo.git",
        ] {
            let err = remote_url(url).unwrap_err();
            assert!(!err.to_string().contains("hunter2"), "{err}");
            assert!(err.reason.contains("password"), "{err}");
        }
    }
}
