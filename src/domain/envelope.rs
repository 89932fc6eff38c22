//! The one envelope of every node-to-node exchange, its canonical bytes and
//! its signature.
//!
//! Canonical bytes: the envelope as a JSON value serialised with object keys
//! sorted and no insignificant whitespace (the RFC 8785 rules for the value
//! types used here: objects, arrays, strings, integers, booleans, null). The
//! receiver recomputes them from the JSON it received, so formatting on the
//! wire does not matter. Signatures are ECDSA P-256 over SHA-256 (DER,
//! base64); a message's hash is the SHA-256 of its canonical bytes, and each
//! envelope carries the hash of the previous one in the same direction.

use base64::Engine;
use chrono::{DateTime, Utc};
use openssl::hash::MessageDigest;
use openssl::pkey::{HasPublic, PKey, PKeyRef, Private};
use openssl::sign::{Signer, Verifier};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::batch_signature::{self, BatchSignature};
use crate::domain::ids::{MessageId, NodeId, ReferralId};

/// SOP version this node follows and sends.
pub const SOP_VERSION: &str = "1.0";
/// SOP versions this node accepts.
pub const SUPPORTED_SOP_VERSIONS: &[&str] = &["1.0"];
/// `prev_hash` of the first message in a direction.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Lower-case hexadecimal.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// The envelope (what is signed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    /// UUIDv7 of the message.
    pub message_id: MessageId,
    /// One of [`crate::domain::message_type::MessageType`] (kept as text so
    /// that an unknown type is refused with its own code).
    pub message_type: String,
    /// The referral the message is about.
    pub referral_id: ReferralId,
    pub sender: NodeId,
    pub receiver: NodeId,
    /// Position in the sender→receiver direction, from 1, gapless.
    pub seq: i64,
    /// Hash of the previous message in this direction ([`GENESIS_HASH`] for the first).
    pub prev_hash: String,
    pub created_at: DateTime<Utc>,
    pub sop_version: String,
    pub payload: Value,
    /// The highest sequence number the sender had received from the receiver
    /// when it signed this message: what it had seen of the other direction.
    /// A receiver that is still waiting for the receipts of its own messages
    /// up to `ack` settles them before applying this message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ack: Option<i64>,
}

/// An envelope with its signature, as sent.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Signed {
    /// The signed object, kept as received so its canonical bytes can be recomputed.
    pub body: Value,
    /// Base64 DER ECDSA signature over the canonical bytes of `body`.
    pub signature: String,
}

#[derive(Debug, thiserror::Error)]
pub enum SignatureError {
    #[error("the signature is not valid base64")]
    Encoding,
    #[error("the signature does not verify")]
    Invalid,
    #[error("cryptographic failure: {0}")]
    Crypto(#[from] openssl::error::ErrorStack),
}

/// Canonical bytes of a JSON value (sorted keys, compact).
pub fn canonical(value: &Value) -> Vec<u8> {
    // serde_json's map is a BTreeMap (the `preserve_order` feature is off), so
    // keys serialise sorted; compact output has no insignificant whitespace.
    serde_json::to_vec(value).unwrap_or_default()
}

/// SHA-256 of the canonical bytes, lower-case hex.
pub fn digest(value: &Value) -> String {
    hex(&openssl::sha::sha256(&canonical(value)))
}

impl Signed {
    /// Signs `body` with `key`.
    pub fn sign(body: Value, key: &PKeyRef<Private>) -> Result<Signed, SignatureError> {
        crate::meter::scope(crate::meter::Part::Signatures, || {
            let mut signer = Signer::new(MessageDigest::sha256(), key)?;
            signer.update(&canonical(&body))?;
            let signature = base64::engine::general_purpose::STANDARD.encode(signer.sign_to_vec()?);
            Ok(Signed { body, signature })
        })
    }

    /// Verifies the signature with `key` (from the signer's certificate).
    pub fn verify<T: HasPublic>(&self, key: &PKeyRef<T>) -> Result<(), SignatureError> {
        crate::meter::scope(crate::meter::Part::Signatures, || self.verify_now(key))
    }

    fn verify_now<T: HasPublic>(&self, key: &PKeyRef<T>) -> Result<(), SignatureError> {
        if BatchSignature::is_batch(&self.signature) {
            let batch = BatchSignature::parse(&self.signature)?;
            let statement = batch.statement_for(&self.body)?;
            return batch_signature::verify_statement(&statement, &batch.signature, key);
        }
        let sig = base64::engine::general_purpose::STANDARD
            .decode(&self.signature)
            .map_err(|_| SignatureError::Encoding)?;
        let mut verifier = Verifier::new(MessageDigest::sha256(), key)?;
        verifier.update(&canonical(&self.body))?;
        // openssl reports a malformed DER signature as an error: both mean "does not verify".
        match verifier.verify(&sig) {
            Ok(true) => Ok(()),
            _ => Err(SignatureError::Invalid),
        }
    }

    /// An object whose signature is still to be made: what a node keeps of
    /// a receipt until it sends it, signed with the others of its batch.
    pub fn unsigned(body: Value) -> Signed {
        Signed {
            body,
            signature: String::new(),
        }
    }

    /// Whether the signature is still to be made (see [`Signed::unsigned`]).
    pub fn is_unsigned(&self) -> bool {
        self.signature.is_empty()
    }

    /// Hash of the signed body.
    pub fn hash(&self) -> String {
        digest(&self.body)
    }
}

/// Verifies every signature of `messages` with `key`. Plain signatures are
/// spread over the machine's cores for large batches; the objects of a
/// signed batch ([`batch_signature`]) each lead to their batch's statement
/// through their own path, and each distinct statement and signature is
/// checked once. Returns the position of the first object that does not
/// verify.
pub fn verify_all<T: HasPublic>(messages: &[Signed], key: &PKeyRef<T>) -> Result<(), usize> {
    let (batched, plain): (Vec<_>, Vec<_>) = messages
        .iter()
        .enumerate()
        .partition(|(_, m)| BatchSignature::is_batch(&m.signature));
    let bad_batched = crate::meter::scope(crate::meter::Part::Signatures, || {
        // (statement, signature) pairs already found good.
        let mut good: Vec<(String, Vec<u8>)> = Vec::new();
        batched.iter().map(|(i, _)| *i).find(|&i| {
            let m = &messages[i];
            let Ok(batch) = BatchSignature::parse(&m.signature) else {
                return true;
            };
            let Ok(statement) = batch.statement_for(&m.body) else {
                return true;
            };
            if good
                .iter()
                .any(|(s, sig)| *s == statement && *sig == batch.signature)
            {
                return false;
            }
            if batch_signature::verify_statement(&statement, &batch.signature, key).is_err() {
                return true;
            }
            good.push((statement, batch.signature));
            false
        })
    });
    let bad_plain = first_bad_plain(&plain, key);
    match (bad_batched, bad_plain) {
        (None, None) => Ok(()),
        (a, b) => Err(a.unwrap_or(usize::MAX).min(b.unwrap_or(usize::MAX))),
    }
}

/// The position of the first of `messages` (position, object) whose
/// signature does not verify, on all cores for large batches.
fn first_bad_plain<T: HasPublic>(messages: &[(usize, &Signed)], key: &PKeyRef<T>) -> Option<usize> {
    const PER_THREAD: usize = 16;
    // Asked once: the standard library reads the cgroup's CPU quota from
    // files at every call, which cost more than a batch's signature check.
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    let threads = if messages.len() < 2 * PER_THREAD {
        1
    } else {
        let cores =
            *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        cores.min(messages.len() / PER_THREAD).max(1)
    };
    let first_bad = |chunk: &[(usize, &Signed)]| {
        chunk
            .iter()
            .find(|(_, m)| m.verify(key).is_err())
            .map(|(i, _)| *i)
    };
    if threads == 1 {
        return first_bad(messages);
    }
    let size = messages.len().div_ceil(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = messages
            .chunks(size)
            .map(|chunk| s.spawn(move || first_bad(chunk)))
            .collect();
        handles
            .into_iter()
            .filter_map(|h| h.join().unwrap_or(Some(0)))
            .min()
    })
}

/// Public key of a DER certificate.
pub fn public_key_of(cert_der: &[u8]) -> Result<PKey<openssl::pkey::Public>, SignatureError> {
    Ok(openssl::x509::X509::from_der(cert_der)?.public_key()?)
}

/// SHA-256 fingerprint of a DER certificate, hex.
pub fn fingerprint(cert_der: &[u8]) -> String {
    hex(&openssl::sha::sha256(cert_der))
}

/// What a receiver says about a message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Receipt {
    pub message_id: MessageId,
    /// Hash of the message as received.
    pub message_hash: String,
    pub sender: NodeId,
    pub receiver: NodeId,
    pub seq: i64,
    /// `accepted` (applied) or `rejected` (kept in the chain, not applied).
    pub status: String,
    /// For a rejection: stable code.
    pub code: Option<String>,
    /// For a rejection: explanation.
    pub detail: Option<String>,
    /// Where the receiver logged the message: the index of its `message_received`
    /// entry in the receiver's audit log (provable by an inclusion proof).
    pub log_index: i64,
    pub received_at: DateTime<Utc>,
    /// The highest sequence number the receiver had received from the sender
    /// when it signed this receipt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ack: Option<i64>,
}

/// A receipt as it travels in the answer to a delivery when the sender asks
/// for it (`passerelle-receipts: compact`): without the fields that name the
/// message (`message_id`, `message_hash`, `sender`, `receiver`, `seq`),
/// which the sender holds already: the n-th compact receipt answers the n-th
/// message of the batch. The sender puts the receipt back together
/// ([`CompactReceipt::expand`]) and verifies the signature over the whole of
/// it, so a receipt for another message, or for other bytes, does not
/// verify. What is stored and proven later is the whole signed receipt; only
/// the bytes on the wire change (about 45 % fewer per receipt, gzip on).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompactReceipt {
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    pub log_index: i64,
    pub received_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ack: Option<i64>,
    /// The receiver's signature over the whole receipt; absent when the
    /// answer's receipts were signed as one batch (`receipts_signature` of
    /// the answer).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub signature: String,
}

/// The fields of a receipt that name the message it answers: what the
/// message's sender fills in to put a [`CompactReceipt`] back together.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceiptSubject {
    pub message_id: MessageId,
    pub message_hash: String,
    pub sender: NodeId,
    pub receiver: NodeId,
    pub seq: i64,
}

impl CompactReceipt {
    /// The compact form of a signed receipt, if putting it back together
    /// gives exactly the body that was signed (else it travels whole).
    pub fn of(signed: &Signed) -> Option<CompactReceipt> {
        Self::of_parts(&signed.body, &signed.signature)
    }

    /// The compact form of the receipt `body` with `signature` (empty: the
    /// receipt is signed with the others of its answer, as one batch).
    pub fn of_parts(body: &Value, signature: &str) -> Option<CompactReceipt> {
        let r: Receipt = serde_json::from_value(body.clone()).ok()?;
        let subject = ReceiptSubject {
            message_id: r.message_id,
            message_hash: r.message_hash,
            sender: r.sender,
            receiver: r.receiver,
            seq: r.seq,
        };
        let compact = CompactReceipt {
            status: r.status,
            code: r.code,
            detail: r.detail,
            log_index: r.log_index,
            received_at: r.received_at,
            ack: r.ack,
            signature: signature.to_owned(),
        };
        let again = compact.clone().expand(subject).ok()?;
        (again.body == *body).then_some(compact)
    }

    /// The whole signed receipt, for the message `subject` (its signature
    /// still to be verified).
    pub fn expand(self, subject: ReceiptSubject) -> Result<Signed, serde_json::Error> {
        let receipt = Receipt {
            message_id: subject.message_id,
            message_hash: subject.message_hash,
            sender: subject.sender,
            receiver: subject.receiver,
            seq: subject.seq,
            status: self.status,
            code: self.code,
            detail: self.detail,
            log_index: self.log_index,
            received_at: self.received_at,
            ack: self.ack,
        };
        Ok(Signed {
            body: serde_json::to_value(&receipt)?,
            signature: self.signature,
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::tls::pki;
    use serde_json::json;

    /// A fresh key and the public key of its certificate.
    pub(crate) fn signer(usage: pki::Usage) -> (PKey<openssl::pkey::Public>, PKey<Private>) {
        let ca = pki::new_authority("test", 1).unwrap();
        let (cert, key) = pki::issue(
            &ca,
            &pki::LeafSpec {
                common_name: "n",
                dns: vec!["n".into()],
                ips: vec![],
                usage,
                not_before_days: -1,
                not_after_days: 1,
            },
        )
        .unwrap();
        (public_key_of(&cert.to_der().unwrap()).unwrap(), key)
    }

    #[test]
    fn canonical_form_ignores_key_order_and_whitespace() {
        let a: Value = serde_json::from_str(r#"{ "b": 1, "a": {"y": [1, 2], "x": "é"} }"#).unwrap();
        let b: Value = serde_json::from_str(r#"{"a":{"x":"é","y":[1,2]},"b":1}"#).unwrap();
        assert_eq!(canonical(&a), canonical(&b));
        assert_eq!(
            canonical(&a),
            r#"{"a":{"x":"é","y":[1,2]},"b":1}"#.as_bytes()
        );
    }

    #[test]
    fn a_compact_receipt_expands_to_the_signed_one_and_only_for_its_message() {
        let (public, key) = signer(pki::Usage::Server);
        let subject = ReceiptSubject {
            message_id: MessageId::new(),
            message_hash: "ab".repeat(32),
            sender: NodeId::NeAnltp,
            receiver: NodeId::NgNaptip,
            seq: 7,
        };
        for (status, code) in [("accepted", None), ("rejected", Some("invalid_transition"))] {
            let receipt = Receipt {
                message_id: subject.message_id,
                message_hash: subject.message_hash.clone(),
                sender: subject.sender,
                receiver: subject.receiver,
                seq: subject.seq,
                status: status.into(),
                code: code.map(str::to_owned),
                detail: code.map(|_| "the case moved on".to_owned()),
                log_index: 41,
                received_at: Utc::now(),
                ack: Some(7),
            };
            let signed = Signed::sign(serde_json::to_value(&receipt).unwrap(), &key).unwrap();
            let compact = CompactReceipt::of(&signed).unwrap();
            let wire = serde_json::to_vec(&compact).unwrap();
            assert!(wire.len() < serde_json::to_vec(&signed).unwrap().len() * 2 / 3);
            let back: CompactReceipt = serde_json::from_slice(&wire).unwrap();
            let whole = back.clone().expand(subject.clone()).unwrap();
            assert_eq!(whole.body, signed.body);
            whole.verify(&public).unwrap();
            // Put together for another message (or other bytes), it does not verify.
            let mut other = subject.clone();
            other.seq = 8;
            assert!(back.clone().expand(other).unwrap().verify(&public).is_err());
            let mut other = subject.clone();
            other.message_hash = "cd".repeat(32);
            assert!(back.expand(other).unwrap().verify(&public).is_err());
        }
        // A body that would not come back the same travels whole.
        let mut odd = Signed::sign(json!({"message_id": "x"}), &key).unwrap();
        assert!(CompactReceipt::of(&odd).is_none());
        odd.body = json!({});
        assert!(CompactReceipt::of(&odd).is_none());
    }

    #[test]
    fn signatures_verify_and_tampering_is_detected() {
        let (public, key) = signer(pki::Usage::Client);
        let signed = Signed::sign(json!({"seq": 1, "payload": {"x": "y"}}), &key).unwrap();
        signed.verify(&public).unwrap();
        let mut tampered = signed.clone();
        tampered.body["seq"] = json!(2);
        assert!(matches!(
            tampered.verify(&public),
            Err(SignatureError::Invalid)
        ));
        let mut garbage = signed.clone();
        garbage.signature = "AAAA".into();
        assert!(matches!(
            garbage.verify(&public),
            Err(SignatureError::Invalid)
        ));
        garbage.signature = "%%%".into();
        assert!(matches!(
            garbage.verify(&public),
            Err(SignatureError::Encoding)
        ));
        // Another key does not verify it.
        let (other, _) = signer(pki::Usage::Client);
        assert!(signed.verify(&other).is_err());
    }
}
