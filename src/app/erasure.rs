//! Consent withdrawal: erasing the person's data here, telling the other
//! node, and what the other node's withdrawal and erasure mean here.

use crate::domain::message_type::MessageType;
use chrono::{NaiveDateTime, SubsecRound};
use diesel::prelude::*;
use serde_json::json;

use super::cases::*;
use super::exchange as peer;
use super::NodeCtx;
use crate::domain::case::CaseDetails;
use crate::domain::ids::{CaseId, ReferralId};
use crate::domain::lifecycle::Side;
use crate::store::schema::{case_events, case_identities, cases};
use crate::store::users::Principal;
use crate::store::{AnyConnection, DbError};

/// Erases the person's data on this node: the identity block, every field
/// of the data set but the consent record (kept, with its withdrawal date,
/// as the trace of the legal basis), and the bodies of the messages about
/// the case that were delivered or received (their digests, signatures and
/// receipts stay, and so does the audit log). Undelivered messages keep
/// their bodies until delivered, since their signatures cover them: the
/// withdrawal follows them in the same ordered channel, so the other node
/// erases right after. Records the event `kind` and returns the case.
pub(super) fn erase(
    conn: &mut AnyConnection,
    case: Case,
    withdrawn_on: chrono::NaiveDate,
    kind: &str,
    user: Option<&Principal>,
    now: NaiveDateTime,
) -> Result<Case, CaseError> {
    use crate::store::schema::{case_erasures, inbox_messages, outbox_messages};
    let consent = case.details.consent.clone().map(|mut c| {
        c.withdrawn_on = Some(withdrawn_on);
        c.interpreter_language = None;
        c
    });
    let details = CaseDetails {
        consent,
        ..CaseDetails::default()
    };
    let version = case.version + 1;
    let updated = diesel::update(
        cases::table
            .filter(cases::id.eq(case.id.to_string()))
            .filter(cases::version.eq(case.version)),
    )
    .set((
        cases::details.eq(to_json(&details)?),
        cases::version.eq(version),
        cases::updated_at.eq(now),
    ))
    .execute(conn)?;
    if updated != 1 {
        return Err(CaseError::VersionMismatch {
            current: case.version,
        });
    }
    diesel::delete(case_identities::table.find(case.id.to_string())).execute(conn)?;
    const ERASED: &str = "{\"erased\":true}";
    diesel::update(
        outbox_messages::table
            .filter(outbox_messages::case_id.eq(case.id.to_string()))
            .filter(outbox_messages::status.eq_any(["delivered", "rejected"])),
    )
    .set(outbox_messages::body.eq(ERASED))
    .execute(conn)?;
    diesel::update(
        inbox_messages::table.filter(inbox_messages::referral_id.eq(case.referral_id.to_string())),
    )
    .set(inbox_messages::body.eq(ERASED))
    .execute(conn)?;
    // Reports (family tracing, assessments), timeline comments and the
    // digest of the create request go too.
    {
        use crate::store::schema::{case_reports, idempotency_keys};
        diesel::delete(case_reports::table.filter(case_reports::case_id.eq(case.id.to_string())))
            .execute(conn)?;
        diesel::update(case_events::table.filter(case_events::case_id.eq(case.id.to_string())))
            .set(case_events::comment.eq(None::<String>))
            .execute(conn)?;
        diesel::delete(
            idempotency_keys::table.filter(idempotency_keys::case_id.eq(case.id.to_string())),
        )
        .execute(conn)?;
    }
    diesel::insert_into(case_erasures::table)
        .values((
            case_erasures::case_id.eq(case.id.to_string()),
            case_erasures::withdrawn_on.eq(withdrawn_on),
            case_erasures::erased_at.eq(now),
        ))
        .execute(conn)?;
    record_event(
        conn,
        case.id,
        version,
        now,
        kind,
        Some(case.state),
        case.state,
        user,
        None,
    )?;
    Ok(Case {
        details,
        identity: None,
        version,
        updated_at: now,
        erased_at: Some(now),
        ..case
    })
}

/// When the case's data was erased, and when the other node confirmed its own erasure.
pub fn erasure(
    conn: &mut AnyConnection,
    id: CaseId,
) -> Result<Option<(NaiveDateTime, Option<NaiveDateTime>)>, DbError> {
    use crate::store::schema::case_erasures;
    Ok(case_erasures::table
        .find(id.to_string())
        .select((
            case_erasures::erased_at,
            case_erasures::confirmed_by_peer_at,
        ))
        .first(conn)
        .optional()?)
}

/// The person withdrew consent (told this node): erases the data here and,
/// if the other node holds the case, tells it to erase too.
pub fn withdraw_consent(
    conn: &mut AnyConnection,
    ctx: &NodeCtx,
    id: CaseId,
    withdrawn_on: chrono::NaiveDate,
    user: &Principal,
    now: NaiveDateTime,
) -> Result<Case, CaseError> {
    let now = now.trunc_subsecs(6);
    let case = get(conn, id)?;
    if erasure(conn, id)?.is_some() {
        return Err(CaseError::AlreadyErased);
    }
    let case = erase(
        conn,
        case,
        withdrawn_on,
        "consent_withdrawn",
        Some(user),
        now,
    )?;
    if peer_holds(conn, &case)? {
        peer::append_outgoing(
            conn,
            ctx,
            case.id,
            case.referral_id,
            MessageType::ConsentWithdrawal,
            json!({ "withdrawn_on": withdrawn_on }),
            now,
        )?;
    }
    Ok(case)
}

/// Whether the other node has (or will have) a copy of this case.
pub(super) fn peer_holds(conn: &mut AnyConnection, case: &Case) -> Result<bool, DbError> {
    use crate::store::schema::outbox_messages;
    if case.side == Side::Receiving {
        return Ok(true);
    }
    let sent: i64 = outbox_messages::table
        .filter(outbox_messages::case_id.eq(case.id.to_string()))
        .count()
        .get_result(conn)?;
    Ok(sent > 0)
}

/// The other node says the person withdrew consent: erase here and confirm.
pub fn withdrawal_from_peer(
    conn: &mut AnyConnection,
    ctx: &NodeCtx,
    referral_id: ReferralId,
    withdrawn_on: chrono::NaiveDate,
    now: NaiveDateTime,
) -> Result<Case, CaseError> {
    let now = now.trunc_subsecs(6);
    let case = find_by_referral(conn, referral_id)?.ok_or(CaseError::NotFound)?;
    // Both sides may have withdrawn at once: already erased here; confirm anyway.
    let case = if erasure(conn, case.id)?.is_some() {
        case
    } else {
        erase(conn, case, withdrawn_on, "consent_withdrawn", None, now)?
    };
    peer::append_outgoing(
        conn,
        ctx,
        case.id,
        case.referral_id,
        MessageType::ErasureConfirmation,
        json!({ "erased_at": chrono::TimeZone::from_utc_datetime(&chrono::Utc, &now) }),
        now,
    )?;
    Ok(case)
}

/// The other node confirms it erased its copy.
pub fn erasure_confirmed(
    conn: &mut AnyConnection,
    referral_id: ReferralId,
    now: NaiveDateTime,
) -> Result<(), CaseError> {
    use crate::store::schema::case_erasures;
    let now = now.trunc_subsecs(6);
    let case = find_by_referral(conn, referral_id)?.ok_or(CaseError::NotFound)?;
    diesel::update(case_erasures::table.find(case.id.to_string()))
        .set(case_erasures::confirmed_by_peer_at.eq(now))
        .execute(conn)?;
    annotate(conn, case.id, "erasure_confirmed", None, now)
}
