//! The `detail` of a problem in French, for the codes whose explanation does
//! not depend on the request (the English detail, written where the problem
//! is found, may name particulars; in French the code's explanation is given
//! instead, and `errors[]` carries the particulars of validation problems),
//! and, for the refusals people meet in the case workflow, the same
//! particulars as in English ([`transition`], [`handover`] and the case
//! refusals below).

use super::code_lists::{self, ids};
use super::handover::HandoverError;
use super::i18n::{self, Lang};
use super::lifecycle::{Action, State, TransitionError};

/// French explanation of a problem code, when it has a fixed one.
pub fn french(code: &str) -> Option<&'static str> {
    Some(match code {
        "unauthenticated" => "Un jeton d'accès valide est requis.",
        "role_not_permitted" => "Votre rôle ne permet pas cette action.",
        "forbidden" => "Accès refusé.",
        "outside_role_scope" => "Ce dossier n'est pas visible pour votre rôle à ce stade.",
        "wrong_side" => "Cette action revient à l'autre agence.",
        "malformed_json" => "Le corps de la requête n'est pas un JSON valide.",
        "unknown_field" => "Le corps de la requête contient un champ inconnu.",
        "invalid_body" => "Le corps de la requête ne correspond pas au schéma attendu.",
        "invalid_path_parameter" => "Un paramètre du chemin n'est pas valide.",
        "invalid_query" => "Un paramètre de la requête n'est pas valide.",
        "invalid_cursor" => "Ce curseur de pagination n'a pas été émis par ce serveur.",
        "invalid_if_match" => "If-Match doit être l'ETag du dossier, par exemple \"3\".",
        "invalid_idempotency_key" => {
            "Idempotency-Key doit compter de 1 à 255 caractères ASCII visibles."
        }
        "not_found" => "Aucune ressource à cette adresse.",
        "case_not_found" => "Aucun dossier avec cet identifiant.",
        "method_not_allowed" => {
            "Cette méthode n'est pas admise à cette adresse (voir l'en-tête Allow)."
        }
        "case_not_editable" => "Seuls les brouillons peuvent être modifiés.",
        "transition_not_allowed" => "Cette action n'est pas possible dans l'état actuel du dossier.",
        "version_mismatch" => {
            "Le dossier a changé depuis sa lecture ; rien n'a été modifié. Relisez-le (voir current_version et ETag) puis réessayez."
        }
        "payload_too_large" => "Le corps de la requête est trop volumineux.",
        "unsupported_media_type" => "Le corps de la requête doit être du JSON (application/json).",
        "validation_failed" => "La requête n'est pas valide (voir errors).",
        "case_incomplete" => "Le dossier n'est pas prêt à être soumis (voir errors).",
        "idempotency_key_reused" => {
            "Cette Idempotency-Key a déjà servi pour une autre requête."
        }
        "if_match_required" => {
            "Cette requête exige un en-tête If-Match avec l'ETag actuel du dossier."
        }
        "personal_data_erased" => {
            "Le consentement a été retiré et les données de la personne effacées : seule la clôture du dossier reste possible."
        }
        "consent_scope_exceeded" => "Le consentement de la personne ne couvre pas cette communication.",
        "report_exists" => "Ce rapport a déjà été enregistré.",
        "not_in_monitoring" => {
            "Les suivis s'enregistrent pendant le suivi de réintégration."
        }
        "no_disagreement" => "Aucun désaccord ouvert sur ce dossier.",
        "internal_error" => "Le serveur n'a pas pu traiter la requête ; l'incident est journalisé.",
        "database_unavailable" => "La base de données est indisponible ; rien n'a été modifié, réessayez.",
        "database_busy" => "La base de données est occupée ; rien n'a été modifié, réessayez.",
        "audit_unavailable" => {
            "Le journal d'audit ne peut pas être écrit ; la réponse est retenue, réessayez plus tard."
        }
        "not_ready" => "Le nœud n'est pas prêt.",
        "bad_request" => "La requête est incorrecte.",
        "request_timeout" => "La requête a pris trop de temps ; réessayez.",
        "service_unavailable" => "Le service est momentanément indisponible ; réessayez.",
        "invalid_range" => "La plage demandée n'est pas valide.",
        "directory_entry_not_found" => "Aucune entrée de l'annuaire avec cet identifiant.",
        "consent_required" => {
            "Aucun consentement enregistré ne couvre cette communication."
        }
        "consent_withdrawn" => {
            "La personne a retiré son consentement ; ses données ne peuvent plus être communiquées."
        }
        "handover_not_planned" => "Aucun plan de remise n'a encore été proposé.",
        "handover_already_agreed" => "Le plan de remise est déjà convenu.",
        "own_handover_proposal" => {
            "La partie qui a proposé le plan ne peut pas y répondre ; l'autre partie le peut."
        }
        "handover_not_agreed" => {
            "Le plan de remise n'est pas encore convenu : faites-le accepter d'abord."
        }
        "handover_already_confirmed" => "Cette partie a déjà confirmé la remise.",
        "handover_not_scheduled" => {
            "La remise ne se négocie que lorsqu'elle est programmée."
        }
        "handover_round_mismatch" => {
            "L'autre partie a répondu à un autre tour de la négociation ; relisez le dossier."
        }
        "handover_mismatch" => {
            "Les deux confirmations de la remise ne concordent pas avec le plan convenu."
        }
        "comparison_failed" => {
            "La comparaison avec l'autre nœud a échoué ; elle sera reprise, réessayez plus tard."
        }
        "witnessing_failed" => {
            "L'autre nœud n'a pas pu attester le journal ; réessayez plus tard."
        }
        "awaiting_receipts" => {
            "Le nœud attend des accusés de réception de l'autre nœud ; réessayez bientôt."
        }
        "audit_log_rolled_back" => "Le journal d'audit de l'autre nœud a été ramené en arrière.",
        "chain_broken" => "La chaîne des messages de l'autre nœud est rompue.",
        "sequence_gap" => "Un message manque dans la séquence de l'autre nœud.",
        "sequence_replay" => "Ce numéro de séquence a déjà servi pour un autre message.",
        "message_id_conflict" => "Cet identifiant de message a déjà servi pour un autre contenu.",
        "client_certificate_required" => "Un certificat client de l'autre nœud est requis.",
        "wrong_peer_identity" => "Le certificat présenté n'est pas celui du nœud attendu.",
        "wrong_sender" => "L'expéditeur du message n'est pas le nœud attendu.",
        "wrong_receiver" => "Le message est adressé à un autre nœud.",
        "wrong_origin" => "Ce point de contrôle ne vient pas du journal attendu.",
        "invalid_signature" => "La signature du message n'est pas valide.",
        "invalid_envelope" => "L'enveloppe du message n'est pas valide.",
        "invalid_payload" => "Le contenu du message n'est pas valide.",
        "unsupported_sop_version" => "Cette version des procédures (SOP) n'est pas prise en charge.",
        "unknown_message_type" => "Ce type de message est inconnu.",
        "unknown_referral" => "Aucune orientation avec cet identifiant.",
        "duplicate_referral" => "Cette orientation a déjà été reçue.",
        "not_applicable" => "Ce message ne s'applique pas à l'état actuel du dossier.",
        "inconsistent_checkpoint" => {
            "Ce point de contrôle contredit un point de contrôle déjà attesté."
        }
        "consistency_base_mismatch" => {
            "La preuve de cohérence ne part pas du dernier point de contrôle attesté."
        }
        "invalid_checkpoint_signature" => "La signature du point de contrôle n'est pas valide.",
        "invalid_checkpoint_submission" => "La soumission du point de contrôle n'est pas valide.",
        "invalid_buckets" => "La liste des compartiments de comparaison n'est pas valide.",
        "unknown_crossing_point" => "Ce point de passage est inconnu.",
        _ => return None,
    })
}

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
        other => french(other.code()).map_or_else(|| other.to_string(), str::to_owned),
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
