//! Reconciliation kept up to date incrementally: each node's exchange
//! entries are folded, once, into what is known of each message
//! (`audit::reconcile::Facts`), and each message touched is judged again. A
//! report then reads one page of a period's rows and the period's counts,
//! whatever the length of the history before it.
//!
//! This node's entries are folded in from its own log; the other node's
//! arrive over the link (`peer::witness`), a page at a time. Folding is
//! idempotent and each log's cursor only moves forward, so a page folded
//! twice does no harm; but two catch-ups folding the same message at once
//! could each overwrite the other's facts, so the caller runs one at a time
//! (replicas of one node would need a database lock here).

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, NaiveDateTime, Utc};

use crate::audit::reconcile::{Facts, Row, EXCHANGE_KINDS};
use crate::audit::Entry;
use crate::domain::ids::NodeId;
use crate::store::audit as audit_store;
use crate::store::reconciliation::{self as store, CursorRow};
use crate::store::{AnyConnection, DbError};

/// Entries folded in one transaction, of either log: small enough that a
/// catch-up over a large history never holds the node's one writer long
/// (the requests of the people waiting behind it would stall).
pub const FOLD_CHUNK: usize = 1_000;
const OWN_CHUNK: i64 = FOLD_CHUNK as i64;

/// Rows judged `unverified` looked at again after the other node's log is
/// read to its end.
const REJUDGE_LIMIT: i64 = 100_000;

/// A page of the report.
pub struct Page {
    pub rows: Vec<Row>,
    pub counts: BTreeMap<String, u64>,
    /// Where the next page starts, if more rows follow.
    pub next: Option<(NaiveDateTime, String)>,
}

/// Up to when each node's log was read, as [`Facts::judge`] needs it.
fn read_through(node: NodeId, cur: &CursorRow) -> impl Fn(&str) -> Option<DateTime<Utc>> {
    let own = cur.own_read_at.map(|t| t.and_utc());
    let peer = cur.peer_read_at.map(|t| t.and_utc());
    let own_name = node.as_str().to_owned();
    move |n: &str| if n == own_name { own } else { peer }
}

/// Folds `entries` of `log`'s log in and judges each message touched again.
fn fold(
    c: &mut AnyConnection,
    node: NodeId,
    cur: &CursorRow,
    entries: &[Entry],
    own_log: bool,
) -> Result<(), DbError> {
    let (me, peer) = (node.as_str(), node.counterpart().as_str());
    let (log, other) = if own_log { (me, peer) } else { (peer, me) };
    let ids: Vec<String> = entries
        .iter()
        .filter_map(|e| e.message_id.clone())
        .collect();
    let mut facts: HashMap<String, Facts> = HashMap::new();
    for (id, row) in store::get_many(c, &ids)? {
        facts.insert(id, store::facts_of(&row)?);
    }
    crate::audit::reconcile::fold_log(&mut facts, entries, log, other);
    let read = read_through(node, cur);
    for f in facts.values() {
        store::put(c, &store::row_of(f, f.judge(&read))?)?;
    }
    Ok(())
}

/// Folds in the next chunk of this node's exchange entries; returns
/// whether this node's log is now folded in to its end.
pub fn catch_up_own(
    c: &mut AnyConnection,
    node: NodeId,
    now: NaiveDateTime,
) -> Result<bool, DbError> {
    let mut cur = store::cursor_for_update(c)?;
    let after = u64::try_from(cur.own_after).ok();
    let entries = audit_store::entries_of_kinds_after(c, EXCHANGE_KINDS, after, OWN_CHUNK)?;
    let done = (entries.len() as i64) < OWN_CHUNK;
    if done {
        // Read to the end now: what is not in this node's log by now is not
        // going to be logged before `now`.
        cur.own_read_at = Some(now);
    }
    fold(c, node, &cur, &entries, true)?;
    let last = entries.last().map_or(cur.own_after, |e| {
        i64::try_from(e.index).unwrap_or(i64::MAX)
    });
    store::set_own(c, last, cur.own_read_at)?;
    Ok(done)
}

/// Where the other node's log is folded in to: its last index (-1: none).
pub fn peer_after(c: &mut AnyConnection) -> Result<i64, DbError> {
    Ok(store::cursor(c)?.peer_after)
}

/// Folds in a page of the other node's exchange entries (those past its
/// cursor); with `read_to_end_at`, the page reached the end of its log,
/// read from that instant: messages judged `unverified` are judged again.
pub fn apply_peer(
    c: &mut AnyConnection,
    node: NodeId,
    entries: &[Entry],
    read_to_end_at: Option<NaiveDateTime>,
) -> Result<(), DbError> {
    let mut cur = store::cursor_for_update(c)?;
    let fresh: Vec<Entry> = entries
        .iter()
        .filter(|e| i64::try_from(e.index).is_ok_and(|i| i > cur.peer_after))
        .cloned()
        .collect();
    if let Some(at) = read_to_end_at {
        cur.peer_read_at = Some(cur.peer_read_at.map_or(at, |t| t.max(at)));
    }
    fold(c, node, &cur, &fresh, false)?;
    let last = fresh.last().map_or(cur.peer_after, |e| {
        i64::try_from(e.index).unwrap_or(i64::MAX)
    });
    store::set_peer(c, last, cur.peer_read_at)?;
    if read_to_end_at.is_some() {
        let read = read_through(node, &cur);
        for row in store::with_status(
            c,
            crate::audit::reconcile::status::UNVERIFIED,
            REJUDGE_LIMIT,
        )? {
            let f = store::facts_of(&row)?;
            store::put(c, &store::row_of(&f, f.judge(&read))?)?;
        }
    }
    Ok(())
}

/// One page of the report of messages first seen in `[from, to)`, after
/// `after`, at most `limit` rows, with the period's counts.
pub fn page(
    c: &mut AnyConnection,
    from: Option<NaiveDateTime>,
    to: Option<NaiveDateTime>,
    after: Option<(NaiveDateTime, String)>,
    limit: i64,
) -> Result<Page, DbError> {
    let mut rows = store::page(c, from, to, after, limit + 1)?;
    let more = rows.len() as i64 > limit;
    rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let next = more
        .then(|| {
            rows.last()
                .and_then(|r| Some((r.first_seen_at?, r.message_id.clone())))
        })
        .flatten();
    let counts = store::counts(c, from, to)?
        .into_iter()
        .filter_map(|(s, n)| Some((s?, u64::try_from(n).unwrap_or(0))))
        .collect();
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let Some(status) = r.status.clone() else {
            continue;
        };
        out.push(store::facts_of(&r)?.as_row(status, r.detail));
    }
    let rows = out;
    Ok(Page { rows, counts, next })
}
