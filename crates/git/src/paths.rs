use crate::error::{GitError, Result};
use crate::validate::{self, Invalid};

fn invalid_path(path: &str, err: Invalid) -> GitError {
    GitError::InvalidPath {
        path: path.to_string(),
        reason: err.reason,
    }
}

/// Checks a path inside the repository. Git itself would store `../x` or `.git/config`
/// happily, and a later checkout of such a commit is how repositories get attacked, so these
/// are refused before anything is written.
pub(crate) fn validate_repo_path(path: &str) -> Result<()> {
    validate::repo_path(path).map_err(|e| invalid_path(path, e))
}

/// Checks an environment's folder with the rule the API applies when the folder is set.
pub(crate) fn validate_folder(folder: &str) -> Result<()> {
    validate::folder(folder).map_err(|e| invalid_path(folder, e))
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
            ("a/.git./hooks/pre-commit", ".git"),
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
