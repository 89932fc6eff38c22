//! The `detail` of a problem in French, for the codes whose explanation does
//! not depend on the request (the English detail, written where the problem
//! is found, may name particulars; in French the code's explanation is given
//! instead, and `errors[]` carries the particulars of validation problems).

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
        _ => return None,
    })
}
