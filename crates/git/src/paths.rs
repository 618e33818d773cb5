use crate::error::{GitError, Result};

/// Checks a path inside the repository. Git itself would store `../x` or `.git/config`
/// happily, and a later checkout of such a commit is how repositories get attacked, so these
/// are refused before anything is written.
pub(crate) fn validate_repo_path(path: &str) -> Result<()> {
    let reject = |reason: &str| {
        Err(GitError::InvalidPath {
            path: path.to_string(),
            reason: reason.to_string(),
        })
    };
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
    if path.len() > 4096 {
        return reject("the path is longer than 4096 bytes");
    }
    for component in path.split('/') {
        match component {
            "" => return reject("empty path component (leading, trailing or doubled '/')"),
            "." | ".." => return reject("'.' and '..' components are not allowed"),
            c if c.eq_ignore_ascii_case(".git") => {
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
    fn good_paths_pass() {
        for p in [
            "workflows/prod/a.json",
            "README.md",
            "workflows/team a/ü.json",
            ".gitignore",
            "a/.github/x",
        ] {
            assert!(validate_repo_path(p).is_ok(), "{p}");
        }
    }

    #[test]
    fn bad_paths_are_rejected_with_a_reason() {
        let cases = [
            ("", "empty"),
            ("/etc/passwd", "absolute"),
            ("../outside.json", "'..'"),
            ("workflows/../../x", "'..'"),
            ("workflows/./x", "'.'"),
            (".git/config", ".git"),
            ("a/.GIT/hooks/pre-commit", ".git"),
            ("workflows//x.json", "empty path component"),
            ("workflows/x/", "empty path component"),
            ("workflows\\x.json", "backslash"),
            ("a\nb", "control"),
        ];
        for (path, needle) in cases {
            match validate_repo_path(path) {
                Err(GitError::InvalidPath { reason, .. }) => {
                    assert!(reason.contains(needle), "{path:?}: {reason}")
                }
                other => panic!("{path:?}: expected InvalidPath, got {other:?}"),
            }
        }
    }
}
