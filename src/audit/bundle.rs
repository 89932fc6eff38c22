//! Audit bundles: a node's log (or a period of it) with its checkpoints,
//! cosignatures, proofs and certificates, signed by the node, verifiable
//! offline — no database, no network.
//!
//! Verification checks, in order: the bundle's signature; every checkpoint's
//! signature and every cosignature; a consistency proof from every
//! checkpoint to the last one; that the entries are contiguous and each
//! hashes to the leaf the tree holds; and that those leaves, with the
//! subtrees covering the rest of the log, give the last checkpoint's root.
//! The first failure is reported with the index of the entry (or the size of
//! the checkpoint) concerned.

use serde::{Deserialize, Serialize};

use super::merkle::{self, Hash};
use super::note::{self, Note, NoteSignature};
use super::{from_hex, to_hex, Entry};

/// Format tag of a bundle.
pub const FORMAT: &str = "passerelle-audit-bundle/1";

/// A stored perfect subtree.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Node {
    pub level: u32,
    pub index: u64,
    pub hash: String,
}

/// A checkpoint with its cosignatures and a consistency proof to the last one.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleCheckpoint {
    /// The signed note.
    pub note: String,
    /// Cosignature lines of the peer.
    pub cosignatures: Vec<String>,
    /// RFC 9162 consistency proof from this checkpoint to the bundle's last (hex).
    pub consistency_to_last: Vec<String>,
}

/// The content of a bundle (signed as a whole by the node).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bundle {
    pub format: String,
    /// The node (`ne-anltp` or `ng-naptip`).
    pub node: String,
    /// Checkpoint origin and key name of the node.
    pub origin: String,
    /// Key name of the witness (the peer).
    pub witness: String,
    /// First entry index included.
    pub from: u64,
    /// One past the last entry included.
    pub to: u64,
    /// Size of the log at export (the last checkpoint's size).
    pub size: u64,
    /// Entries `[from, to)`.
    pub entries: Vec<Entry>,
    /// The tree's leaf hashes `[from, to)` as stored (hex).
    pub leaves: Vec<String>,
    /// Perfect subtrees covering `[0, from)` and `[to, size)`.
    pub cover: Vec<Node>,
    /// Checkpoints, oldest first; the last has `size`.
    pub checkpoints: Vec<BundleCheckpoint>,
    /// PEM of the certificate whose key signs the checkpoints and the bundle.
    pub signer_certificate: String,
    /// PEM of the node's earlier signing certificates (before a key
    /// rotation): checkpoints signed then verify with one of them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub previous_signer_certificates: Vec<String>,
    /// PEM of the peer's certificates known to the node (one of them made
    /// the cosignatures).
    pub witness_certificates: Vec<String>,
}

/// A verified bundle's summary.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    pub node: String,
    pub entries: u64,
    pub size: u64,
    pub checkpoints: usize,
    /// Cosignatures that verify.
    pub cosigned: usize,
    /// The size of the largest checkpoint the peer cosigned: entries
    /// `[0, cosigned_size)` are witnessed by the other node, the rest of the
    /// log only by this node's own signature.
    pub cosigned_size: u64,
}

/// The first thing that does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    #[error("the bundle is not readable: {0}")]
    Unreadable(String),
    #[error("the bundle's signature does not verify: {0}")]
    BundleSignature(String),
    #[error("checkpoint of size {size}: {reason}")]
    Checkpoint { size: u64, reason: String },
    #[error("entry {index}: {reason}")]
    Entry { index: u64, reason: String },
    #[error("the log does not give the root of checkpoint {size}: {reason}")]
    Root { size: u64, reason: String },
}

/// Progress callback: (entries checked, entries in all).
pub type Progress<'a> = &'a mut dyn FnMut(u64, u64);

fn hash_of(hex: &str, what: impl Fn() -> Failure) -> Result<Hash, Failure> {
    from_hex(hex).ok_or_else(what)
}

fn public_key(pem: &str) -> Result<openssl::pkey::PKey<openssl::pkey::Public>, String> {
    openssl::x509::X509::from_pem(pem.as_bytes())
        .and_then(|c| c.public_key())
        .map_err(|e| e.to_string())
}

/// Verifies a signed bundle (the JSON of [`crate::domain::envelope::Signed`]
/// whose body is a [`Bundle`]).
pub fn verify(text: &[u8], progress: Progress<'_>) -> Result<(Bundle, Verdict), Failure> {
    let signed: crate::domain::envelope::Signed =
        serde_json::from_slice(text).map_err(|e| Failure::Unreadable(e.to_string()))?;
    let bundle: Bundle = serde_json::from_value(signed.body.clone())
        .map_err(|e| Failure::Unreadable(e.to_string()))?;
    if bundle.format != FORMAT {
        return Err(Failure::Unreadable(format!("format `{}`", bundle.format)));
    }
    let signer = public_key(&bundle.signer_certificate).map_err(Failure::BundleSignature)?;
    signed
        .verify(&signer)
        .map_err(|e| Failure::BundleSignature(e.to_string()))?;
    let verdict = verify_content(&bundle, &signer, progress)?;
    Ok((bundle, verdict))
}

fn verify_content(
    b: &Bundle,
    signer: &openssl::pkey::PKeyRef<openssl::pkey::Public>,
    progress: Progress<'_>,
) -> Result<Verdict, Failure> {
    let witnesses: Vec<_> = b
        .witness_certificates
        .iter()
        .filter_map(|pem| public_key(pem).ok())
        .collect();
    let earlier: Vec<_> = b
        .previous_signer_certificates
        .iter()
        .filter_map(|pem| public_key(pem).ok())
        .collect();
    // Checkpoints: signatures, cosignatures, consistency with the last.
    let last = b.checkpoints.last().ok_or(Failure::Checkpoint {
        size: b.size,
        reason: "the bundle has no checkpoint".into(),
    })?;
    let last_cp = note::verify_checkpoint(&last.note, &b.origin, signer).map_err(|e| {
        Failure::Checkpoint {
            size: b.size,
            reason: format!("signature: {e}"),
        }
    })?;
    if last_cp.size != b.size {
        return Err(Failure::Checkpoint {
            size: last_cp.size,
            reason: format!("the last checkpoint should have the log's size {}", b.size),
        });
    }
    let mut cosigned = 0;
    let mut cosigned_size = 0;
    let mut previous = 0;
    for c in &b.checkpoints {
        // Signed with the current key, or with an earlier one (rotation).
        let cp = earlier
            .iter()
            .find_map(|key| note::verify_checkpoint(&c.note, &b.origin, key).ok())
            .map_or_else(|| note::verify_checkpoint(&c.note, &b.origin, signer), Ok)
            .map_err(|e| {
                let size = Note::parse(&c.note)
                    .ok()
                    .and_then(|n| note::Checkpoint::parse_body(&n.body).ok())
                    .map_or(0, |c| c.size);
                Failure::Checkpoint {
                    size,
                    reason: format!("signature: {e}"),
                }
            })?;
        if cp.size < previous {
            return Err(Failure::Checkpoint {
                size: cp.size,
                reason: "checkpoints are not in order".into(),
            });
        }
        previous = cp.size;
        for line in &c.cosignatures {
            let sig =
                NoteSignature::parse_line(line.trim_end()).map_err(|e| Failure::Checkpoint {
                    size: cp.size,
                    reason: format!("cosignature: {e}"),
                })?;
            if !witnesses
                .iter()
                .any(|key| note::verify_cosignature(&cp, &sig, &b.witness, key).is_ok())
            {
                return Err(Failure::Checkpoint {
                    size: cp.size,
                    reason: format!(
                        "the cosignature by {} does not verify with the peer's certificates",
                        b.witness
                    ),
                });
            }
            cosigned += 1;
            cosigned_size = cosigned_size.max(cp.size);
        }
        let proof = c
            .consistency_to_last
            .iter()
            .map(|h| {
                hash_of(h, || Failure::Checkpoint {
                    size: cp.size,
                    reason: "malformed consistency proof".into(),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if cp.size > 0 && cp.size < last_cp.size {
            merkle::verify_consistency(cp.size, last_cp.size, &cp.root, &last_cp.root, &proof)
                .map_err(|e| Failure::Checkpoint {
                    size: cp.size,
                    reason: format!(
                        "not consistent with the checkpoint of size {}: {e}",
                        last_cp.size
                    ),
                })?;
        } else if cp.size == last_cp.size && cp.root != last_cp.root {
            return Err(Failure::Checkpoint {
                size: cp.size,
                reason: "two roots for the same size".into(),
            });
        }
    }
    // Entries: contiguous, each the leaf the tree holds.
    if b.to < b.from || b.to > b.size || b.entries.len() as u64 != b.to - b.from {
        let index = b
            .entries
            .iter()
            .enumerate()
            .find(|(i, e)| e.index != b.from.saturating_add(*i as u64))
            .map_or(b.from.saturating_add(b.entries.len() as u64), |(i, _)| {
                b.from.saturating_add(i as u64)
            });
        return Err(Failure::Entry {
            index,
            reason: format!(
                "{} entries for the range [{}, {}): an entry is missing",
                b.entries.len(),
                b.from,
                b.to
            ),
        });
    }
    if b.leaves.len() != b.entries.len() {
        return Err(Failure::Unreadable(
            "leaves and entries differ in number".into(),
        ));
    }
    let total = b.entries.len() as u64;
    let mut leaves = Vec::with_capacity(b.entries.len());
    for (i, e) in b.entries.iter().enumerate() {
        let index = b.from + i as u64;
        if e.index != index {
            return Err(Failure::Entry {
                index,
                reason: format!(
                    "found entry {} here: an entry is missing or out of order",
                    e.index
                ),
            });
        }
        let stored = hash_of(&b.leaves[i], || Failure::Entry {
            index,
            reason: "malformed leaf hash".into(),
        })?;
        if e.leaf_hash() != stored {
            return Err(Failure::Entry {
                index,
                reason: "the entry does not hash to the leaf the tree holds: it was changed".into(),
            });
        }
        leaves.push(stored);
        if (i + 1) % 100_000 == 0 {
            progress(i as u64 + 1, total);
        }
    }
    progress(total, total);
    // Root of the last checkpoint from the leaves and the cover.
    let mut cover = std::collections::HashMap::new();
    for n in &b.cover {
        let h = hash_of(&n.hash, || {
            Failure::Unreadable("malformed cover hash".into())
        })?;
        cover.insert((n.level, n.index), h);
    }
    let from = b.from;
    let to = b.to;
    let mut source = |level: u32, index: u64| -> Result<Option<Hash>, std::convert::Infallible> {
        if level == 0 && index >= from && index < to {
            return Ok(leaves.get((index - from) as usize).copied());
        }
        Ok(cover.get(&(level, index)).copied())
    };
    let root = merkle::root(&mut source, b.size).map_err(|e| Failure::Root {
        size: b.size,
        reason: e.to_string(),
    })?;
    if root != last_cp.root {
        return Err(Failure::Root {
            size: b.size,
            reason: format!(
                "computed {} but the checkpoint says {}",
                to_hex(&root),
                to_hex(&last_cp.root)
            ),
        });
    }
    Ok(Verdict {
        node: b.node.clone(),
        entries: total,
        size: b.size,
        checkpoints: b.checkpoints.len(),
        cosigned,
        cosigned_size,
    })
}
