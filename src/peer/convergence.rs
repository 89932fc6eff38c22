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
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use actix_web::{post, web, HttpResponse};
use serde::{Deserialize, Serialize};

use super::client::{PeerClient, SendError};
use super::error::PeerError;
use super::server::PeerState;
use crate::app::convergence::{self, RoundReport};
use crate::app::NodeCtx;
use crate::domain::convergence::{bucket, bucket_hash, CaseDigest};
use crate::domain::ids::{CaseId, NodeId};
use crate::store::{Db, DbError};
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

/// The peer's bucket hashes: answered with this node's.
#[post("/peer/v1/cases/digest")]
pub async fn digest(
    state: web::Data<PeerState>,
    _theirs: web::Json<Buckets>,
) -> Result<HttpResponse, PeerError> {
    let (mine, open) = state.db.read(convergence::digests).await?;
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
    let mine = state
        .db
        .read(move |c| convergence::digests_in(c, &buckets))
        .await?;
    let ctx = state.ctx.clone();
    let (report, mine) = state
        .db
        .write(move |c| {
            let report = convergence::evaluate(c, &ctx, &mine, &cases, &[])?;
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
        let (mine, open) = self
            .db
            .read(convergence::digests)
            .await
            .map_err(db_failed)?;
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
        for (id, d) in convergence::in_buckets(mine, &differing) {
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
            let mine: Vec<(CaseId, CaseDigest)> = piece
                .iter()
                .flat_map(|b| by_bucket.remove(b).unwrap_or_default())
                .collect();
            let mine = self
                .db
                .read(move |c| convergence::with_acks(c, mine))
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
                .write(move |c| {
                    convergence::evaluate(c, &ctx, &mine, &answer.cases, &answer.repaired)
                })
                .await
                .map_err(db_failed)?;
            report.compared += part.compared;
            report.disagreements += part.disagreements;
            report.repaired += part.repaired;
            report.escalated += part.escalated;
        }
        let open = self
            .db
            .read(|c| crate::app::disagreements::list(c, true, 100_000))
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
