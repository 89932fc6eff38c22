//! Where a referral's CPU goes in (c): the process's CPU time over the peak
//! phase, less the load generator's threads, split by the parts
//! [`crate::meter`] counts; what is left is HTTP, TLS, JSON and the async
//! runtimes.

use crate::meter::{self, Part};

/// The CPU counters at one moment.
pub(super) struct Snapshot {
    process_ns: u64,
    load_ns: u64,
    parts: Vec<(Part, u64)>,
    statements: (u64, u64),
}

/// The CPU time so far of this process's threads named `name` (from
/// `/proc`, in clock ticks of 10 ms), in nanoseconds.
fn threads_named(name: &str) -> u64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    let mut ticks = 0u64;
    for task in tasks.flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        // `pid (comm) state ppid …`: utime and stime are the 12th and 13th
        // fields after the parenthesis.
        let Some((head, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        if !head.contains(&format!("({name}")) {
            continue;
        }
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let field = |i: usize| {
            fields
                .get(i)
                .and_then(|f| f.parse::<u64>().ok())
                .unwrap_or(0)
        };
        ticks += field(11) + field(12);
    }
    ticks * 10_000_000
}

impl Snapshot {
    /// Now; `load` names the load generator's threads.
    pub(super) fn take(load: &str) -> Snapshot {
        Snapshot {
            process_ns: meter::process_cpu_ns(),
            load_ns: threads_named(load),
            parts: meter::totals(),
            statements: meter::statements(),
        }
    }

    /// The CPU spent since `before` by the nodes, per `n` referrals, as a
    /// printed line: in all, then each part, then the rest.
    pub(super) fn per_referral(&self, before: &Snapshot, n: f64) -> String {
        self.per_unit(before, n, "referral")
    }

    /// The same for `n` of any `unit` of work.
    pub(super) fn per_unit(&self, before: &Snapshot, n: f64, unit: &str) -> String {
        let n = n.max(1.0);
        let us = |ns: u64| ns as f64 / 1_000.0 / n;
        let total = self
            .process_ns
            .saturating_sub(before.process_ns)
            .saturating_sub(self.load_ns.saturating_sub(before.load_ns));
        let mut counted = 0u64;
        let mut cells = Vec::new();
        for ((part, now), (_, then)) in self.parts.iter().zip(&before.parts) {
            let spent = now.saturating_sub(*then);
            counted += spent;
            cells.push(format!("{} {:.0}", part.label(), us(spent)));
        }
        cells.push(format!(
            "the rest (HTTP, TLS, JSON, async runtimes) {:.0}",
            us(total.saturating_sub(counted))
        ));
        let per = |now: u64, then: u64| now.saturating_sub(then) as f64 / n;
        format!(
            "    CPU per {unit} at peak, both nodes (load generator excluded): {:.0} µs = {} µs\n    SQL per {unit} at peak, both nodes: {:.1} statements in {:.1} transactions and savepoints",
            us(total),
            cells.join(", "),
            per(self.statements.0, before.statements.0),
            per(self.statements.1, before.statements.1),
        )
    }
}
