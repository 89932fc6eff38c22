//! Signed checkpoints and witness cosignatures for the transparency log.
//!
//! The formats are those of C2SP [signed-note], [tlog-checkpoint] and
//! [tlog-cosignature], adapted to ECDSA P-256 keys. This documentation gives
//! every byte an independent auditor needs to re-implement verification.
//!
//! [signed-note]: https://c2sp.org/signed-note
//! [tlog-checkpoint]: https://c2sp.org/tlog-checkpoint
//! [tlog-cosignature]: https://c2sp.org/tlog-cosignature
//!
//! # Notation
//!
//! `||` is concatenation. `"..."` is the UTF-8 (here always ASCII) bytes of
//! the string; `\n` is the byte `0x0A`. `base64` is the standard alphabet of
//! RFC 4648 section 4, *with* `=` padding and canonical trailing bits.
//! `SHA-256(x)[:4]` is the first four bytes of the digest. A *decimal* is
//! ASCII digits with no sign and no leading zero (except the number zero,
//! written `0`). `SPKI(key)` is the DER encoding of the X.509
//! SubjectPublicKeyInfo of a P-256 public key, with the named-curve parameter
//! (`prime256v1`) and the point in uncompressed form; this is 91 bytes and is
//! what Go's `x509.MarshalPKIXPublicKey` or `openssl pkey -pubout -outform
//! DER` produce.
//!
//! # Signed note
//!
//! A note is
//!
//! ```text
//! note      = text || "\n" || sigline || sigline* ...
//! sigline   = "— " || name || " " || base64(key_id || sig) || "\n"
//! ```
//!
//! where `"— "` is U+2014 EM DASH then a space, i.e. bytes `E2 80 94 20`.
//! `text` (called the *body* here) ends with `\n`; the signatures are over
//! `text` exactly, including its final newline and excluding the blank line.
//! `key_id` is 4 bytes; `sig` is the algorithm-specific signature (at least one
//! byte). Parsing ([`Note::parse`]) is strict: the note must be UTF-8 with no
//! control characters below U+0020 other than `\n`, end in `\n`, and is split at
//! its *last* `"\n\n"` (as Go's `golang.org/x/mod/sumdb/note` does); there must
//! be between 1 and [`MAX_SIGNATURES`] signature lines; names must be non-empty
//! and contain no whitespace and no `+`; the base64 must be canonical.
//!
//! The recommended key ID of signed-note is
//!
//! ```text
//! key_id = SHA-256(name || "\n" || type_byte || public_key)[:4]      (see key_id())
//! ```
//!
//! A verifier only considers signature lines whose name *and* key ID both
//! equal those of a key it was configured with, ignores all other lines, and
//! rejects the note if such a line fails to verify.
//!
//! # Checkpoint body
//!
//! Per tlog-checkpoint, with exactly one extension line carrying the time:
//!
//! ```text
//! <origin>\n
//! <tree size, decimal>\n
//! <base64 of the 32-byte RFC 6962 root hash>\n
//! time <unix seconds, decimal>\n
//! ```
//!
//! The origin is non-empty, not whitespace-only, and has no control
//! character. The `time` line is this crate's extension line (tlog-checkpoint
//! allows opaque extension lines after the root hash); it is the time the log
//! produced the tree head, in whole seconds since 1970-01-01T00:00:00Z, at most
//! `2^63 - 1`. [`Checkpoint::parse_body`] accepts exactly these four lines, no
//! more and no fewer.
//!
//! # Log signature on a checkpoint: signature type `0x02`
//!
//! C2SP signed-note assigns type byte `0x02` to "ECDSA signatures as
//! implemented by github.com/transparency-dev/witness" (curve P-256
//! recommended), and states that for this type *the key ID is the truncated
//! SHA-256 of the DER encoded public key in SPKI format*, i.e. it does not hash
//! the name or the type byte:
//!
//! ```text
//! key_id = SHA-256(SPKI(log key))[:4]                            (see ecdsa_key_id())
//! sig    = ECDSA-P256-SHA256(log key, body), ASN.1 DER Ecdsa-Sig-Value { r, s }
//! ```
//!
//! This is byte-for-byte the format verified by
//! `github.com/transparency-dev/formats/note.NewECDSAVerifier` (and used by
//! Sigstore's Rekor): a Go verifier accepts our checkpoints given the verifier
//! key string `<name>+<8 hex digits of key_id>+base64(0x02 || SPKI)`.
//!
//! # Witness cosignature: signature type `0xff` with an identifier
//!
//! tlog-cosignature (`cosignature/v1`) assigns only `0x04` (Ed25519) and `0x06`
//! (ML-DSA-44, with a different, binary signed message); no type byte exists for
//! ECDSA cosignatures. Reusing `0x02` would be wrong (its signed message is the
//! bare note text, not the cosignature message), and reusing `0x04` would claim
//! Ed25519. signed-note reserves `0xff` "for signature types without an
//! identifier byte assigned by this specification" and recommends following it
//! with a longer identifier, so cosignatures here use
//!
//! ```text
//! key_id = SHA-256(witness || "\n" || 0xff || "ecdsa-p256-sha256-cosignature/v1\n" || SPKI(witness key))[:4]
//!        = key_id(witness, 0xff, COSIGNATURE_ALGORITHM_ID || SPKI)   (see cosignature_key_id())
//! ```
//!
//! The signed message and signature layout are exactly those of the Ed25519
//! `cosignature/v1`, with ECDSA in place of Ed25519:
//!
//! ```text
//! message = "cosignature/v1\n" || "time " || decimal(t) || "\n" || body
//! sig     = t as 8-byte big-endian unsigned integer || ECDSA-P256-SHA256(witness key, message) (DER)
//! ```
//!
//! where `t` is the cosigning time in unix seconds (at most `2^63 - 1`) and
//! `body` is the whole checkpoint body above (including its `time` line). The
//! `"cosignature/v1\n"` header separates cosignatures from log signatures even
//! under the same key: a checkpoint body's second line is a decimal, never
//! `time ...`.
//!
//! # Verifying, step by step
//!
//! 1. Split the note at its last `"\n\n"`; body = everything up to and
//!    including the first of those two newlines.
//! 2. Compute the expected key ID from the configured name and key (formulas
//!    above); keep the signature lines with that exact name and key ID.
//! 3. Base64-decode; the first 4 bytes are the key ID, the rest is `sig`.
//! 4. Log signature: ECDSA-P256-SHA256-verify the DER signature over `body`.
//!    Cosignature: split off the 8-byte timestamp, rebuild `message`, verify.
//! 5. Only then parse the body as a checkpoint.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use openssl::hash::MessageDigest;
use openssl::pkey::{HasPublic, PKeyRef, Private};
use openssl::sign::{Signer, Verifier};

mod key_ids;
mod signed_note;

pub use key_ids::{cosignature_key_id, ecdsa_key_id, key_id, p256_spki_der};
use signed_note::{check_key_name, decode_base64};
pub use signed_note::{Note, NoteSignature};

/// A 32-byte SHA-256 Merkle tree hash.
pub type Hash = [u8; 32];

/// Signature type byte for log signatures on checkpoints: ECDSA (signed-note
/// assigns `0x02` to ECDSA as implemented by transparency-dev/witness).
pub const SIG_TYPE_ECDSA: u8 = 0x02;

/// Signature type byte used in the key ID of ECDSA cosignatures: signed-note's
/// `0xff`, reserved for types without an assigned byte, followed by
/// [`COSIGNATURE_ALGORITHM_ID`].
pub const SIG_TYPE_UNASSIGNED: u8 = 0xff;

/// Identifier hashed after [`SIG_TYPE_UNASSIGNED`] in the key ID of ECDSA
/// cosignatures, before the SPKI DER of the witness key.
pub const COSIGNATURE_ALGORITHM_ID: &[u8] = b"ecdsa-p256-sha256-cosignature/v1\n";

/// First line of the message signed by a cosignature (tlog-cosignature v1).
pub const COSIGNATURE_HEADER: &str = "cosignature/v1\n";

/// Maximum number of signature lines accepted in a note (Go's limit; the
/// specification requires accepting at least 16).
pub const MAX_SIGNATURES: usize = 100;

/// Errors from parsing, signing and verifying notes.
#[derive(Debug, thiserror::Error)]
pub enum NoteError {
    /// The input (note, checkpoint body, signature line, name, time) does not
    /// follow the format.
    #[error("malformed note or checkpoint: {0}")]
    Malformed(String),
    /// No signature line has the expected signer name and key ID.
    #[error("no signature from the expected key: {0}")]
    UnknownSigner(String),
    /// A signature line from the expected key does not verify.
    #[error("signature verification failed: {0}")]
    BadSignature(String),
    /// The key is not an ECDSA key on curve P-256.
    #[error("unsupported key: {0}")]
    UnsupportedKey(String),
    /// An OpenSSL operation failed.
    #[error("openssl error: {0}")]
    Crypto(#[from] openssl::error::ErrorStack),
}

fn malformed(msg: impl Into<String>) -> NoteError {
    NoteError::Malformed(msg.into())
}

/// A tree head: origin (e.g. "passerelle/ne-anltp"), size, root, time (whole
/// seconds, UTC).
///
/// `time` must be whole seconds, not before 1970: [`sign_checkpoint`] and
/// [`cosign`] reject other values, so that verifying a signed checkpoint gives
/// back an equal value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's origin line, identifying the log.
    pub origin: String,
    /// Number of leaves in the tree.
    pub size: u64,
    /// RFC 6962 Merkle tree root hash at `size`.
    pub root: Hash,
    /// Time the log produced this tree head (whole seconds, UTC).
    pub time: DateTime<Utc>,
}

impl Checkpoint {
    /// The checkpoint body text (what is signed): origin, size, base64 root
    /// and `time <unix seconds>` lines, each ending in `\n`.
    ///
    /// Sub-second precision is dropped; [`sign_checkpoint`] refuses
    /// checkpoints for which this body would not parse back to `self`.
    pub fn body(&self) -> String {
        format!(
            "{}\n{}\n{}\ntime {}\n",
            self.origin,
            self.size,
            BASE64.encode(self.root),
            self.time.timestamp()
        )
    }

    /// Parses a body; strict (exact line structure, decimal without leading
    /// zeros except "0", 32-byte root, origin non-empty without newline and not
    /// space-only).
    pub fn parse_body(body: &str) -> Result<Checkpoint, NoteError> {
        let inner = body
            .strip_suffix('\n')
            .ok_or_else(|| malformed("checkpoint body does not end with a newline"))?;
        let lines: Vec<&str> = inner.split('\n').collect();
        if lines.len() != 4 {
            return Err(malformed(format!(
                "checkpoint body has {} lines, expected 4 (origin, size, root, time)",
                lines.len()
            )));
        }
        let origin = lines[0];
        check_origin(origin)?;
        let size = parse_decimal(lines[1]).map_err(|e| malformed(format!("tree size: {e}")))?;
        let root_bytes =
            decode_base64(lines[2]).map_err(|e| malformed(format!("root hash: {e}")))?;
        let root: Hash = root_bytes.as_slice().try_into().map_err(|_| {
            malformed(format!(
                "root hash is {} bytes, expected 32",
                root_bytes.len()
            ))
        })?;
        let secs = lines[3]
            .strip_prefix("time ")
            .ok_or_else(|| malformed("fourth line is not `time <unix seconds>`"))?;
        let secs = parse_decimal(secs).map_err(|e| malformed(format!("time: {e}")))?;
        let time = unix_to_datetime(secs)?;
        Ok(Checkpoint {
            origin: origin.to_owned(),
            size,
            root,
            time,
        })
    }
}

/// Signs a checkpoint as `name` with an EC P-256 private key: returns the full
/// note text with one signature line (type `0x02`, key ID
/// [`ecdsa_key_id`]).
///
/// Errors if the name is not a valid key name, the key is not P-256, or the
/// checkpoint cannot be represented exactly (invalid origin, time with
/// sub-second part or before 1970).
pub fn sign_checkpoint(
    cp: &Checkpoint,
    name: &str,
    key: &PKeyRef<Private>,
) -> Result<String, NoteError> {
    check_key_name(name)?;
    let body = checked_body(cp)?;
    let spki = p256_spki_der(key)?;
    let signature = ecdsa_sign(key, body.as_bytes())?;
    let note = Note {
        body,
        signatures: vec![NoteSignature {
            name: name.to_owned(),
            key_id: ecdsa_key_id(&spki),
            signature,
        }],
    };
    Ok(note.to_text())
}

/// Parses a signed checkpoint note and verifies the signature by `name` with
/// `key` (public); returns the checkpoint. Error if no signature by that
/// name/key id, or it does not verify.
///
/// Signature lines from other names or key IDs (e.g. cosignatures) are
/// ignored. If several lines carry this name and key ID, all must verify. The
/// origin is not required to equal `name`; check it if your policy requires.
pub fn verify_checkpoint<T: HasPublic>(
    note: &str,
    name: &str,
    key: &PKeyRef<T>,
) -> Result<Checkpoint, NoteError> {
    let note = Note::parse(note)?;
    let kid = ecdsa_key_id(&p256_spki_der(key)?);
    let mut found = false;
    for sig in note
        .signatures
        .iter()
        .filter(|s| s.name == name && s.key_id == kid)
    {
        found = true;
        if !ecdsa_verify(key, note.body.as_bytes(), &sig.signature)? {
            return Err(NoteError::BadSignature(format!(
                "checkpoint signature by {name} (key ID {}) does not verify",
                hex(&kid)
            )));
        }
    }
    if !found {
        return Err(NoteError::UnknownSigner(format!(
            "no signature by {name} with key ID {}",
            hex(&kid)
        )));
    }
    Checkpoint::parse_body(&note.body)
}

/// A witness's cosignature on a checkpoint body, as a signature line
/// (NoteSignature) with the timestamp inside.
///
/// `time` is truncated to whole seconds and must not be before 1970. The
/// signature bytes are `8-byte big-endian time || DER ECDSA signature` over
/// `"cosignature/v1\ntime <time>\n" || cp.body()`; the key ID is
/// [`cosignature_key_id`].
pub fn cosign(
    cp: &Checkpoint,
    witness: &str,
    time: DateTime<Utc>,
    key: &PKeyRef<Private>,
) -> Result<NoteSignature, NoteError> {
    check_key_name(witness)?;
    let body = checked_body(cp)?;
    let secs = u64::try_from(time.timestamp())
        .map_err(|_| malformed("cosignature time is before 1970"))?;
    let spki = p256_spki_der(key)?;
    let ecdsa = ecdsa_sign(key, cosignature_message(secs, &body).as_bytes())?;
    let mut signature = Vec::with_capacity(8 + ecdsa.len());
    signature.extend_from_slice(&secs.to_be_bytes());
    signature.extend_from_slice(&ecdsa);
    Ok(NoteSignature {
        name: witness.to_owned(),
        key_id: cosignature_key_id(witness, &spki),
        signature,
    })
}

/// Verifies a cosignature line on `cp` by `witness`; returns the cosignature
/// time.
///
/// Errors with [`NoteError::UnknownSigner`] if the line's name or key ID is not
/// that of (`witness`, `key`). Future timestamps are not rejected; compare the
/// returned time with your clock if your policy requires.
pub fn verify_cosignature<T: HasPublic>(
    cp: &Checkpoint,
    sig: &NoteSignature,
    witness: &str,
    key: &PKeyRef<T>,
) -> Result<DateTime<Utc>, NoteError> {
    let body = checked_body(cp)?;
    let kid = cosignature_key_id(witness, &p256_spki_der(key)?);
    if sig.name != witness || sig.key_id != kid {
        return Err(NoteError::UnknownSigner(format!(
            "signature line is by {} with key ID {}, expected cosignature by {witness} with key ID {}",
            sig.name,
            hex(&sig.key_id),
            hex(&kid)
        )));
    }
    if sig.signature.len() <= 8 {
        return Err(malformed(format!(
            "cosignature by {witness} is {} bytes, expected an 8-byte timestamp and a signature",
            sig.signature.len()
        )));
    }
    let (ts, ecdsa) = sig.signature.split_at(8);
    let mut ts_bytes = [0u8; 8];
    ts_bytes.copy_from_slice(ts);
    let secs = u64::from_be_bytes(ts_bytes);
    let time = unix_to_datetime(secs)?;
    if !ecdsa_verify(key, cosignature_message(secs, &body).as_bytes(), ecdsa)? {
        return Err(NoteError::BadSignature(format!(
            "cosignature by {witness} (key ID {}) does not verify",
            hex(&kid)
        )));
    }
    Ok(time)
}

/// Adds a signature line to a note text (e.g. a cosignature), returning the new
/// note text.
///
/// The note must parse; the new line must have a valid name and a non-empty
/// signature, and no existing line may have the same name and key ID. The
/// signature itself is not verified.
pub fn add_signature(note: &str, sig: &NoteSignature) -> Result<String, NoteError> {
    let mut parsed = Note::parse(note)?;
    sig.check()?;
    if parsed
        .signatures
        .iter()
        .any(|s| s.name == sig.name && s.key_id == sig.key_id)
    {
        return Err(malformed(format!(
            "note already has a signature by {} with key ID {}",
            sig.name,
            hex(&sig.key_id)
        )));
    }
    if parsed.signatures.len() >= MAX_SIGNATURES {
        return Err(malformed(format!(
            "note already has {MAX_SIGNATURES} signatures"
        )));
    }
    parsed.signatures.push(sig.clone());
    Ok(parsed.to_text())
}

// ---------------------------------------------------------------------------
// Private helpers
// ---------------------------------------------------------------------------

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn check_origin(origin: &str) -> Result<(), NoteError> {
    if origin.trim().is_empty() {
        return Err(malformed("origin is empty or only whitespace"));
    }
    if origin.chars().any(char::is_control) {
        return Err(malformed(format!(
            "origin {origin:?} contains a control character"
        )));
    }
    Ok(())
}

/// Unsigned decimal: ASCII digits only, no leading zero except "0", fits u64.
fn parse_decimal(s: &str) -> Result<u64, String> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{s:?} is not an unsigned decimal number"));
    }
    if s.len() > 1 && s.starts_with('0') {
        return Err(format!("{s:?} has a leading zero"));
    }
    s.parse::<u64>()
        .map_err(|_| format!("{s:?} does not fit in 64 bits"))
}

fn unix_to_datetime(secs: u64) -> Result<DateTime<Utc>, NoteError> {
    i64::try_from(secs)
        .ok()
        .and_then(|s| DateTime::from_timestamp(s, 0))
        .ok_or_else(|| malformed(format!("time {secs} is out of range")))
}

/// The body of `cp`, after checking that it parses back to exactly `cp`.
fn checked_body(cp: &Checkpoint) -> Result<String, NoteError> {
    if cp.time.timestamp() < 0 {
        return Err(malformed("checkpoint time is before 1970"));
    }
    if cp.time.timestamp_subsec_nanos() != 0 {
        return Err(malformed(
            "checkpoint time has a sub-second part; use whole seconds",
        ));
    }
    let body = cp.body();
    if Checkpoint::parse_body(&body)? != *cp {
        return Err(malformed("checkpoint does not round-trip through its body"));
    }
    Ok(body)
}

fn cosignature_message(secs: u64, body: &str) -> String {
    format!("{COSIGNATURE_HEADER}time {secs}\n{body}")
}

fn ecdsa_sign(key: &PKeyRef<Private>, msg: &[u8]) -> Result<Vec<u8>, NoteError> {
    let mut signer = Signer::new(MessageDigest::sha256(), key)?;
    Ok(signer.sign_oneshot_to_vec(msg)?)
}

/// Ok(false) for a signature that does not verify, including one that is not
/// valid DER; Err only if the verifier cannot be set up.
fn ecdsa_verify<T: HasPublic>(key: &PKeyRef<T>, msg: &[u8], sig: &[u8]) -> Result<bool, NoteError> {
    let mut verifier = Verifier::new(MessageDigest::sha256(), key)?;
    Ok(verifier.verify_oneshot(sig, msg).unwrap_or(false))
}

#[cfg(test)]
mod tests {
    use super::*;
    use openssl::ec::{EcGroup, EcKey};
    use openssl::nid::Nid;
    use openssl::pkey::{PKey, Public};

    const ORIGIN: &str = "passerelle/ne-anltp";
    const WITNESS: &str = "witness.example/w1";

    fn p256() -> PKey<Private> {
        let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
        PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap()
    }

    fn public(key: &PKey<Private>) -> PKey<Public> {
        PKey::public_key_from_der(&key.public_key_to_der().unwrap()).unwrap()
    }

    fn cp() -> Checkpoint {
        let mut root = [0u8; 32];
        for (i, b) in root.iter_mut().enumerate() {
            *b = i as u8;
        }
        Checkpoint {
            origin: ORIGIN.to_owned(),
            size: 20852163,
            root,
            time: DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
        }
    }

    const BODY: &str = "passerelle/ne-anltp\n20852163\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\ntime 1700000000\n";

    #[test]
    fn body_round_trip() {
        let c = cp();
        assert_eq!(c.body(), BODY);
        assert_eq!(Checkpoint::parse_body(BODY).unwrap(), c);
        let empty = Checkpoint {
            size: 0,
            time: DateTime::from_timestamp(0, 0).unwrap(),
            ..cp()
        };
        assert!(empty.body().contains("\n0\n"));
        assert!(empty.body().ends_with("\ntime 0\n"));
        assert_eq!(Checkpoint::parse_body(&empty.body()).unwrap(), empty);
    }

    #[test]
    fn parse_body_rejects_malformed() {
        let root = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
        let bad = [
            String::new(),
            "\n".to_owned(),
            BODY.trim_end_matches('\n').to_owned(), // no final newline
            format!("{ORIGIN}\n1\n{root}\n"),       // missing time line
            format!("{ORIGIN}\n1\ntime 5\n"),       // missing root line
            format!("{ORIGIN}\n{root}\ntime 5\n"),  // missing size line
            format!("{BODY}extra\n"),               // extra extension line
            format!("{BODY}\n"),                    // trailing blank line
            format!("\n1\n{root}\ntime 5\n"),       // empty origin
            format!("   \n1\n{root}\ntime 5\n"),    // whitespace origin
            format!("a\rb\n1\n{root}\ntime 5\n"),   // control char in origin
            format!("{ORIGIN}\n01\n{root}\ntime 5\n"),
            format!("{ORIGIN}\n+1\n{root}\ntime 5\n"),
            format!("{ORIGIN}\n-1\n{root}\ntime 5\n"),
            format!("{ORIGIN}\n 1\n{root}\ntime 5\n"),
            format!("{ORIGIN}\n1 \n{root}\ntime 5\n"),
            format!("{ORIGIN}\n\n{root}\ntime 5\n"),
            format!("{ORIGIN}\n0x10\n{root}\ntime 5\n"),
            format!("{ORIGIN}\n18446744073709551616\n{root}\ntime 5\n"),
            format!("{ORIGIN}\n1\n!!!!\ntime 5\n"), // bad base64
            format!("{ORIGIN}\n1\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8\ntime 5\n"), // no padding
            format!("{ORIGIN}\n1\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh9=\ntime 5\n"), // trailing bits
            format!("{ORIGIN}\n1\n{}\ntime 5\n", BASE64.encode([0u8; 31])),
            format!("{ORIGIN}\n1\n{}\ntime 5\n", BASE64.encode([0u8; 33])),
            format!("{ORIGIN}\n1\n{}\ntime 5\n", BASE64.encode([0u8; 64])),
            format!("{ORIGIN}\n1\n{root}\ntime 05\n"),
            format!("{ORIGIN}\n1\n{root}\ntime -5\n"),
            format!("{ORIGIN}\n1\n{root}\ntime  5\n"),
            format!("{ORIGIN}\n1\n{root}\nTime 5\n"),
            format!("{ORIGIN}\n1\n{root}\ntime\n"),
            format!("{ORIGIN}\n1\n{root}\ntime 9223372036854775808\n"),
            format!("{ORIGIN}\n1\n{root}\ntime 9223372036854775807\n"), // beyond chrono
            format!("{ORIGIN}\r\n1\r\n{root}\r\ntime 5\r\n"),
        ];
        for b in &bad {
            assert!(
                matches!(Checkpoint::parse_body(b), Err(NoteError::Malformed(_))),
                "accepted {b:?}"
            );
        }
    }

    #[test]
    fn sign_verify_round_trip() {
        let key = p256();
        let text = sign_checkpoint(&cp(), ORIGIN, &key).unwrap();
        assert!(text.starts_with(&format!("{BODY}\n\u{2014} {ORIGIN} ")));
        let note = Note::parse(&text).unwrap();
        assert_eq!(note.body, BODY);
        assert_eq!(note.signatures.len(), 1);
        let spki = p256_spki_der(&key).unwrap();
        assert_eq!(spki.len(), 91);
        assert_eq!(note.signatures[0].key_id, ecdsa_key_id(&spki));
        assert_eq!(note.to_text(), text);
        assert_eq!(verify_checkpoint(&text, ORIGIN, &key).unwrap(), cp());
        assert_eq!(
            verify_checkpoint(&text, ORIGIN, &public(&key)).unwrap(),
            cp()
        );
    }

    #[test]
    fn verify_fails_with_other_key_name_body_or_signature() {
        let key = p256();
        let other = p256();
        let text = sign_checkpoint(&cp(), ORIGIN, &key).unwrap();

        // Another key: key ID differs, so the line is not even considered.
        assert!(matches!(
            verify_checkpoint(&text, ORIGIN, &other),
            Err(NoteError::UnknownSigner(_))
        ));
        // Another key whose key ID is forced onto the line: bad signature.
        let mut note = Note::parse(&text).unwrap();
        note.signatures[0].key_id = ecdsa_key_id(&p256_spki_der(&other).unwrap());
        assert!(matches!(
            verify_checkpoint(&note.to_text(), ORIGIN, &other),
            Err(NoteError::BadSignature(_))
        ));
        // Another name.
        assert!(matches!(
            verify_checkpoint(&text, "other.example/log", &key),
            Err(NoteError::UnknownSigner(_))
        ));

        // Modified body: size, root, time, origin.
        let sig_part = &text[BODY.len()..];
        let mut bodies = Vec::new();
        let mut c = cp();
        c.size += 1;
        bodies.push(c.body());
        let mut c = cp();
        c.root[31] ^= 1;
        bodies.push(c.body());
        let mut c = cp();
        c.time = DateTime::from_timestamp(1_700_000_001, 0).unwrap();
        bodies.push(c.body());
        let mut c = cp();
        c.origin.push('x');
        bodies.push(c.body());
        for b in bodies {
            assert!(matches!(
                verify_checkpoint(&format!("{b}{sig_part}"), ORIGIN, &key),
                Err(NoteError::BadSignature(_))
            ));
        }

        // Flipped signature bits (every byte of the DER signature).
        let note = Note::parse(&text).unwrap();
        for i in 0..note.signatures[0].signature.len() {
            for bit in [0x01u8, 0x80] {
                let mut n = note.clone();
                n.signatures[0].signature[i] ^= bit;
                assert!(
                    matches!(
                        verify_checkpoint(&n.to_text(), ORIGIN, &key),
                        Err(NoteError::BadSignature(_))
                    ),
                    "flip at byte {i}"
                );
            }
        }
        // Flipped key ID bit: not our key any more.
        let mut n = note.clone();
        n.signatures[0].key_id[0] ^= 1;
        assert!(matches!(
            verify_checkpoint(&n.to_text(), ORIGIN, &key),
            Err(NoteError::UnknownSigner(_))
        ));
        // A second, bad line from the same key makes the note fail.
        let mut n = note.clone();
        let mut bad = n.signatures[0].clone();
        bad.signature[10] ^= 1;
        n.signatures.push(bad);
        assert!(matches!(
            verify_checkpoint(&n.to_text(), ORIGIN, &key),
            Err(NoteError::BadSignature(_))
        ));
    }

    #[test]
    fn sign_rejects_bad_inputs() {
        let key = p256();
        let mut c = cp();
        c.time = DateTime::from_timestamp(1_700_000_000, 5).unwrap();
        assert!(matches!(
            sign_checkpoint(&c, ORIGIN, &key),
            Err(NoteError::Malformed(_))
        ));
        let mut c = cp();
        c.time = DateTime::from_timestamp(-1, 0).unwrap();
        assert!(sign_checkpoint(&c, ORIGIN, &key).is_err());
        let mut c = cp();
        c.origin = "a\nb".to_owned();
        assert!(sign_checkpoint(&c, ORIGIN, &key).is_err());
        for name in ["", "a b", "a+b", "a\u{a0}b"] {
            assert!(sign_checkpoint(&cp(), name, &key).is_err(), "{name:?}");
        }
        let group = EcGroup::from_curve_name(Nid::SECP384R1).unwrap();
        let p384 = PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap();
        assert!(matches!(
            sign_checkpoint(&cp(), ORIGIN, &p384),
            Err(NoteError::UnsupportedKey(_))
        ));
        let ed = PKey::generate_ed25519().unwrap();
        assert!(matches!(
            sign_checkpoint(&cp(), ORIGIN, &ed),
            Err(NoteError::UnsupportedKey(_))
        ));
    }

    #[test]
    fn cosign_verify_round_trip() {
        let w = p256();
        let t = DateTime::from_timestamp(1_700_000_100, 123_000_000).unwrap();
        let sig = cosign(&cp(), WITNESS, t, &w).unwrap();
        assert_eq!(sig.name, WITNESS);
        assert_eq!(
            sig.key_id,
            cosignature_key_id(WITNESS, &p256_spki_der(&w).unwrap())
        );
        assert_eq!(sig.signature[..8], 1_700_000_100u64.to_be_bytes());
        let expect = DateTime::from_timestamp(1_700_000_100, 0).unwrap();
        assert_eq!(
            verify_cosignature(&cp(), &sig, WITNESS, &w).unwrap(),
            expect
        );
        assert_eq!(
            verify_cosignature(&cp(), &sig, WITNESS, &public(&w)).unwrap(),
            expect
        );

        // The ECDSA part signs the cosignature/v1 message.
        let msg = format!("cosignature/v1\ntime 1700000100\n{BODY}");
        let mut v = Verifier::new(MessageDigest::sha256(), &w).unwrap();
        assert!(v
            .verify_oneshot(&sig.signature[8..], msg.as_bytes())
            .unwrap());

        // Other checkpoint, witness name, key, timestamp, signature bit.
        let mut c = cp();
        c.size -= 1;
        assert!(matches!(
            verify_cosignature(&c, &sig, WITNESS, &w),
            Err(NoteError::BadSignature(_))
        ));
        assert!(matches!(
            verify_cosignature(&cp(), &sig, "other.example/w", &w),
            Err(NoteError::UnknownSigner(_))
        ));
        assert!(matches!(
            verify_cosignature(&cp(), &sig, WITNESS, &p256()),
            Err(NoteError::UnknownSigner(_))
        ));
        let mut s = sig.clone();
        s.signature[7] ^= 1;
        assert!(matches!(
            verify_cosignature(&cp(), &s, WITNESS, &w),
            Err(NoteError::BadSignature(_))
        ));
        let mut s = sig.clone();
        let last = s.signature.len() - 1;
        s.signature[last] ^= 1;
        assert!(matches!(
            verify_cosignature(&cp(), &s, WITNESS, &w),
            Err(NoteError::BadSignature(_))
        ));
        let mut s = sig.clone();
        s.signature.truncate(8);
        assert!(verify_cosignature(&cp(), &s, WITNESS, &w).is_err());
        let mut s = sig.clone();
        s.signature[0] = 0x80; // > 2^63 - 1
        assert!(matches!(
            verify_cosignature(&cp(), &s, WITNESS, &w),
            Err(NoteError::Malformed(_))
        ));
        assert!(cosign(&cp(), WITNESS, DateTime::from_timestamp(-5, 0).unwrap(), &w).is_err());
    }

    #[test]
    fn cosignature_and_checkpoint_signature_are_not_interchangeable() {
        // Same key and same name for log and witness: worst case.
        let key = p256();
        let spki = p256_spki_der(&key).unwrap();
        let text = sign_checkpoint(&cp(), ORIGIN, &key).unwrap();
        let t = DateTime::from_timestamp(1_700_000_100, 0).unwrap();
        let cosig = cosign(&cp(), ORIGIN, t, &key).unwrap();
        assert_ne!(cosig.key_id, ecdsa_key_id(&spki));

        // Cosignature as a checkpoint signature: ignored by key ID ...
        let only_cosig = Note {
            body: BODY.to_owned(),
            signatures: vec![cosig.clone()],
        }
        .to_text();
        assert!(matches!(
            verify_checkpoint(&only_cosig, ORIGIN, &key),
            Err(NoteError::UnknownSigner(_))
        ));
        // ... and fails even with the checkpoint key ID forced onto it.
        let mut forced = cosig.clone();
        forced.key_id = ecdsa_key_id(&spki);
        let forced_note = Note {
            body: BODY.to_owned(),
            signatures: vec![forced],
        }
        .to_text();
        assert!(matches!(
            verify_checkpoint(&forced_note, ORIGIN, &key),
            Err(NoteError::BadSignature(_))
        ));

        // Checkpoint signature as a cosignature.
        let log_sig = Note::parse(&text).unwrap().signatures[0].clone();
        assert!(matches!(
            verify_cosignature(&cp(), &log_sig, ORIGIN, &key),
            Err(NoteError::UnknownSigner(_))
        ));
        let mut forced = log_sig.clone();
        forced.key_id = cosignature_key_id(ORIGIN, &spki);
        assert!(verify_cosignature(&cp(), &forced, ORIGIN, &key).is_err());
    }

    #[test]
    fn add_signature_then_parse() {
        let log = p256();
        let w = p256();
        let text = sign_checkpoint(&cp(), ORIGIN, &log).unwrap();
        let t = DateTime::from_timestamp(1_700_000_100, 0).unwrap();
        let cosig = cosign(&cp(), WITNESS, t, &w).unwrap();
        let both = add_signature(&text, &cosig).unwrap();
        assert!(both.starts_with(&text));
        let note = Note::parse(&both).unwrap();
        assert_eq!(note.body, BODY);
        assert_eq!(note.signatures.len(), 2);
        assert_eq!(
            note.signatures[0],
            Note::parse(&text).unwrap().signatures[0]
        );
        assert_eq!(note.signatures[1], cosig);
        assert_eq!(note.to_text(), both);
        assert_eq!(verify_checkpoint(&both, ORIGIN, &log).unwrap(), cp());
        assert_eq!(
            verify_cosignature(&cp(), &note.signatures[1], WITNESS, &w).unwrap(),
            t
        );
        // Duplicate (same name and key ID) and invalid lines are refused.
        assert!(add_signature(&both, &cosig).is_err());
        let mut bad = cosig.clone();
        bad.name = "a b".to_owned();
        assert!(add_signature(&text, &bad).is_err());
        let mut bad = cosig.clone();
        bad.signature.clear();
        assert!(add_signature(&text, &bad).is_err());
        assert!(add_signature(BODY, &cosig).is_err());
    }

    #[test]
    fn verifies_real_type_0x02_note() {
        // Test vector of github.com/transparency-dev/formats note tests: a
        // Rekor note signed with the production key (type 0x02).
        let spki = BASE64
            .decode("MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE2G2Y+2tabdTV5BcGiBIx0a9fAFwrkBbmLSGtks4L3qX6yYY0zufBnhC8Ur/iy55GhWP/9A/bY2LhC30M9+RYtw==")
            .unwrap();
        let key = PKey::public_key_from_der(&spki).unwrap();
        let text = "Rekor\n798034\nf+7CoKgXKE/tNys9TTXcr/ad6U/K3xvznmzew9y6SP0=\n\n\u{2014} rekor.sigstore.dev wNI9ajBEAiARInWIWyCdyG27CO6LPnPekyw20qO0YJfoaPaowGp/XgIgc+qEHS3+GKVClgqq20uDLet7MCoTURUCRdxwWBHHufk=\n";
        let note = Note::parse(text).unwrap();
        assert_eq!(note.to_text(), text);
        let sig = &note.signatures[0];
        assert_eq!(sig.name, "rekor.sigstore.dev");
        assert_eq!(sig.key_id, ecdsa_key_id(&spki));
        assert!(ecdsa_verify(&key, note.body.as_bytes(), &sig.signature).unwrap());
        assert!(!ecdsa_verify(&key, b"Rekor\n798035\n", &sig.signature).unwrap());
        // Its body has no time line, so it is not one of our checkpoints.
        assert!(matches!(
            verify_checkpoint(text, "rekor.sigstore.dev", &key),
            Err(NoteError::Malformed(_))
        ));
    }
}
