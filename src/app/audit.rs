//! Signing this node's audit log: checkpoints of its tree head, and signed
//! export bundles. Storage keeps the rows; the keys are used here.

use chrono::{NaiveDateTime, SubsecRound, Utc};

use super::NodeCtx;
use crate::audit::{note, to_hex};
use crate::store::audit::{self as store, Tree};
use crate::store::{AnyConnection, DbError};

pub use crate::store::audit::{
    append as record, entries, entries_of_kinds_after, latest_checkpoint, peer_leaves,
    peer_leaves_len, size, utc,
};
pub use crate::store::models::{CheckpointRow, CosignatureRow, EvidenceRow};

/// An audit entry of `kind` for what `principal` did (`action`: an API
/// operation or a lifecycle action).
pub fn user_entry(
    kind: &str,
    principal: &super::accounts::Principal,
    action: impl Into<String>,
) -> crate::audit::Entry {
    let mut e = crate::audit::Entry::new(kind, principal.username.clone(), action);
    e.role = Some(principal.role.as_str().to_owned());
    e
}

/// The audit entry of `principal`'s `action` on `case` (its ids and the
/// version the action produced).
pub fn case_entry(
    principal: &super::accounts::Principal,
    action: &str,
    case: &crate::domain::case_record::Case,
) -> crate::audit::Entry {
    let mut e = user_entry(crate::audit::kinds::API_ACTION, principal, action);
    e.case_id = Some(case.id.to_string());
    e.referral_id = Some(case.referral_id.to_string());
    e.seq = Some(case.version);
    e
}

/// Signs this node's tree head at `size` entries (or returns the checkpoint
/// already signed at that size) and stores it.
pub fn sign_checkpoint(
    conn: &mut AnyConnection,
    ctx: &NodeCtx,
    size: u64,
    now: NaiveDateTime,
) -> Result<CheckpointRow, DbError> {
    let origin = crate::audit::origin(ctx.node);
    if let Some(existing) = store::checkpoint_at(conn, &origin, size)? {
        return Ok(existing);
    }
    let root = store::root(conn, Tree::Own, size)?;
    let cp = note::Checkpoint {
        origin: origin.clone(),
        size,
        root,
        time: store::utc(now).trunc_subsecs(0),
    };
    let text = note::sign_checkpoint(&cp, &origin, &ctx.message_key)
        .map_err(|e| DbError::Corrupt(format!("signing a checkpoint: {e}")))?;
    let row = CheckpointRow {
        origin,
        size: size as i64,
        root: to_hex(&root),
        signed_at: cp.time.naive_utc(),
        note: text,
        recorded_at: now,
    };
    store::insert_checkpoint(conn, &row)?;
    Ok(row)
}

/// Builds the signed bundle of entries `[from, to)` (clamped to the log),
/// with the checkpoints of size `from` or more: signs a checkpoint of the
/// whole log first, so the bundle ends on one.
pub fn export(
    conn: &mut AnyConnection,
    ctx: &NodeCtx,
    from: u64,
    to: u64,
    signer_certificate: &str,
) -> Result<crate::domain::envelope::Signed, DbError> {
    use crate::audit::bundle::{Bundle, BundleCheckpoint, Node, FORMAT};
    let size = store::size(conn)?;
    let to = to.min(size);
    let from = from.min(to);
    let now = Utc::now().naive_utc();
    if size > 0 {
        sign_checkpoint(conn, ctx, size, now)?;
    }
    let origin = crate::audit::origin(ctx.node);
    let witness = crate::audit::origin(ctx.node.counterpart());
    // The checkpoints signed during the period or after it: what proves
    // the entries exported, at a cost that does not grow with the history
    // before `from`.
    let first = i64::try_from(from).unwrap_or(i64::MAX);
    let cosigs = store::cosignatures_between(conn, &origin, first, i64::MAX)?;
    let mut checkpoints = Vec::new();
    for cp in store::checkpoints_from(conn, &origin, first, i64::MAX)? {
        let cp_size = cp.size.max(0) as u64;
        if cp_size > size {
            continue;
        }
        checkpoints.push(BundleCheckpoint {
            consistency_to_last: store::consistency_proof(conn, cp_size, size)?
                .iter()
                .map(|h| to_hex(h))
                .collect(),
            cosignatures: cosigs
                .iter()
                .filter(|s| s.size == cp.size && s.witness == witness)
                .map(|s| s.signature.clone())
                .collect(),
            note: cp.note,
        });
    }
    let mut cover_nodes = store::cover(conn, 0, from)?;
    cover_nodes.extend(store::cover(conn, to, size)?);
    let witness_certificates = crate::store::certificates::all_pem(conn)?;
    let current = remember_own_certificate(conn, signer_certificate, now)?;
    let previous_signer_certificates =
        crate::store::certificates::own_previous_pem(conn, &current)?;
    let bundle = Bundle {
        format: FORMAT.into(),
        node: ctx.node.as_str().into(),
        origin,
        witness,
        from,
        to,
        size,
        entries: store::entries(conn, from, to)?,
        leaves: store::leaves(conn, from, to)?
            .into_iter()
            .map(|(_, h)| h)
            .collect(),
        cover: cover_nodes
            .into_iter()
            .map(|(level, index, h)| Node {
                level,
                index,
                hash: to_hex(&h),
            })
            .collect(),
        checkpoints,
        signer_certificate: signer_certificate.to_owned(),
        previous_signer_certificates,
        witness_certificates,
    };
    let body = serde_json::to_value(&bundle).map_err(|e| DbError::Corrupt(e.to_string()))?;
    crate::domain::envelope::Signed::sign(body, &ctx.message_key)
        .map_err(|e| DbError::Corrupt(format!("signing the bundle: {e}")))
}

/// A signed bundle of the entries recorded in `[from, to)` (all when
/// unbounded), with what proves them.
pub fn export_period(
    conn: &mut AnyConnection,
    ctx: &NodeCtx,
    from: Option<NaiveDateTime>,
    to: Option<NaiveDateTime>,
    signer_pem: &str,
) -> Result<crate::domain::envelope::Signed, DbError> {
    let a = match from {
        Some(t) => store::index_at(conn, t)?,
        None => 0,
    };
    let b = match to {
        Some(t) => store::index_at(conn, t)?,
        None => store::size(conn)?,
    };
    export(conn, ctx, a, b, signer_pem)
}

/// Keeps this node's signing certificate (PEM) among its own, so that the
/// checkpoints it signs stay provable after the key is rotated; returns its
/// fingerprint.
pub fn remember_own_certificate(
    conn: &mut AnyConnection,
    pem: &str,
    now: NaiveDateTime,
) -> Result<String, DbError> {
    let der = openssl::x509::X509::from_pem(pem.as_bytes())
        .and_then(|c| c.to_der())
        .map_err(|e| DbError::Corrupt(format!("the signer certificate: {e}")))?;
    let fingerprint = crate::domain::envelope::fingerprint(&der);
    crate::store::certificates::remember_own(conn, &fingerprint, pem, now)?;
    Ok(fingerprint)
}
