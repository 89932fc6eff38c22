//! The two nodes under test (NE and NG on loopback, each with its own SQLite
//! database, over mTLS): starting, restarting and stopping them, and seeding
//! submitted cases on the sending node (setup, not timed).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::Utc;

use crate::app::cases::{self as repo, NewDraft};
use crate::app::NodeCtx;
use crate::config::Settings;
use crate::domain::case::CaseDetails;
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

pub(super) struct Pair {
    pub(super) ne: Node,
    pub(super) ng: Node,
    pub(super) dir: PathBuf,
    certs: PathBuf,
    pub(super) ports: (u16, u16),
    batch_size: usize,
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
    pub(super) async fn new(certs: &Path, batch_size: usize) -> anyhow::Result<Pair> {
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

    pub(super) async fn restart_ng(&mut self) -> anyhow::Result<()> {
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

    pub(super) async fn stop(self) {
        self.ne.stop.stop(false).await;
        self.ng.stop.stop(false).await;
        let _ = self.ne.task.await;
        let _ = self.ng.task.await;
        let _ = std::fs::remove_dir_all(&self.dir);
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
