//! The two nodes compare every shared case at `peer.compare_interval_secs`
//! (and on demand), detect any disagreement on both sides in the same round,
//! and repair it by the rule of [`crate::domain::convergence`].
//!
//! A round costs two small requests when the nodes agree:
//! 1. `POST /peer/v1/cases/digest`: this node's bucket hashes (256 buckets by
//!    referral id, 16 bytes each); the peer answers with its own.
//! 2. For the buckets that differ, `POST /peer/v1/cases/compare` with this
//!    node's digests of their cases, in pieces sized to the link; the peer
//!    judges them against its own, repairs its side, and answers with its
//!    digests, which this node judges in turn.

use crate::domain::problem::ProblemCode;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use actix_web::{post, web, HttpResponse};
use serde::{Deserialize, Serialize};

use super::client::{PeerClient, SendError};
use super::error::PeerError;
use super::server::PeerState;
use crate::app::cases::{self, CaseError};
use crate::app::NodeCtx;
use crate::domain::convergence::{bucket, bucket_hash, judge, CaseDigest, Repair, Verdict};
use crate::domain::ids::{CaseId, NodeId, ReferralId};
use crate::store::convergence as store;
use crate::store::{AnyConnection, Db, DbError};
use crate::telemetry::Metrics;

/// Bucket hashes of one node's shared cases.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Buckets {
    /// Bucket (two hex digits) → hash of its cases' digests (empty buckets left out).
    pub buckets: BTreeMap<String, String>,
}

/// The asking node's digests of the cases in some buckets.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Compare {
    pub buckets: Vec<String>,
    pub cases: Vec<CaseDigest>,
}

/// The answering node's digests of the cases in the same buckets (as they
/// were before it repaired anything), and the referrals it repaired on its
/// side: the asking node records those disagreements but leaves them be.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Compared {
    pub cases: Vec<CaseDigest>,
    pub repaired: Vec<String>,
}

/// What a round found.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct RoundReport {
    /// Shared cases on this node.
    pub cases: usize,
    /// Buckets whose hashes differed.
    pub buckets_differing: usize,
    /// Cases compared in detail.
    pub compared: usize,
    /// Cases on which the nodes disagree (found in this round, on this side).
    pub disagreements: usize,
    /// Of those, repaired on this side in this round (re-applied or adopted).
    pub repaired: usize,
    /// Of those, put to a supervisor.
    pub escalated: usize,
    /// Referrals repaired on this side (for the other side).
    #[serde(skip)]
    pub repaired_here: Vec<String>,
}

fn first_node(node: NodeId) -> bool {
    node == NodeId::NeAnltp
}

/// Bucket hashes of this node's digests. A bucket holding a case with an
/// open disagreement is advertised under a hash the other node cannot
/// match, so that it is compared in detail (and the disagreement closed once
/// both agree).
fn bucket_map(
    node: NodeId,
    digests: &[(CaseId, CaseDigest)],
    open: &[String],
) -> BTreeMap<String, String> {
    let mut by_bucket: BTreeMap<String, Vec<&CaseDigest>> = BTreeMap::new();
    for (_, d) in digests {
        by_bucket.entry(bucket(&d.referral_id)).or_default().push(d);
    }
    let recheck: std::collections::HashSet<String> = open.iter().map(|r| bucket(r)).collect();
    by_bucket
        .into_iter()
        .map(|(b, ds)| {
            let hash = bucket_hash(&ds, first_node(node));
            let hash = if recheck.contains(&b) {
                format!("open:{node}:{hash}")
            } else {
                hash
            };
            (b, hash)
        })
        .collect()
}

fn in_buckets(digests: Vec<(CaseId, CaseDigest)>, buckets: &[String]) -> Vec<(CaseId, CaseDigest)> {
    digests
        .into_iter()
        .filter(|(_, d)| buckets.contains(&bucket(&d.referral_id)))
        .collect()
}

fn peer_of(t: &CaseDigest) -> (&str, Option<&str>) {
    (t.state.as_str(), t.hold_from.as_deref())
}

fn case_failure(e: CaseError) -> DbError {
    match e {
        CaseError::Db(d) => d,
        other => DbError::Corrupt(other.to_string()),
    }
}

/// Judges this node's digests against the other node's and repairs this
/// side, in one transaction.
fn evaluate(
    conn: &mut AnyConnection,
    ctx: &NodeCtx,
    mine: &[(CaseId, CaseDigest)],
    theirs: &[CaseDigest],
    repaired_there: &[String],
) -> Result<RoundReport, DbError> {
    let now = ctx.clock.now();
    let theirs: HashMap<&str, &CaseDigest> =
        theirs.iter().map(|d| (d.referral_id.as_str(), d)).collect();
    let mut report = RoundReport {
        compared: mine.len(),
        ..Default::default()
    };
    for (case, m) in mine {
        let Some(t) = theirs.get(m.referral_id.as_str()) else {
            // The other node has no copy although nothing is travelling.
            if m.settled && m.sent_seq > 0 {
                report.disagreements += 1;
                report.escalated += 1;
                store::record(
                    conn,
                    *case,
                    m,
                    ("absent", None),
                    Repair::Escalate.resolution(),
                    now,
                )?;
            }
            continue;
        };
        let repair = match judge(m, t) {
            Verdict::Agree => {
                store::resolve(conn, &m.referral_id, now)?;
                continue;
            }
            Verdict::InFlight => continue,
            Verdict::Disagree(r) => r,
        };
        report.disagreements += 1;
        if repaired_there.contains(&m.referral_id) {
            // The other node repaired its side in this round.
            store::record(conn, *case, m, peer_of(t), "repaired_at_peer", now)?;
            continue;
        }
        // The case may have moved since its digest was read: judge it next round.
        let current = cases::get(conn, *case).map_err(case_failure)?;
        if current.state.as_str() != m.state {
            continue;
        }
        let referral: ReferralId = m
            .referral_id
            .parse()
            .map_err(|_| DbError::Corrupt(format!("referral id `{}`", m.referral_id)))?;
        // 1. Messages of theirs this node rejected are applied again first.
        if crate::app::inbox::reapply_rejected(conn, ctx, referral, now)? > 0 {
            report.repaired += 1;
            report.repaired_here.push(m.referral_id.clone());
            store::record(conn, *case, m, peer_of(t), "reapplied", now)?;
            continue;
        }
        let resolution = match (repair, crate::domain::lifecycle::State::parse(&t.state)) {
            (Repair::AdoptTheirs, Some(to)) => {
                let hold_from = t
                    .hold_from
                    .as_deref()
                    .and_then(crate::domain::lifecycle::State::parse);
                cases::resynchronise(conn, ctx, *case, to, hold_from, now).map_err(case_failure)?;
                report.repaired += 1;
                report.repaired_here.push(m.referral_id.clone());
                Repair::AdoptTheirs.resolution()
            }
            (Repair::KeepOurs, _) => Repair::KeepOurs.resolution(),
            _ => {
                report.escalated += 1;
                Repair::Escalate.resolution()
            }
        };
        store::record(conn, *case, m, peer_of(t), resolution, now)?;
    }
    // Cases the other node holds and this one does not: a referral this node
    // rejected is applied again (rule 1).
    let known: std::collections::HashSet<&str> =
        mine.iter().map(|(_, d)| d.referral_id.as_str()).collect();
    for t in theirs.values() {
        if known.contains(t.referral_id.as_str()) || !t.settled || t.sent_seq == 0 {
            continue;
        }
        let Ok(referral) = t.referral_id.parse::<ReferralId>() else {
            continue;
        };
        if cases::find_by_referral(conn, referral)
            .map_err(case_failure)?
            .is_some()
        {
            continue; // not shared yet here (compared once messages moved)
        }
        report.disagreements += 1;
        if crate::app::inbox::reapply_rejected(conn, ctx, referral, now)? > 0 {
            report.repaired += 1;
            report.repaired_here.push(t.referral_id.clone());
        }
    }
    Ok(report)
}

/// This node's digests, and the referrals with an open disagreement.
async fn own_digests(db: &Db) -> Result<(Vec<(CaseId, CaseDigest)>, Vec<String>), DbError> {
    db.read(|c| {
        let digests = store::digests(c)?;
        let open = store::list(c, true, 100_000)?
            .into_iter()
            .map(|r| r.referral_id)
            .collect();
        Ok((digests, open))
    })
    .await
}

/// The peer's bucket hashes: answered with this node's.
#[post("/peer/v1/cases/digest")]
pub async fn digest(
    state: web::Data<PeerState>,
    _theirs: web::Json<Buckets>,
) -> Result<HttpResponse, PeerError> {
    let (mine, open) = own_digests(&state.db).await?;
    Ok(HttpResponse::Ok().json(Buckets {
        buckets: bucket_map(state.ctx.node, &mine, &open),
    }))
}

/// The peer's digests of some buckets: judged against this node's (this
/// side repaired), answered with this node's digests of the same buckets.
#[post("/peer/v1/cases/compare")]
pub async fn compare(
    state: web::Data<PeerState>,
    body: web::Json<Compare>,
) -> Result<HttpResponse, PeerError> {
    let Compare { buckets, cases } = body.into_inner();
    if buckets.len() > 256 || buckets.iter().any(|b| b.len() != 2) {
        return Err(PeerError::Refused(
            ProblemCode::InvalidBuckets,
            "at most 256 buckets of two hex digits".into(),
        ));
    }
    // Read outside the write lock; only repairs take it.
    let read = move |c: &mut AnyConnection| {
        let mut mine = in_buckets(store::digests(c)?, &buckets);
        store::fill_acks(c, &mut mine)?;
        Ok::<_, DbError>(mine)
    };
    let mine = state.db.read(read).await?;
    let ctx = state.ctx.clone();
    let (report, mine) = state
        .db
        .write(move |c| {
            let report = evaluate(c, &ctx, &mine, &cases, &[])?;
            Ok::<_, DbError>((report, mine))
        })
        .await?;
    if report.disagreements > 0 {
        tracing::warn!(
            disagreements = report.disagreements,
            repaired = report.repaired,
            escalated = report.escalated,
            "the nodes disagree on shared cases (compared at the peer's request)"
        );
    }
    Ok(HttpResponse::Ok().json(Compared {
        cases: mine.into_iter().map(|(_, d)| d).collect(),
        repaired: report.repaired_here,
    }))
}

/// Registers the comparison routes on the peer listener.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(digest).service(compare);
}

/// The node side: compares with the peer and repairs.
#[derive(Clone)]
pub struct Convergence {
    pub db: Db,
    pub ctx: Arc<NodeCtx>,
    pub client: PeerClient,
    pub metrics: Metrics,
    /// One round at a time (the interval and on-demand requests).
    pub lock: Arc<tokio::sync::Mutex<()>>,
}

/// Bytes one digest takes on the wire, about.
const DIGEST_BYTES: usize = 200;

impl Convergence {
    /// One comparison with the peer.
    pub async fn round(&self) -> Result<RoundReport, SendError> {
        let _one_at_a_time = self.lock.lock().await;
        let db_failed = |e: DbError| SendError::Protocol(format!("database: {e}"));
        let (mine, open) = own_digests(&self.db).await.map_err(db_failed)?;
        let node = self.ctx.node;
        let ours = bucket_map(node, &mine, &open);
        let (theirs, _): (Buckets, _) = self
            .client
            .post(
                "/peer/v1/cases/digest",
                &Buckets {
                    buckets: ours.clone(),
                },
            )
            .await?;
        let mut differing: Vec<String> = ours
            .iter()
            .filter(|(b, h)| theirs.buckets.get(*b) != Some(*h))
            .map(|(b, _)| b.clone())
            .collect();
        differing.extend(
            theirs
                .buckets
                .keys()
                .filter(|b| !ours.contains_key(*b))
                .cloned(),
        );
        let mut report = RoundReport {
            cases: mine.len(),
            buckets_differing: differing.len(),
            ..Default::default()
        };
        let mut by_bucket: BTreeMap<String, Vec<(CaseId, CaseDigest)>> = BTreeMap::new();
        for (id, d) in in_buckets(mine, &differing) {
            by_bucket
                .entry(bucket(&d.referral_id))
                .or_default()
                .push((id, d));
        }
        // Pieces of whole buckets, each within the link's byte budget.
        let budget = self.client.link().budget().max(DIGEST_BYTES);
        let mut pieces: Vec<Vec<String>> = Vec::new();
        let mut used = usize::MAX;
        for b in &differing {
            let size = by_bucket.get(b).map_or(0, Vec::len) * DIGEST_BYTES;
            if used.saturating_add(size) > budget {
                pieces.push(Vec::new());
                used = 0;
            }
            used += size;
            if let Some(p) = pieces.last_mut() {
                p.push(b.clone());
            }
        }
        for piece in pieces {
            let mut mine: Vec<(CaseId, CaseDigest)> = piece
                .iter()
                .flat_map(|b| by_bucket.remove(b).unwrap_or_default())
                .collect();
            let db = self.db.clone();
            mine = db
                .read(move |c| {
                    store::fill_acks(c, &mut mine)?;
                    Ok::<_, DbError>(mine)
                })
                .await
                .map_err(db_failed)?;
            let (answer, _): (Compared, _) = self
                .client
                .post(
                    "/peer/v1/cases/compare",
                    &Compare {
                        buckets: piece.clone(),
                        cases: mine.iter().map(|(_, d)| d.clone()).collect(),
                    },
                )
                .await?;
            let ctx = self.ctx.clone();
            let part = self
                .db
                .write(move |c| evaluate(c, &ctx, &mine, &answer.cases, &answer.repaired))
                .await
                .map_err(db_failed)?;
            report.compared += part.compared;
            report.disagreements += part.disagreements;
            report.repaired += part.repaired;
            report.escalated += part.escalated;
        }
        let open = self
            .db
            .read(|c| store::list(c, true, 100_000))
            .await
            .map_err(db_failed)?
            .len();
        self.metrics.peer_disagreements.set(open as i64);
        if report.disagreements > 0 {
            tracing::warn!(
                disagreements = report.disagreements,
                repaired = report.repaired,
                escalated = report.escalated,
                "the nodes disagree on shared cases"
            );
        }
        Ok(report)
    }

    /// Runs rounds at `interval` (the first one interval after start-up)
    /// until the task is dropped.
    pub async fn run(self, interval: Duration) {
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = self.round().await {
                tracing::warn!(error = %e, "comparison with the peer failed; next at the next interval");
            }
        }
    }
}
