//! Leases: which replica of a node runs the jobs that must run once (the
//! dispatcher, the timers), and the fencing token each holder works under.
//!
//! A lease is taken when it is free or expired, kept by extending it before
//! it expires, and given back when a replica stops. Its **term** grows at
//! every change of holder; it starts from the wall clock in milliseconds,
//! so it keeps growing even after the database is restored from an older
//! backup. The dispatcher sends its term with every batch, and the other
//! node refuses a batch whose term is lower than one it already took in
//! ([`fence_incoming`]): a replica paused or cut off past its lease's
//! expiry can never deliver behind the one that took over.
//!
//! Expiry is judged by the replicas' clocks (keep them synchronised, as
//! NTP does): a clock off by more than a lease's length can only make two
//! replicas believe they hold it, and the fencing token still lets only the
//! newest deliver.

use chrono::{Duration, NaiveDateTime};

use crate::store::leases::{self, Lease};
use crate::store::{channels, AnyConnection, DbError};

/// The lease of the dispatcher, which delivers this node's outbox (there is
/// one direction out: to the other node).
pub const DISPATCHER: &str = "dispatcher";
/// The lease of the timers: checkpoints and cosigning, the comparison of
/// shared cases, the deadline scan, key rotation.
pub const TIMERS: &str = "timers";

/// A new term after `old`, taken at `now`.
fn next_term(old: i64, now: NaiveDateTime) -> i64 {
    (old + 1).max(now.and_utc().timestamp_millis())
}

/// Takes the lease `name` for `holder` for `ttl` if it is free or expired:
/// its term, or `None` while another replica holds it.
pub fn acquire(
    conn: &mut AnyConnection,
    name: &str,
    holder: &str,
    now: NaiveDateTime,
    ttl: Duration,
) -> Result<Option<i64>, DbError> {
    match leases::get(conn, name)? {
        None => {
            let term = next_term(0, now);
            Ok(leases::create(conn, name, holder, term, now + ttl)?.then_some(term))
        }
        Some(Lease {
            term, expires_at, ..
        }) if expires_at < now => {
            let new = next_term(term, now);
            Ok(leases::take_over(conn, name, term, now, holder, new, now + ttl)?.then_some(new))
        }
        Some(_) => Ok(None),
    }
}

/// Extends the lease `name` that `holder` took under `term`: whether it
/// still holds it.
pub fn renew(
    conn: &mut AnyConnection,
    name: &str,
    holder: &str,
    term: i64,
    now: NaiveDateTime,
    ttl: Duration,
) -> Result<bool, DbError> {
    leases::extend(conn, name, holder, term, now + ttl)
}

/// Gives the lease back (a replica stopping): another replica takes it at
/// its next try instead of waiting for the expiry.
pub fn release(
    conn: &mut AnyConnection,
    name: &str,
    holder: &str,
    term: i64,
) -> Result<(), DbError> {
    leases::extend(
        conn,
        name,
        holder,
        term,
        chrono::DateTime::UNIX_EPOCH.naive_utc(),
    )?;
    Ok(())
}

/// Locks the incoming chain for the rest of the transaction (batches that
/// reach two replicas at once are taken in one after the other) and checks
/// the sender's fencing token: `Err(highest)` when a newer dispatcher of the
/// other node already delivered. A batch without a token (a sender without
/// replicas' support) is not fenced.
pub fn fence_incoming(
    conn: &mut AnyConnection,
    fence: Option<i64>,
) -> Result<Result<(), i64>, DbError> {
    let highest = channels::lock_incoming(conn)?;
    match fence {
        Some(f) if f < highest => Ok(Err(highest)),
        Some(f) if f > highest => {
            channels::set_incoming_fence(conn, f)?;
            Ok(Ok(()))
        }
        _ => Ok(Ok(())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_grow_with_the_clock_and_past_it() {
        let t = chrono::DateTime::from_timestamp_millis(1_000_000)
            .unwrap()
            .naive_utc();
        assert_eq!(next_term(0, t), 1_000_000);
        // A clock set back (or a restored database) still gives a higher term.
        assert_eq!(next_term(2_000_000, t), 2_000_001);
    }
}
