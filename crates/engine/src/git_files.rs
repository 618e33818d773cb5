//! Workflow files read from an environment's Git folder: each one validated, named and hashed
//! the way the database records Git content. Shared by repository sync and onboarding.

use serde_json::Value;
use wfops_diff::{ContentHasher, Resolve};
use wfops_git::GitFile;

/// One file of the folder, validated and hashed.
pub(crate) struct ParsedFile {
    pub path: String,
    /// The file name without `.json`.
    pub stem: String,
    pub blob_sha: String,
    /// The workflow, or why the file is not one.
    pub parsed: std::result::Result<Workflow, String>,
}

pub(crate) struct Workflow {
    pub hash: String,
    pub name: String,
    pub document: Value,
    /// What the hash registry keeps to detect collisions.
    pub normalized: Value,
}

/// Parses and hashes a folder's files; `resolve` maps the ids of the environment whose folder
/// it is to canonical workflows (sub-workflow references).
pub(crate) fn parse_files(files: Vec<GitFile>, resolve: Resolve<'_>) -> Vec<ParsedFile> {
    let mut hasher = ContentHasher::new();
    files
        .into_iter()
        .map(|file| {
            let stem = file
                .path
                .rsplit('/')
                .next()
                .and_then(|name| name.strip_suffix(".json"))
                .unwrap_or(&file.path)
                .to_owned();
            let parsed = parse_workflow(&mut hasher, &file.bytes, &stem, resolve);
            ParsedFile {
                path: file.path,
                stem,
                blob_sha: file.blob_sha,
                parsed,
            }
        })
        .collect()
}

pub(crate) fn parse_workflow(
    hasher: &mut ContentHasher,
    bytes: &[u8],
    stem: &str,
    resolve: Resolve<'_>,
) -> std::result::Result<Workflow, String> {
    let hash = hasher
        .hash_resolving(bytes, resolve)
        .map_err(|e| e.to_string())?;
    let normalized: Value = serde_json::from_slice(
        hasher
            .canonical_resolving(bytes, resolve)
            .map_err(|e| e.to_string())?,
    )
    .map_err(|e| format!("normalized document can not be read back: {e}"))?;
    let document: Value = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    let name = document
        .get("name")
        .and_then(Value::as_str)
        .filter(|n| !n.trim().is_empty())
        .unwrap_or(stem)
        .to_owned();
    Ok(Workflow {
        hash: hash.to_hex(),
        name,
        document,
        normalized,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, bytes: &[u8]) -> GitFile {
        GitFile {
            path: path.into(),
            bytes: bytes.to_vec(),
            blob_sha: "0".repeat(40),
        }
    }

    #[test]
    fn files_are_hashed_named_and_their_errors_kept() {
        let doc = serde_json::json!({
            "name": "Order Sync",
            "nodes": [{"name": "Start", "type": "n8n-nodes-base.manualTrigger", "parameters": {},
                       "position": [0, 0]}],
            "connections": {},
            "settings": {}
        });
        let bytes = serde_json::to_vec(&doc).unwrap();
        let unnamed = serde_json::to_vec(&serde_json::json!({
            "name": " ", "nodes": [], "connections": {}
        }))
        .unwrap();
        let parsed = parse_files(
            vec![
                file("workflows/dev/order-sync.json", &bytes),
                file("workflows/dev/Unnamed One.json", &unnamed),
                file("workflows/dev/bad.json", b"{\"name\": 1,"),
            ],
            &|_| None,
        );
        assert_eq!(parsed[0].stem, "order-sync");
        let w = parsed[0].parsed.as_ref().unwrap();
        assert_eq!(w.name, "Order Sync");
        assert_eq!(w.hash, wfops_diff::content_hash(&bytes).unwrap().to_hex());
        assert_eq!(
            wfops_diff::content_hash_value(&w.normalized)
                .unwrap()
                .to_hex(),
            w.hash,
            "the registry payload hashes to its key"
        );
        // a blank name falls back to the file name
        assert_eq!(parsed[1].parsed.as_ref().unwrap().name, "Unnamed One");
        let err = parsed[2].parsed.as_ref().err().unwrap();
        assert!(err.contains("line 1"), "{err}");
    }
}
