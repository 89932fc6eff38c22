//! The transition table of the joint SOPs: one [`Rule`] per [`Action`],
//! saying from which states it moves a case and to which, on which node and
//! by which roles it is taken, which reason code it needs and whether the
//! other node learns of it. [`super::decide`] applies it.

use super::{Action, Side, State};
use crate::domain::code_lists::ids as lists;
use crate::domain::roles::Role;

/// On which node a rule's action is initiated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Initiator {
    Only(Side),
    Either,
}

impl Initiator {
    pub(super) fn includes(self, side: Side) -> bool {
        match self {
            Initiator::Only(s) => s == side,
            Initiator::Either => true,
        }
    }
}

/// Where a rule takes the case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    To(State),
    /// Back to the state the case was put on hold from.
    StateBeforeHold,
}

/// One row of the transition table.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    pub action: Action,
    pub from: &'static [State],
    pub to: Target,
    pub by: Initiator,
    /// Roles that may take the action on the initiating node. Empty: only the
    /// peer can cause it.
    pub roles: &'static [Role],
    /// Code list the mandatory reason code comes from, if the action needs one.
    pub reason_list: Option<&'static str>,
    /// Whether an outcome (`closure_outcome`) is required.
    pub needs_outcome: bool,
    /// Whether the other node must learn of it.
    pub notify: Notify,
}

/// Whether a transition is sent to the other node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notify {
    /// Purely internal to this node.
    Never,
    /// Always: it is what first tells the other node of the case (approval).
    Always,
    /// When the other node already knows the case (it was approved and sent).
    IfPeerKnowsCase,
}

use Role::{Caseworker, Liaison, Supervisor};
use State::*;

const ONLY_SENDING: Initiator = Initiator::Only(Side::Sending);
const ONLY_RECEIVING: Initiator = Initiator::Only(Side::Receiving);

/// The transition table of the joint SOPs.
pub const RULES: &[Rule] = &[
    Rule {
        action: Action::Submit,
        from: &[Draft],
        to: Target::To(Submitted),
        by: ONLY_SENDING,
        roles: &[Caseworker, Supervisor],
        reason_list: None,
        needs_outcome: false,
        notify: Notify::Never,
    },
    Rule {
        action: Action::ReturnToDraft,
        from: &[Submitted],
        to: Target::To(Draft),
        by: ONLY_SENDING,
        roles: &[Supervisor],
        reason_list: Some(lists::RETURN_REASON),
        needs_outcome: false,
        notify: Notify::Never,
    },
    Rule {
        action: Action::Approve,
        from: &[Submitted],
        to: Target::To(Approved),
        by: ONLY_SENDING,
        roles: &[Supervisor],
        reason_list: None,
        needs_outcome: false,
        notify: Notify::Always,
    },
    Rule {
        action: Action::MarkReceived,
        from: &[Approved],
        to: Target::To(Received),
        by: ONLY_RECEIVING,
        roles: &[],
        reason_list: None,
        needs_outcome: false,
        notify: Notify::Never,
    },
    Rule {
        action: Action::RequestInfo,
        from: &[Received],
        to: Target::To(InfoRequested),
        by: ONLY_RECEIVING,
        roles: &[Caseworker, Supervisor],
        reason_list: None,
        needs_outcome: false,
        notify: Notify::IfPeerKnowsCase,
    },
    Rule {
        action: Action::ProvideInfo,
        from: &[InfoRequested],
        to: Target::To(Received),
        by: ONLY_SENDING,
        roles: &[Caseworker, Supervisor],
        reason_list: None,
        needs_outcome: false,
        notify: Notify::IfPeerKnowsCase,
    },
    Rule {
        action: Action::Accept,
        from: &[Received],
        to: Target::To(Accepted),
        by: ONLY_RECEIVING,
        roles: &[Supervisor],
        reason_list: None,
        needs_outcome: false,
        notify: Notify::IfPeerKnowsCase,
    },
    Rule {
        action: Action::Decline,
        from: &[Received, InfoRequested],
        to: Target::To(Declined),
        by: ONLY_RECEIVING,
        roles: &[Supervisor],
        reason_list: Some(lists::DECLINE_REASON),
        needs_outcome: false,
        notify: Notify::IfPeerKnowsCase,
    },
    Rule {
        action: Action::ScheduleHandover,
        from: &[Accepted],
        to: Target::To(HandoverScheduled),
        by: Initiator::Either,
        roles: &[Supervisor, Liaison],
        reason_list: None,
        needs_outcome: false,
        notify: Notify::IfPeerKnowsCase,
    },
    Rule {
        action: Action::Depart,
        from: &[HandoverScheduled],
        to: Target::To(InTransit),
        by: ONLY_SENDING,
        roles: &[Liaison],
        reason_list: None,
        needs_outcome: false,
        notify: Notify::IfPeerKnowsCase,
    },
    Rule {
        action: Action::ConfirmHandover,
        from: &[InTransit],
        to: Target::To(HandedOver),
        // Both sides' liaisons confirm; the case is handed over when both have.
        by: Initiator::Either,
        roles: &[Liaison],
        reason_list: None,
        needs_outcome: false,
        notify: Notify::IfPeerKnowsCase,
    },
    Rule {
        action: Action::StartAssistance,
        from: &[HandedOver],
        to: Target::To(InAssistance),
        by: ONLY_RECEIVING,
        roles: &[Caseworker, Supervisor],
        reason_list: None,
        needs_outcome: false,
        notify: Notify::IfPeerKnowsCase,
    },
    Rule {
        action: Action::StartReintegrationMonitoring,
        from: &[InAssistance],
        to: Target::To(ReintegrationMonitoring),
        by: ONLY_RECEIVING,
        roles: &[Caseworker, Supervisor],
        reason_list: None,
        needs_outcome: false,
        notify: Notify::IfPeerKnowsCase,
    },
    Rule {
        action: Action::Close,
        from: &[InAssistance, ReintegrationMonitoring],
        to: Target::To(Closed),
        by: ONLY_RECEIVING,
        roles: &[Supervisor],
        reason_list: Some(lists::CLOSURE_REASON),
        needs_outcome: true,
        notify: Notify::IfPeerKnowsCase,
    },
    Rule {
        action: Action::Cancel,
        from: &[
            Draft,
            Submitted,
            Approved,
            Received,
            InfoRequested,
            Accepted,
            HandoverScheduled,
            OnHold,
        ],
        to: Target::To(Cancelled),
        by: ONLY_SENDING,
        roles: &[Supervisor],
        reason_list: Some(lists::CANCELLATION_REASON),
        needs_outcome: false,
        notify: Notify::IfPeerKnowsCase,
    },
    Rule {
        action: Action::Fail,
        from: &[HandoverScheduled, InTransit],
        to: Target::To(Failed),
        by: Initiator::Either,
        roles: &[Supervisor, Liaison],
        reason_list: Some(lists::FAILURE_REASON),
        needs_outcome: false,
        notify: Notify::IfPeerKnowsCase,
    },
    Rule {
        action: Action::PutOnHold,
        from: &[
            Received,
            InfoRequested,
            Accepted,
            HandoverScheduled,
            InAssistance,
            ReintegrationMonitoring,
        ],
        to: Target::To(OnHold),
        by: Initiator::Either,
        roles: &[Supervisor],
        reason_list: Some(lists::HOLD_REASON),
        needs_outcome: false,
        notify: Notify::IfPeerKnowsCase,
    },
    Rule {
        action: Action::Resume,
        from: &[OnHold],
        to: Target::StateBeforeHold,
        by: Initiator::Either,
        roles: &[Supervisor],
        reason_list: None,
        needs_outcome: false,
        notify: Notify::IfPeerKnowsCase,
    },
    Rule {
        action: Action::MarkEnteredInError,
        from: &[Draft, Submitted],
        to: Target::To(EnteredInError),
        by: ONLY_SENDING,
        roles: &[Supervisor],
        reason_list: Some(lists::ERROR_REASON),
        needs_outcome: false,
        notify: Notify::Never,
    },
];

/// The rule for an action.
pub fn rule(action: Action) -> &'static Rule {
    // Every action has exactly one rule (checked by a unit test); fall back
    // to the first rule only to keep this total.
    RULES
        .iter()
        .find(|r| r.action == action)
        .unwrap_or(&RULES[0])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_has_exactly_one_rule() {
        for a in Action::ALL {
            assert_eq!(RULES.iter().filter(|r| r.action == *a).count(), 1, "{a}");
        }
    }
}
