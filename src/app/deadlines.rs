//! The SOP's time limits: finding the steps and follow-ups past their
//! limit and recording each once.

use chrono::{NaiveDateTime, SubsecRound};
use diesel::prelude::*;

use super::cases::*;
use crate::domain::ids::CaseId;
use crate::domain::lifecycle::State;
use crate::store::schema::cases;
use crate::store::{AnyConnection, DbError};

/// Finds the steps past their SOP time limit that were not yet recorded,
/// records each once (table `overdue_steps` and a `deadline_overdue` audit
/// entry) and returns how many it found.
pub fn record_overdue(
    conn: &mut AnyConnection,
    follow_up_months: &[u32],
    now: NaiveDateTime,
) -> Result<usize, DbError> {
    let now = now.trunc_subsecs(6);
    let mut found = record_overdue_follow_ups(conn, follow_up_months, now)?;
    let due: Vec<(String, String, String, NaiveDateTime)> = cases::table
        .filter(cases::due_at.lt(now))
        .select((
            cases::id,
            cases::referral_id,
            cases::state,
            cases::due_at.assume_not_null(),
        ))
        .load(conn)?;
    for (id, referral, state, due_at) in due {
        if parse_state(&state)?.is_terminal() {
            continue;
        }
        if mark_overdue(conn, &id, &referral, &state, due_at, now)? {
            found += 1;
        }
    }
    Ok(found)
}

/// Records once each reintegration follow-up past its due date without a
/// report (state `follow_up_N` in `overdue_steps` and the audit log).
pub(super) fn record_overdue_follow_ups(
    conn: &mut AnyConnection,
    months: &[u32],
    now: NaiveDateTime,
) -> Result<usize, DbError> {
    use crate::store::schema::case_reports;
    let monitored: Vec<(String, String)> = cases::table
        .filter(cases::state.eq(State::ReintegrationMonitoring.as_str()))
        .select((cases::id, cases::referral_id))
        .load(conn)?;
    let mut found = 0;
    for (id, referral) in monitored {
        let case_id: CaseId = id.parse().map_err(|_| corrupt("case id", &id))?;
        let Some(start) = monitoring_started(conn, case_id)? else {
            continue;
        };
        for (i, due) in crate::domain::reports::schedule(start.date(), months)
            .into_iter()
            .enumerate()
        {
            let due_at = due.and_time(chrono::NaiveTime::MIN);
            if due_at >= now {
                continue;
            }
            let number = i as i64 + 1;
            let reported: i64 = case_reports::table
                .filter(case_reports::case_id.eq(&id))
                .filter(case_reports::kind.eq("follow_up"))
                .filter(case_reports::number.eq(number))
                .count()
                .get_result(conn)?;
            if reported == 0
                && mark_overdue(
                    conn,
                    &id,
                    &referral,
                    &format!("follow_up_{number}"),
                    due_at,
                    now,
                )?
            {
                found += 1;
            }
        }
    }
    Ok(found)
}

/// Records that `step` of a case was due at `due_at` and is not done, once
/// (`overdue_steps` and a `deadline_overdue` audit entry); false if it was
/// recorded already.
pub(super) fn mark_overdue(
    conn: &mut AnyConnection,
    case_id: &str,
    referral_id: &str,
    step: &str,
    due_at: NaiveDateTime,
    now: NaiveDateTime,
) -> Result<bool, DbError> {
    use crate::store::schema::overdue_steps;
    let known: i64 = overdue_steps::table
        .find((case_id, step, due_at))
        .count()
        .get_result(conn)?;
    if known > 0 {
        return Ok(false);
    }
    diesel::insert_into(overdue_steps::table)
        .values((
            overdue_steps::case_id.eq(case_id),
            overdue_steps::state.eq(step),
            overdue_steps::due_at.eq(due_at),
            overdue_steps::found_at.eq(now),
        ))
        .execute(conn)?;
    let mut e = crate::audit::Entry::new(crate::audit::kinds::DEADLINE_OVERDUE, "system", step);
    e.case_id = Some(case_id.to_owned());
    e.referral_id = Some(referral_id.to_owned());
    e.outcome = "overdue".into();
    e.code = Some(
        chrono::TimeZone::from_utc_datetime(&chrono::Utc, &due_at)
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    );
    crate::store::audit::append(conn, e)?;
    Ok(true)
}
