//! The peer listener: node-to-node traffic only, over mutually authenticated
//! TLS (the handshake already checked the client certificate: peer CA,
//! validity, clientAuth, and the peer's node id as DNS SAN).
//!
//! `POST /peer/v1/messages` takes a batch of signed messages, in sequence
//! order. Each is checked before anything else — signature against the
//! client certificate of the connection, then envelope, parties, SOP version
//! and type — and then taken into the incoming chain in one transaction for
//! the whole batch (one commit for many messages). The answer holds a signed
//! receipt per message; the first message refused stops the batch and is
//! reported with a coded problem (the whole answer is that problem when it is
//! the first message).

use crate::domain::message_type::MessageType;
use crate::domain::problem::ProblemCode;
use std::sync::Arc;

use actix_web::dev::Extensions;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use chrono::Utc;
use serde::{Deserialize, Serialize};

use super::arrivals::{FENCE, PIPELINED};
use super::error::PeerError;
use super::receipts::{CatchUpError, RecordError};
use crate::api::error::Problem;
use crate::app::audit as audit_store;
use crate::app::exchange as store;
use crate::app::NodeCtx;
use crate::audit::{kinds, Entry};
use crate::domain::batch_signature;
use crate::domain::envelope::{self, CompactReceipt, Envelope, Signed, SUPPORTED_SOP_VERSIONS};
use crate::domain::ids::NodeId;
use crate::store::Db;

/// State of the peer listener.
pub struct PeerState {
    pub db: Db,
    pub ctx: Arc<NodeCtx>,
    /// To fetch receipts this node is still waiting for (see [`receive`]).
    pub client: super::client::PeerClient,
    /// Receipts recorded (announced by case id) and in the dispatcher's hand.
    pub signals: super::receipts::Signals,
    /// Longest time spent fetching receipts, or waiting for a pipelined
    /// batch's turn, before answering a batch (well below the sender's stall
    /// timeout).
    pub catch_up_limit: std::time::Duration,
    /// What was taken in or refused, for pipelined batches waiting their turn.
    pub arrivals: super::arrivals::Arrivals,
}

/// The client certificate of the connection (DER), captured at accept time.
#[derive(Debug, Clone)]
pub struct ClientCertificate(pub Vec<u8>);

/// On-connect hook of the peer listener: keeps the TLS client certificate
/// for handlers.
pub fn capture_client_certificate(
    tls: &actix_tls::accept::rustls_0_23::TlsStream<actix_web::rt::net::TcpStream>,
    ext: &mut Extensions,
) {
    let (_, session) = tls.get_ref();
    if let Some(cert) = session.peer_certificates().and_then(|c| c.first()) {
        ext.insert(ClientCertificate(cert.to_vec()));
    }
}

/// A batch of signed messages, in sequence order: either each signed alone
/// (`messages`), or signed as one batch (`envelopes` and `signature`, see
/// [`batch_signature`]), which a sender does once the receiver has shown it
/// understands them (the [`SIGNATURES`] header on an answer).
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Batch {
    /// Each signed alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub messages: Option<Vec<Signed>>,
    /// The envelopes of a batch signed as one, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub envelopes: Vec<serde_json::Value>,
    /// The one signature of `envelopes` (base64 DER over the batch's statement).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
}

impl Batch {
    /// Each message with its own signature string (those of a batch signed
    /// as one rebuilt with their paths; nothing is verified here).
    fn into_messages(self) -> Result<Vec<Signed>, PeerError> {
        let invalid = |detail: &str| PeerError::Refused(ProblemCode::InvalidBody, detail.into());
        match (self.messages, self.envelopes.is_empty(), self.signature) {
            (Some(messages), true, None) => Ok(messages),
            (None, false, Some(signature)) => batch_signature::expand(self.envelopes, &signature)
                .map_err(|_| {
                    PeerError::Refused(
                        ProblemCode::InvalidSignature,
                        "the batch's signature is not a base64 DER signature".into(),
                    )
                }),
            _ => Err(invalid(
                "a batch holds either `messages`, or `envelopes` with their one `signature`",
            )),
        }
    }
}

/// The header by which a node says it understands batch signatures (value
/// `batch`): a sender asks with it for its receipts signed as one batch
/// (see [`BatchResponse::receipts_signature`]), and the receiver's answer
/// carries it so that the sender then signs its deliveries as one batch.
pub const SIGNATURES: &str = "passerelle-signatures";

/// The first message of a batch that was refused.
#[derive(Debug, Serialize, Deserialize)]
pub struct Refusal {
    /// Position in the batch.
    pub index: usize,
    /// The refused message's id, if it could be read.
    pub message_id: Option<String>,
    pub problem: ProblemBody,
}

/// A problem document as read back by the client.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProblemBody {
    pub status: u16,
    pub code: String,
    pub detail: String,
}

/// The request header by which the sender of a batch asks for its receipts
/// in compact form (value `compact`; see [`CompactReceipt`]).
pub const RECEIPTS: &str = "passerelle-receipts";

/// Receipts for the messages taken, in order, and the refusal that stopped
/// the batch. The receipts are either all whole (`receipts`) or, when the
/// sender asked for them so, all compact (`compact_receipts`).
#[derive(Debug, Serialize, Deserialize)]
pub struct BatchResponse {
    pub receipts: Vec<Signed>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub compact_receipts: Vec<CompactReceipt>,
    /// When the sender asked for batch signatures and the receipts travel
    /// compact: their one signature (base64 DER over the statement of the
    /// batch of whole receipts, in order); the compact receipts then carry
    /// none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipts_signature: Option<String>,
    pub refusal: Option<Refusal>,
}

impl BatchResponse {
    /// How many messages the answer receipts.
    pub fn receipted(&self) -> usize {
        self.receipts.len() + self.compact_receipts.len()
    }

    /// Signs the receipts (those kept unsigned since they were made) in the
    /// form the sender asked for: as one batch, compact with one
    /// `receipts_signature` when every receipt can be and whole (each with
    /// its path) otherwise; or, for a sender that does not know batch
    /// signatures, each alone, compact when asked and possible.
    fn signed(
        mut self,
        key: &openssl::pkey::PKeyRef<openssl::pkey::Private>,
        form: ReceiptForm,
    ) -> Result<Self, envelope::SignatureError> {
        if form.batch && !self.receipts.is_empty() {
            let bodies: Vec<serde_json::Value> = std::mem::take(&mut self.receipts)
                .into_iter()
                .map(|r| r.body)
                .collect();
            let signature = batch_signature::sign(&bodies, key)?;
            let compact = form
                .compact
                .then(|| {
                    bodies
                        .iter()
                        .map(|b| CompactReceipt::of_parts(b, ""))
                        .collect::<Option<Vec<_>>>()
                })
                .flatten();
            match compact {
                Some(compact) => {
                    self.compact_receipts = compact;
                    self.receipts_signature = Some(signature);
                }
                None => self.receipts = batch_signature::expand(bodies, &signature)?,
            }
            return Ok(self);
        }
        batch_signature::sign_pending(&mut self.receipts, key, false)?;
        if form.compact {
            if let Some(compact) = self
                .receipts
                .iter()
                .map(CompactReceipt::of)
                .collect::<Option<Vec<_>>>()
            {
                self.compact_receipts = compact;
                self.receipts.clear();
            }
        }
        Ok(self)
    }
}

/// How the sender of a request wants the receipts it gets back.
#[derive(Debug, Clone, Copy)]
pub(super) struct ReceiptForm {
    /// Compact ([`RECEIPTS`]`: compact`).
    compact: bool,
    /// Signed as one batch ([`SIGNATURES`]`: batch`).
    pub(super) batch: bool,
}

impl ReceiptForm {
    pub(super) fn of(req: &HttpRequest) -> ReceiptForm {
        let is = |name: &str, value: &[u8]| {
            req.headers()
                .get(name)
                .is_some_and(|v| v.as_bytes() == value)
        };
        ReceiptForm {
            compact: is(RECEIPTS, b"compact"),
            batch: is(SIGNATURES, b"batch"),
        }
    }
}

pub(super) struct Refused {
    pub(super) code: ProblemCode,
    pub(super) detail: String,
}

fn refuse(code: ProblemCode, detail: impl Into<String>) -> Refused {
    Refused {
        code,
        detail: detail.into(),
    }
}

/// Checks one message whose signature verified, before anything touches the database.
pub(super) fn check(msg: &Signed, node: NodeId) -> Result<Envelope, Refused> {
    let env: Envelope = serde_json::from_value(msg.body.clone())
        .map_err(|e| refuse(ProblemCode::InvalidEnvelope, e.to_string()))?;
    if env.sender != node.counterpart() {
        return Err(refuse(
            ProblemCode::WrongSender,
            format!("messages on this channel come from {}", node.counterpart()),
        ));
    }
    if env.receiver != node {
        return Err(refuse(
            ProblemCode::WrongReceiver,
            format!("this node is {node}"),
        ));
    }
    if !SUPPORTED_SOP_VERSIONS.contains(&env.sop_version.as_str()) {
        return Err(refuse(
            ProblemCode::UnsupportedSopVersion,
            format!(
                "SOP version {} is not supported (supported: {})",
                env.sop_version,
                SUPPORTED_SOP_VERSIONS.join(", ")
            ),
        ));
    }
    let Some(message_type) = MessageType::parse(&env.message_type) else {
        return Err(refuse(
            ProblemCode::UnknownMessageType,
            format!("unknown message type `{}`", env.message_type),
        ));
    };
    // The consent gate: nothing beyond what the type declares and the consent covers.
    crate::domain::disclosure::check(message_type, &env.payload)
        .map_err(|e| refuse(e.code(), e.to_string()))?;
    Ok(env)
}

fn names_node(cert: &openssl::x509::X509Ref, peer: NodeId) -> bool {
    cert.subject_alt_names()
        .is_some_and(|names| names.iter().any(|n| n.dnsname() == Some(peer.as_str())))
}

/// Before applying messages whose sender had received ours up to `ack`,
/// makes sure the receipts of ours up to `ack` are recorded: waits briefly
/// for those the dispatcher is recording, fetches the others from the peer.
/// Returns the answer to give instead (503 `awaiting_receipts`) when they
/// cannot be had now; the peer then sends the batch again later.
async fn settle_up_to(state: &PeerState, ack: i64) -> Result<Option<HttpResponse>, PeerError> {
    // One statement on an index, for every batch: read on the calling thread.
    let unsettled = |db: Db| async move {
        db.read_one_here(move |c| store::unsettled_up_to(c, ack))
            .await
    };
    let Some((_, to)) = unsettled(state.db.clone()).await? else {
        return Ok(None);
    };
    if *state.signals.in_hand.borrow() >= to {
        let waited = std::time::Instant::now();
        while waited.elapsed() < std::time::Duration::from_secs(2) {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            if unsettled(state.db.clone()).await?.is_none() {
                return Ok(None);
            }
        }
    }
    let Some((from, to)) = unsettled(state.db.clone()).await? else {
        return Ok(None);
    };
    let fetched = tokio::time::timeout(
        state.catch_up_limit,
        super::receipts::catch_up(&state.db, &state.ctx, &state.client, from, to),
    )
    .await;
    let failure = match fetched {
        Ok(Ok(cases)) => {
            tracing::info!(
                from,
                to,
                "receipts caught up before applying the peer's messages"
            );
            for case in cases {
                let _ = state.signals.settled.send(case);
            }
            return Ok(None);
        }
        Ok(Err(CatchUpError::Send(e))) => e.to_string(),
        Ok(Err(CatchUpError::Record(RecordError::Db(e)))) => e.to_string(),
        Err(_) => format!("no answer within {} s", state.catch_up_limit.as_secs()),
        Ok(Err(e)) => {
            // The peer cannot give them (or they do not verify): waiting would
            // block this direction for good. Apply the batch; the regular
            // comparison of the shared cases detects and repairs what follows.
            let detail =
                format!("the receipts of messages {from} to {to} cannot be had from the peer: {e}");
            tracing::error!(detail, "applying the peer's messages without them");
            let now = Utc::now().naive_utc();
            state
                .db
                .write(move |c| store::alert(c, "receipts_unavailable", &detail, now))
                .await?;
            return Ok(None);
        }
    };
    tracing::warn!(from, to, error = %failure, "cannot fetch the receipts this batch depends on; the peer will send it again");
    Ok(Some(
        Problem::of(
            ProblemCode::AwaitingReceipts,
            format!(
                "this node still waits for the receipts of its messages {from} to {to}, which the batch's sender has received; send the batch again"
            ),
        )
        .response(),
    ))
}

/// Receive a batch of signed messages from the peer node.
#[post("/peer/v1/messages")]
pub async fn receive(
    state: web::Data<PeerState>,
    req: HttpRequest,
    batch: web::Json<Batch>,
) -> Result<HttpResponse, PeerError> {
    let outcome = take_in(&state, &req, batch.into_inner()).await;
    // A pipelined batch waiting for this one cannot follow it now.
    if !matches!(outcome, Ok((_, true))) {
        state.arrivals.refused();
    }
    outcome.map(|(res, _)| res)
}

/// Takes a batch in: the answer, and whether every message was taken in.
async fn take_in(
    state: &PeerState,
    req: &HttpRequest,
    batch: Batch,
) -> Result<(HttpResponse, bool), PeerError> {
    let node = state.ctx.node;
    let Some(cert) = req.conn_data::<ClientCertificate>().cloned() else {
        return Err(PeerError::Refused(
            ProblemCode::ClientCertificateRequired,
            "a client certificate is required".into(),
        ));
    };
    // The handshake checked this already; checked again so that no
    // misconfiguration of the listener can let another identity through.
    let sender = super::certificate::read(&cert.0)
        .ok()
        .filter(|c| names_node(&c.x509, node.counterpart()))
        .ok_or_else(|| {
            PeerError::Refused(
                ProblemCode::WrongPeerIdentity,
                format!(
                    "the client certificate does not name {}",
                    node.counterpart()
                ),
            )
        })?;
    let public = sender.public_key.clone();
    let (pem, fp) = (sender.pem.clone(), sender.fingerprint.clone());
    let fence = match req.headers().get(FENCE) {
        None => None,
        Some(v) => Some(
            v.to_str()
                .ok()
                .and_then(|t| t.parse::<i64>().ok())
                .ok_or_else(|| {
                    PeerError::Refused(
                        ProblemCode::InvalidBody,
                        format!("the {FENCE} header is not a whole number"),
                    )
                })?,
        ),
    };

    let messages = batch.into_messages()?;
    let mut checked = Vec::with_capacity(messages.len());
    let mut refusal: Option<(usize, Option<String>, Refused)> = None;
    // Signatures first, on all cores: nothing unsigned is even parsed.
    let verified = match envelope::verify_all(&messages, &public) {
        Ok(()) => messages.len(),
        Err(bad) => {
            let id = messages[bad]
                .body
                .get("message_id")
                .and_then(|v| v.as_str())
                .map(str::to_owned);
            refusal = Some((
                bad,
                id,
                refuse(
                    ProblemCode::InvalidSignature,
                    "the signature does not verify: not signed by the certificate of this connection",
                ),
            ));
            bad
        }
    };
    for (i, m) in messages[..verified].iter().enumerate() {
        match check(m, node) {
            Ok(env) => checked.push(env),
            Err(r) => {
                let id = m
                    .body
                    .get("message_id")
                    .and_then(|v| v.as_str())
                    .map(str::to_owned);
                refusal = Some((i, id, r));
                break;
            }
        }
    }
    // Sent while the batch before it was still in transit: its turn first.
    if let Some(first) = checked
        .first()
        .filter(|_| req.headers().contains_key(PIPELINED))
    {
        let not_in_turn =
            state
                .arrivals
                .why_not_in_turn(&state.db, first.seq, state.catch_up_limit);
        if let Some(detail) = not_in_turn.await? {
            return Ok((
                Problem::of(ProblemCode::SequenceAhead, detail).response(),
                false,
            ));
        }
    }
    // Causality: a message whose sender had already received messages of
    // ours that we still wait to hear about is not refused for arriving
    // early. We first settle our own messages from the sender's receipts
    // (fetched from it), then apply it.
    if let Some(ack) = checked.iter().filter_map(|e| e.ack).max() {
        if let Some(outcome) = settle_up_to(state, ack).await? {
            return Ok((outcome, false));
        }
    }
    let seqs: Vec<i64> = checked.iter().map(|e| e.seq).collect();
    let app = crate::app::service::App::new(state.db.clone(), state.ctx.clone());
    let (receipts, db_refusal) = app.receive_batch(messages, checked, fp, pem, fence).await?;
    if let Some(last) = receipts.len().checked_sub(1).and_then(|i| seqs.get(i)) {
        state.arrivals.taken_in(*last);
    }
    let db_refusal = db_refusal.map(|(i, id, code, detail)| (i, id, refuse(code, detail)));
    let refusal = db_refusal.or(refusal);
    if let Some((i, id, r)) = &refusal {
        tracing::warn!(
            index = i,
            message = id.as_deref().unwrap_or("-"),
            code = r.code.as_str(),
            "peer message refused"
        );
        let mut e = Entry::new(
            kinds::MESSAGE_REFUSED,
            format!("peer:{}", node.counterpart()),
            "POST /peer/v1/messages",
        );
        e.message_id = id.clone().filter(|m| uuid::Uuid::parse_str(m).is_ok());
        e.outcome = "refused".into();
        e.code = Some(r.code.as_str().to_owned());
        state
            .db
            .write(move |c| audit_store::record(c, e).map(|_| ()))
            .await?;
    }
    let whole = refusal.is_none();
    match refusal {
        Some((0, _, r)) => Ok((Problem::of(r.code, r.detail).response(), false)),
        other => {
            let answer = BatchResponse {
                receipts,
                compact_receipts: Vec::new(),
                receipts_signature: None,
                refusal: other.map(|(index, message_id, r)| Refusal {
                    index,
                    message_id,
                    problem: ProblemBody {
                        status: r.code.status(),
                        code: r.code.as_str().to_owned(),
                        detail: r.detail,
                    },
                }),
            };
            // Signed here, off the writer, once for the whole answer.
            let answer = answer
                .signed(&state.ctx.receipt_key, ReceiptForm::of(req))
                .map_err(|e| PeerError::Internal(format!("signing the receipts: {e}")))?;
            Ok((HttpResponse::Ok().json(answer), whole))
        }
    }
}

/// Which receipts to return.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiptRange {
    pub from: i64,
    pub to: i64,
    /// Most bytes of receipts in the answer (at least one receipt is returned).
    pub max_bytes: Option<usize>,
}

/// The signed receipts this node gave for the peer's messages `from..=to`,
/// in order: the peer fetches them when it learns (from one of this node's
/// messages) that its messages arrived although it never got their answer.
#[get("/peer/v1/receipts")]
pub async fn receipts_given(
    state: web::Data<PeerState>,
    req: HttpRequest,
    range: web::Query<ReceiptRange>,
) -> Result<HttpResponse, PeerError> {
    let ReceiptRange {
        from,
        to,
        max_bytes,
    } = range.into_inner();
    if from < 1 || to < from {
        return Err(PeerError::Refused(
            ProblemCode::InvalidRange,
            "1 ≤ from ≤ to".into(),
        ));
    }
    let max = max_bytes
        .unwrap_or(1024 * 1024)
        .clamp(1024, 4 * 1024 * 1024);
    let mut page = state
        .db
        .read(move |c| store::receipts_between(c, from, to, max))
        .await?;
    batch_signature::sign_pending(
        &mut page,
        &state.ctx.receipt_key,
        ReceiptForm::of(&req).batch,
    )
    .map_err(|e| PeerError::Internal(format!("signing the receipts: {e}")))?;
    Ok(HttpResponse::Ok().json(page))
}

/// Which node answers (a trivial authenticated request).
#[get("/peer/v1/ping")]
pub async fn ping(state: web::Data<PeerState>) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "node": state.ctx.node }))
}

/// Registers the peer routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(receive).service(ping).service(receipts_given);
}
