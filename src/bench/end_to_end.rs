//! (c) End-to-end referrals: approve requests over the caseworker API, each
//! timed until the peer's signed receipt is recorded, in a closed loop (peak)
//! and at a fixed arrival rate (open loop).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::sync::Mutex;

use crate::domain::ids::CaseId;

/// Approve requests over the caseworker API, each timed until its receipt is recorded.
pub(super) struct EndToEnd {
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
    pub(super) fn new(
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
    pub(super) async fn one(&self) -> anyhow::Result<Duration> {
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

    pub(super) async fn closed_loop(
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
    pub(super) async fn open_loop(
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
