//! Referral cases: drafts, transitions, incoming referrals, the timeline.
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

pub use super::case_queries::{events, list, CaseFilter};
pub use super::deadlines::record_overdue;
pub use super::erasure::{erasure, erasure_confirmed, withdraw_consent, withdrawal_from_peer};
pub use super::handover::answer_handover;
pub use super::reports::{monitoring_started, record_report, reports, NewReport, Report};

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

pub(super) fn corrupt(what: &str, value: &str) -> DbError {
    DbError::Corrupt(format!("{what} `{value}`"))
}

pub(super) fn parse_state(s: &str) -> Result<State, DbError> {
    State::parse(s).ok_or_else(|| corrupt("state", s))
}

pub(super) fn direction(side: Side) -> &'static str {
    match side {
        Side::Sending => "outgoing",
        Side::Receiving => "incoming",
    }
}

pub(super) fn parse_row(row: CaseRow, identity: Option<IdentityRow>) -> Result<Case, DbError> {
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

pub(super) fn to_json<T: serde::Serialize>(value: &T) -> Result<String, DbError> {
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
pub(super) fn random_reference(
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

pub(super) fn check_version(case: &Case, expected: i64) -> Result<(), CaseError> {
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
pub(super) struct NewState {
    to: State,
    hold_from: Option<State>,
    closure_outcome: Option<String>,
    reason_code: Option<String>,
}

/// Writes `case`'s new state if it is still at the version it was read at
/// (its step's time limit restarts): returns the new version and due date.
pub(super) fn write_state(
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
pub(super) fn resolve_at(
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
pub(super) fn note_event(
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

#[allow(clippy::too_many_arguments)]
pub(super) fn record_event(
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
