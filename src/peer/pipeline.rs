//! Batches on their way to the peer: the dispatcher keeps up to
//! `peer.pipeline` of them in flight, each leaving once the body of the one
//! before it is out, so that messages travel one way while receipts come
//! back the other and round trips overlap. The peer takes them in their
//! turn ([`super::arrivals`]).

use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDateTime;
use tokio::sync::Notify;

use super::client::{Delivery, Hooks, SendError, Transfer};
use super::dispatcher::Dispatcher;
use super::server::Batch;
use crate::app::exchange as store;
use crate::app::exchange::OutboxRow;
use crate::domain::batch_signature;
use crate::domain::envelope::{SignatureError, Signed};
use crate::store::DbError;

/// A batch on its way to the peer; dropping it abandons the request.
pub struct Sending {
    pub(super) batch: Vec<OutboxRow>,
    /// Its messages' size.
    pub(super) bytes: usize,
    pub(super) task: tokio::task::JoinHandle<Result<(Delivery, Transfer), SendError>>,
}

impl Drop for Sending {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What signing a delivery gave.
pub(super) enum Signing {
    /// The batch of the first `.1` rows, ready to leave: all of them, or
    /// those before the first that no longer has its hash (which waits).
    Ready(Batch, usize),
    /// The first message no longer matches the hash it was chained with
    /// when it was queued (storage damage): it is not signed, and nothing
    /// after it leaves before it.
    Damaged,
}

/// A delivery of `rows`, signed as it leaves: as one batch (one signature
/// over the Merkle root of their envelopes) when the peer understands batch
/// signatures, else each alone (a message signed by an older version keeps
/// its signature). A body is signed only if it still has the hash it was
/// chained with.
pub(super) fn sign(
    rows: &[OutboxRow],
    key: &openssl::pkey::PKeyRef<openssl::pkey::Private>,
    as_batch: bool,
) -> Result<Signing, DbError> {
    let failed = |e: SignatureError| DbError::Corrupt(format!("signing failed: {e}"));
    let mut messages: Vec<Signed> = rows
        .iter()
        .map(store::signed_of)
        .collect::<Result<_, _>>()?;
    if let Some(bad) = messages
        .iter()
        .zip(rows)
        .position(|(m, row)| m.is_unsigned() && m.hash() != row.hash)
    {
        messages.truncate(bad);
    }
    let taken = messages.len();
    if taken == 0 {
        return Ok(Signing::Damaged);
    }
    if as_batch {
        let envelopes: Vec<serde_json::Value> = messages.into_iter().map(|m| m.body).collect();
        let signature = batch_signature::sign(&envelopes, key).map_err(failed)?;
        let batch = Batch {
            messages: None,
            envelopes,
            signature: Some(signature),
        };
        return Ok(Signing::Ready(batch, taken));
    }
    batch_signature::sign_pending(&mut messages, key, false).map_err(failed)?;
    let batch = Batch {
        messages: Some(messages),
        ..Batch::default()
    };
    Ok(Signing::Ready(batch, taken))
}

impl Dispatcher {
    /// The next batch after those on their way (`Err`: none is due now,
    /// with when the head is due if it waits for a retry).
    pub(super) async fn next_batch(
        &self,
    ) -> Result<Result<Vec<OutboxRow>, Option<NaiveDateTime>>, DbError> {
        let limit = i64::try_from(self.settings.batch_size.max(1)).unwrap_or(1000);
        let budget = self.client.link().budget();
        let t = self.ctx.clock.now();
        let after = self
            .sending
            .back()
            .and_then(|s| s.batch.last())
            .map(|r| r.seq)
            .or(self.recording.back().map(|f| f.up_to))
            .unwrap_or(0);
        let batch = self
            .db
            .read(move |c| store::next_batch(c, t, limit, budget, after))
            .await?;
        Ok(match batch {
            Ok(rows) if rows.is_empty() => Err(None),
            other => other,
        })
    }

    /// Sends `batch` in the background. While fewer than `depth` batches are
    /// on their way, returns once its body is out, so that the next one
    /// follows it on the link.
    pub(super) async fn launch(
        &mut self,
        mut batch: Vec<OutboxRow>,
        depth: usize,
    ) -> Result<(), DbError> {
        let as_batch = self.client.peer_takes_batch_signatures();
        let signed = match sign(&batch, &self.ctx.message_key, as_batch)? {
            Signing::Ready(signed, taken) => {
                batch.truncate(taken);
                signed
            }
            Signing::Damaged => return self.damaged(&batch[0]).await,
        };
        let bytes: usize = batch.iter().map(store::wire_size).sum();
        let out = Arc::new(Notify::new());
        let hooks = Hooks {
            pipelined: !self.sending.is_empty(),
            fence: self.fence,
            body_out: Some(out.clone()),
            compact_receipts: true,
        };
        let client = self.client.clone();
        let task = tokio::spawn(async move { client.send(signed, hooks).await });
        self.sending.push_back(Sending { batch, bytes, task });
        if self.sending.len() < depth {
            loop {
                tokio::select! {
                    _ = out.notified() => break,
                    _ = tokio::time::sleep(Duration::from_millis(50)) => {
                        if self.sending.back().is_none_or(|s| s.task.is_finished()) {
                            break;
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// `row` no longer has the hash it was chained with: suspended with an
    /// alert, for an administrator to repair and retry.
    async fn damaged(&self, row: &OutboxRow) -> Result<(), DbError> {
        tracing::error!(
            seq = row.seq,
            "an outgoing message no longer matches its hash: not sent"
        );
        self.fail(
            row,
            "stored_message_damaged: the stored message no longer has the hash it was queued with (storage damage); it was not sent".into(),
            None,
        )
        .await
    }
}
