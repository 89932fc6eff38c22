//! The SOP's time limits: finding the steps and follow-ups past their
//! limit and recording each once.

use chrono::{NaiveDateTime, SubsecRound};

use super::reports::monitoring_started;
use crate::domain::ids::{CaseId, ReferralId};
use crate::domain::lifecycle::State;
use crate::store::{cases, overdue, reports, AnyConnection, DbError};

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
    for (id, referral, state, due_at) in cases::past_due(conn, now)? {
        if !state.is_terminal() && mark_overdue(conn, id, referral, state.as_str(), due_at, now)? {
            found += 1;
        }
    }
    Ok(found)
}

/// Records once each reintegration follow-up past its due date without a
/// report (state `follow_up_N` in `overdue_steps` and the audit log).
fn record_overdue_follow_ups(
    conn: &mut AnyConnection,
    months: &[u32],
    now: NaiveDateTime,
) -> Result<usize, DbError> {
    let mut found = 0;
    for (id, referral) in cases::in_state(conn, State::ReintegrationMonitoring)? {
        let Some(start) = monitoring_started(conn, id)? else {
            continue;
        };
        for (number, due_on) in crate::domain::reports::follow_ups_past_due(start, months, now) {
            let due_at = due_on.and_time(chrono::NaiveTime::MIN);
            if !reports::exists(conn, id, "follow_up", number)?
                && mark_overdue(
                    conn,
                    id,
                    referral,
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
fn mark_overdue(
    conn: &mut AnyConnection,
    case_id: CaseId,
    referral_id: ReferralId,
    step: &str,
    due_at: NaiveDateTime,
    now: NaiveDateTime,
) -> Result<bool, DbError> {
    if !overdue::record_once(conn, case_id, step, due_at, now)? {
        return Ok(false);
    }
    let mut e = crate::audit::Entry::new(crate::audit::kinds::DEADLINE_OVERDUE, "system", step);
    e.case_id = Some(case_id.to_string());
    e.referral_id = Some(referral_id.to_string());
    e.outcome = "overdue".into();
    e.code = Some(
        chrono::TimeZone::from_utc_datetime(&chrono::Utc, &due_at)
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    );
    let e = crate::store::audit::append(conn, e)?;
    super::statistics::logged(conn, &e)?;
    Ok(true)
}
