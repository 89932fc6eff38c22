//! Signing in to the console: `POST /api/v1/session` checks a username and
//! password and sets the session cookie; the session is read back, ended
//! here or everywhere, and its user changes their own password. The cookie
//! is HttpOnly, Secure and SameSite=Strict; a request that changes
//! something with it must carry the session's CSRF token (`X-CSRF-Token`).

use actix_web::cookie::{time, Cookie, SameSite};
use actix_web::http::header;
use actix_web::{delete, get, post, put, web, HttpMessage, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::audit::Audited;
use super::auth::Auth;
use super::case_views::{BodyErrors, CommonErrors};
use super::meta::Me;
use super::{utc, AppState};
use crate::api::error::{ApiError, Problem};
use crate::app::sign_in::{csrf_token, PasswordRefusal, SignInRefusal};
use crate::domain::problem::ProblemCode;
use crate::domain::sign_in::MAX_PASSWORD;

/// The session cookie's name.
pub const COOKIE: &str = "passerelle_session";
/// The header that carries the session's CSRF token.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// A username and password.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignIn {
    /// The account's username.
    #[schema(min_length = 1, max_length = 64)]
    pub username: String,
    /// Its password.
    #[schema(min_length = 1, max_length = 128)]
    pub password: String,
}

/// The signed-in session: the account (as `GET /api/v1/me` shows it) and
/// what the console needs besides.
#[derive(Serialize, ToSchema)]
pub struct SessionView {
    /// The signed-in account.
    #[serde(flatten)]
    pub account: Me,
    /// The token to send in `X-CSRF-Token` with every request that changes something.
    pub csrf_token: String,
    /// Idle minutes after which the session ends.
    pub idle_minutes: i64,
}

/// A password change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    /// The password in use.
    #[schema(min_length = 1, max_length = 128)]
    pub current_password: String,
    /// The new one: 12 to 128 characters, not the username.
    #[schema(min_length = 12, max_length = 128)]
    pub new_password: String,
}

/// Refuses (401) a caller authenticated otherwise than by a session.
fn require_session(req: &HttpRequest) -> Result<(), ApiError> {
    if req.extensions().get::<super::auth::BySession>().is_some() {
        Ok(())
    } else {
        Err(ApiError::Unauthenticated("not signed in with a session"))
    }
}

fn session_cookie(value: String, max_age: Option<time::Duration>) -> Cookie<'static> {
    let mut c = Cookie::build(COOKIE, value)
        .path("/")
        .http_only(true)
        .secure(true)
        .same_site(SameSite::Strict)
        .finish();
    if let Some(age) = max_age {
        c.set_max_age(age);
    }
    c
}

fn retry_after(until: chrono::NaiveDateTime, now: chrono::NaiveDateTime) -> String {
    (until - now).num_seconds().max(1).to_string()
}

/// Sign in with a username and password: sets the session cookie and
/// returns the CSRF token. Repeated failures slow the username down, then
/// lock it for 15 minutes; every attempt is audited.
#[utoipa::path(
    tag = "session",
    request_body = SignIn,
    responses(
        (status = 200, description = "Signed in; the cookie is set", body = SessionView),
        (status = 429, description = "Too many failures: wait (`sign_in_throttled`) or locked (`account_locked`); see Retry-After", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid values (`validation_failed`)", body = Problem, content_type = "application/problem+json"),
        BodyErrors,
        CommonErrors
    ),
    security(())
)]
#[post("/session")]
pub async fn sign_in(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<SignIn>,
) -> Result<HttpResponse, ApiError> {
    let SignIn { username, password } = body.into_inner();
    if username.len() > 64 || password.chars().count() > MAX_PASSWORD {
        return Err(ApiError::Refused(
            ProblemCode::InvalidCredentials,
            "wrong username or password".into(),
        ));
    }
    let app = state.app();
    let now = app.now();
    let limits = state.session_limits;
    let outcome = app.sign_in(username, password, limits).await?;
    req.extensions_mut().insert(Audited);
    match outcome {
        Ok(s) => Ok(HttpResponse::Ok()
            .cookie(session_cookie(
                s.token,
                Some(time::Duration::seconds(limits.absolute.num_seconds())),
            ))
            .json(SessionView {
                account: Me {
                    user_id: s.user_id,
                    username: s.username,
                    display_name: s.display_name,
                    role: s.role,
                    language: s.language,
                    node: state.ctx.node,
                    agency: state.agency.clone(),
                },
                csrf_token: s.csrf_token,
                idle_minutes: limits.idle.num_minutes(),
            })),
        Err(SignInRefusal::Invalid) => Err(ApiError::Refused(
            ProblemCode::InvalidCredentials,
            "wrong username or password".into(),
        )),
        Err(SignInRefusal::Throttled(until)) => Ok(Problem::of(
            ProblemCode::SignInThrottled,
            "too many failed sign-ins: wait before trying again",
        )
        .response_with(header::RETRY_AFTER, retry_after(until, now))),
        Err(SignInRefusal::Locked(until)) => Ok(Problem::of(
            ProblemCode::AccountLocked,
            format!(
                "locked after repeated failures until {}",
                utc(until).to_rfc3339()
            ),
        )
        .response_with(header::RETRY_AFTER, retry_after(until, now))),
    }
}

/// The signed-in session (with its CSRF token), for a console page that
/// was reloaded.
#[utoipa::path(
    tag = "session",
    responses((status = 200, description = "The session", body = SessionView), CommonErrors),
    security(("session" = []))
)]
#[get("/session")]
pub async fn current(
    auth: Auth,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    require_session(&req)?;
    let token = req
        .cookie(COOKIE)
        .map(|c| c.value().to_owned())
        .ok_or(ApiError::Unauthenticated("not signed in with a session"))?;
    Ok(HttpResponse::Ok().json(SessionView {
        account: super::meta::account_of(&auth, &state).await?,
        csrf_token: csrf_token(&token),
        idle_minutes: state.session_limits.idle.num_minutes(),
    }))
}

/// Sign out: ends this session and clears the cookie.
#[utoipa::path(
    tag = "session",
    responses((status = 204, description = "Signed out"), CommonErrors),
    security(("session" = []))
)]
#[delete("/session")]
pub async fn sign_out(
    auth: Auth,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    end_sessions(auth, &state, &req, false).await
}

/// Sign out everywhere: ends every session of the caller's account.
#[utoipa::path(
    tag = "session",
    responses((status = 204, description = "Every session ended"), CommonErrors),
    security(("session" = []))
)]
#[delete("/sessions")]
pub async fn sign_out_everywhere(
    auth: Auth,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    end_sessions(auth, &state, &req, true).await
}

/// Ends the caller's session (or all of theirs) and clears the cookie.
async fn end_sessions(
    auth: Auth,
    state: &AppState,
    req: &HttpRequest,
    everywhere: bool,
) -> Result<HttpResponse, ApiError> {
    require_session(req)?;
    state.app().sign_out(auth.0, everywhere).await?;
    req.extensions_mut().insert(Audited);
    Ok(HttpResponse::NoContent()
        .cookie(session_cookie(String::new(), Some(time::Duration::ZERO)))
        .finish())
}

/// Change one's own password; one's other sessions end.
#[utoipa::path(
    tag = "session",
    request_body = PasswordChange,
    responses(
        (status = 204, description = "Changed"),
        (status = 422, description = "The new password is too short, too long or the username (`validation_failed`)", body = Problem, content_type = "application/problem+json"),
        BodyErrors,
        CommonErrors
    ),
    security(("session" = []))
)]
#[put("/me/password")]
pub async fn change_password(
    auth: Auth,
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<PasswordChange>,
) -> Result<HttpResponse, ApiError> {
    require_session(&req)?;
    let PasswordChange {
        current_password,
        new_password,
    } = body.into_inner();
    let outcome = state
        .app()
        .change_password(auth.0, current_password, new_password)
        .await?;
    match outcome {
        Ok(()) => {
            req.extensions_mut().insert(Audited);
            Ok(HttpResponse::NoContent().finish())
        }
        Err(PasswordRefusal::WrongCurrent) => Err(ApiError::Refused(
            ProblemCode::CurrentPasswordWrong,
            "the current password is wrong".into(),
        )),
        Err(PasswordRefusal::Invalid(e)) => Err(ApiError::Validation(vec![e])),
    }
}
