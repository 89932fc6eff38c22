//! The node's clock: what "now" is for the use cases, the API and the
//! timers. It reads the system clock; a test running a node in its own
//! process may move it forward (`advance`) to reach a time limit without
//! waiting or back-dating rows. Nothing outside the process can move it.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use chrono::{Duration, NaiveDateTime, Utc};

/// The node's clock (cheap to clone; clones share the offset).
#[derive(Debug, Clone, Default)]
pub struct Clock {
    /// Milliseconds ahead of the system clock: zero unless a test moved it.
    ahead_ms: Arc<AtomicI64>,
}

impl Clock {
    /// Now, UTC.
    pub fn now(&self) -> NaiveDateTime {
        Utc::now().naive_utc() + Duration::milliseconds(self.ahead_ms.load(Ordering::Relaxed))
    }

    /// Moves this clock (and every clone of it) forward by `by`.
    pub fn advance(&self, by: Duration) {
        self.ahead_ms
            .fetch_add(by.num_milliseconds(), Ordering::Relaxed);
    }
}
