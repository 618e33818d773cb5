//! The dedicated LISTEN connection: worker wake-ups on `wfops_jobs`, Server-Sent Events on
//! `wfops_job_events`.

use crate::error::Error;

/// The NOTIFY channel on which a job becoming pending is announced.
pub const JOBS_CHANNEL: &str = "wfops_jobs";
/// The NOTIFY channel on which every new `job_events` row is announced (for SSE).
pub const JOB_EVENTS_CHANNEL: &str = "wfops_job_events";

/// One notification received by a [`Listener`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub channel: String,
    pub payload: String,
}

/// A dedicated connection that LISTENs on some channels.
///
/// Pooled connections can not be used: a LISTEN belongs to one session and must stay open.
/// Notifications are delivered through a bounded channel; when the reader lags, extra
/// notifications are dropped, which is harmless for wake-ups (one is enough to trigger a claim).
/// When the connection ends, [`Listener::recv`] returns `None` and the caller reconnects.
pub struct Listener {
    rx: tokio::sync::mpsc::Receiver<Notification>,
    task: tokio::task::JoinHandle<()>,
    /// Dropping the client closes the session, so it lives as long as the listener.
    _client: tokio_postgres::Client,
}

impl std::fmt::Debug for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listener").finish_non_exhaustive()
    }
}

impl Listener {
    /// Connects to `database_url` and listens on `channels` (plain identifiers such as
    /// [`JOBS_CHANNEL`]).
    pub async fn connect(database_url: &str, channels: &[&str]) -> Result<Self, Error> {
        for c in channels {
            if c.is_empty() || !c.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '_') {
                return Err(Error::Connect(format!("invalid channel name {c:?}")));
            }
        }
        let (client, mut connection) = tokio_postgres::connect(database_url, tokio_postgres::NoTls)
            .await
            .map_err(|e| Error::Connect(format!("connecting: {}", describe_pg_error(&e))))?;
        let (tx, rx) = tokio::sync::mpsc::channel(256);
        // The connection object performs the I/O of the client, including the LISTEN below,
        // so it is driven by its own task from the start.
        let task = tokio::spawn(async move {
            use futures::StreamExt;
            let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
            while let Some(message) = messages.next().await {
                match message {
                    Ok(tokio_postgres::AsyncMessage::Notification(n)) => {
                        let note = Notification {
                            channel: n.channel().to_owned(),
                            payload: n.payload().to_owned(),
                        };
                        if let Err(tokio::sync::mpsc::error::TrySendError::Closed(_)) =
                            tx.try_send(note)
                        {
                            return;
                        }
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(error = %describe_pg_error(&e), "LISTEN connection lost");
                        return;
                    }
                }
            }
        });
        let sql: String = channels.iter().map(|c| format!("LISTEN {c};")).collect();
        if let Err(e) = client.batch_execute(&sql).await {
            task.abort();
            return Err(Error::Connect(format!("LISTEN: {}", describe_pg_error(&e))));
        }
        Ok(Self {
            rx,
            task,
            _client: client,
        })
    }

    /// The next notification, or `None` once the connection has ended.
    pub async fn recv(&mut self) -> Option<Notification> {
        self.rx.recv().await
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// tokio-postgres errors may quote the connection string in some versions; keep only the
/// database's own message and code.
fn describe_pg_error(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => {
            if e.is_closed() {
                "connection closed".to_owned()
            } else {
                "connection error".to_owned()
            }
        }
    }
}
