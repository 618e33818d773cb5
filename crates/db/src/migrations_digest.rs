//! The digest of the migrations folder. Shared by `build.rs`, which bakes it into the crate
//! beside the migrations it embeds (`migrate::MIGRATIONS_DIGEST`), and by the crate itself.

use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// A digest of every file under `migrations/`: a changed migration means a new template.
pub fn migrations_digest(dir: &Path) -> std::io::Result<String> {
    fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            if path.is_dir() {
                collect(&path, out)?;
            } else {
                out.push(path);
            }
        }
        Ok(())
    }
    let mut files = Vec::new();
    collect(dir, &mut files)?;
    files.sort();
    let mut hasher = Sha256::new();
    for file in files {
        let relative = file.strip_prefix(dir).unwrap_or(&file);
        hasher.update(relative.to_string_lossy().as_bytes());
        hasher.update([0]);
        hasher.update(std::fs::read(&file)?);
        hasher.update([0]);
    }
    Ok(hex::encode(hasher.finalize()))
}
