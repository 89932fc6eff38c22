//! One node process per database: a node that serves holds a lock for as
//! long as it runs, so that a second node started on the same database
//! (two dispatchers, two sets of timers over one hash chain) is refused
//! with a clear error instead of sending out of order. Command-line tools
//! (users, backups) do not take it.
//!
//! - SQLite: an exclusive `flock` on `<database>.node-lock`, a file of its
//!   own (opening and closing the database file itself would drop SQLite's
//!   own locks held in this process).
//! - PostgreSQL: a session advisory lock, held on a connection of its own;
//!   the server releases it when that connection or the process dies.

use std::io::{Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use secrecy::SecretString;

use super::{DbError, Target};

/// How long a node waits for the lock before refusing: a node restarted
/// in place may start while the one before it is still letting go.
const WAIT: Duration = Duration::from_secs(5);

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

/// Takes the node lock of the database at `url`, waiting a little, or says
/// that another node holds it.
pub fn acquire(url: &SecretString) -> Result<NodeLock, DbError> {
    match Target::parse(url)? {
        Target::Sqlite(db) => lock_file(&db),
        Target::Postgres(url) => lock_advisory(&url),
    }
}

fn lock_advisory(url: &SecretString) -> Result<NodeLock, DbError> {
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
        let got: Taken = diesel::sql_query("SELECT pg_try_advisory_lock($1) AS taken")
            .bind::<diesel::sql_types::BigInt, _>(ADVISORY_KEY)
            .get_result(&mut conn)?;
        if got.taken {
            return Ok(NodeLock::Postgres(conn));
        }
        if started.elapsed() >= WAIT {
            return Err(DbError::Url(
                "another node already serves this PostgreSQL database: running several node processes over one database is not supported yet; stop it first".into(),
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
