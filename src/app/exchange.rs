//! Storage side of the node-to-node exchange: the signed, hash-chained
//! outbox; the inbox with its receipts; certificates and alerts.
//!
//! Both directions form a gapless hash chain: the head of each is one row of
//! `peer_channels`, updated in the same transaction as the message it adds.
//! The outgoing head is bumped with an `UPDATE` first, which on PostgreSQL
//! also locks the row, so concurrent writers take sequence numbers in turn.

use crate::domain::message_type::MessageType;
use crate::domain::problem::ProblemCode;
use chrono::{Duration, NaiveDateTime, TimeZone, Utc};
use diesel::prelude::*;
use serde_json::{json, Value};

use super::cases::{self, CaseError};
use super::NodeCtx;
use crate::audit::{kinds, Entry};
use crate::domain::case::{CaseDetails, Identity};
use crate::domain::envelope::{self, Envelope, Receipt, Signed, SOP_VERSION};
use crate::domain::ids::{CaseId, CaseReference, MessageId, ReferralId};
use crate::domain::lifecycle::{Action, TransitionError, TransitionParams};
use crate::store::audit;
use crate::store::models::{InboxRow, OutboxRow};
use crate::store::schema::{certificates, inbox_messages, outbox_messages, peer_channels};
use crate::store::{AnyConnection, DbError};

const OUTGOING: &str = "outgoing";
const INCOMING: &str = "incoming";

pub use crate::store::outbox::status;

fn to_text<T: serde::Serialize>(value: &T) -> Result<String, DbError> {
    serde_json::to_string(value).map_err(|e| DbError::Corrupt(format!("cannot serialise: {e}")))
}

fn signing_error(e: envelope::SignatureError) -> DbError {
    DbError::Corrupt(format!("signing failed: {e}"))
}

/// Appends a signed message to the outgoing chain, in the caller's transaction.
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
    diesel::update(peer_channels::table.find(OUTGOING))
        .set(peer_channels::last_seq.eq(peer_channels::last_seq + 1))
        .execute(conn)?;
    let (seq, prev_hash): (i64, String) = peer_channels::table
        .find(OUTGOING)
        .select((peer_channels::last_seq, peer_channels::last_hash))
        .first(conn)?;
    // What this node has seen of the other direction when it speaks.
    let ack: i64 = peer_channels::table
        .find(INCOMING)
        .select(peer_channels::last_seq)
        .first(conn)?;
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
    let signed = Signed::sign(body, &ctx.message_key).map_err(signing_error)?;
    let hash = signed.hash();
    diesel::insert_into(outbox_messages::table)
        .values(OutboxRow {
            id: id.to_string(),
            seq,
            case_id: case_id.to_string(),
            referral_id: referral_id.to_string(),
            message_type: message_type.as_str().to_owned(),
            body: String::from_utf8(envelope::canonical(&signed.body))
                .map_err(|e| DbError::Corrupt(e.to_string()))?,
            signature: signed.signature,
            hash: hash.clone(),
            status: status::PENDING.into(),
            attempts: 0,
            next_attempt_at: now,
            last_error: None,
            created_at: now,
            settled_at: None,
            receipt: None,
            receipt_signer: None,
        })
        .execute(conn)?;
    diesel::update(peer_channels::table.find(OUTGOING))
        .set(peer_channels::last_hash.eq(&hash))
        .execute(conn)?;
    let mut entry = Entry::new(kinds::MESSAGE_QUEUED, "system", message_type.as_str());
    entry.case_id = Some(case_id.to_string());
    entry.referral_id = Some(referral_id.to_string());
    entry.message_id = Some(id.to_string());
    entry.seq = Some(seq);
    entry.digest = Some(hash);
    audit::append(conn, entry)?;
    Ok(id)
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
    let rows: Vec<OutboxRow> = outbox_messages::table
        .filter(outbox_messages::status.eq_any([status::PENDING, status::SUSPENDED]))
        .filter(outbox_messages::seq.gt(after_seq))
        .order(outbox_messages::seq.asc())
        .limit(limit)
        .select(OutboxRow::as_select())
        .load(conn)?;
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
/// queued: of all, or of one case's ("waiting for the other node since …").
pub fn oldest_undelivered(
    conn: &mut AnyConnection,
    case: Option<CaseId>,
) -> Result<Option<NaiveDateTime>, DbError> {
    let mut q = outbox_messages::table
        .filter(outbox_messages::status.eq_any([status::PENDING, status::SUSPENDED]))
        .select(outbox_messages::created_at)
        .into_boxed();
    if let Some(case) = case {
        q = q.filter(outbox_messages::case_id.eq(case.to_string()));
    }
    Ok(q.order(outbox_messages::seq.asc()).first(conn).optional()?)
}

/// How many of one case's outgoing messages have each status.
pub fn delivery_counts(
    conn: &mut AnyConnection,
    case: CaseId,
) -> Result<Vec<(String, i64)>, DbError> {
    Ok(outbox_messages::table
        .filter(outbox_messages::case_id.eq(case.to_string()))
        .group_by(outbox_messages::status)
        .select((outbox_messages::status, diesel::dsl::count_star()))
        .load(conn)?)
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

/// Signed receipts this node gave for incoming messages `from..=to`, in
/// order, at most `max_bytes` of them (but always the first).
pub fn receipts_between(
    conn: &mut AnyConnection,
    from: i64,
    to: i64,
    max_bytes: usize,
) -> Result<Vec<Signed>, DbError> {
    let rows: Vec<String> = inbox_messages::table
        .filter(inbox_messages::seq.ge(from))
        .filter(inbox_messages::seq.le(to))
        .order(inbox_messages::seq.asc())
        .limit(10_000)
        .select(inbox_messages::receipt)
        .load(conn)?;
    let mut used = 0;
    let mut out = Vec::new();
    for r in rows {
        used += r.len();
        if !out.is_empty() && used > max_bytes {
            break;
        }
        out.push(
            serde_json::from_str(&r)
                .map_err(|e| DbError::Corrupt(format!("stored receipt: {e}")))?,
        );
    }
    Ok(out)
}

/// Records a failed delivery of `id`: schedules the next try, or suspends the
/// message when the retry schedule is exhausted or the failure is permanent.
/// Returns whether it is now suspended.
pub fn record_failure(
    conn: &mut AnyConnection,
    id: MessageId,
    error: &str,
    retry_after: Option<Duration>,
    now: NaiveDateTime,
) -> Result<bool, DbError> {
    let row: OutboxRow = outbox_messages::table
        .find(id.to_string())
        .select(OutboxRow::as_select())
        .first(conn)?;
    let attempts = row.attempts + 1;
    let suspended = retry_after.is_none();
    // Only a message still waiting is touched: its receipt may have been
    // recorded meanwhile (fetched by the listener), and a settled message
    // never goes back to waiting.
    let n = diesel::update(
        outbox_messages::table
            .find(id.to_string())
            .filter(outbox_messages::status.eq_any([status::PENDING, status::SUSPENDED])),
    )
    .set((
        outbox_messages::attempts.eq(attempts),
        outbox_messages::last_error.eq(Some(error)),
        outbox_messages::status.eq(if suspended {
            status::SUSPENDED
        } else {
            status::PENDING
        }),
        outbox_messages::next_attempt_at.eq(now + retry_after.unwrap_or_default()),
    ))
    .execute(conn)?;
    if n == 0 {
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
    Ok(q.set((
        outbox_messages::status.eq(status::PENDING),
        outbox_messages::attempts.eq(0),
        outbox_messages::next_attempt_at.eq(now),
    ))
    .execute(conn)?)
}

/// Outgoing messages, optionally by status, in sequence order.
pub fn list_outgoing(
    conn: &mut AnyConnection,
    status: Option<&str>,
    case: Option<CaseId>,
    limit: i64,
) -> Result<Vec<OutboxRow>, DbError> {
    let mut q = outbox_messages::table
        .select(OutboxRow::as_select())
        .into_boxed();
    if let Some(s) = status {
        q = q.filter(outbox_messages::status.eq(s.to_owned()));
    }
    if let Some(c) = case {
        q = q.filter(outbox_messages::case_id.eq(c.to_string()));
    }
    Ok(q.order(outbox_messages::seq.asc())
        .limit(limit)
        .load(conn)?)
}

/// How many outgoing messages have this status.
pub fn count_outgoing(conn: &mut AnyConnection, status: &str) -> Result<i64, DbError> {
    Ok(outbox_messages::table
        .filter(outbox_messages::status.eq(status.to_owned()))
        .count()
        .get_result(conn)?)
}

/// Incoming messages about one referral.
pub fn list_incoming(
    conn: &mut AnyConnection,
    referral: ReferralId,
) -> Result<Vec<InboxRow>, DbError> {
    Ok(inbox_messages::table
        .filter(inbox_messages::referral_id.eq(referral.to_string()))
        .select(InboxRow::as_select())
        .order(inbox_messages::seq.asc())
        .load(conn)?)
}

pub use crate::store::alerts::{alert, list_alerts};

/// Keeps a signer certificate, once.
pub fn remember_certificate(
    conn: &mut AnyConnection,
    fingerprint: &str,
    pem: &str,
    now: NaiveDateTime,
) -> Result<(), DbError> {
    let known: i64 = certificates::table
        .filter(certificates::fingerprint.eq(fingerprint))
        .count()
        .get_result(conn)?;
    if known == 0 {
        diesel::insert_into(certificates::table)
            .values((
                certificates::fingerprint.eq(fingerprint),
                certificates::pem.eq(pem),
                certificates::first_seen.eq(now),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Why a message is refused outright (not taken into the chain).
#[derive(Debug, thiserror::Error)]
pub enum ReceiveError {
    #[error("{detail}")]
    Refused { code: ProblemCode, detail: String },
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<diesel::result::Error> for ReceiveError {
    fn from(e: diesel::result::Error) -> Self {
        ReceiveError::Db(DbError::Query(e))
    }
}

fn refused(code: ProblemCode, detail: String) -> ReceiveError {
    ReceiveError::Refused { code, detail }
}

/// A verified message from the peer (signature already checked against its certificate).
pub struct Incoming<'a> {
    pub signed: &'a Signed,
    pub envelope: &'a Envelope,
    /// The signer's certificate must have been kept with [`remember_certificate`].
    pub signer_fingerprint: &'a str,
}

/// Takes a message into the incoming chain and applies it, in the caller's
/// transaction. Returns the signed receipt — the original one for a
/// duplicate, which has no second effect.
pub fn receive(
    conn: &mut AnyConnection,
    ctx: &NodeCtx,
    msg: Incoming<'_>,
    now: NaiveDateTime,
) -> Result<Signed, ReceiveError> {
    let env = msg.envelope;
    let hash = msg.signed.hash();
    let earlier: Option<InboxRow> = inbox_messages::table
        .find(env.message_id.to_string())
        .select(InboxRow::as_select())
        .first(conn)
        .optional()?;
    if let Some(earlier) = earlier {
        if earlier.hash != hash {
            return Err(refused(
                ProblemCode::MessageIdConflict,
                format!(
                    "message {} was already received with different content",
                    env.message_id
                ),
            ));
        }
        return serde_json::from_str(&earlier.receipt)
            .map_err(|e| ReceiveError::Db(DbError::Corrupt(format!("stored receipt: {e}"))));
    }
    let (last_seq, last_hash): (i64, String) = peer_channels::table
        .find(INCOMING)
        .select((peer_channels::last_seq, peer_channels::last_hash))
        .first(conn)?;
    if env.seq <= last_seq {
        return Err(refused(
            ProblemCode::SequenceReplay,
            format!(
                "sequence number {} was already used (last received {last_seq})",
                env.seq
            ),
        ));
    }
    if env.seq > last_seq + 1 {
        let detail = format!(
            "sequence gap: expected {} but received {} ({})",
            last_seq + 1,
            env.seq,
            env.message_id
        );
        alert(conn, "sequence_gap", &detail, now)?;
        return Err(refused(ProblemCode::SequenceGap, detail));
    }
    if env.prev_hash != last_hash {
        let detail = format!(
            "message {} does not chain to the previous message {}",
            env.seq, last_seq
        );
        alert(conn, "chain_broken", &detail, now)?;
        return Err(refused(ProblemCode::ChainBroken, detail));
    }
    // The effect runs in a savepoint: a rejected message changes nothing but the chain.
    let outcome = conn.transaction(|c| apply_incoming(c, ctx, env, now));
    let (status, code, detail) = match outcome {
        Ok(()) => ("accepted", None, None),
        Err(e) => {
            let code = rejection_code(&e);
            tracing::info!(message = %env.message_id, code = code.as_str(), "peer message rejected");
            (
                "rejected",
                Some(code.as_str().to_owned()),
                Some(e.to_string()),
            )
        }
    };
    // The receipt names where this message is logged here.
    let mut entry = Entry::new(
        kinds::MESSAGE_RECEIVED,
        format!("peer:{}", env.sender),
        env.message_type.clone(),
    );
    entry.referral_id = Some(env.referral_id.to_string());
    entry.message_id = Some(env.message_id.to_string());
    entry.seq = Some(env.seq);
    entry.digest = Some(hash.clone());
    entry.outcome = status.to_owned();
    entry.code = code.clone();
    let logged = audit::append(conn, entry)?;
    let receipt = Receipt {
        message_id: env.message_id,
        message_hash: hash.clone(),
        sender: env.sender,
        receiver: env.receiver,
        seq: env.seq,
        status: status.to_owned(),
        code: code.clone(),
        detail,
        log_index: logged.index as i64,
        received_at: Utc.from_utc_datetime(&now),
        ack: Some(env.seq),
    };
    let body = serde_json::to_value(&receipt).map_err(|e| DbError::Corrupt(e.to_string()))?;
    let signed_receipt = Signed::sign(body, &ctx.receipt_key).map_err(signing_error)?;
    diesel::insert_into(inbox_messages::table)
        .values(InboxRow {
            id: env.message_id.to_string(),
            seq: env.seq,
            sender: env.sender.as_str().into(),
            referral_id: env.referral_id.to_string(),
            message_type: env.message_type.clone(),
            body: String::from_utf8(envelope::canonical(&msg.signed.body))
                .map_err(|e| DbError::Corrupt(e.to_string()))?,
            signature: msg.signed.signature.clone(),
            hash: hash.clone(),
            signer: msg.signer_fingerprint.to_owned(),
            status: status.into(),
            code,
            receipt: to_text(&signed_receipt)?,
            received_at: now,
        })
        .execute(conn)?;
    diesel::update(peer_channels::table.find(INCOMING))
        .set((
            peer_channels::last_seq.eq(env.seq),
            peer_channels::last_hash.eq(hash),
        ))
        .execute(conn)?;
    Ok(signed_receipt)
}

/// Applies again, in chain order, the messages of the other node about a
/// referral that this node rejected (a repair when the two disagree: the
/// reason for the rejection may be gone). Returns how many now applied; the
/// others stay rejected.
pub fn reapply_rejected(
    conn: &mut AnyConnection,
    ctx: &NodeCtx,
    referral: ReferralId,
    now: NaiveDateTime,
) -> Result<usize, DbError> {
    // Only those after the last message that was applied: an older one
    // (an answer to an earlier step) must not be replayed over later steps.
    let last_applied: Option<i64> = inbox_messages::table
        .filter(inbox_messages::referral_id.eq(referral.to_string()))
        .filter(inbox_messages::status.eq("accepted"))
        .select(diesel::dsl::max(inbox_messages::seq))
        .first(conn)?;
    let rows: Vec<InboxRow> = inbox_messages::table
        .filter(inbox_messages::referral_id.eq(referral.to_string()))
        .filter(inbox_messages::status.eq("rejected"))
        .filter(inbox_messages::seq.gt(last_applied.unwrap_or(0)))
        .order(inbox_messages::seq.asc())
        .select(InboxRow::as_select())
        .load(conn)?;
    let mut applied = 0;
    for row in rows {
        let Ok(env) = serde_json::from_str::<Envelope>(&row.body) else {
            continue; // erased or unreadable: nothing to apply
        };
        if conn
            .transaction(|c| apply_incoming(c, ctx, &env, now))
            .is_err()
        {
            continue;
        }
        diesel::update(inbox_messages::table.find(&row.id))
            .set((
                inbox_messages::status.eq("accepted"),
                inbox_messages::code.eq(Some("reapplied")),
            ))
            .execute(conn)?;
        let mut entry = Entry::new("message_reapplied", "system", env.message_type.clone());
        entry.referral_id = Some(env.referral_id.to_string());
        entry.message_id = Some(env.message_id.to_string());
        entry.seq = Some(env.seq);
        entry.digest = Some(row.hash.clone());
        entry.outcome = "accepted".into();
        audit::append(conn, entry)?;
        applied += 1;
    }
    Ok(applied)
}

fn rejection_code(e: &CaseError) -> ProblemCode {
    match e {
        CaseError::NotFound => ProblemCode::UnknownReferral,
        CaseError::Transition(TransitionError::NotAllowedInState { .. }) => {
            ProblemCode::TransitionNotAllowed
        }
        CaseError::Transition(TransitionError::WrongSide { .. }) => ProblemCode::WrongSide,
        CaseError::Transition(TransitionError::RoleNotPermitted { .. }) => {
            ProblemCode::RoleNotPermitted
        }
        CaseError::InvalidParameters(_) => ProblemCode::InvalidPayload,
        CaseError::Db(e) if e.is_unique_violation() => ProblemCode::DuplicateReferral,
        CaseError::Handover(h) => h.code(),
        CaseError::ConsentScope(_) => ProblemCode::ConsentScopeExceeded,
        CaseError::AlreadyErased => ProblemCode::PersonalDataErased,
        CaseError::ReportExists(_) => ProblemCode::ReportExists,
        CaseError::NotInMonitoring(_) => ProblemCode::NotInMonitoring,
        CaseError::ReportWrongSide { .. } => ProblemCode::WrongSide,
        _ => ProblemCode::NotApplicable,
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ReferralPayload {
    reference: String,
    details: CaseDetails,
    identity: Option<Identity>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct WithdrawalPayload {
    withdrawn_on: chrono::NaiveDate,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ErasurePayload {
    #[allow(dead_code)]
    erased_at: chrono::DateTime<Utc>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct TransitionPayload {
    action: Action,
    reason_code: Option<String>,
    outcome: Option<String>,
    #[serde(default)]
    handover: Option<Value>,
}

fn invalid(e: impl std::fmt::Display) -> CaseError {
    CaseError::InvalidParameters(vec![crate::domain::FieldError::new(
        "payload",
        "invalid_payload",
        e.to_string(),
    )])
}

/// Applies what a message means to this node's copy of the case.
fn apply_incoming(
    conn: &mut AnyConnection,
    ctx: &NodeCtx,
    env: &Envelope,
    now: NaiveDateTime,
) -> Result<(), CaseError> {
    // The listener refuses unknown types before anything is stored.
    let message_type = MessageType::parse(&env.message_type)
        .ok_or_else(|| invalid(format!("unknown message type `{}`", env.message_type)))?;
    if message_type == MessageType::ReferralRequest {
        let p: ReferralPayload = serde_json::from_value(env.payload.clone()).map_err(invalid)?;
        let reference = CaseReference::parse(&p.reference).map_err(invalid)?;
        cases::insert_incoming(
            conn,
            ctx,
            env.referral_id,
            reference,
            env.sender,
            p.details,
            p.identity,
            now,
        )?;
        return Ok(());
    }
    if message_type == MessageType::ConsentWithdrawal {
        let p: WithdrawalPayload = serde_json::from_value(env.payload.clone()).map_err(invalid)?;
        cases::withdrawal_from_peer(conn, ctx, env.referral_id, p.withdrawn_on, now)?;
        return Ok(());
    }
    if message_type == MessageType::ErasureConfirmation {
        let _: ErasurePayload = serde_json::from_value(env.payload.clone()).map_err(invalid)?;
        cases::erasure_confirmed(conn, env.referral_id, now)?;
        return Ok(());
    }
    if let Some(report) = env.payload.get("report") {
        let report = match message_type {
            MessageType::RepatriationUpdate => {
                let r: crate::domain::reports::Repatriation =
                    serde_json::from_value(report.clone()).map_err(invalid)?;
                r.check().map_err(CaseError::InvalidParameters)?;
                cases::NewReport::Repatriation(r)
            }
            MessageType::ReintegrationUpdate => {
                let f: crate::domain::reports::FollowUp =
                    serde_json::from_value(report.clone()).map_err(invalid)?;
                // The sender's schedule may be longer than ours: codes only.
                f.check(u32::MAX as usize)
                    .map_err(CaseError::InvalidParameters)?;
                cases::NewReport::FollowUp(f)
            }
            other => return Err(invalid(format!("a `{other}` message carries no report"))),
        };
        let case = cases::find_by_referral(conn, env.referral_id)?.ok_or(CaseError::NotFound)?;
        cases::record_report(conn, ctx, case, report, None, now)?;
        return Ok(());
    }
    if matches!(
        message_type,
        MessageType::HandoverCounterProposal | MessageType::HandoverAcceptance
    ) {
        let plan = match env.payload.get("handover") {
            Some(v) => {
                let plan = serde_json::from_value::<crate::domain::handover::Plan>(v.clone())
                    .map_err(invalid)?;
                plan.check_codes(&crate::store::crossings::active_codes(conn)?)
                    .map_err(CaseError::InvalidParameters)?;
                Some(plan)
            }
            None => None,
        };
        if plan.is_some() != (message_type == MessageType::HandoverCounterProposal) {
            return Err(invalid(
                "a counter-proposal carries a plan, an acceptance none",
            ));
        }
        let round = env
            .payload
            .get("round")
            .and_then(Value::as_i64)
            .ok_or_else(|| invalid("the negotiation round is missing"))?;
        let case = cases::find_by_referral(conn, env.referral_id)?.ok_or(CaseError::NotFound)?;
        cases::answer_handover(conn, ctx, case, plan, None, Some(round), now)?;
        return Ok(());
    }
    let p: TransitionPayload = serde_json::from_value(env.payload.clone()).map_err(invalid)?;
    let expected = MessageType::for_step(p.action, message_type == MessageType::Arrival);
    if expected != message_type || matches!(p.action, Action::Approve | Action::MarkReceived) {
        return Err(invalid(format!(
            "a `{}` message cannot carry `{}`",
            env.message_type, p.action
        )));
    }
    let mut params = TransitionParams::parse(p.action, p.reason_code, p.outcome, None)
        .map_err(CaseError::InvalidParameters)?;
    params.handover = match (p.action, p.handover) {
        (Action::ScheduleHandover, Some(v)) => {
            let plan: crate::domain::handover::Plan = serde_json::from_value(v).map_err(invalid)?;
            plan.check_codes(&crate::store::crossings::active_codes(conn)?)
                .map_err(CaseError::InvalidParameters)?;
            Some(crate::domain::handover::HandoverParams::Plan(plan))
        }
        (Action::Depart | Action::ConfirmHandover, Some(v)) => {
            let at: crate::domain::handover::AtCrossing =
                serde_json::from_value(v).map_err(invalid)?;
            Some(crate::domain::handover::HandoverParams::At {
                crossing_point: Some(at.crossing_point),
                at: Some(at.at),
            })
        }
        (_, None) => None,
        (action, Some(_)) => {
            return Err(invalid(format!("`{action}` carries no handover data")));
        }
    };
    cases::apply_from_peer(conn, ctx, env.referral_id, p.action, params, now)?;
    Ok(())
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

/// Why a receipt could not be settled.
#[derive(Debug, thiserror::Error)]
pub enum SettleError {
    #[error("receipt does not match message {0}: {1}")]
    Mismatch(String, String),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<diesel::result::Error> for SettleError {
    fn from(e: diesel::result::Error) -> Self {
        SettleError::Db(DbError::Query(e))
    }
}

/// Records a verified receipt from the peer for one of our messages, in the
/// caller's transaction, and applies what it means here. Returns the id of
/// the case the message is about.
pub fn settle(
    conn: &mut AnyConnection,
    ctx: &NodeCtx,
    receipt: &Signed,
    signer_fingerprint: &str,
    now: NaiveDateTime,
) -> Result<String, SettleError> {
    let r: Receipt = serde_json::from_value(receipt.body.clone())
        .map_err(|e| SettleError::Mismatch("?".into(), format!("unreadable receipt: {e}")))?;
    let row: OutboxRow = outbox_messages::table
        .find(r.message_id.to_string())
        .select(OutboxRow::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| {
            SettleError::Mismatch(r.message_id.to_string(), "no such outgoing message".into())
        })?;
    if r.message_hash != row.hash
        || r.seq != row.seq
        || r.sender != ctx.node
        || r.receiver != ctx.node.counterpart()
    {
        return Err(SettleError::Mismatch(
            row.id,
            "hash, sequence or parties differ".into(),
        ));
    }
    if row.status == status::DELIVERED || row.status == status::REJECTED {
        return Ok(row.case_id); // already settled (a resend after a lost response)
    }
    let accepted = r.status == "accepted";
    // Conditional, so that two recordings of the same receipt at once (the
    // dispatcher's and the listener's catch-up) have one effect: on
    // PostgreSQL the second waits for the first and then matches no row.
    let n = diesel::update(
        outbox_messages::table
            .find(&row.id)
            .filter(outbox_messages::status.eq_any([status::PENDING, status::SUSPENDED])),
    )
    .set((
        outbox_messages::status.eq(if accepted {
            status::DELIVERED
        } else {
            status::REJECTED
        }),
        outbox_messages::settled_at.eq(Some(now)),
        // A delivered message was tried at least once (the try that got
        // through; a failed try whose answer was lost is already counted).
        outbox_messages::attempts.eq(row.attempts.max(1)),
        outbox_messages::receipt.eq(Some(to_text(receipt)?)),
        outbox_messages::receipt_signer.eq(Some(signer_fingerprint)),
        outbox_messages::last_error.eq(r.code.clone()),
    ))
    .execute(conn)?;
    if n == 0 {
        return Ok(row.case_id);
    }
    // Consent was withdrawn while it travelled: its body goes now.
    let case_id: CaseId = row
        .case_id
        .parse()
        .map_err(|_| DbError::Corrupt(format!("case id {}", row.case_id)))?;
    if cases::erasure(conn, case_id)?.is_some() {
        diesel::update(outbox_messages::table.find(&row.id))
            .set(outbox_messages::body.eq("{\"erased\":true}"))
            .execute(conn)?;
    }
    let mut entry = Entry::new(
        kinds::RECEIPT_RECEIVED,
        format!("peer:{}", ctx.node.counterpart()),
        row.message_type.clone(),
    );
    entry.case_id = Some(row.case_id.clone());
    entry.referral_id = Some(row.referral_id.clone());
    entry.message_id = Some(row.id.clone());
    entry.seq = Some(row.seq);
    entry.digest = Some(receipt.hash());
    entry.peer_index = Some(r.log_index);
    entry.outcome = if accepted { "delivered" } else { "rejected" }.to_owned();
    entry.code = r.code.clone();
    audit::append(conn, entry)?;
    let referral: ReferralId = row
        .referral_id
        .parse()
        .map_err(|_| DbError::Corrupt(format!("referral id {}", row.referral_id)))?;
    if accepted && row.message_type == MessageType::ReferralRequest.as_str() {
        let params = TransitionParams {
            reason_code: None,
            outcome: None,
            comment: None,
            handover: None,
        };
        let marked = conn.transaction(|c| {
            cases::apply_from_peer(c, ctx, referral, Action::MarkReceived, params, now)
        });
        if let Err(e) = marked {
            tracing::info!(referral = %referral, error = %e, "receipt of a referral the sender no longer holds as approved");
        }
    }
    if !accepted {
        let code = r.code.unwrap_or_else(|| "rejected".into());
        alert(
            conn,
            "message_rejected",
            &format!(
                "message {} (seq {}) rejected by the peer: {code}",
                row.id, row.seq
            ),
            now,
        )?;
        let case_id: CaseId = row
            .case_id
            .parse()
            .map_err(|_| DbError::Corrupt(format!("case id {}", row.case_id)))?;
        cases::annotate(conn, case_id, "peer_rejected", Some(code), now).map_err(|e| match e {
            CaseError::Db(d) => SettleError::Db(d),
            other => SettleError::Db(DbError::Corrupt(other.to_string())),
        })?;
    }
    Ok(row.case_id)
}
