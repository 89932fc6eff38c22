//! This process as one replica of its node: the jobs that must run once
//! across the replicas (the dispatcher, the timers) run here only while
//! this replica holds their lease ([`crate::app::leases`]).
//!
//! For each lease a keeper tries to take it every third of its length;
//! once taken, it starts the job and renews the lease at the same pace. The
//! job is stopped as soon as a renewal finds the lease taken over, and
//! also when renewals fail (the database unreachable) for so long that the
//! lease may have expired: another replica may then hold it. The job
//! itself may end early (a dispatcher told by the other node that a newer
//! term delivers); the keeper then tries again like any other replica.
//! On SQLite, one process serves a database ([`crate::store::node_lock`]),
//! so its one replica takes every lease at once.

use std::future::Future;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::store::Db;

/// Who this replica is and how long its leases last.
#[derive(Clone)]
pub struct Replica {
    /// How leases, logs and `/readyz` name this replica.
    pub name: String,
    pub ttl: Duration,
    db: Db,
    /// The term of the dispatcher lease while this replica holds it.
    pub dispatcher: watch::Sender<Option<i64>>,
    /// The term of the timers' lease while this replica holds it.
    pub timers: watch::Sender<Option<i64>>,
}

impl Replica {
    /// This replica, named `name` (default: host name and process id), with
    /// a random suffix so that a restarted replica is never taken for the
    /// one before it.
    pub fn new(db: Db, name: Option<&str>, ttl: Duration) -> Self {
        let base = name.map(str::to_owned).unwrap_or_else(|| {
            let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|h| h.trim().to_owned())
                .unwrap_or_else(|_| "replica".into());
            format!("{host}:{}", std::process::id())
        });
        let suffix = uuid::Uuid::new_v4().simple().to_string();
        Self {
            name: format!("{base}/{}", &suffix[..8]),
            ttl,
            db,
            dispatcher: watch::Sender::new(None),
            timers: watch::Sender::new(None),
        }
    }

    /// Runs `job(term)` whenever this replica holds the lease `name`, for
    /// as long as it holds it. Never returns (abort the task to stop).
    pub async fn hold<F, Fut>(self, name: &'static str, job: F)
    where
        F: Fn(i64) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let every = self.ttl / 3;
        let ttl = chrono::Duration::from_std(self.ttl).unwrap_or(chrono::Duration::seconds(6));
        loop {
            let holder = self.name.clone();
            let now = chrono::Utc::now().naive_utc();
            let asked = Instant::now();
            let taken = self
                .db
                .write_apart(move |c| crate::app::leases::acquire(c, name, &holder, now, ttl))
                .await;
            let term = match taken {
                Ok(Some(term)) => term,
                Ok(None) => {
                    tokio::time::sleep(every).await;
                    continue;
                }
                Err(e) => {
                    tracing::warn!(lease = name, error = %e, "cannot ask for the lease; trying again");
                    tokio::time::sleep(every).await;
                    continue;
                }
            };
            tracing::info!(lease = name, term, replica = %self.name, "lease taken: the job runs here");
            self.mark(name, Some(term));
            let mut task = Job(tokio::spawn(job(term)));
            // The lease is surely ours until this instant (counted from
            // before the request that took or renewed it).
            let mut safe_until = asked + self.ttl;
            // Whether the job's handle has yielded its end (it must not be
            // awaited again).
            let mut ended = false;
            loop {
                tokio::select! {
                    _ = &mut task.0 => {
                        tracing::info!(lease = name, term, "the job stopped on its own");
                        ended = true;
                        break;
                    }
                    _ = tokio::time::sleep(every) => {}
                }
                let holder = self.name.clone();
                let now = chrono::Utc::now().naive_utc();
                let asked = Instant::now();
                let kept = self
                    .db
                    .write_apart(move |c| {
                        crate::app::leases::renew(c, name, &holder, term, now, ttl)
                    })
                    .await;
                match kept {
                    Ok(true) => safe_until = asked + self.ttl,
                    Ok(false) => {
                        tracing::warn!(
                            lease = name,
                            term,
                            "lease taken over by another replica: the job stops here"
                        );
                        break;
                    }
                    // Stop before the lease may have expired.
                    Err(e) if Instant::now() + every >= safe_until => {
                        tracing::error!(lease = name, term, error = %e, "lease not renewed in time: the job stops here");
                        break;
                    }
                    Err(e) => {
                        tracing::warn!(lease = name, error = %e, "lease not renewed; trying again")
                    }
                }
            }
            if !ended {
                task.0.abort();
                let _ = (&mut task.0).await;
            }
            self.mark(name, None);
        }
    }

    /// Records that this replica holds the lease `name` under `term`, or
    /// no longer holds it; the database learns whether this process
    /// delivers (see [`Db::set_delivers_here`]).
    fn mark(&self, name: &str, term: Option<i64>) {
        self.state(name).send_replace(term);
        if name == crate::app::leases::DISPATCHER {
            self.db.set_delivers_here(term.is_some());
        }
    }

    fn state(&self, name: &str) -> &watch::Sender<Option<i64>> {
        if name == crate::app::leases::DISPATCHER {
            &self.dispatcher
        } else {
            &self.timers
        }
    }

    /// Gives back the leases this replica holds (when it stops), so that
    /// another replica takes over at once.
    pub async fn release(&self) {
        for name in [crate::app::leases::DISPATCHER, crate::app::leases::TIMERS] {
            let Some(term) = *self.state(name).borrow() else {
                continue;
            };
            let holder = self.name.clone();
            let given = self
                .db
                .write_apart(move |c| crate::app::leases::release(c, name, &holder, term))
                .await;
            match given {
                Ok(()) => tracing::info!(lease = name, term, "lease given back"),
                Err(e) => {
                    tracing::warn!(lease = name, error = %e, "lease not given back: it expires")
                }
            }
            self.mark(name, None);
        }
    }

    /// Whether this replica holds the lease `name` now.
    pub fn holds(&self, name: &str) -> bool {
        self.state(name).borrow().is_some()
    }
}

/// A job's task, stopped when its keeper stops.
struct Job(tokio::task::JoinHandle<()>);

impl Drop for Job {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Reads the key directory again every `every`, on every replica: one that
/// runs no timers forgets the keys that the rotation, run on another,
/// destroyed (see [`Db::refresh_keys`]).
pub async fn refresh_keys(db: Db, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = db.refresh_keys().await {
            tracing::warn!(error = %e, "key directory not read again; next at the next interval");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use super::*;

    /// A job that stops on its own (a dispatcher told that a newer one
    /// delivers) leaves the replica asking for the lease again, and running
    /// the job again once it has it: the loop outlives its job.
    #[tokio::test]
    async fn a_job_that_stops_on_its_own_runs_again_at_the_next_lease() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("r.db").display());
        let db = Db::open(&url.into(), &dir.path().join("keys"), 2, 5000).unwrap();
        let replica = Replica::new(db, Some("test"), Duration::from_millis(500));
        let runs = Arc::new(AtomicUsize::new(0));
        let counted = runs.clone();
        let hold = tokio::spawn(replica.hold(crate::app::leases::DISPATCHER, move |_term| {
            let runs = counted.clone();
            async move {
                runs.fetch_add(1, Ordering::SeqCst);
            }
        }));
        let since = Instant::now();
        while runs.load(Ordering::SeqCst) < 2 && since.elapsed() < Duration::from_secs(10) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(
            !hold.is_finished(),
            "the lease loop ended: {:?}",
            hold.await
        );
        assert!(runs.load(Ordering::SeqCst) >= 2);
        hold.abort();
    }
}
