//! Reads of the authentication generation, shared by concurrent requests.
//!
//! A request may use any read of the generation that was sent after the request arrived: a
//! change committed before the request arrived is then visible to it. So, while one read is
//! in flight, the requests that arrive wait for the next one, which is sent when the first has
//! answered and serves all of them. Under load this is one statement per round trip time
//! instead of one per request; an idle process still reads once per request.

use std::sync::{Arc, Mutex, MutexGuard, Weak};

use futures::future::{BoxFuture, FutureExt, Shared};
use wfops_db::Db;

type Read = Shared<BoxFuture<'static, Option<i64>>>;

#[derive(Default)]
struct Reads {
    next_id: u64,
    /// The read that has not been sent yet: a request arriving now may wait for it.
    waiting: Option<(u64, Read)>,
    /// The read sent last: the waiting one is sent once it has answered.
    sent: Option<Read>,
}

fn lock(reads: &Mutex<Reads>) -> MutexGuard<'_, Reads> {
    reads.lock().unwrap_or_else(|e| e.into_inner())
}

/// See the module documentation. One per API process.
#[derive(Default)]
pub struct GenerationReads {
    reads: Arc<Mutex<Reads>>,
}

impl std::fmt::Debug for GenerationReads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GenerationReads").finish_non_exhaustive()
    }
}

impl GenerationReads {
    /// The generation as of a moment after this call began.
    pub async fn current(&self, db: &Db) -> Result<i64, wfops_db::Error> {
        let read = {
            let mut reads = lock(&self.reads);
            match &reads.waiting {
                Some((_, read)) => read.clone(),
                None => {
                    let id = reads.next_id;
                    reads.next_id += 1;
                    let read = send_after(
                        reads.sent.clone(),
                        Arc::downgrade(&self.reads),
                        id,
                        db.clone(),
                    );
                    reads.waiting = Some((id, read.clone()));
                    read
                }
            }
        };
        match read.await {
            Some(generation) => Ok(generation),
            // the shared read failed: a read of this request's own reports why
            None => db.auth_generation().await,
        }
    }
}

/// The read `id`: waits for `previous` to answer, stops accepting waiters, then reads.
fn send_after(previous: Option<Read>, reads: Weak<Mutex<Reads>>, id: u64, db: Db) -> Read {
    async move {
        if let Some(previous) = previous {
            previous.await;
        }
        if let Some(reads) = reads.upgrade() {
            let mut reads = lock(&reads);
            match reads.waiting.take() {
                Some((waiting_id, me)) if waiting_id == id => reads.sent = Some(me),
                other => reads.waiting = other,
            }
        }
        db.auth_generation().await.ok()
    }
    .boxed()
    .shared()
}
