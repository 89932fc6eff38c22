//! `[peer]` settings: the other node's address, and how delivery adapts to
//! the link to it.

use std::net::SocketAddr;

use serde::Deserialize;

/// `[peer]`: the other node, and how delivery adapts to the link to it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PeerSettings {
    /// `peer.url`: base URL of the other node's peer listener, e.g.
    /// `https://naptip-passerelle.example:9443`. Required. Its TLS certificate
    /// must name the other node's id, whatever host the URL uses.
    pub url: String,
    /// `peer.listen`: address of this node's peer listener (default `127.0.0.1:9443`).
    pub listen: SocketAddr,
    /// `peer.batch_size`: most messages sent in one request (default 1000);
    /// the byte budget below usually binds first.
    pub batch_size: usize,
    /// `peer.initial_batch_bytes`: byte budget of the first request, before
    /// any throughput was measured (default 32768: about one second on a
    /// 32 KB/s link).
    pub initial_batch_bytes: usize,
    /// `peer.min_batch_bytes` / `peer.max_batch_bytes`: bounds of the byte
    /// budget of one request (defaults 4096 and 1048576). A single message
    /// larger than the budget is still sent, alone.
    pub min_batch_bytes: usize,
    pub max_batch_bytes: usize,
    /// `peer.target_request_secs`: how long one request should take at the
    /// throughput measured on the link; the byte budget follows it (default 3).
    pub target_request_secs: f64,
    /// `peer.pipeline`: batches in flight at once (default 2). The next
    /// batch leaves as soon as the previous one's body is out, so the link
    /// carries messages one way while receipts come back the other way and
    /// round trips overlap; the peer takes them in their turn. 1 sends one
    /// batch at a time.
    pub pipeline: usize,
    /// `peer.stall_timeout_secs`: a request is abandoned when no byte has
    /// moved in either direction for this long (default 30). There is no
    /// limit on a request's total duration while bytes keep moving.
    pub stall_timeout_secs: u64,
    /// `peer.retry_initial_ms`: wait before the first retry of a failed
    /// delivery; each further failure doubles it (default 250).
    pub retry_initial_ms: u64,
    /// `peer.retry_max_ms`: ceiling of the wait between retries (default
    /// 300000, five minutes). Transport failures are retried forever; only a
    /// permanent refusal by the peer suspends a message.
    pub retry_max_ms: u64,
    /// `peer.jitter`: each wait varies randomly by up to this fraction (default 0.2).
    pub jitter: f64,
    /// `peer.probe_interval_ms`: while delivery waits after a transport
    /// failure, the peer is probed this often (a cheap authenticated ping);
    /// delivery resumes as soon as it answers, or at once when the peer
    /// reaches this node's listener meanwhile (default 2000).
    pub probe_interval_ms: u64,
    /// `peer.poll_interval_ms`: how often the dispatcher looks for due messages
    /// when nothing woke it (default 1000).
    pub poll_interval_ms: u64,
    /// `peer.idle_timeout_secs`: how long an idle connection to or from the
    /// peer is kept open, so that an occasional message costs one round trip
    /// (default 300).
    pub idle_timeout_secs: u64,
    /// `peer.stale_after_secs`: an alert (`delivery_delayed`) is raised when the
    /// oldest undelivered message is older than this (default 900).
    pub stale_after_secs: u64,
    /// `peer.compare_interval_secs`: how often the two nodes compare a digest
    /// of every shared case to detect and repair disagreements (default 300).
    pub compare_interval_secs: u64,
    /// `peer.body_limit_bytes`: largest request body accepted from the peer (default 8 MiB).
    pub body_limit_bytes: usize,
    /// `peer.refusal_audit_interval_secs`: connections refused on the peer
    /// port are counted at once, and written to the audit log as one entry
    /// per reason and source address per interval of this length, with how
    /// many there were (default 60).
    pub refusal_audit_interval_secs: u64,
}

impl Default for PeerSettings {
    fn default() -> Self {
        Self {
            url: String::new(),
            listen: SocketAddr::from(([127, 0, 0, 1], 9443)),
            batch_size: 1000,
            initial_batch_bytes: 32 * 1024,
            min_batch_bytes: 4 * 1024,
            max_batch_bytes: 1024 * 1024,
            target_request_secs: 3.0,
            pipeline: 2,
            stall_timeout_secs: 30,
            retry_initial_ms: 250,
            retry_max_ms: 300_000,
            jitter: 0.2,
            probe_interval_ms: 2000,
            poll_interval_ms: 1000,
            idle_timeout_secs: 300,
            stale_after_secs: 900,
            compare_interval_secs: 300,
            body_limit_bytes: 8 * 1024 * 1024,
            refusal_audit_interval_secs: 60,
        }
    }
}
