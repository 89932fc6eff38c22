//! Row types, one per table, as stored. Conversion into domain types happens
//! in the repository modules.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::*;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = users)]
pub struct UserRow {
    pub id: String,
    pub username: String,
    pub display_name: String,
    pub role: String,
    pub agency: String,
    pub disabled: bool,
    pub created_at: NaiveDateTime,
    pub language: Option<String>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = api_tokens)]
pub struct TokenRow {
    pub id: String,
    pub user_id: String,
    pub token_hash: String,
    pub label: String,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub revoked_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = cases, treat_none_as_null = true, treat_none_as_default_value = false)]
pub struct CaseRow {
    pub id: String,
    pub referral_id: String,
    pub reference: String,
    pub direction: String,
    pub state: String,
    pub hold_from_state: Option<String>,
    pub version: i64,
    pub counterpart_node: String,
    pub details: String,
    pub created_by: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub state_changed_at: NaiveDateTime,
    pub due_at: Option<NaiveDateTime>,
    pub closure_outcome: Option<String>,
    pub reason_code: Option<String>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = case_identities, treat_none_as_default_value = false)]
pub struct IdentityRow {
    pub case_id: String,
    pub identity: String,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = case_events, treat_none_as_default_value = false)]
pub struct EventRow {
    pub id: String,
    pub case_id: String,
    pub version: i64,
    pub at: NaiveDateTime,
    pub kind: String,
    pub from_state: Option<String>,
    pub to_state: String,
    pub actor_kind: String,
    pub actor_user_id: Option<String>,
    pub actor_role: Option<String>,
    pub reason_code: Option<String>,
    pub outcome: Option<String>,
    pub comment: Option<String>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = outbox_messages, treat_none_as_default_value = false)]
pub struct OutboxRow {
    pub id: String,
    pub seq: i64,
    pub case_id: String,
    pub referral_id: String,
    pub message_type: String,
    pub body: String,
    pub signature: String,
    pub hash: String,
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: NaiveDateTime,
    pub last_error: Option<String>,
    pub created_at: NaiveDateTime,
    pub settled_at: Option<NaiveDateTime>,
    pub receipt: Option<String>,
    pub receipt_signer: Option<String>,
}

/// An outgoing message without its body, signature and receipt: what
/// settling its receipt needs (nothing to unseal).
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = outbox_messages)]
pub struct OutboxHeader {
    pub id: String,
    pub seq: i64,
    pub case_id: String,
    pub referral_id: String,
    pub message_type: String,
    pub hash: String,
    pub status: String,
    pub attempts: i64,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = inbox_messages, treat_none_as_default_value = false)]
pub struct InboxRow {
    pub id: String,
    pub seq: i64,
    pub sender: String,
    pub referral_id: String,
    pub message_type: String,
    pub body: String,
    pub signature: String,
    pub hash: String,
    pub signer: String,
    pub status: String,
    pub code: Option<String>,
    pub receipt: String,
    pub received_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = peer_alerts)]
pub struct AlertRow {
    pub id: String,
    pub at: NaiveDateTime,
    pub kind: String,
    pub detail: String,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = idempotency_keys)]
pub struct IdempotencyRow {
    pub user_id: String,
    pub idem_key: String,
    pub request_hash: String,
    pub case_id: String,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = audit_log, treat_none_as_default_value = false)]
pub struct AuditRow {
    pub idx: i64,
    pub at: NaiveDateTime,
    pub kind: String,
    pub actor: String,
    pub role: Option<String>,
    pub action: String,
    pub case_id: Option<String>,
    pub referral_id: Option<String>,
    pub message_id: Option<String>,
    pub seq: Option<i64>,
    pub digest: Option<String>,
    pub peer_index: Option<i64>,
    pub outcome: String,
    pub code: Option<String>,
    pub source: Option<String>,
    pub occurrences: Option<i64>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = audit_checkpoints)]
pub struct CheckpointRow {
    pub origin: String,
    pub size: i64,
    pub root: String,
    pub signed_at: NaiveDateTime,
    pub note: String,
    pub recorded_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = audit_cosignatures)]
pub struct CosignatureRow {
    pub origin: String,
    pub size: i64,
    pub witness: String,
    pub signature: String,
    pub cosigned_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = audit_evidence)]
pub struct EvidenceRow {
    pub id: String,
    pub origin: String,
    pub received_at: NaiveDateTime,
    pub reason: String,
    pub note: String,
    pub proof: String,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = case_disagreements)]
pub struct DisagreementRow {
    pub referral_id: String,
    pub case_id: String,
    pub local_state: String,
    pub peer_state: String,
    pub peer_hold_from: Option<String>,
    pub detected_at: NaiveDateTime,
    pub checked_at: NaiveDateTime,
    pub resolution: String,
    pub resolved_at: Option<NaiveDateTime>,
}
