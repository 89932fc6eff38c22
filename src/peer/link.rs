//! What the link to the peer can carry, measured on the requests themselves.
//!
//! Every request to the peer reports how many bytes it moved and how long it
//! took. From that the node keeps an estimate of the link's throughput and a
//! byte budget for the next request: `throughput × peer.target_request_secs`,
//! within `[peer.min_batch_bytes, peer.max_batch_bytes]`. A request that
//! stalled halves the budget. Deliveries and witnessing rounds size their
//! requests from the same budget, so a request completes in a few seconds on
//! any link, from loopback to a 32 KB/s satellite hop.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::config::PeerSettings;

/// The byte budget and throughput estimate of the link to the peer.
#[derive(Debug)]
pub struct Link {
    state: Mutex<Estimate>,
    min: usize,
    max: usize,
    target_secs: f64,
}

#[derive(Debug, Clone, Copy)]
struct Estimate {
    /// Bytes on the wire the next request may carry.
    budget: usize,
    /// Bytes per second, smoothed (none before the first measurement).
    rate: Option<f64>,
    /// How many bytes of a body make one on the wire (gzip), smoothed.
    ratio: f64,
}

/// Weight of the newest measurement in the smoothed rate.
const SMOOTHING: f64 = 0.5;

/// Highest compression ratio counted on.
const MAX_RATIO: f64 = 16.0;

impl Link {
    pub fn new(s: &PeerSettings) -> Self {
        Self {
            state: Mutex::new(Estimate {
                budget: s.initial_batch_bytes,
                rate: None,
                ratio: 1.0,
            }),
            min: s.min_batch_bytes,
            max: s.max_batch_bytes,
            target_secs: s.target_request_secs,
        }
    }

    fn with<R>(&self, f: impl FnOnce(&mut Estimate) -> R) -> R {
        // A poisoned lock only means another thread panicked mid-update; the
        // numbers are still usable.
        let mut guard = self.state.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut guard)
    }

    /// Bytes of body (before compression) the next request may carry: the
    /// wire budget times the compression seen lately, at most
    /// `peer.max_batch_bytes` (what the other node accepts).
    pub fn budget(&self) -> usize {
        let max = self.max;
        self.with(|e| ((e.budget as f64 * e.ratio) as usize).clamp(e.budget.min(max), max))
    }

    /// A request body of `raw` bytes went out as `wire` bytes (compressed).
    pub fn observe_compression(&self, raw: usize, wire: usize) {
        if raw < 1024 || wire == 0 {
            return;
        }
        let measured = (raw as f64 / wire as f64).clamp(1.0, MAX_RATIO);
        self.with(|e| e.ratio = SMOOTHING * measured + (1.0 - SMOOTHING) * e.ratio);
    }

    /// The smoothed throughput, bytes per second.
    pub fn rate(&self) -> Option<f64> {
        self.with(|e| e.rate)
    }

    /// A request moved `bytes` (both directions) in `elapsed`.
    pub fn observe(&self, bytes: u64, elapsed: Duration) {
        let secs = elapsed.as_secs_f64().max(0.001);
        let measured = bytes as f64 / secs;
        let (min, max, target) = (self.min, self.max, self.target_secs);
        self.with(|e| {
            let rate = e
                .rate
                .map_or(measured, |r| SMOOTHING * measured + (1.0 - SMOOTHING) * r);
            let wanted = ((rate * target) as usize).clamp(min, max);
            // A request far below the budget says little about the link (its
            // time is mostly the round trip): it may raise the budget, never
            // lower it.
            let link_bound = bytes as usize >= e.budget / 2;
            e.budget = if link_bound {
                wanted
            } else {
                wanted.max(e.budget)
            };
            if link_bound || e.rate.is_none() {
                e.rate = Some(rate);
            }
        });
    }

    /// A request stalled: halve the budget.
    pub fn stalled(&self) {
        let min = self.min;
        self.with(|e| e.budget = (e.budget / 2).max(min));
    }
}

/// Progress of one request: bytes moved each way and when a byte last moved.
#[derive(Debug)]
pub struct Progress {
    started: Instant,
    /// Milliseconds after `started` when a byte last moved.
    last_ms: AtomicU64,
    pub sent: AtomicU64,
    pub received: AtomicU64,
}

impl Progress {
    pub fn new() -> Self {
        Self {
            started: Instant::now(),
            last_ms: AtomicU64::new(0),
            sent: AtomicU64::new(0),
            received: AtomicU64::new(0),
        }
    }

    fn touch(&self) {
        let ms = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.fetch_max(ms, Ordering::Relaxed);
    }

    pub fn add_sent(&self, n: usize) {
        self.sent.fetch_add(n as u64, Ordering::Relaxed);
        self.touch();
    }

    pub fn add_received(&self, n: usize) {
        self.received.fetch_add(n as u64, Ordering::Relaxed);
        self.touch();
    }

    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Bytes sent and received so far.
    pub fn bytes(&self) -> (u64, u64) {
        (
            self.sent.load(Ordering::Relaxed),
            self.received.load(Ordering::Relaxed),
        )
    }

    /// How long since a byte last moved.
    pub fn idle(&self) -> Duration {
        let last = Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
        self.started.elapsed().saturating_sub(last)
    }

    /// Resolves when no byte has moved for `limit`.
    pub async fn stalled(&self, limit: Duration) {
        loop {
            let idle = self.idle();
            if idle >= limit {
                return;
            }
            tokio::time::sleep(limit - idle).await;
        }
    }
}

impl Default for Progress {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> PeerSettings {
        PeerSettings {
            initial_batch_bytes: 32 * 1024,
            min_batch_bytes: 4 * 1024,
            max_batch_bytes: 1024 * 1024,
            target_request_secs: 3.0,
            ..Default::default()
        }
    }

    #[test]
    fn the_budget_converges_to_the_target_time_on_a_slow_link() {
        // 32 KB/s and 0.6 s of round trip per request.
        let link = Link::new(&settings());
        for _ in 0..20 {
            let b = link.budget() as f64;
            link.observe(b as u64, Duration::from_secs_f64(0.6 + b / 32_000.0));
        }
        let b = link.budget() as f64;
        let secs = 0.6 + b / 32_000.0;
        assert!((2.5..=3.5).contains(&secs), "{b} bytes take {secs} s");
    }

    #[test]
    fn the_budget_grows_on_a_fast_link_and_halves_on_a_stall() {
        let link = Link::new(&settings());
        for _ in 0..10 {
            let b = link.budget();
            link.observe(b as u64, Duration::from_millis(5));
        }
        assert_eq!(link.budget(), 1024 * 1024);
        link.stalled();
        assert_eq!(link.budget(), 512 * 1024);
        for _ in 0..20 {
            link.stalled();
        }
        assert_eq!(link.budget(), 4 * 1024);
    }

    #[test]
    fn small_requests_never_shrink_the_budget() {
        let link = Link::new(&settings());
        link.observe(500, Duration::from_millis(600));
        assert_eq!(link.budget(), 32 * 1024);
    }

    #[tokio::test]
    async fn progress_stalls_only_when_nothing_moves() {
        let p = std::sync::Arc::new(Progress::new());
        let q = p.clone();
        let feeder = tokio::spawn(async move {
            for _ in 0..5 {
                tokio::time::sleep(Duration::from_millis(30)).await;
                q.add_sent(10);
            }
        });
        let t = Instant::now();
        p.stalled(Duration::from_millis(80)).await;
        assert!(
            t.elapsed() >= Duration::from_millis(150),
            "{:?}",
            t.elapsed()
        );
        feeder.await.unwrap();
        assert_eq!(p.bytes(), (50, 0));
    }
}
