//! Waking the dispatcher of another replica: on PostgreSQL, once a
//! transaction that queued a message for the other node has committed on a
//! replica that does not deliver, that replica sends `NOTIFY` on
//! [`CHANNEL`], and every replica listens on a connection of its own, so
//! that the one holding the dispatcher delivers at once a message that a
//! caseworker's request queued on another. The `NOTIFY` goes in a statement
//! of its own after the commit: inside the transaction it would make every
//! such commit, with its flush to disk, wait for the one before (PostgreSQL
//! serialises the commits of notifying transactions). On SQLite (one
//! process) the dispatcher is woken in-process only.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use diesel::connection::Connection;
use diesel::RunQueryDsl;
use secrecy::{ExposeSecret, SecretString};

use super::{AnyConnection, DbError};

/// The notification channel.
pub const CHANNEL: &str = "passerelle_outbox";

/// How often the listening connection is looked at (no query is sent: the
/// notifications already received are read from its socket).
const LOOK: Duration = Duration::from_millis(10);

thread_local! {
    /// Whether the transaction running on this thread queued a message.
    static QUEUED: Cell<bool> = const { Cell::new(false) };
}

/// The transaction running on this thread queued a message for the other node.
pub fn queued() {
    QUEUED.with(|q| q.set(true));
}

/// Whether the transaction that ran on this thread queued a message (and
/// forgets it).
pub fn take_queued() -> bool {
    QUEUED.with(|q| q.replace(false))
}

/// Tells the other replicas that messages wait (outside a transaction:
/// at once; nothing on SQLite).
pub fn notify(conn: &mut AnyConnection) -> Result<(), DbError> {
    if let AnyConnection::Postgresql(c) = conn {
        diesel::sql_query(format!("NOTIFY {CHANNEL}")).execute(c)?;
    }
    Ok(())
}

/// Listens on the database at `url` (PostgreSQL) until `stop` is set, and
/// calls `wake` for every notification. Connects again after a failure.
/// Blocks: run it on a thread of its own.
pub fn listen(url: &SecretString, stop: &Arc<AtomicBool>, wake: impl Fn()) {
    while !stop.load(Ordering::Relaxed) {
        let mut conn = match diesel::PgConnection::establish(url.expose_secret()) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for other replicas' messages; polling meanwhile");
                std::thread::sleep(Duration::from_secs(1));
                continue;
            }
        };
        if let Err(e) = diesel::sql_query(format!("LISTEN {CHANNEL}")).execute(&mut conn) {
            tracing::warn!(error = %e, "cannot listen for other replicas' messages");
            std::thread::sleep(Duration::from_secs(1));
            continue;
        }
        // A message may have been queued while this replica was not listening.
        wake();
        'listening: while !stop.load(Ordering::Relaxed) {
            let mut woken = false;
            for n in conn.notifications_iter() {
                match n {
                    Ok(_) => woken = true,
                    Err(e) => {
                        tracing::warn!(error = %e, "the listening connection failed; connecting again");
                        break 'listening;
                    }
                }
            }
            if woken {
                wake();
            }
            std::thread::sleep(LOOK);
        }
    }
}

/// Who is woken when a committed transaction queued a message for the
/// other node: this process's dispatcher at once, straight from the thread
/// that committed (on SQLite, the writer thread, one hand-off sooner than
/// from the request's handler after its answer), and, on a replica that
/// does not deliver, the one that does.
#[derive(Default)]
pub(crate) struct Wakeup {
    /// Whether this process's dispatcher delivers ([`super::Db::set_delivers_here`]).
    pub(super) delivers_here: AtomicBool,
    /// This process's dispatcher, once it runs.
    dispatcher: std::sync::OnceLock<Arc<tokio::sync::Notify>>,
}

impl Wakeup {
    /// After a write transaction: if it committed a queued message, wakes
    /// this process's dispatcher, and the replica that delivers if that is
    /// another (a failure there only delays delivery to that replica's next
    /// look at the outbox).
    pub(super) fn after_commit(&self, conn: &mut AnyConnection, committed: bool) {
        if !(take_queued() && committed) {
            return;
        }
        if let Some(dispatcher) = self.dispatcher.get() {
            dispatcher.notify_one();
        }
        if !self.delivers_here.load(Ordering::Relaxed) {
            if let Err(e) = notify(conn) {
                tracing::warn!(error = %e, "the replica that delivers was not woken; it looks again shortly");
            }
        }
    }
}

impl super::Db {
    /// Wakes `dispatcher` whenever a transaction that queued a message for
    /// the other node commits (set once, when the dispatcher starts).
    pub fn wake_on_queued(&self, dispatcher: Arc<tokio::sync::Notify>) {
        let _ = self.wakeup.dispatcher.set(dispatcher);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use tokio::sync::Notify;

    use super::super::{Db, DbError};

    /// Whether `wake` is notified within `wait`.
    async fn woken(wake: &Notify, wait: Duration) -> bool {
        tokio::time::timeout(wait, wake.notified()).await.is_ok()
    }

    /// The dispatcher is woken by the commit of a transaction that queued a
    /// message, and not by one that queued nothing or rolled back.
    #[tokio::test]
    async fn a_commit_that_queued_a_message_wakes_the_dispatcher() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("f.db").display());
        let db = Db::open(&url.into(), &dir.path().join("keys"), 2, 5000).unwrap();
        let wake = Arc::new(Notify::new());
        db.wake_on_queued(wake.clone());
        let short = Duration::from_millis(200);

        db.write(|_| Ok::<_, DbError>(())).await.unwrap();
        assert!(!woken(&wake, short).await, "nothing was queued");

        let failed = db
            .write(|_| {
                super::queued();
                Err::<(), _>(DbError::Corrupt("refused".into()))
            })
            .await;
        assert!(failed.is_err());
        assert!(!woken(&wake, short).await, "what was queued rolled back");

        db.write(|_| {
            super::queued();
            Ok::<_, DbError>(())
        })
        .await
        .unwrap();
        assert!(
            woken(&wake, Duration::from_secs(5)).await,
            "a queued message committed"
        );
    }
}
