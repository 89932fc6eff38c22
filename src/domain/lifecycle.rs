//! The lifecycle of a referral as an explicit transition table.
//!
//! Each [`Rule`] says which action moves a case from which states to which
//! state, on which node it is initiated (the *sending* node that referred the
//! person or the *receiving* node that takes them in) and by which roles.
//! When the initiating node applies a rule that the other node must learn of,
//! the change travels as a message and the other node applies the same rule
//! with [`Actor::Peer`].
//!
//! ```text
//! draft ─submit→ submitted ─approve→ approved ─(peer receipt)→ received
//!   ↑ return_to_draft ┘                                        │  ↕ request_info / provide_info
//!                                                   accept ┌───┴─ info_requested
//!                                                          ↓       decline → declined
//! accepted ─schedule_handover→ handover_scheduled ─depart→ in_transit ─confirm_handover→ handed_over
//! handed_over ─start_assistance→ in_assistance ─start_reintegration_monitoring→ reintegration_monitoring
//! in_assistance | reintegration_monitoring ─close→ closed
//! cancel (sending side, up to handover_scheduled) · fail (handover stages) · put_on_hold/resume
//! mark_entered_in_error (sending side, before approval)
//! ```

use serde::{Deserialize, Serialize};

use super::code_lists::ids as lists;
use super::roles::Role;

mod rules;

pub use rules::{rule, Initiator, Notify, Rule, Target, RULES};

macro_rules! string_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $s:literal),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
        // The spec takes its names from here (utoipa ignores the per-variant
        // renames below); a unit test checks both agree.
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($(#[$vdoc])* #[serde(rename = $s)] $variant),*
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),*];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $s),* }
            }

            pub fn parse(s: &str) -> Option<Self> {
                match s { $($s => Some($name::$variant),)* _ => None }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

string_enum!(
    /// State of a referral case.
    State {
        /// Being prepared by the sending agency; editable.
        Draft = "draft",
        /// Submitted by a caseworker; awaits a supervisor's approval. Requires
        /// a recorded consent covering referral and a risk assessment.
        Submitted = "submitted",
        /// Approved by a supervisor; the referral is on its way to the other agency.
        Approved = "approved",
        /// The receiving agency has the referral and is considering it.
        Received = "received",
        /// The receiving agency asked the sending agency for more information.
        InfoRequested = "info_requested",
        /// The receiving agency accepted the referral.
        Accepted = "accepted",
        /// The receiving agency declined the referral (coded reason). Final.
        Declined = "declined",
        /// A handover at a border crossing has been scheduled.
        HandoverScheduled = "handover_scheduled",
        /// The person has left with the escort towards the crossing.
        InTransit = "in_transit",
        /// The receiving agency confirmed the physical handover.
        HandedOver = "handed_over",
        /// The receiving agency is assisting the person.
        InAssistance = "in_assistance",
        /// The person has returned; reintegration follow-ups are under way.
        ReintegrationMonitoring = "reintegration_monitoring",
        /// Closed with an outcome and a coded reason. Final.
        Closed = "closed",
        /// Cancelled by the sending agency (coded reason). Final.
        Cancelled = "cancelled",
        /// The handover failed (coded reason). Final.
        Failed = "failed",
        /// Paused (coded reason); resumes to the state it was put on hold from.
        OnHold = "on_hold",
        /// The record should never have existed (duplicate, wrong person,
        /// test). Only before it was sent. Final.
        EnteredInError = "entered_in_error",
    }
);

impl State {
    /// No transition leaves a terminal state.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            State::Declined
                | State::Closed
                | State::Cancelled
                | State::Failed
                | State::EnteredInError
        )
    }

    /// Whether the other node knows of the case in this state (it has been
    /// approved and sent).
    pub fn known_to_peer(self) -> bool {
        !matches!(
            self,
            State::Draft | State::Submitted | State::EnteredInError
        )
    }
}

string_enum!(
    /// An action that moves a case from one state to another.
    Action {
        /// Draft → submitted (sending caseworker or supervisor).
        Submit = "submit",
        /// Submitted → draft (sending supervisor, coded reason).
        ReturnToDraft = "return_to_draft",
        /// Submitted → approved; sends the referral (sending supervisor).
        Approve = "approve",
        /// Approved → received; applied when the receiving node acknowledges the referral.
        MarkReceived = "mark_received",
        /// Received → info_requested (receiving caseworker or supervisor).
        RequestInfo = "request_info",
        /// Info_requested → received (sending caseworker or supervisor).
        ProvideInfo = "provide_info",
        /// Received → accepted (receiving supervisor).
        Accept = "accept",
        /// Received or info_requested → declined (receiving supervisor, coded reason).
        Decline = "decline",
        /// Accepted → handover_scheduled (supervisor or liaison, either side).
        ScheduleHandover = "schedule_handover",
        /// Handover_scheduled → in_transit (sending liaison).
        Depart = "depart",
        /// In_transit → handed_over (receiving liaison).
        ConfirmHandover = "confirm_handover",
        /// Handed_over → in_assistance (receiving caseworker or supervisor).
        StartAssistance = "start_assistance",
        /// In_assistance → reintegration_monitoring (receiving caseworker or supervisor).
        StartReintegrationMonitoring = "start_reintegration_monitoring",
        /// In_assistance or reintegration_monitoring → closed (receiving supervisor, outcome and coded reason).
        Close = "close",
        /// Any state up to handover_scheduled → cancelled (sending supervisor, coded reason).
        Cancel = "cancel",
        /// Handover_scheduled or in_transit → failed (supervisor or liaison, either side, coded reason).
        Fail = "fail",
        /// An active state → on_hold (supervisor, either side, coded reason).
        PutOnHold = "put_on_hold",
        /// On_hold → the state it was put on hold from (supervisor, either side).
        Resume = "resume",
        /// Draft or submitted → entered_in_error (sending supervisor, coded reason).
        MarkEnteredInError = "mark_entered_in_error",
    }
);

/// The stages where border liaisons work on a case: from acceptance to the
/// confirmed handover. Liaisons see cases only in these states.
pub const HANDOVER_STAGES: &[State] = &[
    State::Accepted,
    State::HandoverScheduled,
    State::InTransit,
    State::HandedOver,
];

/// Which node a case record sits on, relative to the referral.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// The node of the agency that refers the person (case direction `outgoing`).
    Sending,
    /// The node of the agency the person is referred to (case direction `incoming`).
    Receiving,
}

impl Side {
    pub fn other(self) -> Side {
        match self {
            Side::Sending => Side::Receiving,
            Side::Receiving => Side::Sending,
        }
    }
}

/// Who asks for a transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    /// A user of this node with this role.
    User(Role),
    /// The other node, reporting an action its own user took (or its receipt).
    Peer,
}

use State::*;

/// Whether an action may still be taken once the person withdrew consent and
/// their data was erased on both nodes. A referral rests on that consent:
/// what would carry the person further through the exchange (submission,
/// approval, information, acceptance, a handover at the border, assistance)
/// is refused; the case can only be ended (cancelled, declined, failed,
/// closed) or held and resumed. The sending node's acknowledgement of an
/// earlier referral (`mark_received`) still applies.
pub fn allowed_after_erasure(action: Action) -> bool {
    matches!(
        action,
        Action::Cancel
            | Action::Decline
            | Action::Fail
            | Action::Close
            | Action::PutOnHold
            | Action::Resume
            | Action::MarkReceived
            | Action::MarkEnteredInError
    )
}

/// Why a transition is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    #[error("the role `{role}` may not `{action}` a case")]
    RoleNotPermitted { action: Action, role: Role },
    #[error("`{action}` is taken by the {initiator} agency, not this one")]
    WrongSide {
        action: Action,
        initiator: &'static str,
    },
    #[error("a case in state `{state}` cannot be moved by `{action}`")]
    NotAllowedInState { action: Action, state: State },
}

/// What an allowed transition does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub from: State,
    pub to: State,
    /// Whether the change must be sent to the other node.
    pub notify_peer: bool,
    /// For `put_on_hold`: the state to come back to.
    pub hold_from: Option<State>,
}

/// Decides whether `actor`, on the node at `side` of the referral, may take
/// `action` on a case now in `state` (`hold_from` is the state it was put on
/// hold from, when it is on hold).
pub fn decide(
    action: Action,
    state: State,
    hold_from: Option<State>,
    side: Side,
    actor: Actor,
) -> Result<Decision, TransitionError> {
    let rule = rule(action);
    match actor {
        Actor::User(role) => {
            if !rule.roles.contains(&role) {
                return Err(TransitionError::RoleNotPermitted { action, role });
            }
            if !rule.by.includes(side) {
                return Err(TransitionError::WrongSide {
                    action,
                    initiator: side_name(side.other()),
                });
            }
        }
        // The peer reports an action taken on its side: it must be one that
        // side may take.
        Actor::Peer => {
            if !rule.by.includes(side.other()) {
                return Err(TransitionError::WrongSide {
                    action,
                    initiator: side_name(side),
                });
            }
        }
    }
    let from_ok = rule.from.contains(&state)
        // Cancelling a case on hold is allowed only if the held state could be cancelled.
        && (state != OnHold
            || rule.to == Target::StateBeforeHold
            || hold_from.is_some_and(|h| h != OnHold && rule.from.contains(&h)));
    if !from_ok {
        return Err(TransitionError::NotAllowedInState { action, state });
    }
    let to = match rule.to {
        Target::To(s) => s,
        Target::StateBeforeHold => match hold_from {
            Some(h) if h != OnHold && !h.is_terminal() => h,
            _ => return Err(TransitionError::NotAllowedInState { action, state }),
        },
    };
    Ok(Decision {
        from: state,
        to,
        // What the peer reported is never echoed back to it.
        notify_peer: actor != Actor::Peer
            && match rule.notify {
                Notify::Never => false,
                Notify::Always => true,
                Notify::IfPeerKnowsCase => state.known_to_peer(),
            },
        hold_from: (to == OnHold).then_some(state),
    })
}

/// Longest comment accepted on a transition.
pub const MAX_COMMENT: usize = 2000;

/// The parameters of a transition, checked against its rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransitionParams {
    pub reason_code: Option<String>,
    pub outcome: Option<String>,
    pub comment: Option<String>,
    /// The plan of `schedule_handover`; where and when for `depart` and
    /// `confirm_handover`.
    pub handover: Option<super::handover::HandoverParams>,
}

impl TransitionParams {
    /// Checks that the reason code and outcome are present exactly when the
    /// action needs them and come from the right code lists.
    pub fn parse(
        action: Action,
        reason_code: Option<String>,
        outcome: Option<String>,
        comment: Option<String>,
    ) -> Result<Self, Vec<super::FieldError>> {
        use super::code_lists;
        use super::FieldError;
        let rule = rule(action);
        let mut errors = Vec::new();
        match (rule.reason_list, &reason_code) {
            (Some(list), None) => errors.push(FieldError::new(
                "reason_code",
                "required",
                format!("`{action}` needs a reason code from the list `{list}`"),
            )),
            (Some(list), Some(code)) if !code_lists::contains(list, code) => {
                errors.push(FieldError::new(
                    "reason_code",
                    "unknown_code",
                    format!("`{code}` is not a code of the list `{list}`"),
                ))
            }
            (None, Some(_)) => errors.push(FieldError::new(
                "reason_code",
                "not_applicable",
                format!("`{action}` takes no reason code"),
            )),
            _ => {}
        }
        match (rule.needs_outcome, &outcome) {
            (true, None) => errors.push(FieldError::new(
                "outcome",
                "required",
                format!(
                    "`{action}` needs an outcome from the list `{}`",
                    lists::CLOSURE_OUTCOME
                ),
            )),
            (true, Some(o)) if !code_lists::contains(lists::CLOSURE_OUTCOME, o) => {
                errors.push(FieldError::new(
                    "outcome",
                    "unknown_code",
                    format!(
                        "`{o}` is not a code of the list `{}`",
                        lists::CLOSURE_OUTCOME
                    ),
                ))
            }
            (false, Some(_)) => errors.push(FieldError::new(
                "outcome",
                "not_applicable",
                format!("`{action}` takes no outcome"),
            )),
            _ => {}
        }
        let comment = comment
            .map(|c| c.trim().to_owned())
            .filter(|c| !c.is_empty());
        if comment
            .as_ref()
            .is_some_and(|c| c.chars().count() > MAX_COMMENT)
        {
            errors.push(FieldError::new(
                "comment",
                "too_long",
                format!("at most {MAX_COMMENT} characters"),
            ));
        }
        if errors.is_empty() {
            Ok(Self {
                reason_code,
                outcome,
                comment,
                handover: None,
            })
        } else {
            Err(errors)
        }
    }
}

fn side_name(side: Side) -> &'static str {
    match side {
        Side::Sending => "sending",
        Side::Receiving => "receiving",
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn wire_names_are_the_snake_case_the_spec_shows() {
        for s in State::ALL {
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        for a in Action::ALL {
            assert_eq!(serde_json::to_value(a).unwrap(), a.as_str());
        }
        // The spec's enums are compared with these in tests/api/contract.rs.
    }

    use super::*;
    use Action as A;
    use Role::{Admin, Caseworker, JtwgReviewer, Liaison, Supervisor};

    /// The SOP written out a second time, by hand, as the specification the
    /// table must match: (action, initiating side or None for either, roles
    /// (empty: peer only), [(from, to)]).
    #[allow(clippy::type_complexity)]
    fn spec() -> Vec<(Action, Option<Side>, Vec<Role>, Vec<(State, State)>)> {
        use Side::{Receiving as R, Sending as S};
        vec![
            (
                A::Submit,
                Some(S),
                vec![Caseworker, Supervisor],
                vec![(Draft, Submitted)],
            ),
            (
                A::ReturnToDraft,
                Some(S),
                vec![Supervisor],
                vec![(Submitted, Draft)],
            ),
            (
                A::Approve,
                Some(S),
                vec![Supervisor],
                vec![(Submitted, Approved)],
            ),
            (A::MarkReceived, Some(R), vec![], vec![(Approved, Received)]),
            (
                A::RequestInfo,
                Some(R),
                vec![Caseworker, Supervisor],
                vec![(Received, InfoRequested)],
            ),
            (
                A::ProvideInfo,
                Some(S),
                vec![Caseworker, Supervisor],
                vec![(InfoRequested, Received)],
            ),
            (
                A::Accept,
                Some(R),
                vec![Supervisor],
                vec![(Received, Accepted)],
            ),
            (
                A::Decline,
                Some(R),
                vec![Supervisor],
                vec![(Received, Declined), (InfoRequested, Declined)],
            ),
            (
                A::ScheduleHandover,
                None,
                vec![Supervisor, Liaison],
                vec![(Accepted, HandoverScheduled)],
            ),
            (
                A::Depart,
                Some(S),
                vec![Liaison],
                vec![(HandoverScheduled, InTransit)],
            ),
            (
                A::ConfirmHandover,
                None,
                vec![Liaison],
                vec![(InTransit, HandedOver)],
            ),
            (
                A::StartAssistance,
                Some(R),
                vec![Caseworker, Supervisor],
                vec![(HandedOver, InAssistance)],
            ),
            (
                A::StartReintegrationMonitoring,
                Some(R),
                vec![Caseworker, Supervisor],
                vec![(InAssistance, ReintegrationMonitoring)],
            ),
            (
                A::Close,
                Some(R),
                vec![Supervisor],
                vec![(InAssistance, Closed), (ReintegrationMonitoring, Closed)],
            ),
            (
                A::Cancel,
                Some(S),
                vec![Supervisor],
                vec![
                    (Draft, Cancelled),
                    (Submitted, Cancelled),
                    (Approved, Cancelled),
                    (Received, Cancelled),
                    (InfoRequested, Cancelled),
                    (Accepted, Cancelled),
                    (HandoverScheduled, Cancelled),
                ],
            ),
            (
                A::Fail,
                None,
                vec![Supervisor, Liaison],
                vec![(HandoverScheduled, Failed), (InTransit, Failed)],
            ),
            (
                A::PutOnHold,
                None,
                vec![Supervisor],
                vec![
                    (Received, OnHold),
                    (InfoRequested, OnHold),
                    (Accepted, OnHold),
                    (HandoverScheduled, OnHold),
                    (InAssistance, OnHold),
                    (ReintegrationMonitoring, OnHold),
                ],
            ),
            (
                A::MarkEnteredInError,
                Some(S),
                vec![Supervisor],
                vec![(Draft, EnteredInError), (Submitted, EnteredInError)],
            ),
        ]
    }

    fn sides_for(initiator: Option<Side>) -> Vec<Side> {
        initiator.map_or(vec![Side::Sending, Side::Receiving], |s| vec![s])
    }

    fn actor_for(roles: &[Role]) -> Actor {
        roles.first().map_or(Actor::Peer, |r| Actor::User(*r))
    }

    /// For a given actor on a given side, the node where it acts: a peer acts
    /// on the node opposite its own side.
    fn node_side(actor: Actor, side: Side) -> Side {
        match actor {
            Actor::User(_) => side,
            Actor::Peer => side.other(),
        }
    }

    #[test]
    fn every_allowed_and_every_forbidden_state_pair() {
        for (action, initiator, roles, pairs) in spec() {
            let actor = actor_for(&roles);
            for side in sides_for(initiator) {
                let node = node_side(actor, side);
                for &state in State::ALL {
                    if state == OnHold {
                        continue; // covered by the on-hold tests below
                    }
                    let got = decide(action, state, None, node, actor);
                    match pairs.iter().find(|(f, _)| *f == state) {
                        Some((_, to)) => {
                            let d = got.unwrap_or_else(|e| panic!("{action} from {state}: {e}"));
                            assert_eq!(d.to, *to, "{action} from {state}");
                        }
                        None => assert_eq!(
                            got,
                            Err(TransitionError::NotAllowedInState { action, state }),
                            "{action} from {state} must be refused"
                        ),
                    }
                }
            }
        }
    }

    #[test]
    fn every_role_on_every_action() {
        for (action, initiator, roles, pairs) in spec() {
            let (from, _) = pairs[0];
            for side in sides_for(initiator) {
                for role in Role::ALL {
                    let got = decide(action, from, None, side, Actor::User(role));
                    if roles.contains(&role) {
                        assert!(got.is_ok(), "{role} must be able to {action}: {got:?}");
                    } else {
                        assert_eq!(got, Err(TransitionError::RoleNotPermitted { action, role }));
                    }
                }
            }
        }
        for role in [JtwgReviewer, Admin] {
            for rule in RULES {
                assert!(!rule.roles.contains(&role));
            }
        }
    }

    #[test]
    fn actions_are_refused_on_the_wrong_side() {
        for (action, initiator, roles, pairs) in spec() {
            let Some(side) = initiator else { continue };
            let (from, _) = pairs[0];
            let actor = actor_for(&roles);
            // A user on the other node, or the peer claiming the action from the wrong side.
            let wrong_node = node_side(actor, side).other();
            assert!(
                matches!(
                    decide(action, from, None, wrong_node, actor),
                    Err(TransitionError::WrongSide { .. })
                ),
                "{action} on the wrong side"
            );
        }
    }

    #[test]
    fn on_hold_resumes_to_the_state_it_came_from() {
        for &held in &[
            Received,
            InfoRequested,
            Accepted,
            HandoverScheduled,
            InAssistance,
            ReintegrationMonitoring,
        ] {
            let d = decide(
                A::PutOnHold,
                held,
                None,
                Side::Receiving,
                Actor::User(Supervisor),
            )
            .unwrap();
            assert_eq!((d.to, d.hold_from), (OnHold, Some(held)));
            let r = decide(
                A::Resume,
                OnHold,
                Some(held),
                Side::Sending,
                Actor::User(Supervisor),
            )
            .unwrap();
            assert_eq!(r.to, held);
        }
        // Resume is refused from every other state, and without a recorded origin.
        for &state in State::ALL {
            if state != OnHold {
                assert!(decide(
                    A::Resume,
                    state,
                    None,
                    Side::Sending,
                    Actor::User(Supervisor)
                )
                .is_err());
            }
        }
        assert!(decide(
            A::Resume,
            OnHold,
            None,
            Side::Sending,
            Actor::User(Supervisor)
        )
        .is_err());
    }

    #[test]
    fn on_hold_may_be_cancelled_only_before_the_handover() {
        let cancel = |held| {
            decide(
                A::Cancel,
                OnHold,
                Some(held),
                Side::Sending,
                Actor::User(Supervisor),
            )
        };
        for held in [Received, InfoRequested, Accepted, HandoverScheduled] {
            assert_eq!(cancel(held).map(|d| d.to), Ok(Cancelled));
        }
        for held in [InAssistance, ReintegrationMonitoring] {
            assert!(cancel(held).is_err());
        }
        // Every other action is refused while on hold.
        for &a in Action::ALL {
            if a == A::Resume || a == A::Cancel {
                continue;
            }
            for side in [Side::Sending, Side::Receiving] {
                for actor in [
                    Actor::User(Supervisor),
                    Actor::User(Liaison),
                    Actor::User(Caseworker),
                    Actor::Peer,
                ] {
                    assert!(
                        decide(a, OnHold, Some(Accepted), side, actor).is_err(),
                        "{a} on hold"
                    );
                }
            }
        }
    }

    #[test]
    fn nothing_leaves_a_terminal_state() {
        for &state in State::ALL.iter().filter(|s| s.is_terminal()) {
            for &a in Action::ALL {
                for side in [Side::Sending, Side::Receiving] {
                    for actor in [
                        Actor::User(Supervisor),
                        Actor::User(Liaison),
                        Actor::User(Caseworker),
                        Actor::Peer,
                    ] {
                        assert!(decide(a, state, None, side, actor).is_err());
                    }
                }
            }
        }
    }

    #[test]
    fn the_peer_learns_only_of_cases_it_knows() {
        let d = decide(
            A::Cancel,
            Draft,
            None,
            Side::Sending,
            Actor::User(Supervisor),
        )
        .unwrap();
        assert!(!d.notify_peer);
        let d = decide(
            A::Cancel,
            Accepted,
            None,
            Side::Sending,
            Actor::User(Supervisor),
        )
        .unwrap();
        assert!(d.notify_peer);
        let d = decide(
            A::Approve,
            Submitted,
            None,
            Side::Sending,
            Actor::User(Supervisor),
        )
        .unwrap();
        assert!(d.notify_peer, "approval sends the referral");
        let d = decide(
            A::Submit,
            Draft,
            None,
            Side::Sending,
            Actor::User(Caseworker),
        )
        .unwrap();
        assert!(!d.notify_peer);
        let d = decide(
            A::Depart,
            HandoverScheduled,
            None,
            Side::Receiving,
            Actor::Peer,
        )
        .unwrap();
        assert!(!d.notify_peer, "what the peer reported is not echoed back");
    }

    #[test]
    fn parameters_follow_the_rule() {
        let p = |a, r: Option<&str>, o: Option<&str>| {
            TransitionParams::parse(a, r.map(Into::into), o.map(Into::into), None)
        };
        assert!(p(A::Decline, Some("no_capacity"), None).is_ok());
        assert!(p(A::Decline, None, None).is_err());
        assert!(p(A::Decline, Some("reintegrated"), None).is_err());
        assert!(p(A::Accept, Some("no_capacity"), None).is_err());
        assert!(p(A::Close, Some("reintegrated"), Some("successful")).is_ok());
        assert!(p(A::Close, Some("reintegrated"), None).is_err());
        assert!(p(A::Close, Some("reintegrated"), Some("great")).is_err());
        assert!(p(A::Submit, None, Some("successful")).is_err());
        let long = "x".repeat(MAX_COMMENT + 1);
        assert!(TransitionParams::parse(A::Submit, None, None, Some(long)).is_err());
    }

    #[test]
    fn states_and_actions_are_in_the_code_lists() {
        use crate::domain::code_lists;
        let states = code_lists::list(lists::CASE_STATE).unwrap();
        assert_eq!(states.entries.len(), State::ALL.len());
        for s in State::ALL {
            assert!(states.contains(s.as_str()), "{s}");
        }
        let actions = code_lists::list(lists::TRANSITION_ACTION).unwrap();
        assert_eq!(actions.entries.len(), Action::ALL.len());
        for a in Action::ALL {
            assert!(actions.contains(a.as_str()), "{a}");
        }
    }
}
