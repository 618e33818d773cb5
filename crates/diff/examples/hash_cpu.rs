//! Hashes the fixture corpus `PASSES` times on one thread, for comparing two builds of the
//! hash by CPU time on a shared machine, where wall-clock figures are noise:
//!
//! ```text
//! /usr/bin/time -f '%U s user' cargo run --release -p wfops-diff --example hash_cpu
//! ```
//!
//! `WFOPS_FIXTURES` names the corpus folder; `PASSES` defaults to 20. Prints the number of
//! documents hashed and a checksum of the hashes so that both builds provably did the same work.

use std::path::PathBuf;

fn main() {
    let dir = std::env::var_os("WFOPS_FIXTURES").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/n8n-workflows"),
        PathBuf::from,
    );
    let passes: usize = std::env::var("PASSES")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(20);
    let mut docs: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "json"))
                .filter_map(|p| std::fs::read(p).ok())
                .collect()
        })
        .unwrap_or_default();
    docs.sort();
    let mut hasher = wfops_diff::ContentHasher::new();
    let (mut hashed, mut check) = (0usize, 0u64);
    for _ in 0..passes {
        for d in &docs {
            if let Ok(h) = hasher.hash(d) {
                hashed += 1;
                check = check
                    .wrapping_mul(31)
                    .wrapping_add(u64::from(h.as_bytes()[0]));
            }
        }
    }
    println!(
        "{} documents x {passes} passes: {hashed} hashed, checksum {check}",
        docs.len()
    );
}
