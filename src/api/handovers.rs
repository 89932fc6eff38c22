//! Handover negotiation on a case (counter-proposal, acceptance) and the
//! border liaisons' board.

use actix_web::{get, post, web, HttpRequest, HttpResponse};
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::Auth;
use super::{utc, AppState};
use crate::api::error::{ApiError, Problem};
use crate::domain::ids::CaseId;
use crate::domain::lifecycle::State;
use crate::domain::roles::Permission;

use super::case_views::*;
use super::cases::{caller, if_match, write_case};

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
    security(("bearer" = []), ("session" = []))
)]
#[post("/cases/{id}/handover/counter-proposal")]
pub async fn counter_propose_handover(
    auth: Auth,
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<CaseId>,
    body: web::Json<crate::domain::handover::PlanInput>,
) -> Result<HttpResponse, ApiError> {
    let now = state.ctx.clock.now();
    let plan = body
        .into_inner()
        .parse(now.date(), &state.app().active_crossings().await?)
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
    security(("bearer" = []), ("session" = []))
)]
#[post("/cases/{id}/handover/acceptance")]
pub async fn accept_handover(
    auth: Auth,
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<CaseId>,
) -> Result<HttpResponse, ApiError> {
    let now = state.ctx.clock.now();
    answer_handover(auth, state, req, id.into_inner(), None, now).await
}

async fn answer_handover(
    auth: Auth,
    state: web::Data<AppState>,
    req: HttpRequest,
    id: CaseId,
    plan: Option<crate::domain::handover::Plan>,
    _now: NaiveDateTime,
) -> Result<HttpResponse, ApiError> {
    auth.require(Permission::NegotiateHandover)?;
    let expected = if_match(&req)?;
    let app = state.app();
    let change = app.answer_handover(caller(&req, &auth, None), id, expected, plan);
    write_case(&state, &req, auth.0.role, change).await
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

/// A page of the board.
#[derive(Debug, Serialize, ToSchema)]
pub struct Board {
    /// Upcoming and open handovers, earliest window first (unplanned last).
    pub items: Vec<BoardItem>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// Paging of the board.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct BoardQuery {
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Handovers per page, 1 to 500 (default 100).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
}

/// Where a handover stands on the board: unplanned ones last, then by the
/// first day of the window, then by case.
type BoardKey = (bool, Option<chrono::NaiveDate>, CaseId);

fn board_key(i: &BoardItem) -> BoardKey {
    (
        i.plan.is_none(),
        i.plan.as_ref().map(|p| p.window_from),
        i.case_id,
    )
}

fn encode_board_cursor((unplanned, from, id): &BoardKey) -> String {
    use base64::Engine;
    let text = format!(
        "{}.{}.{id}",
        u8::from(*unplanned),
        from.map(|d| d.to_string()).unwrap_or_else(|| "-".into())
    );
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
}

fn decode_board_cursor(cursor: &str) -> Result<BoardKey, ApiError> {
    use base64::Engine;
    let invalid = super::invalid_cursor;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    let mut parts = text.splitn(3, '.');
    let unplanned = match parts.next() {
        Some("0") => false,
        Some("1") => true,
        _ => return Err(invalid()),
    };
    let from = match parts.next() {
        Some("-") => None,
        Some(d) => Some(d.parse().map_err(|_| invalid())?),
        None => return Err(invalid()),
    };
    let id = parts
        .next()
        .and_then(|i| i.parse().ok())
        .ok_or_else(invalid)?;
    Ok((unplanned, from, id))
}

/// The liaisons' board: cases accepted and awaiting a handover plan, plans
/// under negotiation or agreed, handovers in transit, and completed ones
/// whose records disagree, a page at a time (follow `next_cursor`: nothing
/// is left out, the longest waiting included). The board holds open work,
/// not history: its cost follows the handovers in progress.
#[utoipa::path(
    tag = "handover",
    params(BoardQuery),
    responses(
        (status = 200, description = "A page of the board", body = Board),
        (status = 422, description = "`limit` out of range (`validation_failed`)", body = Problem, content_type = "application/problem+json"),
        CommonErrors
    ),
    security(("bearer" = []), ("session" = []))
)]
#[get("/handovers")]
pub async fn handover_board(
    auth: Auth,
    state: web::Data<AppState>,
    query: web::Query<BoardQuery>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Permission::ViewHandovers)?;
    let q = query.into_inner();
    let limit = q.limit.unwrap_or(100);
    if let Some(e) = super::limit_out_of_range(limit, 500) {
        return Err(ApiError::Validation(vec![e]));
    }
    let after = q.cursor.as_deref().map(decode_board_cursor).transpose()?;
    let now = state.ctx.clock.now();
    let items = state.app().handover_board().await?;
    let items: Vec<BoardItem> = items
        .into_iter()
        .map(|(case, h)| BoardItem {
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
        })
        .collect();
    let mut items: Vec<BoardItem> = items
        .into_iter()
        .filter(|i| after.is_none_or(|a| board_key(i) > a))
        .collect();
    items.sort_by_key(board_key);
    let more = items.len() > limit as usize;
    items.truncate(limit as usize);
    let next_cursor = more
        .then(|| items.last().map(|i| encode_board_cursor(&board_key(i))))
        .flatten();
    Ok(HttpResponse::Ok().json(Board { items, next_cursor }))
}
