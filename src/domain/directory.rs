//! The directory of first-line responders on both sides of the border, in
//! the spirit of the Open Referral HSDS model: an organisation offers
//! services, each at a location with a contact; shelters carry their
//! capacity (places available for adults, children, women). Organisations'
//! and staff contacts only — never a victim's data. Pure: no I/O.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::code_lists::{self, ids as lists};
use super::FieldError;

/// An organisation as sent by a client.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrganizationInput {
    /// Name: 1 to 200 characters, not all blank.
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub name: String,
    /// Type (code list `organization_type`).
    pub org_type: String,
}

/// A service as sent by a client.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceInput {
    /// Name (e.g. "NAPTIP shelter, Kano"): 1 to 200 characters, not all blank.
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub name: String,
    /// What it offers (code list `service`).
    pub service_type: String,
    /// State (Nigeria) or région (Niger).
    #[schema(max_length = 100)]
    pub region: Option<String>,
    /// LGA or département.
    #[schema(max_length = 100)]
    pub district: Option<String>,
    /// Street address of the service.
    #[schema(max_length = 300)]
    pub address: Option<String>,
    /// The service's telephone.
    #[schema(max_length = 30)]
    pub phone: Option<String>,
    /// The service's e-mail.
    #[schema(max_length = 200)]
    pub email: Option<String>,
    /// Whether it is a shelter (then it keeps its capacity current).
    pub is_shelter: bool,
    /// Places available now (shelters).
    pub capacity: Option<Capacity>,
}

/// Places available in a shelter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Capacity {
    /// Places for adults.
    pub adults: u32,
    /// Places for children.
    pub children: u32,
    /// Places for women.
    pub women: u32,
}

fn text(errors: &mut Vec<FieldError>, field: &str, v: Option<&String>, max: usize, required: bool) {
    // The length counts the text as sent, blanks included, as the spec's
    // `maxLength` does.
    match v {
        Some(s) if s.trim().is_empty() && required => {
            errors.push(FieldError::new(field.to_owned(), "required", "required"))
        }
        None if required => errors.push(FieldError::new(field.to_owned(), "required", "required")),
        Some(s) if s.chars().count() > max || s.chars().any(char::is_control) => {
            errors.push(FieldError::new(
                field.to_owned(),
                "invalid",
                format!("at most {max} printable characters"),
            ))
        }
        _ => {}
    }
}

impl OrganizationInput {
    /// Checks the name and the type code.
    pub fn check(&self) -> Result<(), Vec<FieldError>> {
        let mut e = Vec::new();
        text(&mut e, "name", Some(&self.name), 200, true);
        if !code_lists::contains(lists::ORGANIZATION_TYPE, &self.org_type) {
            e.push(FieldError::new(
                "org_type",
                "unknown_code",
                "not in code list `organization_type`",
            ));
        }
        if e.is_empty() {
            Ok(())
        } else {
            Err(e)
        }
    }
}

impl ServiceInput {
    /// Checks texts, the service code, the contact shapes, and that only shelters have a capacity.
    pub fn check(&self) -> Result<(), Vec<FieldError>> {
        let mut e = Vec::new();
        text(&mut e, "name", Some(&self.name), 200, true);
        text(&mut e, "region", self.region.as_ref(), 100, false);
        text(&mut e, "district", self.district.as_ref(), 100, false);
        text(&mut e, "address", self.address.as_ref(), 300, false);
        text(&mut e, "phone", self.phone.as_ref(), 30, false);
        text(&mut e, "email", self.email.as_ref(), 200, false);
        if !code_lists::contains(lists::SERVICE, &self.service_type) {
            e.push(FieldError::new(
                "service_type",
                "unknown_code",
                "not in code list `service`",
            ));
        }
        if let Some(p) = &self.phone {
            if !p.chars().all(|c| c.is_ascii_digit() || "+ -()".contains(c)) {
                e.push(FieldError::new(
                    "phone",
                    "invalid",
                    "digits, spaces, +, - and parentheses only",
                ));
            }
        }
        if let Some(m) = &self.email {
            if m.split('@').count() != 2 || m.starts_with('@') || m.ends_with('@') {
                e.push(FieldError::new("email", "invalid", "not an e-mail address"));
            }
        }
        if self.capacity.is_some() && !self.is_shelter {
            e.push(FieldError::new(
                "capacity",
                "not_applicable",
                "only shelters have a capacity",
            ));
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

    #[test]
    fn entries_are_checked() {
        let s = ServiceInput {
            name: "Shelter".into(),
            service_type: "shelter".into(),
            region: Some("Kano".into()),
            district: None,
            address: None,
            phone: Some("+234 803 000 0000".into()),
            email: Some("kano@naptip.example".into()),
            is_shelter: true,
            capacity: Some(Capacity {
                adults: 3,
                children: 5,
                women: 2,
            }),
        };
        assert!(s.check().is_ok(), "{:?}", s.check());
        let bad = ServiceInput {
            is_shelter: false,
            phone: Some("call me".into()),
            service_type: "x".into(),
            ..s
        };
        assert_eq!(bad.check().unwrap_err().len(), 3);
        assert!(OrganizationInput {
            name: " ".into(),
            org_type: "ngo".into()
        }
        .check()
        .is_err());
    }
}
