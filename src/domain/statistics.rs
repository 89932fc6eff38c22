//! The JTWG's statistics, computed from facts without personal data:
//! counts by direction and state, messages by type, overdue steps, and the
//! time each step took as median and 90th percentile. Every count below the
//! suppression threshold is withheld, so that no small group of people can
//! be singled out.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Datelike, NaiveDateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::audit::{kinds, Entry};

/// A count, or `null` when below the suppression threshold.
#[derive(Debug, Serialize, ToSchema)]
pub struct Count {
    /// What is counted (e.g. `outgoing/accepted`).
    pub key: String,
    /// The count; `null` when suppressed.
    pub count: Option<u64>,
    /// Whether it was suppressed (fewer than `min_cell_count`).
    pub suppressed: bool,
}

/// A duration statistic in hours.
#[derive(Debug, Serialize, ToSchema)]
pub struct Timing {
    /// `acknowledgement`, `decision`, `handover` or `closure`.
    pub step: String,
    /// How many cases or messages (`null` when suppressed).
    pub count: Option<u64>,
    /// Median in hours (`null` when suppressed or none).
    pub median_hours: Option<f64>,
    /// 90th percentile in hours.
    pub p90_hours: Option<f64>,
    /// Whether it was suppressed.
    pub suppressed: bool,
}

/// Statistics for a period.
#[derive(Debug, Serialize, ToSchema)]
pub struct Statistics {
    /// Counts below this are suppressed.
    pub min_cell_count: u64,
    /// Referrals (cases opened) by month (UTC) and direction, e.g.
    /// `2026-11/outgoing`.
    pub referrals_by_month: Vec<Count>,
    /// Referrals (cases) by direction and current state.
    pub referrals_by_state: Vec<Count>,
    /// Messages by direction and type.
    pub messages_by_type: Vec<Count>,
    /// Lifecycle steps that went past their SOP time limit, by state.
    pub overdue_by_state: Vec<Count>,
    /// Time to acknowledgement (a message sent → its receipt, for the
    /// receipts that came in the period), and, for the cases created in the
    /// period, to decision (submitted → accepted/declined), handover
    /// (accepted → handed over) and closure (submitted → closed). Durations
    /// are rounded to 0.01 h.
    pub timings: Vec<Timing>,
}

/// The counts above zero (a rollup cell that went back to zero counts
/// nothing), each suppressed below `min`.
fn counts(map: BTreeMap<String, i64>, min: u64) -> Vec<Count> {
    map.into_iter()
        .filter_map(|(key, n)| u64::try_from(n).ok().filter(|n| *n > 0).map(|n| (key, n)))
        .map(|(key, n)| Count {
            key,
            count: (n >= min).then_some(n),
            suppressed: n < min,
        })
        .collect()
}

/// The value of rank ⌈p·n⌉ among the `n` durations of `histogram`
/// (bucket → how many), in hours.
fn percentile(histogram: &BTreeMap<i64, i64>, n: u64, p: f64) -> Option<f64> {
    if n == 0 {
        return None;
    }
    let rank = ((p * n as f64).ceil() as u64).clamp(1, n);
    let mut seen = 0u64;
    for (bucket, count) in histogram {
        seen += u64::try_from(*count).unwrap_or(0);
        if seen >= rank {
            return Some(*bucket as f64 / 100.0);
        }
    }
    None
}

fn timing(step: &str, histogram: BTreeMap<i64, i64>, min: u64) -> Timing {
    let n: u64 = histogram
        .values()
        .map(|c| u64::try_from(*c).unwrap_or(0))
        .sum();
    let suppressed = n < min;
    let pick = |p| {
        if suppressed {
            None
        } else {
            percentile(&histogram, n, p)
        }
    };
    Timing {
        step: step.to_owned(),
        count: (!suppressed).then_some(n),
        median_hours: pick(0.5),
        p90_hours: pick(0.9),
        suppressed,
    }
}

fn hours(a: NaiveDateTime, b: NaiveDateTime) -> f64 {
    (b - a).num_milliseconds() as f64 / 3_600_000.0
}

/// What the statistics are drawn from, for one stretch of time inside one
/// calendar month (whole months are read from the monthly rollup instead).
pub struct Facts {
    /// The cases created in the stretch: `(id, direction, state, when)`.
    pub cases: Vec<(String, String, String, NaiveDateTime)>,
    /// Their timelines: `(case id, state entered, when)`, oldest first.
    pub events: Vec<(String, String, NaiveDateTime)>,
    /// The `deadline_overdue` audit entries of the stretch.
    pub overdue: Vec<Entry>,
    /// The exchange's audit entries of the stretch, in log order.
    pub exchange: Vec<Entry>,
    /// When each message whose receipt came in the stretch was queued.
    pub queued: HashMap<String, DateTime<Utc>>,
}

/// What a cell of the monthly rollup counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Metric {
    /// Cases created in the month, by `direction/state` (their state now).
    Cases,
    /// Messages logged in the month, by `outgoing/type` or `incoming/type`.
    Messages,
    /// Steps found overdue in the month, by state.
    Overdue,
    /// Durations of a step, by step, in hundredths of an hour (`bucket`): a
    /// case's steps in the month it was created, an acknowledgement in the
    /// month its receipt came.
    Timing,
}

impl Metric {
    pub const ALL: [Metric; 4] = [
        Metric::Cases,
        Metric::Messages,
        Metric::Overdue,
        Metric::Timing,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Metric::Cases => "cases",
            Metric::Messages => "messages",
            Metric::Overdue => "overdue",
            Metric::Timing => "timing",
        }
    }

    pub fn parse(s: &str) -> Option<Metric> {
        Metric::ALL.into_iter().find(|m| m.as_str() == s)
    }
}

/// One count of the monthly rollup (or a change to one: `count` ±1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cell {
    /// `YYYY-MM`, UTC.
    pub month: String,
    pub metric: Metric,
    pub key: String,
    /// Hundredths of an hour for `Timing`, else 0.
    pub bucket: i64,
    pub count: i64,
}

/// The month (`YYYY-MM`, UTC) `at` falls in.
pub fn month(at: NaiveDateTime) -> String {
    at.format("%Y-%m").to_string()
}

/// Each step timed for a case: the states that start it (the earliest
/// counts) and those that end it (the earliest counts).
const STEPS: [(&str, &[&str], &[&str]); 3] = [
    (
        "decision",
        &["submitted", "received"],
        &["accepted", "declined"],
    ),
    ("handover", &["accepted"], &["handed_over"]),
    ("closure", &["submitted", "received"], &["closed"]),
];

/// Whether entering `state` can complete a step or change its duration.
pub fn is_timed(state: &str) -> bool {
    STEPS
        .iter()
        .any(|(_, a, b)| a.contains(&state) || b.contains(&state))
}

/// A duration as the hundredths of an hour the answer is rounded to.
fn bucket(a: NaiveDateTime, b: NaiveDateTime) -> i64 {
    (hours(a, b) * 100.0).round() as i64
}

/// The steps one case has completed, from its timeline `(state, when)`,
/// each with its duration's bucket.
fn case_steps(timeline: &[(&str, NaiveDateTime)]) -> BTreeMap<&'static str, i64> {
    let mut first: HashMap<&str, NaiveDateTime> = HashMap::new();
    for (st, at) in timeline {
        let e = first.entry(st).or_insert(*at);
        *e = (*e).min(*at);
    }
    let earliest = |states: &[&str]| states.iter().filter_map(|s| first.get(s)).min().copied();
    STEPS
        .iter()
        .filter_map(|(step, a, b)| Some((*step, bucket(earliest(a)?, earliest(b)?))))
        .collect()
}

fn cell(at: NaiveDateTime, metric: Metric, key: String, bucket: i64, count: i64) -> Cell {
    Cell {
        month: month(at),
        metric,
        key,
        bucket,
        count,
    }
}

/// The rollup's change when a case created at `created` in `direction`
/// moves `from` a state (none when new) `to` another, given its timeline
/// before the move: its count moves, and a step it completes (or whose
/// duration changes) is timed.
pub fn case_moved(
    created: NaiveDateTime,
    direction: &str,
    timeline: &[(&str, NaiveDateTime)],
    from: Option<&str>,
    to: (&str, NaiveDateTime),
) -> Vec<Cell> {
    if from == Some(to.0) {
        return Vec::new();
    }
    let mut out = Vec::new();
    if let Some(f) = from {
        out.push(cell(
            created,
            Metric::Cases,
            format!("{direction}/{f}"),
            0,
            -1,
        ));
    }
    out.push(cell(
        created,
        Metric::Cases,
        format!("{direction}/{}", to.0),
        0,
        1,
    ));
    if is_timed(to.0) {
        let before = case_steps(timeline);
        let mut after = timeline.to_vec();
        after.push(to);
        for (step, b) in case_steps(&after) {
            match before.get(step) {
                Some(old) if *old == b => {}
                Some(old) => {
                    out.push(cell(created, Metric::Timing, step.into(), *old, -1));
                    out.push(cell(created, Metric::Timing, step.into(), b, 1));
                }
                None => out.push(cell(created, Metric::Timing, step.into(), b, 1)),
            }
        }
    }
    out
}

/// The rollup's change for an audit entry: a message queued or received, a
/// receipt (timed from when its message was `queued`), a step overdue.
pub fn logged(entry: &Entry, queued: Option<DateTime<Utc>>) -> Option<Cell> {
    let at = entry.at.naive_utc();
    match entry.kind.as_str() {
        kinds::MESSAGE_QUEUED => Some(cell(
            at,
            Metric::Messages,
            format!("outgoing/{}", entry.action),
            0,
            1,
        )),
        kinds::MESSAGE_RECEIVED => Some(cell(
            at,
            Metric::Messages,
            format!("incoming/{}", entry.action),
            0,
            1,
        )),
        kinds::DEADLINE_OVERDUE => Some(cell(at, Metric::Overdue, entry.action.clone(), 0, 1)),
        kinds::RECEIPT_RECEIVED => queued.map(|q| {
            let b = bucket(q.naive_utc(), at);
            cell(at, Metric::Timing, "acknowledgement".into(), b, 1)
        }),
        _ => None,
    }
}

/// How a period `[from, to)` is read: its whole calendar months from the
/// rollup, the stretches before and after them (each inside one month)
/// from the facts.
#[derive(Debug, PartialEq, Eq)]
pub struct Split {
    /// Whole months `[first, end)` as `YYYY-MM` (`None`: unbounded), or
    /// `None` when the period holds no whole month.
    pub months: Option<(Option<String>, Option<String>)>,
    /// The stretches `[from, to)` read from the facts.
    pub stretches: Vec<(NaiveDateTime, NaiveDateTime)>,
}

fn month_start(t: NaiveDateTime) -> NaiveDateTime {
    t.date()
        .with_day(1)
        .unwrap_or(t.date())
        .and_time(chrono::NaiveTime::MIN)
}

fn next_month(t: NaiveDateTime) -> NaiveDateTime {
    month_start(t)
        .checked_add_months(chrono::Months::new(1))
        .unwrap_or(NaiveDateTime::MAX)
}

/// Splits `[from, to)` (unbounded where `None`) into whole months and the
/// stretches around them.
pub fn split(from: Option<NaiveDateTime>, to: Option<NaiveDateTime>) -> Split {
    let mut stretches = Vec::new();
    if let (Some(f), Some(t)) = (from, to) {
        let first = if f == month_start(f) {
            f
        } else {
            next_month(f)
        };
        if f >= t || first >= month_start(t) {
            // Less than a whole month: at most one stretch on either side
            // of a month's start.
            let cut = month_start(t).max(f);
            stretches.extend([(f, cut), (cut, t)].into_iter().filter(|(a, b)| a < b));
            return Split {
                months: None,
                stretches,
            };
        }
    }
    let first = from.map(|f| {
        if f == month_start(f) {
            f
        } else {
            stretches.push((f, next_month(f)));
            next_month(f)
        }
    });
    let end = to.map(|t| {
        if t != month_start(t) {
            stretches.push((month_start(t), t));
        }
        month_start(t)
    });
    Split {
        months: Some((first.map(month), end.map(month))),
        stretches,
    }
}

/// Counts being gathered for a period, from rollup cells and from facts.
#[derive(Debug, Default)]
pub struct Tally {
    /// `(month, direction, state)` → cases.
    cases: BTreeMap<(String, String, String), i64>,
    messages: BTreeMap<String, i64>,
    overdue: BTreeMap<String, i64>,
    /// Step → duration bucket → how many.
    timings: BTreeMap<String, BTreeMap<i64, i64>>,
}

impl Tally {
    /// Adds one rollup cell.
    pub fn add(&mut self, c: &Cell) {
        match c.metric {
            Metric::Cases => {
                let (direction, state) = c.key.split_once('/').unwrap_or((&c.key, ""));
                let key = (c.month.clone(), direction.to_owned(), state.to_owned());
                *self.cases.entry(key).or_insert(0) += c.count;
            }
            Metric::Messages => *self.messages.entry(c.key.clone()).or_insert(0) += c.count,
            Metric::Overdue => *self.overdue.entry(c.key.clone()).or_insert(0) += c.count,
            Metric::Timing => {
                let histogram = self.timings.entry(c.key.clone()).or_default();
                *histogram.entry(c.bucket).or_insert(0) += c.count;
            }
        }
    }

    /// Adds what `facts` hold (a stretch read from the cases and the log).
    pub fn add_facts(&mut self, facts: &Facts) {
        for c in Tally::cells_of(facts) {
            self.add(&c);
        }
    }

    /// The rollup cells `facts` make (what a month's cells are rebuilt
    /// from).
    pub fn cells_of(facts: &Facts) -> Vec<Cell> {
        let mut out = Vec::new();
        let mut timelines: HashMap<&str, Vec<(&str, NaiveDateTime)>> = HashMap::new();
        for (case, st, at) in &facts.events {
            timelines.entry(case).or_default().push((st, *at));
        }
        for (id, direction, st, created) in &facts.cases {
            out.push(cell(
                *created,
                Metric::Cases,
                format!("{direction}/{st}"),
                0,
                1,
            ));
            let timeline = timelines.get(id.as_str()).map_or(&[][..], |t| &t[..]);
            for (step, b) in case_steps(timeline) {
                out.push(cell(*created, Metric::Timing, step.into(), b, 1));
            }
        }
        for e in facts.overdue.iter().chain(&facts.exchange) {
            let queued = e.message_id.as_ref().and_then(|m| facts.queued.get(m));
            out.extend(logged(e, queued.copied()));
        }
        out
    }

    /// The statistics, every count below `min` suppressed.
    pub fn finish(self, min: u64) -> Statistics {
        let mut by_month = BTreeMap::new();
        let mut by_state = BTreeMap::new();
        for ((month, direction, state), n) in self.cases {
            *by_month.entry(format!("{month}/{direction}")).or_insert(0) += n;
            *by_state.entry(format!("{direction}/{state}")).or_insert(0) += n;
        }
        let mut timings = self.timings;
        let mut timing_of = |step| timing(step, timings.remove(step).unwrap_or_default(), min);
        Statistics {
            min_cell_count: min,
            referrals_by_month: counts(by_month, min),
            referrals_by_state: counts(by_state, min),
            messages_by_type: counts(self.messages, min),
            overdue_by_state: counts(self.overdue, min),
            timings: vec![
                timing_of("acknowledgement"),
                timing_of("decision"),
                timing_of("handover"),
                timing_of("closure"),
            ],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap()
    }

    #[test]
    fn referrals_are_counted_by_month_and_direction_small_cells_suppressed() {
        let mut cases = Vec::new();
        for i in 0..5 {
            cases.push((
                format!("a{i}"),
                "outgoing".into(),
                "accepted".into(),
                at("2026-11-03 10:00"),
            ));
        }
        cases.push((
            "b".into(),
            "incoming".into(),
            "received".into(),
            at("2026-11-30 23:59"),
        ));
        cases.push((
            "c".into(),
            "outgoing".into(),
            "draft".into(),
            at("2026-12-01 00:00"),
        ));
        let mut tally = Tally::default();
        tally.add_facts(&Facts {
            cases,
            events: vec![],
            overdue: vec![],
            exchange: vec![],
            queued: HashMap::new(),
        });
        let s = tally.finish(5);
        let got: Vec<(&str, Option<u64>)> = s
            .referrals_by_month
            .iter()
            .map(|c| (c.key.as_str(), c.count))
            .collect();
        assert_eq!(
            got,
            [
                ("2026-11/incoming", None),
                ("2026-11/outgoing", Some(5)),
                ("2026-12/outgoing", None)
            ]
        );
    }

    #[test]
    fn a_period_splits_into_whole_months_and_the_stretches_around_them() {
        let m = |a: &str, b: &str| Some((Some(a.to_owned()), Some(b.to_owned())));
        // Whole months only.
        let s = split(Some(at("2026-01-01 00:00")), Some(at("2026-03-01 00:00")));
        assert_eq!(s.months, m("2026-01", "2026-03"));
        assert!(s.stretches.is_empty());
        // A stretch on either side.
        let s = split(Some(at("2026-01-15 10:00")), Some(at("2026-03-02 00:00")));
        assert_eq!(s.months, m("2026-02", "2026-03"));
        assert_eq!(
            s.stretches,
            [
                (at("2026-01-15 10:00"), at("2026-02-01 00:00")),
                (at("2026-03-01 00:00"), at("2026-03-02 00:00"))
            ]
        );
        // Less than a whole month, across a month's start.
        let s = split(Some(at("2026-01-15 10:00")), Some(at("2026-02-10 00:00")));
        assert_eq!(s.months, None);
        assert_eq!(
            s.stretches,
            [
                (at("2026-01-15 10:00"), at("2026-02-01 00:00")),
                (at("2026-02-01 00:00"), at("2026-02-10 00:00"))
            ]
        );
        // Inside one month; empty.
        let s = split(Some(at("2026-01-01 00:00")), Some(at("2026-01-20 00:00")));
        assert_eq!((s.months, s.stretches.len()), (None, 1));
        let s = split(Some(at("2026-01-20 00:00")), Some(at("2026-01-01 00:00")));
        assert_eq!((s.months, s.stretches.len()), (None, 0));
        // Unbounded.
        let s = split(None, Some(at("2026-01-20 00:00")));
        assert_eq!(s.months, Some((None, Some("2026-01".into()))));
        assert_eq!(
            s.stretches,
            [(at("2026-01-01 00:00"), at("2026-01-20 00:00"))]
        );
        assert_eq!(split(None, None).months, Some((None, None)));
    }

    #[test]
    fn a_case_moving_keeps_its_counts_and_steps_as_a_rebuild_would() {
        let created = at("2026-11-03 10:00");
        let timeline = [
            ("submitted", at("2026-11-03 11:00")),
            ("received", at("2026-11-03 12:00")),
        ];
        let moved = case_moved(
            created,
            "outgoing",
            &timeline,
            Some("received"),
            ("accepted", at("2026-11-04 11:30")),
        );
        let keys: Vec<(&str, &str, i64, i64)> = moved
            .iter()
            .map(|c| (c.metric.as_str(), c.key.as_str(), c.bucket, c.count))
            .collect();
        assert_eq!(
            keys,
            [
                ("cases", "outgoing/received", 0, -1),
                ("cases", "outgoing/accepted", 0, 1),
                ("timing", "decision", 2450, 1)
            ]
        );
        // A note on the timeline (same state) changes nothing.
        assert!(case_moved(
            created,
            "outgoing",
            &timeline,
            Some("received"),
            ("received", created)
        )
        .is_empty());
    }
}
