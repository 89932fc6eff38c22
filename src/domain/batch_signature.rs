//! One signature for a batch of signed objects (the envelopes of one
//! delivery, or the receipts of its answer), as X-Road signs batches: the
//! signer builds the RFC 9162 Merkle tree whose leaves are the objects'
//! canonical bodies, signs one statement naming the tree's size and root,
//! and every object keeps its own copy of that signature with its index and
//! its inclusion path. Each object stays verifiable on its own, years later,
//! with nothing but its body, its signature string and the signer's
//! certificate; a whole batch costs one ECDSA signature to make and one to
//! check ([`super::envelope::verify_all`] checks each distinct statement
//! once).
//!
//! A batch signature string (what [`super::envelope::Signed::signature`]
//! holds for such an object; a plain signature is base64, which never holds
//! a `.`):
//!
//! ```text
//! batch1.<index>.<size>.<path>.<signature>
//! ```
//!
//! - `index`, `size`: decimal; the object is leaf `index` (from 0) of a tree
//!   of `size` leaves;
//! - `path`: base64 of the concatenated 32-byte hashes of its RFC 9162
//!   inclusion proof, from the leaf's sibling up (empty for a batch of one);
//! - `signature`: base64 of the DER ECDSA-P256-SHA256 signature over the
//!   statement `"passerelle-batch/v1\n" || size || "\n" || hex(root) || "\n"`
//!   (which cannot be mistaken for canonical JSON, so a batch signature and
//!   a plain one never cover the same bytes);
//! - the leaf of an object is `SHA-256(0x00 || canonical JSON of its body)`,
//!   interior nodes `SHA-256(0x01 || left || right)`.
//!
//! On the wire a batch travels once: its bodies and the one signature; the
//! receiver rebuilds every object's own signature string ([`expand`]) before
//! checking them.

use base64::Engine;
use openssl::hash::MessageDigest;
use openssl::pkey::{HasPublic, PKeyRef, Private};
use openssl::sign::{Signer, Verifier};
use serde_json::Value;

use super::envelope::{canonical, hex, SignatureError, Signed};
use crate::audit::merkle::{self, Hash, MemoryTree};

/// The first field of a batch signature string.
const TAG: &str = "batch1";

/// Most objects in one signed batch (a delivery holds at most
/// `peer.batch_size`, 10,000 at most).
pub const MAX_SIZE: u64 = 1 << 20;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// The bytes a batch's key signs: its size and its Merkle root.
pub fn statement(size: u64, root: &Hash) -> String {
    format!("passerelle-batch/v1\n{size}\n{}\n", hex(root))
}

/// An object's leaf hash in its batch's tree.
pub fn leaf(body: &Value) -> Hash {
    merkle::leaf_hash(&canonical(body))
}

/// One object's batch signature, parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchSignature {
    pub index: u64,
    pub size: u64,
    pub path: Vec<Hash>,
    /// DER ECDSA signature over [`statement`].
    pub signature: Vec<u8>,
}

impl BatchSignature {
    /// Whether `text` is a batch signature string (else a plain signature).
    pub fn is_batch(text: &str) -> bool {
        text.starts_with(TAG) && text.as_bytes().get(TAG.len()) == Some(&b'.')
    }

    /// Reads a batch signature string (see [`is_batch`](Self::is_batch)).
    pub fn parse(text: &str) -> Result<BatchSignature, SignatureError> {
        let mut parts = text.split('.');
        let (Some(TAG), Some(index), Some(size), Some(path), Some(signature), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(SignatureError::Encoding);
        };
        // One string per signature: digits only, no leading zero (the
        // base64 fields are read canonically: padding as written, no
        // stray bits).
        let number = |s: &str| {
            s.parse::<u64>()
                .ok()
                .filter(|_| s.bytes().all(|b| b.is_ascii_digit()))
                .filter(|_| s == "0" || !s.starts_with('0'))
                .ok_or(SignatureError::Encoding)
        };
        let (index, size) = (number(index)?, number(size)?);
        if size == 0 || size > MAX_SIZE || index >= size {
            return Err(SignatureError::Encoding);
        }
        let path = B64.decode(path).map_err(|_| SignatureError::Encoding)?;
        if path.len() % 32 != 0 || path.len() / 32 > 64 {
            return Err(SignatureError::Encoding);
        }
        let path = path
            .chunks_exact(32)
            .map(|c| {
                let mut h = [0u8; 32];
                h.copy_from_slice(c);
                h
            })
            .collect();
        let signature = B64
            .decode(signature)
            .map_err(|_| SignatureError::Encoding)?;
        Ok(BatchSignature {
            index,
            size,
            path,
            signature,
        })
    }

    /// The signature string.
    pub fn encode(&self) -> String {
        format!(
            "{TAG}.{}.{}.{}.{}",
            self.index,
            self.size,
            B64.encode(self.path.concat()),
            B64.encode(&self.signature)
        )
    }

    /// The statement this signature must cover if it signs `body`: the
    /// root its path leads to from `body`'s leaf.
    pub fn statement_for(&self, body: &Value) -> Result<String, SignatureError> {
        let root = merkle::root_from_inclusion(&leaf(body), self.index, self.size, &self.path)
            .map_err(|_| SignatureError::Invalid)?;
        Ok(statement(self.size, &root))
    }
}

/// Checks a DER ECDSA signature over `statement` with `key`.
pub fn verify_statement<T: HasPublic>(
    statement: &str,
    signature: &[u8],
    key: &PKeyRef<T>,
) -> Result<(), SignatureError> {
    let mut verifier = Verifier::new(MessageDigest::sha256(), key)?;
    verifier.update(statement.as_bytes())?;
    // openssl reports a malformed DER signature as an error: both mean "does not verify".
    match verifier.verify(signature) {
        Ok(true) => Ok(()),
        _ => Err(SignatureError::Invalid),
    }
}

fn tree(bodies: &[Value]) -> MemoryTree {
    let mut tree = MemoryTree::new();
    for body in bodies {
        tree.push(leaf(body));
    }
    tree
}

/// Signs `bodies` as one batch: the one signature (base64 DER), as it
/// travels with the batch. An empty batch cannot be signed.
pub fn sign(bodies: &[Value], key: &PKeyRef<Private>) -> Result<String, SignatureError> {
    crate::meter::scope(crate::meter::Part::Signatures, || {
        if bodies.is_empty() || bodies.len() as u64 > MAX_SIZE {
            return Err(SignatureError::Invalid);
        }
        let tree = tree(bodies);
        let mut signer = Signer::new(MessageDigest::sha256(), key)?;
        signer.update(statement(tree.len(), &tree.root()).as_bytes())?;
        Ok(B64.encode(signer.sign_to_vec()?))
    })
}

/// Signs `bodies` as one batch and gives each its own signed object.
pub fn sign_each(
    bodies: Vec<Value>,
    key: &PKeyRef<Private>,
) -> Result<Vec<Signed>, SignatureError> {
    let signature = sign(&bodies, key)?;
    expand(bodies, &signature)
}

/// Signs those of `objects` still unsigned ([`Signed::unsigned`]): as one
/// batch, or each alone for a peer that does not know batch signatures.
pub fn sign_pending(
    objects: &mut [Signed],
    key: &PKeyRef<Private>,
    as_batch: bool,
) -> Result<(), SignatureError> {
    let pending: Vec<usize> = (0..objects.len())
        .filter(|&i| objects[i].is_unsigned())
        .collect();
    if pending.is_empty() {
        return Ok(());
    }
    if as_batch {
        let bodies = pending.iter().map(|&i| objects[i].body.clone()).collect();
        for (i, signed) in pending.into_iter().zip(sign_each(bodies, key)?) {
            objects[i].signature = signed.signature;
        }
    } else {
        for i in pending {
            objects[i].signature = Signed::sign(objects[i].body.clone(), key)?.signature;
        }
    }
    Ok(())
}

/// The signed objects of a batch that travelled as its bodies and its one
/// signature (base64 DER): each with its own batch signature string. Checks
/// nothing; [`super::envelope::verify_all`] does.
pub fn expand(bodies: Vec<Value>, signature: &str) -> Result<Vec<Signed>, SignatureError> {
    let size = bodies.len() as u64;
    if size == 0 || size > MAX_SIZE {
        return Err(SignatureError::Encoding);
    }
    let signature = B64
        .decode(signature)
        .map_err(|_| SignatureError::Encoding)?;
    let tree = tree(&bodies);
    bodies
        .into_iter()
        .enumerate()
        .map(|(i, body)| {
            let index = i as u64;
            let path = merkle::inclusion_proof(&mut tree.source(), index, size)
                .map_err(|_| SignatureError::Encoding)?;
            let one = BatchSignature {
                index,
                size,
                path,
                signature: signature.clone(),
            };
            Ok(Signed {
                body,
                signature: one.encode(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::envelope::verify_all;
    use crate::tls::pki;
    use openssl::pkey::{PKey, Public};
    use serde_json::json;

    fn signer() -> (PKey<Public>, PKey<Private>) {
        crate::domain::envelope::tests::signer(pki::Usage::Client)
    }

    fn bodies(n: i64) -> Vec<Value> {
        (1..=n)
            .map(|seq| json!({"seq": seq, "payload": {"x": format!("message {seq}")}}))
            .collect()
    }

    #[test]
    fn every_object_of_a_batch_verifies_alone_and_with_the_others() {
        let (public, key) = signer();
        for n in [1, 2, 3, 7, 64, 65] {
            let signed = sign_each(bodies(n), &key).unwrap();
            assert_eq!(signed.len(), n as usize);
            for (i, s) in signed.iter().enumerate() {
                assert!(BatchSignature::is_batch(&s.signature));
                let parsed = BatchSignature::parse(&s.signature).unwrap();
                assert_eq!((parsed.index, parsed.size), (i as u64, n as u64));
                assert_eq!(parsed.encode(), s.signature);
                // Alone: body, signature string and key are enough.
                let alone: Signed =
                    serde_json::from_str(&serde_json::to_string(s).unwrap()).unwrap();
                alone.verify(&public).unwrap();
            }
            verify_all(&signed, &public).unwrap();
        }
    }

    #[test]
    fn tampering_with_a_body_an_index_a_path_or_the_key_is_caught() {
        let (public, key) = signer();
        let signed = sign_each(bodies(5), &key).unwrap();
        // Another body under a signature.
        let mut swapped = signed.clone();
        swapped[2].body = signed[3].body.clone();
        assert!(swapped[2].verify(&public).is_err());
        assert_eq!(verify_all(&swapped, &public), Err(2));
        // Another index, size or path.
        let edit = |f: &dyn Fn(&mut BatchSignature)| {
            let mut one = BatchSignature::parse(&signed[1].signature).unwrap();
            f(&mut one);
            Signed {
                body: signed[1].body.clone(),
                signature: one.encode(),
            }
        };
        assert!(edit(&|b| b.index = 0).verify(&public).is_err());
        assert!(edit(&|b| b.size = 6).verify(&public).is_err());
        assert!(edit(&|b| b.path[0][0] ^= 1).verify(&public).is_err());
        assert!(edit(&|b| {
            b.path.pop();
        })
        .verify(&public)
        .is_err());
        assert!(edit(&|b| b.signature[10] ^= 1).verify(&public).is_err());
        // The same signature written another way is not accepted: one
        // string per signature.
        for other in [
            signed[1].signature.replacen("batch1.1.", "batch1.01.", 1),
            signed[1].signature.replacen(".5.", ".05.", 1),
        ] {
            assert_ne!(other, signed[1].signature);
            let s = Signed {
                body: signed[1].body.clone(),
                signature: other,
            };
            assert!(s.verify(&public).is_err());
            assert!(verify_all(std::slice::from_ref(&s), &public).is_err());
        }
        // Another signer.
        let (other, _) = signer();
        assert!(signed[0].verify(&other).is_err());
        assert_eq!(verify_all(&signed, &other), Err(0));
        // A plain signature over the statement is not a signature of a body.
        let statement = BatchSignature::parse(&signed[0].signature)
            .unwrap()
            .statement_for(&signed[0].body)
            .unwrap();
        assert!(!statement.starts_with('{'));
    }

    #[test]
    fn malformed_batch_signatures_are_refused_without_panicking() {
        let (public, _) = signer();
        for text in [
            "batch1",
            "batch1.",
            "batch1.0.1..",
            "batch1.1.1..AAAA",
            "batch1.0.0..AAAA",
            "batch1.-0.1..AAAA",
            "batch1.+0.1..AAAA",
            "batch1.0.1.AAAA.AAAA",
            "batch1.0.1.%%%.AAAA",
            "batch1.0.1..%%%",
            "batch1.0.1..AAAA.extra",
            "batch1.0.99999999999999999999..AAAA",
        ] {
            let s = Signed {
                body: json!({"seq": 1}),
                signature: text.into(),
            };
            assert!(s.verify(&public).is_err(), "{text}");
            assert!(
                verify_all(std::slice::from_ref(&s), &public).is_err(),
                "{text}"
            );
        }
        assert!(expand(Vec::new(), "AAAA").is_err());
        assert!(expand(bodies(2), "%%%").is_err());
    }
}
