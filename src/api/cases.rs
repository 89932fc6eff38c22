//! `/api/v1/cases`: referral cases, their lifecycle and timeline.

use crate::domain::problem::ProblemCode;
use actix_web::http::header;
use actix_web::{get, post, put, web, HttpMessage, HttpRequest, HttpResponse};
use base64::Engine;
use chrono::NaiveDateTime;

use super::audit;
use super::auth::Auth;
use super::{utc, AppState};
use crate::api::error::{ApiError, Problem};
use crate::app::cases::{self as repo, Case, CaseError, CaseFilter, Event, NewDraft};
use crate::app::service::Caller;
use crate::domain::case::{CaseDetails, Identity};
use crate::domain::ids::CaseId;
use crate::domain::lifecycle::{Action, Side, TransitionParams, HANDOVER_STAGES};
use crate::domain::roles::{CaseView, Permission, Role};
use crate::domain::FieldError;

use super::case_reports::follow_up_views;
pub use super::case_views::*;
/// Who makes a case-changing request, as their audit entry names it: the
/// lifecycle action for a transition, else the operation
/// (`POST /api/v1/cases/{id}/…`).
pub(super) fn caller(req: &HttpRequest, auth: &Auth, lifecycle_action: Option<&str>) -> Caller {
    Caller {
        principal: auth.0.clone(),
        action: lifecycle_action.map_or_else(
            || {
                format!(
                    "{} {}",
                    req.method(),
                    req.match_pattern().unwrap_or_default()
                )
            },
            str::to_owned,
        ),
    }
}

/// What every case-changing handler does after its use case (which wrote
/// the change and the caller's audit entry in one transaction, and woke the
/// dispatcher as it committed if it queued a message for the other node):
/// marks the request audited and answers with the case in the caller's view
/// and its new `ETag`.
pub(super) async fn write_case(
    state: &AppState,
    req: &HttpRequest,
    role: Role,
    change: impl std::future::Future<Output = Result<Case, CaseError>>,
) -> Result<HttpResponse, ApiError> {
    let case = change.await?;
    req.extensions_mut().insert(audit::Audited);
    tracing::info!(case = %case.id, state = %case.state, version = case.version, "case changed");
    Ok(case_response(
        actix_web::http::StatusCode::OK,
        &case,
        role,
        state.ctx.clock.now(),
    ))
}

/// Largest page of a case list.
pub const MAX_PAGE: u32 = 200;
/// Default page size.
pub const DEFAULT_PAGE: u32 = 50;
/// Longest accepted `Idempotency-Key`.
pub const MAX_IDEMPOTENCY_KEY: usize = 255;

pub(crate) fn etag(version: i64) -> (header::HeaderName, String) {
    (header::ETAG, format!("\"{version}\""))
}

/// Liaisons work only on cases between acceptance and handover.
pub(super) fn check_scope(auth: &Auth, case: &Case) -> Result<(), ApiError> {
    if auth.0.role.case_view() == Some(CaseView::Handover) && !HANDOVER_STAGES.contains(&case.state)
    {
        return Err(ApiError::Refused(
            ProblemCode::OutsideRoleScope,
            "border liaisons see cases only from acceptance to handover".into(),
        ));
    }
    Ok(())
}

pub(super) fn if_match(req: &HttpRequest) -> Result<i64, ApiError> {
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

pub(super) fn idempotency_key(req: &HttpRequest) -> Result<Option<String>, ApiError> {
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

pub(super) fn parse_case_request(
    body: CaseRequest,
) -> Result<(CaseDetails, Option<Identity>), ApiError> {
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

pub(super) fn case_response(
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
    security(("bearer" = []), ("session" = []))
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
    let now = state.ctx.clock.now();
    let draft = NewDraft {
        node: state.ctx.node,
        details,
        identity,
        idempotency,
    };
    let created = state
        .app()
        .create_case(caller(&req, &auth, None), draft)
        .await?;
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
    security(("bearer" = []), ("session" = []))
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
    let now = state.ctx.clock.now();
    let mut cases = state.app().cases(filter).await?;
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
        .ok_or_else(super::invalid_cursor)
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
    security(("bearer" = []), ("session" = []))
)]
#[get("/cases/{id}")]
pub async fn get_case(
    auth: Auth,
    state: web::Data<AppState>,
    id: web::Path<CaseId>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Permission::ReadCase)?;
    let id = id.into_inner();
    let file = state.app().case_file(id).await?;
    let case = file.case;
    check_scope(&auth, &case)?;
    let view = auth.0.role.case_view();
    let mut body = render(&case, auth.0.role, state.ctx.clock.now());
    body.waiting_for_peer_since = file.waiting_since.map(utc);
    body.disagreement = file.disagreement.map(Into::into);
    if matches!(view, Some(CaseView::Full | CaseView::Handover)) {
        body.handover_plan = file.handover.map(Into::into);
    }
    if view == Some(CaseView::Full) {
        let mut d = DeliverySummary::default();
        for (status, n) in file.delivery {
            match status.as_str() {
                "pending" => d.pending = n,
                "delivered" => d.delivered = n,
                "rejected" => d.rejected = n,
                "suspended" => d.suspended = n,
                _ => {}
            }
        }
        body.delivery = Some(d);
        body.follow_ups = Some(follow_up_views(
            &file.reports,
            file.monitoring_started,
            &state.follow_up_months,
            state.ctx.clock.now(),
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
    security(("bearer" = []), ("session" = []))
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
    let app = state.app();
    let change = app.edit_draft(caller(&req, &auth, None), id, expected, details, identity);
    write_case(&state, &req, auth.0.role, change).await
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
    security(("bearer" = []), ("session" = []))
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
        state.app().active_crossings().await?
    } else {
        Vec::new()
    };
    params.handover = crate::domain::handover::params_for(
        action,
        body.handover,
        state.ctx.clock.now().date(),
        &crossings,
    )
    .map_err(ApiError::Validation)?;
    let id = id.into_inner();
    if auth.0.role.case_view() == Some(CaseView::Handover) {
        let current = state.app().case(id).await?;
        check_scope(&auth, &current)?;
    }
    let _now = state.ctx.clock.now();
    let app = state.app();
    let change = app.take_action(
        caller(&req, &auth, Some(action.as_str())),
        id,
        expected,
        action,
        params,
    );
    write_case(&state, &req, auth.0.role, change).await
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
    security(("bearer" = []), ("session" = []))
)]
#[get("/cases/{id}/events")]
pub async fn case_events(
    auth: Auth,
    state: web::Data<AppState>,
    id: web::Path<CaseId>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Permission::ReadTimeline)?;
    let id = id.into_inner();
    let (case, events) = state.app().timeline(id).await?;
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
