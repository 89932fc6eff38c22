//! Storage of handovers: the plan under negotiation, the departure and each
//! side's confirmation. Called inside the case's transaction.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::handovers;
use super::{AnyConnection, DbError};
use crate::domain::handover::{AtCrossing, Plan, PlanStatus};
use crate::domain::ids::CaseId;
use std::collections::HashMap;

use crate::domain::lifecycle::{Side, State};

/// A case's handover as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handover {
    pub plan: Plan,
    pub proposed_by: Side,
    pub status: PlanStatus,
    /// 1 for the first proposal, +1 for each counter-proposal.
    pub round: i64,
    pub departure: Option<AtCrossing>,
    pub sending: Option<AtCrossing>,
    pub receiving: Option<AtCrossing>,
    pub mismatch: Option<String>,
}

fn side_str(s: Side) -> &'static str {
    match s {
        Side::Sending => "sending",
        Side::Receiving => "receiving",
    }
}

fn json<T: serde::Serialize>(v: &T) -> Result<String, DbError> {
    serde_json::to_string(v).map_err(|e| DbError::Corrupt(e.to_string()))
}

fn parse<T: serde::de::DeserializeOwned>(s: &str) -> Result<T, DbError> {
    serde_json::from_str(s).map_err(|e| DbError::Corrupt(format!("handover: {e}")))
}

/// A handover row as stored (plan and records as JSON).
#[derive(Queryable, Selectable)]
#[diesel(table_name = handovers)]
struct Row {
    plan: String,
    proposed_by: String,
    status: String,
    round: i64,
    departure: Option<String>,
    sending_confirmation: Option<String>,
    receiving_confirmation: Option<String>,
    mismatch: Option<String>,
}

fn parse_row(r: Row) -> Result<Handover, DbError> {
    Ok(Handover {
        plan: parse(&r.plan)?,
        proposed_by: if r.proposed_by == "sending" {
            Side::Sending
        } else {
            Side::Receiving
        },
        status: if r.status == "agreed" {
            PlanStatus::Agreed
        } else {
            PlanStatus::Proposed
        },
        round: r.round,
        departure: r.departure.as_deref().map(parse).transpose()?,
        sending: r.sending_confirmation.as_deref().map(parse).transpose()?,
        receiving: r.receiving_confirmation.as_deref().map(parse).transpose()?,
        mismatch: r.mismatch,
    })
}

/// The case's handover, if one was proposed.
pub fn get(conn: &mut AnyConnection, case: CaseId) -> Result<Option<Handover>, DbError> {
    let row: Option<Row> = super::cached::native!(conn, |c| handovers::table
        .find(case.to_string())
        .select(Row::as_select())
        .first(c)
        .optional())?;
    row.map(parse_row).transpose()
}

/// The handovers of every case in one of `states`, by case, in one query
/// (a subquery on the state, so the query does not grow with the cases).
pub fn of_cases_in(
    conn: &mut AnyConnection,
    states: &[State],
) -> Result<HashMap<CaseId, Handover>, DbError> {
    use super::schema::cases;
    let names: Vec<&str> = states.iter().map(|s| s.as_str()).collect();
    let rows: Vec<(String, Row)> = handovers::table
        .filter(
            handovers::case_id.eq_any(
                cases::table
                    .filter(cases::state.eq_any(names))
                    .select(cases::id),
            ),
        )
        .select((handovers::case_id, Row::as_select()))
        .load(conn)?;
    rows.into_iter()
        .map(|(id, row)| Ok((super::cases::parse_case_id(&id)?, parse_row(row)?)))
        .collect()
}

/// Stores a (counter-)proposal by `side`.
pub fn propose(
    conn: &mut AnyConnection,
    case: CaseId,
    plan: &Plan,
    side: Side,
    now: NaiveDateTime,
) -> Result<(), DbError> {
    let round = get(conn, case)?.map_or(1, |h| h.round + 1);
    diesel::delete(handovers::table.find(case.to_string())).execute(conn)?;
    diesel::insert_into(handovers::table)
        .values((
            handovers::case_id.eq(case.to_string()),
            handovers::plan.eq(json(plan)?),
            handovers::proposed_by.eq(side_str(side)),
            handovers::status.eq("proposed"),
            handovers::round.eq(round),
            handovers::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// The plan is agreed.
pub fn agree(conn: &mut AnyConnection, case: CaseId, now: NaiveDateTime) -> Result<(), DbError> {
    diesel::update(handovers::table.find(case.to_string()))
        .set((
            handovers::status.eq("agreed"),
            handovers::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// Records the departure.
pub fn depart(
    conn: &mut AnyConnection,
    case: CaseId,
    at: &AtCrossing,
    now: NaiveDateTime,
) -> Result<(), DbError> {
    diesel::update(handovers::table.find(case.to_string()))
        .set((
            handovers::departure.eq(json(at)?),
            handovers::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// Records `side`'s confirmation of the handover.
pub fn confirm(
    conn: &mut AnyConnection,
    case: CaseId,
    side: Side,
    at: &AtCrossing,
    now: NaiveDateTime,
) -> Result<(), DbError> {
    let at = json(at)?;
    let q = diesel::update(handovers::table.find(case.to_string()));
    match side {
        Side::Sending => q
            .set((
                handovers::sending_confirmation.eq(at),
                handovers::updated_at.eq(now),
            ))
            .execute(conn)?,
        Side::Receiving => q
            .set((
                handovers::receiving_confirmation.eq(at),
                handovers::updated_at.eq(now),
            ))
            .execute(conn)?,
    };
    Ok(())
}

/// Flags a mismatch between the records.
pub fn flag(
    conn: &mut AnyConnection,
    case: CaseId,
    mismatch: &str,
    now: NaiveDateTime,
) -> Result<(), DbError> {
    diesel::update(handovers::table.find(case.to_string()))
        .set((
            handovers::mismatch.eq(mismatch),
            handovers::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}
