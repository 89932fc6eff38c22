//! Group commit for SQLite's single writer.
//!
//! One commit costs one fsync (WAL, `synchronous=FULL`), and the disk allows
//! only a few thousand a second. Write requests that arrive together are
//! therefore run by one writer thread in one transaction, each in its own
//! savepoint: a request that fails rolls back alone, the others commit
//! together, and each caller is answered only after the commit is durable.
//! Under light load a batch is a single request, so latency does not suffer.
//!
//! Two costs are paid once per group rather than once per request:
//! - the statistics rollup: the requests' changes to its cells are summed
//!   and written at the end of the group (one upsert per cell, where a busy
//!   group of referrals changes the same few cells);
//! - isolation: the first request of a group runs without a savepoint (a
//!   savepoint makes SQLite copy every page the request changes into its
//!   sub-journal); if it fails, the transaction, which holds nothing else,
//!   rolls back, and the rest of the group runs in the next one. Under
//!   light load, and for a batch from the peer, that is every request.
//!
//! A request that can fail only when the database does (an audit entry and
//! nothing else, as every API request writes) runs without a savepoint
//! wherever it is in the group ([`GroupWriter::submit`] with `guarded`
//! false). If it fails, nothing of its group is kept: the others are told
//! the group failed, as they would be of a failed commit.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc;

use diesel::connection::Connection;
use diesel::r2d2::Pool;

use super::{AnyConnection, DbError, Manager};

/// Most requests committed together.
pub const MAX_GROUP: usize = 512;

/// Told after the group's commit: `None` if it succeeded, else why not.
type Completion = Box<dyn FnOnce(Option<&str>) + Send>;
/// Runs one request in the open transaction (or is told why it could not
/// run); `bare`: the first request of its transaction, run without a
/// savepoint.
type Job = Box<dyn FnOnce(Result<(&mut AnyConnection, bool), &str>) -> Option<Ran> + Send>;

/// A request that ran: how to answer it, whether it failed, and whether it
/// asked for a savepoint (unless first in its transaction, a failure
/// without one leaves its writes in the transaction).
struct Ran {
    done: Completion,
    failed: bool,
    guarded: bool,
}

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
        wakeup: std::sync::Arc<super::wakeups::Wakeup>,
    ) -> Result<Self, DbError> {
        let (jobs, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || run(&pool, &rx, &wakeup))
            .map_err(|e| DbError::Commit(format!("cannot start the writer thread: {e}")))?;
        Ok(Self { jobs, ring })
    }

    /// Runs `f` in a savepoint of the next group commit; resolves after the commit.
    pub async fn submit<T, E, F>(&self, f: F, guarded: bool) -> Result<T, E>
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
            Ok((conn, bare)) => {
                // `isolated`: whether a failure leaves nothing of this request
                // in the transaction (false if its savepoint itself failed).
                let (result, isolated) = {
                    let _keys = super::sealed::enter(&ring);
                    let mark = super::statistics::pending();
                    let (result, isolated) = if bare || !guarded {
                        (f(conn), true)
                    } else {
                        match in_savepoint(conn, f) {
                            Ok(result) => (result, true),
                            Err(e) => (Err(E::from(e)), false),
                        }
                    };
                    if result.is_err() {
                        super::statistics::discard_from(mark);
                    }
                    (result, isolated)
                };
                let failed = result.is_err();
                let done: Completion = Box::new(move |commit_error: Option<&str>| {
                    let out = match commit_error {
                        None => result,
                        Some(e) => Err(E::from(DbError::Commit(e.to_owned()))),
                    };
                    let _ = tx.send(out);
                });
                Some(Ran {
                    done,
                    failed,
                    guarded: guarded && isolated,
                })
            }
        });
        self.jobs
            .send(job)
            .map_err(|_| E::from(DbError::Cancelled))?;
        rx.await.map_err(|_| E::from(DbError::Cancelled))?
    }
}

fn run(pool: &Pool<Manager>, rx: &mpsc::Receiver<Job>, wakeup: &super::wakeups::Wakeup) {
    super::audit_frontier::keep_on_this_thread();
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
        let mut pending = jobs.into_iter().peekable();
        while pending.peek().is_some() {
            run_group(&mut conn, &mut pending, wakeup);
        }
    }
}

/// Runs the requests of `pending` in one transaction, the first bare and
/// each other in a savepoint, and answers them after the commit. If the
/// first fails (or panics), the transaction rolls back with nothing else in
/// it, the request is answered with its own error, and the others are left
/// in `pending` for the next transaction.
fn run_group(
    conn: &mut AnyConnection,
    pending: &mut impl Iterator<Item = Job>,
    wakeup: &super::wakeups::Wakeup,
) {
    let mut completions: Vec<Completion> = Vec::new();
    let mut undone = false;
    // A request run without a savepoint after the first failed: its
    // writes cannot be taken back alone (its position among the answers).
    let mut spoiled: Option<usize> = None;
    super::statistics::discard_from(0);
    let outcome = crate::meter::scope(crate::meter::Part::Storage, || {
        conn.transaction::<_, diesel::result::Error, _>(|c| {
            take_write_lock(c)?;
            let mut bare = true;
            for job in pending.by_ref() {
                // A panicking request drops its answer channel (its caller
                // gets a 503); the others go on.
                match catch_unwind(AssertUnwindSafe(|| job(Ok((&mut *c, bare))))) {
                    Ok(Some(ran)) => {
                        undone = bare && ran.failed;
                        if ran.failed && !ran.guarded && !bare {
                            spoiled = Some(completions.len());
                        }
                        completions.push(ran.done);
                    }
                    Ok(None) => {}
                    Err(_) => undone = bare,
                }
                if undone || spoiled.is_some() {
                    super::statistics::discard_from(0);
                    return Err(diesel::result::Error::RollbackTransaction);
                }
                bare = false;
            }
            super::statistics::write_pending(c).map_err(|e| match e {
                DbError::Query(e) => e,
                other => diesel::result::Error::QueryBuilderError(other.to_string().into()),
            })
        })
    });
    // The dispatcher first: it reads what was queued while the requests
    // are answered.
    wakeup.after_commit(conn, outcome.is_ok());
    match outcome {
        Ok(()) => completions.into_iter().for_each(|done| done(None)),
        Err(diesel::result::Error::RollbackTransaction) if undone => {
            completions.into_iter().for_each(|done| done(None))
        }
        // The rest of the pending requests run in the next group.
        Err(diesel::result::Error::RollbackTransaction) if spoiled.is_some() => {
            super::audit_frontier::forget();
            let why = "a request committed in the same transaction failed; nothing of it was kept";
            for (i, done) in completions.into_iter().enumerate() {
                done((Some(i) != spoiled).then_some(why));
            }
        }
        Err(e) => {
            super::audit_frontier::forget();
            let why = e.to_string();
            tracing::error!(error = %why, "group commit failed");
            completions.into_iter().for_each(|done| done(Some(&why)));
            for job in pending {
                job(Err(&why));
            }
        }
    }
}

/// Runs `f` in a savepoint of the open transaction: rolled back to it if
/// `f` fails (or panics), released if not. On SQLite its statements are
/// kept prepared, where diesel's own savepoints are parsed again at every
/// use (two or three savepoints per referral on a busy node). Whatever
/// transactions `f` opens itself nest inside it. The outer error: the
/// savepoint's own statements failed, and what `f` wrote may still be in
/// the transaction (its group must not commit).
fn in_savepoint<T, E, F>(
    conn: &mut AnyConnection,
    f: F,
) -> Result<Result<T, E>, diesel::result::Error>
where
    F: FnOnce(&mut AnyConnection) -> Result<T, E>,
    E: From<diesel::result::Error>,
{
    if !matches!(conn, AnyConnection::Sqlite(_)) {
        // Only SQLite has a group writer; any other keeps diesel's savepoint.
        return Ok(conn.transaction(f));
    }
    savepoint(conn, Savepoint::Begin)?;
    // Counted as diesel's savepoints are (the bench's line of statements
    // in transactions and savepoints).
    crate::meter::statement(true);
    let result = catch_unwind(AssertUnwindSafe(|| f(&mut *conn)));
    if !matches!(result, Ok(Ok(_))) {
        savepoint(conn, Savepoint::RollBack)?;
        // What the writer thread kept of the audit tree may come from the
        // writes just undone.
        super::audit_frontier::forget();
    }
    savepoint(conn, Savepoint::Release)?;
    match result {
        Ok(r) => Ok(r),
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

/// The statements of [`in_savepoint`].
#[derive(Debug, Clone, Copy)]
enum Savepoint {
    Begin,
    RollBack,
    Release,
}

/// A statement that returns no row, read as such.
struct NoRow;

impl<DB: diesel::backend::Backend> diesel::QueryableByName<DB> for NoRow {
    fn build<'a>(_: &impl diesel::row::NamedRow<'a, DB>) -> diesel::deserialize::Result<Self> {
        Ok(NoRow)
    }
}

/// Runs one statement of [`in_savepoint`] on SQLite, kept prepared (a
/// statement is kept only when diesel is handed it by value: `load`).
fn savepoint(conn: &mut AnyConnection, step: Savepoint) -> Result<(), diesel::result::Error> {
    use super::cached::fixed;
    use diesel::sql_query;
    use diesel::RunQueryDsl;
    if let AnyConnection::Sqlite(c) = conn {
        match step {
            Savepoint::Begin => fixed!(sql_query("SAVEPOINT passerelle_request")).load::<NoRow>(c),
            Savepoint::RollBack => {
                fixed!(sql_query("ROLLBACK TO passerelle_request")).load::<NoRow>(c)
            }
            Savepoint::Release => fixed!(sql_query("RELEASE passerelle_request")).load::<NoRow>(c),
        }?;
    }
    Ok(())
}

/// On SQLite, makes the transaction just begun a write transaction at once
/// (what `BEGIN IMMEDIATE` does): a write statement that changes nothing
/// takes the write lock, waiting up to the busy timeout. Without it a
/// transaction that reads before it writes fails at once with
/// `SQLITE_BUSY_SNAPSHOT` if another process (a CLI command) wrote in between.
pub(crate) fn take_write_lock(conn: &mut AnyConnection) -> Result<(), diesel::result::Error> {
    if let AnyConnection::Sqlite(c) = conn {
        use super::schema::peer_channels;
        use diesel::prelude::*;
        let lock = super::cached::fixed!(diesel::update(
            peer_channels::table.filter(peer_channels::direction.eq(""))
        )
        .set(peer_channels::last_seq.eq(peer_channels::last_seq))
        .returning(peer_channels::last_seq));
        lock.get_results::<i64>(c)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use diesel::RunQueryDsl;

    use super::super::{Db, DbError};

    fn count(db: &Db) -> i64 {
        #[derive(diesel::QueryableByName)]
        struct N {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        db.read_blocking(|c| {
            Ok::<_, DbError>(
                diesel::sql_query("SELECT COUNT(*) AS n FROM t")
                    .get_result::<N>(c)?
                    .n,
            )
        })
        .unwrap_or(-1)
    }

    /// A fresh database (in the directory returned with it) with one table `t`.
    async fn db_with_table() -> (tempfile::TempDir, Db) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("g.db").display());
        let db = Db::open(&url.into(), &dir.path().join("keys"), 4, 5000).unwrap();
        db.write(|c| {
            diesel::sql_query("CREATE TABLE t (v INTEGER NOT NULL)").execute(c)?;
            Ok::<_, DbError>(())
        })
        .await
        .unwrap();
        (dir, db)
    }

    /// Whether it ran first in its transaction (no savepoint) or later in a
    /// group, a request that fails after writing leaves nothing, and the
    /// others keep what they wrote.
    #[tokio::test]
    async fn a_request_that_fails_after_writing_rolls_back_alone_first_or_later_in_its_group() {
        let (_dir, db) = db_with_table().await;
        let insert = |fail: bool| {
            let db = db.clone();
            async move {
                db.write(move |c| {
                    diesel::sql_query("INSERT INTO t (v) VALUES (1)").execute(c)?;
                    if fail {
                        return Err(DbError::Corrupt("refused after writing".into()));
                    }
                    Ok(())
                })
                .await
            }
        };
        // Alone: nothing else is queued.
        assert!(insert(true).await.is_err());
        assert_eq!(count(&db), 0);
        // Together: queued at once, mostly run in one group.
        let mut expected = 0;
        for round in 0..20 {
            let tasks: Vec<_> = (0..6)
                .map(|i| tokio::spawn(insert(i == round % 6)))
                .collect();
            let mut outcomes = Vec::new();
            for t in tasks {
                outcomes.push(t.await.unwrap());
            }
            assert_eq!(outcomes.iter().filter(|o| o.is_err()).count(), 1);
            expected += 5;
            assert_eq!(count(&db), expected, "round {round}");
        }
    }

    /// A request run without a savepoint that fails takes back what it
    /// wrote, and with it what its group wrote: every caller told "done"
    /// finds its row, every caller told it failed finds none.
    #[tokio::test]
    async fn an_unguarded_request_that_fails_takes_its_group_back_and_every_answer_is_true() {
        let (_dir, db) = db_with_table().await;
        let insert = |fail: bool, guarded: bool| {
            let db = db.clone();
            async move {
                let f = move |c: &mut super::super::AnyConnection| {
                    diesel::sql_query("INSERT INTO t (v) VALUES (1)").execute(c)?;
                    if fail {
                        return Err(DbError::Corrupt("refused after writing".into()));
                    }
                    Ok(())
                };
                if guarded {
                    db.write(f).await
                } else {
                    db.write_unguarded(f).await
                }
            }
        };
        let mut kept = 0;
        let mut spoiled_groups = 0;
        for round in 0..30 {
            let tasks: Vec<_> = (0..6)
                .map(|i| tokio::spawn(insert(i == round % 6, i % 2 == 1)))
                .collect();
            let mut ok = 0;
            for t in tasks {
                ok += usize::from(t.await.unwrap().is_ok());
            }
            spoiled_groups += usize::from(ok < 5);
            kept += ok as i64;
            assert_eq!(count(&db), kept, "round {round}");
        }
        // Unguarded failures later in a group did happen (and took others).
        assert!(spoiled_groups > 0);
    }

    /// A request that panics after writing, wherever it is in its group,
    /// leaves nothing and is answered with an error; the others keep what
    /// they wrote, and the writer goes on.
    #[tokio::test]
    async fn a_request_that_panics_after_writing_leaves_nothing_and_the_others_commit() {
        let (_dir, db) = db_with_table().await;
        let insert = |panics: bool| {
            let db = db.clone();
            async move {
                db.write(move |c| {
                    diesel::sql_query("INSERT INTO t (v) VALUES (1)").execute(c)?;
                    assert!(!panics, "a request panicked after writing");
                    Ok::<_, DbError>(())
                })
                .await
            }
        };
        let mut expected = 0;
        for round in 0..20 {
            let tasks: Vec<_> = (0..6)
                .map(|i| tokio::spawn(insert(i == round % 6)))
                .collect();
            let mut failed = 0;
            for t in tasks {
                failed += usize::from(t.await.unwrap().is_err());
            }
            assert_eq!(failed, 1, "round {round}");
            expected += 5;
            assert_eq!(count(&db), expected, "round {round}");
        }
    }
}
