//! After a promotion completed, the promoted workflows are committed to the target
//! environment's Git folder (docs/promotion.md#the-git-record), one file per canonical workflow
//! named as repository sync and onboarding name them (`<folder>/<slug>.json`, or the path the
//! canonical workflow already has there). The content is the portable form of what the target
//! instance holds, with the values of secret variables put back as their `{{env.NAME}}`
//! placeholders so that no secret reaches Git. A Git failure never rolls the target back: it is
//! recorded and retried on its own.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;
use wfops_db::git_state::{self as git_db, GitStateWrite};
use wfops_db::ScopedFutureExt;
use wfops_git::{Author, FileChange};

use crate::context::{EngineCtx, LoadedEnvironment};
use crate::error::{EngineError, Result};
use crate::git_targets::GitTarget;
use crate::onboarding::{COMMIT_AUTHOR_EMAIL, COMMIT_AUTHOR_NAME};

/// Secret values shorter than this are not searched for (they would match ordinary text).
const MIN_SECRET_LEN: usize = 4;

/// Where the Git record of a completed promotion stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GitStatus {
    /// Written and pushed (or Git already held exactly these files).
    Committed,
    /// The last attempt failed; the job's next attempt retries only this step.
    Failed,
    /// The target environment has no Git repository or folder.
    NotConfigured,
}

/// The Git record of a promotion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GitRecord {
    pub status: GitStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit_sha: Option<String>,
    pub files: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One promoted workflow to write.
pub(crate) struct GitFile {
    pub canonical_id: Uuid,
    pub slug: String,
    /// The document the target holds.
    pub document: Value,
}

/// `doc` with every secret value replaced by its placeholder.
pub(crate) fn redact_secrets(doc: &mut Value, secrets: &[(String, String)]) {
    match doc {
        Value::String(s) => {
            for (name, value) in secrets {
                if value.len() >= MIN_SECRET_LEN && s.contains(value.as_str()) {
                    *s = s.replace(value.as_str(), &format!("{{{{env.{name}}}}}"));
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| redact_secrets(i, secrets)),
        Value::Object(map) => map.values_mut().for_each(|i| redact_secrets(i, secrets)),
        _ => {}
    }
}

/// Commits `files` to the environment's folder and records their Git state. A failure is
/// recorded and returned beside the record.
pub(crate) async fn commit(
    ctx: &EngineCtx,
    tenant_id: Uuid,
    env: &LoadedEnvironment,
    files: Vec<GitFile>,
    secrets: &[(String, String)],
    message: String,
) -> (GitRecord, Option<EngineError>) {
    match try_commit(ctx, tenant_id, env, files, secrets, message).await {
        Ok(record) => (record, None),
        Err(EngineError::GitNotConfigured { .. }) => (
            GitRecord {
                status: GitStatus::NotConfigured,
                commit_sha: None,
                files: Vec::new(),
                error: None,
            },
            None,
        ),
        Err(e) => (
            GitRecord {
                status: GitStatus::Failed,
                commit_sha: None,
                files: Vec::new(),
                error: Some(e.to_string()),
            },
            Some(e),
        ),
    }
}

async fn try_commit(
    ctx: &EngineCtx,
    tenant_id: Uuid,
    env: &LoadedEnvironment,
    files: Vec<GitFile>,
    secrets: &[(String, String)],
    message: String,
) -> Result<GitRecord> {
    let target = GitTarget::for_environment(ctx, tenant_id, env)?;
    let environment_id = env.row.id;
    let existing: HashMap<Uuid, String> = ctx
        .db
        .tenant_tx(tenant_id, move |conn| {
            async move { git_db::summaries_for_environment(conn, environment_id).await }
                .scope_boxed()
        })
        .await?
        .into_iter()
        .map(|s| (s.canonical_id, s.git_path))
        .collect();
    let folder_path = target.folder_path();
    let mut hasher = wfops_diff::ContentHasher::new();
    let mut written = Vec::with_capacity(files.len());
    for f in files {
        let mut doc = f.document;
        redact_secrets(&mut doc, secrets);
        let portable = hasher.portable_value(&doc).map_err(|e| {
            EngineError::Internal(format!("workflow {} has no portable form: {e}", f.slug))
        })?;
        let portable = portable.to_vec();
        let hash = hasher
            .hash(&portable)
            .map_err(|e| EngineError::Internal(format!("workflow {}: {e}", f.slug)))?
            .to_hex();
        let parsed: Value = serde_json::from_slice(&portable)
            .map_err(|e| EngineError::Internal(format!("workflow {}: {e}", f.slug)))?;
        let path = existing
            .get(&f.canonical_id)
            .cloned()
            .unwrap_or_else(|| format!("{folder_path}/{}.json", f.slug));
        written.push((f.canonical_id, path, portable, hash, parsed));
    }
    let changes: Vec<FileChange> = written
        .iter()
        .map(|(_, path, bytes, _, _)| FileChange::write(path.clone(), bytes.clone()))
        .collect();
    let paths: Vec<String> = written.iter().map(|w| w.1.clone()).collect();
    let folder = target.folder.clone();
    let wanted = paths.clone();
    let (commit, time, blobs) = target
        .with_mirror(move |mirror| {
            mirror.fetch()?;
            let author = Author::new(COMMIT_AUTHOR_NAME, COMMIT_AUTHOR_EMAIL);
            let outcome = mirror.commit_and_push(&changes, &message, &author)?;
            let time = mirror.commit_time(&outcome.commit)?;
            let blobs: HashMap<String, String> = mirror
                .read_tree(&outcome.commit, &folder)?
                .into_iter()
                .filter(|f| wanted.contains(&f.path))
                .map(|f| (f.path, f.blob_sha))
                .collect();
            Ok((outcome.commit, time, blobs))
        })
        .await?;
    let states: Vec<GitStateWrite> = written
        .into_iter()
        .map(|(canonical_id, path, _, hash, parsed)| GitStateWrite {
            canonical_id,
            git_blob_sha: blobs.get(&path).cloned(),
            git_path: path,
            git_commit_sha: Some(commit.to_string()),
            git_commit_time: Some(time),
            git_content_hash: Some(hash),
            git_workflow_data: Some(parsed),
            parse_error: None,
        })
        .collect();
    ctx.db
        .tenant_tx(tenant_id, move |conn| {
            async move {
                git_db::upsert(conn, tenant_id, environment_id, chrono::Utc::now(), &states)
                    .await?;
                wfops_db::workflows::sync_git_hashes(conn).await
            }
            .scope_boxed()
        })
        .await?;
    Ok(GitRecord {
        status: GitStatus::Committed,
        commit_sha: Some(commit.to_string()),
        files: paths,
        error: None,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn secret_values_become_placeholders_again_and_short_ones_are_left() {
        let mut doc = json!({"nodes": [{"parameters": {
            "auth": "Bearer s3cr3t-token", "list": ["s3cr3t-token"], "x": "abc"}}]});
        redact_secrets(
            &mut doc,
            &[
                ("TOKEN".into(), "s3cr3t-token".into()),
                ("TINY".into(), "abc".into()),
            ],
        );
        assert_eq!(
            doc,
            json!({"nodes": [{"parameters": {
                "auth": "Bearer {{env.TOKEN}}", "list": ["{{env.TOKEN}}"], "x": "abc"}}]})
        );
    }
}
