//! (d) Draining a backlog of referral requests queued while the receiving
//! node was down.

use std::time::{Duration, Instant};

use super::pair::{seed, Pair};
use crate::store::DbError;

/// Stops the receiving node, queues `n` referral requests, starts it again
/// and times the delivery of all of them.
pub(super) async fn drain(pair: &mut Pair, n: usize) -> anyhow::Result<Duration> {
    pair.ng.stop.stop(false).await;
    let (db, ctx) = (pair.ne.db.clone(), pair.ne.ctx.clone());
    tokio::task::spawn_blocking(move || seed(&db, &ctx, n, true)).await??;
    let pending = |db: crate::store::Db| async move {
        db.read(|c| crate::app::exchange::count_outgoing(c, "pending"))
            .await
            .map_err(|e: DbError| anyhow::anyhow!(e))
    };
    let started = Instant::now();
    pair.restart_ng().await?;
    loop {
        if pending(pair.ne.db.clone()).await? == 0_i64 {
            break;
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(600),
            "backlog not drained in 10 minutes"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(started.elapsed())
}
