//! Delivers the outbox to the peer: in sequence order (so in order per
//! referral), in batches, retrying with the configured backoff schedule plus
//! jitter, and parking a message as `suspended` after its last try (or at
//! once for a permanent refusal) until an administrator retries it.
//!
//! Receipts are verified against the server certificate of the connection
//! they came over before they are recorded.

use std::sync::Arc;
use std::time::Duration;

use chrono::{NaiveDateTime, Utc};
use tokio::sync::Notify;

use super::client::{PeerClient, SendError};
use super::envelope::{self, Signed};
use crate::config::PeerSettings;
use crate::db::models::OutboxRow;
use crate::db::peer::{self as store, SettleError};
use crate::db::{Db, DbError, NodeCtx};
use crate::domain::ids::MessageId;

/// The delivery loop of one node.
pub struct Dispatcher {
    pub db: Db,
    pub ctx: Arc<NodeCtx>,
    pub client: PeerClient,
    pub wake: Arc<Notify>,
    pub settings: PeerSettings,
    /// Announces each outgoing message whose receipt was recorded (by case id).
    pub settled: tokio::sync::broadcast::Sender<String>,
    /// Receipts of the last batch being recorded while the next batch is sent.
    pub in_flight: Option<InFlight>,
}

/// A batch the peer has answered whose receipts are still being recorded.
pub struct InFlight {
    /// Highest sequence number of the batch: the next batch starts after it.
    up_to: i64,
    head: OutboxRow,
    task: tokio::task::JoinHandle<Result<Option<String>, DbError>>,
}

/// What the loop does next.
enum Next {
    /// More may be ready: go again at once.
    Continue,
    /// Nothing due: wait for new messages, or until this time.
    Wait(Option<NaiveDateTime>),
}

fn now() -> NaiveDateTime {
    Utc::now().naive_utc()
}

/// A random factor in [1 - jitter, 1 + jitter].
fn jitter_factor(jitter: f64) -> f64 {
    let mut b = [0u8; 4];
    if openssl::rand::rand_bytes(&mut b).is_err() {
        return 1.0;
    }
    let unit = f64::from(u32::from_le_bytes(b)) / f64::from(u32::MAX);
    1.0 + jitter * (2.0 * unit - 1.0)
}

/// Delay before the next try after `attempts` failed ones, or `None` when the
/// schedule is exhausted.
pub fn backoff(schedule_ms: &[u64], jitter: f64, attempts: i64) -> Option<chrono::Duration> {
    let base = *schedule_ms.get(usize::try_from(attempts).ok()?)?;
    let ms = (base as f64 * jitter_factor(jitter.clamp(0.0, 1.0))).round() as i64;
    Some(chrono::Duration::milliseconds(ms.max(0)))
}

fn is_permanent(code: &str) -> bool {
    // Everything a resend cannot fix without an administrator.
    !matches!(code, "database_unavailable" | "database_busy")
}

impl Dispatcher {
    /// Runs until the task is dropped.
    pub async fn run(mut self) {
        let poll = Duration::from_millis(self.settings.poll_interval_ms.max(10));
        loop {
            let next = match self.tick().await {
                Ok(n) => n,
                Err(e) => {
                    tracing::error!(error = %e, "dispatcher error");
                    Next::Wait(None)
                }
            };
            match next {
                Next::Continue => continue,
                Next::Wait(until) => {
                    let wait = until
                        .map(|t| (t - now()).to_std().unwrap_or_default())
                        .map_or(poll, |d| d.min(poll));
                    tokio::select! {
                        _ = self.wake.notified() => {}
                        _ = tokio::time::sleep(wait) => {}
                    }
                }
            }
        }
    }

    async fn tick(&mut self) -> Result<Next, DbError> {
        let limit = i64::try_from(self.settings.batch_size.max(1)).unwrap_or(256);
        let t = now();
        let after = self.in_flight.as_ref().map_or(0, |f| f.up_to);
        let batch = match self
            .db
            .read(move |c| store::next_batch(c, t, limit, after))
            .await?
        {
            Ok(rows) => rows,
            Err(until) => {
                if self.in_flight.is_some() {
                    self.finish_in_flight().await?;
                    return Ok(Next::Continue);
                }
                return Ok(Next::Wait(until));
            }
        };
        let Some(head) = batch.first().cloned() else {
            return Ok(Next::Wait(None));
        };
        let signed: Vec<Signed> = batch
            .iter()
            .map(store::signed_of)
            .collect::<Result<_, _>>()?;
        match self.client.send(signed).await {
            Ok(delivery) => self.settle(&batch, delivery).await,
            Err(SendError::Refused(problem)) => {
                self.refused(&head, &problem).await?;
                Ok(Next::Continue)
            }
            Err(e) => {
                let retry = self.backoff(&head);
                tracing::debug!(error = %e, seq = head.seq, "delivery failed");
                self.fail(&head, e.to_string(), retry).await?;
                Ok(Next::Continue)
            }
        }
    }

    fn backoff(&self, row: &OutboxRow) -> Option<chrono::Duration> {
        backoff(
            &self.settings.retry_schedule_ms,
            self.settings.jitter,
            row.attempts,
        )
    }

    /// The peer refused `row`: retry later if a resend can help, else suspend it.
    async fn refused(
        &self,
        row: &OutboxRow,
        problem: &super::server::ProblemBody,
    ) -> Result<(), DbError> {
        let error = format!("{}: {}", problem.code, problem.detail);
        let retry = (!is_permanent(&problem.code))
            .then(|| self.backoff(row))
            .flatten();
        self.fail(row, error, retry).await
    }

    async fn fail(
        &self,
        row: &OutboxRow,
        error: String,
        retry: Option<chrono::Duration>,
    ) -> Result<(), DbError> {
        let id: MessageId = row
            .id
            .parse()
            .map_err(|_| DbError::Corrupt(format!("message id {}", row.id)))?;
        let t = now();
        let suspended = self
            .db
            .write(move |c| store::record_failure(c, id, &error, retry, t))
            .await?;
        if suspended {
            tracing::warn!(message = %id, seq = row.seq, "message suspended");
        }
        Ok(())
    }

    /// Waits for the receipts of the previous batch to be recorded. If that
    /// failed, its messages are still pending and are simply sent again (the
    /// peer answers duplicates with their original receipts).
    async fn finish_in_flight(&mut self) -> Result<(), DbError> {
        let Some(f) = self.in_flight.take() else {
            return Ok(());
        };
        match f.task.await {
            Ok(Ok(None)) => Ok(()),
            Ok(Ok(Some(why))) => {
                self.protocol_failure(&f.head, &format!("receipt mismatch {why}"))
                    .await?;
                Ok(())
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "recording receipts failed; the batch will be sent again");
                Ok(())
            }
            Err(e) => {
                tracing::warn!(error = %e, "receipt task failed; the batch will be sent again");
                Ok(())
            }
        }
    }

    async fn settle(
        &mut self,
        batch: &[OutboxRow],
        delivery: super::client::Delivery,
    ) -> Result<Next, DbError> {
        let cert = &delivery.server_certificate;
        let Ok(public) = envelope::public_key_of(cert) else {
            return self
                .protocol_failure(&batch[0], "unreadable server certificate")
                .await;
        };
        let receipts = delivery.response.receipts;
        if receipts.len() > batch.len() {
            return self
                .protocol_failure(&batch[0], "more receipts than messages")
                .await;
        }
        // A failed task yields (no receipts, not verified).
        let (receipts, verified) = tokio::task::spawn_blocking(move || {
            let verified = envelope::verify_all(&receipts, &public).is_ok();
            (receipts, verified)
        })
        .await
        .unwrap_or_default();
        if !verified {
            return self
                .protocol_failure(
                    &batch[0],
                    "a receipt is not signed by the peer's server certificate",
                )
                .await;
        }
        let fp = envelope::fingerprint(cert);
        let pem = openssl::x509::X509::from_der(cert)
            .and_then(|c| c.to_pem())
            .map(|p| String::from_utf8_lossy(&p).into_owned())
            .unwrap_or_default();
        let ctx = self.ctx.clone();
        let refused = delivery.response.refusal.map(|r| {
            let row = batch.get(r.index).cloned();
            (row, r.problem)
        });
        let t = now();
        let settled = receipts.len();
        let db = self.db.clone();
        let announce = self.settled.clone();
        let case_ids: Vec<String> = batch[..settled].iter().map(|r| r.case_id.clone()).collect();
        let record = async move {
            let mismatch = db
                .write(move |c| {
                    if !receipts.is_empty() {
                        store::remember_certificate(c, &fp, &pem, t)?;
                    }
                    for r in &receipts {
                        match store::settle(c, &ctx, r, &fp, t) {
                            Ok(()) => {}
                            Err(SettleError::Mismatch(id, why)) => {
                                return Ok::<_, DbError>(Some(format!("{id}: {why}")))
                            }
                            Err(SettleError::Db(e)) => return Err(e),
                        }
                    }
                    Ok(None)
                })
                .await?;
            if mismatch.is_none() {
                for case in case_ids {
                    // Nobody listening is fine.
                    let _ = announce.send(case);
                }
            }
            Ok(mismatch)
        };
        // One batch's receipts at a time are recorded in the background while
        // the next batch travels; a refusal is handled in order instead.
        self.finish_in_flight().await?;
        if refused.is_none() && settled > 0 {
            let up_to = batch[settled - 1].seq;
            self.in_flight = Some(InFlight {
                up_to,
                head: batch[0].clone(),
                task: tokio::spawn(record),
            });
            return Ok(Next::Continue);
        }
        if let Some(why) = record.await? {
            return self
                .protocol_failure(&batch[0], &format!("receipt mismatch {why}"))
                .await;
        }
        if let Some((Some(row), problem)) = refused {
            self.refused(&row, &problem).await?;
        }
        tracing::debug!(settled, "batch delivered");
        Ok(Next::Continue)
    }

    async fn protocol_failure(&self, head: &OutboxRow, why: &str) -> Result<Next, DbError> {
        tracing::error!(seq = head.seq, why, "peer protocol failure");
        self.fail(head, format!("protocol: {why}"), None).await?;
        Ok(Next::Continue)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_follows_the_schedule_with_jitter_then_stops() {
        let schedule = [100, 1000, 10_000];
        for (attempts, base) in [(0, 100), (1, 1000), (2, 10_000)] {
            for _ in 0..50 {
                let d = backoff(&schedule, 0.2, attempts)
                    .unwrap()
                    .num_milliseconds();
                assert!(
                    (base * 8 / 10..=base * 12 / 10).contains(&d),
                    "{d} for {base}"
                );
            }
        }
        assert_eq!(backoff(&schedule, 0.2, 3), None);
        assert_eq!(
            backoff(&schedule, 0.0, 1),
            Some(chrono::Duration::milliseconds(1000))
        );
    }
}
