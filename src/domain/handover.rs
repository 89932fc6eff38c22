//! The handover at the border: a plan (crossing point, date window,
//! escorting agencies) proposed by one side and accepted — possibly after
//! counter-proposals — by the other; departure recorded by the sending
//! side's liaison; and the handover confirmed by the liaisons of **both**
//! sides, complete only when both have confirmed. Pure: no I/O.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::code_lists::{self, ids as lists};
use super::lifecycle::Side;
use super::problem::ProblemCode;
use super::FieldError;

/// Longest date window of a handover plan.
pub const MAX_WINDOW_DAYS: i64 = 31;

/// A handover plan as sent by a client.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanInput {
    /// Crossing point (`GET /api/v1/crossing-points`).
    pub crossing_point: String,
    /// First day of the window.
    pub window_from: NaiveDate,
    /// Last day of the window.
    pub window_to: NaiveDate,
    /// Escorting agencies (code list `escort_agency`), at least one.
    pub escorts: Vec<String>,
    /// The receiving side's service (a shelter, say) the person is handed
    /// to: its id in the directory (`GET /api/v1/directory`).
    pub receiving_service: Option<String>,
}

/// A checked handover plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    /// Crossing point (`GET /api/v1/crossing-points`).
    pub crossing_point: String,
    /// First day of the window.
    pub window_from: NaiveDate,
    /// Last day of the window.
    pub window_to: NaiveDate,
    /// Escorting agencies (code list `escort_agency`).
    pub escorts: Vec<String>,
    /// The receiving side's directory service the person is handed to.
    #[serde(default)]
    pub receiving_service: Option<String>,
}

impl PlanInput {
    /// Checks the plan against the code lists and the window rules
    /// (`today` bounds the window: it may not end in the past).
    pub fn parse(self, today: NaiveDate, crossings: &[String]) -> Result<Plan, Vec<FieldError>> {
        let mut errors = Vec::new();
        if !crossings.contains(&self.crossing_point) {
            errors.push(FieldError::new(
                "handover.crossing_point",
                "unknown_crossing_point",
                format!(
                    "`{}` is not an active crossing point (GET /api/v1/crossing-points)",
                    self.crossing_point
                ),
            ));
        }
        if self.window_to < self.window_from {
            errors.push(FieldError::new(
                "handover.window_to",
                "invalid_window",
                "the window ends before it starts",
            ));
        } else if (self.window_to - self.window_from).num_days() > MAX_WINDOW_DAYS {
            errors.push(FieldError::new(
                "handover.window_to",
                "invalid_window",
                format!("the window may not exceed {MAX_WINDOW_DAYS} days"),
            ));
        }
        if self.window_to < today {
            errors.push(FieldError::new(
                "handover.window_to",
                "in_past",
                "the window has already ended",
            ));
        }
        if self
            .receiving_service
            .as_ref()
            .is_some_and(|id| uuid::Uuid::parse_str(id).is_err())
        {
            errors.push(FieldError::new(
                "handover.receiving_service",
                "invalid",
                "the id of a service in the receiving side's directory",
            ));
        }
        if self.escorts.is_empty() {
            errors.push(FieldError::new(
                "handover.escorts",
                "required",
                "at least one escorting agency",
            ));
        }
        let escort_list = code_lists::list(lists::ESCORT_AGENCY);
        for (i, e) in self.escorts.iter().enumerate() {
            if !escort_list.is_some_and(|l| l.contains(e)) {
                errors.push(FieldError::new(
                    format!("handover.escorts[{i}]"),
                    "unknown_code",
                    format!("`{e}` is not in code list `escort_agency`"),
                ));
            }
        }
        if errors.is_empty() {
            let mut escorts = self.escorts;
            escorts.sort();
            escorts.dedup();
            Ok(Plan {
                crossing_point: self.crossing_point,
                window_from: self.window_from,
                window_to: self.window_to,
                escorts,
                receiving_service: self.receiving_service,
            })
        } else {
            Err(errors)
        }
    }
}

impl Plan {
    /// Checks the codes and the window's shape of a plan received from the
    /// other node (its window may have begun by the time it arrives).
    pub fn check_codes(&self, crossings: &[String]) -> Result<(), Vec<FieldError>> {
        PlanInput {
            crossing_point: self.crossing_point.clone(),
            window_from: self.window_from,
            window_to: self.window_to,
            escorts: self.escorts.clone(),
            receiving_service: self.receiving_service.clone(),
        }
        .parse(self.window_from, crossings)
        .map(|_| ())
    }
}

/// Where a plan stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PlanStatus {
    /// Proposed by one side; the other may accept or counter-propose.
    Proposed,
    /// Accepted by the side that did not propose it.
    Agreed,
}

/// A liaison's record at the crossing: departure, or confirmation of the handover.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AtCrossing {
    /// When (UTC).
    pub at: DateTime<Utc>,
    /// Where (`GET /api/v1/crossing-points`).
    pub crossing_point: String,
}

/// Why a negotiation step is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandoverError {
    #[error("there is no handover plan yet")]
    NoPlan,
    #[error("the plan was already agreed")]
    AlreadyAgreed,
    #[error("the side that proposed the plan cannot {0} it; the other side can")]
    OwnProposal(&'static str),
    #[error("the handover plan is not agreed yet: accept it (or have it accepted) first")]
    NotAgreed,
    #[error("this side already confirmed the handover")]
    AlreadyConfirmed,
    #[error("the handover can only be negotiated while it is scheduled")]
    NotScheduled,
    #[error("the other side answered another round of the negotiation")]
    RoundMismatch,
}

impl HandoverError {
    /// Stable problem code.
    pub fn code(&self) -> ProblemCode {
        match self {
            HandoverError::NoPlan => ProblemCode::HandoverNotPlanned,
            HandoverError::AlreadyAgreed => ProblemCode::HandoverAlreadyAgreed,
            HandoverError::OwnProposal(_) => ProblemCode::OwnHandoverProposal,
            HandoverError::NotAgreed => ProblemCode::HandoverNotAgreed,
            HandoverError::AlreadyConfirmed => ProblemCode::HandoverAlreadyConfirmed,
            HandoverError::NotScheduled => ProblemCode::HandoverNotScheduled,
            HandoverError::RoundMismatch => ProblemCode::HandoverRoundMismatch,
        }
    }
}

/// May `side` accept or counter-propose a plan `proposed_by` in `status`?
pub fn may_answer(
    status: Option<PlanStatus>,
    proposed_by: Side,
    side: Side,
    verb: &'static str,
) -> Result<(), HandoverError> {
    match status {
        None => Err(HandoverError::NoPlan),
        Some(PlanStatus::Agreed) => Err(HandoverError::AlreadyAgreed),
        Some(PlanStatus::Proposed) if proposed_by == side => Err(HandoverError::OwnProposal(verb)),
        Some(PlanStatus::Proposed) => Ok(()),
    }
}

/// What differs between the agreed plan and the two sides' records (none when
/// consistent): the crossing point used, and the two confirmations more than
/// `tolerance_hours` apart or outside the window.
pub fn mismatch(
    plan: &Plan,
    departure: Option<&AtCrossing>,
    sending: &AtCrossing,
    receiving: &AtCrossing,
    tolerance_hours: i64,
) -> Option<String> {
    let mut problems = Vec::new();
    for (who, rec) in [
        ("departure", departure),
        ("sending confirmation", Some(sending)),
        ("receiving confirmation", Some(receiving)),
    ] {
        if let Some(r) = rec {
            if r.crossing_point != plan.crossing_point {
                problems.push(format!(
                    "{who} at `{}`, plan `{}`",
                    r.crossing_point, plan.crossing_point
                ));
            }
        }
    }
    if (sending.at - receiving.at).num_hours().abs() > tolerance_hours {
        problems.push(format!(
            "confirmations {} h apart",
            (sending.at - receiving.at).num_hours().abs()
        ));
    }
    let day = receiving.at.date_naive();
    if day < plan.window_from || day > plan.window_to {
        problems.push(format!(
            "handed over on {day}, outside the window {} – {}",
            plan.window_from, plan.window_to
        ));
    }
    (!problems.is_empty()).then(|| problems.join("; "))
}

/// Where and when a liaison's record happened: what was given, else the
/// agreed plan's crossing point and now.
pub fn resolve_at(given: Option<&HandoverParams>, plan: &Plan, now: NaiveDateTime) -> AtCrossing {
    let (cp, at) = match given {
        Some(HandoverParams::At { crossing_point, at }) => (crossing_point.clone(), *at),
        _ => (None, None),
    };
    AtCrossing {
        at: at.unwrap_or_else(|| chrono::TimeZone::from_utc_datetime(&chrono::Utc, &now)),
        crossing_point: cp.unwrap_or_else(|| plan.crossing_point.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn crossings() -> Vec<String> {
        vec!["maradi_jibia".into(), "konni_illela".into()]
    }

    fn input() -> PlanInput {
        PlanInput {
            crossing_point: "maradi_jibia".into(),
            window_from: d("2026-12-01"),
            window_to: d("2026-12-05"),
            escorts: vec!["naptip".into(), "dst_police".into(), "naptip".into()],
            receiving_service: None,
        }
    }

    #[test]
    fn plans_are_checked() {
        let plan = input().parse(d("2026-11-23"), &crossings()).unwrap();
        assert_eq!(plan.escorts, vec!["dst_police", "naptip"]);
        let mut bad = input();
        bad.crossing_point = "lagos".into();
        bad.window_to = d("2026-11-01");
        bad.escorts = vec!["army".into()];
        let codes: Vec<_> = bad
            .parse(d("2026-11-23"), &crossings())
            .unwrap_err()
            .into_iter()
            .map(|e| e.code)
            .collect();
        assert_eq!(
            codes,
            vec![
                "unknown_crossing_point",
                "invalid_window",
                "in_past",
                "unknown_code"
            ]
        );
    }

    #[test]
    fn only_the_other_side_answers_a_proposal() {
        use PlanStatus::*;
        assert_eq!(
            may_answer(None, Side::Sending, Side::Receiving, "accept"),
            Err(HandoverError::NoPlan)
        );
        assert!(may_answer(Some(Proposed), Side::Sending, Side::Receiving, "accept").is_ok());
        assert_eq!(
            may_answer(Some(Proposed), Side::Sending, Side::Sending, "accept"),
            Err(HandoverError::OwnProposal("accept"))
        );
        assert_eq!(
            may_answer(
                Some(Agreed),
                Side::Sending,
                Side::Receiving,
                "counter-propose"
            ),
            Err(HandoverError::AlreadyAgreed)
        );
    }

    #[test]
    fn a_mismatch_is_named() {
        let plan = input().parse(d("2026-11-23"), &crossings()).unwrap();
        let at = |s: &str, cp: &str| AtCrossing {
            at: s.parse().unwrap(),
            crossing_point: cp.into(),
        };
        let ok = at("2026-12-02T10:00:00Z", "maradi_jibia");
        assert_eq!(
            mismatch(
                &plan,
                Some(&ok),
                &ok,
                &at("2026-12-02T11:00:00Z", "maradi_jibia"),
                12
            ),
            None
        );
        let m = mismatch(
            &plan,
            Some(&ok),
            &ok,
            &at("2026-12-09T11:00:00Z", "konni_illela"),
            12,
        )
        .unwrap();
        assert!(
            m.contains("receiving confirmation at `konni_illela`"),
            "{m}"
        );
        assert!(m.contains("apart"), "{m}");
        assert!(m.contains("outside the window"), "{m}");
    }
}

/// Handover data a lifecycle transition carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HandoverParams {
    /// `schedule_handover`: the proposed plan.
    Plan(Plan),
    /// `depart`, `confirm_handover`: where and when (defaults: the agreed
    /// plan's crossing point, now).
    At {
        crossing_point: Option<String>,
        at: Option<DateTime<Utc>>,
    },
}

/// Handover data as sent by a client with a transition.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HandoverInput {
    /// Crossing point (`GET /api/v1/crossing-points`): required to schedule;
    /// for a departure or a confirmation, defaults to the agreed plan's.
    pub crossing_point: Option<String>,
    /// First day of the window (to schedule).
    pub window_from: Option<NaiveDate>,
    /// Last day of the window (to schedule).
    pub window_to: Option<NaiveDate>,
    /// Escorting agencies (to schedule; code list `escort_agency`).
    pub escorts: Option<Vec<String>>,
    /// The receiving side's directory service the person is handed to (to schedule).
    pub receiving_service: Option<String>,
    /// When it happened (departure, confirmation); defaults to now.
    pub at: Option<DateTime<Utc>>,
}

/// Checks the handover data of a transition: required to schedule, optional
/// for a departure or a confirmation, refused otherwise.
pub fn params_for(
    action: super::lifecycle::Action,
    input: Option<HandoverInput>,
    today: NaiveDate,
    crossings: &[String],
) -> Result<Option<HandoverParams>, Vec<FieldError>> {
    use super::lifecycle::Action;
    let missing = |f: &str| {
        FieldError::new(
            format!("handover.{f}"),
            "required",
            "needed to schedule a handover",
        )
    };
    match (action, input) {
        (Action::ScheduleHandover, None) => Err(vec![FieldError::new(
            "handover",
            "required",
            "a handover is scheduled with a plan: crossing point, date window, escorting agencies",
        )]),
        (Action::ScheduleHandover, Some(i)) => {
            let mut errors = Vec::new();
            if i.crossing_point.is_none() {
                errors.push(missing("crossing_point"));
            }
            if i.window_from.is_none() {
                errors.push(missing("window_from"));
            }
            if i.window_to.is_none() {
                errors.push(missing("window_to"));
            }
            if i.escorts.is_none() {
                errors.push(missing("escorts"));
            }
            if i.at.is_some() {
                errors.push(FieldError::new(
                    "handover.at",
                    "not_applicable",
                    "a plan has a window, not a time",
                ));
            }
            match (i.crossing_point, i.window_from, i.window_to, i.escorts) {
                (Some(crossing_point), Some(window_from), Some(window_to), Some(escorts))
                    if errors.is_empty() =>
                {
                    PlanInput {
                        crossing_point,
                        window_from,
                        window_to,
                        escorts,
                        receiving_service: i.receiving_service,
                    }
                    .parse(today, crossings)
                    .map(|p| Some(HandoverParams::Plan(p)))
                }
                _ => Err(errors),
            }
        }
        (Action::Depart | Action::ConfirmHandover, None) => Ok(Some(HandoverParams::At {
            crossing_point: None,
            at: None,
        })),
        (Action::Depart | Action::ConfirmHandover, Some(i)) => {
            let mut errors = Vec::new();
            if i.window_from.is_some()
                || i.window_to.is_some()
                || i.escorts.is_some()
                || i.receiving_service.is_some()
            {
                errors.push(FieldError::new(
                    "handover",
                    "not_applicable",
                    "a departure or a confirmation records a crossing point and a time only",
                ));
            }
            if let Some(cp) = &i.crossing_point {
                if !crossings.contains(cp) {
                    errors.push(FieldError::new(
                        "handover.crossing_point",
                        "unknown_crossing_point",
                        format!(
                            "`{cp}` is not an active crossing point (GET /api/v1/crossing-points)"
                        ),
                    ));
                }
            }
            if errors.is_empty() {
                Ok(Some(HandoverParams::At {
                    crossing_point: i.crossing_point,
                    at: i.at,
                }))
            } else {
                Err(errors)
            }
        }
        (_, None) => Ok(None),
        (_, Some(_)) => Err(vec![FieldError::new(
            "handover",
            "not_applicable",
            format!("`{action}` takes no handover data"),
        )]),
    }
}
