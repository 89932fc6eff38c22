//! The API's audit trail. Handlers that change something log their action
//! in the same transaction as the change (and mark the request [`Audited`]);
//! this middleware logs every other `/api/v1` request after it is answered:
//! successful reads of case data as `access`, other successful requests as
//! `api_action`, and every refusal (4xx/5xx, authentication failures
//! included) as `refusal` with its problem code. A successful answer whose
//! entry cannot be written is replaced by a 503: nobody reads case data
//! without a trace.

use crate::domain::problem::ProblemCode;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage};

use super::AppState;
use crate::api::error::{AnsweredCode, ApiError};
use crate::app::accounts::Principal;
use crate::audit::{kinds, Entry};
use crate::store::DbError;

/// Request extension: the handler logged this request itself.
#[derive(Debug, Clone, Copy)]
pub struct Audited;

/// Marks the request audited: its use case wrote the caller's entry.
pub fn mark_audited(req: &actix_web::HttpRequest) {
    req.extensions_mut().insert(Audited);
}

pub use crate::app::audit::user_entry as entry;

/// Routes whose successful GET returns case data (the access log).
fn reads_case_data(route: &str) -> bool {
    route.starts_with("/api/v1/cases")
}

/// Middleware: see the module documentation.
pub async fn record(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    if !req.path().starts_with("/api/v1/") {
        return next.call(req).await.map(|r| r.map_into_boxed_body());
    }
    let res = next.call(req).await?;
    let request = res.request();
    if request.extensions().get::<Audited>().is_some() {
        return Ok(res.map_into_boxed_body());
    }
    let Some(state) = request.app_data::<web::Data<AppState>>().cloned() else {
        return Ok(res.map_into_boxed_body());
    };
    let route = request
        .match_pattern()
        .unwrap_or_else(|| "unmatched".into());
    let action = format!("{} {route}", request.method());
    let principal = request.extensions().get::<Principal>().cloned();
    let status = res.status();
    let kind = if !status.is_success() {
        kinds::REFUSAL
    } else if request.method() == actix_web::http::Method::GET && reads_case_data(&route) {
        kinds::ACCESS
    } else {
        kinds::API_ACTION
    };
    let mut e = match &principal {
        Some(p) => entry(kind, p, action),
        None => Entry::new(kind, "anonymous", action),
    };
    if route.starts_with("/api/v1/cases/{id}") {
        e.case_id = request
            .match_info()
            .get("id")
            .filter(|id| uuid::Uuid::parse_str(id).is_ok())
            .map(str::to_owned);
    }
    if !status.is_success() {
        e.outcome = "refused".into();
        e.code = Some(
            res.response()
                .extensions()
                .get::<AnsweredCode>()
                .map_or("error", |c| c.0.as_str())
                .to_owned(),
        );
    }
    let written = state.app().log(e).await;
    match written {
        Ok(()) => Ok(res.map_into_boxed_body()),
        Err(e) if status.is_success() => {
            tracing::error!(error = %e, "audit entry not written: answer withheld");
            let (req, _) = res.into_parts();
            let err = ApiError::Refused(
                ProblemCode::AuditUnavailable,
                "the audit log cannot be written; try again later".into(),
            );
            Ok(ServiceResponse::new(
                req,
                actix_web::ResponseError::error_response(&err),
            ))
        }
        Err(e) => {
            let e: DbError = e;
            tracing::error!(error = %e, status = status.as_u16(), "audit entry of a refusal not written");
            Ok(res.map_into_boxed_body())
        }
    }
}
