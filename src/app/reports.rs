//! Repatriation reports and reintegration follow-ups.

use chrono::{NaiveDateTime, SubsecRound};
use serde_json::json;

use super::cases::*;
use super::erasure::peer_holds;
use super::exchange as peer;
use super::NodeCtx;
use crate::domain::ids::CaseId;
use crate::domain::lifecycle::{Side, State, TransitionParams};
use crate::domain::message_type::MessageType;
pub use crate::store::reports::Report;
use crate::store::users::Principal;
use crate::store::{case_events, reports as rows, AnyConnection, DbError};

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
                if !case
                    .details
                    .consent
                    .as_ref()
                    .is_some_and(|c| c.covers(scope))
                {
                    return Err(CaseError::ConsentScope(scope));
                }
            }
            let n = rows::count(conn, case.id, "repatriation")?;
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
    if rows::exists(conn, case.id, kind, number)? {
        return Err(CaseError::ReportExists(number));
    }
    rows::insert(
        conn,
        case.id,
        &Report {
            kind: kind.into(),
            number,
            data: data.clone(),
            by,
            recorded_at: now,
        },
    )?;
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

/// A case's reports, by kind and number.
pub fn reports(conn: &mut AnyConnection, id: CaseId) -> Result<Vec<Report>, CaseError> {
    Ok(rows::list(conn, id)?)
}

/// When reintegration monitoring started (the first such event).
pub fn monitoring_started(
    conn: &mut AnyConnection,
    id: CaseId,
) -> Result<Option<NaiveDateTime>, DbError> {
    case_events::first_entered(conn, id, State::ReintegrationMonitoring)
}
