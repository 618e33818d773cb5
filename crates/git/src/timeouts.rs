//! libgit2's network timeouts: how long a connection may take to open, and how long a connected
//! remote may stay silent, before a fetch or push fails with [`crate::GitError::Timeout`].
//!
//! Without them libgit2 waits for as long as the operating system keeps a silent connection
//! open, which is how a remote that accepts and never answers held a job for minutes. libgit2
//! keeps both values in process-wide C globals that git2 can only set through `unsafe`
//! functions; this module is the one place in the workspace allowed to call them
//! (`docs/decisions/git-network-timeouts.md`).

use std::sync::{Once, OnceLock};
use std::time::Duration;

/// The connect and read timeouts of every Git network operation of the process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetworkTimeouts {
    /// How long opening the TCP connection may take.
    pub connect: Duration,
    /// How long a connected remote may send nothing (each read and each write waits at most
    /// this long; a slow but steady transfer is not cut).
    pub read: Duration,
}

impl NetworkTimeouts {
    pub const DEFAULT_CONNECT: Duration = Duration::from_secs(10);
    pub const DEFAULT_READ: Duration = Duration::from_secs(60);
}

impl Default for NetworkTimeouts {
    fn default() -> Self {
        Self {
            connect: Self::DEFAULT_CONNECT,
            read: Self::DEFAULT_READ,
        }
    }
}

static CHOSEN: OnceLock<NetworkTimeouts> = OnceLock::new();
static APPLIED: Once = Once::new();

/// Chooses the timeouts of this process. Call it at start-up, before the first
/// [`crate::Mirror`] is opened; the first choice (or the defaults, when a mirror was opened
/// first) stays for the life of the process, because libgit2 can not be told a new value
/// safely while another thread may be connecting.
///
/// Returns `Err` with the timeouts in effect when they were already fixed to other values.
pub fn set_network_timeouts(timeouts: NetworkTimeouts) -> Result<(), NetworkTimeouts> {
    let chosen = *CHOSEN.get_or_init(|| timeouts);
    if chosen == timeouts {
        Ok(())
    } else {
        Err(chosen)
    }
}

/// The timeouts in effect (the defaults until [`set_network_timeouts`] chose others).
pub fn network_timeouts() -> NetworkTimeouts {
    *CHOSEN.get_or_init(NetworkTimeouts::default)
}

/// libgit2 takes milliseconds as a C `int`, and 0 means "wait forever": a zero duration
/// becomes 1 ms and a huge one the largest `int`.
fn millis(d: Duration) -> i32 {
    i32::try_from(d.as_millis()).unwrap_or(i32::MAX).max(1)
}

/// Hands the chosen timeouts to libgit2, once per process. Every [`crate::Mirror`] calls this
/// before it can touch the network.
pub(crate) fn apply() {
    APPLIED.call_once(|| {
        let t = network_timeouts();
        // SAFETY: these two setters write plain `int` globals of libgit2
        // (`git_socket_stream__connect_timeout`, `git_socket_stream__timeout`) without a lock.
        // Those globals are only read when libgit2 opens a socket or an SSH session, that is
        // during a fetch or a push. In this workspace only this crate links git2, and a fetch
        // or push can only start from a `Mirror`, which `Mirror::open` creates after calling
        // `apply()`. `Once::call_once` runs this closure on exactly one thread, makes every
        // other caller wait until it has returned, and orders the writes before everything
        // those callers do next; so no thread can read the globals while they are written,
        // which is the data race that git2's "call before any thread is spawned" guards
        // against. The values are valid: `millis` gives a positive `int`, the only check
        // libgit2 makes (the setters can not fail otherwise).
        let outcome = unsafe {
            git2::opts::set_server_connect_timeout_in_milliseconds(millis(t.connect))
                .and_then(|()| git2::opts::set_server_timeout_in_milliseconds(millis(t.read)))
        };
        match outcome {
            Ok(()) => tracing::debug!(
                connect_ms = millis(t.connect),
                read_ms = millis(t.read),
                "git network timeouts set"
            ),
            Err(e) => tracing::error!(error = %e.message(), "git network timeouts not set"),
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_become_positive_c_ints() {
        assert_eq!(millis(Duration::ZERO), 1);
        assert_eq!(millis(Duration::from_millis(1500)), 1500);
        assert_eq!(millis(Duration::from_secs(u64::MAX)), i32::MAX);
    }
}
