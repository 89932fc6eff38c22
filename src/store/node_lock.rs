//! Who serves a database: a node that serves holds a lock for as long as it
//! runs, and a restore takes it alone. Other command-line tools (users,
//! backups) do not take it.
//!
//! - SQLite: one process serves a database. An exclusive `flock` on
//!   `<database>.node-lock`, a file of its own (opening and closing the
//!   database file itself would drop SQLite's own locks held in this
//!   process): a second node started on the same database (two
//!   dispatchers, two sets of timers over one hash chain) is refused with a
//!   clear error instead of sending out of order.
//! - PostgreSQL: several replicas serve one database (they share the
//!   dispatcher and the timers through leases, see `app::leases`).
//!   Each holds a *shared* session advisory lock on a connection of its
//!   own, and a restore needs it *exclusive*: it is refused while any
//!   replica serves. The server releases the lock when that connection or
//!   the process dies.

use std::io::{Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use secrecy::SecretString;

use super::{DbError, Target};

/// How long a node waits for the lock before refusing: a node restarted
/// in place may start while the one before it is still letting go.
const WAIT: Duration = Duration::from_secs(5);

/// What the lock is taken for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Serving the database as a node (one of its replicas on PostgreSQL).
    Serve,
    /// Replacing the database (a restore): no node may serve it meanwhile.
    Alone,
    /// Starting a replica (migrations, the first writes of a start): one
    /// replica at a time, on PostgreSQL only (on SQLite the node's own lock
    /// covers it). Released once the replica is built.
    Start,
}

/// Held while the node runs; released when dropped (or when the process
/// ends, however it ends).
pub enum NodeLock {
    File(std::fs::File),
    Postgres(diesel::PgConnection),
}

/// The advisory lock's key: "passerelle node" in ASCII, per database.
const ADVISORY_KEY: i64 = 0x7061_7373_6e6f_6465;

fn lock_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(".node-lock");
    PathBuf::from(name)
}

fn try_lock(file: &std::fs::File) -> bool {
    // SAFETY: `file` is an open file; flock only reads its descriptor.
    unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) == 0 }
}

/// Takes the node lock of the database at `url` for `purpose`, waiting a
/// little, or says that another node holds it.
pub fn acquire(url: &SecretString, purpose: Purpose) -> Result<NodeLock, DbError> {
    match Target::parse(url)? {
        Target::Sqlite(db) => lock_file(&db),
        Target::Postgres(url) => lock_advisory(&url, purpose),
    }
}

/// While a replica starts: `None` on SQLite (its node lock covers it), the
/// start lock on PostgreSQL, waited for as long as other replicas take to
/// start (at most [`START_WAIT`]).
pub fn starting(url: &SecretString) -> Result<Option<NodeLock>, DbError> {
    match Target::parse(url)? {
        Target::Sqlite(_) => Ok(None),
        Target::Postgres(url) => lock_advisory(&url, Purpose::Start).map(Some),
    }
}

/// How long a replica waits for the others to start (migrations included).
pub const START_WAIT: Duration = Duration::from_secs(600);

/// The start lock's key: "passerelle start" in ASCII, per database.
const START_KEY: i64 = 0x7061_7373_7374_7274;

fn lock_advisory(url: &SecretString, purpose: Purpose) -> Result<NodeLock, DbError> {
    use diesel::connection::Connection;
    use diesel::prelude::*;
    use secrecy::ExposeSecret;
    #[derive(QueryableByName)]
    struct Taken {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        taken: bool,
    }
    let mut conn = diesel::PgConnection::establish(url.expose_secret())
        .map_err(|e| DbError::Url(format!("cannot connect to PostgreSQL: {e}")))?;
    let started = Instant::now();
    loop {
        let (query, key) = match purpose {
            Purpose::Serve => (
                "SELECT pg_try_advisory_lock_shared($1) AS taken",
                ADVISORY_KEY,
            ),
            Purpose::Alone => ("SELECT pg_try_advisory_lock($1) AS taken", ADVISORY_KEY),
            Purpose::Start => ("SELECT pg_try_advisory_lock($1) AS taken", START_KEY),
        };
        let got: Taken = diesel::sql_query(query)
            .bind::<diesel::sql_types::BigInt, _>(key)
            .get_result(&mut conn)?;
        if got.taken {
            return Ok(NodeLock::Postgres(conn));
        }
        let wait = if purpose == Purpose::Start {
            START_WAIT
        } else {
            WAIT
        };
        if started.elapsed() >= wait {
            return Err(DbError::Url(
                match purpose {
                    Purpose::Start => "another replica has been starting for 10 minutes (migrations?): look at its log",
                    Purpose::Alone => "a node serves this PostgreSQL database: stop every replica of it first",
                    Purpose::Serve => "this PostgreSQL database is being restored: start the node once the restore is done",
                }
                .into(),
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn lock_file(db: &Path) -> Result<NodeLock, DbError> {
    let db = db.to_path_buf();
    let path = lock_path(&db);
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| DbError::Url(format!("cannot create {}: {e}", dir.display())))?;
    }
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .map_err(|e| DbError::Url(format!("cannot open {}: {e}", path.display())))?;
    let started = Instant::now();
    while !try_lock(&file) {
        if started.elapsed() >= WAIT {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            return Err(DbError::Url(format!(
                "another node (process {}) already serves {}: one SQLite database serves one node process; stop it first, or run replicas over PostgreSQL",
                holder.trim(),
                db.display()
            )));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // Who holds it, for the message a second node prints.
    let _ = file.set_len(0);
    let _ = file.rewind();
    let _ = write!(file, "{}", std::process::id());
    let _ = file.flush();
    Ok(NodeLock::File(file))
}
