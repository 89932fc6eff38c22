//! The Idempotency-Keys of case creation: which case each user's key made.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::cases::parse_case_id;
use super::models::IdempotencyRow;
use super::schema::idempotency_keys;
use super::{AnyConnection, DbError};
use crate::domain::ids::{CaseId, UserId};

/// The case an earlier request with this user's Idempotency-Key created,
/// with that request's digest.
pub fn idempotent_case(
    conn: &mut AnyConnection,
    user: UserId,
    key: &str,
) -> Result<Option<(String, CaseId)>, DbError> {
    let earlier: Option<IdempotencyRow> = idempotency_keys::table
        .find((user.to_string(), key))
        .select(IdempotencyRow::as_select())
        .first(conn)
        .optional()?;
    earlier
        .map(|e| Ok((e.request_hash, parse_case_id(&e.case_id)?)))
        .transpose()
}

/// Remembers which case a user's Idempotency-Key created.
pub fn remember_idempotency(
    conn: &mut AnyConnection,
    user: UserId,
    key: String,
    digest: String,
    case: CaseId,
    now: NaiveDateTime,
) -> Result<(), DbError> {
    diesel::insert_into(idempotency_keys::table)
        .values(IdempotencyRow {
            user_id: user.to_string(),
            idem_key: key,
            request_hash: digest,
            case_id: case.to_string(),
            created_at: now,
        })
        .execute(conn)?;
    Ok(())
}
