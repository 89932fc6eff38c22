//! The peer client: sends requests to the other node's listener over mTLS and
//! returns each answer with the server certificate that must have signed it.
//!
//! A request is abandoned only when no byte has moved in either direction
//! for `peer.stall_timeout_secs` — never for its total duration — and every
//! request feeds the link's throughput estimate ([`Link`]). Idle connections
//! are kept for `peer.idle_timeout_secs`, so an occasional message costs one
//! round trip.

use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::link::{Link, Progress};
use super::server::{Batch, BatchResponse, ProblemBody};
use crate::config::PeerSettings;

/// Talks to the peer's listener.
#[derive(Clone)]
pub struct PeerClient {
    http: reqwest::Client,
    url: String,
    stall: Duration,
    link: Arc<Link>,
    /// Whether the peer answered in gzip, so understands it: request bodies
    /// are then compressed (`peer::compression`).
    peer_gzip: Arc<std::sync::atomic::AtomicBool>,
    /// Whether the peer's answers say it understands batch signatures
    /// (`passerelle-signatures: batch`): deliveries are then signed as one
    /// batch (`peer::pipeline`).
    peer_batches: Arc<std::sync::atomic::AtomicBool>,
}

/// How a batch is sent.
#[derive(Default)]
pub struct Hooks {
    /// Sent while the batch before it may still be in transit.
    pub pipelined: bool,
    /// The dispatcher's term, sent as its fencing token.
    pub fence: Option<i64>,
    /// Notified once the whole body has been handed to the connection.
    pub body_out: Option<Arc<tokio::sync::Notify>>,
    /// Ask for the receipts in compact form (a delivery).
    pub compact_receipts: bool,
}

/// A batch answered by the peer.
pub struct Delivery {
    pub response: BatchResponse,
    /// DER of the peer's server certificate on this connection.
    pub server_certificate: Vec<u8>,
}

/// Why a request to the peer failed, in words an operator can act on.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// No connection: refused, unreachable, or the TLS handshake failed.
    #[error("cannot connect to the peer: {0}")]
    Connect(String),
    /// Nothing moved for the stall timeout.
    #[error("timed out: no byte moved for {} s ({sent} bytes sent, {received} received, after {} s)", .after.as_secs(), .elapsed.as_secs())]
    Stalled {
        after: Duration,
        elapsed: Duration,
        sent: u64,
        received: u64,
    },
    /// The connection broke while the request or its answer was on the way.
    #[error("connection lost after {sent} bytes sent, {received} received: {detail}")]
    Broken {
        detail: String,
        sent: u64,
        received: u64,
    },
    /// The peer failed (5xx): try again later.
    #[error("the peer answered {status} ({code})")]
    PeerFailed { status: u16, code: String },
    /// The peer refused the request (4xx), with a coded problem.
    #[error("refused by the peer: {} ({})", .0.code, .0.detail)]
    Refused(ProblemBody),
    /// The peer answered something this node does not understand.
    #[error("protocol error: {0}")]
    Protocol(String),
}

impl SendError {
    /// A short stable label for metrics.
    pub fn cause(&self) -> &'static str {
        match self {
            SendError::Connect(_) => "connect",
            SendError::Stalled { .. } => "stalled",
            SendError::Broken { .. } => "broken",
            SendError::PeerFailed { .. } => "peer_failed",
            SendError::Refused(_) => "refused",
            SendError::Protocol(_) => "protocol",
        }
    }
}

/// The whole chain of causes of an error, innermost last (reqwest's own
/// message alone says only "error sending request").
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

/// Size of the pieces a request body is written in (progress is seen per piece).
const PIECE: usize = 16 * 1024;

/// What a request moved, for the link estimate and the metrics.
#[derive(Debug, Clone, Copy)]
pub struct Transfer {
    pub sent: u64,
    pub received: u64,
    pub elapsed: Duration,
}

impl PeerClient {
    pub fn new(
        tls: rustls::ClientConfig,
        s: &PeerSettings,
        link: Arc<Link>,
    ) -> anyhow::Result<Self> {
        let stall = Duration::from_secs(s.stall_timeout_secs);
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .tls_info(true)
            .https_only(true)
            .connect_timeout(stall)
            .pool_idle_timeout(Duration::from_secs(s.idle_timeout_secs))
            .tcp_keepalive(Duration::from_secs(30))
            .tcp_nodelay(true)
            .build()?;
        Ok(Self {
            http,
            url: s.url.trim_end_matches('/').to_owned(),
            stall,
            link,
            peer_gzip: Arc::default(),
            peer_batches: Arc::default(),
        })
    }

    /// The underlying HTTP client (for the benchmark's trivial request).
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Whether the peer has shown it understands batch signatures.
    pub fn peer_takes_batch_signatures(&self) -> bool {
        self.peer_batches.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The link estimate this client feeds.
    pub fn link(&self) -> &Arc<Link> {
        &self.link
    }

    /// Delivers a batch of signed messages. `hooks.pipelined`: sent while
    /// the batch before it may still be in transit (the peer then waits for
    /// it, [`super::arrivals`]); `hooks.body_out` is notified once the whole
    /// body has been handed to the connection.
    pub async fn send(
        &self,
        batch: Batch,
        hooks: Hooks,
    ) -> Result<(Delivery, Transfer), SendError> {
        let (response, server_certificate, transfer) = self
            .exchange(
                reqwest::Method::POST,
                "/peer/v1/messages",
                Some(&batch),
                self.stall,
                hooks,
            )
            .await?;
        Ok((
            Delivery {
                response,
                server_certificate,
            },
            transfer,
        ))
    }

    /// A cheap authenticated request: is the peer there?
    pub async fn ping(&self, timeout: Duration) -> Result<(), SendError> {
        self.exchange::<(), serde_json::Value>(
            reqwest::Method::GET,
            "/peer/v1/ping",
            None,
            timeout,
            Hooks::default(),
        )
        .await
        .map(|_| ())
    }

    /// `GET path` on the peer listener: the answer and the server certificate.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<(T, Vec<u8>), SendError> {
        self.exchange::<(), T>(
            reqwest::Method::GET,
            path,
            None,
            self.stall,
            Hooks::default(),
        )
        .await
        .map(|(t, c, _)| (t, c))
    }

    /// `POST path` with a JSON body: the answer and the server certificate.
    pub async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<(T, Vec<u8>), SendError> {
        self.exchange(
            reqwest::Method::POST,
            path,
            Some(body),
            self.stall,
            Hooks::default(),
        )
        .await
        .map(|(t, c, _)| (t, c))
    }

    /// One request, abandoned when nothing moves for `stall`.
    async fn exchange<B: Serialize, T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&B>,
        stall: Duration,
        hooks: Hooks,
    ) -> Result<(T, Vec<u8>, Transfer), SendError> {
        let progress = Arc::new(Progress::new());
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.url))
            .header(reqwest::header::ACCEPT_ENCODING, "gzip")
            .header(super::server::SIGNATURES, "batch");
        if hooks.pipelined {
            req = req.header(super::arrivals::PIPELINED, "1");
        }
        if let Some(fence) = hooks.fence {
            req = req.header(super::arrivals::FENCE, fence);
        }
        if hooks.compact_receipts {
            req = req.header(super::server::RECEIPTS, "compact");
        }
        if let Some(body) = body {
            let mut bytes = serde_json::to_vec(body)
                .map_err(|e| SendError::Protocol(format!("cannot serialise the request: {e}")))?;
            if bytes.len() >= compression::MIN_BYTES
                && self.peer_gzip.load(std::sync::atomic::Ordering::Relaxed)
            {
                let raw = bytes.len();
                bytes = compression::gzip(&bytes).map_err(|e| {
                    SendError::Protocol(format!("cannot compress the request: {e}"))
                })?;
                self.link.observe_compression(raw, bytes.len());
                req = req.header(reqwest::header::CONTENT_ENCODING, "gzip");
            }
            let len = bytes.len();
            let pieces: Vec<Result<Vec<u8>, std::convert::Infallible>> =
                bytes.chunks(PIECE).map(|c| Ok(c.to_vec())).collect();
            let seen = progress.clone();
            let mut left = pieces.len();
            let body_out = hooks.body_out;
            let stream = futures_util::stream::iter(pieces).map(move |piece| {
                if let Ok(p) = &piece {
                    seen.add_sent(p.len());
                }
                left -= 1;
                if left == 0 {
                    if let Some(out) = &body_out {
                        out.notify_one();
                    }
                }
                piece
            });
            req = req
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .header(reqwest::header::CONTENT_LENGTH, len)
                .body(reqwest::Body::wrap_stream(stream));
        }
        let work = self.run(req, progress.clone());
        let outcome = tokio::select! {
            r = work => r,
            _ = progress.stalled(stall) => {
                let (sent, received) = progress.bytes();
                Err(SendError::Stalled { after: stall, elapsed: progress.elapsed(), sent, received })
            }
        };
        let (sent, received) = progress.bytes();
        let transfer = Transfer {
            sent,
            received,
            elapsed: progress.elapsed(),
        };
        match &outcome {
            Ok(_) => self.link.observe(sent + received, transfer.elapsed),
            Err(SendError::Stalled { .. }) => self.link.stalled(),
            Err(_) => {}
        }
        outcome.map(|(t, c)| (t, c, transfer))
    }

    async fn run<T: DeserializeOwned>(
        &self,
        req: reqwest::RequestBuilder,
        progress: Arc<Progress>,
    ) -> Result<(T, Vec<u8>), SendError> {
        let broken = |e: &reqwest::Error, p: &Progress| {
            let (sent, received) = p.bytes();
            if e.is_connect() {
                SendError::Connect(chain(e))
            } else {
                SendError::Broken {
                    detail: chain(e),
                    sent,
                    received,
                }
            }
        };
        let mut res = req.send().await.map_err(|e| broken(&e, &progress))?;
        // Headers arrived: bytes moved.
        progress.add_received(0);
        let server_certificate = res
            .extensions()
            .get::<reqwest::tls::TlsInfo>()
            .and_then(|i| i.peer_certificate())
            .map(<[u8]>::to_vec)
            .ok_or_else(|| SendError::Protocol("no server certificate on the connection".into()))?;
        let status = res.status();
        let gzipped = res
            .headers()
            .get(reqwest::header::CONTENT_ENCODING)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"gzip"));
        if res
            .headers()
            .get(super::server::SIGNATURES)
            .is_some_and(|v| v.as_bytes() == b"batch")
        {
            self.peer_batches
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
        let mut body = Vec::new();
        while let Some(piece) = res.chunk().await.map_err(|e| broken(&e, &progress))? {
            progress.add_received(piece.len());
            body.extend_from_slice(&piece);
        }
        if gzipped {
            self.peer_gzip
                .store(true, std::sync::atomic::Ordering::Relaxed);
            body = compression::gunzip(&body, compression::MAX_INFLATED)
                .map_err(|e| SendError::Protocol(format!("unreadable compressed answer: {e}")))?;
        }
        if status.is_server_error() {
            let code = serde_json::from_slice::<ProblemBody>(&body)
                .map(|p| p.code)
                .unwrap_or_else(|_| "no_problem_document".into());
            return Err(SendError::PeerFailed {
                status: status.as_u16(),
                code,
            });
        }
        if !status.is_success() {
            let problem: ProblemBody = serde_json::from_slice(&body)
                .map_err(|e| SendError::Protocol(format!("unreadable refusal ({status}): {e}")))?;
            return Err(SendError::Refused(problem));
        }
        let answer: T = serde_json::from_slice(&body)
            .map_err(|e| SendError::Protocol(format!("unreadable answer: {e}")))?;
        Ok((answer, server_certificate))
    }
}

use futures_util::StreamExt as _;

use super::compression;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_chains_name_the_innermost_cause() {
        let inner =
            std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "connection refused");
        #[derive(Debug)]
        struct Outer(std::io::Error);
        impl std::fmt::Display for Outer {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("error sending request")
            }
        }
        impl std::error::Error for Outer {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        assert_eq!(
            chain(&Outer(inner)),
            "error sending request: connection refused"
        );
    }
}
