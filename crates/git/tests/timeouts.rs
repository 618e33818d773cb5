//! A remote that accepts connections and never answers: the fetch fails with
//! `GitError::Timeout` once the read timeout has passed, instead of waiting for the operating
//! system to give up. In its own test binary because libgit2's timeouts are process-wide and
//! fixed by the first mirror opened.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on broken setup

use std::net::TcpListener;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use wfops_git::{GitAuth, GitError, Mirror, NetworkTimeouts, RemoteSpec};

const TIMEOUTS: NetworkTimeouts = NetworkTimeouts {
    connect: Duration::from_secs(2),
    read: Duration::from_millis(700),
};

/// A listener whose connections the kernel completes (they wait in its backlog) while nobody
/// ever reads or writes them: from the client's side, a remote that stays silent.
fn silent_listener() -> (TcpListener, u16) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    (listener, port)
}

/// Fetches in a thread and waits for the outcome with a deadline well past the read timeout,
/// so that a fetch that hangs fails the test instead of blocking it.
fn fetch_with_deadline(url: String) -> (Result<Option<wfops_git::CommitSha>, GitError>, Duration) {
    wfops_git::set_network_timeouts(TIMEOUTS).expect("first choice in this process");
    let cache = tempfile::tempdir().unwrap();
    let (tx, rx) = mpsc::channel();
    let cache_dir = cache.path().to_path_buf();
    std::thread::spawn(move || {
        let spec = RemoteSpec::new(url, "main", GitAuth::None);
        let started = Instant::now();
        let outcome = Mirror::open(&cache_dir, &spec).and_then(|m| m.fetch());
        let _ = tx.send((outcome, started.elapsed()));
    });
    rx.recv_timeout(TIMEOUTS.read + Duration::from_secs(20))
        .expect("the fetch of a silent remote must end soon after the read timeout")
}

fn assert_timed_out(outcome: Result<Option<wfops_git::CommitSha>, GitError>, took: Duration) {
    match outcome {
        Err(e @ GitError::Timeout { .. }) => {
            let shown = e.to_string();
            assert!(shown.contains("did not answer in time"), "{shown}");
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert!(
        took >= TIMEOUTS.read,
        "failed before the read timeout ({took:?}): not the timeout that ended it"
    );
    assert!(
        took < TIMEOUTS.read * 4 + Duration::from_secs(3),
        "{took:?}"
    );
}

#[test]
fn a_silent_http_remote_times_out() {
    let (_listener, port) = silent_listener();
    let (outcome, took) = fetch_with_deadline(format!("http://127.0.0.1:{port}/org/repo.git"));
    assert_timed_out(outcome, took);
    assert_eq!(wfops_git::network_timeouts(), TIMEOUTS);
}

#[test]
fn a_silent_https_remote_times_out() {
    let (_listener, port) = silent_listener();
    let (outcome, took) = fetch_with_deadline(format!("https://127.0.0.1:{port}/org/repo.git"));
    assert_timed_out(outcome, took);
}

#[test]
fn the_first_choice_of_timeouts_stays() {
    wfops_git::set_network_timeouts(TIMEOUTS).expect("same value again is fine");
    let other = NetworkTimeouts {
        connect: Duration::from_secs(1),
        read: Duration::from_secs(1),
    };
    assert_eq!(wfops_git::set_network_timeouts(other), Err(TIMEOUTS));
}
