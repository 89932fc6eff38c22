//! The use cases: each opens its transaction (through [`crate::store::Db`]),
//! calls the pure rules of [`crate::domain`] and the rows of
//! [`crate::store`], and returns typed results; no HTTP types. Signing
//! happens here: storage receives signed bytes.
//!
//! The bodies were moved from storage as they were (issue 11) and still
//! build some of their queries themselves; they are being split along the
//! use cases (`cases` holds cases and transitions, handover, reports and
//! erasure; `exchange` the outbound and inbound messages and receipts;
//! `audit` checkpoints and exports).

pub mod audit;
pub mod cases;
pub mod deadlines;
pub mod erasure;
pub mod exchange;
pub mod handover;
pub mod inbox;
pub mod receipts;
pub mod reports;
pub mod review;

/// What the use cases need to know about this node: who it is, the SOP
/// time limits, and the keys that sign what it sends.
pub struct NodeCtx {
    pub node: crate::domain::ids::NodeId,
    pub deadlines: crate::domain::deadlines::DeadlineSettings,
    /// Signs outgoing messages (the key of the node's client certificate).
    pub message_key: openssl::pkey::PKey<openssl::pkey::Private>,
    /// Signs receipts (the key of the node's server certificate).
    pub receipt_key: openssl::pkey::PKey<openssl::pkey::Private>,
}

impl std::fmt::Debug for NodeCtx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeCtx")
            .field("node", &self.node)
            .finish_non_exhaustive()
    }
}
