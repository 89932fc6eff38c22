//! Recording the peer's signed receipts for this node's messages, whichever
//! way they arrive: in the answer to a delivery, or fetched from the peer
//! when one of its messages shows it received something this node is still
//! waiting to hear about (`GET /peer/v1/receipts`).

use std::sync::Arc;

use super::client::{PeerClient, SendError};
use super::server::BatchResponse;
use crate::app::exchange::OutboxRow;
use crate::app::NodeCtx;
use crate::domain::batch_signature::BatchSignature;
use crate::domain::envelope::{self, ReceiptSubject, Signed};
use crate::domain::ids::NodeId;
use crate::store::{Db, DbError};

/// What the dispatcher and the listener tell each other about receipts.
#[derive(Clone)]
pub struct Signals {
    /// Announces each outgoing message whose receipt was recorded (by case id).
    pub settled: tokio::sync::broadcast::Sender<String>,
    /// Highest sequence number whose receipt the dispatcher holds and is
    /// recording (the listener need not fetch those).
    pub in_hand: Arc<tokio::sync::watch::Sender<i64>>,
}

/// Why receipts could not be recorded.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The receipts do not match what this node sent, or are not signed by
    /// the peer's server certificate: nothing was recorded.
    #[error("{0}")]
    Mismatch(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

/// The recording of receipts, queued: resolves with the case ids of the
/// messages they settle once they are durable.
pub type Recording = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<Vec<String>, RecordError>> + Send + 'static>,
>;

/// Verifies receipts against the server certificate of the connection they
/// came over and queues their recording in one transaction: the future
/// resolves with the case ids of the messages they settle once they are
/// durable.
///
/// Receipts signed as one batch (one check, however many) are checked on
/// the caller's task and queued before this returns, so that batches'
/// receipts are written in the order they are handed here and a group
/// commit can take several together. Receipts of an older peer, signed one
/// by one, are checked on the blocking pool first.
pub fn record(
    db: &Db,
    ctx: &Arc<NodeCtx>,
    receipts: Vec<Signed>,
    server_certificate: &[u8],
) -> Result<Recording, RecordError> {
    if receipts.is_empty() {
        return Ok(Box::pin(std::future::ready(Ok(Vec::new()))));
    }
    let signer = super::certificate::read(server_certificate)
        .map_err(|_| RecordError::Mismatch("unreadable server certificate".into()))?;
    let public = signer.public_key.clone();
    let (fp, pem) = (signer.fingerprint.clone(), signer.pem.clone());
    let app = crate::app::service::App::new(db.clone(), ctx.clone());
    // Receipts signed one by one (an older peer) are checked on the
    // blocking pool, on the way to their write.
    let check_here = receipts
        .iter()
        .filter(|r| !BatchSignature::is_batch(&r.signature))
        .count()
        <= 1;
    if check_here && envelope::verify_all(&receipts, &public).is_err() {
        return Err(not_signed());
    }
    let mut write: Recording = Box::pin(async move {
        let receipts = if check_here {
            receipts
        } else {
            let (receipts, verified) = tokio::task::spawn_blocking(move || {
                let verified = envelope::verify_all(&receipts, &public).is_ok();
                (receipts, verified)
            })
            .await
            .unwrap_or_default();
            if !verified {
                return Err(not_signed());
            }
            receipts
        };
        app.settle_receipts(receipts, fp, pem)
            .await?
            .map_err(RecordError::Mismatch)
    });
    // Polled once, the write (or the check before it) is on its way before
    // the next batch's: in the writer's queue (SQLite) or on a connection
    // (PostgreSQL).
    match futures_util::FutureExt::now_or_never(&mut write) {
        Some(done) => Ok(Box::pin(std::future::ready(done))),
        None => Ok(write),
    }
}

fn not_signed() -> RecordError {
    RecordError::Mismatch("a receipt is not signed by the peer's server certificate".into())
}

/// The whole signed receipts of the answer to `batch`, in order: as they
/// came, or put back together from their compact form with what this node
/// sent (the n-th answers the n-th message), each with its own copy of
/// their batch signature when they were signed as one; never more than the
/// batch.
/// Their signatures are verified when they are recorded.
pub fn whole(
    response: &mut BatchResponse,
    batch: &[OutboxRow],
    node: NodeId,
) -> Result<Vec<Signed>, String> {
    let compact = std::mem::take(&mut response.compact_receipts);
    let whole = std::mem::take(&mut response.receipts);
    let batch_signature = response.receipts_signature.take();
    if compact.len().max(whole.len()) > batch.len() {
        return Err("more receipts than messages".into());
    }
    if compact.is_empty() {
        return match batch_signature {
            None => Ok(whole),
            Some(_) => Err("a batch signature without compact receipts".into()),
        };
    }
    if !whole.is_empty() {
        return Err("an answer with both whole and compact receipts".into());
    }
    if batch_signature.is_some() && compact.iter().any(|c| !c.signature.is_empty()) {
        return Err("compact receipts signed both alone and as one batch".into());
    }
    let receipts: Vec<Signed> = compact
        .into_iter()
        .zip(batch)
        .map(|(c, row)| {
            let subject = ReceiptSubject {
                message_id: row
                    .id
                    .parse()
                    .map_err(|_| format!("outgoing message id {}", row.id))?,
                message_hash: row.hash.clone(),
                sender: node,
                receiver: node.counterpart(),
                seq: row.seq,
            };
            c.expand(subject)
                .map_err(|e| format!("cannot put a receipt together: {e}"))
        })
        .collect::<Result<_, _>>()?;
    match batch_signature {
        // Each receipt gets its own copy of the batch's signature, with its
        // path: what is stored, and proven later, on its own.
        Some(signature) => crate::domain::batch_signature::expand(
            receipts.into_iter().map(|r| r.body).collect(),
            &signature,
        )
        .map_err(|e| format!("the receipts' batch signature: {e}")),
        None => Ok(receipts),
    }
}

/// Why this node could not catch up on receipts.
#[derive(Debug, thiserror::Error)]
pub enum CatchUpError {
    #[error(transparent)]
    Send(#[from] SendError),
    #[error(transparent)]
    Record(#[from] RecordError),
    #[error("the peer holds no receipt for message {0}")]
    Missing(i64),
}

/// Fetches from the peer and records the receipts of this node's messages
/// `from..=to` (which the peer says it received), page by page, each page
/// sized to the link. Returns the case ids settled.
pub async fn catch_up(
    db: &Db,
    ctx: &Arc<NodeCtx>,
    client: &PeerClient,
    from: i64,
    to: i64,
) -> Result<Vec<String>, CatchUpError> {
    let mut next = from;
    let mut cases = Vec::new();
    while next <= to {
        let budget = client.link().budget();
        let (page, cert): (Vec<Signed>, _) = client
            .get(&format!(
                "/peer/v1/receipts?from={next}&to={to}&max_bytes={budget}"
            ))
            .await?;
        let last = page
            .last()
            .and_then(|r| r.body.get("seq"))
            .and_then(serde_json::Value::as_i64);
        match last {
            Some(last) if last >= next => {
                cases.extend(record(db, ctx, page, &cert)?.await?);
                next = last + 1;
            }
            _ => return Err(CatchUpError::Missing(next)),
        }
    }
    Ok(cases)
}
