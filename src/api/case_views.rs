//! The shapes of `/api/v1/cases`: requests, the case as each role may see
//! it (`render`), lists and timelines, and the error bodies every endpoint
//! shares in the spec.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, IntoResponses, ToSchema};

use super::utc;
use crate::api::error::Problem;
use crate::app::cases::Case;
use crate::domain::case::{CaseDetails, CaseDetailsInput, HandoverView, Identity, IdentityInput};
use crate::domain::ids::CaseId;
use crate::domain::lifecycle::{self, Action, Actor, Side, State};
use crate::domain::roles::{CaseView, Role};

use super::case_reports::FollowUpView;

/// Errors every authenticated endpoint may return.
#[derive(IntoResponses)]
#[allow(dead_code)]
pub enum CommonErrors {
    /// Malformed request: bad JSON, unknown field, bad path or query parameter (`malformed_json`, `unknown_field`, `invalid_body`, `invalid_path_parameter`, `invalid_query`).
    #[response(status = 400, content_type = "application/problem+json")]
    BadRequest(Problem),
    /// Missing, unknown, expired or revoked token, or disabled account (`unauthenticated`).
    #[response(status = 401, content_type = "application/problem+json")]
    Unauthenticated(Problem),
    /// The caller's role may not do this (`forbidden`, `role_not_permitted`, `wrong_side`, `outside_role_scope`).
    #[response(status = 403, content_type = "application/problem+json")]
    Forbidden(Problem),
    /// Unexpected server error (`internal_error`); details are in the server log.
    #[response(status = 500, content_type = "application/problem+json")]
    Internal(Problem),
    /// The database is unreachable (`database_unavailable`) or busy (`database_busy`); nothing was changed, retry.
    #[response(status = 503, content_type = "application/problem+json")]
    Unavailable(Problem),
}

/// Errors every endpoint that takes a JSON body may return besides
/// [`CommonErrors`] (listed before an operation's own answers, which win).
#[derive(IntoResponses)]
#[allow(dead_code)]
pub enum BodyErrors {
    /// Body too large (`payload_too_large`).
    #[response(status = 413, content_type = "application/problem+json")]
    PayloadTooLarge(Problem),
    /// Body is not JSON (`unsupported_media_type`).
    #[response(status = 415, content_type = "application/problem+json")]
    UnsupportedMediaType(Problem),
}

/// Direction of a referral, seen from this node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// This agency refers the person to the other one.
    Outgoing,
    /// The other agency referred the person to this one.
    Incoming,
}

impl From<Side> for Direction {
    fn from(side: Side) -> Self {
        match side {
            Side::Sending => Direction::Outgoing,
            Side::Receiving => Direction::Incoming,
        }
    }
}

/// Body of a create or draft update: the coded data and the optional identity block.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CaseRequest {
    /// Coded case data; every field is optional while the case is a draft.
    #[serde(default)]
    pub details: CaseDetailsInput,
    /// Names and contact details, if known and needed.
    pub identity: Option<IdentityInput>,
}

/// A case as the caller's role may see it.
#[derive(Debug, Serialize, ToSchema)]
pub struct CaseResponse {
    /// Case id on this node.
    #[schema(value_type = String, format = Uuid)]
    pub id: CaseId,
    /// Referral id shared with the other node's copy of the case.
    #[schema(value_type = String, format = Uuid)]
    pub referral_id: crate::domain::ids::ReferralId,
    /// Opaque reference to quote between agencies, e.g. `NE-2026-7K3QX9`.
    #[schema(value_type = String, example = "NE-2026-7K3QX9")]
    pub reference: crate::domain::ids::CaseReference,
    /// Direction of the referral seen from this node.
    pub direction: Direction,
    /// Current state.
    pub state: State,
    /// The state's label in the language `Accept-Language` picks.
    pub state_label: &'static str,
    /// For a case on hold: the state it resumes to.
    pub hold_from_state: Option<State>,
    /// Version, incremented by every change; the `ETag` is `"{version}"`.
    pub version: i64,
    /// The other node of this referral.
    pub counterpart_node: crate::domain::ids::NodeId,
    /// When the case was opened on this node (UTC).
    pub created_at: DateTime<Utc>,
    /// Last change (UTC).
    pub updated_at: DateTime<Utc>,
    /// When the case entered its current state (UTC).
    pub state_changed_at: DateTime<Utc>,
    /// When the current step is due under the SOP time limits, if it has one.
    pub due_at: Option<DateTime<Utc>>,
    /// Whether the current step is past its time limit.
    pub overdue: bool,
    /// Outcome, once closed (code list `closure_outcome`).
    pub closure_outcome: Option<String>,
    /// Reason code of the last transition, if it took one (decline, closure,
    /// cancellation, hold, failure…): caseworkers and supervisors only.
    pub reason_code: Option<String>,
    /// Actions the caller may take now.
    pub allowed_actions: Vec<Action>,
    /// Coded case data: caseworkers and supervisors only.
    pub details: Option<CaseDetails>,
    /// Identity block: caseworkers and supervisors only, and only when reading one case.
    pub identity: Option<Identity>,
    /// Handover essentials: border liaisons only.
    pub handover: Option<HandoverView>,
    /// When the person's data was erased on this node after consent was
    /// withdrawn (only the case skeleton and the consent record remain).
    pub erased_at: Option<DateTime<Utc>>,
    /// "Waiting for the other node since …": when the oldest message about
    /// this case that the other node has not yet received was queued (UTC).
    /// Single-case reads only; `null` when nothing is waiting.
    pub waiting_for_peer_since: Option<DateTime<Utc>>,
    /// The other node's copy of the case disagrees with this one (found when
    /// the nodes compared their cases) and is not yet repaired. Single-case
    /// reads only.
    pub disagreement: Option<DisagreementView>,
    /// The handover: the current plan, its negotiation round and who
    /// proposed it, the departure and both confirmations. Single-case reads,
    /// for caseworkers, supervisors and liaisons, once a plan was proposed.
    pub handover_plan: Option<HandoverPlanView>,
    /// Delivery of this case's messages to the other node. Single-case
    /// reads, for caseworkers and supervisors.
    pub delivery: Option<DeliverySummary>,
    /// The reintegration follow-ups of the schedule — due dates once
    /// monitoring started, which are done and which are overdue. Single-case
    /// reads, for caseworkers and supervisors.
    pub follow_ups: Option<Vec<FollowUpView>>,
}

/// The handover as negotiated and recorded on this node.
#[derive(Debug, Serialize, ToSchema)]
pub struct HandoverPlanView {
    /// The current plan.
    pub plan: crate::domain::handover::Plan,
    /// `proposed` or `agreed`.
    pub status: crate::domain::handover::PlanStatus,
    /// Negotiation round: 1 for the first proposal, +1 per counter-proposal
    /// (an answer names the round it answers).
    pub round: i64,
    /// Which side made the current proposal.
    pub proposed_by: crate::domain::lifecycle::Side,
    /// The departure, as the sending side's liaison recorded it.
    pub departure: Option<crate::domain::handover::AtCrossing>,
    /// The sending side's confirmation of the handover.
    pub sending_confirmation: Option<crate::domain::handover::AtCrossing>,
    /// The receiving side's confirmation (arrival).
    pub receiving_confirmation: Option<crate::domain::handover::AtCrossing>,
    /// What the two sides' records disagree on, if anything.
    pub mismatch: Option<String>,
}

impl From<crate::app::handover::Handover> for HandoverPlanView {
    fn from(h: crate::app::handover::Handover) -> Self {
        Self {
            plan: h.plan,
            status: h.status,
            round: h.round,
            proposed_by: h.proposed_by,
            departure: h.departure,
            sending_confirmation: h.sending,
            receiving_confirmation: h.receiving,
            mismatch: h.mismatch,
        }
    }
}

/// How many of a case's messages to the other node are in each state.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct DeliverySummary {
    /// On their way (a link failure is retried for as long as it takes).
    pub pending: i64,
    /// Received and applied by the other node.
    pub delivered: i64,
    /// Received but not applied by the other node (see the case's messages).
    pub rejected: i64,
    /// Refused outright; an administrator must retry them.
    pub suspended: i64,
}

/// A disagreement between the two nodes' copies of a case.
#[derive(Debug, Serialize, ToSchema)]
pub struct DisagreementView {
    /// The state the other node holds (`absent`: it has no copy).
    pub peer_state: String,
    /// The state this node held when the disagreement was found.
    pub local_state: String,
    /// When it was found (UTC).
    pub detected_at: DateTime<Utc>,
    /// How it is being settled: `reapplied` (this node applied again a
    /// message it had rejected), `adopted_peer_state`, `kept_local_state`
    /// (the other node adopts this one's), `repaired_at_peer`, `escalated`
    /// (a supervisor decides: `POST /cases/{id}/disagreement`) or
    /// `adopted_by_supervisor`.
    pub resolution: String,
}

impl From<crate::app::disagreements::Disagreement> for DisagreementView {
    fn from(r: crate::app::disagreements::Disagreement) -> Self {
        Self {
            peer_state: r.peer_state,
            local_state: r.local_state,
            detected_at: utc(r.detected_at),
            resolution: r.resolution,
        }
    }
}

/// A page of cases, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct CaseList {
    /// The cases of this page.
    pub items: Vec<CaseResponse>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// Query of `GET /api/v1/cases`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only cases in this state.
    pub state: Option<State>,
    /// Only outgoing or incoming referrals.
    pub direction: Option<Direction>,
    /// Only cases opened at or after this instant (RFC 3339).
    pub created_from: Option<DateTime<Utc>>,
    /// Only cases opened before this instant (RFC 3339).
    pub created_to: Option<DateTime<Utc>>,
    /// `true`: only cases past their step's time limit; `false`: only the others.
    pub overdue: Option<bool>,
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    /// Cursor from the previous page's `next_cursor`.
    pub cursor: Option<String>,
    /// The case with this reference, as the agencies quote it (e.g. `NE-2026-KNEH33`).
    #[param(pattern = "^[A-Za-z]{2}-[0-9]{4}-[A-Za-z0-9]{6}$")]
    pub reference: Option<String>,
    /// This node's copy of the referral shared with the other node.
    #[param(value_type = Option<uuid::Uuid>)]
    pub referral_id: Option<crate::domain::ids::ReferralId>,
    /// Cases whose person's given, family or other names contain this
    /// (case-insensitive, 2 to 100 characters). Only for roles that see
    /// names (caseworkers, supervisors, liaisons); the search is an audited
    /// read and the term is never logged.
    #[param(min_length = 2, max_length = 100)]
    pub name: Option<String>,
}

/// A lifecycle transition request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransitionRequest {
    /// The action to take.
    pub action: Action,
    /// Reason code, required by `decline` (`decline_reason`), `close` (`closure_reason`),
    /// `cancel` (`cancellation_reason`), `put_on_hold` (`hold_reason`), `fail`
    /// (`failure_reason`), `return_to_draft` (`return_to_draft_reason`) and
    /// `mark_entered_in_error` (`entered_in_error_reason`); refused otherwise.
    pub reason_code: Option<String>,
    /// Outcome, required by `close` (`closure_outcome`); refused otherwise.
    pub outcome: Option<String>,
    /// Free-text note for the timeline (at most 2000 characters). Shown only
    /// to caseworkers and supervisors of this node; never sent to the other node.
    pub comment: Option<String>,
    /// `schedule_handover`: the plan (crossing point, window, escorting
    /// agencies), required. `depart`, `confirm_handover`: where and when
    /// (defaults: the agreed plan's crossing point, now). Refused otherwise.
    pub handover: Option<crate::domain::handover::HandoverInput>,
}

/// One entry of a case's timeline.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventResponse {
    /// Case version this event produced.
    pub version: i64,
    /// When it happened (UTC).
    pub at: DateTime<Utc>,
    /// `created`, `edited`, `received`, or the transition action.
    pub kind: String,
    /// State before.
    pub from_state: Option<State>,
    /// State after.
    pub to_state: State,
    /// `user` (a user of this node) or `peer` (the other node).
    pub actor_kind: String,
    /// Role of the user who acted.
    pub actor_role: Option<String>,
    /// Account of the user who acted: caseworkers and supervisors only.
    #[schema(value_type = Option<String>, format = Uuid)]
    pub actor_user_id: Option<crate::domain::ids::UserId>,
    /// Reason code given: caseworkers and supervisors only.
    pub reason_code: Option<String>,
    /// Outcome given.
    pub outcome: Option<String>,
    /// Comment: caseworkers and supervisors only.
    pub comment: Option<String>,
}

/// A case's timeline, oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventList {
    /// The events.
    pub items: Vec<EventResponse>,
}

pub(crate) fn render(case: &Case, role: Role, now: NaiveDateTime) -> CaseResponse {
    let view = role.case_view();
    CaseResponse {
        id: case.id,
        referral_id: case.referral_id,
        reference: case.reference.clone(),
        direction: case.side.into(),
        state: case.state,
        state_label: crate::domain::i18n::state_label(
            case.state.as_str(),
            crate::api::error::current_lang(),
        )
        .unwrap_or(case.state.as_str()),
        hold_from_state: case.hold_from,
        version: case.version,
        counterpart_node: case.counterpart,
        created_at: utc(case.created_at),
        updated_at: utc(case.updated_at),
        state_changed_at: utc(case.state_changed_at),
        due_at: case.due_at.map(utc),
        overdue: case.is_overdue(now),
        closure_outcome: case.closure_outcome.clone(),
        // Reason codes can say much about a person (deceased, medical
        // treatment, legal proceedings): caseworkers and supervisors only.
        reason_code: if view == Some(CaseView::Full) {
            case.reason_code.clone()
        } else {
            None
        },
        allowed_actions: Action::ALL
            .iter()
            .copied()
            .filter(|a| {
                lifecycle::decide(*a, case.state, case.hold_from, case.side, Actor::User(role))
                    .is_ok()
                    && (case.erased_at.is_none() || lifecycle::allowed_after_erasure(*a))
            })
            .collect(),
        details: (view == Some(CaseView::Full)).then(|| case.details.clone()),
        identity: if view == Some(CaseView::Full) {
            case.identity.clone()
        } else {
            None
        },
        handover: (view == Some(CaseView::Handover) && case.erased_at.is_none())
            .then(|| HandoverView::of(&case.details, case.identity.as_ref())),
        erased_at: case.erased_at.map(utc),
        waiting_for_peer_since: None,
        disagreement: None,
        handover_plan: None,
        delivery: None,
        follow_ups: None,
    }
}
