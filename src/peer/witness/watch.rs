//! The watch over the peer's log: with every witnessing round, the next
//! `audit.watch_leaves_per_round` witnessed leaves of the peer's log are
//! compared with its entries as they are now, from where the last round
//! stopped, wrapping to the start after the last one, so the whole log is
//! re-checked pass after pass at a bounded cost per round.
//!
//! A mismatch suspends cosigning the peer's checkpoints, raises an alert
//! and an audit entry here, and is reported to the peer, which raises its
//! own. An administrator's acknowledgement lifts the suspension.

use serde::{Deserialize, Serialize};

use super::{Leaves, WitnessError, Witnessing, MAX_LEAVES};
use crate::app::audit as store;
use crate::app::audit_watch;
use crate::audit::from_hex;

/// The first witnessed entry of the peer's log that no longer matches.
#[derive(Debug, Clone)]
pub struct Mismatch {
    pub index: u64,
    /// `changed`, `missing` or `receipt_not_proven`.
    pub problem: &'static str,
    /// The leaf hash the peer shows there now (hex), if any.
    pub theirs: Option<String>,
}

/// Sent to the peer when its log no longer matches what this node witnessed.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MismatchNotice {
    /// The first bad index of the receiver's log.
    pub index: u64,
    /// `changed`, `missing` or `receipt_not_proven`.
    pub problem: String,
}

/// The problems a [`MismatchNotice`] may name.
pub const PROBLEMS: [&str; 3] = ["changed", "missing", "receipt_not_proven"];

/// The peer's answer to a notice.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Noted {
    pub recorded: bool,
}

/// What one round of the watch did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchStep {
    /// Cosigning is suspended: nothing checked until acknowledged.
    Suspended,
    /// Leaves `[from, to)` match.
    Checked { from: u64, to: u64 },
    /// A mismatch was found, alerted and reported.
    Mismatch { index: u64 },
}

impl Witnessing {
    /// One round of the watch (see the module's documentation).
    pub async fn watch_step(&self) -> Result<WatchStep, WitnessError> {
        let st = self.db.read(audit_watch::state).await?;
        if st.row.suspended_at.is_some() {
            return Ok(WatchStep::Suspended);
        }
        let held = st.witnessed;
        let mut from = u64::try_from(st.row.next_index).unwrap_or(0);
        if from >= held {
            from = 0;
        }
        let to = held.min(from.saturating_add(self.watch_batch.max(1)));
        if let Some(bad) = self.compare(from, to).await? {
            self.raise_mismatch(&bad).await?;
            return Ok(WatchStep::Mismatch { index: bad.index });
        }
        let (next, passes) = if to >= held {
            (0, st.row.passes + i64::from(held > 0))
        } else {
            (to, st.row.passes)
        };
        let now = self.ctx.clock.now();
        let next = i64::try_from(next).unwrap_or(i64::MAX);
        let (a, b) = (
            i64::try_from(from).unwrap_or(i64::MAX),
            i64::try_from(to).unwrap_or(i64::MAX),
        );
        self.db
            .write(move |c| {
                audit_watch::advance(c, next, passes, now)?;
                audit_watch::extend_checked(c, a, b)
            })
            .await?;
        Ok(WatchStep::Checked { from, to })
    }

    /// Compares witnessed leaves `[from, to)` with the peer's entries as
    /// they are now; mismatches an administrator acknowledged are passed
    /// over while the peer still shows the same leaf.
    pub(super) async fn compare(
        &self,
        from: u64,
        to: u64,
    ) -> Result<Option<Mismatch>, WitnessError> {
        let mut start = from;
        while start < to {
            let end = to.min(start + MAX_LEAVES.min(super::leaves_per_request(&self.client)));
            let (theirs, _): (Leaves, _) = self
                .client
                .get(&format!("/peer/v1/audit/leaves?from={start}&to={end}"))
                .await?;
            let (ours, accepted) = self
                .db
                .read(move |c| {
                    let ours = store::peer_leaves(c, start, end)?;
                    let accepted = audit_watch::accepted(
                        c,
                        i64::try_from(start).unwrap_or(i64::MAX),
                        i64::try_from(end).unwrap_or(i64::MAX),
                    )?;
                    Ok::<_, crate::store::DbError>((ours, accepted))
                })
                .await?;
            for (i, mine) in ours.iter().enumerate() {
                let index = start + i as u64;
                let shown = theirs.leaves.get(i).cloned().flatten();
                let problem = match shown.as_deref().and_then(from_hex) {
                    None => Some("missing"),
                    Some(h) if &h != mine => Some("changed"),
                    Some(_) => None,
                };
                let Some(problem) = problem else { continue };
                let now_shown = shown.clone().unwrap_or_else(|| audit_watch::MISSING.into());
                let acknowledged = i64::try_from(index)
                    .ok()
                    .and_then(|i| accepted.get(&i))
                    .is_some_and(|leaf| *leaf == now_shown);
                if acknowledged {
                    continue;
                }
                return Ok(Some(Mismatch {
                    index,
                    problem,
                    theirs: shown,
                }));
            }
            start = end;
        }
        Ok(None)
    }

    /// Suspends cosigning, alerts and logs here, and reports to the peer
    /// (best effort: its next checkpoint is refused anyway). Returns the
    /// verdict in words.
    pub(super) async fn raise_mismatch(&self, bad: &Mismatch) -> Result<String, WitnessError> {
        let index = bad.index;
        let what = if bad.problem == "receipt_not_proven" {
            format!("the peer's log does not prove entry {index}, named by one of our receipts")
        } else {
            format!(
                "entry {index} of the peer's log is {} since it was witnessed",
                bad.problem
            )
        };
        let detail = format!(
            "{what}; cosigning the peer's checkpoints is suspended until an administrator \
             acknowledges (POST /api/v1/audit/watch/acknowledge)"
        );
        let now = self.ctx.clock.now();
        let (problem, theirs, text) = (bad.problem, bad.theirs.clone(), detail.clone());
        self.db
            .write(move |c| {
                audit_watch::record_mismatch(c, index, problem, theirs.as_deref(), &text, now)
            })
            .await?;
        let notice = MismatchNotice {
            index,
            problem: bad.problem.to_owned(),
        };
        let sent: Result<(Noted, _), _> =
            self.client.post("/peer/v1/audit/mismatch", &notice).await;
        if let Err(e) = sent {
            tracing::warn!(error = %e, index, "the peer could not be told that its log changed");
        }
        Ok(detail)
    }
}
