//! Scratch PostgreSQL databases for `passerelle bench --backend postgres`:
//! created fresh for a run beside the server's other databases, dropped
//! after it.

use diesel::prelude::*;

use super::DbError;

/// Creates database `name` (letters, digits and `_` only) on the server of
/// `admin_url` and returns its URL.
pub fn create_pg_database(admin_url: &str, name: &str) -> Result<String, DbError> {
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(DbError::Corrupt(format!("bad database name {name:?}")));
    }
    let mut c = PgConnection::establish(admin_url)
        .map_err(|e| DbError::Corrupt(format!("connecting to PostgreSQL: {e}")))?;
    diesel::sql_query(format!("CREATE DATABASE {name}")).execute(&mut c)?;
    let base = admin_url
        .rsplit_once('/')
        .map(|(base, _)| base)
        .ok_or_else(|| DbError::Corrupt("the PostgreSQL URL has no database".into()))?;
    Ok(format!("{base}/{name}"))
}

/// Drops database `name` created by [`create_pg_database`], closing its
/// connections.
pub fn drop_pg_database(admin_url: &str, name: &str) -> Result<(), DbError> {
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(DbError::Corrupt(format!("bad database name {name:?}")));
    }
    let mut c = PgConnection::establish(admin_url)
        .map_err(|e| DbError::Corrupt(format!("connecting to PostgreSQL: {e}")))?;
    diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut c)?;
    Ok(())
}

/// Refreshes PostgreSQL's planner statistics (`ANALYZE`) as autovacuum keeps
/// them on a node that grew over years: the bench grows a node in minutes,
/// faster than autovacuum follows, and a planner that believes a table of
/// 100,000 rows holds 10 picks plans no real node would run. SQLite keeps
/// no statistics here: nothing to do.
pub fn analyze(conn: &mut super::AnyConnection) -> Result<(), DbError> {
    if let super::AnyConnection::Postgresql(c) = conn {
        diesel::sql_query("ANALYZE").execute(c)?;
    }
    Ok(())
}
