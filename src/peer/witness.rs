//! Cross-witnessing of the two nodes' audit logs, over the peer channel.
//!
//! At every `audit.checkpoint_interval_secs` (and on demand) a node whose log
//! grew signs a checkpoint and sends it to the peer with a consistency proof
//! from the last checkpoint the peer cosigned, and the new leaf hashes
//! (hashes only, never entries). The peer verifies the signature against the
//! client certificate of the connection, the consistency proof, and that the
//! leaves it now holds give the checkpoint's root; then it cosigns with its
//! server key and keeps the checkpoint. A refused checkpoint is kept as
//! evidence, raises an alert and is logged on both sides.
//!
//! The peer can later re-check the node's log: the node answers with the leaf
//! hashes recomputed from its entries as they are now, and the peer names
//! the first index that differs from what it witnessed.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::client::{PeerClient, SendError};
use crate::app::audit as store;
use crate::app::audit::CosignatureRow;
use crate::app::audit_watch;
use crate::app::witness;
use crate::app::NodeCtx;
use crate::audit::merkle::{self, Hash};
use crate::audit::note::{self, NoteSignature};
use crate::audit::{from_hex, kinds, origin, to_hex, Entry};
use crate::domain::problem::ProblemCode;
use crate::store::{Db, DbError};

mod reconcile;
mod routes;
mod watch;

pub use routes::{configure, cosign, current_leaves, directory, exchange, latest, proofs};
pub use watch::{Mismatch, MismatchNotice, WatchStep};

/// What the peer last cosigned for this node.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Witnessed {
    /// Size of the last checkpoint of the caller's log that this node cosigned (0: none).
    pub size: u64,
}

/// A checkpoint sent to the peer for cosigning.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Submission {
    /// The signed checkpoint note.
    pub checkpoint: String,
    /// The size the consistency proof starts from: the last one the peer cosigned.
    pub from_size: u64,
    /// RFC 9162 consistency proof from `from_size` to the checkpoint's size (hex).
    pub consistency: Vec<String>,
    /// Leaf hashes `[from_size, size)` (hex).
    pub leaves: Vec<String>,
}

/// The peer's cosignature.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cosigned {
    /// A signature line (`— <witness> <base64>`) to add to the checkpoint note.
    pub cosignature: String,
}

/// Leaf hashes recomputed from the entries as they are now (`None`: no entry).
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Leaves {
    pub from: u64,
    pub leaves: Vec<Option<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Range {
    pub from: u64,
    pub to: u64,
}

/// Most leaves one answer carries.
pub const MAX_LEAVES: u64 = 10_000;

/// Bytes a leaf hash takes in a request or answer (64 hex digits, quotes, comma).
const LEAF_BYTES: usize = 67;

/// How many leaf hashes fit in the link's byte budget (at least 16).
fn leaves_per_request(client: &PeerClient) -> u64 {
    (client.link().budget() / LEAF_BYTES).max(16) as u64
}

#[derive(Debug, thiserror::Error)]
pub enum WitnessError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Send(#[from] SendError),
    #[error("{0}")]
    Protocol(String),
}

fn hashes(hex: &[String]) -> Option<Vec<Hash>> {
    hex.iter().map(|h| from_hex(h)).collect()
}

/// Asked for: inclusion proofs of entries in the tree of `size` entries.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProofRequest {
    /// A size the asker holds a cosigned checkpoint for.
    pub size: u64,
    /// Entry indexes (at most 1000).
    pub indexes: Vec<u64>,
}

/// An entry with its inclusion proof.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Included {
    pub entry: Entry,
    /// RFC 9162 inclusion proof (hex).
    pub proof: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct After {
    #[serde(default)]
    pub after: Option<u64>,
}

/// The node side: signs checkpoints and has the peer cosign them.
#[derive(Clone)]
pub struct Witnessing {
    pub db: Db,
    pub ctx: Arc<NodeCtx>,
    pub client: PeerClient,
    pub batch: u64,
    /// Most leaves of the peer's log re-checked per round of the watch.
    pub watch_batch: u64,
    /// Whether the peer's refusal to cosign (it suspended cosigning this
    /// log) was already alerted since the last cosigned round: alerted once,
    /// not at every interval.
    pub suspended_told: Arc<std::sync::atomic::AtomicBool>,
    /// One round at a time (the interval and on-demand requests).
    pub lock: Arc<tokio::sync::Mutex<()>>,
    /// One reconciliation catch-up at a time: two folding the same message
    /// at once could each overwrite the other's facts (PostgreSQL does not
    /// serialise them as SQLite does).
    pub reconciling: Arc<tokio::sync::Mutex<()>>,
}

/// Outcome of one round.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Round {
    /// Size of this node's log.
    pub size: u64,
    /// Size the peer has now cosigned.
    pub cosigned: u64,
}

impl Witnessing {
    /// Raises an alert and logs the refusal it is about, in one transaction.
    async fn alert_and_log(
        &self,
        alert: &'static str,
        detail: String,
        kind: &'static str,
        action: &'static str,
        seq: i64,
        code: String,
    ) -> Result<(), DbError> {
        let now = self.ctx.clock.now();
        self.db
            .write(move |c| {
                witness::record_refusal(c, alert, &detail, kind, action, seq, code, now)
            })
            .await
    }

    /// Signs a checkpoint (if the log grew since the last one the peer
    /// cosigned) and has the peer cosign it; repeats until the peer holds
    /// the whole log.
    pub async fn round(&self) -> Result<Round, WitnessError> {
        let _one_at_a_time = self.lock.lock().await;
        loop {
            let (theirs, _): (Witnessed, _) =
                self.client.get("/peer/v1/checkpoints/latest").await?;
            let db = self.db.clone();
            let ctx = self.ctx.clone();
            // As many leaf hashes as the link carries in one request.
            let batch = self.batch.min(leaves_per_request(&self.client));
            let from = theirs.size;
            let now = ctx.clock.now();
            let prepared = db
                .write(move |c| witness::prepare_submission(c, &ctx, from, batch, now))
                .await?;
            let Some((size, cp)) = prepared else {
                let size = self.db.read(store::size).await?;
                if theirs.size > size {
                    // The peer cosigned more of this log than it now holds.
                    let detail = format!(
                        "the peer cosigned {} entries of this node's log, which now has {size}: entries were removed",
                        theirs.size
                    );
                    self.alert_and_log(
                        "audit_log_rolled_back",
                        detail.clone(),
                        kinds::CHECKPOINT_REFUSED,
                        "checkpoint",
                        size as i64,
                        "log_rolled_back".into(),
                    )
                    .await?;
                    return Err(WitnessError::Protocol(detail));
                }
                return Ok(Round {
                    size,
                    cosigned: theirs.size,
                });
            };
            let to = cp.size as u64;
            let (proof, leaves) = self
                .db
                .read(move |c| witness::submission_body(c, from, to))
                .await?;
            let sub = Submission {
                checkpoint: cp.note.clone(),
                from_size: from,
                consistency: proof.iter().map(|h| to_hex(h)).collect(),
                leaves: leaves.into_iter().map(|(_, h)| h).collect(),
            };
            let answer: Result<(Cosigned, Vec<u8>), SendError> =
                self.client.post("/peer/v1/checkpoints", &sub).await;
            let (cosigned, server_cert) = match answer {
                Ok(a) => a,
                Err(SendError::Refused(p))
                    if p.code == ProblemCode::CosigningSuspended.as_str()
                        && self.suspended_told.swap(true, Ordering::SeqCst) =>
                {
                    return Err(WitnessError::Protocol(format!(
                        "checkpoint refused by the peer: {}",
                        p.code
                    )));
                }
                Err(SendError::Refused(p)) => {
                    let detail = format!(
                        "the peer refused checkpoint {}: {} ({})",
                        cp.size, p.code, p.detail
                    );
                    self.alert_and_log(
                        "checkpoint_refused_by_peer",
                        detail,
                        kinds::CHECKPOINT_REFUSED,
                        "checkpoint",
                        cp.size,
                        p.code.clone(),
                    )
                    .await?;
                    return Err(WitnessError::Protocol(format!(
                        "checkpoint refused by the peer: {}",
                        p.code
                    )));
                }
                Err(e) => return Err(e.into()),
            };
            let signer = super::certificate::read(&server_cert)
                .map_err(|e| WitnessError::Protocol(e.to_string()))?;
            let key = &signer.public_key;
            let sig = NoteSignature::parse_line(cosigned.cosignature.trim_end())
                .map_err(|e| WitnessError::Protocol(format!("unreadable cosignature: {e}")))?;
            let body = note::Note::parse(&cp.note)
                .and_then(|n| note::Checkpoint::parse_body(&n.body))
                .map_err(|e| WitnessError::Protocol(e.to_string()))?;
            let witness = origin(self.ctx.node.counterpart());
            let at = note::verify_cosignature(&body, &sig, &witness, key)
                .map_err(|e| WitnessError::Protocol(format!("cosignature does not verify: {e}")))?;
            let (pem, fp) = (signer.pem.clone(), signer.fingerprint.clone());
            let row = CosignatureRow {
                origin: cp.origin.clone(),
                size: cp.size,
                witness,
                signature: cosigned.cosignature.trim_end().to_owned(),
                cosigned_at: at.naive_utc(),
            };
            let now = self.ctx.clock.now();
            self.db
                .write(move |c| witness::record_cosignature(c, &fp, &pem, &row, now))
                .await?;
            self.suspended_told.store(false, Ordering::SeqCst);
            if cp.size as u64 >= size {
                return Ok(Round {
                    size,
                    cosigned: cp.size as u64,
                });
            }
        }
    }

    /// Runs rounds at `interval` until the task is dropped: has this node's
    /// log cosigned, then re-checks the next part of the peer's log.
    pub async fn run(self, interval: Duration) {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = self.round().await {
                tracing::warn!(error = %e, "witnessing round failed; next at the next interval");
            }
            if let Err(e) = self.watch_step().await {
                tracing::warn!(error = %e, "peer log check failed; next at the next interval");
            }
            if let Err(e) = self.reconcile_catch_up().await {
                tracing::warn!(error = %e, "reconciliation catch-up failed; next at the next interval");
            }
        }
    }

    /// Checks the peer's log against the leaf hashes witnessed here, and the
    /// receipts this node holds against it, incrementally: the leaves and
    /// receipts not yet checked (with `full`, all of them). Returns the
    /// first index whose entry changed, disappeared or moved. Leaves checked
    /// earlier keep being re-checked by the watch, pass after pass. A
    /// mismatch suspends cosigning and alerts both nodes, as the watch does.
    pub async fn check_peer(&self, full: bool) -> Result<PeerCheck, WitnessError> {
        let st = self.db.read(audit_watch::state).await?;
        let held = st.witnessed;
        let from = if full {
            0
        } else {
            u64::try_from(st.row.checked_through).unwrap_or(0).min(held)
        };
        let mismatch = |bad: Mismatch, detail: String| PeerCheck {
            checked: bad.index,
            checked_from: from,
            first_bad_index: Some(bad.index),
            detail,
        };
        if let Some(bad) = self.compare(from, held).await? {
            let detail = self.raise_mismatch(&bad).await?;
            return Ok(mismatch(bad, detail));
        }
        let (a, b) = (
            i64::try_from(from).unwrap_or(i64::MAX),
            i64::try_from(held).unwrap_or(i64::MAX),
        );
        self.db
            .write(move |c| audit_watch::extend_checked(c, a, b))
            .await?;
        let after = if full {
            None
        } else {
            u64::try_from(st.row.receipts_after).ok()
        };
        let proven = match self.prove_receipts(after).await? {
            Ok(n) => n,
            Err((index, _)) => {
                let bad = Mismatch {
                    index,
                    problem: "receipt_not_proven",
                    theirs: None,
                };
                let detail = self.raise_mismatch(&bad).await?;
                return Ok(mismatch(bad, detail));
            }
        };
        let earlier = if from > 0 {
            format!(
                " (the {from} before them were checked earlier, and the watch re-checks every entry pass after pass: {} full pass(es) so far)",
                st.row.passes
            )
        } else {
            String::new()
        };
        Ok(PeerCheck {
            checked: held,
            checked_from: from,
            first_bad_index: None,
            detail: format!(
                "entries {from} to {held} of the peer's log, as witnessed here, are unchanged{earlier}; {proven} receipt(s) proven logged there by this check"
            ),
        })
    }

    /// For every receipt this node recorded after its audit index `after`,
    /// has the peer prove that its log holds the message at the receipt's
    /// `log_index`, in the last checkpoint this node cosigned; moves the
    /// receipt cursor past those proven. Returns how many were proven.
    async fn prove_receipts(
        &self,
        after: Option<u64>,
    ) -> Result<Result<u64, (u64, String)>, WitnessError> {
        let ctx = self.ctx.clone();
        let todo = self
            .db
            .read(move |c| witness::receipts_to_prove(c, &ctx, after))
            .await?;
        let Some(cp) = todo.checkpoint else {
            return Ok(Ok(0));
        };
        let size = cp.size.max(0) as u64;
        let root = from_hex(&cp.root)
            .ok_or_else(|| WitnessError::Protocol("stored checkpoint root".into()))?;
        // In log order, up to the first receipt the cosigned checkpoint
        // does not cover yet: the cursor may move past these.
        let mut wanted: Vec<(u64, Option<String>)> = Vec::new();
        let mut through: Option<u64> = None;
        for e in &todo.receipts {
            match e.peer_index.and_then(|i| u64::try_from(i).ok()) {
                Some(i) if i >= size => break,
                Some(i) => wanted.push((
                    i,
                    e.message_id
                        .as_ref()
                        .and_then(|id| todo.digests.get(id).cloned().flatten()),
                )),
                None => {}
            }
            through = Some(e.index);
        }
        let mut proven = 0;
        for chunk in wanted.chunks(1000) {
            let req = ProofRequest {
                size,
                indexes: chunk.iter().map(|(i, _)| *i).collect(),
            };
            let (items, _): (Vec<Included>, _) =
                self.client.post("/peer/v1/audit/proofs", &req).await?;
            if items.len() != chunk.len() {
                return Err(WitnessError::Protocol(
                    "the peer answered too few proofs".into(),
                ));
            }
            for ((index, digest), item) in chunk.iter().zip(items) {
                let proof = hashes(&item.proof)
                    .ok_or_else(|| WitnessError::Protocol("malformed proof".into()))?;
                let logged = item.entry.index == *index
                    && item.entry.kind == kinds::MESSAGE_RECEIVED
                    && item.entry.digest == *digest;
                let included =
                    merkle::verify_inclusion(&item.entry.leaf_hash(), *index, size, &proof, &root)
                        .is_ok();
                if !(logged && included) {
                    return Ok(Err((
                        *index,
                        format!(
                            "the peer's log does not prove entry {index}, named by one of our receipts"
                        ),
                    )));
                }
                proven += 1;
            }
        }
        if let Some(through) = through.and_then(|t| i64::try_from(t).ok()) {
            self.db
                .write(move |c| audit_watch::set_receipts_after(c, through))
                .await?;
        }
        Ok(Ok(proven))
    }
}

/// Result of re-checking the peer's log.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PeerCheck {
    /// Entries checked: all witnessed entries below this index were
    /// compared, now or at earlier checks (at a mismatch: the bad index).
    pub checked: u64,
    /// The first entry compared by this check (0 with `full`).
    pub checked_from: u64,
    /// The first entry that changed, disappeared or moved, if any.
    pub first_bad_index: Option<u64>,
    /// The verdict in words.
    pub detail: String,
}
