//! User administration (accounts, roles, passwords, credentials) and each
//! user's own console language.

use actix_web::{delete, get, patch, post, put, web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::audit::mark_audited;
use super::auth::Auth;
use super::case_views::{BodyErrors, CommonErrors};
use super::cases::caller;
use super::AppState;
use crate::api::error::{ApiError, Problem};
use crate::app::accounts::{AccountChange, AccountRefusal, NewAccount, User};
use crate::domain::i18n::Lang;
use crate::domain::ids::UserId;
use crate::domain::problem::ProblemCode;
use crate::domain::roles::{Permission, Role};

/// The node's user accounts.
#[derive(Serialize, ToSchema)]
pub struct UserList {
    /// Every account, by username.
    pub items: Vec<User>,
}

/// A new account.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    /// Login name: 3 to 64 lower-case letters, digits, `.`, `_`, `-`.
    #[schema(min_length = 3, max_length = 64, pattern = "^[a-z0-9._-]+$")]
    pub username: String,
    /// The name shown to colleagues.
    #[schema(min_length = 1, max_length = 200)]
    pub display_name: String,
    /// Its role.
    pub role: Role,
    /// Its first password (12 to 128 characters, not the username), which
    /// its user should change.
    #[schema(min_length = 12, max_length = 128)]
    pub password: String,
}

/// What to change of an account; absent fields stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserChange {
    /// A new display name.
    #[schema(min_length = 1, max_length = 200)]
    pub display_name: Option<String>,
    /// A new role (not one's own).
    pub role: Option<Role>,
    /// Disable (its sessions end; its tokens stop working) or re-enable it
    /// (not one's own).
    pub disabled: Option<bool>,
}

/// A password set by an administrator.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordReset {
    /// The new password: 12 to 128 characters, not the username.
    #[schema(min_length = 12, max_length = 128)]
    pub new_password: String,
}

/// What a revocation ended.
#[derive(Debug, Serialize, ToSchema)]
pub struct CredentialsRevoked {
    /// API tokens revoked.
    pub tokens_revoked: usize,
    /// Console sessions ended.
    pub sessions_ended: usize,
}

/// The console language a user chose.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LanguageChoice {
    /// `en` or `fr`.
    #[schema(value_type = Lang)]
    pub language: String,
}

fn refused(r: AccountRefusal) -> ApiError {
    match r {
        AccountRefusal::Invalid(errors) => ApiError::Validation(errors),
        AccountRefusal::Unknown => ApiError::Refused(ProblemCode::NotFound, "no such user".into()),
    }
}

/// List the node's user accounts (administrators only).
#[utoipa::path(
    tag = "admin",
    responses((status = 200, description = "Every account", body = UserList), CommonErrors),
    security(("bearer" = []), ("session" = []))
)]
#[get("/users")]
pub async fn list_users(auth: Auth, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    auth.require(Permission::ListUsers)?;
    let items = state.app().users().await?;
    Ok(HttpResponse::Ok().json(UserList { items }))
}

/// Create an account of this node's agency, with its first password.
#[utoipa::path(
    tag = "admin",
    request_body = NewUser,
    responses(
        (status = 201, description = "Created", body = User),
        (status = 422, description = "Invalid values, or the username is taken (`validation_failed`)", body = Problem, content_type = "application/problem+json"),
        BodyErrors,
        CommonErrors
    ),
    security(("bearer" = []), ("session" = []))
)]
#[post("/users")]
pub async fn create_user(
    auth: Auth,
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<NewUser>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Permission::ManageUsers)?;
    let NewUser {
        username,
        display_name,
        role,
        password,
    } = body.into_inner();
    let new = NewAccount {
        username,
        display_name,
        role,
        password,
    };
    let user = state
        .app()
        .create_account(caller(&req, &auth, None), state.agency.clone(), new)
        .await?;
    let user = user.map_err(refused)?;
    mark_audited(&req);
    Ok(HttpResponse::Created().json(user))
}

/// Change an account's display name or role, or disable or re-enable it.
/// Administrators cannot disable or demote themselves.
#[utoipa::path(
    tag = "admin",
    request_body = UserChange,
    params(("id" = uuid::Uuid, Path, description = "Account id")),
    responses(
        (status = 200, description = "The account as changed", body = User),
        (status = 404, description = "No such account (`not_found`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid values (`validation_failed`)", body = Problem, content_type = "application/problem+json"),
        BodyErrors,
        CommonErrors
    ),
    security(("bearer" = []), ("session" = []))
)]
#[patch("/users/{id}")]
pub async fn change_user(
    auth: Auth,
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<UserId>,
    body: web::Json<UserChange>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Permission::ManageUsers)?;
    let UserChange {
        display_name,
        role,
        disabled,
    } = body.into_inner();
    let change = AccountChange {
        display_name,
        role,
        disabled,
    };
    let user = state
        .app()
        .change_account(caller(&req, &auth, None), id.into_inner(), change)
        .await?;
    let user = user.map_err(refused)?;
    mark_audited(&req);
    Ok(HttpResponse::Ok().json(user))
}

/// Set a user's password (when they forgot theirs); their sessions end.
#[utoipa::path(
    tag = "admin",
    request_body = PasswordReset,
    params(("id" = uuid::Uuid, Path, description = "Account id")),
    responses(
        (status = 204, description = "Set"),
        (status = 404, description = "No such account (`not_found`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not an acceptable password (`validation_failed`)", body = Problem, content_type = "application/problem+json"),
        BodyErrors,
        CommonErrors
    ),
    security(("bearer" = []), ("session" = []))
)]
#[put("/users/{id}/password")]
pub async fn reset_password(
    auth: Auth,
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<UserId>,
    body: web::Json<PasswordReset>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Permission::ManageUsers)?;
    let out = state
        .app()
        .reset_password(
            caller(&req, &auth, None),
            id.into_inner(),
            body.into_inner().new_password,
        )
        .await?;
    out.map_err(refused)?;
    mark_audited(&req);
    Ok(HttpResponse::NoContent().finish())
}

/// Revoke every API token of a user and end every session of theirs (a
/// lost phone, a departure).
#[utoipa::path(
    tag = "admin",
    params(("id" = uuid::Uuid, Path, description = "Account id")),
    responses(
        (status = 200, description = "Revoked", body = CredentialsRevoked),
        (status = 404, description = "No such account (`not_found`)", body = Problem, content_type = "application/problem+json"),
        CommonErrors
    ),
    security(("bearer" = []), ("session" = []))
)]
#[delete("/users/{id}/credentials")]
pub async fn revoke_credentials(
    auth: Auth,
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<UserId>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Permission::ManageUsers)?;
    let revoked = state
        .app()
        .revoke_credentials(caller(&req, &auth, None), id.into_inner())
        .await?;
    let r = revoked.map_err(refused)?;
    mark_audited(&req);
    Ok(HttpResponse::Ok().json(CredentialsRevoked {
        tokens_revoked: r.tokens,
        sessions_ended: r.sessions,
    }))
}

/// Choose one's console language (remembered across sign-ins and devices).
#[utoipa::path(
    tag = "session",
    request_body = LanguageChoice,
    responses(
        (status = 204, description = "Remembered"),
        (status = 422, description = "Not `en` or `fr` (`validation_failed`)", body = Problem, content_type = "application/problem+json"),
        BodyErrors,
        CommonErrors
    ),
    security(("bearer" = []), ("session" = []))
)]
#[put("/me/language")]
pub async fn set_language(
    auth: Auth,
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<LanguageChoice>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Permission::ReadOwnAccount)?;
    let language = Lang::parse(&body.into_inner().language).ok_or_else(|| {
        ApiError::Validation(vec![crate::domain::FieldError::new(
            "language",
            "invalid_value",
            "the language is `en` or `fr`",
        )])
    })?;
    state
        .app()
        .set_language(caller(&req, &auth, None), language)
        .await?;
    mark_audited(&req);
    Ok(HttpResponse::NoContent().finish())
}
