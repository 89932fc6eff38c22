//! Error policy.
//!
//! * Every 4xx/5xx response is `application/problem+json` (RFC 9457) with a
//!   stable machine-readable `code`; clients branch on `code`, never on
//!   `title` or `detail`. The `type` is `urn:passerelle:problem:{code}`.
//! * Each area has its own error enum (`CaseError`, `UserError`, `DbError`,
//!   `TransitionError`); [`ApiError`] maps them to a status and a code in one
//!   `match`, here. Validation problems list every bad field in `errors`.
//! * Extractor failures (malformed JSON, unknown field, body too large, wrong
//!   content type, bad path or query parameter) go through the same type via
//!   the extractor configs in [`crate::api`], and [`problem_fallback`] turns
//!   anything actix still answers in plain text (unknown route, wrong method)
//!   into a problem too.
//! * 5xx details are logged, never sent: the client gets a generic detail.
//! * Every 401 and 403 is logged (method, route, user, code) by [`problem_fallback`].

use actix_web::dev::ServiceResponse;
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::middleware::ErrorHandlerResponse;
use actix_web::{HttpMessage, HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::ToSchema;

use crate::db::cases::CaseError;
use crate::db::users::Principal;
use crate::db::DbError;
use crate::domain::lifecycle::TransitionError;
use crate::domain::FieldError;

pub const PROBLEM_JSON: &str = "application/problem+json";

tokio::task_local! {
    /// The language of the request being answered (from `Accept-Language`).
    pub static LANG: crate::domain::i18n::Lang;
}

/// The language of the request being answered (English outside a request).
pub fn current_lang() -> crate::domain::i18n::Lang {
    LANG.try_with(|l| *l).unwrap_or_default()
}

/// An RFC 9457 problem document.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    /// URI identifying the problem type: `urn:passerelle:problem:{code}`.
    #[serde(rename = "type")]
    pub type_uri: String,
    /// Short, human-readable summary of the problem type.
    pub title: String,
    /// HTTP status code.
    pub status: u16,
    /// Human-readable explanation of this occurrence.
    pub detail: String,
    /// Stable machine-readable code (e.g. `version_mismatch`).
    pub code: String,
    /// Field-level problems, for validation errors.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// For `version_mismatch` (412): the case's current version; the answer's
    /// `ETag` carries it too, so a client can re-read and retry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_version: Option<i64>,
}

impl Problem {
    pub fn new(status: StatusCode, code: &str, detail: impl Into<String>) -> Self {
        Self {
            type_uri: format!("urn:passerelle:problem:{code}"),
            title: crate::domain::i18n::problem_title(code, current_lang()).to_owned(),
            status: status.as_u16(),
            detail: detail.into(),
            code: code.to_owned(),
            errors: Vec::new(),
            current_version: None,
        }
    }

    /// Adds field errors, their messages in the request's language.
    pub fn with_errors(mut self, errors: Vec<FieldError>) -> Self {
        let lang = current_lang();
        self.errors = errors
            .into_iter()
            .map(|mut e| {
                if lang == crate::domain::i18n::Lang::Fr {
                    if let Some(m) = crate::domain::field_messages::french(e.code, &e.field) {
                        e.message = m;
                    }
                }
                e
            })
            .collect();
        self
    }

    pub fn response(&self) -> HttpResponse {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut res = HttpResponse::build(status);
        res.insert_header((header::CONTENT_TYPE, PROBLEM_JSON));
        if status == StatusCode::UNAUTHORIZED {
            res.insert_header((header::WWW_AUTHENTICATE, "Bearer realm=\"passerelle\""));
        }
        res.body(serde_json::to_string(self).unwrap_or_else(|_| String::from("{}")))
    }
}

/// Errors of the HTTP API, each with its status and code.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The reason is logged, never sent: the client only learns that a
    /// valid token is required.
    #[error("a valid bearer token is required")]
    Unauthenticated(&'static str),
    #[error("{1}")]
    Forbidden(&'static str, String),
    #[error("{1}")]
    BadRequest(&'static str, String),
    #[error("{0}")]
    NotFound(String),
    #[error("{1}")]
    NotFoundCode(&'static str, String),
    #[error("the request body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// A known path with a method it does not take.
    #[error("{0}")]
    MethodNotAllowed(String),
    #[error("the request is invalid")]
    Validation(Vec<FieldError>),
    #[error("this request needs an If-Match header with the case's current ETag")]
    PreconditionRequired,
    #[error(transparent)]
    Case(#[from] CaseError),
    #[error(transparent)]
    Db(#[from] DbError),
    /// A dependency is unavailable (the detail is safe to send).
    #[error("{1}")]
    Unavailable(&'static str, String),
    #[error("{1}")]
    Conflict(&'static str, String),
    /// The peer node refused or could not be reached (the detail is safe to send).
    #[error("{1}")]
    BadGateway(&'static str, String),
    #[error("{0}")]
    Internal(String),
}

impl From<diesel::result::Error> for ApiError {
    fn from(e: diesel::result::Error) -> Self {
        ApiError::Db(DbError::Query(e))
    }
}

impl ApiError {
    fn db_problem(e: &DbError) -> (StatusCode, &'static str) {
        match e {
            DbError::Pool(_) | DbError::Cancelled | DbError::Commit(_) => {
                (StatusCode::SERVICE_UNAVAILABLE, "database_unavailable")
            }
            // Another process holds SQLite's write lock beyond the busy
            // timeout, or PostgreSQL aborted a transaction that conflicted
            // with another: nothing was written and retrying is safe.
            e if e.is_transient() => (StatusCode::SERVICE_UNAVAILABLE, "database_busy"),
            _ => (StatusCode::INTERNAL_SERVER_ERROR, "internal_error"),
        }
    }

    /// Status and stable code.
    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::Unauthenticated(_) => (StatusCode::UNAUTHORIZED, "unauthenticated"),
            ApiError::Forbidden(code, _) => (StatusCode::FORBIDDEN, code),
            ApiError::BadRequest(code, _) => (StatusCode::BAD_REQUEST, code),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::NotFoundCode(code, _) => (StatusCode::NOT_FOUND, code),
            ApiError::PayloadTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            ApiError::UnsupportedMediaType(_) => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
            }
            ApiError::MethodNotAllowed(_) => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            ApiError::Validation(_) => (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
            ApiError::PreconditionRequired => {
                (StatusCode::PRECONDITION_REQUIRED, "if_match_required")
            }
            ApiError::Case(e) => match e {
                CaseError::NotFound => (StatusCode::NOT_FOUND, "case_not_found"),
                CaseError::VersionMismatch { .. } => {
                    (StatusCode::PRECONDITION_FAILED, "version_mismatch")
                }
                CaseError::NotEditable(_) => (StatusCode::CONFLICT, "case_not_editable"),
                CaseError::Transition(TransitionError::RoleNotPermitted { .. }) => {
                    (StatusCode::FORBIDDEN, "role_not_permitted")
                }
                CaseError::Transition(TransitionError::WrongSide { .. }) => {
                    (StatusCode::FORBIDDEN, "wrong_side")
                }
                CaseError::Transition(TransitionError::NotAllowedInState { .. }) => {
                    (StatusCode::CONFLICT, "transition_not_allowed")
                }
                CaseError::Incomplete(_) => (StatusCode::UNPROCESSABLE_ENTITY, "case_incomplete"),
                CaseError::InvalidParameters(_) => {
                    (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")
                }
                CaseError::IdempotencyKeyReused => {
                    (StatusCode::UNPROCESSABLE_ENTITY, "idempotency_key_reused")
                }
                CaseError::AlreadyErased => (StatusCode::CONFLICT, "personal_data_erased"),
                CaseError::Handover(h) => (StatusCode::CONFLICT, h.code()),
                CaseError::ConsentScope(_) => {
                    (StatusCode::UNPROCESSABLE_ENTITY, "consent_scope_exceeded")
                }
                CaseError::ReportExists(_) => (StatusCode::CONFLICT, "report_exists"),
                CaseError::NotInMonitoring(_) => (StatusCode::CONFLICT, "not_in_monitoring"),
                CaseError::ReportWrongSide { .. } => (StatusCode::FORBIDDEN, "wrong_side"),
                CaseError::Db(e) => Self::db_problem(e),
            },
            ApiError::Db(e) => Self::db_problem(e),
            ApiError::Unavailable(code, _) => (StatusCode::SERVICE_UNAVAILABLE, code),
            ApiError::Conflict(code, _) => (StatusCode::CONFLICT, code),
            ApiError::BadGateway(code, _) => (StatusCode::BAD_GATEWAY, code),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal_error"),
        }
    }

    pub fn problem(&self) -> Problem {
        let (status, code) = self.status_and_code();
        let detail = if status.is_server_error()
            && !matches!(self, ApiError::Unavailable(..) | ApiError::BadGateway(..))
        {
            tracing::error!(error = %self, code, "request failed");
            "the server could not complete the request; it has been logged".to_owned()
        } else {
            self.to_string()
        };
        let detail = match current_lang() {
            crate::domain::i18n::Lang::Fr if !status.is_server_error() => {
                self.french_detail(code).unwrap_or(detail)
            }
            crate::domain::i18n::Lang::Fr => {
                crate::domain::problem_details::french(code).map_or(detail, str::to_owned)
            }
            crate::domain::i18n::Lang::En => detail,
        };
        let errors = match self {
            ApiError::Validation(errors)
            | ApiError::Case(CaseError::Incomplete(errors))
            | ApiError::Case(CaseError::InvalidParameters(errors)) => errors.clone(),
            _ => Vec::new(),
        };
        Problem::new(status, code, detail).with_errors(errors)
    }
}

impl ApiError {
    /// The detail in French: with the same particulars as the English one
    /// for the case workflow's refusals, else the code's explanation.
    fn french_detail(&self, code: &str) -> Option<String> {
        use crate::domain::problem_details as fr;
        let particular = match self {
            ApiError::Case(e) => match e {
                CaseError::VersionMismatch { current } => Some(fr::version_mismatch(*current)),
                CaseError::NotEditable(state) => Some(fr::not_editable(*state)),
                CaseError::Transition(t) => Some(fr::transition(t)),
                CaseError::Handover(h) => Some(fr::handover(h)),
                CaseError::ConsentScope(scope) => Some(fr::consent_scope(scope)),
                CaseError::ReportExists(n) => Some(fr::report_exists(*n)),
                CaseError::ReportWrongSide { report, side } => {
                    Some(fr::report_wrong_side(report, side))
                }
                CaseError::NotInMonitoring(state) => Some(fr::not_in_monitoring(*state)),
                _ => None,
            },
            _ => None,
        };
        particular.or_else(|| fr::french(code).map(str::to_owned))
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status_and_code().0
    }

    fn error_response(&self) -> HttpResponse {
        let mut problem = self.problem();
        let current = match self {
            ApiError::Case(CaseError::VersionMismatch { current }) => Some(*current),
            _ => None,
        };
        problem.current_version = current;
        let mut res = problem.response();
        if let Some(v) = current {
            if let Ok(tag) = header::HeaderValue::from_str(&format!("\"{v}\"")) {
                res.headers_mut().insert(header::ETAG, tag);
            }
        }
        res.extensions_mut()
            .insert(ProblemCode(self.status_and_code().1));
        res
    }
}

/// The problem code of an error response, for the refusal log line.
#[derive(Debug, Clone, Copy)]
pub struct ProblemCode(pub &'static str);

fn fallback_code(status: StatusCode) -> &'static str {
    match status {
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::UNAUTHORIZED => "unauthenticated",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::REQUEST_TIMEOUT => "request_timeout",
        StatusCode::SERVICE_UNAVAILABLE => "service_unavailable",
        s if s.is_client_error() => "bad_request",
        _ => "internal_error",
    }
}

/// Logs a refused request (401/403): who, what, why — the path but never the
/// query string, which may hold a person's name.
pub fn log_refusal<B>(req: &actix_web::HttpRequest, res: &actix_web::HttpResponse<B>) {
    let status = res.status();
    let code = res.extensions().get::<ProblemCode>().map_or("-", |c| c.0);
    let reason = req
        .extensions()
        .get::<crate::api::auth::RefusalReason>()
        .map_or("-", |r| r.0);
    let user = req
        .extensions()
        .get::<Principal>()
        .map(|p| (p.username.clone(), p.role.as_str()));
    tracing::warn!(
        status = status.as_u16(),
        method = %req.method(),
        path = %req.path(),
        route = req.match_pattern().as_deref().unwrap_or("-"),
        user = user.as_ref().map_or("-", |u| u.0.as_str()),
        role = user.as_ref().map_or("-", |u| u.1),
        code,
        reason,
        peer = %req.connection_info().realip_remote_addr().unwrap_or("-"),
        "request refused"
    );
}

/// `ErrorHandlers` default handler: logs refusals and turns any error
/// response that is not yet a problem document into one.
pub fn problem_fallback<B>(res: ServiceResponse<B>) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let status = res.status();
    let is_problem = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(PROBLEM_JSON.as_bytes()));
    if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
        log_refusal(res.request(), res.response());
    }
    if is_problem {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    let (req, _) = res.into_parts();
    let detail = match status {
        StatusCode::NOT_FOUND => format!("no resource at {}", req.path()),
        StatusCode::METHOD_NOT_ALLOWED => {
            format!("{} is not allowed on {}", req.method(), req.path())
        }
        s => s.canonical_reason().unwrap_or("error").to_owned(),
    };
    let mut response = Problem::new(status, fallback_code(status), detail).response();
    response
        .extensions_mut()
        .insert(ProblemCode(fallback_code(status)));
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    Ok(ErrorHandlerResponse::Response(
        ServiceResponse::new(req, response).map_into_right_body(),
    ))
}
