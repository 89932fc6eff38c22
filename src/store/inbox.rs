//! The incoming messages' rows: each message of the other node's chain as
//! received, with this node's signed receipt for it.

use diesel::prelude::*;

use super::models::InboxRow;
use super::schema::inbox_messages;
use super::sealed::{self, Column};
use super::{AnyConnection, DbError};
use crate::domain::envelope::Signed;
use crate::domain::ids::{MessageId, ReferralId};

/// The message received with this id, if any.
pub fn get(conn: &mut AnyConnection, id: MessageId) -> Result<Option<InboxRow>, DbError> {
    let row = super::cached::native!(conn, |c| inbox_messages::table
        .find(id.to_string())
        .select(InboxRow::as_select())
        .first(c)
        .optional())?;
    Ok(opened(conn, row.into_iter().collect())?.pop())
}

/// Rows with their bodies opened (an erased body reads the erasure marker).
fn opened(conn: &mut AnyConnection, mut rows: Vec<InboxRow>) -> Result<Vec<InboxRow>, DbError> {
    let referrals: Vec<String> = rows.iter().map(|r| r.referral_id.clone()).collect();
    sealed::prefetch(conn, &referrals)?;
    for row in &mut rows {
        row.body = sealed::open(conn, &row.referral_id, Column::Body, &row.body)?
            .unwrap_or_else(|| super::outbox::ERASED_BODY.to_owned());
    }
    Ok(rows)
}

/// Writes a message taken into the chain, its body sealed.
pub fn insert(conn: &mut AnyConnection, row: &InboxRow) -> Result<(), DbError> {
    let body = sealed::seal(conn, &row.referral_id, Column::Body, &row.body)?;
    super::cached::write_fixed!(
        conn,
        i64,
        diesel::insert_into(inbox_messages::table)
            .values(InboxRow {
                body,
                ..row.clone()
            })
            .returning(inbox_messages::seq)
    )?;
    Ok(())
}

/// Signed receipts this node gave for incoming messages `from..=to`, in
/// order, at most `max_bytes` of them (but always the first).
pub fn receipts_between(
    conn: &mut AnyConnection,
    from: i64,
    to: i64,
    max_bytes: usize,
) -> Result<Vec<Signed>, DbError> {
    let rows: Vec<String> = inbox_messages::table
        .filter(inbox_messages::seq.ge(from))
        .filter(inbox_messages::seq.le(to))
        .order(inbox_messages::seq.asc())
        .limit(10_000)
        .select(inbox_messages::receipt)
        .load(conn)?;
    let mut used = 0;
    let mut out = Vec::new();
    for r in rows {
        used += r.len();
        if !out.is_empty() && used > max_bytes {
            break;
        }
        out.push(
            serde_json::from_str(&r)
                .map_err(|e| DbError::Corrupt(format!("stored receipt: {e}")))?,
        );
    }
    Ok(out)
}

/// Incoming messages about one referral, in chain order.
pub fn list_for_referral(
    conn: &mut AnyConnection,
    referral: ReferralId,
) -> Result<Vec<InboxRow>, DbError> {
    let rows = inbox_messages::table
        .filter(inbox_messages::referral_id.eq(referral.to_string()))
        .select(InboxRow::as_select())
        .order(inbox_messages::seq.asc())
        .load(conn)?;
    opened(conn, rows)
}

/// The messages about a referral that were rejected after the last one that
/// was applied, in chain order.
pub fn rejected_since_last_applied(
    conn: &mut AnyConnection,
    referral: ReferralId,
) -> Result<Vec<InboxRow>, DbError> {
    let last_applied: Option<i64> = inbox_messages::table
        .filter(inbox_messages::referral_id.eq(referral.to_string()))
        .filter(inbox_messages::status.eq("accepted"))
        .select(diesel::dsl::max(inbox_messages::seq))
        .first(conn)?;
    let rows = inbox_messages::table
        .filter(inbox_messages::referral_id.eq(referral.to_string()))
        .filter(inbox_messages::status.eq("rejected"))
        .filter(inbox_messages::seq.gt(last_applied.unwrap_or(0)))
        .order(inbox_messages::seq.asc())
        .select(InboxRow::as_select())
        .load(conn)?;
    opened(conn, rows)
}

/// Marks a rejected message as applied after all (`code` `reapplied`).
pub fn mark_reapplied(conn: &mut AnyConnection, id: &str) -> Result<(), DbError> {
    diesel::update(inbox_messages::table.find(id))
        .set((
            inbox_messages::status.eq("accepted"),
            inbox_messages::code.eq(Some("reapplied")),
        ))
        .execute(conn)?;
    Ok(())
}
