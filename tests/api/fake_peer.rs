//! A fake other node: it signs real envelopes with the other node's
//! development key and posts them over real mTLS (its development client
//! certificate) to a node's peer listener, keeping its own chain of sequence
//! numbers and hashes. Tests use it where the other side's actions matter
//! but a second real node would only add noise; nothing here calls into the
//! node under test.

use openssl::pkey::{PKey, Private};
use passerelle::domain::envelope::{Envelope, Signed, GENESIS_HASH, SOP_VERSION};
use passerelle::domain::ids::{CaseId, CaseReference, NodeId, ReferralId};
use passerelle::domain::lifecycle::{Action, State};
use passerelle::domain::message_type::MessageType;
use passerelle::domain::roles::Role;
use serde_json::{json, Value};

use crate::helpers::{certs_dir, TestNode};

/// This node's copy of a case the fake peer acted on (read through the API).
#[derive(Debug, Clone)]
pub struct PeerCase {
    pub id: CaseId,
    pub referral_id: ReferralId,
    pub state: State,
}

pub struct FakePeer {
    /// The node it pretends to be (the counterpart of the node under test).
    pub node: NodeId,
    port: u16,
    client: reqwest::Client,
    key: PKey<Private>,
    /// Sequence number and hash of the last message it sent.
    chain: tokio::sync::Mutex<(i64, String)>,
}

impl FakePeer {
    /// The other node of `target`, as far as `target`'s peer listener can
    /// tell: its certificate, its key, its chain.
    pub fn of(target: &TestNode) -> FakePeer {
        let node = target.node.counterpart();
        let files = passerelle::tls::pki::node_files(&certs_dir(), node);
        let cert =
            openssl::x509::X509::from_pem(&std::fs::read(&files.client_cert).unwrap()).unwrap();
        let key = passerelle::tls::load_key(&files.client_key).unwrap();
        let client = crate::exchange::peer_client(target, Some((&cert, &key)));
        FakePeer {
            node,
            port: target.ports.peer,
            client,
            key,
            chain: tokio::sync::Mutex::new((0, GENESIS_HASH.to_owned())),
        }
    }

    /// Signs and posts one message; on a 200 answer, the message is in the
    /// receiver's chain (accepted or rejected: the receipt says which).
    /// Returns the status and the answer's body.
    pub async fn send(
        &self,
        message_type: MessageType,
        referral_id: ReferralId,
        payload: Value,
    ) -> (reqwest::StatusCode, Value) {
        let mut chain = self.chain.lock().await;
        let env = self.envelope(
            chain.0 + 1,
            &chain.1,
            message_type.as_str(),
            referral_id,
            payload,
        );
        let signed = self.sign(&env);
        let res = self.post_batch(std::slice::from_ref(&signed)).await;
        let status = res.status();
        let body: Value = res.json().await.unwrap();
        if status.is_success() && body["refusal"].is_null() {
            *chain = (env.seq, signed.hash());
        }
        (status, body)
    }

    /// An envelope from this peer at the given place in its chain, not yet
    /// signed: tests that break the chain, the type or the version on purpose
    /// build it here, change it, then sign and post it.
    pub fn envelope(
        &self,
        seq: i64,
        prev_hash: &str,
        message_type: &str,
        referral_id: ReferralId,
        payload: Value,
    ) -> Envelope {
        Envelope {
            message_id: passerelle::domain::ids::MessageId::new(),
            message_type: message_type.into(),
            referral_id,
            sender: self.node,
            receiver: self.node.counterpart(),
            seq,
            prev_hash: prev_hash.into(),
            created_at: chrono::Utc::now(),
            sop_version: SOP_VERSION.into(),
            payload,
            ack: Some(0),
        }
    }

    /// A referral request for a new referral (the ready data set, no
    /// identity) at this place in the chain, under `message_type`.
    pub fn referral_envelope(&self, seq: i64, prev_hash: &str, message_type: &str) -> Envelope {
        self.envelope(
            seq,
            prev_hash,
            message_type,
            ReferralId::new(),
            self.referral_payload(crate::helpers::ready_details(), None),
        )
    }

    /// Signs an envelope with this peer's development key, as the node it
    /// pretends to be signs its messages.
    pub fn sign(&self, env: &Envelope) -> Signed {
        sign(env, &self.key)
    }

    /// Signs any body with this peer's development key (the key the node it
    /// pretends to be signs its messages, checkpoints and bundles with).
    pub fn sign_body(&self, body: Value) -> Signed {
        Signed::sign(body, &self.key).unwrap()
    }

    /// Posts a batch of signed messages as they are, over this peer's mTLS
    /// connection; its own chain does not move (see [`FakePeer::send`]).
    pub async fn post_batch(&self, messages: &[Signed]) -> reqwest::Response {
        self.post("/peer/v1/messages", &json!({ "messages": messages }))
            .await
    }

    /// Posts a batch asking for its receipts in compact form
    /// (`passerelle-receipts: compact`), as the node's dispatcher does.
    pub async fn post_batch_compact(&self, messages: &[Signed]) -> reqwest::Response {
        self.post_batch_with(
            self.port,
            messages,
            Some((passerelle::peer::server::RECEIPTS, "compact".into())),
        )
        .await
    }

    /// Posts envelopes signed as one batch (`envelopes` and their one
    /// `signature`), asking for compact receipts signed as one batch, as
    /// the node's dispatcher does once it knows the receiver takes them.
    pub async fn post_batch_signed_as_one(
        &self,
        envelopes: &[Value],
        signature: &str,
    ) -> reqwest::Response {
        self.client
            .post(format!("https://127.0.0.1:{}/peer/v1/messages", self.port))
            .header(passerelle::peer::server::RECEIPTS, "compact")
            .header(passerelle::peer::server::SIGNATURES, "batch")
            .json(&json!({ "envelopes": envelopes, "signature": signature }))
            .send()
            .await
            .unwrap()
    }

    /// This peer's signing key.
    pub fn key(&self) -> &PKey<Private> {
        &self.key
    }

    /// Posts a batch marked as sent while the one before it may still be in
    /// transit (`passerelle-pipelined`): the node takes it in its turn.
    pub async fn post_pipelined(&self, messages: &[Signed]) -> reqwest::Response {
        self.post_batch_with(
            self.port,
            messages,
            Some((passerelle::peer::arrivals::PIPELINED, "1".into())),
        )
        .await
    }

    /// Posts a batch to the peer listener on `port` (another replica of
    /// the node under test), as it is.
    pub async fn post_batch_to(&self, port: u16, messages: &[Signed]) -> reqwest::Response {
        self.post_batch_with(port, messages, None).await
    }

    /// Posts a batch as a dispatcher working under the lease term `fence`
    /// sends it (`passerelle-fence`).
    pub async fn post_fenced(&self, messages: &[Signed], fence: i64) -> reqwest::Response {
        self.post_batch_with(
            self.port,
            messages,
            Some((passerelle::peer::arrivals::FENCE, fence.to_string())),
        )
        .await
    }

    /// Posts a batch to the peer listener on `port`, with one request
    /// header when given.
    async fn post_batch_with(
        &self,
        port: u16,
        messages: &[Signed],
        header: Option<(&str, String)>,
    ) -> reqwest::Response {
        let mut req = self
            .client
            .post(format!("https://127.0.0.1:{port}/peer/v1/messages"));
        if let Some((name, value)) = header {
            req = req.header(name, value);
        }
        req.json(&json!({ "messages": messages }))
            .send()
            .await
            .unwrap()
    }

    /// Posts a JSON body to a path of the node's peer listener, over this
    /// peer's mTLS connection.
    pub async fn post(&self, path: &str, body: &Value) -> reqwest::Response {
        self.post_to(self.port, path, body).await
    }

    /// Reads a path of the node's peer listener, expecting 200.
    pub async fn get(&self, path: &str) -> Value {
        let res = self
            .client
            .get(format!("https://127.0.0.1:{}{path}", self.port))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), reqwest::StatusCode::OK, "{path}");
        res.json().await.unwrap()
    }

    /// The same to the peer listener on `port` (another replica of the node).
    pub async fn post_to(&self, port: u16, path: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(format!("https://127.0.0.1:{port}{path}"))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// The payload of a referral request as the sending node builds it: the
    /// data set parsed, and what the consent does not cover kept home.
    pub fn referral_payload(&self, details: Value, identity: Option<Value>) -> Value {
        let mut random = [0u8; 6];
        random.copy_from_slice(&uuid::Uuid::new_v4().as_bytes()[..6]);
        let reference = CaseReference::generate(self.node, 2026, random);
        let details: passerelle::domain::case::CaseDetailsInput =
            serde_json::from_value(details).unwrap();
        let identity = identity.and_then(|i| {
            serde_json::from_value::<passerelle::domain::case::IdentityInput>(i)
                .unwrap()
                .parse("")
                .unwrap()
        });
        let mut payload = json!({
            "reference": reference.to_string(),
            "details": details.parse("").unwrap(),
            "identity": identity,
        });
        passerelle::domain::disclosure::strip(&mut payload).unwrap();
        payload
    }

    /// Sends a message that must be taken and applied.
    pub async fn send_accepted(
        &self,
        message_type: MessageType,
        referral_id: ReferralId,
        payload: Value,
    ) {
        let (status, body) = self.send(message_type, referral_id, payload).await;
        assert!(status.is_success(), "{message_type}: {status} {body}");
        let receipt = &body["receipts"][0]["body"];
        assert_eq!(receipt["status"], "accepted", "{message_type}: {body}");
    }

    /// Refers a person to the node (a referral request with this data set
    /// and identity); returns the node's copy, read through its API.
    pub async fn refer(
        &self,
        target: &TestNode,
        details: Value,
        identity: Option<Value>,
    ) -> PeerCase {
        let referral_id = ReferralId::new();
        let payload = self.referral_payload(details, identity);
        self.send_accepted(MessageType::ReferralRequest, referral_id, payload)
            .await;
        case_of(target, referral_id).await
    }

    /// The other side's user took `action` on the referral, with these
    /// parameters (`reason_code`, `outcome`: an object, or null for none).
    pub async fn act(
        &self,
        target: &TestNode,
        referral_id: ReferralId,
        action: Action,
        parameters: Value,
    ) -> PeerCase {
        // This node's side of the referral decides how a confirmation travels.
        let case = case_of(target, referral_id).await;
        let (_, v, _) = target.read(Role::Supervisor, &case.id.to_string()).await;
        let peer_is_receiving = v["direction"] == "outgoing";
        self.send_accepted(
            MessageType::for_step(action, peer_is_receiving),
            referral_id,
            {
                let mut payload = json!({ "action": action });
                if let Value::Object(p) = parameters {
                    payload.as_object_mut().unwrap().extend(p);
                }
                payload
            },
        )
        .await;
        case_of(target, referral_id).await
    }

    /// The other side accepts the handover plan of `round`.
    pub async fn accept_handover(
        &self,
        target: &TestNode,
        referral_id: ReferralId,
        round: i64,
    ) -> PeerCase {
        self.send_accepted(
            MessageType::HandoverAcceptance,
            referral_id,
            json!({ "round": round }),
        )
        .await;
        case_of(target, referral_id).await
    }
}

/// The node's copy of a referral, found by its shared id through the API.
pub async fn case_of(target: &TestNode, referral_id: ReferralId) -> PeerCase {
    crate::exchange::copy_of(target, referral_id)
        .await
        .expect("the node has a copy of the referral")
}

/// Signs an envelope with `key` (the fake peer's own, or a wrong one).
pub fn sign(env: &Envelope, key: &PKey<Private>) -> Signed {
    Signed::sign(serde_json::to_value(env).unwrap(), key).unwrap()
}
