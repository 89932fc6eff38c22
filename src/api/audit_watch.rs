//! The watch over the other node's log, for the JTWG and administrators:
//! how far the re-check has gone, whether cosigning is suspended after a
//! mismatch, and the administrator's acknowledgement that lifts it.

use actix_web::{get, post, web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::auth::Auth;
use super::cases::CommonErrors;
use super::{utc, AppState};
use crate::api::error::{ApiError, Problem};
use crate::domain::problem::ProblemCode;
use crate::domain::roles::Permission;

/// Where the watch over the other node's log stands.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditWatch {
    /// Entries of the other node's log witnessed (cosigned) here.
    pub witnessed: u64,
    /// Where the next round of the re-check starts (it wraps to 0 after the
    /// last witnessed entry).
    pub next_index: u64,
    /// Complete passes over the witnessed entries so far.
    pub passes: i64,
    /// When the last round ran.
    pub last_checked_at: Option<DateTime<Utc>>,
    /// `active`, or `suspended` after a mismatch until an administrator
    /// acknowledges it.
    #[schema(example = "active")]
    pub cosigning: String,
    /// The mismatch that suspended cosigning, while it is suspended.
    pub suspension: Option<Suspension>,
    /// Mismatches acknowledged by administrators so far.
    pub acknowledged: i64,
}

/// A mismatch found in the other node's log.
#[derive(Debug, Serialize, ToSchema)]
pub struct Suspension {
    /// When the mismatch was found and cosigning stopped.
    pub since: DateTime<Utc>,
    /// The first entry of the other node's log that no longer matches.
    pub index: u64,
    /// `changed`, `missing` or `receipt_not_proven`.
    pub problem: String,
}

/// The acknowledged mismatch.
#[derive(Debug, Serialize, ToSchema)]
pub struct Acknowledged {
    /// The index acknowledged; cosigning has resumed.
    pub index: u64,
}

/// Where the watch over the other node's log stands.
#[utoipa::path(
    tag = "audit",
    responses((status = 200, description = "The watch", body = AuditWatch), CommonErrors),
    security(("bearer" = []), ("session" = []))
)]
#[get("/audit/watch")]
pub async fn watch(auth: Auth, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    auth.require(Permission::ReviewExchange)?;
    let st = state.app().audit_watch().await?;
    let r = st.row;
    let suspension = match (r.suspended_at, r.suspended_index) {
        (Some(at), Some(index)) => Some(Suspension {
            since: utc(at),
            index: u64::try_from(index).unwrap_or(0),
            problem: r.suspended_problem.unwrap_or_default(),
        }),
        _ => None,
    };
    Ok(HttpResponse::Ok().json(AuditWatch {
        witnessed: st.witnessed,
        next_index: u64::try_from(r.next_index).unwrap_or(0),
        passes: r.passes,
        last_checked_at: r.last_checked_at.map(utc),
        cosigning: if suspension.is_some() {
            "suspended"
        } else {
            "active"
        }
        .into(),
        suspension,
        acknowledged: st.acknowledged,
    }))
}

/// Acknowledge the mismatch that suspended cosigning the other node's log:
/// cosigning resumes, and later rounds pass over that entry while the other
/// node shows it unchanged since.
#[utoipa::path(
    tag = "audit",
    responses(
        (status = 200, description = "Acknowledged; cosigning resumed", body = Acknowledged),
        (status = 409, description = "Cosigning is not suspended (`watch_not_suspended`)", body = Problem, content_type = "application/problem+json"),
        CommonErrors
    ),
    security(("bearer" = []), ("session" = []))
)]
#[post("/audit/watch/acknowledge")]
pub async fn acknowledge(
    auth: Auth,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    auth.require(Permission::ManageAudit)?;
    let caller = crate::api::cases::caller(&req, &auth, None);
    match state.app().acknowledge_mismatch(caller).await? {
        Some(index) => {
            crate::api::audit::mark_audited(&req);
            Ok(HttpResponse::Ok().json(Acknowledged { index }))
        }
        None => Err(ApiError::Refused(
            ProblemCode::WatchNotSuspended,
            "cosigning the other node's log is not suspended".into(),
        )),
    }
}
