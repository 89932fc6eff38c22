//! Repatriation and reintegration reports: the coded outcome of family
//! tracing and assessment, risk, travel documents and the return plan; and
//! the reintegration follow-ups due at configured intervals (for example 3,
//! 6 and 12 months after monitoring starts), sent back to the referring
//! side. Coded data only, no free text. Pure: no I/O.

use chrono::{Months, NaiveDate};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::code_lists::{self, ids as lists};
use super::FieldError;

/// A repatriation report as sent by a client (and on the wire).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Repatriation {
    /// Family tracing (code list `family_tracing_outcome`); needs the consent
    /// scope `family_tracing` to travel.
    pub family_tracing: Option<String>,
    /// Family assessment (code list `family_assessment`); needs `family_tracing`.
    pub family_assessment: Option<String>,
    /// Risk assessment (code list `risk_level`).
    pub risk_level: Option<String>,
    /// Travel documents (code list `travel_document_status`).
    pub travel_document_status: Option<String>,
    /// Return plan (code list `return_plan`).
    pub return_plan: Option<String>,
}

/// A reintegration follow-up as sent by a client (and on the wire).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FollowUp {
    /// Which follow-up: 1 for the first of the schedule, up to the number
    /// of follow-ups the node's schedule plans (`deadlines.follow_up_months`,
    /// 3 by default, never more than 24).
    #[schema(minimum = 1, maximum = 24)]
    pub number: u32,
    /// Outcome (code list `follow_up_outcome`).
    pub outcome: String,
    /// Risk assessment at this follow-up (code list `risk_level`).
    pub risk_level: Option<String>,
    /// Services received since the last report (code list `service`).
    #[serde(default)]
    pub services: Vec<String>,
}

fn code(errors: &mut Vec<FieldError>, field: &str, list: &str, value: Option<&String>) {
    if let Some(v) = value {
        if !code_lists::contains(list, v) {
            errors.push(FieldError::new(
                field.to_owned(),
                "unknown_code",
                format!("`{v}` is not a code of the list `{list}`"),
            ));
        }
    }
}

impl Repatriation {
    /// Checks every code; at least one field.
    pub fn check(&self) -> Result<(), Vec<FieldError>> {
        let mut e = Vec::new();
        code(
            &mut e,
            "family_tracing",
            lists::FAMILY_TRACING_OUTCOME,
            self.family_tracing.as_ref(),
        );
        code(
            &mut e,
            "family_assessment",
            lists::FAMILY_ASSESSMENT,
            self.family_assessment.as_ref(),
        );
        code(
            &mut e,
            "risk_level",
            lists::RISK_LEVEL,
            self.risk_level.as_ref(),
        );
        code(
            &mut e,
            "travel_document_status",
            lists::TRAVEL_DOCUMENT_STATUS,
            self.travel_document_status.as_ref(),
        );
        code(
            &mut e,
            "return_plan",
            lists::RETURN_PLAN,
            self.return_plan.as_ref(),
        );
        if self.family_tracing.is_none()
            && self.family_assessment.is_none()
            && self.risk_level.is_none()
            && self.travel_document_status.is_none()
            && self.return_plan.is_none()
        {
            e.push(FieldError::new(
                "report",
                "required",
                "report at least one outcome",
            ));
        }
        if e.is_empty() {
            Ok(())
        } else {
            Err(e)
        }
    }

    /// The consent scopes this report needs beyond `referral`.
    pub fn needs_scope(&self) -> Option<&'static str> {
        (self.family_tracing.is_some() || self.family_assessment.is_some())
            .then_some(super::disclosure::scopes::FAMILY_TRACING)
    }
}

impl FollowUp {
    /// Checks every code and that `number` is in the schedule of `planned` follow-ups.
    pub fn check(&self, planned: usize) -> Result<(), Vec<FieldError>> {
        let mut e = Vec::new();
        if self.number == 0 || self.number as usize > planned {
            e.push(FieldError::new(
                "number",
                "out_of_range",
                format!("follow-ups are numbered 1 to {planned}"),
            ));
        }
        code(
            &mut e,
            "outcome",
            lists::FOLLOW_UP_OUTCOME,
            Some(&self.outcome),
        );
        code(
            &mut e,
            "risk_level",
            lists::RISK_LEVEL,
            self.risk_level.as_ref(),
        );
        for (i, s) in self.services.iter().enumerate() {
            code(&mut e, &format!("services[{i}]"), lists::SERVICE, Some(s));
        }
        if e.is_empty() {
            Ok(())
        } else {
            Err(e)
        }
    }
}

/// Due dates of the follow-ups: `months` after `start` (e.g. 3, 6, 12).
pub fn schedule(start: NaiveDate, months: &[u32]) -> Vec<NaiveDate> {
    months
        .iter()
        .filter_map(|m| start.checked_add_months(Months::new(*m)))
        .collect()
}

/// The one rule for a follow-up's delay: it is overdue once its due day is
/// over (UTC) and no report was recorded for it.
pub fn follow_up_overdue(due_on: NaiveDate, reported: bool, now: chrono::NaiveDateTime) -> bool {
    !reported && now.date() > due_on
}

/// The follow-ups of a schedule started at `start` whose due day is over by
/// `now`: their numbers (from 1) and due dates. Whether each was reported
/// is the caller's to check (see [`follow_up_overdue`]).
pub fn follow_ups_past_due(
    start: chrono::NaiveDateTime,
    months: &[u32],
    now: chrono::NaiveDateTime,
) -> Vec<(i64, NaiveDate)> {
    schedule(start.date(), months)
        .into_iter()
        .zip(1..)
        .filter(|(due, _)| follow_up_overdue(*due, false, now))
        .map(|(due, number)| (number, due))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_are_coded() {
        let r = Repatriation {
            family_tracing: Some("found".into()),
            family_assessment: Some("suitable".into()),
            risk_level: Some("medium".into()),
            travel_document_status: None,
            return_plan: Some("family_reunification".into()),
        };
        assert_eq!(r.check(), Ok(()));
        assert_eq!(r.needs_scope(), Some("family_tracing"));
        let bad = Repatriation {
            family_tracing: Some("maybe".into()),
            family_assessment: None,
            risk_level: None,
            travel_document_status: None,
            return_plan: None,
        };
        assert_eq!(bad.check().unwrap_err()[0].code, "unknown_code");
        let f = FollowUp {
            number: 4,
            outcome: "fine".into(),
            risk_level: None,
            services: vec!["x".into()],
        };
        assert_eq!(f.check(3).unwrap_err().len(), 3);
    }

    #[test]
    fn the_schedule_counts_months() {
        let d = |s: &str| s.parse::<NaiveDate>().unwrap();
        assert_eq!(
            schedule(d("2026-11-30"), &[3, 6, 12]),
            vec![d("2027-02-28"), d("2027-05-30"), d("2027-11-30")]
        );
    }
}
