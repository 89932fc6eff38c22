//! Keeping the two nodes' copies of every shared case in agreement: this
//! node's digests of its shared cases, and the judgement of the other
//! node's digests against them, with this side's repair by the rule of
//! [`crate::domain::convergence`] (messages applied again, the other side's
//! state adopted, or a supervisor asked). The exchange of digests is the
//! peer adapter's (`peer::convergence`).

use std::collections::HashMap;

use serde::Serialize;

use super::cases::{self, CaseError};
use super::NodeCtx;
use crate::domain::convergence::{bucket, judge, CaseDigest, Repair, Verdict};
use crate::domain::ids::{CaseId, ReferralId};
use crate::store::convergence as store;
use crate::store::{AnyConnection, DbError};

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

/// This node's digests of its shared cases, and the referrals with an open
/// disagreement.
pub type Digests = (Vec<(CaseId, CaseDigest)>, Vec<String>);

/// This node's digests of its shared cases, and the referrals with an open
/// disagreement.
pub fn digests(conn: &mut AnyConnection) -> Result<Digests, DbError> {
    let digests = store::digests(conn)?;
    let open = store::list(conn, true, 100_000)?
        .into_iter()
        .map(|r| r.referral_id)
        .collect();
    Ok((digests, open))
}

/// This node's digests of the cases in these buckets, with what each side
/// has acknowledged of the other's messages.
pub fn digests_in(
    conn: &mut AnyConnection,
    buckets: &[String],
) -> Result<Vec<(CaseId, CaseDigest)>, DbError> {
    let all = store::digests(conn)?;
    with_acks(conn, in_buckets(all, buckets))
}

/// These digests with what each side has acknowledged of the other's messages.
pub fn with_acks(
    conn: &mut AnyConnection,
    mut digests: Vec<(CaseId, CaseDigest)>,
) -> Result<Vec<(CaseId, CaseDigest)>, DbError> {
    store::fill_acks(conn, &mut digests)?;
    Ok(digests)
}

/// The digests of the cases in these buckets.
pub fn in_buckets(
    digests: Vec<(CaseId, CaseDigest)>,
    buckets: &[String],
) -> Vec<(CaseId, CaseDigest)> {
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
pub fn evaluate(
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
