//! The mapping status and its precedence (docs/sync-and-identity.md#mapping-status).

use wfops_canonical::{mapping_status, CanonicalId, MappingFacts, MappingStatus};

fn facts(linked: bool, deleted: bool, ignored: bool, seen: bool) -> MappingFacts {
    MappingFacts {
        canonical_id: linked.then(CanonicalId::new_random),
        deleted,
        ignored,
        seen_in_last_sync: seen,
    }
}

#[test]
fn appendix_a1_tree() {
    // canonical_id NULL → UNTRACKED (workflow present).
    assert_eq!(
        mapping_status(&facts(false, false, false, true)),
        MappingStatus::Untracked
    );
    // canonical_id set, present → LINKED; absent → MISSING.
    assert_eq!(
        mapping_status(&facts(true, false, false, true)),
        MappingStatus::Linked
    );
    assert_eq!(
        mapping_status(&facts(true, false, false, false)),
        MappingStatus::Missing
    );
    // Soft-deleted overrides all others.
    for (l, i, s) in [
        (true, true, true),
        (false, false, false),
        (true, false, true),
        (false, true, false),
    ] {
        assert_eq!(
            mapping_status(&facts(l, true, i, s)),
            MappingStatus::Deleted
        );
    }
    // Ignored overrides missing, untracked and linked.
    for (l, s) in [(true, true), (true, false), (false, true), (false, false)] {
        assert_eq!(
            mapping_status(&facts(l, false, true, s)),
            MappingStatus::Ignored
        );
    }
}

#[test]
fn a_vanished_untracked_workflow_is_missing() {
    // missing outranks untracked: a workflow that is gone is reported as gone
    // (docs/decisions/normalization.md).
    assert_eq!(
        mapping_status(&facts(false, false, false, false)),
        MappingStatus::Missing
    );
}

/// For every combination of facts, the status is the highest-precedence status whose own
/// condition holds.
#[test]
fn status_is_the_highest_precedence_condition_that_holds() {
    for bits in 0..16u8 {
        let f = facts(bits & 1 != 0, bits & 2 != 0, bits & 4 != 0, bits & 8 != 0);
        let holds = |s: MappingStatus| match s {
            MappingStatus::Deleted => f.deleted,
            MappingStatus::Ignored => f.ignored,
            MappingStatus::Missing => !f.seen_in_last_sync,
            MappingStatus::Untracked => f.canonical_id.is_none(),
            MappingStatus::Linked => true,
        };
        let expected = MappingStatus::BY_PRECEDENCE
            .into_iter()
            .filter(|s| holds(*s))
            .max_by_key(|s| s.precedence())
            .unwrap();
        assert_eq!(mapping_status(&f), expected, "{f:?}");
    }
}

#[test]
fn precedence_order_matches_the_spec_list() {
    let order: Vec<&str> = MappingStatus::BY_PRECEDENCE
        .iter()
        .map(|s| s.as_str())
        .collect();
    assert_eq!(
        order,
        ["deleted", "ignored", "missing", "untracked", "linked"]
    );
    let ranks: Vec<u8> = MappingStatus::BY_PRECEDENCE
        .iter()
        .map(|s| s.precedence())
        .collect();
    assert!(ranks.windows(2).all(|w| w[0] > w[1]));
    assert!(MappingStatus::Deleted.is_user_decision() && MappingStatus::Ignored.is_user_decision());
    assert!(!MappingStatus::Missing.is_user_decision());
}

#[test]
fn names_round_trip() {
    for s in MappingStatus::BY_PRECEDENCE {
        assert_eq!(s.to_string().parse::<MappingStatus>(), Ok(s));
        assert_eq!(
            serde_json::to_value(s).unwrap(),
            serde_json::json!(s.as_str())
        );
    }
    let e = "LINKED".parse::<MappingStatus>().unwrap_err();
    assert_eq!(e.to_string(), "unknown workflow mapping status \"LINKED\"");
}
