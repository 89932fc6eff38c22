//! The JTWG's statistics of any period: its whole calendar months read from
//! the monthly rollup, kept in the same transaction as every case move and
//! every logged message, and the stretches around them (inside one month
//! each) drawn from the cases and the log themselves. Reading all time
//! costs a few rows per month, whatever the history holds.

use chrono::{Datelike, Months, NaiveDateTime};

use crate::audit::reconcile::EXCHANGE_KINDS;
use crate::audit::{kinds, Entry};
use crate::domain::case_record::Case;
use crate::domain::lifecycle::State;
use crate::domain::statistics::{self, Facts, Statistics, Tally};
use crate::store::{audit, audit_lookup, review, AnyConnection, DbError};

/// Counts `case`'s move `from` a state (none when it is new) to its state,
/// before its timeline records the move.
pub fn case_moved(
    conn: &mut AnyConnection,
    case: &Case,
    from: Option<State>,
) -> Result<(), DbError> {
    let to = case.state.as_str();
    if from == Some(case.state) {
        return Ok(());
    }
    // A new case has no timeline yet; a step's duration can change only
    // when one of its states is entered.
    let timeline = if from.is_some() && statistics::is_timed(to) {
        review::states_entered(conn, Some(&[case.id.to_string()]))?
    } else {
        Vec::new()
    };
    let timeline: Vec<(&str, NaiveDateTime)> = timeline
        .iter()
        .map(|(_, s, at)| (s.as_str(), *at))
        .collect();
    let cells = statistics::case_moved(
        case.created_at,
        crate::store::cases::direction(case.side),
        &timeline,
        from.map(State::as_str),
        (to, case.updated_at),
    );
    crate::store::statistics::add(&cells);
    Ok(())
}

/// Counts an audit entry just appended, if the statistics count its kind.
pub fn logged(conn: &mut AnyConnection, entry: &Entry) -> Result<(), DbError> {
    let queued = match (entry.kind.as_str(), &entry.message_id) {
        (kinds::RECEIPT_RECEIVED, Some(id)) => {
            audit_lookup::queued_at(conn, std::slice::from_ref(id))?.remove(id)
        }
        _ => None,
    };
    if let Some(cell) = statistics::logged(entry, queued) {
        crate::store::statistics::add(&[cell]);
    }
    Ok(())
}

/// The statistics of the cases created and the messages logged in
/// `[from, to)`, counts below `min` suppressed.
pub fn of_period(
    conn: &mut AnyConnection,
    from: Option<NaiveDateTime>,
    to: Option<NaiveDateTime>,
    min: u64,
) -> Result<Statistics, DbError> {
    let split = statistics::split(from, to);
    let mut tally = Tally::default();
    if let Some((first, end)) = &split.months {
        for cell in crate::store::statistics::months(conn, first.as_deref(), end.as_deref())? {
            tally.add(&cell);
        }
    }
    for (a, b) in split.stretches {
        tally.add_facts(&facts(conn, a, b)?);
    }
    Ok(tally.finish(min))
}

/// What the statistics of `[from, to)` are drawn from, read whole.
fn facts(
    conn: &mut AnyConnection,
    from: NaiveDateTime,
    to: NaiveDateTime,
) -> Result<Facts, DbError> {
    let (from, to) = (Some(from), Some(to));
    let cases = review::cases_created(conn, from, to)?;
    let ids: Vec<String> = cases.iter().map(|(id, ..)| id.clone()).collect();
    let exchange = audit::entries_of_kinds(conn, EXCHANGE_KINDS, from, to, i64::MAX)?;
    let receipted: Vec<String> = exchange
        .iter()
        .filter(|e| e.kind == kinds::RECEIPT_RECEIVED)
        .filter_map(|e| e.message_id.clone())
        .collect();
    Ok(Facts {
        events: review::states_entered(conn, Some(&ids))?,
        cases,
        overdue: audit::entries_of_kinds(conn, &[kinds::DEADLINE_OVERDUE], from, to, i64::MAX)?,
        queued: audit_lookup::queued_at(conn, &receipted)?,
        exchange,
    })
}

/// Rebuilds the rollup from the cases and the log, a month at a time, when
/// it does not hold all the history (a node upgraded from a version
/// without it). Returns whether it did.
pub fn rebuild_if_needed(conn: &mut AnyConnection) -> Result<bool, DbError> {
    if crate::store::statistics::built(conn)? {
        return Ok(false);
    }
    crate::store::statistics::clear(conn)?;
    let spans = [review::created_span(conn)?, audit_lookup::time_span(conn)?];
    let first = spans.iter().flatten().map(|s| s.0).min();
    // Up to the month under way, or the latest dated row if later (a
    // clock moved forward).
    let now = chrono::Utc::now().naive_utc();
    let last = spans
        .iter()
        .flatten()
        .map(|s| s.1)
        .fold(now, NaiveDateTime::max);
    if let Some(first) = first {
        let mut start = first
            .date()
            .with_day(1)
            .unwrap_or(first.date())
            .and_time(chrono::NaiveTime::MIN);
        while start <= last {
            let end = start
                .checked_add_months(Months::new(1))
                .ok_or_else(|| DbError::Corrupt(format!("no month after {start}")))?;
            let cells = Tally::cells_of(&facts(conn, start, end)?);
            crate::store::statistics::add(&cells);
            start = end;
        }
    }
    crate::store::statistics::set_built(conn, true)?;
    Ok(true)
}
