//! `passerelle bench`: two nodes on loopback over real mTLS and SQLite, and
//! the figures that matter, each printed beside its baseline in one run:
//!
//! (a) the raw ceiling of a trivial mTLS request on this machine;
//! (b) the raw durable-commit ceiling (one SQLite row per fsynced transaction);
//! (c) end-to-end referrals per second — caseworker request → durable outbox →
//!     mTLS delivery → durable inbox → signed receipt back and recorded — with
//!     p50/p99 latency at peak and at half of peak;
//! (d) the time to drain a backlog queued while the peer was down, batched
//!     versus one message per request;
//! (e) audit appends, and proof times on a large log;
//! (f) review at scale: every interactive list and review operation, timed
//!     through the API as the history grows to a million audit entries;
//! (g) the cost of a slow link: bytes on the wire per referral, an idle
//!     referral's round trip, a backlog drained through the link;
//! (h) with `--replicas N` on PostgreSQL only: end-to-end referrals through
//!     a round-robin proxy in front of one, then N replicas of Niamey.
//!
//! Build with `--release`; the figures are printed, not asserted.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use crate::domain::ids::{CaseId, NodeId};
use crate::peer::client::PeerClient;
use crate::tls::{pki, NodeTls};

mod audit_log;
mod backlog;
pub mod balancer;
mod ceilings;
mod cpu;
mod end_to_end;
mod link_cost;
mod pair;
mod replicas;
mod scale;
pub mod slowlink;

use audit_log::audit;
use backlog::drain;
use ceilings::{closed_loop, fsync_ceiling, signature_cost};
use end_to_end::EndToEnd;
use link_cost::over_slow_link;
pub use link_cost::LinkOptions;
pub use pair::Backend;
use pair::{seed, Pair};
use scale::review_at_scale;
pub use scale::ScaleOptions;

/// Options of the benchmark.
pub struct BenchOptions {
    pub certs: PathBuf,
    /// Duration of each timed phase.
    pub seconds: u64,
    /// Size of the backlog drained in (d).
    pub backlog: usize,
    /// Concurrent caseworker requests at peak in (c).
    pub concurrency: usize,
    /// Size of the audit log on which (e) times proof generation.
    pub audit_entries: u64,
    /// Run (e) only.
    pub audit_only: bool,
    /// Run (f) only.
    pub scale_only: bool,
    /// Run (a) to (c) only.
    pub referrals_only: bool,
    /// Run (h) only, with one and then this many replicas of Niamey.
    pub replicas: Option<usize>,
    /// Where the nodes of (c), (d) and (f) keep their data.
    pub backend: Backend,
    /// What (f) grows the nodes to.
    pub scale: ScaleOptions,
    /// Run (g) only.
    pub link_only: bool,
    /// What (g) simulates.
    pub link: LinkOptions,
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)].as_secs_f64() * 1000.0
}

/// Runs the benchmark and prints the figures.
pub async fn run(opts: BenchOptions) -> anyhow::Result<()> {
    if cfg!(debug_assertions) {
        println!(
            "warning: debug build — run `cargo run --release -- bench` for meaningful figures\n"
        );
    }
    let secs = Duration::from_secs(opts.seconds.max(1));
    println!(
        "Passerelle benchmark — two nodes on loopback, {}, mTLS; {} CPU(s)\n",
        opts.backend.name(),
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );

    let tls_settings = pki::dev_tls_settings(&opts.certs, NodeId::NeAnltp);
    if opts.audit_only {
        let tls = NodeTls::load(&tls_settings, NodeId::NeAnltp)?;
        return audit(opts.audit_entries, &tls).await;
    }
    if opts.link_only {
        return over_slow_link(&opts.certs, &opts.backend, &opts.link).await;
    }
    if let Some(n) = opts.replicas {
        return replicas::replicas(&opts, n).await;
    }
    if opts.scale_only {
        let tls = NodeTls::load(&tls_settings, NodeId::NeAnltp)?;
        return scale(&opts, &tls).await;
    }
    // (a) trivial mTLS requests.
    let mut pair = Pair::on(&opts.certs, 256, &opts.backend).await?;
    let tls = NodeTls::load(&tls_settings, NodeId::NeAnltp)?;
    let peer_settings = crate::config::PeerSettings {
        url: format!("https://127.0.0.1:{}", pair.ports.1),
        ..Default::default()
    };
    let client = PeerClient::new(
        tls.peer_client.clone(),
        &peer_settings,
        Arc::new(crate::peer::link::Link::new(&peer_settings)),
    )?;
    let load_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name(LOAD_THREADS)
        .enable_all()
        .build()?;
    let load = load_rt.handle().clone();
    let (rps, lat) = closed_loop(&load, 8, secs, {
        let client = client.clone();
        move || {
            let client = client.clone();
            async move {
                let r = client
                    .http()
                    .get(format!("{}/peer/v1/ping", client.url()))
                    .send()
                    .await?;
                anyhow::ensure!(r.status().is_success(), "ping answered {}", r.status());
                Ok(())
            }
        }
    })
    .await?;
    println!("(a) trivial mTLS request, 8 keep-alive connections: {rps:>9.0} req/s   p50 {:.2} ms  p99 {:.2} ms", pct(&lat, 0.5), pct(&lat, 0.99));

    // (b) durable commits, one row per transaction.
    let fsync_path = pair.dir.join("fsync.db");
    let commits = tokio::task::spawn_blocking(move || fsync_ceiling(&fsync_path, secs)).await??;
    println!("(b) durable commit ceiling, one SQLite row per fsynced transaction: {commits:>9.0} commits/s");

    // What signing costs: every referral is signed and verified twice
    // (message and receipt), which bounds (c) on this CPU.
    let (sign_us, verify_us) = signature_cost(&tls.message_key)?;
    let cores = std::thread::available_parallelism().map_or(1.0, |n| n.get() as f64);
    let signature_ceiling = cores * 1e6 / (2.0 * sign_us + 2.0 * verify_us);
    println!(
        "    ECDSA P-256 over a referral envelope: sign {sign_us:.0} µs, verify {verify_us:.0} µs → signatures alone cap referrals at ≈ {signature_ceiling:.0}/s on {cores} core(s)",
    );

    // (c) end-to-end referrals.
    let http = crate::tls::https_client(&pki::node_files(&opts.certs, NodeId::NeAnltp).ca_cert)?;
    // Enough submitted cases for the peak and half-peak phases.
    let n_cases = (opts.seconds as usize * 8_000).max(opts.concurrency * 10);
    let (ne_db, ne_ctx) = (pair.ne.db.clone(), pair.ne.ctx.clone());
    let (ids, token) =
        tokio::task::spawn_blocking(move || seed(&ne_db, &ne_ctx, n_cases, false)).await??;
    let some_ids: Vec<CaseId> = ids.iter().take(16).copied().collect();
    let e2e = EndToEnd::new(
        load.clone(),
        http.clone(),
        pair.ne.api_url.clone(),
        token.clone(),
        ids,
        pair.ne.settled.resubscribe(),
    );
    crate::meter::enable(true);
    let before = cpu::Snapshot::take(LOAD_THREADS);
    let (peak, peak_lat) = e2e.closed_loop(opts.concurrency, secs).await?;
    let at_peak = cpu::Snapshot::take(LOAD_THREADS);
    crate::meter::enable(false);
    let half = peak / 2.0;
    let half_lat = e2e.open_loop(half, secs).await?;
    println!(
        "(c) end-to-end referrals (approve → outbox → mTLS → inbox → signed receipt recorded):\n    peak {peak:>9.0} referrals/s at {} concurrent requests   p50 {:.2} ms  p99 {:.2} ms\n    half {half:>9.0} referrals/s (open loop)                 p50 {:.2} ms  p99 {:.2} ms\n    vs (b): {:.2}× the one-commit-per-request ceiling (target ≥ 1×); p99 at half peak target < 50 ms",
        opts.concurrency,
        pct(&peak_lat, 0.5),
        pct(&peak_lat, 0.99),
        pct(&half_lat, 0.5),
        pct(&half_lat, 0.99),
        peak / commits.max(1.0),
    );
    println!(
        "{}",
        at_peak.per_referral(&before, peak * secs.as_secs_f64())
    );
    println!(
        "    vs signatures alone: {:.2}× the signature-only ceiling (target ≥ 0.3×); p99 at half peak target < 20 ms",
        peak / signature_ceiling.max(1.0)
    );
    crate::meter::enable(true);
    let before_reads = cpu::Snapshot::take(LOAD_THREADS);
    let (reads, read_lat) = case_reads(
        &load,
        &http,
        &pair.ne.api_url,
        &token,
        some_ids,
        opts.concurrency,
        secs,
    )
    .await?;
    println!(
        "    case reads (GET /cases/{{id}}, its access-log entry written): {reads:>9.0} reads/s at {} concurrent requests   p50 {:.2} ms  p99 {:.2} ms (target ≥ 8000/s, 2× the 4k/s first measured)",
        opts.concurrency,
        pct(&read_lat, 0.5),
        pct(&read_lat, 0.99),
    );
    let after_reads = cpu::Snapshot::take(LOAD_THREADS);
    crate::meter::enable(false);
    println!(
        "{}",
        after_reads.per_unit(&before_reads, reads * secs.as_secs_f64(), "case read")
    );

    if opts.referrals_only {
        pair.stop().await;
        load_rt.shutdown_background();
        return Ok(());
    }
    // (d) backlog drain, batched.
    let batched = drain(&mut pair, opts.backlog).await?;
    pair.stop().await;
    // Baseline: one message per request.
    let mut single = Pair::on(&opts.certs, 1, &opts.backend).await?;
    let baseline_n = (opts.backlog / 10).max(500);
    let one_by_one = drain(&mut single, baseline_n).await?;
    single.stop().await;
    let batched_rate = opts.backlog as f64 / batched.as_secs_f64();
    let single_rate = baseline_n as f64 / one_by_one.as_secs_f64();
    println!(
        "(d) backlog of {} referral requests queued while the peer was down: drained in {:.2} s ({batched_rate:.0} msg/s)\n    baseline one message per request ({baseline_n} messages): {single_rate:.0} msg/s → batched is {:.1}× faster (target ≥ 5×)",
        opts.backlog,
        batched.as_secs_f64(),
        batched_rate / single_rate.max(f64::MIN_POSITIVE),
    );
    load_rt.shutdown_background();
    audit(opts.audit_entries, &tls).await?;
    over_slow_link(&opts.certs, &opts.backend, &opts.link).await?;
    scale(&opts, &tls).await
}

/// (f) on a fresh pair of nodes.
async fn scale(opts: &BenchOptions, tls: &NodeTls) -> anyhow::Result<()> {
    let pair = Pair::on(&opts.certs, 256, &opts.backend).await?;
    let client = |node| crate::tls::https_client(&pki::node_files(&opts.certs, node).ca_cert);
    let http = scale::Clients {
        ne: client(NodeId::NeAnltp)?,
        ng: client(NodeId::NgNaptip)?,
    };
    let result = review_at_scale(&pair, &http, &tls.client_certificate_pem, &opts.scale).await;
    pair.stop().await;
    result
}

/// The name of the load generator's threads (their CPU is not the nodes').
const LOAD_THREADS: &str = "bench-load";

/// Case reads over the caseworker API from `workers` loops, spread over
/// `ids`: throughput and sorted latencies.
async fn case_reads(
    load: &tokio::runtime::Handle,
    http: &reqwest::Client,
    url: &str,
    token: &str,
    ids: Vec<CaseId>,
    workers: usize,
    secs: Duration,
) -> anyhow::Result<(f64, Vec<Duration>)> {
    let ids = Arc::new(ids);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (http, url, token) = (http.clone(), url.to_owned(), token.to_owned());
    closed_loop(load, workers, secs, move || {
        let (http, url, token, ids, next) = (
            http.clone(),
            url.clone(),
            token.clone(),
            ids.clone(),
            next.clone(),
        );
        async move {
            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % ids.len().max(1);
            let id = ids.get(i).context("no case to read")?;
            let r = http
                .get(format!("{url}/api/v1/cases/{id}"))
                .bearer_auth(&token)
                .send()
                .await?;
            anyhow::ensure!(r.status().is_success(), "case read answered {}", r.status());
            r.bytes().await?;
            Ok(())
        }
    })
    .await
}
