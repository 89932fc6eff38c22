//! Error policy.
//!
//! * Every 4xx/5xx response is `application/problem+json` (RFC 9457) with a
//!   stable machine-readable `code`; clients branch on `code`, never on
//!   `title` or `detail`. The `type` is `urn:passerelle:problem:{code}`.
//! * Every code is a [`ProblemCode`], which carries its status and titles.
//!   Each area has its own error enum (`CaseError`, `UserError`, `DbError`,
//!   `TransitionError`); [`ApiError`] maps them to a code in one `match`,
//!   here. Validation problems list every bad field in `errors`.
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

use crate::app::accounts::Principal;
use crate::app::cases::CaseError;
use crate::domain::lifecycle::TransitionError;
use crate::domain::problem::ProblemCode;
use crate::domain::FieldError;
use crate::store::DbError;

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
    /// A problem answered with its code's status.
    pub fn of(code: ProblemCode, detail: impl Into<String>) -> Self {
        Self::with_status(code.status(), code, detail)
    }

    /// A problem answered with another status than its code's (the fallback
    /// for statuses actix produces itself, such as 411, under `bad_request`).
    pub fn with_status(status: u16, code: ProblemCode, detail: impl Into<String>) -> Self {
        Self {
            type_uri: format!("urn:passerelle:problem:{code}"),
            title: code.title(current_lang()).to_owned(),
            status,
            detail: detail.into(),
            code: code.as_str().to_owned(),
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

    /// The problem as an HTTP response with one more header (e.g. `Retry-After`).
    pub fn response_with(&self, name: header::HeaderName, value: String) -> HttpResponse {
        let mut res = self.response();
        if let Ok(v) = header::HeaderValue::from_str(&value) {
            res.headers_mut().insert(name, v);
        }
        res
    }
}

/// The code of a storage failure: retryable when the database is busy or
/// unavailable (nothing was written), else an internal error.
pub fn db_problem(e: &DbError) -> ProblemCode {
    match e {
        DbError::Pool(_) | DbError::Cancelled | DbError::Commit(_) => {
            ProblemCode::DatabaseUnavailable
        }
        e if e.is_connection_lost() => ProblemCode::DatabaseUnavailable,
        // Another process holds SQLite's write lock beyond the busy
        // timeout, or PostgreSQL aborted a transaction that conflicted
        // with another: nothing was written and retrying is safe.
        e if e.is_transient() => ProblemCode::DatabaseBusy,
        _ => ProblemCode::InternalError,
    }
}

/// Errors of the HTTP API, each with its code (and so its status).
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The reason is logged, never sent: the client only learns that a
    /// valid token is required.
    #[error("a valid bearer token is required")]
    Unauthenticated(&'static str),
    /// Refused with this code and a detail that is safe to send (5xx
    /// included: a dependency unavailable, the peer refused).
    #[error("{1}")]
    Refused(ProblemCode, String),
    #[error("the request body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    #[error("the request is invalid")]
    Validation(Vec<FieldError>),
    #[error("this request needs an If-Match header with the case's current ETag")]
    PreconditionRequired,
    #[error(transparent)]
    Case(#[from] CaseError),
    #[error(transparent)]
    Db(#[from] DbError),
    /// Logged, never sent.
    #[error("{0}")]
    Internal(String),
}

impl From<diesel::result::Error> for ApiError {
    fn from(e: diesel::result::Error) -> Self {
        ApiError::Db(DbError::Query(e))
    }
}

impl ApiError {
    /// The problem code (its status is the answer's).
    pub fn code(&self) -> ProblemCode {
        match self {
            ApiError::Unauthenticated(_) => ProblemCode::Unauthenticated,
            ApiError::Refused(code, _) => *code,
            ApiError::PayloadTooLarge(_) => ProblemCode::PayloadTooLarge,
            ApiError::Validation(_) => ProblemCode::ValidationFailed,
            ApiError::PreconditionRequired => ProblemCode::IfMatchRequired,
            ApiError::Case(e) => match e {
                CaseError::NotFound => ProblemCode::CaseNotFound,
                CaseError::VersionMismatch { .. } => ProblemCode::VersionMismatch,
                CaseError::NotEditable(_) => ProblemCode::CaseNotEditable,
                CaseError::Transition(TransitionError::RoleNotPermitted { .. }) => {
                    ProblemCode::RoleNotPermitted
                }
                CaseError::Transition(TransitionError::WrongSide { .. })
                | CaseError::ReportWrongSide { .. } => ProblemCode::WrongSide,
                CaseError::Transition(TransitionError::NotAllowedInState { .. }) => {
                    ProblemCode::TransitionNotAllowed
                }
                CaseError::Incomplete(_) => ProblemCode::CaseIncomplete,
                CaseError::InvalidParameters(_) => ProblemCode::ValidationFailed,
                CaseError::IdempotencyKeyReused => ProblemCode::IdempotencyKeyReused,
                CaseError::AlreadyErased => ProblemCode::PersonalDataErased,
                CaseError::Handover(h) => h.code(),
                CaseError::ConsentScope(_) => ProblemCode::ConsentScopeExceeded,
                CaseError::ReportExists(_) => ProblemCode::ReportExists,
                CaseError::NotInMonitoring(_) => ProblemCode::NotInMonitoring,
                CaseError::Db(e) => db_problem(e),
            },
            ApiError::Db(e) => db_problem(e),
            ApiError::Internal(_) => ProblemCode::InternalError,
        }
    }

    /// The answer's status.
    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.code().status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    pub fn problem(&self) -> Problem {
        let code = self.code();
        let status = self.status();
        let detail = if status.is_server_error() && !matches!(self, ApiError::Refused(..)) {
            tracing::error!(error = %self, code = code.as_str(), "request failed");
            "the server could not complete the request; it has been logged".to_owned()
        } else {
            self.to_string()
        };
        let detail = match current_lang() {
            crate::domain::i18n::Lang::Fr if !status.is_server_error() => self.french_detail(code),
            crate::domain::i18n::Lang::Fr => code.explanation_fr().to_owned(),
            crate::domain::i18n::Lang::En => detail,
        };
        let errors = match self {
            ApiError::Validation(errors)
            | ApiError::Case(CaseError::Incomplete(errors))
            | ApiError::Case(CaseError::InvalidParameters(errors)) => errors.clone(),
            _ => Vec::new(),
        };
        Problem::of(code, detail).with_errors(errors)
    }
}

impl ApiError {
    /// The detail in French: with the same particulars as the English one
    /// for the case workflow's refusals, else the code's explanation.
    fn french_detail(&self, code: ProblemCode) -> String {
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
        particular.unwrap_or_else(|| code.explanation_fr().to_owned())
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status()
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
        res.extensions_mut().insert(AnsweredCode(self.code()));
        res
    }
}

/// The problem code of an error response, for the refusal log line.
#[derive(Debug, Clone, Copy)]
pub struct AnsweredCode(pub ProblemCode);

fn fallback_code(status: StatusCode) -> ProblemCode {
    match status {
        StatusCode::NOT_FOUND => ProblemCode::NotFound,
        StatusCode::METHOD_NOT_ALLOWED => ProblemCode::MethodNotAllowed,
        StatusCode::PAYLOAD_TOO_LARGE => ProblemCode::PayloadTooLarge,
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ProblemCode::UnsupportedMediaType,
        StatusCode::UNAUTHORIZED => ProblemCode::Unauthenticated,
        StatusCode::FORBIDDEN => ProblemCode::Forbidden,
        StatusCode::REQUEST_TIMEOUT => ProblemCode::RequestTimeout,
        StatusCode::SERVICE_UNAVAILABLE => ProblemCode::ServiceUnavailable,
        s if s.is_client_error() => ProblemCode::BadRequest,
        _ => ProblemCode::InternalError,
    }
}

/// Logs a refused request (401/403): who, what, why — the path but never the
/// query string, which may hold a person's name.
pub fn log_refusal<B>(req: &actix_web::HttpRequest, res: &actix_web::HttpResponse<B>) {
    let status = res.status();
    let code = res
        .extensions()
        .get::<AnsweredCode>()
        .map_or("-", |c| c.0.as_str());
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
    let code = fallback_code(status);
    let detail = match crate::api::error::current_lang() {
        crate::domain::i18n::Lang::Fr => code.explanation_fr().to_owned(),
        crate::domain::i18n::Lang::En => detail,
    };
    let mut response = Problem::with_status(status.as_u16(), code, detail).response();
    response.extensions_mut().insert(AnsweredCode(code));
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    Ok(ErrorHandlerResponse::Response(
        ServiceResponse::new(req, response).map_into_right_body(),
    ))
}
