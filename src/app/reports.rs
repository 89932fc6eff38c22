//! Repatriation reports and reintegration follow-ups.

use crate::domain::message_type::MessageType;
use chrono::{NaiveDateTime, SubsecRound};
use diesel::prelude::*;
use serde_json::json;

use super::cases::*;
use super::erasure::peer_holds;
use super::exchange as peer;
use super::NodeCtx;
use crate::domain::ids::{CaseId, MessageId};
use crate::domain::lifecycle::{Side, State, TransitionParams};
use crate::store::schema::case_events;
use crate::store::users::Principal;
use crate::store::{AnyConnection, DbError};

/// A repatriation report or a reintegration follow-up, as stored.
#[derive(Debug, Clone)]
pub struct Report {
    /// `repatriation` or `follow_up`.
    pub kind: String,
    /// Follow-up number, or the repatriation report's order.
    pub number: i64,
    /// The coded report (JSON).
    pub data: serde_json::Value,
    /// Which side recorded it.
    pub by: Side,
    pub recorded_at: NaiveDateTime,
}

/// What is being reported.
pub enum NewReport {
    Repatriation(crate::domain::reports::Repatriation),
    FollowUp(crate::domain::reports::FollowUp),
}

/// Records a report on `case` by this node's `user` (and sends it to the
/// other node) or by the other node (`user` is `None`).
pub fn record_report(
    conn: &mut AnyConnection,
    ctx: &NodeCtx,
    case: Case,
    report: NewReport,
    user: Option<&Principal>,
    now: NaiveDateTime,
) -> Result<Case, CaseError> {
    use crate::store::schema::case_reports;
    let now = now.trunc_subsecs(6);
    let by = if user.is_some() {
        case.side
    } else {
        case.side.other()
    };
    if case.erased_at.is_some() {
        return Err(CaseError::AlreadyErased);
    }
    let (kind, number, data, message, event) = match &report {
        NewReport::Repatriation(r) => {
            if let Some(scope) = r.needs_scope() {
                let covered = case.details.consent.as_ref().is_some_and(|c| {
                    c.withdrawn_on.is_none() && c.scope.iter().any(|s| s == scope)
                });
                if !covered {
                    return Err(CaseError::ConsentScope(scope));
                }
            }
            let n: i64 = case_reports::table
                .filter(case_reports::case_id.eq(case.id.to_string()))
                .filter(case_reports::kind.eq("repatriation"))
                .count()
                .get_result(conn)?;
            (
                "repatriation",
                n + 1,
                serde_json::to_value(r).map_err(|e| DbError::Corrupt(e.to_string()))?,
                MessageType::RepatriationUpdate,
                "repatriation_report".to_owned(),
            )
        }
        NewReport::FollowUp(f) => {
            if by != Side::Receiving {
                return Err(CaseError::ReportWrongSide {
                    report: "follow-ups",
                    side: "receiving",
                });
            }
            if case.state != State::ReintegrationMonitoring {
                return Err(CaseError::NotInMonitoring(case.state));
            }
            (
                "follow_up",
                i64::from(f.number),
                serde_json::to_value(f).map_err(|e| DbError::Corrupt(e.to_string()))?,
                MessageType::ReintegrationUpdate,
                format!("follow_up_{}", f.number),
            )
        }
    };
    let exists: i64 = case_reports::table
        .filter(case_reports::case_id.eq(case.id.to_string()))
        .filter(case_reports::kind.eq(kind))
        .filter(case_reports::number.eq(number))
        .count()
        .get_result(conn)?;
    if exists > 0 {
        return Err(CaseError::ReportExists(number));
    }
    diesel::insert_into(case_reports::table)
        .values((
            case_reports::id.eq(MessageId::new().to_string()),
            case_reports::case_id.eq(case.id.to_string()),
            case_reports::kind.eq(kind),
            case_reports::number.eq(number),
            case_reports::data.eq(data.to_string()),
            case_reports::by_side.eq(match by {
                Side::Sending => "sending",
                Side::Receiving => "receiving",
            }),
            case_reports::recorded_at.eq(now),
        ))
        .execute(conn)?;
    let params = TransitionParams {
        reason_code: None,
        outcome: None,
        comment: None,
        handover: None,
    };
    let case = note_event(conn, case, &event, user, &params, now)?;
    if user.is_some() && peer_holds(conn, &case)? {
        peer::append_outgoing(
            conn,
            ctx,
            case.id,
            case.referral_id,
            message,
            json!({ "report": data }),
            now,
        )?;
    }
    Ok(case)
}

/// A case's reports, oldest first.
pub fn reports(conn: &mut AnyConnection, id: CaseId) -> Result<Vec<Report>, CaseError> {
    use crate::store::schema::case_reports;
    let rows: Vec<(String, i64, String, String, NaiveDateTime)> = case_reports::table
        .filter(case_reports::case_id.eq(id.to_string()))
        .order((case_reports::kind.asc(), case_reports::number.asc()))
        .select((
            case_reports::kind,
            case_reports::number,
            case_reports::data,
            case_reports::by_side,
            case_reports::recorded_at,
        ))
        .load(conn)?;
    rows.into_iter()
        .map(|(kind, number, data, by, recorded_at)| {
            Ok(Report {
                kind,
                number,
                data: serde_json::from_str(&data)
                    .map_err(|e| DbError::Corrupt(format!("report: {e}")))?,
                by: if by == "sending" {
                    Side::Sending
                } else {
                    Side::Receiving
                },
                recorded_at,
            })
        })
        .collect()
}

/// When reintegration monitoring started (the first such event).
pub fn monitoring_started(
    conn: &mut AnyConnection,
    id: CaseId,
) -> Result<Option<NaiveDateTime>, DbError> {
    Ok(case_events::table
        .filter(case_events::case_id.eq(id.to_string()))
        .filter(case_events::to_state.eq(State::ReintegrationMonitoring.as_str()))
        .select(diesel::dsl::min(case_events::at))
        .first(conn)?)
}
