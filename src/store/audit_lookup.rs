//! Look-ups in the audit log that find one thing through an index: the
//! index where a time begins, the digests logged for given messages.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::cached;
use super::schema::audit_log;
use super::{AnyConnection, DbError};

/// How far an entry's index may stray from the order of the times.
pub const INDEX_SLACK: u64 = 10_000;

/// The index of the entry with the earliest time at or after `at` (`None`:
/// no entry that late), found through the time index.
pub fn first_index_at(conn: &mut AnyConnection, at: NaiveDateTime) -> Result<Option<u64>, DbError> {
    let idx: Option<i64> = audit_log::table
        .filter(audit_log::at.ge(at))
        .order((audit_log::at.asc(), audit_log::idx.asc()))
        .select(audit_log::idx)
        .first(conn)
        .optional()?;
    Ok(idx.map(|i| i.max(0) as u64))
}

/// The digests this node's log recorded with entries of `kind` for each of
/// `message_ids` (queried a bounded chunk at a time).
pub fn digests_of(
    conn: &mut AnyConnection,
    kind: &str,
    message_ids: &[String],
) -> Result<std::collections::HashMap<String, Option<String>>, DbError> {
    let mut out = std::collections::HashMap::new();
    for chunk in message_ids.chunks(500) {
        let rows: Vec<(Option<String>, Option<String>)> = audit_log::table
            .filter(audit_log::kind.eq(kind))
            .filter(audit_log::message_id.eq_any(chunk))
            .select((audit_log::message_id, audit_log::digest))
            .load(conn)?;
        for (id, digest) in rows {
            if let Some(id) = id {
                out.insert(id, digest);
            }
        }
    }
    Ok(out)
}

/// When this node's log recorded each of `message_ids` as queued (queried
/// a bounded chunk at a time).
pub fn queued_at(
    conn: &mut AnyConnection,
    message_ids: &[String],
) -> Result<std::collections::HashMap<String, chrono::DateTime<chrono::Utc>>, DbError> {
    let mut out = std::collections::HashMap::new();
    for chunk in message_ids.chunks(500) {
        let query = audit_log::table
            .filter(audit_log::kind.eq(crate::audit::kinds::MESSAGE_QUEUED))
            .filter(audit_log::message_id.eq_any(chunk))
            .select((audit_log::message_id, audit_log::at));
        let rows: Vec<(Option<String>, NaiveDateTime)> =
            cached::native!(conn, |c| cached::load_list(query, chunk.len(), c))?;
        out.extend(
            rows.into_iter()
                .filter_map(|(id, at)| Some((id?, at.and_utc()))),
        );
    }
    Ok(out)
}

/// The times of the first and the last entry (by index), if any.
pub fn time_span(
    conn: &mut AnyConnection,
) -> Result<Option<(NaiveDateTime, NaiveDateTime)>, DbError> {
    let first: Option<NaiveDateTime> = audit_log::table
        .order(audit_log::idx.asc())
        .select(audit_log::at)
        .first(conn)
        .optional()?;
    let last: Option<NaiveDateTime> = audit_log::table
        .order(audit_log::idx.desc())
        .select(audit_log::at)
        .first(conn)
        .optional()?;
    Ok(first.zip(last))
}
