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
    pub async fn run(self) {
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

    async fn tick(&self) -> Result<Next, DbError> {
        let limit = i64::try_from(self.settings.batch_size.max(1)).unwrap_or(256);
        let t = now();
        let batch = match self
            .db
            .read(move |c| store::next_batch(c, t, limit))
            .await?
        {
            Ok(rows) => rows,
            Err(until) => return Ok(Next::Wait(until)),
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
                let error = format!("{}: {}", problem.code, problem.detail);
                let retry = (!is_permanent(&problem.code))
                    .then(|| self.backoff(&head))
                    .flatten();
                self.fail(&head, error, retry).await?;
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

    async fn settle(
        &self,
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
        for r in &receipts {
            if r.verify(&public).is_err() {
                return self
                    .protocol_failure(
                        &batch[0],
                        "a receipt is not signed by the peer's server certificate",
                    )
                    .await;
            }
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
        let mismatch = self
            .db
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
        if let Some(why) = mismatch {
            return self
                .protocol_failure(&batch[0], &format!("receipt mismatch {why}"))
                .await;
        }
        for row in &batch[..settled] {
            // Nobody listening is fine.
            let _ = self.settled.send(row.case_id.clone());
        }
        if let Some((Some(row), problem)) = refused {
            let error = format!("{}: {}", problem.code, problem.detail);
            let retry = (!is_permanent(&problem.code))
                .then(|| self.backoff(&row))
                .flatten();
            self.fail(&row, error, retry).await?;
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
