//! Reconciliation of the two nodes' exchange records, from their audit logs.
//!
//! For each message one side queued (`message_queued`), the report looks
//! for the receipt that side recorded (`receipt_received`, with the
//! receiver's log index) and for the receiver's `message_received` entry at
//! that index with the same digest. Pure: the same code reconciles the live
//! logs (API) and two exported bundles (`passerelle audit reconcile`).

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use super::{kinds, Entry};

/// The entry kinds reconciliation reads.
pub const EXCHANGE_KINDS: &[&str] = &[
    kinds::MESSAGE_QUEUED,
    kinds::MESSAGE_RECEIVED,
    kinds::MESSAGE_REFUSED,
    kinds::RECEIPT_RECEIVED,
];

/// Where one message stands.
pub mod status {
    /// Sent, receipt recorded, and the receiver's log holds the message at
    /// the receipt's index with the same digest.
    pub const MATCHED: &str = "matched";
    /// Sent, no receipt yet (the receiver may or may not have logged it).
    pub const PENDING: &str = "pending";
    /// One side's record has no counterpart on the other: a receipt whose
    /// log entry the receiver does not have, or a message received that the
    /// sender never logged as sent.
    pub const MISSING: &str = "missing";
    /// Delivered and rejected by the receiver's SOP rules (both sides agree).
    pub const REJECTED: &str = "rejected";
    /// Both sides have the message but disagree (digest, index or outcome).
    pub const CONFLICT: &str = "conflict";
    /// Receipt recorded, but the receiver's log could not be consulted.
    pub const UNVERIFIED: &str = "unverified";
}

/// One message in the reconciliation report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Row {
    /// Message id.
    pub message_id: String,
    /// Sending node.
    pub sender: String,
    /// Receiving node.
    pub receiver: String,
    /// Message type.
    pub message_type: String,
    /// Sequence number in its direction.
    pub seq: Option<i64>,
    /// The sender's log index of `message_queued`.
    pub sent_index: Option<u64>,
    /// The sender's log index of `receipt_received`.
    pub receipt_index: Option<u64>,
    /// The receiver's log index of `message_received`.
    pub received_index: Option<u64>,
    /// `matched`, `pending`, `missing`, `rejected`, `conflict` or `unverified`.
    pub status: String,
    /// Why, when not matched.
    pub detail: Option<String>,
}

/// The report.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Report {
    /// Rows in sending order, both directions.
    pub rows: Vec<Row>,
    /// How many rows have each status.
    pub counts: BTreeMap<String, u64>,
}

struct Side<'a> {
    queued: Vec<&'a Entry>,
    receipts: HashMap<&'a str, &'a Entry>,
    received: HashMap<&'a str, &'a Entry>,
    refused: HashMap<&'a str, &'a Entry>,
}

fn side(entries: &[Entry]) -> Side<'_> {
    let mut s = Side {
        queued: Vec::new(),
        receipts: HashMap::new(),
        received: HashMap::new(),
        refused: HashMap::new(),
    };
    for e in entries {
        let Some(id) = e.message_id.as_deref() else {
            continue;
        };
        match e.kind.as_str() {
            kinds::MESSAGE_QUEUED => s.queued.push(e),
            kinds::RECEIPT_RECEIVED => {
                s.receipts.insert(id, e);
            }
            kinds::MESSAGE_RECEIVED => {
                s.received.insert(id, e);
            }
            kinds::MESSAGE_REFUSED => {
                s.refused.insert(id, e);
            }
            _ => {}
        }
    }
    s
}

fn direction(
    sender: &str,
    from: &Side<'_>,
    receiver: &str,
    to: Option<&Side<'_>>,
    rows: &mut Vec<Row>,
) {
    for q in &from.queued {
        let id = q.message_id.as_deref().unwrap_or_default();
        let receipt = from.receipts.get(id);
        let received = to.and_then(|t| t.received.get(id));
        let mut row = Row {
            message_id: id.to_owned(),
            sender: sender.to_owned(),
            receiver: receiver.to_owned(),
            message_type: q.action.clone(),
            seq: q.seq,
            sent_index: Some(q.index),
            receipt_index: receipt.map(|r| r.index),
            received_index: received.map(|r| r.index),
            status: String::new(),
            detail: None,
        };
        let (status, detail) = match (receipt, to, received) {
            (None, _, Some(_)) => (
                status::PENDING,
                Some("logged by the receiver; receipt not yet recorded".to_owned()),
            ),
            (None, Some(t), None) => (
                status::PENDING,
                t.refused.get(id).map(|r| {
                    format!(
                        "refused by the receiver: {}",
                        r.code.as_deref().unwrap_or("?")
                    )
                }),
            ),
            (None, None, None) => (status::PENDING, None),
            (Some(_), None, _) => (
                status::UNVERIFIED,
                Some("the receiver's log could not be consulted".to_owned()),
            ),
            (Some(r), Some(_), None) => (
                status::MISSING,
                Some(format!(
                    "the receipt names index {} but the receiver's log has no such message",
                    r.peer_index.unwrap_or(-1)
                )),
            ),
            (Some(r), Some(_), Some(e)) => {
                let at = r.peer_index.and_then(|i| u64::try_from(i).ok());
                let rejected_here = r.outcome == "rejected";
                let rejected_there = e.outcome == "rejected";
                if at != Some(e.index) {
                    (
                        status::CONFLICT,
                        Some(format!(
                            "the receipt names index {:?}, the receiver logged it at {}",
                            r.peer_index, e.index
                        )),
                    )
                } else if e.digest != q.digest {
                    (
                        status::CONFLICT,
                        Some("the receiver logged another digest".to_owned()),
                    )
                } else if rejected_here != rejected_there {
                    (
                        status::CONFLICT,
                        Some("the two sides record different outcomes".to_owned()),
                    )
                } else if rejected_here {
                    (status::REJECTED, r.code.clone())
                } else {
                    (status::MATCHED, None)
                }
            }
        };
        row.status = status.to_owned();
        row.detail = detail;
        rows.push(row);
    }
    // Received messages the sender never logged as sent.
    if let Some(t) = to {
        let sent: std::collections::HashSet<&str> = from
            .queued
            .iter()
            .filter_map(|q| q.message_id.as_deref())
            .collect();
        for (id, e) in &t.received {
            if !sent.contains(id) {
                rows.push(Row {
                    message_id: (*id).to_owned(),
                    sender: sender.to_owned(),
                    receiver: receiver.to_owned(),
                    message_type: e.action.clone(),
                    seq: e.seq,
                    sent_index: None,
                    receipt_index: None,
                    received_index: Some(e.index),
                    status: status::MISSING.to_owned(),
                    detail: Some("received, but the sender's log has no such message".into()),
                });
            }
        }
    }
}

/// Reconciles node `a`'s exchange entries with node `b`'s (`None`: `b`'s
/// log could not be consulted).
pub fn reconcile(a_name: &str, a: &[Entry], b_name: &str, b: Option<&[Entry]>) -> Report {
    let sa = side(a);
    let sb = b.map(side);
    let mut rows = Vec::new();
    direction(a_name, &sa, b_name, sb.as_ref(), &mut rows);
    if let Some(sb) = &sb {
        direction(b_name, sb, a_name, Some(&sa), &mut rows);
    } else {
        // Without b's log, what a received is listed from a's side only.
        for e in sa.received.values() {
            rows.push(Row {
                message_id: e.message_id.clone().unwrap_or_default(),
                sender: b_name.to_owned(),
                receiver: a_name.to_owned(),
                message_type: e.action.clone(),
                seq: e.seq,
                sent_index: None,
                receipt_index: None,
                received_index: Some(e.index),
                status: status::UNVERIFIED.to_owned(),
                detail: Some("the sender's log could not be consulted".into()),
            });
        }
    }
    rows.sort_by(|x, y| (&x.sender, x.seq).cmp(&(&y.sender, y.seq)));
    let mut counts = BTreeMap::new();
    for r in &rows {
        *counts.entry(r.status.clone()).or_insert(0) += 1;
    }
    Report { rows, counts }
}

/// The report restricted to the messages sent in `[from, to)` (by either
/// node; a message whose sender has no record of it counts from when it was
/// received), counts recomputed.
pub fn in_period(
    report: Report,
    logs: &[&[Entry]],
    from: Option<chrono::DateTime<chrono::Utc>>,
    to: Option<chrono::DateTime<chrono::Utc>>,
) -> Report {
    if from.is_none() && to.is_none() {
        return report;
    }
    let mut first_seen: HashMap<&str, (bool, chrono::DateTime<chrono::Utc>)> = HashMap::new();
    for e in logs.iter().flat_map(|l| l.iter()) {
        let Some(id) = e.message_id.as_deref() else {
            continue;
        };
        let sent = e.kind == kinds::MESSAGE_QUEUED;
        if sent || e.kind == kinds::MESSAGE_RECEIVED || e.kind == kinds::MESSAGE_REFUSED {
            let seen = first_seen.entry(id).or_insert((sent, e.at));
            // The sender's record wins over the receiver's.
            if sent && !seen.0 {
                *seen = (true, e.at);
            }
        }
    }
    let inside = |id: &str| {
        first_seen
            .get(id)
            .is_some_and(|(_, at)| from.is_none_or(|f| *at >= f) && to.is_none_or(|t| *at < t))
    };
    let rows: Vec<Row> = report
        .rows
        .into_iter()
        .filter(|r| inside(&r.message_id))
        .collect();
    let mut counts = BTreeMap::new();
    for r in &rows {
        *counts.entry(r.status.clone()).or_insert(0) += 1;
    }
    Report { rows, counts }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_period_keeps_the_messages_sent_in_it() {
        let day = |d: u32| {
            chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 12, d, 0, 0, 0).unwrap()
        };
        let mut m1 = e(0, kinds::MESSAGE_QUEUED, "m1", "h1");
        m1.at = day(1);
        let mut m2 = e(1, kinds::MESSAGE_QUEUED, "m2", "h2");
        m2.at = day(3);
        m2.seq = Some(2);
        let a = vec![m1, m2];
        let all = reconcile("a", &a, "b", Some(&[]));
        assert_eq!(all.rows.len(), 2);
        let r = in_period(all.clone(), &[&a], Some(day(2)), Some(day(4)));
        assert_eq!(r.rows.len(), 1);
        assert_eq!(r.rows[0].message_id, "m2");
        assert_eq!(r.counts.values().sum::<u64>(), 1);
        let r = in_period(all, &[&a], None, Some(day(2)));
        assert_eq!(r.rows[0].message_id, "m1");
    }

    fn e(index: u64, kind: &str, id: &str, digest: &str) -> Entry {
        let mut e = Entry::new(kind, "system", "referral_request");
        e.index = index;
        e.message_id = Some(id.into());
        e.digest = Some(digest.into());
        e.seq = Some(1);
        e
    }

    #[test]
    fn matched_pending_missing_conflict() {
        let mut receipt = e(1, kinds::RECEIPT_RECEIVED, "m1", "r");
        receipt.peer_index = Some(7);
        receipt.outcome = "delivered".into();
        let a = vec![
            e(0, kinds::MESSAGE_QUEUED, "m1", "h1"),
            receipt,
            e(2, kinds::MESSAGE_QUEUED, "m2", "h2"),
        ];
        let mut got = e(7, kinds::MESSAGE_RECEIVED, "m1", "h1");
        got.outcome = "accepted".into();
        let b = vec![got.clone()];
        let r = reconcile("a", &a, "b", Some(&b));
        assert_eq!(r.rows[0].status, status::MATCHED);
        assert_eq!(r.rows[1].status, status::PENDING);
        // The receiver lost the entry: missing.
        let r = reconcile("a", &a, "b", Some(&[]));
        assert_eq!(r.rows[0].status, status::MISSING);
        // Another digest: conflict.
        got.digest = Some("other".into());
        let r = reconcile("a", &a, "b", Some(&[got]));
        assert_eq!(r.rows[0].status, status::CONFLICT);
        // The receiver's log unavailable: unverified, pending stays pending.
        let r = reconcile("a", &a, "b", None);
        assert_eq!(r.rows[0].status, status::UNVERIFIED);
        assert_eq!(r.rows[1].status, status::PENDING);
        assert_eq!(r.counts.get("pending"), Some(&1));
    }
}
