//! Rows of the watch over the other node's log: where the incremental peer
//! check stands, whether cosigning is suspended, and the mismatches an
//! administrator acknowledged.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{audit_watch, audit_watch_accepted};
use super::{AnyConnection, DbError};

/// The watch's state (one row).
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = audit_watch)]
pub struct WatchRow {
    pub id: i64,
    /// Where the next incremental check starts.
    pub next_index: i64,
    /// Full passes over the witnessed leaves completed.
    pub passes: i64,
    pub last_checked_at: Option<NaiveDateTime>,
    /// Set while cosigning the other node's log is suspended.
    pub suspended_at: Option<NaiveDateTime>,
    pub suspended_index: Option<i64>,
    pub suspended_problem: Option<String>,
    /// The leaf hash the other node showed at the bad index (`missing`: none).
    pub suspended_peer_leaf: Option<String>,
    /// Every witnessed leaf below this index was checked at least once.
    pub checked_through: i64,
    /// Every receipt recorded at or before this index of this node's log
    /// was proven logged in the other node's log (-1: none yet).
    pub receipts_after: i64,
}

/// An acknowledged mismatch.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = audit_watch_accepted)]
pub struct AcceptedRow {
    pub idx: i64,
    pub peer_leaf: String,
    pub problem: String,
    pub acknowledged_by: String,
    pub acknowledged_at: NaiveDateTime,
}

pub fn get(conn: &mut AnyConnection) -> Result<WatchRow, DbError> {
    Ok(audit_watch::table
        .find(1_i64)
        .select(WatchRow::as_select())
        .first(conn)?)
}

/// Moves the cursor after a check that found nothing wrong.
pub fn advance(
    conn: &mut AnyConnection,
    next_index: i64,
    passes: i64,
    now: NaiveDateTime,
) -> Result<(), DbError> {
    diesel::update(audit_watch::table.find(1_i64))
        .set((
            audit_watch::next_index.eq(next_index),
            audit_watch::passes.eq(passes),
            audit_watch::last_checked_at.eq(Some(now)),
        ))
        .execute(conn)?;
    Ok(())
}

/// Records that leaves `[from, to)` were checked: `checked_through` moves
/// to `to` when the range starts at or below it.
pub fn extend_checked(conn: &mut AnyConnection, from: i64, to: i64) -> Result<(), DbError> {
    diesel::update(
        audit_watch::table
            .find(1_i64)
            .filter(audit_watch::checked_through.ge(from))
            .filter(audit_watch::checked_through.lt(to)),
    )
    .set(audit_watch::checked_through.eq(to))
    .execute(conn)?;
    Ok(())
}

/// Records that the receipts up to this node's audit index `after` are proven.
pub fn set_receipts_after(conn: &mut AnyConnection, after: i64) -> Result<(), DbError> {
    diesel::update(audit_watch::table.find(1_i64))
        .set(audit_watch::receipts_after.eq(after))
        .execute(conn)?;
    Ok(())
}

/// Suspends cosigning at a mismatch (the cursor stays at the bad index).
pub fn suspend(
    conn: &mut AnyConnection,
    index: i64,
    problem: &str,
    peer_leaf: &str,
    now: NaiveDateTime,
) -> Result<(), DbError> {
    diesel::update(audit_watch::table.find(1_i64))
        .set((
            audit_watch::next_index.eq(index),
            audit_watch::last_checked_at.eq(Some(now)),
            audit_watch::suspended_at.eq(Some(now)),
            audit_watch::suspended_index.eq(Some(index)),
            audit_watch::suspended_problem.eq(Some(problem)),
            audit_watch::suspended_peer_leaf.eq(Some(peer_leaf)),
        ))
        .execute(conn)?;
    Ok(())
}

/// Lifts a suspension: the mismatch is accepted and the cursor moves past it.
pub fn resume(conn: &mut AnyConnection, accepted: AcceptedRow) -> Result<(), DbError> {
    let next = accepted.idx + 1;
    // The same index acknowledged again (the other node changed it again):
    // the latest acknowledgement replaces the earlier one.
    diesel::delete(audit_watch_accepted::table.find(accepted.idx)).execute(conn)?;
    diesel::insert_into(audit_watch_accepted::table)
        .values(&accepted)
        .execute(conn)?;
    diesel::update(audit_watch::table.find(1_i64))
        .set((
            audit_watch::next_index.eq(next),
            audit_watch::suspended_at.eq(None::<NaiveDateTime>),
            audit_watch::suspended_index.eq(None::<i64>),
            audit_watch::suspended_problem.eq(None::<String>),
            audit_watch::suspended_peer_leaf.eq(None::<String>),
        ))
        .execute(conn)?;
    Ok(())
}

/// Acknowledged mismatches in `[from, to)`: index → the leaf hash accepted.
pub fn accepted(
    conn: &mut AnyConnection,
    from: i64,
    to: i64,
) -> Result<HashMap<i64, String>, DbError> {
    Ok(audit_watch_accepted::table
        .filter(audit_watch_accepted::idx.ge(from))
        .filter(audit_watch_accepted::idx.lt(to))
        .select((audit_watch_accepted::idx, audit_watch_accepted::peer_leaf))
        .load::<(i64, String)>(conn)?
        .into_iter()
        .collect())
}

/// How many mismatches were acknowledged.
pub fn accepted_count(conn: &mut AnyConnection) -> Result<i64, DbError> {
    Ok(audit_watch_accepted::table.count().get_result(conn)?)
}
