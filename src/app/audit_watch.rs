//! Watching the other node's log: the incremental peer check's cursor, a
//! mismatch that suspends cosigning (alert and audit entry in the same
//! transaction), an administrator's acknowledgement that lifts it, and what
//! the other node reports about this node's log.
//!
//! The comparison itself runs over the link (`peer::witness`); this module
//! keeps what it found.

use chrono::NaiveDateTime;

use crate::audit::{kinds, Entry};
use crate::store::audit as audit_store;
use crate::store::audit_watch::{self as store, AcceptedRow};
use crate::store::{AnyConnection, DbError};

pub use crate::store::audit_watch::WatchRow;

/// The leaf recorded for an index the other node no longer has.
pub const MISSING: &str = "missing";

/// Alert raised on this node when the other node reports that this node's
/// log changed.
pub const REPORTED_ALERT: &str = "own_log_mismatch_reported";

/// The watch as an administrator or the JTWG sees it.
#[derive(Debug, Clone)]
pub struct WatchState {
    pub row: WatchRow,
    /// Leaves of the other node's log witnessed here.
    pub witnessed: u64,
    /// Mismatches acknowledged so far.
    pub acknowledged: i64,
}

pub fn state(c: &mut AnyConnection) -> Result<WatchState, DbError> {
    Ok(WatchState {
        row: store::get(c)?,
        witnessed: audit_store::peer_leaves_len(c)?,
        acknowledged: store::accepted_count(c)?,
    })
}

pub use crate::store::audit_watch::{accepted, advance, extend_checked, set_receipts_after};

/// Suspends cosigning the other node's log at a mismatch, raises the alert
/// and logs it, in one transaction.
pub fn record_mismatch(
    c: &mut AnyConnection,
    index: u64,
    problem: &str,
    peer_leaf: Option<&str>,
    detail: &str,
    now: NaiveDateTime,
) -> Result<(), DbError> {
    let index = i64::try_from(index).unwrap_or(i64::MAX);
    store::suspend(c, index, problem, peer_leaf.unwrap_or(MISSING), now)?;
    super::witness::record_refusal(
        c,
        kinds::PEER_LOG_MISMATCH,
        detail,
        kinds::PEER_LOG_MISMATCH,
        "peer_check",
        index,
        problem.to_owned(),
        now,
    )
}

/// An administrator acknowledges the mismatch that suspended cosigning:
/// it is accepted (a later check passes over that index while the other
/// node shows the same leaf there), the cursor moves past it and cosigning
/// resumes. Returns the index acknowledged, or `None` when nothing was
/// suspended.
pub fn acknowledge(
    c: &mut AnyConnection,
    by: &str,
    now: NaiveDateTime,
) -> Result<Option<u64>, DbError> {
    let row = store::get(c)?;
    let (Some(_), Some(index)) = (row.suspended_at, row.suspended_index) else {
        return Ok(None);
    };
    store::resume(
        c,
        AcceptedRow {
            idx: index,
            peer_leaf: row.suspended_peer_leaf.unwrap_or_else(|| MISSING.into()),
            problem: row.suspended_problem.unwrap_or_default(),
            acknowledged_by: by.to_owned(),
            acknowledged_at: now,
        },
    )?;
    Ok(u64::try_from(index).ok())
}

/// The other node found entry `index` of this node's log `problem`
/// (changed, missing, …) since it witnessed it: an alert and an entry.
pub fn record_reported(
    c: &mut AnyConnection,
    peer: &str,
    index: u64,
    problem: &str,
    now: NaiveDateTime,
) -> Result<(), DbError> {
    let detail = format!(
        "the other node reports that entry {index} of this node's log is {problem} since it \
         witnessed it; it stops cosigning this log until its administrator acknowledges"
    );
    super::exchange::alert(c, REPORTED_ALERT, &detail, now)?;
    let mut e = Entry::new(
        kinds::LOG_MISMATCH_REPORTED,
        format!("peer:{peer}"),
        "peer_check",
    );
    e.seq = Some(i64::try_from(index).unwrap_or(i64::MAX));
    e.outcome = "refused".into();
    e.code = Some(problem.to_owned());
    audit_store::append(c, e).map(|_| ())
}

impl super::service::App {
    /// Where the watch over the other node's log stands.
    pub async fn audit_watch(&self) -> Result<WatchState, DbError> {
        self.db.read(state).await
    }

    /// An administrator acknowledges the mismatch that suspended cosigning
    /// (audited); `None` when nothing was suspended (not audited as done).
    pub async fn acknowledge_mismatch(
        &self,
        caller: super::service::Caller,
    ) -> Result<Option<u64>, DbError> {
        let now = self.now();
        let by = caller.principal.username.clone();
        let out = self
            .audited_unless_refused(caller, move |c| Ok(acknowledge(c, &by, now)?.ok_or(())))
            .await?;
        Ok(out.ok())
    }
}
