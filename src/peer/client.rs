//! The peer client: sends batches of signed messages over mTLS and returns
//! the receipts with the server certificate that must have signed them.

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::envelope::Signed;
use super::server::{Batch, BatchResponse, ProblemBody};

/// Talks to the peer's listener.
#[derive(Clone)]
pub struct PeerClient {
    http: reqwest::Client,
    url: String,
}

/// A batch answered by the peer.
pub struct Delivery {
    pub response: BatchResponse,
    /// DER of the peer's server certificate on this connection.
    pub server_certificate: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// Not reached, timed out, or the peer failed (5xx): try again later.
    #[error("peer unreachable: {0}")]
    Unreachable(String),
    /// The peer refused the first message of the batch.
    #[error("refused by the peer: {} ({})", .0.code, .0.detail)]
    Refused(ProblemBody),
    /// The peer answered something this node does not understand.
    #[error("protocol error: {0}")]
    Protocol(String),
}

impl PeerClient {
    pub fn new(
        tls: rustls::ClientConfig,
        peer_url: &str,
        timeout: Duration,
    ) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .tls_info(true)
            .https_only(true)
            .timeout(timeout)
            .connect_timeout(timeout)
            .pool_idle_timeout(Duration::from_secs(30))
            .build()?;
        Ok(Self {
            http,
            url: peer_url.trim_end_matches('/').to_owned(),
        })
    }

    /// The underlying HTTP client (for the benchmark's trivial request).
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub async fn send(&self, messages: Vec<Signed>) -> Result<Delivery, SendError> {
        let (response, server_certificate) = self
            .request(
                self.http
                    .post(format!("{}/peer/v1/messages", self.url))
                    .json(&Batch { messages }),
            )
            .await?;
        Ok(Delivery {
            response,
            server_certificate,
        })
    }

    /// `GET path` on the peer listener: the answer and the server certificate.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<(T, Vec<u8>), SendError> {
        self.request(self.http.get(format!("{}{path}", self.url)))
            .await
    }

    /// `POST path` with a JSON body: the answer and the server certificate.
    pub async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<(T, Vec<u8>), SendError> {
        self.request(self.http.post(format!("{}{path}", self.url)).json(body))
            .await
    }

    async fn request<T: DeserializeOwned>(
        &self,
        req: reqwest::RequestBuilder,
    ) -> Result<(T, Vec<u8>), SendError> {
        let res = req
            .send()
            .await
            .map_err(|e| SendError::Unreachable(format!("{e:#}")))?;
        let server_certificate = res
            .extensions()
            .get::<reqwest::tls::TlsInfo>()
            .and_then(|i| i.peer_certificate())
            .map(<[u8]>::to_vec)
            .ok_or_else(|| SendError::Protocol("no server certificate on the connection".into()))?;
        let status = res.status();
        if status.is_server_error() {
            return Err(SendError::Unreachable(format!("peer answered {status}")));
        }
        if !status.is_success() {
            let problem: ProblemBody = res
                .json()
                .await
                .map_err(|e| SendError::Protocol(format!("unreadable refusal ({status}): {e}")))?;
            return Err(SendError::Refused(problem));
        }
        let answer: T = res
            .json()
            .await
            .map_err(|e| SendError::Protocol(format!("unreadable answer: {e}")))?;
        Ok((answer, server_certificate))
    }
}
