//! Problem codes: the one list of every `code` a problem document
//! (RFC 9457) of this node can carry, on the caseworker API and on the peer
//! protocol, each with its HTTP status, its title in both languages and its
//! explanation in French.
//!
//! Clients branch on the code, never on a text; codes never change and are
//! never reused. The English `detail` is written where the problem is found
//! and may name particulars; in French the explanation below is given, or,
//! for the refusals of the case workflow, the same particulars
//! ([`super::problem_details`]).

use super::i18n::Lang;

macro_rules! problem_codes {
    ($($(#[$doc:meta])* $variant:ident = $code:literal, $status:literal, $en:literal, $fr:literal, $detail_fr:literal;)*) => {
        /// A stable problem code.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ProblemCode {
            $($(#[$doc])* $variant),*
        }

        impl ProblemCode {
            /// Every code, in table order.
            pub const ALL: &'static [ProblemCode] = &[$(ProblemCode::$variant),*];

            /// The code as it appears on the wire.
            pub fn as_str(self) -> &'static str {
                match self { $(ProblemCode::$variant => $code),* }
            }

            /// The code named `s`, if there is one.
            pub fn parse(s: &str) -> Option<Self> {
                match s { $($code => Some(ProblemCode::$variant),)* _ => None }
            }

            /// The HTTP status that answers this problem.
            pub fn status(self) -> u16 {
                match self { $(ProblemCode::$variant => $status),* }
            }

            /// RFC 9457 `title`: a short noun phrase, the same for every
            /// occurrence of the code.
            pub fn title(self, lang: Lang) -> &'static str {
                match self { $(ProblemCode::$variant => lang.pick($en, $fr)),* }
            }

            /// The code's explanation in French (the `detail` when the
            /// problem has no particulars to name).
            pub fn explanation_fr(self) -> &'static str {
                match self { $(ProblemCode::$variant => $detail_fr),* }
            }
        }
    };
}

impl std::fmt::Display for ProblemCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

problem_codes! {
    Unauthenticated = "unauthenticated", 401, "Authentication required", "Authentification requise",
        "Un jeton d'accès valide est requis.";
    Forbidden = "forbidden", 403, "Access denied", "Accès refusé",
        "Accès refusé.";
    RoleNotPermitted = "role_not_permitted", 403, "Role not permitted", "Rôle non autorisé",
        "Votre rôle ne permet pas cette action.";
    CsrfTokenInvalid = "csrf_token_invalid", 403, "CSRF token missing or invalid", "Jeton CSRF absent ou invalide",
        "Une modification par la console doit porter l'en-tête X-CSRF-Token de la session.";
    InvalidCredentials = "invalid_credentials", 401, "Wrong username or password", "Identifiant ou mot de passe incorrect",
        "L'identifiant ou le mot de passe est incorrect.";
    SignInThrottled = "sign_in_throttled", 429, "Too many failed sign-ins: wait", "Trop d'échecs de connexion : patientez",
        "Après plusieurs échecs, chaque nouvelle tentative doit attendre un peu plus.";
    AccountLocked = "account_locked", 429, "Account locked for a while", "Compte verrouillé pour un temps",
        "Après trop d'échecs de connexion, le compte est verrouillé quelques minutes.";
    CurrentPasswordWrong = "current_password_wrong", 403, "Current password is wrong", "Mot de passe actuel incorrect",
        "Le mot de passe actuel n'est pas le bon.";
    WrongSide = "wrong_side", 403, "Wrong side of the exchange", "Mauvaise partie de l'échange",
        "Cette action revient à l'autre agence.";
    OutsideRoleScope = "outside_role_scope", 403, "Outside role scope", "Hors du périmètre du rôle",
        "Ce dossier n'est pas visible pour votre rôle à ce stade.";
    MalformedJson = "malformed_json", 400, "Malformed JSON", "JSON mal formé",
        "Le corps de la requête n'est pas un JSON valide.";
    UnknownField = "unknown_field", 400, "Unknown field", "Champ inconnu",
        "Le corps de la requête contient un champ inconnu.";
    InvalidBody = "invalid_body", 400, "Invalid request body", "Corps de requête invalide",
        "Le corps de la requête ne correspond pas au schéma attendu.";
    InvalidPathParameter = "invalid_path_parameter", 400, "Invalid path parameter", "Paramètre de chemin invalide",
        "Un paramètre du chemin n'est pas valide.";
    InvalidQuery = "invalid_query", 400, "Invalid query parameters", "Paramètres de requête invalides",
        "Un paramètre de la requête n'est pas valide.";
    InvalidCursor = "invalid_cursor", 400, "Invalid pagination cursor", "Curseur de pagination invalide",
        "Ce curseur de pagination n'a pas été émis par ce serveur.";
    InvalidIfMatch = "invalid_if_match", 400, "Invalid If-Match header", "En-tête If-Match invalide",
        "If-Match doit être l'ETag du dossier, par exemple \"3\".";
    InvalidIdempotencyKey = "invalid_idempotency_key", 400, "Invalid idempotency key", "Clé d'idempotence invalide",
        "Idempotency-Key doit compter de 1 à 255 caractères ASCII visibles.";
    InvalidRange = "invalid_range", 400, "Invalid range", "Plage invalide",
        "La plage demandée n'est pas valide.";
    BadRequest = "bad_request", 400, "Bad request", "Requête incorrecte",
        "La requête est incorrecte.";
    NotFound = "not_found", 404, "Not found", "Ressource introuvable",
        "Aucune ressource à cette adresse.";
    CaseNotFound = "case_not_found", 404, "Case not found", "Dossier introuvable",
        "Aucun dossier avec cet identifiant.";
    MethodNotAllowed = "method_not_allowed", 405, "Method not allowed", "Méthode non autorisée",
        "Cette méthode n'est pas admise à cette adresse (voir l'en-tête Allow).";
    CaseNotEditable = "case_not_editable", 409, "Case not editable", "Dossier non modifiable",
        "Seuls les brouillons peuvent être modifiés.";
    TransitionNotAllowed = "transition_not_allowed", 409, "Transition not allowed", "Transition non autorisée",
        "Cette action n'est pas possible dans l'état actuel du dossier.";
    VersionMismatch = "version_mismatch", 412, "Version mismatch", "Version obsolète",
        "Le dossier a changé depuis sa lecture ; rien n'a été modifié. Relisez-le (voir current_version et ETag) puis réessayez.";
    PayloadTooLarge = "payload_too_large", 413, "Payload too large", "Contenu trop volumineux",
        "Le corps de la requête est trop volumineux.";
    UnsupportedMediaType = "unsupported_media_type", 415, "Unsupported media type", "Type de média non pris en charge",
        "Le corps de la requête doit être du JSON (application/json).";
    ValidationFailed = "validation_failed", 422, "Validation failed", "Échec de la validation",
        "La requête n'est pas valide (voir errors).";
    CaseIncomplete = "case_incomplete", 422, "Case incomplete", "Dossier incomplet",
        "Le dossier n'est pas prêt à être soumis (voir errors).";
    IdempotencyKeyReused = "idempotency_key_reused", 422, "Idempotency key reused", "Clé d'idempotence déjà utilisée",
        "Cette Idempotency-Key a déjà servi pour une autre requête.";
    IfMatchRequired = "if_match_required", 428, "If-Match header required", "En-tête If-Match requis",
        "Cette requête exige un en-tête If-Match avec l'ETag actuel du dossier.";
    RequestTimeout = "request_timeout", 408, "Request timeout", "Délai de requête dépassé",
        "La requête a pris trop de temps ; réessayez.";
    InternalError = "internal_error", 500, "Internal error", "Erreur interne",
        "Le serveur n'a pas pu traiter la requête ; l'incident est journalisé.";
    ServiceUnavailable = "service_unavailable", 503, "Service unavailable", "Service indisponible",
        "Le service est momentanément indisponible ; réessayez.";
    DatabaseUnavailable = "database_unavailable", 503, "Database unavailable", "Base de données indisponible",
        "La base de données est indisponible ; rien n'a été modifié, réessayez.";
    DatabaseBusy = "database_busy", 503, "Database busy", "Base de données occupée",
        "La base de données est occupée ; rien n'a été modifié, réessayez.";
    NotReady = "not_ready", 503, "Service not ready", "Service pas encore prêt",
        "Le nœud n'est pas prêt.";
    AuditUnavailable = "audit_unavailable", 503, "Audit log unavailable", "Journal d'audit indisponible",
        "Le journal d'audit ne peut pas être écrit ; la réponse est retenue, réessayez plus tard.";
    WitnessingFailed = "witnessing_failed", 502, "Witnessing failed", "Échec de l'attestation par le témoin",
        "L'autre nœud n'a pas pu attester le journal ; réessayez plus tard.";
    ComparisonFailed = "comparison_failed", 502, "Comparison with the other node failed", "Échec de la comparaison avec l'autre nœud",
        "La comparaison avec l'autre nœud a échoué ; elle sera reprise, réessayez plus tard.";
    NoDisagreement = "no_disagreement", 404, "No open disagreement on this case", "Aucun désaccord ouvert sur ce dossier",
        "Aucun désaccord ouvert sur ce dossier.";
    AwaitingReceipts = "awaiting_receipts", 503, "Waiting for receipts from the other node", "En attente des accusés de réception de l'autre nœud",
        "Le nœud attend des accusés de réception de l'autre nœud ; réessayez bientôt.";
    InvalidBuckets = "invalid_buckets", 400, "Invalid buckets", "Compartiments invalides",
        "La liste des compartiments de comparaison n'est pas valide.";
    ClientCertificateRequired = "client_certificate_required", 403, "Client certificate required", "Certificat client requis",
        "Un certificat client de l'autre nœud est requis.";
    WrongPeerIdentity = "wrong_peer_identity", 403, "Wrong peer identity", "Identité du pair incorrecte",
        "Le certificat présenté n'est pas celui du nœud attendu.";
    InvalidSignature = "invalid_signature", 403, "Invalid signature", "Signature invalide",
        "La signature du message n'est pas valide.";
    WrongSender = "wrong_sender", 403, "Wrong sender", "Expéditeur incorrect",
        "L'expéditeur du message n'est pas le nœud attendu.";
    WrongReceiver = "wrong_receiver", 403, "Wrong receiver", "Destinataire incorrect",
        "Le message est adressé à un autre nœud.";
    InvalidEnvelope = "invalid_envelope", 400, "Invalid envelope", "Enveloppe invalide",
        "L'enveloppe du message n'est pas valide.";
    UnsupportedSopVersion = "unsupported_sop_version", 422, "Unsupported SOP version", "Version de SOP non prise en charge",
        "Cette version des procédures (SOP) n'est pas prise en charge.";
    UnknownMessageType = "unknown_message_type", 422, "Unknown message type", "Type de message inconnu",
        "Ce type de message est inconnu.";
    SequenceGap = "sequence_gap", 409, "Gap in message sequence", "Messages manquants dans la séquence",
        "Un message manque dans la séquence de l'autre nœud.";
    SequenceAhead = "sequence_ahead", 409, "Batch ahead of its turn", "Lot arrivé avant son tour",
        "Le lot précédent a été refusé : renvoyez à partir du premier message sans accusé de réception.";
    StaleDispatcher = "stale_dispatcher", 409, "Dispatcher no longer current", "Répartiteur périmé",
        "Une autre réplique du nœud expéditeur a repris l'envoi : ce lot vient d'une réplique qui a perdu son bail.";
    SequenceReplay = "sequence_replay", 409, "Replayed message", "Message rejoué",
        "Ce numéro de séquence a déjà servi pour un autre message.";
    ChainBroken = "chain_broken", 409, "Broken hash chain", "Chaîne de hachage rompue",
        "La chaîne des messages de l'autre nœud est rompue.";
    MessageIdConflict = "message_id_conflict", 409, "Message ID conflict", "Conflit d'identifiant de message",
        "Cet identifiant de message a déjà servi pour un autre contenu.";
    UnknownReferral = "unknown_referral", 409, "Unknown referral", "Référencement inconnu",
        "Aucune orientation avec cet identifiant.";
    InvalidPayload = "invalid_payload", 422, "Invalid message payload", "Contenu du message invalide",
        "Le contenu du message n'est pas valide.";
    DuplicateReferral = "duplicate_referral", 409, "Duplicate referral", "Référencement en double",
        "Cette orientation a déjà été reçue.";
    NotApplicable = "not_applicable", 409, "Not applicable", "Sans objet",
        "Ce message ne s'applique pas à l'état actuel du dossier.";
    ConsentScopeExceeded = "consent_scope_exceeded", 422, "Consent scope exceeded", "Portée du consentement dépassée",
        "Le consentement de la personne ne couvre pas cette communication.";
    ConsentRequired = "consent_required", 422, "Consent required", "Consentement requis",
        "Aucun consentement enregistré ne couvre cette communication.";
    ConsentWithdrawn = "consent_withdrawn", 422, "Consent withdrawn", "Consentement retiré",
        "La personne a retiré son consentement ; ses données ne peuvent plus être communiquées.";
    PersonalDataErased = "personal_data_erased", 409, "Personal data erased", "Données personnelles effacées",
        "Le consentement a été retiré et les données de la personne effacées : seule la clôture du dossier reste possible.";
    InvalidCheckpointSignature = "invalid_checkpoint_signature", 403, "Invalid checkpoint signature", "Signature de point de contrôle invalide",
        "La signature du point de contrôle n'est pas valide.";
    WrongOrigin = "wrong_origin", 403, "Wrong log origin", "Origine du journal incorrecte",
        "Ce point de contrôle ne vient pas du journal attendu.";
    CosigningSuspended = "cosigning_suspended", 409, "Cosigning suspended", "Contre-signature suspendue",
        "Ce nœud a trouvé une entrée modifiée dans le journal de l'autre nœud et ne contre-signe plus ses points de contrôle jusqu'à ce qu'un administrateur en prenne acte.";
    WatchNotSuspended = "watch_not_suspended", 409, "Nothing to acknowledge", "Rien à acquitter",
        "La contre-signature n'est pas suspendue : il n'y a aucune discordance à acquitter.";
    InconsistentCheckpoint = "inconsistent_checkpoint", 409, "Inconsistent checkpoint", "Point de contrôle incohérent",
        "Ce point de contrôle contredit un point de contrôle déjà attesté.";
    ConsistencyBaseMismatch = "consistency_base_mismatch", 409, "Consistency base mismatch", "Base de cohérence non concordante",
        "La preuve de cohérence ne part pas du dernier point de contrôle attesté.";
    InvalidCheckpointSubmission = "invalid_checkpoint_submission", 400, "Invalid checkpoint submission", "Soumission de point de contrôle invalide",
        "La soumission du point de contrôle n'est pas valide.";
    DirectoryEntryNotFound = "directory_entry_not_found", 404, "Directory entry not found", "Entrée d'annuaire introuvable",
        "Aucune entrée de l'annuaire avec cet identifiant.";
    HandoverNotPlanned = "handover_not_planned", 409, "No handover plan", "Aucun plan de remise",
        "Aucun plan de remise n'a encore été proposé.";
    HandoverAlreadyAgreed = "handover_already_agreed", 409, "Handover plan already agreed", "Plan de remise déjà convenu",
        "Le plan de remise est déjà convenu.";
    OwnHandoverProposal = "own_handover_proposal", 409, "Own handover proposal", "Proposition de remise de la même partie",
        "La partie qui a proposé le plan ne peut pas y répondre ; l'autre partie le peut.";
    HandoverNotAgreed = "handover_not_agreed", 409, "Handover plan not agreed", "Plan de remise non convenu",
        "Le plan de remise n'est pas encore convenu : faites-le accepter d'abord.";
    HandoverAlreadyConfirmed = "handover_already_confirmed", 409, "Handover already confirmed", "Remise déjà confirmée",
        "Cette partie a déjà confirmé la remise.";
    HandoverNotScheduled = "handover_not_scheduled", 409, "Handover not scheduled", "Remise non programmée",
        "La remise ne se négocie que lorsqu'elle est programmée.";
    HandoverRoundMismatch = "handover_round_mismatch", 409, "Handover negotiation out of step", "Négociation de la remise désynchronisée",
        "L'autre partie a répondu à un autre tour de la négociation ; relisez le dossier.";
    NotInMonitoring = "not_in_monitoring", 409, "Not in reintegration monitoring", "Hors suivi de réinsertion",
        "Les suivis s'enregistrent pendant le suivi de réintégration.";
    ReportExists = "report_exists", 409, "Report already recorded", "Rapport déjà enregistré",
        "Ce rapport a déjà été enregistré.";
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn every_code_is_well_formed_and_bilingual() {
        let mut codes = HashSet::new();
        let (mut en_titles, mut fr_titles, mut details) =
            (HashSet::new(), HashSet::new(), HashSet::new());
        for &code in ProblemCode::ALL {
            let s = code.as_str();
            assert!(codes.insert(s), "code listed twice: {s}");
            assert!(
                !s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "code not snake_case: {s:?}"
            );
            assert_eq!(ProblemCode::parse(s), Some(code));
            assert!(
                (400..600).contains(&code.status()),
                "{s}: {}",
                code.status()
            );
            let (en, fr) = (code.title(Lang::En), code.title(Lang::Fr));
            for text in [en, fr, code.explanation_fr()] {
                assert!(!text.is_empty() && text == text.trim(), "{s}: {text:?}");
            }
            assert_ne!(en, fr, "{s}: the same title in both languages");
            assert!(en_titles.insert(en), "English title shared: {en:?}");
            assert!(fr_titles.insert(fr), "French title shared: {fr:?}");
            assert!(
                details.insert(code.explanation_fr()),
                "French detail shared: {s}"
            );
            assert!(code.explanation_fr().ends_with('.'), "{s}");
        }
        assert_eq!(ProblemCode::parse("NOT_FOUND"), None);
        assert_eq!(ProblemCode::parse(""), None);
    }

    /// Every code is emitted somewhere in the source (outside this table).
    #[test]
    fn every_code_is_emitted() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut source = String::new();
        let mut dirs = vec![root.join("src")];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|e| e == "rs")
                    && !path.ends_with("domain/problem.rs")
                {
                    source.push_str(&std::fs::read_to_string(&path).unwrap());
                }
            }
        }
        let silent: Vec<_> = ProblemCode::ALL
            .iter()
            .filter(|code| {
                let variant = format!("ProblemCode::{code:?}");
                !source.match_indices(&variant).any(|(at, _)| {
                    !source[at + variant.len()..]
                        .starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
                })
            })
            .collect();
        assert!(silent.is_empty(), "never emitted: {silent:?}");
    }

    /// README's table of problem codes is generated from this one
    /// (`PASSERELLE_REGENERATE=1` rewrites it).
    #[test]
    fn readme_lists_every_code() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
        let readme = std::fs::read_to_string(&path).unwrap();
        let (start, end) = (
            "<!-- problem-codes:start -->\n",
            "<!-- problem-codes:end -->",
        );
        let (Some(i), Some(j)) = (readme.find(start), readme.find(end)) else {
            panic!("README has no problem-codes markers");
        };
        let mut table =
            String::from("| code | status | title | titre |\n| --- | --- | --- | --- |\n");
        for &code in ProblemCode::ALL {
            table.push_str(&format!(
                "| `{code}` | {} | {} | {} |\n",
                code.status(),
                code.title(Lang::En),
                code.title(Lang::Fr)
            ));
        }
        let current = &readme[i + start.len()..j];
        if current != table {
            if std::env::var_os("PASSERELLE_REGENERATE").is_some() {
                let updated = format!("{}{table}{}", &readme[..i + start.len()], &readme[j..]);
                std::fs::write(&path, updated).unwrap();
            } else {
                panic!("README's problem-code table is out of date: run PASSERELLE_REGENERATE=1 cargo test --lib readme_lists_every_code");
            }
        }
    }
}
