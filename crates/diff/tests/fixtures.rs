//! The content hash, the portable form and the diff on the 1,015 real n8n exports.

// Test code: a failed unwrap or expect is the test's failure message (clippy.toml allows them
// in tests, but not yet in the helpers of integration tests).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::gen::{write_styled, Rng, Style};
use common::mutate::{apply_behaviour, apply_invariant, BEHAVIOURS, INVARIANTS};
use common::{fixtures, reference, valid_fixtures};
use serde_json::Value;
use wfops_diff::{
    canonical_bytes, canonicalize_json, content_hash, content_hash_batch, content_hash_value,
    diff_workflows, portable, DiffError,
};

/// The fixtures that must be rejected, and a word their error message must contain.
const REJECTED: [(&str, &str); 6] = [
    (
        "0055_Signl4_Interval_Create_Scheduled.json",
        "duplicate node name \"Function\"",
    ),
    ("1250_Automation.json", "looks mangled"),
    ("1271_Automate.json", "looks mangled"),
    ("1326_Automate.json", "looks mangled"),
    ("1634_Automation.json", "looks mangled"),
    ("1911_Automate.json", "looks mangled"),
];

#[test]
fn every_fixture_is_hashed_or_rejected_with_a_clear_error() {
    let all = fixtures();
    assert_eq!(all.len(), 1015, "the fixture corpus changed");
    let mut rejected = Vec::new();
    for (name, bytes) in &all {
        match content_hash(bytes) {
            Ok(h) => assert_eq!(h.to_hex().len(), 64),
            Err(e) => rejected.push((name.clone(), e)),
        }
    }
    let names: Vec<&str> = rejected.iter().map(|(n, _)| n.as_str()).collect();
    let expected: Vec<&str> = REJECTED.iter().map(|(n, _)| *n).collect();
    assert_eq!(names, expected);
    for ((name, err), (_, word)) in rejected.iter().zip(REJECTED) {
        let msg = err.to_string();
        assert!(msg.contains(word), "{name}: {msg}");
        match err {
            DiffError::MangledKey { key } => {
                assert!(
                    key.starts_with('"'),
                    "{name}: the key shown is the quoted one: {key}"
                );
                assert!(msg.contains("top-level key"), "{name}: {msg}");
            }
            DiffError::DuplicateNodeName { first, second, .. } => {
                assert_eq!((*first, *second), (0, 3), "{name}");
            }
            other => panic!("{name}: unexpected error kind {other:?}"),
        }
    }
}

#[test]
fn fast_canonical_form_equals_reference_on_every_fixture() {
    for (name, bytes) in fixtures() {
        let fast = canonical_bytes(&bytes);
        let slow = reference::canonical(&bytes);
        match (fast, slow) {
            (Ok(f), Ok(s)) => assert!(f == s, "{name}: canonical bytes differ"),
            (Err(_), Err(_)) => {}
            (f, s) => panic!("{name}: fast {:?} vs reference {:?}", f.err(), s.err()),
        }
    }
}

#[test]
fn batch_value_and_single_hashes_agree() {
    let all = fixtures();
    let docs: Vec<&[u8]> = all.iter().map(|(_, b)| b.as_slice()).collect();
    let batch = content_hash_batch(&docs);
    assert_eq!(batch.len(), docs.len());
    for ((name, bytes), b) in all.iter().zip(&batch) {
        let single = content_hash(bytes);
        assert_eq!(&single, b, "{name}");
        if let Ok(h) = single {
            let v: Value = serde_json::from_slice(bytes).expect("valid");
            assert_eq!(content_hash_value(&v), Ok(h), "{name}: Value API");
            assert_eq!(
                Ok(h.to_hex()),
                reference::hash(bytes),
                "{name}: reference hash"
            );
        }
    }
}

#[test]
fn portable_form_round_trips_on_every_fixture() {
    for (name, bytes) in fixtures() {
        let Ok(hash) = content_hash(&bytes) else {
            assert!(
                portable(&bytes).is_err(),
                "{name}: rejected for hashing, not for portable"
            );
            continue;
        };
        let p = portable(&bytes).expect("portable");
        assert_eq!(
            content_hash(&p),
            Ok(hash),
            "{name}: hash of the portable file"
        );
        assert_eq!(
            portable(&p).as_deref(),
            Ok(p.as_slice()),
            "{name}: portable is a fixpoint"
        );
        assert!(
            p.ends_with(b"}\n") && !p.ends_with(b"\n\n"),
            "{name}: one trailing newline"
        );
        let orig: Value = serde_json::from_slice(&bytes).expect("valid");
        let v: Value = serde_json::from_slice(&p).expect("portable parses");
        let keys: Vec<&str> = v
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        for k in &keys {
            assert!(
                ["connections", "name", "nodes", "settings"].contains(k),
                "{name}: portable keeps no {k}"
            );
        }
        // Nodes keep everything n8n needs, including what the hash ignores.
        let count = |w: &Value| w["nodes"].as_array().map_or(0, Vec::len);
        assert_eq!(count(&v), count(&orig), "{name}");
        for n in v["nodes"].as_array().expect("nodes") {
            let o = orig["nodes"]
                .as_array()
                .expect("nodes")
                .iter()
                .find(|o| o["name"] == n["name"])
                .expect("same node");
            let canon = |x: &Value| canonicalize_json(&serde_json::to_vec(x).expect("json"));
            assert_eq!(canon(o), canon(n), "{name}: node {} kept whole", n["name"]);
        }
    }
}

#[test]
fn invariances_hold_on_every_fixture() {
    let mut rng = Rng::new(7);
    for (name, v) in valid_fixtures() {
        let base = content_hash_value(&v).expect("valid");
        let mut all = v.clone();
        for inv in INVARIANTS {
            let mut w = v.clone();
            apply_invariant(&mut w, inv, &mut rng);
            apply_invariant(&mut all, inv, &mut rng);
            assert_eq!(content_hash_value(&w), Ok(base), "{name}: {inv:?}");
        }
        // All of them at once, spelled differently (key order, whitespace, escapes, number
        // forms): same hash, and the diff sees no content change.
        let style = Style {
            seed: rng.next(),
            pretty: rng.below(2) == 0,
        };
        assert_eq!(
            content_hash(&write_styled(&all, &style)),
            Ok(base),
            "{name}: all"
        );
        let d = diff_workflows(&v, &all).expect("diff");
        assert!(
            !d.content_changed && !d.has_content_changes(),
            "{name}: {d:?}"
        );
    }
}

#[test]
fn behaviour_changes_change_the_hash_on_every_fixture() {
    let mut rng = Rng::new(11);
    for (i, (name, v)) in valid_fixtures().into_iter().enumerate() {
        let base = content_hash_value(&v).expect("valid");
        for b in BEHAVIOURS {
            let mut w = v.clone();
            if !apply_behaviour(&mut w, b, &mut rng) {
                continue;
            }
            let h = content_hash_value(&w).expect("still valid");
            assert_ne!(h, base, "{name}: {b:?}");
            // The diff is slower (owned values); a quarter of the corpus per change is plenty.
            if i % 4 == 0 {
                let d = diff_workflows(&v, &w).expect("diff");
                assert!(
                    d.content_changed && d.has_content_changes(),
                    "{name}: {b:?}"
                );
            }
        }
    }
}
