//! Withdrawal of the person's consent on a case: the data is erased here
//! and the other node is told to erase its copy.
use crate::domain::FieldError;
use actix_web::{post, web, HttpRequest, HttpResponse};
use serde::Deserialize;
use utoipa::ToSchema;

use super::auth::Auth;
use super::AppState;
use crate::api::error::{ApiError, Problem};
use crate::domain::ids::CaseId;
use crate::domain::roles::Permission;

use super::case_views::*;
use super::cases::{caller, write_case};

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
    security(("bearer" = []), ("session" = []))
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
    let now = state.ctx.clock.now();
    let today = crate::domain::deadlines::local_date(now);
    let withdrawn_on = body.into_inner().withdrawn_on.unwrap_or(today);
    if withdrawn_on > today {
        return Err(ApiError::Validation(vec![FieldError::new(
            "withdrawn_on",
            "in_future",
            "the withdrawal date is in the future",
        )]));
    }
    let id = id.into_inner();
    let _ctx = state.ctx.clone();
    let app = state.app();
    let change = app.withdraw_consent(caller(&req, &auth, None), id, withdrawn_on);
    write_case(&state, &req, auth.0.role, change).await
}
