//! `embed_migrations!` reads the migrations folder at compile time; tell Cargo to rebuild the
//! crate when it changes, or a new migration would be missing from the binary. The folder's
//! digest is baked in beside it, so that what a binary calls "these migrations" (test templates
//! are named by it) is exactly what it embeds.

#[path = "src/migrations_digest.rs"]
mod migrations_digest;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=../../migrations");
    let manifest = std::env::var("CARGO_MANIFEST_DIR")
        .map_err(|e| format!("cargo sets CARGO_MANIFEST_DIR: {e}"))?;
    let dir = std::path::Path::new(&manifest).join("../../migrations");
    let digest = migrations_digest::migrations_digest(&dir)
        .map_err(|e| format!("reading the migrations folder {}: {e}", dir.display()))?;
    println!("cargo:rustc-env=WFOPS_MIGRATIONS_DIGEST={digest}");
    Ok(())
}
