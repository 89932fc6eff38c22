//! (h) Replicas: end-to-end referrals as in (c) — approve requests, each
//! timed until its receipt is recorded — sent through a round-robin proxy
//! in front of one replica of Niamey, then of several over the same
//! PostgreSQL database. One replica delivers (it holds the dispatcher
//! lease); the others take caseworker requests and write to the same
//! outbox.

use std::time::Duration;

use super::balancer::Balancer;
use super::end_to_end::EndToEnd;
use super::pair::{seed, Backend, Pair};
use super::{pct, BenchOptions};
use crate::domain::ids::NodeId;
use crate::tls::pki;

/// The port of a node's API URL.
fn port_of(url: &str) -> anyhow::Result<u16> {
    url.rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no port in {url}"))
}

pub(super) async fn replicas(opts: &BenchOptions, most: usize) -> anyhow::Result<()> {
    anyhow::ensure!(
        matches!(opts.backend, Backend::Postgres { .. }),
        "replicas share one PostgreSQL database: add --backend postgres"
    );
    let secs = Duration::from_secs(opts.seconds.max(1));
    let load_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name(super::LOAD_THREADS)
        .enable_all()
        .build()?;
    let load = load_rt.handle().clone();
    let http = crate::tls::https_client(&pki::node_files(&opts.certs, NodeId::NeAnltp).ca_cert)?;
    println!("(h) replicas of Niamey over one PostgreSQL database, behind a round-robin TCP proxy (end-to-end referrals as in (c)):");
    let mut counts = vec![1];
    if most > 1 {
        counts.push(most);
    }
    for count in counts {
        let pair = Pair::on(&opts.certs, 256, &opts.backend).await?;
        let mut others = Vec::new();
        for _ in 1..count {
            others.push(pair.ne_replica().await?);
        }
        let mut ports = vec![port_of(&pair.ne.api_url)?];
        for r in &others {
            ports.push(port_of(&r.api_url)?);
        }
        let balancer = Balancer::start(0, ports).await?;
        // Receipts are recorded by whichever replica delivers.
        let (settled, merged) = tokio::sync::broadcast::channel(65_536);
        for rx in std::iter::once(&pair.ne)
            .chain(&others)
            .map(|n| n.settled.resubscribe())
        {
            let tx = settled.clone();
            load.spawn(async move {
                let mut rx = rx;
                loop {
                    match rx.recv().await {
                        Ok(case) => {
                            let _ = tx.send(case);
                        }
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                        Err(_) => break,
                    }
                }
            });
        }
        // Enough for the peak and half-peak phases at PostgreSQL's rates
        // (a few hundred referrals a second here); seeding is not timed but slow.
        let n_cases = (opts.seconds as usize * 2_000).max(opts.concurrency * 10);
        let (db, ctx) = (pair.ne.db.clone(), pair.ne.ctx.clone());
        let (ids, token) =
            tokio::task::spawn_blocking(move || seed(&db, &ctx, n_cases, false)).await??;
        let e2e = EndToEnd::new(
            load.clone(),
            http.clone(),
            format!("https://127.0.0.1:{}", balancer.port()),
            token,
            ids,
            merged,
        );
        let (peak, peak_lat) = e2e.closed_loop(opts.concurrency, secs).await?;
        let half_lat = e2e.open_loop(peak / 2.0, secs).await?;
        println!(
            "    {count} replica(s): peak {peak:>7.0} referrals/s   p50 {:.2} ms  p99 {:.2} ms;  half {:>7.0}/s   p50 {:.2} ms  p99 {:.2} ms",
            pct(&peak_lat, 0.5),
            pct(&peak_lat, 0.99),
            peak / 2.0,
            pct(&half_lat, 0.5),
            pct(&half_lat, 0.99),
        );
        drop(balancer);
        for r in others {
            r.stop().await;
        }
        pair.stop().await;
    }
    println!(
        "    (the replicas share this machine's cores and the one database; one of them delivers)"
    );
    load_rt.shutdown_background();
    Ok(())
}
