//! The tamper-evident audit log.
//!
//! Every entry is a leaf of an RFC 9162 Merkle tree ([`merkle`]); the node
//! signs its tree head at intervals as a checkpoint in the C2SP signed-note
//! format ([`note`]) and the peer node cosigns it after checking a
//! consistency proof from the last one it saw. Entries hold references and
//! digests only, never personal data: erasing a victim's data never breaks
//! the log. [`bundle`] is the offline export, verification and
//! reconciliation; [`reconcile`] matches the two nodes' exchange records.
//!
//! This module and its children are pure (no database, no network): the
//! log's rows are kept by `store::audit`, checkpoints and exports are signed
//! by `app::audit`, and the other node witnesses the log through `peer`.

pub mod bundle;
pub mod merkle;
pub mod note;
pub mod reconcile;

use chrono::{DateTime, SubsecRound, Utc};
use serde::{Deserialize, Serialize};

/// Kinds of audit entries.
pub mod kinds {
    /// A caseworker API request that changed something, or any other API request.
    pub const API_ACTION: &str = "api_action";
    /// A successful read of case data (the access log).
    pub const ACCESS: &str = "access";
    /// A refused API request (authentication, permission, validation, conflict…).
    pub const REFUSAL: &str = "refusal";
    /// A signed message queued for the peer (in the same transaction as the change).
    pub const MESSAGE_QUEUED: &str = "message_queued";
    /// A message from the peer taken into the incoming chain (accepted or rejected
    /// by the SOP rules); its index is the `log_index` of the receipt.
    pub const MESSAGE_RECEIVED: &str = "message_received";
    /// A message from the peer refused before it entered the chain.
    pub const MESSAGE_REFUSED: &str = "message_refused";
    /// The peer's signed receipt for one of our messages, with its log index.
    pub const RECEIPT_RECEIVED: &str = "receipt_received";
    /// A checkpoint of the peer refused (bad signature, inconsistent, rolled back).
    pub const CHECKPOINT_REFUSED: &str = "checkpoint_refused";
    /// The peer's log no longer matches what this node witnessed (`seq`:
    /// the first bad index; `code`: `changed`, `missing`,
    /// `receipt_not_proven`). Cosigning its checkpoints stops until an
    /// administrator acknowledges.
    pub const PEER_LOG_MISMATCH: &str = "peer_log_mismatch";
    /// The peer reports that this node's log no longer matches what it
    /// witnessed (`seq`: the index; `code`: the problem).
    pub const LOG_MISMATCH_REPORTED: &str = "log_mismatch_reported";
    /// A lifecycle step found past its SOP time limit (`action` is the state,
    /// `code` the time it was due).
    pub const DEADLINE_OVERDUE: &str = "deadline_overdue";
    /// An administrative command run on the node (users, tokens).
    pub const ADMIN_COMMAND: &str = "admin_command";
    /// A console sign-in: `outcome` `ok`, `refused` (wrong username or
    /// password, `code` `invalid_credentials`), or `throttled` / `locked`.
    pub const SIGN_IN: &str = "sign_in";
    /// A username locked after repeated failed sign-ins (`code`: until when).
    pub const ACCOUNT_LOCKED: &str = "account_locked";
    /// A console session ended (`action`: `sign_out`, `sign_out_everywhere`,
    /// `password_changed`).
    pub const SIGN_OUT: &str = "sign_out";
}

/// One audit entry: who did what to which case or message, and the outcome.
/// The leaf hashed into the tree is [`Entry::leaf_data`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// Position in the log (0-based leaf index).
    pub index: u64,
    /// When it was recorded (UTC, microseconds).
    pub at: DateTime<Utc>,
    /// What kind of event (see the `kinds` list in the README).
    pub kind: String,
    /// Username, `peer:<node id>`, `system`, `cli` or `anonymous`; for a
    /// refused handshake on the peer port, `certificate:<subject>` of the
    /// certificate presented (else `anonymous`).
    pub actor: String,
    /// The actor's role, for users.
    pub role: Option<String>,
    /// What was done: an API operation (`POST /api/v1/cases`), a lifecycle
    /// action, or a message type.
    pub action: String,
    /// The case concerned, if any (a random id, not personal data).
    pub case_id: Option<String>,
    /// The referral concerned, if any (shared by both nodes).
    pub referral_id: Option<String>,
    /// The exchanged message concerned, if any.
    pub message_id: Option<String>,
    /// Message sequence number, or the case version after an action.
    pub seq: Option<i64>,
    /// SHA-256 (hex) of the message or receipt concerned, or of the
    /// certificate (DER) presented in a refused handshake.
    pub digest: Option<String>,
    /// The peer's log index for this message (from its receipt).
    pub peer_index: Option<i64>,
    /// `ok`, `refused`, `accepted`, `rejected`, `delivered`, `error`.
    pub outcome: String,
    /// Problem or reason code, when refused or rejected.
    pub code: Option<String>,
    /// Network address a refused connection came from (peer port). This
    /// field and the next are absent from the leaf bytes when empty, so
    /// entries written before they existed keep their hashes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// How many identical events this entry stands for, when several were
    /// aggregated (refused handshakes: per reason and source per interval).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub occurrences: Option<i64>,
}

impl Entry {
    /// A new entry for `kind`/`action` by `actor`, stamped now; the index is
    /// set when it is appended.
    pub fn new(kind: &str, actor: impl Into<String>, action: impl Into<String>) -> Entry {
        Entry {
            index: 0,
            at: Utc::now().trunc_subsecs(6),
            kind: kind.into(),
            actor: actor.into(),
            role: None,
            action: action.into(),
            case_id: None,
            referral_id: None,
            message_id: None,
            seq: None,
            digest: None,
            peer_index: None,
            outcome: "ok".into(),
            code: None,
            source: None,
            occurrences: None,
        }
    }

    /// The bytes hashed as the Merkle leaf: the entry as compact JSON, fields
    /// in declaration order (this struct's order is part of the format).
    pub fn leaf_data(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// The RFC 9162 leaf hash of this entry.
    pub fn leaf_hash(&self) -> merkle::Hash {
        merkle::leaf_hash(&self.leaf_data())
    }
}

/// Lower-case hex of a hash.
pub fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 0x0f)] as char);
    }
    s
}

/// Parses a 32-byte hash from lower- or upper-case hex.
pub fn from_hex(s: &str) -> Option<merkle::Hash> {
    if s.len() != 64 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

/// The origin line of a node's checkpoints.
pub fn origin(node: crate::domain::ids::NodeId) -> String {
    format!("passerelle/{}", node.as_str())
}
