//! Recording the receipts of answered batches while the next batches
//! travel: up to [`RECORDING`] batches' receipts at once, their writes
//! queued in the order the batches were answered.

use super::dispatcher::{Dispatcher, Next};
use super::receipts::{self, RecordError};
use crate::app::exchange::OutboxRow;
use crate::store::DbError;

/// Most answered batches whose receipts are being recorded at once. Their
/// writes are queued in the order the batches were answered, so a group
/// commit takes several together rather than one after another.
const RECORDING: usize = 4;

/// A batch the peer has answered whose receipts are still being recorded.
pub struct InFlight {
    /// Highest sequence number of the batch: the next batch starts after it.
    pub(super) up_to: i64,
    head: OutboxRow,
    task: tokio::task::JoinHandle<Result<(), RecordError>>,
}

impl Dispatcher {
    /// Waits for the oldest batch's receipts to be recorded. If that
    /// failed, its messages are still pending and are simply sent again
    /// (the peer answers duplicates with their original receipts).
    pub(super) async fn finish_recording(&mut self) -> Result<(), DbError> {
        let Some(f) = self.recording.pop_front() else {
            return Ok(());
        };
        match f.task.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(RecordError::Mismatch(why))) => {
                self.protocol_failure(&f.head, &why).await?;
                Ok(())
            }
            Ok(Err(RecordError::Db(e))) => {
                tracing::warn!(error = %e, "recording receipts failed; the batch will be sent again");
                Ok(())
            }
            Err(e) => {
                tracing::warn!(error = %e, "receipt task failed; the batch will be sent again");
                Ok(())
            }
        }
    }

    /// What the peer answered to `batch`: its receipts checked and their
    /// recording queued behind the batches' before; a refusal in it is
    /// handled once every receipt before it is recorded.
    pub(super) async fn settle(
        &mut self,
        batch: &[OutboxRow],
        mut delivery: super::client::Delivery,
    ) -> Result<Next, DbError> {
        let receipts = match receipts::whole(&mut delivery.response, batch, self.ctx.node) {
            Ok(r) => r,
            Err(why) => return self.protocol_failure(&batch[0], &why).await,
        };
        let refused = delivery.response.refusal.map(|r| {
            let row = batch.get(r.index).cloned();
            (row, r.problem)
        });
        if matches!(&refused, Some((None, _))) {
            return self
                .protocol_failure(&batch[0], "a refusal names a message outside the batch")
                .await;
        }
        if let Some(last) = batch.get(receipts.len().wrapping_sub(1)) {
            // The listener need not fetch what is about to be recorded.
            self.signals.in_hand.send_if_modified(|v| {
                let higher = last.seq > *v;
                if higher {
                    *v = last.seq;
                }
                higher
            });
        }
        let settled = receipts.len();
        let announce = self.signals.settled.clone();
        // Checked here, and queued for the writer before the next batch's.
        let write =
            match receipts::record(&self.db, &self.ctx, receipts, &delivery.server_certificate) {
                Ok(write) => write,
                Err(e) => {
                    while !self.recording.is_empty() {
                        self.finish_recording().await?;
                    }
                    return match e {
                        RecordError::Mismatch(why) => self.protocol_failure(&batch[0], &why).await,
                        RecordError::Db(e) => Err(e),
                    };
                }
            };
        let record = async move {
            for case in write.await? {
                // Nobody listening is fine.
                let _ = announce.send(case);
            }
            Ok::<_, RecordError>(())
        };
        // Receipts are recorded in the background while the next batches
        // travel; a refusal is handled in order instead.
        if refused.is_none() && settled > 0 {
            while self.recording.len() >= RECORDING {
                self.finish_recording().await?;
            }
            let up_to = batch[settled - 1].seq;
            self.recording.push_back(InFlight {
                up_to,
                head: batch[0].clone(),
                task: tokio::spawn(record),
            });
            return Ok(Next::Continue);
        }
        while !self.recording.is_empty() {
            self.finish_recording().await?;
        }
        match record.await {
            Ok(()) => {}
            Err(RecordError::Mismatch(why)) => {
                return self.protocol_failure(&batch[0], &why).await;
            }
            Err(RecordError::Db(e)) => return Err(e),
        }
        if let Some((Some(row), problem)) = refused {
            self.refused(&row, &problem).await?;
        }
        tracing::debug!(settled, "batch delivered");
        Ok(Next::Continue)
    }
}
