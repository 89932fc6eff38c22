//! The handover negotiation: counter-proposals and acceptance of the plan,
//! by this node's users or the other node.

use crate::domain::message_type::MessageType;
use chrono::{NaiveDateTime, SubsecRound};
use serde_json::json;

use super::cases::*;
use super::exchange as peer;
use super::NodeCtx;
use crate::domain::handover::{self, HandoverError, HandoverParams, PlanStatus};
use crate::domain::lifecycle::{Action, Side, State, TransitionParams};
use crate::domain::FieldError;
use crate::store::handovers;
pub use crate::store::handovers::{get as plan, Handover};
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

/// The handover's part of a transition by `acting` (a plan proposed, the
/// departure, a confirmation), written before the state changes. The
/// recorded crossing point and time go into `params` for the timeline and
/// the message. Returns the case when this was the first of the two
/// confirmations: recorded (and sent) as such, the state stays.
#[allow(clippy::too_many_arguments)]
pub(super) fn record_step(
    conn: &mut AnyConnection,
    ctx: &NodeCtx,
    case: &Case,
    action: Action,
    acting: Side,
    params: &mut TransitionParams,
    user: Option<&Principal>,
    now: NaiveDateTime,
) -> Result<Option<Case>, CaseError> {
    match action {
        Action::ScheduleHandover => {
            let Some(HandoverParams::Plan(plan)) = &params.handover else {
                return Err(CaseError::InvalidParameters(vec![FieldError::new(
                    "handover",
                    "required",
                    "a handover is scheduled with a plan",
                )]));
            };
            handovers::propose(conn, case.id, plan, acting, now)?;
        }
        Action::Depart => {
            let h = handovers::get(conn, case.id)?.ok_or(HandoverError::NoPlan)?;
            if h.status != PlanStatus::Agreed {
                return Err(HandoverError::NotAgreed.into());
            }
            let at = handover::resolve_at(params.handover.as_ref(), &h.plan, now);
            handovers::depart(conn, case.id, &at, now)?;
            params.handover = Some(HandoverParams::At {
                crossing_point: Some(at.crossing_point),
                at: Some(at.at),
            });
        }
        Action::ConfirmHandover => {
            let h = handovers::get(conn, case.id)?.ok_or(HandoverError::NoPlan)?;
            let (mine, theirs) = match acting {
                Side::Sending => (&h.sending, &h.receiving),
                Side::Receiving => (&h.receiving, &h.sending),
            };
            if mine.is_some() {
                return Err(HandoverError::AlreadyConfirmed.into());
            }
            let at = handover::resolve_at(params.handover.as_ref(), &h.plan, now);
            handovers::confirm(conn, case.id, acting, &at, now)?;
            params.handover = Some(HandoverParams::At {
                crossing_point: Some(at.crossing_point.clone()),
                at: Some(at.at),
            });
            let Some(theirs) = theirs.clone() else {
                let case = note_event(conn, case.clone(), "handover_confirmed", user, params, now)?;
                if user.is_some() {
                    enqueue(conn, ctx, &case, action, params, now)?;
                }
                return Ok(Some(case));
            };
            let (sending, receiving) = match acting {
                Side::Sending => (at, theirs),
                Side::Receiving => (theirs, at),
            };
            if let Some(m) =
                handover::mismatch(&h.plan, h.departure.as_ref(), &sending, &receiving, 12)
            {
                handovers::flag(conn, case.id, &m, now)?;
                peer::alert(
                    conn,
                    "handover_mismatch",
                    &format!("case {}: {m}", case.reference),
                    now,
                )?;
                let mut e =
                    crate::audit::Entry::new("handover_mismatch", "system", "confirm_handover");
                e.case_id = Some(case.id.to_string());
                e.referral_id = Some(case.referral_id.to_string());
                e.outcome = "flagged".into();
                crate::store::audit::append(conn, e)?;
            }
        }
        _ => {}
    }
    Ok(None)
}

/// The liaisons' board: every case from acceptance to the handover with its
/// plan and records (`HANDOVER_STAGES`), the completed ones only while the
/// two sides' records disagree. Nothing is cut: these are the open
/// handovers, however many.
pub fn board(
    conn: &mut AnyConnection,
    now: NaiveDateTime,
) -> Result<Vec<(Case, Option<Handover>)>, CaseError> {
    use crate::domain::lifecycle::HANDOVER_STAGES;
    let mut plans = handovers::of_cases_in(conn, HANDOVER_STAGES)?;
    let filter = crate::store::cases::CaseFilter {
        states_in: Some(HANDOVER_STAGES.to_vec()),
        limit: i64::MAX,
        ..Default::default()
    };
    Ok(list(conn, &filter, now)?
        .into_iter()
        .map(|case| {
            let plan = plans.remove(&case.id);
            (case, plan)
        })
        .filter(|(case, plan)| {
            case.state != State::HandedOver || plan.as_ref().is_some_and(|h| h.mismatch.is_some())
        })
        .collect())
}
