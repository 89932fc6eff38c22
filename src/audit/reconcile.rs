//! Reconciliation of the two nodes' exchange records, from their audit logs.
//!
//! For each message one side queued (`message_queued`), the report looks
//! for the receipt that side recorded (`receipt_received`, with the
//! receiver's log index) and for the receiver's `message_received` entry at
//! that index with the same digest. Pure: the same code reconciles the live
//! logs (API) and two exported bundles (`passerelle audit reconcile`).

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};

use serde::{Deserialize, Serialize};

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

/// What the two logs say of one message, folded entry by entry: the
/// state reconciliation keeps per message, so that it can be brought up to
/// date with new entries only.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Facts {
    pub message_id: String,
    /// The sending node (empty until an entry names it).
    pub sender: String,
    pub receiver: String,
    pub message_type: String,
    pub seq: Option<i64>,
    /// When the sender logged it as sent; else when the receiver logged it
    /// (received or refused): what a period is matched against.
    pub first_seen_at: Option<DateTime<Utc>>,
    /// The sender's `message_queued` entry.
    pub sent: Option<Logged>,
    /// The sender's `receipt_received` entry.
    pub receipt: Option<Receipt>,
    /// The receiver's `message_received` entry.
    pub received: Option<Logged>,
    /// The receiver's `message_refused` entry: its code.
    pub refused: Option<Option<String>>,
}

/// An entry of one log about a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Logged {
    pub index: u64,
    pub at: DateTime<Utc>,
    pub digest: Option<String>,
    pub outcome: String,
}

/// The sender's record of the receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    pub index: u64,
    pub at: DateTime<Utc>,
    /// The receiver's log index the receipt names.
    pub peer_index: Option<i64>,
    pub outcome: String,
    pub code: Option<String>,
}

impl Facts {
    /// Folds entry `e` of node `log`'s log (`other`: the other node) in.
    pub fn fold(&mut self, e: &Entry, log: &str, other: &str) {
        let logged = || Logged {
            index: e.index,
            at: e.at,
            digest: e.digest.clone(),
            outcome: e.outcome.clone(),
        };
        match e.kind.as_str() {
            kinds::MESSAGE_QUEUED => {
                self.name(log, other, e, true);
                self.first_seen_at = Some(e.at);
                self.sent = Some(logged());
            }
            kinds::RECEIPT_RECEIVED => {
                if self.sender.is_empty() {
                    (self.sender, self.receiver) = (log.to_owned(), other.to_owned());
                }
                self.receipt = Some(Receipt {
                    index: e.index,
                    at: e.at,
                    peer_index: e.peer_index,
                    outcome: e.outcome.clone(),
                    code: e.code.clone(),
                });
            }
            kinds::MESSAGE_RECEIVED => {
                self.name(other, log, e, false);
                self.received = Some(logged());
            }
            kinds::MESSAGE_REFUSED => {
                self.name(other, log, e, false);
                self.refused = Some(e.code.clone());
            }
            _ => {}
        }
    }

    /// Names the message from `e` unless the sender's record already did.
    fn name(&mut self, sender: &str, receiver: &str, e: &Entry, senders_record: bool) {
        if senders_record || self.sent.is_none() {
            self.sender = sender.to_owned();
            self.receiver = receiver.to_owned();
            self.message_type = e.action.clone();
            self.seq = e.seq;
        }
        if self.first_seen_at.is_none() {
            self.first_seen_at = Some(e.at);
        }
    }

    /// Whether the message has a row in the report: one side logged it as
    /// sent or as received.
    pub fn shown(&self) -> bool {
        self.sent.is_some() || self.received.is_some()
    }

    /// Where the message stands and why, given up to when each node's log
    /// was read (`read_through(node)`: `None` if never; a record missing
    /// from a log read before the record it should follow is not yet
    /// missing, only unverified). `None` when the message has no row.
    pub fn judge(
        &self,
        read_through: &dyn Fn(&str) -> Option<DateTime<Utc>>,
    ) -> Option<(&'static str, Option<String>)> {
        let read_after =
            |node: &str, at: DateTime<Utc>| read_through(node).is_some_and(|r| r >= at);
        let Some(q) = &self.sent else {
            let e = self.received.as_ref()?;
            return Some(if read_after(&self.sender, e.at) {
                (
                    status::MISSING,
                    Some("received, but the sender's log has no such message".into()),
                )
            } else {
                (
                    status::UNVERIFIED,
                    Some("the sender's log could not be consulted".into()),
                )
            });
        };
        let refused = || {
            self.refused.as_ref().map(|code| {
                format!(
                    "refused by the receiver: {}",
                    code.as_deref().unwrap_or("?")
                )
            })
        };
        Some(match (&self.receipt, &self.received) {
            (None, Some(_)) => (
                status::PENDING,
                Some("logged by the receiver; receipt not yet recorded".to_owned()),
            ),
            (None, None) => (status::PENDING, refused()),
            (Some(r), None) if read_after(&self.receiver, r.at) => (
                status::MISSING,
                Some(format!(
                    "the receipt names index {} but the receiver's log has no such message",
                    r.peer_index.unwrap_or(-1)
                )),
            ),
            (Some(_), None) => (
                status::UNVERIFIED,
                Some("the receiver's log could not be consulted".to_owned()),
            ),
            (Some(r), Some(e)) => {
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
        })
    }

    /// The report's row, judged as [`Facts::judge`] does.
    pub fn row(&self, read_through: &dyn Fn(&str) -> Option<DateTime<Utc>>) -> Option<Row> {
        let (status, detail) = self.judge(read_through)?;
        Some(self.as_row(status.to_owned(), detail))
    }

    /// The report's row with a judgement made earlier.
    pub fn as_row(&self, status: String, detail: Option<String>) -> Row {
        Row {
            message_id: self.message_id.clone(),
            sender: self.sender.clone(),
            receiver: self.receiver.clone(),
            message_type: self.message_type.clone(),
            seq: self.seq,
            sent_index: self.sent.as_ref().map(|s| s.index),
            receipt_index: self.receipt.as_ref().map(|r| r.index),
            received_index: self.received.as_ref().map(|r| r.index),
            status,
            detail,
        }
    }
}

/// Folds node `log`'s exchange entries into `facts` (keyed by message id).
pub fn fold_log(facts: &mut HashMap<String, Facts>, entries: &[Entry], log: &str, other: &str) {
    for e in entries {
        let Some(id) = e.message_id.as_deref() else {
            continue;
        };
        facts
            .entry(id.to_owned())
            .or_insert_with(|| Facts {
                message_id: id.to_owned(),
                ..Facts::default()
            })
            .fold(e, log, other);
    }
}

/// Counts rows per status.
pub fn counts<'a>(rows: impl IntoIterator<Item = &'a Row>) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for r in rows {
        *counts.entry(r.status.clone()).or_insert(0) += 1;
    }
    counts
}

/// Reconciles node `a`'s exchange entries with node `b`'s (`None`: `b`'s
/// log could not be consulted), in one go: what `passerelle audit
/// reconcile` does with two exported bundles.
pub fn reconcile(a_name: &str, a: &[Entry], b_name: &str, b: Option<&[Entry]>) -> Report {
    let mut facts = HashMap::new();
    fold_log(&mut facts, a, a_name, b_name);
    if let Some(b) = b {
        fold_log(&mut facts, b, b_name, a_name);
    }
    let all = |node: &str| (node == a_name || b.is_some()).then_some(DateTime::<Utc>::MAX_UTC);
    let mut rows: Vec<Row> = facts.values().filter_map(|f| f.row(&all)).collect();
    rows.sort_by(|x, y| {
        let first = |r: &Row| r.sent_index.or(r.received_index);
        (&x.sender, x.seq, first(x)).cmp(&(&y.sender, y.seq, first(y)))
    });
    let counts = counts(&rows);
    Report { rows, counts }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_counts_from_when_its_sender_logged_it() {
        let day = |d: u32| {
            chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 12, d, 0, 0, 0).unwrap()
        };
        let mut facts = HashMap::new();
        // The receiver's record arrives first (its log was read first)...
        let mut got = e(7, kinds::MESSAGE_RECEIVED, "m1", "h1");
        got.at = day(3);
        fold_log(&mut facts, &[got], "b", "a");
        assert_eq!(facts["m1"].first_seen_at, Some(day(3)));
        assert_eq!(facts["m1"].sender, "a");
        // ...then the sender's: its time wins.
        let mut sent = e(0, kinds::MESSAGE_QUEUED, "m1", "h1");
        sent.at = day(2);
        fold_log(&mut facts, &[sent], "a", "b");
        assert_eq!(facts["m1"].first_seen_at, Some(day(2)));
        // A receipt recorded after the receiver's log was last read is not
        // yet missing there, only unverified.
        let mut receipt = e(1, kinds::RECEIPT_RECEIVED, "m2", "r");
        receipt.at = day(5);
        receipt.peer_index = Some(9);
        fold_log(
            &mut facts,
            &[e(0, kinds::MESSAGE_QUEUED, "m2", "h2"), receipt],
            "a",
            "b",
        );
        let read = |until: DateTime<Utc>| {
            move |n: &str| {
                Some(if n == "a" {
                    DateTime::<Utc>::MAX_UTC
                } else {
                    until
                })
            }
        };
        assert_eq!(
            facts["m2"].judge(&read(day(4))).unwrap().0,
            status::UNVERIFIED
        );
        assert_eq!(facts["m2"].judge(&read(day(6))).unwrap().0, status::MISSING);
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
