//! The three-way diff status: every row of the table in docs/sync-and-identity.md#three-way-status,
//! then the cases it leaves open.

use chrono::{DateTime, TimeZone, Utc};
use wfops_diff::{diff_status, ContentHash, DiffStatus, EnvState, GitState, ThreeWay};

fn h(n: u8) -> ContentHash {
    ContentHash::from_bytes([n; 32])
}

fn t(hour: u32) -> Option<DateTime<Utc>> {
    Some(Utc.with_ymd_and_hms(2025, 3, 1, hour, 0, 0).unwrap())
}

fn env(hash: u8, updated: Option<DateTime<Utc>>) -> Option<EnvState> {
    Some(EnvState {
        hash: h(hash),
        updated_at: updated,
    })
}

fn git(hash: u8, committed: Option<DateTime<Utc>>) -> Option<GitState> {
    Some(GitState {
        hash: h(hash),
        committed_at: committed,
    })
}

fn status(
    source: Option<EnvState>,
    target: Option<EnvState>,
    git: Option<GitState>,
) -> Option<DiffStatus> {
    diff_status(&ThreeWay {
        source,
        target,
        git,
    })
}

// One test per row of the table.

#[test]
fn spec_row_unchanged_all_three_match() {
    assert_eq!(
        status(env(1, t(9)), env(1, t(12)), git(1, t(10))),
        Some(DiffStatus::Unchanged)
    );
}

#[test]
fn spec_row_modified_target_differs_from_source_and_git() {
    // Target last changed before the commit: it is behind, not hot-fixed.
    assert_eq!(
        status(env(1, t(9)), env(2, t(8)), git(1, t(10))),
        Some(DiffStatus::Modified)
    );
}

#[test]
fn spec_row_added_in_source_and_git_not_in_target() {
    assert_eq!(
        status(env(1, t(9)), None, git(1, t(10))),
        Some(DiffStatus::Added)
    );
}

#[test]
fn spec_row_target_only() {
    assert_eq!(
        status(None, env(1, t(9)), None),
        Some(DiffStatus::TargetOnly)
    );
}

#[test]
fn spec_row_conflict_all_three_differ() {
    assert_eq!(
        status(env(1, t(9)), env(2, t(8)), git(3, t(10))),
        Some(DiffStatus::Conflict)
    );
}

#[test]
fn spec_row_target_hotfix_target_modified_after_git_commit() {
    assert_eq!(
        status(env(1, t(9)), env(2, t(11)), git(1, t(10))),
        Some(DiffStatus::TargetHotfix)
    );
}

// Cases the table leaves open (docs/decisions/normalization.md, "Three-way diff status").

#[test]
fn conflict_wins_over_hotfix_timestamps() {
    assert_eq!(
        status(env(1, t(9)), env(2, t(23)), git(3, t(10))),
        Some(DiffStatus::Conflict)
    );
}

#[test]
fn hotfix_needs_both_timestamps_and_a_strictly_later_target() {
    assert_eq!(
        status(env(1, t(9)), env(2, None), git(1, t(10))),
        Some(DiffStatus::Modified)
    );
    assert_eq!(
        status(env(1, t(9)), env(2, t(11)), git(1, None)),
        Some(DiffStatus::Modified)
    );
    assert_eq!(
        status(env(1, t(9)), env(2, t(10)), git(1, t(10))),
        Some(DiffStatus::Modified)
    );
}

#[test]
fn equal_hashes_are_unchanged_whatever_the_timestamps() {
    assert_eq!(
        status(env(1, t(23)), env(1, t(23)), git(1, t(1))),
        Some(DiffStatus::Unchanged)
    );
}

#[test]
fn source_moved_on_while_target_matches_git_is_modified() {
    assert_eq!(
        status(env(2, t(12)), env(1, t(23)), git(1, t(10))),
        Some(DiffStatus::Modified)
    );
}

#[test]
fn source_and_target_agree_but_git_differs() {
    // The target changed after the commit (and the source has the same edit): a hotfix.
    assert_eq!(
        status(env(2, t(11)), env(2, t(11)), git(1, t(10))),
        Some(DiffStatus::TargetHotfix)
    );
    // Git is ahead of both environments: a pending change.
    assert_eq!(
        status(env(2, t(8)), env(2, t(8)), git(1, t(10))),
        Some(DiffStatus::Modified)
    );
}

#[test]
fn without_git_source_and_target_alone_decide() {
    assert_eq!(
        status(env(1, t(9)), env(1, t(9)), None),
        Some(DiffStatus::Unchanged)
    );
    assert_eq!(
        status(env(1, t(9)), env(2, t(23)), None),
        Some(DiffStatus::Modified)
    );
}

#[test]
fn absence_cases() {
    assert_eq!(status(env(1, t(9)), None, None), Some(DiffStatus::Added));
    assert_eq!(status(None, None, git(1, t(9))), Some(DiffStatus::Added));
    assert_eq!(
        status(None, env(1, t(9)), git(1, t(9))),
        Some(DiffStatus::TargetOnly)
    );
    assert_eq!(status(None, None, None), None);
}

#[test]
fn statuses_have_stable_names() {
    for s in DiffStatus::ALL {
        assert_eq!(s.as_str().parse::<DiffStatus>(), Ok(s));
        assert_eq!(
            serde_json::to_value(s).unwrap(),
            serde_json::json!(s.as_str())
        );
    }
    assert_eq!(DiffStatus::TargetHotfix.to_string(), "target_hotfix");
    let e = "hotfix".parse::<DiffStatus>().unwrap_err();
    assert_eq!(e.to_string(), "unknown diff status \"hotfix\"");
}
