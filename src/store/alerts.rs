//! Exchange alerts: what an administrator must look at (a sequence gap, a
//! broken chain, a delivery delayed, a disagreement with the other node).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::models::AlertRow;
use super::schema::peer_alerts;
use super::{AnyConnection, DbError};
use crate::domain::ids::MessageId;

/// Records an alert for administrators (and the log).
pub fn alert(
    conn: &mut AnyConnection,
    kind: &str,
    detail: &str,
    now: NaiveDateTime,
) -> Result<(), DbError> {
    tracing::warn!(kind, detail, "peer exchange alert");
    diesel::insert_into(peer_alerts::table)
        .values(AlertRow {
            id: MessageId::new().to_string(),
            at: now,
            kind: kind.into(),
            detail: detail.into(),
        })
        .execute(conn)?;
    Ok(())
}

/// Alerts newest first (ids are time-ordered), older than the alert
/// `before` if given, at most `limit`.
pub fn list_alerts(
    conn: &mut AnyConnection,
    before: Option<&str>,
    limit: i64,
) -> Result<Vec<AlertRow>, DbError> {
    let mut q = peer_alerts::table
        .select(AlertRow::as_select())
        .into_boxed();
    if let Some(b) = before {
        q = q.filter(peer_alerts::id.lt(b.to_owned()));
    }
    Ok(q.order(peer_alerts::id.desc()).limit(limit).load(conn)?)
}
