//! Rows of the incremental reconciliation: what both logs say of each
//! message with its judgement, and how far each log was folded in.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{reconciliation, reconciliation_cursor};
use super::{AnyConnection, DbError};
use crate::audit::reconcile::Facts;

/// One message's row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = reconciliation, treat_none_as_null = true)]
pub struct FactsRow {
    pub message_id: String,
    pub first_seen_at: Option<NaiveDateTime>,
    /// `None` while the message has no row in the report.
    pub status: Option<String>,
    pub detail: Option<String>,
    /// The facts, as JSON.
    pub facts: String,
}

/// How far each log was folded in.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = reconciliation_cursor)]
pub struct CursorRow {
    pub id: i64,
    /// This node's audit index folded in last (-1: none).
    pub own_after: i64,
    /// When this node's log was last read to its end.
    pub own_read_at: Option<NaiveDateTime>,
    /// The other node's audit index folded in last (-1: none).
    pub peer_after: i64,
    /// When the other node's log was last read to its end.
    pub peer_read_at: Option<NaiveDateTime>,
}

/// The row of `f`, with its judgement.
pub fn row_of(f: &Facts, judged: Option<(&str, Option<String>)>) -> Result<FactsRow, DbError> {
    let (status, detail) = match judged {
        Some((s, d)) => (Some(s.to_owned()), d),
        None => (None, None),
    };
    Ok(FactsRow {
        message_id: f.message_id.clone(),
        first_seen_at: f.first_seen_at.map(|t| t.naive_utc()),
        status,
        detail,
        facts: serde_json::to_string(f).map_err(|e| DbError::Corrupt(e.to_string()))?,
    })
}

/// The facts a row holds.
pub fn facts_of(r: &FactsRow) -> Result<Facts, DbError> {
    serde_json::from_str(&r.facts)
        .map_err(|e| DbError::Corrupt(format!("reconciliation facts of {}: {e}", r.message_id)))
}

/// The rows of `ids` that exist (a bounded chunk at a time).
pub fn get_many(
    conn: &mut AnyConnection,
    ids: &[String],
) -> Result<HashMap<String, FactsRow>, DbError> {
    let mut out = HashMap::new();
    for chunk in ids.chunks(500) {
        let rows: Vec<FactsRow> = reconciliation::table
            .filter(reconciliation::message_id.eq_any(chunk))
            .select(FactsRow::as_select())
            .load(conn)?;
        out.extend(rows.into_iter().map(|r| (r.message_id.clone(), r)));
    }
    Ok(out)
}

/// Writes `row`, replacing the message's earlier row.
pub fn put(conn: &mut AnyConnection, row: &FactsRow) -> Result<(), DbError> {
    let n = diesel::update(reconciliation::table.find(&row.message_id))
        .set(row)
        .execute(conn)?;
    if n == 0 {
        diesel::insert_into(reconciliation::table)
            .values(row)
            .execute(conn)?;
    }
    Ok(())
}

/// How far each log was folded in, the row locked until the transaction
/// ends (the `UPDATE` takes its lock on PostgreSQL): replicas folding at
/// once fold in turn, the second from where the first stopped.
pub fn cursor_for_update(conn: &mut AnyConnection) -> Result<CursorRow, DbError> {
    diesel::update(reconciliation_cursor::table.find(1_i64))
        .set(reconciliation_cursor::own_after.eq(reconciliation_cursor::own_after))
        .execute(conn)?;
    cursor(conn)
}

pub fn cursor(conn: &mut AnyConnection) -> Result<CursorRow, DbError> {
    Ok(reconciliation_cursor::table
        .find(1_i64)
        .select(CursorRow::as_select())
        .first(conn)?)
}

pub fn set_own(
    conn: &mut AnyConnection,
    after: i64,
    read_at: Option<NaiveDateTime>,
) -> Result<(), DbError> {
    diesel::update(reconciliation_cursor::table.find(1_i64))
        .set((
            reconciliation_cursor::own_after.eq(after),
            reconciliation_cursor::own_read_at.eq(read_at),
        ))
        .execute(conn)?;
    Ok(())
}

pub fn set_peer(
    conn: &mut AnyConnection,
    after: i64,
    read_at: Option<NaiveDateTime>,
) -> Result<(), DbError> {
    diesel::update(reconciliation_cursor::table.find(1_i64))
        .set((
            reconciliation_cursor::peer_after.eq(after),
            reconciliation_cursor::peer_read_at.eq(read_at),
        ))
        .execute(conn)?;
    Ok(())
}

/// Rows whose message was first seen in `[from, to)`, after `after` in
/// `(first_seen_at, message_id)` order, at most `limit`.
pub fn page(
    conn: &mut AnyConnection,
    from: Option<NaiveDateTime>,
    to: Option<NaiveDateTime>,
    after: Option<(NaiveDateTime, String)>,
    limit: i64,
) -> Result<Vec<FactsRow>, DbError> {
    let mut q = reconciliation::table
        .filter(reconciliation::status.is_not_null())
        .filter(reconciliation::first_seen_at.is_not_null())
        .select(FactsRow::as_select())
        .into_boxed();
    if let Some(f) = from {
        q = q.filter(reconciliation::first_seen_at.ge(f));
    }
    if let Some(t) = to {
        q = q.filter(reconciliation::first_seen_at.lt(t));
    }
    if let Some((at, id)) = after {
        q = q.filter(
            reconciliation::first_seen_at
                .gt(at)
                .or(reconciliation::first_seen_at
                    .eq(at)
                    .and(reconciliation::message_id.gt(id))),
        );
    }
    Ok(q.order((
        reconciliation::first_seen_at.asc(),
        reconciliation::message_id.asc(),
    ))
    .limit(limit)
    .load(conn)?)
}

/// How many rows of the period have each status.
pub fn counts(
    conn: &mut AnyConnection,
    from: Option<NaiveDateTime>,
    to: Option<NaiveDateTime>,
) -> Result<Vec<(Option<String>, i64)>, DbError> {
    let mut q = reconciliation::table
        .filter(reconciliation::status.is_not_null())
        .filter(reconciliation::first_seen_at.is_not_null())
        .group_by(reconciliation::status)
        .select((reconciliation::status, diesel::dsl::count_star()))
        .into_boxed();
    if let Some(f) = from {
        q = q.filter(reconciliation::first_seen_at.ge(f));
    }
    if let Some(t) = to {
        q = q.filter(reconciliation::first_seen_at.lt(t));
    }
    Ok(q.load(conn)?)
}

/// Up to `limit` rows with `status`.
pub fn with_status(
    conn: &mut AnyConnection,
    status: &str,
    limit: i64,
) -> Result<Vec<FactsRow>, DbError> {
    Ok(reconciliation::table
        .filter(reconciliation::status.eq(status))
        .select(FactsRow::as_select())
        .limit(limit)
        .load(conn)?)
}
