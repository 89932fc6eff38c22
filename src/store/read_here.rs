//! Reads of a few rows by key, run on the calling thread.
//!
//! [`Db::read`] hands its work to the blocking pool and back: two thread
//! hand-offs, which on a SQLite file cost more CPU than a point read itself
//! (in runs of the bench taken in turn, 221–248 µs of CPU per case read
//! with its reads run here, 311–373 µs with them handed off). A SQLite read
//! in WAL mode never waits for the writer, so a read of a few rows by key
//! holds the calling thread (an HTTP worker) for tens of microseconds, less
//! than the hand-off.
//!
//! Only such reads belong here: a list, a search or an export may take
//! milliseconds and would hold up every other request on the same worker.
//! PostgreSQL reads cross the network and stay on the blocking pool, and so
//! does any read that finds no free read connection at once (waiting for one
//! would block the worker).

use std::sync::Arc;

use super::keyring::KeyRing;
use super::{sealed, snapshot, Db, DbError};
use crate::store::AnyConnection;

impl Db {
    /// Like [`Db::read`] (one snapshot), on the calling thread when it can
    /// be (see the module documentation). For reads of a few rows by key.
    pub async fn read_here<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut AnyConnection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + From<diesel::result::Error> + Send + 'static,
    {
        self.read_one_here(move |c| snapshot(c, f)).await
    }

    /// Like [`Db::read_one`] (one statement, no transaction), on the calling
    /// thread when it can be.
    pub async fn read_one_here<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut AnyConnection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
    {
        if self.backend == "sqlite" {
            if let Some(mut conn) = self.reader.try_get() {
                return run(&self.ring, &mut conn, f);
            }
        }
        self.read_one(f).await
    }
}

/// Runs a read's work on a read connection, wherever it runs: with the
/// node's key ring entered (sealed values open) and its CPU counted as
/// storage.
pub(super) fn run<T>(
    ring: &Arc<KeyRing>,
    conn: &mut AnyConnection,
    f: impl FnOnce(&mut AnyConnection) -> T,
) -> T {
    let _keys = sealed::enter(ring);
    crate::meter::scope(crate::meter::Part::Storage, || f(conn))
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;
    use crate::audit::Entry;
    use crate::store::audit;

    fn open(dir: &tempfile::TempDir, readers: u32) -> Db {
        let url = format!("sqlite://{}", dir.path().join("f.db").display());
        Db::open(&url.into(), &dir.path().join("keys"), readers, 5000).unwrap()
    }

    type Seen = (u64, std::thread::ThreadId);

    fn size_and_thread(c: &mut AnyConnection) -> Result<Seen, DbError> {
        Ok((audit::size(c)?, std::thread::current().id()))
    }

    /// A point read runs on the calling thread and sees what was committed.
    #[tokio::test(flavor = "current_thread")]
    async fn a_point_read_runs_on_the_calling_thread() {
        let dir = tempfile::tempdir().unwrap();
        let db = open(&dir, 2);
        db.write(|c| audit::append(c, Entry::new("test", "test", "append")).map(|_| ()))
            .await
            .unwrap();
        let (size, thread) = db.read_here(size_and_thread).await.unwrap();
        assert_eq!(size, 1);
        assert_eq!(thread, std::thread::current().id());
    }

    /// With every read connection taken, a point read waits for one on the
    /// blocking pool: the calling thread (an HTTP worker) goes on serving
    /// meanwhile, and the read is answered once a connection is free.
    #[tokio::test(flavor = "current_thread")]
    async fn a_point_read_that_finds_no_free_connection_waits_off_the_calling_thread() {
        let dir = tempfile::tempdir().unwrap();
        let db = open(&dir, 1);
        let held = db.reader.get().unwrap();
        let reading = tokio::spawn({
            let db = db.clone();
            async move { db.read_here(size_and_thread).await }
        });
        let t = Instant::now();
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(
            t.elapsed() < Duration::from_secs(1),
            "the calling thread was held for {:?}",
            t.elapsed()
        );
        assert!(!reading.is_finished(), "read without a connection");
        drop(held);
        let (size, thread) = reading.await.unwrap().unwrap();
        assert_eq!(size, 0);
        assert_ne!(thread, std::thread::current().id());
    }
}
