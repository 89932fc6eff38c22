//! Consent withdrawal: erasing the person's data here, telling the other
//! node, and what the other node's withdrawal and erasure mean here.

use chrono::{NaiveDateTime, SubsecRound};
use serde_json::json;

use super::cases::*;
use super::exchange as peer;
use super::NodeCtx;
use crate::domain::case::CaseDetails;
use crate::domain::ids::{CaseId, ReferralId};
use crate::domain::lifecycle::Side;
use crate::domain::message_type::MessageType;
use crate::store::cases as rows;
use crate::store::erasures;
use crate::store::users::Principal;
use crate::store::{outbox, AnyConnection, DbError};

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
    let consent = case.details.consent.clone().map(|mut c| {
        c.withdrawn_on = Some(withdrawn_on);
        c.interpreter_language = None;
        c
    });
    let details = CaseDetails {
        consent,
        ..CaseDetails::default()
    };
    written(
        rows::update_erased_details(conn, case.id, case.version, &details, now)?,
        &case,
    )?;
    erasures::erase_personal_data(conn, case.id, case.referral_id, now)?;
    erasures::record_erasure(conn, case.id, withdrawn_on, now)?;
    let case = Case {
        details,
        identity: None,
        version: case.version + 1,
        updated_at: now,
        erased_at: Some(now),
        ..case
    };
    record_event(conn, &case, kind, Some(case.state), user, None)?;
    Ok(case)
}

/// Begins a new key epoch if a person's data key was destroyed since the
/// current one began (see [`crate::store::sealed`]), and tells
/// administrators that earlier backups no longer give back personal data.
/// Returns the new epoch, if one began.
pub fn rotate_keys(conn: &mut AnyConnection, now: NaiveDateTime) -> Result<Option<i64>, DbError> {
    let epoch = crate::store::sealed::rotate(conn, now)?;
    if let Some(epoch) = epoch {
        crate::store::alerts::alert(
            conn,
            "keys_rotated",
            &format!(
                "key epoch {epoch} began after an erasure: personal data in backups taken \
                 before now can no longer be read; take a new backup"
            ),
            now,
        )?;
    }
    Ok(epoch)
}

/// When this node last erased a person's data or heard the other node did.
pub fn latest_erasure(conn: &mut AnyConnection) -> Result<Option<NaiveDateTime>, DbError> {
    erasures::latest_erasure(conn)
}

/// When the case's data was erased, and when the other node confirmed its own erasure.
pub fn erasure(
    conn: &mut AnyConnection,
    id: CaseId,
) -> Result<Option<(NaiveDateTime, Option<NaiveDateTime>)>, DbError> {
    rows::erasure(conn, id)
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
    if case.side == Side::Receiving {
        return Ok(true);
    }
    Ok(outbox::count_for_case(conn, case.id)? > 0)
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
    let now = now.trunc_subsecs(6);
    let case = find_by_referral(conn, referral_id)?.ok_or(CaseError::NotFound)?;
    erasures::record_peer_erasure(conn, case.id, now)?;
    annotate(conn, case.id, "erasure_confirmed", None, now)
}
