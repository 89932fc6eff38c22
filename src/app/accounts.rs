//! Accounts and their credentials: who may call the API, and as whom.
//! Administrators create, change and disable accounts, reset passwords and
//! revoke credentials, from the command line or the API; a token or a
//! session is checked on every request.

use super::service::{App, Caller};
use super::sign_in::hash_password;
use crate::domain::i18n::Lang;
use crate::domain::ids::UserId;
use crate::domain::roles::Role;
use crate::domain::sign_in::check_password;
use crate::domain::FieldError;
use crate::store::{sessions, DbError};

pub use crate::store::users::{
    authenticate, create_user, issue_token, list_tokens, list_users, revoke_token, set_disabled,
    AuthFailure, Principal, User, UserError,
};

/// A new account, as an administrator fills it in.
pub struct NewAccount {
    pub username: String,
    pub display_name: String,
    pub role: Role,
    /// The first password, which its user then changes.
    pub password: String,
}

/// What an administrator changes of an account (`None`: unchanged).
pub struct AccountChange {
    pub display_name: Option<String>,
    pub role: Option<Role>,
    pub disabled: Option<bool>,
}

/// Why an account was not created or changed.
#[derive(Debug)]
pub enum AccountRefusal {
    Invalid(Vec<FieldError>),
    Unknown,
}

/// What revoking an account's credentials ended.
pub struct Revoked {
    pub tokens: usize,
    pub sessions: usize,
}

fn field(e: FieldError, name: &str) -> FieldError {
    FieldError {
        field: name.into(),
        ..e
    }
}

/// What is wrong with a display name, if anything: 1 to 200 characters
/// as sent (the spec's `maxLength`), not all blank, no control characters.
fn display_name_errors(name: Option<&str>) -> Vec<FieldError> {
    let Some(name) = name else {
        return Vec::new();
    };
    let field = "display_name";
    if name.trim().is_empty() {
        vec![FieldError::new(
            field,
            "required",
            "a display name is required",
        )]
    } else if name.chars().count() > 200 {
        vec![FieldError::new(
            field,
            "too_long",
            "a display name is at most 200 characters",
        )]
    } else if name.chars().any(char::is_control) {
        vec![FieldError::new(
            field,
            "control_characters",
            "a display name has no control characters",
        )]
    } else {
        Vec::new()
    }
}

impl App {
    /// Creates an account of this node's agency with its first password.
    pub async fn create_account(
        &self,
        caller: Caller,
        agency: String,
        new: NewAccount,
    ) -> Result<Result<User, AccountRefusal>, DbError> {
        let mut errors = display_name_errors(Some(&new.display_name));
        if let Err(e) = check_password(&new.password, &new.username) {
            errors.push(field(e, "password"));
        }
        if !errors.is_empty() {
            return Ok(Err(AccountRefusal::Invalid(errors)));
        }
        let password = new.password;
        let hash = tokio::task::spawn_blocking(move || hash_password(&password))
            .await
            .map_err(|_| DbError::Cancelled)??;
        let now = self.now();
        self.audited_unless_refused(caller, move |c| {
            let created = crate::store::savepoint(c, |c| {
                create_user(c, &new.username, &new.display_name, new.role, &agency, now)
            });
            let user = match created {
                Ok(u) => u,
                Err(UserError::Db(e)) => return Err(e),
                Err(UserError::UsernameTaken(_)) => {
                    let e = FieldError::new("username", "taken", "this username is taken");
                    return Ok(Err(AccountRefusal::Invalid(vec![e])));
                }
                Err(e) => {
                    let e = FieldError::new("username", "invalid", e.to_string());
                    return Ok(Err(AccountRefusal::Invalid(vec![e])));
                }
            };
            sessions::set_password(c, &user.id.to_string(), &hash, now)?;
            Ok(Ok(user))
        })
        .await
    }

    /// Changes an account; an administrator cannot disable or demote themselves.
    pub async fn change_account(
        &self,
        caller: Caller,
        id: UserId,
        change: AccountChange,
    ) -> Result<Result<User, AccountRefusal>, DbError> {
        let mut errors = Vec::new();
        if id == caller.principal.user_id {
            if change.disabled == Some(true) {
                errors.push(FieldError::new(
                    "disabled",
                    "own_account",
                    "you cannot disable your own account",
                ));
            }
            if change.role.is_some_and(|r| r != caller.principal.role) {
                errors.push(FieldError::new(
                    "role",
                    "own_account",
                    "you cannot change your own role",
                ));
            }
        }
        errors.extend(display_name_errors(change.display_name.as_deref()));
        if !errors.is_empty() {
            return Ok(Err(AccountRefusal::Invalid(errors)));
        }
        let now = self.now();
        self.audited_unless_refused(caller, move |c| {
            if crate::store::users::user_by_id(c, id)?.is_none() {
                return Ok(Err(AccountRefusal::Unknown));
            }
            let name = change.display_name.as_deref().map(str::trim);
            crate::store::users::update_user(c, id, name, change.role, change.disabled)?;
            if change.disabled == Some(true) {
                sessions::revoke_all(c, &id.to_string(), None, now)?;
            }
            crate::store::users::user_by_id(c, id)?
                .map(Ok)
                .ok_or_else(|| DbError::Corrupt(format!("user {id} vanished")))
        })
        .await
    }

    /// An administrator sets a user's password; the user's sessions end.
    pub async fn reset_password(
        &self,
        caller: Caller,
        id: UserId,
        password: String,
    ) -> Result<Result<(), AccountRefusal>, DbError> {
        let user = self
            .db
            .read(move |c| crate::store::users::user_by_id(c, id))
            .await?;
        let Some(user) = user else {
            return Ok(Err(AccountRefusal::Unknown));
        };
        if let Err(e) = check_password(&password, &user.username) {
            return Ok(Err(AccountRefusal::Invalid(vec![e])));
        }
        let hash = tokio::task::spawn_blocking(move || hash_password(&password))
            .await
            .map_err(|_| DbError::Cancelled)??;
        let now = self.now();
        self.audited_unless_refused(caller, move |c| {
            let id = id.to_string();
            sessions::set_password(c, &id, &hash, now)?;
            sessions::revoke_all(c, &id, None, now)?;
            Ok(Ok::<(), AccountRefusal>(()))
        })
        .await
    }

    /// Revokes every API token and ends every session of a user.
    pub async fn revoke_credentials(
        &self,
        caller: Caller,
        id: UserId,
    ) -> Result<Result<Revoked, AccountRefusal>, DbError> {
        let now = self.now();
        self.audited_unless_refused(caller, move |c| {
            if crate::store::users::user_by_id(c, id)?.is_none() {
                return Ok(Err(AccountRefusal::Unknown));
            }
            Ok(Ok(Revoked {
                tokens: crate::store::users::revoke_tokens_of(c, id, now)?,
                sessions: sessions::revoke_all(c, &id.to_string(), None, now)?,
            }))
        })
        .await
    }

    /// Remembers the console language a user chose.
    pub async fn set_language(&self, caller: Caller, lang: Lang) -> Result<(), DbError> {
        let id = caller.principal.user_id;
        self.audited(caller, move |c| {
            crate::store::users::set_language(c, id, lang)
        })
        .await
    }

    /// One account.
    pub async fn account(&self, id: UserId) -> Result<Option<User>, DbError> {
        self.db
            .read(move |c| crate::store::users::user_by_id(c, id))
            .await
    }
}
