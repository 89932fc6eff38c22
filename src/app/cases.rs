//! Referral cases: drafts, transitions, incoming referrals, the timeline.
//!
//! Every function runs inside the caller's transaction (see [`super::Db::write`]),
//! so a state change, its timeline event and the message the other node must
//! receive are committed together or not at all. Writes are guarded by the
//! case `version` (optimistic concurrency): a stale version changes nothing.

use chrono::{Datelike, NaiveDateTime, SubsecRound};
use serde_json::json;

use super::exchange as peer;
use super::NodeCtx;
use crate::domain::case::{CaseDetails, Identity};
pub use crate::domain::case_record::{Case, Event, StateChange};
use crate::domain::disclosure;
use crate::domain::envelope::hex;
use crate::domain::ids::{CaseId, CaseReference, NodeId, ReferralId};
use crate::domain::lifecycle::{
    self, Action, Actor, Side, State, TransitionError, TransitionParams,
};
use crate::domain::message_type::MessageType;
use crate::domain::FieldError;
use crate::store::cases as rows;
pub use crate::store::cases::CaseFilter;
use crate::store::idempotency;
use crate::store::users::Principal;
use crate::store::{case_events, AnyConnection, DbError};

/// Case operation errors.
#[derive(Debug, thiserror::Error)]
pub enum CaseError {
    #[error("no such case")]
    NotFound,
    #[error("the case was changed since it was read (current version {current})")]
    VersionMismatch { current: i64 },
    #[error("only drafts can be edited; this case is `{0}`")]
    NotEditable(State),
    #[error(transparent)]
    Transition(#[from] TransitionError),
    #[error("the case is not ready to be submitted")]
    Incomplete(Vec<FieldError>),
    #[error("invalid transition parameters")]
    InvalidParameters(Vec<FieldError>),
    #[error("this Idempotency-Key was used with a different request")]
    IdempotencyKeyReused,
    #[error("consent was already withdrawn and the person's data erased")]
    AlreadyErased,
    #[error(transparent)]
    Handover(#[from] crate::domain::handover::HandoverError),
    #[error("the person's consent does not cover `{0}`: this may not be shared")]
    ConsentScope(&'static str),
    #[error("report {0} was already recorded")]
    ReportExists(i64),
    #[error("{report} are recorded by the {side} side")]
    ReportWrongSide {
        report: &'static str,
        side: &'static str,
    },
    #[error("follow-ups are recorded during reintegration monitoring; the case is `{0}`")]
    NotInMonitoring(State),
    #[error(transparent)]
    Db(#[from] DbError),
}

/// The transaction itself (`Db::write`) may fail.
impl From<diesel::result::Error> for CaseError {
    fn from(e: diesel::result::Error) -> Self {
        CaseError::Db(DbError::Query(e))
    }
}

/// Loads one case with its identity block.
pub fn get(conn: &mut AnyConnection, id: CaseId) -> Result<Case, CaseError> {
    rows::get(conn, id)?.ok_or(CaseError::NotFound)
}

/// Lists cases, newest first. Identity blocks are not loaded.
pub fn list(
    conn: &mut AnyConnection,
    filter: &CaseFilter,
    now: NaiveDateTime,
) -> Result<Vec<Case>, CaseError> {
    Ok(rows::list(conn, filter, now)?)
}

/// The timeline of a case, oldest first.
pub fn events(conn: &mut AnyConnection, id: CaseId) -> Result<Vec<Event>, CaseError> {
    Ok(case_events::list(conn, id)?)
}

/// Everything needed to open a draft.
pub struct NewDraft {
    pub node: NodeId,
    pub details: CaseDetails,
    pub identity: Option<Identity>,
    /// `(Idempotency-Key, digest of the request)`.
    pub idempotency: Option<(String, String)>,
}

/// Result of [`create_draft`].
pub struct Created {
    pub case: Case,
    /// True when an earlier request with the same Idempotency-Key created it.
    pub replayed: bool,
}

/// Digest identifying a create request, for Idempotency-Key checks.
pub fn request_digest(
    details: &CaseDetails,
    identity: Option<&Identity>,
) -> Result<String, DbError> {
    let body = rows::to_json(&json!({ "details": details, "identity": identity }))?;
    Ok(hex(&openssl::sha::sha256(body.as_bytes())))
}

/// A fresh reference not yet used on this node. Six random base32
/// characters per country and year leave about a billion values, so
/// collisions are rare but certain at scale: draw again when one is taken.
fn random_reference(
    conn: &mut AnyConnection,
    node: NodeId,
    now: NaiveDateTime,
) -> Result<CaseReference, DbError> {
    for _ in 0..16 {
        let mut random = [0u8; 6];
        openssl::rand::rand_bytes(&mut random)
            .map_err(|e| DbError::Corrupt(format!("no randomness: {e}")))?;
        let candidate = CaseReference::generate(node, now.year(), random);
        if !rows::reference_taken(conn, &candidate)? {
            return Ok(candidate);
        }
    }
    Err(DbError::Corrupt(
        "could not draw an unused case reference".into(),
    ))
}

/// A case this node has just opened or received, at version 1.
#[allow(clippy::too_many_arguments)]
fn fresh_case(
    referral_id: ReferralId,
    reference: CaseReference,
    side: Side,
    state: State,
    counterpart: NodeId,
    details: CaseDetails,
    identity: Option<Identity>,
    created_by: Option<&Principal>,
    due_at: Option<NaiveDateTime>,
    now: NaiveDateTime,
) -> Case {
    Case {
        id: CaseId::new(),
        referral_id,
        reference,
        side,
        state,
        hold_from: None,
        version: 1,
        counterpart,
        details,
        identity,
        created_by: created_by.map(|u| u.user_id),
        created_at: now,
        updated_at: now,
        state_changed_at: now,
        due_at,
        closure_outcome: None,
        reason_code: None,
        erased_at: None,
    }
}

/// Opens a new outgoing referral as a draft.
pub fn create_draft(
    conn: &mut AnyConnection,
    draft: NewDraft,
    actor: &Principal,
    now: NaiveDateTime,
) -> Result<Created, CaseError> {
    let now = now.trunc_subsecs(6);
    if let Some((key, digest)) = &draft.idempotency {
        if let Some((earlier, id)) = idempotency::idempotent_case(conn, actor.user_id, key)? {
            if !openssl::memcmp::eq(earlier.as_bytes(), digest.as_bytes()) {
                return Err(CaseError::IdempotencyKeyReused);
            }
            return Ok(Created {
                case: get(conn, id)?,
                replayed: true,
            });
        }
    }
    let case = fresh_case(
        ReferralId::new(),
        random_reference(conn, draft.node, now)?,
        Side::Sending,
        State::Draft,
        draft.node.counterpart(),
        draft.details,
        draft.identity,
        Some(actor),
        None,
        now,
    );
    rows::insert(conn, &case)?;
    record_event(conn, &case, "created", None, Some(actor), None)?;
    if let Some((key, digest)) = draft.idempotency {
        idempotency::remember_idempotency(conn, actor.user_id, key, digest, case.id, now)?;
    }
    Ok(Created {
        case,
        replayed: false,
    })
}

pub(super) fn check_version(case: &Case, expected: i64) -> Result<(), CaseError> {
    if case.version != expected {
        return Err(CaseError::VersionMismatch {
            current: case.version,
        });
    }
    Ok(())
}

/// Fails with the version the case is at when a guarded write found it changed.
pub(super) fn written(done: bool, case: &Case) -> Result<(), CaseError> {
    if done {
        Ok(())
    } else {
        Err(CaseError::VersionMismatch {
            current: case.version,
        })
    }
}

/// Replaces a draft's details and identity block.
pub fn update_draft(
    conn: &mut AnyConnection,
    id: CaseId,
    expected_version: i64,
    details: CaseDetails,
    identity: Option<Identity>,
    actor: &Principal,
    now: NaiveDateTime,
) -> Result<Case, CaseError> {
    let now = now.trunc_subsecs(6);
    let case = get(conn, id)?;
    check_version(&case, expected_version)?;
    if case.state != State::Draft || case.side != Side::Sending {
        return Err(CaseError::NotEditable(case.state));
    }
    written(
        rows::update_details(conn, id, expected_version, &details, now)?,
        &case,
    )?;
    rows::set_identity(conn, id, identity.as_ref(), now)?;
    let case = Case {
        details,
        identity,
        version: case.version + 1,
        updated_at: now,
        ..case
    };
    record_event(conn, &case, "edited", Some(State::Draft), Some(actor), None)?;
    Ok(case)
}

/// Applies a lifecycle transition asked for by a user of this node.
#[allow(clippy::too_many_arguments)]
pub fn transition(
    conn: &mut AnyConnection,
    ctx: &NodeCtx,
    id: CaseId,
    expected_version: i64,
    action: Action,
    params: TransitionParams,
    actor: &Principal,
    now: NaiveDateTime,
) -> Result<Case, CaseError> {
    let case = get(conn, id)?;
    check_version(&case, expected_version)?;
    apply(
        conn,
        ctx,
        case,
        action,
        params,
        Actor::User(actor.role),
        Some(actor),
        now,
    )
}

/// This node's copy of a referral, if it has one.
pub fn find_by_referral(
    conn: &mut AnyConnection,
    referral_id: ReferralId,
) -> Result<Option<Case>, CaseError> {
    match rows::id_by_referral(conn, referral_id)? {
        Some(id) => Ok(Some(get(conn, id)?)),
        None => Ok(None),
    }
}

/// Applies a transition reported by the other node (or its receipt).
pub fn apply_from_peer(
    conn: &mut AnyConnection,
    ctx: &NodeCtx,
    referral_id: ReferralId,
    action: Action,
    params: TransitionParams,
    now: NaiveDateTime,
) -> Result<Case, CaseError> {
    // The other node never approves here, the one step that sends the
    // identity block: it is left sealed.
    let case = rows::by_referral_without_identity(conn, referral_id)?.ok_or(CaseError::NotFound)?;
    apply(conn, ctx, case, action, params, Actor::Peer, None, now)
}

#[allow(clippy::too_many_arguments)]
pub(super) fn apply(
    conn: &mut AnyConnection,
    ctx: &NodeCtx,
    case: Case,
    action: Action,
    params: TransitionParams,
    actor: Actor,
    user: Option<&Principal>,
    now: NaiveDateTime,
) -> Result<Case, CaseError> {
    // Timestamps at the precision both backends store, so that the case
    // returned below equals what a later read gives.
    let now = now.trunc_subsecs(6);
    let decision = lifecycle::decide(action, case.state, case.hold_from, case.side, actor)?;
    if case.erased_at.is_some() && !lifecycle::allowed_after_erasure(action) {
        // Consent was withdrawn: only the steps that end the case remain.
        return Err(CaseError::AlreadyErased);
    }
    let mut params = params;
    // The side that acts: this node for a user, the other for the peer.
    let acting = match actor {
        Actor::User(_) => case.side,
        Actor::Peer => case.side.other(),
    };
    if let Some(first) =
        super::handover::record_step(conn, ctx, &case, action, acting, &mut params, user, now)?
    {
        // The first of the two confirmations: the handover is not complete
        // until the other side confirms too.
        return Ok(first);
    }
    if action == Action::Submit {
        case.details
            .check_ready(crate::domain::deadlines::local_date(now))
            .map_err(CaseError::Incomplete)?;
    }
    let hold_from = match decision.to {
        State::OnHold => decision.hold_from,
        _ => None,
    };
    let outcome = if decision.to == State::Closed {
        params.outcome.clone()
    } else {
        case.closure_outcome.clone()
    };
    let next = StateChange {
        to: decision.to,
        hold_from,
        closure_outcome: outcome,
        reason_code: params.reason_code.clone(),
        due_at: ctx.deadlines.limit(decision.to).map(|d| now + d),
    };
    let from = case.state;
    let case = write_state(conn, case, next, now)?;
    record_event(
        conn,
        &case,
        action.as_str(),
        Some(from),
        user,
        Some(&params),
    )?;
    if decision.notify_peer {
        enqueue(conn, ctx, &case, action, &params, now)?;
    }
    Ok(case)
}

/// Writes `case`'s new state if it is still at the version it was read at
/// (its step's time limit restarts) and returns the case as written.
fn write_state(
    conn: &mut AnyConnection,
    case: Case,
    next: StateChange,
    now: NaiveDateTime,
) -> Result<Case, CaseError> {
    written(
        rows::write_state(conn, case.id, case.version, &next, now)?,
        &case,
    )?;
    Ok(Case {
        state: next.to,
        hold_from: next.hold_from,
        version: case.version + 1,
        updated_at: now,
        state_changed_at: now,
        due_at: next.due_at,
        closure_outcome: next.closure_outcome,
        reason_code: next.reason_code,
        ..case
    })
}

/// Puts this node's copy of a shared case in the state the other node holds,
/// when the two disagree and the other side is authoritative (see
/// `domain::convergence`). Recorded on the timeline (`resynchronised`, by the
/// peer) and in the audit log; nothing is sent.
pub fn resynchronise(
    conn: &mut AnyConnection,
    ctx: &NodeCtx,
    id: CaseId,
    to: State,
    hold_from: Option<State>,
    now: NaiveDateTime,
) -> Result<Case, CaseError> {
    let now = now.trunc_subsecs(6);
    let case = get(conn, id)?;
    let from = case.state;
    let next = StateChange {
        to,
        hold_from: if to == State::OnHold { hold_from } else { None },
        closure_outcome: case.closure_outcome.clone(),
        reason_code: case.reason_code.clone(),
        due_at: ctx.deadlines.limit(to).map(|d| now + d),
    };
    let case = write_state(conn, case, next, now)?;
    record_event(conn, &case, "resynchronised", Some(from), None, None)?;
    let mut e = crate::audit::Entry::new("case_resynchronised", "system", "convergence");
    e.case_id = Some(case.id.to_string());
    e.referral_id = Some(case.referral_id.to_string());
    e.outcome = to.as_str().to_owned();
    e.code = Some(from.as_str().to_owned());
    crate::store::audit::append(conn, e)?;
    Ok(case)
}

/// A timeline entry by `user` (or the peer) that does not change the state.
pub(super) fn note_event(
    conn: &mut AnyConnection,
    case: Case,
    kind: &str,
    user: Option<&Principal>,
    params: &TransitionParams,
    now: NaiveDateTime,
) -> Result<Case, CaseError> {
    written(rows::bump_version(conn, case.id, case.version, now)?, &case)?;
    let case = Case {
        version: case.version + 1,
        updated_at: now,
        ..case
    };
    record_event(conn, &case, kind, Some(case.state), user, Some(params))?;
    Ok(case)
}

/// Adds a timeline entry that does not change the state (e.g. the other
/// node rejected one of our messages).
pub fn annotate(
    conn: &mut AnyConnection,
    id: CaseId,
    kind: &str,
    reason_code: Option<String>,
    now: NaiveDateTime,
) -> Result<(), CaseError> {
    let case = get(conn, id)?;
    let params = TransitionParams {
        reason_code,
        outcome: None,
        comment: None,
        handover: None,
    };
    note_event(conn, case, kind, None, &params, now)?;
    Ok(())
}

/// Writes the message the other node must receive, in the caller's transaction.
pub(super) fn enqueue(
    conn: &mut AnyConnection,
    ctx: &NodeCtx,
    case: &Case,
    action: Action,
    params: &TransitionParams,
    now: NaiveDateTime,
) -> Result<(), DbError> {
    let payload = if action == Action::Approve {
        // The referral itself, with only what the consent covers.
        let mut payload = json!({
            "reference": case.reference,
            "details": case.details,
            "identity": case.identity,
        });
        let stripped = disclosure::strip(&mut payload)
            .map_err(|e| DbError::Corrupt(format!("the consent gate refused the referral: {e}")))?;
        if !stripped.is_empty() {
            tracing::info!(case = %case.id, fields = ?stripped, "fields beyond the consent's scope kept back");
        }
        payload
    } else {
        peer::transition_payload(action, params)
    };
    // The receiving side's confirmation of the handover is the arrival.
    let message_type = MessageType::for_step(action, case.side == Side::Receiving);
    peer::append_outgoing(
        conn,
        ctx,
        case.id,
        case.referral_id,
        message_type,
        payload,
        now,
    )?;
    Ok(())
}

/// Records `case`'s current version on its timeline: `kind` moved it from
/// `from` to its state, by `user` (else the peer).
pub(super) fn record_event(
    conn: &mut AnyConnection,
    case: &Case,
    kind: &str,
    from: Option<State>,
    user: Option<&Principal>,
    params: Option<&TransitionParams>,
) -> Result<(), DbError> {
    super::statistics::case_moved(conn, case, from)?;
    case_events::insert(
        conn,
        case.id,
        &Event {
            version: case.version,
            at: case.updated_at,
            kind: kind.into(),
            from_state: from,
            to_state: case.state,
            actor_kind: if user.is_some() { "user" } else { "peer" }.into(),
            actor_user_id: user.map(|u| u.user_id),
            actor_role: user.map(|u| u.role.as_str().into()),
            reason_code: params.and_then(|p| p.reason_code.clone()),
            outcome: params.and_then(|p| p.outcome.clone()),
            comment: params.and_then(|p| p.comment.clone()),
        },
    )
}

/// A referral received from the other node: creates this node's copy of the
/// case, linked by the referral id, in state `received`.
#[allow(clippy::too_many_arguments)]
pub fn insert_incoming(
    conn: &mut AnyConnection,
    ctx: &NodeCtx,
    referral_id: ReferralId,
    reference: CaseReference,
    from_node: NodeId,
    details: CaseDetails,
    identity: Option<Identity>,
    now: NaiveDateTime,
) -> Result<Case, CaseError> {
    let now = now.trunc_subsecs(6);
    let case = fresh_case(
        referral_id,
        reference,
        Side::Receiving,
        State::Received,
        from_node,
        details,
        identity,
        None,
        ctx.deadlines.limit(State::Received).map(|d| now + d),
        now,
    );
    rows::insert(conn, &case)?;
    record_event(conn, &case, "received", None, None, None)?;
    Ok(case)
}
