//! The two nodes under test (NE and NG on loopback, each with its own SQLite
//! database, over mTLS): starting, restarting and stopping them, and seeding
//! submitted cases on the sending node (setup, not timed).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::Utc;

use crate::app::cases::{self as repo, NewDraft};
use crate::app::NodeCtx;
use crate::config::Settings;
use crate::domain::case::{CaseDetails, Identity};
use crate::domain::ids::{CaseId, NodeId};
use crate::domain::lifecycle::{Action, TransitionParams};
use crate::domain::roles::Role;
use crate::startup::{Application, StopHandle};
use crate::store::users::{self, Principal};
use crate::store::AnyConnection;

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Where the two nodes keep their data.
#[derive(Debug, Clone)]
pub enum Backend {
    /// A SQLite file each in a scratch directory (the embedded default).
    Sqlite,
    /// A fresh database each on the PostgreSQL server of `admin_url`,
    /// dropped after the run.
    Postgres { admin_url: String },
}

impl Backend {
    pub(super) fn name(&self) -> &'static str {
        match self {
            Backend::Sqlite => "SQLite (WAL, synchronous=FULL)",
            Backend::Postgres { .. } => "PostgreSQL",
        }
    }
}

pub(super) struct Pair {
    pub(super) ne: Node,
    pub(super) ng: Node,
    pub(super) dir: PathBuf,
    certs: PathBuf,
    pub(super) ports: (u16, u16),
    batch_size: usize,
    /// The nodes' database URLs (`None`: SQLite in `dir`).
    urls: (Option<String>, Option<String>),
    /// Scratch PostgreSQL databases to drop: `(admin URL, name)`.
    scratch: Vec<(String, String)>,
    /// The slow link Niamey reaches Abuja through, if any.
    pub(super) link: Option<super::slowlink::SlowLink>,
}

pub(super) struct Node {
    pub(super) settled: tokio::sync::broadcast::Receiver<String>,
    pub(super) stop: StopHandle,
    pub(super) db: crate::store::Db,
    pub(super) ctx: Arc<NodeCtx>,
    pub(super) api_url: String,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

fn node_settings(
    node: NodeId,
    dir: &Path,
    certs: &Path,
    peer: u16,
    other: u16,
    batch_size: usize,
    url: Option<&String>,
) -> Settings {
    let mut s = crate::demo::settings(node, dir, certs, 0, peer, other);
    if let Some(url) = url {
        s.database.url = Some(url.clone().into());
    }
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
    /// Two fresh nodes on `backend`.
    pub(super) async fn on(
        certs: &Path,
        batch_size: usize,
        backend: &Backend,
    ) -> anyhow::Result<Pair> {
        Self::linked(certs, batch_size, backend, None).await
    }

    /// Two fresh nodes on `backend`, Niamey reaching Abuja through a
    /// simulated `link` when there is one.
    pub(super) async fn linked(
        certs: &Path,
        batch_size: usize,
        backend: &Backend,
        link: Option<super::slowlink::LinkConfig>,
    ) -> anyhow::Result<Pair> {
        let run = uuid::Uuid::now_v7().simple().to_string();
        let dir = std::env::temp_dir().join(format!("passerelle-bench-{run}"));
        std::fs::create_dir_all(&dir)?;
        let mut scratch = Vec::new();
        let urls = match backend {
            Backend::Sqlite => (None, None),
            Backend::Postgres { admin_url } => {
                let mut url = |node: &str| {
                    let name = format!("passerelle_bench_{node}_{run}");
                    let url = crate::store::scratch::create_pg_database(admin_url, &name)?;
                    scratch.push((admin_url.clone(), name));
                    Ok::<_, crate::store::DbError>(Some(url))
                };
                (url("ne")?, url("ng")?)
            }
        };
        let (p1, p2) = (free_port()?, free_port()?);
        let link = match link {
            Some(config) => Some(super::slowlink::SlowLink::start(p2, config).await?),
            None => None,
        };
        let ne = start(node_settings(
            NodeId::NeAnltp,
            &dir.join("ne"),
            certs,
            p1,
            link.as_ref().map_or(p2, |l| l.port()),
            batch_size,
            urls.0.as_ref(),
        ))
        .await?;
        let ng = start(node_settings(
            NodeId::NgNaptip,
            &dir.join("ng"),
            certs,
            p2,
            p1,
            batch_size,
            urls.1.as_ref(),
        ))
        .await?;
        Ok(Pair {
            ne,
            ng,
            dir,
            certs: certs.to_path_buf(),
            ports: (p1, p2),
            batch_size,
            urls,
            scratch,
            link,
        })
    }

    pub(super) async fn restart_ng(&mut self) -> anyhow::Result<()> {
        let (p1, p2) = self.ports;
        self.ng = start(node_settings(
            NodeId::NgNaptip,
            &self.dir.join("ng"),
            &self.certs,
            p2,
            p1,
            self.batch_size,
            self.urls.1.as_ref(),
        ))
        .await?;
        Ok(())
    }

    /// Waits until nothing queued at Niamey is waiting for delivery; fails
    /// after `limit`.
    pub(super) async fn delivered(&self, limit: std::time::Duration) -> anyhow::Result<()> {
        let started = std::time::Instant::now();
        loop {
            let pending = self
                .ne
                .db
                .read(|c| crate::app::exchange::count_outgoing(c, "pending"))
                .await?;
            if pending == 0 {
                return Ok(());
            }
            anyhow::ensure!(
                started.elapsed() < limit,
                "{pending} messages still undelivered after {} s",
                limit.as_secs()
            );
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }

    /// Another replica of Niamey over its database (PostgreSQL), with
    /// listeners of its own; Abuja still reaches the first one.
    pub(super) async fn ne_replica(&self) -> anyhow::Result<Node> {
        let settings = node_settings(
            NodeId::NeAnltp,
            &self.dir.join("ne"),
            &self.certs,
            0,
            self.link.as_ref().map_or(self.ports.1, |l| l.port()),
            self.batch_size,
            self.urls.0.as_ref(),
        );
        start(settings).await
    }

    pub(super) async fn stop(self) {
        self.ne.stop.stop(false).await;
        self.ng.stop.stop(false).await;
        let _ = self.ne.task.await;
        let _ = self.ng.task.await;
        let _ = std::fs::remove_dir_all(&self.dir);
        for (admin, name) in &self.scratch {
            let _ = crate::store::scratch::drop_pg_database(admin, name);
        }
    }
}

impl Node {
    /// Stops this node (a replica) and waits until it has.
    pub(super) async fn stop(self) {
        self.stop.stop(false).await;
        let _ = self.task.await;
    }
}

pub(super) fn ready_details() -> anyhow::Result<CaseDetails> {
    let input: crate::domain::case::CaseDetailsInput = serde_json::from_value(serde_json::json!({
        "person_status": "presumed_victim_trafficking", "sex": "female", "age_band": "15_17", "minor": true,
        "citizenship": "NG", "languages": ["hau"], "risk_level": "high", "requested_services": ["repatriation"],
        "consent": { "scope": ["referral"], "purpose": "voluntary_return", "given_on": Utc::now().date_naive(), "given_by": "guardian" }
    }))?;
    input.parse("").map_err(|e| anyhow::anyhow!("{e:?}"))
}

/// Creates `n` submitted drafts (setup, not timed); with `approve`, approves
/// them too (queuing `n` referral requests). Returns their ids and a supervisor token.
pub(super) fn seed(
    db: &crate::store::Db,
    ctx: &NodeCtx,
    n: usize,
    approve: bool,
) -> anyhow::Result<(Vec<CaseId>, String)> {
    let (principal, secret) = user(db, Role::Supervisor)?;
    let approve_every = if approve { 1 } else { 0 };
    let ids = seed_as(db, ctx, &principal, 0..n, approve_every, false)?;
    Ok((ids, secret))
}

/// A new user of `role` and a day's token for it (setup, not timed).
pub(super) fn user(db: &crate::store::Db, role: Role) -> anyhow::Result<(Principal, String)> {
    let now = Utc::now().naive_utc();
    let name = format!("bench-{}", uuid::Uuid::now_v7().simple());
    let (user, token) = db.write_blocking(|c| {
        let u = users::create_user(c, &name, "Bench", role, "bench", now)?;
        let t = users::issue_token(c, &name, "bench", 1, now)?;
        Ok::<_, users::UserError>((u, t))
    })?;
    let principal = Principal {
        user_id: user.id,
        username: name,
        role,
        token_id: token.id,
    };
    Ok((principal, token.secret))
}

/// The person named in seeded case `i` (see [`seed_as`]): family name
/// `Benchperson{i}`.
pub(super) fn seeded_family_name(i: usize) -> String {
    format!("Benchperson{i}")
}

/// Creates a submitted case for each `i` of `range` as `principal`,
/// approving one in `approve_every` (0: none) so that it is referred; with
/// `named`, each person has a name ([`seeded_family_name`]). Returns the
/// ids.
pub(super) fn seed_as(
    db: &crate::store::Db,
    ctx: &NodeCtx,
    principal: &Principal,
    range: std::ops::Range<usize>,
    approve_every: usize,
    named: bool,
) -> anyhow::Result<Vec<CaseId>> {
    let now = Utc::now().naive_utc();
    let details = ready_details()?;
    let mut ids = Vec::with_capacity(range.len());
    for chunk in range.collect::<Vec<_>>().chunks(1000) {
        let created = db.write_blocking(|c: &mut AnyConnection| {
            let mut out = Vec::new();
            for &i in chunk {
                let identity = named.then(|| Identity {
                    given_name: Some("Amina".into()),
                    family_name: Some(seeded_family_name(i)),
                    other_names: None,
                    date_of_birth: None,
                    phone: Some(format!("+227 90 {i:08}")),
                    family_address: None,
                });
                let draft = NewDraft {
                    node: ctx.node,
                    details: details.clone(),
                    identity,
                    idempotency: None,
                };
                let case = repo::create_draft(c, draft, principal, now)?.case;
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
                    principal,
                    now,
                )?;
                if approve_every > 0 && i % approve_every == 0 {
                    repo::transition(
                        c,
                        ctx,
                        case.id,
                        case.version,
                        Action::Approve,
                        none(),
                        principal,
                        now,
                    )?;
                }
                out.push(case.id);
            }
            Ok::<_, repo::CaseError>(out)
        })?;
        ids.extend(created);
    }
    Ok(ids)
}
