//! (d) Draining a backlog of referral requests queued while the receiving
//! node was down.

use std::time::{Duration, Instant};

use super::pair::{seed, Pair};

/// Stops the receiving node, queues `n` referral requests, starts it again
/// and times the delivery of all of them.
pub(super) async fn drain(pair: &mut Pair, n: usize) -> anyhow::Result<Duration> {
    pair.ng.stop.stop(false).await;
    let (db, ctx) = (pair.ne.db.clone(), pair.ne.ctx.clone());
    tokio::task::spawn_blocking(move || seed(&db, &ctx, n, true)).await??;
    let started = Instant::now();
    pair.restart_ng().await?;
    pair.delivered(Duration::from_secs(600)).await?;
    Ok(started.elapsed())
}
