//! Group commit for SQLite's single writer.
//!
//! One commit costs one fsync (WAL, `synchronous=FULL`), and the disk allows
//! only a few thousand a second. Write requests that arrive together are
//! therefore run by one writer thread in one transaction, each in its own
//! savepoint: a request that fails rolls back alone, the others commit
//! together, and each caller is answered only after the commit is durable.
//! Under light load a batch is a single request, so latency does not suffer.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc;

use diesel::connection::Connection;
use diesel::r2d2::Pool;

use super::{AnyConnection, DbError, Manager};

/// Most requests committed together.
pub const MAX_GROUP: usize = 512;

/// Told after the group's commit: `None` if it succeeded, else why not.
type Completion = Box<dyn FnOnce(Option<&str>) + Send>;
/// Runs one request in the open transaction (or is told why it could not run).
type Job = Box<dyn FnOnce(Result<&mut AnyConnection, &str>) -> Option<Completion> + Send>;

/// Handle on the writer thread.
pub struct GroupWriter {
    jobs: mpsc::Sender<Job>,
    /// The node's key ring, entered for each request (see [`super::sealed`]).
    ring: std::sync::Arc<super::keyring::KeyRing>,
}

impl GroupWriter {
    pub(crate) fn start(
        pool: Pool<Manager>,
        ring: std::sync::Arc<super::keyring::KeyRing>,
    ) -> Result<Self, DbError> {
        let (jobs, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || run(&pool, &rx))
            .map_err(|e| DbError::Commit(format!("cannot start the writer thread: {e}")))?;
        Ok(Self { jobs, ring })
    }

    /// Runs `f` in a savepoint of the next group commit; resolves after the commit.
    pub async fn submit<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut AnyConnection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + From<diesel::result::Error> + Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel::<Result<T, E>>();
        let ring = self.ring.clone();
        let job: Job = Box::new(move |conn| match conn {
            Err(why) => {
                let _ = tx.send(Err(E::from(DbError::Commit(why.to_owned()))));
                None
            }
            Ok(conn) => {
                let result = {
                    let _keys = super::sealed::enter(&ring);
                    conn.transaction(|c| super::statistics::deferred(c, f))
                };
                Some(Box::new(move |commit_error: Option<&str>| {
                    let out = match commit_error {
                        None => result,
                        Some(e) => Err(E::from(DbError::Commit(e.to_owned()))),
                    };
                    let _ = tx.send(out);
                }))
            }
        });
        self.jobs
            .send(job)
            .map_err(|_| E::from(DbError::Cancelled))?;
        rx.await.map_err(|_| E::from(DbError::Cancelled))?
    }
}

fn run(pool: &Pool<Manager>, rx: &mpsc::Receiver<Job>) {
    while let Ok(first) = rx.recv() {
        let mut jobs = vec![first];
        while jobs.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        let mut conn = match pool.get() {
            Ok(c) => c,
            Err(e) => {
                let why = e.to_string();
                for job in jobs {
                    job(Err(&why));
                }
                continue;
            }
        };
        let mut completions: Vec<Completion> = Vec::with_capacity(jobs.len());
        let mut pending = jobs.into_iter();
        let outcome = crate::meter::scope(crate::meter::Part::Storage, || {
            (*conn).transaction::<_, diesel::result::Error, _>(|c| {
                take_write_lock(c)?;
                for job in pending.by_ref() {
                    // A panicking request drops its answer channel (its
                    // caller gets a 503); the others go on.
                    if let Ok(Some(done)) = catch_unwind(AssertUnwindSafe(|| job(Ok(&mut *c)))) {
                        completions.push(done);
                    }
                }
                Ok(())
            })
        });
        match outcome {
            Ok(()) => completions.into_iter().for_each(|done| done(None)),
            Err(e) => {
                let why = e.to_string();
                tracing::error!(error = %why, "group commit failed");
                completions.into_iter().for_each(|done| done(Some(&why)));
                for job in pending {
                    job(Err(&why));
                }
            }
        }
    }
}

/// On SQLite, makes the transaction just begun a write transaction at once
/// (what `BEGIN IMMEDIATE` does): a write statement that changes nothing
/// takes the write lock, waiting up to the busy timeout. Without it a
/// transaction that reads before it writes fails at once with
/// `SQLITE_BUSY_SNAPSHOT` if another process (a CLI command) wrote in between.
pub(crate) fn take_write_lock(conn: &mut AnyConnection) -> Result<(), diesel::result::Error> {
    if let AnyConnection::Sqlite(_) = conn {
        use super::schema::peer_channels;
        use diesel::prelude::*;
        super::cached::cached(
            diesel::update(peer_channels::table.filter(peer_channels::direction.eq("")))
                .set(peer_channels::last_seq.eq(peer_channels::last_seq))
                .returning(peer_channels::last_seq),
        )
        .get_results::<i64>(conn)?;
    }
    Ok(())
}
