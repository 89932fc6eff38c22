//! User accounts and API tokens.
//!
//! A token is 32 random bytes shown once to whoever issues it
//! (`psl_` + base64url). Only its SHA-256 digest is stored: the secret has
//! 256 bits of entropy, so a fast hash is enough, and a stolen database gives
//! no usable token. Lookup is by digest; the digest found is compared again
//! in constant time.

use crate::domain::envelope::hex;
use base64::Engine;
use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;

use super::models::{TokenRow, UserRow};
use super::schema::{api_tokens, users};
use super::{AnyConnection, DbError};
use crate::domain::i18n::Lang;
use crate::domain::ids::{TokenId, UserId};
use crate::domain::roles::Role;

const TOKEN_PREFIX: &str = "psl_";

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user_id: UserId,
    pub username: String,
    pub role: Role,
    pub token_id: TokenId,
}

/// A user account, as shown to administrators.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct User {
    /// Account identifier.
    #[schema(value_type = String, format = Uuid)]
    pub id: UserId,
    /// Login name (lower case letters, digits, `.`, `_`, `-`).
    pub username: String,
    /// Display name.
    pub display_name: String,
    /// Role.
    pub role: Role,
    /// Agency the user belongs to.
    pub agency: String,
    /// Disabled accounts cannot authenticate.
    pub disabled: bool,
    /// When the account was created (UTC, RFC 3339).
    #[serde(serialize_with = "utc_instant")]
    #[schema(value_type = chrono::DateTime<chrono::Utc>)]
    pub created_at: NaiveDateTime,
    /// The console's language the user chose; absent: the browser's.
    pub language: Option<Lang>,
}

/// Serialises a stored (naive, UTC) timestamp as an RFC 3339 UTC instant.
fn utc_instant<S: serde::Serializer>(t: &NaiveDateTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(
        &t.and_utc()
            .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
    )
}

/// A token record (never the secret).
#[derive(Debug, Clone, serde::Serialize)]
pub struct TokenInfo {
    pub id: TokenId,
    pub username: String,
    pub label: String,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub revoked_at: Option<NaiveDateTime>,
}

/// A freshly issued token: the secret exists only here.
pub struct IssuedToken {
    pub id: TokenId,
    pub secret: String,
    pub expires_at: NaiveDateTime,
}

#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error("username `{0}` is already taken")]
    UsernameTaken(String),
    #[error("no user `{0}`")]
    UnknownUser(String),
    #[error("no token {0}")]
    UnknownToken(String),
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<diesel::result::Error> for UserError {
    fn from(e: diesel::result::Error) -> Self {
        UserError::Db(DbError::Query(e))
    }
}

/// Why a presented token was refused (for the log; the caller only learns 401).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    Malformed,
    Unknown,
    Expired,
    Revoked,
    UserDisabled,
}

impl AuthFailure {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthFailure::Malformed => "malformed_token",
            AuthFailure::Unknown => "unknown_token",
            AuthFailure::Expired => "expired_token",
            AuthFailure::Revoked => "revoked_token",
            AuthFailure::UserDisabled => "user_disabled",
        }
    }
}

fn validate_username(username: &str) -> Result<(), UserError> {
    let ok = (3..=64).contains(&username.len())
        && username.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
        });
    if ok {
        Ok(())
    } else {
        Err(UserError::Invalid(
            "usernames are 3 to 64 characters: lower-case letters, digits, `.`, `_`, `-`".into(),
        ))
    }
}

pub(crate) fn to_user(row: UserRow) -> Result<User, DbError> {
    Ok(User {
        id: row
            .id
            .parse()
            .map_err(|_| DbError::Corrupt(format!("user id {}", row.id)))?,
        role: Role::parse(&row.role).map_err(DbError::Corrupt)?,
        username: row.username,
        display_name: row.display_name,
        agency: row.agency,
        disabled: row.disabled,
        created_at: row.created_at,
        language: row.language.as_deref().and_then(Lang::parse),
    })
}

pub fn create_user(
    conn: &mut AnyConnection,
    username: &str,
    display_name: &str,
    role: Role,
    agency: &str,
    now: NaiveDateTime,
) -> Result<User, UserError> {
    validate_username(username)?;
    let display_name = display_name.trim();
    if display_name.is_empty() || display_name.chars().count() > 200 {
        return Err(UserError::Invalid(
            "the display name must have 1 to 200 characters".into(),
        ));
    }
    let row = UserRow {
        id: UserId::new().to_string(),
        username: username.to_owned(),
        display_name: display_name.to_owned(),
        role: role.as_str().to_owned(),
        agency: agency.to_owned(),
        disabled: false,
        created_at: now,
        language: None,
    };
    match diesel::insert_into(users::table).values(&row).execute(conn) {
        Ok(_) => Ok(to_user(row)?),
        Err(e) => {
            let e = DbError::Query(e);
            if e.is_unique_violation() {
                Err(UserError::UsernameTaken(username.to_owned()))
            } else {
                Err(e.into())
            }
        }
    }
}

pub fn list_users(conn: &mut AnyConnection) -> Result<Vec<User>, DbError> {
    users::table
        .select(UserRow::as_select())
        .order(users::username.asc())
        .load(conn)?
        .into_iter()
        .map(to_user)
        .collect()
}

pub fn set_disabled(
    conn: &mut AnyConnection,
    username: &str,
    disabled: bool,
) -> Result<(), UserError> {
    let n = diesel::update(users::table.filter(users::username.eq(username)))
        .set(users::disabled.eq(disabled))
        .execute(conn)?;
    if n == 0 {
        return Err(UserError::UnknownUser(username.to_owned()));
    }
    Ok(())
}

/// One account by id.
pub fn user_by_id(conn: &mut AnyConnection, id: UserId) -> Result<Option<User>, DbError> {
    users::table
        .find(id.to_string())
        .select(UserRow::as_select())
        .first(conn)
        .optional()?
        .map(to_user)
        .transpose()
}

/// Changes an account's display name, role or disabled flag (what is
/// `Some`), in one statement.
pub fn update_user(
    conn: &mut AnyConnection,
    id: UserId,
    display_name: Option<&str>,
    role: Option<Role>,
    disabled: Option<bool>,
) -> Result<(), DbError> {
    #[derive(AsChangeset)]
    #[diesel(table_name = users)]
    struct Change<'a> {
        display_name: Option<&'a str>,
        role: Option<&'static str>,
        disabled: Option<bool>,
    }
    if display_name.is_none() && role.is_none() && disabled.is_none() {
        return Ok(());
    }
    let change = Change {
        display_name,
        role: role.map(Role::as_str),
        disabled,
    };
    diesel::update(users::table.find(id.to_string()))
        .set(change)
        .execute(conn)?;
    Ok(())
}

/// Remembers the console language a user chose.
pub fn set_language(conn: &mut AnyConnection, id: UserId, lang: Lang) -> Result<(), DbError> {
    diesel::update(users::table.find(id.to_string()))
        .set(users::language.eq(Some(lang.as_str())))
        .execute(conn)?;
    Ok(())
}

/// Revokes every live API token of a user; how many there were.
pub fn revoke_tokens_of(
    conn: &mut AnyConnection,
    id: UserId,
    now: NaiveDateTime,
) -> Result<usize, DbError> {
    Ok(diesel::update(
        api_tokens::table
            .filter(api_tokens::user_id.eq(id.to_string()))
            .filter(api_tokens::revoked_at.is_null()),
    )
    .set(api_tokens::revoked_at.eq(Some(now)))
    .execute(conn)?)
}

/// How a secret (an API or a session token) is stored: its SHA-256, hex.
pub(crate) fn digest(secret: &str) -> String {
    hex(&openssl::sha::sha256(secret.as_bytes()))
}

/// `bytes` random bytes, base64url without padding.
pub(crate) fn random_text(bytes: usize) -> Result<String, DbError> {
    let mut raw = vec![0u8; bytes];
    openssl::rand::rand_bytes(&mut raw)
        .map_err(|e| DbError::Corrupt(format!("no randomness: {e}")))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw))
}

/// A fresh secret: `prefix` and 32 random bytes, base64url.
pub(crate) fn new_secret(prefix: &str) -> Result<String, DbError> {
    Ok(format!("{prefix}{}", random_text(32)?))
}

/// Whether a presented secret has the shape [`new_secret`] gives.
pub(crate) fn well_formed(secret: &str, prefix: &str) -> bool {
    secret.starts_with(prefix) && secret.len() == prefix.len() + 43
}

pub fn issue_token(
    conn: &mut AnyConnection,
    username: &str,
    label: &str,
    ttl_days: u32,
    now: NaiveDateTime,
) -> Result<IssuedToken, UserError> {
    let user: UserRow = users::table
        .filter(users::username.eq(username))
        .select(UserRow::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| UserError::UnknownUser(username.to_owned()))?;
    if user.disabled {
        return Err(UserError::Invalid(format!("user `{username}` is disabled")));
    }
    let secret = new_secret(TOKEN_PREFIX)?;
    let id = TokenId::new();
    let expires_at = now + Duration::days(i64::from(ttl_days));
    diesel::insert_into(api_tokens::table)
        .values(TokenRow {
            id: id.to_string(),
            user_id: user.id,
            token_hash: digest(&secret),
            label: label.to_owned(),
            created_at: now,
            expires_at,
            revoked_at: None,
        })
        .execute(conn)?;
    Ok(IssuedToken {
        id,
        secret,
        expires_at,
    })
}

pub fn revoke_token(
    conn: &mut AnyConnection,
    id: &str,
    now: NaiveDateTime,
) -> Result<(), UserError> {
    let n = diesel::update(api_tokens::table.filter(api_tokens::id.eq(id)))
        .set(api_tokens::revoked_at.eq(Some(now)))
        .execute(conn)?;
    if n == 0 {
        return Err(UserError::UnknownToken(id.to_owned()));
    }
    Ok(())
}

pub fn list_tokens(
    conn: &mut AnyConnection,
    username: Option<&str>,
) -> Result<Vec<TokenInfo>, DbError> {
    let mut q = api_tokens::table
        .inner_join(users::table)
        .select((TokenRow::as_select(), users::username))
        .order(api_tokens::created_at.asc())
        .into_boxed();
    if let Some(u) = username {
        q = q.filter(users::username.eq(u.to_owned()));
    }
    q.load::<(TokenRow, String)>(conn)?
        .into_iter()
        .map(|(t, username)| {
            Ok(TokenInfo {
                id: t
                    .id
                    .parse()
                    .map_err(|_| DbError::Corrupt(format!("token id {}", t.id)))?,
                username,
                label: t.label,
                created_at: t.created_at,
                expires_at: t.expires_at,
                revoked_at: t.revoked_at,
            })
        })
        .collect()
}

/// Resolves a presented bearer token to its user.
pub fn authenticate(
    conn: &mut AnyConnection,
    presented: &str,
    now: NaiveDateTime,
) -> Result<Result<Principal, AuthFailure>, DbError> {
    if !well_formed(presented, TOKEN_PREFIX) {
        return Ok(Err(AuthFailure::Malformed));
    }
    let hash = digest(presented);
    let found: Option<(TokenRow, UserRow)> = super::cached::native!(conn, |c| {
        super::cached::fixed!(api_tokens::table
            .inner_join(users::table)
            .filter(api_tokens::token_hash.eq(&hash))
            .select((TokenRow::as_select(), UserRow::as_select()))
            .limit(1))
        .get_result(c)
        .optional()
    })?;
    let Some((token, user)) = found else {
        return Ok(Err(AuthFailure::Unknown));
    };
    if !openssl::memcmp::eq(token.token_hash.as_bytes(), hash.as_bytes()) {
        return Ok(Err(AuthFailure::Unknown));
    }
    if token.revoked_at.is_some() {
        return Ok(Err(AuthFailure::Revoked));
    }
    if token.expires_at <= now {
        return Ok(Err(AuthFailure::Expired));
    }
    if user.disabled {
        return Ok(Err(AuthFailure::UserDisabled));
    }
    let user = to_user(user)?;
    Ok(Ok(Principal {
        user_id: user.id,
        username: user.username,
        role: user.role,
        token_id: token
            .id
            .parse()
            .map_err(|_| DbError::Corrupt(format!("token id {}", token.id)))?,
    }))
}
