//! Property tests: the content hash ignores exactly what docs/content-hash.md says it ignores
//! (reordered keys, nodes and connection targets, canvas moves, regenerated node and webhook ids,
//! other credential ids for the same credential name, instance metadata) and sees every change of
//! behaviour; the diff agrees with the hash.

// Test code: a failed unwrap or expect is the test's failure message (clippy.toml allows them
// in tests, but not yet in the helpers of integration tests).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::gen::{arb_style, arb_workflow, write_styled, Rng};
use common::mutate::{
    apply_behaviour, apply_invariant, Behaviour, Invariant, BEHAVIOURS, INVARIANTS,
};
use proptest::prelude::*;
use serde_json::Value;
use wfops_diff::{content_hash, content_hash_value, diff_workflows, portable};

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        ..ProptestConfig::default()
    }
}

fn arb_invariant() -> impl Strategy<Value = Invariant> {
    prop::sample::select(&INVARIANTS[..])
}

fn arb_behaviour() -> impl Strategy<Value = Behaviour> {
    prop::sample::select(&BEHAVIOURS[..])
}

proptest! {
    #![proptest_config(config())]

    /// Key order, whitespace, string escapes and number spellings do not matter.
    #[test]
    fn spelling_does_not_change_the_hash(w in arb_workflow(), a in arb_style(), b in arb_style()) {
        let ha = content_hash(&write_styled(&w, &a)).expect("valid");
        let hb = content_hash(&write_styled(&w, &b)).expect("valid");
        prop_assert_eq!(ha, hb);
        prop_assert_eq!(content_hash_value(&w).expect("valid"), ha);
    }

    /// Each edit n8n makes without changing behaviour keeps the hash, and the diff reports no
    /// content change.
    #[test]
    fn invariant_edits_keep_the_hash(w in arb_workflow(), inv in arb_invariant(), seed in any::<u64>()) {
        let mut edited = w.clone();
        apply_invariant(&mut edited, inv, &mut Rng::new(seed));
        prop_assert_eq!(content_hash_value(&edited), content_hash_value(&w), "{:?}", inv);
        let d = diff_workflows(&w, &edited).expect("diff");
        prop_assert!(!d.content_changed && !d.has_content_changes(), "{:?}: {:?}", inv, d);
    }

    /// All of them together, then respelled.
    #[test]
    fn all_invariant_edits_together_keep_the_hash(w in arb_workflow(), seed in any::<u64>(), style in arb_style()) {
        let mut edited = w.clone();
        let mut rng = Rng::new(seed);
        for inv in INVARIANTS {
            apply_invariant(&mut edited, inv, &mut rng);
        }
        prop_assert_eq!(content_hash(&write_styled(&edited, &style)), content_hash_value(&w));
    }

    /// Every change of behaviour changes the hash, and the diff reports it.
    #[test]
    fn behaviour_edits_change_the_hash(w in arb_workflow(), b in arb_behaviour(), seed in any::<u64>()) {
        let mut edited = w.clone();
        prop_assume!(apply_behaviour(&mut edited, b, &mut Rng::new(seed)));
        let before = content_hash_value(&w).expect("valid");
        let after = content_hash_value(&edited).expect("valid");
        prop_assert_ne!(before, after, "{:?}", b);
        let d = diff_workflows(&w, &edited).expect("diff");
        prop_assert!(d.content_changed && d.has_content_changes(), "{:?}: {:?}", b, d);
    }

    /// For any two workflows, the diff lists a content change exactly when the hashes differ,
    /// and diffing a workflow with itself is empty.
    #[test]
    fn diff_agrees_with_the_hash(a in arb_workflow(), b in arb_workflow()) {
        let d = diff_workflows(&a, &b).expect("diff");
        prop_assert_eq!(d.has_content_changes(), d.content_changed);
        prop_assert_eq!(d.content_changed, content_hash_value(&a) != content_hash_value(&b));
        prop_assert!(diff_workflows(&a, &a).expect("diff").is_empty());
    }

    /// The portable file hashes like the workflow, is its own portable form, and keeps
    /// positions and ids.
    #[test]
    fn portable_round_trips(w in arb_workflow(), style in arb_style()) {
        let p = portable(&write_styled(&w, &style)).expect("valid");
        prop_assert_eq!(content_hash(&p), content_hash_value(&w));
        prop_assert_eq!(portable(&p).expect("valid"), p.clone());
        let back: Value = serde_json::from_slice(&p).expect("json");
        for n in back["nodes"].as_array().expect("nodes") {
            prop_assert!(n.get("position").is_some() && n.get("id").is_some());
        }
        prop_assert!(back.get("active").is_none() && back.get("pinData").is_none());
    }
}
