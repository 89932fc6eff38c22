//! Repatriation reports and reintegration follow-ups of a case, with the
//! follow-up schedule (due, done, overdue).

use actix_web::{get, post, web, HttpRequest, HttpResponse};
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::auth::Auth;
use super::{utc, AppState};
use crate::api::error::{ApiError, Problem};
use crate::app::reports;
use crate::domain::ids::CaseId;
use crate::domain::roles::Permission;

use super::case_views::*;
use super::cases::{caller, write_case};

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
    security(("bearer" = []), ("session" = []))
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
    security(("bearer" = []), ("session" = []))
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
    let app = state.app();
    let change = app.record_report(caller(&req, &auth, None), id, report);
    write_case(&state, &req, auth.0.role, change).await
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
pub(super) fn follow_up_views(
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
    security(("bearer" = []), ("session" = []))
)]
#[get("/cases/{id}/reports")]
pub async fn case_reports(
    auth: Auth,
    state: web::Data<AppState>,
    id: web::Path<CaseId>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Permission::ReportOutcomes)?;
    let id = id.into_inner();
    let (_, reports, started) = state.app().reports(id).await?;
    let follow_ups = follow_up_views(
        &reports,
        started,
        &state.follow_up_months,
        state.ctx.clock.now(),
    );
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
