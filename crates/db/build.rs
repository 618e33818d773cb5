//! `embed_migrations!` reads the migrations folder at compile time; tell Cargo to rebuild the
//! crate when it changes, or a new migration would be missing from the binary.

fn main() {
    println!("cargo:rerun-if-changed=../../migrations");
}
