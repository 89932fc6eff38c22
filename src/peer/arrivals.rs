//! Batches taken in their turn when the sender keeps two in flight.
//!
//! Over a slow link the sender sends the next batch while the previous one
//! is still travelling or being taken in (`peer.pipeline`), and marks it
//! with the [`PIPELINED`] header. Such a batch may arrive before the one it
//! follows: instead of refusing it as a gap, the listener waits for its
//! turn — until the incoming chain reaches the message before it — at most
//! the catch-up limit (well below the sender's stall timeout). If the batch
//! before it is refused meanwhile, it is refused at once with the transient
//! `sequence_ahead`, and the sender sends again from its first unreceipted
//! message. So it is when the wait runs out: a batch sent while the one
//! before it was in transit proves no loss when that one is late (held up
//! on another replica of this node, say), and the sender's next delivery,
//! from its first unreceipted message, is judged as it stands (a real gap is
//! alerted then). A batch without the header is judged at once, as always.

use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use crate::store::{Db, DbError};

/// The request header of a batch sent while the one before it may still be
/// in transit.
pub const PIPELINED: &str = "passerelle-pipelined";

/// The request header of a batch carrying the sending dispatcher's term, its
/// fencing token (see [`crate::app::leases`]).
pub const FENCE: &str = "passerelle-fence";

/// How often the chain is read again while waiting (other paths than the
/// listener, such as a recovery, may move it without a signal).
const RECHECK: Duration = Duration::from_millis(250);

/// What the listener has taken in or refused, for batches waiting their turn.
#[derive(Debug, Clone, Copy, Default)]
struct Mark {
    /// The highest sequence number taken in.
    head: i64,
    /// How many batches were refused since start.
    refusals: u64,
}

/// Signals between the listener's handlers of one node.
pub struct Arrivals {
    mark: watch::Sender<Mark>,
}

impl Default for Arrivals {
    fn default() -> Self {
        Self {
            mark: watch::Sender::new(Mark::default()),
        }
    }
}

/// When a batch's turn came.
#[derive(Debug)]
enum Turn {
    /// The chain reaches the message before it.
    Now,
    /// A batch was refused while this one waited: it cannot follow.
    AfterRefusal,
    /// The message before it was not taken in within the wait.
    TooLate,
}

impl Arrivals {
    /// Messages up to `seq` were taken in.
    pub fn taken_in(&self, seq: i64) {
        self.mark.send_if_modified(|m| {
            let higher = seq > m.head;
            if higher {
                m.head = seq;
            }
            higher
        });
    }

    /// A batch was refused (wholly or from one of its messages on).
    pub fn refused(&self) {
        self.mark.send_modify(|m| m.refusals += 1);
    }

    /// Why a pipelined batch that starts at `first` cannot be taken in (the
    /// detail of its `sequence_ahead` refusal), after waiting for its turn;
    /// `None` once its turn came.
    pub async fn why_not_in_turn(
        &self,
        db: &Db,
        first: i64,
        limit: Duration,
    ) -> Result<Option<String>, DbError> {
        let why = match self.turn(db, first, limit).await? {
            Turn::Now => return Ok(None),
            Turn::AfterRefusal => "the batch before this one was refused",
            Turn::TooLate => {
                tracing::warn!(
                    seq = first,
                    "the batch before a pipelined batch was not taken in within the wait"
                );
                "the batch before this one was not taken in within the wait"
            }
        };
        Ok(Some(format!(
            "{why}; send again from the first message without a receipt"
        )))
    }

    /// Waits until the incoming chain reaches `first - 1`, at most `limit`.
    async fn turn(&self, db: &Db, first: i64, limit: Duration) -> Result<Turn, DbError> {
        let mut rx = self.mark.subscribe();
        let refusals = rx.borrow_and_update().refusals;
        let deadline = Instant::now() + limit;
        loop {
            // One row by key, for every batch: read on the calling thread.
            let head = db.read_one_here(crate::app::channels::incoming_seq).await?;
            if head + 1 >= first {
                return Ok(Turn::Now);
            }
            if Instant::now() >= deadline {
                return Ok(Turn::TooLate);
            }
            let wake = deadline.min(Instant::now() + RECHECK);
            // A change, a recheck or the deadline: read the chain again.
            let _ = tokio::time::timeout_at(wake, rx.changed()).await;
            if rx.borrow_and_update().refusals != refusals {
                return Ok(Turn::AfterRefusal);
            }
        }
    }
}
