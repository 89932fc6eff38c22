//! `/api/v1/cases`: referral cases, their lifecycle and timeline.

use crate::domain::problem::ProblemCode;
use actix_web::http::header;
use actix_web::{get, post, put, web, HttpMessage, HttpRequest, HttpResponse};
use base64::Engine;
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, IntoResponses, ToSchema};

use super::audit;
use super::auth::Auth;
use super::{utc, AppState};
use crate::app::cases::{self as repo, Case, CaseError, CaseFilter, Event, NewDraft};
use crate::app::{erasure, handover, reports};
use crate::audit::kinds;
use crate::domain::case::{CaseDetails, CaseDetailsInput, HandoverView, Identity, IdentityInput};
use crate::domain::ids::CaseId;
use crate::domain::lifecycle::{
    self, Action, Actor, Side, State, TransitionParams, HANDOVER_STAGES,
};
use crate::domain::roles::{CaseView, Permission, Role};
use crate::domain::FieldError;
use crate::error::{ApiError, Problem};
use crate::store::audit as audit_store;

/// The write every case-changing handler shares: the use case and the
/// caller's audit entry in one transaction, then the request is marked
/// audited and, for a use case that may queue a message for the other node
/// (`Peer::MayBeTold`), the dispatcher woken. The entry's action is the
/// lifecycle action for a transition, else the operation
/// (`POST /api/v1/cases/{id}/…`).
async fn write_case<F>(
    state: &AppState,
    req: &HttpRequest,
    principal: crate::store::users::Principal,
    lifecycle_action: Option<&'static str>,
    peer: Peer,
    use_case: F,
) -> Result<Case, ApiError>
where
    F: FnOnce(
            &mut crate::store::AnyConnection,
            &crate::store::users::Principal,
        ) -> Result<Case, CaseError>
        + Send
        + 'static,
{
    let action = lifecycle_action.map_or_else(
        || {
            format!(
                "{} {}",
                req.method(),
                req.match_pattern().unwrap_or_default()
            )
        },
        str::to_owned,
    );
    let case = state
        .db
        .write(move |c| {
            let case = use_case(c, &principal)?;
            audit::log_case_action(c, &principal, &action, &case)?;
            Ok::<_, CaseError>(case)
        })
        .await?;
    req.extensions_mut().insert(audit::Audited);
    if peer == Peer::MayBeTold {
        state.wake.notify_one();
    }
    Ok(case)
}

/// Whether a case write may have queued a message for the other node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Peer {
    /// A draft edit: the other node knows nothing of drafts.
    NotTold,
    MayBeTold,
}

/// Largest page of a case list.
pub const MAX_PAGE: u32 = 200;
/// Default page size.
pub const DEFAULT_PAGE: u32 = 50;
/// Longest accepted `Idempotency-Key`.
pub const MAX_IDEMPOTENCY_KEY: usize = 255;

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

impl From<crate::store::handovers::Handover> for HandoverPlanView {
    fn from(h: crate::store::handovers::Handover) -> Self {
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

impl From<crate::store::models::DisagreementRow> for DisagreementView {
    fn from(r: crate::store::models::DisagreementRow) -> Self {
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

fn now() -> NaiveDateTime {
    Utc::now().naive_utc()
}

pub(crate) fn etag(version: i64) -> (header::HeaderName, String) {
    (header::ETAG, format!("\"{version}\""))
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
            crate::error::current_lang(),
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

/// Liaisons work only on cases between acceptance and handover.
fn check_scope(auth: &Auth, case: &Case) -> Result<(), ApiError> {
    if auth.0.role.case_view() == Some(CaseView::Handover) && !HANDOVER_STAGES.contains(&case.state)
    {
        return Err(ApiError::Refused(
            ProblemCode::OutsideRoleScope,
            "border liaisons see cases only from acceptance to handover".into(),
        ));
    }
    Ok(())
}

fn if_match(req: &HttpRequest) -> Result<i64, ApiError> {
    let value = req
        .headers()
        .get(header::IF_MATCH)
        .ok_or(ApiError::PreconditionRequired)?;
    value
        .to_str()
        .ok()
        .map(str::trim)
        .and_then(|v| v.strip_prefix('"'))
        .and_then(|v| v.strip_suffix('"'))
        .and_then(|v| v.parse::<i64>().ok())
        .ok_or_else(|| {
            ApiError::Refused(
                ProblemCode::InvalidIfMatch,
                "If-Match must be the case's ETag, e.g. \"3\"".into(),
            )
        })
}

fn idempotency_key(req: &HttpRequest) -> Result<Option<String>, ApiError> {
    let Some(value) = req.headers().get("Idempotency-Key") else {
        return Ok(None);
    };
    let key = value.to_str().ok().map(str::trim).unwrap_or("");
    let ok = !key.is_empty()
        && key.len() <= MAX_IDEMPOTENCY_KEY
        && key.bytes().all(|b| b.is_ascii_graphic());
    if ok {
        Ok(Some(key.to_owned()))
    } else {
        Err(ApiError::Refused(
            ProblemCode::InvalidIdempotencyKey,
            format!("Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} visible ASCII characters"),
        ))
    }
}

fn parse_case_request(body: CaseRequest) -> Result<(CaseDetails, Option<Identity>), ApiError> {
    let details = body.details.parse("details.");
    let identity = body.identity.map(|i| i.parse("identity.")).transpose();
    match (details, identity) {
        (Ok(d), Ok(i)) => Ok((d, i.flatten())),
        (d, i) => {
            let mut errors: Vec<FieldError> = d.err().unwrap_or_default();
            errors.extend(i.err().unwrap_or_default());
            Err(ApiError::Validation(errors))
        }
    }
}

fn case_response(
    status: actix_web::http::StatusCode,
    case: &Case,
    role: Role,
    now: NaiveDateTime,
) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header(etag(case.version))
        .json(render(case, role, now))
}

/// Open a new outgoing referral as a draft.
///
/// Send an `Idempotency-Key` header to make retries safe: a repeated request
/// with the same key and body returns the case created the first time
/// (`Idempotent-Replayed: true`); the same key with another body is refused.
#[utoipa::path(
    tag = "cases",
    request_body = CaseRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Client-chosen key making the create idempotent (1–255 visible ASCII characters)", pattern = "^[!-~]{1,255}$")),
    responses(
        (status = 201, description = "Draft created; `Location` and `ETag` headers set", body = CaseResponse),
        (status = 413, description = "Body too large (`payload_too_large`)", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not JSON (`unsupported_media_type`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid values (`validation_failed`) or key reused with another body (`idempotency_key_reused`)", body = Problem, content_type = "application/problem+json"),
        CommonErrors
    ),
    security(("bearer" = []))
)]
#[post("/cases")]
pub async fn create_case(
    auth: Auth,
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<CaseRequest>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Permission::CreateCase)?;
    let key = idempotency_key(&req)?;
    let (details, identity) = parse_case_request(body.into_inner())?;
    let idempotency = match key {
        Some(k) => Some((k, repo::request_digest(&details, identity.as_ref())?)),
        None => None,
    };
    let now = now();
    let mut attempt = 0;
    let created = loop {
        let draft = NewDraft {
            node: state.ctx.node,
            details: details.clone(),
            identity: identity.clone(),
            idempotency: idempotency.clone(),
        };
        let principal = auth.0.clone();
        match state
            .db
            .write(move |c| {
                let created = repo::create_draft(c, draft, &principal, now)?;
                let mut e = audit::entry(kinds::API_ACTION, &principal, "POST /api/v1/cases");
                e.case_id = Some(created.case.id.to_string());
                e.referral_id = Some(created.case.referral_id.to_string());
                e.seq = Some(created.case.version);
                e.code = created.replayed.then(|| "idempotent_replay".to_owned());
                audit_store::append(c, e)?;
                Ok(created)
            })
            .await
        {
            // Two concurrent requests with one key (PostgreSQL): the loser retries and replays.
            Err(CaseError::Db(e))
                if e.is_unique_violation() && idempotency.is_some() && attempt == 0 =>
            {
                attempt += 1
            }
            other => break other?,
        }
    };
    req.extensions_mut().insert(audit::Audited);
    let case = &created.case;
    let mut res = HttpResponse::Created();
    res.insert_header((header::LOCATION, format!("/api/v1/cases/{}", case.id)))
        .insert_header(etag(case.version));
    if created.replayed {
        res.insert_header(("Idempotent-Replayed", "true"));
    }
    Ok(res.json(render(case, auth.0.role, now)))
}

/// List cases, newest first, with filters and cursor pagination.
///
/// Border liaisons see only cases from acceptance to handover; JTWG
/// reviewers see case skeletons without personal data.
#[utoipa::path(
    tag = "cases",
    params(ListQuery),
    responses(
        (status = 200, description = "A page of cases", body = CaseList),
        (status = 422, description = "`limit` out of range (`validation_failed`)", body = Problem, content_type = "application/problem+json"),
        CommonErrors
    ),
    security(("bearer" = []))
)]
#[get("/cases")]
pub async fn list_cases(
    auth: Auth,
    state: web::Data<AppState>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Permission::ListCases)?;
    let q = query.into_inner();
    let limit = q.limit.unwrap_or(DEFAULT_PAGE);
    if let Some(e) = super::limit_out_of_range(limit, MAX_PAGE) {
        return Err(ApiError::Validation(vec![e]));
    }
    if let Some(name) = &q.name {
        if !matches!(
            auth.0.role.case_view(),
            Some(CaseView::Full | CaseView::Handover)
        ) {
            return Err(ApiError::Refused(
                ProblemCode::RoleNotPermitted,
                format!("the role `{}` does not see names", auth.0.role),
            ));
        }
        let len = name.trim().chars().count();
        if !(2..=100).contains(&len) {
            return Err(ApiError::Validation(vec![FieldError::new(
                "name",
                "out_of_range",
                "a name search takes 2 to 100 characters",
            )]));
        }
    }
    if let Some(r) = &q.reference {
        if crate::domain::ids::CaseReference::parse(&r.trim().to_uppercase()).is_err() {
            return Err(ApiError::Validation(vec![FieldError::new(
                "reference",
                "invalid_reference",
                "a reference looks like `NE-2026-KNEH33`",
            )]));
        }
    }
    let before = q.cursor.as_deref().map(decode_cursor).transpose()?;
    let filter = CaseFilter {
        state: q.state,
        states_in: (auth.0.role.case_view() == Some(CaseView::Handover))
            .then(|| HANDOVER_STAGES.to_vec()),
        side: q.direction.map(|d| match d {
            Direction::Outgoing => Side::Sending,
            Direction::Incoming => Side::Receiving,
        }),
        created_from: q.created_from.map(|d| d.naive_utc()),
        created_to: q.created_to.map(|d| d.naive_utc()),
        overdue: q.overdue,
        before,
        limit: i64::from(limit) + 1,
        reference: q.reference,
        referral_id: q.referral_id,
        name: q.name,
    };
    let now = now();
    let mut cases = state.db.read(move |c| repo::list(c, &filter, now)).await?;
    let more = cases.len() > limit as usize;
    cases.truncate(limit as usize);
    let next_cursor = more
        .then(|| cases.last().map(|c| encode_cursor(c.id)))
        .flatten();
    Ok(HttpResponse::Ok().json(CaseList {
        items: cases.iter().map(|c| render(c, auth.0.role, now)).collect(),
        next_cursor,
    }))
}

fn encode_cursor(id: CaseId) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(id.0.as_bytes())
}

fn decode_cursor(cursor: &str) -> Result<CaseId, ApiError> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|b| uuid::Uuid::from_slice(&b).ok())
        .map(CaseId)
        .ok_or_else(|| {
            ApiError::Refused(
                ProblemCode::InvalidCursor,
                "the cursor is not one this server issued".into(),
            )
        })
}

/// Read one case, in the caller's role's view. The `ETag` header carries its version.
#[utoipa::path(
    tag = "cases",
    params(("id" = uuid::Uuid, Path, description = "Case id (UUID)")),
    responses(
        (status = 200, description = "The case", body = CaseResponse),
        (status = 404, description = "No such case (`case_not_found`)", body = Problem, content_type = "application/problem+json"),
        CommonErrors
    ),
    security(("bearer" = []))
)]
#[get("/cases/{id}")]
pub async fn get_case(
    auth: Auth,
    state: web::Data<AppState>,
    id: web::Path<CaseId>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Permission::ReadCase)?;
    let id = id.into_inner();
    let (case, waiting, disagreement, handover, counts, reports) = state
        .db
        .read(move |c| {
            let case = repo::get(c, id)?;
            let waiting = crate::app::exchange::oldest_undelivered(c, Some(id))?;
            let disagreement = crate::store::convergence::open_for_case(c, id)?;
            let handover = crate::store::handovers::get(c, id)?;
            let counts = crate::app::exchange::delivery_counts(c, id)?;
            let reports = (
                reports::reports(c, id)?,
                reports::monitoring_started(c, id)?,
            );
            Ok::<_, repo::CaseError>((case, waiting, disagreement, handover, counts, reports))
        })
        .await?;
    check_scope(&auth, &case)?;
    let view = auth.0.role.case_view();
    let mut body = render(&case, auth.0.role, now());
    body.waiting_for_peer_since = waiting.map(utc);
    body.disagreement = disagreement.map(Into::into);
    if matches!(view, Some(CaseView::Full | CaseView::Handover)) {
        body.handover_plan = handover.map(Into::into);
    }
    if view == Some(CaseView::Full) {
        let mut d = DeliverySummary::default();
        for (status, n) in counts {
            match status.as_str() {
                "pending" => d.pending = n,
                "delivered" => d.delivered = n,
                "rejected" => d.rejected = n,
                "suspended" => d.suspended = n,
                _ => {}
            }
        }
        body.delivery = Some(d);
        let (reports, started) = reports;
        body.follow_ups = Some(follow_up_views(
            &reports,
            started,
            &state.follow_up_months,
            now(),
        ));
    }
    Ok(HttpResponse::Ok()
        .insert_header(etag(case.version))
        .json(body))
}

/// Replace a draft's data and identity block. Needs `If-Match` with the current `ETag`.
#[utoipa::path(
    tag = "cases",
    request_body = CaseRequest,
    params(
        ("id" = uuid::Uuid, Path, description = "Case id (UUID)"),
        ("If-Match" = String, Header, description = "Current ETag of the case, e.g. \"3\"", pattern = "^\"[0-9]{1,18}\"$")
    ),
    responses(
        (status = 200, description = "Draft updated", body = CaseResponse),
        (status = 404, description = "No such case (`case_not_found`)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not a draft (`case_not_editable`)", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "The case changed since it was read (`version_mismatch`); nothing was changed", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large (`payload_too_large`)", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not JSON (`unsupported_media_type`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid values (`validation_failed`)", body = Problem, content_type = "application/problem+json"),
        (status = 428, description = "No If-Match header (`if_match_required`)", body = Problem, content_type = "application/problem+json"),
        CommonErrors
    ),
    security(("bearer" = []))
)]
#[put("/cases/{id}")]
pub async fn update_case(
    auth: Auth,
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<CaseId>,
    body: web::Json<CaseRequest>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Permission::EditDraft)?;
    let expected = if_match(&req)?;
    let (details, identity) = parse_case_request(body.into_inner())?;
    let id = id.into_inner();
    let now = now();
    let case = write_case(
        &state,
        &req,
        auth.0.clone(),
        None,
        Peer::NotTold,
        move |c, principal| repo::update_draft(c, id, expected, details, identity, principal, now),
    )
    .await?;
    Ok(case_response(
        actix_web::http::StatusCode::OK,
        &case,
        auth.0.role,
        now,
    ))
}

/// Move a case through its lifecycle. Needs `If-Match` with the current `ETag`.
///
/// Which actions a role may take, on which node and from which state is the
/// lifecycle table (see the README); `allowed_actions` on a case lists the
/// caller's options. A change the other node must learn of is queued for it
/// in the same transaction.
#[utoipa::path(
    tag = "cases",
    request_body = TransitionRequest,
    params(
        ("id" = uuid::Uuid, Path, description = "Case id (UUID)"),
        ("If-Match" = String, Header, description = "Current ETag of the case, e.g. \"3\"", pattern = "^\"[0-9]{1,18}\"$")
    ),
    responses(
        (status = 200, description = "Transition applied", body = CaseResponse),
        (status = 404, description = "No such case (`case_not_found`)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not allowed from the current state (`transition_not_allowed`)", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "The case changed since it was read (`version_mismatch`); nothing was changed", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large (`payload_too_large`)", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not JSON (`unsupported_media_type`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Missing or invalid reason/outcome (`validation_failed`), or the case is not ready to submit (`case_incomplete`)", body = Problem, content_type = "application/problem+json"),
        (status = 428, description = "No If-Match header (`if_match_required`)", body = Problem, content_type = "application/problem+json"),
        CommonErrors
    ),
    security(("bearer" = []))
)]
#[post("/cases/{id}/transitions")]
pub async fn transition_case(
    auth: Auth,
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<CaseId>,
    body: web::Json<TransitionRequest>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Permission::TransitionCase)?;
    let expected = if_match(&req)?;
    let body = body.into_inner();
    let action = body.action;
    let mut params = TransitionParams::parse(action, body.reason_code, body.outcome, body.comment)
        .map_err(ApiError::Validation)?;
    let crossings = if matches!(
        action,
        Action::ScheduleHandover | Action::Depart | Action::ConfirmHandover
    ) {
        state.db.read(crate::store::crossings::active_codes).await?
    } else {
        Vec::new()
    };
    params.handover =
        crate::domain::handover::params_for(action, body.handover, now().date(), &crossings)
            .map_err(ApiError::Validation)?;
    let id = id.into_inner();
    if auth.0.role.case_view() == Some(CaseView::Handover) {
        let current = state.db.read(move |c| repo::get(c, id)).await?;
        check_scope(&auth, &current)?;
    }
    let now = now();
    let ctx = state.ctx.clone();
    let case = write_case(
        &state,
        &req,
        auth.0.clone(),
        Some(action.as_str()),
        Peer::MayBeTold,
        move |c, principal| repo::transition(c, &ctx, id, expected, action, params, principal, now),
    )
    .await?;
    tracing::info!(case = %case.id, action = %action, to = %case.state, "case transition");
    Ok(case_response(
        actix_web::http::StatusCode::OK,
        &case,
        auth.0.role,
        now,
    ))
}

/// The timeline of a case, oldest first. Comments and user ids are shown
/// only to caseworkers and supervisors.
#[utoipa::path(
    tag = "cases",
    params(("id" = uuid::Uuid, Path, description = "Case id (UUID)")),
    responses(
        (status = 200, description = "The timeline", body = EventList),
        (status = 404, description = "No such case (`case_not_found`)", body = Problem, content_type = "application/problem+json"),
        CommonErrors
    ),
    security(("bearer" = []))
)]
#[get("/cases/{id}/events")]
pub async fn case_events(
    auth: Auth,
    state: web::Data<AppState>,
    id: web::Path<CaseId>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Permission::ReadTimeline)?;
    let id = id.into_inner();
    let (case, events) = state
        .db
        .read(move |c| Ok::<_, CaseError>((repo::get(c, id)?, repo::events(c, id)?)))
        .await?;
    check_scope(&auth, &case)?;
    let full = auth.0.role.case_view() == Some(CaseView::Full);
    let items = events
        .into_iter()
        .map(|e: Event| EventResponse {
            version: e.version,
            at: utc(e.at),
            kind: e.kind,
            from_state: e.from_state,
            to_state: e.to_state,
            actor_kind: e.actor_kind,
            actor_role: e.actor_role,
            actor_user_id: if full { e.actor_user_id } else { None },
            reason_code: if full { e.reason_code } else { None },
            outcome: e.outcome,
            comment: if full { e.comment } else { None },
        })
        .collect();
    Ok(HttpResponse::Ok().json(EventList { items }))
}

/// Withdrawal of consent.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsentWithdrawalRequest {
    /// Date the person (or guardian) withdrew consent; today if absent.
    pub withdrawn_on: Option<chrono::NaiveDate>,
}

/// Record that the person withdrew consent: the person's data is erased on
/// this node at once and, if the other node holds the case, it is told to
/// erase its copy and confirms it did (event `erasure_confirmed`). The case
/// skeleton, its timeline, the messages' digests and the audit log stay.
#[utoipa::path(
    tag = "cases",
    request_body = ConsentWithdrawalRequest,
    params(("id" = uuid::Uuid, Path, description = "Case id (UUID)")),
    responses(
        (status = 200, description = "Consent withdrawn and data erased", body = CaseResponse),
        (status = 404, description = "No such case (`case_not_found`)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already withdrawn and erased (`personal_data_erased`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The date is in the future (`validation_failed`)", body = Problem, content_type = "application/problem+json"),
        BodyErrors,
        CommonErrors
    ),
    security(("bearer" = []))
)]
#[post("/cases/{id}/consent-withdrawal")]
pub async fn withdraw_consent(
    auth: Auth,
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<CaseId>,
    body: web::Json<ConsentWithdrawalRequest>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Permission::WithdrawConsent)?;
    let now = now();
    let withdrawn_on = body.into_inner().withdrawn_on.unwrap_or(now.date());
    if withdrawn_on > now.date() {
        return Err(ApiError::Validation(vec![FieldError::new(
            "withdrawn_on",
            "in_future",
            "the withdrawal date is in the future",
        )]));
    }
    let id = id.into_inner();
    let ctx = state.ctx.clone();
    let case = write_case(
        &state,
        &req,
        auth.0.clone(),
        None,
        Peer::MayBeTold,
        move |c, principal| erasure::withdraw_consent(c, &ctx, id, withdrawn_on, principal, now),
    )
    .await?;
    tracing::info!(case = %case.id, "consent withdrawn: personal data erased");
    Ok(case_response(
        actix_web::http::StatusCode::OK,
        &case,
        auth.0.role,
        now,
    ))
}

/// Counter-propose the handover plan (the side that did not make the current
/// proposal): another crossing point, window or escort.
#[utoipa::path(
    tag = "handover",
    request_body = crate::domain::handover::PlanInput,
    params(
        ("id" = uuid::Uuid, Path, description = "Case id (UUID)"),
        ("If-Match" = String, Header, description = "Current ETag of the case, e.g. \"3\"", pattern = "^\"[0-9]{1,18}\"$")
    ),
    responses(
        (status = 200, description = "Counter-proposal recorded and sent", body = CaseResponse),
        (status = 404, description = "No such case (`case_not_found`)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not negotiable now (`handover_not_scheduled`, `handover_already_agreed`, `own_handover_proposal`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid plan (`validation_failed`)", body = Problem, content_type = "application/problem+json"),
        BodyErrors,
        (status = 412, description = "The case changed since it was read (`version_mismatch`); nothing was changed", body = Problem, content_type = "application/problem+json"),
        (status = 428, description = "No If-Match header (`if_match_required`)", body = Problem, content_type = "application/problem+json"),
        CommonErrors
    ),
    security(("bearer" = []))
)]
#[post("/cases/{id}/handover/counter-proposal")]
pub async fn counter_propose_handover(
    auth: Auth,
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<CaseId>,
    body: web::Json<crate::domain::handover::PlanInput>,
) -> Result<HttpResponse, ApiError> {
    let now = now();
    let plan = body
        .into_inner()
        .parse(
            now.date(),
            &state.db.read(crate::store::crossings::active_codes).await?,
        )
        .map_err(ApiError::Validation)?;
    answer_handover(auth, state, req, id.into_inner(), Some(plan), now).await
}

/// Accept the handover plan proposed by the other side.
#[utoipa::path(
    tag = "handover",
    params(
        ("id" = uuid::Uuid, Path, description = "Case id (UUID)"),
        ("If-Match" = String, Header, description = "Current ETag of the case, e.g. \"3\"", pattern = "^\"[0-9]{1,18}\"$")
    ),
    responses(
        (status = 200, description = "Plan agreed; the sending side's liaison may record the departure", body = CaseResponse),
        (status = 404, description = "No such case (`case_not_found`)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not negotiable now (`handover_not_scheduled`, `handover_already_agreed`, `own_handover_proposal`)", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "The case changed since it was read (`version_mismatch`); nothing was changed", body = Problem, content_type = "application/problem+json"),
        (status = 428, description = "No If-Match header (`if_match_required`)", body = Problem, content_type = "application/problem+json"),
        CommonErrors
    ),
    security(("bearer" = []))
)]
#[post("/cases/{id}/handover/acceptance")]
pub async fn accept_handover(
    auth: Auth,
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<CaseId>,
) -> Result<HttpResponse, ApiError> {
    answer_handover(auth, state, req, id.into_inner(), None, now()).await
}

async fn answer_handover(
    auth: Auth,
    state: web::Data<AppState>,
    req: HttpRequest,
    id: CaseId,
    plan: Option<crate::domain::handover::Plan>,
    now: NaiveDateTime,
) -> Result<HttpResponse, ApiError> {
    auth.require(Permission::NegotiateHandover)?;
    let expected = if_match(&req)?;
    let principal = auth.0.clone();
    let ctx = state.ctx.clone();
    let case = write_case(
        &state,
        &req,
        principal,
        None,
        Peer::MayBeTold,
        move |c, principal| {
            let case = repo::get(c, id)?;
            if case.version != expected {
                return Err(CaseError::VersionMismatch {
                    current: case.version,
                });
            }
            handover::answer_handover(c, &ctx, case, plan, Some(principal), None, now)
        },
    )
    .await?;
    Ok(case_response(
        actix_web::http::StatusCode::OK,
        &case,
        auth.0.role,
        now,
    ))
}

/// One handover on the liaisons' board.
#[derive(Debug, Serialize, ToSchema)]
pub struct BoardItem {
    /// Case id on this node.
    #[schema(value_type = String, format = Uuid)]
    pub case_id: CaseId,
    /// Reference quoted between agencies.
    #[schema(value_type = String, example = "NE-2026-7K3QX9")]
    pub reference: crate::domain::ids::CaseReference,
    /// Direction of the referral seen from this node.
    pub direction: Direction,
    /// Current state.
    pub state: State,
    /// When the current step is due.
    pub due_at: Option<DateTime<Utc>>,
    /// Whether it is overdue (e.g. a confirmation missing after its deadline).
    pub overdue: bool,
    /// The plan, once proposed.
    pub plan: Option<crate::domain::handover::Plan>,
    /// `proposed` or `agreed`.
    pub plan_status: Option<crate::domain::handover::PlanStatus>,
    /// Which side made the current proposal.
    pub proposed_by: Option<crate::domain::lifecycle::Side>,
    /// Departure, as recorded by the sending side's liaison.
    pub departure: Option<crate::domain::handover::AtCrossing>,
    /// The sending side's confirmation of the handover.
    pub sending_confirmation: Option<crate::domain::handover::AtCrossing>,
    /// The receiving side's confirmation (arrival).
    pub receiving_confirmation: Option<crate::domain::handover::AtCrossing>,
    /// What the two sides' records disagree on, if anything.
    pub mismatch: Option<String>,
}

/// The board.
#[derive(Debug, Serialize, ToSchema)]
pub struct Board {
    /// Upcoming and open handovers, earliest window first (unplanned last).
    pub items: Vec<BoardItem>,
}

/// The liaisons' board: cases accepted and awaiting a handover plan, plans
/// under negotiation or agreed, handovers in transit, and completed ones
/// whose records disagree.
#[utoipa::path(
    tag = "handover",
    responses((status = 200, description = "The board", body = Board), CommonErrors),
    security(("bearer" = []))
)]
#[get("/handovers")]
pub async fn handover_board(
    auth: Auth,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Permission::ViewHandovers)?;
    let now = now();
    let items = state
        .db
        .read(move |c| {
            let mut items = Vec::new();
            for st in [
                State::Accepted,
                State::HandoverScheduled,
                State::InTransit,
                State::HandedOver,
            ] {
                let filter = CaseFilter {
                    state: Some(st),
                    limit: 500,
                    ..Default::default()
                };
                for case in repo::list(c, &filter, now)? {
                    let h = crate::store::handovers::get(c, case.id)?;
                    if st == State::HandedOver && h.as_ref().is_none_or(|h| h.mismatch.is_none()) {
                        continue;
                    }
                    items.push(BoardItem {
                        case_id: case.id,
                        reference: case.reference.clone(),
                        direction: case.side.into(),
                        state: case.state,
                        due_at: case.due_at.map(utc),
                        overdue: case.is_overdue(now),
                        plan: h.as_ref().map(|h| h.plan.clone()),
                        plan_status: h.as_ref().map(|h| h.status),
                        proposed_by: h.as_ref().map(|h| h.proposed_by),
                        departure: h.as_ref().and_then(|h| h.departure.clone()),
                        sending_confirmation: h.as_ref().and_then(|h| h.sending.clone()),
                        receiving_confirmation: h.as_ref().and_then(|h| h.receiving.clone()),
                        mismatch: h.and_then(|h| h.mismatch),
                    });
                }
            }
            Ok::<_, CaseError>(items)
        })
        .await?;
    let mut items = items;
    items.sort_by_key(|i| (i.plan.is_none(), i.plan.as_ref().map(|p| p.window_from)));
    Ok(HttpResponse::Ok().json(Board { items }))
}

/// Record a repatriation report (family tracing and assessment, risk, travel
/// documents, return plan); it is sent to the other node. Family tracing
/// and assessment travel only if the person's consent covers `family_tracing`.
#[utoipa::path(
    tag = "repatriation",
    request_body = crate::domain::reports::Repatriation,
    params(("id" = uuid::Uuid, Path, description = "Case id (UUID)")),
    responses(
        (status = 200, description = "Recorded and sent", body = CaseResponse),
        (status = 404, description = "No such case (`case_not_found`)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Data erased (`personal_data_erased`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unknown codes (`validation_failed`), or beyond the consent (`consent_scope_exceeded`)", body = Problem, content_type = "application/problem+json"),
        BodyErrors,
        CommonErrors
    ),
    security(("bearer" = []))
)]
#[post("/cases/{id}/repatriation")]
pub async fn report_repatriation(
    auth: Auth,
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<CaseId>,
    body: web::Json<crate::domain::reports::Repatriation>,
) -> Result<HttpResponse, ApiError> {
    let report = body.into_inner();
    report.check().map_err(ApiError::Validation)?;
    record_report(
        auth,
        state,
        req,
        id.into_inner(),
        reports::NewReport::Repatriation(report),
    )
    .await
}

/// Record a reintegration follow-up (receiving side, during monitoring); it
/// is sent back to the referring side. Follow-ups are numbered 1.. after
/// the schedule `deadlines.follow_up_months` (default 3, 6 and 12 months).
#[utoipa::path(
    tag = "repatriation",
    request_body = crate::domain::reports::FollowUp,
    params(("id" = uuid::Uuid, Path, description = "Case id (UUID)")),
    responses(
        (status = 200, description = "Recorded and sent", body = CaseResponse),
        (status = 404, description = "No such case (`case_not_found`)", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Only the receiving side records follow-ups (`wrong_side`)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not in monitoring (`not_in_monitoring`), already recorded (`report_exists`), data erased (`personal_data_erased`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unknown codes or number out of the schedule (`validation_failed`)", body = Problem, content_type = "application/problem+json"),
        BodyErrors,
        CommonErrors
    ),
    security(("bearer" = []))
)]
#[post("/cases/{id}/follow-ups")]
pub async fn report_follow_up(
    auth: Auth,
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<CaseId>,
    body: web::Json<crate::domain::reports::FollowUp>,
) -> Result<HttpResponse, ApiError> {
    let report = body.into_inner();
    report
        .check(state.follow_up_months.len())
        .map_err(ApiError::Validation)?;
    record_report(
        auth,
        state,
        req,
        id.into_inner(),
        reports::NewReport::FollowUp(report),
    )
    .await
}

async fn record_report(
    auth: Auth,
    state: web::Data<AppState>,
    req: HttpRequest,
    id: CaseId,
    report: reports::NewReport,
) -> Result<HttpResponse, ApiError> {
    auth.require(Permission::ReportOutcomes)?;
    let now = now();
    let ctx = state.ctx.clone();
    let case = write_case(
        &state,
        &req,
        auth.0.clone(),
        None,
        Peer::MayBeTold,
        move |c, principal| {
            let case = repo::get(c, id)?;
            reports::record_report(c, &ctx, case, report, Some(principal), now)
        },
    )
    .await?;
    Ok(case_response(
        actix_web::http::StatusCode::OK,
        &case,
        auth.0.role,
        now,
    ))
}

/// A follow-up of the schedule.
#[derive(Debug, Serialize, ToSchema)]
pub struct FollowUpView {
    /// 1 for the first.
    #[schema(minimum = 1)]
    pub number: u32,
    /// When it is due (from the start of monitoring), once monitoring started.
    pub due_on: Option<chrono::NaiveDate>,
    /// Whether it is past due and not reported.
    pub overdue: bool,
    /// The report, once recorded.
    pub report: Option<crate::domain::reports::FollowUp>,
    /// When it was recorded.
    pub recorded_at: Option<DateTime<Utc>>,
}

/// The follow-ups of the schedule, with their due dates and reports.
fn follow_up_views(
    reports: &[reports::Report],
    monitoring_started: Option<NaiveDateTime>,
    months: &[u32],
    now: NaiveDateTime,
) -> Vec<FollowUpView> {
    let due = monitoring_started
        .map(|s| crate::domain::reports::schedule(s.date(), months))
        .unwrap_or_default();
    months
        .iter()
        .enumerate()
        .map(|(i, _)| {
            let number = i as u32 + 1;
            let rec = reports
                .iter()
                .find(|r| r.kind == "follow_up" && r.number == i64::from(number));
            let due_on = due.get(i).copied();
            FollowUpView {
                number,
                due_on,
                overdue: due_on.is_some_and(|d| {
                    crate::domain::reports::follow_up_overdue(d, rec.is_some(), now)
                }),
                report: rec.and_then(|r| serde_json::from_value(r.data.clone()).ok()),
                recorded_at: rec.map(|r| utc(r.recorded_at)),
            }
        })
        .collect()
}

/// A repatriation report as recorded.
#[derive(Debug, Serialize, ToSchema)]
pub struct RepatriationView {
    /// The report.
    pub report: crate::domain::reports::Repatriation,
    /// Which side recorded it.
    pub by: crate::domain::lifecycle::Side,
    /// When.
    pub recorded_at: DateTime<Utc>,
    /// Whether this is the current report (the latest; earlier ones are
    /// kept as they were).
    pub current: bool,
}

/// Repatriation reports and the follow-up schedule.
#[derive(Debug, Serialize, ToSchema)]
pub struct Reports {
    /// Repatriation reports, oldest first.
    pub repatriation: Vec<RepatriationView>,
    /// The follow-ups of the schedule, with their reports.
    pub follow_ups: Vec<FollowUpView>,
}

/// Repatriation reports and the reintegration follow-ups (due, done, overdue).
#[utoipa::path(
    tag = "repatriation",
    params(("id" = uuid::Uuid, Path, description = "Case id (UUID)")),
    responses(
        (status = 200, description = "The reports", body = Reports),
        (status = 404, description = "No such case (`case_not_found`)", body = Problem, content_type = "application/problem+json"),
        CommonErrors
    ),
    security(("bearer" = []))
)]
#[get("/cases/{id}/reports")]
pub async fn case_reports(
    auth: Auth,
    state: web::Data<AppState>,
    id: web::Path<CaseId>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Permission::ReportOutcomes)?;
    let id = id.into_inner();
    let (reports, started) = state
        .db
        .read(move |c| {
            repo::get(c, id)?;
            Ok::<_, CaseError>((
                reports::reports(c, id)?,
                reports::monitoring_started(c, id)?,
            ))
        })
        .await?;
    let follow_ups = follow_up_views(&reports, started, &state.follow_up_months, now());
    let mut repatriation: Vec<RepatriationView> = reports
        .iter()
        .filter(|r| r.kind == "repatriation")
        .filter_map(|r| {
            Some(RepatriationView {
                report: serde_json::from_value(r.data.clone()).ok()?,
                by: r.by,
                recorded_at: utc(r.recorded_at),
                current: false,
            })
        })
        .collect();
    if let Some(last) = repatriation.last_mut() {
        last.current = true;
    }
    Ok(HttpResponse::Ok().json(Reports {
        repatriation,
        follow_ups,
    }))
}
