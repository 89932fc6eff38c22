//! Whether this node is behind what the other node holds of their two
//! chains, as after a restore from an older backup: the other node received
//! later messages from this node than this node holds, or holds this node's
//! receipts for later messages than this node received. Sending in that
//! state would reuse sequence numbers, so delivery is held and an
//! administrator is told what to do.

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};

use super::NodeCtx;
use crate::store::channels;
use crate::store::{AnyConnection, DbError};

/// Alert raised when this node is behind the other node's copies.
pub const BEHIND_ALERT: &str = "restored_behind_peer";

/// What a node holds of the chains shared with the asking node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Held {
    /// The last message received from the asking node: its sequence number
    /// (0: none) and hash.
    pub received_seq: i64,
    pub received_hash: String,
    /// The highest sequence number of this node's messages to the asking
    /// node that it receipted (0: none).
    pub receipted: i64,
}

/// What this node holds of the chains, as the other node asks.
pub fn held(c: &mut AnyConnection) -> Result<Held, DbError> {
    let (received_seq, received_hash) = channels::incoming_head(c)?;
    Ok(Held {
        received_seq,
        received_hash,
        receipted: channels::highest_receipted(c)?,
    })
}

/// How far this node is behind the other node's copies, side by side.
struct Lag {
    /// Messages of this node's own the other node holds and this node lacks
    /// (or a different last message): lost for good here.
    own: Option<String>,
    /// The other node's messages this node receipted and no longer holds:
    /// they can be taken again from its copies.
    incoming: Option<String>,
}

fn lag(c: &mut AnyConnection, theirs: &Held) -> Result<Lag, DbError> {
    let (out_seq, out_hash) = channels::outgoing_head(c)?;
    let (in_seq, _) = channels::incoming_head(c)?;
    let own = if theirs.received_seq > out_seq {
        Some(format!(
            "the other node received this node's messages up to number {}, but this node holds only up to {out_seq}",
            theirs.received_seq
        ))
    } else if theirs.received_seq == out_seq && out_seq > 0 && theirs.received_hash != out_hash {
        Some(format!(
            "this node's message {out_seq} is not the one the other node received"
        ))
    } else {
        None
    };
    let incoming = (theirs.receipted > in_seq).then(|| {
        format!(
            "the other node holds this node's receipts for its messages up to number {}, but this node received only up to {in_seq}",
            theirs.receipted
        )
    });
    Ok(Lag { own, incoming })
}

/// Compares this node's heads with what the other node holds: `None` when
/// this node is not behind, else what is wrong, in words.
pub fn behind(c: &mut AnyConnection, theirs: &Held) -> Result<Option<String>, DbError> {
    let Lag { own, incoming } = lag(c, theirs)?;
    let problems: Vec<String> = own.into_iter().chain(incoming).collect();
    Ok((!problems.is_empty()).then(|| {
        format!(
            "This node's database is older than what the other node holds: {}. It was probably \
             restored from an older backup. Delivery to the other node is held so that no \
             sequence number is used twice. Restore the latest backup (or the database as it was \
             before) and restart; if there is none later, contact the other agency's \
             administrator before anything else: messages it holds are missing here.",
            problems.join("; ")
        )
    }))
}

/// This node's messages after `after` that the other node receipted, sent
/// again because it lost them, with this node's signing certificates.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resent {
    /// Signed messages, in sequence order (an erased one does not verify:
    /// consent was withdrawn and its content is gone).
    pub messages: Vec<crate::domain::envelope::Signed>,
    /// PEM of every certificate this node signed messages with.
    pub signer_certificates: Vec<String>,
}

/// Most messages sent again in one answer.
pub const RESEND_LIMIT: i64 = 200;

/// The copies, signed now if they were sent signed with their batch (as one
/// batch when `as_batch`, else each alone). An erased message stays unsigned:
/// its content is gone, and nothing may vouch for what is left.
pub fn resend(
    c: &mut AnyConnection,
    ctx: &NodeCtx,
    after: i64,
    as_batch: bool,
) -> Result<Resent, DbError> {
    let rows = crate::store::outbox::receipted_after(c, after, RESEND_LIMIT)?;
    let mut intact = Vec::new();
    let mut messages = Vec::with_capacity(rows.len());
    for row in &rows {
        let signed = crate::store::outbox::signed_of(row)?;
        if signed.is_unsigned() && signed.hash() == row.hash {
            intact.push(messages.len());
        }
        messages.push(signed);
    }
    let mut to_sign: Vec<_> = intact.iter().map(|&i| messages[i].clone()).collect();
    crate::domain::batch_signature::sign_pending(&mut to_sign, &ctx.message_key, as_batch)
        .map_err(super::exchange::signing_error)?;
    for (i, signed) in intact.into_iter().zip(to_sign) {
        messages[i] = signed;
    }
    Ok(Resent {
        messages,
        signer_certificates: crate::store::certificates::own_all_pem(c)?,
    })
}

/// This node's incoming head (the last message received, 0: none).
pub fn incoming_seq(c: &mut AnyConnection) -> Result<i64, DbError> {
    Ok(channels::incoming_head(c)?.0)
}

/// Whether the only lag is on the incoming side (the other node holds this
/// node's receipts for messages it no longer has): those can be taken again
/// from the other node's copies.
pub fn only_incoming_behind(c: &mut AnyConnection, theirs: &Held) -> Result<bool, DbError> {
    let lag = lag(c, theirs)?;
    Ok(lag.own.is_none() && lag.incoming.is_some())
}

/// Raises the alert (once per start: the caller remembers).
pub fn alert_behind(
    c: &mut AnyConnection,
    detail: &str,
    now: NaiveDateTime,
) -> Result<(), DbError> {
    super::exchange::alert(c, BEHIND_ALERT, detail, now)
}
