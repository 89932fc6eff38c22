//! Storage: one portable diesel schema over SQLite (embedded default) and
//! PostgreSQL, in one binary.
//!
//! The backend is chosen from the scheme of `database.url` — never by trying
//! each driver in turn, which would let SQLite swallow a mistyped PostgreSQL
//! URL as a file name. SQLite runs in WAL mode with foreign keys on and a busy
//! timeout, with exactly one writer connection (fair and fast under load) and
//! a pool of read-only connections beside it.

mod insert_or_ignore;
pub(crate) use insert_or_ignore::insert_or_ignore;

pub mod alerts;
pub mod audit;
mod audit_checkpoints;
mod audit_frontier;
pub mod audit_lookup;
pub mod audit_watch;
pub mod backup;
pub mod cached;
pub mod case_events;
pub mod cases;
pub mod certificates;
pub mod channels;
mod connections;
pub mod convergence;
pub mod crossings;
pub mod directory;
pub mod erasures;
pub mod group_commit;
pub mod handovers;
pub mod idempotency;
pub mod inbox;
pub mod keyring;
pub mod leases;
pub mod models;
pub mod name_index;
pub mod node_lock;
pub mod outbox;
pub mod overdue;
mod read_here;
pub mod reconciliation;
pub mod reports;
pub mod review;
pub mod schema;
pub mod scratch;
pub mod sealed;
pub mod sessions;
pub mod statistics;
pub mod users;
pub mod wakeups;
mod wal_checkpointer;

use std::path::Path;

pub(crate) use connections::Manager;
pub use connections::Target;
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2::{self, Pool};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};
use secrecy::SecretString;

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// A connection to either backend.
#[derive(diesel::MultiConnection)]
pub enum AnyConnection {
    Postgresql(diesel::PgConnection),
    Sqlite(diesel::SqliteConnection),
}

/// Runs `f` in a read-only transaction that sees one snapshot: SQLite's
/// deferred transaction holds the snapshot of its first read, PostgreSQL's
/// is made repeatable-read.
fn snapshot<T, E>(
    conn: &mut AnyConnection,
    f: impl FnOnce(&mut AnyConnection) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<DbError> + From<diesel::result::Error>,
{
    conn.transaction(|c| {
        if let AnyConnection::Postgresql(_) = c {
            c.batch_execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")?;
        }
        f(c)
    })
}

/// Runs `f` in a savepoint of the caller's transaction: what it wrote is
/// undone when it fails, and the transaction goes on (the data keys it
/// unwrapped or made are forgotten with it).
pub fn savepoint<T, E: From<diesel::result::Error>>(
    conn: &mut AnyConnection,
    f: impl FnOnce(&mut AnyConnection) -> Result<T, E>,
) -> Result<T, E> {
    let mark = statistics::pending();
    let out = conn.transaction(f);
    if out.is_err() {
        sealed::forget();
        statistics::discard_from(mark);
    }
    out
}

/// Storage errors.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("unsupported database URL: {0}")]
    Url(String),
    #[error("database connection unavailable: {0}")]
    Pool(#[from] r2d2::PoolError),
    #[error("database error: {0}")]
    Query(#[from] diesel::result::Error),
    #[error("migration failed: {0}")]
    Migration(String),
    #[error("stored data is inconsistent: {0}")]
    Corrupt(String),
    #[error("database task was cancelled")]
    Cancelled,
    #[error("the transaction could not be committed: {0}")]
    Commit(String),
    #[error("key ring: {0}")]
    Keys(String),
}

impl DbError {
    /// A conflict with another writer that a retry can resolve: SQLite busy
    /// beyond the timeout, PostgreSQL serialization failure or deadlock.
    pub fn is_transient(&self) -> bool {
        use diesel::result::{DatabaseErrorKind, Error};
        match self {
            DbError::Query(Error::DatabaseError(DatabaseErrorKind::SerializationFailure, _)) => {
                true
            }
            DbError::Query(Error::DatabaseError(_, info)) => {
                let m = info.message();
                m.contains("database is locked") || m.contains("deadlock detected")
            }
            _ => false,
        }
    }

    /// The connection was lost mid-request: the server went away or ended
    /// the session (a restart, a failover, `pg_terminate_backend`, or
    /// `idle_in_transaction_session_timeout` after this process was paused).
    /// The server rolled the open transaction back, so nothing of it was
    /// kept, unless it was lost while its `COMMIT` was on the way; a retry
    /// is safe for a request with an `Idempotency-Key` or an `If-Match`.
    pub fn is_connection_lost(&self) -> bool {
        use diesel::result::{DatabaseErrorKind, Error};
        matches!(
            self,
            DbError::Query(Error::DatabaseError(
                DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
                _
            ))
        )
    }

    pub fn is_unique_violation(&self) -> bool {
        matches!(
            self,
            DbError::Query(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _
            ))
        )
    }
}

type AnyPool = Pool<Manager>;

/// Handle on the node's database: a writer and readers.
#[derive(Clone)]
pub struct Db {
    writer: AnyPool,
    reader: AnyPool,
    backend: &'static str,
    /// SQLite: the group-commit writer that [`Db::write`] hands its work to.
    group: Option<std::sync::Arc<group_commit::GroupWriter>>,
    /// The key-encryption keys personal data at rest is sealed under.
    ring: std::sync::Arc<keyring::KeyRing>,
    /// Who is woken when a committed transaction queued a message.
    wakeup: std::sync::Arc<wakeups::Wakeup>,
    /// PostgreSQL: one connection, opened on first use, for the writes that
    /// must not wait for one of the pool's ([`Db::write_apart`]).
    apart: Option<AnyPool>,
    /// SQLite: the thread that checkpoints the write-ahead log off the
    /// writer's path, stopped with the last handle.
    checkpointer: Option<std::sync::Arc<wal_checkpointer::Checkpointer>>,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

impl Db {
    /// Connects, creating the SQLite file and its directory if needed, and
    /// applies pending migrations. Keeps one idle connection ready (servers).
    pub fn open(
        url: &SecretString,
        key_dir: &Path,
        max_connections: u32,
        busy_timeout_ms: u64,
    ) -> Result<Db, DbError> {
        Self::open_with(url, key_dir, max_connections, busy_timeout_ms, 1)
    }

    /// Like [`Db::open`], for short-lived commands: no idle connections are
    /// kept or replenished in the background, so the process can exit while
    /// no connection is half-open (libpq would crash at exit otherwise).
    pub fn open_for_command(
        url: &SecretString,
        key_dir: &Path,
        busy_timeout_ms: u64,
    ) -> Result<Db, DbError> {
        Self::open_with(url, key_dir, 1, busy_timeout_ms, 0)
    }

    /// Opens the key ring in `key_dir`, connects, migrates, and makes sure
    /// the ring holds the key of the epoch in use (see [`sealed::prepare`]).
    fn open_with(
        url: &SecretString,
        key_dir: &Path,
        max_connections: u32,
        busy_timeout_ms: u64,
        min_idle: u32,
    ) -> Result<Db, DbError> {
        // Initialise OpenSSL before libpq does: the openssl crate asks for no
        // at-exit cleanup, which would otherwise free OpenSSL's state under
        // threads still using it when the process exits.
        openssl::init();
        let ring = keyring::KeyRing::open(key_dir)?;
        let target = Target::parse(url)?;
        let timeout = Duration::from_secs(10);
        let db = match target {
            Target::Sqlite(ref path) => {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir).map_err(|e| {
                        DbError::Url(format!("cannot create {}: {e}", dir.display()))
                    })?;
                }
                // A file opened in this process does not go away as a
                // server connection can: no `SELECT 1` before each use.
                let writer = Pool::builder()
                    .max_size(1)
                    .test_on_check_out(false)
                    .min_idle(Some(min_idle.min(1)))
                    .connection_timeout(timeout)
                    .build(Manager {
                        target: target.clone(),
                        busy_timeout_ms,
                        read_only: false,
                        wal_autocheckpoint: Some(wal_checkpointer::WRITER_BACKSTOP_PAGES),
                    })?;
                // Migrate before readers open, so they see the schema.
                migrate(&mut *writer.get()?)?;
                let reader = Pool::builder()
                    .max_size(max_connections)
                    .test_on_check_out(false)
                    .min_idle(Some(min_idle))
                    .connection_timeout(timeout)
                    .build(Manager {
                        target: target.clone(),
                        busy_timeout_ms,
                        read_only: true,
                        wal_autocheckpoint: None,
                    })?;
                let checkpointer = wal_checkpointer::Checkpointer::start(Manager {
                    target,
                    busy_timeout_ms,
                    read_only: false,
                    wal_autocheckpoint: None,
                })?;
                let wakeup = std::sync::Arc::<wakeups::Wakeup>::default();
                let group = Some(std::sync::Arc::new(group_commit::GroupWriter::start(
                    writer.clone(),
                    ring.clone(),
                    wakeup.clone(),
                )?));
                Db {
                    writer,
                    reader,
                    backend: "sqlite",
                    group,
                    ring,
                    wakeup,
                    apart: None,
                    checkpointer: Some(std::sync::Arc::new(checkpointer)),
                }
            }
            Target::Postgres(_) => {
                let pool = Pool::builder()
                    .max_size(max_connections)
                    .min_idle(Some(min_idle))
                    .connection_timeout(timeout)
                    .build(Manager {
                        target: target.clone(),
                        busy_timeout_ms,
                        read_only: false,
                        wal_autocheckpoint: None,
                    })?;
                migrate(&mut *pool.get()?)?;
                let apart = Pool::builder()
                    .max_size(1)
                    .min_idle(Some(0))
                    .connection_timeout(timeout)
                    .build_unchecked(Manager {
                        target,
                        busy_timeout_ms,
                        read_only: false,
                        wal_autocheckpoint: None,
                    });
                Db {
                    writer: pool.clone(),
                    reader: pool,
                    backend: "postgres",
                    group: None,
                    ring,
                    wakeup: Default::default(),
                    apart: Some(apart),
                    checkpointer: None,
                }
            }
        };
        let now = chrono::Utc::now().naive_utc();
        let epoch = db.write_blocking(|c| sealed::prepare(c, now))?;
        let lost = db.read_blocking(sealed::unreadable)?;
        if lost > 0 {
            tracing::warn!(
                referrals = lost,
                epoch,
                "personal data of some referrals cannot be read: their keys were destroyed by an \
                 erasure after this database was backed up"
            );
        }
        Ok(db)
    }

    /// `sqlite` or `postgres`.
    pub fn backend(&self) -> &'static str {
        self.backend
    }

    /// Leaves no erased value behind in the database files, as far as the
    /// backend allows. SQLite overwrites deleted content with zeros
    /// (`secure_delete`, on every connection) but the write-ahead log still
    /// holds the pages as they were until a checkpoint: this one copies the
    /// log into the database and truncates it to nothing. PostgreSQL:
    /// nothing to do (its dead row versions and log hold only sealed values
    /// and data keys wrapped under a destroyed epoch: see [`sealed`]).
    pub async fn purge_erased(&self) -> Result<(), DbError> {
        if self.backend != "sqlite" {
            return Ok(());
        }
        let writer = self.writer.clone();
        let checkpointer = self.checkpointer.clone();
        actix_web::rt::task::spawn_blocking(move || {
            let mut conn = writer.get()?;
            let mut truncate = || (*conn).batch_execute("PRAGMA wal_checkpoint(TRUNCATE)");
            match checkpointer {
                Some(other) => other.exclusive(truncate)?,
                None => truncate()?,
            }
            Ok::<_, DbError>(())
        })
        .await
        .map_err(|e| DbError::Commit(format!("the purge task failed: {e}")))?
    }

    /// Destroys the key-encryption keys of the epochs before the one in use
    /// (called an interval after a rotation, once no call still reads under
    /// them). Returns how many were destroyed.
    pub async fn destroy_superseded_keys(&self) -> Result<usize, DbError> {
        let (epoch, _) = self.read(sealed::state).await?;
        let ring = self.ring.clone();
        actix_web::rt::task::spawn_blocking(move || ring.destroy_before(epoch))
            .await
            .map_err(|_| DbError::Cancelled)?
    }

    /// Reads the key directory again (see [`keyring::KeyRing::reload`]): a replica
    /// that does not run the key rotation forgets the keys another one
    /// destroyed.
    pub async fn refresh_keys(&self) -> Result<(), DbError> {
        let ring = self.ring.clone();
        actix_web::rt::task::spawn_blocking(move || ring.reload())
            .await
            .map_err(|_| DbError::Cancelled)?
    }

    /// Runs `f` in a write transaction of its own (a savepoint within a group
    /// commit on SQLite, see [`group`]); it commits or rolls back as a whole.
    pub async fn write<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut AnyConnection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + From<diesel::result::Error> + Send + 'static,
    {
        self.write_in(f, true).await
    }

    /// [`Db::write`] for an `f` that fails only when the database does (an
    /// audit entry alone): in a group commit it runs without a savepoint of
    /// its own, and if it fails its whole group fails with it, as at a failed
    /// commit (see [`group_commit`]).
    pub async fn write_unguarded<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut AnyConnection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + From<diesel::result::Error> + Send + 'static,
    {
        self.write_in(f, false).await
    }

    async fn write_in<T, E, F>(&self, f: F, guarded: bool) -> Result<T, E>
    where
        F: FnOnce(&mut AnyConnection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + From<diesel::result::Error> + Send + 'static,
    {
        if let Some(group) = &self.group {
            return group.submit(f, guarded).await;
        }
        self.write_on(self.writer.clone(), f).await
    }

    /// One write transaction on a connection of `pool`, on the blocking
    /// thread pool (backends without a group writer).
    async fn write_on<T, E, F>(&self, pool: AnyPool, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut AnyConnection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + From<diesel::result::Error> + Send + 'static,
    {
        let ring = self.ring.clone();
        let wakeup = self.wakeup.clone();
        actix_web::rt::task::spawn_blocking(move || {
            let _keys = sealed::enter(&ring);
            let mut conn = pool.get().map_err(DbError::from)?;
            wakeups::take_queued();
            let done = crate::meter::scope(crate::meter::Part::Storage, || {
                (*conn).transaction(|c| {
                    group_commit::take_write_lock(c)?;
                    statistics::deferred(c, f)
                })
            });
            wakeup.after_commit(&mut conn, done.is_ok());
            done
        })
        .await
        .map_err(|_| DbError::Cancelled)?
    }

    /// [`Db::write`] on a connection of its own (PostgreSQL), for short
    /// writes that must be done in time, such as renewing a replica's
    /// lease: they never queue for a connection behind the node's other
    /// work, which may all be waiting for a lock (held, say, by a replica
    /// paused in the middle of a transaction, until the server ends its
    /// session). SQLite has one writer for everything: [`Db::write`].
    pub async fn write_apart<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut AnyConnection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + From<diesel::result::Error> + Send + 'static,
    {
        match self.apart.clone() {
            Some(pool) => self.write_on(pool, f).await,
            None => self.write(f).await,
        }
    }

    /// Whether this process's dispatcher delivers: if not, a committed
    /// transaction that queued a message wakes the one that does (see
    /// [`wakeups`]).
    pub fn set_delivers_here(&self, delivers: bool) {
        self.wakeup
            .delivers_here
            .store(delivers, std::sync::atomic::Ordering::Relaxed);
    }

    /// Runs `f` on a read connection, on the blocking thread pool, in one
    /// read-only transaction: its queries see one snapshot of the data (a
    /// case and its identity block read together are read as they were at
    /// one moment, never the one before an erasure and the other after).
    pub async fn read<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut AnyConnection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + From<diesel::result::Error> + Send + 'static,
    {
        self.read_one(move |c| snapshot(c, f)).await
    }

    /// Runs `f`, which reads with one statement, on a read connection
    /// without a transaction around it: one statement reads one consistent
    /// state by itself, and the `BEGIN` and `COMMIT` would only cost (each
    /// request's authentication).
    pub async fn read_one<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut AnyConnection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
    {
        let pool = self.reader.clone();
        let ring = self.ring.clone();
        actix_web::rt::task::spawn_blocking(move || {
            let mut conn = pool.get().map_err(DbError::from)?;
            read_here::run(&ring, &mut conn, f)
        })
        .await
        .map_err(|_| DbError::Cancelled)?
    }

    /// Synchronous write transaction, for command-line tools.
    pub fn write_blocking<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut AnyConnection) -> Result<T, E>,
        E: From<DbError> + From<diesel::result::Error>,
    {
        let _keys = sealed::enter(&self.ring);
        let mut conn = self.writer.get().map_err(DbError::from)?;
        wakeups::take_queued();
        let done = (*conn).transaction(|c| {
            group_commit::take_write_lock(c)?;
            statistics::deferred(c, f)
        });
        self.wakeup.after_commit(&mut conn, done.is_ok());
        done
    }

    /// Synchronous read, for command-line tools.
    pub fn read_blocking<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut AnyConnection) -> Result<T, E>,
        E: From<DbError> + From<diesel::result::Error>,
    {
        let _keys = sealed::enter(&self.ring);
        let mut conn = self.reader.get().map_err(DbError::from)?;
        snapshot(&mut conn, f)
    }

    /// Whether the database answers and every migration is applied.
    pub async fn ready(&self) -> Result<(), DbError> {
        // Not in a read-only transaction: the migration check may create
        // its bookkeeping table.
        self.read_one(|conn| {
            conn.batch_execute("SELECT 1")?;
            let pending = match conn {
                AnyConnection::Sqlite(c) => c.has_pending_migration(SQLITE_MIGRATIONS),
                AnyConnection::Postgresql(c) => c.has_pending_migration(POSTGRES_MIGRATIONS),
            }
            .map_err(|e| DbError::Migration(e.to_string()))?;
            if pending {
                Err(DbError::Migration("migrations are pending".into()))
            } else {
                Ok(())
            }
        })
        .await
    }
}

/// Applies pending migrations; returns how many were applied.
pub fn migrate(conn: &mut AnyConnection) -> Result<usize, DbError> {
    let applied = match conn {
        AnyConnection::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS).map(|v| v.len()),
        AnyConnection::Postgresql(c) => c
            .run_pending_migrations(POSTGRES_MIGRATIONS)
            .map(|v| v.len()),
    }
    .map_err(|e| DbError::Migration(e.to_string()))?;
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Target, DbError> {
        Target::parse(&SecretString::from(s.to_string()))
    }

    #[test]
    fn backend_comes_from_the_scheme() {
        assert!(
            matches!(parse("sqlite://data/a.db"), Ok(Target::Sqlite(p)) if p.as_os_str() == "data/a.db")
        );
        assert!(
            matches!(parse("sqlite:///var/lib/p.db"), Ok(Target::Sqlite(p)) if p.as_os_str() == "/var/lib/p.db")
        );
        assert!(matches!(parse("data/b.db"), Ok(Target::Sqlite(_))));
        assert!(matches!(
            parse("postgres://u:p@localhost/db"),
            Ok(Target::Postgres(_))
        ));
        assert!(matches!(
            parse("postgresql://localhost/db"),
            Ok(Target::Postgres(_))
        ));
        for bad in [
            "",
            "mysql://root@localhost/db",
            "postgre://x",
            "sqlite://",
            "http://example.org",
        ] {
            assert!(matches!(parse(bad), Err(DbError::Url(_))), "{bad}");
        }
    }
}
