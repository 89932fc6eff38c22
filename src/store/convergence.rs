//! Storage side of the two nodes' comparison of their shared cases: the
//! digest of every shared case, and the disagreements found.

use std::collections::{HashMap, HashSet};

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::models::DisagreementRow;
use super::schema::{case_disagreements, case_events, cases, inbox_messages, outbox_messages};
use super::{alerts, audit, outbox, AnyConnection, DbError};
use crate::audit::Entry;
use crate::domain::convergence::CaseDigest;
use crate::domain::ids::CaseId;
use crate::domain::lifecycle::State;

/// States in which the other node does not know the case.
const UNSHARED: [&str; 3] = ["draft", "submitted", "entered_in_error"];

/// The digest of every case shared with the other node, with its case id.
pub fn digests(conn: &mut AnyConnection) -> Result<Vec<(CaseId, CaseDigest)>, DbError> {
    let rows: Vec<(String, String, String, Option<String>)> = cases::table
        .filter(cases::state.ne_all(UNSHARED))
        .select((
            cases::id,
            cases::referral_id,
            cases::state,
            cases::hold_from_state,
        ))
        .load(conn)?;
    // The state the timeline records at the case's current version.
    let recorded: HashMap<String, String> = cases::table
        .inner_join(case_events::table)
        .filter(case_events::version.eq(cases::version))
        .filter(cases::state.ne_all(UNSHARED))
        .select((cases::id, case_events::to_state))
        .load::<(String, String)>(conn)?
        .into_iter()
        .collect();
    // Per case: the last message sent, and the cases with one not settled.
    let last_sent: HashMap<String, i64> = outbox_messages::table
        .group_by(outbox_messages::case_id)
        .select((
            outbox_messages::case_id,
            diesel::dsl::max(outbox_messages::seq),
        ))
        .load::<(String, Option<i64>)>(conn)?
        .into_iter()
        .map(|(c, s)| (c, s.unwrap_or(0)))
        .collect();
    let unsettled: HashSet<String> = outbox_messages::table
        .filter(
            outbox_messages::status.eq_any([outbox::status::PENDING, outbox::status::SUSPENDED]),
        )
        .select(outbox_messages::case_id)
        .distinct()
        .load::<String>(conn)?
        .into_iter()
        .collect();
    let received: HashMap<String, i64> = inbox_messages::table
        .group_by(inbox_messages::referral_id)
        .select((
            inbox_messages::referral_id,
            diesel::dsl::max(inbox_messages::seq),
        ))
        .load::<(String, Option<i64>)>(conn)?
        .into_iter()
        .map(|(r, s)| (r, s.unwrap_or(0)))
        .collect();
    let digests: Result<Vec<(CaseId, CaseDigest)>, DbError> = rows
        .into_iter()
        .map(|(id, referral_id, state, hold_from)| {
            let case: CaseId = id
                .parse()
                .map_err(|_| DbError::Corrupt(format!("case id `{id}`")))?;
            let sent_seq = last_sent.get(&id).copied().unwrap_or(0);
            let digest = CaseDigest {
                received_seq: received.get(&referral_id).copied().unwrap_or(0),
                consistent: recorded.get(&id) == Some(&state),
                referral_id,
                state,
                hold_from,
                sent_seq,
                // Filled for the cases that are compared in detail (`fill_acks`).
                sent_ack: 0,
                settled: !unsettled.contains(&id),
            };
            Ok((case, digest))
        })
        .collect();
    // Shared: a message went one way or the other about it.
    Ok(digests?
        .into_iter()
        .filter(|(_, d)| d.sent_seq > 0 || d.received_seq > 0)
        .collect())
}

/// Fills in `sent_ack` (what this node had received when it sent its last
/// message about the case) from the signed envelopes; an erased envelope
/// leaves 0.
pub fn fill_acks(
    conn: &mut AnyConnection,
    digests: &mut [(CaseId, CaseDigest)],
) -> Result<(), DbError> {
    let seqs: Vec<i64> = digests
        .iter()
        .map(|(_, d)| d.sent_seq)
        .filter(|s| *s > 0)
        .collect();
    let mut acks: HashMap<i64, i64> = HashMap::new();
    for chunk in seqs.chunks(500) {
        let bodies: Vec<(i64, String, String)> = outbox_messages::table
            .filter(outbox_messages::seq.eq_any(chunk))
            .select((
                outbox_messages::seq,
                outbox_messages::referral_id,
                outbox_messages::body,
            ))
            .load(conn)?;
        let referrals: Vec<String> = bodies.iter().map(|b| b.1.clone()).collect();
        super::sealed::prefetch(conn, &referrals)?;
        for (seq, referral, stored) in bodies {
            let body = super::sealed::open(conn, &referral, super::sealed::Column::Body, &stored)?
                .unwrap_or_default();
            let ack = serde_json::from_str::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v.get("ack").and_then(serde_json::Value::as_i64))
                .unwrap_or(0);
            acks.insert(seq, ack);
        }
    }
    for (_, d) in digests.iter_mut() {
        d.sent_ack = acks.get(&d.sent_seq).copied().unwrap_or(0);
    }
    Ok(())
}

/// Records a disagreement found on a case (or updates the open one). The
/// first detection raises an alert and is written to the audit log.
#[allow(clippy::too_many_arguments)]
pub fn record(
    conn: &mut AnyConnection,
    case: CaseId,
    mine: &CaseDigest,
    peer: (&str, Option<&str>),
    resolution: &str,
    now: NaiveDateTime,
) -> Result<bool, DbError> {
    let (peer_state, peer_hold_from) = peer;
    let open: Option<DisagreementRow> = case_disagreements::table
        .find(&mine.referral_id)
        .filter(case_disagreements::resolved_at.is_null())
        .select(DisagreementRow::as_select())
        .first(conn)
        .optional()?;
    if open.is_some() {
        diesel::update(case_disagreements::table.find(&mine.referral_id))
            .set((
                case_disagreements::local_state.eq(&mine.state),
                case_disagreements::peer_state.eq(peer_state),
                case_disagreements::peer_hold_from.eq(peer_hold_from),
                case_disagreements::checked_at.eq(now),
                case_disagreements::resolution.eq(resolution),
            ))
            .execute(conn)?;
        return Ok(false);
    }
    diesel::delete(case_disagreements::table.find(&mine.referral_id)).execute(conn)?;
    diesel::insert_into(case_disagreements::table)
        .values(DisagreementRow {
            referral_id: mine.referral_id.clone(),
            case_id: case.to_string(),
            local_state: mine.state.clone(),
            peer_state: peer_state.to_owned(),
            peer_hold_from: peer_hold_from.map(str::to_owned),
            detected_at: now,
            checked_at: now,
            resolution: resolution.to_owned(),
            resolved_at: None,
        })
        .execute(conn)?;
    alerts::alert(
        conn,
        "case_disagreement",
        &format!(
            "referral {}: `{}` here, `{peer_state}` at the other node ({resolution})",
            mine.referral_id, mine.state
        ),
        now,
    )?;
    let mut e = Entry::new("case_disagreement", "system", "convergence");
    e.case_id = Some(case.to_string());
    e.referral_id = Some(mine.referral_id.clone());
    e.outcome = "detected".into();
    e.code = Some(resolution.to_owned());
    audit::append(conn, e)?;
    Ok(true)
}

/// The nodes agree again on a referral: its open disagreement is closed.
pub fn resolve(
    conn: &mut AnyConnection,
    referral: &str,
    now: NaiveDateTime,
) -> Result<bool, DbError> {
    let n = diesel::update(
        case_disagreements::table
            .find(referral)
            .filter(case_disagreements::resolved_at.is_null()),
    )
    .set((
        case_disagreements::resolved_at.eq(Some(now)),
        case_disagreements::checked_at.eq(now),
    ))
    .execute(conn)?;
    if n > 0 {
        let mut e = Entry::new("case_disagreement", "system", "convergence");
        e.referral_id = Some(referral.to_owned());
        e.outcome = "resolved".into();
        audit::append(conn, e)?;
    }
    Ok(n > 0)
}

/// Disagreements, open ones first, newest first.
pub fn list(
    conn: &mut AnyConnection,
    open_only: bool,
    limit: i64,
) -> Result<Vec<DisagreementRow>, DbError> {
    let mut q = case_disagreements::table
        .select(DisagreementRow::as_select())
        .into_boxed();
    if open_only {
        q = q.filter(case_disagreements::resolved_at.is_null());
    }
    Ok(q.order(case_disagreements::detected_at.desc())
        .limit(limit)
        .load(conn)?)
}

/// The open disagreement on one case, if any.
pub fn open_for_case(
    conn: &mut AnyConnection,
    case: CaseId,
) -> Result<Option<DisagreementRow>, DbError> {
    Ok(super::cached::native!(conn, |c| case_disagreements::table
        .filter(case_disagreements::case_id.eq(case.to_string()))
        .filter(case_disagreements::resolved_at.is_null())
        .select(DisagreementRow::as_select())
        .first(c)
        .optional())?)
}

/// Parses a state from the other node's digest.
pub fn state_of(s: &str) -> Option<State> {
    State::parse(s)
}

/// A supervisor settled the disagreement by adopting the other node's state
/// (closed when the next comparison finds both agree).
pub fn settled_by_supervisor(
    conn: &mut AnyConnection,
    referral: &str,
    now: NaiveDateTime,
) -> Result<(), DbError> {
    diesel::update(case_disagreements::table.find(referral))
        .set((
            case_disagreements::resolution.eq("adopted_by_supervisor"),
            case_disagreements::checked_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}
