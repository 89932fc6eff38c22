//! The consent gate: what each message type may carry, and which personal
//! fields a consent record lets leave the node. Pure: no I/O.
//!
//! Every message type declares the payload fields it may carry
//! ([`MessageType::allowed_fields`]). A referral request carries the case's coded data set
//! under the consent scope `referral`; some fields need more:
//!
//! | field | consent scope needed |
//! | --- | --- |
//! | `details.origin` (place of origin down to LGA / département) | `data_sharing` |
//! | `identity.given_name`, `family_name`, `other_names`, `date_of_birth` | `data_sharing` |
//! | `identity.phone` | `follow_up_contact` |
//! | `identity.family_address` | `family_tracing` |
//!
//! The sender strips every field its consent does not cover ([`strip`]);
//! the receiver refuses a message that carries a field its type does not
//! declare, or a personal field beyond the consent it carries ([`check`]).
//! No referral leaves without a consent covering `referral` that was not
//! withdrawn.

use serde_json::{Map, Value};

use super::message_type::MessageType;
use super::problem::ProblemCode;

/// Consent scope codes (code list `consent_scope`).
pub mod scopes {
    pub const REFERRAL: &str = "referral";
    pub const DATA_SHARING: &str = "data_sharing";
    pub const FAMILY_TRACING: &str = "family_tracing";
    pub const FOLLOW_UP_CONTACT: &str = "follow_up_contact";
}

/// Fields of `details` a referral request may carry, with the scope each
/// needs beyond `referral`.
const DETAILS: &[(&str, Option<&str>)] = &[
    ("person_status", None),
    ("sex", None),
    ("age_band", None),
    ("minor", None),
    ("citizenship", None),
    ("languages", None),
    ("origin", Some(scopes::DATA_SHARING)),
    ("exploitation_types", None),
    ("risk_level", None),
    ("risk_flags", None),
    ("urgent_needs", None),
    ("dependants_count", None),
    ("travel_document_status", None),
    ("requested_services", None),
    ("addressed_to", None),
    ("consent", None),
];

/// Fields of `identity`, each with the scope it needs.
const IDENTITY: &[(&str, &str)] = &[
    ("given_name", scopes::DATA_SHARING),
    ("family_name", scopes::DATA_SHARING),
    ("other_names", scopes::DATA_SHARING),
    ("date_of_birth", scopes::DATA_SHARING),
    ("phone", scopes::FOLLOW_UP_CONTACT),
    ("family_address", scopes::FAMILY_TRACING),
];

/// Why a payload may not leave, or may not be taken in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// No consent record, or it does not cover `referral`.
    #[error("no recorded consent covers the referral")]
    ConsentRequired,
    /// The consent was withdrawn.
    #[error("the consent was withdrawn")]
    ConsentWithdrawn,
    /// A field beyond what the type declares or the consent covers.
    #[error("`{field}` is beyond what this message may carry{}", .scope.map(|s| format!(" (needs consent scope `{s}`)")).unwrap_or_default())]
    ScopeExceeded {
        field: String,
        scope: Option<&'static str>,
    },
    /// The payload is not an object of the expected shape.
    #[error("malformed payload: {0}")]
    Malformed(String),
}

impl Refusal {
    /// Stable problem code.
    pub fn code(&self) -> ProblemCode {
        match self {
            Refusal::ConsentRequired => ProblemCode::ConsentRequired,
            Refusal::ConsentWithdrawn => ProblemCode::ConsentWithdrawn,
            Refusal::ScopeExceeded { .. } => ProblemCode::ConsentScopeExceeded,
            Refusal::Malformed(_) => ProblemCode::InvalidPayload,
        }
    }
}

fn present(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => false,
        Some(Value::Array(a)) => !a.is_empty(),
        Some(_) => true,
    }
}

/// The consent scopes a referral payload's consent record grants
/// (`Err` when there is none usable).
fn granted(details: &Map<String, Value>) -> Result<Vec<String>, Refusal> {
    let consent = details
        .get("consent")
        .and_then(Value::as_object)
        .ok_or(Refusal::ConsentRequired)?;
    let withdrawn = present(consent.get("withdrawn_on"));
    if withdrawn {
        return Err(Refusal::ConsentWithdrawn);
    }
    let scopes: Vec<String> = consent
        .get("scope")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    if !covers(&scopes, withdrawn, scopes::REFERRAL) {
        return Err(Refusal::ConsentRequired);
    }
    Ok(scopes)
}

/// The one consent-coverage rule: a consent covers `scope` when it lists it
/// and was not withdrawn.
pub fn covers(granted: &[String], withdrawn: bool, scope: &str) -> bool {
    !withdrawn && granted.iter().any(|g| g == scope)
}

fn object<'a>(v: &'a Value, what: &str) -> Result<&'a Map<String, Value>, Refusal> {
    v.as_object()
        .ok_or_else(|| Refusal::Malformed(format!("{what} must be an object")))
}

/// Checks a received payload of `message_type` against its declaration and,
/// for a referral request, against the consent it carries.
pub fn check(message_type: MessageType, payload: &Value) -> Result<(), Refusal> {
    let allowed = message_type.allowed_fields();
    let top = object(payload, "the payload")?;
    for key in top.keys() {
        if !allowed.contains(&key.as_str()) {
            return Err(Refusal::ScopeExceeded {
                field: key.clone(),
                scope: None,
            });
        }
    }
    if message_type != MessageType::ReferralRequest {
        return Ok(());
    }
    let details = object(
        top.get("details")
            .ok_or_else(|| Refusal::Malformed("no details".into()))?,
        "details",
    )?;
    let scopes = granted(details)?;
    let has = |s: &str| covers(&scopes, false, s);
    for (key, value) in details {
        match DETAILS.iter().find(|(k, _)| k == key) {
            None => {
                return Err(Refusal::ScopeExceeded {
                    field: format!("details.{key}"),
                    scope: None,
                })
            }
            Some((_, Some(scope))) if present(Some(value)) && !has(scope) => {
                return Err(Refusal::ScopeExceeded {
                    field: format!("details.{key}"),
                    scope: Some(scope),
                })
            }
            Some(_) => {}
        }
    }
    if let Some(identity) = top.get("identity").filter(|v| !v.is_null()) {
        for (key, value) in object(identity, "identity")? {
            match IDENTITY.iter().find(|(k, _)| k == key) {
                None => {
                    return Err(Refusal::ScopeExceeded {
                        field: format!("identity.{key}"),
                        scope: None,
                    })
                }
                Some((_, scope)) if present(Some(value)) && !has(scope) => {
                    return Err(Refusal::ScopeExceeded {
                        field: format!("identity.{key}"),
                        scope: Some(scope),
                    })
                }
                Some(_) => {}
            }
        }
    }
    Ok(())
}

/// Removes from a referral payload every personal field its consent does
/// not cover; returns the fields removed. Fails when no usable consent
/// covers the referral at all (nothing may leave).
pub fn strip(payload: &mut Value) -> Result<Vec<String>, Refusal> {
    let scopes = {
        let details = payload
            .get("details")
            .and_then(Value::as_object)
            .ok_or_else(|| Refusal::Malformed("no details".into()))?;
        granted(details)?
    };
    let has = |s: &str| covers(&scopes, false, s);
    let mut removed = Vec::new();
    if let Some(details) = payload.get_mut("details").and_then(Value::as_object_mut) {
        for (key, scope) in DETAILS {
            if let Some(scope) = scope {
                if !has(scope) && present(details.get(*key)) {
                    details.insert((*key).to_owned(), Value::Null);
                    removed.push(format!("details.{key}"));
                }
            }
        }
    }
    if let Some(identity) = payload.get_mut("identity").and_then(Value::as_object_mut) {
        for (key, scope) in IDENTITY {
            if !has(scope) && present(identity.get(*key)) {
                identity.insert((*key).to_owned(), Value::Null);
                removed.push(format!("identity.{key}"));
            }
        }
        if identity.values().all(Value::is_null) {
            payload["identity"] = Value::Null;
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn referral(scope: &[&str]) -> Value {
        json!({
            "reference": "NE-2026-ABC123",
            "details": {
                "sex": "female",
                "origin": { "country": "NG", "region": "Kano", "district": "Dala" },
                "consent": { "scope": scope, "purpose": "assistance", "given_on": "2026-11-01", "given_by": "victim", "withdrawn_on": null }
            },
            "identity": { "given_name": "Zainab", "family_name": "Q", "phone": "+234", "family_address": "Kofar Mata" }
        })
    }

    #[test]
    fn the_sender_strips_what_the_consent_does_not_cover() {
        let mut p = referral(&["referral"]);
        let removed = strip(&mut p).unwrap();
        assert_eq!(
            removed,
            vec![
                "details.origin",
                "identity.given_name",
                "identity.family_name",
                "identity.phone",
                "identity.family_address"
            ]
        );
        assert!(p["identity"].is_null());
        check(MessageType::ReferralRequest, &p).unwrap();
        let mut p = referral(&["referral", "data_sharing"]);
        strip(&mut p).unwrap();
        assert_eq!(p["identity"]["given_name"], "Zainab");
        assert!(p["identity"]["phone"].is_null());
        check(MessageType::ReferralRequest, &p).unwrap();
    }

    #[test]
    fn the_receiver_refuses_more_than_the_consent_covers() {
        let p = referral(&["referral", "data_sharing"]);
        assert_eq!(
            check(MessageType::ReferralRequest, &p),
            Err(Refusal::ScopeExceeded {
                field: "identity.family_address".into(),
                scope: Some("family_tracing")
            })
        );
        let all = referral(&[
            "referral",
            "data_sharing",
            "follow_up_contact",
            "family_tracing",
        ]);
        check(MessageType::ReferralRequest, &all).unwrap();
        let mut extra = all.clone();
        extra["details"]["diagnosis"] = json!("x");
        assert_eq!(
            check(MessageType::ReferralRequest, &extra)
                .unwrap_err()
                .code(),
            ProblemCode::ConsentScopeExceeded
        );
        let mut extra = all;
        extra["note"] = json!("x");
        assert_eq!(
            check(MessageType::ReferralRequest, &extra)
                .unwrap_err()
                .code(),
            ProblemCode::ConsentScopeExceeded
        );
        let d =
            json!({ "action": "accept", "reason_code": null, "outcome": null, "name": "Zainab" });
        assert_eq!(
            check(MessageType::Decision, &d).unwrap_err().code(),
            ProblemCode::ConsentScopeExceeded
        );
    }

    #[test]
    fn nothing_leaves_without_a_live_consent() {
        let mut p = referral(&["data_sharing"]);
        assert_eq!(strip(&mut p), Err(Refusal::ConsentRequired));
        let mut p = referral(&["referral"]);
        p["details"]["consent"]["withdrawn_on"] = json!("2026-11-02");
        assert_eq!(strip(&mut p.clone()), Err(Refusal::ConsentWithdrawn));
        assert_eq!(
            check(MessageType::ReferralRequest, &p),
            Err(Refusal::ConsentWithdrawn)
        );
        let mut p = referral(&["referral"]);
        p["details"].as_object_mut().unwrap().remove("consent");
        assert_eq!(
            check(MessageType::ReferralRequest, &p),
            Err(Refusal::ConsentRequired)
        );
    }
}
