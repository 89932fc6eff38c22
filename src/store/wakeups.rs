//! Waking the dispatcher of another replica: on PostgreSQL, a transaction
//! that queues a message for the other node also sends `NOTIFY` on
//! [`CHANNEL`] (delivered at commit), and every replica listens on a
//! connection of its own, so that the replica holding the dispatcher
//! delivers at once a message that a caseworker's request queued on
//! another. On SQLite (one process) the dispatcher is woken in-process.

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

/// Tells the other replicas that messages wait (at commit; nothing on SQLite).
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
