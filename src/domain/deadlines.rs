//! The SOP's time limits: how long a case may stay in a state, and when
//! reintegration follow-ups are due. Read from the `[deadlines]` section of
//! the configuration (each setting is documented where it is declared).
//! Also the agencies' calendar date, against which entered dates are judged.

use serde::Deserialize;

use super::lifecycle::State;

/// `[deadlines]`: how long a case may stay in a state before it is overdue,
/// in hours. A state without a limit is never overdue.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeadlineSettings {
    /// `deadlines.submitted_hours`: supervisor approval (default 48).
    pub submitted_hours: Option<u32>,
    /// `deadlines.approved_hours`: acknowledgement by the other agency (default 24).
    pub approved_hours: Option<u32>,
    /// `deadlines.received_hours`: decision by the receiving agency (default 120).
    pub received_hours: Option<u32>,
    /// `deadlines.info_requested_hours`: answer to an information request (default 72).
    pub info_requested_hours: Option<u32>,
    /// `deadlines.accepted_hours`: scheduling the handover (default 168).
    pub accepted_hours: Option<u32>,
    /// `deadlines.handover_scheduled_hours`: departure (default 336).
    pub handover_scheduled_hours: Option<u32>,
    /// `deadlines.in_transit_hours`: handover confirmation (default 48).
    pub in_transit_hours: Option<u32>,
    /// `deadlines.handed_over_hours`: start of assistance (default 24).
    pub handed_over_hours: Option<u32>,
    /// `deadlines.check_interval_secs`: how often the node looks for steps
    /// past their time limit and records each once in the audit log (default 60).
    pub check_interval_secs: u64,
    /// `deadlines.follow_up_months`: reintegration follow-ups are due this
    /// many months after monitoring starts (default `[3, 6, 12]`).
    pub follow_up_months: Vec<u32>,
}

impl Default for DeadlineSettings {
    fn default() -> Self {
        Self {
            submitted_hours: Some(48),
            approved_hours: Some(24),
            received_hours: Some(120),
            info_requested_hours: Some(72),
            accepted_hours: Some(168),
            handover_scheduled_hours: Some(336),
            in_transit_hours: Some(48),
            handed_over_hours: Some(24),
            check_interval_secs: 60,
            follow_up_months: vec![3, 6, 12],
        }
    }
}

impl DeadlineSettings {
    /// Time limit for a case entering `state`.
    pub fn limit(&self, state: State) -> Option<chrono::Duration> {
        let hours = match state {
            State::Submitted => self.submitted_hours,
            State::Approved => self.approved_hours,
            State::Received => self.received_hours,
            State::InfoRequested => self.info_requested_hours,
            State::Accepted => self.accepted_hours,
            State::HandoverScheduled => self.handover_scheduled_hours,
            State::InTransit => self.in_transit_hours,
            State::HandedOver => self.handed_over_hours,
            _ => None,
        };
        hours.map(|h| chrono::Duration::hours(i64::from(h)))
    }
}

/// The date it is where the two agencies work: West Africa Time, UTC+1, in
/// Niger and Nigeria alike and all year (neither keeps daylight saving).
/// A date a caseworker enters (a consent given, a consent withdrawn) is in
/// the future only after this one: from 23:00 UTC it is already tomorrow.
pub fn local_date(now: chrono::NaiveDateTime) -> chrono::NaiveDate {
    (now + chrono::Duration::hours(1)).date()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_agencies_date_turns_at_23_utc() {
        let d = chrono::NaiveDate::from_ymd_opt(2026, 12, 3).unwrap();
        assert_eq!(local_date(d.and_hms_opt(22, 59, 59).unwrap()), d);
        assert_eq!(
            local_date(d.and_hms_opt(23, 0, 0).unwrap()),
            d.succ_opt().unwrap()
        );
    }
}
