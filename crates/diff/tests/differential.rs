//! The fast canonicalizer against the reference implementation, on generated input: same
//! bytes out, and the same documents rejected.

// Test code: a failed unwrap or expect is the test's failure message (clippy.toml allows them
// in tests, but not yet in the helpers of integration tests).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::gen::{arb_json, arb_style, arb_workflow, write_styled};
use common::reference;
use proptest::prelude::*;
use wfops_diff::{
    canonical_bytes, canonicalize_json, content_hash, content_hash_value, ContentHash, DiffError,
};

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 512,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    /// Any JSON value, spelled any way, canonicalizes to the reference's RFC 8785 bytes.
    #[test]
    fn any_json_canonicalizes_like_the_reference(v in arb_json(), style in arb_style()) {
        let text = write_styled(&v, &style);
        let fast = canonicalize_json(&text).expect("valid JSON");
        let slow = reference::jcs(&reference::parse_strict(&text).expect("valid JSON"));
        prop_assert_eq!(String::from_utf8(fast).expect("utf-8"), slow);
    }

    /// Generated workflows normalize to the reference's bytes.
    #[test]
    fn workflows_canonicalize_like_the_reference(w in arb_workflow(), style in arb_style()) {
        let text = write_styled(&w, &style);
        let fast = canonical_bytes(&text).expect("valid workflow");
        let slow = reference::canonical(&text).expect("valid workflow");
        prop_assert_eq!(String::from_utf8(fast).expect("utf-8"), String::from_utf8(slow).expect("utf-8"));
        prop_assert_eq!(content_hash(&text).map(|h| h.to_hex()).ok(), reference::hash(&text).ok());
        prop_assert_eq!(content_hash_value(&w), content_hash(&text));
    }

    /// Damaged documents (a byte deleted, replaced or inserted) are accepted or rejected by
    /// both implementations alike, and never panic.
    #[test]
    fn damaged_documents_agree_with_the_reference(
        w in arb_workflow(),
        style in arb_style(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), 0u8..3, any::<u8>()), 1..4),
    ) {
        let mut text = write_styled(&w, &style);
        for (at, op, byte) in edits {
            let i = at.index(text.len().max(1)).min(text.len());
            match op {
                0 if i < text.len() => { text.remove(i); }
                1 if i < text.len() => text[i] = byte,
                _ => text.insert(i, byte),
            }
        }
        let fast = canonical_bytes(&text);
        let slow = reference::canonical(&text);
        match (&fast, &slow) {
            (Ok(f), Ok(s)) => prop_assert_eq!(f, s),
            (Err(_), Err(_)) => {}
            _ => prop_assert!(false, "fast {:?} vs reference {:?} on {:?}", fast.err(), slow.err(), String::from_utf8_lossy(&text)),
        }
    }

    /// Arbitrary bytes: never a panic, same verdict as the reference.
    #[test]
    fn arbitrary_bytes_agree_with_the_reference(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        prop_assert_eq!(canonicalize_json(&bytes).is_ok(), reference::parse_strict(&bytes).is_ok());
        prop_assert_eq!(canonical_bytes(&bytes).is_ok(), reference::canonical(&bytes).is_ok());
    }
}

#[test]
fn depth_limit_matches_the_reference_at_the_boundary() {
    for depth in [99, 100, 101, 127, 128, 129, 500] {
        let doc = format!(
            "{{\"name\":\"d\",\"nodes\":[],\"connections\":{{}},\"meta\":{}{}}}",
            "[".repeat(depth - 1),
            "]".repeat(depth - 1)
        );
        // The workflow object itself is one level.
        let fast = canonical_bytes(doc.as_bytes());
        let slow = reference::canonical(doc.as_bytes());
        assert_eq!(fast.is_ok(), slow.is_ok(), "depth {depth}");
        assert_eq!(fast.is_ok(), depth <= 100, "depth {depth}");
        if let Err(e) = fast {
            assert!(matches!(e, DiffError::TooDeep { limit: 100, .. }), "{e}");
        }
    }
}

#[test]
fn content_hash_text_form_round_trips() {
    let h = content_hash(br#"{"nodes":[],"connections":{}}"#).expect("valid");
    let hex = h.to_hex();
    assert_eq!(hex.parse::<ContentHash>(), Ok(h));
    assert_eq!(
        serde_json::to_string(&h).expect("json"),
        format!("\"{hex}\"")
    );
    assert_eq!(
        serde_json::from_str::<ContentHash>(&format!("\"{hex}\"")).expect("json"),
        h
    );
    for bad in [
        "",
        "abc",
        &hex.to_uppercase(),
        &format!("{hex}0"),
        &"g".repeat(64),
    ] {
        let e = bad.parse::<ContentHash>().expect_err(bad);
        assert!(e.to_string().contains("64 lower-case hex digits"), "{e}");
    }
}
