//! The committed test vectors of the audit and exchange formats
//! (`tests/vectors/`), checked by an independent verifier written from
//! `src/audit/FORMAT.md` alone: its own canonical JSON, leaf bytes, Merkle
//! tree hash, signed-note parsing and ECDSA checks, sharing no code with the
//! node's. The node's own verifier must agree with it.
//!
//! `PASSERELLE_REGENERATE=1 cargo test --test api vectors` makes new vectors
//! from a real two-node exchange (commit them with the format change that
//! needed it).

use std::path::PathBuf;

use base64::Engine;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Public};
use openssl::sign::Verifier;
use passerelle::domain::ids::ReferralId;
use serde_json::{json, Map, Value};

use crate::helpers::*;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors")
}

fn b64(s: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD.decode(s).unwrap()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = openssl::sha::Sha256::new();
    for p in parts {
        h.update(p);
    }
    h.finish()
}

// ---- FORMAT.md §1: JSON strings and canonical JSON --------------------

/// A JSON string as FORMAT.md §1 writes it.
fn string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Canonical JSON (FORMAT.md §1): keys sorted by their bytes, no whitespace.
fn canonical(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            assert!(n.is_i64() || n.is_u64(), "only integers in signed objects");
            out.push_str(&n.to_string());
        }
        Value::String(s) => string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, x) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(x, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
            out.push('{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                string(k, out);
                out.push(':');
                canonical(&map[*k], out);
            }
            out.push('}');
        }
    }
}

fn canonical_bytes(v: &Value) -> Vec<u8> {
    let mut s = String::new();
    canonical(v, &mut s);
    s.into_bytes()
}

// ---- FORMAT.md §2: leaf bytes ----------------------------------------

/// The fields of an entry in leaf order; the last two only when not null.
const LEAF_FIELDS: [&str; 14] = [
    "index",
    "at",
    "kind",
    "actor",
    "role",
    "action",
    "case_id",
    "referral_id",
    "message_id",
    "seq",
    "digest",
    "peer_index",
    "outcome",
    "code",
];
const OPTIONAL_LEAF_FIELDS: [&str; 2] = ["source", "occurrences"];

fn leaf_bytes(entry: &Map<String, Value>) -> Vec<u8> {
    let mut out = String::from("{");
    let mut first = true;
    let mut field = |name: &str, value: &Value, out: &mut String| {
        if !first {
            out.push(',');
        }
        first = false;
        string(name, out);
        out.push(':');
        canonical(value, out);
    };
    for name in LEAF_FIELDS {
        field(name, entry.get(name).unwrap_or(&Value::Null), &mut out);
    }
    for name in OPTIONAL_LEAF_FIELDS {
        match entry.get(name) {
            None | Some(Value::Null) => {}
            Some(v) => field(name, v, &mut out),
        }
    }
    out.push('}');
    out.into_bytes()
}

// ---- FORMAT.md §3: the tree ------------------------------------------

fn leaf_hash(data: &[u8]) -> [u8; 32] {
    sha256(&[&[0x00], data])
}

/// RFC 9162 MTH of `leaves`.
fn mth(leaves: &[[u8; 32]]) -> [u8; 32] {
    match leaves.len() {
        0 => sha256(&[]),
        1 => leaves[0],
        n => {
            let k = (n - 1).next_power_of_two().max(1);
            let k = if k >= n { k / 2 } else { k };
            sha256(&[&[0x01], &mth(&leaves[..k]), &mth(&leaves[k..])])
        }
    }
}

// ---- FORMAT.md §7.1: batch signatures -----------------------------------

/// RFC 9162 §2.1.3.2: the root an inclusion path leads to from `leaf`, or
/// `None` when the path does not fit `index` and `size`.
fn root_of_path(leaf: [u8; 32], index: u64, size: u64, path: &[[u8; 32]]) -> Option<[u8; 32]> {
    if index >= size {
        return None;
    }
    let (mut fn_, mut sn, mut r) = (index, size - 1, leaf);
    for p in path {
        if sn == 0 {
            return None;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = sha256(&[&[0x01], p, &r]);
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            r = sha256(&[&[0x01], &r, p]);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    (sn == 0).then_some(r)
}

/// Whether a signed object (§7) verifies with `key`: a plain signature
/// over its canonical body, or a batch signature (§7.1) over the statement
/// of the root its path leads to.
fn signed_object_ok(key: &PKey<Public>, object: &Value) -> bool {
    let body = canonical_bytes(&object["body"]);
    let signature = object["signature"].as_str().unwrap();
    let Some(rest) = signature.strip_prefix("batch1.") else {
        return ecdsa_ok(key, &body, &b64(signature));
    };
    let parts: Vec<&str> = rest.split('.').collect();
    assert_eq!(parts.len(), 4, "{signature}");
    let (index, size): (u64, u64) = (parts[0].parse().unwrap(), parts[1].parse().unwrap());
    let path: Vec<[u8; 32]> = b64(parts[2])
        .chunks(32)
        .map(|c| c.try_into().unwrap())
        .collect();
    let Some(root) = root_of_path(leaf_hash(&body), index, size, &path) else {
        return false;
    };
    let statement = format!("passerelle-batch/v1\n{size}\n{}\n", hex(&root));
    ecdsa_ok(key, statement.as_bytes(), &b64(parts[3]))
}

// ---- FORMAT.md §4–5: checkpoints and cosignatures ----------------------

fn public_key(pem: &str) -> PKey<Public> {
    openssl::x509::X509::from_pem(pem.as_bytes())
        .unwrap()
        .public_key()
        .unwrap()
}

fn ecdsa_ok(key: &PKey<Public>, message: &[u8], der: &[u8]) -> bool {
    let mut v = Verifier::new(MessageDigest::sha256(), key).unwrap();
    v.update(message).unwrap();
    v.verify(der).unwrap_or(false)
}

/// Checks a checkpoint note: the log's signature and the witness's
/// cosignatures. Returns (size, root) and whether it is cosigned.
fn check_note(
    note: &str,
    cosignatures: &[Value],
    origin: &str,
    signer: &PKey<Public>,
    witness: &str,
    witnesses: &[PKey<Public>],
) -> (u64, [u8; 32], bool) {
    let split = note.rfind("\n\n").expect("a note has a blank line");
    let body = &note[..=split];
    let lines: Vec<&str> = body.lines().collect();
    assert_eq!(lines.len(), 4, "origin, size, root, time: {body:?}");
    assert_eq!(lines[0], origin);
    let size: u64 = lines[1].parse().unwrap();
    let root: [u8; 32] = b64(lines[2]).try_into().unwrap();
    assert!(lines[3].starts_with("time "));
    // The log's signature: type 0x02, key id SHA-256(SPKI)[:4].
    let spki = signer.public_key_to_der().unwrap();
    let key_id = &sha256(&[&spki])[..4];
    let mut signed = false;
    for line in note[split + 2..].lines() {
        let rest = line.strip_prefix("— ").expect("signature line");
        let (name, sig) = rest.split_once(' ').unwrap();
        let sig = b64(sig);
        if name == origin && &sig[..4] == key_id {
            assert!(
                ecdsa_ok(signer, body.as_bytes(), &sig[4..]),
                "log signature"
            );
            signed = true;
        }
    }
    assert!(signed, "no log signature on checkpoint {size}");
    // Cosignatures: type 0xff + identifier, over the cosignature/v1 message.
    let mut cosigned = false;
    for line in cosignatures {
        let rest = line.as_str().unwrap().strip_prefix("— ").unwrap();
        let (name, sig) = rest.split_once(' ').unwrap();
        assert_eq!(name, witness);
        let sig = b64(sig);
        let t = u64::from_be_bytes(sig[4..12].try_into().unwrap());
        let message = format!("cosignature/v1\ntime {t}\n{body}");
        let ok = witnesses.iter().any(|k| {
            let spki = k.public_key_to_der().unwrap();
            let id = &sha256(&[
                witness.as_bytes(),
                b"\n",
                &[0xff],
                b"ecdsa-p256-sha256-cosignature/v1\n",
                &spki,
            ])[..4];
            id == &sig[..4] && ecdsa_ok(k, message.as_bytes(), &sig[12..])
        });
        assert!(ok, "cosignature of checkpoint {size}");
        cosigned = true;
    }
    (size, root, cosigned)
}

/// Everything the independent verifier derives from the vectors.
fn derive(bundle_text: &[u8], exchange: &Value) -> Value {
    // The bundle: a signed object (§6).
    let signed: Value = serde_json::from_slice(bundle_text).unwrap();
    let body = &signed["body"];
    let signer = public_key(body["signer_certificate"].as_str().unwrap());
    assert!(
        ecdsa_ok(
            &signer,
            &canonical_bytes(body),
            &b64(signed["signature"].as_str().unwrap())
        ),
        "the bundle's signature"
    );
    assert_eq!(body["format"], "passerelle-audit-bundle/1");
    assert_eq!(body["from"], 0, "the vectors hold the whole log");
    let entries = body["entries"].as_array().unwrap();
    let leaves: Vec<[u8; 32]> = entries
        .iter()
        .enumerate()
        .map(|(i, e)| {
            assert_eq!(e["index"], i as u64);
            leaf_hash(&leaf_bytes(e.as_object().unwrap()))
        })
        .collect();
    let stored: Vec<String> = body["leaves"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        leaves.iter().map(|l| hex(l)).collect::<Vec<_>>(),
        stored,
        "each entry hashes to the leaf the bundle holds"
    );
    let witnesses: Vec<_> = body["witness_certificates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| public_key(p.as_str().unwrap()))
        .collect();
    let origin = body["origin"].as_str().unwrap();
    let witness = body["witness"].as_str().unwrap();
    let mut checkpoints = Vec::new();
    let mut cosigned_size = 0;
    for c in body["checkpoints"].as_array().unwrap() {
        let (size, root, cosigned) = check_note(
            c["note"].as_str().unwrap(),
            c["cosignatures"].as_array().unwrap(),
            origin,
            &signer,
            witness,
            &witnesses,
        );
        assert_eq!(
            mth(&leaves[..size as usize]),
            root,
            "root of checkpoint {size}"
        );
        if cosigned {
            cosigned_size = cosigned_size.max(size);
        }
        checkpoints.push(json!({ "size": size, "root": hex(&root), "cosigned": cosigned }));
    }
    // The exchange (§7): a message and its receipt.
    let message = &exchange["message"];
    let receipt = &exchange["receipt"];
    let sender = public_key(exchange["sender_certificate"].as_str().unwrap());
    let receiver = public_key(exchange["receiver_certificate"].as_str().unwrap());
    let message_bytes = canonical_bytes(&message["body"]);
    assert!(
        signed_object_ok(&sender, message),
        "the message's signature"
    );
    assert!(
        signed_object_ok(&receiver, receipt),
        "the receipt's signature"
    );
    let message_hash = hex(&sha256(&[&message_bytes]));
    assert_eq!(receipt["body"]["message_hash"], message_hash);
    // Messages delivered in one batch (§7.1), each verifiable alone; moved
    // to another's place, a signature does not verify.
    let batch = exchange["batch"].as_array().unwrap();
    assert!(batch.len() >= 3, "a batch of several messages");
    let mut batch_hashes = Vec::new();
    for (i, m) in batch.iter().enumerate() {
        assert!(signed_object_ok(&sender, m), "batch message {i}");
        let other = &batch[(i + 1) % batch.len()];
        let swapped = json!({ "body": m["body"], "signature": other["signature"] });
        assert!(
            !signed_object_ok(&sender, &swapped),
            "batch message {i} under another's signature"
        );
        batch_hashes.push(hex(&sha256(&[&canonical_bytes(&m["body"])])));
    }
    json!({
        "batch_hashes": batch_hashes,
        "leaf_hashes": leaves.iter().map(|l| hex(l)).collect::<Vec<_>>(),
        "checkpoints": checkpoints,
        "cosigned_size": cosigned_size,
        "message_canonical": String::from_utf8(message_bytes).unwrap(),
        "message_hash": message_hash,
        "receipt_hash": hex(&sha256(&[&canonical_bytes(&receipt["body"])])),
    })
}

/// A real exchange between two nodes: Niamey's bundle and one of its
/// messages with Abuja's receipt, as they crossed the border.
async fn make_vectors() -> (Vec<u8>, Value) {
    let (ne, ng) = crate::audit::exchanged_pair_with(no_tweak(), no_tweak()).await;
    let bundle = crate::audit::export(&ne);
    // Niamey's first message as Abuja keeps it, and Abuja's receipt for it
    // as Niamey keeps it.
    let sent = ne
        .db
        .read_blocking(|c| passerelle::app::exchange::list_outgoing(c, None, None, None, 1))
        .unwrap()
        .remove(0);
    let kept = |ng: &TestNode, referral: ReferralId| {
        ng.db
            .read_blocking(move |c| passerelle::app::exchange::list_incoming(c, referral))
            .unwrap()
            .into_iter()
            .map(|m| json!({ "body": serde_json::from_str::<Value>(&m.body).unwrap(), "signature": m.signature }))
            .next()
            .unwrap()
    };
    let message = kept(&ng, sent.referral_id.parse().unwrap());
    let receipt = sent.receipt.unwrap();
    // Three referrals queued while Abuja is down leave in one batch.
    ng.shut_down().await;
    let mut referrals = Vec::new();
    for _ in 0..3 {
        referrals.push(crate::exchange::refer(&ne).await.1);
    }
    let ng = ng.restart().await;
    let mut batch = Vec::new();
    for referral in referrals {
        crate::exchange::both_in(&ne, &ng, referral, "received").await;
        batch.push(kept(&ng, referral));
    }
    let files = |n| passerelle::tls::pki::node_files(&certs_dir(), n);
    let pem = |p: PathBuf| std::fs::read_to_string(p).unwrap();
    let exchange = json!({
        "message": message,
        "batch": batch,
        "receipt": serde_json::from_str::<Value>(&receipt).unwrap(),
        "sender_certificate": pem(files(ne.node).client_cert),
        "receiver_certificate": pem(files(ng.node).server_cert),
    });
    (bundle, exchange)
}

#[tokio::test]
async fn the_committed_vectors_verify_as_the_format_document_says() {
    let (bundle_file, exchange_file, expected_file) = (
        dir().join("audit-bundle.json"),
        dir().join("exchange.json"),
        dir().join("expected.json"),
    );
    if std::env::var_os("PASSERELLE_REGENERATE").is_some() {
        let (bundle, exchange) = make_vectors().await;
        std::fs::create_dir_all(dir()).unwrap();
        std::fs::write(&bundle_file, &bundle).unwrap();
        std::fs::write(
            &exchange_file,
            serde_json::to_vec_pretty(&exchange).unwrap(),
        )
        .unwrap();
        let expected = derive(&bundle, &exchange);
        std::fs::write(
            &expected_file,
            serde_json::to_vec_pretty(&expected).unwrap(),
        )
        .unwrap();
    }
    let bundle = std::fs::read(&bundle_file).unwrap();
    let exchange: Value = serde_json::from_slice(&std::fs::read(&exchange_file).unwrap()).unwrap();
    let expected: Value = serde_json::from_slice(&std::fs::read(&expected_file).unwrap()).unwrap();
    let derived = derive(&bundle, &exchange);
    assert_eq!(
        derived, expected,
        "the vectors no longer give the expected hashes: run `PASSERELLE_REGENERATE=1 cargo test --test api vectors` if the format changed on purpose, and update src/audit/FORMAT.md"
    );
    // The node's own verifier agrees.
    let (_, verdict) = passerelle::audit::bundle::verify(&bundle, &mut |_, _| {}).unwrap();
    assert_eq!(
        verdict.cosigned_size,
        expected["cosigned_size"].as_u64().unwrap()
    );
    assert_eq!(
        verdict.size,
        expected["leaf_hashes"].as_array().unwrap().len() as u64
    );
    let message: passerelle::domain::envelope::Signed =
        serde_json::from_value(exchange["message"].clone()).unwrap();
    assert_eq!(message.hash(), expected["message_hash"].as_str().unwrap());
}
