//! The published test vectors of `docs/content-hash.md`.
//!
//! `tests/vectors/NN-*.json` are workflow documents; `NN-*.canonical` hold the exact bytes
//! that are hashed; `SHA256SUMS` lists the content hash of each (`sha256sum -c SHA256SUMS`
//! checks the last step with no Rust at all). `tests/vectors/invalid/` holds documents that
//! must be rejected, with the message each must give in `invalid/EXPECTED`.
//!
//! A vector with sub-workflow references may have `NN-*.resolving`, a JSON object from
//! instance workflow id to the token that names the called workflow; the document hashed with
//! that resolution gives `NN-*.resolved.canonical`, also listed in `SHA256SUMS`.
//!
//! After a deliberate change of the specification, `WFOPS_BLESS=1 cargo test -p wfops-diff
//! --test vectors` rewrites the expected files; review the diff like any other change.

// Test code: a failed unwrap or expect is the test's failure message (clippy.toml allows them
// in tests, but not yet in the helpers of integration tests).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use common::reference;
use sha2::{Digest, Sha256};
use wfops_diff::{canonical_bytes, content_hash, content_hash_resolving, ContentHasher};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors")
}

fn inputs(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .expect("vectors dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    v.sort();
    v
}

fn bless() -> bool {
    std::env::var_os("WFOPS_BLESS").is_some()
}

#[test]
fn valid_vectors_give_the_published_bytes_and_hashes() {
    let dir = dir();
    let sums_path = dir.join("SHA256SUMS");
    let mut sums = BTreeMap::new();
    if !bless() {
        for line in fs::read_to_string(&sums_path).expect("SHA256SUMS").lines() {
            let (hash, file) = line.split_once("  ").expect("`hash  file` lines");
            sums.insert(file.to_owned(), hash.to_owned());
        }
    }
    let mut written = String::new();
    let files = inputs(&dir);
    assert!(files.len() >= 8, "vectors are missing");
    for input in files {
        let name = input.file_name().unwrap().to_string_lossy().into_owned();
        let canon_name = name.replace(".json", ".canonical");
        let bytes = fs::read(&input).unwrap();
        let canon = canonical_bytes(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            reference::canonical(&bytes).as_deref(),
            Ok(canon.as_slice()),
            "{name}: the reference disagrees"
        );
        let hash = content_hash(&bytes).unwrap().to_hex();
        assert_eq!(hash, hex::encode(Sha256::digest(&canon)), "{name}");
        let resolving = dir.join(name.replace(".json", ".resolving"));
        if resolving.exists() {
            let map: BTreeMap<String, String> =
                serde_json::from_slice(&fs::read(&resolving).unwrap()).unwrap();
            let resolve = |id: &str| map.get(id).cloned();
            let resolved_name = name.replace(".json", ".resolved.canonical");
            let resolved = ContentHasher::new()
                .canonical_resolving(&bytes, &resolve)
                .unwrap()
                .to_vec();
            assert_eq!(
                reference::canonical_resolving(&bytes, &resolve).as_deref(),
                Ok(resolved.as_slice()),
                "{name}: the reference disagrees on the resolved form"
            );
            assert_ne!(resolved, canon, "{name}: resolution changed nothing");
            let resolved_hash = content_hash_resolving(&bytes, &resolve).unwrap().to_hex();
            assert_eq!(resolved_hash, hex::encode(Sha256::digest(&resolved)));
            if bless() {
                fs::write(dir.join(&resolved_name), &resolved).unwrap();
                written.push_str(&format!("{resolved_hash}  {resolved_name}\n"));
            } else {
                assert_eq!(
                    fs::read(dir.join(&resolved_name)).unwrap(),
                    resolved,
                    "{name}: resolved bytes differ from {resolved_name}"
                );
                assert_eq!(
                    sums.remove(&resolved_name).as_deref(),
                    Some(resolved_hash.as_str()),
                    "{name}"
                );
            }
        }
        if bless() {
            fs::write(dir.join(&canon_name), &canon).unwrap();
            written.push_str(&format!("{hash}  {canon_name}\n"));
        } else {
            let expected = fs::read(dir.join(&canon_name)).unwrap();
            assert!(
                expected == canon,
                "{name}: canonical bytes differ from {canon_name}:\n{}\n{}",
                String::from_utf8_lossy(&expected),
                String::from_utf8_lossy(&canon)
            );
            assert_eq!(
                sums.remove(&canon_name).as_deref(),
                Some(hash.as_str()),
                "{name}"
            );
        }
    }
    if bless() {
        fs::write(&sums_path, written).unwrap();
    } else {
        assert!(
            sums.is_empty(),
            "SHA256SUMS lists files with no input: {sums:?}"
        );
    }
}

#[test]
fn metadata_only_differences_share_a_hash() {
    // 02 is 01 with instance metadata, `active`, pinned data and empty settings added.
    let dir = dir();
    let a = content_hash(&fs::read(dir.join("01-minimal.json")).unwrap()).unwrap();
    let b = content_hash(&fs::read(dir.join("02-instance-metadata.json")).unwrap()).unwrap();
    assert_eq!(a, b);
}

#[test]
fn invalid_vectors_are_rejected_with_the_published_message() {
    let dir = dir().join("invalid");
    let expected: BTreeMap<String, String> = fs::read_to_string(dir.join("EXPECTED"))
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (f, m) = l.split_once('\t').expect("`file<TAB>message` lines");
            (f.to_owned(), m.to_owned())
        })
        .collect();
    let files = inputs(&dir);
    assert_eq!(
        files.len(),
        expected.len(),
        "every invalid vector has an expected message"
    );
    for input in files {
        let name = input.file_name().unwrap().to_string_lossy().into_owned();
        let bytes = fs::read(&input).unwrap();
        let err = content_hash(&bytes).expect_err(&name).to_string();
        let want = &expected[&name];
        assert!(
            err.contains(want.as_str()),
            "{name}: got {err:?}, want {want:?}"
        );
        assert!(
            reference::canonical(&bytes).is_err(),
            "{name}: the reference accepts it"
        );
    }
}
