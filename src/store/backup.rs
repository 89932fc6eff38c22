//! Consistent online backups and their restoration.
//!
//! - SQLite: `VACUUM INTO` writes a transaction-consistent copy while the
//!   node runs; the copy is compacted (no free pages, so nothing erased
//!   comes along). Restoring replaces the database file (the node stopped),
//!   removing the write-ahead log that belonged to the old one.
//! - PostgreSQL: `pg_dump --format=custom` (one repeatable-read snapshot,
//!   online) and `pg_restore --clean --if-exists --single-transaction`. The
//!   password goes to the tools in `PGPASSWORD`, never on a command line.

use std::path::Path;
use std::process::Command;

use diesel::connection::SimpleConnection;
use secrecy::{ExposeSecret, SecretString};

use super::{Db, DbError, Target};

const SQLITE_HEADER: &[u8] = b"SQLite format 3\0";

/// A path as the tools take it.
fn utf8(path: &Path) -> Result<&str, DbError> {
    path.to_str()
        .ok_or_else(|| DbError::Commit(format!("{} is not UTF-8", path.display())))
}

fn io(what: &str, path: &Path, e: std::io::Error) -> DbError {
    DbError::Commit(format!("{what} {}: {e}", path.display()))
}

/// A PostgreSQL URL without its password, and the password.
fn split_password(url: &SecretString) -> Result<(String, Option<String>), DbError> {
    let mut parsed = reqwest::Url::parse(url.expose_secret())
        .map_err(|e| DbError::Url(format!("not a PostgreSQL URL: {e}")))?;
    let password = parsed.password().map(|p| {
        percent_encoding::percent_decode_str(p)
            .decode_utf8_lossy()
            .into_owned()
    });
    let _ = parsed.set_password(None);
    Ok((parsed.to_string(), password))
}

fn run_tool(tool: &str, args: &[&str], url: &SecretString) -> Result<(), DbError> {
    let (url, password) = split_password(url)?;
    let mut cmd = Command::new(tool);
    cmd.args(args).arg("--dbname").arg(&url);
    if let Some(p) = password {
        cmd.env("PGPASSWORD", p);
    }
    let out = cmd
        .output()
        .map_err(|e| DbError::Commit(format!("cannot run {tool} (is it installed?): {e}")))?;
    if !out.status.success() {
        return Err(DbError::Commit(format!(
            "{tool} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

impl Db {
    /// Writes a consistent copy of the database to `file` (which must not
    /// exist), while the node may be running.
    pub fn backup_to(&self, url: &SecretString, file: &Path) -> Result<(), DbError> {
        if file.exists() {
            return Err(DbError::Commit(format!(
                "{} exists already: choose a new file",
                file.display()
            )));
        }
        match Target::parse(url)? {
            Target::Sqlite(_) => {
                let path = utf8(file)?;
                let mut conn = self.writer.get()?;
                (*conn).batch_execute(&format!("VACUUM INTO '{}'", path.replace('\'', "''")))?;
                Ok(())
            }
            Target::Postgres(_) => {
                let path = utf8(file)?;
                run_tool(
                    "pg_dump",
                    &["--format=custom", "--no-owner", "--file", path],
                    url,
                )
            }
        }
    }
}

/// Replaces the database at `url` by the backup in `file`. The node must be
/// stopped: for SQLite this is checked by taking an exclusive lock.
pub fn restore_from(url: &SecretString, file: &Path) -> Result<(), DbError> {
    match Target::parse(url)? {
        Target::Sqlite(target) => {
            let mut header = [0u8; 16];
            let read = std::fs::File::open(file)
                .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut header))
                .map_err(|e| io("cannot read", file, e));
            read?;
            if header != SQLITE_HEADER {
                return Err(DbError::Commit(format!(
                    "{} is not an SQLite backup",
                    file.display()
                )));
            }
            if target.exists() {
                // A running node holds the database: an exclusive lock fails.
                let path = utf8(&target)?;
                let mut c = <diesel::SqliteConnection as diesel::Connection>::establish(path)
                    .map_err(|e| DbError::Commit(e.to_string()))?;
                c.batch_execute("PRAGMA busy_timeout = 2000; BEGIN EXCLUSIVE; ROLLBACK;")
                    .map_err(|_| {
                        DbError::Commit(format!(
                            "{} is in use: stop the node before restoring",
                            target.display()
                        ))
                    })?;
            }
            let mut tmp = target.clone().into_os_string();
            tmp.push(".restoring");
            let tmp = std::path::PathBuf::from(tmp);
            std::fs::copy(file, &tmp).map_err(|e| io("cannot copy to", &tmp, e))?;
            std::fs::File::open(&tmp)
                .and_then(|f| f.sync_all())
                .map_err(|e| io("cannot sync", &tmp, e))?;
            for suffix in ["-wal", "-shm"] {
                let mut side = target.clone().into_os_string();
                side.push(suffix);
                let side = std::path::PathBuf::from(side);
                if side.exists() {
                    std::fs::remove_file(&side).map_err(|e| io("cannot remove", &side, e))?;
                }
            }
            std::fs::rename(&tmp, &target).map_err(|e| io("cannot replace", &target, e))?;
            Ok(())
        }
        Target::Postgres(_) => {
            let path = utf8(file)?;
            run_tool(
                "pg_restore",
                &[
                    "--clean",
                    "--if-exists",
                    "--no-owner",
                    "--single-transaction",
                    path,
                ],
                url,
            )
        }
    }
}
