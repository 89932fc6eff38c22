//! Receipts for this node's messages: checking each against the message it
//! settles, recording it, and what it means here (a referral received, a
//! message the other node rejected).

use chrono::NaiveDateTime;

use super::cases::{self, CaseError};
use super::exchange::alert;
use super::NodeCtx;
use crate::audit::{kinds, Entry};
use crate::domain::envelope::{Receipt, Signed};
use crate::domain::ids::{CaseId, ReferralId};
use crate::domain::lifecycle::{Action, TransitionParams};
use crate::domain::message_type::MessageType;
use crate::store::outbox::status;
use crate::store::{audit, outbox, AnyConnection, DbError};

/// Why a receipt could not be settled.
#[derive(Debug, thiserror::Error)]
pub enum SettleError {
    #[error("receipt does not match message {0}: {1}")]
    Mismatch(String, String),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<diesel::result::Error> for SettleError {
    fn from(e: diesel::result::Error) -> Self {
        SettleError::Db(DbError::Query(e))
    }
}

/// Records a verified receipt from the peer for one of our messages, in the
/// caller's transaction, and applies what it means here. Returns the id of
/// the case the message is about.
pub fn settle(
    conn: &mut AnyConnection,
    ctx: &NodeCtx,
    receipt: &Signed,
    signer_fingerprint: &str,
    now: NaiveDateTime,
) -> Result<String, SettleError> {
    let r: Receipt = serde_json::from_value(receipt.body.clone())
        .map_err(|e| SettleError::Mismatch("?".into(), format!("unreadable receipt: {e}")))?;
    let row = outbox::header(conn, &r.message_id.to_string())?.ok_or_else(|| {
        SettleError::Mismatch(r.message_id.to_string(), "no such outgoing message".into())
    })?;
    if r.message_hash != row.hash
        || r.seq != row.seq
        || r.sender != ctx.node
        || r.receiver != ctx.node.counterpart()
    {
        return Err(SettleError::Mismatch(
            row.id,
            "hash, sequence or parties differ".into(),
        ));
    }
    if row.status == status::DELIVERED || row.status == status::REJECTED {
        return Ok(row.case_id); // already settled (a resend after a lost response)
    }
    let accepted = r.status == "accepted";
    let receipt_text = serde_json::to_string(receipt)
        .map_err(|e| DbError::Corrupt(format!("cannot serialise: {e}")))?;
    let settled = outbox::settle(
        conn,
        &row.id,
        &outbox::Settlement {
            delivered: accepted,
            at: now,
            // A delivered message was tried at least once (the try that got
            // through; a failed try whose answer was lost is already counted).
            attempts: row.attempts.max(1),
            receipt: &receipt_text,
            signer: signer_fingerprint,
            code: r.code.clone(),
        },
    )?;
    if !settled {
        return Ok(row.case_id);
    }
    // Consent was withdrawn while it travelled: its body goes now.
    let case_id: CaseId = row
        .case_id
        .parse()
        .map_err(|_| DbError::Corrupt(format!("case id {}", row.case_id)))?;
    if super::erasure::erasure(conn, case_id)?.is_some() {
        outbox::erase_body(conn, &row.id)?;
        crate::store::erasures::forget_key_when_settled(conn, case_id, now)?;
    }
    let mut entry = Entry::new(
        kinds::RECEIPT_RECEIVED,
        format!("peer:{}", ctx.node.counterpart()),
        row.message_type.clone(),
    );
    entry.case_id = Some(row.case_id.clone());
    entry.referral_id = Some(row.referral_id.clone());
    entry.message_id = Some(row.id.clone());
    entry.seq = Some(row.seq);
    entry.digest = Some(receipt.hash());
    entry.peer_index = Some(r.log_index);
    entry.outcome = if accepted { "delivered" } else { "rejected" }.to_owned();
    entry.code = r.code.clone();
    let entry = audit::append(conn, entry)?;
    super::statistics::logged(conn, &entry)?;
    let referral: ReferralId = row
        .referral_id
        .parse()
        .map_err(|_| DbError::Corrupt(format!("referral id {}", row.referral_id)))?;
    if accepted && row.message_type == MessageType::ReferralRequest.as_str() {
        let params = TransitionParams {
            reason_code: None,
            outcome: None,
            comment: None,
            handover: None,
        };
        let marked = crate::store::savepoint(conn, |c| {
            cases::apply_from_peer(c, ctx, referral, Action::MarkReceived, params, now)
        });
        if let Err(e) = marked {
            tracing::info!(referral = %referral, error = %e, "receipt of a referral the sender no longer holds as approved");
        }
    }
    if !accepted {
        let code = r.code.unwrap_or_else(|| "rejected".into());
        alert(
            conn,
            "message_rejected",
            &format!(
                "message {} (seq {}) rejected by the peer: {code}",
                row.id, row.seq
            ),
            now,
        )?;
        let case_id: CaseId = row
            .case_id
            .parse()
            .map_err(|_| DbError::Corrupt(format!("case id {}", row.case_id)))?;
        cases::annotate(conn, case_id, "peer_rejected", Some(code), now).map_err(|e| match e {
            CaseError::Db(d) => SettleError::Db(d),
            other => SettleError::Db(DbError::Corrupt(other.to_string())),
        })?;
    }
    Ok(row.case_id)
}
