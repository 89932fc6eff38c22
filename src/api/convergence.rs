//! Disagreements between the two nodes' copies of shared cases: the list
//! (administrators and the JTWG: ids and states only), a comparison on
//! demand, and a supervisor's decision on an escalated one.

use crate::domain::problem::ProblemCode;
use actix_web::{get, post, web, HttpMessage, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::audit;
use super::auth::Auth;
use super::cases::{BodyErrors, CommonErrors};
use super::{utc, AppState};
use crate::api::error::{ApiError, Problem};
use crate::app::convergence::RoundReport;
use crate::domain::ids::CaseId;
use crate::domain::roles::{Permission, Role};
use crate::domain::FieldError;

/// One disagreement (no personal data).
#[derive(Debug, Serialize, ToSchema)]
pub struct Disagreement {
    /// The referral both nodes share.
    pub referral_id: String,
    /// This node's state when the disagreement was found.
    pub local_state: String,
    /// The other node's state (`absent`: it holds no copy).
    pub peer_state: String,
    /// When it was found (UTC).
    pub detected_at: DateTime<Utc>,
    /// When the two nodes were last compared on it (UTC).
    pub checked_at: DateTime<Utc>,
    /// `reapplied` (this node applied again a message it had rejected),
    /// `adopted_peer_state`, `kept_local_state` (the other node adopts this
    /// one's), `repaired_at_peer` (the other node repaired its side),
    /// `escalated` (a supervisor decides) or `adopted_by_supervisor`.
    pub resolution: String,
    /// When both nodes were found to agree again (UTC); `null` while open.
    pub resolved_at: Option<DateTime<Utc>>,
}

/// Disagreements, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct DisagreementList {
    /// At most 1000, newest first.
    pub items: Vec<Disagreement>,
}

/// Disagreements found between the two nodes' copies of shared cases, and
/// how each was settled (the repair rule is in the README).
#[utoipa::path(
    tag = "exchange",
    responses((status = 200, description = "Disagreements, open and settled", body = DisagreementList), CommonErrors),
    security(("bearer" = []), ("session" = []))
)]
#[get("/disagreements")]
pub async fn list(auth: Auth, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    auth.require(Permission::ReviewExchange)?;
    let rows = state.app().disagreements(false).await?;
    Ok(HttpResponse::Ok().json(DisagreementList {
        items: rows
            .into_iter()
            .map(|r| Disagreement {
                referral_id: r.referral_id,
                local_state: r.local_state,
                peer_state: r.peer_state,
                detected_at: utc(r.detected_at),
                checked_at: utc(r.checked_at),
                resolution: r.resolution,
                resolved_at: r.resolved_at.map(utc),
            })
            .collect(),
    }))
}

/// Compare every shared case with the other node now (it also happens every
/// `peer.compare_interval_secs`), repairing what the rule allows.
#[utoipa::path(
    tag = "exchange",
    responses(
        (status = 200, description = "What the comparison found", body = RoundReport),
        (status = 502, description = "The other node could not be reached (`comparison_failed`)", body = Problem, content_type = "application/problem+json"),
        CommonErrors
    ),
    security(("bearer" = []), ("session" = []))
)]
#[post("/admin/convergence")]
pub async fn compare_now(auth: Auth, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    auth.require(Permission::ManageExchange)?;
    let report = state
        .convergence
        .round()
        .await
        .map_err(|e| ApiError::Refused(ProblemCode::ComparisonFailed, e.to_string()))?;
    Ok(HttpResponse::Ok().json(report))
}

/// A supervisor's decision on a disagreement no rule could settle.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DisagreementDecision {
    /// `adopt_peer_state`: this node takes the state the other node holds.
    /// (To keep this node's state instead, the other agency's supervisor
    /// adopts it on their node.)
    pub decision: String,
}

/// Settle an escalated disagreement on this node: adopt the other node's
/// state (supervisors).
#[utoipa::path(
    tag = "cases",
    request_body = DisagreementDecision,
    params(("id" = uuid::Uuid, Path, description = "Case id (UUID)")),
    responses(
        (status = 200, description = "The case, now in the other node's state", body = super::cases::CaseResponse),
        (status = 404, description = "No such case (`case_not_found`) or no open disagreement on it (`no_disagreement`)", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not JSON (`unsupported_media_type`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unknown decision (`validation_failed`)", body = Problem, content_type = "application/problem+json"),
        BodyErrors,
        CommonErrors
    ),
    security(("bearer" = []), ("session" = []))
)]
#[post("/cases/{id}/disagreement")]
pub async fn decide(
    auth: Auth,
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<CaseId>,
    body: web::Json<DisagreementDecision>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Permission::TransitionCase)?;
    if auth.0.role != Role::Supervisor {
        return Err(ApiError::Refused(
            ProblemCode::RoleNotPermitted,
            "only a supervisor settles a disagreement with the other node".into(),
        ));
    }
    if body.decision != "adopt_peer_state" {
        return Err(ApiError::Validation(vec![FieldError::new(
            "decision",
            "invalid_value",
            "the decision is `adopt_peer_state`",
        )]));
    }
    let id = id.into_inner();
    let case = state
        .app()
        .adopt_peer_state(super::cases::caller(&req, &auth, None), id)
        .await?
        .ok_or_else(|| {
            ApiError::Refused(
                ProblemCode::NoDisagreement,
                "no open disagreement with a state to adopt on this case".into(),
            )
        })?;
    req.extensions_mut().insert(audit::Audited);
    Ok(HttpResponse::Ok()
        .insert_header(super::cases::etag(case.version))
        .json(super::cases::render(
            &case,
            auth.0.role,
            state.ctx.clock.now(),
        )))
}
