//! The ceilings the end-to-end figures are read against: a closed loop of
//! trivial requests (a), durable SQLite commits one row per transaction (b),
//! and what signing and verifying a referral envelope costs.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use diesel::connection::SimpleConnection;
use diesel::{Connection, RunQueryDsl};

use super::pair::ready_details;

/// Mean cost of signing and verifying a typical referral envelope, in µs.
pub(super) fn signature_cost(
    key: &openssl::pkey::PKey<openssl::pkey::Private>,
) -> anyhow::Result<(f64, f64)> {
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
pub(super) async fn closed_loop<F, Fut>(
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

pub(super) fn fsync_ceiling(path: &Path, secs: Duration) -> anyhow::Result<f64> {
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
