//! Storage of the audit log and its Merkle tree, checkpoints, cosignatures
//! and evidence. Appends run in the caller's transaction, so an action and
//! its entry commit together; nothing here updates or deletes an entry (and
//! the database's triggers refuse it).

use chrono::{NaiveDateTime, TimeZone, Utc};
use diesel::prelude::*;

pub use super::audit_checkpoints::*;
pub use super::audit_lookup::{digests_of, first_index_at, INDEX_SLACK};
use super::cached::fixed;
use super::models::AuditRow;
pub use super::models::CheckpointRow;
use super::schema::{audit_head, audit_log, audit_tree};
use super::{AnyConnection, DbError};
use crate::audit::merkle::{self, Hash, MerkleError};
use crate::audit::{from_hex, to_hex, Entry};

fn row_of(e: &Entry) -> AuditRow {
    AuditRow {
        idx: e.index as i64,
        at: e.at.naive_utc(),
        kind: e.kind.clone(),
        actor: e.actor.clone(),
        role: e.role.clone(),
        action: e.action.clone(),
        case_id: e.case_id.clone(),
        referral_id: e.referral_id.clone(),
        message_id: e.message_id.clone(),
        seq: e.seq,
        digest: e.digest.clone(),
        peer_index: e.peer_index,
        outcome: e.outcome.clone(),
        code: e.code.clone(),
        source: e.source.clone(),
        occurrences: e.occurrences,
    }
}

/// The entry a stored row says (as stored: possibly tampered with).
pub fn entry_of(r: AuditRow) -> Entry {
    Entry {
        index: r.idx.max(0) as u64,
        at: Utc.from_utc_datetime(&r.at),
        kind: r.kind,
        actor: r.actor,
        role: r.role,
        action: r.action,
        case_id: r.case_id,
        referral_id: r.referral_id,
        message_id: r.message_id,
        seq: r.seq,
        digest: r.digest,
        peer_index: r.peer_index,
        outcome: r.outcome,
        code: r.code,
        source: r.source,
        occurrences: r.occurrences,
    }
}

/// Appends `entry` to the log in the caller's transaction and returns it
/// with its index. The head row is the append lock (PostgreSQL writers
/// queue on it; SQLite has one writer).
pub fn append(conn: &mut AnyConnection, entry: Entry) -> Result<Entry, DbError> {
    crate::meter::scope(crate::meter::Part::AuditAppend, || append_now(conn, entry))
}

fn append_now(conn: &mut AnyConnection, mut entry: Entry) -> Result<Entry, DbError> {
    let size: i64 = super::cached::native!(conn, |c| fixed!(diesel::update(
        audit_head::table.find(1_i64)
    )
    .set(audit_head::size.eq(audit_head::size + 1))
    .returning(audit_head::size))
    .get_result(c))?;
    let index = (size - 1) as u64;
    entry.index = index;
    let leaf = entry.leaf_hash();
    super::cached::write_fixed!(
        conn,
        i64,
        diesel::insert_into(audit_log::table)
            .values(row_of(&entry))
            .returning(audit_log::idx)
    )?;
    append_leaf(conn, Tree::Own, index, leaf)?;
    Ok(entry)
}

/// Which Merkle tree: this node's log, or the peer's as witnessed here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tree {
    Own,
    Peer,
}

impl Tree {
    fn as_str(self) -> &'static str {
        match self {
            Tree::Own => "own",
            Tree::Peer => "peer",
        }
    }
}

/// Stores leaf `index` of `tree` and the perfect subtrees it completes.
fn append_leaf(
    conn: &mut AnyConnection,
    tree: Tree,
    index: u64,
    leaf: Hash,
) -> Result<(), DbError> {
    // On the writer thread, the left siblings are kept in memory.
    let kept = match tree {
        Tree::Own => super::audit_frontier::left_siblings(conn, index)?,
        Tree::Peer => None,
    };
    let mut nodes: Vec<(u32, u64, Hash)> = vec![(0, index, leaf)];
    let mut right = leaf;
    for (level, idx) in merkle::completed_by(index) {
        let left = match kept
            .as_ref()
            .and_then(|k| k.get(level as usize - 1).copied().flatten())
        {
            Some(left) => left,
            None => stored_node(conn, tree, level - 1, 2 * idx)?,
        };
        right = merkle::node_hash(&left, &right);
        nodes.push((level, idx, right));
    }
    let rows: Vec<_> = nodes
        .iter()
        .map(|&(l, i, h)| {
            (
                audit_tree::tree.eq(tree.as_str()),
                audit_tree::level.eq(i64::from(l)),
                audit_tree::idx.eq(i as i64),
                audit_tree::hash.eq(to_hex(&h)),
            )
        })
        .collect();
    match conn {
        // One kept statement per row: SQLite runs a prepared statement
        // again for less than it takes to parse a multi-row one.
        AnyConnection::Sqlite(c) => {
            for row in rows {
                fixed!(diesel::insert_into(audit_tree::table)
                    .values(row)
                    .returning(audit_tree::idx))
                .get_result::<i64>(c)?;
            }
        }
        // One statement for the leaf and the nodes it completes (one round
        // trip; at most one shape per tree level).
        AnyConnection::Postgresql(c) => {
            diesel::insert_into(audit_tree::table)
                .values(rows)
                .execute(c)?;
        }
    };
    if let Some(left) = kept {
        super::audit_frontier::appended(index, left, &nodes);
    }
    Ok(())
}

/// The number of entries.
pub fn size(conn: &mut AnyConnection) -> Result<u64, DbError> {
    let size: i64 = audit_head::table
        .find(1_i64)
        .select(audit_head::size)
        .first(conn)?;
    Ok(size.max(0) as u64)
}

/// A stored perfect subtree hash.
pub fn node(
    conn: &mut AnyConnection,
    tree: Tree,
    level: u32,
    idx: u64,
) -> Result<Option<Hash>, DbError> {
    let hex: Option<String> = audit_tree::table
        .find((tree.as_str(), i64::from(level), idx as i64))
        .select(audit_tree::hash)
        .first(conn)
        .optional()?;
    match hex {
        None => Ok(None),
        Some(h) => from_hex(&h).map(Some).ok_or_else(|| {
            DbError::Corrupt(format!("audit tree node ({level}, {idx}) is not a hash"))
        }),
    }
}

/// A stored perfect subtree hash that must be there (the tree is corrupt
/// if it is not).
pub(super) fn stored_node(
    conn: &mut AnyConnection,
    tree: Tree,
    level: u32,
    idx: u64,
) -> Result<Hash, DbError> {
    node(conn, tree, level, idx)?
        .ok_or_else(|| DbError::Corrupt(format!("audit tree node ({level}, {idx}) is missing")))
}

fn merkle_error(e: MerkleError<DbError>) -> DbError {
    match e {
        MerkleError::Source(e) => e,
        other => DbError::Corrupt(format!("audit tree: {other}")),
    }
}

/// The tree root at `size` entries, from the stored nodes.
pub fn root(conn: &mut AnyConnection, tree: Tree, size: u64) -> Result<Hash, DbError> {
    merkle::root(&mut |l, i| node(conn, tree, l, i), size).map_err(merkle_error)
}

/// RFC 9162 inclusion proof of entry `index` in the tree of `size` entries.
pub fn inclusion_proof(
    conn: &mut AnyConnection,
    index: u64,
    size: u64,
) -> Result<Vec<Hash>, DbError> {
    merkle::inclusion_proof(&mut |l, i| node(conn, Tree::Own, l, i), index, size)
        .map_err(merkle_error)
}

/// RFC 9162 consistency proof between the trees of `old` and `new` entries.
pub fn consistency_proof(
    conn: &mut AnyConnection,
    old: u64,
    new: u64,
) -> Result<Vec<Hash>, DbError> {
    if old == 0 || old == new {
        return Ok(Vec::new());
    }
    merkle::consistency_proof(&mut |l, i| node(conn, Tree::Own, l, i), old, new)
        .map_err(merkle_error)
}

/// The perfect subtrees covering leaves `[lo, hi)` that a verifier needs
/// beside the entries it has: greedy aligned blocks, left to right.
pub fn cover(conn: &mut AnyConnection, lo: u64, hi: u64) -> Result<Vec<(u32, u64, Hash)>, DbError> {
    let mut out = Vec::new();
    let mut at = lo;
    while at < hi {
        let mut level = if at == 0 { 63 } else { at.trailing_zeros() };
        while level > 0 && at + (1u64 << level) > hi {
            level -= 1;
        }
        let idx = at >> level;
        let hash = node(conn, Tree::Own, level, idx)?.ok_or_else(|| {
            DbError::Corrupt(format!("audit tree node ({level}, {idx}) is missing"))
        })?;
        out.push((level, idx, hash));
        at += 1u64 << level;
    }
    Ok(out)
}

/// Entries `[from, to)` in index order, as stored.
pub fn entries(conn: &mut AnyConnection, from: u64, to: u64) -> Result<Vec<Entry>, DbError> {
    let rows: Vec<AuditRow> = audit_log::table
        .filter(audit_log::idx.ge(from as i64))
        .filter(audit_log::idx.lt(to as i64))
        .order(audit_log::idx.asc())
        .select(AuditRow::as_select())
        .load(conn)?;
    Ok(rows.into_iter().map(entry_of).collect())
}

/// Entries of the given kinds, in index order, optionally within a period.
pub fn entries_of_kinds(
    conn: &mut AnyConnection,
    kinds: &[&str],
    from: Option<NaiveDateTime>,
    to: Option<NaiveDateTime>,
    limit: i64,
) -> Result<Vec<Entry>, DbError> {
    // The period as a range of indexes too, so that the kinds' index is
    // read for the period only (times follow indexes, give or take the few
    // entries of one group commit: hence the slack; the times still decide).
    let after = match from {
        Some(t) => first_index_at(conn, t)?
            .map(|i| i.checked_sub(INDEX_SLACK + 1))
            .unwrap_or(Some(u64::MAX)),
        None => None,
    };
    let before = match to {
        Some(t) => first_index_at(conn, t)?.map(|i| i.saturating_add(INDEX_SLACK)),
        None => None,
    };
    entries_where(
        conn,
        &EntryFilter {
            kinds,
            action: None,
            from,
            to,
            after,
            before,
            limit,
        },
    )
}

/// Which entries [`entries_where`] reads.
#[derive(Debug, Clone, Copy)]
pub struct EntryFilter<'a> {
    /// Entries of these kinds.
    pub kinds: &'a [&'a str],
    /// With this action (for exchange entries: the message type).
    pub action: Option<&'a str>,
    /// Recorded in `[from, to)`.
    pub from: Option<NaiveDateTime>,
    pub to: Option<NaiveDateTime>,
    /// After this log index.
    pub after: Option<u64>,
    /// Before this log index.
    pub before: Option<u64>,
    /// At most this many.
    pub limit: i64,
}

/// The entries a filter selects, in log order.
///
/// One query per kind, each read in log order through the kinds' index
/// `(kind, idx)` and cut at the limit, then merged: over several kinds at
/// once, PostgreSQL walks the whole log in index order and filters by kind,
/// which costs the log, not the answer.
pub fn entries_where(conn: &mut AnyConnection, f: &EntryFilter<'_>) -> Result<Vec<Entry>, DbError> {
    let mut rows: Vec<AuditRow> = Vec::new();
    for kind in f.kinds {
        let mut q = audit_log::table
            .filter(audit_log::kind.eq(*kind))
            .select(AuditRow::as_select())
            .into_boxed();
        if let Some(a) = f.action {
            q = q.filter(audit_log::action.eq(a.to_owned()));
        }
        if let Some(from) = f.from {
            q = q.filter(audit_log::at.ge(from));
        }
        if let Some(t) = f.to {
            q = q.filter(audit_log::at.lt(t));
        }
        if let Some(a) = f.after {
            q = q.filter(audit_log::idx.gt(i64::try_from(a).unwrap_or(i64::MAX)));
        }
        if let Some(b) = f.before {
            q = q.filter(audit_log::idx.lt(i64::try_from(b).unwrap_or(i64::MAX)));
        }
        rows.extend(
            q.order(audit_log::idx.asc())
                .limit(f.limit)
                .load::<AuditRow>(conn)?,
        );
    }
    if f.kinds.len() > 1 {
        rows.sort_unstable_by_key(|r| r.idx);
        rows.truncate(usize::try_from(f.limit).unwrap_or(usize::MAX));
    }
    Ok(rows.into_iter().map(entry_of).collect())
}

/// The first index recorded at or after `at` (the size when none is).
pub fn index_at(conn: &mut AnyConnection, at: NaiveDateTime) -> Result<u64, DbError> {
    let idx: Option<i64> = audit_log::table
        .filter(audit_log::at.ge(at))
        .select(diesel::dsl::min(audit_log::idx))
        .first(conn)?;
    match idx {
        Some(i) => Ok(i.max(0) as u64),
        None => size(conn),
    }
}

/// Stored leaf hashes `[from, to)`, in order (what the tree was built from).
pub fn leaves(conn: &mut AnyConnection, from: u64, to: u64) -> Result<Vec<(u64, String)>, DbError> {
    let rows: Vec<(i64, String)> = audit_tree::table
        .filter(audit_tree::tree.eq(Tree::Own.as_str()))
        .filter(audit_tree::level.eq(0_i64))
        .filter(audit_tree::idx.ge(from as i64))
        .filter(audit_tree::idx.lt(to as i64))
        .order(audit_tree::idx.asc())
        .select((audit_tree::idx, audit_tree::hash))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(i, h)| (i.max(0) as u64, h))
        .collect())
}

/// How many of the peer's leaf hashes this node keeps.
pub fn peer_leaves_len(conn: &mut AnyConnection) -> Result<u64, DbError> {
    // Leaves are added in order from 0: the count is the last index + 1,
    // read at the end of the primary key without counting them (spelled as
    // an ordered read, which no planner turns into a scan of every leaf).
    let last: Option<i64> = audit_tree::table
        .filter(audit_tree::tree.eq(Tree::Peer.as_str()))
        .filter(audit_tree::level.eq(0_i64))
        .order(audit_tree::idx.desc())
        .select(audit_tree::idx)
        .first(conn)
        .optional()?;
    Ok(last.map_or(0, |i| i.max(-1) as u64 + 1))
}

/// Adds witnessed leaf hashes of the peer's log, starting at `from`.
pub fn add_peer_leaves(
    conn: &mut AnyConnection,
    from: u64,
    leaves: &[Hash],
) -> Result<(), DbError> {
    for (i, leaf) in leaves.iter().enumerate() {
        append_leaf(conn, Tree::Peer, from + i as u64, *leaf)?;
    }
    Ok(())
}

/// The peer's witnessed leaf hashes `[from, to)`.
pub fn peer_leaves(conn: &mut AnyConnection, from: u64, to: u64) -> Result<Vec<Hash>, DbError> {
    let rows: Vec<String> = audit_tree::table
        .filter(audit_tree::tree.eq(Tree::Peer.as_str()))
        .filter(audit_tree::level.eq(0_i64))
        .filter(audit_tree::idx.ge(from as i64))
        .filter(audit_tree::idx.lt(to as i64))
        .order(audit_tree::idx.asc())
        .select(audit_tree::hash)
        .load(conn)?;
    rows.iter()
        .map(|h| from_hex(h).ok_or_else(|| DbError::Corrupt("witnessed leaf is not a hash".into())))
        .collect()
}

/// When something was recorded, as stored.
pub fn utc(at: NaiveDateTime) -> chrono::DateTime<Utc> {
    Utc.from_utc_datetime(&at)
}

/// Entries of the given kinds after index `after` (all when `None`), in order.
pub fn entries_of_kinds_after(
    conn: &mut AnyConnection,
    kinds: &[&str],
    after: Option<u64>,
    limit: i64,
) -> Result<Vec<Entry>, DbError> {
    entries_where(
        conn,
        &EntryFilter {
            kinds,
            action: None,
            from: None,
            to: None,
            after,
            before: None,
            limit,
        },
    )
}
