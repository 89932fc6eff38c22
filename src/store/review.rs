//! The rows the JTWG's statistics are drawn from: which cases were created
//! in a period, in which direction and state, and when each entered each
//! state. No personal data is read.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::cached;
use super::schema::{case_events, cases};
use super::{AnyConnection, DbError};

/// The cases created in `[from, to)`: `(id, direction, state, created)`.
pub fn cases_created(
    conn: &mut AnyConnection,
    from: Option<NaiveDateTime>,
    to: Option<NaiveDateTime>,
) -> Result<Vec<(String, String, String, NaiveDateTime)>, DbError> {
    let mut q = cases::table
        .select((cases::id, cases::direction, cases::state, cases::created_at))
        .into_boxed();
    if let Some(f) = from {
        q = q.filter(cases::created_at.ge(f));
    }
    if let Some(t) = to {
        q = q.filter(cases::created_at.lt(t));
    }
    Ok(q.load(conn)?)
}

/// The timelines of the cases `of` (all cases when `None`): `(case, state
/// entered, when)`, oldest first. The cases of a period are read through
/// the timeline's case index a bounded chunk at a time (a join leaves the
/// planner free to read every timeline); all of them in one join.
pub fn states_entered(
    conn: &mut AnyConnection,
    of: Option<&[String]>,
) -> Result<Vec<(String, String, NaiveDateTime)>, DbError> {
    let all =
        case_events::table.select((case_events::case_id, case_events::to_state, case_events::at));
    let Some(ids) = of else {
        return Ok(all
            .inner_join(cases::table)
            .order(case_events::at.asc())
            .load(conn)?);
    };
    let mut rows: Vec<(String, String, NaiveDateTime)> = Vec::new();
    for chunk in ids.chunks(500) {
        let query = all.filter(case_events::case_id.eq_any(chunk));
        rows.extend(cached::native!(conn, |c| cached::load_list::<
            _,
            (String, String, NaiveDateTime),
            _,
        >(query, chunk.len(), c))?);
    }
    rows.sort_by_key(|r| r.2);
    Ok(rows)
}

/// When the earliest and the latest case were created, if any.
pub fn created_span(
    conn: &mut AnyConnection,
) -> Result<Option<(NaiveDateTime, NaiveDateTime)>, DbError> {
    let first: Option<NaiveDateTime> = cases::table
        .order(cases::created_at.asc())
        .select(cases::created_at)
        .first(conn)
        .optional()?;
    let last: Option<NaiveDateTime> = cases::table
        .order(cases::created_at.desc())
        .select(cases::created_at)
        .first(conn)
        .optional()?;
    Ok(first.zip(last))
}
