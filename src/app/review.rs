//! The JTWG's review: the exchange log and checkpoints of both logs, without
//! personal data (the statistics are in [`super::statistics`]).

use chrono::NaiveDateTime;

use crate::audit::reconcile::EXCHANGE_KINDS;
use crate::audit::{kinds, Entry};
use crate::store::{audit, AnyConnection, DbError};

/// The exchange's audit entries (messages queued and received, receipts)
/// recorded in `[from, to)`, in log order.
pub fn exchange_entries(
    conn: &mut AnyConnection,
    from: Option<NaiveDateTime>,
    to: Option<NaiveDateTime>,
    limit: i64,
) -> Result<Vec<Entry>, DbError> {
    audit::entries_of_kinds(conn, EXCHANGE_KINDS, from, to, limit)
}

/// What a page of the exchange log holds.
#[derive(Debug, Clone, Default)]
pub struct ExchangeFilter {
    /// Recorded in `[from, to)`.
    pub from: Option<NaiveDateTime>,
    pub to: Option<NaiveDateTime>,
    /// Only this message type.
    pub message_type: Option<String>,
    /// Only `Some(true)` what this node sent (and the receipts for it), or
    /// `Some(false)` what it received.
    pub outgoing: Option<bool>,
    /// After this log index (the last of the previous page).
    pub after: Option<u64>,
    /// At most this many.
    pub limit: i64,
}

/// One page of the exchange log, every filter applied in the query, and
/// whether more follow (the last index of this page is then the cursor of
/// the next).
pub fn exchange_page(
    conn: &mut AnyConnection,
    f: &ExchangeFilter,
) -> Result<(Vec<Entry>, bool), DbError> {
    let kinds: &[&str] = match f.outgoing {
        None => EXCHANGE_KINDS,
        Some(true) => &[kinds::MESSAGE_QUEUED, kinds::RECEIPT_RECEIVED],
        Some(false) => &[kinds::MESSAGE_RECEIVED, kinds::MESSAGE_REFUSED],
    };
    let mut entries = audit::entries_where(
        conn,
        &audit::EntryFilter {
            kinds,
            action: f.message_type.as_deref(),
            from: f.from,
            to: f.to,
            after: f.after,
            before: None,
            limit: f.limit.saturating_add(1),
        },
    )?;
    let more = entries.len() as i64 > f.limit;
    entries.truncate(usize::try_from(f.limit).unwrap_or(0));
    Ok((entries, more))
}

/// Where a page of checkpoints ends: the rank of its log in the order asked
/// for, and the size of its last checkpoint.
pub type CheckpointCursor = (usize, i64);

/// One page of the checkpoints of `origins` (each log in turn, oldest
/// first, or with `newest` newest first) signed in `[from, to)`, each with
/// its cosignatures, and the cursor of the next page if more follow.
pub fn checkpoint_page(
    conn: &mut AnyConnection,
    origins: &[String],
    from: Option<NaiveDateTime>,
    to: Option<NaiveDateTime>,
    after: Option<CheckpointCursor>,
    newest: bool,
    limit: usize,
) -> Result<(Vec<CheckpointWithCosignatures>, Option<CheckpointCursor>), DbError> {
    let mut out: Vec<CheckpointWithCosignatures> = Vec::new();
    let mut last: Option<CheckpointCursor> = None;
    let start = after.map_or(0, |a| a.0);
    for (rank, origin) in origins.iter().enumerate().skip(start) {
        let above = after.filter(|a| a.0 == rank).map(|a| a.1);
        let room = limit + 1 - out.len();
        let rows = audit::checkpoints_where(conn, origin, from, to, above, newest, room as i64)?;
        if let (Some(first), Some(end)) = (rows.first(), rows.last()) {
            let (low, high) = (first.size.min(end.size), first.size.max(end.size));
            let cosigs = audit::cosignatures_between(conn, origin, low, high)?;
            for cp in rows {
                let mine = cosigs
                    .iter()
                    .filter(|s| s.size == cp.size)
                    .cloned()
                    .collect();
                if out.len() == limit {
                    return Ok((out, last));
                }
                last = Some((rank, cp.size));
                out.push((cp, mine));
            }
        }
    }
    Ok((out, None))
}

/// A checkpoint with the cosignatures it received.
pub type CheckpointWithCosignatures = (
    crate::store::models::CheckpointRow,
    Vec<crate::store::models::CosignatureRow>,
);
