//! Witnessing the two logs: cosigning a checkpoint of the other node's log
//! (verified against what this node already cosigned, the leaves it holds
//! and the consistency proof), keeping a refused one as evidence, and, for
//! this node's own log, preparing what the other node is asked to cosign and
//! keeping its cosignature. The exchange over the link is the peer
//! adapter's.

use chrono::{NaiveDateTime, Utc};

use super::NodeCtx;
use crate::audit::merkle::{self, Hash};
use crate::audit::{from_hex, kinds, note, origin, to_hex, Entry};
use crate::domain::problem::ProblemCode;
use crate::store::audit::{self as store, Tree};
use crate::store::models::{CheckpointRow, CosignatureRow, EvidenceRow};
use crate::store::{AnyConnection, DbError};

/// Why a checkpoint of the other node's log was refused.
#[derive(Debug, Clone)]
pub struct Refusal {
    pub code: ProblemCode,
    pub detail: String,
}

/// What the storage error says when the leaves sent do not give the
/// checkpoint's root (the transaction is rolled back, so nothing of the
/// submission is kept but the evidence).
pub const LEAVES_MISMATCH: &str = "leaves do not give the checkpoint root";

/// A checkpoint of the other node's log, as submitted for cosigning (its
/// signature already verified against the connection's certificate).
pub struct Submitted {
    pub checkpoint: note::Checkpoint,
    /// The signed note, as received.
    pub note: String,
    /// The size of the last checkpoint cosigned here, as the other node
    /// believes it.
    pub from: u64,
    pub proof: Vec<Hash>,
    /// The new entries' leaf hashes.
    pub leaves: Vec<Hash>,
}

/// Cosigns a checkpoint of the other node's log if it extends what this
/// node cosigned before; keeps the checkpoint, the new leaves and the
/// cosignature. Returns the cosignature line, or why it was refused.
pub fn cosign(
    c: &mut AnyConnection,
    ctx: &NodeCtx,
    sub: Submitted,
    now: NaiveDateTime,
) -> Result<Result<String, Refusal>, DbError> {
    let peer_origin = origin(ctx.node.counterpart());
    let witness_name = origin(ctx.node);
    // Replicas of this node (PostgreSQL) may be handed submissions at
    // once: each is judged against what the one before it kept, never both
    // against the same last checkpoint (the second would then collide with
    // the first one's leaves).
    crate::store::channels::lock_incoming(c)?;
    let last = store::latest_checkpoint(c, &peer_origin)?;
    let (last_size, last_root) = match &last {
        Some(r) => (
            r.size.max(0) as u64,
            from_hex(&r.root).ok_or_else(|| DbError::Corrupt("stored checkpoint root".into()))?,
        ),
        None => (0, merkle::empty_root()),
    };
    if sub.checkpoint.size < last_size {
        return Ok(Err(Refusal {
            code: ProblemCode::InconsistentCheckpoint,
            detail: format!(
                "size {} is smaller than the size {last_size} already cosigned",
                sub.checkpoint.size
            ),
        }));
    }
    if sub.from != last_size {
        return Ok(Err(Refusal {
            code: ProblemCode::ConsistencyBaseMismatch,
            detail: format!("the last checkpoint cosigned here has size {last_size}"),
        }));
    }
    if sub.checkpoint.size == last_size {
        if sub.checkpoint.root != last_root {
            return Ok(Err(Refusal {
                code: ProblemCode::InconsistentCheckpoint,
                detail: format!("another root for size {last_size}, already cosigned"),
            }));
        }
    } else if last_size > 0 {
        if let Err(e) = merkle::verify_consistency(
            last_size,
            sub.checkpoint.size,
            &last_root,
            &sub.checkpoint.root,
            &sub.proof,
        ) {
            return Ok(Err(Refusal {
                code: ProblemCode::InconsistentCheckpoint,
                detail: format!(
                    "not consistent with the checkpoint of size {last_size} cosigned here: {e}"
                ),
            }));
        }
    }
    if sub.leaves.len() as u64 != sub.checkpoint.size - last_size {
        return Ok(Err(Refusal {
            code: ProblemCode::InvalidCheckpointSubmission,
            detail: format!(
                "{} leaves sent for {} new entries",
                sub.leaves.len(),
                sub.checkpoint.size - last_size
            ),
        }));
    }
    let held = store::peer_leaves_len(c)?;
    if held != last_size {
        return Err(DbError::Corrupt(format!(
            "{held} witnessed leaves for a cosigned size of {last_size}"
        )));
    }
    store::add_peer_leaves(c, last_size, &sub.leaves)?;
    let root = store::root(c, Tree::Peer, sub.checkpoint.size)?;
    if root != sub.checkpoint.root {
        // Nothing of this submission is kept but the evidence.
        return Err(DbError::Corrupt(LEAVES_MISMATCH.into()));
    }
    let sig = note::cosign(&sub.checkpoint, &witness_name, Utc::now(), &ctx.receipt_key)
        .map_err(|e| DbError::Corrupt(format!("cosigning: {e}")))?;
    store::insert_checkpoint(
        c,
        &CheckpointRow {
            origin: peer_origin.clone(),
            size: sub.checkpoint.size as i64,
            root: to_hex(&sub.checkpoint.root),
            signed_at: sub.checkpoint.time.naive_utc(),
            note: sub.note,
            recorded_at: now,
        },
    )?;
    let line = sig.to_line();
    store::insert_cosignature(
        c,
        &CosignatureRow {
            origin: peer_origin,
            size: sub.checkpoint.size as i64,
            witness: witness_name,
            signature: line.trim_end().to_owned(),
            cosigned_at: now,
        },
    )?;
    Ok(Ok(line))
}

/// Keeps a refused checkpoint as evidence with an alert (unless it only
/// started from another size than the one cosigned here, which the other
/// node corrects by itself), and logs the refusal.
pub fn keep_refused(
    c: &mut AnyConnection,
    evidence: EvidenceRow,
    refusal: &Refusal,
    now: NaiveDateTime,
) -> Result<(), DbError> {
    if refusal.code != ProblemCode::ConsistencyBaseMismatch {
        store::insert_evidence(c, &evidence)?;
        super::exchange::alert(c, "checkpoint_refused", &refusal.detail, now)?;
    }
    let mut e = Entry::new(
        kinds::CHECKPOINT_REFUSED,
        "peer",
        "POST /peer/v1/checkpoints",
    );
    e.outcome = "refused".into();
    e.code = Some(refusal.code.as_str().to_owned());
    store::append(c, e).map(|_| ())
}

/// What this node asks the other to cosign: a checkpoint of its log at most
/// `batch` entries past `from` (what the other node cosigned), signed here,
/// with the log's size (the proof and leaves: [`submission_body`]). `None`
/// when the other node holds the whole log.
pub fn prepare_submission(
    c: &mut AnyConnection,
    ctx: &NodeCtx,
    from: u64,
    batch: u64,
    now: NaiveDateTime,
) -> Result<Option<(u64, CheckpointRow)>, DbError> {
    let size = store::size(c)?;
    if size <= from {
        return Ok(None);
    }
    let target = size.min(from + batch);
    let cp = super::audit::sign_checkpoint(c, ctx, target, now)?;
    Ok(Some((size, cp)))
}

/// A consistency proof and the leaves `(index, hash)` it covers.
pub type SubmissionBody = (Vec<Hash>, Vec<(u64, String)>);

/// What a submission of entries `[from, to)` carries besides its checkpoint:
/// the consistency proof from `from` and the leaves. Read in a snapshot
/// apart from the signing (the entries below a signed size never change),
/// so that reading a large batch never holds the node's one writer.
pub fn submission_body(
    c: &mut AnyConnection,
    from: u64,
    to: u64,
) -> Result<SubmissionBody, DbError> {
    Ok((
        store::consistency_proof(c, from, to)?,
        store::leaves(c, from, to)?,
    ))
}

/// Raises an alert and logs a witnessing refusal about this node's log, in
/// one transaction.
#[allow(clippy::too_many_arguments)]
pub fn record_refusal(
    c: &mut AnyConnection,
    alert: &str,
    detail: &str,
    kind: &str,
    action: &str,
    seq: i64,
    code: String,
    now: NaiveDateTime,
) -> Result<(), DbError> {
    super::exchange::alert(c, alert, detail, now)?;
    let mut e = Entry::new(kind, "system", action);
    e.seq = Some(seq);
    e.outcome = "refused".into();
    e.code = Some(code);
    store::append(c, e).map(|_| ())
}

/// Keeps the other node's cosignature of this node's checkpoint, with the
/// certificate it was verified against.
pub fn record_cosignature(
    c: &mut AnyConnection,
    fingerprint: &str,
    pem: &str,
    row: &CosignatureRow,
    now: NaiveDateTime,
) -> Result<(), DbError> {
    super::exchange::remember_certificate(c, fingerprint, pem, now)?;
    store::insert_cosignature(c, row)
}

/// Receipts to prove, with what proves them.
pub struct ReceiptsToProve {
    /// The last checkpoint of the other node's log cosigned here.
    pub checkpoint: Option<CheckpointRow>,
    /// The receipts recorded here after the given index, in log order (at
    /// most [`RECEIPTS_PER_CHECK`]).
    pub receipts: Vec<Entry>,
    /// The digest each of their messages was queued with here.
    pub digests: std::collections::HashMap<String, Option<String>>,
}

/// Most receipts one check reads (the next check carries on after them).
pub const RECEIPTS_PER_CHECK: i64 = 100_000;

/// The receipts this node recorded after its audit index `after` (all
/// with `None`), the digests of the messages they settle and the last
/// checkpoint of the other node's log cosigned here: what the other node is
/// asked to prove holds.
pub fn receipts_to_prove(
    c: &mut AnyConnection,
    ctx: &NodeCtx,
    after: Option<u64>,
) -> Result<ReceiptsToProve, DbError> {
    let checkpoint = store::latest_checkpoint(c, &origin(ctx.node.counterpart()))?;
    let receipts =
        store::entries_of_kinds_after(c, &[kinds::RECEIPT_RECEIVED], after, RECEIPTS_PER_CHECK)?;
    let ids: Vec<String> = receipts
        .iter()
        .filter_map(|e| e.message_id.clone())
        .collect();
    let digests = store::digests_of(c, kinds::MESSAGE_QUEUED, &ids)?;
    Ok(ReceiptsToProve {
        checkpoint,
        receipts,
        digests,
    })
}

/// An entry of this node's log with its inclusion proof.
pub type Proven = (Entry, Vec<Hash>);

/// This node's entries at `indexes` with their inclusion proofs in its tree
/// of `size` entries; `None` when `size` is beyond the log or an index
/// beyond `size`.
pub fn inclusion_proofs(
    c: &mut AnyConnection,
    size: u64,
    indexes: Vec<u64>,
) -> Result<Option<Vec<Proven>>, DbError> {
    let have = store::size(c)?;
    if size > have || indexes.iter().any(|i| *i >= size) {
        return Ok(None);
    }
    let mut out = Vec::with_capacity(indexes.len());
    for i in indexes {
        let Some(entry) = store::entries(c, i, i + 1)?.pop() else {
            return Ok(None);
        };
        out.push((entry, store::inclusion_proof(c, i, size)?));
    }
    Ok(Some(out))
}
