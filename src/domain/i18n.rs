//! Languages of the API (English, French) and the bilingual texts shown to
//! users: the titles of every problem code, and the labels of case states and
//! message types.
//!
//! Passerelle links Niger's ANLTP/TIM (francophone) with Nigeria's NAPTIP
//! (anglophone), so every human-readable text the API produces exists in
//! exactly two languages, [`Lang::En`] and [`Lang::Fr`]. English is the
//! default whenever a client expresses no usable preference.
//!
//! # Choosing a language
//!
//! [`Lang::from_accept_language`] reads an HTTP `Accept-Language` header
//! (RFC 9110 §12.5.4) and returns the preferred language we can serve. It is
//! total: any input, however malformed or long, yields a language and never
//! panics; it does not allocate and runs in time linear in the header.
//!
//! # Problem titles
//!
//! Errors are reported as RFC 9457 problem details whose machine-readable
//! `code` never changes with the language. [`problem_title`] gives the
//! human-readable `title` for a code: a short noun phrase in sentence case,
//! identical for every occurrence of that code (details belong in `detail`,
//! not in the title). Unknown codes get a generic title rather than an error,
//! so a forgotten entry degrades gracefully; [`PROBLEM_CODES`] lists every
//! code that has a title so that a test elsewhere can check that each code
//! the API emits is covered.
//!
//! # Labels
//!
//! [`state_label`] and [`message_type_label`] translate the stable codes of
//! case states and exchange message types into labels for display. They
//! return `None` for an unknown code so that the caller decides how to show
//! it (typically the raw code).
//!
//! # Adding a text
//!
//! Add one row `(code, English, French)` to the relevant table. The tests in
//! this module check that no code appears twice, that both texts are
//! non-empty and differ from each other, and that no two codes share a text
//! in the same language.
//!
//! This module is pure: no I/O, no global state, only `std`.

/// A language of the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    /// English, the default.
    #[default]
    En,
    /// French.
    Fr,
}

impl Lang {
    /// `en` or `fr`.
    pub fn as_str(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Fr => "fr",
        }
    }

    /// Picks the language from an HTTP `Accept-Language` header value
    /// (RFC 9110 §12.5.4).
    ///
    /// The result is the language of the highest-quality language range
    /// among those matching `en` or `fr`:
    ///
    /// * a range matches by its primary subtag, case-insensitively
    ///   (`fr-NE`, `FR`, `fr-ne;q=0.8` all match French);
    /// * `*` matches English, unless English is named by another range of the
    ///   header, in which case it matches French if French is not named
    ///   (RFC 9110: `*` stands for languages not matched by other ranges);
    /// * a weight of `q=0` means "not acceptable": the range is never chosen;
    /// * a missing weight means `q=1`; ties go to the earlier entry;
    /// * malformed entries (bad range syntax, bad or repeated `q`, other
    ///   parameters) are ignored;
    /// * nothing usable → English.
    ///
    /// Never panics on any input.
    pub fn from_accept_language(header: &str) -> Lang {
        let mut named_en = false;
        let mut named_fr = false;
        for (range, _) in header.split(',').filter_map(parse_entry) {
            match range {
                Range::Lang(Lang::En) => named_en = true,
                Range::Lang(Lang::Fr) => named_fr = true,
                Range::Wildcard | Range::Other => {}
            }
        }
        let wildcard = if !named_en {
            Some(Lang::En)
        } else if !named_fr {
            Some(Lang::Fr)
        } else {
            None
        };

        let mut best: Option<(u16, Lang)> = None;
        for (range, q) in header.split(',').filter_map(parse_entry) {
            if q == 0 {
                continue;
            }
            let lang = match range {
                Range::Lang(lang) => lang,
                Range::Wildcard => match wildcard {
                    Some(lang) => lang,
                    None => continue,
                },
                Range::Other => continue,
            };
            if best.is_none_or(|(best_q, _)| q > best_q) {
                best = Some((q, lang));
            }
        }
        best.map_or(Lang::En, |(_, lang)| lang)
    }

    /// The English or the French of a pair.
    pub fn pick(self, en: &'static str, fr: &'static str) -> &'static str {
        match self {
            Lang::En => en,
            Lang::Fr => fr,
        }
    }
}

/// What a well-formed language range of `Accept-Language` designates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Range {
    /// A range whose primary subtag is `en` or `fr`.
    Lang(Lang),
    /// The wildcard `*`.
    Wildcard,
    /// A well-formed range of another language.
    Other,
}

/// Optional whitespace (RFC 9110 §5.6.3).
fn is_ows(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// Parses one comma-separated entry `range *( OWS ";" OWS "q=" qvalue )` into
/// its range and weight in thousandths; `None` if malformed or empty.
fn parse_entry(entry: &str) -> Option<(Range, u16)> {
    let mut pieces = entry.split(';');
    let range = parse_range(pieces.next()?.trim_matches(is_ows))?;
    let mut weight = None;
    for param in pieces {
        let (name, value) = param.split_once('=')?;
        if weight.is_some() || !name.trim_matches(is_ows).eq_ignore_ascii_case("q") {
            return None;
        }
        weight = Some(parse_qvalue(value.trim_matches(is_ows))?);
    }
    Some((range, weight.unwrap_or(1000)))
}

/// Parses `language-range = (1*8ALPHA *("-" 1*8alphanum)) / "*"` (RFC 4647 §2.1).
fn parse_range(range: &str) -> Option<Range> {
    if range == "*" {
        return Some(Range::Wildcard);
    }
    let mut subtags = range.split('-');
    let primary = subtags.next()?;
    let subtag_ok = |s: &str, alpha_only: bool| {
        (1..=8).contains(&s.len())
            && s.bytes().all(|b| {
                if alpha_only {
                    b.is_ascii_alphabetic()
                } else {
                    b.is_ascii_alphanumeric()
                }
            })
    };
    if !subtag_ok(primary, true) || !subtags.all(|s| subtag_ok(s, false)) {
        return None;
    }
    Some(if primary.eq_ignore_ascii_case("en") {
        Range::Lang(Lang::En)
    } else if primary.eq_ignore_ascii_case("fr") {
        Range::Lang(Lang::Fr)
    } else {
        Range::Other
    })
}

/// Parses `qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )`
/// (RFC 9110 §12.4.2) into thousandths (0..=1000).
fn parse_qvalue(value: &str) -> Option<u16> {
    let bytes = value.as_bytes();
    let (&first, rest) = bytes.split_first()?;
    let decimals = match rest.split_first() {
        None => &[][..],
        Some((b'.', decimals)) if decimals.len() <= 3 => decimals,
        Some(_) => return None,
    };
    match first {
        b'0' => {
            let mut thousandths = 0u16;
            for i in 0..3 {
                let digit = match decimals.get(i) {
                    Some(&d) if d.is_ascii_digit() => u16::from(d - b'0'),
                    Some(_) => return None,
                    None => 0,
                };
                thousandths = thousandths * 10 + digit;
            }
            Some(thousandths)
        }
        b'1' if decimals.iter().all(|&d| d == b'0') => Some(1000),
        _ => None,
    }
}

/// Finds `code` in a bilingual table `(code, English, French)`.
fn lookup(
    table: &'static [(&'static str, &'static str, &'static str)],
    code: &str,
    lang: Lang,
) -> Option<&'static str> {
    table
        .iter()
        .find(|(c, _, _)| *c == code)
        .map(|&(_, en, fr)| lang.pick(en, fr))
}

/// Title used for a problem code that has no entry in [`PROBLEMS`].
const FALLBACK_TITLE: (&str, &str) = ("Request failed", "Échec de la requête");

/// Problem codes with their titles: `(code, English, French)`.
const PROBLEMS: &[(&str, &str, &str)] = &[
    // Authentication and authorisation.
    (
        "unauthenticated",
        "Authentication required",
        "Authentification requise",
    ),
    ("forbidden", "Access denied", "Accès refusé"),
    (
        "role_not_permitted",
        "Role not permitted",
        "Rôle non autorisé",
    ),
    (
        "wrong_side",
        "Wrong side of the exchange",
        "Mauvaise partie de l'échange",
    ),
    (
        "outside_role_scope",
        "Outside role scope",
        "Hors du périmètre du rôle",
    ),
    // Malformed requests.
    ("malformed_json", "Malformed JSON", "JSON mal formé"),
    ("unknown_field", "Unknown field", "Champ inconnu"),
    (
        "invalid_body",
        "Invalid request body",
        "Corps de requête invalide",
    ),
    (
        "invalid_path_parameter",
        "Invalid path parameter",
        "Paramètre de chemin invalide",
    ),
    (
        "invalid_query",
        "Invalid query parameters",
        "Paramètres de requête invalides",
    ),
    (
        "invalid_cursor",
        "Invalid pagination cursor",
        "Curseur de pagination invalide",
    ),
    (
        "invalid_if_match",
        "Invalid If-Match header",
        "En-tête If-Match invalide",
    ),
    (
        "invalid_idempotency_key",
        "Invalid idempotency key",
        "Clé d'idempotence invalide",
    ),
    ("invalid_range", "Invalid range", "Plage invalide"),
    ("bad_request", "Bad request", "Requête incorrecte"),
    // Resources and case workflow.
    ("not_found", "Not found", "Ressource introuvable"),
    ("case_not_found", "Case not found", "Dossier introuvable"),
    (
        "method_not_allowed",
        "Method not allowed",
        "Méthode non autorisée",
    ),
    (
        "case_not_editable",
        "Case not editable",
        "Dossier non modifiable",
    ),
    (
        "transition_not_allowed",
        "Transition not allowed",
        "Transition non autorisée",
    ),
    ("version_mismatch", "Version mismatch", "Version obsolète"),
    (
        "payload_too_large",
        "Payload too large",
        "Contenu trop volumineux",
    ),
    (
        "unsupported_media_type",
        "Unsupported media type",
        "Type de média non pris en charge",
    ),
    (
        "validation_failed",
        "Validation failed",
        "Échec de la validation",
    ),
    ("case_incomplete", "Case incomplete", "Dossier incomplet"),
    (
        "idempotency_key_reused",
        "Idempotency key reused",
        "Clé d'idempotence déjà utilisée",
    ),
    (
        "if_match_required",
        "If-Match header required",
        "En-tête If-Match requis",
    ),
    // Server state.
    (
        "request_timeout",
        "Request timeout",
        "Délai de requête dépassé",
    ),
    ("internal_error", "Internal error", "Erreur interne"),
    (
        "service_unavailable",
        "Service unavailable",
        "Service indisponible",
    ),
    (
        "database_unavailable",
        "Database unavailable",
        "Base de données indisponible",
    ),
    ("database_busy", "Database busy", "Base de données occupée"),
    ("not_ready", "Service not ready", "Service pas encore prêt"),
    (
        "audit_unavailable",
        "Audit log unavailable",
        "Journal d'audit indisponible",
    ),
    (
        "witnessing_failed",
        "Witnessing failed",
        "Échec de l'attestation par le témoin",
    ),
    (
        "comparison_failed",
        "Comparison with the other node failed",
        "Échec de la comparaison avec l'autre nœud",
    ),
    (
        "no_disagreement",
        "No open disagreement on this case",
        "Aucun désaccord ouvert sur ce dossier",
    ),
    (
        "awaiting_receipts",
        "Waiting for receipts from the other node",
        "En attente des accusés de réception de l'autre nœud",
    ),
    (
        "invalid_buckets",
        "Invalid buckets",
        "Compartiments invalides",
    ),
    // Exchange between the two agencies.
    (
        "client_certificate_required",
        "Client certificate required",
        "Certificat client requis",
    ),
    (
        "wrong_peer_identity",
        "Wrong peer identity",
        "Identité du pair incorrecte",
    ),
    (
        "invalid_signature",
        "Invalid signature",
        "Signature invalide",
    ),
    ("wrong_sender", "Wrong sender", "Expéditeur incorrect"),
    ("wrong_receiver", "Wrong receiver", "Destinataire incorrect"),
    ("invalid_envelope", "Invalid envelope", "Enveloppe invalide"),
    (
        "unsupported_sop_version",
        "Unsupported SOP version",
        "Version de SOP non prise en charge",
    ),
    (
        "unknown_message_type",
        "Unknown message type",
        "Type de message inconnu",
    ),
    (
        "sequence_gap",
        "Gap in message sequence",
        "Messages manquants dans la séquence",
    ),
    ("sequence_replay", "Replayed message", "Message rejoué"),
    (
        "chain_broken",
        "Broken hash chain",
        "Chaîne de hachage rompue",
    ),
    (
        "message_id_conflict",
        "Message ID conflict",
        "Conflit d'identifiant de message",
    ),
    (
        "unknown_referral",
        "Unknown referral",
        "Référencement inconnu",
    ),
    (
        "invalid_payload",
        "Invalid message payload",
        "Contenu du message invalide",
    ),
    (
        "duplicate_referral",
        "Duplicate referral",
        "Référencement en double",
    ),
    ("not_applicable", "Not applicable", "Sans objet"),
    // Consent and personal data.
    (
        "consent_scope_exceeded",
        "Consent scope exceeded",
        "Portée du consentement dépassée",
    ),
    (
        "consent_required",
        "Consent required",
        "Consentement requis",
    ),
    (
        "consent_withdrawn",
        "Consent withdrawn",
        "Consentement retiré",
    ),
    (
        "personal_data_erased",
        "Personal data erased",
        "Données personnelles effacées",
    ),
    // Transparency log checkpoints.
    (
        "invalid_checkpoint_signature",
        "Invalid checkpoint signature",
        "Signature de point de contrôle invalide",
    ),
    (
        "wrong_origin",
        "Wrong log origin",
        "Origine du journal incorrecte",
    ),
    (
        "inconsistent_checkpoint",
        "Inconsistent checkpoint",
        "Point de contrôle incohérent",
    ),
    (
        "consistency_base_mismatch",
        "Consistency base mismatch",
        "Base de cohérence non concordante",
    ),
    (
        "invalid_checkpoint_submission",
        "Invalid checkpoint submission",
        "Soumission de point de contrôle invalide",
    ),
    // Handover and directory.
    (
        "handover_mismatch",
        "Handover details mismatch",
        "Détails de la remise non concordants",
    ),
    (
        "unknown_crossing_point",
        "Unknown crossing point",
        "Point de passage inconnu",
    ),
    (
        "directory_entry_not_found",
        "Directory entry not found",
        "Entrée d'annuaire introuvable",
    ),
    (
        "handover_not_planned",
        "No handover plan",
        "Aucun plan de remise",
    ),
    (
        "handover_already_agreed",
        "Handover plan already agreed",
        "Plan de remise déjà convenu",
    ),
    (
        "own_handover_proposal",
        "Own handover proposal",
        "Proposition de remise de la même partie",
    ),
    (
        "handover_not_agreed",
        "Handover plan not agreed",
        "Plan de remise non convenu",
    ),
    (
        "handover_already_confirmed",
        "Handover already confirmed",
        "Remise déjà confirmée",
    ),
    (
        "handover_not_scheduled",
        "Handover not scheduled",
        "Remise non programmée",
    ),
    (
        "audit_log_rolled_back",
        "Audit log rolled back",
        "Journal d'audit tronqué",
    ),
    (
        "handover_round_mismatch",
        "Handover negotiation out of step",
        "Négociation de la remise désynchronisée",
    ),
    (
        "not_in_monitoring",
        "Not in reintegration monitoring",
        "Hors suivi de réinsertion",
    ),
    (
        "report_exists",
        "Report already recorded",
        "Rapport déjà enregistré",
    ),
];

/// The codes of [`PROBLEMS`], in table order.
const PROBLEM_CODE_ARRAY: [&str; PROBLEMS.len()] = {
    let mut codes = [""; PROBLEMS.len()];
    let mut i = 0;
    while i < PROBLEMS.len() {
        codes[i] = PROBLEMS[i].0;
        i += 1;
    }
    codes
};

/// Every problem code with a title (for a test that every code used has one).
pub const PROBLEM_CODES: &[&str] = &PROBLEM_CODE_ARRAY;

/// Title of a problem code in `lang` (RFC 9457 `title`: short, same for every
/// occurrence of the code).
///
/// Unknown codes fall back to a generic title ("Request failed" /
/// "Échec de la requête").
pub fn problem_title(code: &str, lang: Lang) -> &'static str {
    lookup(PROBLEMS, code, lang).unwrap_or_else(|| lang.pick(FALLBACK_TITLE.0, FALLBACK_TITLE.1))
}

/// Case states with their labels: `(code, English, French)`.
const STATES: &[(&str, &str, &str)] = &[
    ("draft", "Draft", "Brouillon"),
    ("submitted", "Submitted", "Soumis"),
    ("approved", "Approved", "Approuvé"),
    ("received", "Received", "Reçu"),
    (
        "info_requested",
        "Information requested",
        "Informations demandées",
    ),
    ("accepted", "Accepted", "Accepté"),
    ("declined", "Declined", "Refusé"),
    (
        "handover_scheduled",
        "Handover scheduled",
        "Remise programmée",
    ),
    ("in_transit", "In transit", "En transit"),
    ("handed_over", "Handed over", "Remis(e)"),
    (
        "in_assistance",
        "Receiving assistance",
        "En cours de prise en charge",
    ),
    (
        "reintegration_monitoring",
        "Reintegration monitoring",
        "Suivi de la réinsertion",
    ),
    ("closed", "Closed", "Clôturé"),
    ("cancelled", "Cancelled", "Annulé"),
    ("failed", "Failed", "Échoué"),
    ("on_hold", "On hold", "Suspendu"),
    ("entered_in_error", "Entered in error", "Saisi par erreur"),
];

/// Label of a case state code in `lang` (None for an unknown code).
pub fn state_label(code: &str, lang: Lang) -> Option<&'static str> {
    lookup(STATES, code, lang)
}

/// Label of a role in `lang`.
pub fn role_label(role: super::roles::Role, lang: Lang) -> &'static str {
    use super::roles::Role;
    match role {
        Role::Caseworker => lang.pick("Caseworker", "Chargé(e) de dossier"),
        Role::Supervisor => lang.pick("Supervisor", "Superviseur(e)"),
        Role::Liaison => lang.pick("Border liaison", "Agent de liaison frontalier"),
        Role::JtwgReviewer => lang.pick("JTWG reviewer", "Membre du groupe de travail conjoint"),
        Role::Admin => lang.pick("Administrator", "Administrateur(rice)"),
    }
}

/// Exchange message types with their labels: `(code, English, French)`.
const MESSAGE_TYPES: &[(&str, &str, &str)] = &[
    (
        "referral_request",
        "Referral request",
        "Demande de référencement",
    ),
    ("decision", "Decision", "Décision"),
    (
        "info_request",
        "Information request",
        "Demande d'informations",
    ),
    (
        "info_response",
        "Information response",
        "Réponse à la demande d'informations",
    ),
    (
        "handover_proposal",
        "Handover proposal",
        "Proposition de remise",
    ),
    (
        "handover_counter_proposal",
        "Handover counter-proposal",
        "Contre-proposition de remise",
    ),
    (
        "handover_acceptance",
        "Handover acceptance",
        "Acceptation de la remise",
    ),
    (
        "handover_confirmation",
        "Handover confirmation",
        "Confirmation de la remise",
    ),
    ("departure", "Departure", "Départ"),
    ("arrival", "Arrival", "Arrivée"),
    (
        "repatriation_update",
        "Repatriation update",
        "Point sur le rapatriement",
    ),
    (
        "reintegration_update",
        "Reintegration update",
        "Point sur la réinsertion",
    ),
    ("status_update", "Status update", "Mise à jour du statut"),
    ("closure", "Closure", "Clôture"),
    ("cancellation", "Cancellation", "Annulation"),
    (
        "consent_withdrawal",
        "Consent withdrawal",
        "Retrait du consentement",
    ),
    (
        "erasure_confirmation",
        "Erasure confirmation",
        "Confirmation d'effacement",
    ),
];

/// Label of a message type code in `lang` (None for an unknown code).
pub fn message_type_label(code: &str, lang: Lang) -> Option<&'static str> {
    lookup(MESSAGE_TYPES, code, lang)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn accept(header: &str) -> Lang {
        Lang::from_accept_language(header)
    }

    #[test]
    fn as_str_and_pick() {
        assert_eq!(Lang::En.as_str(), "en");
        assert_eq!(Lang::Fr.as_str(), "fr");
        assert_eq!(Lang::default(), Lang::En);
        assert_eq!(Lang::En.pick("yes", "oui"), "yes");
        assert_eq!(Lang::Fr.pick("yes", "oui"), "oui");
    }

    #[test]
    fn accept_language_basic_cases() {
        assert_eq!(accept(""), Lang::En);
        assert_eq!(accept("   "), Lang::En);
        assert_eq!(accept("fr"), Lang::Fr);
        assert_eq!(accept("en"), Lang::En);
        assert_eq!(accept("fr-NE,fr;q=0.9,en;q=0.8"), Lang::Fr);
        assert_eq!(accept("en-GB,fr;q=0.9"), Lang::En);
        assert_eq!(accept("de, fr;q=0.5"), Lang::Fr);
        assert_eq!(accept("de"), Lang::En);
        assert_eq!(accept("ha-NG, en;q=0.3, fr;q=0.7"), Lang::Fr);
    }

    #[test]
    fn accept_language_case_insensitive_primary_subtag() {
        assert_eq!(accept("FR-ne"), Lang::Fr);
        assert_eq!(accept("FR"), Lang::Fr);
        assert_eq!(accept("fr-ne;q=0.8"), Lang::Fr);
        assert_eq!(accept("fr-Latn-NE"), Lang::Fr);
        assert_eq!(accept("en;q=0.2, fR-ne;Q=0.8"), Lang::Fr);
        // `fra` is another primary subtag, not `fr`.
        assert_eq!(accept("fra"), Lang::En);
    }

    #[test]
    fn accept_language_zero_quality_excludes() {
        assert_eq!(accept("fr;q=0"), Lang::En);
        assert_eq!(accept("fr;q=0.000"), Lang::En);
        assert_eq!(accept("en;q=0, fr;q=0.1"), Lang::Fr);
        assert_eq!(accept("fr;q=0, en;q=0"), Lang::En);
    }

    #[test]
    fn accept_language_wildcard() {
        assert_eq!(accept("*"), Lang::En);
        assert_eq!(accept("de, *;q=0.5"), Lang::En);
        assert_eq!(accept("fr;q=0.4, *;q=0.5"), Lang::En);
        // `*` stands for languages not named elsewhere.
        assert_eq!(accept("en;q=0, *"), Lang::Fr);
        assert_eq!(accept("en;q=0.1, *"), Lang::Fr);
        assert_eq!(accept("en;q=0.1, fr;q=0.2, *"), Lang::Fr);
        assert_eq!(accept("*;q=0"), Lang::En);
    }

    #[test]
    fn accept_language_ties_go_to_earlier_entry() {
        assert_eq!(accept("en;q=0.5, fr;q=0.5"), Lang::En);
        assert_eq!(accept("fr;q=0.5, en;q=0.5"), Lang::Fr);
        assert_eq!(accept("fr, en"), Lang::Fr);
        assert_eq!(accept("fr;q=1.0, en;q=1"), Lang::Fr);
    }

    #[test]
    fn accept_language_quality_precision() {
        assert_eq!(accept("en;q=0.001, fr;q=0.002"), Lang::Fr);
        assert_eq!(accept("en;q=0.5, fr;q=0.50"), Lang::En);
        assert_eq!(accept("en;q=0.9, fr;q=1."), Lang::Fr);
        assert_eq!(accept("en ; q = 0.5 , fr ;q=0.6"), Lang::Fr);
    }

    #[test]
    fn accept_language_malformed_parts_are_ignored() {
        assert_eq!(accept(";;;q=abc,,"), Lang::En);
        assert_eq!(accept(",,,"), Lang::En);
        assert_eq!(accept("fr;q=abc"), Lang::En);
        assert_eq!(accept("fr;q=1.5"), Lang::En);
        assert_eq!(accept("fr;q=2"), Lang::En);
        assert_eq!(accept("fr;q=0.1234"), Lang::En);
        assert_eq!(accept("fr;q=-1"), Lang::En);
        assert_eq!(accept("fr;q="), Lang::En);
        assert_eq!(accept("fr;"), Lang::En);
        assert_eq!(accept("fr;q=0.5;q=0.6"), Lang::En);
        assert_eq!(accept("fr;level=1"), Lang::En);
        assert_eq!(accept("fr-"), Lang::En);
        assert_eq!(accept("-fr"), Lang::En);
        assert_eq!(accept("fr--NE"), Lang::En);
        assert_eq!(accept("f r"), Lang::En);
        assert_eq!(accept("fr-toolongsubtag"), Lang::En);
        assert_eq!(accept("**"), Lang::En);
        // A malformed entry does not spoil the others.
        assert_eq!(accept("fr;q=abc, en;q=0.1, fr-NE;q=0.2"), Lang::Fr);
        assert_eq!(accept(";;;q=abc,, fr;q=0.3"), Lang::Fr);
    }

    #[test]
    fn accept_language_very_long_header() {
        let mut header = "de;q=0.9,".repeat(100_000);
        header.push_str("fr;q=0.1");
        assert_eq!(accept(&header), Lang::Fr);

        let junk = ";=,-*".repeat(200_000);
        assert_eq!(accept(&junk), Lang::En);
    }

    #[test]
    fn accept_language_non_ascii() {
        assert_eq!(accept("français"), Lang::En);
        assert_eq!(accept("français, fr;q=0.5"), Lang::Fr);
        assert_eq!(accept("fr;q=0.５"), Lang::En);
        assert_eq!(accept("ﬀ,é;q=é,日本語"), Lang::En);
        assert_eq!(accept("\u{0}\u{7f}\u{fffd};q=0.9,fr\u{a0}"), Lang::En);
    }

    #[test]
    fn qvalue_parsing() {
        assert_eq!(parse_qvalue("0"), Some(0));
        assert_eq!(parse_qvalue("0."), Some(0));
        assert_eq!(parse_qvalue("0.5"), Some(500));
        assert_eq!(parse_qvalue("0.05"), Some(50));
        assert_eq!(parse_qvalue("0.123"), Some(123));
        assert_eq!(parse_qvalue("1"), Some(1000));
        assert_eq!(parse_qvalue("1.000"), Some(1000));
        assert_eq!(parse_qvalue("1.001"), None);
        assert_eq!(parse_qvalue(".5"), None);
        assert_eq!(parse_qvalue("0,5"), None);
        assert_eq!(parse_qvalue(""), None);
    }

    /// Checks a bilingual table: codes are unique snake_case, texts are
    /// non-empty, trimmed, start with a capital, have no final period, differ
    /// between languages and are unique within a language.
    fn check_table(table: &[(&str, &str, &str)]) {
        let mut codes = HashSet::new();
        let mut en_texts = HashSet::new();
        let mut fr_texts = HashSet::new();
        for &(code, en, fr) in table {
            assert!(codes.insert(code), "code listed twice: {code}");
            assert!(
                !code.is_empty()
                    && code
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                "code not snake_case: {code:?}"
            );
            for text in [en, fr] {
                assert!(!text.is_empty(), "empty text for {code}");
                assert_eq!(text, text.trim(), "untrimmed text for {code}");
                assert!(!text.ends_with('.'), "final period for {code}");
                assert!(
                    text.chars().next().is_some_and(char::is_uppercase),
                    "text of {code} not in sentence case: {text:?}"
                );
            }
            assert_ne!(en, fr, "same English and French for {code}");
            assert!(en_texts.insert(en), "English text shared: {en:?}");
            assert!(fr_texts.insert(fr), "French text shared: {fr:?}");
        }
    }

    #[test]
    fn problem_table_is_well_formed() {
        check_table(PROBLEMS);
        assert_eq!(PROBLEM_CODES.len(), PROBLEMS.len());
        for (&code, &(table_code, en, fr)) in PROBLEM_CODES.iter().zip(PROBLEMS) {
            assert_eq!(code, table_code);
            assert_eq!(problem_title(code, Lang::En), en);
            assert_eq!(problem_title(code, Lang::Fr), fr);
            assert_ne!(en, FALLBACK_TITLE.0, "{code} uses the fallback title");
            assert_ne!(fr, FALLBACK_TITLE.1, "{code} uses the fallback title");
        }
    }

    #[test]
    fn problem_codes_cover_the_api() {
        let expected = [
            "unauthenticated",
            "forbidden",
            "role_not_permitted",
            "wrong_side",
            "outside_role_scope",
            "malformed_json",
            "unknown_field",
            "invalid_body",
            "invalid_path_parameter",
            "invalid_query",
            "invalid_cursor",
            "invalid_if_match",
            "invalid_idempotency_key",
            "invalid_range",
            "bad_request",
            "not_found",
            "case_not_found",
            "method_not_allowed",
            "case_not_editable",
            "transition_not_allowed",
            "version_mismatch",
            "payload_too_large",
            "unsupported_media_type",
            "validation_failed",
            "case_incomplete",
            "idempotency_key_reused",
            "if_match_required",
            "request_timeout",
            "internal_error",
            "service_unavailable",
            "database_unavailable",
            "database_busy",
            "not_ready",
            "audit_unavailable",
            "witnessing_failed",
            "comparison_failed",
            "no_disagreement",
            "awaiting_receipts",
            "invalid_buckets",
            "client_certificate_required",
            "wrong_peer_identity",
            "invalid_signature",
            "wrong_sender",
            "wrong_receiver",
            "invalid_envelope",
            "unsupported_sop_version",
            "unknown_message_type",
            "sequence_gap",
            "sequence_replay",
            "chain_broken",
            "message_id_conflict",
            "unknown_referral",
            "invalid_payload",
            "duplicate_referral",
            "not_applicable",
            "consent_scope_exceeded",
            "consent_required",
            "consent_withdrawn",
            "personal_data_erased",
            "invalid_checkpoint_signature",
            "wrong_origin",
            "inconsistent_checkpoint",
            "consistency_base_mismatch",
            "invalid_checkpoint_submission",
            "handover_mismatch",
            "unknown_crossing_point",
            "directory_entry_not_found",
            "handover_not_planned",
            "handover_already_agreed",
            "own_handover_proposal",
            "handover_not_agreed",
            "handover_already_confirmed",
            "handover_not_scheduled",
            "audit_log_rolled_back",
            "handover_round_mismatch",
            "not_in_monitoring",
            "report_exists",
        ];
        assert_eq!(PROBLEM_CODES, expected);
    }

    #[test]
    fn every_problem_code_has_a_french_detail() {
        for code in PROBLEM_CODES {
            assert!(
                super::super::problem_details::french(code).is_some(),
                "no French detail for {code}"
            );
        }
    }

    #[test]
    fn problem_title_examples() {
        assert_eq!(
            problem_title("version_mismatch", Lang::En),
            "Version mismatch"
        );
        assert_eq!(
            problem_title("version_mismatch", Lang::Fr),
            "Version obsolète"
        );
        assert_eq!(
            problem_title("unauthenticated", Lang::En),
            "Authentication required"
        );
        assert_eq!(
            problem_title("unauthenticated", Lang::Fr),
            "Authentification requise"
        );
    }

    #[test]
    fn unknown_problem_code_falls_back() {
        assert_eq!(problem_title("no_such_code", Lang::En), "Request failed");
        assert_eq!(
            problem_title("no_such_code", Lang::Fr),
            "Échec de la requête"
        );
        assert_eq!(problem_title("", Lang::En), "Request failed");
        assert_eq!(problem_title("NOT_FOUND", Lang::Fr), "Échec de la requête");
    }

    #[test]
    fn state_labels() {
        check_table(STATES);
        let expected = [
            "draft",
            "submitted",
            "approved",
            "received",
            "info_requested",
            "accepted",
            "declined",
            "handover_scheduled",
            "in_transit",
            "handed_over",
            "in_assistance",
            "reintegration_monitoring",
            "closed",
            "cancelled",
            "failed",
            "on_hold",
            "entered_in_error",
        ];
        let codes: Vec<&str> = STATES.iter().map(|&(code, _, _)| code).collect();
        assert_eq!(codes, expected);
        for code in expected {
            assert!(state_label(code, Lang::En).is_some());
            assert!(state_label(code, Lang::Fr).is_some());
        }
        assert_eq!(
            state_label("handover_scheduled", Lang::Fr),
            Some("Remise programmée")
        );
        assert_eq!(state_label("in_transit", Lang::En), Some("In transit"));
        assert_eq!(
            state_label("entered_in_error", Lang::Fr),
            Some("Saisi par erreur")
        );
        assert_eq!(state_label("unknown", Lang::En), None);
        assert_eq!(state_label("", Lang::Fr), None);
    }

    #[test]
    fn message_type_labels() {
        check_table(MESSAGE_TYPES);
        let expected = [
            "referral_request",
            "decision",
            "info_request",
            "info_response",
            "handover_proposal",
            "handover_counter_proposal",
            "handover_acceptance",
            "handover_confirmation",
            "departure",
            "arrival",
            "repatriation_update",
            "reintegration_update",
            "status_update",
            "closure",
            "cancellation",
            "consent_withdrawal",
            "erasure_confirmation",
        ];
        let codes: Vec<&str> = MESSAGE_TYPES.iter().map(|&(code, _, _)| code).collect();
        assert_eq!(codes, expected);
        assert_eq!(
            message_type_label("handover_proposal", Lang::Fr),
            Some("Proposition de remise")
        );
        assert_eq!(message_type_label("decision", Lang::En), Some("Decision"));
        assert_eq!(message_type_label("closed", Lang::En), None);
    }
}
