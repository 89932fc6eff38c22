//! Referral cases: drafts, transitions, the timeline and the outbox.
//!
//! Every function runs inside the caller's transaction (see [`super::Db::write`]),
//! so a state change, its timeline event and the message the other node must
//! receive are committed together or not at all. Writes are guarded by the
//! case `version` (optimistic concurrency): a stale version changes nothing.

use crate::domain::message_type::MessageType;
use chrono::{Datelike, NaiveDateTime, SubsecRound};
use diesel::prelude::*;
use serde_json::json;

use super::exchange as peer;
use super::NodeCtx;
use crate::domain::case::{CaseDetails, Identity};
use crate::domain::disclosure;
use crate::domain::envelope::hex;
use crate::domain::handover::{self, AtCrossing, HandoverError, HandoverParams, PlanStatus};
use crate::domain::ids::{CaseId, CaseReference, MessageId, NodeId, ReferralId, UserId};
use crate::domain::lifecycle::{
    self, Action, Actor, Side, State, TransitionError, TransitionParams,
};
use crate::domain::FieldError;
use crate::store::handovers;
use crate::store::models::{CaseRow, EventRow, IdempotencyRow, IdentityRow};
use crate::store::schema::{case_events, case_identities, cases, idempotency_keys};
use crate::store::users::Principal;
use crate::store::{AnyConnection, DbError};

/// A case as stored, parsed.
#[derive(Debug, Clone)]
pub struct Case {
    pub id: CaseId,
    pub referral_id: ReferralId,
    pub reference: CaseReference,
    /// `Sending` for an outgoing referral, `Receiving` for an incoming one.
    pub side: Side,
    pub state: State,
    pub hold_from: Option<State>,
    pub version: i64,
    pub counterpart: NodeId,
    pub details: CaseDetails,
    pub identity: Option<Identity>,
    pub created_by: Option<UserId>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub state_changed_at: NaiveDateTime,
    pub due_at: Option<NaiveDateTime>,
    pub closure_outcome: Option<String>,
    pub reason_code: Option<String>,
    /// When the person's data was erased (consent withdrawn).
    pub erased_at: Option<NaiveDateTime>,
}

impl Case {
    pub fn is_overdue(&self, now: NaiveDateTime) -> bool {
        self.due_at.is_some_and(|d| d < now) && !self.state.is_terminal()
    }
}

/// One entry of a case's timeline.
#[derive(Debug, Clone)]
pub struct Event {
    pub version: i64,
    pub at: NaiveDateTime,
    /// `created`, `edited`, or a transition action.
    pub kind: String,
    pub from_state: Option<State>,
    pub to_state: State,
    /// `user` or `peer`.
    pub actor_kind: String,
    pub actor_user_id: Option<UserId>,
    pub actor_role: Option<String>,
    pub reason_code: Option<String>,
    pub outcome: Option<String>,
    pub comment: Option<String>,
}

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

impl From<diesel::result::Error> for CaseError {
    fn from(e: diesel::result::Error) -> Self {
        CaseError::Db(DbError::Query(e))
    }
}

fn corrupt(what: &str, value: &str) -> DbError {
    DbError::Corrupt(format!("{what} `{value}`"))
}

fn parse_state(s: &str) -> Result<State, DbError> {
    State::parse(s).ok_or_else(|| corrupt("state", s))
}

fn direction(side: Side) -> &'static str {
    match side {
        Side::Sending => "outgoing",
        Side::Receiving => "incoming",
    }
}

fn parse_row(row: CaseRow, identity: Option<IdentityRow>) -> Result<Case, DbError> {
    Ok(Case {
        id: row.id.parse().map_err(|_| corrupt("case id", &row.id))?,
        referral_id: row
            .referral_id
            .parse()
            .map_err(|_| corrupt("referral id", &row.referral_id))?,
        reference: CaseReference::parse(&row.reference).map_err(DbError::Corrupt)?,
        side: match row.direction.as_str() {
            "outgoing" => Side::Sending,
            "incoming" => Side::Receiving,
            other => return Err(corrupt("direction", other)),
        },
        state: parse_state(&row.state)?,
        hold_from: row
            .hold_from_state
            .as_deref()
            .map(parse_state)
            .transpose()?,
        version: row.version,
        counterpart: NodeId::parse(&row.counterpart_node).map_err(DbError::Corrupt)?,
        details: serde_json::from_str(&row.details)
            .map_err(|e| DbError::Corrupt(format!("case details: {e}")))?,
        identity: identity
            .map(|i| serde_json::from_str(&i.identity))
            .transpose()
            .map_err(|e| DbError::Corrupt(format!("identity: {e}")))?,
        created_by: row
            .created_by
            .as_deref()
            .map(|u| u.parse().map_err(|_| corrupt("user id", u)))
            .transpose()?,
        created_at: row.created_at,
        updated_at: row.updated_at,
        state_changed_at: row.state_changed_at,
        due_at: row.due_at,
        closure_outcome: row.closure_outcome,
        reason_code: row.reason_code,
        erased_at: None,
    })
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String, DbError> {
    serde_json::to_string(value).map_err(|e| DbError::Corrupt(format!("cannot serialise: {e}")))
}

/// Loads one case with its identity block.
pub fn get(conn: &mut AnyConnection, id: CaseId) -> Result<Case, CaseError> {
    let row: CaseRow = cases::table
        .find(id.to_string())
        .select(CaseRow::as_select())
        .first(conn)
        .optional()?
        .ok_or(CaseError::NotFound)?;
    let identity: Option<IdentityRow> = case_identities::table
        .find(id.to_string())
        .select(IdentityRow::as_select())
        .first(conn)
        .optional()?;
    let mut case = parse_row(row, identity)?;
    case.erased_at = erasure(conn, id)?.map(|(at, _)| at);
    Ok(case)
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
    let body = to_json(&json!({ "details": details, "identity": identity }))?;
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
        let taken: i64 = cases::table
            .filter(cases::reference.eq(candidate.as_str()))
            .count()
            .get_result(conn)?;
        if taken == 0 {
            return Ok(candidate);
        }
    }
    Err(DbError::Corrupt(
        "could not draw an unused case reference".into(),
    ))
}

/// Opens a new outgoing referral as a draft.
pub fn create_draft(
    conn: &mut AnyConnection,
    draft: NewDraft,
    actor: &Principal,
    now: NaiveDateTime,
) -> Result<Created, CaseError> {
    if let Some((key, digest)) = &draft.idempotency {
        let earlier: Option<IdempotencyRow> = idempotency_keys::table
            .find((actor.user_id.to_string(), key))
            .select(IdempotencyRow::as_select())
            .first(conn)
            .optional()?;
        if let Some(earlier) = earlier {
            if !openssl::memcmp::eq(earlier.request_hash.as_bytes(), digest.as_bytes()) {
                return Err(CaseError::IdempotencyKeyReused);
            }
            let id = earlier
                .case_id
                .parse()
                .map_err(|_| corrupt("case id", &earlier.case_id))?;
            return Ok(Created {
                case: get(conn, id)?,
                replayed: true,
            });
        }
    }
    let id = CaseId::new();
    let row = CaseRow {
        id: id.to_string(),
        referral_id: ReferralId::new().to_string(),
        reference: random_reference(conn, draft.node, now)?.to_string(),
        direction: direction(Side::Sending).into(),
        state: State::Draft.as_str().into(),
        hold_from_state: None,
        version: 1,
        counterpart_node: draft.node.counterpart().as_str().into(),
        details: to_json(&draft.details)?,
        created_by: Some(actor.user_id.to_string()),
        created_at: now,
        updated_at: now,
        state_changed_at: now,
        due_at: None,
        closure_outcome: None,
        reason_code: None,
    };
    diesel::insert_into(cases::table)
        .values(&row)
        .execute(conn)?;
    if let Some(identity) = &draft.identity {
        diesel::insert_into(case_identities::table)
            .values(IdentityRow {
                case_id: row.id.clone(),
                identity: to_json(identity)?,
                updated_at: now,
            })
            .execute(conn)?;
    }
    record_event(
        conn,
        id,
        1,
        now,
        "created",
        None,
        State::Draft,
        Some(actor),
        None,
    )?;
    if let Some((key, digest)) = draft.idempotency {
        diesel::insert_into(idempotency_keys::table)
            .values(IdempotencyRow {
                user_id: actor.user_id.to_string(),
                idem_key: key,
                request_hash: digest,
                case_id: row.id.clone(),
                created_at: now,
            })
            .execute(conn)?;
    }
    Ok(Created {
        case: get(conn, id)?,
        replayed: false,
    })
}

fn check_version(case: &Case, expected: i64) -> Result<(), CaseError> {
    if case.version != expected {
        return Err(CaseError::VersionMismatch {
            current: case.version,
        });
    }
    Ok(())
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
    let case = get(conn, id)?;
    check_version(&case, expected_version)?;
    if case.state != State::Draft || case.side != Side::Sending {
        return Err(CaseError::NotEditable(case.state));
    }
    let version = case.version + 1;
    let n = diesel::update(
        cases::table
            .filter(cases::id.eq(id.to_string()))
            .filter(cases::version.eq(expected_version)),
    )
    .set((
        cases::details.eq(to_json(&details)?),
        cases::version.eq(version),
        cases::updated_at.eq(now),
    ))
    .execute(conn)?;
    if n != 1 {
        return Err(CaseError::VersionMismatch {
            current: case.version,
        });
    }
    diesel::delete(case_identities::table.find(id.to_string())).execute(conn)?;
    if let Some(identity) = &identity {
        diesel::insert_into(case_identities::table)
            .values(IdentityRow {
                case_id: id.to_string(),
                identity: to_json(identity)?,
                updated_at: now,
            })
            .execute(conn)?;
    }
    record_event(
        conn,
        id,
        version,
        now,
        "edited",
        Some(State::Draft),
        State::Draft,
        Some(actor),
        None,
    )?;
    get(conn, id)
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
    let id: Option<String> = cases::table
        .filter(cases::referral_id.eq(referral_id.to_string()))
        .select(cases::id)
        .first(conn)
        .optional()?;
    match id {
        Some(id) => Ok(Some(get(
            conn,
            id.parse().map_err(|_| corrupt("case id", &id))?,
        )?)),
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
    let case = find_by_referral(conn, referral_id)?.ok_or(CaseError::NotFound)?;
    apply(conn, ctx, case, action, params, Actor::Peer, None, now)
}

#[allow(clippy::too_many_arguments)]
fn apply(
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
            let at = resolve_at(params.handover.as_ref(), &h.plan, now);
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
            let at = resolve_at(params.handover.as_ref(), &h.plan, now);
            handovers::confirm(conn, case.id, acting, &at, now)?;
            params.handover = Some(HandoverParams::At {
                crossing_point: Some(at.crossing_point.clone()),
                at: Some(at.at),
            });
            let Some(theirs) = theirs.clone() else {
                // The first of the two confirmations: the handover is not
                // complete until the other side confirms too.
                let case = note_event(conn, case, "handover_confirmed", user, &params, now)?;
                if actor != Actor::Peer {
                    enqueue(conn, ctx, &case, action, &params, now)?;
                }
                return Ok(case);
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
    if action == Action::Submit {
        case.details
            .check_ready(now.date())
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
    let (version, due_at) = write_state(
        conn,
        ctx,
        &case,
        NewState {
            to: decision.to,
            hold_from,
            closure_outcome: outcome.clone(),
            reason_code: params.reason_code.clone(),
        },
        now,
    )?;
    record_event(
        conn,
        case.id,
        version,
        now,
        action.as_str(),
        Some(decision.from),
        decision.to,
        user,
        Some(&params),
    )?;
    if decision.notify_peer {
        enqueue(conn, ctx, &case, action, &params, now)?;
    }
    // What was just written, without reading it back.
    Ok(Case {
        state: decision.to,
        hold_from,
        version,
        updated_at: now,
        state_changed_at: now,
        due_at,
        closure_outcome: outcome,
        reason_code: params.reason_code,
        ..case
    })
}

/// A case's next state and what goes with it.
struct NewState {
    to: State,
    hold_from: Option<State>,
    closure_outcome: Option<String>,
    reason_code: Option<String>,
}

/// Writes `case`'s new state if it is still at the version it was read at
/// (its step's time limit restarts): returns the new version and due date.
fn write_state(
    conn: &mut AnyConnection,
    ctx: &NodeCtx,
    case: &Case,
    next: NewState,
    now: NaiveDateTime,
) -> Result<(i64, Option<NaiveDateTime>), CaseError> {
    let version = case.version + 1;
    let due_at = ctx.deadlines.limit(next.to).map(|d| now + d);
    let n = diesel::update(
        cases::table
            .filter(cases::id.eq(case.id.to_string()))
            .filter(cases::version.eq(case.version)),
    )
    .set((
        cases::state.eq(next.to.as_str()),
        cases::hold_from_state.eq(next.hold_from.map(State::as_str)),
        cases::version.eq(version),
        cases::updated_at.eq(now),
        cases::state_changed_at.eq(now),
        cases::due_at.eq(due_at),
        cases::closure_outcome.eq(next.closure_outcome),
        cases::reason_code.eq(next.reason_code),
    ))
    .execute(conn)?;
    if n != 1 {
        return Err(CaseError::VersionMismatch {
            current: case.version,
        });
    }
    Ok((version, due_at))
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
    let hold_from = if to == State::OnHold { hold_from } else { None };
    let (version, due_at) = write_state(
        conn,
        ctx,
        &case,
        NewState {
            to,
            hold_from,
            closure_outcome: case.closure_outcome.clone(),
            reason_code: case.reason_code.clone(),
        },
        now,
    )?;
    record_event(
        conn,
        case.id,
        version,
        now,
        "resynchronised",
        Some(case.state),
        to,
        None,
        None,
    )?;
    let mut e = crate::audit::Entry::new("case_resynchronised", "system", "convergence");
    e.case_id = Some(case.id.to_string());
    e.referral_id = Some(case.referral_id.to_string());
    e.outcome = to.as_str().to_owned();
    e.code = Some(case.state.as_str().to_owned());
    crate::store::audit::append(conn, e)?;
    Ok(Case {
        state: to,
        hold_from,
        version,
        updated_at: now,
        state_changed_at: now,
        due_at,
        ..case
    })
}

/// Where and when a liaison's record happened: what was given, else the
/// agreed plan's crossing point and now.
fn resolve_at(
    given: Option<&HandoverParams>,
    plan: &crate::domain::handover::Plan,
    now: NaiveDateTime,
) -> AtCrossing {
    let (cp, at) = match given {
        Some(HandoverParams::At { crossing_point, at }) => (crossing_point.clone(), *at),
        _ => (None, None),
    };
    AtCrossing {
        at: at.unwrap_or_else(|| chrono::TimeZone::from_utc_datetime(&chrono::Utc, &now)),
        crossing_point: cp.unwrap_or_else(|| plan.crossing_point.clone()),
    }
}

/// A timeline entry by `user` (or the peer) that does not change the state.
fn note_event(
    conn: &mut AnyConnection,
    case: Case,
    kind: &str,
    user: Option<&Principal>,
    params: &TransitionParams,
    now: NaiveDateTime,
) -> Result<Case, CaseError> {
    let version = case.version + 1;
    let n = diesel::update(
        cases::table
            .filter(cases::id.eq(case.id.to_string()))
            .filter(cases::version.eq(case.version)),
    )
    .set((cases::version.eq(version), cases::updated_at.eq(now)))
    .execute(conn)?;
    if n != 1 {
        return Err(CaseError::VersionMismatch {
            current: case.version,
        });
    }
    record_event(
        conn,
        case.id,
        version,
        now,
        kind,
        Some(case.state),
        case.state,
        user,
        Some(params),
    )?;
    Ok(Case {
        version,
        updated_at: now,
        ..case
    })
}

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
    let version = case.version + 1;
    diesel::update(
        cases::table
            .filter(cases::id.eq(id.to_string()))
            .filter(cases::version.eq(case.version)),
    )
    .set((cases::version.eq(version), cases::updated_at.eq(now)))
    .execute(conn)?;
    let params = TransitionParams {
        reason_code,
        outcome: None,
        comment: None,
        handover: None,
    };
    record_event(
        conn,
        id,
        version,
        now,
        kind,
        Some(case.state),
        case.state,
        None,
        Some(&params),
    )?;
    Ok(())
}

/// Writes the message the other node must receive, in the caller's transaction.
fn enqueue(
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

#[allow(clippy::too_many_arguments)]
fn record_event(
    conn: &mut AnyConnection,
    case_id: CaseId,
    version: i64,
    at: NaiveDateTime,
    kind: &str,
    from: Option<State>,
    to: State,
    user: Option<&Principal>,
    params: Option<&TransitionParams>,
) -> Result<(), DbError> {
    diesel::insert_into(case_events::table)
        .values(EventRow {
            id: MessageId::new().to_string(),
            case_id: case_id.to_string(),
            version,
            at,
            kind: kind.into(),
            from_state: from.map(|s| s.as_str().into()),
            to_state: to.as_str().into(),
            actor_kind: if user.is_some() { "user" } else { "peer" }.into(),
            actor_user_id: user.map(|u| u.user_id.to_string()),
            actor_role: user.map(|u| u.role.as_str().into()),
            reason_code: params.and_then(|p| p.reason_code.clone()),
            outcome: params.and_then(|p| p.outcome.clone()),
            comment: params.and_then(|p| p.comment.clone()),
        })
        .execute(conn)?;
    Ok(())
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
    let id = CaseId::new();
    let row = CaseRow {
        id: id.to_string(),
        referral_id: referral_id.to_string(),
        reference: reference.to_string(),
        direction: direction(Side::Receiving).into(),
        state: State::Received.as_str().into(),
        hold_from_state: None,
        version: 1,
        counterpart_node: from_node.as_str().into(),
        details: to_json(&details)?,
        created_by: None,
        created_at: now,
        updated_at: now,
        state_changed_at: now,
        due_at: ctx.deadlines.limit(State::Received).map(|d| now + d),
        closure_outcome: None,
        reason_code: None,
    };
    diesel::insert_into(cases::table)
        .values(&row)
        .execute(conn)?;
    if let Some(identity) = &identity {
        diesel::insert_into(case_identities::table)
            .values(IdentityRow {
                case_id: row.id.clone(),
                identity: to_json(identity)?,
                updated_at: now,
            })
            .execute(conn)?;
    }
    record_event(
        conn,
        id,
        1,
        now,
        "received",
        None,
        State::Received,
        None,
        None,
    )?;
    Ok(Case {
        id,
        referral_id,
        reference,
        side: Side::Receiving,
        state: State::Received,
        hold_from: None,
        version: 1,
        counterpart: from_node,
        details,
        identity,
        created_by: None,
        created_at: now,
        updated_at: now,
        state_changed_at: now,
        due_at: row.due_at,
        closure_outcome: None,
        reason_code: None,
        erased_at: None,
    })
}

/// Filters for [`list`].
#[derive(Debug, Clone, Default)]
pub struct CaseFilter {
    pub state: Option<State>,
    /// Restrict to these states (e.g. the handover stages for liaisons).
    pub states_in: Option<Vec<State>>,
    pub side: Option<Side>,
    pub created_from: Option<NaiveDateTime>,
    pub created_to: Option<NaiveDateTime>,
    /// `Some(true)`: only overdue; `Some(false)`: only not overdue.
    pub overdue: Option<bool>,
    /// Cursor: return cases created before this one (newest first).
    pub before: Option<CaseId>,
    pub limit: i64,
    /// Only the case with this reference (as the agencies quote it).
    pub reference: Option<String>,
    /// Only the copy of this shared referral.
    pub referral_id: Option<ReferralId>,
    /// Only cases whose person's given, family or other names contain this
    /// (case-insensitive). Callers check the role may see names.
    pub name: Option<String>,
}

/// Most cases a name search considers.
const NAME_MATCHES: usize = 1000;

/// Ids of the cases whose person's names contain `term` (case-insensitive).
fn cases_named(conn: &mut AnyConnection, term: &str) -> Result<Vec<String>, CaseError> {
    diesel::define_sql_function!(fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text);
    let needle = term.trim().to_lowercase();
    // A coarse filter in SQL (the identity block is JSON text), then the
    // names themselves, so that keys or other fields never match.
    let pattern = format!(
        "%{}%",
        needle
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_")
    );
    let rows: Vec<(String, String)> = case_identities::table
        .filter(lower(case_identities::identity).like(pattern).escape('\\'))
        .select((case_identities::case_id, case_identities::identity))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter(|(_, json)| {
            serde_json::from_str::<Identity>(json).is_ok_and(|i| {
                [i.given_name, i.family_name, i.other_names]
                    .into_iter()
                    .flatten()
                    .any(|n| n.to_lowercase().contains(&needle))
            })
        })
        .map(|(id, _)| id)
        .take(NAME_MATCHES)
        .collect())
}

/// Lists cases, newest first (ids are time-ordered UUIDv7). Identity blocks
/// are not loaded.
pub fn list(
    conn: &mut AnyConnection,
    filter: &CaseFilter,
    now: NaiveDateTime,
) -> Result<Vec<Case>, CaseError> {
    let mut q = cases::table.select(CaseRow::as_select()).into_boxed();
    if let Some(r) = &filter.reference {
        q = q.filter(cases::reference.eq(r.trim().to_uppercase()));
    }
    if let Some(r) = filter.referral_id {
        q = q.filter(cases::referral_id.eq(r.to_string()));
    }
    if let Some(term) = &filter.name {
        q = q.filter(cases::id.eq_any(cases_named(conn, term)?));
    }
    if let Some(s) = filter.state {
        q = q.filter(cases::state.eq(s.as_str()));
    }
    if let Some(states) = &filter.states_in {
        q = q.filter(cases::state.eq_any(states.iter().map(|s| s.as_str()).collect::<Vec<_>>()));
    }
    if let Some(side) = filter.side {
        q = q.filter(cases::direction.eq(direction(side)));
    }
    if let Some(from) = filter.created_from {
        q = q.filter(cases::created_at.ge(from));
    }
    if let Some(to) = filter.created_to {
        q = q.filter(cases::created_at.lt(to));
    }
    let terminal: Vec<&str> = State::ALL
        .iter()
        .filter(|s| s.is_terminal())
        .map(|s| s.as_str())
        .collect();
    match filter.overdue {
        Some(true) => {
            q = q
                .filter(cases::due_at.lt(now))
                .filter(cases::state.ne_all(terminal))
        }
        Some(false) => {
            q = q.filter(
                cases::due_at
                    .is_null()
                    .or(cases::due_at.ge(now))
                    .or(cases::state.eq_any(terminal)),
            )
        }
        None => {}
    }
    if let Some(before) = filter.before {
        q = q.filter(cases::id.lt(before.to_string()));
    }
    let rows: Vec<CaseRow> = q.order(cases::id.desc()).limit(filter.limit).load(conn)?;
    let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    let erased: std::collections::HashMap<String, NaiveDateTime> = {
        use crate::store::schema::case_erasures;
        case_erasures::table
            .filter(case_erasures::case_id.eq_any(&ids))
            .select((case_erasures::case_id, case_erasures::erased_at))
            .load::<(String, NaiveDateTime)>(conn)?
            .into_iter()
            .collect()
    };
    rows.into_iter()
        .map(|r| {
            let at = erased.get(&r.id).copied();
            let mut case = parse_row(r, None)?;
            case.erased_at = at;
            Ok(case)
        })
        .collect()
}

/// The timeline of a case, oldest first.
pub fn events(conn: &mut AnyConnection, id: CaseId) -> Result<Vec<Event>, CaseError> {
    let rows: Vec<EventRow> = case_events::table
        .filter(case_events::case_id.eq(id.to_string()))
        .select(EventRow::as_select())
        .order(case_events::version.asc())
        .load(conn)?;
    rows.into_iter()
        .map(|r| {
            Ok(Event {
                version: r.version,
                at: r.at,
                kind: r.kind,
                from_state: r.from_state.as_deref().map(parse_state).transpose()?,
                to_state: parse_state(&r.to_state)?,
                actor_kind: r.actor_kind,
                actor_user_id: r
                    .actor_user_id
                    .as_deref()
                    .map(|u| u.parse().map_err(|_| corrupt("user id", u)))
                    .transpose()?,
                actor_role: r.actor_role,
                reason_code: r.reason_code,
                outcome: r.outcome,
                comment: r.comment,
            })
        })
        .collect::<Result<_, DbError>>()
        .map_err(CaseError::from)
}

/// Erases the person's data on this node: the identity block, every field
/// of the data set but the consent record (kept, with its withdrawal date,
/// as the trace of the legal basis), and the bodies of the messages about
/// the case that were delivered or received (their digests, signatures and
/// receipts stay, and so does the audit log). Undelivered messages keep
/// their bodies until delivered, since their signatures cover them: the
/// withdrawal follows them in the same ordered channel, so the other node
/// erases right after. Records the event `kind` and returns the case.
fn erase(
    conn: &mut AnyConnection,
    case: Case,
    withdrawn_on: chrono::NaiveDate,
    kind: &str,
    user: Option<&Principal>,
    now: NaiveDateTime,
) -> Result<Case, CaseError> {
    use crate::store::schema::{case_erasures, inbox_messages, outbox_messages};
    let consent = case.details.consent.clone().map(|mut c| {
        c.withdrawn_on = Some(withdrawn_on);
        c.interpreter_language = None;
        c
    });
    let details = CaseDetails {
        consent,
        ..CaseDetails::default()
    };
    let version = case.version + 1;
    let updated = diesel::update(
        cases::table
            .filter(cases::id.eq(case.id.to_string()))
            .filter(cases::version.eq(case.version)),
    )
    .set((
        cases::details.eq(to_json(&details)?),
        cases::version.eq(version),
        cases::updated_at.eq(now),
    ))
    .execute(conn)?;
    if updated != 1 {
        return Err(CaseError::VersionMismatch {
            current: case.version,
        });
    }
    diesel::delete(case_identities::table.find(case.id.to_string())).execute(conn)?;
    const ERASED: &str = "{\"erased\":true}";
    diesel::update(
        outbox_messages::table
            .filter(outbox_messages::case_id.eq(case.id.to_string()))
            .filter(outbox_messages::status.eq_any(["delivered", "rejected"])),
    )
    .set(outbox_messages::body.eq(ERASED))
    .execute(conn)?;
    diesel::update(
        inbox_messages::table.filter(inbox_messages::referral_id.eq(case.referral_id.to_string())),
    )
    .set(inbox_messages::body.eq(ERASED))
    .execute(conn)?;
    // Reports (family tracing, assessments), timeline comments and the
    // digest of the create request go too.
    {
        use crate::store::schema::{case_reports, idempotency_keys};
        diesel::delete(case_reports::table.filter(case_reports::case_id.eq(case.id.to_string())))
            .execute(conn)?;
        diesel::update(case_events::table.filter(case_events::case_id.eq(case.id.to_string())))
            .set(case_events::comment.eq(None::<String>))
            .execute(conn)?;
        diesel::delete(
            idempotency_keys::table.filter(idempotency_keys::case_id.eq(case.id.to_string())),
        )
        .execute(conn)?;
    }
    diesel::insert_into(case_erasures::table)
        .values((
            case_erasures::case_id.eq(case.id.to_string()),
            case_erasures::withdrawn_on.eq(withdrawn_on),
            case_erasures::erased_at.eq(now),
        ))
        .execute(conn)?;
    record_event(
        conn,
        case.id,
        version,
        now,
        kind,
        Some(case.state),
        case.state,
        user,
        None,
    )?;
    Ok(Case {
        details,
        identity: None,
        version,
        updated_at: now,
        erased_at: Some(now),
        ..case
    })
}

/// When the case's data was erased, and when the other node confirmed its own erasure.
pub fn erasure(
    conn: &mut AnyConnection,
    id: CaseId,
) -> Result<Option<(NaiveDateTime, Option<NaiveDateTime>)>, DbError> {
    use crate::store::schema::case_erasures;
    Ok(case_erasures::table
        .find(id.to_string())
        .select((
            case_erasures::erased_at,
            case_erasures::confirmed_by_peer_at,
        ))
        .first(conn)
        .optional()?)
}

/// The person withdrew consent (told this node): erases the data here and,
/// if the other node holds the case, tells it to erase too.
pub fn withdraw_consent(
    conn: &mut AnyConnection,
    ctx: &NodeCtx,
    id: CaseId,
    withdrawn_on: chrono::NaiveDate,
    user: &Principal,
    now: NaiveDateTime,
) -> Result<Case, CaseError> {
    let now = now.trunc_subsecs(6);
    let case = get(conn, id)?;
    if erasure(conn, id)?.is_some() {
        return Err(CaseError::AlreadyErased);
    }
    let case = erase(
        conn,
        case,
        withdrawn_on,
        "consent_withdrawn",
        Some(user),
        now,
    )?;
    if peer_holds(conn, &case)? {
        peer::append_outgoing(
            conn,
            ctx,
            case.id,
            case.referral_id,
            MessageType::ConsentWithdrawal,
            json!({ "withdrawn_on": withdrawn_on }),
            now,
        )?;
    }
    Ok(case)
}

/// Whether the other node has (or will have) a copy of this case.
fn peer_holds(conn: &mut AnyConnection, case: &Case) -> Result<bool, DbError> {
    use crate::store::schema::outbox_messages;
    if case.side == Side::Receiving {
        return Ok(true);
    }
    let sent: i64 = outbox_messages::table
        .filter(outbox_messages::case_id.eq(case.id.to_string()))
        .count()
        .get_result(conn)?;
    Ok(sent > 0)
}

/// The other node says the person withdrew consent: erase here and confirm.
pub fn withdrawal_from_peer(
    conn: &mut AnyConnection,
    ctx: &NodeCtx,
    referral_id: ReferralId,
    withdrawn_on: chrono::NaiveDate,
    now: NaiveDateTime,
) -> Result<Case, CaseError> {
    let now = now.trunc_subsecs(6);
    let case = find_by_referral(conn, referral_id)?.ok_or(CaseError::NotFound)?;
    // Both sides may have withdrawn at once: already erased here; confirm anyway.
    let case = if erasure(conn, case.id)?.is_some() {
        case
    } else {
        erase(conn, case, withdrawn_on, "consent_withdrawn", None, now)?
    };
    peer::append_outgoing(
        conn,
        ctx,
        case.id,
        case.referral_id,
        MessageType::ErasureConfirmation,
        json!({ "erased_at": chrono::TimeZone::from_utc_datetime(&chrono::Utc, &now) }),
        now,
    )?;
    Ok(case)
}

/// The other node confirms it erased its copy.
pub fn erasure_confirmed(
    conn: &mut AnyConnection,
    referral_id: ReferralId,
    now: NaiveDateTime,
) -> Result<(), CaseError> {
    use crate::store::schema::case_erasures;
    let now = now.trunc_subsecs(6);
    let case = find_by_referral(conn, referral_id)?.ok_or(CaseError::NotFound)?;
    diesel::update(case_erasures::table.find(case.id.to_string()))
        .set(case_erasures::confirmed_by_peer_at.eq(now))
        .execute(conn)?;
    annotate(conn, case.id, "erasure_confirmed", None, now)
}

/// Finds the steps past their SOP time limit that were not yet recorded,
/// records each once (table `overdue_steps` and a `deadline_overdue` audit
/// entry) and returns how many it found.
pub fn record_overdue(
    conn: &mut AnyConnection,
    follow_up_months: &[u32],
    now: NaiveDateTime,
) -> Result<usize, DbError> {
    let now = now.trunc_subsecs(6);
    let mut found = record_overdue_follow_ups(conn, follow_up_months, now)?;
    let due: Vec<(String, String, String, NaiveDateTime)> = cases::table
        .filter(cases::due_at.lt(now))
        .select((
            cases::id,
            cases::referral_id,
            cases::state,
            cases::due_at.assume_not_null(),
        ))
        .load(conn)?;
    for (id, referral, state, due_at) in due {
        if parse_state(&state)?.is_terminal() {
            continue;
        }
        if mark_overdue(conn, &id, &referral, &state, due_at, now)? {
            found += 1;
        }
    }
    Ok(found)
}

/// Records once each reintegration follow-up past its due date without a
/// report (state `follow_up_N` in `overdue_steps` and the audit log).
fn record_overdue_follow_ups(
    conn: &mut AnyConnection,
    months: &[u32],
    now: NaiveDateTime,
) -> Result<usize, DbError> {
    use crate::store::schema::case_reports;
    let monitored: Vec<(String, String)> = cases::table
        .filter(cases::state.eq(State::ReintegrationMonitoring.as_str()))
        .select((cases::id, cases::referral_id))
        .load(conn)?;
    let mut found = 0;
    for (id, referral) in monitored {
        let case_id: CaseId = id.parse().map_err(|_| corrupt("case id", &id))?;
        let Some(start) = monitoring_started(conn, case_id)? else {
            continue;
        };
        for (i, due) in crate::domain::reports::schedule(start.date(), months)
            .into_iter()
            .enumerate()
        {
            let due_at = due.and_time(chrono::NaiveTime::MIN);
            if due_at >= now {
                continue;
            }
            let number = i as i64 + 1;
            let reported: i64 = case_reports::table
                .filter(case_reports::case_id.eq(&id))
                .filter(case_reports::kind.eq("follow_up"))
                .filter(case_reports::number.eq(number))
                .count()
                .get_result(conn)?;
            if reported == 0
                && mark_overdue(
                    conn,
                    &id,
                    &referral,
                    &format!("follow_up_{number}"),
                    due_at,
                    now,
                )?
            {
                found += 1;
            }
        }
    }
    Ok(found)
}

/// Records that `step` of a case was due at `due_at` and is not done, once
/// (`overdue_steps` and a `deadline_overdue` audit entry); false if it was
/// recorded already.
fn mark_overdue(
    conn: &mut AnyConnection,
    case_id: &str,
    referral_id: &str,
    step: &str,
    due_at: NaiveDateTime,
    now: NaiveDateTime,
) -> Result<bool, DbError> {
    use crate::store::schema::overdue_steps;
    let known: i64 = overdue_steps::table
        .find((case_id, step, due_at))
        .count()
        .get_result(conn)?;
    if known > 0 {
        return Ok(false);
    }
    diesel::insert_into(overdue_steps::table)
        .values((
            overdue_steps::case_id.eq(case_id),
            overdue_steps::state.eq(step),
            overdue_steps::due_at.eq(due_at),
            overdue_steps::found_at.eq(now),
        ))
        .execute(conn)?;
    let mut e = crate::audit::Entry::new(crate::audit::kinds::DEADLINE_OVERDUE, "system", step);
    e.case_id = Some(case_id.to_owned());
    e.referral_id = Some(referral_id.to_owned());
    e.outcome = "overdue".into();
    e.code = Some(
        chrono::TimeZone::from_utc_datetime(&chrono::Utc, &due_at)
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    );
    crate::store::audit::append(conn, e)?;
    Ok(true)
}

/// A repatriation report or a reintegration follow-up, as stored.
#[derive(Debug, Clone)]
pub struct Report {
    /// `repatriation` or `follow_up`.
    pub kind: String,
    /// Follow-up number, or the repatriation report's order.
    pub number: i64,
    /// The coded report (JSON).
    pub data: serde_json::Value,
    /// Which side recorded it.
    pub by: Side,
    pub recorded_at: NaiveDateTime,
}

/// What is being reported.
pub enum NewReport {
    Repatriation(crate::domain::reports::Repatriation),
    FollowUp(crate::domain::reports::FollowUp),
}

/// Records a report on `case` by this node's `user` (and sends it to the
/// other node) or by the other node (`user` is `None`).
pub fn record_report(
    conn: &mut AnyConnection,
    ctx: &NodeCtx,
    case: Case,
    report: NewReport,
    user: Option<&Principal>,
    now: NaiveDateTime,
) -> Result<Case, CaseError> {
    use crate::store::schema::case_reports;
    let now = now.trunc_subsecs(6);
    let by = if user.is_some() {
        case.side
    } else {
        case.side.other()
    };
    if case.erased_at.is_some() {
        return Err(CaseError::AlreadyErased);
    }
    let (kind, number, data, message, event) = match &report {
        NewReport::Repatriation(r) => {
            if let Some(scope) = r.needs_scope() {
                let covered = case.details.consent.as_ref().is_some_and(|c| {
                    c.withdrawn_on.is_none() && c.scope.iter().any(|s| s == scope)
                });
                if !covered {
                    return Err(CaseError::ConsentScope(scope));
                }
            }
            let n: i64 = case_reports::table
                .filter(case_reports::case_id.eq(case.id.to_string()))
                .filter(case_reports::kind.eq("repatriation"))
                .count()
                .get_result(conn)?;
            (
                "repatriation",
                n + 1,
                serde_json::to_value(r).map_err(|e| DbError::Corrupt(e.to_string()))?,
                MessageType::RepatriationUpdate,
                "repatriation_report".to_owned(),
            )
        }
        NewReport::FollowUp(f) => {
            if by != Side::Receiving {
                return Err(CaseError::ReportWrongSide {
                    report: "follow-ups",
                    side: "receiving",
                });
            }
            if case.state != State::ReintegrationMonitoring {
                return Err(CaseError::NotInMonitoring(case.state));
            }
            (
                "follow_up",
                i64::from(f.number),
                serde_json::to_value(f).map_err(|e| DbError::Corrupt(e.to_string()))?,
                MessageType::ReintegrationUpdate,
                format!("follow_up_{}", f.number),
            )
        }
    };
    let exists: i64 = case_reports::table
        .filter(case_reports::case_id.eq(case.id.to_string()))
        .filter(case_reports::kind.eq(kind))
        .filter(case_reports::number.eq(number))
        .count()
        .get_result(conn)?;
    if exists > 0 {
        return Err(CaseError::ReportExists(number));
    }
    diesel::insert_into(case_reports::table)
        .values((
            case_reports::id.eq(MessageId::new().to_string()),
            case_reports::case_id.eq(case.id.to_string()),
            case_reports::kind.eq(kind),
            case_reports::number.eq(number),
            case_reports::data.eq(data.to_string()),
            case_reports::by_side.eq(match by {
                Side::Sending => "sending",
                Side::Receiving => "receiving",
            }),
            case_reports::recorded_at.eq(now),
        ))
        .execute(conn)?;
    let params = TransitionParams {
        reason_code: None,
        outcome: None,
        comment: None,
        handover: None,
    };
    let case = note_event(conn, case, &event, user, &params, now)?;
    if user.is_some() && peer_holds(conn, &case)? {
        peer::append_outgoing(
            conn,
            ctx,
            case.id,
            case.referral_id,
            message,
            json!({ "report": data }),
            now,
        )?;
    }
    Ok(case)
}

/// A case's reports, oldest first.
pub fn reports(conn: &mut AnyConnection, id: CaseId) -> Result<Vec<Report>, CaseError> {
    use crate::store::schema::case_reports;
    let rows: Vec<(String, i64, String, String, NaiveDateTime)> = case_reports::table
        .filter(case_reports::case_id.eq(id.to_string()))
        .order((case_reports::kind.asc(), case_reports::number.asc()))
        .select((
            case_reports::kind,
            case_reports::number,
            case_reports::data,
            case_reports::by_side,
            case_reports::recorded_at,
        ))
        .load(conn)?;
    rows.into_iter()
        .map(|(kind, number, data, by, recorded_at)| {
            Ok(Report {
                kind,
                number,
                data: serde_json::from_str(&data)
                    .map_err(|e| DbError::Corrupt(format!("report: {e}")))?,
                by: if by == "sending" {
                    Side::Sending
                } else {
                    Side::Receiving
                },
                recorded_at,
            })
        })
        .collect()
}

/// When reintegration monitoring started (the first such event).
pub fn monitoring_started(
    conn: &mut AnyConnection,
    id: CaseId,
) -> Result<Option<NaiveDateTime>, DbError> {
    Ok(case_events::table
        .filter(case_events::case_id.eq(id.to_string()))
        .filter(case_events::to_state.eq(State::ReintegrationMonitoring.as_str()))
        .select(diesel::dsl::min(case_events::at))
        .first(conn)?)
}
