//! Rows of `leases`: who runs a job that must run once across a node's
//! replicas, under which term, until when. Every change is a compare-and-set
//! on the row's term, so two replicas can never both take the same lease.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::leases;
use super::{AnyConnection, DbError};

/// A lease as stored.
#[derive(Debug, Clone, Queryable)]
pub struct Lease {
    pub holder: String,
    pub term: i64,
    pub expires_at: NaiveDateTime,
}

/// The lease `name`, if it was ever taken.
pub fn get(conn: &mut AnyConnection, name: &str) -> Result<Option<Lease>, DbError> {
    Ok(leases::table
        .find(name)
        .select((leases::holder, leases::term, leases::expires_at))
        .first(conn)
        .optional()?)
}

/// Creates the lease `name` for `holder`, unless a row exists already
/// (another replica was first): whether it was created.
pub fn create(
    conn: &mut AnyConnection,
    name: &str,
    holder: &str,
    term: i64,
    expires_at: NaiveDateTime,
) -> Result<bool, DbError> {
    let row = (
        leases::name.eq(name),
        leases::holder.eq(holder),
        leases::term.eq(term),
        leases::expires_at.eq(expires_at),
    );
    Ok(super::insert_or_ignore!(conn, leases::table, row)? == 1)
}

/// Gives the lease `name`, still at term `old_term` and expired before
/// `now`, to `holder` under `term`: whether it was taken (another replica
/// may have been first).
pub fn take_over(
    conn: &mut AnyConnection,
    name: &str,
    old_term: i64,
    now: NaiveDateTime,
    holder: &str,
    term: i64,
    expires_at: NaiveDateTime,
) -> Result<bool, DbError> {
    let n = diesel::update(
        leases::table
            .find(name)
            .filter(leases::term.eq(old_term))
            .filter(leases::expires_at.lt(now)),
    )
    .set((
        leases::holder.eq(holder),
        leases::term.eq(term),
        leases::expires_at.eq(expires_at),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

/// Moves the expiry of the lease `name` held by `holder` under `term`:
/// whether it is still held (nobody took it over).
pub fn extend(
    conn: &mut AnyConnection,
    name: &str,
    holder: &str,
    term: i64,
    expires_at: NaiveDateTime,
) -> Result<bool, DbError> {
    let n = diesel::update(
        leases::table
            .find(name)
            .filter(leases::holder.eq(holder))
            .filter(leases::term.eq(term)),
    )
    .set(leases::expires_at.eq(expires_at))
    .execute(conn)?;
    Ok(n == 1)
}
