//! Erasure on consent withdrawal, in the rows: what is deleted or blanked,
//! when the person's data key is destroyed, and the record of each erasure.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::cases::{erasure, referral_of};
use super::schema::{case_erasures, case_identities, idempotency_keys};
use super::sealed;
use super::{AnyConnection, DbError};
use crate::domain::ids::{CaseId, ReferralId};

/// When this node last erased a person's data, or last heard that the
/// other node did (`None`: never).
pub fn latest_erasure(conn: &mut AnyConnection) -> Result<Option<NaiveDateTime>, DbError> {
    let erased: Option<NaiveDateTime> = case_erasures::table
        .select(diesel::dsl::max(case_erasures::erased_at))
        .first(conn)?;
    let confirmed: Option<NaiveDateTime> = case_erasures::table
        .select(diesel::dsl::max(case_erasures::confirmed_by_peer_at))
        .first(conn)?;
    Ok(erased.max(confirmed))
}

/// Records that the case's data was erased.
pub fn record_erasure(
    conn: &mut AnyConnection,
    id: CaseId,
    withdrawn_on: chrono::NaiveDate,
    now: NaiveDateTime,
) -> Result<(), DbError> {
    diesel::insert_into(case_erasures::table)
        .values((
            case_erasures::case_id.eq(id.to_string()),
            case_erasures::withdrawn_on.eq(withdrawn_on),
            case_erasures::erased_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// Records that the other node confirmed it erased its copy.
pub fn record_peer_erasure(
    conn: &mut AnyConnection,
    id: CaseId,
    now: NaiveDateTime,
) -> Result<(), DbError> {
    diesel::update(case_erasures::table.find(id.to_string()))
        .set(case_erasures::confirmed_by_peer_at.eq(now))
        .execute(conn)?;
    Ok(())
}

/// Deletes what else on this node carries the person's data: the identity
/// block, the bodies of the messages about the case that were delivered,
/// rejected or received (their digests, signatures and receipts stay), the
/// reports, the timeline's comments and the digest of the create request.
pub fn erase_personal_data(
    conn: &mut AnyConnection,
    id: CaseId,
    referral_id: ReferralId,
    now: NaiveDateTime,
) -> Result<(), DbError> {
    use super::schema::{case_events, case_reports, inbox_messages, outbox_messages};
    const ERASED: &str = super::outbox::ERASED_BODY;
    let case_id = id.to_string();
    diesel::delete(case_identities::table.find(&case_id)).execute(conn)?;
    super::name_index::remove(conn, &case_id)?;
    diesel::update(
        outbox_messages::table
            .filter(outbox_messages::case_id.eq(&case_id))
            .filter(outbox_messages::status.eq_any(["delivered", "rejected"])),
    )
    .set(outbox_messages::body.eq(ERASED))
    .execute(conn)?;
    diesel::update(
        inbox_messages::table.filter(inbox_messages::referral_id.eq(referral_id.to_string())),
    )
    .set(inbox_messages::body.eq(ERASED))
    .execute(conn)?;
    diesel::delete(case_reports::table.filter(case_reports::case_id.eq(&case_id))).execute(conn)?;
    diesel::update(case_events::table.filter(case_events::case_id.eq(&case_id)))
        .set(case_events::comment.eq(None::<String>))
        .execute(conn)?;
    diesel::delete(idempotency_keys::table.filter(idempotency_keys::case_id.eq(&case_id)))
        .execute(conn)?;
    // Messages still to deliver keep their bodies, and the key that seals
    // them, until they are settled (see `forget_key_when_settled`).
    let pending: i64 = outbox_messages::table
        .filter(outbox_messages::case_id.eq(&case_id))
        .filter(outbox_messages::status.ne_all(["delivered", "rejected"]))
        .count()
        .get_result(conn)?;
    if pending == 0 {
        sealed::destroy(conn, &referral_id.to_string(), now)?;
    }
    Ok(())
}

/// Destroys the data key of an erased case once its last message to the
/// other node is settled.
pub fn forget_key_when_settled(
    conn: &mut AnyConnection,
    id: CaseId,
    now: NaiveDateTime,
) -> Result<(), DbError> {
    use super::schema::outbox_messages;
    if erasure(conn, id)?.is_none() {
        return Ok(());
    }
    let pending: i64 = outbox_messages::table
        .filter(outbox_messages::case_id.eq(id.to_string()))
        .filter(outbox_messages::status.ne_all(["delivered", "rejected"]))
        .count()
        .get_result(conn)?;
    if pending == 0 {
        let referral = referral_of(conn, id)?;
        sealed::destroy(conn, &referral, now)?;
    }
    Ok(())
}
