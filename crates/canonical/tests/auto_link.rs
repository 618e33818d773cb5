//! Auto-link decisions and hash collisions (docs/sync-and-identity.md#auto-link).

use serde_json::{json, Value};
use wfops_canonical::{
    check_registry_entry, decide_auto_link, find_collisions, AutoLinkDecision, AutoLinkInput,
    CanonicalError, CanonicalId, CollisionKind, ExistingMapping, HashCandidate, HashCollision,
    MappingStatus, NoLinkReason,
};
use wfops_diff::{canonical_bytes_value, content_hash_value, ContentHash};

fn candidate(id: CanonicalId) -> HashCandidate {
    HashCandidate {
        canonical_id: id,
        canonical_deleted: false,
        existing_mapping: None,
    }
}

fn decide(
    status: MappingStatus,
    candidates: &[HashCandidate],
    collision: Option<&HashCollision>,
) -> AutoLinkDecision {
    decide_auto_link(&AutoLinkInput {
        status,
        candidates,
        collision,
    })
}

fn workflow(text: &str) -> Value {
    json!({
        "id": "abc", "name": "Invoices", "active": true,
        "nodes": [{"id": "1", "name": "Set", "type": "n8n-nodes-base.set", "typeVersion": 3,
                   "position": [0, 0], "parameters": {"text": text}}],
        "connections": {}
    })
}

#[test]
fn links_when_every_condition_holds() {
    let id = CanonicalId::new_random();
    assert_eq!(
        decide(MappingStatus::Untracked, &[candidate(id)], None),
        AutoLinkDecision::Link { canonical_id: id }
    );
    // The same canonical listed twice is still one canonical id.
    assert_eq!(
        decide(
            MappingStatus::Untracked,
            &[candidate(id), candidate(id)],
            None
        ),
        AutoLinkDecision::Link { canonical_id: id }
    );
}

#[test]
fn every_other_case_gives_a_reason() {
    let id = CanonicalId::new_random();
    let other = CanonicalId::new_random();
    for status in [
        MappingStatus::Linked,
        MappingStatus::Missing,
        MappingStatus::Ignored,
        MappingStatus::Deleted,
    ] {
        assert_eq!(
            decide(status, &[candidate(id)], None),
            AutoLinkDecision::DoNotLink(NoLinkReason::NotUntracked { status })
        );
    }
    assert_eq!(
        decide(MappingStatus::Untracked, &[], None),
        AutoLinkDecision::DoNotLink(NoLinkReason::HashNotRegistered)
    );
    let AutoLinkDecision::DoNotLink(NoLinkReason::AmbiguousHash { canonical_ids }) = decide(
        MappingStatus::Untracked,
        &[candidate(id), candidate(other)],
        None,
    ) else {
        panic!("expected ambiguous");
    };
    let mut both = vec![id, other];
    both.sort();
    assert_eq!(canonical_ids, both);
    let deleted = HashCandidate {
        canonical_deleted: true,
        ..candidate(id)
    };
    assert_eq!(
        decide(MappingStatus::Untracked, &[deleted], None),
        AutoLinkDecision::DoNotLink(NoLinkReason::CanonicalDeleted { canonical_id: id })
    );
    let existing = ExistingMapping {
        n8n_workflow_id: "wf-42".into(),
        status: MappingStatus::Linked,
    };
    let mapped = HashCandidate {
        existing_mapping: Some(existing.clone()),
        ..candidate(id)
    };
    assert_eq!(
        decide(MappingStatus::Untracked, &[mapped], None),
        AutoLinkDecision::DoNotLink(NoLinkReason::CanonicalAlreadyMapped {
            canonical_id: id,
            existing
        })
    );
}

#[test]
fn a_collision_blocks_the_link_and_is_reported() {
    let id = CanonicalId::new_random();
    let incoming = workflow("hello");
    let key = content_hash_value(&incoming).unwrap();
    // The registry entry was written from other content (stale rules or an edited payload).
    let registered = workflow("tampered");
    let collision = check_registry_entry(key, Some(id), &registered, &incoming)
        .unwrap()
        .expect("payloads differ");
    assert_eq!(collision.content_hash, key);
    assert_eq!(collision.registered_canonical_id, Some(id));
    assert_eq!(
        collision.kind,
        CollisionKind::StaleEntry {
            registered_payload_hash: content_hash_value(&registered).unwrap()
        }
    );
    let d = decide(MappingStatus::Untracked, &[candidate(id)], Some(&collision));
    assert_eq!(
        d,
        AutoLinkDecision::DoNotLink(NoLinkReason::HashCollision {
            collision: collision.clone()
        })
    );
    // The report serializes for the API and the audit trail.
    let j = serde_json::to_value(&d).unwrap();
    assert_eq!(j["decision"], json!("do_not_link"));
    assert_eq!(j["reason"], json!("hash_collision"));
    assert_eq!(j["collision"]["kind"]["kind"], json!("stale_entry"));
}

#[test]
fn same_normalized_payload_is_not_a_collision() {
    let incoming = workflow("hello");
    let key = content_hash_value(&incoming).unwrap();
    // Registered from another environment: other ids, positions, active flag, key order.
    let mut registered = workflow("hello");
    registered["id"] = json!("prod-id");
    registered["active"] = json!(false);
    registered["nodes"][0]["position"] = json!([300, 300]);
    registered["nodes"][0]["id"] = json!("other");
    assert_eq!(
        check_registry_entry(key, None, &registered, &incoming),
        Ok(None)
    );
}

#[test]
fn an_unreadable_registry_entry_is_a_collision() {
    let incoming = workflow("hello");
    let key = content_hash_value(&incoming).unwrap();
    let c = check_registry_entry(key, None, &json!({"nodes": "oops"}), &incoming)
        .unwrap()
        .unwrap();
    let CollisionKind::InvalidEntry { error } = c.kind else {
        panic!("{c:?}")
    };
    assert_eq!(
        error,
        "workflow field `nodes` must be an array, found a string"
    );
}

#[test]
fn batch_scan_finds_hashes_seen_with_several_payloads() {
    let a = canonical_bytes_value(&workflow("a")).unwrap();
    let b = canonical_bytes_value(&workflow("b")).unwrap();
    let key = ContentHash::from_bytes([7; 32]);
    let other = ContentHash::from_bytes([8; 32]);
    assert_eq!(
        find_collisions([
            (key, a.as_slice()),
            (other, b.as_slice()),
            (key, a.as_slice())
        ]),
        Vec::<ContentHash>::new()
    );
    assert_eq!(
        find_collisions([
            (key, a.as_slice()),
            (key, b.as_slice()),
            (key, b.as_slice()),
            (other, a.as_slice())
        ]),
        vec![key]
    );
}

#[test]
fn the_wrong_registry_entry_is_an_error() {
    let incoming = workflow("hello");
    let wrong = ContentHash::from_bytes([1; 32]);
    let e = check_registry_entry(wrong, None, &incoming, &incoming).unwrap_err();
    assert!(matches!(e, CanonicalError::HashMismatch { .. }), "{e}");
    assert!(e.to_string().contains(&wrong.to_hex()));
    let e = check_registry_entry(wrong, None, &incoming, &json!([])).unwrap_err();
    assert_eq!(
        e.to_string(),
        "a workflow must be a JSON object, found an array"
    );
}
