//! Outgoing messages: signing and chaining what this node tells the other,
//! the delivery failures and retries, and the queries the dispatcher and
//! the administrators need. The rows are [`crate::store::outbox`]'s; the
//! chain's head is [`crate::store::channels`]'s.

use chrono::{Duration, NaiveDateTime, TimeZone, Utc};
use serde_json::{json, Value};

use super::NodeCtx;
use crate::audit::{kinds, Entry};
use crate::domain::envelope::{self, Envelope, SOP_VERSION};
use crate::domain::ids::{CaseId, MessageId, ReferralId};
use crate::domain::lifecycle::{Action, TransitionParams};
use crate::domain::message_type::MessageType;
use crate::store::models::InboxRow;
use crate::store::{audit, channels, inbox, outbox, AnyConnection, DbError};

pub use crate::store::alerts::{alert, list_alerts};
pub use crate::store::certificates::remember as remember_certificate;
pub use crate::store::inbox::receipts_between;
pub use crate::store::models::{
    AlertRow, InboxRow as IncomingMessage, OutboxRow as OutgoingMessage, OutboxRow,
};
pub use crate::store::outbox::status;
pub use crate::store::outbox::{
    delivery_counts, is_unsettled, next_batch, oldest_undelivered, resume_now, retry, signed_of,
    unsettled_up_to, wire_size,
};

pub(super) fn signing_error(e: envelope::SignatureError) -> DbError {
    DbError::Corrupt(format!("signing failed: {e}"))
}

pub(super) fn canonical_text(body: &Value) -> Result<String, DbError> {
    String::from_utf8(envelope::canonical(body)).map_err(|e| DbError::Corrupt(e.to_string()))
}

/// Appends a message to the outgoing chain, in the caller's transaction
/// unsigned: it is signed when it leaves, with the rest of its delivery.
#[allow(clippy::too_many_arguments)]
pub fn append_outgoing(
    conn: &mut AnyConnection,
    ctx: &NodeCtx,
    case_id: CaseId,
    referral_id: ReferralId,
    message_type: MessageType,
    payload: Value,
    now: NaiveDateTime,
) -> Result<MessageId, DbError> {
    let (seq, prev_hash, ack) = channels::take_outgoing_seq(conn)?;
    let id = MessageId::new();
    let env = Envelope {
        message_id: id,
        message_type: message_type.as_str().to_owned(),
        referral_id,
        sender: ctx.node,
        receiver: ctx.node.counterpart(),
        seq,
        prev_hash,
        created_at: Utc.from_utc_datetime(&now),
        sop_version: SOP_VERSION.to_owned(),
        payload,
        ack: Some(ack),
    };
    let body = serde_json::to_value(&env).map_err(|e| DbError::Corrupt(e.to_string()))?;
    // Signed when it leaves, with the other messages of its delivery
    // (`peer::pipeline`): the chain needs only the body's hash.
    let hash = envelope::digest(&body);
    outbox::insert(
        conn,
        &OutboxRow {
            id: id.to_string(),
            seq,
            case_id: case_id.to_string(),
            referral_id: referral_id.to_string(),
            message_type: message_type.as_str().to_owned(),
            body: canonical_text(&body)?,
            signature: String::new(),
            hash: hash.clone(),
            status: status::PENDING.into(),
            attempts: 0,
            next_attempt_at: now,
            last_error: None,
            created_at: now,
            settled_at: None,
            receipt: None,
            receipt_signer: None,
        },
    )?;
    channels::set_outgoing_hash(conn, &hash)?;
    let mut entry = Entry::new(kinds::MESSAGE_QUEUED, "system", message_type.as_str());
    entry.case_id = Some(case_id.to_string());
    entry.referral_id = Some(referral_id.to_string());
    entry.message_id = Some(id.to_string());
    entry.seq = Some(seq);
    entry.digest = Some(hash);
    let entry = audit::append(conn, entry)?;
    super::statistics::logged(conn, &entry)?;
    Ok(id)
}

/// Records a failed delivery of `id`: schedules the next try, or suspends the
/// message when the retry schedule is exhausted or the failure is permanent
/// (`retry_after` is `None`). Returns whether it is now suspended.
pub fn record_failure(
    conn: &mut AnyConnection,
    id: MessageId,
    error: &str,
    retry_after: Option<Duration>,
    now: NaiveDateTime,
) -> Result<bool, DbError> {
    let row = outbox::get(conn, &id.to_string())?
        .ok_or_else(|| DbError::Corrupt(format!("no outgoing message {id}")))?;
    let attempts = row.attempts + 1;
    let suspended = retry_after.is_none();
    let failure = outbox::Failure {
        attempts,
        error,
        suspended,
        next_attempt_at: now + retry_after.unwrap_or_default(),
    };
    if !outbox::record_failure(conn, id, &failure)? {
        return Ok(false);
    }
    if suspended {
        alert(
            conn,
            "message_suspended",
            &format!(
                "message {id} (seq {}) suspended after {attempts} attempts: {error}",
                row.seq
            ),
            now,
        )?;
    }
    Ok(suspended)
}

/// Outgoing messages, optionally by status, in sequence order.
pub fn list_outgoing(
    conn: &mut AnyConnection,
    status: Option<&str>,
    case: Option<CaseId>,
    after: Option<i64>,
    limit: i64,
) -> Result<Vec<OutboxRow>, DbError> {
    outbox::list(conn, status, case, after, limit)
}

/// How many outgoing messages have this status.
pub fn count_outgoing(conn: &mut AnyConnection, status: &str) -> Result<i64, DbError> {
    outbox::count_by_status(conn, status)
}

/// Incoming messages about one referral.
pub fn list_incoming(
    conn: &mut AnyConnection,
    referral: ReferralId,
) -> Result<Vec<InboxRow>, DbError> {
    inbox::list_for_referral(conn, referral)
}

/// The payload of a transition message.
pub fn transition_payload(action: Action, params: &TransitionParams) -> Value {
    use crate::domain::handover::HandoverParams;
    let mut payload =
        json!({ "action": action, "reason_code": params.reason_code, "outcome": params.outcome });
    match &params.handover {
        Some(HandoverParams::Plan(plan)) => payload["handover"] = json!(plan),
        Some(HandoverParams::At { crossing_point, at }) => {
            payload["handover"] = json!({ "crossing_point": crossing_point, "at": at })
        }
        None => {}
    }
    payload
}
