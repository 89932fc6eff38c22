//! The JTWG's review: the exchange log, checkpoints of both logs and the
//! statistics of a period, all without personal data.

use chrono::NaiveDateTime;

use crate::audit::reconcile::EXCHANGE_KINDS;
use crate::audit::{kinds, Entry};
use crate::domain::statistics::{self, Facts, Statistics};
use crate::store::{audit, review, AnyConnection, DbError};

/// Most exchange entries one answer holds.
pub const EXCHANGE_PAGE: i64 = 100_000;

/// The exchange's audit entries (messages queued and received, receipts)
/// recorded in `[from, to)`, in log order.
pub fn exchange_entries(
    conn: &mut AnyConnection,
    from: Option<NaiveDateTime>,
    to: Option<NaiveDateTime>,
    limit: i64,
) -> Result<Vec<Entry>, DbError> {
    audit::entries_of_kinds(conn, EXCHANGE_KINDS, from, to, limit)
}

/// The statistics of the cases created and the messages exchanged in
/// `[from, to)`, counts below `min` suppressed.
pub fn statistics(
    conn: &mut AnyConnection,
    from: Option<NaiveDateTime>,
    to: Option<NaiveDateTime>,
    min: u64,
) -> Result<Statistics, DbError> {
    let cases = review::cases_created(conn, from, to)?;
    let ids: Vec<String> = cases.iter().map(|c| c.0.clone()).collect();
    let facts = Facts {
        events: review::states_entered(conn, &ids)?,
        cases,
        overdue: audit::entries_of_kinds(conn, &[kinds::DEADLINE_OVERDUE], from, to, i64::MAX)?,
        exchange: audit::entries_of_kinds(conn, EXCHANGE_KINDS, from, to, i64::MAX)?,
    };
    Ok(statistics::compute(facts, min))
}
