//! SQLite's write-ahead log copied back into the database file by a thread
//! of its own, off the writer's path.
//!
//! By default SQLite checkpoints in the connection whose commit takes the
//! log past 1,000 pages: that commit's caller (here the writer thread, and
//! with it every request of the next group) waits while the pages are copied
//! and the database file is flushed, every few dozen milliseconds under
//! load. This thread checkpoints instead, `PASSIVE` (it never blocks the
//! writer or a reader, and copies what no reader still needs) every
//! [`INTERVAL`]. The writer keeps SQLite's own checkpoint as a backstop at
//! [`WRITER_BACKSTOP_PAGES`], should this thread fall behind.

use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::r2d2::ManageConnection;

use super::connections::Manager;
use super::DbError;

/// How often the log is checkpointed.
pub(super) const INTERVAL: Duration = Duration::from_millis(100);

/// Pages of log past which the writer's own commit checkpoints (SQLite's
/// `wal_autocheckpoint`; 1,000 by default): about 40 MB.
pub(super) const WRITER_BACKSTOP_PAGES: u32 = 10_000;

/// Stops the thread when dropped (with the database handle that owns it).
#[derive(Debug)]
pub(super) struct Checkpointer {
    _stop: mpsc::Sender<()>,
    /// Held through each checkpoint: SQLite answers a checkpoint that meets
    /// another one in progress with `SQLITE_BUSY` at once, without waiting,
    /// so another checkpoint of this process ([`Checkpointer::exclusive`])
    /// takes this first.
    turn: Arc<Mutex<()>>,
}

impl Checkpointer {
    /// Starts the thread on a connection of its own, opened by `manager`.
    pub(super) fn start(manager: Manager) -> Result<Self, DbError> {
        let mut conn = manager.connect().map_err(|e| {
            DbError::Commit(format!("cannot open the checkpointer's connection: {e}"))
        })?;
        let (stop, stopped) = mpsc::channel::<()>();
        let turn = Arc::new(Mutex::new(()));
        let mine = turn.clone();
        std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || {
                // Ends when the sender is dropped (recv_timeout answers Disconnected).
                while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(INTERVAL) {
                    let _turn = mine.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                    if let Err(e) = conn.batch_execute("PRAGMA wal_checkpoint(PASSIVE)") {
                        tracing::warn!(error = %e, "checkpoint of the write-ahead log failed");
                    }
                }
            })
            .map_err(|e| DbError::Commit(format!("cannot start the checkpointer thread: {e}")))?;
        Ok(Self { _stop: stop, turn })
    }

    /// Runs `f` (another checkpoint) while this thread does not checkpoint.
    pub(super) fn exclusive<T>(&self, f: impl FnOnce() -> T) -> T {
        let _turn = self
            .turn
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        f()
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use diesel::connection::SimpleConnection;
    use diesel::{Connection, RunQueryDsl};

    use super::super::{Db, DbError};

    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }

    /// Rows in table `probe` of the database file alone, as it would be
    /// read without its write-ahead log (`None`: not there yet).
    fn rows_in_file_alone(db_file: &std::path::Path, dir: &std::path::Path) -> Option<i64> {
        let copy = dir.join("alone.db");
        std::fs::copy(db_file, &copy).unwrap();
        let mut c = diesel::SqliteConnection::establish(copy.to_str().unwrap()).unwrap();
        let n = diesel::sql_query("SELECT count(*) AS n FROM probe")
            .get_result::<Count>(&mut c)
            .ok()
            .map(|c| c.n);
        drop(c);
        std::fs::remove_file(&copy).unwrap();
        n
    }

    /// What is committed reaches the database file itself within moments,
    /// although the writer no longer checkpoints below 10,000 pages; and the
    /// erasure's truncating checkpoint never meets this thread's (which
    /// SQLite would refuse as busy).
    #[tokio::test]
    async fn commits_reach_the_database_file_without_the_writer_checkpointing() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f.db");
        let url = format!("sqlite://{}", file.display());
        let db = Db::open(&url.into(), &dir.path().join("keys"), 2, 5000).unwrap();
        db.write(|c| {
            c.batch_execute(
                "CREATE TABLE probe (x INTEGER); INSERT INTO probe VALUES (1), (2), (3)",
            )?;
            Ok::<_, DbError>(())
        })
        .await
        .unwrap();

        let deadline = Instant::now() + Duration::from_secs(5);
        while rows_in_file_alone(&file, dir.path()) != Some(3) {
            assert!(
                Instant::now() < deadline,
                "the commit never reached the database file"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }

        for _ in 0..30 {
            db.purge_erased().await.unwrap();
            tokio::time::sleep(Duration::from_millis(7)).await;
        }
    }
}
