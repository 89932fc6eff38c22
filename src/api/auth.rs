//! Authentication (a bearer token, or the console's session cookie with
//! its CSRF token) and the permission check.

use crate::domain::problem::ProblemCode;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};

use super::AppState;
use crate::api::error::ApiError;
use crate::app::accounts::Principal;
use crate::domain::roles::Permission;

/// The authenticated caller of a request. Extracting it authenticates the
/// request; a missing, malformed, unknown, expired or revoked token, or a
/// disabled account, yields a 401 problem (and a log line).
#[derive(Debug, Clone)]
pub struct Auth(pub Principal);

impl Auth {
    /// Refuses with 403 unless the caller's role has `permission`.
    pub fn require(&self, permission: Permission) -> Result<(), ApiError> {
        if self.0.role.can(permission) {
            Ok(())
        } else {
            Err(ApiError::Refused(
                ProblemCode::RoleNotPermitted,
                format!("the role `{}` is not permitted to do this", self.0.role),
            ))
        }
    }
}

/// Marks a request authenticated by the console's session cookie (not by a
/// bearer token): the session operations need one.
#[derive(Debug, Clone, Copy)]
pub struct BySession;

/// Why authentication failed, kept for the refusal log line (the client is
/// only told that a valid token is required).
#[derive(Debug, Clone, Copy)]
pub struct RefusalReason(pub &'static str);

fn bearer(req: &HttpRequest) -> Result<String, ApiError> {
    let value = req
        .headers()
        .get(header::AUTHORIZATION)
        .ok_or(ApiError::Unauthenticated("missing Authorization header"))?;
    let value = value
        .to_str()
        .map_err(|_| ApiError::Unauthenticated("malformed Authorization header"))?;
    let (scheme, token) = value
        .split_once(' ')
        .ok_or(ApiError::Unauthenticated("malformed Authorization header"))?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(ApiError::Unauthenticated(
            "the Authorization scheme must be Bearer",
        ));
    }
    Ok(token.trim().to_owned())
}

impl FromRequest for Auth {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    /// The principal the [`authenticate`] middleware found: authentication
    /// happened before any other part of the request was looked at.
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(
            req.extensions()
                .get::<Principal>()
                .cloned()
                .map(Auth)
                .ok_or(ApiError::Unauthenticated("not authenticated")),
        )
    }
}

/// Looks the caller up: a bearer token (integrations), else the console's
/// session cookie, which for a request that changes something must come
/// with the session's CSRF token. The principal, or why it is refused.
async fn principal_of(req: &HttpRequest) -> Result<Principal, ApiError> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| ApiError::Internal("application state missing".into()))?;
    let session = req
        .cookie(super::session::COOKIE)
        .map(|c| c.value().to_owned());
    if req.headers().get(header::AUTHORIZATION).is_some() || session.is_none() {
        let token = bearer(req)?;
        return state
            .app()
            .authenticate(token)
            .await?
            .map_err(|failure| ApiError::Unauthenticated(failure.as_str()));
    }
    let token = session.unwrap_or_default();
    let principal = state
        .app()
        .session_principal(token.clone(), state.session_limits)
        .await?
        .map_err(|failure| ApiError::Unauthenticated(failure.as_str()))?;
    req.extensions_mut().insert(BySession);
    if !req.method().is_safe() {
        let expected = crate::app::sign_in::csrf_token(&token);
        let sent = req
            .headers()
            .get(super::session::CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if sent.len() != expected.len()
            || !openssl::memcmp::eq(sent.as_bytes(), expected.as_bytes())
        {
            // Authenticated, so the refusal names its author.
            req.extensions_mut().insert(principal);
            return Err(ApiError::Refused(
                crate::domain::problem::ProblemCode::CsrfTokenInvalid,
                "a change made with the session cookie needs its X-CSRF-Token header".into(),
            ));
        }
    }
    Ok(principal)
}

/// Middleware: authenticates every request under `/api/v1/` before anything
/// else about it (route, path, query, body) is looked at. A missing,
/// malformed, unknown, expired or revoked token, or a disabled account, is a
/// 401 problem whatever else is wrong with the request; the refusal is
/// logged (and audited by the audit middleware around this one). The
/// principal goes into the request's extensions, where [`Auth`] and the
/// audit log find it, so that every later refusal names its author.
pub async fn authenticate(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    // Signing in is the one operation that needs no caller.
    let signing_in =
        req.path() == "/api/v1/session" && req.method() == actix_web::http::Method::POST;
    if !req.path().starts_with("/api/v1/") || signing_in {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body);
    }
    match principal_of(req.request()).await {
        Ok(principal) => {
            req.extensions_mut().insert(principal);
            next.call(req)
                .await
                .map(ServiceResponse::map_into_boxed_body)
        }
        Err(e) => {
            if let ApiError::Unauthenticated(why) = &e {
                req.extensions_mut().insert(RefusalReason(why));
            }
            let res = actix_web::ResponseError::error_response(&e);
            crate::api::error::log_refusal(req.request(), &res);
            Ok(req.into_response(res).map_into_boxed_body())
        }
    }
}
