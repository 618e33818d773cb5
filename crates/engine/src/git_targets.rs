//! Where an environment's workflows live in Git: its repository, branch and folder as a
//! [`GitTarget`], with the credentials to reach it and a per-repository lock around the local
//! mirror. Shared by the use-cases that read the folder (repository sync, onboarding's
//! preflight) and the one that writes it (onboarding's inventory).

use std::fs::File;
use std::path::PathBuf;

use uuid::Uuid;
use wfops_git::{GitAuth, GitError, Mirror, RemoteSpec, SshKeySource};

use crate::context::{EngineCtx, LoadedEnvironment};
use crate::error::{EngineError, Result};

/// An environment's repository, branch and folder, ready to open a mirror of.
pub(crate) struct GitTarget {
    pub environment: String,
    pub spec: RemoteSpec,
    pub folder: String,
    /// `<git_cache>/<tenant_id>`: each tenant's mirrors apart from the others'.
    pub cache_dir: PathBuf,
}

impl GitTarget {
    /// Fails with [`EngineError::GitNotConfigured`] when the environment has no repository or
    /// no folder.
    pub fn for_environment(
        ctx: &EngineCtx,
        tenant_id: Uuid,
        env: &LoadedEnvironment,
    ) -> Result<GitTarget> {
        let not_configured = |missing| EngineError::GitNotConfigured {
            environment: env.row.name.clone(),
            missing,
        };
        let url = env
            .row
            .git_repo_url
            .clone()
            .filter(|u| !u.trim().is_empty())
            .ok_or_else(|| not_configured("repository"))?;
        let folder = env
            .row
            .git_folder
            .clone()
            .filter(|f| !f.trim().is_empty())
            .ok_or_else(|| not_configured("folder"))?;
        Ok(GitTarget {
            environment: env.row.name.clone(),
            spec: RemoteSpec::new(url, env.row.git_branch.clone(), auth_for(env)),
            folder,
            cache_dir: ctx.git_cache.join(tenant_id.to_string()),
        })
    }

    /// The folder's path from the repository root.
    pub fn folder_path(&self) -> String {
        format!("{}/{}", wfops_git::WORKFLOWS_DIR, self.folder)
    }

    /// Runs `f` on the mirror in a blocking thread (git2 is synchronous), holding a file lock
    /// for this repository so that two jobs (of different environments, maybe in different
    /// worker processes) never fetch or push the same mirror at once.
    pub async fn with_mirror<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Mirror) -> std::result::Result<T, GitError> + Send + 'static,
    {
        let spec = self.spec.clone();
        let cache_dir = self.cache_dir.clone();
        let environment = self.environment.clone();
        let outcome = tokio::task::spawn_blocking(move || {
            let io = |path: PathBuf, source| GitError::Io { path, source };
            std::fs::create_dir_all(&cache_dir).map_err(|e| io(cache_dir.clone(), e))?;
            let lock_path = cache_dir.join(format!("{}.lock", lock_name(&spec.url)));
            let lock = File::create(&lock_path).map_err(|e| io(lock_path.clone(), e))?;
            lock.lock().map_err(|e| io(lock_path.clone(), e))?;
            let mirror = Mirror::open(&cache_dir, &spec)?;
            f(&mirror)
            // the lock is released when `lock` is dropped
        })
        .await
        .map_err(|e| EngineError::Internal(format!("the Git task failed: {e}")))?;
        outcome.map_err(|source| EngineError::Git {
            environment,
            source,
        })
    }
}

/// The credentials for the environment's remote: the stored token is an access token for
/// https, or an SSH private key when it is one (PEM or OpenSSH text).
fn auth_for(env: &LoadedEnvironment) -> GitAuth {
    match env.git_token() {
        None => GitAuth::None,
        Some(token) if token.expose().trim_start().starts_with("-----BEGIN") => GitAuth::SshKey {
            key: SshKeySource::Pem(token.clone()),
            passphrase: None,
        },
        Some(token) => GitAuth::Token(token.clone()),
    }
}

/// A file name for the lock of one remote: its URL's bytes as hex-encoded FNV-1a (stable across
/// processes and releases, unlike `DefaultHasher`; collisions only serialize two remotes).
fn lock_name(url: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in url.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("remote-{h:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_names_are_stable_and_differ_per_remote() {
        assert_eq!(
            lock_name("file:///srv/a.git"),
            lock_name("file:///srv/a.git")
        );
        assert_ne!(
            lock_name("file:///srv/a.git"),
            lock_name("file:///srv/b.git")
        );
        // FNV-1a of the empty string: the offset basis
        assert_eq!(lock_name(""), "remote-cbf29ce484222325");
    }
}
