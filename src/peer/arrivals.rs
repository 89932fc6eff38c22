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
//! message. When the wait runs out the batch gets the usual verdict (a gap,
//! alerted). A batch without the header is judged at once, as always.

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
#[derive(Debug, PartialEq, Eq)]
pub enum Turn {
    /// The chain reaches the message before it (or the wait ran out: the
    /// batch is then judged as it stands).
    Now,
    /// A batch was refused while this one waited: it cannot follow.
    AfterRefusal,
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

    /// Waits until the incoming chain reaches `first - 1`, at most `limit`.
    pub async fn turn(&self, db: &Db, first: i64, limit: Duration) -> Result<Turn, DbError> {
        let mut rx = self.mark.subscribe();
        let refusals = rx.borrow_and_update().refusals;
        let deadline = Instant::now() + limit;
        loop {
            // One row by key, for every batch: read on the calling thread.
            let head = db.read_one_here(crate::app::channels::incoming_seq).await?;
            if head + 1 >= first || Instant::now() >= deadline {
                return Ok(Turn::Now);
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
