//! Where the CPU goes: the CPU time each thread spends in a few parts of the
//! work (SQL, audit appends, signatures, authentication, sealing personal
//! data), measured with the thread's CPU clock around those parts, nested
//! parts subtracted from the part around them. Off unless `passerelle bench`
//! turns it on: then every scope costs two reads of the clock.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// A part of the work whose CPU time is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// Database transactions: SQL, diesel, SQLite or the PostgreSQL client,
    /// and the rules run inside them (less the parts below).
    Storage,
    /// Appends to the audit log and its Merkle tree.
    AuditAppend,
    /// Signing and verifying envelopes and receipts.
    Signatures,
    /// Finding the caller behind a token or session.
    Authentication,
    /// Sealing and opening personal data, and its blind name index.
    Sealing,
}

impl Part {
    pub const ALL: [Part; 5] = [
        Part::Storage,
        Part::AuditAppend,
        Part::Signatures,
        Part::Authentication,
        Part::Sealing,
    ];

    /// What the bench prints.
    pub fn label(self) -> &'static str {
        match self {
            Part::Storage => "SQL and storage",
            Part::AuditAppend => "audit appends",
            Part::Signatures => "signing and verifying",
            Part::Authentication => "authentication",
            Part::Sealing => "sealing personal data",
        }
    }
}

static ON: AtomicBool = AtomicBool::new(false);
static TOTALS: [AtomicU64; 5] = [const { AtomicU64::new(0) }; 5];
/// SQL statements and transactions begun, while counting is on.
static STATEMENTS: AtomicU64 = AtomicU64::new(0);
static TRANSACTIONS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// The scopes open on this thread: `(part, start, nested time)`.
    static OPEN: RefCell<Vec<(Part, u64, u64)>> = const { RefCell::new(Vec::new()) };
    /// What this thread counted (what a test can check alone).
    static MINE: RefCell<[u64; 5]> = const { RefCell::new([0; 5]) };
}

/// Turns the counting on (and the totals to zero) or off.
pub fn enable(on: bool) {
    for t in TOTALS.iter().chain([&STATEMENTS, &TRANSACTIONS]) {
        t.store(0, Ordering::Relaxed);
    }
    ON.store(on, Ordering::Relaxed);
}

/// The CPU time counted in each part so far, in nanoseconds.
pub fn totals() -> Vec<(Part, u64)> {
    Part::ALL
        .into_iter()
        .map(|p| (p, TOTALS[p as usize].load(Ordering::Relaxed)))
        .collect()
}

/// Counts one SQL statement (`transaction`: one that begins a
/// transaction or savepoint), when counting is on.
pub fn statement(transaction: bool) {
    if ON.load(Ordering::Relaxed) {
        let counter = if transaction {
            &TRANSACTIONS
        } else {
            &STATEMENTS
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// The statements and the transactions (savepoints included) counted so
/// far.
pub fn statements() -> (u64, u64) {
    (
        STATEMENTS.load(Ordering::Relaxed),
        TRANSACTIONS.load(Ordering::Relaxed),
    )
}

fn clock(id: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock ids used are
    // supported by Linux (a failure leaves it at zero).
    unsafe { libc::clock_gettime(id, &mut ts) };
    (ts.tv_sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(ts.tv_nsec as u64)
}

/// The CPU time of the whole process so far, in nanoseconds.
pub fn process_cpu_ns() -> u64 {
    clock(libc::CLOCK_PROCESS_CPUTIME_ID)
}

/// Closes the scope it was made for, even when the work panics.
struct Scope;

impl Drop for Scope {
    fn drop(&mut self) {
        let now = clock(libc::CLOCK_THREAD_CPUTIME_ID);
        OPEN.with(|open| {
            let mut open = open.borrow_mut();
            if let Some((part, start, nested)) = open.pop() {
                let spent = now.saturating_sub(start);
                let own = spent.saturating_sub(nested);
                TOTALS[part as usize].fetch_add(own, Ordering::Relaxed);
                MINE.with(|m| m.borrow_mut()[part as usize] += own);
                if let Some(outer) = open.last_mut() {
                    outer.2 = outer.2.saturating_add(spent);
                }
            }
        });
    }
}

/// Runs `f`, its CPU time counted in `part` when counting is on.
pub fn scope<T>(part: Part, f: impl FnOnce() -> T) -> T {
    if !ON.load(Ordering::Relaxed) {
        return f();
    }
    let start = clock(libc::CLOCK_THREAD_CPUTIME_ID);
    OPEN.with(|open| open.borrow_mut().push((part, start, 0)));
    let _scope = Scope;
    f()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Spends `ms` of this thread's CPU time.
    fn spin(ms: u64) {
        let start = clock(libc::CLOCK_THREAD_CPUTIME_ID);
        let mut x = 0u64;
        while clock(libc::CLOCK_THREAD_CPUTIME_ID) - start < ms * 1_000_000 {
            x = std::hint::black_box(x.wrapping_add(1));
        }
    }

    #[test]
    fn nested_parts_are_counted_apart() {
        enable(true);
        scope(Part::Storage, || {
            spin(30);
            scope(Part::AuditAppend, || spin(20));
        });
        enable(false);
        // This thread's counts (other tests' threads count too).
        let t = MINE.with(|m| *m.borrow());
        let ms = |p: Part| t[p as usize] / 1_000_000;
        assert!((30..40).contains(&ms(Part::Storage)), "{t:?}");
        assert!((20..30).contains(&ms(Part::AuditAppend)), "{t:?}");
    }
}
