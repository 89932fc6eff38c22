//! Bilingual (English/French) code lists. Codes are stable and are what
//! travels on the wire and is stored; labels are for people. Each list has a
//! version that is bumped whenever an entry is added or a label changes
//! (codes are never removed or reused: they may only be marked retired in a
//! later version).

use serde::Serialize;

/// One entry of a code list.
#[derive(Debug, Clone, Copy, Serialize, utoipa::ToSchema)]
pub struct CodeEntry {
    /// Stable code used on the wire and in storage.
    pub code: &'static str,
    /// English label.
    pub en: &'static str,
    /// French label.
    pub fr: &'static str,
}

/// A versioned list of codes.
#[derive(Debug, Clone, Copy, Serialize, utoipa::ToSchema)]
pub struct CodeList {
    /// Stable identifier of the list, e.g. `exploitation_type`.
    pub id: &'static str,
    /// Version of the list; bumped on any change.
    pub version: u32,
    /// English title of the list.
    pub title_en: &'static str,
    /// French title of the list.
    pub title_fr: &'static str,
    /// The entries, in display order.
    pub entries: &'static [CodeEntry],
}

impl CodeList {
    pub fn contains(&self, code: &str) -> bool {
        self.entries.iter().any(|e| e.code == code)
    }

    pub fn entry(&self, code: &str) -> Option<&'static CodeEntry> {
        self.entries.iter().find(|e| e.code == code)
    }
}

/// Identifiers of the lists, so that code refers to them without typos.
pub mod ids {
    pub const PERSON_STATUS: &str = "person_status";
    pub const SEX: &str = "sex";
    pub const AGE_BAND: &str = "age_band";
    pub const EXPLOITATION_TYPE: &str = "exploitation_type";
    pub const RISK_LEVEL: &str = "risk_level";
    pub const RISK_FLAG: &str = "risk_flag";
    pub const URGENT_NEED: &str = "urgent_need";
    pub const TRAVEL_DOCUMENT_STATUS: &str = "travel_document_status";
    pub const SERVICE: &str = "service";
    pub const CONSENT_SCOPE: &str = "consent_scope";
    pub const CONSENT_PURPOSE: &str = "consent_purpose";
    pub const CONSENT_GIVEN_BY: &str = "consent_given_by";
    pub const DECLINE_REASON: &str = "decline_reason";
    pub const CLOSURE_OUTCOME: &str = "closure_outcome";
    pub const CLOSURE_REASON: &str = "closure_reason";
    pub const CANCELLATION_REASON: &str = "cancellation_reason";
    pub const HOLD_REASON: &str = "hold_reason";
    pub const FAILURE_REASON: &str = "failure_reason";
    pub const ERROR_REASON: &str = "entered_in_error_reason";
    pub const RETURN_REASON: &str = "return_to_draft_reason";
    pub const CASE_STATE: &str = "case_state";
    pub const TRANSITION_ACTION: &str = "transition_action";
    pub const DIRECTION: &str = "direction";
    pub const ESCORT_AGENCY: &str = "escort_agency";
    pub const FAMILY_TRACING_OUTCOME: &str = "family_tracing_outcome";
    pub const FAMILY_ASSESSMENT: &str = "family_assessment";
    pub const RETURN_PLAN: &str = "return_plan";
    pub const FOLLOW_UP_OUTCOME: &str = "follow_up_outcome";
    pub const ORGANIZATION_TYPE: &str = "organization_type";
}

macro_rules! entries {
    ($($code:literal => $en:literal / $fr:literal),* $(,)?) => {
        &[$(CodeEntry { code: $code, en: $en, fr: $fr }),*]
    };
}

/// Age bands whose members are minors (under 18).
pub const MINOR_AGE_BANDS: &[&str] = &["0_4", "5_11", "12_14", "15_17"];
/// Age bands whose members are adults.
pub const ADULT_AGE_BANDS: &[&str] = &["18_24", "25_34", "35_49", "50_plus"];

/// Every code list served by `GET /api/v1/code-lists`.
pub static CODE_LISTS: &[CodeList] = &[
    CodeList {
        id: ids::ORGANIZATION_TYPE,
        version: 1,
        title_en: "Type of organisation",
        title_fr: "Type d'organisation",
        entries: entries![
            "government_agency" => "Government agency" / "Service de l'État",
            "police" => "Police or border service" / "Police ou service frontalier",
            "ngo" => "Non-governmental organisation" / "Organisation non gouvernementale",
            "international_organization" => "International organisation" / "Organisation internationale",
            "health" => "Health facility" / "Établissement de santé",
            "faith_based" => "Faith-based organisation" / "Organisation confessionnelle",
        ],
    },
    CodeList {
        id: ids::FAMILY_TRACING_OUTCOME,
        version: 1,
        title_en: "Family tracing outcome",
        title_fr: "Résultat de la recherche familiale",
        entries: entries![
            "in_progress" => "In progress" / "En cours",
            "found" => "Family found" / "Famille retrouvée",
            "not_found" => "Family not found" / "Famille non retrouvée",
            "not_requested" => "Not requested" / "Non demandée",
        ],
    },
    CodeList {
        id: ids::FAMILY_ASSESSMENT,
        version: 1,
        title_en: "Family assessment",
        title_fr: "Évaluation de la famille",
        entries: entries![
            "pending" => "Pending" / "En attente",
            "suitable" => "Return to family is safe" / "Retour en famille sans danger",
            "unsuitable" => "Return to family is not safe" / "Retour en famille dangereux",
        ],
    },
    CodeList {
        id: ids::RETURN_PLAN,
        version: 1,
        title_en: "Return plan",
        title_fr: "Plan de retour",
        entries: entries![
            "family_reunification" => "Reunification with the family" / "Réunification familiale",
            "shelter_placement" => "Placement in a shelter" / "Placement en centre d'accueil",
            "alternative_care" => "Alternative care (minor)" / "Prise en charge alternative (mineur)",
            "independent_living" => "Independent living" / "Vie autonome",
        ],
    },
    CodeList {
        id: ids::FOLLOW_UP_OUTCOME,
        version: 1,
        title_en: "Reintegration follow-up outcome",
        title_fr: "Résultat du suivi de la réinsertion",
        entries: entries![
            "reintegrating_well" => "Reintegrating well" / "Réinsertion en bonne voie",
            "needs_support" => "Needs further support" / "Besoin d'un soutien supplémentaire",
            "at_risk" => "At risk" / "En danger",
            "unreachable" => "Could not be reached" / "Injoignable",
        ],
    },
    CodeList {
        id: ids::ESCORT_AGENCY,
        version: 1,
        title_en: "Escorting agency",
        title_fr: "Service d'escorte",
        entries: entries![
            "naptip" => "NAPTIP" / "NAPTIP",
            "anltp_tim" => "ANLTP/TIM" / "ANLTP/TIM",
            "dst_police" => "Niger police (DST)" / "Police nationale du Niger (DST)",
            "nigeria_police" => "Nigeria Police Force" / "Police nigériane",
            "nigeria_immigration" => "Nigeria Immigration Service" / "Service d'immigration du Nigeria",
            "iom" => "IOM" / "OIM",
            "unicef" => "UNICEF" / "UNICEF",
            "social_welfare" => "Social welfare services" / "Services de l'action sociale",
            "ngo" => "Partner NGO" / "ONG partenaire",
        ],
    },
    CodeList {
        id: ids::PERSON_STATUS,
        version: 1,
        title_en: "Status of the person",
        title_fr: "Statut de la personne",
        entries: entries![
            "presumed_victim_trafficking" => "Presumed victim of trafficking" / "Victime présumée de traite",
            "identified_victim_trafficking" => "Identified victim of trafficking" / "Victime identifiée de traite",
            "stranded_migrant" => "Stranded migrant" / "Migrant en détresse",
            "vulnerable_migrant" => "Vulnerable migrant" / "Migrant vulnérable",
        ],
    },
    CodeList {
        id: ids::SEX,
        version: 1,
        title_en: "Sex",
        title_fr: "Sexe",
        entries: entries![
            "female" => "Female" / "Féminin",
            "male" => "Male" / "Masculin",
            "undisclosed" => "Not disclosed" / "Non communiqué",
        ],
    },
    CodeList {
        id: ids::AGE_BAND,
        version: 1,
        title_en: "Age band",
        title_fr: "Tranche d'âge",
        entries: entries![
            "0_4" => "0 to 4 years" / "0 à 4 ans",
            "5_11" => "5 to 11 years" / "5 à 11 ans",
            "12_14" => "12 to 14 years" / "12 à 14 ans",
            "15_17" => "15 to 17 years" / "15 à 17 ans",
            "18_24" => "18 to 24 years" / "18 à 24 ans",
            "25_34" => "25 to 34 years" / "25 à 34 ans",
            "35_49" => "35 to 49 years" / "35 à 49 ans",
            "50_plus" => "50 years and over" / "50 ans et plus",
            "unknown" => "Unknown" / "Inconnu",
        ],
    },
    CodeList {
        id: ids::EXPLOITATION_TYPE,
        version: 1,
        title_en: "Type of exploitation",
        title_fr: "Forme d'exploitation",
        entries: entries![
            "sexual_exploitation" => "Sexual exploitation" / "Exploitation sexuelle",
            "forced_labour" => "Forced labour" / "Travail forcé",
            "domestic_servitude" => "Domestic servitude" / "Servitude domestique",
            "forced_begging" => "Forced begging" / "Mendicité forcée",
            "forced_criminality" => "Forced criminal activity" / "Activités criminelles forcées",
            "child_labour" => "Worst forms of child labour" / "Pires formes de travail des enfants",
            "forced_marriage" => "Forced or early marriage" / "Mariage forcé ou précoce",
            "organ_removal" => "Removal of organs" / "Prélèvement d'organes",
            "other" => "Other" / "Autre",
            "unknown" => "Not yet known" / "Pas encore connu",
        ],
    },
    CodeList {
        id: ids::RISK_LEVEL,
        version: 1,
        title_en: "Risk level",
        title_fr: "Niveau de risque",
        entries: entries![
            "low" => "Low" / "Faible",
            "medium" => "Medium" / "Moyen",
            "high" => "High" / "Élevé",
        ],
    },
    CodeList {
        id: ids::RISK_FLAG,
        version: 1,
        title_en: "Risk flag",
        title_fr: "Facteur de risque",
        entries: entries![
            "retrafficking_risk" => "Risk of re-trafficking" / "Risque de nouvelle traite",
            "trafficker_contact" => "Traffickers in contact with the person" / "Trafiquants en contact avec la personne",
            "threats_to_family" => "Threats against the family" / "Menaces contre la famille",
            "debt_bondage" => "Debt bondage" / "Servitude pour dettes",
            "unaccompanied_minor" => "Unaccompanied or separated child" / "Enfant non accompagné ou séparé",
            "witness_in_proceedings" => "Witness in criminal proceedings" / "Témoin dans une procédure pénale",
            "community_stigma" => "Stigma in the community of return" / "Stigmatisation dans la communauté de retour",
            "security_threat_on_route" => "Security threat on the return route" / "Menace sécuritaire sur l'itinéraire de retour",
        ],
    },
    CodeList {
        id: ids::URGENT_NEED,
        version: 1,
        title_en: "Urgent need",
        title_fr: "Besoin urgent",
        entries: entries![
            "medical_care" => "Medical care" / "Soins médicaux",
            "psychosocial_support" => "Psychosocial support" / "Soutien psychosocial",
            "safe_shelter" => "Safe shelter" / "Hébergement sécurisé",
            "food_and_water" => "Food and water" / "Nourriture et eau",
            "clothing" => "Clothing" / "Vêtements",
            "legal_assistance" => "Legal assistance" / "Assistance juridique",
            "interpretation" => "Interpretation" / "Interprétariat",
            "family_contact" => "Contact with family" / "Contact avec la famille",
            "child_protection" => "Child protection services" / "Services de protection de l'enfance",
            "disability_support" => "Disability support" / "Soutien lié au handicap",
        ],
    },
    CodeList {
        id: ids::TRAVEL_DOCUMENT_STATUS,
        version: 1,
        title_en: "Travel document status",
        title_fr: "Situation des documents de voyage",
        entries: entries![
            "valid_passport" => "Valid passport" / "Passeport valide",
            "expired_passport" => "Expired passport" / "Passeport expiré",
            "ecowas_travel_certificate" => "ECOWAS travel certificate" / "Carnet de voyage CEDEAO",
            "emergency_travel_certificate" => "Emergency travel certificate" / "Laissez-passer d'urgence",
            "national_id_only" => "National identity document only" / "Pièce d'identité nationale uniquement",
            "no_document" => "No document" / "Aucun document",
            "unknown" => "Unknown" / "Inconnu",
        ],
    },
    CodeList {
        id: ids::SERVICE,
        version: 1,
        title_en: "Service",
        title_fr: "Service",
        entries: entries![
            "shelter" => "Shelter" / "Hébergement",
            "medical_care" => "Medical care" / "Soins médicaux",
            "psychosocial_support" => "Psychosocial support" / "Soutien psychosocial",
            "legal_aid" => "Legal aid" / "Aide juridique",
            "family_tracing" => "Family tracing" / "Recherche familiale",
            "family_reunification" => "Family reunification" / "Réunification familiale",
            "repatriation" => "Repatriation" / "Rapatriement",
            "reintegration_support" => "Reintegration support" / "Appui à la réintégration",
            "education" => "Education" / "Éducation",
            "vocational_training" => "Vocational training" / "Formation professionnelle",
            "livelihood_support" => "Livelihood support" / "Appui aux moyens de subsistance",
            "interpretation" => "Interpretation" / "Interprétariat",
        ],
    },
    CodeList {
        id: ids::CONSENT_SCOPE,
        version: 1,
        title_en: "Scope of consent",
        title_fr: "Portée du consentement",
        entries: entries![
            "referral" => "Referral to the other agency" / "Orientation vers l'autre agence",
            "data_sharing" => "Sharing of personal data with the other agency" / "Partage des données personnelles avec l'autre agence",
            "repatriation" => "Repatriation" / "Rapatriement",
            "family_tracing" => "Family tracing" / "Recherche familiale",
            "follow_up_contact" => "Follow-up contact after return" / "Contact de suivi après le retour",
        ],
    },
    CodeList {
        id: ids::CONSENT_PURPOSE,
        version: 1,
        title_en: "Purpose of consent",
        title_fr: "Finalité du consentement",
        entries: entries![
            "assistance" => "Protection and assistance" / "Protection et assistance",
            "voluntary_return" => "Voluntary return" / "Retour volontaire",
            "family_reunification" => "Family reunification" / "Réunification familiale",
        ],
    },
    CodeList {
        id: ids::CONSENT_GIVEN_BY,
        version: 2,
        title_en: "Consent given by",
        title_fr: "Consentement donné par",
        entries: entries![
            "victim" => "The person concerned" / "La personne concernée",
            "guardian" => "Parent or legal guardian" / "Parent ou tuteur légal",
            "best_interests_decision" => "Supervisor's documented best-interests decision (minor without a reachable guardian)" / "Décision documentée d'un superviseur dans l'intérêt supérieur de l'enfant (mineur sans tuteur joignable)",
        ],
    },
    CodeList {
        id: ids::DECLINE_REASON,
        version: 1,
        title_en: "Reason for declining a referral",
        title_fr: "Motif de refus d'une orientation",
        entries: entries![
            "outside_mandate" => "Outside the agency's mandate" / "Hors du mandat de l'agence",
            "insufficient_information" => "Insufficient information" / "Informations insuffisantes",
            "nationality_not_established" => "Nationality not established" / "Nationalité non établie",
            "no_capacity" => "No capacity to assist" / "Pas de capacité d'assistance",
            "duplicate_referral" => "Duplicate referral" / "Orientation en double",
            "other" => "Other" / "Autre",
        ],
    },
    CodeList {
        id: ids::CLOSURE_OUTCOME,
        version: 1,
        title_en: "Outcome at closure",
        title_fr: "Résultat à la clôture",
        entries: entries![
            "successful" => "Successful" / "Réussi",
            "not_successful" => "Not successful" / "Non réussi",
        ],
    },
    CodeList {
        id: ids::CLOSURE_REASON,
        version: 1,
        title_en: "Reason for closure",
        title_fr: "Motif de clôture",
        entries: entries![
            "reintegrated" => "Reintegration completed" / "Réintégration achevée",
            "reunited_with_family" => "Reunited with family" / "Réuni avec la famille",
            "lost_contact" => "Contact lost" / "Contact perdu",
            "declined_further_assistance" => "Declined further assistance" / "A refusé toute assistance supplémentaire",
            "transferred" => "Transferred to another service" / "Transféré à un autre service",
            "deceased" => "Deceased" / "Décédé",
            "other" => "Other" / "Autre",
        ],
    },
    CodeList {
        id: ids::CANCELLATION_REASON,
        version: 1,
        title_en: "Reason for cancellation",
        title_fr: "Motif d'annulation",
        entries: entries![
            "victim_withdrew" => "The person withdrew from the process" / "La personne s'est retirée de la procédure",
            "consent_withdrawn" => "Consent withdrawn" / "Consentement retiré",
            "referred_elsewhere" => "Referred elsewhere" / "Orienté ailleurs",
            "person_missing" => "Person missing" / "Personne disparue",
            "other" => "Other" / "Autre",
        ],
    },
    CodeList {
        id: ids::HOLD_REASON,
        version: 1,
        title_en: "Reason for putting on hold",
        title_fr: "Motif de mise en attente",
        entries: entries![
            "awaiting_documents" => "Awaiting documents" / "En attente de documents",
            "medical_treatment" => "Medical treatment under way" / "Traitement médical en cours",
            "legal_proceedings" => "Legal proceedings under way" / "Procédure judiciaire en cours",
            "security_situation" => "Security situation" / "Situation sécuritaire",
            "border_closed" => "Border closed" / "Frontière fermée",
            "other" => "Other" / "Autre",
        ],
    },
    CodeList {
        id: ids::FAILURE_REASON,
        version: 1,
        title_en: "Reason a handover failed",
        title_fr: "Motif d'échec de la remise",
        entries: entries![
            "person_absconded" => "The person left before the handover" / "La personne est partie avant la remise",
            "border_closed" => "Border closed" / "Frontière fermée",
            "transport_failure" => "Transport failure" / "Défaillance du transport",
            "documents_refused" => "Documents refused at the border" / "Documents refusés à la frontière",
            "security_incident" => "Security incident" / "Incident de sécurité",
            "other" => "Other" / "Autre",
        ],
    },
    CodeList {
        id: ids::ERROR_REASON,
        version: 1,
        title_en: "Reason a record was entered in error",
        title_fr: "Motif d'une saisie erronée",
        entries: entries![
            "wrong_person" => "Wrong person" / "Mauvaise personne",
            "duplicate_record" => "Duplicate record" / "Dossier en double",
            "test_record" => "Test record" / "Dossier de test",
            "data_entry_error" => "Data entry error" / "Erreur de saisie",
        ],
    },
    CodeList {
        id: ids::RETURN_REASON,
        version: 1,
        title_en: "Reason a submission was returned to draft",
        title_fr: "Motif de renvoi d'une soumission en brouillon",
        entries: entries![
            "incomplete" => "Incomplete" / "Incomplet",
            "consent_unclear" => "Consent unclear" / "Consentement peu clair",
            "needs_review" => "Needs review" / "À revoir",
            "other" => "Other" / "Autre",
        ],
    },
    CodeList {
        id: ids::CASE_STATE,
        version: 1,
        title_en: "State of a referral",
        title_fr: "État d'une orientation",
        entries: entries![
            "draft" => "Draft" / "Brouillon",
            "submitted" => "Submitted for approval" / "Soumis pour approbation",
            "approved" => "Approved, awaiting receipt" / "Approuvé, en attente de réception",
            "received" => "Received" / "Reçu",
            "info_requested" => "Information requested" / "Informations demandées",
            "accepted" => "Accepted" / "Accepté",
            "declined" => "Declined" / "Refusé",
            "handover_scheduled" => "Handover scheduled" / "Remise planifiée",
            "in_transit" => "In transit" / "En transit",
            "handed_over" => "Handed over" / "Remis",
            "in_assistance" => "In assistance" / "En assistance",
            "reintegration_monitoring" => "Reintegration monitoring" / "Suivi de la réintégration",
            "closed" => "Closed" / "Clôturé",
            "cancelled" => "Cancelled" / "Annulé",
            "failed" => "Failed" / "Échoué",
            "on_hold" => "On hold" / "En attente",
            "entered_in_error" => "Entered in error" / "Saisi par erreur",
        ],
    },
    CodeList {
        id: ids::TRANSITION_ACTION,
        version: 1,
        title_en: "Action on a referral",
        title_fr: "Action sur une orientation",
        entries: entries![
            "submit" => "Submit for approval" / "Soumettre pour approbation",
            "return_to_draft" => "Return to draft" / "Renvoyer en brouillon",
            "approve" => "Approve and send" / "Approuver et envoyer",
            "mark_received" => "Receipt acknowledged by the other agency" / "Réception confirmée par l'autre agence",
            "request_info" => "Request information" / "Demander des informations",
            "provide_info" => "Provide information" / "Fournir des informations",
            "accept" => "Accept" / "Accepter",
            "decline" => "Decline" / "Refuser",
            "schedule_handover" => "Schedule handover" / "Planifier la remise",
            "depart" => "Record departure" / "Enregistrer le départ",
            "confirm_handover" => "Confirm handover" / "Confirmer la remise",
            "start_assistance" => "Start assistance" / "Commencer l'assistance",
            "start_reintegration_monitoring" => "Start reintegration monitoring" / "Commencer le suivi de la réintégration",
            "close" => "Close" / "Clôturer",
            "cancel" => "Cancel" / "Annuler",
            "fail" => "Record failure" / "Enregistrer l'échec",
            "put_on_hold" => "Put on hold" / "Mettre en attente",
            "resume" => "Resume" / "Reprendre",
            "mark_entered_in_error" => "Mark as entered in error" / "Marquer comme saisi par erreur",
        ],
    },
    CodeList {
        id: ids::DIRECTION,
        version: 1,
        title_en: "Direction of a referral",
        title_fr: "Sens d'une orientation",
        entries: entries![
            "outgoing" => "Outgoing (this agency refers)" / "Sortante (cette agence oriente)",
            "incoming" => "Incoming (referred to this agency)" / "Entrante (orientée vers cette agence)",
        ],
    },
];

/// The list with this id.
pub fn list(id: &str) -> Option<&'static CodeList> {
    CODE_LISTS.iter().find(|l| l.id == id)
}

/// Whether `code` belongs to list `id`.
pub fn contains(id: &str, code: &str) -> bool {
    list(id).is_some_and(|l| l.contains(code))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn list_ids_and_codes_are_unique_and_labelled() {
        let mut ids = HashSet::new();
        for l in CODE_LISTS {
            assert!(ids.insert(l.id), "duplicate list {}", l.id);
            assert!(!l.entries.is_empty());
            let mut codes = HashSet::new();
            for e in l.entries {
                assert!(
                    codes.insert(e.code),
                    "duplicate code {} in {}",
                    e.code,
                    l.id
                );
                assert!(
                    e.code
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                    "code {} is not snake_case",
                    e.code
                );
                assert!(!e.en.is_empty() && !e.fr.is_empty());
            }
        }
    }

    #[test]
    fn age_bands_partition() {
        let l = list(ids::AGE_BAND).unwrap();
        for b in MINOR_AGE_BANDS.iter().chain(ADULT_AGE_BANDS) {
            assert!(l.contains(b));
        }
        assert_eq!(
            l.entries.len(),
            MINOR_AGE_BANDS.len() + ADULT_AGE_BANDS.len() + 1
        );
    }
}
