//! Pure rules of the referral exchange: identifiers, code lists, the case data
//! set, the lifecycle of a referral and the permission matrix.
//!
//! Nothing in here performs I/O or knows about HTTP or the database: the
//! other layers parse their input into these types at the edge and ask these
//! rules for decisions.

pub mod batch_signature;
pub mod case;
pub mod case_record;
pub mod code_lists;
pub mod convergence;
pub mod countries;
pub mod deadlines;
pub mod directory;
pub mod disclosure;
pub mod envelope;
pub mod field_messages;
pub mod handover;
pub mod i18n;
pub mod ids;
pub mod lifecycle;
pub mod message_type;
pub mod name_trigrams;
pub mod problem;
pub mod problem_details;
pub mod reports;
pub mod roles;
pub mod sign_in;
pub mod statistics;

/// One problem with one input field, reported back to the caller so that all
/// problems of a request can be fixed in one go.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct FieldError {
    /// JSON path of the offending field, e.g. `details.consent.scope[1]`.
    pub field: String,
    /// Stable machine-readable reason, e.g. `unknown_code`, `required`, `too_long`.
    pub code: &'static str,
    /// Human-readable explanation, in the language `Accept-Language` picks.
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            code,
            message: message.into(),
        }
    }
}
