//! The data kept about a referred person: the minimum the joint SOPs need,
//! coded wherever possible, and a separate optional identity block.
//!
//! Input arrives as [`CaseDetailsInput`] / [`IdentityInput`] (raw strings)
//! and is parsed into [`CaseDetails`] / [`Identity`], collecting every
//! problem at once. A draft may be incomplete; [`CaseDetails::check_ready`]
//! says what is still missing before it may be submitted.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::code_lists::{self, ids as lists, ADULT_AGE_BANDS, MINOR_AGE_BANDS};
use super::countries;
use super::FieldError;

/// Longest free-text value accepted (place names, names).
pub const MAX_TEXT: usize = 200;
/// Most entries accepted in a coded list field.
pub const MAX_CODES: usize = 20;
/// Most dependants that can be recorded.
pub const MAX_DEPENDANTS: u8 = 30;

/// The coded data set of a case, as sent by a client. Every field is
/// optional while the case is a draft.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CaseDetailsInput {
    /// Status of the person (code list `person_status`).
    pub person_status: Option<String>,
    /// Sex (code list `sex`).
    pub sex: Option<String>,
    /// Age band (code list `age_band`).
    pub age_band: Option<String>,
    /// Whether the person is (presumed) under 18. Must agree with the age band.
    pub minor: Option<bool>,
    /// Citizenship, ISO 3166-1 alpha-2 (e.g. `NG`, `NE`).
    pub citizenship: Option<String>,
    /// Languages spoken, ISO 639-3 (e.g. `hau`, `fra`).
    #[serde(default)]
    pub languages: Vec<String>,
    /// Place of origin, at LGA / département level at most.
    pub origin: Option<OriginInput>,
    /// Forms of exploitation (code list `exploitation_type`).
    #[serde(default)]
    pub exploitation_types: Vec<String>,
    /// Assessed risk level (code list `risk_level`).
    pub risk_level: Option<String>,
    /// Coded risk factors (code list `risk_flag`).
    #[serde(default)]
    pub risk_flags: Vec<String>,
    /// Urgent needs, coded, never diagnoses (code list `urgent_need`).
    #[serde(default)]
    pub urgent_needs: Vec<String>,
    /// Number of dependants travelling with the person.
    pub dependants_count: Option<u8>,
    /// Travel document status (code list `travel_document_status`).
    pub travel_document_status: Option<String>,
    /// Services requested from the receiving agency (code list `service`).
    #[serde(default)]
    pub requested_services: Vec<String>,
    /// The service of the other side's directory the referral is addressed
    /// to (its id in `GET /api/v1/directory`), if one was chosen.
    pub addressed_to: Option<String>,
    /// The consent record.
    pub consent: Option<ConsentInput>,
}

/// Place of origin as sent by a client.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OriginInput {
    /// Country, ISO 3166-1 alpha-2.
    pub country: String,
    /// State (Nigeria) or région (Niger).
    #[schema(max_length = 200)]
    pub region: Option<String>,
    /// Local Government Area (Nigeria) or département (Niger). Nothing finer.
    #[schema(max_length = 200)]
    pub district: Option<String>,
}

/// Consent record as sent by a client.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsentInput {
    /// What the consent covers (code list `consent_scope`); `referral` is needed to submit.
    pub scope: Vec<String>,
    /// Purpose (code list `consent_purpose`).
    pub purpose: String,
    /// Date the consent was given.
    pub given_on: NaiveDate,
    /// Who gave it (code list `consent_given_by`): the person, or a guardian for a minor.
    pub given_by: String,
    /// Language of the interpreter, ISO 639-3, if one was used.
    pub interpreter_language: Option<String>,
    /// Date the consent was withdrawn, if it was.
    pub withdrawn_on: Option<NaiveDate>,
}

/// Optional identity block: names and contact details. Kept apart from the
/// coded data and shown only to roles that need it. Each text is at most 200
/// characters, with no control characters; a blank text is the same as none.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IdentityInput {
    /// Given name(s).
    #[schema(max_length = 200)]
    pub given_name: Option<String>,
    /// Family name.
    #[schema(max_length = 200)]
    pub family_name: Option<String>,
    /// Other names or aliases the person is known by.
    #[schema(max_length = 200)]
    pub other_names: Option<String>,
    /// Date of birth, if known.
    pub date_of_birth: Option<NaiveDate>,
    /// Telephone number to reach the person or family.
    #[schema(max_length = 200)]
    pub phone: Option<String>,
    /// Address of the family, if known.
    #[schema(max_length = 200)]
    pub family_address: Option<String>,
}

/// Parsed, coded case data. Codes are checked against the code lists.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CaseDetails {
    /// Status of the person (code list `person_status`).
    pub person_status: Option<String>,
    /// Sex (code list `sex`).
    pub sex: Option<String>,
    /// Age band (code list `age_band`).
    pub age_band: Option<String>,
    /// Whether the person is (presumed) under 18.
    pub minor: Option<bool>,
    /// Citizenship, ISO 3166-1 alpha-2.
    pub citizenship: Option<String>,
    /// Languages spoken, ISO 639-3.
    pub languages: Vec<String>,
    /// Place of origin (LGA / département level at most).
    pub origin: Option<Origin>,
    /// Forms of exploitation (code list `exploitation_type`).
    pub exploitation_types: Vec<String>,
    /// Assessed risk level (code list `risk_level`).
    pub risk_level: Option<String>,
    /// Coded risk factors (code list `risk_flag`).
    pub risk_flags: Vec<String>,
    /// Urgent needs (code list `urgent_need`).
    pub urgent_needs: Vec<String>,
    /// Number of dependants travelling with the person.
    pub dependants_count: Option<u8>,
    /// Travel document status (code list `travel_document_status`).
    pub travel_document_status: Option<String>,
    /// Services requested (code list `service`).
    pub requested_services: Vec<String>,
    /// The other side's directory service the referral is addressed to.
    pub addressed_to: Option<String>,
    /// The consent record.
    pub consent: Option<Consent>,
}

/// Place of origin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Origin {
    /// Country, ISO 3166-1 alpha-2.
    pub country: String,
    /// State (Nigeria) or région (Niger).
    pub region: Option<String>,
    /// LGA (Nigeria) or département (Niger).
    pub district: Option<String>,
}

/// Consent record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Consent {
    /// What the consent covers (code list `consent_scope`).
    pub scope: Vec<String>,
    /// Purpose (code list `consent_purpose`).
    pub purpose: String,
    /// Date the consent was given.
    pub given_on: NaiveDate,
    /// Who gave it (code list `consent_given_by`).
    pub given_by: String,
    /// Interpreter language, ISO 639-3.
    pub interpreter_language: Option<String>,
    /// Date the consent was withdrawn.
    pub withdrawn_on: Option<NaiveDate>,
}

impl Consent {
    /// Whether this consent covers `scope` (see [`super::disclosure::covers`]).
    pub fn covers(&self, scope: &str) -> bool {
        super::disclosure::covers(&self.scope, self.withdrawn_on.is_some(), scope)
    }
}

/// Parsed identity block.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Identity {
    /// Given name(s).
    pub given_name: Option<String>,
    /// Family name.
    pub family_name: Option<String>,
    /// Other names or aliases.
    pub other_names: Option<String>,
    /// Date of birth.
    pub date_of_birth: Option<NaiveDate>,
    /// Telephone number.
    pub phone: Option<String>,
    /// Family address.
    pub family_address: Option<String>,
}

/// The part of a case a border liaison needs for a handover.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct HandoverView {
    /// Sex (code list `sex`).
    pub sex: Option<String>,
    /// Age band (code list `age_band`).
    pub age_band: Option<String>,
    /// Whether the person is a minor (escort and guardian rules apply).
    pub minor: Option<bool>,
    /// Languages spoken, ISO 639-3 (to bring an interpreter).
    pub languages: Vec<String>,
    /// Number of dependants travelling with the person.
    pub dependants_count: Option<u8>,
    /// Urgent needs to cater for at the crossing.
    pub urgent_needs: Vec<String>,
    /// Travel document status (for border formalities).
    pub travel_document_status: Option<String>,
    /// Risk level (for the escort).
    pub risk_level: Option<String>,
    /// Risk flags (for the escort).
    pub risk_flags: Vec<String>,
    /// Given name, to identify the person at the crossing.
    pub given_name: Option<String>,
    /// Family name, to identify the person at the crossing.
    pub family_name: Option<String>,
}

impl HandoverView {
    pub fn of(details: &CaseDetails, identity: Option<&Identity>) -> Self {
        Self {
            sex: details.sex.clone(),
            age_band: details.age_band.clone(),
            minor: details.minor,
            languages: details.languages.clone(),
            dependants_count: details.dependants_count,
            urgent_needs: details.urgent_needs.clone(),
            travel_document_status: details.travel_document_status.clone(),
            risk_level: details.risk_level.clone(),
            risk_flags: details.risk_flags.clone(),
            given_name: identity.and_then(|i| i.given_name.clone()),
            family_name: identity.and_then(|i| i.family_name.clone()),
        }
    }
}

/// Collects field errors while parsing.
#[derive(Default)]
struct Errors(Vec<FieldError>);

impl Errors {
    fn code(&mut self, field: &str, list: &str, value: Option<String>) -> Option<String> {
        let value = value?;
        if code_lists::contains(list, &value) {
            Some(value)
        } else {
            self.0.push(FieldError::new(
                field,
                "unknown_code",
                format!("`{value}` is not a code of the list `{list}`"),
            ));
            None
        }
    }

    fn codes(&mut self, field: &str, list: &str, values: Vec<String>) -> Vec<String> {
        if values.len() > MAX_CODES {
            self.0.push(FieldError::new(
                field,
                "too_many",
                format!("at most {MAX_CODES} entries"),
            ));
            return Vec::new();
        }
        let mut out: Vec<String> = Vec::with_capacity(values.len());
        for (i, v) in values.into_iter().enumerate() {
            let path = format!("{field}[{i}]");
            if let Some(v) = self.code(&path, list, Some(v)) {
                if out.contains(&v) {
                    self.0.push(FieldError::new(
                        path,
                        "duplicate",
                        format!("`{v}` is listed twice"),
                    ));
                } else {
                    out.push(v);
                }
            }
        }
        out
    }

    fn country(&mut self, field: &str, value: Option<String>) -> Option<String> {
        let value = value?;
        if countries::is_country(&value) {
            Some(value)
        } else {
            self.0.push(FieldError::new(
                field,
                "invalid_country",
                format!("`{value}` is not an ISO 3166-1 alpha-2 country code"),
            ));
            None
        }
    }

    fn language(&mut self, field: &str, value: Option<String>) -> Option<String> {
        let value = value?;
        if countries::is_language(&value) {
            Some(value)
        } else {
            self.0.push(FieldError::new(
                field,
                "invalid_language",
                format!("`{value}` is not an ISO 639-3 language code"),
            ));
            None
        }
    }

    fn text(&mut self, field: &str, value: Option<String>) -> Option<String> {
        let value = value?;
        let trimmed = value.trim();
        // The text as sent counts, blanks included, as the spec's `maxLength` does.
        if value.chars().count() > MAX_TEXT {
            self.0.push(FieldError::new(
                field,
                "too_long",
                format!("at most {MAX_TEXT} characters"),
            ));
            return None;
        }
        if trimmed.is_empty() {
            return None;
        }
        if trimmed.chars().any(char::is_control) {
            self.0.push(FieldError::new(
                field,
                "control_characters",
                "control characters are not allowed",
            ));
            return None;
        }
        Some(trimmed.to_owned())
    }
}

impl CaseDetailsInput {
    /// Parses the input, reporting every problem (`prefix` is prepended to field paths).
    pub fn parse(self, prefix: &str) -> Result<CaseDetails, Vec<FieldError>> {
        let mut e = Errors::default();
        let f = |name: &str| format!("{prefix}{name}");
        let age_band = e.code(&f("age_band"), lists::AGE_BAND, self.age_band);
        if let (Some(band), Some(minor)) = (&age_band, self.minor) {
            let contradicts = (minor && ADULT_AGE_BANDS.contains(&band.as_str()))
                || (!minor && MINOR_AGE_BANDS.contains(&band.as_str()));
            if contradicts {
                e.0.push(FieldError::new(
                    f("minor"),
                    "contradicts_age_band",
                    format!("minor = {minor} contradicts the age band `{band}`"),
                ));
            }
        }
        if self.dependants_count.is_some_and(|n| n > MAX_DEPENDANTS) {
            e.0.push(FieldError::new(
                f("dependants_count"),
                "out_of_range",
                format!("at most {MAX_DEPENDANTS}"),
            ));
        }
        let languages = if self.languages.len() > MAX_CODES {
            e.0.push(FieldError::new(
                f("languages"),
                "too_many",
                format!("at most {MAX_CODES} entries"),
            ));
            Vec::new()
        } else {
            self.languages
                .into_iter()
                .enumerate()
                .filter_map(|(i, l)| e.language(&f(&format!("languages[{i}]")), Some(l)))
                .collect()
        };
        let origin = self.origin.map(|o| Origin {
            country: e
                .country(&f("origin.country"), Some(o.country))
                .unwrap_or_default(),
            region: e.text(&f("origin.region"), o.region),
            district: e.text(&f("origin.district"), o.district),
        });
        let consent = self.consent.map(|c| Consent {
            scope: e.codes(&f("consent.scope"), lists::CONSENT_SCOPE, c.scope),
            purpose: e
                .code(
                    &f("consent.purpose"),
                    lists::CONSENT_PURPOSE,
                    Some(c.purpose),
                )
                .unwrap_or_default(),
            given_on: c.given_on,
            given_by: e
                .code(
                    &f("consent.given_by"),
                    lists::CONSENT_GIVEN_BY,
                    Some(c.given_by),
                )
                .unwrap_or_default(),
            interpreter_language: e
                .language(&f("consent.interpreter_language"), c.interpreter_language),
            withdrawn_on: c.withdrawn_on,
        });
        if let Some(c) = &consent {
            if c.withdrawn_on.is_some_and(|w| w < c.given_on) {
                e.0.push(FieldError::new(
                    f("consent.withdrawn_on"),
                    "before_given_on",
                    "consent cannot be withdrawn before it was given",
                ));
            }
        }
        let details = CaseDetails {
            person_status: e.code(
                &f("person_status"),
                lists::PERSON_STATUS,
                self.person_status,
            ),
            sex: e.code(&f("sex"), lists::SEX, self.sex),
            age_band,
            minor: self.minor,
            citizenship: e.country(&f("citizenship"), self.citizenship),
            languages,
            origin,
            exploitation_types: e.codes(
                &f("exploitation_types"),
                lists::EXPLOITATION_TYPE,
                self.exploitation_types,
            ),
            risk_level: e.code(&f("risk_level"), lists::RISK_LEVEL, self.risk_level),
            risk_flags: e.codes(&f("risk_flags"), lists::RISK_FLAG, self.risk_flags),
            urgent_needs: e.codes(&f("urgent_needs"), lists::URGENT_NEED, self.urgent_needs),
            dependants_count: self.dependants_count,
            travel_document_status: e.code(
                &f("travel_document_status"),
                lists::TRAVEL_DOCUMENT_STATUS,
                self.travel_document_status,
            ),
            requested_services: e.codes(
                &f("requested_services"),
                lists::SERVICE,
                self.requested_services,
            ),
            addressed_to: match self.addressed_to {
                Some(id) if uuid::Uuid::parse_str(&id).is_err() => {
                    e.0.push(FieldError::new(
                        f("addressed_to"),
                        "invalid",
                        "the id of a service in the other side's directory",
                    ));
                    None
                }
                other => other,
            },
            consent,
        };
        if e.0.is_empty() {
            Ok(details)
        } else {
            Err(e.0)
        }
    }
}

impl IdentityInput {
    /// Parses the identity block; `None` if every field is empty.
    pub fn parse(self, prefix: &str) -> Result<Option<Identity>, Vec<FieldError>> {
        let mut e = Errors::default();
        let f = |name: &str| format!("{prefix}{name}");
        let identity = Identity {
            given_name: e.text(&f("given_name"), self.given_name),
            family_name: e.text(&f("family_name"), self.family_name),
            other_names: e.text(&f("other_names"), self.other_names),
            date_of_birth: self.date_of_birth,
            phone: e.text(&f("phone"), self.phone),
            family_address: e.text(&f("family_address"), self.family_address),
        };
        if !e.0.is_empty() {
            return Err(e.0);
        }
        let empty = identity.given_name.is_none()
            && identity.family_name.is_none()
            && identity.other_names.is_none()
            && identity.date_of_birth.is_none()
            && identity.phone.is_none()
            && identity.family_address.is_none();
        Ok((!empty).then_some(identity))
    }
}

impl CaseDetails {
    /// What is still missing before the case may be submitted for approval,
    /// as of `today`. Consent covering referral and a risk assessment are
    /// required by the joint SOPs; for a minor the consent must be the guardian's.
    pub fn check_ready(&self, today: NaiveDate) -> Result<(), Vec<FieldError>> {
        let mut e = Vec::new();
        let mut required = |present: bool, field: &str| {
            if !present {
                e.push(FieldError::new(
                    format!("details.{field}"),
                    "required",
                    "required before submission",
                ));
            }
        };
        required(self.person_status.is_some(), "person_status");
        required(self.sex.is_some(), "sex");
        required(self.age_band.is_some(), "age_band");
        required(self.minor.is_some(), "minor");
        required(self.citizenship.is_some(), "citizenship");
        required(!self.languages.is_empty(), "languages");
        required(self.risk_level.is_some(), "risk_level");
        required(!self.requested_services.is_empty(), "requested_services");
        required(self.consent.is_some(), "consent");
        if let Some(c) = &self.consent {
            if !c.scope.iter().any(|s| s == "referral") {
                e.push(FieldError::new(
                    "details.consent.scope",
                    "referral_not_covered",
                    "the consent must cover `referral`",
                ));
            }
            if c.withdrawn_on.is_some() {
                e.push(FieldError::new(
                    "details.consent.withdrawn_on",
                    "consent_withdrawn",
                    "the consent was withdrawn",
                ));
            }
            if c.given_on > today {
                e.push(FieldError::new(
                    "details.consent.given_on",
                    "in_future",
                    "the consent date is in the future",
                ));
            }
            if self.minor == Some(true)
                && c.given_by != "guardian"
                && c.given_by != "best_interests_decision"
            {
                e.push(FieldError::new(
                    "details.consent.given_by",
                    "guardian_required",
                    "for a minor the consent must be given by a parent or guardian, or replaced by a supervisor's documented best-interests decision",
                ));
            }
        }
        if e.is_empty() {
            Ok(())
        } else {
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn complete() -> CaseDetailsInput {
        CaseDetailsInput {
            person_status: Some("presumed_victim_trafficking".into()),
            sex: Some("female".into()),
            age_band: Some("15_17".into()),
            minor: Some(true),
            citizenship: Some("NG".into()),
            languages: vec!["hau".into(), "eng".into()],
            origin: Some(OriginInput {
                country: "NG".into(),
                region: Some("Kano".into()),
                district: Some("Dala".into()),
            }),
            exploitation_types: vec!["domestic_servitude".into()],
            risk_level: Some("high".into()),
            risk_flags: vec!["unaccompanied_minor".into()],
            urgent_needs: vec!["safe_shelter".into()],
            dependants_count: Some(0),
            travel_document_status: Some("no_document".into()),
            requested_services: vec!["family_tracing".into(), "repatriation".into()],
            addressed_to: None,
            consent: Some(ConsentInput {
                scope: vec!["referral".into(), "data_sharing".into()],
                purpose: "voluntary_return".into(),
                given_on: NaiveDate::from_ymd_opt(2026, 11, 2).unwrap(),
                given_by: "guardian".into(),
                interpreter_language: Some("hau".into()),
                withdrawn_on: None,
            }),
        }
    }

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 23).unwrap()
    }

    #[test]
    fn complete_details_parse_and_are_ready() {
        let d = complete().parse("details.").unwrap();
        assert_eq!(d.check_ready(today()), Ok(()));
    }

    #[test]
    fn an_empty_draft_parses_but_is_not_ready() {
        let d = CaseDetailsInput::default().parse("details.").unwrap();
        let missing = d.check_ready(today()).unwrap_err();
        assert!(missing.iter().any(|e| e.field == "details.consent"));
        assert!(missing.iter().any(|e| e.field == "details.risk_level"));
    }

    #[test]
    fn every_bad_field_is_reported_at_once() {
        let mut i = complete();
        i.sex = Some("f".into());
        i.citizenship = Some("XX".into());
        i.languages = vec!["ha".into()];
        i.exploitation_types = vec!["forced_labour".into(), "forced_labour".into()];
        i.minor = Some(false);
        i.dependants_count = Some(200);
        let errs = i.parse("details.").unwrap_err();
        let fields: Vec<_> = errs.iter().map(|e| e.field.as_str()).collect();
        for f in [
            "details.sex",
            "details.citizenship",
            "details.languages[0]",
            "details.exploitation_types[1]",
            "details.minor",
            "details.dependants_count",
        ] {
            assert!(fields.contains(&f), "{f} missing from {fields:?}");
        }
    }

    #[test]
    fn consent_rules() {
        let mut d = complete().parse("").unwrap();
        d.consent.as_mut().unwrap().given_by = "victim".into();
        assert!(d
            .check_ready(today())
            .unwrap_err()
            .iter()
            .any(|e| e.code == "guardian_required"));
        // No reachable guardian: a supervisor's documented best-interests decision.
        let mut d = complete().parse("").unwrap();
        d.consent.as_mut().unwrap().given_by = "best_interests_decision".into();
        assert_eq!(d.check_ready(today()), Ok(()));
        let mut d = complete().parse("").unwrap();
        d.consent.as_mut().unwrap().scope = vec!["data_sharing".into()];
        assert!(d
            .check_ready(today())
            .unwrap_err()
            .iter()
            .any(|e| e.code == "referral_not_covered"));
        let mut d = complete().parse("").unwrap();
        d.consent.as_mut().unwrap().withdrawn_on = Some(today());
        assert!(d
            .check_ready(today())
            .unwrap_err()
            .iter()
            .any(|e| e.code == "consent_withdrawn"));
    }

    #[test]
    fn identity_text_is_checked_and_empty_identity_is_none() {
        let empty = IdentityInput {
            given_name: Some("  ".into()),
            family_name: None,
            other_names: None,
            date_of_birth: None,
            phone: None,
            family_address: None,
        };
        assert_eq!(empty.parse("identity."), Ok(None));
        let long = IdentityInput {
            given_name: Some("x".repeat(MAX_TEXT + 1)),
            family_name: Some("a\u{0}b".into()),
            other_names: None,
            date_of_birth: None,
            phone: None,
            family_address: None,
        };
        assert_eq!(long.parse("identity.").unwrap_err().len(), 2);
    }
}
