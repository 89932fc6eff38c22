//! The handover negotiation: counter-proposals and acceptance of the plan,
//! by this node's users or the other node.

use crate::domain::message_type::MessageType;
use chrono::{NaiveDateTime, SubsecRound};
use serde_json::json;

use super::cases::*;
use super::exchange as peer;
use super::NodeCtx;
use crate::domain::handover::{self, HandoverError, HandoverParams};
use crate::domain::lifecycle::{State, TransitionParams};
use crate::store::handovers;
use crate::store::users::Principal;
use crate::store::AnyConnection;

/// A counter-proposal (`plan`) or the acceptance (`None`) of the handover
/// plan, by the side that did not make the current proposal: this node's
/// `user`, or the peer (`user` is `None`).
pub fn answer_handover(
    conn: &mut AnyConnection,
    ctx: &NodeCtx,
    case: Case,
    plan: Option<crate::domain::handover::Plan>,
    user: Option<&Principal>,
    peer_round: Option<i64>,
    now: NaiveDateTime,
) -> Result<Case, CaseError> {
    let now = now.trunc_subsecs(6);
    if case.erased_at.is_some() {
        // Consent was withdrawn: no handover of a person whose data is gone.
        return Err(CaseError::AlreadyErased);
    }
    if case.state != State::HandoverScheduled {
        return Err(HandoverError::NotScheduled.into());
    }
    let acting = if user.is_some() {
        case.side
    } else {
        case.side.other()
    };
    let h = handovers::get(conn, case.id)?;
    let verb = if plan.is_some() {
        "counter-propose"
    } else {
        "accept"
    };
    handover::may_answer(
        h.as_ref().map(|h| h.status),
        h.as_ref().map_or(acting, |h| h.proposed_by),
        acting,
        verb,
    )?;
    // Both nodes must be answering the same proposal: an acceptance names
    // the round it accepts, a counter-proposal the round it opens.
    let current = h.as_ref().map_or(0, |h| h.round);
    let round = if plan.is_some() { current + 1 } else { current };
    if peer_round.is_some_and(|r| r != round) {
        return Err(HandoverError::RoundMismatch.into());
    }
    let params = TransitionParams {
        reason_code: None,
        outcome: None,
        comment: None,
        handover: plan.clone().map(HandoverParams::Plan),
    };
    let (kind, message, payload) = match &plan {
        Some(p) => {
            handovers::propose(conn, case.id, p, acting, now)?;
            (
                "handover_counter_proposed",
                MessageType::HandoverCounterProposal,
                json!({ "handover": p, "round": round }),
            )
        }
        None => {
            handovers::agree(conn, case.id, now)?;
            (
                "handover_agreed",
                MessageType::HandoverAcceptance,
                json!({ "round": round }),
            )
        }
    };
    let case = note_event(conn, case, kind, user, &params, now)?;
    if user.is_some() {
        peer::append_outgoing(conn, ctx, case.id, case.referral_id, message, payload, now)?;
    }
    Ok(case)
}
