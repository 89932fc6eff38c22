//! Bearer-token authentication and the permission check.

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use futures_util::future::LocalBoxFuture;

use super::AppState;
use crate::db::users::{self, Principal};
use crate::domain::roles::Permission;
use crate::error::ApiError;

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
            Err(ApiError::Forbidden(
                "forbidden",
                format!("the role `{}` is not permitted to do this", self.0.role),
            ))
        }
    }
}

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
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let state = req
                .app_data::<web::Data<AppState>>()
                .cloned()
                .ok_or_else(|| ApiError::Internal("application state missing".into()))?;
            let token = bearer(&req).inspect_err(|e| {
                if let ApiError::Unauthenticated(why) = e {
                    req.extensions_mut().insert(RefusalReason(why));
                }
            })?;
            let now = chrono::Utc::now().naive_utc();
            let outcome = state
                .db
                .read(move |c| users::authenticate(c, &token, now))
                .await?;
            match outcome {
                Ok(principal) => {
                    req.extensions_mut().insert(principal.clone());
                    Ok(Auth(principal))
                }
                Err(failure) => {
                    req.extensions_mut().insert(RefusalReason(failure.as_str()));
                    Err(ApiError::Unauthenticated(failure.as_str()))
                }
            }
        })
    }
}
