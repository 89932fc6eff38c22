//! Which database a URL names, and how each connection to it is opened
//! and instrumented.

use std::path::PathBuf;

use diesel::connection::SimpleConnection;
use diesel::r2d2;
use diesel::{Connection, ConnectionError};
use secrecy::{ExposeSecret, SecretString};

use super::{AnyConnection, DbError};

/// Which backend a URL designates.
#[derive(Debug, Clone)]
pub enum Target {
    Sqlite(PathBuf),
    Postgres(SecretString),
}

impl Target {
    /// `sqlite://PATH`, `sqlite:PATH`, a plain path, or `postgres://…` /
    /// `postgresql://…`. Anything else is refused.
    pub fn parse(url: &SecretString) -> Result<Target, DbError> {
        let raw = url.expose_secret().trim();
        if raw.is_empty() {
            return Err(DbError::Url("the database URL is empty".into()));
        }
        if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
            return Ok(Target::Postgres(SecretString::from(raw.to_owned())));
        }
        if let Some(path) = raw
            .strip_prefix("sqlite://")
            .or_else(|| raw.strip_prefix("sqlite:"))
        {
            if path.is_empty() {
                return Err(DbError::Url("`sqlite://` needs a file path".into()));
            }
            return Ok(Target::Sqlite(PathBuf::from(path)));
        }
        if let Some((scheme, _)) = raw.split_once(':') {
            let looks_like_scheme = scheme.len() > 1
                && scheme
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'-' || b == b'.');
            if looks_like_scheme {
                return Err(DbError::Url(format!(
                    "scheme `{scheme}:` is not supported: use sqlite://PATH or postgres://…"
                )));
            }
        }
        Ok(Target::Sqlite(PathBuf::from(raw)))
    }
}

/// Opens connections for one [`Target`].
#[derive(Debug)]
pub(crate) struct Manager {
    pub(super) target: Target,
    pub(super) busy_timeout_ms: u64,
    pub(super) read_only: bool,
    /// SQLite: pages of write-ahead log past which a commit on this
    /// connection checkpoints it (`wal_autocheckpoint`); `None`: SQLite's
    /// default (see [`super::wal_checkpointer`]).
    pub(super) wal_autocheckpoint: Option<u32>,
}

impl r2d2::ManageConnection for Manager {
    type Connection = AnyConnection;
    type Error = r2d2::Error;

    fn connect(&self) -> Result<AnyConnection, r2d2::Error> {
        match &self.target {
            Target::Sqlite(path) => {
                let path = path.to_str().ok_or_else(|| {
                    r2d2::Error::ConnectionError(ConnectionError::InvalidConnectionUrl(
                        "the SQLite path is not valid UTF-8".into(),
                    ))
                })?;
                let mut c = diesel::SqliteConnection::establish(path)
                    .map_err(r2d2::Error::ConnectionError)?;
                c.set_instrumentation(instrumentation());
                // busy_timeout first: switching to WAL needs a lock.
                // temp_store = MEMORY keeps the statement journals of the
                // savepoints (one per request in a group commit) in memory:
                // on disk they cost a write of every page a request touches,
                // and they held copies of the pages in a temporary file.
                c.batch_execute(&format!(
                    "PRAGMA busy_timeout = {}; PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
                     PRAGMA foreign_keys = ON; PRAGMA secure_delete = ON; PRAGMA temp_store = MEMORY;{}{}",
                    self.busy_timeout_ms,
                    if self.read_only { " PRAGMA query_only = ON;" } else { "" },
                    self.wal_autocheckpoint
                        .map(|pages| format!(" PRAGMA wal_autocheckpoint = {pages};"))
                        .unwrap_or_default()
                ))
                .map_err(r2d2::Error::QueryError)?;
                Ok(AnyConnection::Sqlite(c))
            }
            Target::Postgres(url) => {
                let mut c = diesel::PgConnection::establish(url.expose_secret())
                    .map_err(r2d2::Error::ConnectionError)?;
                c.set_instrumentation(instrumentation());
                // A replica paused or cut off inside a transaction must not
                // hold the others up for longer than this.
                c.batch_execute(&format!(
                    "SET idle_in_transaction_session_timeout = {}",
                    self.busy_timeout_ms.saturating_mul(2)
                ))
                .map_err(r2d2::Error::QueryError)?;
                Ok(AnyConnection::Postgresql(c))
            }
        }
    }

    fn is_valid(&self, conn: &mut AnyConnection) -> Result<(), r2d2::Error> {
        conn.batch_execute("SELECT 1")
            .map_err(r2d2::Error::QueryError)
    }

    /// A connection whose transaction could not be closed (its server
    /// went away mid-transaction, say) goes, rather than back to the pool.
    fn has_broken(&self, conn: &mut AnyConnection) -> bool {
        std::thread::panicking() || diesel::r2d2::R2D2Connection::is_broken(conn)
    }
}

/// What every connection reports of its statements: counted for the
/// bench's figures ([`crate::meter`], while counting is on), a rollback
/// forgets what the writer thread kept of the audit tree
/// ([`super::audit_frontier`]), and in debug builds statements are checked
/// ([`super::cached::check_fixed`]).
pub(super) fn instrumentation() -> impl diesel::connection::Instrumentation {
    use diesel::connection::InstrumentationEvent;
    |event: InstrumentationEvent<'_>| match event {
        InstrumentationEvent::StartQuery { .. } => crate::meter::statement(false),
        InstrumentationEvent::BeginTransaction { .. } => crate::meter::statement(true),
        InstrumentationEvent::RollbackTransaction { .. } => super::audit_frontier::forget(),
        #[cfg(debug_assertions)]
        InstrumentationEvent::FinishQuery {
            query, error: None, ..
        } => super::cached::check_fixed(query),
        _ => {}
    }
}
