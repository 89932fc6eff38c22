//! Console sign-in rows: each user's password hash, the sessions sign-ins
//! open (the cookie's token hashed, never the token), and the failed
//! attempts per username.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::models::UserRow;
use super::schema::{sessions, sign_in_attempts, user_passwords, users};
use super::{AnyConnection, DbError};

/// A user as a sign-in sees them: the row and the password hash, if set.
pub fn user_with_password(
    conn: &mut AnyConnection,
    username: &str,
) -> Result<Option<(UserRow, Option<String>)>, DbError> {
    let user: Option<UserRow> = users::table
        .filter(users::username.eq(username))
        .select(UserRow::as_select())
        .first(conn)
        .optional()?;
    let Some(user) = user else { return Ok(None) };
    let hash = user_passwords::table
        .find(&user.id)
        .select(user_passwords::hash)
        .first(conn)
        .optional()?;
    Ok(Some((user, hash)))
}

/// Sets (or replaces) a user's password hash.
pub fn set_password(
    conn: &mut AnyConnection,
    user_id: &str,
    hash: &str,
    now: NaiveDateTime,
) -> Result<(), DbError> {
    diesel::delete(user_passwords::table.find(user_id)).execute(conn)?;
    diesel::insert_into(user_passwords::table)
        .values((
            user_passwords::user_id.eq(user_id),
            user_passwords::hash.eq(hash),
            user_passwords::changed_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// A session as stored.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = sessions)]
pub struct SessionRow {
    pub id: String,
    pub user_id: String,
    pub token_hash: String,
    pub created_at: NaiveDateTime,
    pub last_seen_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub revoked_at: Option<NaiveDateTime>,
}

/// Opens a session.
pub fn insert(
    conn: &mut AnyConnection,
    id: &str,
    user_id: &str,
    token_hash: &str,
    now: NaiveDateTime,
    expires_at: NaiveDateTime,
) -> Result<(), DbError> {
    diesel::insert_into(sessions::table)
        .values((
            sessions::id.eq(id),
            sessions::user_id.eq(user_id),
            sessions::token_hash.eq(token_hash),
            sessions::created_at.eq(now),
            sessions::last_seen_at.eq(now),
            sessions::expires_at.eq(expires_at),
        ))
        .execute(conn)?;
    Ok(())
}

/// The session with this token hash, with its user.
pub fn by_token_hash(
    conn: &mut AnyConnection,
    token_hash: &str,
) -> Result<Option<(SessionRow, UserRow)>, DbError> {
    Ok(sessions::table
        .inner_join(users::table)
        .filter(sessions::token_hash.eq(token_hash))
        .select((SessionRow::as_select(), UserRow::as_select()))
        .first(conn)
        .optional()?)
}

/// Records that a session was used now.
pub fn touch(conn: &mut AnyConnection, id: &str, now: NaiveDateTime) -> Result<(), DbError> {
    diesel::update(sessions::table.find(id))
        .set(sessions::last_seen_at.eq(now))
        .execute(conn)?;
    Ok(())
}

/// Ends one session.
pub fn revoke(conn: &mut AnyConnection, id: &str, now: NaiveDateTime) -> Result<(), DbError> {
    diesel::update(
        sessions::table
            .find(id)
            .filter(sessions::revoked_at.is_null()),
    )
    .set(sessions::revoked_at.eq(Some(now)))
    .execute(conn)?;
    Ok(())
}

/// Ends every open session of a user but `keep`; returns how many.
pub fn revoke_all(
    conn: &mut AnyConnection,
    user_id: &str,
    keep: Option<&str>,
    now: NaiveDateTime,
) -> Result<usize, DbError> {
    let mut q = diesel::update(sessions::table)
        .filter(sessions::user_id.eq(user_id))
        .filter(sessions::revoked_at.is_null())
        .into_boxed();
    if let Some(keep) = keep {
        q = q.filter(sessions::id.ne(keep.to_owned()));
    }
    Ok(q.set(sessions::revoked_at.eq(Some(now))).execute(conn)?)
}

/// Failed sign-ins for a username: how many in a row, the last one, and
/// until when it is locked.
pub fn attempts(
    conn: &mut AnyConnection,
    username: &str,
) -> Result<Option<(i64, NaiveDateTime, Option<NaiveDateTime>)>, DbError> {
    Ok(sign_in_attempts::table
        .find(username)
        .select((
            sign_in_attempts::failures,
            sign_in_attempts::last_failure_at,
            sign_in_attempts::locked_until,
        ))
        .first(conn)
        .optional()?)
}

/// Records the failures in a row for a username, and a lock if any.
pub fn set_attempts(
    conn: &mut AnyConnection,
    username: &str,
    failures: i64,
    at: NaiveDateTime,
    locked_until: Option<NaiveDateTime>,
) -> Result<(), DbError> {
    diesel::delete(sign_in_attempts::table.find(username)).execute(conn)?;
    diesel::insert_into(sign_in_attempts::table)
        .values((
            sign_in_attempts::username.eq(username),
            sign_in_attempts::failures.eq(failures),
            sign_in_attempts::last_failure_at.eq(at),
            sign_in_attempts::locked_until.eq(locked_until),
        ))
        .execute(conn)?;
    Ok(())
}

/// Forgets a username's failed sign-ins (after a successful one).
pub fn clear_attempts(conn: &mut AnyConnection, username: &str) -> Result<(), DbError> {
    diesel::delete(sign_in_attempts::table.find(username)).execute(conn)?;
    Ok(())
}
