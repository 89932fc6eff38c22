//! Incoming messages: taking the other node's messages into the chain in
//! order, applying what each means to this node's copy of the case, and
//! signing the receipt; and applying again the ones rejected when the two
//! nodes disagree.

use chrono::{NaiveDateTime, TimeZone, Utc};
use serde_json::Value;

use super::cases::{self, CaseError};
use super::exchange::{alert, canonical_text};
use super::NodeCtx;
use crate::audit::{kinds, Entry};
use crate::domain::case::{CaseDetails, Identity};
use crate::domain::envelope::{Envelope, Receipt, Signed};
use crate::domain::ids::{CaseReference, ReferralId};
use crate::domain::lifecycle::{Action, TransitionError, TransitionParams};
use crate::domain::message_type::MessageType;
use crate::domain::problem::ProblemCode;
use crate::store::models::InboxRow;
use crate::store::{audit, channels, inbox, AnyConnection, DbError};

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
    /// The signer's certificate must have been kept with
    /// [`super::exchange::remember_certificate`].
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
    if let Some(earlier) = inbox::get(conn, env.message_id)? {
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
    let (last_seq, last_hash) = channels::incoming_head(conn)?;
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
    let outcome = crate::store::savepoint(conn, |c| apply_incoming(c, ctx, env, now));
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
    super::statistics::logged(conn, &logged)?;
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
    // Signed when it is sent, with the others of its answer (`peer::server`).
    let signed_receipt = Signed::unsigned(body);
    inbox::insert(
        conn,
        &InboxRow {
            id: env.message_id.to_string(),
            seq: env.seq,
            sender: env.sender.as_str().into(),
            referral_id: env.referral_id.to_string(),
            message_type: env.message_type.clone(),
            body: canonical_text(&msg.signed.body)?,
            signature: msg.signed.signature.clone(),
            hash: hash.clone(),
            signer: msg.signer_fingerprint.to_owned(),
            status: status.into(),
            code,
            receipt: serde_json::to_string(&signed_receipt)
                .map_err(|e| DbError::Corrupt(format!("cannot serialise: {e}")))?,
            received_at: now,
        },
    )?;
    channels::set_incoming_head(conn, env.seq, &hash)?;
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
    let rows = inbox::rejected_since_last_applied(conn, referral)?;
    let mut applied = 0;
    for row in rows {
        let Ok(env) = serde_json::from_str::<Envelope>(&row.body) else {
            continue; // erased or unreadable: nothing to apply
        };
        if crate::store::savepoint(conn, |c| apply_incoming(c, ctx, &env, now)).is_err() {
            continue;
        }
        inbox::mark_reapplied(conn, &row.id)?;
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
        super::erasure::withdrawal_from_peer(conn, ctx, env.referral_id, p.withdrawn_on, now)?;
        return Ok(());
    }
    if message_type == MessageType::ErasureConfirmation {
        let _: ErasurePayload = serde_json::from_value(env.payload.clone()).map_err(invalid)?;
        super::erasure::erasure_confirmed(conn, env.referral_id, now)?;
        return Ok(());
    }
    if let Some(report) = env.payload.get("report") {
        let report = match message_type {
            MessageType::RepatriationUpdate => {
                let r: crate::domain::reports::Repatriation =
                    serde_json::from_value(report.clone()).map_err(invalid)?;
                r.check().map_err(CaseError::InvalidParameters)?;
                super::reports::NewReport::Repatriation(r)
            }
            MessageType::ReintegrationUpdate => {
                let f: crate::domain::reports::FollowUp =
                    serde_json::from_value(report.clone()).map_err(invalid)?;
                // The sender's schedule may be longer than ours: codes only.
                f.check(u32::MAX as usize)
                    .map_err(CaseError::InvalidParameters)?;
                super::reports::NewReport::FollowUp(f)
            }
            other => return Err(invalid(format!("a `{other}` message carries no report"))),
        };
        let case = cases::find_by_referral(conn, env.referral_id)?.ok_or(CaseError::NotFound)?;
        super::reports::record_report(conn, ctx, case, report, None, now)?;
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
        super::handover::answer_handover(conn, ctx, case, plan, None, Some(round), now)?;
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
