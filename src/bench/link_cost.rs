//! (g) The cost of a slow link: Niamey reaches Abuja through a simulated
//! long-distance link (`slowlink`: a delay each way and a bandwidth cap per
//! direction; kernel traffic shaping is not available here). Prints the
//! bytes on the wire per referral in each direction (TLS, HTTP and receipts
//! included), the time an idle link takes to deliver one referral and bring
//! its receipt back, and the time to drain a backlog against the time the
//! link needs to carry its bytes.

use std::time::{Duration, Instant};

use super::end_to_end::EndToEnd;
use super::pair::{seed, Backend, Pair};
use super::slowlink::LinkConfig;
use crate::domain::ids::NodeId;
use crate::tls::pki;

/// What (g) simulates and sends.
pub struct LinkOptions {
    /// One-way delay.
    pub delay: Duration,
    /// Bytes per second in each direction.
    pub bytes_per_sec: u64,
    /// Referrals queued while Abuja is down, then drained over the link.
    pub backlog: usize,
}

/// Runs (g) and prints its lines.
pub(super) async fn over_slow_link(
    certs: &std::path::Path,
    backend: &Backend,
    opts: &LinkOptions,
) -> anyhow::Result<()> {
    let config = LinkConfig {
        delay: opts.delay,
        bytes_per_sec: Some(opts.bytes_per_sec),
    };
    let mut pair = Pair::linked(certs, 256, backend, Some(config)).await?;
    let result = measure(&mut pair, certs, opts).await;
    pair.stop().await;
    result
}

async fn measure(
    pair: &mut Pair,
    certs: &std::path::Path,
    opts: &LinkOptions,
) -> anyhow::Result<()> {
    let link = pair
        .link
        .clone()
        .ok_or_else(|| anyhow::anyhow!("no link"))?;
    let rate = opts.bytes_per_sec as f64;
    let rtt = 2.0 * opts.delay.as_secs_f64();
    let (db, ctx) = (pair.ne.db.clone(), pair.ne.ctx.clone());
    let (ids, token) = tokio::task::spawn_blocking(move || seed(&db, &ctx, 4, false)).await??;
    let http = crate::tls::https_client(&pki::node_files(certs, NodeId::NeAnltp).ca_cert)?;
    let e2e = EndToEnd::new(
        tokio::runtime::Handle::current(),
        http,
        pair.ne.api_url.clone(),
        token,
        ids,
        pair.ne.settled.resubscribe(),
    );
    // The first referral opens the connection (and learns that Abuja takes
    // gzip); the next ones travel over an idle, open link.
    e2e.one().await?;
    let mut singles = Vec::new();
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let (up, down) = (link.bytes_up(), link.bytes_down());
        let took = e2e.one().await?;
        singles.push((took, link.bytes_up() - up, link.bytes_down() - down));
    }
    singles.sort();
    let (took, up, down) = singles[singles.len() / 2];
    let transfer = up.max(down) as f64 / rate;
    println!(
        "(g) slow link Niamey → Abuja ({} ms each way, {:.0} KB/s each direction, TLS through a userspace proxy):\n    one referral on an idle link: {:.2} s from approval to receipt recorded, {up} B up / {down} B down on the wire (target ≤ 2 round trips + transfer = {:.2} s)",
        opts.delay.as_millis(),
        rate / 1000.0,
        took.as_secs_f64(),
        2.0 * rtt + transfer,
    );
    // A backlog queued while Abuja was down, drained over the link.
    pair.ng.stop.stop(false).await;
    let n = opts.backlog;
    let (db, ctx) = (pair.ne.db.clone(), pair.ne.ctx.clone());
    tokio::task::spawn_blocking(move || seed(&db, &ctx, n, true)).await??;
    pair.restart_ng().await?;
    // Timed from when Abuja is back (its start-up is not the link's doing).
    let (up, down) = (link.bytes_up(), link.bytes_down());
    let started = Instant::now();
    pair.delivered(Duration::from_secs(3600)).await?;
    let drained = started.elapsed().as_secs_f64();
    let (up, down) = (link.bytes_up() - up, link.bytes_down() - down);
    let needed = up.max(down) as f64 / rate + rtt;
    println!(
        "    backlog of {n} referrals: {:.0} B up / {:.0} B down per referral; drained in {drained:.1} s, the link needs {needed:.1} s for those bytes (+1 round trip) → {:.2}× (target ≤ 1.5×)",
        up as f64 / n as f64,
        down as f64 / n as f64,
        drained / needed,
    );
    Ok(())
}
