//! The JTWG's statistics, computed from facts without personal data:
//! counts by direction and state, messages by type, overdue steps, and the
//! time each step took as median and 90th percentile. Every count below the
//! suppression threshold is withheld, so that no small group of people can
//! be singled out.

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDateTime;
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
    /// Time to acknowledgement (message → receipt), decision (submitted →
    /// accepted/declined), handover (accepted → handed over) and closure
    /// (submitted → closed).
    pub timings: Vec<Timing>,
}

/// What the statistics are drawn from, for one period.
pub struct Facts {
    /// The cases created in the period: `(id, direction, state, when)`.
    pub cases: Vec<(String, String, String, NaiveDateTime)>,
    /// Their timelines: `(case id, state entered, when)`, oldest first.
    pub events: Vec<(String, String, NaiveDateTime)>,
    /// The `deadline_overdue` audit entries of the period.
    pub overdue: Vec<Entry>,
    /// The exchange's audit entries of the period, in log order.
    pub exchange: Vec<Entry>,
}

fn counts(map: BTreeMap<String, u64>, min: u64) -> Vec<Count> {
    map.into_iter()
        .map(|(key, n)| Count {
            key,
            count: (n >= min).then_some(n),
            suppressed: n < min,
        })
        .collect()
}

fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some((sorted[rank - 1] * 100.0).round() / 100.0)
}

fn timing(step: &str, mut hours: Vec<f64>, min: u64) -> Timing {
    hours.sort_by(f64::total_cmp);
    let n = hours.len() as u64;
    let suppressed = n < min;
    Timing {
        step: step.to_owned(),
        count: (!suppressed).then_some(n),
        median_hours: if suppressed {
            None
        } else {
            percentile(&hours, 0.5)
        },
        p90_hours: if suppressed {
            None
        } else {
            percentile(&hours, 0.9)
        },
        suppressed,
    }
}

fn hours(a: NaiveDateTime, b: NaiveDateTime) -> f64 {
    (b - a).num_milliseconds() as f64 / 3_600_000.0
}

/// The statistics of a period, every count below `min` suppressed.
pub fn compute(facts: Facts, min: u64) -> Statistics {
    let mut by_state = BTreeMap::new();
    let mut by_month = BTreeMap::new();
    for (_, direction, st, created) in &facts.cases {
        *by_state.entry(format!("{direction}/{st}")).or_insert(0) += 1;
        let month = created.format("%Y-%m");
        *by_month.entry(format!("{month}/{direction}")).or_insert(0) += 1;
    }
    let mut first: HashMap<(&str, &str), NaiveDateTime> = HashMap::new();
    for (case, st, at) in &facts.events {
        first.entry((case.as_str(), st.as_str())).or_insert(*at);
    }
    let span = |a: &[&str], b: &[&str]| -> Vec<f64> {
        facts
            .cases
            .iter()
            .filter_map(|(id, _, _, _)| {
                let start = a
                    .iter()
                    .filter_map(|s| first.get(&(id.as_str(), *s)))
                    .min()?;
                let end = b
                    .iter()
                    .filter_map(|s| first.get(&(id.as_str(), *s)))
                    .min()?;
                Some(hours(*start, *end))
            })
            .collect()
    };
    let decision = span(&["submitted", "received"], &["accepted", "declined"]);
    let handover = span(&["accepted"], &["handed_over"]);
    let closure = span(&["submitted", "received"], &["closed"]);
    let mut overdue = BTreeMap::new();
    for e in &facts.overdue {
        *overdue.entry(e.action.clone()).or_insert(0) += 1;
    }
    let mut by_type = BTreeMap::new();
    let mut queued_at = HashMap::new();
    let mut ack = Vec::new();
    for e in &facts.exchange {
        match e.kind.as_str() {
            kinds::MESSAGE_QUEUED => {
                *by_type.entry(format!("outgoing/{}", e.action)).or_insert(0) += 1;
                queued_at.insert(e.message_id.clone(), e.at);
            }
            kinds::MESSAGE_RECEIVED => {
                *by_type.entry(format!("incoming/{}", e.action)).or_insert(0) += 1;
            }
            kinds::RECEIPT_RECEIVED => {
                if let Some(q) = queued_at.get(&e.message_id) {
                    ack.push(hours(q.naive_utc(), e.at.naive_utc()));
                }
            }
            _ => {}
        }
    }
    Statistics {
        min_cell_count: min,
        referrals_by_month: counts(by_month, min),
        referrals_by_state: counts(by_state, min),
        messages_by_type: counts(by_type, min),
        overdue_by_state: counts(overdue, min),
        timings: vec![
            timing("acknowledgement", ack, min),
            timing("decision", decision, min),
            timing("handover", handover, min),
            timing("closure", closure, min),
        ],
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
        let s = compute(
            Facts {
                cases,
                events: vec![],
                overdue: vec![],
                exchange: vec![],
            },
            5,
        );
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
}
