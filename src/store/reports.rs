//! Repatriation reports and reintegration follow-ups, one row each.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::case_reports;
use super::{AnyConnection, DbError};
use crate::domain::ids::{CaseId, MessageId};
use crate::domain::lifecycle::Side;

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

/// How many reports of `kind` a case has.
pub fn count(conn: &mut AnyConnection, case: CaseId, kind: &str) -> Result<i64, DbError> {
    Ok(case_reports::table
        .filter(case_reports::case_id.eq(case.to_string()))
        .filter(case_reports::kind.eq(kind))
        .count()
        .get_result(conn)?)
}

/// Whether report `number` of `kind` is recorded for a case.
pub fn exists(
    conn: &mut AnyConnection,
    case: CaseId,
    kind: &str,
    number: i64,
) -> Result<bool, DbError> {
    let n: i64 = case_reports::table
        .filter(case_reports::case_id.eq(case.to_string()))
        .filter(case_reports::kind.eq(kind))
        .filter(case_reports::number.eq(number))
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}

/// Writes one report.
pub fn insert(conn: &mut AnyConnection, case: CaseId, report: &Report) -> Result<(), DbError> {
    let referral = super::cases::referral_of(conn, case)?;
    let data = super::sealed::seal(
        conn,
        &referral,
        super::sealed::Column::Report,
        &report.data.to_string(),
    )?;
    diesel::insert_into(case_reports::table)
        .values((
            case_reports::id.eq(MessageId::new().to_string()),
            case_reports::case_id.eq(case.to_string()),
            case_reports::kind.eq(&report.kind),
            case_reports::number.eq(report.number),
            case_reports::data.eq(data),
            case_reports::by_side.eq(match report.by {
                Side::Sending => "sending",
                Side::Receiving => "receiving",
            }),
            case_reports::recorded_at.eq(report.recorded_at),
        ))
        .execute(conn)?;
    Ok(())
}

/// A case's reports, by kind and number.
pub fn list(conn: &mut AnyConnection, id: CaseId) -> Result<Vec<Report>, DbError> {
    let rows: Vec<(String, i64, String, String, NaiveDateTime)> =
        super::cached::native!(conn, |c| case_reports::table
            .filter(case_reports::case_id.eq(id.to_string()))
            .order((case_reports::kind.asc(), case_reports::number.asc()))
            .select((
                case_reports::kind,
                case_reports::number,
                case_reports::data,
                case_reports::by_side,
                case_reports::recorded_at,
            ))
            .load(c))?;
    let referral = if rows.is_empty() {
        String::new()
    } else {
        super::cases::referral_of(conn, id)?
    };
    rows.into_iter()
        .map(|(kind, number, data, by, recorded_at)| {
            let data = super::sealed::open(conn, &referral, super::sealed::Column::Report, &data)?
                .unwrap_or_else(|| "null".into());
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
