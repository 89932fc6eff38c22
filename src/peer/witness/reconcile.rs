//! Keeping reconciliation up to date: this node's exchange entries are
//! folded in from its own log, the other node's are read over the link
//! from where the last reading stopped (`GET /peer/v1/audit/exchange`), a
//! page at a time. Runs with every witnessing round and before every
//! report, so a report costs what is new, not the whole history.

use super::{WitnessError, Witnessing};
use crate::app::reconciliation;
use crate::audit::Entry;

/// Most entries one page of the other node's exchange log carries.
pub const EXCHANGE_PAGE: usize = 10_000;

impl Witnessing {
    /// Folds in what both logs recorded since the last catch-up. Returns
    /// whether the other node's log could be read to its end (if not,
    /// what it says is as of the last time it could).
    pub async fn reconcile_catch_up(&self) -> Result<bool, WitnessError> {
        let _one_at_a_time = self.reconciling.lock().await;
        let node = self.ctx.node;
        loop {
            let now = self.ctx.clock.now();
            let done = self
                .db
                .write(move |c| reconciliation::catch_up_own(c, node, now))
                .await?;
            if done {
                break;
            }
        }
        let started = self.ctx.clock.now();
        let mut after = self.db.read(reconciliation::peer_after).await?;
        loop {
            let path = if after >= 0 {
                format!("/peer/v1/audit/exchange?after={after}")
            } else {
                "/peer/v1/audit/exchange".to_owned()
            };
            let page: Vec<Entry> = match self.client.get::<Vec<Entry>>(&path).await {
                Ok((page, _)) => page,
                Err(e) => {
                    tracing::info!(error = %e, "the peer's exchange log cannot be consulted");
                    return Ok(false);
                }
            };
            let end = page.len() < EXCHANGE_PAGE;
            let last = page
                .last()
                .and_then(|e| i64::try_from(e.index).ok())
                .unwrap_or(after);
            let chunks: Vec<Vec<Entry>> = page
                .chunks(reconciliation::FOLD_CHUNK)
                .map(<[Entry]>::to_vec)
                .collect();
            let n = chunks.len();
            for (i, chunk) in chunks.into_iter().enumerate() {
                // Read to its end once the page's last chunk is in.
                let read_to_end = (end && i + 1 == n).then_some(started);
                self.db
                    .write(move |c| reconciliation::apply_peer(c, node, &chunk, read_to_end))
                    .await?;
            }
            if page.is_empty() && end {
                self.db
                    .write(move |c| reconciliation::apply_peer(c, node, &[], Some(started)))
                    .await?;
            }
            if end || last <= after {
                return Ok(true);
            }
            after = last;
        }
    }
}
