//! `passerelle bench`: two nodes on loopback over real mTLS and SQLite, and
//! the figures that matter, each printed beside its baseline in one run:
//!
//! (a) the raw ceiling of a trivial mTLS request on this machine;
//! (b) the raw durable-commit ceiling (one SQLite row per fsynced transaction);
//! (c) end-to-end referrals per second — caseworker request → durable outbox →
//!     mTLS delivery → durable inbox → signed receipt back and recorded — with
//!     p50/p99 latency at peak and at half of peak;
//! (d) the time to drain a backlog queued while the peer was down, batched
//!     versus one message per request.
//!
//! Build with `--release`; the figures are printed, not asserted.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::Utc;
use diesel::connection::SimpleConnection;
use diesel::{Connection, RunQueryDsl};
use tokio::sync::Mutex;

use crate::app::cases::{self as repo, NewDraft};
use crate::app::NodeCtx;
use crate::config::Settings;
use crate::domain::case::CaseDetails;
use crate::domain::ids::{CaseId, NodeId};
use crate::domain::lifecycle::{Action, TransitionParams};
use crate::domain::roles::Role;
use crate::peer::client::PeerClient;
use crate::startup::{Application, StopHandle};
use crate::store::users::{self, Principal};
use crate::store::{AnyConnection, DbError};
use crate::tls::{pki, NodeTls, RefusalCounter};

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
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)].as_secs_f64() * 1000.0
}

struct Pair {
    ne: Node,
    ng: Node,
    dir: PathBuf,
    certs: PathBuf,
    ports: (u16, u16),
    batch_size: usize,
}

struct Node {
    settled: tokio::sync::broadcast::Receiver<String>,
    stop: StopHandle,
    db: crate::store::Db,
    ctx: Arc<NodeCtx>,
    api_url: String,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

fn node_settings(
    node: NodeId,
    dir: &Path,
    certs: &Path,
    peer: u16,
    other: u16,
    batch_size: usize,
) -> Settings {
    let mut s = crate::demo::settings(node, dir, certs, 0, peer, other);
    s.peer.batch_size = batch_size;
    // Retry every 100 ms during the benchmark.
    s.peer.retry_initial_ms = 100;
    s.peer.retry_max_ms = 100;
    s.peer.poll_interval_ms = 100;
    s.log.filter = "error".into();
    s
}

async fn start(settings: Settings) -> anyhow::Result<Node> {
    let app = Application::build(settings).await?;
    Ok(Node {
        settled: app.subscribe_settled(),
        stop: app.stop_handle(),
        db: app.db().clone(),
        ctx: app.ctx(),
        api_url: app.api_url(),
        task: tokio::spawn(app.run_until_stopped()),
    })
}

impl Pair {
    async fn new(certs: &Path, batch_size: usize) -> anyhow::Result<Pair> {
        let dir = std::env::temp_dir().join(format!(
            "passerelle-bench-{}",
            uuid::Uuid::now_v7().simple()
        ));
        std::fs::create_dir_all(&dir)?;
        let (p1, p2) = (free_port()?, free_port()?);
        let ne = start(node_settings(
            NodeId::NeAnltp,
            &dir.join("ne"),
            certs,
            p1,
            p2,
            batch_size,
        ))
        .await?;
        let ng = start(node_settings(
            NodeId::NgNaptip,
            &dir.join("ng"),
            certs,
            p2,
            p1,
            batch_size,
        ))
        .await?;
        Ok(Pair {
            ne,
            ng,
            dir,
            certs: certs.to_path_buf(),
            ports: (p1, p2),
            batch_size,
        })
    }

    async fn restart_ng(&mut self) -> anyhow::Result<()> {
        let (p1, p2) = self.ports;
        self.ng = start(node_settings(
            NodeId::NgNaptip,
            &self.dir.join("ng"),
            &self.certs,
            p2,
            p1,
            self.batch_size,
        ))
        .await?;
        Ok(())
    }

    async fn stop(self) {
        self.ne.stop.stop(false).await;
        self.ng.stop.stop(false).await;
        let _ = self.ne.task.await;
        let _ = self.ng.task.await;
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn ready_details() -> anyhow::Result<CaseDetails> {
    let input: crate::domain::case::CaseDetailsInput = serde_json::from_value(serde_json::json!({
        "person_status": "presumed_victim_trafficking", "sex": "female", "age_band": "15_17", "minor": true,
        "citizenship": "NG", "languages": ["hau"], "risk_level": "high", "requested_services": ["repatriation"],
        "consent": { "scope": ["referral"], "purpose": "voluntary_return", "given_on": Utc::now().date_naive(), "given_by": "guardian" }
    }))?;
    input.parse("").map_err(|e| anyhow::anyhow!("{e:?}"))
}

/// Creates `n` submitted drafts (setup, not timed); with `approve`, approves
/// them too (queuing `n` referral requests). Returns their ids and a supervisor token.
fn seed(
    db: &crate::store::Db,
    ctx: &NodeCtx,
    n: usize,
    approve: bool,
) -> anyhow::Result<(Vec<CaseId>, String)> {
    let now = Utc::now().naive_utc();
    let name = format!("bench-{}", uuid::Uuid::now_v7().simple());
    let details = ready_details()?;
    let (user, token) = db.write_blocking(|c| {
        let u = users::create_user(c, &name, "Bench", Role::Supervisor, "bench", now)?;
        let t = users::issue_token(c, &name, "bench", 1, now)?;
        Ok::<_, users::UserError>((u, t))
    })?;
    let principal = Principal {
        user_id: user.id,
        username: name,
        role: Role::Supervisor,
        token_id: token.id,
    };
    let mut ids = Vec::with_capacity(n);
    for chunk in (0..n).collect::<Vec<_>>().chunks(1000) {
        let created = db.write_blocking(|c: &mut AnyConnection| {
            let mut out = Vec::new();
            for _ in chunk {
                let draft = NewDraft {
                    node: ctx.node,
                    details: details.clone(),
                    identity: None,
                    idempotency: None,
                };
                let case = repo::create_draft(c, draft, &principal, now)?.case;
                let none = || TransitionParams {
                    reason_code: None,
                    outcome: None,
                    comment: None,
                    handover: None,
                };
                let case = repo::transition(
                    c,
                    ctx,
                    case.id,
                    case.version,
                    Action::Submit,
                    none(),
                    &principal,
                    now,
                )?;
                if approve {
                    repo::transition(
                        c,
                        ctx,
                        case.id,
                        case.version,
                        Action::Approve,
                        none(),
                        &principal,
                        now,
                    )?;
                }
                out.push(case.id);
            }
            Ok::<_, repo::CaseError>(out)
        })?;
        ids.extend(created);
    }
    Ok((ids, token.secret))
}

/// Runs the benchmark and prints the figures.
pub async fn run(opts: BenchOptions) -> anyhow::Result<()> {
    if cfg!(debug_assertions) {
        println!(
            "warning: debug build — run `cargo run --release -- bench` for meaningful figures\n"
        );
    }
    let secs = Duration::from_secs(opts.seconds.max(1));
    println!("Passerelle benchmark — two nodes on loopback, SQLite (WAL, synchronous=FULL), mTLS; {} CPU(s)\n", std::thread::available_parallelism().map_or(1, |n| n.get()));

    let tls_settings = pki::dev_tls_settings(&opts.certs, NodeId::NeAnltp);
    if opts.audit_only {
        let tls = NodeTls::load(
            &tls_settings,
            NodeId::NeAnltp,
            RefusalCounter::metric_only(crate::telemetry::Metrics::new().tls_refusals),
        )?;
        return audit(opts.audit_entries, &tls).await;
    }
    // (a) trivial mTLS requests.
    let mut pair = Pair::new(&opts.certs, 256).await?;
    let tls = NodeTls::load(
        &tls_settings,
        NodeId::NeAnltp,
        RefusalCounter::metric_only(crate::telemetry::Metrics::new().tls_refusals),
    )?;
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
        .thread_name("bench-load")
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
    println!(
        "    ECDSA P-256 over a referral envelope: sign {sign_us:.0} µs, verify {verify_us:.0} µs → signatures alone cap referrals at ≈ {:.0}/s on {cores} core(s)",
        cores * 1e6 / (2.0 * sign_us + 2.0 * verify_us)
    );

    // (c) end-to-end referrals.
    let http = crate::tls::https_client(&pki::node_files(&opts.certs, NodeId::NeAnltp).ca_cert)?;
    // Enough submitted cases for the peak and half-peak phases.
    let n_cases = (opts.seconds as usize * 8_000).max(opts.concurrency * 10);
    let (ne_db, ne_ctx) = (pair.ne.db.clone(), pair.ne.ctx.clone());
    let (ids, token) =
        tokio::task::spawn_blocking(move || seed(&ne_db, &ne_ctx, n_cases, false)).await??;
    let e2e = EndToEnd::new(
        load.clone(),
        http,
        pair.ne.api_url.clone(),
        token,
        ids,
        pair.ne.settled.resubscribe(),
    );
    let (peak, peak_lat) = e2e.closed_loop(opts.concurrency, secs).await?;
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

    // (d) backlog drain, batched.
    let batched = drain(&mut pair, opts.backlog).await?;
    pair.stop().await;
    // Baseline: one message per request.
    let mut single = Pair::new(&opts.certs, 1).await?;
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
    audit(opts.audit_entries, &tls).await
}

/// (e) audit appends per second and proof generation time on a large log.
async fn audit(entries: u64, tls: &NodeTls) -> anyhow::Result<()> {
    use crate::audit::{kinds, merkle, Entry};
    use crate::store::audit as store;
    let dir = std::env::temp_dir().join(format!(
        "passerelle-audit-{}",
        uuid::Uuid::now_v7().simple()
    ));
    std::fs::create_dir_all(&dir)?;
    let db = crate::store::Db::open(
        &format!("sqlite://{}", dir.join("audit.db").display()).into(),
        8,
        5_000,
    )?;
    let entry = |i: u64| {
        let mut e = Entry::new(
            kinds::API_ACTION,
            "bench",
            "POST /api/v1/cases/{id}/transitions",
        );
        e.case_id = Some(uuid::Uuid::now_v7().to_string());
        e.seq = Some(i as i64);
        e
    };
    // Appends, each its own transaction, from 64 concurrent requests (group commit).
    let n = 20_000;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..64 {
        let db = db.clone();
        tasks.push(tokio::spawn(async move {
            for i in (w..n).step_by(64) {
                db.write(move |c| store::append(c, entry(i)).map(|_| ()))
                    .await?;
            }
            Ok::<_, DbError>(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    let concurrent = n as f64 / started.elapsed().as_secs_f64();
    // One at a time: each append waits for its own fsync.
    let m = 2_000;
    let started = Instant::now();
    for i in 0..m {
        db.write(move |c| store::append(c, entry(i)).map(|_| ()))
            .await?;
    }
    let sequential = m as f64 / started.elapsed().as_secs_f64();
    println!(
        "(e) audit appends (entry + Merkle nodes, each its own transaction): {concurrent:>7.0}/s from 64 concurrent writers, {sequential:.0}/s one at a time (target ≥ 2000/s)"
    );
    // Grow the log to `entries` in large transactions, then time proofs.
    let have = db.read(store::size).await?;
    let started = Instant::now();
    let mut size = have;
    while size < entries {
        let chunk = (entries - size).min(50_000);
        db.write(move |c| {
            for i in 0..chunk {
                store::append(c, entry(size + i))?;
            }
            Ok::<_, DbError>(())
        })
        .await?;
        size += chunk;
    }
    let fill = started.elapsed();
    let ctx = crate::app::NodeCtx {
        node: NodeId::NeAnltp,
        deadlines: Default::default(),
        message_key: tls.message_key.clone(),
        receipt_key: tls.receipt_key.clone(),
    };
    let (incl, cons, root) = db
        .read(move |c| {
            let t = Instant::now();
            let root = store::root(c, store::Tree::Own, size)?;
            let t_root = t.elapsed();
            let rounds = 200u64;
            let t = Instant::now();
            for k in 0..rounds {
                let index = (k * 7_919) % size;
                let proof = store::inclusion_proof(c, index, size)?;
                let leaf = store::node(c, store::Tree::Own, 0, index)?.unwrap_or_default();
                merkle::verify_inclusion(&leaf, index, size, &proof, &root)
                    .map_err(|e| DbError::Corrupt(e.to_string()))?;
            }
            let incl = t.elapsed() / rounds as u32;
            let t = Instant::now();
            for k in 1..=rounds {
                let old = (k * 4_999) % size + 1;
                store::consistency_proof(c, old, size)?;
            }
            let cons = t.elapsed() / rounds as u32;
            Ok::<_, DbError>((incl, cons, t_root))
        })
        .await?;
    let t = Instant::now();
    db.write(move |c| {
        crate::app::audit::sign_checkpoint(c, &ctx, size, chrono::Utc::now().naive_utc())
            .map(|_| ())
    })
    .await?;
    let signed = t.elapsed();
    println!(
        "    on a log of {size} entries (filled in {:.1} s): root {:.2} ms, inclusion proof {:.3} ms (generated and verified), consistency proof {:.3} ms, signed checkpoint {:.2} ms",
        fill.as_secs_f64(),
        root.as_secs_f64() * 1e3,
        incl.as_secs_f64() * 1e3,
        cons.as_secs_f64() * 1e3,
        signed.as_secs_f64() * 1e3,
    );
    drop(db);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// Mean cost of signing and verifying a typical referral envelope, in µs.
fn signature_cost(key: &openssl::pkey::PKey<openssl::pkey::Private>) -> anyhow::Result<(f64, f64)> {
    use crate::domain::envelope::Signed;
    let body = serde_json::json!({ "payload": ready_details()?, "seq": 1, "message_type": "referral_request" });
    let public = openssl::pkey::PKey::public_key_from_der(&key.public_key_to_der()?)?;
    let n = 2000;
    let t = Instant::now();
    let mut last = None;
    for _ in 0..n {
        last = Some(Signed::sign(body.clone(), key).map_err(|e| anyhow::anyhow!("{e}"))?);
    }
    let sign = t.elapsed().as_secs_f64() * 1e6 / f64::from(n);
    let signed = last.context("no signature")?;
    let t = Instant::now();
    for _ in 0..n {
        signed.verify(&public).map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    let verify = t.elapsed().as_secs_f64() * 1e6 / f64::from(n);
    Ok((sign, verify))
}

/// Runs `op` from `workers` concurrent loops for `secs`: throughput and sorted latencies.
async fn closed_loop<F, Fut>(
    rt: &tokio::runtime::Handle,
    workers: usize,
    secs: Duration,
    op: F,
) -> anyhow::Result<(f64, Vec<Duration>)>
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send,
{
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..workers {
        let op = op.clone();
        tasks.push(rt.spawn(async move {
            let mut lat = Vec::new();
            while started.elapsed() < secs {
                let t = Instant::now();
                op().await?;
                lat.push(t.elapsed());
            }
            Ok::<_, anyhow::Error>(lat)
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await??);
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort();
    Ok((all.len() as f64 / elapsed, all))
}

fn fsync_ceiling(path: &Path, secs: Duration) -> anyhow::Result<f64> {
    let mut c = diesel::SqliteConnection::establish(&path.display().to_string())?;
    c.batch_execute("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL);")?;
    let started = Instant::now();
    let mut n = 0u64;
    while started.elapsed() < secs {
        c.transaction::<_, diesel::result::Error, _>(|c| {
            diesel::sql_query("INSERT INTO t (v) VALUES ('x')").execute(c)?;
            Ok(())
        })?;
        n += 1;
    }
    Ok(n as f64 / started.elapsed().as_secs_f64())
}

/// Approve requests over the caseworker API, each timed until its receipt is recorded.
struct EndToEnd {
    /// The load generator's own runtime, so that it does not share the
    /// nodes' System thread (which runs both dispatchers here).
    rt: tokio::runtime::Handle,
    http: reqwest::Client,
    url: String,
    token: String,
    ids: Mutex<Vec<CaseId>>,
    waiting: Arc<Mutex<HashMap<String, tokio::sync::oneshot::Sender<()>>>>,
}

impl EndToEnd {
    fn new(
        rt: tokio::runtime::Handle,
        http: reqwest::Client,
        url: String,
        token: String,
        ids: Vec<CaseId>,
        mut settled: tokio::sync::broadcast::Receiver<String>,
    ) -> Arc<Self> {
        let waiting: Arc<Mutex<HashMap<String, tokio::sync::oneshot::Sender<()>>>> = Arc::default();
        let w = waiting.clone();
        rt.spawn(async move {
            loop {
                match settled.recv().await {
                    Ok(case) => {
                        if let Some(tx) = w.lock().await.remove(&case) {
                            let _ = tx.send(());
                        }
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(_) => break,
                }
            }
        });
        Arc::new(EndToEnd {
            rt,
            http,
            url,
            token,
            ids: Mutex::new(ids),
            waiting,
        })
    }

    /// One referral: approve a submitted case and wait for the receipt.
    async fn one(&self) -> anyhow::Result<Duration> {
        let id = self
            .ids
            .lock()
            .await
            .pop()
            .context("ran out of seeded cases: lower --seconds or --concurrency")?;
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.waiting.lock().await.insert(id.to_string(), tx);
        let t = Instant::now();
        let res = self
            .http
            .post(format!("{}/api/v1/cases/{id}/transitions", self.url))
            .bearer_auth(&self.token)
            .header("If-Match", "\"2\"")
            .json(&serde_json::json!({ "action": "approve" }))
            .send()
            .await?;
        anyhow::ensure!(
            res.status().is_success(),
            "approve answered {}",
            res.status()
        );
        tokio::time::timeout(Duration::from_secs(30), rx)
            .await
            .context("no receipt within 30 s")??;
        Ok(t.elapsed())
    }

    async fn closed_loop(
        self: &Arc<Self>,
        workers: usize,
        secs: Duration,
    ) -> anyhow::Result<(f64, Vec<Duration>)> {
        let started = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..workers {
            let me = self.clone();
            tasks.push(self.rt.spawn(async move {
                let mut lat = Vec::new();
                while started.elapsed() < secs {
                    lat.push(me.one().await?);
                }
                Ok::<_, anyhow::Error>(lat)
            }));
        }
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await??);
        }
        let rate = all.len() as f64 / started.elapsed().as_secs_f64();
        all.sort();
        Ok((rate, all))
    }

    /// Fixed arrival rate for `secs`: latencies.
    async fn open_loop(
        self: &Arc<Self>,
        rate: f64,
        secs: Duration,
    ) -> anyhow::Result<Vec<Duration>> {
        let interval = Duration::from_secs_f64(1.0 / rate.max(1.0));
        let started = Instant::now();
        let mut tasks = Vec::new();
        let mut next = Instant::now();
        while started.elapsed() < secs {
            let me = self.clone();
            tasks.push(self.rt.spawn(async move { me.one().await }));
            next += interval;
            tokio::time::sleep_until(next.into()).await;
        }
        let mut all = Vec::new();
        for t in tasks {
            all.push(t.await??);
        }
        all.sort();
        Ok(all)
    }
}

/// Stops the receiving node, queues `n` referral requests, starts it again
/// and times the delivery of all of them.
async fn drain(pair: &mut Pair, n: usize) -> anyhow::Result<Duration> {
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
