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

use crate::domain::problem::ProblemCode;
use std::sync::Arc;
use std::time::Duration;

use actix_web::{get, post, web, HttpRequest, HttpResponse};
use chrono::Utc;
use serde::{Deserialize, Serialize};

use super::client::{PeerClient, SendError};
use super::error::PeerError;
use super::server::{ClientCertificate, PeerState};
use crate::app::NodeCtx;
use crate::audit::merkle::{self, Hash};
use crate::audit::note::{self, NoteSignature};
use crate::audit::{from_hex, kinds, origin, to_hex, Entry};
use crate::store::audit::{self as store, Tree};
use crate::store::models::{CheckpointRow, CosignatureRow, EvidenceRow};
use crate::store::{Db, DbError};

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

fn cert_key(
    req: &HttpRequest,
) -> Result<(openssl::pkey::PKey<openssl::pkey::Public>, Vec<u8>), PeerError> {
    let cert = req
        .conn_data::<ClientCertificate>()
        .cloned()
        .ok_or_else(|| {
            PeerError::Refused(
                ProblemCode::ClientCertificateRequired,
                "a client certificate is required".into(),
            )
        })?;
    let key = openssl::x509::X509::from_der(&cert.0)
        .and_then(|c| c.public_key())
        .map_err(|_| {
            PeerError::Refused(
                ProblemCode::WrongPeerIdentity,
                "unreadable client certificate".into(),
            )
        })?;
    Ok((key, cert.0))
}

fn hashes(hex: &[String]) -> Option<Vec<Hash>> {
    hex.iter().map(|h| from_hex(h)).collect()
}

/// What this node last cosigned of the peer's log.
#[get("/peer/v1/checkpoints/latest")]
pub async fn latest(state: web::Data<PeerState>) -> Result<HttpResponse, PeerError> {
    let peer_origin = origin(state.ctx.node.counterpart());
    let size = state
        .db
        .read(move |c| store::latest_checkpoint(c, &peer_origin))
        .await?
        .map_or(0, |r| r.size.max(0) as u64);
    Ok(HttpResponse::Ok().json(Witnessed { size }))
}

/// Why a checkpoint was refused.
struct Refusal {
    code: ProblemCode,
    detail: String,
}

/// Verifies and cosigns a checkpoint of the peer's log.
#[post("/peer/v1/checkpoints")]
pub async fn cosign(
    state: web::Data<PeerState>,
    req: HttpRequest,
    body: web::Json<Submission>,
) -> Result<HttpResponse, PeerError> {
    let (key, _) = cert_key(&req)?;
    let sub = body.into_inner();
    let ctx = state.ctx.clone();
    let peer = ctx.node.counterpart();
    let peer_origin = origin(peer);
    let now = Utc::now().naive_utc();
    let cp = match note::verify_checkpoint(&sub.checkpoint, &peer_origin, &key) {
        Ok(cp) if cp.origin == peer_origin => cp,
        Ok(cp) => {
            return refuse(
                &state.db,
                &sub,
                Refusal {
                    code: ProblemCode::WrongOrigin,
                    detail: format!("checkpoint of `{}`, expected `{peer_origin}`", cp.origin),
                },
            )
            .await
        }
        Err(e) => {
            return refuse(
                &state.db,
                &sub,
                Refusal {
                    code: ProblemCode::InvalidCheckpointSignature,
                    detail: format!("the checkpoint does not verify: {e}"),
                },
            )
            .await
        }
    };
    let (Some(proof), Some(leaves)) = (hashes(&sub.consistency), hashes(&sub.leaves)) else {
        return Err(PeerError::Refused(
            ProblemCode::InvalidCheckpointSubmission,
            "proof and leaves must be 64-character hex hashes".into(),
        ));
    };
    let from = sub.from_size;
    let note_text = sub.checkpoint.clone();
    let witness_name = origin(ctx.node);
    let outcome = state
        .db
        .write(move |c| {
            let last = store::latest_checkpoint(c, &peer_origin)?;
            let (last_size, last_root) = match &last {
                Some(r) => (
                    r.size.max(0) as u64,
                    from_hex(&r.root)
                        .ok_or_else(|| DbError::Corrupt("stored checkpoint root".into()))?,
                ),
                None => (0, merkle::empty_root()),
            };
            if cp.size < last_size {
                return Ok(Err(Refusal {
                    code: ProblemCode::InconsistentCheckpoint,
                    detail: format!(
                        "size {} is smaller than the size {last_size} already cosigned",
                        cp.size
                    ),
                }));
            }
            if from != last_size {
                return Ok(Err(Refusal {
                    code: ProblemCode::ConsistencyBaseMismatch,
                    detail: format!("the last checkpoint cosigned here has size {last_size}"),
                }));
            }
            if cp.size == last_size {
                if cp.root != last_root {
                    return Ok(Err(Refusal {
                        code: ProblemCode::InconsistentCheckpoint,
                        detail: format!("another root for size {last_size}, already cosigned"),
                    }));
                }
            } else if last_size > 0 {
                if let Err(e) =
                    merkle::verify_consistency(last_size, cp.size, &last_root, &cp.root, &proof)
                {
                    return Ok(Err(Refusal {
                        code: ProblemCode::InconsistentCheckpoint,
                        detail: format!(
                            "not consistent with the checkpoint of size {last_size} cosigned here: {e}"
                        ),
                    }));
                }
            }
            if leaves.len() as u64 != cp.size - last_size {
                return Ok(Err(Refusal {
                    code: ProblemCode::InvalidCheckpointSubmission,
                    detail: format!(
                        "{} leaves sent for {} new entries",
                        leaves.len(),
                        cp.size - last_size
                    ),
                }));
            }
            let held = store::peer_leaves_len(c)?;
            if held != last_size {
                return Err(DbError::Corrupt(format!(
                    "{held} witnessed leaves for a cosigned size of {last_size}"
                )));
            }
            store::add_peer_leaves(c, last_size, &leaves)?;
            let root = store::root(c, Tree::Peer, cp.size)?;
            if root != cp.root {
                // Nothing of this submission is kept but the evidence.
                return Err(DbError::Corrupt(LEAVES_MISMATCH.into()));
            }
            let sig = note::cosign(&cp, &witness_name, Utc::now(), &ctx.receipt_key)
                .map_err(|e| DbError::Corrupt(format!("cosigning: {e}")))?;
            store::insert_checkpoint(
                c,
                &CheckpointRow {
                    origin: peer_origin.clone(),
                    size: cp.size as i64,
                    root: to_hex(&cp.root),
                    signed_at: cp.time.naive_utc(),
                    note: note_text,
                    recorded_at: now,
                },
            )?;
            let line = sig.to_line();
            store::insert_cosignature(
                c,
                &CosignatureRow {
                    origin: peer_origin,
                    size: cp.size as i64,
                    witness: witness_name,
                    signature: line.trim_end().to_owned(),
                    cosigned_at: now,
                },
            )?;
            Ok::<_, DbError>(Ok(line))
        })
        .await;
    match outcome {
        Ok(Ok(line)) => Ok(HttpResponse::Ok().json(Cosigned {
            cosignature: line.trim_end().to_owned(),
        })),
        Ok(Err(r)) => refuse(&state.db, &sub, r).await,
        Err(DbError::Corrupt(m)) if m == LEAVES_MISMATCH => {
            refuse(
                &state.db,
                &sub,
                Refusal {
                    code: ProblemCode::InconsistentCheckpoint,
                    detail: "the leaves sent do not give the checkpoint's root".into(),
                },
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

const LEAVES_MISMATCH: &str = "leaves do not give the checkpoint root";

/// Keeps the refused checkpoint as evidence, raises an alert, logs it, and
/// answers with a coded problem.
async fn refuse(db: &Db, sub: &Submission, r: Refusal) -> Result<HttpResponse, PeerError> {
    tracing::warn!(code = r.code.as_str(), detail = %r.detail, "peer checkpoint refused");
    let now = Utc::now().naive_utc();
    let evidence = EvidenceRow {
        id: uuid::Uuid::now_v7().to_string(),
        origin: note::Note::parse(&sub.checkpoint)
            .ok()
            .and_then(|n| note::Checkpoint::parse_body(&n.body).ok())
            .map_or_else(|| "?".into(), |c| c.origin),
        received_at: now,
        reason: format!("{}: {}", r.code, r.detail),
        note: sub.checkpoint.clone(),
        proof: serde_json::json!({
            "from_size": sub.from_size,
            "consistency": sub.consistency,
            "leaves": sub.leaves.len(),
        })
        .to_string(),
    };
    let code = r.code;
    let detail = r.detail.clone();
    let keep = code != ProblemCode::ConsistencyBaseMismatch;
    db.write(move |c| {
        if keep {
            store::insert_evidence(c, &evidence)?;
            crate::app::exchange::alert(c, "checkpoint_refused", &detail, now)?;
        }
        let mut e = Entry::new(
            kinds::CHECKPOINT_REFUSED,
            "peer",
            "POST /peer/v1/checkpoints",
        );
        e.outcome = "refused".into();
        e.code = Some(code.as_str().to_owned());
        store::append(c, e).map(|_| ())
    })
    .await?;
    Err(PeerError::Refused(r.code, r.detail))
}

/// Leaf hashes recomputed from this node's entries `[from, to)` as they are now.
#[get("/peer/v1/audit/leaves")]
pub async fn current_leaves(
    state: web::Data<PeerState>,
    range: web::Query<Range>,
) -> Result<HttpResponse, PeerError> {
    let Range { from, to } = range.into_inner();
    if to < from || to - from > MAX_LEAVES {
        return Err(PeerError::Refused(
            ProblemCode::InvalidRange,
            format!("from ≤ to and at most {MAX_LEAVES} leaves"),
        ));
    }
    let entries = state.db.read(move |c| store::entries(c, from, to)).await?;
    let mut out = vec![None; (to - from) as usize];
    for e in entries {
        if let Some(slot) = out.get_mut((e.index - from) as usize) {
            *slot = Some(to_hex(&e.leaf_hash()));
        }
    }
    Ok(HttpResponse::Ok().json(Leaves { from, leaves: out }))
}

/// This node's exchange records (message and receipt entries) after index `after`.
#[get("/peer/v1/audit/exchange")]
pub async fn exchange(
    state: web::Data<PeerState>,
    query: web::Query<After>,
) -> Result<HttpResponse, PeerError> {
    let after = query.into_inner().after;
    let entries = state
        .db
        .read(move |c| {
            store::entries_of_kinds_after(c, crate::audit::reconcile::EXCHANGE_KINDS, after, 10_000)
        })
        .await?;
    Ok(HttpResponse::Ok().json(entries))
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

/// Entries of this node's log with their inclusion proofs in the tree of
/// `size` entries (so that a receipt's `log_index` can be proven).
#[post("/peer/v1/audit/proofs")]
pub async fn proofs(
    state: web::Data<PeerState>,
    body: web::Json<ProofRequest>,
) -> Result<HttpResponse, PeerError> {
    let ProofRequest { size, indexes } = body.into_inner();
    if indexes.len() > 1000 {
        return Err(PeerError::Refused(
            ProblemCode::InvalidRange,
            "at most 1000 indexes".into(),
        ));
    }
    let answer = state
        .db
        .read(move |c| {
            let have = store::size(c)?;
            if size > have || indexes.iter().any(|i| *i >= size) {
                return Ok(None);
            }
            let mut out = Vec::with_capacity(indexes.len());
            for i in indexes {
                let Some(entry) = store::entries(c, i, i + 1)?.pop() else {
                    return Ok(None);
                };
                let proof = store::inclusion_proof(c, i, size)?;
                out.push(Included {
                    entry,
                    proof: proof.iter().map(|h| to_hex(h)).collect(),
                });
            }
            Ok::<_, DbError>(Some(out))
        })
        .await?;
    match answer {
        Some(items) => Ok(HttpResponse::Ok().json(items)),
        None => Err(PeerError::Refused(
            ProblemCode::InvalidRange,
            "size beyond the log or index beyond size".into(),
        )),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct After {
    #[serde(default)]
    pub after: Option<u64>,
}

/// This node's side of the directory of first-line responders (no personal data).
#[get("/peer/v1/directory")]
pub async fn directory(state: web::Data<PeerState>) -> Result<HttpResponse, PeerError> {
    let all = state.db.read(crate::store::directory::all).await?;
    Ok(HttpResponse::Ok().json(all))
}

/// Registers the witness routes on the peer listener.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(latest)
        .service(cosign)
        .service(current_leaves)
        .service(proofs)
        .service(exchange)
        .service(directory);
}

/// The node side: signs checkpoints and has the peer cosign them.
#[derive(Clone)]
pub struct Witnessing {
    pub db: Db,
    pub ctx: Arc<NodeCtx>,
    pub client: PeerClient,
    pub batch: u64,
    /// One round at a time (the interval and on-demand requests).
    pub lock: Arc<tokio::sync::Mutex<()>>,
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
        let now = Utc::now().naive_utc();
        self.db
            .write(move |c| {
                crate::app::exchange::alert(c, alert, &detail, now)?;
                let mut e = Entry::new(kind, "system", action);
                e.seq = Some(seq);
                e.outcome = "refused".into();
                e.code = Some(code);
                store::append(c, e).map(|_| ())
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
            let prepared = db
                .write(move |c| {
                    let size = store::size(c)?;
                    if size <= from {
                        return Ok(None);
                    }
                    let target = size.min(from + batch);
                    let now = Utc::now().naive_utc();
                    let cp = crate::app::audit::sign_checkpoint(c, &ctx, target, now)?;
                    let proof = store::consistency_proof(c, from, target)?;
                    let leaves = store::leaves(c, from, target)?;
                    Ok::<_, DbError>(Some((size, cp, proof, leaves)))
                })
                .await?;
            let Some((size, cp, proof, leaves)) = prepared else {
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
            let key = crate::domain::envelope::public_key_of(&server_cert)
                .map_err(|e| WitnessError::Protocol(e.to_string()))?;
            let sig = NoteSignature::parse_line(cosigned.cosignature.trim_end())
                .map_err(|e| WitnessError::Protocol(format!("unreadable cosignature: {e}")))?;
            let body = note::Note::parse(&cp.note)
                .and_then(|n| note::Checkpoint::parse_body(&n.body))
                .map_err(|e| WitnessError::Protocol(e.to_string()))?;
            let witness = origin(self.ctx.node.counterpart());
            let at = note::verify_cosignature(&body, &sig, &witness, &key)
                .map_err(|e| WitnessError::Protocol(format!("cosignature does not verify: {e}")))?;
            let pem = crate::domain::envelope::pem_of(&server_cert);
            let fp = crate::domain::envelope::fingerprint(&server_cert);
            let row = CosignatureRow {
                origin: cp.origin.clone(),
                size: cp.size,
                witness,
                signature: cosigned.cosignature.trim_end().to_owned(),
                cosigned_at: at.naive_utc(),
            };
            self.db
                .write(move |c| {
                    crate::app::exchange::remember_certificate(
                        c,
                        &fp,
                        &pem,
                        Utc::now().naive_utc(),
                    )?;
                    store::insert_cosignature(c, &row)
                })
                .await?;
            if cp.size as u64 >= size {
                return Ok(Round {
                    size,
                    cosigned: cp.size as u64,
                });
            }
        }
    }

    /// Runs rounds at `interval` until the task is dropped.
    pub async fn run(self, interval: Duration) {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = self.round().await {
                tracing::warn!(error = %e, "witnessing round failed; next at the next interval");
            }
        }
    }

    /// Re-checks the peer's log against the leaf hashes witnessed here:
    /// returns the first index whose entry changed, disappeared or moved.
    pub async fn check_peer(&self) -> Result<PeerCheck, WitnessError> {
        let held = self.db.read(store::peer_leaves_len).await?;
        let mut from = 0;
        while from < held {
            let to = held.min(from + MAX_LEAVES.min(leaves_per_request(&self.client)));
            let (theirs, _): (Leaves, _) = self
                .client
                .get(&format!("/peer/v1/audit/leaves?from={from}&to={to}"))
                .await?;
            let ours = self
                .db
                .read(move |c| store::peer_leaves(c, from, to))
                .await?;
            for (i, mine) in ours.iter().enumerate() {
                let index = from + i as u64;
                let theirs = theirs.leaves.get(i).cloned().flatten();
                let problem = match theirs.as_deref().and_then(from_hex) {
                    None => Some("missing"),
                    Some(h) if &h != mine => Some("changed"),
                    Some(_) => None,
                };
                if let Some(problem) = problem {
                    let detail = format!(
                        "entry {index} of the peer's log is {problem} since it was witnessed"
                    );
                    self.alert_and_log(
                        kinds::PEER_LOG_MISMATCH,
                        detail.clone(),
                        kinds::PEER_LOG_MISMATCH,
                        "peer_check",
                        index as i64,
                        problem.to_owned(),
                    )
                    .await?;
                    return Ok(PeerCheck {
                        checked: index,
                        first_bad_index: Some(index),
                        detail,
                    });
                }
            }
            from = to;
        }
        let proven = match self.prove_receipts().await? {
            Ok(n) => n,
            Err((index, detail)) => {
                self.alert_and_log(
                    kinds::PEER_LOG_MISMATCH,
                    detail.clone(),
                    kinds::PEER_LOG_MISMATCH,
                    "peer_check",
                    index as i64,
                    "receipt_not_proven".into(),
                )
                .await?;
                return Ok(PeerCheck {
                    checked: held,
                    first_bad_index: Some(index),
                    detail,
                });
            }
        };
        Ok(PeerCheck {
            checked: held,
            first_bad_index: None,
            detail: format!(
                "the {held} witnessed entries of the peer's log are unchanged; {proven} receipt(s) proven logged there"
            ),
        })
    }

    /// For every receipt this node holds, has the peer prove that its log
    /// holds the message at the receipt's `log_index`, in the last
    /// checkpoint this node cosigned. Returns how many were proven.
    async fn prove_receipts(&self) -> Result<Result<u64, (u64, String)>, WitnessError> {
        let peer_origin = origin(self.ctx.node.counterpart());
        let (cp, receipts) = self
            .db
            .read(move |c| {
                let cp = store::latest_checkpoint(c, &peer_origin)?;
                let receipts = store::entries_of_kinds_after(
                    c,
                    &[kinds::RECEIPT_RECEIVED, kinds::MESSAGE_QUEUED],
                    None,
                    i64::MAX,
                )?;
                Ok::<_, DbError>((cp, receipts))
            })
            .await?;
        let Some(cp) = cp else { return Ok(Ok(0)) };
        let size = cp.size.max(0) as u64;
        let root = from_hex(&cp.root)
            .ok_or_else(|| WitnessError::Protocol("stored checkpoint root".into()))?;
        let digests: std::collections::HashMap<_, _> = receipts
            .iter()
            .filter(|e| e.kind == kinds::MESSAGE_QUEUED)
            .map(|e| (e.message_id.clone(), e.digest.clone()))
            .collect();
        let wanted: Vec<(u64, Option<String>)> = receipts
            .iter()
            .filter(|e| e.kind == kinds::RECEIPT_RECEIVED)
            .filter_map(|e| {
                let i = u64::try_from(e.peer_index?).ok()?;
                (i < size).then(|| (i, digests.get(&e.message_id).cloned().flatten()))
            })
            .collect();
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
        Ok(Ok(proven))
    }
}

/// Result of re-checking the peer's log.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PeerCheck {
    /// Entries checked.
    pub checked: u64,
    /// The first entry that changed, disappeared or moved, if any.
    pub first_bad_index: Option<u64>,
    /// The verdict in words.
    pub detail: String,
}
