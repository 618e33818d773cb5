use std::cell::RefCell;
use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Instant;

use chrono::{DateTime, Utc};
use git2::build::TreeUpdateBuilder;
use git2::{
    AutotagOption, ErrorCode, FetchOptions, FileMode, ObjectType, Oid, PushOptions, Repository,
    RepositoryOpenFlags, Signature, Tree,
};
use serde::{Deserialize, Serialize};

use crate::auth::{callbacks, classify, AuthState};
use crate::error::{GitError, Result};
use crate::paths::{validate_folder, validate_repo_path};
use crate::remote::{redact_url, validate, RemoteSpec, SshKeySource, Transport};
use crate::GitAuth;

/// The folder, at the repository root, that holds one sub-folder per environment.
pub const WORKFLOWS_DIR: &str = "workflows";

/// How many times a push rejected because the remote branch moved is rebuilt on the new head
/// before giving up. Each retry re-fetches, so this bounds the work, not the wait.
pub const MAX_PUSH_ATTEMPTS: u32 = 5;

/// A full 40-character lowercase hex commit id.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CommitSha(String);

impl CommitSha {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn from_oid(oid: Oid) -> Self {
        Self(oid.to_string())
    }

    fn oid(&self) -> Oid {
        // The constructor only admits 40 hex digits, which always parse.
        Oid::from_str(&self.0).unwrap_or_else(|_| Oid::zero())
    }
}

impl FromStr for CommitSha {
    type Err = GitError;

    fn from_str(s: &str) -> Result<Self> {
        if s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
            Ok(Self(s.to_ascii_lowercase()))
        } else {
            Err(GitError::InvalidCommitSha {
                value: s.to_string(),
            })
        }
    }
}

impl TryFrom<String> for CommitSha {
    type Error = GitError;

    fn try_from(s: String) -> Result<Self> {
        s.parse()
    }
}

impl From<CommitSha> for String {
    fn from(sha: CommitSha) -> String {
        sha.0
    }
}

impl fmt::Display for CommitSha {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One file read from the repository at a commit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GitFile {
    /// Path from the repository root, e.g. `workflows/prod/order-sync.json`.
    pub path: String,
    pub bytes: Vec<u8>,
    /// The Git blob id: equal ids mean equal bytes, so unchanged files can be skipped cheaply.
    pub blob_sha: String,
}

/// One file to write (`content: Some`) or delete (`content: None`) in a commit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileChange {
    pub path: String,
    pub content: Option<Vec<u8>>,
}

impl FileChange {
    pub fn write(path: impl Into<String>, content: impl Into<Vec<u8>>) -> Self {
        Self {
            path: path.into(),
            content: Some(content.into()),
        }
    }

    pub fn delete(path: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            content: None,
        }
    }
}

/// Author and committer of the commits WorkflowOps makes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Author {
    pub name: String,
    pub email: String,
}

impl Author {
    pub fn new(name: impl Into<String>, email: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            email: email.into(),
        }
    }
}

/// What [`Mirror::commit_and_push`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PushOutcome {
    /// The branch head after the call: the new commit, or the unchanged head.
    pub commit: CommitSha,
    /// `false` when the branch already held exactly these contents and nothing was pushed.
    pub changed: bool,
}

/// A local bare clone of one remote, kept under a cache folder so that a sync downloads only
/// what is new.
///
/// The remote is used anonymously (never saved in the mirror's config), so neither the URL's
/// user nor any credential is written to disk. `Mirror` is `Send`: the engine moves it into
/// `spawn_blocking`. Two `Mirror`s on the same cache folder are safe for reads; libgit2's
/// ref locks make a concurrent fetch of the same branch fail rather than corrupt, so the
/// engine should serialize work per repository as it does per environment.
pub struct Mirror {
    repo: Repository,
    spec: RemoteSpec,
    transport: Transport,
    url: String,
    dir: PathBuf,
    #[cfg(test)]
    pub(crate) before_push: Option<Box<dyn Fn(u32) + Send>>,
}

impl fmt::Debug for Mirror {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mirror")
            .field("url", &self.url)
            .field("branch", &self.spec.branch)
            .field("dir", &self.dir)
            .finish()
    }
}

enum PushError {
    /// The remote (or libgit2's fast-forward check) refused the update.
    Rejected(String),
    Failed(GitError),
}

impl Mirror {
    /// Opens (creating when needed) the mirror of `spec.url` under `cache_dir`. No network
    /// traffic happens here; the URL, branch and auth are checked so that a misconfiguration
    /// is reported before any connection is tried.
    pub fn open(cache_dir: &Path, spec: &RemoteSpec) -> Result<Self> {
        crate::timeouts::apply();
        let transport = validate(spec)?;
        let url = redact_url(&spec.url);
        if let GitAuth::SshKey {
            key: SshKeySource::Path(path),
            ..
        } = &spec.auth
        {
            if !path.is_file() {
                return Err(GitError::InvalidRemote {
                    url,
                    reason: format!("the SSH key file {} does not exist", path.display()),
                });
            }
        }
        let dir = cache_dir.join(mirror_dir_name(&spec.url));
        let repo = match Repository::open_bare(&dir) {
            Ok(repo) => repo,
            Err(_) => {
                std::fs::create_dir_all(&dir).map_err(|source| GitError::Io {
                    path: dir.clone(),
                    source,
                })?;
                Repository::init_bare(&dir).map_err(|e| GitError::Other {
                    url: dir.display().to_string(),
                    message: format!("could not create the mirror: {}", e.message()),
                })?
            }
        };
        Ok(Self {
            repo,
            spec: spec.clone(),
            transport,
            url,
            dir,
            #[cfg(test)]
            before_push: None,
        })
    }

    /// The mirror's folder (a bare repository).
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// The remote's URL as it may be shown (no password).
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn branch(&self) -> &str {
        &self.spec.branch
    }

    /// Fetches the branch. `Ok(None)` means the remote answered but has no such branch (or no
    /// commits at all); every failure to talk to it is an `Err`.
    pub fn fetch(&self) -> Result<Option<CommitSha>> {
        Ok(self.fetch_oid()?.map(CommitSha::from_oid))
    }

    /// [`Mirror::fetch`] for callers that need the branch: a missing one is
    /// [`GitError::BranchNotFound`].
    pub fn fetch_branch(&self) -> Result<CommitSha> {
        self.fetch()?.ok_or_else(|| GitError::BranchNotFound {
            url: self.url.clone(),
            branch: self.spec.branch.clone(),
        })
    }

    /// The branch head as of the last fetch or push, without network traffic.
    pub fn local_head(&self) -> Result<Option<CommitSha>> {
        match self.repo.refname_to_id(&self.tracking_ref()) {
            Ok(oid) => Ok(Some(CommitSha::from_oid(oid))),
            Err(e) if e.code() == ErrorCode::NotFound => Ok(None),
            Err(e) => Err(self.local_error(&e)),
        }
    }

    /// Every `*.json` file directly inside `workflows/<folder>/` at `commit`, sorted by path.
    ///
    /// Not recursive: sub-folders are ignored, so that an environment folder can keep
    /// unrelated material (exports, archives) below it. A folder that does not exist at that
    /// commit (an environment never onboarded) gives an empty list. Symlinks and submodules
    /// are skipped, as are names that are not UTF-8 (with a warning).
    pub fn read_tree(&self, commit: &CommitSha, folder: &str) -> Result<Vec<GitFile>> {
        validate_folder(folder)?;
        let tree = self.commit_tree(commit)?;
        let dir = format!("{WORKFLOWS_DIR}/{folder}");
        let entry = match tree.get_path(Path::new(&dir)) {
            Ok(entry) => entry,
            Err(e) if e.code() == ErrorCode::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(self.local_error(&e)),
        };
        if entry.kind() != Some(ObjectType::Tree) {
            return Err(GitError::InvalidPath {
                path: dir,
                reason: format!("is a file, not a folder, at commit {commit}"),
            });
        }
        let subtree = self
            .repo
            .find_tree(entry.id())
            .map_err(|e| self.local_error(&e))?;
        let mut files = Vec::new();
        for item in subtree.iter() {
            let mode = item.filemode();
            if item.kind() != Some(ObjectType::Blob)
                || (mode != i32::from(FileMode::Blob)
                    && mode != i32::from(FileMode::BlobExecutable))
            {
                continue;
            }
            let Some(name) = item.name() else {
                tracing::warn!(url = %self.url, folder = %dir, "skipping a file whose name is not UTF-8");
                continue;
            };
            if !name.ends_with(".json") {
                continue;
            }
            let blob = self
                .repo
                .find_blob(item.id())
                .map_err(|e| self.local_error(&e))?;
            files.push(GitFile {
                path: format!("{dir}/{name}"),
                bytes: blob.content().to_vec(),
                blob_sha: item.id().to_string(),
            });
        }
        files.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(files)
    }

    /// The committer time of `commit`, in UTC.
    pub fn commit_time(&self, commit: &CommitSha) -> Result<DateTime<Utc>> {
        let found = self.find_commit(commit)?;
        let seconds = found.time().seconds();
        DateTime::from_timestamp(seconds, 0).ok_or_else(|| GitError::Other {
            url: self.url.clone(),
            message: format!("commit {commit} has an out-of-range time {seconds}"),
        })
    }

    /// Writes and deletes files in one commit on top of the remote branch head and pushes it.
    ///
    /// The branch is created when the repository (or just the branch) is empty. When the
    /// changes leave the tree as it is, nothing is committed and `changed` is `false`, which
    /// is what makes onboarding idempotent. Deleting a file that is absent is not an error. A
    /// push rejected because someone else pushed first is rebuilt on the new head, up to
    /// [`MAX_PUSH_ATTEMPTS`] times; the changes are whole-file contents, so re-applying them
    /// on another head is well defined (these paths end up exactly as given).
    pub fn commit_and_push(
        &self,
        changes: &[FileChange],
        message: &str,
        author: &Author,
    ) -> Result<PushOutcome> {
        validate_changes(changes)?;
        let signature = signature(author)?;
        if message.trim().is_empty() {
            return Err(GitError::InvalidCommit {
                reason: "the commit message is empty".into(),
            });
        }

        let mut previous: Option<(Option<Oid>, String)> = None;
        for attempt in 0..MAX_PUSH_ATTEMPTS {
            let head = self.fetch_oid()?;
            if let Some((previous_head, reason)) = previous.take() {
                if previous_head == head {
                    // The branch did not move, so a retry would be refused again.
                    return Err(self.push_rejected(reason));
                }
            }
            let base_tree = match head {
                Some(oid) => self
                    .repo
                    .find_commit(oid)
                    .and_then(|c| c.tree())
                    .map_err(|e| self.local_error(&e))?,
                None => self.empty_tree()?,
            };
            let new_tree_id = self.apply_changes(&base_tree, changes)?;
            if let Some(head) = head {
                if new_tree_id == base_tree.id() {
                    tracing::info!(url = %self.url, branch = %self.spec.branch, commit = %head, "nothing to commit");
                    return Ok(PushOutcome {
                        commit: CommitSha::from_oid(head),
                        changed: false,
                    });
                }
            }
            let commit_oid = self.make_commit(new_tree_id, head, message, &signature)?;

            #[cfg(test)]
            if let Some(hook) = &self.before_push {
                hook(attempt);
            }

            match self.push(commit_oid) {
                Ok(()) => {
                    self.repo
                        .reference(&self.tracking_ref(), commit_oid, true, "wfops push")
                        .map_err(|e| self.local_error(&e))?;
                    tracing::info!(url = %self.url, branch = %self.spec.branch, commit = %commit_oid, attempt, "pushed");
                    return Ok(PushOutcome {
                        commit: CommitSha::from_oid(commit_oid),
                        changed: true,
                    });
                }
                Err(PushError::Rejected(reason)) => {
                    tracing::warn!(url = %self.url, branch = %self.spec.branch, attempt, %reason, "push rejected; fetching again");
                    previous = Some((head, reason));
                }
                Err(PushError::Failed(e)) => return Err(e),
            }
        }
        let reason = previous.map(|(_, r)| r).unwrap_or_default();
        Err(self.push_rejected(format!(
            "the branch kept moving; gave up after {MAX_PUSH_ATTEMPTS} attempts (last: {reason})"
        )))
    }

    fn tracking_ref(&self) -> String {
        format!("refs/remotes/origin/{}", self.spec.branch)
    }

    fn remote_ref(&self) -> String {
        format!("refs/heads/{}", self.spec.branch)
    }

    fn local_error(&self, e: &git2::Error) -> GitError {
        GitError::Other {
            url: self.url.clone(),
            message: format!("in the mirror {}: {}", self.dir.display(), e.message()),
        }
    }

    /// Classifies an error of a fetch or push. Over https a read timeout reaches us as a bare
    /// "SSL error: syscall failure" (the TLS layer replaces libgit2's "timed out" with its
    /// own message), so a network failure that came after at least the read timeout is
    /// reported as the timeout it almost certainly was.
    fn network_error(&self, e: &git2::Error, started: Instant) -> GitError {
        let read = crate::timeouts::network_timeouts().read;
        match classify(e, &self.spec, &self.url) {
            GitError::Unreachable { url, message } | GitError::Other { url, message }
                if started.elapsed() >= read =>
            {
                GitError::Timeout {
                    url,
                    message: format!(
                        "no answer within the read timeout of {} ms ({message})",
                        read.as_millis()
                    ),
                }
            }
            other => other,
        }
    }

    fn push_rejected(&self, message: String) -> GitError {
        GitError::PushRejected {
            url: self.url.clone(),
            branch: self.spec.branch.clone(),
            message,
        }
    }

    /// libgit2 reports a missing local path in several ways; checking first gives one clear
    /// answer for each case.
    /// Returns the local remote, opened, when the remote is a path or `file://`.
    fn check_local_remote(&self) -> Result<Option<Repository>> {
        let Transport::Local(path) = &self.transport else {
            return Ok(None);
        };
        if !path.exists() {
            return Err(GitError::Unreachable {
                url: self.url.clone(),
                message: "no such file or directory".into(),
            });
        }
        Repository::open_ext(
            path,
            RepositoryOpenFlags::NO_SEARCH,
            std::iter::empty::<&std::ffi::OsStr>(),
        )
        .map(Some)
        .map_err(|e| GitError::NotAGitRepository {
            url: self.url.clone(),
            message: e.message().to_string(),
        })
    }

    /// Fetches the branch into a scratch ref, so that "the remote has no such branch" (the
    /// scratch ref stays absent) is told apart from "already up to date" (it is written anyway)
    /// while the tracking ref keeps serving as the base for an incremental download.
    /// (`Remote::list` of git2 0.19 is unsound on a remote with no refs, so it is not used.)
    fn fetch_oid(&self) -> Result<Option<Oid>> {
        self.check_local_remote()?;
        let scratch = format!("refs/wfops/fetch/{}", self.spec.branch);
        let tracking = self.tracking_ref();
        self.delete_ref(&scratch)?;
        let state = AuthState::default();
        let mut options = FetchOptions::new();
        options.remote_callbacks(callbacks(&self.spec, &state));
        options.download_tags(AutotagOption::None);
        options.update_fetchhead(false);
        let refspec = format!("+{}:{scratch}", self.remote_ref());
        let started = Instant::now();
        self.repo
            .remote_anonymous(&self.spec.url)
            .and_then(|mut remote| remote.fetch(&[refspec.as_str()], Some(&mut options), None))
            .map_err(|e| self.network_error(&e, started))?;
        let head = match self.repo.refname_to_id(&scratch) {
            Ok(oid) => Some(oid),
            Err(e) if e.code() == ErrorCode::NotFound => None,
            Err(e) => return Err(self.local_error(&e)),
        };
        match head {
            Some(oid) => {
                self.repo
                    .reference(&tracking, oid, true, "wfops fetch")
                    .map_err(|e| self.local_error(&e))?;
                self.delete_ref(&scratch)?;
                tracing::debug!(url = %self.url, branch = %self.spec.branch, commit = %oid, "fetched");
            }
            None => {
                self.delete_ref(&tracking)?;
                tracing::info!(url = %self.url, branch = %self.spec.branch, "branch not on the remote");
            }
        }
        Ok(head)
    }

    fn delete_ref(&self, name: &str) -> Result<()> {
        match self.repo.find_reference(name) {
            Ok(mut reference) => reference.delete().map_err(|e| self.local_error(&e)),
            Err(e) if e.code() == ErrorCode::NotFound => Ok(()),
            Err(e) => Err(self.local_error(&e)),
        }
    }

    fn push(&self, commit: Oid) -> std::result::Result<(), PushError> {
        if let Some(local) = self.check_local_remote().map_err(PushError::Failed)? {
            // libgit2 would move the ref under a checked-out working tree, leaving it
            // silently out of date; `git push` refuses the same way.
            let checked_out = local
                .find_reference("HEAD")
                .ok()
                .and_then(|h| h.symbolic_target().map(str::to_string))
                .is_some_and(|name| name == self.remote_ref());
            if !local.is_bare() && checked_out {
                return Err(PushError::Failed(self.push_rejected(
                    "the branch is checked out in a non-bare repository; push to a bare repository instead".into(),
                )));
            }
        }
        // libgit2 pushes from a ref, not from an object id.
        let push_ref = format!("refs/wfops/push/{commit}");
        self.repo
            .reference(&push_ref, commit, true, "wfops push")
            .map_err(|e| PushError::Failed(self.local_error(&e)))?;
        let rejected: RefCell<Option<String>> = RefCell::new(None);
        let result = {
            let state = AuthState::default();
            let mut cbs = callbacks(&self.spec, &state);
            cbs.push_update_reference(|refname, status| {
                if let Some(status) = status {
                    *rejected.borrow_mut() = Some(format!("{refname}: {status}"));
                }
                Ok(())
            });
            let mut options = PushOptions::new();
            options.remote_callbacks(cbs);
            let refspec = format!("{push_ref}:{}", self.remote_ref());
            let started = Instant::now();
            self.repo
                .remote_anonymous(&self.spec.url)
                .and_then(|mut remote| remote.push(&[refspec.as_str()], Some(&mut options)))
                .map_err(|e| (e, started))
        };
        if let Ok(mut reference) = self.repo.find_reference(&push_ref) {
            // A leftover ref only keeps an object alive; not worth failing the push for.
            let _ = reference.delete();
        }
        match result {
            Err((e, _)) if e.code() == ErrorCode::NotFastForward => Err(PushError::Rejected(
                crate::auth::scrub(e.message(), &self.spec),
            )),
            Err((e, started)) => Err(PushError::Failed(self.network_error(&e, started))),
            Ok(()) => match rejected.into_inner() {
                Some(reason) => Err(PushError::Rejected(crate::auth::scrub(&reason, &self.spec))),
                None => Ok(()),
            },
        }
    }

    fn find_commit(&self, commit: &CommitSha) -> Result<git2::Commit<'_>> {
        self.repo
            .find_commit(commit.oid())
            .map_err(|_| GitError::CommitNotFound {
                url: self.url.clone(),
                sha: commit.to_string(),
            })
    }

    fn commit_tree(&self, commit: &CommitSha) -> Result<Tree<'_>> {
        self.find_commit(commit)?
            .tree()
            .map_err(|e| self.local_error(&e))
    }

    fn empty_tree(&self) -> Result<Tree<'_>> {
        let id = self
            .repo
            .treebuilder(None)
            .and_then(|b| b.write())
            .map_err(|e| self.local_error(&e))?;
        self.repo.find_tree(id).map_err(|e| self.local_error(&e))
    }

    /// Checks each change against what `base` holds, so that a clash (writing over a folder,
    /// below a file) is an `InvalidPath` naming the path rather than a libgit2 message.
    fn apply_changes(&self, base: &Tree<'_>, changes: &[FileChange]) -> Result<Oid> {
        let mut builder = TreeUpdateBuilder::new();
        for change in changes {
            let path = Path::new(&change.path);
            let existing = match base.get_path(path) {
                Ok(entry) => Some(entry.kind()),
                Err(e) if e.code() == ErrorCode::NotFound => None,
                Err(e) => return Err(self.local_error(&e)),
            };
            if existing == Some(Some(ObjectType::Tree)) {
                return Err(GitError::InvalidPath {
                    path: change.path.clone(),
                    reason: "is a folder in the repository, not a file".into(),
                });
            }
            let components: Vec<&str> = change.path.split('/').collect();
            for depth in 1..components.len() {
                let parent = components[..depth].join("/");
                if let Ok(entry) = base.get_path(Path::new(&parent)) {
                    if entry.kind() != Some(ObjectType::Tree) {
                        return Err(GitError::InvalidPath {
                            path: change.path.clone(),
                            reason: format!("its parent {parent:?} is a file in the repository"),
                        });
                    }
                }
            }
            match &change.content {
                Some(bytes) => {
                    let blob = self.repo.blob(bytes).map_err(|e| self.local_error(&e))?;
                    builder.upsert(&change.path, blob, FileMode::Blob);
                }
                None if existing.is_some() => {
                    builder.remove(&change.path);
                }
                None => {}
            }
        }
        builder
            .create_updated(&self.repo, base)
            .map_err(|e| self.local_error(&e))
    }

    fn make_commit(
        &self,
        tree_id: Oid,
        parent: Option<Oid>,
        message: &str,
        signature: &Signature<'_>,
    ) -> Result<Oid> {
        let tree = self
            .repo
            .find_tree(tree_id)
            .map_err(|e| self.local_error(&e))?;
        let parent = parent
            .map(|oid| self.repo.find_commit(oid))
            .transpose()
            .map_err(|e| self.local_error(&e))?;
        let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
        self.repo
            .commit(None, signature, signature, message, &tree, &parents)
            .map_err(|e| self.local_error(&e))
    }
}

fn validate_changes(changes: &[FileChange]) -> Result<()> {
    let mut seen = HashSet::new();
    for change in changes {
        validate_repo_path(&change.path)?;
        if !seen.insert(change.path.as_str()) {
            return Err(GitError::InvalidPath {
                path: change.path.clone(),
                reason: "is listed more than once in the same commit".into(),
            });
        }
    }
    Ok(())
}

fn signature(author: &Author) -> Result<Signature<'static>> {
    for (what, value) in [("name", &author.name), ("email", &author.email)] {
        if value.trim().is_empty() {
            return Err(GitError::InvalidCommit {
                reason: format!("the author {what} is empty"),
            });
        }
        if value.contains(['<', '>']) || value.chars().any(char::is_control) {
            return Err(GitError::InvalidCommit {
                reason: format!(
                    "the author {what} {value:?} contains '<', '>' or a control character"
                ),
            });
        }
    }
    Signature::now(&author.name, &author.email).map_err(|e| GitError::InvalidCommit {
        reason: e.message().to_string(),
    })
}

/// A readable and stable folder name per URL: the repository's name plus a hash of the whole
/// URL, so that two remotes never share a mirror.
fn mirror_dir_name(url: &str) -> String {
    let hash = Oid::hash_object(ObjectType::Blob, url.as_bytes())
        .map(|oid| oid.to_string())
        .unwrap_or_else(|_| "0".repeat(40));
    let tail = url
        .trim_end_matches('/')
        .rsplit(['/', ':'])
        .next()
        .unwrap_or_default()
        .trim_end_matches(".git");
    let mut name: String = tail
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(40)
        .collect();
    if name.is_empty() {
        name.push_str("repo");
    }
    format!("{name}-{}.git", &hash[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_sha_parses_only_full_hex_ids() {
        let sha: CommitSha = "ABCDEF0123456789abcdef0123456789abcdef01".parse().unwrap();
        assert_eq!(sha.as_str(), "abcdef0123456789abcdef0123456789abcdef01");
        for bad in [
            "",
            "abc",
            "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz",
            "../../etc/passwd",
        ] {
            assert!(bad.parse::<CommitSha>().is_err(), "{bad}");
        }
        // Serde goes through these two conversions.
        let s: String = sha.clone().into();
        assert_eq!(CommitSha::try_from(s).unwrap(), sha);
        assert!(matches!(
            CommitSha::try_from("nope".to_string()),
            Err(GitError::InvalidCommitSha { value }) if value == "nope"
        ));
    }

    #[test]
    fn mirror_names_are_stable_and_distinct() {
        let a = mirror_dir_name("https://host/org/repo.git");
        assert_eq!(a, mirror_dir_name("https://host/org/repo.git"));
        assert!(a.starts_with("repo-") && a.ends_with(".git"), "{a}");
        assert_ne!(a, mirror_dir_name("https://other/org/repo.git"));
        assert!(mirror_dir_name("git@host:org/my repo").starts_with("my_repo-"));
        assert!(mirror_dir_name("/").starts_with("repo-"));
    }

    #[test]
    fn changes_are_validated() {
        let dup = [
            FileChange::delete("a.json"),
            FileChange::write("a.json", "x"),
        ];
        assert!(matches!(
            validate_changes(&dup),
            Err(GitError::InvalidPath { reason, .. }) if reason.contains("more than once")
        ));
        assert!(matches!(
            validate_changes(&[FileChange::write("../x", "y")]),
            Err(GitError::InvalidPath { .. })
        ));
        assert!(matches!(
            signature(&Author::new("A <b>", "a@b")),
            Err(GitError::InvalidCommit { .. })
        ));
        assert!(matches!(
            signature(&Author::new("A", " ")),
            Err(GitError::InvalidCommit { .. })
        ));
    }
}
