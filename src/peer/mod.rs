//! The node-to-node protocol: signed envelopes and receipts, the peer
//! listener (server), and the dispatcher that delivers the outbox (client).

pub mod arrivals;
pub mod certificate;
pub mod channel;
pub mod client;
pub mod compression;
pub mod convergence;
pub mod dispatcher;
pub mod error;
pub mod link;
pub mod listener;
pub mod pipeline;
pub mod receipts;
pub mod retry;
pub mod server;
pub mod settling;
pub mod witness;
