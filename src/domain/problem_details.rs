//! The `detail` of a problem in French for the refusals people meet in the
//! case workflow, with the same particulars as in English (the state, the
//! action, the role, the version). Every other code's French detail is its
//! explanation ([`super::problem::ProblemCode::explanation_fr`]), and
//! `errors[]` carries the particulars of validation problems.

use super::code_lists::{self, ids};
use super::handover::HandoverError;
use super::i18n::{self, Lang};
use super::lifecycle::{Action, State, TransitionError};

/// French label of a case state.
fn state(s: State) -> &'static str {
    i18n::state_label(s.as_str(), Lang::Fr).unwrap_or(s.as_str())
}

/// French label of an action (from its code list).
fn action(a: Action) -> &'static str {
    code_lists::list(ids::TRANSITION_ACTION)
        .and_then(|l| l.entry(a.as_str()))
        .map_or(a.as_str(), |e| e.fr)
}

/// The agency on one side of the referral, as the complement of « l'agence ».
fn side(name: &str) -> &'static str {
    match name {
        "sending" => "qui oriente la personne",
        _ => "qui l'accueille",
    }
}

/// A refused transition, with its particulars.
pub fn transition(e: &TransitionError) -> String {
    match e {
        TransitionError::RoleNotPermitted { action: a, role } => format!(
            "Le rôle « {} » ne permet pas l'action « {} ».",
            i18n::role_label(*role, Lang::Fr),
            action(*a)
        ),
        TransitionError::WrongSide {
            action: a,
            initiator,
        } => format!(
            "L'action « {} » revient à l'agence {}, pas à celle-ci.",
            action(*a),
            side(initiator)
        ),
        TransitionError::NotAllowedInState {
            action: a,
            state: s,
        } => format!(
            "Un dossier à l'état « {} » ne permet pas l'action « {} ».",
            state(*s),
            action(*a)
        ),
    }
}

/// A refused step of the handover negotiation.
pub fn handover(e: &HandoverError) -> String {
    match e {
        HandoverError::OwnProposal(verb) => format!(
            "La partie qui a proposé le plan ne peut pas {} ; l'autre partie le peut.",
            match *verb {
                "accept" => "l'accepter",
                _ => "faire de contre-proposition",
            }
        ),
        other => other.code().explanation_fr().to_owned(),
    }
}

/// 412: the case changed since it was read.
pub fn version_mismatch(current: i64) -> String {
    format!(
        "Le dossier a changé depuis sa lecture (version actuelle {current}) ; rien n'a été modifié. Relisez-le puis réessayez."
    )
}

/// Only drafts can be edited.
pub fn not_editable(s: State) -> String {
    format!(
        "Seuls les brouillons peuvent être modifiés ; ce dossier est à l'état « {} ».",
        state(s)
    )
}

/// Follow-ups outside reintegration monitoring.
pub fn not_in_monitoring(s: State) -> String {
    format!(
        "Les suivis s'enregistrent pendant le suivi de la réinsertion ; ce dossier est à l'état « {} ».",
        state(s)
    )
}

/// The consent does not cover a scope of disclosure.
pub fn consent_scope(scope: &str) -> String {
    let label = code_lists::list(ids::CONSENT_SCOPE)
        .and_then(|l| l.entry(scope))
        .map_or(scope, |e| e.fr);
    format!(
        "Le consentement de la personne ne couvre pas « {label} » : cette information ne peut pas être communiquée."
    )
}

/// A report number already recorded.
pub fn report_exists(number: i64) -> String {
    format!("Le rapport n° {number} a déjà été enregistré.")
}

/// Reports recorded by the other side (`report`: `follow-ups` or
/// `repatriation reports`; `side`: `sending` or `receiving`).
pub fn report_wrong_side(report: &str, by: &str) -> String {
    let what = match report {
        "follow-ups" => "Les suivis",
        _ => "Les rapports de rapatriement",
    };
    format!("{what} sont enregistrés par l'agence {}.", side(by))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::roles::Role;

    #[test]
    fn particulars_are_named_in_french() {
        let e = TransitionError::NotAllowedInState {
            action: Action::Accept,
            state: State::Draft,
        };
        let d = transition(&e);
        assert!(d.contains("Brouillon"), "{d}");
        assert!(!d.contains("accept`"), "{d}");
        let d = transition(&TransitionError::RoleNotPermitted {
            action: Action::Approve,
            role: Role::Caseworker,
        });
        assert!(
            d.contains(i18n::role_label(Role::Caseworker, Lang::Fr)),
            "{d}"
        );
        assert!(handover(&HandoverError::OwnProposal("accept")).contains("l'accepter"));
        assert!(version_mismatch(7).contains('7'));
        assert!(consent_scope("identity").starts_with("Le consentement"));
        // Every action has a French label of its own.
        for a in Action::ALL {
            assert_ne!(action(*a), a.as_str(), "no French label for {a}");
        }
    }
}
