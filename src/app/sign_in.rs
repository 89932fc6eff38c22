//! Signing in to the console: passwords (argon2id), the sessions a sign-in
//! opens (a random token in an HttpOnly cookie, stored hashed, with a CSRF
//! token derived from it), their idle and absolute limits, signing out here
//! or everywhere, and the slowing down and locking of a username after
//! failed attempts (`domain::sign_in`). Every sign-in, failure, lock and
//! sign-out is audited.

use std::sync::OnceLock;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use chrono::{Duration, NaiveDateTime};

use super::accounts::Principal;
use super::service::App;
use crate::audit::{kinds, Entry};
use crate::domain::envelope::hex;
use crate::domain::ids::TokenId;
use crate::domain::roles::Role;
use crate::domain::sign_in::{self, Gate};
use crate::domain::FieldError;
use crate::store::{sessions, users, AnyConnection, DbError};

/// Prefix of a session token (the cookie's value).
const SESSION_PREFIX: &str = "pss_";

/// How long a session lives: idle, and at most.
#[derive(Debug, Clone, Copy)]
pub struct SessionLimits {
    pub idle: Duration,
    pub absolute: Duration,
}

impl Default for SessionLimits {
    fn default() -> Self {
        SessionLimits {
            idle: Duration::minutes(30),
            absolute: Duration::hours(12),
        }
    }
}

/// A session just opened: the token exists only here (and in the cookie).
pub struct NewSession {
    pub token: String,
    pub csrf_token: String,
    pub expires_at: NaiveDateTime,
    pub user_id: crate::domain::ids::UserId,
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub language: Option<crate::domain::i18n::Lang>,
}

/// Why a sign-in was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignInRefusal {
    /// Unknown username, wrong password, no password set, or a disabled
    /// account: the caller is not told which.
    Invalid,
    /// Too many failures in a row: try again after this.
    Throttled(NaiveDateTime),
    /// Locked after repeated failures, until this.
    Locked(NaiveDateTime),
}

/// Why a password change was refused.
#[derive(Debug)]
pub enum PasswordRefusal {
    WrongCurrent,
    Invalid(FieldError),
}

/// An argon2id hash (PHC string) of a password, with a random salt.
pub fn hash_password(password: &str) -> Result<String, DbError> {
    let mut salt = [0u8; 16];
    openssl::rand::rand_bytes(&mut salt)
        .map_err(|e| DbError::Corrupt(format!("no randomness: {e}")))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| DbError::Corrupt(format!("salt: {e}")))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| DbError::Corrupt(format!("hashing: {e}")))
}

/// Whether `password` matches the stored hash (constant time in argon2).
pub fn verify_password(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// A hash no password matches, verified against when there is no user or
/// no password, so that the answer takes as long either way.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash_password("no password matches this one").unwrap_or_default())
}

/// The CSRF token of a session: derived from its (secret, HttpOnly) token,
/// so the server recomputes it and a page of another origin cannot know it.
pub fn csrf_token(session_token: &str) -> String {
    hex(&openssl::sha::sha256(
        format!("csrf:{session_token}").as_bytes(),
    ))
}

fn entry(kind: &str, actor: &str, action: &str, outcome: &str, code: Option<String>) -> Entry {
    let mut e = Entry::new(kind, actor.to_owned(), action);
    e.outcome = outcome.into();
    e.code = code;
    e
}

/// A random password of 20 characters (base64url of 15 random bytes), for
/// demonstrations and first passwords printed once.
pub fn random_password() -> Result<String, DbError> {
    users::random_text(15)
}

/// Sets a user's password (from the command line or an administrator).
pub fn set_password(
    conn: &mut AnyConnection,
    username: &str,
    password: &str,
    now: NaiveDateTime,
) -> Result<Result<(), FieldError>, DbError> {
    if let Err(e) = sign_in::check_password(password, username) {
        return Ok(Err(e));
    }
    let Some((user, _)) = sessions::user_with_password(conn, username)? else {
        return Ok(Err(FieldError::new("username", "unknown", "no such user")));
    };
    sessions::set_password(conn, &user.id, &hash_password(password)?, now)?;
    Ok(Ok(()))
}

impl App {
    /// Signs a user in with a password: opens a session, or says why not.
    pub async fn sign_in(
        &self,
        username: String,
        password: String,
        limits: SessionLimits,
    ) -> Result<Result<NewSession, SignInRefusal>, DbError> {
        let now = self.now();
        let name = username.clone();
        let (attempts, user) = self
            .db
            .read(move |c| {
                Ok::<_, DbError>((
                    sessions::attempts(c, &name)?,
                    sessions::user_with_password(c, &name)?,
                ))
            })
            .await?;
        if let Some((failures, last, locked)) = attempts {
            let refusal = match sign_in::gate(failures, last, locked, now) {
                Gate::Open => None,
                Gate::Wait(until) => Some((SignInRefusal::Throttled(until), "throttled")),
                Gate::Locked(until) => Some((SignInRefusal::Locked(until), "locked")),
            };
            if let Some((refusal, outcome)) = refusal {
                let e = entry(kinds::SIGN_IN, &username, "sign_in", outcome, None);
                self.log(e).await?;
                return Ok(Err(refusal));
            }
        }
        let hash = user
            .as_ref()
            .filter(|(u, _)| !u.disabled)
            .and_then(|(_, h)| h.clone());
        let known = hash.is_some();
        let verified = tokio::task::spawn_blocking(move || {
            verify_password(hash.as_deref().unwrap_or_else(|| dummy_hash()), &password) && known
        })
        .await
        .map_err(|_| DbError::Cancelled)?;
        let failures = attempts.map_or(0, |a| a.0);
        self.db
            .write(move |c| {
                let Some((user, _)) = user.filter(|_| verified) else {
                    let failures = failures + 1;
                    let locked = sign_in::lock_after_failure(failures, now);
                    sessions::set_attempts(c, &username, failures, now, locked)?;
                    let code = Some("invalid_credentials".to_owned());
                    super::audit::record(
                        c,
                        entry(kinds::SIGN_IN, &username, "sign_in", "refused", code),
                    )?;
                    if let Some(until) = locked {
                        let code = Some(until.and_utc().to_rfc3339());
                        super::audit::record(
                            c,
                            entry(kinds::ACCOUNT_LOCKED, &username, "sign_in", "locked", code),
                        )?;
                    }
                    return Ok(Err(SignInRefusal::Invalid));
                };
                sessions::clear_attempts(c, &username)?;
                let token = users::new_secret(SESSION_PREFIX)?;
                let expires_at = now + limits.absolute;
                let id = TokenId::new().to_string();
                sessions::insert(c, &id, &user.id, &users::digest(&token), now, expires_at)?;
                let mut e = entry(kinds::SIGN_IN, &username, "sign_in", "ok", None);
                e.role = Some(user.role.clone());
                super::audit::record(c, e)?;
                let user = users::to_user(user)?;
                Ok(Ok(NewSession {
                    csrf_token: csrf_token(&token),
                    token,
                    expires_at,
                    user_id: user.id,
                    username: user.username,
                    display_name: user.display_name,
                    role: user.role,
                    language: user.language,
                }))
            })
            .await
    }

    /// The caller behind a session token, or why there is none; the
    /// session's idle clock restarts (written at most once a minute).
    pub async fn session_principal(
        &self,
        token: String,
        limits: SessionLimits,
    ) -> Result<Result<Principal, super::accounts::AuthFailure>, DbError> {
        use super::accounts::AuthFailure;
        if !users::well_formed(&token, SESSION_PREFIX) {
            return Ok(Err(AuthFailure::Malformed));
        }
        let now = self.now();
        let hash = users::digest(&token);
        let found = self
            .db
            .read_here(move |c| sessions::by_token_hash(c, &hash))
            .await?;
        let Some((session, user)) = found else {
            return Ok(Err(AuthFailure::Unknown));
        };
        if session.revoked_at.is_some() {
            return Ok(Err(AuthFailure::Revoked));
        }
        if session.expires_at <= now || session.last_seen_at + limits.idle <= now {
            return Ok(Err(AuthFailure::Expired));
        }
        if user.disabled {
            return Ok(Err(AuthFailure::UserDisabled));
        }
        if now - session.last_seen_at > Duration::minutes(1) {
            let id = session.id.clone();
            self.db.write(move |c| sessions::touch(c, &id, now)).await?;
        }
        let user = users::to_user(user)?;
        Ok(Ok(Principal {
            user_id: user.id,
            username: user.username,
            role: user.role,
            token_id: session
                .id
                .parse()
                .map_err(|_| DbError::Corrupt(format!("session id {}", session.id)))?,
        }))
    }

    /// Ends the caller's session (`everywhere`: every session of theirs).
    pub async fn sign_out(&self, who: Principal, everywhere: bool) -> Result<(), DbError> {
        let now = self.now();
        self.db
            .write(move |c| {
                let (user, session) = (who.user_id.to_string(), who.token_id.to_string());
                if everywhere {
                    sessions::revoke_all(c, &user, None, now)?;
                } else {
                    sessions::revoke(c, &session, now)?;
                }
                let action = if everywhere {
                    "sign_out_everywhere"
                } else {
                    "sign_out"
                };
                let mut e = entry(kinds::SIGN_OUT, &who.username, action, "ok", None);
                e.role = Some(who.role.as_str().to_owned());
                super::audit::record(c, e).map(|_| ())
            })
            .await
    }

    /// The caller changes their own password; their other sessions end.
    pub async fn change_password(
        &self,
        who: Principal,
        current: String,
        new: String,
    ) -> Result<Result<(), PasswordRefusal>, DbError> {
        if let Err(e) = sign_in::check_password(&new, &who.username) {
            return Ok(Err(PasswordRefusal::Invalid(e)));
        }
        let name = who.username.clone();
        let stored = self
            .db
            .read(move |c| sessions::user_with_password(c, &name))
            .await?
            .and_then(|(_, h)| h);
        let ok = tokio::task::spawn_blocking(move || {
            let hash = match stored {
                Some(h) => h,
                None => return Ok((false, String::new())),
            };
            let ok = verify_password(&hash, &current);
            Ok::<_, DbError>((
                ok,
                if ok {
                    hash_password(&new)?
                } else {
                    String::new()
                },
            ))
        })
        .await
        .map_err(|_| DbError::Cancelled)??;
        let (verified, hash) = ok;
        if !verified {
            return Ok(Err(PasswordRefusal::WrongCurrent));
        }
        let now = self.now();
        self.db
            .write(move |c| {
                let (user, session) = (who.user_id.to_string(), who.token_id.to_string());
                sessions::set_password(c, &user, &hash, now)?;
                sessions::revoke_all(c, &user, Some(&session), now)?;
                let mut e = entry(
                    kinds::SIGN_OUT,
                    &who.username,
                    "password_changed",
                    "ok",
                    None,
                );
                e.role = Some(who.role.as_str().to_owned());
                super::audit::record(c, e)?;
                Ok(Ok(()))
            })
            .await
    }
}
