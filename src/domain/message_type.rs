//! The types of message the two nodes exchange: the one list, with each
//! type's labels, the payload fields it may carry and the lifecycle action
//! each type carries to the other node.

use serde::{Deserialize, Serialize};

use super::i18n::Lang;
use super::lifecycle::Action;

macro_rules! message_types {
    ($($(#[$doc:meta])* $variant:ident = $code:literal, $en:literal, $fr:literal;)*) => {
        /// A type of message between the nodes.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum MessageType {
            $($(#[$doc])* $variant),*
        }

        impl MessageType {
            /// Every type, in table order.
            pub const ALL: &'static [MessageType] = &[$(MessageType::$variant),*];

            /// The type as it travels in an envelope and is stored.
            pub fn as_str(self) -> &'static str {
                match self { $(MessageType::$variant => $code),* }
            }

            /// The type named `s`, if there is one.
            pub fn parse(s: &str) -> Option<Self> {
                match s { $($code => Some(MessageType::$variant),)* _ => None }
            }

            /// Label for people, in `lang`.
            pub fn label(self, lang: Lang) -> &'static str {
                match self { $(MessageType::$variant => lang.pick($en, $fr)),* }
            }
        }
    };
}

message_types! {
    /// A referral, sent when the sending supervisor approves it.
    ReferralRequest = "referral_request", "Referral request", "Demande de référencement";
    /// The receiving agency's decision (accept or decline).
    Decision = "decision", "Decision", "Décision";
    /// The receiving agency asks for more information.
    InfoRequest = "info_request", "Information request", "Demande d'informations";
    /// The sending agency's answer to an information request.
    InfoResponse = "info_response", "Information response", "Réponse à la demande d'informations";
    /// The first handover plan.
    HandoverProposal = "handover_proposal", "Handover proposal", "Proposition de remise";
    /// Another plan in answer to the current one.
    HandoverCounterProposal = "handover_counter_proposal", "Handover counter-proposal", "Contre-proposition de remise";
    /// The current plan is agreed.
    HandoverAcceptance = "handover_acceptance", "Handover acceptance", "Acceptation de la remise";
    /// The sending side confirms the handover at the crossing.
    HandoverConfirmation = "handover_confirmation", "Handover confirmation", "Confirmation de la remise";
    /// The person left with the escort.
    Departure = "departure", "Departure", "Départ";
    /// The receiving side confirms the handover at the crossing.
    Arrival = "arrival", "Arrival", "Arrivée";
    /// A repatriation report (assistance started).
    RepatriationUpdate = "repatriation_update", "Repatriation update", "Point sur le rapatriement";
    /// A reintegration follow-up (monitoring started, or a follow-up).
    ReintegrationUpdate = "reintegration_update", "Reintegration update", "Point sur la réinsertion";
    /// Any other change of state either side makes.
    StatusUpdate = "status_update", "Status update", "Mise à jour du statut";
    /// The case is closed.
    Closure = "closure", "Closure", "Clôture";
    /// The sending agency cancelled the referral.
    Cancellation = "cancellation", "Cancellation", "Annulation";
    /// The person withdrew consent: erase.
    ConsentWithdrawal = "consent_withdrawal", "Consent withdrawal", "Retrait du consentement";
    /// The other side erased the person's data.
    ErasureConfirmation = "erasure_confirmation", "Erasure confirmation", "Confirmation d'effacement";
}

impl MessageType {
    /// The message type that carries a lifecycle action to the other node
    /// (the receiving side's confirmation of the handover is an
    /// [`MessageType::Arrival`]: see [`MessageType::for_step`]).
    pub fn for_action(action: Action) -> MessageType {
        match action {
            Action::Approve => MessageType::ReferralRequest,
            Action::Accept | Action::Decline => MessageType::Decision,
            Action::RequestInfo => MessageType::InfoRequest,
            Action::ProvideInfo => MessageType::InfoResponse,
            Action::ScheduleHandover => MessageType::HandoverProposal,
            Action::Depart => MessageType::Departure,
            Action::ConfirmHandover => MessageType::HandoverConfirmation,
            Action::StartAssistance => MessageType::RepatriationUpdate,
            Action::StartReintegrationMonitoring => MessageType::ReintegrationUpdate,
            Action::Close => MessageType::Closure,
            Action::Cancel => MessageType::Cancellation,
            Action::Fail
            | Action::PutOnHold
            | Action::Resume
            | Action::Submit
            | Action::ReturnToDraft
            | Action::MarkReceived
            | Action::MarkEnteredInError => MessageType::StatusUpdate,
        }
    }

    /// The type that carries `action` taken on the side that is
    /// `receiving` (or not) of the referral.
    pub fn for_step(action: Action, receiving: bool) -> MessageType {
        if action == Action::ConfirmHandover && receiving {
            MessageType::Arrival
        } else {
            MessageType::for_action(action)
        }
    }

    /// The top-level payload fields a message of this type may carry.
    pub fn allowed_fields(self) -> &'static [&'static str] {
        match self {
            MessageType::ReferralRequest => &["reference", "details", "identity"],
            MessageType::ConsentWithdrawal => &["withdrawn_on"],
            MessageType::ErasureConfirmation => &["erased_at"],
            MessageType::HandoverCounterProposal => &["handover", "round"],
            MessageType::HandoverAcceptance => &["round"],
            MessageType::HandoverProposal
            | MessageType::HandoverConfirmation
            | MessageType::Departure
            | MessageType::Arrival => &["action", "reason_code", "outcome", "handover"],
            MessageType::RepatriationUpdate | MessageType::ReintegrationUpdate => {
                &["action", "reason_code", "outcome", "report"]
            }
            MessageType::Decision
            | MessageType::InfoRequest
            | MessageType::InfoResponse
            | MessageType::StatusUpdate
            | MessageType::Closure
            | MessageType::Cancellation => &["action", "reason_code", "outcome"],
        }
    }
}

impl std::fmt::Display for MessageType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn every_type_is_named_once_in_both_languages() {
        let (mut codes, mut en, mut fr) = (HashSet::new(), HashSet::new(), HashSet::new());
        for &t in MessageType::ALL {
            assert!(codes.insert(t.as_str()));
            assert!(en.insert(t.label(Lang::En)));
            assert!(fr.insert(t.label(Lang::Fr)));
            assert_ne!(t.label(Lang::En), t.label(Lang::Fr));
            assert_eq!(MessageType::parse(t.as_str()), Some(t));
            // Serde and the spec use the same name.
            assert_eq!(serde_json::to_value(t).unwrap(), t.as_str());
            assert!(!t.allowed_fields().is_empty());
        }
        assert_eq!(MessageType::parse("Referral_Request"), None);
    }

    #[test]
    fn the_receiving_side_confirms_with_an_arrival() {
        assert_eq!(
            MessageType::for_step(Action::ConfirmHandover, true),
            MessageType::Arrival
        );
        assert_eq!(
            MessageType::for_step(Action::ConfirmHandover, false),
            MessageType::HandoverConfirmation
        );
        assert_eq!(
            MessageType::for_step(Action::Approve, false),
            MessageType::ReferralRequest
        );
    }
}
