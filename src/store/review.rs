//! The rows the JTWG's statistics are drawn from: which cases were created
//! in a period, in which direction and state, and when each entered each
//! state. No personal data is read.

use chrono::NaiveDateTime;
use diesel::prelude::*;

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

/// The timelines of the cases created in `[from, to)`: `(case, state
/// entered, when)`, oldest first. One join, however many cases (no list of
/// ids that would grow with them).
pub fn states_entered(
    conn: &mut AnyConnection,
    from: Option<NaiveDateTime>,
    to: Option<NaiveDateTime>,
) -> Result<Vec<(String, String, NaiveDateTime)>, DbError> {
    let mut q = case_events::table
        .inner_join(cases::table)
        .select((case_events::case_id, case_events::to_state, case_events::at))
        .into_boxed();
    if let Some(f) = from {
        q = q.filter(cases::created_at.ge(f));
    }
    if let Some(t) = to {
        q = q.filter(cases::created_at.lt(t));
    }
    Ok(q.order(case_events::at.asc()).load(conn)?)
}
