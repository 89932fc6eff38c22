//! Languages of the API (English, French) and the bilingual texts shown to
//! users: the labels of case states, roles and message types.
//!
//! Passerelle links Niger's ANLTP/TIM (francophone) with Nigeria's NAPTIP
//! (anglophone), so every human-readable text the API produces exists in
//! exactly two languages, [`Lang::En`] and [`Lang::Fr`]. English is the
//! default whenever a client expresses no usable preference.
//!
//! The API picks a request's language from its `Accept-Language` header
//! (`api::accept_language`).
//!
//! The titles of problem codes live with the codes, in
//! [`super::problem::ProblemCode`].
//!
//! # Labels
//!
//! [`state_label`] translates the stable codes of case states into labels for
//! display (`None` for an unknown code, so that the caller decides how to
//! show it), and [`role_label`] names roles. Message types carry their own
//! labels ([`super::message_type::MessageType::label`]).
//!
//! # Adding a text
//!
//! Add one row `(code, English, French)` to the relevant table. The tests in
//! this module check that no code appears twice, that both texts are
//! non-empty and differ from each other, and that no two codes share a text
//! in the same language.
//!
//! This module is pure: no I/O, no global state, only `std`.

/// A language of the API: `en` or `fr`.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    serde::Serialize,
    serde::Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
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

    /// `en` or `fr`, or nothing.
    pub fn parse(s: &str) -> Option<Lang> {
        match s {
            "en" => Some(Lang::En),
            "fr" => Some(Lang::Fr),
            _ => None,
        }
    }

    /// The English or the French of a pair.
    pub fn pick(self, en: &'static str, fr: &'static str) -> &'static str {
        match self {
            Lang::En => en,
            Lang::Fr => fr,
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn as_str_and_pick() {
        assert_eq!(Lang::En.as_str(), "en");
        assert_eq!(Lang::Fr.as_str(), "fr");
        assert_eq!(Lang::default(), Lang::En);
        assert_eq!(Lang::En.pick("yes", "oui"), "yes");
        assert_eq!(Lang::Fr.pick("yes", "oui"), "oui");
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
}
