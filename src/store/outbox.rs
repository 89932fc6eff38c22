//! The outgoing messages' rows: each message of this node's chain, signed,
//! with its delivery status and, once settled, the other node's receipt.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::cached::fixed;
use super::models::{OutboxHeader, OutboxRow};
use super::schema::outbox_messages;
use super::sealed::{self, Column};
use super::{AnyConnection, DbError};
use crate::domain::envelope::Signed;
use crate::domain::ids::{CaseId, MessageId};

/// Delivery status of an outgoing message.
pub mod status {
    pub const PENDING: &str = "pending";
    pub const DELIVERED: &str = "delivered";
    pub const REJECTED: &str = "rejected";
    pub const SUSPENDED: &str = "suspended";
}

/// Pending or suspended: not yet settled by a receipt. Two comparisons
/// rather than `IN`, which diesel would prepare anew at every run.
fn unsettled() -> diesel::dsl::Or<
    diesel::dsl::Eq<outbox_messages::status, &'static str>,
    diesel::dsl::Eq<outbox_messages::status, &'static str>,
> {
    outbox_messages::status
        .eq(status::PENDING)
        .or(outbox_messages::status.eq(status::SUSPENDED))
}

/// How many messages about a case this node has written for the other node.
pub fn count_for_case(conn: &mut AnyConnection, case: CaseId) -> Result<i64, DbError> {
    Ok(outbox_messages::table
        .filter(outbox_messages::case_id.eq(case.to_string()))
        .count()
        .get_result(conn)?)
}

/// Writes a message of the outgoing chain, its body sealed.
pub fn insert(conn: &mut AnyConnection, row: &OutboxRow) -> Result<(), DbError> {
    let body = sealed::seal(conn, &row.referral_id, Column::Body, &row.body)?;
    super::cached::write_fixed!(
        conn,
        i64,
        diesel::insert_into(outbox_messages::table)
            .values(OutboxRow {
                body,
                ..row.clone()
            })
            .returning(outbox_messages::seq)
    )?;
    super::wakeups::queued();
    Ok(())
}

/// Rows with their bodies opened (an erased body reads [`ERASED_BODY`]).
fn opened(conn: &mut AnyConnection, mut rows: Vec<OutboxRow>) -> Result<Vec<OutboxRow>, DbError> {
    let referrals: Vec<String> = rows.iter().map(|r| r.referral_id.clone()).collect();
    sealed::prefetch(conn, &referrals)?;
    for row in &mut rows {
        row.body = sealed::open(conn, &row.referral_id, Column::Body, &row.body)?
            .unwrap_or_else(|| ERASED_BODY.to_owned());
    }
    Ok(rows)
}

/// The outgoing message with this id, if any.
pub fn get(conn: &mut AnyConnection, id: &str) -> Result<Option<OutboxRow>, DbError> {
    let row = outbox_messages::table
        .find(id)
        .select(OutboxRow::as_select())
        .first(conn)
        .optional()?;
    Ok(opened(conn, row.into_iter().collect())?.pop())
}

/// The outgoing message with this id, without its body (nothing is
/// unsealed), if any.
pub fn header(conn: &mut AnyConnection, id: &str) -> Result<Option<OutboxHeader>, DbError> {
    Ok(outbox_messages::table
        .find(id)
        .select(OutboxHeader::as_select())
        .first(conn)
        .optional()?)
}

/// The signed message of an outbox row, as sent.
pub fn signed_of(row: &OutboxRow) -> Result<Signed, DbError> {
    Ok(Signed {
        body: serde_json::from_str(&row.body)
            .map_err(|e| DbError::Corrupt(format!("outbox body: {e}")))?,
        signature: row.signature.clone(),
    })
}

/// Bytes a message takes in a batch on the wire (body, signature, framing).
pub fn wire_size(row: &OutboxRow) -> usize {
    row.body.len() + row.signature.len() + 32
}

/// What to send next: pending messages in sequence order, stopping at the
/// first one that is not deliverable (suspended, or not yet due: the chain
/// must arrive in order), after `after_seq` (sent, receipts being recorded),
/// at most `limit` messages and `budget` bytes (but always the first).
/// `Err(at)` when the head waits for its retry time.
pub fn next_batch(
    conn: &mut AnyConnection,
    now: NaiveDateTime,
    limit: i64,
    budget: usize,
    after_seq: i64,
) -> Result<Result<Vec<OutboxRow>, Option<NaiveDateTime>>, DbError> {
    // One status at a time through the (status, seq) index, then merged:
    // the delivered history before `after_seq` is never walked.
    let mut rows: Vec<OutboxRow> = Vec::new();
    for s in [status::PENDING, status::SUSPENDED] {
        rows.extend(super::cached::native!(conn, |c| outbox_messages::table
            .filter(outbox_messages::status.eq(s))
            .filter(outbox_messages::seq.gt(after_seq))
            .order(outbox_messages::seq.asc())
            .limit(limit)
            .select(OutboxRow::as_select())
            .load::<OutboxRow>(c))?);
    }
    rows.sort_unstable_by_key(|r| r.seq);
    rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let rows = opened(conn, rows)?;
    match rows.first() {
        None => Ok(Err(None)),
        Some(head) if head.status != status::PENDING => Ok(Err(None)),
        Some(head) if head.next_attempt_at > now => Ok(Err(Some(head.next_attempt_at))),
        Some(_) => {
            let mut used = 0;
            Ok(Ok(rows
                .into_iter()
                .take_while(|r| r.status == status::PENDING)
                .take_while(|r| {
                    let first = used == 0;
                    used += wire_size(r);
                    first || used <= budget
                })
                .collect()))
        }
    }
}

/// Brings every pending message waiting for a retry forward to `now` (the
/// peer is back). Returns how many.
pub fn resume_now(conn: &mut AnyConnection, now: NaiveDateTime) -> Result<usize, DbError> {
    Ok(diesel::update(outbox_messages::table)
        .filter(outbox_messages::status.eq(status::PENDING))
        .filter(outbox_messages::next_attempt_at.gt(now))
        .set(outbox_messages::next_attempt_at.eq(now))
        .execute(conn)?)
}

/// When the oldest message not yet delivered (pending or suspended) was
/// queued.
pub fn oldest_undelivered(conn: &mut AnyConnection) -> Result<Option<NaiveDateTime>, DbError> {
    Ok(outbox_messages::table
        .filter(unsettled())
        .select(outbox_messages::created_at)
        .order(outbox_messages::seq.asc())
        .first(conn)
        .optional()?)
}

/// How many of one case's outgoing messages have each status, and when the
/// oldest of them was queued.
pub fn delivery_counts(
    conn: &mut AnyConnection,
    case: CaseId,
) -> Result<Vec<(String, i64, Option<NaiveDateTime>)>, DbError> {
    Ok(super::cached::native!(conn, |c| outbox_messages::table
        .filter(outbox_messages::case_id.eq(case.to_string()))
        .group_by(outbox_messages::status)
        .select((
            outbox_messages::status,
            diesel::dsl::count_star(),
            diesel::dsl::min(outbox_messages::created_at),
        ))
        .load(c))?)
}

/// Whether a message in `s` still waits for its receipt (pending or suspended).
pub fn is_unsettled(s: &str) -> bool {
    s == status::PENDING || s == status::SUSPENDED
}

/// The outgoing messages up to `ack` still waiting for their receipts:
/// `(first, last)` sequence numbers of the pending ones, or `None` when all
/// are settled. (A suspended message was refused, so it is not in the other
/// side's chain and no `ack` can cover it.)
pub fn unsettled_up_to(conn: &mut AnyConnection, ack: i64) -> Result<Option<(i64, i64)>, DbError> {
    let (first, last): (Option<i64>, Option<i64>) = outbox_messages::table
        .filter(outbox_messages::status.eq(status::PENDING))
        .filter(outbox_messages::seq.le(ack))
        .select((
            diesel::dsl::min(outbox_messages::seq),
            diesel::dsl::max(outbox_messages::seq),
        ))
        .first(conn)?;
    Ok(first.zip(last))
}

/// What a failed delivery changes: the attempts, the error, and either the
/// next try or the suspension.
pub struct Failure<'a> {
    pub attempts: i64,
    pub error: &'a str,
    pub suspended: bool,
    pub next_attempt_at: NaiveDateTime,
}

/// Records a failed delivery on a message still waiting (its receipt may
/// have been recorded meanwhile, and a settled message never goes back to
/// waiting); false when it was not waiting.
pub fn record_failure(
    conn: &mut AnyConnection,
    id: MessageId,
    failure: &Failure<'_>,
) -> Result<bool, DbError> {
    let n = diesel::update(
        outbox_messages::table
            .find(id.to_string())
            .filter(outbox_messages::status.eq_any([status::PENDING, status::SUSPENDED])),
    )
    .set((
        outbox_messages::attempts.eq(failure.attempts),
        outbox_messages::last_error.eq(Some(failure.error)),
        outbox_messages::status.eq(if failure.suspended {
            status::SUSPENDED
        } else {
            status::PENDING
        }),
        outbox_messages::next_attempt_at.eq(failure.next_attempt_at),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

/// Puts suspended messages (one, or all) back in the queue. Returns how many.
pub fn retry(
    conn: &mut AnyConnection,
    id: Option<MessageId>,
    now: NaiveDateTime,
) -> Result<usize, DbError> {
    let mut q = diesel::update(outbox_messages::table)
        .filter(outbox_messages::status.eq(status::SUSPENDED))
        .into_boxed();
    if let Some(id) = id {
        q = q.filter(outbox_messages::id.eq(id.to_string()));
    }
    let n = q
        .set((
            outbox_messages::status.eq(status::PENDING),
            outbox_messages::attempts.eq(0),
            outbox_messages::next_attempt_at.eq(now),
        ))
        .execute(conn)?;
    if n > 0 {
        super::wakeups::queued();
    }
    Ok(n)
}

/// Outgoing messages, optionally by status and case, in sequence order
/// after the sequence number `after`, at most `limit`.
pub fn list(
    conn: &mut AnyConnection,
    status: Option<&str>,
    case: Option<CaseId>,
    after: Option<i64>,
    limit: i64,
) -> Result<Vec<OutboxRow>, DbError> {
    let mut q = outbox_messages::table
        .select(OutboxRow::as_select())
        .into_boxed();
    if let Some(a) = after {
        q = q.filter(outbox_messages::seq.gt(a));
    }
    if let Some(s) = status {
        q = q.filter(outbox_messages::status.eq(s.to_owned()));
    }
    if let Some(c) = case {
        q = q.filter(outbox_messages::case_id.eq(c.to_string()));
    }
    let rows = q
        .order(outbox_messages::seq.asc())
        .limit(limit)
        .load(conn)?;
    opened(conn, rows)
}

/// How many outgoing messages have this status.
pub fn count_by_status(conn: &mut AnyConnection, status: &str) -> Result<i64, DbError> {
    Ok(outbox_messages::table
        .filter(outbox_messages::status.eq(status.to_owned()))
        .count()
        .get_result(conn)?)
}

/// A receipt as it settles a message.
pub struct Settlement<'a> {
    pub delivered: bool,
    pub at: NaiveDateTime,
    pub attempts: i64,
    /// The signed receipt, as JSON text.
    pub receipt: &'a str,
    pub signer: &'a str,
    pub code: Option<String>,
}

/// Settles a message still waiting for its receipt; false when it was
/// settled already. Conditional, so that two recordings of the same receipt
/// at once (the dispatcher's and the listener's catch-up) have one effect:
/// on PostgreSQL the second waits for the first and then matches no row.
pub fn settle(conn: &mut AnyConnection, id: &str, s: &Settlement<'_>) -> Result<bool, DbError> {
    let n = super::cached::native!(conn, |c| fixed!(diesel::update(
        outbox_messages::table.find(id).filter(unsettled())
    )
    .set((
        outbox_messages::status.eq(if s.delivered {
            status::DELIVERED
        } else {
            status::REJECTED
        }),
        outbox_messages::settled_at.eq(Some(s.at)),
        outbox_messages::attempts.eq(s.attempts),
        outbox_messages::receipt.eq(Some(s.receipt)),
        outbox_messages::receipt_signer.eq(Some(s.signer)),
        outbox_messages::last_error.eq(s.code.clone()),
    ))
    .returning(outbox_messages::seq),)
    .get_result::<i64>(c))
    .optional()?;
    Ok(n.is_some())
}

/// Replaces a settled message's body by an erasure marker (consent was
/// withdrawn; its digest, signature and receipt stay).
pub fn erase_body(conn: &mut AnyConnection, id: &str) -> Result<(), DbError> {
    diesel::update(outbox_messages::table.find(id))
        .set(outbox_messages::body.eq(ERASED_BODY))
        .execute(conn)?;
    Ok(())
}

/// What an erased message body reads.
pub const ERASED_BODY: &str = "{\"erased\":true}";

/// This node's messages after `after` that the other node receipted, in
/// sequence order (at most `limit`): what it may ask for again after losing
/// them.
pub fn receipted_after(
    conn: &mut AnyConnection,
    after: i64,
    limit: i64,
) -> Result<Vec<OutboxRow>, DbError> {
    let rows = outbox_messages::table
        .filter(outbox_messages::seq.gt(after))
        .filter(outbox_messages::status.eq_any([status::DELIVERED, status::REJECTED]))
        .order(outbox_messages::seq.asc())
        .limit(limit)
        .select(OutboxRow::as_select())
        .load(conn)?;
    opened(conn, rows)
}
