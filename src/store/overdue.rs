//! The steps found past their SOP time limit, one row per case, step and
//! due date, so that each is recorded once.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::overdue_steps;
use super::{AnyConnection, DbError};
use crate::domain::ids::CaseId;

/// Records that `step` of a case, due at `due_at`, was found overdue at
/// `now`; false (and nothing written) if it was recorded already.
pub fn record_once(
    conn: &mut AnyConnection,
    case: CaseId,
    step: &str,
    due_at: NaiveDateTime,
    now: NaiveDateTime,
) -> Result<bool, DbError> {
    let case = case.to_string();
    let known: i64 = overdue_steps::table
        .find((&case, step, due_at))
        .count()
        .get_result(conn)?;
    if known > 0 {
        return Ok(false);
    }
    diesel::insert_into(overdue_steps::table)
        .values((
            overdue_steps::case_id.eq(&case),
            overdue_steps::state.eq(step),
            overdue_steps::due_at.eq(due_at),
            overdue_steps::found_at.eq(now),
        ))
        .execute(conn)?;
    Ok(true)
}
