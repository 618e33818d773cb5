//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod gen;
pub mod mutate;
pub mod reference;

use std::path::PathBuf;

/// The shared fixture corpus (real n8n exports); `WFOPS_FIXTURES` overrides the location.
pub fn fixtures_dir() -> PathBuf {
    std::env::var_os("WFOPS_FIXTURES").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/n8n-workflows"),
        PathBuf::from,
    )
}

/// Every fixture as (file name, bytes), sorted by name.
pub fn fixtures() -> Vec<(String, Vec<u8>)> {
    let dir = fixtures_dir();
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading fixtures at {}: {e}", dir.display()))
        .map(|e| e.expect("fixture dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| {
            let name = p
                .file_name()
                .expect("file name")
                .to_string_lossy()
                .into_owned();
            let bytes = std::fs::read(&p).expect("read fixture");
            (name, bytes)
        })
        .collect();
    out.sort();
    out
}

/// The fixtures that are valid workflows, parsed.
pub fn valid_fixtures() -> Vec<(String, serde_json::Value)> {
    fixtures()
        .into_iter()
        .filter(|(_, b)| wfops_diff::content_hash(b).is_ok())
        .map(|(n, b)| (n, serde_json::from_slice(&b).expect("valid fixture parses")))
        .collect()
}
