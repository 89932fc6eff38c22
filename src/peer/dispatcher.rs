//! Delivers the outbox to the peer: in sequence order (so in order per
//! referral), in batches sized to the link, for as long as it takes.
//!
//! - **Batches** hold at most `peer.batch_size` messages and the link's byte
//!   budget ([`super::link::Link`]): about `peer.target_request_secs` of
//!   transfer at the throughput measured on earlier requests.
//! - **Transport failures** (no connection, a stalled transfer, a broken
//!   connection, the peer failing with 5xx) never suspend anything: the head
//!   message is retried after `peer.retry_initial_ms`, doubling up to
//!   `peer.retry_max_ms`, with jitter, forever. Meanwhile the peer is probed
//!   every `peer.probe_interval_ms`, and delivery resumes as soon as it
//!   answers.
//! - **A permanent refusal** by the peer (a coded 4xx problem that a resend
//!   cannot cure) suspends the message until an administrator retries it.
//! - When the oldest undelivered message is older than
//!   `peer.stale_after_secs`, an alert (`delivery_delayed`) is raised once.
//!
//! Receipts are verified against the server certificate of the connection
//! they came over before they are recorded.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::NaiveDateTime;
use tokio::sync::Notify;

use super::client::{PeerClient, SendError};
use super::pipeline::Sending;
use super::receipts;
use super::retry::{backoff, is_transient_refusal};
use super::settling::InFlight;
use crate::app::exchange as store;
use crate::app::exchange::OutboxRow;
use crate::app::NodeCtx;
use crate::config::PeerSettings;
use crate::domain::ids::MessageId;
use crate::store::{Db, DbError};
use crate::telemetry::Metrics;

/// The delivery loop of one node.
pub struct Dispatcher {
    pub db: Db,
    pub ctx: Arc<NodeCtx>,
    pub client: PeerClient,
    pub wake: Arc<Notify>,
    pub settings: PeerSettings,
    pub metrics: Metrics,
    /// Receipts recorded (announced by case id) and in hand (for the
    /// listener's catch-up).
    pub signals: receipts::Signals,
    /// Batches on their way, oldest first (at most `peer.pipeline`).
    pub sending: std::collections::VecDeque<Sending>,
    /// Answered batches whose receipts are being recorded while the next
    /// batches travel, oldest first (a few at most: see [`super::settling`]).
    pub recording: std::collections::VecDeque<InFlight>,
    /// Since when deliveries fail for transport reasons (the peer is probed meanwhile).
    pub down_since: Option<Instant>,
    pub last_probe: Option<Instant>,
    pub last_stale_check: Option<Instant>,
    /// Whether the `delivery_delayed` alert is raised for the current backlog.
    pub stale_alerted: bool,
    /// Whether this node's chains were compared with the peer's since start.
    pub channels_checked: bool,
    /// Delivery held: this node is behind the peer's copies (a restore from
    /// an older backup); an administrator must act.
    pub held: bool,
    /// Set by the listener whenever the peer reaches this node: while
    /// delivery waits out a transport failure, the peer is then probed at
    /// once instead of at the next probe interval.
    pub heard: Arc<std::sync::atomic::AtomicBool>,
    /// Checks the certificates of messages recovered from the peer's copies
    /// (without it, a node behind the peer only holds and alerts).
    pub peer_signer: Option<crate::tls::PeerSigner>,
    /// The term of the dispatcher lease this dispatcher runs under, sent
    /// with every batch as its fencing token (`None`: not fenced).
    pub fence: Option<i64>,
    /// The peer refused a batch as fenced off: another replica of this node
    /// took the lease over, and this dispatcher stops.
    pub deposed: bool,
}

impl Dispatcher {
    pub fn new(
        db: Db,
        ctx: Arc<NodeCtx>,
        client: PeerClient,
        wake: Arc<Notify>,
        settings: PeerSettings,
        metrics: Metrics,
        signals: receipts::Signals,
    ) -> Self {
        Self {
            signals,
            db,
            ctx,
            client,
            wake,
            settings,
            metrics,
            sending: Default::default(),
            recording: Default::default(),
            down_since: None,
            last_probe: None,
            last_stale_check: None,
            stale_alerted: false,
            channels_checked: false,
            held: false,
            heard: Default::default(),
            peer_signer: None,
            fence: None,
            deposed: false,
        }
    }
}

/// What the loop does next.
pub(super) enum Next {
    /// More may be ready: go again at once.
    Continue,
    /// Nothing due: wait for new messages, or until this time.
    Wait(Option<NaiveDateTime>),
}

/// How often the age of the oldest undelivered message is looked at.
const STALE_CHECK: Duration = Duration::from_secs(5);
/// How long a probe may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

impl Dispatcher {
    /// Runs until the task is dropped, or until the peer says that another
    /// replica of this node delivers under a newer term.
    pub async fn run(mut self) {
        let poll = Duration::from_millis(self.settings.poll_interval_ms.max(10));
        let probe = Duration::from_millis(self.settings.probe_interval_ms.max(10));
        while !self.deposed {
            self.watch_backlog().await;
            if !self.channels_checked {
                self.check_channels().await;
            }
            if self.held {
                tokio::time::sleep(probe.max(poll)).await;
                continue;
            }
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
                    let mut wait = until
                        .map(|t| (t - self.ctx.clock.now()).to_std().unwrap_or_default())
                        .map_or(poll, |d| d.min(poll));
                    if self.down_since.is_some() {
                        wait = wait.min(probe);
                    }
                    tokio::select! {
                        _ = self.wake.notified() => {}
                        _ = tokio::time::sleep(wait) => {}
                    }
                    if until.is_some_and(|t| t > self.ctx.clock.now()) {
                        self.probe(probe).await;
                    }
                }
            }
        }
    }

    /// Compares this node's chains with what the peer holds (once per
    /// start, as soon as the peer answers): if this node is behind, holds
    /// delivery and raises the alert.
    async fn check_channels(&mut self) {
        let theirs: crate::app::channels::Held = match self.client.get("/peer/v1/channel").await {
            Ok((h, _)) => h,
            Err(SendError::Refused(p)) => {
                // A peer that cannot tell: carry on as before.
                tracing::warn!(code = %p.code, "the peer did not say what it holds of the chains");
                self.channels_checked = true;
                return;
            }
            Err(_) => return, // unreachable: asked again next time
        };
        self.channels_checked = true;
        // Only the peer's messages are missing here: take them again from
        // its copies, then compare again.
        let theirs_again = theirs.clone();
        let mut stopped = None;
        let recoverable = self
            .db
            .read(move |c| crate::app::channels::only_incoming_behind(c, &theirs_again))
            .await;
        if let (Ok(true), Some(signer)) = (recoverable, &self.peer_signer) {
            match super::channel::recover_incoming(&self.db, &self.ctx, &self.client, signer)
                .await
            {
                Ok(n) => tracing::warn!(
                    messages = n,
                    "messages missing here (restored from an older backup) taken again from the peer's copies"
                ),
                Err(e) => {
                    tracing::error!(error = %e, "recovery from the peer's copies stopped");
                    stopped = Some(e);
                }
            }
        }
        let now = self.ctx.clock.now();
        let verdict = self
            .db
            .write(move |c| {
                let behind = crate::app::channels::behind(c, &theirs)?.map(|d| match &stopped {
                    Some(why) => {
                        format!("{d} Recovery from the other node's copies stopped: {why}.")
                    }
                    None => d,
                });
                if let Some(detail) = &behind {
                    crate::app::channels::alert_behind(c, detail, now)?;
                }
                Ok::<_, DbError>(behind)
            })
            .await;
        match verdict {
            Ok(Some(detail)) => {
                tracing::error!(detail, "delivery held: this node is behind the peer");
                self.held = true;
                self.metrics.peer_delivery_held.set(1);
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(error = %e, "chains not compared; asked again next time");
                self.channels_checked = false;
            }
        }
    }

    /// While deliveries wait after transport failures, asks the peer whether
    /// it is back, at most once per `interval`; if it is, everything waiting
    /// for a retry is due at once.
    async fn probe(&mut self, interval: Duration) {
        let Some(since) = self.down_since else { return };
        // The peer just reached this node: the link works, and the delivery
        // itself is the probe (a ping first would cost a round trip more).
        let heard = self.heard.swap(false, std::sync::atomic::Ordering::Relaxed);
        if !heard {
            if self.last_probe.is_some_and(|t| t.elapsed() < interval) {
                return;
            }
            self.last_probe = Some(Instant::now());
            if let Err(e) = self.client.ping(PROBE_TIMEOUT).await {
                tracing::debug!(error = %e, "probe: the peer is still unreachable");
                return;
            }
        }
        let t = self.ctx.clock.now();
        match self.db.write(move |c| store::resume_now(c, t)).await {
            Ok(_) => {
                tracing::info!(
                    down_for_secs = since.elapsed().as_secs(),
                    heard,
                    "the peer answers again: delivery resumes"
                );
                self.down_since = None;
            }
            Err(e) => tracing::warn!(error = %e, "cannot reschedule deliveries"),
        }
    }

    /// Keeps the metric of the oldest undelivered message current, and raises
    /// the `delivery_delayed` alert once when it gets older than allowed.
    async fn watch_backlog(&mut self) {
        if self
            .last_stale_check
            .is_some_and(|t| t.elapsed() < STALE_CHECK)
        {
            return;
        }
        self.last_stale_check = Some(Instant::now());
        let oldest = match self.db.read(store::oldest_undelivered).await {
            Ok(o) => o,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the outbox");
                return;
            }
        };
        let t = self.ctx.clock.now();
        let age = oldest.map_or(0, |o| (t - o).num_seconds().max(0));
        self.metrics.peer_oldest_undelivered.set(age);
        let limit = i64::try_from(self.settings.stale_after_secs).unwrap_or(i64::MAX);
        if age <= limit {
            self.stale_alerted = false;
            return;
        }
        if self.stale_alerted {
            return;
        }
        let since = oldest.map(|o| o.and_utc().to_rfc3339()).unwrap_or_default();
        let detail = format!(
            "the oldest message not yet delivered to the peer waits since {since} ({age} s)"
        );
        match self
            .db
            .write(move |c| store::alert(c, "delivery_delayed", &detail, t))
            .await
        {
            Ok(()) => self.stale_alerted = true,
            Err(e) => tracing::warn!(error = %e, "cannot record the delivery_delayed alert"),
        }
    }

    async fn tick(&mut self) -> Result<Next, DbError> {
        // After a transport failure, one batch at a time until one gets through.
        let depth = if self.down_since.is_some() {
            1
        } else {
            self.settings.pipeline.max(1)
        };
        if self.sending.len() < depth {
            match self.next_batch().await? {
                Ok(batch) => {
                    self.launch(batch, depth).await?;
                    return Ok(Next::Continue);
                }
                Err(until) if self.sending.is_empty() => {
                    if !self.recording.is_empty() {
                        self.finish_recording().await?;
                        return Ok(Next::Continue);
                    }
                    return Ok(Next::Wait(until));
                }
                // Nothing more to send now: hear from the oldest batch.
                Err(_) => {}
            }
        }
        let Some(mut oldest) = self.sending.pop_front() else {
            return Ok(Next::Continue);
        };
        // With room in the pipeline, a message queued meanwhile leaves at
        // once rather than after this batch's answer (a round trip later).
        let answer = if self.sending.len() + 1 < depth {
            tokio::select! {
                answer = &mut oldest.task => Some(answer),
                _ = self.wake.notified() => None,
            }
        } else {
            Some((&mut oldest.task).await)
        };
        let Some(answer) = answer else {
            self.sending.push_front(oldest);
            return Ok(Next::Continue);
        };
        let outcome = match answer {
            Ok(outcome) => outcome,
            Err(e) => Err(SendError::Broken {
                detail: format!("the sending task ended: {e}"),
                sent: 0,
                received: 0,
            }),
        };
        let whole = matches!(&outcome, Ok((d, _))
            if d.response.refusal.is_none() && d.response.receipted() == oldest.batch.len());
        if !whole {
            // The batches behind it cannot be taken in before it: they are
            // abandoned (dropping aborts them) and sent again in order.
            self.sending.clear();
        }
        self.answered(&oldest.batch, oldest.bytes, outcome).await
    }

    /// What the peer answered to `batch` (or why it did not).
    async fn answered(
        &mut self,
        batch: &[OutboxRow],
        bytes: usize,
        outcome: Result<(super::client::Delivery, super::client::Transfer), SendError>,
    ) -> Result<Next, DbError> {
        let Some(head) = batch.first().cloned() else {
            return Ok(Next::Continue);
        };
        match outcome {
            Ok((delivery, transfer)) => {
                self.metrics.peer_batch_messages.observe(batch.len() as f64);
                self.metrics.peer_batch_bytes.observe(transfer.sent as f64);
                if let Some(rate) = self.client.link().rate() {
                    self.metrics.peer_throughput.set(rate);
                }
                self.metrics
                    .peer_link_budget
                    .set(self.client.link().budget() as f64);
                if self.down_since.take().is_some() {
                    tracing::info!("delivery to the peer works again");
                }
                self.settle(batch, delivery).await
            }
            Err(SendError::Refused(problem)) if problem.code == "stale_dispatcher" => {
                tracing::warn!(
                    term = self.fence,
                    "another replica of this node delivers now: this dispatcher stops"
                );
                self.deposed = true;
                Ok(Next::Wait(None))
            }
            Err(SendError::Refused(problem)) if !is_transient_refusal(&problem.code) => {
                self.metrics
                    .peer_delivery_failures
                    .with_label_values(&["refused"])
                    .inc();
                self.refused(&head, &problem).await?;
                Ok(Next::Continue)
            }
            Err(e) => {
                if let SendError::Refused(p) = &e {
                    if p.code == "payload_too_large" {
                        self.client.link().stalled();
                    }
                }
                // Probing helps only when the link itself failed; a peer that
                // answers (5xx, a temporary refusal) is left to the backoff.
                let link_failed = matches!(
                    e,
                    SendError::Connect(_) | SendError::Stalled { .. } | SendError::Broken { .. }
                );
                self.metrics
                    .peer_delivery_failures
                    .with_label_values(&[e.cause()])
                    .inc();
                let retry = self.backoff(&head);
                tracing::warn!(
                    error = %e,
                    cause = e.cause(),
                    seq = head.seq,
                    messages = batch.len(),
                    bytes,
                    retry_in_ms = retry.num_milliseconds(),
                    "delivery to the peer failed; will retry"
                );
                if link_failed && self.down_since.is_none() {
                    // The first probe comes one probe interval after the failure.
                    self.down_since = Some(Instant::now());
                    self.last_probe = self.down_since;
                }
                self.fail(&head, e.to_string(), Some(retry)).await?;
                Ok(Next::Continue)
            }
        }
    }

    fn backoff(&self, row: &OutboxRow) -> chrono::Duration {
        backoff(
            self.settings.retry_initial_ms,
            self.settings.retry_max_ms,
            self.settings.jitter,
            row.attempts,
        )
    }

    /// The peer refused `row`: retried later if a resend can cure it, else
    /// suspended. Logged by code only (the detail may quote the payload).
    pub(super) async fn refused(
        &self,
        row: &OutboxRow,
        problem: &super::server::ProblemBody,
    ) -> Result<(), DbError> {
        let transient = is_transient_refusal(&problem.code);
        tracing::warn!(seq = row.seq, code = %problem.code, transient, "the peer refused a message");
        let error = format!("{}: {}", problem.code, problem.detail);
        let retry = transient.then(|| self.backoff(row));
        self.fail(row, error, retry).await
    }

    /// Records a failed try of `row`: retried after `retry`, or suspended.
    pub(super) async fn fail(
        &self,
        row: &OutboxRow,
        error: String,
        retry: Option<chrono::Duration>,
    ) -> Result<(), DbError> {
        let id: MessageId = row
            .id
            .parse()
            .map_err(|_| DbError::Corrupt(format!("message id {}", row.id)))?;
        let t = self.ctx.clock.now();
        let suspended = self
            .db
            .write(move |c| store::record_failure(c, id, &error, retry, t))
            .await?;
        if suspended {
            tracing::warn!(message = %id, seq = row.seq, "message suspended");
        }
        Ok(())
    }

    /// The peer's answer to the batch that `head` begins does not match
    /// what was sent: logged, and the message retried or suspended.
    pub(super) async fn protocol_failure(
        &self,
        head: &OutboxRow,
        why: &str,
    ) -> Result<Next, DbError> {
        tracing::error!(seq = head.seq, why, "peer protocol failure");
        self.fail(head, format!("protocol: {why}"), None).await?;
        Ok(Next::Continue)
    }
}
