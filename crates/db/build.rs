//! `embed_migrations!` reads the migrations folder at compile time; tell Cargo to rebuild the
//! crate when it changes, or a new migration would be missing from the binary. The folder's
//! digest is baked in beside it, so that what a binary calls "these migrations" (test templates
//! are named by it) is exactly what it embeds.

#[path = "src/migrations_digest.rs"]
mod migrations_digest;

fn main() {
    println!("cargo:rerun-if-changed=../../migrations");
    let manifest = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let dir = std::path::Path::new(&manifest).join("../../migrations");
    let digest = migrations_digest::migrations_digest(&dir).expect("reading the migrations folder");
    println!("cargo:rustc-env=WFOPS_MIGRATIONS_DIGEST={digest}");
}
