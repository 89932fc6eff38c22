//! The use cases: each opens its transaction (through [`crate::store::Db`]),
//! calls the pure rules of [`crate::domain`] and the rows of
//! [`crate::store`], and returns typed results; no HTTP types. Signing
//! happens here: storage receives signed bytes.
//!
//! The adapters call [`service::App`], whose methods open their own
//! transaction and run the use cases of the modules below in it; the
//! caseworker API opens none itself (`tests/api/layers.rs` checks it).
//!
//! No SQL here: rows come from and go to [`crate::store`]'s functions
//! (`tests/api/layers.rs` checks it), and a nested step that may fail on
//! its own runs in a [`crate::store::savepoint`].

pub mod accounts;
pub mod audit;
pub mod audit_watch;
pub mod cases;
pub mod channels;
pub mod clock;
pub mod convergence;
pub mod deadlines;
pub mod directory;
pub mod disagreements;
pub mod erasure;
pub mod exchange;
pub mod handover;
pub mod inbox;
pub mod leases;
pub mod receipts;
pub mod reconciliation;
pub mod reports;
pub mod review;
pub mod service;
pub mod service_admin;
pub mod service_peer;
pub mod sign_in;
pub mod statistics;
pub mod witness;

/// What the use cases need to know about this node: who it is, the SOP
/// time limits, and the keys that sign what it sends.
pub struct NodeCtx {
    pub node: crate::domain::ids::NodeId,
    pub deadlines: crate::domain::deadlines::DeadlineSettings,
    /// Signs outgoing messages (the key of the node's client certificate).
    pub message_key: openssl::pkey::PKey<openssl::pkey::Private>,
    /// Signs receipts (the key of the node's server certificate).
    pub receipt_key: openssl::pkey::PKey<openssl::pkey::Private>,
    /// What "now" is for the use cases, the API and the timers.
    pub clock: clock::Clock,
}

impl std::fmt::Debug for NodeCtx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeCtx")
            .field("node", &self.node)
            .finish_non_exhaustive()
    }
}
