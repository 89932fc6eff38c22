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
use crate::app::exchange as store;
use crate::app::exchange::OutboxRow;
use crate::domain::envelope::Signed;
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
            .or(self.in_flight.as_ref().map(|f| f.up_to))
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
        batch: Vec<OutboxRow>,
        depth: usize,
    ) -> Result<(), DbError> {
        let signed: Vec<Signed> = batch
            .iter()
            .map(store::signed_of)
            .collect::<Result<_, _>>()?;
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
}
